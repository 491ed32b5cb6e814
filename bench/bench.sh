#!/usr/bin/env bash
# make bench: release build, the suite on loopback with its own PKI and ports under bench/out/, h2load and
# against nginx, haproxy and Apache mod_auth_openidc configured here, the in-process
# measurements of certauth-bench, and `openssl speed` — all in one run, so the ratios compare like with like.
# Writes a table on stdout and bench/out/results.json. Environment: BENCH_SECONDS (default 10), BENCH_WARMUP (2),
# BENCH_ONLY (an extended regex: only the measurements whose names match run, e.g. 'roles|jwt'; for profiling),
# BENCH_PERF (non-empty: `perf record --call-graph dwarf` of our release build during each of its h2load scenarios, into bench/out/perf/),
# BENCH_BIN (a folder of release binaries to measure instead of building this checkout: A/B runs of two commits).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=$ROOT/bench/out
SECONDS_PER=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
PASSWORD=changeit
TOKENS=15000            # more than authn's verified-token cache holds (10,000): round robin never hits it
ISS=https://idp.bench.invalid/bench/v2.0
AUD=bench-api
TENANT=ea952511-6a7f-40b8-af71-6c1be6f0dade
CLIENT_ID=6fe432f2-7dc3-4e13-b1b4-4cc8480c80b7
API_ID=2622078b-0164-41ee-8794-3ff8d9f8e402
# Ports: our services, then the peers.
P_EMU=18443 P_ISSUER=18444 P_ROLES=18445 P_AUTHN=18446
M_EMU=18483 M_ISSUER=18481 M_ROLES=18482 M_AUTHN=18480
P_JWKS=18450 P_NGINX=18460 P_HAPROXY=18461 P_APACHE=18462

log() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

# --- 1. Debian packages the bench needs (only here, never in CI) --------------------------------------------------
need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v nginx >/dev/null || need+=(nginx)
command -v haproxy >/dev/null || need+=(haproxy)
command -v apache2 >/dev/null || need+=(apache2)
[ -f /usr/lib/apache2/modules/mod_auth_openidc.so ] || need+=(libapache2-mod-auth-openidc)
[ -f /usr/include/nghttp2/nghttp2.h ] || need+=(libnghttp2-dev)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  log "installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- 2. Release build, PKI, keys, tokens ----------------------------------------------------------------------------
if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$(cd "$BENCH_BIN" && pwd)   # binaries built elsewhere (an A/B comparison of two commits)
  log "binaries from $BIN (BENCH_BIN; not rebuilt)"
else
  log "swift build -c release"
  swift build -c release >/dev/null
  BIN=$(swift build -c release --show-bin-path)
fi
mkdir -p "$OUT"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for f in "$OUT"/nginx.pid "$OUT"/haproxy.pid "$OUT"/apache.pid; do
    [ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT
for port in $P_EMU $P_ISSUER $P_ROLES $P_AUTHN $M_EMU $M_ISSUER $M_ROLES $M_AUTHN $P_JWKS $P_NGINX $P_HAPROXY $P_APACHE; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then die "port $port is in use (an earlier bench still running?); stop it and retry"; fi
done

PKI=$OUT/pki
rm -rf "$PKI" "$OUT/keys" "$OUT/logs" "$OUT/h2load"
mkdir -p "$OUT/keys" "$OUT/logs" "$OUT/h2load" "$OUT/www"
"$BIN/certauth" pki init --out "$PKI" --password "$PASSWORD" >/dev/null
# PEM copies for the peers and for h2load's shim: server (authn's certificate), client, and authn as a client of roles.
openssl pkcs12 -in "$PKI/authn.p12" -passin "pass:$PASSWORD" -nodes -out "$PKI/authn.pem" 2>/dev/null \
  || die "openssl cannot read $PKI/authn.p12"
openssl pkey -in "$PKI/authn.pem" -out "$PKI/authn.key"
openssl x509 -in "$PKI/authn.pem" -out "$PKI/authn.crt"
cat > "$PKI/apps.json" <<JSON
{"tenant_id": "$TENANT",
 "apps": [
  {"client_id": "$CLIENT_ID", "name": "identity", "certificates": ["identity.cer"], "client_secrets": [],
   "app_roles_granted": {"$API_ID": ["Admin", "Reader"]}},
  {"client_id": "$API_ID", "name": "orchestration-api", "app_roles": ["Admin", "Reader"]}]}
JSON
# The access-token signing key (the "IdP" of the authn and peer scenarios) with a certificate for mod_auth_openidc.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$OUT/keys/signing.pem" -out "$OUT/keys/signing.crt" \
  -subj /CN=bench-token-signer -days 2 2>/dev/null
openssl pkey -in "$OUT/keys/signing.pem" -pubout -out "$OUT/keys/public.pem"
"$BIN/certauth-bench" jwks "$OUT/keys"
log "minting $TOKENS distinct RS256 tokens"
"$BIN/certauth-bench" mint "$OUT/keys" "$TOKENS" "$ISS" "$AUD"
head -n 1 "$OUT/keys/tokens.txt" > "$OUT/keys/one-token.txt"
ONE_TOKEN=$(cat "$OUT/keys/one-token.txt")
if [ ! -f "$OUT/roles-10000.sqlite" ]; then
  log "seeding a roles database with 10,000 mapping rules (kept for later runs)"
  "$BIN/certauth-bench" seed-roles "$OUT/roles-10000.sqlite.tmp" 10000
  mv "$OUT/roles-10000.sqlite.tmp" "$OUT/roles-10000.sqlite"
fi
cp "$OUT/roles-10000.sqlite" "$OUT/roles.sqlite"
rm -f "$OUT/roles.sqlite-wal" "$OUT/roles.sqlite-shm"

log "building the h2load client-certificate/token shim"
cc -O2 -shared -fPIC -o "$OUT/h2load-shim.so" bench/h2load-shim.c -ldl

# --- 3. Our services ------------------------------------------------------------------------------------------------
export LOG_LEVEL=warning  # LOG_FORMAT stays the default (json), as operators run it
start() { # name, binary, then env assignments
  local name=$1 bin=$2; shift 2
  env "$@" "$BIN/$bin" >"$OUT/logs/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_${name//-/_}=$!"
}
(cd "$OUT/keys" && exec python3 -m http.server "$P_JWKS" --bind 127.0.0.1 >"$OUT/logs/jwks-http.log" 2>&1) &
PIDS+=($!)
start entra-emulator entra-emulator SERVER_PORT=$P_EMU MANAGEMENT_SERVER_PORT=$M_EMU \
  SERVER_SSL_KEY_STORE="$PKI/entra-emulator.p12" SERVER_SSL_KEY_STORE_PASSWORD=$PASSWORD ENTRA_EMULATOR_APPS="$PKI/apps.json"
start token-issuer token-issuer SERVER_PORT=$P_ISSUER MANAGEMENT_SERVER_PORT=$M_ISSUER \
  SERVER_SSL_KEY_STORE="$PKI/token-issuer.p12" SERVER_SSL_KEY_STORE_PASSWORD=$PASSWORD \
  SERVER_SSL_CLIENT_AUTH=need SERVER_SSL_TRUST_STORE="$PKI/truststore.pem" \
  CAMUNDA_IDENTITY_TYPE=MICROSOFT CAMUNDA_IDENTITY_ISSUER_BACKEND_URL="https://localhost:$P_EMU/$TENANT/v2.0" \
  CAMUNDA_IDENTITY_CLIENT_ID=$CLIENT_ID CAMUNDA_SECURITY_CERT_AUTH_ENABLED=true \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_GRANTTYPE=client_credentials \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_SCOPES="$API_ID/.default" \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH="$PKI/identity.p12" \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PASSWORD=$PASSWORD \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS=identity \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_PASSWORD=$PASSWORD \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH="$PKI/truststore.pem" \
  CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS=app
start roles roles SERVER_PORT=$P_ROLES MANAGEMENT_SERVER_PORT=$M_ROLES \
  SERVER_SSL_KEY_STORE="$PKI/roles.p12" SERVER_SSL_KEY_STORE_PASSWORD=$PASSWORD \
  SERVER_SSL_CLIENT_AUTH=need SERVER_SSL_TRUST_STORE="$PKI/truststore.pem" \
  CAMUNDA_DATABASE_TYPE=sqlite CAMUNDA_DATABASE_URL="$OUT/roles.sqlite"
# authn as a plain resource server (bearer + mTLS, no roles/token-issuer peers): what haproxy and nginx do too.
start authn authn SERVER_PORT=$P_AUTHN MANAGEMENT_SERVER_PORT=$M_AUTHN \
  SERVER_SSL_KEY_STORE="$PKI/authn.p12" SERVER_SSL_KEY_STORE_PASSWORD=$PASSWORD \
  SERVER_SSL_CLIENT_AUTH=want SERVER_SSL_TRUST_STORE="$PKI/truststore.pem" \
  CAMUNDA_IDENTITY_TYPE=GENERIC CAMUNDA_IDENTITY_ISSUER="$ISS" CAMUNDA_IDENTITY_AUDIENCE="$AUD" \
  CAMUNDA_SECURITY_AUTHENTICATION_OIDC_JWK_SET_URI="http://127.0.0.1:$P_JWKS/jwks.json" \
  CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED=true \
  CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES="$PKI/truststore.pem" \
  CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES=ROLE_USER

# --- 4. The peers ---------------------------------------------------------------------------------------------------
echo '{"access_token":"static","token_type":"Bearer","expires_in":3599}' > "$OUT/www/token.json"
echo '{"principal":"static"}' > "$OUT/www/me"
chmod -R a+rX "$OUT/www" "$OUT/keys"
cat "$PKI/authn.crt" "$PKI/authn.key" > "$PKI/server.pem"
cat > "$OUT/nginx.conf" <<CONF
worker_processes auto;
pid $OUT/nginx.pid;
error_log $OUT/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$P_NGINX ssl http2;
    ssl_certificate $PKI/authn.crt;
    ssl_certificate_key $PKI/authn.key;
    # nginx 1.22 leaves TLS 1.3 off by default; our services run 1.3, so the peer must too to compare like with like.
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_client_certificate $PKI/truststore.pem;
    ssl_verify_client on;
    keepalive_requests 10000000;
    location = /v2/authentication/me { default_type application/json; return 200 '{"principal":"\$ssl_client_s_dn"}'; }
    location = /v1/token { alias $OUT/www/token.json; default_type application/json; error_page 405 =200 \$uri; }
  }
}
CONF
nginx -c "$OUT/nginx.conf" -e "$OUT/logs/nginx-error.log" -g "daemon on;" || die "nginx did not start; see $OUT/logs/nginx-error.log"
cat > "$OUT/haproxy.cfg" <<CONF
global
  maxconn 4000
  pidfile $OUT/haproxy.pid
  daemon
defaults
  mode http
  timeout client 30s
  timeout server 30s
  timeout connect 5s
frontend bench
  bind 127.0.0.1:$P_HAPROXY ssl crt $PKI/server.pem alpn h2,http/1.1
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('\$.alg')
  http-request set-var(txn.iss) var(txn.bearer),jwt_payload_query('\$.iss')
  http-request set-var(txn.aud) var(txn.bearer),jwt_payload_query('\$.aud')
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('\$.exp','int')
  http-request set-var(txn.now) date()
  http-request deny deny_status 401 unless { var(txn.alg) -m str RS256 }
  http-request deny deny_status 401 unless { var(txn.iss) -m str $ISS }
  http-request deny deny_status 401 unless { var(txn.aud) -m str $AUD }
  http-request deny deny_status 401 unless { var(txn.exp),sub(txn.now) -m int gt 0 }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify(txn.alg,"$OUT/keys/public.pem") -m int 1 }
  http-request return status 200 content-type application/json string '{"principal":"ok"}'
CONF
haproxy -q -f "$OUT/haproxy.cfg" || die "haproxy did not start"
MODS=/usr/lib/apache2/modules
mkdir -p "$OUT/apache"
cat > "$OUT/apache.conf" <<CONF
ServerRoot $OUT/apache
ServerName localhost
Listen 127.0.0.1:$P_APACHE
PidFile $OUT/apache.pid
ErrorLog $OUT/logs/apache-error.log
LogLevel warn
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authn_core_module $MODS/mod_authn_core.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule authz_user_module $MODS/mod_authz_user.so
LoadModule auth_openidc_module $MODS/mod_auth_openidc.so
LoadModule socache_shmcb_module $MODS/mod_socache_shmcb.so
LoadModule ssl_module $MODS/mod_ssl.so
LoadModule http2_module $MODS/mod_http2.so
User www-data
Group www-data
Protocols h2 http/1.1
KeepAliveTimeout 30
MaxKeepAliveRequests 0
SSLSessionCache shmcb:$OUT/apache/ssl_scache(512000)
DocumentRoot $OUT/www
<Directory $OUT/www>
  Require all granted
</Directory>
OIDCCryptoPassphrase bench-not-a-secret
OIDCOAuthVerifyCertFiles bench#$OUT/keys/signing.crt
OIDCOAuthRemoteUserClaim sub
<VirtualHost 127.0.0.1:$P_APACHE>
  SSLEngine on
  SSLCertificateFile $PKI/authn.crt
  SSLCertificateKeyFile $PKI/authn.key
  <Location /me>
    AuthType oauth20
    Require valid-user
  </Location>
</VirtualHost>
CONF
apache2 -f "$OUT/apache.conf" -k start || die "apache2 did not start; see $OUT/logs/apache-error.log"

# --- 5. Wait for everything -----------------------------------------------------------------------------------------
for port in $M_EMU $M_ISSUER $M_ROLES $M_AUTHN; do
  for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$port/actuator/health" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "http://127.0.0.1:$port/actuator/health" >/dev/null 2>&1 || { tail -n 20 "$OUT"/logs/*.log >&2; die "a service on management port $port is not healthy"; }
done
CURL=(curl -fsS --http2 --cacert "$PKI/truststore.pem")
MTLS=(--cert "$PKI/client.crt" --key "$PKI/client.key")
APP_MTLS=(--cert "$PKI/app.crt" --key "$PKI/app.key")  # a service identity: token-issuer serves services only
check() { # what, then curl arguments: the scenario's request must answer 2xx before it is measured
  local what=$1; shift
  "${CURL[@]}" -o /dev/null "$@" || die "$what: the request the scenario measures fails (see $OUT/logs/)"
}
for _ in $(seq 1 100); do "${CURL[@]}" -o /dev/null "${APP_MTLS[@]}" -d '{}' "https://localhost:$P_ISSUER/v1/token" 2>/dev/null && break; sleep 0.2; done
check issuer_cached "${APP_MTLS[@]}" -H 'content-type: application/json' -d '{}' "https://localhost:$P_ISSUER/v1/token"
check authn_bearer -H "Authorization: Bearer $ONE_TOKEN" "https://localhost:$P_AUTHN/v2/authentication/me"
check authn_mtls "${MTLS[@]}" "https://localhost:$P_AUTHN/v2/authentication/me"
check nginx_mtls "${MTLS[@]}" "https://localhost:$P_NGINX/v2/authentication/me"
check nginx_static "${MTLS[@]}" -d '{}' "https://localhost:$P_NGINX/v1/token"
check haproxy_jwt -H "Authorization: Bearer $ONE_TOKEN" "https://localhost:$P_HAPROXY/me"
check apache_openidc -H "Authorization: Bearer $ONE_TOKEN" "https://localhost:$P_APACHE/me"
echo "{}" > "$OUT/empty.json"
RESOLVE_BODY=$OUT/resolve.json
echo '{"claims":{"iss":"'"$ISS"'","aud":"'"$AUD"'","azp":"'"$CLIENT_ID"'","sub":"bench","tid":"bench","roles":["Admin","Reader"],"groups":["group-17","group-4242","group-9999"],"exp":1900000000,"iat":1700000000,"nbf":1700000000,"ver":"2.0"}}' > "$RESOLVE_BODY"
check roles_resolve --cert "$PKI/authn.crt" --key "$PKI/authn.key" -H 'content-type: application/json' \
  --data-binary @"$RESOLVE_BODY" "https://localhost:$P_ROLES/v1/resolve"
if "${CURL[@]}" -o /dev/null -H "Authorization: Bearer ${ONE_TOKEN}x" "https://localhost:$P_HAPROXY/me" 2>/dev/null; then
  die "haproxy accepts a token with a broken signature: its jwt_verify configuration is wrong"
fi
if "${CURL[@]}" -o /dev/null -H "Authorization: Bearer ${ONE_TOKEN}x" "https://localhost:$P_APACHE/me" 2>/dev/null; then
  die "Apache accepts a token with a broken signature: its mod_auth_openidc configuration is wrong"
fi

# --- 6. Measurements ------------------------------------------------------------------------------------------------
RAW=$OUT/raw.jsonl
: > "$RAW"
record() { echo "$1" >> "$RAW"; }
peak_rss() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo null; }

selected() { [[ -z "${BENCH_ONLY:-}" || "$1" =~ ${BENCH_ONLY} ]]; }
CLK_TCK=$(getconf CLK_TCK)
cpu_pids() { # name, pid-or-"": the processes whose CPU time a scenario charges (a peer's master and workers)
  if [ -n "$2" ]; then echo "$2"; return; fi
  case $1 in
    nginx*) pgrep -x nginx ;;
    haproxy*) pgrep -x haproxy ;;
    apache*) pgrep -x apache2 ;;
  esac
}
cpu_ticks() { # user + system clock ticks of the given processes, all their threads (fields 14 and 15 of stat)
  local total=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    total=$(( total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}') ))
  done
  echo "$total"
}
h2() { # name, pid-or-"", then h2load arguments (the shim reads BENCH_* from the environment)
  local name=$1 pid=$2; shift 2
  selected "$name" || return 0
  log "$name"
  local logf=$OUT/h2load/$name.log perf_pid=
  if [ -n "${BENCH_PERF:-}" ] && [ -n "$pid" ]; then  # profile the service during the measured part
    mkdir -p "$OUT/perf"
    (sleep "$WARMUP"; exec perf record -F 499 --call-graph dwarf -p "$pid" -o "$OUT/perf/$name.data" -- sleep "$SECONDS_PER") \
      >"$OUT/perf/$name.log" 2>&1 &
    perf_pid=$!
  fi
  # CPU time the server spends during the measured part (after the warm-up), whoever else shares the machine:
  # steadier than req/s on this shared VM, where the load generator and other tenants take CPU too.
  local pids cpu_file=$OUT/h2load/$name.cpu
  pids=$(cpu_pids "$name" "$pid" | tr '\n' ' ')
  # shellcheck disable=SC2086
  (sleep "$WARMUP"; a=$(cpu_ticks $pids); sleep "$SECONDS_PER"; b=$(cpu_ticks $pids); echo $((b - a)) > "$cpu_file") &
  local cpu_pid=$!
  LD_PRELOAD="$OUT/h2load-shim.so" h2load -t 1 -c 4 -m 16 -D "$SECONDS_PER" --warm-up-time "$WARMUP" \
    --log-file "$logf" "$@" > "$OUT/h2load/$name.txt" 2>&1 || true
  [ -n "$perf_pid" ] && { wait "$perf_pid" || true; log "profile: perf report -i $OUT/perf/$name.data"; }
  wait "$cpu_pid" || true
  local rss=null; [ -n "$pid" ] && rss=$(peak_rss "$pid")
  local cpu_seconds
  cpu_seconds=$(awk -v t="$(cat "$cpu_file" 2>/dev/null)" -v hz="$CLK_TCK" 'BEGIN { if (t == "") print "null"; else print t / hz }')
  record "$(python3 bench/report.py h2load "$name" "$OUT/h2load/$name.txt" "$logf" "$rss" "$cpu_seconds" "$SECONDS_PER")"
}
handshakes() { # name, pid-or-"", URL: a new TLS connection (full handshake with the client certificate) per request.
  # h2load opens CONNS connections at once, sends one request on each and closes them; repeated for the duration.
  # (openssl s_time -www cannot be used: it sends HTTP/1.0 and waits for the server to close, which Hummingbird
  # does not do for HTTP/1.0.)
  local name=$1 pid=$2 url=$3 conns=64 i=0
  selected "$name" || return 0
  log "$name"
  LD_PRELOAD="$OUT/h2load-shim.so" h2load -t 1 -c $conns -n $conns -m 1 "$url" > /dev/null 2>&1 || true  # warm-up
  local start end pids ticks_before
  # The server's CPU over the whole loop (handshakes are mostly server CPU: the RSA signature, the client chain).
  pids=$(cpu_pids "$name" "$pid" | tr '\n' ' ')
  # shellcheck disable=SC2086
  ticks_before=$(cpu_ticks $pids)
  start=$(date +%s.%N)
  end=$(( $(date +%s) + SECONDS_PER ))
  while [ "$(date +%s)" -lt "$end" ]; do
    LD_PRELOAD="$OUT/h2load-shim.so" h2load -t 1 -c $conns -n $conns -m 1 --log-file "$OUT/h2load/$name.$i.log" "$url" \
      > "$OUT/h2load/$name.$i.txt" 2>&1 || true
    i=$((i + 1))
  done
  local wall rss=null ticks cpu_seconds
  wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  # shellcheck disable=SC2086
  ticks=$(( $(cpu_ticks $pids) - ticks_before ))
  cpu_seconds=$(awk -v t="$ticks" -v hz="$CLK_TCK" 'BEGIN { print t / hz }')
  [ -n "$pid" ] && rss=$(peak_rss "$pid")
  record "$(python3 bench/report.py handshakes "$name" "$OUT/h2load/$name" "$i" "$wall" "$rss" "$cpu_seconds")"
}

export BENCH_CLIENT_CERT="$PKI/app.crt" BENCH_CLIENT_KEY="$PKI/app.key"
h2 issuer_cached "$PID_token_issuer" -H 'content-type: application/json' -d "$OUT/empty.json" "https://127.0.0.1:$P_ISSUER/v1/token"
h2 nginx_static_mtls "" -d "$OUT/empty.json" "https://127.0.0.1:$P_NGINX/v1/token"
export BENCH_CLIENT_CERT="$PKI/client.crt" BENCH_CLIENT_KEY="$PKI/client.key"
h2 authn_mtls_keepalive "$PID_authn" "https://127.0.0.1:$P_AUTHN/v2/authentication/me"
h2 nginx_mtls_keepalive "" "https://127.0.0.1:$P_NGINX/v2/authentication/me"
unset BENCH_CLIENT_CERT BENCH_CLIENT_KEY
AUTH="Authorization: Bearer $ONE_TOKEN"
BENCH_TOKENS_FILE="$OUT/keys/tokens.txt" h2 authn_unique "$PID_authn" -H "$AUTH" "https://127.0.0.1:$P_AUTHN/v2/authentication/me"
BENCH_TOKENS_FILE="$OUT/keys/tokens.txt" h2 haproxy_jwt_unique "" -H "$AUTH" "https://127.0.0.1:$P_HAPROXY/me"
BENCH_TOKENS_FILE="$OUT/keys/tokens.txt" h2 apache_openidc_unique "" -H "$AUTH" "https://127.0.0.1:$P_APACHE/me"
h2 authn_repeat "$PID_authn" -H "$AUTH" "https://127.0.0.1:$P_AUTHN/v2/authentication/me"
h2 haproxy_jwt_repeat "" -H "$AUTH" "https://127.0.0.1:$P_HAPROXY/me"
h2 apache_openidc_repeat "" -H "$AUTH" "https://127.0.0.1:$P_APACHE/me"
BENCH_CLIENT_CERT="$PKI/authn.crt" BENCH_CLIENT_KEY="$PKI/authn.key" \
  h2 roles_resolve "$PID_roles" -H 'content-type: application/json' -d "$RESOLVE_BODY" "https://127.0.0.1:$P_ROLES/v1/resolve"
export BENCH_CLIENT_CERT="$PKI/client.crt" BENCH_CLIENT_KEY="$PKI/client.key"
handshakes authn_mtls_handshakes "$PID_authn" "https://127.0.0.1:$P_AUTHN/v2/authentication/me"
handshakes nginx_mtls_handshakes "" "https://127.0.0.1:$P_NGINX/v2/authentication/me"
unset BENCH_CLIENT_CERT BENCH_CLIENT_KEY

# Three interleaved rounds (ours, then OpenSSL on the same key sizes); report.py keeps each side's best round, so a
# burst of load from elsewhere on this shared machine does not decide the ratio.
IN_SECONDS=$(( SECONDS_PER / 3 > 2 ? SECONDS_PER / 3 : 2 ))
log "in process: assertion_sign, jwt_verify, openssl speed (3 interleaved rounds of ${IN_SECONDS} s)"
for _ in 1 2 3; do
  if selected assertion_sign; then
    record "$("$BIN/certauth-bench" assertion-sign 2048 "$IN_SECONDS")"
    record "$("$BIN/certauth-bench" assertion-sign 4096 "$IN_SECONDS")"
  fi
  selected jwt_verify && record "$("$BIN/certauth-bench" jwt-verify "$OUT/keys" "$IN_SECONDS")"
  if selected assertion_sign || selected jwt_verify; then
    openssl speed -elapsed -seconds "$IN_SECONDS" rsa2048 rsa4096 > "$OUT/openssl-speed.txt" 2>/dev/null
    record "$(python3 bench/report.py openssl "$OUT/openssl-speed.txt")"
    if selected assertion_sign && grep -qw avx512ifma /proc/cpuinfo; then
      # OpenSSL 3 signs RSA-2048 with AVX-512 IFMA code where the CPU has it (BoringSSL, inside swift-crypto, has no
      # such path): the same figure with that path masked off (CPUID leaf 7 EBX bit 21) shows what the gap is made of.
      OPENSSL_ia32cap=":~0x200000" openssl speed -elapsed -seconds "$IN_SECONDS" rsa2048 > "$OUT/openssl-speed-no-ifma.txt" 2>/dev/null
      record "$(python3 bench/report.py openssl "$OUT/openssl-speed-no-ifma.txt" _without_ifma)"
    fi
  fi
done

# --- 7. Memory at the end, the table and results.json ---------------------------------------------------------------
for name in entra-emulator token-issuer roles authn; do
  var="PID_${name//-/_}"
  record "{\"rss_end\": \"$name\", \"rss_mb\": $(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/${!var}/status"), \"peak_mb\": $(peak_rss "${!var}")}"
done
python3 bench/report.py summarize "$RAW" "$OUT/results.json"
