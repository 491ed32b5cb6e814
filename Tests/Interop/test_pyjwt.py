"""PyJWT (an independent JOSE implementation) against `certauth decode-token`, which runs authn's TokenValidator.

Tokens are minted by PyJWT with RS256, PS256 and ES256 in Entra v1 and v2 shapes, the JWKS is written with
PyJWT's own `to_jwk`; certauth must accept the good ones and refuse the bad ones with exit 1 and a reason, and
must never print the token.
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

BIN = os.environ.get("CERTAUTH_BIN_DIR", ".build/debug")
TENANT = "ea952511-6a7f-40b8-af71-6c1be6f0dade"
API = "2622078b-0164-41ee-8794-3ff8d9f8e402"
CLIENT = "6fe432f2-7dc3-4e13-b1b4-4cc8480c80b7"
ISSUER_V2 = f"https://login.microsoftonline.com/{TENANT}/v2.0"
ISSUER_V1 = f"https://sts.windows.net/{TENANT}/"


@pytest.fixture(scope="module")
def idp():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_jwk = RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
    rsa_jwk.update(kid="pyjwt-rsa", use="sig")
    ec_jwk = ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True)
    ec_jwk.update(kid="pyjwt-ec", use="sig")
    tmp = tempfile.mkdtemp(prefix="certauth-pyjwt-")
    jwks = os.path.join(tmp, "jwks.json")
    with open(jwks, "w") as f:
        json.dump({"keys": [rsa_jwk, ec_jwk]}, f)
    return {"rsa": rsa_key, "ec": ec_key, "jwks": jwks}


def v2_claims(**changes):
    now = int(time.time())
    claims = {"aud": API, "iss": ISSUER_V2, "iat": now - 10, "nbf": now - 10, "exp": now + 3600, "azp": CLIENT,
              "azpacr": "2", "oid": "b7ce1f4d", "sub": "b7ce1f4d", "tid": TENANT, "roles": ["Admin", "Reader"],
              "uti": "pyjwt-uti", "ver": "2.0"}
    claims.update(changes)
    return claims


def v1_claims(**changes):
    now = int(time.time())
    claims = {"aud": f"api://{API}", "iss": ISSUER_V1, "iat": now - 10, "nbf": now - 10, "exp": now + 3600,
              "appid": CLIENT, "appidacr": "2", "oid": "b7ce1f4d", "sub": "b7ce1f4d", "tid": TENANT,
              "roles": ["Reader"], "ver": "1.0"}
    claims.update(changes)
    return claims


def mint(idp, claims, alg="RS256", kid=None):
    key = idp["ec"] if alg == "ES256" else idp["rsa"]
    kid = kid or ("pyjwt-ec" if alg == "ES256" else "pyjwt-rsa")
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def certauth(idp, token, *extra, validate=True):
    args = [f"{BIN}/certauth", "decode-token", "-"]
    if validate:
        args += ["--jwks-file", idp["jwks"], "--issuer", ISSUER_V2, "--type", "MICROSOFT",
                 "--audience", f"{API},api://{API}"]
    args += list(extra)
    result = subprocess.run(args, input=token, capture_output=True, text=True, timeout=60)
    for part in token.split("."):
        if len(part) >= 8:
            assert part not in result.stdout and part not in result.stderr, "certauth printed the token"
    return result


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
@pytest.mark.parametrize("shape", ["v1", "v2"])
def test_accepts_pyjwt_tokens(idp, alg, shape):
    claims = v1_claims() if shape == "v1" else v2_claims()
    result = certauth(idp, mint(idp, claims, alg))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VALID" in result.stdout
    assert CLIENT in result.stdout
    assert "Reader" in result.stdout


def test_json_output(idp):
    result = certauth(idp, mint(idp, v2_claims(scp="read write")), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["valid"] is True and report["signature_checked"] is True
    assert report["client_id"] == CLIENT
    assert report["roles"] == ["Admin", "Reader"]
    assert report["scopes"] == ["read", "write"]
    assert report["claims"]["ver"] == "2.0"
    assert report["times"]["exp"].endswith("Z")


def test_decode_only_says_signature_not_checked(idp):
    result = certauth(idp, mint(idp, v2_claims()), validate=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "signature NOT checked" in result.stdout
    assert ISSUER_V2 in result.stdout


def hs256_with_public_key(idp):
    public_pem = idp["rsa"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64(json.dumps({"alg": "HS256", "kid": "pyjwt-rsa", "typ": "JWT"}).encode())
    payload = b64(json.dumps(v2_claims()).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def unsigned(idp):
    header = b64(json.dumps({"alg": "none", "kid": "pyjwt-rsa", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(v2_claims()).encode())}."


BAD = {
    "expired": (lambda idp: mint(idp, v2_claims(exp=int(time.time()) - 3600)), "expired"),
    "wrong audience": (lambda idp: mint(idp, v2_claims(aud="api://someone-else")), "invalidAudience"),
    "wrong issuer": (lambda idp: mint(idp, v2_claims(iss="https://login.microsoftonline.com/other/v2.0")), "invalidIssuer"),
    "alg none": (unsigned, "unsupportedAlgorithm"),
    "HS256 with the public key": (hs256_with_public_key, "unsupportedAlgorithm"),
    "unknown kid": (lambda idp: mint(idp, v2_claims(), kid="not-in-jwks"), "unknownKeyID"),
    "ES256 on the RSA kid": (lambda idp: mint(idp, v2_claims(), alg="ES256", kid="pyjwt-rsa"), "algorithmKeyMismatch"),
    "not yet valid": (lambda idp: mint(idp, v2_claims(nbf=int(time.time()) + 3600)), "notYetValid"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_refuses_bad_tokens(idp, name):
    make, code = BAD[name]
    token = make(idp)
    result = certauth(idp, token)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"INVALID ({code})" in result.stdout
    reason = result.stdout.split("INVALID", 1)[1]
    assert len(reason) > 40, "the refusal must give a reason"
    as_json = certauth(idp, token, "--json")
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 1
    assert report["valid"] is False and report["code"] == code and report["reason"]


def test_usage_errors_exit_2(idp):
    token = mint(idp, v2_claims())
    no_issuer = subprocess.run([f"{BIN}/certauth", "decode-token", "-", "--jwks-file", idp["jwks"],
                                "--audience", API], input=token, capture_output=True, text=True)
    assert no_issuer.returncode == 2 and "--issuer" in no_issuer.stderr
    missing_file = subprocess.run([f"{BIN}/certauth", "decode-token", "-", "--jwks-file", "/nonexistent/jwks.json",
                                   "--issuer", ISSUER_V2, "--audience", API], input=token, capture_output=True, text=True)
    assert missing_file.returncode == 2 and "/nonexistent/jwks.json" in missing_file.stderr


# The emulator's own tokens, checked against its JWKS over HTTPS (--jwks-uri, --cacert), as authn would.
from test_msal import app, emulator, pem_key_and_cert  # noqa: E402,F401  (module fixture: its own emulator here)


def test_emulator_token_through_jwks_uri(emulator):  # noqa: F811
    key_pem, _, sha1, _ = pem_key_and_cert(emulator["pki"])
    result = app(emulator, {"private_key": key_pem, "thumbprint": sha1}).acquire_token_for_client(scopes=[f"{API}/.default"])
    assert "access_token" in result, result.get("error_description")
    token = result["access_token"]
    base = f"https://localhost:{emulator['port']}/{TENANT}"
    args = [f"{BIN}/certauth", "decode-token", "-", "--jwks-uri", f"{base}/discovery/v2.0/keys",
            "--issuer", f"{base}/v2.0", "--type", "MICROSOFT", "--audience", API]
    trusted = subprocess.run(args + ["--cacert", os.path.join(emulator["pki"], "truststore.pem")],
                             input=token, capture_output=True, text=True, timeout=60)
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert "VALID" in trusted.stdout and "Admin" in trusted.stdout
    assert token.split(".")[2] not in trusted.stdout + trusted.stderr
    untrusted = subprocess.run(args, input=token, capture_output=True, text=True, timeout=60)
    assert untrusted.returncode == 2, untrusted.stdout + untrusted.stderr
    assert "could not load the JWKS" in untrusted.stderr
