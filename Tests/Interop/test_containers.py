"""The compose deployment run for real, as docs/deployment.md tells a user: a Docker engine (started here, with its
own socket, data directory and address range, when none is given), `make images BUILD=debug`, `compose/init.sh`,
`docker-compose -f compose/docker-compose.yml --profile dev up -d --scale token-issuer=3`, then the checks a user
would make: all healthy, a token from token-issuer over the compose network, authn with that token and with the
client certificate, the three replicas sharing the load, a killed replica costing no request and coming back, a rule
written through authn seen by both roles replicas and surviving `down` + `up`, a session surviving an authn restart,
and `down -v` leaving nothing. Bounded in time; cleans up (containers, networks, volumes, the dockerd it started)
also when a check fails. Traffic goes only to the containers on the test's own networks and to loopback.

Skipped only where no container engine can run (not root, no dockerd, or dockerd cannot start here)."""
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The test's own address range for every network dockerd makes (no default bridge: --bridge none).
ADDRESS_POOL = "10.231.0.0/16"
# Budgets: `make images` (on a fresh machine two mmdebstrap bases, 1-4 minutes with the machine busy) and the
# deployment checks after it (about 2.5 minutes) each have their own.
IMAGES_BUDGET = 5 * 60
DEPLOYMENT_BUDGET = 6 * 60
DEADLINE = time.monotonic() + IMAGES_BUDGET + 60
PROJECT = f"certauthtest{os.getpid()}"
NETWORK = f"{PROJECT}_default"
CLIENT_IMAGE = "certauth-test-client:latest"


def step(message):
    print(f"[containers {time.strftime('%H:%M:%S')}] {message}", flush=True)


def remaining():
    left = DEADLINE - time.monotonic()
    if left <= 0:
        pytest.fail("the container test ran out of its time budget")
    return left


def run(*args, env=None, check=True, timeout=None, input=None):
    result = subprocess.run(list(args), capture_output=True, text=True, env=env, input=input, cwd=ROOT,
                            timeout=min(timeout or 300, remaining()))
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


class Engine:
    """A dockerd of the test's own: socket, data and exec roots in a temporary directory, networks from
    ADDRESS_POOL, no default bridge, no iptables rules (containers reach only each other and published loopback
    ports). A watchdog stops it if the test process dies."""

    def __init__(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="certauth-docker-"))
        self.socket = self.dir / "docker.sock"
        self.process = None
        self.watchdog = None

    def start(self):
        config = {"exec-opts": ["native.cgroupdriver=cgroupfs"], "storage-driver": "overlay2",
                  "default-address-pools": [{"base": ADDRESS_POOL, "size": 24}],
                  "iptables": False, "ip-masq": False, "ip6tables": False}
        (self.dir / "daemon.json").write_text(json.dumps(config))
        self.log = open(self.dir / "dockerd.log", "w")
        self.process = subprocess.Popen(
            ["dockerd", "--config-file", str(self.dir / "daemon.json"), "--data-root", str(self.dir / "data"),
             "--exec-root", str(self.dir / "exec"), "--pidfile", str(self.dir / "dockerd.pid"),
             "-H", f"unix://{self.socket}", "--bridge", "none"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.watchdog = subprocess.Popen(
            ["bash", "-c", f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 2; done; "
                           f"kill -TERM {self.process.pid} 2>/dev/null; sleep 20; kill -KILL {self.process.pid} 2>/dev/null"],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until = time.monotonic() + 40
        while time.monotonic() < until:
            if self.process.poll() is not None:
                break
            if subprocess.run(["docker", "-H", f"unix://{self.socket}", "version"], capture_output=True).returncode == 0:
                return True
            time.sleep(0.5)
        return False

    def log_tail(self):
        return "\n".join((self.dir / "dockerd.log").read_text().splitlines()[-15:])

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.watchdog:
            self.watchdog.kill()
            self.watchdog.wait()
        # Anything dockerd left mounted under its directories (it unmounts them itself on a clean stop).
        mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout.split()
        for target in sorted((m for m in mounts if m.startswith(str(self.dir))), key=len, reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def engine():
    if os.geteuid() != 0:
        pytest.skip("no container engine can run here: dockerd needs root (CI runs as root)")
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        pytest.skip("no container engine can run here: dockerd is not installed (apt-get install docker.io; .ci/run does)")
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is not installed: apt-get install docker-compose (.ci/run does)")
    global DEADLINE
    DEADLINE = time.monotonic() + IMAGES_BUDGET + 60
    engine = Engine()
    try:
        step(f"starting dockerd (own socket, networks from {ADDRESS_POOL}, no iptables rules)")
        if not engine.start():
            tail = engine.log_tail()
            engine.stop()
            pytest.skip(f"no container engine can run here: dockerd did not start:\n{tail}")
        step("dockerd answers")
        yield engine
    finally:
        step("stopping dockerd")
        engine.stop()


@pytest.fixture(scope="module")
def deployment(engine):
    env = {**os.environ, "DOCKER_HOST": f"unix://{engine.socket}", "COMPOSE_PROJECT_NAME": PROJECT,
           "CERTAUTH_POSTGRES_IMAGE": "certauth-postgres:15", "CERTAUTH_AUTHN_PORT": "127.0.0.1:0",
           "CERTAUTH_UNPROTECTED_API": "true"}
    step("make images BUILD=debug")
    images = run("make", "-s", "images", "BUILD=debug", env=env, timeout=IMAGES_BUDGET)
    for line in images.stdout.splitlines():
        step("  " + line)
    base = "certauth-base:bookworm" if run("docker", "image", "inspect", "certauth-base:bookworm", env=env,
                                           check=False).returncode == 0 else "debian:bookworm-slim"
    # A curl to call the services from inside the compose network, as a user's own container would.
    step(f"test client image: curl on {base}")
    run("docker", "build", "-q", "--network", "host", "-t", CLIENT_IMAGE, "-", env=env, timeout=120,
        input=f"FROM {base}\nRUN apt-get update -qq && apt-get install -y -qq --no-install-recommends curl "
              f">/dev/null && rm -rf /var/lib/apt/lists/*\n")
    work = pathlib.Path(tempfile.mkdtemp(prefix="certauth-compose-"))
    compose_dir = work / "compose"
    shutil.copytree(ROOT / "compose", compose_dir,
                    ignore=shutil.ignore_patterns("ca", "certs", "secrets", "pki", "data", ".env"))
    # compose/init.sh uses the host's certauth (CERTAUTH_BIN_DIR, as make test built it).
    env["CERTAUTH_BIN_DIR"] = os.environ.get("CERTAUTH_BIN_DIR", "")
    step("compose/init.sh")
    run(str(compose_dir / "init.sh"), env=env)
    compose = ["docker-compose", "-f", str(compose_dir / "docker-compose.yml")]
    state = {"env": env, "compose": compose, "dir": compose_dir}
    global DEADLINE
    DEADLINE = time.monotonic() + DEPLOYMENT_BUDGET
    try:
        yield state
    finally:
        step("cleanup: docker-compose down -v")
        subprocess.run([*compose, "--profile", "dev", "down", "-v", "--remove-orphans", "-t", "5"], env=env,
                       capture_output=True, timeout=120)
        shutil.rmtree(work, ignore_errors=True)


def containers(state, service):
    out = run(*state["compose"], "ps", "-q", service, env=state["env"]).stdout.split()
    return out


def inspect(state, container_id):
    return json.loads(run("docker", "inspect", container_id, env=state["env"]).stdout)[0]


def wait_healthy(state, expected, budget=150):
    until = time.monotonic() + min(budget, remaining())
    statuses = {}
    while time.monotonic() < until:
        ids = run(*state["compose"], "--profile", "dev", "ps", "-q", env=state["env"]).stdout.split()
        statuses = {}
        for cid in ids:
            info = inspect(state, cid)
            statuses[info["Name"].lstrip("/")] = (info["State"].get("Health") or {}).get("Status", info["State"]["Status"])
        if len(statuses) == expected and all(s == "healthy" for s in statuses.values()):
            return statuses
        time.sleep(2)
    logs = run(*state["compose"], "--profile", "dev", "logs", "--tail", "5", env=state["env"], check=False).stdout
    pytest.fail(f"not all healthy: {statuses}\n{logs[-4000:]}")


def client(state, script, mounts=True):
    """Runs `sh -c script` in the curl image on the compose network, with compose/ca at /pki (read-only)."""
    args = ["docker", "run", "--rm", "--network", NETWORK]
    if mounts:
        args += ["-v", f"{state['dir'] / 'ca'}:/pki:ro"]
    return run(*args, CLIENT_IMAGE, "sh", "-c", script, env=state["env"], timeout=120)


def caller_certificate(state):
    """curl's certificate options for a caller token-issuer admits (its CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS)."""
    config = run(*state["compose"], "--profile", "dev", "config", env=state["env"]).stdout
    match = re.search(r"CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS: ['\"]?([^'\"\n]+)", config)
    allowed = [c.strip() for c in match.group(1).split(",")] if match else []
    if "app" in allowed:  # the dev workload certificate (service identity spiffe://certauth/app)
        return "--cert /pki/app.crt --key /pki/app.key"
    if not allowed or "client" in allowed:
        return "--cert /pki/client.crt --key /pki/client.key"
    name = allowed[0]
    password = (state["dir"] / "secrets" / "keystore_password").read_text().strip()
    return f"--cert-type P12 --cert /pki/{name}.p12:{password}"


def token_request(state):
    return (f"curl -sf --http2 --cacert /pki/truststore.pem {caller_certificate(state)} "
            f"-H 'content-type: application/json' -d '{{}}' https://token-issuer:8444/v1/token")


def token_requests_per_replica(state):
    counts = {}
    ips = {}
    for cid in containers(state, "token-issuer"):
        ip = next(iter(inspect(state, cid)["NetworkSettings"]["Networks"].values()))["IPAddress"]
        ips[cid] = ip
    script = " ; ".join(f"echo {cid} $(curl -sf http://{ip}:9081/metrics | "
                        f"grep '^http_server_requests_total{{' | grep 'route=\"/v1/token\"' | "
                        f"awk '{{s+=$NF}} END {{print s+0}}')" for cid, ip in ips.items())
    for line in client(state, script, mounts=False).stdout.splitlines():
        cid, count = line.split()
        counts[cid] = int(float(count))
    return counts


def authn_url(state):
    port = run(*state["compose"], "port", "authn", "8443", env=state["env"]).stdout.strip().rsplit(":", 1)[1]
    return f"https://localhost:{port}"


def host_curl(state, *args):
    ca = state["dir"] / "ca"
    return run("curl", "-s", "--resolve", f"localhost:{authn_url(state).rsplit(':', 1)[1]}:127.0.0.1",
               "--cacert", str(ca / "truststore.pem"), *args, env=state["env"], timeout=30)


def test_compose_deployment_runs_as_documented(deployment):
    state = deployment
    env, compose = state["env"], state["compose"]
    started = time.monotonic()
    step("docker-compose -f compose/docker-compose.yml --profile dev up -d --scale token-issuer=3")
    run(*compose, "--profile", "dev", "up", "-d", "--scale", "token-issuer=3", env=env, timeout=180)
    statuses = wait_healthy(state, expected=8)   # postgres, emulator, 3 token-issuer, 2 roles, authn
    step(f"all {len(statuses)} containers healthy after {time.monotonic() - started:.0f} s")

    # A token over the compose network, by the name every replica answers to.
    token = json.loads(client(state, token_request(state)).stdout)
    assert token["token_type"] == "Bearer" and token["access_token"].count(".") == 2
    step("token from https://token-issuer:8444/v1/token over the compose network")

    url = authn_url(state)
    me = host_curl(state, "-f", "-H", f"Authorization: Bearer {token['access_token']}", f"{url}/v2/authentication/me")
    assert json.loads(me.stdout), me.stdout
    step(f"authn {url}/v2/authentication/me with that token: {me.stdout[:120]}")
    ca = state["dir"] / "ca"
    me = host_curl(state, "-f", "--cert", str(ca / "client.crt"), "--key", str(ca / "client.key"),
                   f"{url}/v2/authentication/me")
    assert "client" in me.stdout, me.stdout
    step(f"authn with the client certificate: {me.stdout[:120]}")

    # Three replicas share the load: 30 new connections, each resolved through Docker's DNS.
    before = token_requests_per_replica(state)
    client(state, f"for i in $(seq 30); do {token_request(state)} >/dev/null || exit 1; done")
    after = token_requests_per_replica(state)
    spread = sorted(after[c] - before.get(c, 0) for c in after)
    assert len(spread) == 3 and all(n > 0 for n in spread) and sum(spread) == 30, spread
    step(f"30 token requests spread over the 3 replicas: {spread}")

    # /metrics of every service: Prometheus names with a HELP line each, and the expiry of every certificate held.
    management = {"authn": 9080, "token-issuer": 9081, "roles": 9082, "entra-emulator": 9083}
    for service, port in management.items():
        cid = containers(state, service)[0]
        ip = next(iter(inspect(state, cid)["NetworkSettings"]["Networks"].values()))["IPAddress"]
        text = client(state, f"curl -sf http://{ip}:{port}/metrics", mounts=False).stdout
        lines = text.splitlines()
        typed = {line.split()[2] for line in lines if line.startswith("# TYPE ")}
        helped = {line.split()[2] for line in lines if line.startswith("# HELP ")}
        assert typed and typed == helped, f"{service}: metrics without HELP: {typed - helped}"
        assert 'certauth_certificate_expiration_timestamp_seconds{role="server"' in text, f"{service}: {text[:2000]}"
        if service == "token-issuer":
            assert 'role="client_credential"' in text
        if service == "authn":
            assert "certauth_jwks_last_success_timestamp_seconds " in text
        assert not any(line.startswith("hb_") for line in lines), f"{service}: Hummingbird names not mapped"
    step("every service's /metrics: a HELP line per metric, the expiry of its certificates "
         "(authn also the JWKS refresh time)")

    # A killed replica (SIGKILL, as a crash) costs no request, and the restart policy brings it back.
    victim = containers(state, "token-issuer")[0]
    pid = inspect(state, victim)["State"]["Pid"]
    os.kill(pid, signal.SIGKILL)
    result = client(state, f"ok=0; for i in $(seq 20); do {token_request(state)} >/dev/null && ok=$((ok+1)); "
                           f"sleep 0.1; done; echo $ok")
    assert result.stdout.strip() == "20", f"only {result.stdout.strip()} of 20 token requests succeeded"
    step("one replica killed with SIGKILL: 20 of 20 token requests during its restart succeeded")
    until = time.monotonic() + min(60, remaining())
    while time.monotonic() < until:
        info = inspect(state, victim)
        if info["RestartCount"] >= 1 and (info["State"].get("Health") or {}).get("Status") == "healthy":
            break
        time.sleep(1)
    else:
        pytest.fail(f"the killed replica did not come back healthy: {inspect(state, victim)['State']}")
    step("the killed replica came back (restart: unless-stopped) and is healthy")

    # A rule written through authn (the token's azp is the bootstrap admin) is seen by both roles replicas.
    rule = {"mappingRuleId": "container-test", "claimName": "roles", "claimValue": "Admin", "name": "container test"}
    written = host_curl(state, "-f", "-H", f"Authorization: Bearer {token['access_token']}",
                        "-H", "content-type: application/json", "-d", json.dumps(rule), f"{url}/v2/mapping-rules")
    assert "container-test" in written.stdout, written.stdout

    def rule_on_each_roles_replica():
        password = (state["dir"] / "secrets" / "keystore_password").read_text().strip()
        seen = []
        for cid in containers(state, "roles"):
            ip = next(iter(inspect(state, cid)["NetworkSettings"]["Networks"].values()))["IPAddress"]
            out = client(state, f"curl -s --resolve roles:8445:{ip} --cacert /pki/truststore.pem --cert-type P12 "
                                f"--cert /pki/authn.p12:{password} -H X-Auth-Principal:test -H X-Auth-Roles:admin "
                                f"-H X-Auth-Method:oidc https://roles:8445/v2/mapping-rules/container-test").stdout
            seen.append("container-test" in out)
        return seen

    until = time.monotonic() + 10
    while not all(seen := rule_on_each_roles_replica()) and time.monotonic() < until:
        time.sleep(1)
    assert seen == [True, True], seen
    step("a rule written through authn is seen by both roles replicas")

    # The seed's credential-less flow: an anonymous caller with no roles (never the service identity's), one sign-in
    # shared by every anonymous caller and kept in PostgreSQL, so an authn restart reuses it.
    first = host_curl(state, "-f", f"{url}/v2/authentication/me")
    body = json.loads(first.stdout)
    assert body["authentication_method"] == "anonymous" and body["roles"] == [], body
    run(*compose, "restart", "-t", "10", "authn", env=env, timeout=60)
    wait_healthy(state, expected=8, budget=90)
    url = authn_url(state)
    again = host_curl(state, "-f", f"{url}/v2/authentication/me")
    assert json.loads(again.stdout)["authentication_method"] == "anonymous", again.stdout
    logs = run(*compose, "logs", "--no-color", "authn", env=env, timeout=60).stdout
    assert "Anonymous sign-in reused from the session store" in logs, logs[-3000:]
    step("an anonymous caller gets no roles; after an authn restart the shared sign-in comes from PostgreSQL")

    # down (data volume kept) + up: the rule is still there.
    run(*compose, "--profile", "dev", "down", "-t", "10", env=env, timeout=120)
    run(*compose, "--profile", "dev", "up", "-d", "--scale", "token-issuer=3", env=env, timeout=180)
    wait_healthy(state, expected=8)
    assert rule_on_each_roles_replica() == [True, True]
    step("after down + up the rule is still there (postgres-data volume kept)")

    run(*compose, "--profile", "dev", "down", "-v", "-t", "10", env=env, timeout=120)
    left = {kind: run("docker", kind, "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}",
                      *(["-a"] if kind == "container" else []), env=env).stdout.split()
            for kind in ("container", "volume", "network")}
    assert left == {"container": [], "volume": [], "network": []}, left
    step("down -v leaves no container, volume or network")
    step(f"done in {time.monotonic() - started:.0f} s after the images")
