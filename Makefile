# CertAuth: the two commands of the quick start are `make run` and `make test`.
SWIFT_FLAGS ?=
.PHONY: build run stop test test-swift test-interop clean

build:
	swift build $(SWIFT_FLAGS)

run:
	./scripts/run.sh

stop:
	./scripts/stop.sh

test: test-swift test-interop

test-swift:
	swift build $(SWIFT_FLAGS)
	CERTAUTH_BIN_DIR=$$(swift build --show-bin-path) swift test $(SWIFT_FLAGS)

test-interop:
	./scripts/interop.sh

clean:
	rm -rf .build .build-*
