#!/usr/bin/env bash
# Creates .venv-e2e with the pinned end-to-end tools (requirements.txt) and
# makes sure Debian's Chromium is installed (the browser tests drive it;
# Playwright's own browser download is never used). Idempotent.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-e2e"
req="$root/infra/e2e/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if ! [ -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
  echo "setup: installed the end-to-end tools into .venv-e2e" >&2
fi
if ! [ -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "Chromium is missing: install Debian's chromium package (apt-get install chromium)" >&2
    exit 1
  fi
  echo "setup: installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
fi
