#!/usr/bin/env bash
# make test-containers: the compose deployment run for real (Tests/Interop/test_containers.py): its own dockerd,
# `make images BUILD=debug`, compose/init.sh, docker-compose up with 3 token-issuer replicas, and the checks a user
# would make; then the README's quick start on a fresh machine (Tests/Interop/test_quickstart.py): a plain Debian
# container with the host's Swift toolchain and package mirror, `make run`, the curl it prints, `make stop`. Prints
# each step. Needs root, docker.io, docker-compose and mmdebstrap (.ci/run installs them); skipped with the reason
# where no container engine can run. Uses the venv of scripts/interop.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.build/venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check pytest PyYAML
BIN=$(swift build --show-bin-path)
CERTAUTH_BIN_DIR="$BIN" "$VENV/bin/python" -m pytest -q -s -rs Tests/Interop/test_containers.py Tests/Interop/test_quickstart.py
