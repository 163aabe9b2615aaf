#!/usr/bin/env bash
# Cold-start benchmark of the deployable binaries: builds them with SAM
# (infra/deploy/build.sh, x86_64 by default here), then starts each one many
# times against a local Lambda Runtime API.
#   infra/bench/coldstart.sh [--runs 20] [--dir .aws-sam/build]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ -z "${SKIP_SAM_BUILD:-}" ]; then
  "$root/infra/deploy/build.sh" "${ARCH:-x86_64}"
fi
cargo build --release --quiet -p tools --bin bench-coldstart
"$root/target/release/bench-coldstart" "$@"
