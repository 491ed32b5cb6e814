"""Helpers the interop tests share: free loopback ports and starting a CertAuth binary until it is healthy."""
import os
import socket
import subprocess
import time
import urllib.request

import pytest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_healthy(binary, env, log_path, management_port, timeout=60):
    """Starts `binary` with `env`, logging to `log_path`, and waits until its management port answers
    /actuator/health. A loaded CI machine can take a while; never carry on with a service that is not up: the test
    fails with the end of its log."""
    log = open(log_path, "w")
    proc = subprocess.Popen([binary], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{management_port}/actuator/health", timeout=1)
            return proc
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.flush()
                with open(log_path) as f:
                    pytest.fail(f"{os.path.basename(binary)} did not become healthy: {f.read()[-1500:]}")
            time.sleep(0.1)
