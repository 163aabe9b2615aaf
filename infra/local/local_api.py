#!/usr/bin/env python3
"""The template's HTTP API on the local stack, as API Gateway serves it.

    local_api.py serve    the HTTP API (:3000), the local issuer (:3002) and the console (:3001)
    local_api.py token U  prints a bearer token for user U, signed by the local issuer

The HTTP API reads its routes, their authorization and its CORS settings from
template.yaml (every `Type: HttpApi` event of every function), so the local
API cannot drift from the deployed one. For each request it does what API
Gateway's JWT authorizer and its payload-format-2.0 integration do:

- a route that needs the authorizer gets the bearer token from the
  Authorization header verified: RS256 signature against the issuer's JWKS
  (found through its OpenID discovery document), `iss`, `aud` or
  `client_id`, `exp`, `nbf` and `iat`. Anything wrong: 401
  {"message":"Unauthorized"}, with a `www-authenticate` header saying why;
- the event carries the claims (as strings), the path parameters, the
  query string, the headers (lower-cased), cookies and the body (base64 when
  it is not text), and goes to the function under `cargo lambda watch`;
- the function's response (status, headers, cookies, body) goes back as is;
  a function that fails gives 500 {"message":"Internal Server Error"}, an
  unknown route 404 {"message":"Not Found"}, a body over 10 MB 413;
- CORS preflights are answered by the API itself, for the origins given
  here (the template's own origin is the deployed console's CloudFront
  domain) with the template's methods, headers and max age.

Not emulated: throttling (the template's per-route limits) and custom
domains. The local issuer is a minimal OpenID Connect provider for the
console: a sign-in page that asks only for a user name, the authorization
code flow with PKCE (S256), and RS256 ID tokens. It is for development only.
"""

import argparse
import base64
import datetime
import hashlib
import html
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

MAX_BODY = 10 * 1024 * 1024
TOKEN_SECONDS = 3600
CODE_SECONDS = 60
TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml")


# ---------------------------------------------------------------- template


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !Sub, !If …) as plain values."""


def _any_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {f"Fn::{suffix}": loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {f"Fn::{suffix}": loader.construct_sequence(node, deep=True)}
    return {f"Fn::{suffix}": loader.construct_mapping(node, deep=True)}


_TemplateLoader.add_multi_constructor("!", _any_tag)


class Route:
    def __init__(self, method, path, function, authorized):
        self.method = method
        self.path = path
        self.function = function
        self.authorized = authorized
        self.key = f"{method} {path}"
        parts = []
        for segment in path.strip("/").split("/"):
            if segment.startswith("{") and segment.endswith("+}"):
                parts.append(f"(?P<{segment[1:-2]}>.+)")
            elif segment.startswith("{") and segment.endswith("}"):
                parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
            else:
                parts.append(re.escape(segment))
        self.pattern = re.compile("^/" + "/".join(parts) + "$")
        # API Gateway prefers the most specific route: literal segments first.
        self.specificity = sum(1 for s in path.split("/") if s and not s.startswith("{"))

    def match(self, method, path):
        if method != self.method and self.method != "ANY":
            return None
        found = self.pattern.match(path)
        if not found:
            return None
        return {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}


class Api:
    """The HttpApi of template.yaml: its routes and CORS settings."""

    def __init__(self, template_path):
        doc = yaml.load(Path(template_path).read_text(), Loader=_TemplateLoader)
        resources = doc["Resources"]
        apis = {name: r for name, r in resources.items() if r.get("Type") == "AWS::Serverless::HttpApi"}
        if len(apis) != 1:
            raise SystemExit(f"template.yaml: expected one AWS::Serverless::HttpApi, found {len(apis)}")
        (api_name, api), = apis.items()
        props = api.get("Properties", {})
        default_auth = props.get("Auth", {}).get("DefaultAuthorizer")
        cors = props.get("CorsConfiguration") or {}
        # SAM takes a condition only over the whole configuration: the branch
        # without the deployer's extra origins (the origins are replaced here).
        if isinstance(cors, dict) and "Fn::If" in cors:
            cors = cors["Fn::If"][2]
        self.cors = cors if isinstance(cors, dict) else {}
        self.routes = []
        for name, resource in resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            for event in (resource.get("Properties", {}).get("Events") or {}).values():
                if event.get("Type") != "HttpApi":
                    continue
                ep = event.get("Properties", {})
                if ep.get("ApiId") not in ({"Fn::Ref": api_name}, None):
                    continue
                if not binary:
                    raise SystemExit(f"template.yaml: {name} serves HTTP but names no Binary")
                authorizer = (ep.get("Auth") or {}).get("Authorizer", default_auth)
                self.routes.append(
                    Route(ep["Method"].upper(), ep["Path"], binary, authorizer not in (None, "NONE"))
                )
        self.routes.sort(key=lambda r: -r.specificity)

    def find(self, method, path):
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None, None

    def cors_list(self, key):
        value = self.cors.get(key) or []
        return [str(v).lower() for v in value if isinstance(v, str)]


# ---------------------------------------------------------------- the issuer's key and tokens


def load_key(path):
    """The issuer's RSA key, created on first use (0600)."""
    path = Path(path)
    if path.exists():
        return RSAKey.import_key(json.loads(path.read_text()))
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"}, auto_kid=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(key.as_dict(private=True), f)
    return key


def mint(key, issuer, audience, user, seconds=TOKEN_SECONDS, nonce=None, now=None):
    now = int(now if now is not None else time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": user,
        "name": user,
        "iat": now,
        "exp": now + seconds,
        "token_use": "id",
    }
    if nonce:
        claims["nonce"] = nonce
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)


# ---------------------------------------------------------------- the JWT authorizer


class Unauthorized(Exception):
    def __init__(self, description=None):
        super().__init__(description or "")
        self.description = description


class Authorizer:
    """API Gateway's JWT authorizer: the issuer's JWKS, by its discovery document."""

    def __init__(self, issuer, audiences):
        self.issuer = issuer.rstrip("/")
        self.audiences = set(audiences)
        self.keys = None
        self.fetched_at = 0.0
        self.lock = threading.Lock()

    def _jwks(self, refresh=False):
        with self.lock:
            if self.keys is not None and not (refresh and time.time() - self.fetched_at > 5):
                return self.keys
            with urllib.request.urlopen(f"{self.issuer}/.well-known/openid-configuration", timeout=5) as r:
                jwks_uri = json.load(r)["jwks_uri"]
            with urllib.request.urlopen(jwks_uri, timeout=5) as r:
                self.keys = KeySet.import_key_set(json.load(r))
            self.fetched_at = time.time()
            return self.keys

    def verify(self, header_value):
        if not header_value:
            raise Unauthorized()
        value = header_value.strip()
        if value.lower().startswith("bearer "):
            value = value[7:].strip()
        try:
            header = json.loads(_b64(value.split(".")[0]))
        except (ValueError, IndexError):
            raise Unauthorized("the token is not a JWT") from None
        if header.get("alg") != "RS256":
            raise Unauthorized("the token's algorithm is not supported")
        keys = self._jwks()
        if header.get("kid") not in {k.kid for k in keys.keys}:
            keys = self._jwks(refresh=True)
        try:
            token = jwt.decode(value, keys, algorithms=["RS256"])
        except (JoseError, ValueError):
            raise Unauthorized("signing method RS256 is invalid or the signature does not match") from None
        claims = token.claims
        now = time.time()
        if claims.get("iss") != self.issuer:
            raise Unauthorized("the token does not have a valid issuer")
        aud = claims.get("aud")
        auds = set(aud if isinstance(aud, list) else [aud]) | {claims.get("client_id")}
        if not (auds & self.audiences):
            raise Unauthorized("the token does not have a valid audience")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp <= now:
            raise Unauthorized("the token has expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, (int, float)) and nbf > now:
            raise Unauthorized("the token is not valid yet")
        iat = claims.get("iat")
        if isinstance(iat, (int, float)) and iat > now + 60:
            raise Unauthorized("the token was issued in the future")
        return claims


def _b64(segment):
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def claims_as_strings(claims):
    """API Gateway hands the function every claim as a string; lists as "[a b]"."""
    out = {}
    for name, value in claims.items():
        if isinstance(value, list):
            out[name] = "[" + " ".join(str(v) for v in value) + "]"
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, (dict,)):
            out[name] = json.dumps(value)
        else:
            out[name] = str(value)
    return out


# ---------------------------------------------------------------- the payload-format-2.0 event


def build_event(route, params, method, raw_path, raw_query, headers, body, claims, source_ip):
    lowered = {}
    cookies = []
    for name, value in headers:
        name = name.lower()
        if name == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        lowered[name] = f"{lowered[name]},{value}" if name in lowered else value
    query = {}
    for name, value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = datetime.datetime.now(datetime.timezone.utc)
    request_id = base64.b32encode(uuid.uuid4().bytes).decode()[:16].lower()
    event = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "localapi",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "localapi",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = params
    if claims is not None:
        event["requestContext"]["authorizer"] = {
            "jwt": {"claims": claims_as_strings(claims), "scopes": None}
        }
    if body:
        content_type = lowered.get("content-type", "")
        if content_type.startswith(TEXT_TYPES):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode()
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event, request_id


def invoke(lambda_url, function, event, timeout):
    """Runs the function under `cargo lambda watch`; (status, headers, body) back."""
    request = urllib.request.Request(
        f"{lambda_url}/2015-03-31/functions/{function}/invocations",
        data=json.dumps(event).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            payload = r.read()
            failed = r.headers.get("x-amz-function-error")
    except urllib.error.HTTPError as e:
        payload, failed = e.read(), "Unhandled"
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        print(f"local-api: {function} could not be invoked: {e}", file=sys.stderr, flush=True)
        return 503, [], b'{"message":"Service Unavailable"}'
    try:
        result = json.loads(payload)
    except ValueError:
        result = None
    if failed or (isinstance(result, dict) and "errorType" in result and "statusCode" not in result):
        print(f"local-api: {function} failed: {payload[:500]!r}", file=sys.stderr, flush=True)
        return 500, [], b'{"message":"Internal Server Error"}'
    if not isinstance(result, dict) or "statusCode" not in result:
        # Format 2.0 without a status: the whole answer is a JSON body.
        return 200, [("content-type", "application/json")], payload
    headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(v)) for v in values)
    headers.extend(("set-cookie", c) for c in result.get("cookies") or [])
    body = result.get("body") or ""
    body = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return int(result["statusCode"]), headers, body


# ---------------------------------------------------------------- servers


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "local-api"

    def log_message(self, format, *args):  # one line per request, no query string
        path = self.path.split("?", 1)[0]
        print(f"{self.server.name}: {self.command} {path} {args[1] if len(args) > 1 else ''}",
              file=sys.stderr, flush=True)

    def send(self, status, headers, body, extra=()):
        self.send_response(status)
        names = set()
        for name, value in list(headers) + list(extra):
            names.add(name.lower())
            self.send_header(name, value)
        if "content-type" not in names and body:
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""


class ApiHandler(Handler):
    def do(self):
        config = self.server.config
        api = config["api"]
        split = urllib.parse.urlsplit(self.path)
        raw_path = split.path
        origin = self.headers.get("origin")
        cors = self.cors_headers(origin)
        if self.command == "OPTIONS" and origin and self.headers.get("access-control-request-method"):
            if not cors:
                return self.send(204, [], b"")
            preflight = [
                ("access-control-allow-methods", ",".join(api.cors_list("AllowMethods")).upper() or "*"),
                ("access-control-allow-headers", ",".join(api.cors_list("AllowHeaders")) or "*"),
                ("access-control-max-age", str(api.cors.get("MaxAge", 0))),
            ]
            return self.send(204, [], b"", cors + preflight)
        body = self.body()
        if body is None:
            return self.send(413, [], b'{"message":"Request Entity Too Large"}', cors)
        route, params = api.find(self.command, raw_path)
        if route is None:
            return self.send(404, [], b'{"message":"Not Found"}', cors)
        claims = None
        if route.authorized:
            try:
                claims = config["authorizer"].verify(self.headers.get("authorization"))
            except Unauthorized as e:
                challenge = "Bearer"
                if e.description:
                    challenge = f'Bearer scope="" error="invalid_token" error_description="{e.description}"'
                return self.send(401, [], b'{"message":"Unauthorized"}',
                                 cors + [("www-authenticate", challenge)])
            except (OSError, ValueError, KeyError) as e:
                print(f"local-api: the issuer's JWKS could not be read: {e}", file=sys.stderr, flush=True)
                return self.send(500, [], b'{"message":"Internal Server Error"}', cors)
        event, request_id = build_event(
            route, params, self.command, raw_path, split.query,
            self.headers.items(), body, claims, self.client_address[0],
        )
        status, headers, out = invoke(config["lambda_url"], route.function, event, config["timeout"])
        # API Gateway's CORS headers replace the function's own.
        headers = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
        self.send(status, headers, out, cors + [("apigw-requestid", request_id)])

    def cors_headers(self, origin):
        api = self.server.config["api"]
        allowed = self.server.config["origins"]
        if not origin or not (origin in allowed or "*" in allowed):
            return []
        headers = [("access-control-allow-origin", origin), ("vary", "origin")]
        expose = api.cors_list("ExposeHeaders")
        if expose:
            headers.append(("access-control-expose-headers", ",".join(expose)))
        return headers

    def __getattr__(self, name):
        # Every method reaches the router: one no route serves is a 404, as in API Gateway.
        if name.startswith("do_"):
            return self.do
        raise AttributeError(name)


class IssuerHandler(Handler):
    """A minimal OpenID Connect provider: sign in by name, code flow with PKCE."""

    def do_GET(self):
        config = self.server.config
        split = urllib.parse.urlsplit(self.path)
        if split.path == "/.well-known/openid-configuration":
            base = config["issuer"]
            doc = {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/.well-known/jwks.json",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "profile", "email"],
                "token_endpoint_auth_methods_supported": ["none"],
            }
            return self.json(200, doc, self.cors())
        if split.path == "/.well-known/jwks.json":
            return self.json(200, {"keys": [config["key"].as_dict(private=False)]}, self.cors())
        if split.path == "/authorize":
            query = dict(urllib.parse.parse_qsl(split.query))
            problem = self.check_authorize(query)
            if problem:
                return self.page(400, f"<p role='alert'>{html.escape(problem)}</p>")
            hidden = "".join(
                f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
                for k, v in query.items()
            )
            return self.page(200, f"""
<form method="post" action="/authorize">
  <h1>Sign in to the local stack</h1>
  <p>This local issuer trusts whoever signs in: the name becomes the token's <code>sub</code>.</p>
  <label for="username">User name</label>
  <input id="username" name="username" value="alice" required maxlength="128"
         pattern="[A-Za-z0-9._~@-]+" autocomplete="username" autofocus>
  {hidden}
  <button type="submit">Sign in</button>
</form>""")
        return self.json(404, {"error": "not_found"})

    def do_POST(self):
        config = self.server.config
        split = urllib.parse.urlsplit(self.path)
        body = self.body() or b""
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        if split.path == "/authorize":
            problem = self.check_authorize(form)
            user = form.get("username", "")
            if not problem and not re.fullmatch(r"[A-Za-z0-9._~@-]{1,128}", user):
                problem = "the user name may hold letters, digits and . _ ~ @ - only"
            if problem:
                return self.page(400, f"<p role='alert'>{html.escape(problem)}</p>")
            code = secrets.token_urlsafe(24)
            with config["lock"]:
                config["codes"][code] = {
                    "user": user,
                    "client_id": form["client_id"],
                    "redirect_uri": form["redirect_uri"],
                    "challenge": form.get("code_challenge"),
                    "nonce": form.get("nonce"),
                    "expires": time.time() + CODE_SECONDS,
                }
            params = {"code": code}
            if form.get("state"):
                params["state"] = form["state"]
            target = form["redirect_uri"] + ("&" if "?" in form["redirect_uri"] else "?")
            return self.send(302, [("location", target + urllib.parse.urlencode(params))], b"")
        if split.path == "/token":
            cors = self.cors()
            with config["lock"]:
                grant = config["codes"].pop(form.get("code", ""), None)
            if form.get("grant_type") != "authorization_code":
                return self.json(400, {"error": "unsupported_grant_type"}, cors)
            if (
                grant is None
                or grant["expires"] < time.time()
                or grant["client_id"] != form.get("client_id")
                or grant["redirect_uri"] != form.get("redirect_uri")
            ):
                return self.json(400, {"error": "invalid_grant"}, cors)
            if grant["challenge"]:
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
                if digest.decode() != grant["challenge"]:
                    return self.json(400, {"error": "invalid_grant"}, cors)
            token = mint(config["key"], config["issuer"], grant["client_id"], grant["user"],
                         nonce=grant["nonce"])
            return self.json(200, {"id_token": token, "access_token": token, "token_type": "Bearer",
                                   "expires_in": TOKEN_SECONDS}, cors)
        return self.json(404, {"error": "not_found"})

    def do_OPTIONS(self):
        cors = self.cors()
        self.send(204, [], b"", cors + [("access-control-allow-methods", "POST"),
                                         ("access-control-allow-headers", "content-type")])

    def check_authorize(self, query):
        config = self.server.config
        if query.get("response_type") != "code":
            return "response_type must be code"
        if query.get("client_id") not in config["audiences"]:
            return "unknown client_id"
        redirect = query.get("redirect_uri", "")
        if not any(redirect == o or redirect.startswith(o + "/") for o in config["origins"]):
            return "redirect_uri is not one of the console's origins"
        if query.get("code_challenge") and query.get("code_challenge_method") != "S256":
            return "code_challenge_method must be S256"
        return None

    def cors(self):
        origin = self.headers.get("origin")
        if origin and origin in self.server.config["origins"]:
            return [("access-control-allow-origin", origin), ("vary", "origin")]
        return []

    def json(self, status, value, extra=()):
        self.send(status, [("content-type", "application/json"), ("cache-control", "no-store")],
                  json.dumps(value).encode(), extra)

    def page(self, status, inner):
        doc = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Local issuer</title>
<style>body{{font:16px system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
label,input,button{{display:block;font:inherit;margin:.4rem 0}}input{{width:100%;padding:.4rem}}
button{{padding:.5rem 1rem}}</style></head><body>{inner}</body></html>"""
        self.send(status, [("content-type", "text/html; charset=utf-8")], doc.encode())


CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


class ConsoleHandler(Handler):
    """The console's static files, and its config.json for the local stack."""

    def do_GET(self):
        config = self.server.config
        path = urllib.parse.urlsplit(self.path).path
        if path == "/config.json":
            return self.send(200, [("content-type", "application/json"), ("cache-control", "no-cache")],
                             json.dumps(config["console_config"]).encode())
        if path.endswith("/"):
            path += "index.html"
        root = config["console_dir"].resolve()
        file = (root / path.lstrip("/")).resolve()
        if root not in file.parents or not file.is_file():
            return self.send(404, [("content-type", "text/plain")], b"not found")
        kind = CONTENT_TYPES.get(file.suffix, "application/octet-stream")
        self.send(200, [("content-type", kind), ("cache-control", "no-cache")], file.read_bytes())

    do_HEAD = do_GET


def serve(name, port, handler, config):
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    server.name = name
    server.config = config
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    root = Path(__file__).resolve().parents[2]
    state = root / ".local"

    def common(p):
        p.add_argument("--key", default=str(state / "issuer-key.json"))
        p.add_argument("--issuer-port", type=int, default=int(os.environ.get("ISSUER_PORT", 3002)))
        p.add_argument("--audience", default=os.environ.get("LOCAL_CLIENT_ID", "local-console"))

    s = sub.add_parser("serve", help="serve the HTTP API, the issuer and the console")
    common(s)
    s.add_argument("--template", default=str(root / "template.yaml"))
    s.add_argument("--api-port", type=int, default=int(os.environ.get("API_PORT", 3000)))
    s.add_argument("--console-port", type=int, default=int(os.environ.get("CONSOLE_PORT", 3001)))
    s.add_argument("--console-dir", default=str(root / "console"))
    s.add_argument("--lambda-url", default=f"http://127.0.0.1:{os.environ.get('LAMBDA_PORT', 9000)}")
    s.add_argument("--origin", action="append", default=[],
                   help="an origin CORS and the issuer allow besides the local console's")
    s.add_argument("--timeout", type=float, default=60.0,
                   help="seconds to wait for a function (API Gateway waits 30; the first call may start it)")

    t = sub.add_parser("token", help="print a bearer token for USER")
    common(t)
    t.add_argument("user")
    t.add_argument("--expires-in", type=int, default=TOKEN_SECONDS)
    args = parser.parse_args()

    issuer = f"http://127.0.0.1:{args.issuer_port}"
    key = load_key(args.key)
    if args.command == "token":
        print(mint(key, issuer, args.audience, args.user, seconds=args.expires_in))
        return

    api = Api(args.template)
    console_origin = f"http://127.0.0.1:{args.console_port}"
    origins = [console_origin, f"http://localhost:{args.console_port}", *args.origin]
    api_url = f"http://127.0.0.1:{args.api_port}"
    config = {
        "api": api,
        "issuer": issuer,
        "key": key,
        "audiences": [args.audience],
        "origins": origins,
        "lambda_url": args.lambda_url.rstrip("/"),
        "timeout": args.timeout,
        "authorizer": Authorizer(issuer, [args.audience]),
        "codes": {},
        "lock": threading.Lock(),
        "console_dir": Path(args.console_dir),
        "console_config": {"apiUrl": api_url, "issuer": issuer, "clientId": args.audience,
                           "scope": "openid profile"},
    }
    serve("issuer", args.issuer_port, IssuerHandler, config)
    serve("console", args.console_port, ConsoleHandler, config)
    serve("local-api", args.api_port, ApiHandler, config)
    print(f"local-api: {len(api.routes)} routes from {args.template} on {api_url}; "
          f"issuer {issuer}; console {console_origin}/", file=sys.stderr, flush=True)
    for route in api.routes:
        print(f"  {route.key:45} -> {route.function}{'' if route.authorized else ' (open)'}",
              file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
