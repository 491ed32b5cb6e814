#!/usr/bin/env bash
# make images [BUILD=release|debug]: the container images from binaries built on this host (Debian bookworm),
# without a Swift image and without network inside the image builds (compose/Dockerfile, target prebuilt):
#   certauth:latest          every binary; BUILD=release (default) is `swift build -c release --static-swift-stdlib`,
#                            BUILD=debug packs the debug build `make test` made, with the Swift runtime libraries
#                            it loads from the toolchain.
#   certauth-postgres:15     PostgreSQL from Debian's postgresql-15 with the official image's POSTGRES_* / *_FILE
#                            conventions (compose/postgres), for CERTAUTH_POSTGRES_IMAGE.
# Base images: debian:bookworm-slim when it is there or can be pulled; otherwise (no registry) made from Debian's
# packages with mmdebstrap and `docker import`, with the packages the images need already in them; the tarballs are
# kept in .build/images so the next run does not make them again.
# Environment: DOCKER (default docker), IMAGE (default certauth:latest), POSTGRES_IMAGE (certauth-postgres:15).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-release}"
DOCKER="${DOCKER:-docker}"
IMAGE="${IMAGE:-certauth:latest}"
POSTGRES_IMAGE="${POSTGRES_IMAGE:-certauth-postgres:15}"
WORK=.build/images
BINARIES=(token-issuer authn roles entra-emulator certauth)
RUNTIME_PACKAGES=libssl3,libsqlite3-0,zlib1g,libnghttp2-14,libstdc++6,ca-certificates
POSTGRES_PACKAGES=postgresql-15
mkdir -p "$WORK"
STARTED=$SECONDS
step() { printf '[images +%ss] %s\n' "$((SECONDS - STARTED))" "$*"; }

if ! "$DOCKER" version >/dev/null 2>&1; then
  echo "make images: no Docker engine answers ($DOCKER version failed). Start dockerd (docs/deployment.md) or set DOCKER_HOST." >&2
  exit 1
fi

case "$BUILD" in
  release) SWIFT_ARGS=(-c release --static-swift-stdlib) ;;
  debug) SWIFT_ARGS=() ;;
  *) echo "make images: BUILD=$BUILD is not supported; expected release or debug" >&2; exit 1 ;;
esac
step "swift build ${SWIFT_ARGS[*]}"
swift build "${SWIFT_ARGS[@]}" >/dev/null
BIN=$(swift build "${SWIFT_ARGS[@]}" --show-bin-path)

# The build context: bin/ and lib/ (the toolchain's shared libraries the binaries load; none for a static build).
CONTEXT="$WORK/context-$BUILD"
rm -rf "$CONTEXT"
mkdir -p "$CONTEXT/bin" "$CONTEXT/lib"
# Without their debug information (BUILD=debug: without symbols too, the test image's size halves); the host's
# build keeps everything.
if [ "$BUILD" = debug ]; then STRIP=(--strip-all); else STRIP=(--strip-debug); fi
for binary in "${BINARIES[@]}"; do
  cp "$BIN/$binary" "$CONTEXT/bin/"
  strip "${STRIP[@]}" "$CONTEXT/bin/$binary"
done
TOOLCHAIN_LIBS=$(for binary in "${BINARIES[@]}"; do ldd "$BIN/$binary"; done \
  | awk '$3 ~ /\/usr\/lib\/swift\// {print $3}' | sort -u)
for library in $TOOLCHAIN_LIBS; do cp -L "$library" "$CONTEXT/lib/"; done
MISSING=$(for binary in "${BINARIES[@]}"; do ldd "$BIN/$binary"; done | awk '/not found/ {print $1}' | sort -u)
if [ -n "$MISSING" ]; then
  echo "make images: the binaries need libraries this host lacks: $MISSING" >&2
  exit 1
fi
step "context: ${#BINARIES[@]} binaries, $(echo "$TOOLCHAIN_LIBS" | grep -c . || true) Swift runtime libraries ($(du -sh "$CONTEXT" | cut -f1))"

# Base images: debian:bookworm-slim if present or pullable; otherwise two bases made from Debian's packages with
# mmdebstrap (in parallel), holding the packages the Dockerfiles would install, imported with `docker import`.
mmdebstrap_base() {  # name packages [setup-hook]
  local name=$1 packages=$2 hook=${3:-}
  # The package list is part of the cache key: a base made for another list is made again.
  local tarball="$WORK/${name//[:\/]/-}-$(printf '%s %s' "$packages" "$hook" | sha256sum | cut -c1-12).tar"
  if [ ! -s "$tarball" ]; then
    # mmdebstrap picks the output format from the name: keep ".tar" at the end of the temporary one.
    rm -rf "${tarball%.tar}.part.tar"
    mmdebstrap --quiet --variant=minbase --include="$packages" ${hook:+--setup-hook="$hook"} bookworm "${tarball%.tar}.part.tar"
    mv "${tarball%.tar}.part.tar" "$tarball"
  fi
  "$DOCKER" import "$tarball" "$name" >/dev/null
}
NO_MAIN_CLUSTER='mkdir -p "$1/etc/postgresql-common/createcluster.d" && echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.d/no-main-cluster.conf"'
if "$DOCKER" image inspect debian:bookworm-slim >/dev/null 2>&1 || timeout 60 "$DOCKER" pull -q debian:bookworm-slim >/dev/null 2>&1; then
  RUNTIME_BASE=debian:bookworm-slim
  POSTGRES_BASE=debian:bookworm-slim
  NETWORK=default   # the Dockerfiles install their packages with apt
else
  RUNTIME_BASE=certauth-base:bookworm
  POSTGRES_BASE=certauth-postgres-base:bookworm
  NETWORK=none      # the bases hold every package: nothing to fetch
  if ! "$DOCKER" image inspect "$RUNTIME_BASE" >/dev/null 2>&1 || ! "$DOCKER" image inspect "$POSTGRES_BASE" >/dev/null 2>&1; then
    if ! command -v mmdebstrap >/dev/null; then
      echo "make images: debian:bookworm-slim cannot be pulled and mmdebstrap is not installed: apt-get install mmdebstrap" >&2
      exit 1
    fi
    step "no registry: $RUNTIME_BASE and $POSTGRES_BASE from Debian bookworm (mmdebstrap --variant=minbase)"
    mmdebstrap_base "$RUNTIME_BASE" "$RUNTIME_PACKAGES" &
    runtime_job=$!
    mmdebstrap_base "$POSTGRES_BASE" "$POSTGRES_PACKAGES" "$NO_MAIN_CLUSTER" &
    postgres_job=$!
    wait "$runtime_job"
    wait "$postgres_job"
  fi
fi

step "docker build --target prebuilt -t $IMAGE (base $RUNTIME_BASE)"
"$DOCKER" build -q --network "$NETWORK" -f compose/Dockerfile --target prebuilt \
  --build-arg RUNTIME_IMAGE="$RUNTIME_BASE" -t "$IMAGE" "$CONTEXT" >/dev/null
step "docker build -t $POSTGRES_IMAGE (base $POSTGRES_BASE)"
"$DOCKER" build -q --network "$NETWORK" --build-arg BASE_IMAGE="$POSTGRES_BASE" -t "$POSTGRES_IMAGE" compose/postgres >/dev/null
step "done: $IMAGE, $POSTGRES_IMAGE"
