"""Helpers the interop tests share: starting a CertAuth binary on ports it picks itself until it is healthy, and
checking that a foreign server (glewlwyd) holds the port it was given."""
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest


def free_port():
    """A port nobody listens on right now; only for foreign servers, which must then be checked with `holds_port`
    (another process may take the port before the server binds it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_inodes(port):
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # sl local_address rem_address st ... inode (state 0A: LISTEN)
            if len(fields) > 9 and fields[3] == "0A" and fields[1].endswith(":%04X" % port):
                inodes.add(fields[9])
    return inodes


def holds_port(pid, port):
    """True when process `pid` has a socket listening on `port` (/proc/net/tcp's inode among /proc/PID/fd)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return False
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in descriptors:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def _fail_with_log(binary, log_path, why):
    with open(log_path) as f:
        pytest.fail(f"{os.path.basename(binary)} {why}: {f.read()[-1500:]}")


def start_bound(binary, env, log_path, timeout=60, healthy=(200,)):
    """Starts a CertAuth `binary` with `env` and both listeners on port 0, logging to `log_path`; waits for the
    ports it reports in `SERVER_PORTS_REPORT`, then for `/actuator/health` to answer with a status in `healthy`.
    Returns (process, port, management port). A loaded CI machine can take a while; never carry on with a service
    that is not up: the test fails with the end of its log."""
    ports_file = log_path + ".ports"
    if os.path.exists(ports_file):
        os.remove(ports_file)
    env = dict(env, SERVER_PORT="0", MANAGEMENT_SERVER_PORT="0", SERVER_PORTS_REPORT=ports_file)
    with open(log_path, "w") as log:
        proc = subprocess.Popen([binary], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    ports = None
    while True:
        if ports is None and os.path.exists(ports_file):
            with open(ports_file) as f:
                ports = json.load(f)
        if ports is not None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports['management_port']}/actuator/health", timeout=1) as r:
                    status = r.status
            except urllib.error.HTTPError as e:
                status = e.code
            except Exception:
                status = None
            if status in healthy:
                return proc, ports["port"], ports["management_port"]
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _fail_with_log(binary, log_path, "exited at start" if proc.returncode else "did not become healthy")
        time.sleep(0.05)

