#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, cfn-lint and
# `sam validate --lint` on template.yaml, then unit and integration tests (against moto server and the TikTok
# sandbox, which the tests start themselves), then the end-to-end tests
# against the whole local stack (infra/e2e/run.sh; SKIP_E2E=1 skips them).
# Starts moto if it is not already running, and stops it again if it
# started it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

"$root/infra/local/setup.sh"

echo "==> rustfmt"
cargo fmt --all -- --check
echo "==> clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cfn-lint"
cfn-lint template.yaml
echo "==> sam validate --lint"
"$root/infra/deploy/setup.sh"
SAM_CLI_TELEMETRY=0 "$root/.venv-deploy/bin/sam" validate --lint --region us-east-1

started="$(start_moto)"
cleanup() { if [ "$started" = started ]; then stop "$state_dir/moto.pid"; fi; }
trap cleanup EXIT

echo "==> tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

if [ "${SKIP_E2E:-}" != 1 ]; then
  # The stack brings up its own moto (up.sh resets it); the tests' is done.
  cleanup
  trap - EXIT
  echo "==> end-to-end tests"
  "$root/infra/e2e/run.sh"
fi
