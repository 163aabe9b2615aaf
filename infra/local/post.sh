#!/usr/bin/env bash
# Schedules one video to two accounts through the local stack
# (infra/local/up.sh): connects both for USER (connect.sh), records a media
# upload with upload-presign and PUTs the file straight to S3 (moto), whose
# notification lets upload-publish verify it; posts it with posts-api to
# both accounts LEAD_SECONDS (default 90) ahead; then infra/local/scheduler.py
# fires the post's schedule into the publish queue, upload-publish publishes
# each target, and the sandbox's signed webhooks settle them. (A post due
# within a minute rides the queue's delay instead of a schedule: EventBridge
# Scheduler fires with a minute's precision.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
user="${1:-local-user-1}"
stamp="$(date +%s)"
first="${2:-tt-$stamp-1}"
second="${3:-tt-$stamp-2}"
file="${4:-$root/tests/fixtures/sample.mp4}"
size="$(wc -c < "$file")"
name="$(basename "$file")"
case "$name" in
  *.mov) type=video/quicktime ;;
  *.webm) type=video/webm ;;
  *) type=video/mp4 ;;
esac

# body_of: a function's answer (on stdin) as "STATUS BODY", the body on one line.
body_of() {
  "$venv/bin/python" -c '
import json, sys
r = json.load(sys.stdin)
print(r["statusCode"], " ".join((r.get("body") or "{}").split()))'
}

# field JSON KEY: one value of a JSON object.
field() {
  "$venv/bin/python" -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2]))' "$1" "$2"
}

for open_id in "$first" "$second"; do
  echo "==> connecting $open_id for $user"
  "$root/infra/local/connect.sh" "$user" "$open_id" | sed 's/^/    /'
done

event="$state_dir/media-create-event.json"
"$venv/bin/python" - "$user" "$name" "$type" "$size" > "$event" <<'PY'
import json, sys
user, name, content_type, size = sys.argv[1:]
event = json.load(open("infra/events/upload-presign-create.json"))
event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = user
event["body"] = json.dumps({"file_name": name, "content_type": content_type, "size_bytes": int(size)})
print(json.dumps(event))
PY
read -r status body < <(cargo lambda invoke upload-presign --invoke-port "$LAMBDA_PORT" --data-file "$event" | body_of)
if [ "$status" != 201 ]; then
  echo "upload-presign answered $status: $body" >&2
  exit 1
fi
media_id="$(field "$body" upload_id)"
url="$(field "$body" upload_url)"
# The headers the presigned PUT was signed with (content-type, x-amz-tagging).
mapfile -t headers < <("$venv/bin/python" -c '
import json, sys
for k, v in (json.loads(sys.argv[1]).get("headers") or {}).items():
    print("-H"); print(f"{k}: {v}")' "$body")
echo "1. upload-presign: media $media_id, a presigned PUT for $size bytes of $type"
curl -sf -X PUT "${headers[@]}" --data-binary "@$file" "$url" > /dev/null
echo "2. the file is in S3 under media/; its notification is on the publish queue"

get="$state_dir/media-get-event.json"
sed -e "s/local-user-1/$user/" -e "s/00000000000000000000000000000000/$media_id/g" \
  infra/events/upload-presign-get.json > "$get"
for _ in $(seq 1 60); do
  read -r status body < <(cargo lambda invoke upload-presign --invoke-port "$LAMBDA_PORT" --data-file "$get" | body_of)
  media="$(field "$body" status)"
  case "$media" in ready|failed) break ;; esac
  sleep 1
done
echo "3. the media is $media: $body"
if [ "$media" != ready ]; then
  echo "The media is not ready (see .local/pump.log and watch.log)" >&2
  exit 1
fi

event="$state_dir/post-create-event.json"
"$venv/bin/python" - "$user" "$media_id" "$first" "$second" "${LEAD_SECONDS:-90}" > "$event" <<'PY'
import datetime, json, sys
user, media_id, first, second, lead = sys.argv[1:]
at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=int(lead))
event = json.load(open("infra/events/posts-api-create.json"))
event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = user
event["body"] = json.dumps({
    "upload_id": media_id,
    "mode": "direct",
    "post": {"title": "Scheduled from the local stack #test", "privacy_level": "SELF_ONLY"},
    "targets": [{"account_id": first}, {"account_id": second}],
    "publish_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
})
print(json.dumps(event))
PY
read -r status body < <(cargo lambda invoke posts-api --invoke-port "$LAMBDA_PORT" --data-file "$event" | body_of)
if [ "$status" != 201 ]; then
  echo "posts-api answered $status: $body" >&2
  exit 1
fi
post_id="$(field "$body" post_id)"
publish_at="$(field "$body" publish_at)"
echo "4. posts-api: post $post_id to $first and $second at $publish_at (schedule post-$post_id)"

get="$state_dir/post-get-event.json"
sed -e "s/local-user-1/$user/" -e "s/0123456789abcdef0123456789abcdef/$post_id/g" \
  infra/events/posts-api-get.json > "$get"
echo "5. the targets, every 5 s until each is published or failed (5 minutes at most):"
deadline=$((SECONDS + 300))
while :; do
  read -r status body < <(cargo lambda invoke posts-api --invoke-port "$LAMBDA_PORT" --data-file "$get" | body_of)
  read -r settled line < <("$venv/bin/python" -c '
import json, sys
status, post = sys.argv[1], json.loads(sys.argv[2])
if status != "200":
    print("no", "posts-api answered", status, post)
    sys.exit()
parts = []
for t in post["targets"]:
    error = t.get("error")
    parts.append(t["account_id"] + " " + t["status"] + (" (" + str(error) + ")" if error else ""))
settled = all(t["status"] in ("published", "failed", "cancelled") for t in post["targets"])
print("yes" if settled else "no", "post", post["status"] + ":", ", ".join(parts))' "$status" "$body")
  echo "   $(date -u +%H:%M:%S) $line"
  if [ "$settled" = yes ]; then break; fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "The post did not settle in 5 minutes (see .local/scheduler.log, pump.log, watch.log)" >&2
    exit 1
  fi
  sleep 5
done
