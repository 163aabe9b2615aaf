"""The local HTTP API does what API Gateway does in front of the functions:
the JWT authorizer, the routes of template.yaml, the two open routes, CORS,
and the local issuer's sign-in."""

import base64
import hashlib
import json
import subprocess
import time
import urllib.parse

import yaml
from joserfc import jwt
from joserfc.jwk import RSAKey

from conftest import API, AUDIENCE, CONSOLE, ISSUER, ROOT, call, key, token
import local_api


def bearer(value):
    return {"authorization": f"Bearer {value}"}


def assert_unauthorized(status, headers, body, why=None):
    assert status == 401
    assert body == {"message": "Unauthorized"}
    if why:
        assert why in headers["www-authenticate"], headers["www-authenticate"]


def test_a_valid_token_reaches_the_function_as_its_sub():
    status, headers, body = call("GET", f"{API}/accounts", headers=bearer(token("api-valid")))
    assert status == 200, body
    assert body == {"accounts": [], "next_cursor": None}
    assert headers["apigw-requestid"]


def test_no_token_is_refused_before_the_function():
    assert_unauthorized(*call("GET", f"{API}/accounts"))
    assert_unauthorized(*call("GET", f"{API}/accounts", headers={"authorization": "Bearer"}))


def test_bad_tokens_are_refused_with_the_reason():
    now = int(time.time())
    assert_unauthorized(*call("GET", f"{API}/accounts", headers=bearer("x.y.z")), why="invalid_token")
    expired = token("api-expired", seconds=-60)
    assert_unauthorized(*call("GET", f"{API}/accounts", headers=bearer(expired)), why="expired")
    other_audience = local_api.mint(key(), ISSUER, "someone-else", "api-aud")
    assert_unauthorized(*call("GET", f"{API}/accounts", headers=bearer(other_audience)), why="audience")
    other_issuer = local_api.mint(key(), "http://127.0.0.1:1/evil", AUDIENCE, "api-iss")
    assert_unauthorized(*call("GET", f"{API}/accounts", headers=bearer(other_issuer)), why="issuer")
    # Signed by a key the issuer never published, under the issuer's own kid.
    stranger = RSAKey.generate_key(2048, parameters={"kid": key().kid})
    forged = jwt.encode({"alg": "RS256", "kid": key().kid},
                        {"iss": ISSUER, "aud": AUDIENCE, "sub": "api-forged", "exp": now + 600}, stranger)
    assert_unauthorized(*call("GET", f"{API}/accounts", headers=bearer(forged)), why="signature")
    # alg none, and HS256 keyed with the public key: both refused.
    unsigned = ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
        for part in ({"alg": "none"}, {"iss": ISSUER, "aud": AUDIENCE, "sub": "api-none", "exp": now + 600})
    ) + "."
    assert_unauthorized(*call("GET", f"{API}/accounts", headers=bearer(unsigned)), why="algorithm")
    not_yet = jwt.encode({"alg": "RS256", "kid": key().kid},
                         {"iss": ISSUER, "aud": AUDIENCE, "sub": "api-nbf", "exp": now + 600, "nbf": now + 300}, key())
    assert_unauthorized(*call("GET", f"{API}/accounts", headers=bearer(not_yet)), why="not valid yet")


def test_path_parameters_and_the_query_reach_the_function():
    status, _, body = call("GET", f"{API}/accounts/tt-nobody", headers=bearer(token("api-path")))
    assert status == 404 and body["error"]["code"] == "not_found", body
    status, _, body = call("GET", f"{API}/accounts/tt-nobody/stats?from=2026-02-01&to=2026-01-01",
                           headers=bearer(token("api-query")))
    assert status == 400 and body["error"]["code"] == "invalid_range", body


def test_routes_not_in_the_template_are_api_gateways_404():
    for method, path in [("GET", "/nope"), ("PUT", "/accounts"), ("TRACE", "/accounts"), ("GET", "/posts/a/b")]:
        status, _, body = call(method, f"{API}{path}", headers=bearer(token("api-404")))
        assert (status, body) == (404, {"message": "Not Found"}), (method, path)


def test_the_callback_and_the_webhook_are_open():
    status, headers, _ = call("GET", f"{API}/oauth/tiktok/callback?code=c&state=forged")
    assert status == 302
    assert headers["location"].startswith(CONSOLE) and "reason=invalid_state" in headers["location"]
    status, _, body = call("POST", f"{API}/webhooks/tiktok", {"event": "x"})
    assert status == 401 and "error" in body, body  # the function's own refusal: no signature


def test_cors_allows_the_console_and_nobody_else():
    preflight = {"origin": CONSOLE.rstrip("/"), "access-control-request-method": "POST",
                 "access-control-request-headers": "authorization,content-type"}
    status, headers, _ = call("OPTIONS", f"{API}/posts", headers=preflight)
    assert status == 204
    assert headers["access-control-allow-origin"] == CONSOLE.rstrip("/")
    assert "authorization" in headers["access-control-allow-headers"]
    assert "POST" in headers["access-control-allow-methods"]
    status, headers, _ = call("OPTIONS", f"{API}/posts", headers={**preflight, "origin": "https://evil.example"})
    assert "access-control-allow-origin" not in headers
    _, headers, _ = call("GET", f"{API}/accounts",
                         headers={**bearer(token("api-cors")), "origin": "https://evil.example"})
    assert "access-control-allow-origin" not in headers


def test_token_sh_prints_a_token_the_api_accepts():
    printed = subprocess.run([str(ROOT / "infra/local/token.sh"), "api-token-sh"], capture_output=True,
                             text=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout.strip()
    status, _, body = call("GET", f"{API}/accounts", headers=bearer(printed))
    assert status == 200, body


def test_the_issuer_signs_in_with_pkce_only():
    status, _, doc = call("GET", f"{ISSUER}/.well-known/openid-configuration")
    assert status == 200 and doc["issuer"] == ISSUER and doc["code_challenge_methods_supported"] == ["S256"]
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect = CONSOLE
    form = {"response_type": "code", "client_id": AUDIENCE, "redirect_uri": redirect, "state": "s1",
            "code_challenge": challenge, "code_challenge_method": "S256", "username": "api-pkce"}

    def authorize(fields):
        status, headers, _ = call("POST", f"{ISSUER}/authorize", form=fields)
        return status, headers

    status, headers = authorize({**form, "redirect_uri": "https://evil.example/"})
    assert status == 400
    status, headers = authorize(form)
    assert status == 302
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["location"]).query)
    assert query["state"] == ["s1"]
    code = query["code"][0]

    def exchange(code, verifier):
        status, _, answer = call("POST", f"{ISSUER}/token", form={
            "grant_type": "authorization_code", "code": code, "client_id": AUDIENCE,
            "redirect_uri": redirect, "code_verifier": verifier})
        return status, answer

    status, answer = exchange(code, "w" * 50)
    assert status == 400 and answer["error"] == "invalid_grant"
    status, answer = exchange(code, verifier)  # the code was burned by the wrong verifier
    assert status == 400
    status, headers = authorize(form)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["location"]).query)["code"][0]
    status, answer = exchange(code, verifier)
    assert status == 200
    status, _, body = call("GET", f"{API}/accounts", headers=bearer(answer["id_token"]))
    assert status == 200, body


def test_the_document_and_the_template_name_the_same_routes():
    served = {(r.method, r.path) for r in local_api.Api(ROOT / "template.yaml").routes}
    document = yaml.safe_load((ROOT / "docs/openapi.yaml").read_text())
    described = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert served == described, {"only served": served - described, "only described": described - served}
