#!/usr/bin/env bash
# Overload benchmark (issue #10): offers a production-mode Trent FACTOR times the Encrypt (or
# RSA_2048 Sign) throughput it can serve and reports what admission control makes of it, beside the same
# offered load against a Trent with admission control off (--max-in-flight 0), in the same run.
# Both run with --no-quotas: the point is the server's capacity, not one account's request rates.
#
# For each server ("off" first, then "on" with the admission flags below), on a fresh data
# directory and port:
#   1. capacity: closed loop on CAP_CONNS connections, OPERATION of SIZE bytes (the "off" server's
#      figure is the capacity C every offered rate is derived from);
#   2. overload: open loop (--rate) at FACTOR x C on RATE_CONNS connections. Latency counts from
#      each request's scheduled send time when its connection was still busy (no coordinated
#      omission). Reported: accepted (200) req/s and p50/p99/p99.9, throttled answers per second
#      and their latency, requests sent late;
#   3. the server's peak RSS (VmHWM from /proc/<pid>/status, over both runs), that it is still
#      running, and that /health and one Encrypt still answer 200 afterwards.
#
# Usage: crates/bench/overload.sh           (from anywhere; builds release binaries first)
# Environment:
#   OPERATION=encrypt  encrypt (symmetric key), or sign (RSA_2048 key, RSASSA_PKCS1_V1_5_SHA_256)
#   SIZE=64            plaintext or message bytes
#   FACTOR=3           offered load as a multiple of the measured capacity
#   CAP_CONNS=64       connections of the capacity run
#   RATE_CONNS=512     connections of the open-loop run (enough that the client rarely waits)
#   DURATION=8         measured seconds per run; WARMUP=1 warm-up seconds
#   CLIENT_THREADS=1   client runtime threads
#   REUSE_SIGNATURES=0 seconds a connection sends the same signed request again (trent-bench
#                      load --reuse-signatures-secs): the server verifies each one all the same,
#                      the client's cost per request falls, so one client core offers more
#   PIN=0              1: server on CPU 0, client on CPU 1 (taskset)
#   ADMISSION_ARGS=    extra `trent serve` flags of the "on" server, e.g.
#                      "--max-in-flight 16 --queue-timeout-ms 2" (default: Trent's defaults)
#   PORT=14586         first server's port (the second uses PORT+1)
#   SKIP_BUILD=0       1: use the existing release binaries
#   CARGO_TARGET_DIR=target   where the release binaries are built and found
#   OUT=target/bench-results/overload   logs and the summary
set -euo pipefail

cd "$(dirname "$0")/../.."
OPERATION=${OPERATION:-encrypt}
SIZE=${SIZE:-64}
FACTOR=${FACTOR:-3}
CAP_CONNS=${CAP_CONNS:-64}
RATE_CONNS=${RATE_CONNS:-512}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-1}
CLIENT_THREADS=${CLIENT_THREADS:-1}
REUSE_SIGNATURES=${REUSE_SIGNATURES:-0}
PIN=${PIN:-0}
ADMISSION_ARGS=${ADMISSION_ARGS:-}
PORT=${PORT:-14586}
SKIP_BUILD=${SKIP_BUILD:-0}
OUT=${OUT:-target/bench-results/overload}

case "$OPERATION" in
encrypt)
    KEY_ARGS=()
    OP_ARGS=(--operation encrypt)
    ;;
sign)
    KEY_ARGS=(--key-spec RSA_2048 --key-usage SIGN_VERIFY)
    OP_ARGS=(--operation sign --signing-algorithm RSASSA_PKCS1_V1_5_SHA_256)
    ;;
*)
    echo "OPERATION must be encrypt or sign" >&2
    exit 2
    ;;
esac
if [ "$PIN" = 1 ]; then
    SERVER_CPU=(taskset -c 0)
    CLIENT_CPU=(taskset -c 1)
else
    SERVER_CPU=()
    CLIENT_CPU=()
fi
if [ "$SKIP_BUILD" != 1 ]; then
    cargo build --release --locked -p trent -p trent-bench
fi
TRENT=${CARGO_TARGET_DIR:-target}/release/trent
BENCH=${CARGO_TARGET_DIR:-target}/release/trent-bench
mkdir -p "$OUT"
SUMMARY="$OUT/summary.md"
: >"$SUMMARY"

TRENT_PID=
DATA=
cleanup() {
    [ -n "$TRENT_PID" ] && kill "$TRENT_PID" 2>/dev/null && wait "$TRENT_PID" 2>/dev/null
    [ -n "$DATA" ] && rm -rf "$DATA"
}
trap cleanup EXIT

echo "## Machine"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|Hypervisor vendor)' || true
free -h | head -2
echo "kernel: $(uname -r); load before: $(cat /proc/loadavg)"
echo "client threads: $CLIENT_THREADS, pinned: $PIN, $OPERATION $SIZE B, signatures reused: ${REUSE_SIGNATURES} s, warm-up ${WARMUP} s, measured ${DURATION} s"
echo

start_server() { # name port [serve flags...]
    local name=$1 port=$2
    shift 2
    DATA=$(mktemp -d)
    "${SERVER_CPU[@]}" "$TRENT" serve --data-dir "$DATA" --addr "127.0.0.1:$port" \
        --log-level warn --no-quotas "$@" 2>"$OUT/trent-$name.log" &
    TRENT_PID=$!
    ENDPOINT="http://127.0.0.1:$port"
    CREDS="$DATA/root-credentials"
    KEY=
    for _ in $(seq 100); do
        if [ -s "$CREDS" ] && KEY=$("$BENCH" create-key --endpoint "$ENDPOINT" \
            --credentials-file "$CREDS" "${KEY_ARGS[@]}" 2>/dev/null); then
            break
        fi
        sleep 0.1
    done
    [ -n "$KEY" ] || { echo "Trent ($name) did not come up" >&2; cat "$OUT/trent-$name.log" >&2; exit 1; }
}

stop_server() {
    kill "$TRENT_PID" 2>/dev/null && wait "$TRENT_PID" 2>/dev/null || true
    TRENT_PID=
    rm -rf "$DATA"
    DATA=
}

load() { # label conns rate|max
    local label=$1 conns=$2 rate=$3 rate_arg=()
    [ "$rate" != max ] && rate_arg=(--rate "$rate")
    local log="$OUT/$label.log" status=0
    "${CLIENT_CPU[@]}" "$BENCH" load --endpoint "$ENDPOINT" --credentials-file "$CREDS" \
        --key-id "$KEY" "${OP_ARGS[@]}" --bytes "$SIZE" --connections "$conns" \
        --duration-secs "$DURATION" --warmup-secs "$WARMUP" --threads "$CLIENT_THREADS" \
        --reuse-signatures-secs "$REUSE_SIGNATURES" --server-pid "$TRENT_PID" \
        --label "$label" "${rate_arg[@]}" >"$log" 2>&1 || status=$?
    grep -vE '^(ROW|SHED)' "$log"
    [ "$status" = 0 ] || echo "!!! $label: the load generator exited with status $status"
    echo
}

# Fields of the ROW and SHED lines (see trent-bench): ROW 7 req/s, 8 p50, 10 p99, 11 p99.9;
# SHED 5 throttled/s, 7 their p99, 9 requests sent late.
row() { grep '^ROW' "$OUT/$1.log" | awk -F'|' -v f="$2" '{ gsub(/ /, "", $f); print $f }'; }
shed() { grep '^SHED' "$OUT/$1.log" | awk -F'|' -v f="$2" '{ gsub(/ /, "", $f); print $f }'; }

after_checks() { # name
    local name=$1 alive=no health=- enc=-
    kill -0 "$TRENT_PID" 2>/dev/null && alive=yes
    health=$(curl -s -o /dev/null -w '%{http_code}' "$ENDPOINT/health" || echo fail)
    if "$BENCH" create-key --endpoint "$ENDPOINT" --credentials-file "$CREDS" >/dev/null 2>&1; then
        enc=200
    else
        enc=fail
    fi
    HWM=$(awk '/^VmHWM/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$TRENT_PID/status" 2>/dev/null || echo -)
    AFTER="running: $alive, /health: $health, CreateKey: $enc"
    echo "$name after the runs: peak RSS $HWM, $AFTER"
    echo "shed-request log lines: $(grep -c 'requests shed' "$OUT/trent-$name.log" || true)"
    echo
}

summary_row() { # server label offered
    local server=$1 label=$2 offered=$3
    local ok p50 p99 p999 thr tp99
    ok=$(row "$label" 7)
    p50=$(row "$label" 8)
    p99=$(row "$label" 10)
    p999=$(row "$label" 11)
    thr=$(shed "$label" 5)
    tp99=$(shed "$label" 7)
    echo "| $server | $offered | $ok | $p50 | $p99 | $p999 | ${thr:--} | ${tp99:--} | $(shed "$label" 9) | $HWM | $AFTER |" >>"$SUMMARY"
}

echo "## Admission control off (--max-in-flight 0)"
start_server off "$PORT" --max-in-flight 0
load off-capacity "$CAP_CONNS" max
CAPACITY=$(row off-capacity 7)
OFFERED=$(awk -v c="$CAPACITY" -v f="$FACTOR" 'BEGIN { printf "%.0f", c * f }')
echo "capacity (closed loop, $CAP_CONNS connections): $CAPACITY req/s; offering $FACTOR x = $OFFERED req/s"
echo
load off-overload "$RATE_CONNS" "$OFFERED"
after_checks off
CAP_ROW="| off | closed loop, $CAP_CONNS conns | $CAPACITY | $(row off-capacity 8) | $(row off-capacity 10) | $(row off-capacity 11) | - | - | - | | |"
summary_row off off-overload "$OFFERED"
stop_server

echo "## Admission control on (${ADMISSION_ARGS:-defaults})"
# shellcheck disable=SC2086
start_server on "$((PORT + 1))" $ADMISSION_ARGS
load on-capacity "$CAP_CONNS" max
load on-overload "$RATE_CONNS" "$OFFERED"
after_checks on
ON_CAP_ROW="| on | closed loop, $CAP_CONNS conns | $(row on-capacity 7) | $(row on-capacity 8) | $(row on-capacity 10) | $(row on-capacity 11) | $(shed on-capacity 5) | $(shed on-capacity 7) | - | | |"
summary_row on on-overload "$OFFERED"
stop_server

{
    echo "| admission | offered req/s | accepted req/s | p50 ms | p99 ms | p99.9 ms | throttled/s | throttled p99 ms | sent late | peak RSS | after |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    echo "$CAP_ROW"
    echo "$ON_CAP_ROW"
    cat "$SUMMARY"
} >"$SUMMARY.tmp"
mv "$SUMMARY.tmp" "$SUMMARY"
echo "## Summary (load after: $(cat /proc/loadavg))"
cat "$SUMMARY"
