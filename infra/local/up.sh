#!/usr/bin/env bash
# Brings up the whole local stack from a fresh clone:
#   moto server (DynamoDB, KMS, S3, SQS, EventBridge Scheduler) with the
#   table, key, bucket, queues and schedule group created from
#   template.yaml; the TikTok sandbox; the functions under `cargo lambda
#   watch`; pollers feeding the publish queue to upload-publish and the
#   refresh queue to refresh-worker (fan-out, as deployed) and the
#   analytics queue to analytics-snapshot; a stand-in
#   for EventBridge Scheduler that fires the posts' schedules; and the
#   template's HTTP API on :3000 (infra/local/local_api.py: its routes, JWT
#   authorizer and CORS, read from template.yaml), with a local OpenID
#   Connect issuer on :3002 and the web console on :3001. Then prints how to
#   sign in to the console, and how to connect an account, publish, post,
#   and refresh from the command line.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

"$root/infra/local/setup.sh"
"$root/infra/local/down.sh" >/dev/null 2>&1 || true

echo "==> building the workspace"
cargo build --workspace --bins --quiet

echo "==> moto server on :$MOTO_PORT"
start_moto >/dev/null
curl -s -X POST "http://127.0.0.1:$MOTO_PORT/moto-api/reset" >/dev/null
"$root/target/debug/provision" local > "$state_dir/resources.env"
# shellcheck disable=SC1091
source "$state_dir/resources.env"
echo "    table $TABLE_NAME, key $TOKEN_KEY_ALIAS, bucket $UPLOAD_BUCKET (from template.yaml)"

# As deployed, TikTok redirects to the HTTP API's callback and sends its
# webhooks to the API's webhook route; the callback sends the browser on to
# the console.
api_url="http://127.0.0.1:$API_PORT"
console_url="http://127.0.0.1:$CONSOLE_PORT/"
redirect_uri="$api_url/oauth/tiktok/callback"
echo "==> TikTok sandbox on :$SANDBOX_PORT"
SANDBOX_ADDR="127.0.0.1:$SANDBOX_PORT" \
SANDBOX_CLIENT_KEY=local_client_key \
SANDBOX_CLIENT_SECRET=local_client_secret \
SANDBOX_REDIRECT_URIS="$redirect_uri" \
SANDBOX_WEBHOOK_URL="$api_url/webhooks/tiktok" \
SANDBOX_APP_AUDITED=false \
SANDBOX_UNAUDITED_USER_CAP="${SANDBOX_UNAUDITED_USER_CAP:-5}" \
  nohup "$root/target/debug/tiktok-sandbox" > "$state_dir/sandbox.log" 2>&1 &
echo $! > "$state_dir/sandbox.pid"
wait_for "http://127.0.0.1:$SANDBOX_PORT/sandbox/calls" "the TikTok sandbox"

cat > "$state_dir/functions.env" <<ENV
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_REGION=$AWS_REGION
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
TABLE_NAME=$TABLE_NAME
TOKEN_KEY_ID=$TOKEN_KEY_ALIAS
UPLOAD_BUCKET=$UPLOAD_BUCKET
TIKTOK_CLIENT_KEY=local_client_key
TIKTOK_CLIENT_SECRET=local_client_secret
TIKTOK_AUTH_URL=http://127.0.0.1:$SANDBOX_PORT/v2/auth/authorize/
TIKTOK_API_BASE_URL=http://127.0.0.1:$SANDBOX_PORT
TIKTOK_UPLOAD_ORIGINS=http://127.0.0.1:$SANDBOX_PORT
# A new TikTok app is unaudited, as the sandbox plays it: private posts only.
TIKTOK_APP_AUDITED=false
OAUTH_REDIRECT_URI=$redirect_uri
APP_RETURN_URL=$console_url
PUBLISH_QUEUE_URL=$PUBLISH_QUEUE_URL
PUBLISH_STATUS_CHECK_SECONDS=60
# Posts' schedules: infra/local/scheduler.py fires them into the publish queue.
PUBLISH_QUEUE_ARN=$PUBLISH_QUEUE_ARN
POST_SCHEDULE_GROUP=$POST_SCHEDULE_GROUP
POST_SCHEDULER_ROLE_ARN=$POST_SCHEDULER_ROLE_ARN
POST_SCHEDULE_DLQ_ARN=$POST_SCHEDULE_DLQ_ARN
# Refresh as the template deploys it: token-refresh plans, refresh-worker
# refreshes each slice the refresh queue's poller hands it.
REFRESH_MODE=fanout
REFRESH_QUEUE_URL=$REFRESH_QUEUE_URL
# The daily snapshot as deployed: analytics-snapshot plans one slice per
# shard onto the analytics queue, whose poller hands them back to it.
ANALYTICS_QUEUE_URL=$ANALYTICS_QUEUE_URL
# cargo lambda watch runs every function with one environment: the longest
# timeout the template gives any of them, and room for the emulator's slower
# calls (4 s a call: the most with which accounts-api's forced refresh still
# fits the HTTP API's 30 s, which it checks at cold start).
FUNCTION_TIMEOUT_SECONDS=900
AWS_OPERATION_TIMEOUT_SECONDS=4
RUST_LOG=info
ENV

echo "==> functions under cargo lambda watch on :$LAMBDA_PORT"
# LAMBDA_WATCH_RELOAD=0 (the end-to-end tests): no reload on file changes.
watch_flags=()
if [ "${LAMBDA_WATCH_RELOAD:-1}" = 0 ]; then watch_flags+=(--ignore-changes); fi
nohup cargo lambda watch "${watch_flags[@]}" --invoke-port "$LAMBDA_PORT" --timeout 900 --env-file "$state_dir/functions.env" \
  > "$state_dir/watch.log" 2>&1 &
echo $! > "$state_dir/watch.pid"
wait_for_port "$LAMBDA_PORT" "cargo lambda watch"

echo "==> the HTTP API on :$API_PORT (routes and authorizer from template.yaml), issuer :$ISSUER_PORT, console :$CONSOLE_PORT"
nohup "$venv/bin/python" "$root/infra/local/local_api.py" serve \
  > "$state_dir/local-api.log" 2>&1 &
echo $! > "$state_dir/local-api.pid"
wait_for "http://127.0.0.1:$ISSUER_PORT/.well-known/openid-configuration" "the local issuer"
wait_for "$console_url" "the console"
wait_for_port "$API_PORT" "the local HTTP API"

echo "==> publish queue -> upload-publish (as Lambda's SQS poller)"
nohup "$venv/bin/python" "$root/infra/local/sqs_pump.py" "$PUBLISH_QUEUE_URL" \
  "http://127.0.0.1:$LAMBDA_PORT/2015-03-31/functions/upload-publish/invocations" \
  > "$state_dir/pump.log" 2>&1 &
echo $! > "$state_dir/pump.pid"

echo "==> refresh queue -> refresh-worker (as Lambda's SQS poller, 4 at once)"
nohup "$venv/bin/python" "$root/infra/local/sqs_pump.py" "$REFRESH_QUEUE_URL" \
  "http://127.0.0.1:$LAMBDA_PORT/2015-03-31/functions/refresh-worker/invocations" 4 \
  > "$state_dir/refresh-pump.log" 2>&1 &
echo $! > "$state_dir/refresh-pump.pid"

echo "==> analytics queue -> analytics-snapshot (as Lambda's SQS poller, 4 at once)"
nohup "$venv/bin/python" "$root/infra/local/sqs_pump.py" "$ANALYTICS_QUEUE_URL" \
  "http://127.0.0.1:$LAMBDA_PORT/2015-03-31/functions/analytics-snapshot/invocations" 4 \
  > "$state_dir/analytics-pump.log" 2>&1 &
echo $! > "$state_dir/analytics-pump.pid"

echo "==> schedule group $POST_SCHEDULE_GROUP -> publish queue (as EventBridge Scheduler)"
nohup "$venv/bin/python" "$root/infra/local/scheduler.py" "$POST_SCHEDULE_GROUP" \
  > "$state_dir/scheduler.log" 2>&1 &
echo $! > "$state_dir/scheduler.pid"

cat <<MSG

The local stack is up.

The console: $console_url
    Sign in with any user name (the local issuer trusts it), connect a
    TikTok account (the sandbox's consent page lets you pick its user),
    upload a video and publish it.

The HTTP API, as API Gateway serves it, with a bearer token for a user:

    curl -H "authorization: Bearer \$(infra/local/token.sh alice)" $api_url/accounts

Or connect a TikTok account (the whole OAuth dance,
through the functions, against the sandbox):

    infra/local/connect.sh alice tt-alice-1        # or: connect.sh [user] [tiktok_open_id]

Then publish a video to it (presigned upload to S3, then upload-publish
relays it to the sandbox's upload host, and the sandbox's signed webhook
settles it):

    infra/local/publish.sh alice tt-alice-1        # or: publish.sh user tiktok_open_id [file.mp4]

Or schedule one video to two accounts 90 s ahead (connects both,
uploads the media, posts through posts-api; the local scheduler fires the
post's schedule and upload-publish publishes each target):

    infra/local/post.sh alice tt-a tt-b            # or: post.sh [user] [open_id_1] [open_id_2] [file.mp4]

Or step by step, through the HTTP API as a client would:
    curl -s -H "authorization: Bearer \$(infra/local/token.sh alice)" $api_url/oauth/tiktok/start
    curl -si '<authorize_url>&sandbox_user=tt-1'          # TikTok approves: 302 to the callback
    curl -si '<the Location above>'                        # the callback: 302 to the console, with a ticket
    curl -s -H "authorization: Bearer \$(infra/local/token.sh alice)" -H 'content-type: application/json' \\
      -d '{"ticket":"<the ticket>"}' $api_url/oauth/tiktok/complete

Refresh every due account as the schedule does (token-refresh plans one
slice per shard onto the refresh queue; refresh-worker refreshes them):

    .venv/bin/cargo-lambda lambda invoke token-refresh --data-file infra/events/token-refresh-scheduled.json
    .venv/bin/cargo-lambda lambda invoke token-refresh --data-file infra/events/token-refresh-dry-run.json

Take today's analytics snapshot as the daily schedule does (analytics-snapshot
plans one slice per shard onto the analytics queue and works each), then read it:

    .venv/bin/cargo-lambda lambda invoke analytics-snapshot --data-file infra/events/analytics-snapshot-scheduled.json
    .venv/bin/cargo-lambda lambda invoke analytics-api --data-file infra/events/analytics-api-summary.json

Logs are in .local/*.log; stop everything with infra/local/down.sh.
MSG
