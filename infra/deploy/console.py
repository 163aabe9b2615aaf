"""Publishes the web console to a deployed stack (run by console.sh).

    console.py [--stack NAME] [--region REGION]
    console.py --print-config-from OUTPUTS.json   # no AWS: prints config.json
    console.py --list-files                        # no AWS: what would be uploaded

Reads the stack's outputs, writes config.json from them, uploads every file
under console/ (but a local config.json) and that config.json to the
ConsoleBucket output, deletes what the bucket holds beyond them, and
invalidates /* on ConsoleDistributionId. Running it again publishes the
same files again: it is idempotent.
"""

import argparse
import json
import mimetypes
import os
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STACK = "tiktok-manager"
SCOPE = "openid email profile"
CONFIG = "config.json"

# The console's files are not fingerprinted, so the browser revalidates every
# one of them on each load (a 304 when unchanged) and never runs a new
# index.html with an old module. CloudFront keeps the assets for a day
# (s-maxage): each publish invalidates /*.
ENTRY_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=0, s-maxage=86400"
NO_CACHE = {"index.html", CONFIG}

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
}

# The outputs config.json is made of, and the ones publishing needs.
REQUIRED = ("ApiUrl", "IdentityIssuer", "IdentityClientId")
PUBLISHING = ("ConsoleBucketName", "ConsoleDistributionId", "ConsoleUrl")


class PublishError(Exception):
    pass


def outputs_of(document):
    """Stack outputs as {key: value}, from describe-stacks' shapes: the whole
    answer, one stack, its Outputs list, or a plain {key: value} map."""
    if isinstance(document, dict) and "Stacks" in document:
        document = document["Stacks"][0]
    if isinstance(document, dict) and "Outputs" in document:
        document = document["Outputs"]
    if isinstance(document, list):
        return {o["OutputKey"]: o["OutputValue"] for o in document}
    if isinstance(document, dict):
        return {str(k): str(v) for k, v in document.items()}
    raise PublishError("outputs: expected describe-stacks JSON or a {key: value} map")


def console_config(outputs):
    """config.json: the API, the issuer and client whose tokens it accepts,
    and the created user pool's endpoints when there is one (else the
    console reads the issuer's /.well-known/openid-configuration)."""
    missing = [k for k in REQUIRED if not outputs.get(k)]
    if missing:
        raise PublishError(
            f"the stack has no {', '.join(missing)} output: deploy the current template.yaml first"
        )
    config = {
        "apiUrl": outputs["ApiUrl"],
        "issuer": outputs["IdentityIssuer"],
        "clientId": outputs["IdentityClientId"],
    }
    endpoints = [outputs.get("AuthorizationEndpoint"), outputs.get("TokenEndpoint")]
    if all(endpoints):
        config["authorizationEndpoint"], config["tokenEndpoint"] = endpoints
    elif any(endpoints):
        raise PublishError("the stack has only one of AuthorizationEndpoint and TokenEndpoint")
    config["scope"] = SCOPE
    return config


def config_bytes(config):
    return (json.dumps(config, indent=2) + "\n").encode()


def content_type(name):
    suffix = Path(name).suffix.lower()
    known = CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0]
    if not known:
        raise PublishError(f"{name}: no content type known for {suffix or 'a file without extension'}")
    return known


def cache_control(key):
    return ENTRY_CACHE if key in NO_CACHE else ASSET_CACHE


def console_files(console_dir):
    """(key, path) of every file to publish, sorted; not a local config.json
    (the stack's is published instead), nor hidden files."""
    console_dir = Path(console_dir)
    if not (console_dir / "index.html").is_file():
        raise PublishError(f"{console_dir}: no index.html")
    files = []
    for path in sorted(console_dir.rglob("*")):
        key = path.relative_to(console_dir).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in key.split("/")):
            continue
        if key == CONFIG:
            continue
        files.append((key, path))
    return files


def uploads(console_dir, config):
    """(key, body, content type, cache control) for every object to publish,
    index.html last: a browser never loads a page whose files are not there yet."""
    planned = [(key, path.read_bytes()) for key, path in console_files(console_dir)]
    planned.append((CONFIG, config_bytes(config)))
    planned.sort(key=lambda item: item[0] == "index.html")
    return [(key, body, content_type(key), cache_control(key)) for key, body in planned]


def samconfig_value(key):
    """A value of samconfig.toml's default environment (deploy, then global)."""
    path = ROOT / "samconfig.toml"
    if not path.is_file():
        return None
    document = tomllib.loads(path.read_text())
    default = document.get("default", {})
    for command in ("deploy", "global"):
        value = default.get(command, {}).get("parameters", {}).get(key)
        if value:
            return value
    return None


def stack_outputs(session, stack):
    from botocore.exceptions import ClientError

    try:
        answer = session.client("cloudformation").describe_stacks(StackName=stack)
    except ClientError as e:
        raise PublishError(f"stack {stack}: {e.response['Error']['Message']}") from e
    return outputs_of(answer)


def publish(session, outputs, console_dir):
    missing = [k for k in PUBLISHING if not outputs.get(k)]
    if missing:
        raise PublishError(
            f"the stack has no {', '.join(missing)} output: deploy the current template.yaml first"
        )
    bucket = outputs["ConsoleBucketName"]
    distribution = outputs["ConsoleDistributionId"]
    planned = uploads(console_dir, console_config(outputs))
    s3 = session.client("s3")
    for key, body, kind, cache in planned:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=kind,
            CacheControl=cache,
        )
        print(f"  s3://{bucket}/{key}  {kind}  {cache}")
    # What an earlier publish left behind and this one no longer has.
    keep = {key for key, *_ in planned}
    stale = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        stale += [o["Key"] for o in page.get("Contents", []) if o["Key"] not in keep]
    for start in range(0, len(stale), 1000):
        batch = stale[start : start + 1000]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        for key in batch:
            print(f"  deleted s3://{bucket}/{key}")
    invalidation = session.client("cloudfront").create_invalidation(
        DistributionId=distribution,
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": f"console-{time.time_ns()}",
        },
    )["Invalidation"]["Id"]
    print(f"invalidation {invalidation} of /* on {distribution} (a minute or two)")
    return outputs["ConsoleUrl"]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Publish the web console to the deployed stack.")
    parser.add_argument(
        "--stack",
        default=os.environ.get("STACK_NAME") or samconfig_value("stack_name") or DEFAULT_STACK,
        help="stack name (STACK_NAME, else samconfig.toml's, else tiktok-manager)",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or samconfig_value("region"),
        help="the stack's region (AWS_REGION, AWS_DEFAULT_REGION, samconfig.toml, else the profile's)",
    )
    parser.add_argument("--console-dir", default=str(ROOT / "console"), help="the console's files")
    offline = parser.add_mutually_exclusive_group()
    offline.add_argument(
        "--print-config-from",
        metavar="OUTPUTS_JSON",
        help="no AWS: print the config.json these stack outputs give (describe-stacks JSON or {key: value})",
    )
    offline.add_argument("--list-files", action="store_true", help="no AWS: list what would be uploaded")
    args = parser.parse_args(argv)

    try:
        if args.print_config_from:
            outputs = outputs_of(json.loads(Path(args.print_config_from).read_text()))
            sys.stdout.write(config_bytes(console_config(outputs)).decode())
            return 0
        if args.list_files:
            placeholder = {k: f"<{k}>" for k in REQUIRED}
            for key, body, kind, cache in uploads(args.console_dir, console_config(placeholder)):
                print(f"{key}\t{len(body)} bytes\t{kind}\t{cache}")
            return 0
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        session = boto3.session.Session(region_name=args.region)
        if not session.region_name:
            raise PublishError("no region: set AWS_REGION (the stack's region)")
        print(f"stack {args.stack} in {session.region_name}")
        try:
            url = publish(session, stack_outputs(session, args.stack), args.console_dir)
        except (BotoCoreError, ClientError) as e:
            raise PublishError(str(e)) from e
        print(f"console: {url}")
        return 0
    except PublishError as e:
        print(f"console: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
