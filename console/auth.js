// Sign-in through the deployer's OpenID Connect provider: the authorization
// code flow with PKCE (S256), no client secret. The ID token (its `aud` is
// the client id the HTTP API's JWT authorizer accepts) is kept for this tab
// only, in sessionStorage, until it expires.

const SESSION = "console.session";
const PENDING = "console.signin";

function base64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(size) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

function claimsOf(token) {
  const part = token.split(".")[1] || "";
  const binary = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function redirectUri() {
  return `${location.origin}${location.pathname}`;
}

async function endpoints(config) {
  if (config.authorizationEndpoint && config.tokenEndpoint) {
    return { authorize: config.authorizationEndpoint, token: config.tokenEndpoint };
  }
  const issuer = config.issuer.replace(/\/$/, "");
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`the identity provider's discovery document answered ${response.status}`);
  const doc = await response.json();
  return { authorize: doc.authorization_endpoint, token: doc.token_endpoint };
}

/** The signed-in session, or null: `{token, user, expiresAt}`. */
export function session() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION) || "null");
    if (saved && saved.expiresAt * 1000 > Date.now() + 30_000) return saved;
  } catch {
    // A damaged entry is the same as none.
  }
  sessionStorage.removeItem(SESSION);
  return null;
}

/** Sends the browser to the provider's sign-in page. */
export async function signIn(config) {
  const { authorize } = await endpoints(config);
  const verifier = randomString(48);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const state = randomString(16);
  const nonce = randomString(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, nonce, hash: location.hash }));
  const params = new URLSearchParams({
    response_type: "code",
    client_id: config.clientId,
    redirect_uri: redirectUri(),
    scope: config.scope || "openid",
    state,
    nonce,
    code_challenge: base64url(digest),
    code_challenge_method: "S256",
  });
  location.assign(`${authorize}?${params}`);
}

/**
 * Finishes a sign-in when the provider has sent the browser back with a
 * code. Returns the view to go back to, or null when this page load is not
 * a sign-in's return.
 */
export async function finishSignIn(config) {
  const query = new URLSearchParams(location.search);
  if (!query.has("code") || !query.has("state")) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  const clean = new URL(location.href);
  for (const name of ["code", "state", "session_state", "iss"]) clean.searchParams.delete(name);
  history.replaceState(null, "", clean);
  if (!pending || pending.state !== query.get("state")) {
    throw new Error("the sign-in could not be verified (its state does not match): sign in again");
  }
  const { token } = await endpoints(config);
  const response = await fetch(token, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: query.get("code"),
      redirect_uri: redirectUri(),
      client_id: config.clientId,
      code_verifier: pending.verifier,
    }),
  });
  if (!response.ok) throw new Error(`the identity provider refused the sign-in (${response.status})`);
  const answer = await response.json();
  const claims = claimsOf(answer.id_token);
  if (pending.nonce && claims.nonce && claims.nonce !== pending.nonce) {
    throw new Error("the sign-in could not be verified (its nonce does not match): sign in again");
  }
  const user = claims.email || claims.name || claims["cognito:username"] || claims.sub;
  sessionStorage.setItem(SESSION, JSON.stringify({ token: answer.id_token, user, expiresAt: claims.exp }));
  return pending.hash || "";
}

export function signOut() {
  sessionStorage.removeItem(SESSION);
}
