#!/usr/bin/env bash
# Creates ./.venv-deploy with the pinned deploy tools (SAM CLI, cargo-lambda,
# zig). Kept apart from the local stack's .venv: SAM and moto pin different
# versions of shared libraries.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-deploy"
requirements="$root/infra/deploy/requirements.txt"
stamp="$venv/.requirements"
if [ -x "$venv/bin/sam" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
