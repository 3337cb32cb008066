#!/usr/bin/env bash
# Row-layout experiment of issue 16 (docs/BENCHMARKS.md, "The create's rows"): PostgreSQL's CPU per
# create for the vault's layout (A: customer, DEK, three blind-index rows, consent history, audit
# event: seven rows, eight foreign-key checks) against the wrapped DEK and the digests on the
# customer row (B: three rows), and A without its foreign keys and DEK trigger (C: what the checks
# cost), and A without only the blind-index rows' foreign key to blind_index_keys (D). pgbench, prepared statements, alternating runs; CPU of the server's processes from /proc.
#   bash bench/layout/run.sh <database url of a migrated vault database with its keys> [runs] [seconds] [clients]
# (keys: start the vault on it once. Migration 1764300000000 drops the foreign key D removes: to see
# A as it was, migrate to before it, or re-add it with that migration's down.) VARIANTS="a d" picks.
set -euo pipefail
url=$1; runs=${2:-3}; seconds=${3:-15}; clients=${4:-16}
dir=$(cd "$(dirname "$0")" && pwd)
psql "$url" -q -f "$dir/setup-b.sql" 2>/dev/null
# C and D are A's statement on their own copies of the tables (setup-b.sql).
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp "$dir/create-a.sql" "$dir/create-b.sql" "$tmp/"
for v in c d; do
  sed -e "s/INSERT INTO customers (/INSERT INTO customers_$v (/" -e "s/INSERT INTO customer_deks (/INSERT INTO deks_$v (/" \
    -e "s/INSERT INTO customer_blind_indexes (/INSERT INTO blind_$v (/" -e "s/INSERT INTO customer_consent_history (/INSERT INTO history_$v (/" \
    "$dir/create-a.sql" > "$tmp/create-$v.sql"
done
# The server of $url only: its postmaster (the process listening on the port) and its children,
# plus the CPU of children it has reaped (cutime + cstime: pgbench's backends exit with it).
port=$(psql "$url" -Atc 'SHOW port'); datadir=$(psql "$url" -Atc 'SHOW data_directory' 2>/dev/null || true)
postmaster=$(head -1 "${datadir}/postmaster.pid" 2>/dev/null || pgrep -o -f "postgres.*-p $port" || true)
[ -n "$postmaster" ] || { echo "cannot find the postmaster of $url (run as its owner or root)" >&2; exit 1; }
pg_ticks() {
  local t; t=$(awk '{print $14 + $15 + $16 + $17}' /proc/$postmaster/stat)
  for p in $(pgrep -P "$postmaster"); do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || echo 0))); done
  echo "$t"
}
echo "| variant | run | creates/s | PostgreSQL CPU µs per create |"
echo "|---|---:|---:|---:|"
for run in $(seq 1 "$runs"); do
  for v in ${VARIANTS:-a b c d}; do
    psql "$url" -qc 'CHECKPOINT' >/dev/null 2>&1 || true
    t0=$(pg_ticks)
    out=$(pgbench -n -M prepared -c "$clients" -j 2 -T "$seconds" -f "$tmp/create-$v.sql" "$url" 2>&1)
    sleep 1; t1=$(pg_ticks) # backends that exited with pgbench are reaped (and counted) by then
    tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
    echo "| $v | $run | ${tps%.*} | $(( (t1 - t0) * 10000 / tx )) |"
  done
done
