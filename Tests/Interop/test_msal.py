"""msal for Python (Microsoft's own library) against the entra-emulator.

msal signs PKCS#12/PEM certificate credentials its own way (PS256 + x5t#S256 when given a SHA-256
thumbprint-capable key, float timestamps in some versions). The emulator must accept what msal sends,
exactly as Entra does; and must refuse a certificate that is not registered with AADSTS700027.
"""
import json
import os
import subprocess
import tempfile
import base64

import msal
import pytest
from interop_support import start_bound

BIN = os.environ.get("CERTAUTH_BIN_DIR", ".build/debug")
PASSWORD = "interop-pw"
TENANT = "ea952511-6a7f-40b8-af71-6c1be6f0dade"
CLIENT = "6fe432f2-7dc3-4e13-b1b4-4cc8480c80b7"
API = "2622078b-0164-41ee-8794-3ff8d9f8e402"


@pytest.fixture(scope="module")
def emulator():
    tmp = tempfile.mkdtemp(prefix="certauth-interop-")
    pki = os.path.join(tmp, "pki")
    subprocess.run([f"{BIN}/certauth", "pki", "init", "--out", pki, "--password", PASSWORD], check=True,
                   stdout=subprocess.DEVNULL)
    apps = {"tenant_id": TENANT, "apps": [
        {"client_id": CLIENT, "name": "identity", "certificates": ["identity.cer"],
         "app_roles_granted": {API: ["Admin", "Reader"]}},
        {"client_id": API, "name": "orchestration-api", "app_roles": ["Admin", "Reader"]}]}
    with open(os.path.join(pki, "apps.json"), "w") as f:
        json.dump(apps, f)
    env = dict(os.environ, SERVER_SSL_KEY_STORE=os.path.join(pki, "entra-emulator.p12"),
               SERVER_SSL_KEY_STORE_PASSWORD=PASSWORD, ENTRA_EMULATOR_APPS=os.path.join(pki, "apps.json"))
    proc, port, _ = start_bound(f"{BIN}/entra-emulator", env, os.path.join(tmp, "emulator.log"))
    yield {"port": port, "pki": pki, "log": os.path.join(tmp, "emulator.log")}
    proc.terminate()
    proc.wait(timeout=10)


def pem_key_and_cert(pki):
    from cryptography.hazmat.primitives.serialization import pkcs12, Encoding, PrivateFormat, NoEncryption
    from cryptography.hazmat.primitives import hashes
    with open(os.path.join(pki, "identity.p12"), "rb") as f:
        key, cert, _ = pkcs12.load_key_and_certificates(f.read(), PASSWORD.encode())
    key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    cert_pem = cert.public_bytes(Encoding.PEM).decode()
    return key_pem, cert_pem, cert.fingerprint(hashes.SHA1()).hex(), cert.fingerprint(hashes.SHA256()).hex()


def app(emulator, credential):
    os.environ["REQUESTS_CA_BUNDLE"] = os.path.join(emulator["pki"], "truststore.pem")
    return msal.ConfidentialClientApplication(
        CLIENT, client_credential=credential,
        authority=f"https://localhost:{emulator['port']}/{TENANT}",
        validate_authority=False, instance_discovery=False)


def claims_of(token):
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


def test_msal_sha256_thumbprint_ps256(emulator):
    key_pem, cert_pem, _, sha256 = pem_key_and_cert(emulator["pki"])
    result = app(emulator, {"private_key": key_pem, "thumbprint_sha256": sha256, "public_certificate": cert_pem}) \
        .acquire_token_for_client(scopes=[f"{API}/.default"])
    assert "access_token" in result, result.get("error_description")
    claims = claims_of(result["access_token"])
    assert claims["roles"] == ["Admin", "Reader"]
    assert claims["aud"] == API
    assert claims["azp"] == CLIENT


def test_msal_sha1_thumbprint_rs256(emulator):
    key_pem, _, sha1, _ = pem_key_and_cert(emulator["pki"])
    result = app(emulator, {"private_key": key_pem, "thumbprint": sha1}) \
        .acquire_token_for_client(scopes=[f"{API}/.default"])
    assert "access_token" in result, result.get("error_description")


def test_unregistered_certificate_is_refused_with_700027(emulator):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    import datetime
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "stranger")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()) \
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    result = app(emulator, {"private_key": key_pem, "thumbprint": cert.fingerprint(hashes.SHA1()).hex()}) \
        .acquire_token_for_client(scopes=[f"{API}/.default"])
    assert result.get("error") == "invalid_client"
    assert 700027 in result.get("error_codes", [])


def test_scope_without_default_suffix_is_70011(emulator):
    key_pem, _, sha1, _ = pem_key_and_cert(emulator["pki"])
    result = app(emulator, {"private_key": key_pem, "thumbprint": sha1}).acquire_token_for_client(scopes=[API])
    assert 70011 in result.get("error_codes", []), result
