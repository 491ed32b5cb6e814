#!/usr/bin/env bash
# Prepares compose/ for `docker-compose up` (or `docker compose up`):
#   compose/ca/                  the dev PKI (`certauth pki init`: CA with ca.key, one certificate per service,
#                                identity.p12/.cer, client.crt/.key for curl). Stays on the host: never mounted.
#   compose/certs/<service>/     what one service mounts read-only at /certs, and nothing else: its own keystore,
#                                the truststore, token-issuer also identity.p12, the emulator identity.cer + apps.json.
#   compose/secrets/             random passwords, mounted as Docker secrets only into the services that list them.
# Private keys and secrets are created 0600 (umask 077), then given to the containers' group (gid 10001, or
# CERTAUTH_GID) and made 0640: the services run as uid/gid 10001 and compose outside swarm mounts secret files
# with their host owner and mode, so the group is how they read them; other users on the host cannot.
# Giving a file to a group you are not in needs root: run `sudo compose/init.sh`, or run the containers as your
# own user (CERTAUTH_UID / CERTAUTH_GID in compose/.env, see docs/deployment.md).
# Idempotent: the CA and the passwords are kept; compose/certs is laid out anew from compose/ca.
# Uses the host's certauth when built ($CERTAUTH_BIN_DIR or .build/debug), else the image.
set -euo pipefail
cd "$(dirname "$0")"
TENANT="${CERTAUTH_TENANT_ID:-ea952511-6a7f-40b8-af71-6c1be6f0dade}"
CLIENT_ID="${CERTAUTH_CLIENT_ID:-6fe432f2-7dc3-4e13-b1b4-4cc8480c80b7}"
API_ID="${CERTAUTH_API_CLIENT_ID:-2622078b-0164-41ee-8794-3ff8d9f8e402}"
# compose reads compose/.env; so does this script, for the group the containers run with.
if [ -z "${CERTAUTH_GID:-}" ] && [ -f .env ]; then
  CERTAUTH_GID=$(sed -n 's/^CERTAUTH_GID=//p' .env | tail -n 1)
fi
GID_CONTAINERS="${CERTAUTH_GID:-10001}"

umask 077
mkdir -p secrets ca certs

# Gives a file or directory to the containers' group with `mode`; stops with the fix when that is not allowed.
give() {
  local mode=$1 path=$2
  if ! chgrp "$GID_CONTAINERS" "$path" 2>/dev/null; then
    echo "init.sh: cannot give compose/$path to group $GID_CONTAINERS (the group the containers run as) as user $(id -un)." >&2
    echo "  Either run it as root: sudo compose/init.sh" >&2
    echo "  or run the containers as yourself: printf 'CERTAUTH_UID=%s\\nCERTAUTH_GID=%s\\n' \$(id -u) \$(id -g) >> compose/.env; compose/init.sh" >&2
    exit 1
  fi
  chmod "$mode" "$path"
}

random() { head -c 24 /dev/urandom | base64 | tr -d '/+=' ; }
[ -s secrets/keystore_password ] || random > secrets/keystore_password
[ -s secrets/postgres_password ] || random > secrets/postgres_password
if [ ! -s secrets/database_url ]; then
  printf 'postgres://certauth:%s@postgres:5432/certauth?sslmode=disable\n' "$(cat secrets/postgres_password)" > secrets/database_url
fi
give 0750 secrets
for secret in keystore_password postgres_password database_url; do give 0640 "secrets/$secret"; done

if [ ! -f ca/ca.crt ]; then
  BIN="${CERTAUTH_BIN_DIR:-../.build/debug}"
  # The password goes through the environment, not the command line (which `ps` shows).
  CERTAUTH_PKI_PASSWORD="$(cat secrets/keystore_password)"
  export CERTAUTH_PKI_PASSWORD
  if [ -x "$BIN/certauth" ]; then
    "$BIN/certauth" pki init --out ca >/dev/null
  else
    docker run --rm --network none --user "$(id -u):$(id -g)" -v "$PWD/ca:/out" -e CERTAUTH_PKI_PASSWORD \
      "${CERTAUTH_IMAGE:-certauth:latest}" certauth pki init --out /out >/dev/null
  fi
  unset CERTAUTH_PKI_PASSWORD
fi
chmod 0700 ca
# Under sudo, the PKI stays usable by the user who asked (curl with ca/client.key); only root and they can read it.
if [ -n "${SUDO_UID:-}" ]; then chown -R "$SUDO_UID:$SUDO_GID" ca; fi

cat > ca/apps.json <<JSON
{"tenant_id": "$TENANT",
 "apps": [
  {"client_id": "$CLIENT_ID", "name": "identity",
   "certificates": ["identity.cer"], "client_secrets": [],
   "app_roles_granted": {"$API_ID": ["Admin", "Reader"]}},
  {"client_id": "$API_ID", "name": "orchestration-api",
   "app_roles": ["Admin", "Reader"]}]}
JSON

# One directory per service with only the files it reads (private keys: *.p12).
declare -A FILES=(
  [token-issuer]="token-issuer.p12 identity.p12 truststore.pem"
  [authn]="authn.p12 truststore.pem"
  [roles]="roles.p12 truststore.pem"
  [entra-emulator]="entra-emulator.p12 identity.cer apps.json"
)
rm -rf certs.new
mkdir certs.new
for service in "${!FILES[@]}"; do
  mkdir "certs.new/$service"
  for file in ${FILES[$service]}; do
    cp "ca/$file" "certs.new/$service/$file"          # 0600 from the first byte (umask 077)
    case "$file" in
      *.p12) give 0640 "certs.new/$service/$file" ;;
      *) chmod 0644 "certs.new/$service/$file" ;;
    esac
  done
  give 0750 "certs.new/$service"
done
chmod 0755 certs.new
rm -rf certs
mv certs.new certs
echo "compose/certs and compose/secrets are ready (group $GID_CONTAINERS). Register compose/ca/identity.cer at your IdP (the emulator reads it already)."
