#!/usr/bin/env bash
# Walks the whole OAuth connect against the local stack (infra/local/up.sh):
# oauth-start for USER, TikTok's authorize page (the sandbox approves as
# OPEN_ID), the browser following the redirect to oauth-callback, and the
# signed-in app finishing the connect with the ticket it landed with.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
user="${1:-local-user-1}"
open_id="${2:-tt-$(date +%s)}"

event="$state_dir/oauth-start-event.json"
sed "s/local-user-1/$user/" infra/events/oauth-start.json > "$event"
response="$(cargo lambda invoke oauth-start --invoke-port "$LAMBDA_PORT" --data-file "$event")"
authorize_url="$(python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.loads(r["body"])["authorize_url"])' <<<"$response")"
echo "1. oauth-start for $user -> TikTok authorize URL:"
echo "   $authorize_url"

callback_url="$(curl -s -o /dev/null -w '%{redirect_url}' "$authorize_url&sandbox_user=$open_id")"
echo "2. TikTok (sandbox) approved as $open_id and redirects the browser to:"
echo "   ${callback_url%%\?*}?code=…&scopes=…&state=…"

result="$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$callback_url")"
echo "3. oauth-callback answered: ${result%%ticket=*}${result:+ticket=…}"
case "$result" in
  *status=pending*) ;;
  *) echo "The callback handed out no ticket: $result (see .local/watch.log)" >&2; exit 1 ;;
esac
ticket="$(python3 -c 'import sys, urllib.parse as u; print(u.parse_qs(u.urlsplit(sys.argv[1]).query)["ticket"][0])' "${result#* }")"

event="$state_dir/oauth-complete-event.json"
python3 - "$user" "$ticket" > "$event" <<'PY'
import json, sys
user, ticket = sys.argv[1], sys.argv[2]
event = json.load(open("infra/events/oauth-callback-complete.json"))
event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = user
event["body"] = json.dumps({"ticket": ticket})
print(json.dumps(event))
PY
response="$(cargo lambda invoke oauth-callback --invoke-port "$LAMBDA_PORT" --data-file "$event")"
rm -f "$event"
status="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["statusCode"])' <<<"$response")"
echo "4. POST /oauth/tiktok/complete as $user answered: $status"
if [ "$status" != 200 ]; then
  echo "The connect did not succeed: $response" >&2
  exit 1
fi
source "$state_dir/resources.env"
"$venv/bin/python" - "$TABLE_NAME" "$open_id" <<'PY'
import sys, boto3
table, open_id = sys.argv[1], sys.argv[2]
item = boto3.client("dynamodb").get_item(
    TableName=table, Key={"pk": {"S": f"ACCOUNT#{open_id}"}, "sk": {"S": "ACCOUNT"}}, ConsistentRead=True
)["Item"]
sealed = item["sealed_tokens"]["B"]
print(f"5. stored: account {open_id}, owner {item['owner']['S']}, status {item['status']['S']}, "
      f"token_version {item['token_version']['N']}, tokens sealed as {len(sealed)} bytes of KMS ciphertext")
PY
