#!/usr/bin/env bash
# Publishes a video through the local stack (infra/local/up.sh), for an
# account connected with connect.sh: upload-presign records the upload and
# answers a presigned PUT; the file goes straight to S3 (moto), whose
# notification reaches upload-publish through the queue; it verifies the
# object and relays it to the sandbox's upload host; the sandbox's signed
# webhook reaches tiktok-webhook, which settles the upload.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
user="${1:-local-user-1}"
open_id="${2:?usage: publish.sh USER TIKTOK_OPEN_ID [FILE]}"
file="${3:-$root/tests/fixtures/sample.mp4}"
size="$(wc -c < "$file")"
name="$(basename "$file")"
case "$name" in
  *.mov) type=video/quicktime ;;
  *.webm) type=video/webm ;;
  *) type=video/mp4 ;;
esac

event="$state_dir/upload-create-event.json"
"$venv/bin/python" - "$user" "$open_id" "$name" "$type" "$size" > "$event" <<'PY'
import json, sys
user, open_id, name, content_type, size = sys.argv[1:]
event = json.load(open("infra/events/upload-presign-create.json"))
event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = user
body = json.loads(event["body"])
body.update(account_id=open_id, file_name=name, content_type=content_type, size_bytes=int(size))
event["body"] = json.dumps(body)
print(json.dumps(event))
PY
response="$(cargo lambda invoke upload-presign --invoke-port "$LAMBDA_PORT" --data-file "$event")"
read -r status upload_id upload_url < <("$venv/bin/python" -c '
import json, sys
r = json.load(sys.stdin); b = json.loads(r["body"])
print(r["statusCode"], b.get("upload_id", "-"), b.get("upload_url", json.dumps(b)))' <<<"$response")
if [ "$status" != 201 ]; then
  echo "upload-presign answered $status: $upload_url" >&2
  exit 1
fi
echo "1. upload-presign: upload $upload_id, a presigned PUT for $size bytes of $type"
curl -sf -X PUT -H "content-type: $type" --data-binary "@$file" "$upload_url" > /dev/null
echo "2. the file is in S3; its notification is on the publish queue"

get="$state_dir/upload-get-event.json"
sed -e "s/local-user-1/$user/" -e "s/00000000000000000000000000000000/$upload_id/g" \
  infra/events/upload-presign-get.json > "$get"
for _ in $(seq 1 120); do
  view="$(cargo lambda invoke upload-presign --invoke-port "$LAMBDA_PORT" --data-file "$get" \
    | "$venv/bin/python" -c 'import json,sys; print(json.loads(json.load(sys.stdin)["body"]))')"
  case "$view" in
    *"'status': 'published'"*|*"'status': 'failed'"*) break ;;
  esac
  sleep 1
done
echo "3. the upload now: $view"
