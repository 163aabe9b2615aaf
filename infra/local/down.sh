#!/usr/bin/env bash
# Stops the local stack started by up.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
stop "$state_dir/local-api.pid"
stop "$state_dir/pump.pid"
stop "$state_dir/refresh-pump.pid"
stop "$state_dir/analytics-pump.pid"
stop "$state_dir/scheduler.pid"
stop "$state_dir/watch.pid"
stop "$state_dir/sandbox.pid"
stop "$state_dir/moto.pid"
echo "local stack stopped"
