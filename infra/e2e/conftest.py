"""The end-to-end tests' shared parts: the local stack's addresses (it must
be up: infra/e2e/run.sh brings it up), tokens from its issuer, the sandbox's
control API, and headless Chromium from Debian driven by Playwright."""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "local"))
import local_api  # noqa: E402

API = f"http://127.0.0.1:{os.environ.get('API_PORT', 3000)}"
CONSOLE = f"http://127.0.0.1:{os.environ.get('CONSOLE_PORT', 3001)}/"
ISSUER = f"http://127.0.0.1:{os.environ.get('ISSUER_PORT', 3002)}"
SANDBOX = f"http://127.0.0.1:{os.environ.get('SANDBOX_PORT', 9100)}"
AUDIENCE = "local-console"
ARTIFACTS = ROOT / ".local" / "e2e"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def key():
    return local_api.load_key(ROOT / ".local" / "issuer-key.json")


def token(user, **kwargs):
    return local_api.mint(key(), ISSUER, AUDIENCE, user, **kwargs)


def call(method, url, body=None, headers=None, form=None):
    """(status, headers, parsed JSON or raw bytes) for one HTTP request,
    redirects not followed; `body` is sent as JSON, `form` form-encoded."""
    data = None
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers.setdefault("content-type", "application/x-www-form-urlencoded")
    request = urllib.request.Request(url, data=data, headers=headers, method=method)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=60) as r:
            status, answer, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, answer, raw = e.code, e.headers, e.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw
    return status, answer, parsed


def sandbox(path, body):
    status, _, answer = call("POST", f"{SANDBOX}{path}", body)
    assert status < 300, (path, status, answer)
    return answer


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == [], f"the console threw: {errors}"
