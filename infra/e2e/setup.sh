#!/usr/bin/env bash
# Creates .venv-e2e with the pinned end-to-end tools (requirements.txt) and
# makes sure Debian's Chromium is installed (the browser tests drive it;
# Playwright's own browser download is never used). Idempotent.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
"$root/infra/local/setup.sh" "$root/.venv-e2e" "$root/infra/e2e/requirements.txt"
if ! [ -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "Chromium is missing: install Debian's chromium package (apt-get install chromium)" >&2
    exit 1
  fi
  echo "setup: installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
fi
echo "setup: $(/usr/bin/chromium --version 2>/dev/null)" >&2
