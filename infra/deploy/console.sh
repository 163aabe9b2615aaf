#!/usr/bin/env bash
# Publishes the web console (console/) to the deployed stack: writes
# config.json from the stack's outputs, uploads the files to the console's
# bucket, removes what an earlier publish left behind, invalidates the
# distribution and prints the console's URL. Safe to run again.
#   infra/deploy/console.sh [--stack NAME] [--region REGION]
#   infra/deploy/console.sh --print-config-from OUTPUTS.json   (no AWS)
#   infra/deploy/console.sh --list-files                       (no AWS)
# The stack defaults to STACK_NAME, else samconfig.toml's stack_name; the
# region to AWS_REGION / AWS_DEFAULT_REGION, else the AWS profile's.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
"$root/infra/deploy/setup.sh"
# boto3 comes with the SAM CLI in .venv-deploy.
exec "$root/.venv-deploy/bin/python" "$root/infra/deploy/console.py" "$@"
