#!/usr/bin/env bash
# Encryption SDK throughput: `trent encrypt` / `trent decrypt` on one large file, beside the
# references measured in the same run, and prints Markdown-ready results:
#   openssl speed -evp aes-256-gcm and -evp sha384 at 16 KiB blocks, one core (before and after)
#   trent encrypt 0x0478 (AES-256-GCM, committing, unsigned), 1 and THREADS threads
#   trent encrypt 0x0578 (the same plus ECDSA P-384 over the message, SHA-384), 1 thread
#   trent decrypt of both, to a file
#   the official Python aws-encryption-cli on the same file with a KMS key on a running Trent,
#   and trent encrypt/decrypt with the same KMS key (the data key comes from Trent once)
#   peak resident memory of a PEAK_GIB GiB stream through encrypt and decrypt
# Raw-AES runs use a 256-bit wrapping key from a file, so only the message format is measured.
# Files live in /dev/shm (page cache speed; the disk is not what is measured).
#
# Usage: crates/bench/esdk.sh
# Environment:
#   SIZE_MIB=1024        file size
#   FRAMES="4096 65536"  frame lengths (4096 is the SDKs' default)
#   THREADS=2            threads for the parallel runs
#   RUNS=3               repetitions per row; the best (fastest) is reported, all are logged
#   SPEED_SECONDS=5      seconds per openssl speed measurement
#   PYTHON_CLI=.venv-esdk-cli/bin/aws-encryption-cli   (empty: skip the Python comparison)
#   PEAK_GIB=10          stream size of the memory rows (0: skip)
#   PORT=14577           Trent's port for the KMS rows
#   SKIP_BUILD=0         1: use the existing release binaries
#   CARGO_TARGET_DIR=target
set -euo pipefail

cd "$(dirname "$0")/../.."
SIZE_MIB=${SIZE_MIB:-1024}
FRAMES=${FRAMES:-"4096 65536"}
THREADS=${THREADS:-2}
RUNS=${RUNS:-3}
SPEED_SECONDS=${SPEED_SECONDS:-5}
PYTHON_CLI=${PYTHON_CLI-.venv-esdk-cli/bin/aws-encryption-cli}
PEAK_GIB=${PEAK_GIB:-10}
PORT=${PORT:-14577}
SKIP_BUILD=${SKIP_BUILD:-0}

if [ "$SKIP_BUILD" != 1 ]; then
    cargo build --release --locked -p trent -p trent-bench
fi
TRENT=$(realpath "${CARGO_TARGET_DIR:-target}/release/trent")
BENCH=$(realpath "${CARGO_TARGET_DIR:-target}/release/trent-bench")

W=$(mktemp -d /dev/shm/trent-esdk-bench.XXXXXX)
DATA=$(mktemp -d)
TRENT_PID=
cleanup() {
    [ -n "$TRENT_PID" ] && kill "$TRENT_PID" 2>/dev/null && wait "$TRENT_PID" 2>/dev/null
    rm -rf "$W" "$DATA"
}
trap cleanup EXIT

echo "## Machine"
lscpu | grep -E '^(Model name|CPU\(s\)|Hypervisor vendor)' || true
echo "flags: $(grep -m1 -o -wE 'aes|pclmulqdq|sha_ni|avx2|avx512f|vaes|vpclmulqdq' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "kernel: $(uname -r), openssl: $(openssl version)"
echo "load before: $(uptime | sed 's/.*load/load/')"
echo

BYTES=$((SIZE_MIB * 1024 * 1024))
head -c "$BYTES" /dev/urandom >"$W/plain"
openssl rand -out "$W/aes.key" 32
RAW=(-w provider=raw-aes key="$W/aes.key" namespace=bench name=aes)

# Bytes/s of openssl speed at 16 KiB blocks for one EVP algorithm, one process.
openssl_speed() { # evp
    openssl speed -seconds "$SPEED_SECONDS" -bytes 16384 -evp "$1" 2>/dev/null |
        awk -v alg="$1" 'tolower($1) == tolower(alg) { v = $2; sub(/k$/, "", v); printf "%.0f\n", v * 1000 }'
}
mbs() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / s / 1e6 }'; }

REF_GCM=()
REF_SHA=()
reference() {
    local gcm sha
    gcm=$(openssl_speed aes-256-gcm)
    sha=$(openssl_speed sha384)
    REF_GCM+=("$gcm")
    REF_SHA+=("$sha")
    echo "openssl speed ($1; $(uptime | sed 's/.*load/load/')): aes-256-gcm $(mbs "$gcm" 1) MB/s, sha384 $(mbs "$sha" 1) MB/s (16 KiB blocks, one core)"
}

# Runs a command RUNS times; BEST is the fastest wall time in seconds and BEST_CPU the CPU
# time (user + system, all threads) of that run. On a busy machine the CPU time is the steadier
# figure: wall time then includes waiting for a core.
BEST=
BEST_CPU=
timed() { # label output command...
    local label=$1 output=$2 t cpu all=
    shift 2
    BEST=
    BEST_CPU=
    for _ in $(seq "$RUNS"); do
        # A fresh output file: replacing the last one would bill its freed pages to this run.
        rm -f "$output"
        /usr/bin/time -o "$W/time" -f "%e %U %S" "$@"
        read -r t u s <"$W/time"
        cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
        all="$all $t/$cpu"
        if [ -z "$BEST" ] || awk -v a="$t" -v b="$BEST" 'BEGIN { exit !(a < b) }'; then
            BEST=$t
            BEST_CPU=$cpu
        fi
    done
    echo "  $label: best $BEST s wall ($BEST_CPU s CPU); wall/CPU of each run:$all" >&2
}

echo "## References"
reference "before"
echo

ROWS=()
row() { # label wall-seconds cpu-seconds
    ROWS+=("$1|$2|$3|$(mbs "$BYTES" "$2")")
}

echo "## Raw AES-256 wrapping key, ${SIZE_MIB} MiB file in /dev/shm"
for frame in $FRAMES; do
    enc=("$TRENT" encrypt -i "$W/plain" "${RAW[@]}" --frame-length "$frame")
    dec=("$TRENT" decrypt "${RAW[@]}")
    timed "encrypt 0x0478 frame $frame" "$W/u.enc" "${enc[@]}" --algorithm 0x0478 -o "$W/u.enc"
    row "encrypt 0x0478, frame $frame, 1 thread" "$BEST" "$BEST_CPU"
    timed "encrypt 0x0478 frame $frame threads $THREADS" "$W/u2.enc" "${enc[@]}" --algorithm 0x0478 --threads "$THREADS" -o "$W/u2.enc"
    row "encrypt 0x0478, frame $frame, $THREADS threads" "$BEST" "$BEST_CPU"
    timed "decrypt 0x0478 frame $frame" "$W/u.dec" "${dec[@]}" -i "$W/u.enc" -o "$W/u.dec"
    row "decrypt 0x0478, frame $frame, 1 thread" "$BEST" "$BEST_CPU"
    timed "decrypt 0x0478 frame $frame threads $THREADS" "$W/u.dec" "${dec[@]}" --threads "$THREADS" -i "$W/u.enc" -o "$W/u.dec"
    row "decrypt 0x0478, frame $frame, $THREADS threads" "$BEST" "$BEST_CPU"
    cmp -s "$W/plain" "$W/u.dec" || { echo "decrypted output differs" >&2; exit 1; }
    "${dec[@]}" -i "$W/u2.enc" -o "$W/u.dec"
    cmp -s "$W/plain" "$W/u.dec" || { echo "threaded output does not decrypt" >&2; exit 1; }
    timed "encrypt 0x0478 frame $frame to /dev/null" "$W/none" sh -c '"$0" "$@" -o - >/dev/null' "${enc[@]}" --algorithm 0x0478
    row "encrypt 0x0478, frame $frame, 1 thread, to /dev/null" "$BEST" "$BEST_CPU"
    timed "encrypt 0x0578 frame $frame to /dev/null" "$W/none" sh -c '"$0" "$@" -o - >/dev/null' "${enc[@]}" --algorithm 0x0578
    row "encrypt 0x0578, frame $frame, 1 thread, to /dev/null" "$BEST" "$BEST_CPU"
    timed "encrypt 0x0578 frame $frame" "$W/s.enc" "${enc[@]}" --algorithm 0x0578 -o "$W/s.enc"
    row "encrypt 0x0578, frame $frame, 1 thread" "$BEST" "$BEST_CPU"
    timed "encrypt 0x0578 frame $frame threads $THREADS" "$W/s.enc" "${enc[@]}" --algorithm 0x0578 --threads "$THREADS" -o "$W/s.enc"
    row "encrypt 0x0578, frame $frame, $THREADS threads" "$BEST" "$BEST_CPU"
    timed "decrypt 0x0578 frame $frame" "$W/s.dec" "${dec[@]}" -i "$W/s.enc" -o "$W/s.dec"
    row "decrypt 0x0578, frame $frame, 1 thread" "$BEST" "$BEST_CPU"
    cmp -s "$W/plain" "$W/s.dec" || { echo "decrypted output differs" >&2; exit 1; }
    rm -f "$W"/*.enc "$W"/*.dec
done

if [ -n "$PYTHON_CLI" ]; then
    echo "## KMS wrapping key on a running Trent: Trent beside the official Python CLI"
    "$TRENT" serve --data-dir "$DATA" --addr "127.0.0.1:$PORT" --log-level warn --no-quotas \
        2>"$W/trent.log" &
    TRENT_PID=$!
    CREDS="$DATA/root-credentials"
    KEY=
    for _ in $(seq 100); do
        if [ -s "$CREDS" ] && KEY=$("$BENCH" create-key --endpoint "http://127.0.0.1:$PORT" \
            --credentials-file "$CREDS" 2>/dev/null); then
            break
        fi
        sleep 0.1
    done
    [ -n "$KEY" ] || { echo "Trent did not come up:" >&2; cat "$W/trent.log" >&2; exit 1; }
    export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$PORT" AWS_SHARED_CREDENTIALS_FILE="$CREDS" \
        AWS_PROFILE=trent AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    KMS=(-w "key=$KEY")
    # Strict decryption needs the key ARN; discovery decrypts with whichever key the message names.
    DISCOVERY=(-w discovery=true)
    timed "trent encrypt 0x0578 KMS" "$W/k.enc" "$TRENT" encrypt -i "$W/plain" -o "$W/k.enc" "${KMS[@]}"
    row "trent encrypt 0x0578, frame 4096, KMS key" "$BEST" "$BEST_CPU"
    timed "trent decrypt 0x0578 KMS" "$W/k.dec" "$TRENT" decrypt -i "$W/k.enc" -o "$W/k.dec" "${DISCOVERY[@]}"
    row "trent decrypt 0x0578, frame 4096, KMS key" "$BEST" "$BEST_CPU"
    RUNS_SAVED=$RUNS
    RUNS=1
    timed "python encrypt 0x0578 KMS" "$W/p.enc" "$PYTHON_CLI" -e -i "$W/plain" -o "$W/p.enc" "${KMS[@]}" -S
    row "aws-encryption-cli encrypt 0x0578, frame 4096, KMS key" "$BEST" "$BEST_CPU"
    timed "python decrypt 0x0578 KMS" "$W/p.dec" "$PYTHON_CLI" -d -i "$W/p.enc" -o "$W/p.dec" "${DISCOVERY[@]}" -S
    row "aws-encryption-cli decrypt 0x0578, frame 4096, KMS key" "$BEST" "$BEST_CPU"
    RUNS=$RUNS_SAVED
    cmp -s "$W/plain" "$W/p.dec" || { echo "python output differs" >&2; exit 1; }
    rm -f "$W"/*.enc "$W"/*.dec
    echo "aws-encryption-cli: $("$PYTHON_CLI" --version)"
fi
echo

echo "## References again"
reference "after"
echo

best_ref() { printf '%s\n' "$@" | sort -n | tail -1; }
GCM=$(best_ref "${REF_GCM[@]}")
SHA=$(best_ref "${REF_SHA[@]}")
echo "## Results (${SIZE_MIB} MiB; best of $RUNS; MB = 10^6 bytes; references: the better of the two openssl runs)"
echo
echo "| run | wall s | MB/s | vs aes-256-gcm $(mbs "$GCM" 1) MB/s | vs sha384 $(mbs "$SHA" 1) MB/s | CPU s | MB per CPU-s |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for r in "${ROWS[@]}"; do
    IFS='|' read -r label secs cpu rate <<<"$r"
    awk -v l="$label" -v s="$secs" -v c="$cpu" -v r="$rate" -v g="$GCM" -v h="$SHA" -v b="$BYTES" \
        'BEGIN { printf "| %s | %.2f | %s | %.2f | %.2f | %.2f | %.0f |\n", l, s, r, r * 1e6 / g, r * 1e6 / h, c, (c > 0 ? b / c / 1e6 : 0) }'
done
echo

if [ "$PEAK_GIB" != 0 ]; then
    echo "## Peak resident memory, ${PEAK_GIB} GiB stream (KiB, /usr/bin/time %M)"
    n=$((PEAK_GIB * 1024 * 1024 * 1024))
    # Signed: decrypt holds no plaintext in memory when writing a file (renamed into place
    # after the signature verifies), so the 10 GiB go to the data directory on disk.
    head -c "$n" /dev/zero |
        /usr/bin/time -o "$W/time-enc" -f "encrypt 0x0578 stdin->stdout: %M KiB" "$TRENT" encrypt -i - -o - "${RAW[@]}" |
        /usr/bin/time -o "$W/time-dec" -f "decrypt 0x0578 stdin->file: %M KiB" "$TRENT" decrypt -i - -o "$DATA/big.dec" "${RAW[@]}"
    cat "$W/time-enc" "$W/time-dec"
    got=$(stat -c %s "$DATA/big.dec")
    rm -f "$DATA/big.dec"
    [ "$got" = "$n" ] || { echo "stream came back with $got bytes, not $n" >&2; exit 1; }
    got=$(head -c "$n" /dev/zero | "$TRENT" encrypt -i - -o - "${RAW[@]}" --algorithm 0x0478 --threads "$THREADS" |
        /usr/bin/time -f "decrypt 0x0478 stdin->stdout (after encrypt --threads $THREADS): %M KiB" \
            "$TRENT" decrypt -i - -o - "${RAW[@]}" 2>"$W/time" | wc -c)
    tail -1 "$W/time"
    [ "$got" = "$n" ] || { echo "stream came back with $got bytes, not $n" >&2; exit 1; }
fi
echo "load after: $(uptime | sed 's/.*load/load/')"
