#!/usr/bin/env bash
# Posts fan-out benchmark: one media upload to many sandbox accounts.
# Starts moto on MOTO_PORT (5000) unless one answers there, and leaves it
# running; builds in release; the bench starts the TikTok sandbox as its
# own process and runs upload-publish in its own.
#   infra/bench/posts.sh [--size 200000000] [--targets 10] [--runs 3] [--concurrency 10]
set -euo pipefail
source "$(dirname "$0")/../local/lib.sh"
cd "$root"
"$root/infra/local/setup.sh"
start_moto >/dev/null
cargo build --release --quiet -p tools --bin bench-posts
cargo build --release --quiet -p tiktok-sandbox --bin tiktok-sandbox
AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" "$root/target/release/bench-posts" "$@"
