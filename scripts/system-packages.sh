#!/usr/bin/env bash
# Installs the Debian packages a make target needs when any is missing, so `make run` and `make test` work on a
# fresh Debian machine: as root with apt-get, else with sudo when it needs no password, else it prints the one
# command to run and stops. Usage: scripts/system-packages.sh build|test
#   build: what `swift build` links (OpenSSL, nghttp2, zlib, SQLite headers) and what `make run` / `make stop` call
#          (openssl, curl, pkill from procps)
#   test:  build + the peers and tools of the tests (PostgreSQL, nginx, glewlwyd, Python venv, docker-compose,
#          docker.io and mmdebstrap for the container test); the same list as .ci/run.
set -euo pipefail
BUILD_PACKAGES=(libssl-dev libnghttp2-dev zlib1g-dev libsqlite3-dev openssl curl ca-certificates procps)
TEST_PACKAGES=("${BUILD_PACKAGES[@]}" python3 python3-pip python3-venv postgresql nginx docker-compose glewlwyd docker.io mmdebstrap tinyproxy)
case "${1:-}" in
  build) wanted=("${BUILD_PACKAGES[@]}") ;;
  test) wanted=("${TEST_PACKAGES[@]}") ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
if ! command -v dpkg-query >/dev/null; then
  echo "system-packages: not a Debian system; make sure these (or your system's equivalents) are installed: ${wanted[*]}" >&2
  exit 0
fi
missing=()
for package in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "system-packages: installing ${missing[*]}"
if [ "$(id -u)" = 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  SUDO=(sudo)
else
  echo "system-packages: these Debian packages are missing: ${missing[*]}" >&2
  echo "  install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
