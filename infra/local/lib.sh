# Shared helpers for the local-stack scripts. Source it; do not run it.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
state_dir="$root/.local"
venv="$root/.venv"
MOTO_PORT="${MOTO_PORT:-5000}"
SANDBOX_PORT="${SANDBOX_PORT:-9100}"
LAMBDA_PORT="${LAMBDA_PORT:-9000}"
API_PORT="${API_PORT:-3000}"
CONSOLE_PORT="${CONSOLE_PORT:-3001}"
ISSUER_PORT="${ISSUER_PORT:-3002}"
export LAMBDA_PORT API_PORT CONSOLE_PORT ISSUER_PORT
export PATH="$venv/bin:$PATH"
mkdir -p "$state_dir"

# wait_for URL NAME: polls until URL answers, for up to 60 s.
wait_for() {
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.5
  done
  echo "$2 did not come up at $1 (see $state_dir/*.log)" >&2
  return 1
}

# wait_for_port PORT NAME: waits until something listens on 127.0.0.1:PORT.
wait_for_port() {
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "$2 did not come up on port $1 (see $state_dir/*.log)" >&2
  return 1
}

# start_moto: starts moto server on MOTO_PORT unless one already answers.
# Prints "started" when this call started it.
start_moto() {
  if curl -s -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/"; then
    return 0
  fi
  nohup "$venv/bin/python" "$root/infra/local/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT" \
    > "$state_dir/moto.log" 2>&1 &
  echo $! > "$state_dir/moto.pid"
  wait_for "http://127.0.0.1:$MOTO_PORT/moto-api/" "moto server"
  echo started
}

# start_private_moto PORT NAME: starts a fresh atomic moto of its own on PORT
# (for benchmarks), stopped when the calling script exits.
start_private_moto() {
  nohup "$venv/bin/python" "$root/infra/local/moto_server.py" -H 127.0.0.1 -p "$1" \
    > "$state_dir/$2-moto.log" 2>&1 &
  private_moto_pid=$!
  trap 'kill $private_moto_pid 2>/dev/null || true' EXIT
  wait_for "http://127.0.0.1:$1/moto-api/" "moto server"
}

# stop PIDFILE: stops the process recorded in PIDFILE, if any.
stop() {
  if [ -f "$1" ]; then
    kill "$(cat "$1")" 2>/dev/null || true
    rm -f "$1"
  fi
}

export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
