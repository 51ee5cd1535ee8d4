#!/usr/bin/env bash
# The store under load: Encrypt, GetParameter and PutParameter against one Trent on the embedded
# SQLite store, one on PostgreSQL, and two nodes on one PostgreSQL database with the load split
# between them (each node its own client), all in one run. Prints Markdown-ready rows.
#
# On a 2-core machine the nodes, PostgreSQL and the clients all share the two cores: the
# two-node figures show that the nodes work together on one database, not that they scale.
#
# Usage: crates/bench/store.sh     (from anywhere; builds release binaries first)
# Environment:
#   PG_URL=postgres://postgres@127.0.0.1:5432/postgres   admin URL; the run makes (and drops)
#                                                         the database trent_bench_store
#   DURATION=8 WARMUP=1   seconds per run
#   CONNS=16              connections per run (split evenly between the two nodes)
#   SSM_COUNT=2000        parameters for GetParameter and PutParameter
#   SIZE=64               Encrypt plaintext bytes
#   SKIP_BUILD=0          1: use the existing release binaries
#   CARGO_TARGET_DIR=target, OUT=target/bench-store
set -euo pipefail

cd "$(dirname "$0")/../.."
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-16}
SSM_COUNT=${SSM_COUNT:-2000}
SIZE=${SIZE:-64}
SKIP_BUILD=${SKIP_BUILD:-0}
OUT=${OUT:-target/bench-store}
PORT=${PORT:-15566}

if [ "$SKIP_BUILD" != 1 ]; then
    cargo build --release --locked -p trent -p trent-bench
fi
TRENT=${CARGO_TARGET_DIR:-target}/release/trent
BENCH=${CARGO_TARGET_DIR:-target}/release/trent-bench
mkdir -p "$OUT"
rm -f "$OUT"/*.log
ROWS="$OUT/rows.txt"
: >"$ROWS"

DB=trent_bench_store
DB_URL="${PG_URL%/*}/$DB"
psql_admin() { psql "$PG_URL" -v ON_ERROR_STOP=1 -q -c "$1"; }
fresh_db() {
    psql_admin "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
    psql_admin "CREATE DATABASE $DB"
}

PIDS=()
DIRS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "${DIRS[@]}"
    psql_admin "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null || true
}
trap cleanup EXIT

start() { # data-dir port store
    "$TRENT" serve --data-dir "$1" --addr "127.0.0.1:$2" --store "$3" --log-level warn --no-quotas \
        2>>"$OUT/trent-$2.log" &
    PIDS+=($!)
    LAST_PID=$!
    for _ in $(seq 200); do
        if [ -s "$1/root-credentials" ] && "$BENCH" create-key --endpoint "http://127.0.0.1:$2" \
            --credentials-file "$1/root-credentials" >/dev/null 2>&1; then
            return
        fi
        sleep 0.1
    done
    echo "Trent on port $2 did not come up:" >&2
    cat "$OUT/trent-$2.log" >&2
    exit 1
}

stop_all() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    PIDS=()
}

load() { # label endpoint creds key conns op-args... ; runs in the foreground, appends its ROW
    local label=$1 endpoint=$2 creds=$3 key=$4 conns=$5
    shift 5
    "$BENCH" load --endpoint "$endpoint" --key-id "$key" --bytes "$SIZE" --connections "$conns" \
        --duration-secs "$DURATION" --warmup-secs "$WARMUP" --threads 1 --label "$label" \
        --credentials-file "$creds" "$@" >"$OUT/$label-$RANDOM.log" 2>&1
}

OPS=(encrypt get put)
op_args() { # op
    case $1 in
    encrypt) OP_ARGS=() ;;
    get) OP_ARGS=(--operation get-parameter --prefix /bench/str --count "$SSM_COUNT") ;;
    put) OP_ARGS=(--operation put-parameter --prefix /bench/put --count "$SSM_COUNT") ;;
    esac
}

setup() { # endpoint creds
    "$BENCH" ssm-setup --endpoint "$1" --credentials-file "$2" --prefix /bench/str --count "$SSM_COUNT" >/dev/null
    "$BENCH" ssm-setup --endpoint "$1" --credentials-file "$2" --prefix /bench/put --count "$SSM_COUNT" >/dev/null
}

echo "## Machine"
lscpu | grep -E '^(Model name|CPU\(s\))' || true
echo "PostgreSQL: $(psql "$PG_URL" -At -c 'SHOW server_version') (synchronous_commit=$(psql "$PG_URL" -At -c 'SHOW synchronous_commit'), fsync=$(psql "$PG_URL" -At -c 'SHOW fsync'))"
echo "load before: $(cat /proc/loadavg)"
echo

one_node() { # tag store
    local dir
    dir=$(mktemp -d)
    DIRS+=("$dir")
    start "$dir" "$PORT" "$2"
    local endpoint="http://127.0.0.1:$PORT" creds="$dir/root-credentials" key
    key=$("$BENCH" create-key --endpoint "$endpoint" --credentials-file "$creds")
    setup "$endpoint" "$creds"
    for op in "${OPS[@]}"; do
        op_args "$op"
        load "$1" "$endpoint" "$creds" "$key" "$CONNS" "${OP_ARGS[@]}"
    done
    stop_all
}

echo "## One node on SQLite, one on PostgreSQL"
one_node sqlite sqlite
fresh_db
one_node postgres "$DB_URL"

echo "## Two nodes on one PostgreSQL database"
fresh_db
A=$(mktemp -d)
B=$(mktemp -d)
DIRS+=("$A" "$B")
start "$A" "$PORT" "$DB_URL"
cp "$A/root.key" "$B/root.key"
cp "$A/root-credentials" "$B/root-credentials"
start "$B" $((PORT + 2)) "$DB_URL"
EA="http://127.0.0.1:$PORT"
EB="http://127.0.0.1:$((PORT + 2))"
KEY=$("$BENCH" create-key --endpoint "$EA" --credentials-file "$A/root-credentials")
setup "$EA" "$A/root-credentials"
for op in "${OPS[@]}"; do
    op_args "$op"
    load two-nodes-a "$EA" "$A/root-credentials" "$KEY" $((CONNS / 2)) "${OP_ARGS[@]}" &
    first=$!
    load two-nodes-b "$EB" "$B/root-credentials" "$KEY" $((CONNS / 2)) "${OP_ARGS[@]}"
    wait "$first"
done
stop_all

cat "$OUT"/*.log | grep '^ROW' | sed 's/^ROW //' >"$ROWS"
echo "load after: $(cat /proc/loadavg)"
echo
echo "| store | operation | bytes | connections | offered req/s | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | server CPU µs/req | client CPU µs/req | other busy cores |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
sort -t'|' -k3,3 -k2,2 "$ROWS"
echo
echo "Two nodes, summed (each node took half the connections):"
awk -F' [|] ' '$1 ~ /two-nodes/ { s[$2] += $6 } END { for (op in s) printf "  %s: %.0f req/s\n", op, s[op] }' "$ROWS"
