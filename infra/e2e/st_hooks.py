"""schemathesis hooks: every request is signed in, as a user of its own.

The API limits each user to 120 requests a minute; schemathesis sends far
more. A fresh bearer token from the local issuer every 50 requests, each for
a new user, keeps every request within the limit, so every answer comes from
the route's own logic, not the limiter.
"""

import itertools
import os
import sys
from pathlib import Path

import schemathesis

root = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(root / "infra" / "local"))
import local_api  # noqa: E402

KEY = local_api.load_key(root / ".local" / "issuer-key.json")
ISSUER = f"http://127.0.0.1:{os.environ.get('ISSUER_PORT', 3002)}"
AUDIENCE = os.environ.get("LOCAL_CLIENT_ID", "local-console")
COUNTER = itertools.count()


@schemathesis.auth(refresh_interval=None)
class RotatingUsers:
    def get(self, case, ctx):
        return local_api.mint(KEY, ISSUER, AUDIENCE, f"openapi-{next(COUNTER) // 50}")

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
