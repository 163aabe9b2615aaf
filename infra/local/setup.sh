#!/usr/bin/env bash
# Creates a project-local virtualenv with pinned tools: by default .venv
# with the local stack's (infra/local/requirements.txt).
#   infra/local/setup.sh [VENV_DIR REQUIREMENTS_FILE]
# Idempotent: reinstalls only when the requirements file changes.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${1:-$root/.venv}"
req="${2:-$root/infra/local/requirements.txt}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
echo "setup: installed $(grep -v '^#' "$req" | tr '\n' ' ')into $(basename "$venv")" >&2
