#!/usr/bin/env bash
# `sam build` without Docker: cargo lambda builds each function in release,
# linking with zig. ARCH defaults to the template's arm64; pass x86_64 on a
# machine without the aarch64 Rust target.
#   infra/deploy/build.sh [arm64|x86_64]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
"$root/infra/deploy/setup.sh"
arch="${1:-arm64}"
# SAM runs cargo lambda through the first python3 on PATH, which must have zig.
export PATH="$root/.venv-deploy/bin:$PATH"
export SAM_CLI_TELEMETRY=0
cd "$root"
sam validate --lint
sam build --no-use-container --parameter-overrides "Architecture=$arch"
ls -l .aws-sam/build/*/bootstrap
