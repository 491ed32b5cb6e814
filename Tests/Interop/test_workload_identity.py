"""Workload identity federation with Microsoft's own clients against the entra-emulator.

The test runs the external issuer itself (what the Kubernetes API server is for a projected service account token): an
HTTPS OIDC discovery document and JWKS, and tokens it mints with PyJWT. The app registration trusts that issuer through
a federated credential. azure-identity's WorkloadIdentityCredential (as the azure-workload-identity webhook configures
it: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST) and msal with a client
assertion both obtain tokens; the token file is rotated and the new token is used; mismatches get Entra's codes.
"""
import base64
import http.server
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time

import jwt
import msal
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from interop_support import start_bound

BIN = os.environ.get("CERTAUTH_BIN_DIR", ".build/debug")
PASSWORD = "interop-pw"
TENANT = "ea952511-6a7f-40b8-af71-6c1be6f0dade"
CLIENT = "6fe432f2-7dc3-4e13-b1b4-4cc8480c80b7"
API = "2622078b-0164-41ee-8794-3ff8d9f8e402"
SUBJECT = "system:serviceaccount:camunda:token-issuer"
AUDIENCE = "api://AzureADTokenExchange"


def b64url_uint(value):
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Issuer:
    """HTTPS discovery + JWKS on a port this process binds itself (port 0)."""

    def __init__(self, pki, workdir):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "interop-k8s"
        with open(os.path.join(pki, "entra-emulator.p12"), "rb") as f:
            key, cert, chain = pkcs12.load_key_and_certificates(f.read(), PASSWORD.encode())
        cert_path = os.path.join(workdir, "issuer.crt")
        key_path = os.path.join(workdir, "issuer.key")
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        numbers = self.key.public_key().public_numbers()
        issuer = self
        jwks = {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                          "n": b64url_uint(numbers.n), "e": b64url_uint(numbers.e)}]}
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                issuer.requests.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/openid/v1/jwks"}
                elif self.path == "/openid/v1/jwks":
                    body = jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://localhost:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def mint(self, subject=SUBJECT, audience=AUDIENCE, lifetime=3600, issuer=None):
        now = int(time.time())
        claims = {"iss": issuer or self.url, "sub": subject, "aud": [audience], "iat": now, "nbf": now,
                  "exp": now + lifetime, "kubernetes.io": {"namespace": "camunda"}}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def federation():
    tmp = tempfile.mkdtemp(prefix="certauth-wif-")
    pki = os.path.join(tmp, "pki")
    subprocess.run([f"{BIN}/certauth", "pki", "init", "--out", pki, "--password", PASSWORD], check=True,
                   stdout=subprocess.DEVNULL)
    issuer = Issuer(pki, tmp)
    apps = {"tenant_id": TENANT, "apps": [
        {"client_id": CLIENT, "name": "identity",
         "federated_credentials": [{"name": "kubernetes", "issuer": issuer.url, "subject": SUBJECT}],
         "app_roles_granted": {API: ["Admin", "Reader"]}},
        {"client_id": API, "name": "orchestration-api", "app_roles": ["Admin", "Reader"]}]}
    with open(os.path.join(pki, "apps.json"), "w") as f:
        json.dump(apps, f)
    env = dict(os.environ, SERVER_SSL_KEY_STORE=os.path.join(pki, "entra-emulator.p12"),
               SERVER_SSL_KEY_STORE_PASSWORD=PASSWORD, ENTRA_EMULATOR_APPS=os.path.join(pki, "apps.json"),
               ENTRA_EMULATOR_TRUSTSTORE_PATH=os.path.join(pki, "truststore.pem"))
    proc, port, _ = start_bound(f"{BIN}/entra-emulator", env, os.path.join(tmp, "emulator.log"))
    token_file = os.path.join(tmp, "azure-identity-token")
    yield {"port": port, "pki": pki, "issuer": issuer, "token_file": token_file, "tmp": tmp}
    proc.terminate()
    proc.wait(timeout=10)
    issuer.close()


def write_token(path, token):
    # The kubelet replaces the file atomically.
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        f.write(token)
    os.replace(temporary, path)


def claims_of(token):
    return jwt.decode(token, options={"verify_signature": False})


def test_azure_identity_workload_identity_credential(federation, monkeypatch):
    from azure.identity import WorkloadIdentityCredential
    write_token(federation["token_file"], federation["issuer"].mint())
    # What the azure-workload-identity webhook injects into the pod.
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", f"https://localhost:{federation['port']}")
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", federation["token_file"])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", os.path.join(federation["pki"], "truststore.pem"))
    credential = WorkloadIdentityCredential(disable_instance_discovery=True)
    token = credential.get_token(f"{API}/.default")
    claims = claims_of(token.token)
    assert claims["azp"] == CLIENT
    assert claims["aud"] == API
    assert claims["roles"] == ["Admin", "Reader"]
    assert token.expires_on > time.time() + 3000
    assert "/openid/v1/jwks" in federation["issuer"].requests

    # The kubelet rotates the token; a new credential (a new pod process) reads the new file, the old token is expired.
    write_token(federation["token_file"], federation["issuer"].mint(lifetime=-600))
    stale = WorkloadIdentityCredential(disable_instance_discovery=True)
    with pytest.raises(Exception) as refused:
        stale.get_token(f"{API}/.default")
    assert "AADSTS700024" in str(refused.value)
    write_token(federation["token_file"], federation["issuer"].mint())
    renewed = WorkloadIdentityCredential(disable_instance_discovery=True)
    assert claims_of(renewed.get_token(f"api://{API}/.default").token)["azp"] == CLIENT


def test_msal_client_assertion(federation):
    os.environ["REQUESTS_CA_BUNDLE"] = os.path.join(federation["pki"], "truststore.pem")
    issuer = federation["issuer"]

    def acquire(assertion):
        app = msal.ConfidentialClientApplication(
            CLIENT, client_credential={"client_assertion": lambda: assertion},
            authority=f"https://localhost:{federation['port']}/{TENANT}",
            validate_authority=False, instance_discovery=False)
        return app.acquire_token_for_client(scopes=[f"{API}/.default"])

    result = acquire(issuer.mint())
    assert "access_token" in result, result.get("error_description")
    assert claims_of(result["access_token"])["roles"] == ["Admin", "Reader"]

    for assertion, code in [
        (issuer.mint(subject="system:serviceaccount:camunda:other"), 700213),
        (issuer.mint(audience="api://other"), 700212),
        (issuer.mint(issuer="https://oidc.example.com/other"), 700211),
        (issuer.mint(lifetime=-600), 700024),
    ]:
        result = acquire(assertion)
        assert "access_token" not in result
        assert result.get("error_codes") == [code], result
        assert f"AADSTS{code}:" in result["error_description"]
