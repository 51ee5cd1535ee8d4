#!/usr/bin/env bash
# Benchmarks signed KMS Encrypt against a production-mode Trent, and the same client against a
# bare hyper server answering the same bytes, on this machine. Prints Markdown-ready results.
#
# Usage: crates/bench/run.sh            (from anywhere; builds release binaries first)
# Environment:
#   DURATION=8        measured seconds per run (warm-up comes on top; each run stays <= 10 s)
#   WARMUP=1          warm-up seconds per run
#   CONNS="1 4 16 64" connection counts
#   SIZES="64 4096"   plaintext sizes in bytes
#   RATES="10000"     open-loop runs: offered req/s (empty to skip), on RATE_CONNS connections
#   RATE_CONNS=64
#   CLIENT_THREADS=1  client runtime threads (1 = one core for the client)
#   PIN=0             1: pin the server to CPU 0 and the client to CPU 1 (taskset)
#   PORT=14566        Trent's port
#   SKIP_BUILD=0      1: use the existing target/release binaries
#   OUT=target/bench-results   where logs, saved responses and the summary go
set -euo pipefail

cd "$(dirname "$0")/../.."
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-"1 4 16 64"}
SIZES=${SIZES:-"64 4096"}
RATES=${RATES-10000}
RATE_CONNS=${RATE_CONNS:-64}
CLIENT_THREADS=${CLIENT_THREADS:-1}
PIN=${PIN:-0}
PORT=${PORT:-14566}
SKIP_BUILD=${SKIP_BUILD:-0}
OUT=${OUT:-target/bench-results}

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
TRENT=target/release/trent
BENCH=target/release/trent-bench
mkdir -p "$OUT"
ROWS="$OUT/rows.txt"
: >"$ROWS"
: >"$OUT/errors.txt"

DATA=$(mktemp -d)
TRENT_PID=
BARE_PID=
SERVER_PID=
cleanup() {
    [ -n "$BARE_PID" ] && kill "$BARE_PID" 2>/dev/null && wait "$BARE_PID" 2>/dev/null
    [ -n "$TRENT_PID" ] && kill "$TRENT_PID" 2>/dev/null && wait "$TRENT_PID" 2>/dev/null
    rm -rf "$DATA"
}
trap cleanup EXIT

echo "## Machine"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|Hypervisor vendor|Virtualization type)' || true
echo "AES/SHA/carry-less multiply flags: $(grep -m1 -o -wE 'aes|pclmulqdq|sha_ni|avx2|avx512f|vaes|vpclmulqdq' /proc/cpuinfo | sort -u | tr '\n' ' ')"
free -h | head -2
echo "kernel: $(uname -r)"
echo "load before: $(uptime)"
echo "client threads: $CLIENT_THREADS, pinned: $PIN, warm-up ${WARMUP} s, measured ${DURATION} s"
echo

echo "## Starting Trent (production mode, signatures verified)"
"${SERVER_CPU[@]}" "$TRENT" serve --data-dir "$DATA" --addr "127.0.0.1:$PORT" --log-level warn \
    2>"$OUT/trent.log" &
TRENT_PID=$!
SERVER_PID=$TRENT_PID
ENDPOINT="http://127.0.0.1:$PORT"
CREDS="$DATA/root-credentials"
KEY=
for _ in $(seq 100); do
    if [ -s "$CREDS" ] && KEY=$("$BENCH" create-key --endpoint "$ENDPOINT" \
        --credentials-file "$CREDS" 2>/dev/null); then
        break
    fi
    sleep 0.1
done
if [ -z "$KEY" ]; then
    echo "Trent did not come up; its log:" >&2
    cat "$OUT/trent.log" >&2
    exit 1
fi
echo "key: $KEY"
echo

run() { # label endpoint size conns rate|max [extra args...]
    local label=$1 endpoint=$2 size=$3 conns=$4 rate=$5
    shift 5
    local log="$OUT/$label-$size-$conns-$rate.log"
    local rate_arg=()
    local pid_arg=()
    [ -n "$SERVER_PID" ] && pid_arg=(--server-pid "$SERVER_PID")
    [ "$rate" != max ] && rate_arg=(--rate "$rate")
    local status=0
    "${CLIENT_CPU[@]}" "$BENCH" encrypt --endpoint "$endpoint" --key-id "$KEY" \
        --plaintext-bytes "$size" --connections "$conns" --duration-secs "$DURATION" \
        --warmup-secs "$WARMUP" --threads "$CLIENT_THREADS" --label "$label" "${rate_arg[@]}" "${pid_arg[@]}" "$@" \
        >"$log" 2>&1 || status=$?
    grep -v '^ROW' "$log"
    grep '^ROW' "$log" | sed 's/^ROW //' >>"$ROWS" || true
    if [ "$status" != 0 ]; then
        echo "!!! $label $size B x $conns connections exited with status $status" | tee -a "$OUT/errors.txt"
    fi
    echo
}

echo "## Trent"
for size in $SIZES; do
    first=1
    for c in $CONNS; do
        if [ "$first" = 1 ]; then
            run trent "$ENDPOINT" "$size" "$c" max --credentials-file "$CREDS" \
                --save-response "$OUT/response-$size.json"
            first=0
        else
            run trent "$ENDPOINT" "$size" "$c" max --credentials-file "$CREDS"
        fi
    done
    for r in $RATES; do
        run trent "$ENDPOINT" "$size" "$RATE_CONNS" "$r" --credentials-file "$CREDS"
    done
done
grep -E 'ERROR|WARN' "$OUT/trent.log" | grep -v 'FILE SEAL' | head -5 || true
kill "$TRENT_PID" 2>/dev/null && wait "$TRENT_PID" 2>/dev/null || true
TRENT_PID=

echo "## Bare hyper server answering the same bytes"
for size in $SIZES; do
    "${SERVER_CPU[@]}" "$BENCH" bare-server --addr 127.0.0.1:0 \
        --response-file "$OUT/response-$size.json" >"$OUT/bare-$size.addr" 2>"$OUT/bare.log" &
    BARE_PID=$!
    SERVER_PID=$BARE_PID
    addr=
    for _ in $(seq 50); do
        addr=$(head -n1 "$OUT/bare-$size.addr" 2>/dev/null || true)
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "bare server did not start" >&2; exit 1; }
    # The bare server ignores authentication; the client signs anyway, identically.
    fake=(--access-key-id AKIABENCHBENCHBENCH0 --secret-access-key benchbenchbenchbenchbenchbenchbenchbench)
    for c in $CONNS; do
        run bare "http://$addr" "$size" "$c" max "${fake[@]}"
    done
    for r in $RATES; do
        run bare "http://$addr" "$size" "$RATE_CONNS" "$r" "${fake[@]}"
    done
    kill "$BARE_PID" 2>/dev/null && wait "$BARE_PID" 2>/dev/null || true
    BARE_PID=
done

echo "## Per-step costs (in-process, one thread)"
for size in $SIZES; do
    "$BENCH" micro --plaintext-bytes "$size" --millis 300
    echo
done

echo "## openssl speed -evp aes-256-gcm (1 s per size)"
openssl version
openssl speed -seconds 1 -evp aes-256-gcm 2>/dev/null | tail -n 3
echo

echo "## Summary"
echo "load after: $(uptime)"
for size in $SIZES; do
    echo
    echo "### $size-byte plaintext"
    echo
    echo "| server | plaintext B | connections | offered req/s | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | server CPU µs/req | client CPU µs/req | other busy cores |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F' [|] ' -v s="$size" '$2 == s' "$ROWS"
done
if [ -s "$OUT/errors.txt" ]; then
    echo
    echo "!!! SOME RUNS HAD ERRORS:"
    cat "$OUT/errors.txt"
fi
