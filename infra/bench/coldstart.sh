#!/usr/bin/env bash
# Cold-start benchmark of the deployable binaries, side by side with
# lambda_runtime's hello world: builds them with SAM (infra/deploy/build.sh,
# x86_64 by default here) and the hello world with cargo lambda exactly as
# SAM builds a function (release profile, zig), then starts each one many
# times, interleaved, against a local Lambda Runtime API. Prints per
# function the median and p90 init and first-event times, the ratio of its
# median init to the hello world's, and the binary's size; --steps adds
# where each function's init goes.
#   infra/bench/coldstart.sh [--runs 20] [--steps] [--dir .aws-sam/build]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
arch="${ARCH:-x86_64}"
if [ -z "${SKIP_SAM_BUILD:-}" ]; then
  "$root/infra/deploy/build.sh" "$arch"
fi
# As SAM's rust-cargolambda builder runs it (zig from .venv-deploy).
arch_flag=()
[ "$arch" = arm64 ] && arch_flag=(--arm64)
PATH="$root/.venv-deploy/bin:$PATH" cargo lambda build --release --quiet \
  --bin hello-lambda "${arch_flag[@]}"
hello="$root/target/lambda/hello-lambda/bootstrap"
cargo build --release --quiet -p tools --bin bench-coldstart
"$root/target/release/bench-coldstart" --hello "$hello" "$@"
