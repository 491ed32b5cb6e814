#!/usr/bin/env bash
# make run: build, create the dev PKI when absent, start entra-emulator, token-issuer, roles and authn on localhost,
# wait for health, print how to call them, stream logs; Ctrl-C (or `make stop`) stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PKI=compose/pki
RUN=.build/run
PASSWORD="${CERTAUTH_PKI_PASSWORD:-changeit}"
TENANT=ea952511-6a7f-40b8-af71-6c1be6f0dade
CLIENT_ID=6fe432f2-7dc3-4e13-b1b4-4cc8480c80b7
API_ID=2622078b-0164-41ee-8794-3ff8d9f8e402

swift build >/dev/null
BIN=$(swift build --show-bin-path)
if [ ! -f "$PKI/ca.crt" ]; then
  "$BIN/certauth" pki init --out "$PKI" --password "$PASSWORD"
fi
cat > "$PKI/apps.json" <<JSON
{"tenant_id": "$TENANT",
 "apps": [
  {"client_id": "$CLIENT_ID", "name": "identity",
   "certificates": ["identity.cer"], "client_secrets": [],
   "app_roles_granted": {"$API_ID": ["Admin", "Reader"]}},
  {"client_id": "$API_ID", "name": "orchestration-api",
   "app_roles": ["Admin", "Reader"]}]}
JSON

mkdir -p "$RUN"
"$(dirname "$0")/stop.sh" >/dev/null 2>&1 || true
export LOG_FORMAT="${LOG_FORMAT:-text}"

start() { # name, then env assignments
  local name=$1; shift
  env "$@" "$BIN/$name" >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

start entra-emulator \
  SERVER_PORT=9443 MANAGEMENT_SERVER_PORT=9083 \
  SERVER_SSL_KEY_STORE="$PKI/entra-emulator.p12" SERVER_SSL_KEY_STORE_PASSWORD="$PASSWORD" \
  ENTRA_EMULATOR_APPS="$PKI/apps.json"

start token-issuer \
  SERVER_PORT=8444 MANAGEMENT_SERVER_PORT=9081 \
  SERVER_SSL_KEY_STORE="$PKI/token-issuer.p12" SERVER_SSL_KEY_STORE_PASSWORD="$PASSWORD" \
  SERVER_SSL_CLIENT_AUTH=need SERVER_SSL_TRUST_STORE="$PKI/truststore.pem" \
  CAMUNDA_IDENTITY_TYPE=MICROSOFT \
  CAMUNDA_IDENTITY_ISSUER_BACKEND_URL="https://localhost:9443/$TENANT/v2.0" \
  CAMUNDA_IDENTITY_CLIENT_ID="$CLIENT_ID" \
  CAMUNDA_SECURITY_CERT_AUTH_ENABLED=true \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_GRANTTYPE=client_credentials \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_SCOPES="$API_ID/.default" \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH="$PKI/identity.p12" \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PASSWORD="$PASSWORD" \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS=identity \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_PASSWORD="$PASSWORD" \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH="$PKI/truststore.pem" \
  CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS=authn,app

mkdir -p compose/data
start roles \
  SERVER_PORT=8445 MANAGEMENT_SERVER_PORT=9082 \
  SERVER_SSL_KEY_STORE="$PKI/roles.p12" SERVER_SSL_KEY_STORE_PASSWORD="$PASSWORD" \
  SERVER_SSL_CLIENT_AUTH=need SERVER_SSL_TRUST_STORE="$PKI/truststore.pem" \
  CAMUNDA_DATABASE_TYPE=sqlite CAMUNDA_DATABASE_URL=compose/data/roles.sqlite \
  INITIAL_CLAIM_NAME=azp INITIAL_CLAIM_VALUE="$CLIENT_ID"

start authn \
  SERVER_PORT=8443 MANAGEMENT_SERVER_PORT=9080 \
  SERVER_SSL_KEY_STORE="$PKI/authn.p12" SERVER_SSL_KEY_STORE_PASSWORD="$PASSWORD" \
  SERVER_SSL_CLIENT_AUTH=want SERVER_SSL_TRUST_STORE="$PKI/truststore.pem" \
  CAMUNDA_IDENTITY_TYPE=MICROSOFT \
  CAMUNDA_IDENTITY_ISSUER="https://localhost:9443/$TENANT/v2.0" \
  CAMUNDA_IDENTITY_AUDIENCE="$API_ID" \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH="$PKI/truststore.pem" \
  CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED=true \
  CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES="$PKI/truststore.pem" \
  CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES=ROLE_USER \
  CAMUNDA_ROLES_URL=https://localhost:8445 \
  CAMUNDA_TOKEN_ISSUER_URL=https://localhost:8444

for port in 9083 9081 9082 9080; do
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/actuator/health" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  if ! curl -fsS "http://127.0.0.1:$port/actuator/health" >/dev/null 2>&1; then
    echo "A service did not become healthy; its log:" >&2
    tail -n 20 "$RUN"/*.log >&2
    "$(dirname "$0")/stop.sh"
    exit 1
  fi
done

cat <<MSG

CertAuth is running (logs below; Ctrl-C or 'make stop' stops it):
  entra-emulator  https://localhost:9443/$TENANT/v2.0   (health http://127.0.0.1:9083/actuator/health)
  token-issuer    https://localhost:8444                (health http://127.0.0.1:9081/actuator/health)
  roles           https://localhost:8445                (health http://127.0.0.1:9082/actuator/health; reached through authn's /v2)
  authn           https://localhost:8443                (health http://127.0.0.1:9080/actuator/health)

Get an access token (HTTP/2, mutual TLS with the dev workload certificate app.crt, service identity spiffe://certauth/app):
  curl --http2 --cacert $PKI/truststore.pem --cert $PKI/app.crt --key $PKI/app.key \\
       -H 'content-type: application/json' -d '{}' https://localhost:8444/v1/token

Who is calling? With the dev client certificate (mTLS):
  curl --cacert $PKI/truststore.pem --cert $PKI/client.crt --key $PKI/client.key \\
       https://localhost:8443/v2/authentication/me

With a bearer token from token-issuer:
  TOKEN=\$(curl -s --cacert $PKI/truststore.pem --cert $PKI/app.crt --key $PKI/app.key -d '{}' \\
       https://localhost:8444/v1/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl --cacert $PKI/truststore.pem -H "Authorization: Bearer \$TOKEN" https://localhost:8443/v2/authentication/me

The dev app is admin (INITIAL_CLAIM_NAME=azp): list mapping rules through authn, which forwards /v2 to roles:
  curl --cacert $PKI/truststore.pem -H "Authorization: Bearer \$TOKEN" -H 'content-type: application/json' \\
       -d '{}' https://localhost:8443/v2/mapping-rules/search

Decode it (roles granted to the app):
  curl -s --cacert $PKI/truststore.pem --cert $PKI/app.crt --key $PKI/app.key -d '{}' \\
       https://localhost:8444/v1/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' \\
       | $BIN/certauth decode-token -

MSG
trap '"$(dirname "$0")/stop.sh"; exit 0' INT TERM
tail -n +1 -F "$RUN"/*.log &
wait
