#!/usr/bin/env bash
# Token-refresh fan-out simulation: the real planner and workers on
# in-memory stand-ins in virtual time. Each scenario runs in its own
# process (so each reports its own peak memory), two at a time; then one
# table of them all.
#   infra/bench/simulate.sh                      # every scenario
#   infra/bench/simulate.sh 1m 1m-outage         # only the named ones
#   SIMULATE_FLAGS="--seed 2" infra/bench/simulate.sh   # extra flags for each
#   SIMULATE_JOBS=1 infra/bench/simulate.sh      # one scenario at a time
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cargo build --release --quiet -p tools --features simulation --bin simulate-refresh
bin="$root/target/release/simulate-refresh"
parallel="${SIMULATE_JOBS:-2}"

# name|flags (defaults: 2 h access tokens, 6 h simulated of which 2 h
# warm-up, 32 refreshes at once per worker, 256 MB workers).
scenarios=(
  "10k|--accounts 10000 --shards 16 --max-workers 2"
  "100k|--accounts 100000 --shards 64 --max-workers 2"
  "1m|--accounts 1000000 --shards 256 --max-workers 4"
  "1m-3-workers|--accounts 1000000 --shards 256 --max-workers 3 --sequential-sample 0"
  "1m-2-workers|--accounts 1000000 --shards 256 --max-workers 2 --sequential-sample 0"
  "1m-outage-2h|--accounts 1000000 --shards 256 --max-workers 4 --outage-hours 2 --hours 6.5 --sequential-sample 0"
  "1m-429-10pct|--accounts 1000000 --shards 256 --max-workers 5 --rate-429 0.1 --sequential-sample 0"
  "100k-outage-timeouts|--accounts 100000 --shards 64 --max-workers 2 --outage-hours 2 --outage-kind timeout --hours 6.5 --sequential-sample 0"
  "100k-mix-24h|--accounts 100000 --shards 64 --max-workers 2 --mix-24h 0.5 --hours 8 --sequential-sample 0"
)

wanted=("$@")
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
started=$SECONDS
i=0
failed=0
for entry in "${scenarios[@]}"; do
  name="${entry%%|*}"
  flags="${entry#*|}"
  if ((${#wanted[@]})) && [[ ! " ${wanted[*]} " == *" $name "* ]]; then
    continue
  fi
  while (($(jobs -rp | wc -l) >= parallel)); do
    wait -n || failed=1
  done
  echo "running $name: $flags ${SIMULATE_FLAGS:-}" >&2
  i=$((i + 1))
  # shellcheck disable=SC2086
  "$bin" --name "$name" $flags ${SIMULATE_FLAGS:-} --json >"$out/$(printf '%02d' "$i").jsonl" &
done
for pid in $(jobs -p); do
  wait "$pid" || failed=1
done
cat "$out"/*.jsonl | "$bin" --render
echo "total wall time: $((SECONDS - started)) s" >&2
exit "$failed"
