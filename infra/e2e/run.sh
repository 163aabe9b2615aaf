#!/usr/bin/env bash
# The end-to-end tests, against the whole local stack (CI runs them from
# infra/local/test.sh): brings the stack up with infra/local/up.sh, then
#   - the local HTTP API's tests (authorizer, routes, CORS, issuer),
#   - the console in headless Chromium (screenshots in .local/e2e/),
#   - every command the README shows and up.sh prints, in a new shell,
#   - schemathesis over every route of docs/openapi.yaml through the local
#     HTTP API: no 5xx, every status, content type and body as documented,
# and stops the stack again.
set -euo pipefail
source "$(dirname "$0")/../local/lib.sh"
cd "$root"

"$root/infra/e2e/setup.sh"
trap '"$root/infra/local/down.sh" >/dev/null 2>&1 || true' EXIT
# The stack under test does not hot-reload: a file written while the tests
# run (a cache, a screenshot) must not restart every function mid-request.
LAMBDA_WATCH_RELOAD=0 "$root/infra/local/up.sh" | tee "$state_dir/up.out"

echo "==> end-to-end tests: the local HTTP API, the console in Chromium, the printed commands"
"$root/.venv-e2e/bin/pytest" -q -p no:cacheprovider infra/e2e

echo "==> schemathesis: docs/openapi.yaml against the local HTTP API"
SCHEMATHESIS_HOOKS=infra.e2e.st_hooks "$root/.venv-e2e/bin/schemathesis" run docs/openapi.yaml \
  --url "http://127.0.0.1:$API_PORT" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing --max-examples 10 --request-timeout 30 \
  --seed 1 --generation-database none --no-color
