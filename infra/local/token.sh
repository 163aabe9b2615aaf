#!/usr/bin/env bash
# Prints a bearer token for USER from the local stack's issuer (the one the
# local HTTP API's JWT authorizer trusts), valid for an hour:
#   curl -H "authorization: Bearer $(infra/local/token.sh alice)" http://127.0.0.1:3000/accounts
#   infra/local/token.sh USER [--expires-in SECONDS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
if [ $# -lt 1 ]; then
  echo "usage: infra/local/token.sh USER [--expires-in SECONDS]" >&2
  exit 2
fi
if [ ! -f "$state_dir/issuer-key.json" ]; then
  echo "no local issuer key yet: start the stack with infra/local/up.sh" >&2
  exit 1
fi
exec "$venv/bin/python" "$root/infra/local/local_api.py" token "$@"
