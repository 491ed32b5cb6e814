#!/usr/bin/env bash
# Prepares compose/ for `docker compose up`: the dev PKI in compose/pki (CA, one certificate per service with its
# compose name, identity.p12 + identity.cer for the IdP, truststore.pem, client.crt/key for curl), the emulator's
# app registrations, and random passwords as Docker secret files in compose/secrets (mode 0600, ignored by git).
# Idempotent: existing files are kept. Uses the host's certauth when built (`make build`), else the image.
set -euo pipefail
cd "$(dirname "$0")"
TENANT="${CERTAUTH_TENANT_ID:-ea952511-6a7f-40b8-af71-6c1be6f0dade}"
CLIENT_ID="${CERTAUTH_CLIENT_ID:-6fe432f2-7dc3-4e13-b1b4-4cc8480c80b7}"
API_ID="${CERTAUTH_API_CLIENT_ID:-2622078b-0164-41ee-8794-3ff8d9f8e402}"

umask 077
mkdir -p secrets pki
random() { head -c 24 /dev/urandom | base64 | tr -d '/+=' ; }
[ -s secrets/keystore_password ] || random > secrets/keystore_password
[ -s secrets/postgres_password ] || random > secrets/postgres_password
if [ ! -s secrets/database_url ]; then
  printf 'postgres://certauth:%s@postgres:5432/certauth?sslmode=disable\n' "$(cat secrets/postgres_password)" > secrets/database_url
fi

if [ ! -f pki/ca.crt ]; then
  if [ -x ../.build/debug/certauth ]; then
    ../.build/debug/certauth pki init --out pki --password "$(cat secrets/keystore_password)"
  else
    docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/pki:/out" "${CERTAUTH_IMAGE:-certauth:latest}" \
      certauth pki init --out /out --password "$(cat secrets/keystore_password)"
  fi
fi
# The containers run as uid 10001: the PKI must be readable by them (the mount is read-only).
chmod 0755 pki && chmod 0644 pki/*

cat > pki/apps.json <<JSON
{"tenant_id": "$TENANT",
 "apps": [
  {"client_id": "$CLIENT_ID", "name": "identity",
   "certificates": ["identity.cer"], "client_secrets": [],
   "app_roles_granted": {"$API_ID": ["Admin", "Reader"]}},
  {"client_id": "$API_ID", "name": "orchestration-api",
   "app_roles": ["Admin", "Reader"]}]}
JSON
chmod 0644 pki/apps.json
echo "compose/pki and compose/secrets are ready. Register compose/pki/identity.cer at your IdP (the emulator reads it already)."
