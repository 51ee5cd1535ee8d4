#!/usr/bin/env bash
# Runs Trent's whole test suite on a fresh machine: formatting, lints, unit tests, and the
# integration tests that drive a real server with the AWS SDK for Rust, the aws CLI and boto3.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Python AWS clients the integration tests drive (and the Python Encryption SDK the
# interoperability tests compare against), in a project-local virtualenv.
venv=.venv
if [ ! -x "$venv/bin/aws" ] || ! "$venv/bin/python" -c 'import boto3, aws_encryption_sdk' 2>/dev/null; then
    echo "==> installing the aws CLI, boto3 and aws-encryption-sdk into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check awscli==1.45.11 boto3==1.43.11 aws-encryption-sdk==4.0.7
fi
# The official aws-encryption-sdk-cli pins an older aws-encryption-sdk, so it gets a venv of its own.
cli_venv=.venv-esdk-cli
if [ ! -x "$cli_venv/bin/aws-encryption-cli" ]; then
    echo "==> installing aws-encryption-sdk-cli into $cli_venv"
    python3 -m venv "$cli_venv"
    "$cli_venv/bin/pip" install --quiet --disable-pip-version-check aws-encryption-sdk-cli==4.3.0
fi
export TRENT_TEST_ESDK_CLI="$PWD/$cli_venv/bin/aws-encryption-cli"
export TRENT_TEST_AWS_CLI="$PWD/$venv/bin/aws"
export TRENT_TEST_PYTHON="$PWD/$venv/bin/python"
# Missing clients fail the run instead of skipping tests.
export TRENT_REQUIRE_CLIENTS=1

# A NATS server for the event delivery test (Debian package `nats-server`). Started here when it
# is installed and nothing listens on 4222 yet; the test skips, saying why, only when
# TRENT_TEST_NATS_URL is unset.
export TRENT_TEST_NATS_URL="${TRENT_TEST_NATS_URL:-nats://127.0.0.1:4222}"
nats_pid=
if [ "$TRENT_TEST_NATS_URL" = "nats://127.0.0.1:4222" ] && ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
    if command -v nats-server >/dev/null 2>&1; then
        echo "==> starting nats-server on 127.0.0.1:4222"
        nats-server --addr 127.0.0.1 --port 4222 >/dev/null 2>&1 &
        nats_pid=$!
        trap 'kill "$nats_pid"' EXIT
        for _ in $(seq 50); do
            (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break
            sleep 0.1
        done
    else
        echo "==> no NATS server on 127.0.0.1:4222 and no nats-server: install it with" \
            "'apt-get install nats-server' (the NATS delivery test will fail)"
    fi
fi

# SoftHSM2 for the PKCS#11 seal test (Debian package softhsm2), installed when missing; the
# test skips, saying why, only when TRENT_TEST_SOFTHSM_LIB stays unset.
find_softhsm() {
    for lib in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so; do
        if [ -e "$lib" ]; then echo "$lib"; return; fi
    done
}
if [ -z "${TRENT_TEST_SOFTHSM_LIB:-}" ]; then
    if [ -z "$(find_softhsm)" ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing softhsm2"
        as_root=
        [ "$(id -u)" = 0 ] || as_root=sudo
        { $as_root apt-get update -qq && $as_root apt-get install -y -qq softhsm2; } >/dev/null 2>&1 ||
            echo "==> could not install softhsm2: the PKCS#11 seal test will be skipped"
    fi
    lib=$(find_softhsm)
    if [ -n "$lib" ]; then export TRENT_TEST_SOFTHSM_LIB="$lib"; fi
fi

# gpg and age for the test of key shares encrypted to their holders' keys (Debian packages
# gnupg and age), installed when missing.
missing_tools=
command -v gpg >/dev/null 2>&1 || missing_tools="$missing_tools gnupg"
command -v age >/dev/null 2>&1 || missing_tools="$missing_tools age"
if [ -n "$missing_tools" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing$missing_tools"
    as_root=
    [ "$(id -u)" = 0 ] || as_root=sudo
    { $as_root apt-get update -qq && $as_root apt-get install -y -qq $missing_tools; } >/dev/null 2>&1 ||
        echo "==> could not install$missing_tools: the share encryption test will fail"
fi
# PostgreSQL and MariaDB for the secret rotation tests (the built-in rotators change real
# passwords). Started here when installed and not listening yet; the tests skip, saying why,
# only when the URLs are unset.
export TRENT_TEST_POSTGRES_URL="${TRENT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export TRENT_TEST_MYSQL_URL="${TRENT_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}"
start_service() { # <name> <port>
    if ! (exec 3<>/dev/tcp/127.0.0.1/"$2") 2>/dev/null && command -v service >/dev/null 2>&1; then
        echo "==> starting $1"
        as_root=
        [ "$(id -u)" = 0 ] || as_root=sudo
        $as_root service "$1" start >/dev/null 2>&1 || echo "==> could not start $1"
        for _ in $(seq 100); do
            (exec 3<>/dev/tcp/127.0.0.1/"$2") 2>/dev/null && break
            sleep 0.1
        done
    fi
}
start_service postgresql 5432
start_service mariadb 3306

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"; if [ -n "$nats_pid" ]; then kill "$nats_pid"; fi' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole run: cargo ends with the (empty) doc-test summaries.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "trent: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
