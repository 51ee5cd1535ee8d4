#!/usr/bin/env bash
# Benchmarks signed KMS requests against a production-mode Trent on this machine, each beside
# its reference measured in the same run, and prints Markdown-ready results:
#   encrypt-no-audit  Encrypt against a second Trent started with --no-audit (fresh data
#                     directory, PORT+1), after the audited runs, at the same sizes and
#                     connection counts: what durable auditing costs (OPS="encrypt
#                     encrypt-no-audit" RATES= for the comparison alone)
#   encrypt           Encrypt; reference: the same client against a bare hyper server answering
#                     the same bytes, and openssl speed AES-256-GCM
#   sign-p256         Sign, ECDSA_SHA_256 on an ECC_NIST_P256 key     } reference: openssl speed
#   sign-rsa2048      Sign, RSASSA_PKCS1_V1_5_SHA_256 on an RSA_2048 key } ecdsap256 rsa2048
#   sign-rsa2048-pss  Sign, RSASSA_PSS_SHA_256 on an RSA_2048 key     } (sign/s, one core)
#   mac               GenerateMac, HMAC_SHA_256 on an HMAC_256 key; reference: openssl speed
#                     -hmac sha256 at the message size (one core)
#   The openssl references run before and after Trent's runs; `micro` times the in-process steps.
#   encrypt-authz     Encrypt with authorization doing real work: an IAM user with an inline
#                     and a managed identity policy (conditions on aws:SourceIp, explicit
#                     denies) encrypting under a key with the console's four-statement key
#                     policy, alternated with the root encrypting under a default-policy key,
#                     AUTHZ_ROUNDS times per size and connection count (reference: the root's
#                     runs, in the same run)
#   ssm-get           Parameter Store GetParameter, String, over SSM_COUNT stored parameters
#   ssm-get-secure    GetParameter WithDecryption of SecureString parameters (alias/aws/ssm)
#   ssm-put           PutParameter with Overwrite over SSM_COUNT parameters: durable writes
#   ssm-by-path       GetParametersByPath, recursive, first page of 10, over SSM_PATH_COUNT
#                     parameters
#   Reference for the Parameter Store runs: the same client against the bare hyper server
#   answering the bytes of a real GetParameter response.
#   sm-get            Secrets Manager GetSecretValue (AWSCURRENT, alias/aws/secretsmanager) over
#                     SM_COUNT stored secrets
#   sm-put            PutSecretValue over SM_COUNT secrets: a new version each, durable writes
#   Reference for the Secrets Manager runs: the bare hyper server answering the bytes of a real
#   GetSecretValue response. The load average is printed before each of these runs.
#
# Usage: crates/bench/run.sh            (from anywhere; builds release binaries first)
#        OPS="sign-p256 sign-rsa2048 mac" crates/bench/run.sh
# Environment:
#   OPS=encrypt       operations to measure, from the list above
#   DURATION=8        measured seconds per run (warm-up comes on top; each run stays <= 10 s)
#   WARMUP=1          warm-up seconds per run
#   CONNS="1 4 16 64" connection counts for encrypt
#   OP_CONNS="4 16 64" connection counts for the sign and mac operations
#   MSG_BYTES=32      Sign / GenerateMac message size (RAW)
#   SPEED_SECONDS=5   seconds per openssl speed measurement (openssl: at most 10)
#   SIZES="64 4096"   Encrypt plaintext sizes in bytes
#   RATES="10000"     open-loop runs: offered req/s (empty to skip), on RATE_CONNS connections
#   RATE_CONNS=64
#   SSM_CONNS="16 64" connection counts for the Parameter Store operations
#   AUTHZ_CONNS="4 16" connection counts for encrypt-authz
#   AUTHZ_ROUNDS=3    alternated pairs of runs per size and connection count for encrypt-authz
#   SSM_RATES="10000" open-loop runs of ssm-get and ssm-get-secure (empty to skip)
#   SSM_COUNT=10000   parameters stored for ssm-get, ssm-get-secure and ssm-put
#   SSM_PATH_COUNT=1000 parameters under the path of ssm-by-path
#   SM_CONNS=$SSM_CONNS connection counts for the Secrets Manager operations
#   SM_RATES=$SSM_RATES open-loop runs of sm-get (empty to skip)
#   SM_COUNT=10000    secrets stored for sm-get and sm-put
#   CLIENT_THREADS=1  client runtime threads (1 = one core for the client)
#   PIN=0             1: pin the server to CPU 0 and the client to CPU 1 (taskset)
#   PORT=14566        Trent's port
#   SKIP_BUILD=0      1: use the existing release binaries
#   CARGO_TARGET_DIR=target    where the release binaries are built and found
#   OUT=target/bench-results   where logs, saved responses and the summary go
set -euo pipefail

cd "$(dirname "$0")/../.."
OPS=${OPS:-encrypt}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-"1 4 16 64"}
OP_CONNS=${OP_CONNS:-"4 16 64"}
MSG_BYTES=${MSG_BYTES:-32}
SPEED_SECONDS=${SPEED_SECONDS:-5}
SIZES=${SIZES:-"64 4096"}
RATES=${RATES-10000}
RATE_CONNS=${RATE_CONNS:-64}
SSM_CONNS=${SSM_CONNS:-"16 64"}
AUTHZ_CONNS=${AUTHZ_CONNS:-"4 16"}
AUTHZ_ROUNDS=${AUTHZ_ROUNDS:-3}
SSM_RATES=${SSM_RATES-10000}
SSM_COUNT=${SSM_COUNT:-10000}
SSM_PATH_COUNT=${SSM_PATH_COUNT:-1000}
SM_CONNS=${SM_CONNS:-$SSM_CONNS}
SM_RATES=${SM_RATES-$SSM_RATES}
SM_COUNT=${SM_COUNT:-10000}
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
TRENT=${CARGO_TARGET_DIR:-target}/release/trent
BENCH=${CARGO_TARGET_DIR:-target}/release/trent-bench

has_op() { [[ " $OPS " == *" $1 "* ]]; }
for op in $OPS; do
    case $op in
    encrypt | encrypt-authz | encrypt-no-audit | sign-p256 | sign-rsa2048 | sign-rsa2048-pss | mac) ;;
    ssm-get | ssm-get-secure | ssm-put | ssm-by-path) ;;
    sm-get | sm-put) ;;
    *)
        echo "unknown operation '$op' in OPS" >&2
        exit 1
        ;;
    esac
done
SIGN_OPS=
SSM_OPS=
SM_OPS=
for op in $OPS; do
    case $op in
    encrypt | encrypt-authz | encrypt-no-audit) ;;
    ssm-*) SSM_OPS="$SSM_OPS $op" ;;
    sm-*) SM_OPS="$SM_OPS $op" ;;
    *) SIGN_OPS="$SIGN_OPS $op" ;;
    esac
done
mkdir -p "$OUT"
ROWS="$OUT/rows.txt"
: >"$ROWS"
: >"$OUT/errors.txt"

DATA=$(mktemp -d)
DATA_NO_AUDIT=$(mktemp -d)
TRENT_PID=
BARE_PID=
SERVER_PID=
cleanup() {
    [ -n "$BARE_PID" ] && kill "$BARE_PID" 2>/dev/null && wait "$BARE_PID" 2>/dev/null
    [ -n "$TRENT_PID" ] && kill "$TRENT_PID" 2>/dev/null && wait "$TRENT_PID" 2>/dev/null
    rm -rf "$DATA" "$DATA_NO_AUDIT"
}
trap cleanup EXIT

echo "## Machine"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|Hypervisor vendor|Virtualization type)' || true
echo "AES/SHA/carry-less multiply flags: $(grep -m1 -o -wE 'aes|pclmulqdq|sha_ni|avx2|avx512f|vaes|vpclmulqdq' /proc/cpuinfo | sort -u | tr '\n' ' ')"
free -h | head -2
echo "kernel: $(uname -r)"
echo "load before: $(uptime)"
echo "client threads: $CLIENT_THREADS, pinned: $PIN, warm-up ${WARMUP} s, measured ${DURATION} s"
echo "operations: $OPS"
echo

# openssl speed, one process on one core (CPU time): the raw rate of each primitive.
# Prints "ecdsap256 <sign/s>", "rsa2048 <sign/s>" and "hmac-sha256 <ops/s>" lines into $OUT/openssl-$1.txt.
openssl_reference() { # tag
    local tag=$1 f="$OUT/openssl-$1.txt"
    : >"$f"
    echo "## openssl speed ($tag Trent's runs; $(uptime | sed 's/.*load/load/'))"
    if [[ "$SIGN_OPS" == *sign* ]]; then
        echo '$ openssl speed -seconds '"$SPEED_SECONDS"' -multi 1 ecdsap256 rsa2048'
        openssl speed -seconds "$SPEED_SECONDS" -multi 1 ecdsap256 rsa2048 2>/dev/null \
            | tee "$OUT/openssl-sign-$tag.log" | grep -E 'sign/s|^rsa 2048|nistp256'
        awk '/^rsa 2048 bits/ { print "rsa2048", $6 } /ecdsa \(nistp256\)/ { print "ecdsap256", $7 }' \
            "$OUT/openssl-sign-$tag.log" >>"$f"
    fi
    if has_op mac; then
        echo '$ openssl speed -seconds '"$SPEED_SECONDS"' -hmac sha256 -bytes '"$MSG_BYTES"
        openssl speed -seconds "$SPEED_SECONDS" -hmac sha256 -bytes "$MSG_BYTES" 2>/dev/null \
            | tee "$OUT/openssl-hmac-$tag.log" | grep -E '^type|^hmac'
        # 1000s of bytes/s over MSG_BYTES-byte messages -> messages/s.
        awk -v b="$MSG_BYTES" '/^hmac\(sha256\)/ { v = $2; sub(/k$/, "", v); printf "hmac-sha256 %.0f\n", v * 1000 / b }' \
            "$OUT/openssl-hmac-$tag.log" >>"$f"
    fi
    sed 's/^/  per second, one core: /' "$f"
    echo
}

echo "## Starting Trent (production mode, signatures verified)"
"${SERVER_CPU[@]}" "$TRENT" serve --data-dir "$DATA" --addr "127.0.0.1:$PORT" --log-level warn \
    --no-quotas 2>"$OUT/trent.log" &
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

# What each operation sends, and the key it needs: OP_SPEC, OP_USAGE, OP_ARGS.
op_setup() { # op
    case $1 in
    sign-p256) OP_SPEC=ECC_NIST_P256 OP_USAGE=SIGN_VERIFY
        OP_ARGS=(--operation sign --signing-algorithm ECDSA_SHA_256) ;;
    sign-rsa2048) OP_SPEC=RSA_2048 OP_USAGE=SIGN_VERIFY
        OP_ARGS=(--operation sign --signing-algorithm RSASSA_PKCS1_V1_5_SHA_256) ;;
    sign-rsa2048-pss) OP_SPEC=RSA_2048 OP_USAGE=SIGN_VERIFY
        OP_ARGS=(--operation sign --signing-algorithm RSASSA_PSS_SHA_256) ;;
    mac) OP_SPEC=HMAC_256 OP_USAGE=GENERATE_VERIFY_MAC
        OP_ARGS=(--operation generate-mac --mac-algorithm HMAC_SHA_256) ;;
    esac
}
declare -A OP_KEY
for op in $SIGN_OPS; do
    op_setup "$op"
    OP_KEY[$op]=$("$BENCH" create-key --endpoint "$ENDPOINT" --credentials-file "$CREDS" \
        --key-spec "$OP_SPEC" --key-usage "$OP_USAGE")
    echo "$op key ($OP_SPEC, $OP_USAGE): ${OP_KEY[$op]}"
done
echo

run() { # label tag endpoint key size conns rate|max [extra args...]
    local label=$1 tag=$2 endpoint=$3 key=$4 size=$5 conns=$6 rate=$7
    shift 7
    local log="$OUT/$label-$tag-$size-$conns-$rate.log"
    local rate_arg=()
    local pid_arg=()
    [ -n "$SERVER_PID" ] && pid_arg=(--server-pid "$SERVER_PID")
    [ "$rate" != max ] && rate_arg=(--rate "$rate")
    local status=0
    "${CLIENT_CPU[@]}" "$BENCH" load --endpoint "$endpoint" --key-id "$key" \
        --bytes "$size" --connections "$conns" --duration-secs "$DURATION" \
        --warmup-secs "$WARMUP" --threads "$CLIENT_THREADS" --label "$label" "${rate_arg[@]}" "${pid_arg[@]}" "$@" \
        >"$log" 2>&1 || status=$?
    grep -v '^ROW' "$log"
    grep '^ROW' "$log" | sed 's/^ROW //' >>"$ROWS" || true
    if [ "$status" != 0 ]; then
        echo "!!! $label $tag $size B x $conns connections exited with status $status" | tee -a "$OUT/errors.txt"
    fi
    echo
}

if [ -n "$SIGN_OPS" ]; then openssl_reference before; fi

# Parameter Store: what each operation sends and the parameters it reads.
ssm_args() { # op
    case $1 in
    ssm-get) SSM_ARGS=(--operation get-parameter --prefix /bench/str --count "$SSM_COUNT") ;;
    ssm-get-secure) SSM_ARGS=(--operation get-parameter-decrypted --prefix /bench/sec --count "$SSM_COUNT") ;;
    ssm-put) SSM_ARGS=(--operation put-parameter --prefix /bench/put --count "$SSM_COUNT") ;;
    ssm-by-path) SSM_ARGS=(--operation get-parameters-by-path --prefix /bench/path --count "$SSM_PATH_COUNT") ;;
    esac
}
if [ -n "$SSM_OPS" ]; then
    echo "## Parameter Store set-up"
    setup() { "$BENCH" ssm-setup --endpoint "$ENDPOINT" --credentials-file "$CREDS" "$@"; }
    if has_op ssm-get; then setup --prefix /bench/str --count "$SSM_COUNT"; fi
    if has_op ssm-get-secure; then setup --prefix /bench/sec --count "$SSM_COUNT" --type SecureString; fi
    if has_op ssm-put; then setup --prefix /bench/put --count "$SSM_COUNT"; fi
    if has_op ssm-by-path; then setup --prefix /bench/path --count "$SSM_PATH_COUNT"; fi
    echo
    for op in $SSM_OPS; do
        ssm_args "$op"
        echo "## Trent: $op"
        first=1
        for c in $SSM_CONNS; do
            save=()
            [ "$first" = 1 ] && save=(--save-response "$OUT/response-$op.json")
            first=0
            run trent "$op" "$ENDPOINT" "$KEY" 32 "$c" max --credentials-file "$CREDS" \
                "${SSM_ARGS[@]}" "${save[@]}"
        done
        if [ "$op" = ssm-get ] || [ "$op" = ssm-get-secure ]; then
            for r in $SSM_RATES; do
                run trent "$op" "$ENDPOINT" "$KEY" 32 "$RATE_CONNS" "$r" --credentials-file "$CREDS" \
                    "${SSM_ARGS[@]}"
            done
        fi
    done
fi

# Secrets Manager: what each operation sends and the secrets it names.
sm_args() { # op
    case $1 in
    sm-get) SM_ARGS=(--operation get-secret-value --prefix bench/get --count "$SM_COUNT") ;;
    sm-put) SM_ARGS=(--operation put-secret-value --prefix bench/put --count "$SM_COUNT") ;;
    esac
}
if [ -n "$SM_OPS" ]; then
    echo "## Secrets Manager set-up"
    if has_op sm-get; then
        "$BENCH" sm-setup --endpoint "$ENDPOINT" --credentials-file "$CREDS" --prefix bench/get --count "$SM_COUNT"
    fi
    if has_op sm-put; then
        "$BENCH" sm-setup --endpoint "$ENDPOINT" --credentials-file "$CREDS" --prefix bench/put --count "$SM_COUNT"
    fi
    echo
    for op in $SM_OPS; do
        sm_args "$op"
        echo "## Trent: $op"
        first=1
        for c in $SM_CONNS; do
            save=()
            [ "$first" = 1 ] && save=(--save-response "$OUT/response-$op.json")
            first=0
            echo "load: $(cat /proc/loadavg)"
            run trent "$op" "$ENDPOINT" "$KEY" 32 "$c" max --credentials-file "$CREDS" \
                "${SM_ARGS[@]}" "${save[@]}"
        done
        if [ "$op" = sm-get ]; then
            for r in $SM_RATES; do
                echo "load: $(cat /proc/loadavg)"
                run trent "$op" "$ENDPOINT" "$KEY" 32 "$RATE_CONNS" "$r" --credentials-file "$CREDS" \
                    "${SM_ARGS[@]}"
            done
        fi
    done
fi

if has_op encrypt; then
    echo "## Trent: Encrypt"
    for size in $SIZES; do
        first=1
        for c in $CONNS; do
            if [ "$first" = 1 ]; then
                run trent encrypt "$ENDPOINT" "$KEY" "$size" "$c" max --credentials-file "$CREDS" \
                    --save-response "$OUT/response-$size.json"
                first=0
            else
                run trent encrypt "$ENDPOINT" "$KEY" "$size" "$c" max --credentials-file "$CREDS"
            fi
        done
        for r in $RATES; do
            run trent encrypt "$ENDPOINT" "$KEY" "$size" "$RATE_CONNS" "$r" --credentials-file "$CREDS"
        done
    done
fi
if has_op encrypt-authz; then
    echo "## Trent: Encrypt with a realistic key policy and identity policies in force"
    APP_CREDS="$DATA/app-credentials"
    AUTHZ_KEY=$("$BENCH" authz-setup --endpoint "$ENDPOINT" --credentials-file "$CREDS" \
        --write-credentials "$APP_CREDS")
    echo "key with the console's key policy: $AUTHZ_KEY; IAM user bench-app"
    echo
    for size in $SIZES; do
        for c in $AUTHZ_CONNS; do
            for round in $(seq "$AUTHZ_ROUNDS"); do
                run trent-root encrypt "$ENDPOINT" "$KEY" "$size" "$c" max --credentials-file "$CREDS"
                run trent-policies encrypt "$ENDPOINT" "$AUTHZ_KEY" "$size" "$c" max \
                    --credentials-file "$APP_CREDS"
            done
        done
    done
fi
for op in $SIGN_OPS; do
    op_setup "$op"
    echo "## Trent: $op"
    for c in $OP_CONNS; do
        run trent "$op" "$ENDPOINT" "${OP_KEY[$op]}" "$MSG_BYTES" "$c" max \
            --credentials-file "$CREDS" "${OP_ARGS[@]}"
    done
done
grep -E 'ERROR|WARN' "$OUT/trent.log" | grep -v 'FILE SEAL' | head -5 || true
kill "$TRENT_PID" 2>/dev/null && wait "$TRENT_PID" 2>/dev/null || true
TRENT_PID=

if has_op encrypt-no-audit; then
    echo "## Trent with auditing off (--no-audit): Encrypt"
    NA_PORT=$((PORT + 1))
    NA_ENDPOINT="http://127.0.0.1:$NA_PORT"
    NA_CREDS="$DATA_NO_AUDIT/root-credentials"
    "${SERVER_CPU[@]}" "$TRENT" serve --data-dir "$DATA_NO_AUDIT" --addr "127.0.0.1:$NA_PORT" \
        --log-level warn --no-quotas --no-audit 2>"$OUT/trent-no-audit.log" &
    TRENT_PID=$!
    SERVER_PID=$TRENT_PID
    NA_KEY=
    for _ in $(seq 100); do
        if [ -s "$NA_CREDS" ] && NA_KEY=$("$BENCH" create-key --endpoint "$NA_ENDPOINT" \
            --credentials-file "$NA_CREDS" 2>/dev/null); then
            break
        fi
        sleep 0.1
    done
    [ -n "$NA_KEY" ] || { echo "Trent (--no-audit) did not come up" >&2; cat "$OUT/trent-no-audit.log" >&2; exit 1; }
    for size in $SIZES; do
        for c in $CONNS; do
            run trent-no-audit encrypt "$NA_ENDPOINT" "$NA_KEY" "$size" "$c" max \
                --credentials-file "$NA_CREDS"
        done
    done
    kill "$TRENT_PID" 2>/dev/null && wait "$TRENT_PID" 2>/dev/null || true
    TRENT_PID=
fi

if [ -n "$SIGN_OPS" ]; then openssl_reference after; fi

if [ -n "$SSM_OPS" ]; then
    echo "## Bare hyper server answering the bytes of a GetParameter response"
    ref_op=$(for op in $SSM_OPS; do case $op in ssm-get | ssm-get-secure) echo "$op"; break ;; esac; done)
    ref_op=${ref_op:-$(echo $SSM_OPS | cut -d' ' -f1)}
    ssm_args "$ref_op"
    "${SERVER_CPU[@]}" "$BENCH" bare-server --addr 127.0.0.1:0 \
        --response-file "$OUT/response-$ref_op.json" >"$OUT/bare-ssm.addr" 2>"$OUT/bare.log" &
    BARE_PID=$!
    SERVER_PID=$BARE_PID
    addr=
    for _ in $(seq 50); do
        addr=$(head -n1 "$OUT/bare-ssm.addr" 2>/dev/null || true)
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "bare server did not start" >&2; exit 1; }
    fake=(--access-key-id AKIABENCHBENCHBENCH0 --secret-access-key benchbenchbenchbenchbenchbenchbenchbench)
    for c in $SSM_CONNS; do
        run bare "$ref_op" "http://$addr" "$KEY" 32 "$c" max "${fake[@]}" "${SSM_ARGS[@]}"
    done
    for r in $SSM_RATES; do
        run bare "$ref_op" "http://$addr" "$KEY" 32 "$RATE_CONNS" "$r" "${fake[@]}" "${SSM_ARGS[@]}"
    done
    kill "$BARE_PID" 2>/dev/null && wait "$BARE_PID" 2>/dev/null || true
    BARE_PID=
    SERVER_PID=
fi

if [ -n "$SM_OPS" ]; then
    echo "## Bare hyper server answering the bytes of a GetSecretValue response"
    ref_op=sm-get
    has_op sm-get || ref_op=$(echo $SM_OPS | cut -d' ' -f1)
    sm_args "$ref_op"
    "${SERVER_CPU[@]}" "$BENCH" bare-server --addr 127.0.0.1:0 \
        --response-file "$OUT/response-$ref_op.json" >"$OUT/bare-sm.addr" 2>"$OUT/bare.log" &
    BARE_PID=$!
    SERVER_PID=$BARE_PID
    addr=
    for _ in $(seq 50); do
        addr=$(head -n1 "$OUT/bare-sm.addr" 2>/dev/null || true)
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "bare server did not start" >&2; exit 1; }
    fake=(--access-key-id AKIABENCHBENCHBENCH0 --secret-access-key benchbenchbenchbenchbenchbenchbenchbench)
    for c in $SM_CONNS; do
        run bare "$ref_op" "http://$addr" "$KEY" 32 "$c" max "${fake[@]}" "${SM_ARGS[@]}"
    done
    for r in $SM_RATES; do
        run bare "$ref_op" "http://$addr" "$KEY" 32 "$RATE_CONNS" "$r" "${fake[@]}" "${SM_ARGS[@]}"
    done
    kill "$BARE_PID" 2>/dev/null && wait "$BARE_PID" 2>/dev/null || true
    BARE_PID=
    SERVER_PID=
fi

if has_op encrypt; then
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
            run bare encrypt "http://$addr" "$KEY" "$size" "$c" max "${fake[@]}"
        done
        for r in $RATES; do
            run bare encrypt "http://$addr" "$KEY" "$size" "$RATE_CONNS" "$r" "${fake[@]}"
        done
        kill "$BARE_PID" 2>/dev/null && wait "$BARE_PID" 2>/dev/null || true
        BARE_PID=
    done

    echo "## Per-step costs of Encrypt (in-process, one thread)"
    for size in $SIZES; do
        "$BENCH" micro --operation encrypt --bytes "$size" --millis 300
        echo
    done

    echo "## openssl speed -evp aes-256-gcm (1 s per size)"
    openssl version
    openssl speed -seconds 1 -evp aes-256-gcm 2>/dev/null | tail -n 3
    echo
fi

if [[ "$SIGN_OPS" == *sign* ]]; then
    echo "## Per-step costs of Sign (in-process, one thread)"
    "$BENCH" micro --operation sign --bytes "$MSG_BYTES" --millis 300
    echo
fi
if has_op mac; then
    echo "## Per-step costs of GenerateMac (in-process, one thread)"
    "$BENCH" micro --operation generate-mac --bytes "$MSG_BYTES" --millis 300
    echo
fi

echo "## Summary"
echo "load after: $(uptime)"
ROW_HEAD="| server | operation | bytes | connections | offered req/s | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | server CPU µs/req | client CPU µs/req | other busy cores |"
ROW_RULE="|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
if has_op encrypt; then
    for size in $SIZES; do
        echo
        echo "### Encrypt, $size-byte plaintext"
        echo
        echo "$ROW_HEAD"
        echo "$ROW_RULE"
        awk -F' [|] ' -v s="$size" '$2 == "Encrypt" && $3 == s' "$ROWS"
    done
fi
if has_op encrypt-authz; then
    echo
    echo "### Encrypt with policies in force (trent-policies) against the root under a default-policy key (trent-root)"
    echo
    echo "$ROW_HEAD"
    echo "$ROW_RULE"
    awk -F' [|] ' '$1 ~ /trent-(root|policies)$/' "$ROWS"
    echo
    echo "Medians over the rounds (p99 and server CPU too)."
    echo
    echo "| bytes | connections | root req/s (median) | policies req/s (median) | ratio | root p99 ms | policies p99 ms | root server µs/req | policies server µs/req |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for size in $SIZES; do
        for c in $AUTHZ_CONNS; do
            med() { # label column
                awk -F' [|] ' -v l="$1" -v s="$size" -v c="$c" -v col="$2" \
                    '$1 ~ ("^[|] " l "$") && $3 == s && $4 == c && $12 == 0 { print $col }' "$ROWS" \
                    | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print 0 }'
            }
            r=$(med trent-root 6) p=$(med trent-policies 6) rl=$(med trent-root 9) pl=$(med trent-policies 9)
            rc=$(med trent-root 13) pc=$(med trent-policies 13)
            awk -v s="$size" -v c="$c" -v r="$r" -v p="$p" -v rl="$rl" -v pl="$pl" -v rc="$rc" -v pc="$pc" 'BEGIN {
                printf "| %s | %s | %.0f | %.0f | %.3f | %.3f | %.3f | %.1f | %.1f |\n", s, c, r, p, (r > 0 ? p / r : 0), rl, pl, rc, pc }'
        done
    done
fi
if has_op encrypt && has_op encrypt-no-audit; then
    echo
    echo "### What auditing costs: Encrypt req/s with durable auditing on, against off"
    echo
    echo "| bytes | connections | req/s audited | req/s not audited | ratio | p99 ms audited | p99 ms not audited |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    awk -F' [|] ' '$2 == "Encrypt" && $5 == "max" {
            sub(/^[|] */, "", $1); k = $3 " " $4
            if ($1 == "trent") { on[k] = $6; p_on[k] = $9; keys[k] = 1 }
            if ($1 == "trent-no-audit") { off[k] = $6; p_off[k] = $9 }
        }
        END { for (k in keys) if (k in off) { split(k, a, " ")
            printf "| %s | %s | %s | %s | %.2f | %s | %s |\n", a[1], a[2], on[k], off[k], (off[k] > 0 ? on[k] / off[k] : 0), p_on[k], p_off[k] } }' \
        "$ROWS" | sort -t'|' -k2,2n -k3,3n
fi
if [ -n "$SIGN_OPS" ]; then
    echo
    echo "### Sign and GenerateMac, $MSG_BYTES-byte message"
    echo
    echo "$ROW_HEAD"
    echo "$ROW_RULE"
    awk -F' [|] ' '$2 ~ /^(Sign|GenerateMac)/' "$ROWS"
    echo
    echo "### Trent's best closed-loop req/s against openssl speed, one core (before / after)"
    echo
    echo "| operation | Trent req/s (best) | openssl /s before | openssl /s after | ratio, before | ratio, after |"
    echo "|---|---:|---:|---:|---:|---:|"
    for op in $SIGN_OPS; do
        op_setup "$op"
        case $op in
        sign-p256) ref=ecdsap256 ;;
        sign-rsa2048*) ref=rsa2048 ;;
        mac) ref=hmac-sha256 ;;
        esac
        alg=${OP_ARGS[3]}
        best=$(awk -F' [|] ' -v a="$alg" '$2 ~ a" *$" && $12 == 0 { if ($6 > m) m = $6 } END { print m + 0 }' "$ROWS")
        before=$(awk -v r="$ref" '$1 == r { print $2 }' "$OUT/openssl-before.txt")
        after=$(awk -v r="$ref" '$1 == r { print $2 }' "$OUT/openssl-after.txt")
        awk -v op="$op ($alg)" -v t="$best" -v b="$before" -v a="$after" 'BEGIN {
            printf "| %s | %.0f | %s | %s | %.2f | %.2f |\n", op, t, b, a, (b > 0 ? t / b : 0), (a > 0 ? t / a : 0) }'
    done
fi
if [ -n "$SSM_OPS" ]; then
    echo
    echo "### Parameter Store"
    echo
    echo "$ROW_HEAD"
    echo "$ROW_RULE"
    awk -F' [|] ' '$2 ~ /Parameter/' "$ROWS"
fi
if [ -n "$SM_OPS" ]; then
    echo
    echo "### Secrets Manager"
    echo
    echo "$ROW_HEAD"
    echo "$ROW_RULE"
    awk -F' [|] ' '$2 ~ /SecretValue/' "$ROWS"
fi
if [ -s "$OUT/errors.txt" ]; then
    echo
    echo "!!! SOME RUNS HAD ERRORS:"
    cat "$OUT/errors.txt"
fi
