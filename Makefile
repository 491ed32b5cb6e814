# CertAuth: the two commands of the quick start are `make run` and `make test`.
SWIFT_FLAGS ?=
.PHONY: build run stop test test-packages test-swift test-interop test-containers images bench clean
BUILD ?= release

# Missing Debian packages are installed first (apt-get as root, sudo without a password, or the command is printed).
build:
	./scripts/system-packages.sh build
	swift build $(SWIFT_FLAGS)

run:
	./scripts/system-packages.sh build
	./scripts/run.sh

stop:
	./scripts/stop.sh

test: test-packages test-swift test-interop test-containers

test-packages:
	./scripts/system-packages.sh test

test-swift:
	swift build $(SWIFT_FLAGS)
	CERTAUTH_BIN_DIR=$$(swift build --show-bin-path) swift test $(SWIFT_FLAGS)

test-interop:
	./scripts/interop.sh

# The compose deployment run for real in its own dockerd (Tests/Interop/test_containers.py; prints each step).
test-containers:
	./scripts/containers.sh

# Container images from the host's build (release, or BUILD=debug): certauth:latest and certauth-postgres:15.
# Needs a Docker engine; without a registry the base images come from Debian via mmdebstrap (docs/deployment.md).
images:
	BUILD=$(BUILD) ./scripts/images.sh

# Release build, the suite and its peers (nginx, haproxy, Apache) on loopback, h2load: see bench/README.md. Not part of test.
bench:
	./bench/bench.sh

clean:
	rm -rf .build .build-*
