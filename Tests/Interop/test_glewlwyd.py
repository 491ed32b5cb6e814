"""Interop with a real, independent IdP: glewlwyd (Debian package `glewlwyd`, 2.7.x), started on loopback.

The fixture runs glewlwyd as a foreground process on 127.0.0.1 and a free port, with TLS on (a server certificate
issued by the dev PKI's CA from `certauth pki init`), client certificates requested and checked against that CA,
and a SQLite database made from glewlwyd's shipped schema. Through glewlwyd's own admin REST API (Debian's default
admin, `admin` / `password`) it adds an OIDC plugin instance with client_credentials and RFC 8705 endpoint aliases,
a scope, and two confidential clients: one authenticating with `private_key_jwt` (the public key of the dev PKI's
`identity` certificate) and one with `tls_client_auth` (that certificate's subject DN).

First, plain Python (PyJWT + requests) proves each method against glewlwyd and pins what glewlwyd insists on
(integer timestamps, a single-use `jti`, `aud` equal to the token endpoint, the mTLS alias for tls_client_auth).
Then the real test: the `token-issuer` binary (CERTAUTH_BIN_DIR) gets tokens from glewlwyd with each method, called
over mTLS with the dev PKI's client certificate, and the tokens are verified with glewlwyd's JWKS.

See docs/glewlwyd.md.
"""
import base64
import contextlib
import datetime
import gzip
import ipaddress
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import uuid

import jwt
import pytest
from interop_support import free_port, holds_port, start_bound
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BIN = os.environ.get("CERTAUTH_BIN_DIR", ".build/debug")
PASSWORD = "interop-pw"
GLEWLWYD = shutil.which("glewlwyd") or "/usr/bin/glewlwyd"
SCHEMA = "/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz"
MODULES = "/usr/lib/glewlwyd"
ADMIN_USER, ADMIN_PASSWORD = "admin", "password"  # Debian's init.sqlite3.sql creates this administrator
PLUGIN = "oidc"
SCOPE = "certauth-api"
PKJWT_CLIENT = "certauth-pkjwt"
TLS_CLIENT = "certauth-tls"
IDENTITY_DN = "CN=identity,O=CertAuth dev"  # RFC 4514 form of the dev PKI's identity certificate subject
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
START_TIMEOUT = 30.0


def session(ca):
    """A requests session that trusts only `ca`. trust_env=False: REQUESTS_CA_BUNDLE would override `verify`."""
    s = requests.Session()
    s.verify = ca
    s.trust_env = False
    return s


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as error:
        return f"(no log: {error})"


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def issue_server_certificate(pki, out):
    """A TLS server certificate for glewlwyd (SAN localhost, 127.0.0.1), issued by the dev PKI's CA."""
    with open(os.path.join(pki, "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    with open(os.path.join(pki, "ca.crt"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CertAuth dev"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, "glewlwyd")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .sign(ca_key, hashes.SHA256()))
    key_path, cert_path = os.path.join(out, "glewlwyd.key"), os.path.join(out, "glewlwyd.crt")
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def init_database(path):
    """glewlwyd's shipped SQLite schema, plus `tls_client_auth_subject_dn` in the client backend's data-format.

    The Debian schema's client backend stores only the properties its data-format lists, and that list has the SAN
    properties but not the subject DN; an update through the admin API is not picked up until a restart, so the
    property is added here, before glewlwyd starts.
    """
    with gzip.open(SCHEMA, "rt") as f:
        schema = f.read()
    db = sqlite3.connect(path)
    try:
        db.executescript(schema)
        (parameters,) = db.execute(
            "SELECT gcmi_parameters FROM g_client_module_instance WHERE gcmi_name = 'database'").fetchone()
        parameters = json.loads(parameters)
        parameters["data-format"]["tls_client_auth_subject_dn"] = {"multiple": False, "read": True, "write": True}
        db.execute("UPDATE g_client_module_instance SET gcmi_parameters = ? WHERE gcmi_name = 'database'",
                   (json.dumps(parameters),))
        db.commit()
    finally:
        db.close()


def write_config(path, port, key, cert, ca, database):
    # libconfig syntax. secure_connection_ca_file makes glewlwyd (GnuTLS) request a client certificate and check it
    # against the CA; a connection without one is still accepted (private_key_jwt needs none).
    with open(path, "w") as f:
        f.write(f"""
port={port}
bind_address="127.0.0.1"
external_url="https://localhost:{port}"
login_url="login.html"
api_prefix="api"
log_mode="console"
log_level="INFO"
cookie_secure=1
session_expiration=3600
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="{MODULES}/user"
client_module_path="{MODULES}/client"
user_auth_scheme_module_path="{MODULES}/scheme"
plugin_module_path="{MODULES}/plugin"
use_secure_connection=true
secure_connection_key_file="{key}"
secure_connection_pem_file="{cert}"
secure_connection_ca_file="{ca}"
hash_algorithm="SHA512"
database = {{
  type = "sqlite3"
  path = "{database}"
}};
""")


def oidc_plugin(issuer):
    """OIDC plugin instance: RS256 tokens, client_credentials only, client keys from the `pubkey` property,
    client certificates from the TLS session, RFC 8705 endpoint aliases (`/mtls/token`)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "module": "oidc", "name": PLUGIN, "display_name": "CertAuth interop", "enabled": True,
        "parameters": {
            "iss": issuer,
            "jwt-type": "rsa", "jwt-key-size": "256",
            "key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode(),
            "cert": key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
            "access-token-duration": 3600, "refresh-token-duration": 1209600, "code-duration": 600,
            "allow-non-oidc": True,
            "auth-type-client-enabled": True, "auth-type-code-enabled": False, "auth-type-token-enabled": False,
            "auth-type-id-token-enabled": True, "auth-type-none-enabled": False,
            "auth-type-password-enabled": False, "auth-type-refresh-enabled": False,
            # client_assertion is a JWT request parameter: refused ("unauthorized request parameter") unless allowed
            "request-parameter-allow": True,
            "client-pubkey-parameter": "pubkey", "client-jwks-parameter": "jwks", "client-jwks_uri-parameter": "jwks_uri",
            "client-cert-source": "TLS", "client-cert-use-endpoint-aliases": True,
            "client-cert-self-signed-allowed": False,
            "jwks-show": True, "scope": [], "claims": [], "additional-parameters": [],
        },
    }


def admin_setup(base, ca, identity_public_key_pem):
    s = session(ca)
    r = s.post(f"{base}/api/auth/", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}, timeout=10)
    assert r.status_code == 200, f"glewlwyd admin login: {r.status_code} {r.text}"
    r = s.post(f"{base}/api/mod/plugin/", json=oidc_plugin(f"{base}/api/{PLUGIN}"), timeout=30)
    assert r.status_code == 200, f"glewlwyd OIDC plugin: {r.status_code} {r.text}"
    r = s.post(f"{base}/api/scope/", json={"name": SCOPE, "display_name": "CertAuth API",
                                          "description": "audience of the interop tokens",
                                          "password_required": False, "password_max_age": 0, "scheme": {}},
               timeout=10)
    assert r.status_code == 200, f"glewlwyd scope: {r.status_code} {r.text}"
    common = {"confidential": True, "enabled": True, "authorization_type": ["client_credentials"],
              "scope": [SCOPE], "redirect_uri": []}
    clients = [
        dict(common, client_id=PKJWT_CLIENT, name="token-issuer (private_key_jwt)",
             token_endpoint_auth_method=["private_key_jwt"], pubkey=identity_public_key_pem),
        dict(common, client_id=TLS_CLIENT, name="token-issuer (tls_client_auth)",
             token_endpoint_auth_method=["tls_client_auth"], tls_client_auth_subject_dn=IDENTITY_DN),
    ]
    for client in clients:
        r = s.post(f"{base}/api/client/", json=client, timeout=10)
        assert r.status_code == 200, f"glewlwyd client {client['client_id']}: {r.status_code} {r.text}"
        stored = s.get(f"{base}/api/client/{client['client_id']}", timeout=10).json()
        for name in ("token_endpoint_auth_method", "pubkey", "tls_client_auth_subject_dn"):
            assert stored.get(name) == client.get(name), f"glewlwyd did not store {name}: {stored}"


@pytest.fixture(scope="module")
def glewlwyd():
    if not os.path.exists(GLEWLWYD) or not os.path.exists(SCHEMA):
        pytest.skip("glewlwyd is not installed: apt-get install glewlwyd (.ci/run does)")
    tmp = tempfile.mkdtemp(prefix="certauth-glewlwyd-")
    proc = None
    log_path = os.path.join(tmp, "glewlwyd.log")
    try:
        pki = os.path.join(tmp, "pki")
        subprocess.run([f"{BIN}/certauth", "pki", "init", "--out", pki, "--password", PASSWORD], check=True,
                       stdout=subprocess.DEVNULL, timeout=60)
        ca = os.path.join(pki, "truststore.pem")
        key_path, cert_path = issue_server_certificate(pki, tmp)
        with open(os.path.join(pki, "identity.p12"), "rb") as f:
            id_key, id_cert, _ = pkcs12.load_key_and_certificates(f.read(), PASSWORD.encode())
        id_key_path, id_cert_path = os.path.join(tmp, "identity.key"), os.path.join(tmp, "identity.crt")
        with open(id_key_path, "wb") as f:
            f.write(id_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
        with open(id_cert_path, "wb") as f:
            f.write(id_cert.public_bytes(serialization.Encoding.PEM))

        database = os.path.join(tmp, "glewlwyd.db")
        init_database(database)
        config = os.path.join(tmp, "glewlwyd.conf")
        # glewlwyd gets a port that was free a moment ago; another process may take it first, so the test goes on
        # only once this very glewlwyd holds it, and otherwise starts it again on another port.
        for attempt in range(5):
            port = free_port()
            write_config(config, port, key_path, cert_path, os.path.join(pki, "ca.crt"), database)
            with open(log_path, "w") as log:
                proc = subprocess.Popen([GLEWLWYD, "--config-file", config], stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + START_TIMEOUT
            while not holds_port(proc.pid, port) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if holds_port(proc.pid, port):
                break
            if proc.poll() is None and time.monotonic() >= deadline:
                stop(proc)
                pytest.fail(f"glewlwyd did not listen on {port} within {START_TIMEOUT:.0f} s:\n{tail(log_path)}")
            stop(proc)
            proc = None
        if proc is None:
            pytest.fail(f"glewlwyd could not bind a port in 5 attempts:\n{tail(log_path)}")
        base = f"https://localhost:{port}"
        public_pem = id_cert.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        admin_setup(base, ca, public_pem)
        discovery = session(ca).get(f"{base}/api/{PLUGIN}/.well-known/openid-configuration", timeout=10).json()
        yield {
            "base": base, "issuer": f"{base}/api/{PLUGIN}", "discovery": discovery, "pki": pki, "ca": ca,
            "tmp": tmp, "log": log_path, "identity_key": id_key, "identity_cert": id_cert,
            "identity_pem": (id_cert_path, id_key_path),
            "client_pem": (os.path.join(pki, "client.crt"), os.path.join(pki, "client.key")),
            # The dev workload (service identity spiffe://certauth/app): token-issuer's caller.
            "app_pem": (os.path.join(pki, "app.crt"), os.path.join(pki, "app.key")),
        }
    finally:
        if proc is not None:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def assertion(idp, client_id=PKJWT_CLIENT, audience=None, jti=None, floats=False, algorithm="RS256"):
    now = time.time() if floats else int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience or idp["discovery"]["token_endpoint"],
              "jti": jti or str(uuid.uuid4()), "iat": now, "nbf": now, "exp": now + 300}
    return jwt.encode(claims, idp["identity_key"], algorithm=algorithm, headers={"typ": "JWT"})


def token_request(idp, endpoint, data, cert=None):
    return session(idp["ca"]).post(endpoint, data=dict({"grant_type": "client_credentials", "scope": SCOPE}, **data),
                                   cert=cert, timeout=30)


def pkjwt_request(idp, client_assertion, endpoint=None):
    return token_request(idp, endpoint or idp["discovery"]["token_endpoint"],
                         {"client_id": PKJWT_CLIENT, "client_assertion_type": ASSERTION_TYPE,
                          "client_assertion": client_assertion})


def verified_claims(idp, access_token):
    """The access token's claims, verified with glewlwyd's JWKS (PyJWT: signature, iss, aud, exp)."""
    jwks = session(idp["ca"]).get(idp["discovery"]["jwks_uri"], timeout=10).json()
    kid = jwt.get_unverified_header(access_token)["kid"]
    keys = [k for k in jwks["keys"] if k.get("kid") == kid]
    assert keys, f"kid {kid} not in glewlwyd's JWKS"
    key = jwt.PyJWK.from_dict(keys[0])
    return jwt.decode(access_token, key.key, algorithms=["RS256"], audience=SCOPE, issuer=idp["issuer"])


def sha256_thumbprint(cert):
    return base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=").decode()


# ---- glewlwyd itself, with plain Python: proves the setup and pins what glewlwyd insists on ----

def test_discovery_advertises_tls_client_auth_and_the_mtls_alias(glewlwyd):
    d = glewlwyd["discovery"]
    assert d["issuer"] == glewlwyd["issuer"]
    assert d["token_endpoint"] == f"{glewlwyd['issuer']}/token"
    assert "tls_client_auth" in d["token_endpoint_auth_methods_supported"]
    assert d["mtls_endpoint_aliases"]["token_endpoint"] == f"{glewlwyd['issuer']}/mtls/token"


@pytest.mark.parametrize("algorithm", ["RS256", "PS256"])
def test_pyjwt_private_key_jwt_gets_a_token(glewlwyd, algorithm):
    r = pkjwt_request(glewlwyd, assertion(glewlwyd, algorithm=algorithm))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"].lower() == "bearer"
    claims = verified_claims(glewlwyd, body["access_token"])
    assert claims["client_id"] == PKJWT_CLIENT
    assert claims["scope"] == SCOPE


def test_glewlwyd_refuses_a_replayed_jti(glewlwyd):
    jti = str(uuid.uuid4())
    assert pkjwt_request(glewlwyd, assertion(glewlwyd, jti=jti)).status_code == 200
    replay = pkjwt_request(glewlwyd, assertion(glewlwyd, jti=jti))
    assert replay.status_code == 403, replay.text


def test_glewlwyd_refuses_float_timestamps(glewlwyd):
    r = pkjwt_request(glewlwyd, assertion(glewlwyd, floats=True))
    assert r.status_code == 403, r.text


@pytest.mark.parametrize("audience", ["issuer", "token endpoint with a trailing slash", "mtls alias",
                                      "array holding the token endpoint"])
def test_glewlwyd_wants_aud_to_be_exactly_the_token_endpoint(glewlwyd, audience):
    issuer = glewlwyd["issuer"]
    aud = {"issuer": issuer, "token endpoint with a trailing slash": f"{issuer}/token/",
           "mtls alias": glewlwyd["discovery"]["mtls_endpoint_aliases"]["token_endpoint"],
           "array holding the token endpoint": [glewlwyd["discovery"]["token_endpoint"]]}[audience]
    r = pkjwt_request(glewlwyd, assertion(glewlwyd, audience=aud))
    assert r.status_code == 403, r.text


def test_glewlwyd_refuses_an_assertion_living_longer_than_an_hour(glewlwyd):
    # The OIDC plugin's request-maximum-exp (default 3600 s) caps exp - now; token-issuer's lifetime is at most 600 s.
    now = int(time.time())
    claims = {"iss": PKJWT_CLIENT, "sub": PKJWT_CLIENT, "aud": glewlwyd["discovery"]["token_endpoint"],
              "jti": str(uuid.uuid4()), "iat": now, "nbf": now, "exp": now + 3700}
    r = pkjwt_request(glewlwyd, jwt.encode(claims, glewlwyd["identity_key"], algorithm="RS256"))
    assert r.status_code == 403, r.text


def test_requests_tls_client_auth_on_the_mtls_alias_gets_a_certificate_bound_token(glewlwyd):
    endpoint = glewlwyd["discovery"]["mtls_endpoint_aliases"]["token_endpoint"]
    r = token_request(glewlwyd, endpoint, {"client_id": TLS_CLIENT}, cert=glewlwyd["identity_pem"])
    assert r.status_code == 200, r.text
    claims = verified_claims(glewlwyd, r.json()["access_token"])
    assert claims["client_id"] == TLS_CLIENT
    assert claims["cnf"]["x5t#S256"] == sha256_thumbprint(glewlwyd["identity_cert"])


def test_glewlwyd_refuses_tls_client_auth_on_the_plain_token_endpoint(glewlwyd):
    # With endpoint aliases on, glewlwyd authenticates tls_client_auth only at mtls_endpoint_aliases.token_endpoint:
    # a client that ignores the alias is refused even with the right certificate.
    r = token_request(glewlwyd, glewlwyd["discovery"]["token_endpoint"], {"client_id": TLS_CLIENT},
                      cert=glewlwyd["identity_pem"])
    assert r.status_code == 403, r.text


def test_glewlwyd_refuses_tls_client_auth_with_another_subject(glewlwyd):
    endpoint = glewlwyd["discovery"]["mtls_endpoint_aliases"]["token_endpoint"]
    r = token_request(glewlwyd, endpoint, {"client_id": TLS_CLIENT}, cert=glewlwyd["client_pem"])  # CN=client
    assert r.status_code == 403, r.text


def test_glewlwyd_refuses_tls_client_auth_without_a_certificate(glewlwyd):
    endpoint = glewlwyd["discovery"]["mtls_endpoint_aliases"]["token_endpoint"]
    r = token_request(glewlwyd, endpoint, {"client_id": TLS_CLIENT})
    assert r.status_code == 403, r.text


# ---- the real test: token-issuer gets tokens from glewlwyd ----

@contextlib.contextmanager
def token_issuer(idp, method, client_id, token_uri=None):
    pki = idp["pki"]
    log_path = os.path.join(idp["tmp"], f"token-issuer-{method}.log")
    # Only the variables below (and PATH): token-issuer reads every `*_FILE` variable as a secret file, so an
    # unrelated one in the caller's environment (e.g. TF_CLI_CONFIG_FILE) would stop it at start.
    env = dict(
        PATH=os.environ.get("PATH", "/usr/bin:/bin"),
        SERVER_SSL_KEY_STORE=os.path.join(pki, "token-issuer.p12"), SERVER_SSL_KEY_STORE_PASSWORD=PASSWORD,
        SERVER_SSL_CLIENT_AUTH="need", SERVER_SSL_TRUST_STORE=idp["ca"],
        CAMUNDA_IDENTITY_TYPE="GENERIC",
        CAMUNDA_IDENTITY_ISSUER_BACKEND_URL=idp["issuer"],
        CAMUNDA_IDENTITY_CLIENT_ID=client_id,
        CAMUNDA_SECURITY_CERT_AUTH_ENABLED="true",
        CAMUNDA_SECURITY_AUTHENTICATION_OIDC_GRANTTYPE="client_credentials",
        CAMUNDA_SECURITY_AUTHENTICATION_OIDC_SCOPES=SCOPE,
        CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_AUTHENTICATION_METHOD=method,
        CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH=os.path.join(pki, "identity.p12"),
        CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PASSWORD=PASSWORD,
        CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS="identity",
        CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH=idp["ca"],
        CAMUNDA_SECURITY_AUTHENTICATION_OIDC_MAX_RETRIES="0",
        CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS="app",
        LOG_LEVEL="debug",
    )
    if token_uri:
        env["CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TOKEN_URI"] = token_uri
    # Health may say DOWN (503) until the first token: up enough to test.
    proc, port, _ = start_bound(f"{BIN}/token-issuer", env, log_path, timeout=START_TIMEOUT, healthy=(200, 503))
    try:
        yield {"url": f"https://localhost:{port}", "log": log_path}
    finally:
        stop(proc)


def issue_through_token_issuer(idp, method, client_id, token_uri=None):
    with token_issuer(idp, method, client_id, token_uri) as issuer:
        r = session(idp["ca"]).post(f"{issuer['url']}/v1/token", json={}, cert=idp["app_pem"], timeout=60)
        assert r.status_code == 200, (f"token-issuer ({method}) answered {r.status_code}: {r.text}\n"
                                      f"token-issuer log:\n{tail(issuer['log'])}\nglewlwyd log:\n{tail(idp['log'], 10)}")
        body = r.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] > 0
        claims = verified_claims(idp, body["access_token"])
        with open(issuer["log"], errors="replace") as f:
            logs = f.read()
        assert body["access_token"] not in logs and body["access_token"].split(".")[2][:24] not in logs, \
            "the access token appeared in token-issuer's log"
        return claims


# Token endpoint from discovery (CAMUNDA_IDENTITY_ISSUER_BACKEND_URL), or given explicitly (..._OIDC_TOKEN_URI).
ENDPOINT_SOURCES = ["discovery", "explicit token URI"]


@pytest.mark.parametrize("source", ENDPOINT_SOURCES)
def test_token_issuer_private_key_jwt_with_glewlwyd(glewlwyd, source):
    token_uri = glewlwyd["discovery"]["token_endpoint"] if source == "explicit token URI" else None
    claims = issue_through_token_issuer(glewlwyd, "private_key_jwt", PKJWT_CLIENT, token_uri)
    assert claims["client_id"] == PKJWT_CLIENT
    assert claims["scope"] == SCOPE


@pytest.mark.parametrize("source", ENDPOINT_SOURCES)
def test_token_issuer_tls_client_auth_with_glewlwyd(glewlwyd, source):
    # From discovery, token-issuer must pick mtls_endpoint_aliases.token_endpoint; given explicitly, it is that alias.
    token_uri = glewlwyd["discovery"]["mtls_endpoint_aliases"]["token_endpoint"] \
        if source == "explicit token URI" else None
    claims = issue_through_token_issuer(glewlwyd, "tls_client_auth", TLS_CLIENT, token_uri)
    assert claims["client_id"] == TLS_CLIENT
    # glewlwyd binds the token to the certificate token-issuer presented (RFC 8705 §3): the identity certificate.
    assert claims["cnf"]["x5t#S256"] == sha256_thumbprint(glewlwyd["identity_cert"])
