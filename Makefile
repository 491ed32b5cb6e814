# CertAuth: the two commands of the quick start are `make run` and `make test`.
SWIFT_FLAGS ?=
.PHONY: build run stop test test-swift test-interop bench clean

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

# Release build, the suite and its peers (nginx, haproxy, Apache) on loopback, h2load: see bench/README.md. Not part of test.
bench:
	./bench/bench.sh

clean:
	rm -rf .build .build-*
