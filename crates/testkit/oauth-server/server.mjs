// A real OAuth 2.0 / OpenID Connect authorization server on loopback for tests, started and
// controlled by `tributary_testkit::oauth` (crates/testkit/src/oauth.rs).
//
// The protocol work is oauth2-mock-server's: discovery document, JWKS, auto-approving
// `/authorize`, RS256-signed access and id tokens (with the authorize request's `nonce` and
// `aud` = client id). That package checks less than a real server does, so this wrapper, a plain
// node:http server in front of the package's request handler, adds what tests of a client need:
//
// - Authorization codes are known, single-use (consumed by their first exchange attempt) and
//   expire after 10 minutes; the token request must repeat the authorize request's
//   `redirect_uri` and come from the same client.
// - PKCE is enforced: a code whose authorize request carried `code_challenge` is only exchanged
//   with a matching `code_verifier`. (The package checks a verifier only when one is sent, and
//   answers a mismatch with `invalid_request`; RFC 7636 §4.6 says `invalid_grant`.)
// - Refresh tokens are issued and tracked here (the package's are random UUIDs it forgets):
//   unknown, revoked and rotated-away tokens get `invalid_grant`.
// - `/__control/*` endpoints let a test shape the behaviour (see `control` below).
//
// Every grant failure answers 400 `{"error":"invalid_grant","error_description":...}`.
//
// Once listening it prints one JSON line, `{"issuer":"http://127.0.0.1:PORT","port":PORT}`, on
// stdout. It exits when its stdin closes (the test process ended, however it ended) or on
// SIGTERM/SIGINT.

import { createServer } from "node:http";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { OAuth2Issuer, OAuth2Service } from "oauth2-mock-server";

const CODE_LIFETIME_MS = 10 * 60 * 1000;

const DEFAULT_CONFIG = Object.freeze({
  rotateRefreshTokens: true,
  omitRefreshTokenOnRefresh: false,
  expiresIn: 3600,
  idTokenClaims: {},
  refreshDelayMs: 0,
});

/** What `POST /__control/config` may set, with a check of each value's type. */
const CONFIG_CHECKS = {
  rotateRefreshTokens: (v) => typeof v === "boolean",
  omitRefreshTokenOnRefresh: (v) => typeof v === "boolean",
  expiresIn: (v) => Number.isInteger(v) && v > 0,
  idTokenClaims: (v) => v !== null && typeof v === "object" && !Array.isArray(v),
  refreshDelayMs: (v) => Number.isInteger(v) && v >= 0,
};

let config = { ...DEFAULT_CONFIG };

/** code -> { clientId, redirectUri, challenge, method, scope, issuedAt, used } */
const codes = new Map();
/** refresh token -> { clientId, scope, revoked, rotated } */
const refreshTokens = new Map();
/** Token requests received, by grant type (rejected ones included). */
const stats = { authorization_code: 0, refresh_token: 0, client_credentials: 0 };

const issuer = new OAuth2Issuer();
await issuer.keys.generate("RS256");
const service = new OAuth2Service(issuer);

// The package builds the code and the redirect; record what the token request must match.
service.on("beforeAuthorizeRedirect", (redirect, req) => {
  const code = redirect.url.searchParams.get("code");
  if (code === null) return;
  const query = req.query ?? {};
  codes.set(code, {
    clientId: stringOrUndefined(query.client_id),
    redirectUri: stringOrUndefined(query.redirect_uri),
    challenge: stringOrUndefined(query.code_challenge),
    method: stringOrUndefined(query.code_challenge_method) ?? "plain",
    scope: stringOrUndefined(query.scope),
    issuedAt: Date.now(),
    used: false,
  });
});

// Called for the access token and then, except for client credentials, the id token of every
// token answer. The package's id-token payload is the one without a `scope` key.
service.on("beforeTokenSigning", (token, req) => {
  const grant = req.tributaryGrant;
  if (grant === undefined) return;
  const payload = token.payload;
  // Without one, two tokens signed within the same second for the same grant are identical.
  payload.jti = randomUUID();
  if ("scope" in payload) {
    payload.exp = payload.iat + config.expiresIn;
    if (grant.scope !== undefined) payload.scope = grant.scope;
  } else {
    // Test-supplied claims win, so a test can also shape `iss`, `sub` or `aud`.
    Object.assign(payload, config.idTokenClaims);
  }
});

service.on("beforeResponse", (response, req) => {
  const grant = req.tributaryGrant;
  if (grant === undefined || response.statusCode !== 200) return;
  const body = response.body;
  body.expires_in = config.expiresIn;
  if (grant.scope !== undefined) body.scope = grant.scope;
  switch (grant.type) {
    case "authorization_code":
    case "password":
      body.refresh_token = issueRefreshToken(grant.clientId, grant.scope);
      break;
    case "refresh_token":
      if (config.omitRefreshTokenOnRefresh) delete body.refresh_token;
      else if (config.rotateRefreshTokens) {
        body.refresh_token = issueRefreshToken(grant.clientId, grant.scope);
      } else body.refresh_token = grant.presentedRefreshToken;
      break;
    default:
      delete body.refresh_token;
  }
});

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error("oauth-server: unexpected error:", err);
    if (!res.headersSent) sendJson(res, 500, { error: "server_error", error_description: String(err) });
    else res.destroy();
  });
});
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  issuer.url = `http://127.0.0.1:${port}`;
  process.stdout.write(`${JSON.stringify({ issuer: issuer.url, port })}\n`);
});

// The Rust handle keeps our stdin open for its lifetime: EOF means it is gone.
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));

async function handle(req, res) {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  if (url.pathname.startsWith("/__control/")) return control(req, res, url.pathname);
  if (req.method === "POST" && url.pathname === "/token") return token(req, res);
  if (req.method === "POST" && url.pathname === "/revoke") return revocation(req, res);
  service.requestHandler(req, res);
}

/** The token endpoint: checks the grant, then lets the package build the answer. */
async function token(req, res) {
  const body = await readForm(req);
  const grantType = typeof body.grant_type === "string" ? body.grant_type : "";
  if (grantType !== "") stats[grantType] = (stats[grantType] ?? 0) + 1;
  const clientId = clientIdOf(req, body);
  const grant = { type: grantType, clientId, scope: stringOrUndefined(body.scope) };

  if (grantType === "authorization_code") {
    const code = typeof body.code === "string" ? codes.get(body.code) : undefined;
    if (code === undefined) return invalidGrant(res, "the authorization code is unknown");
    if (code.used) return invalidGrant(res, "the authorization code was already used");
    code.used = true;
    if (Date.now() - code.issuedAt > CODE_LIFETIME_MS) {
      return invalidGrant(res, "the authorization code has expired");
    }
    if (code.clientId !== undefined && clientId !== code.clientId) {
      return invalidGrant(res, "the authorization code was issued to another client");
    }
    if (body.redirect_uri !== code.redirectUri) {
      return invalidGrant(res, "redirect_uri does not match the authorization request");
    }
    const verifier = body.code_verifier;
    if (code.challenge !== undefined) {
      if (typeof verifier !== "string" || verifier === "") {
        return invalidGrant(res, "code_verifier is required: the authorization request carried a code_challenge");
      }
      if (!pkceMatches(verifier, code.challenge, code.method)) {
        return invalidGrant(res, "code_verifier does not match the code_challenge");
      }
    } else if (verifier !== undefined) {
      return invalidGrant(res, "code_verifier sent but the authorization request carried no code_challenge");
    }
    // Checked here; the package would check it again with its own error shape.
    delete body.code_verifier;
    grant.scope ??= code.scope;
  } else if (grantType === "refresh_token") {
    const presented = typeof body.refresh_token === "string" ? body.refresh_token : "";
    const record = refreshTokens.get(presented);
    if (record === undefined) return invalidGrant(res, "the refresh token is unknown");
    if (record.revoked) return invalidGrant(res, "the refresh token was revoked");
    if (record.rotated) return invalidGrant(res, "the refresh token was already used and has been rotated");
    if (record.clientId !== undefined && clientId !== record.clientId) {
      return invalidGrant(res, "the refresh token was issued to another client");
    }
    // Consumed when the request arrives, as a real server commits the rotation before it
    // answers: a concurrent refresh with the same token loses during `refreshDelayMs`.
    if (config.rotateRefreshTokens && !config.omitRefreshTokenOnRefresh) record.rotated = true;
    grant.presentedRefreshToken = presented;
    grant.scope ??= record.scope;
    if (config.refreshDelayMs > 0) await sleep(config.refreshDelayMs);
  }

  req.tributaryGrant = grant;
  passBody(req, body);
  service.requestHandler(req, res);
}

/** RFC 7009 revocation: revokes a refresh token it names, then lets the package answer 200. */
async function revocation(req, res) {
  const body = await readForm(req);
  const record = typeof body.token === "string" ? refreshTokens.get(body.token) : undefined;
  if (record !== undefined) record.revoked = true;
  passBody(req, body);
  service.requestHandler(req, res);
}

/**
 * - `POST /__control/config` `{rotateRefreshTokens, omitRefreshTokenOnRefresh, expiresIn,
 *   idTokenClaims, refreshDelayMs}` (any of them) -> the whole configuration.
 * - `POST /__control/revoke` `{"refreshToken": "..."}` -> 404 when the token was never issued.
 * - `GET /__control/stats` -> token requests by grant type.
 */
async function control(req, res, path) {
  if (req.method === "GET" && path === "/__control/stats") return sendJson(res, 200, stats);
  if (req.method !== "POST") return sendJson(res, 405, { error: "method not allowed" });
  let input;
  try {
    const text = await readText(req);
    input = text === "" ? {} : JSON.parse(text);
  } catch {
    return sendJson(res, 400, { error: "the body is not JSON" });
  }
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    return sendJson(res, 400, { error: "the body must be a JSON object" });
  }
  if (path === "/__control/config") {
    for (const [key, value] of Object.entries(input)) {
      const check = CONFIG_CHECKS[key];
      if (check === undefined) return sendJson(res, 400, { error: `unknown setting \`${key}\`` });
      if (!check(value)) return sendJson(res, 400, { error: `bad value for \`${key}\`` });
    }
    config = { ...config, ...input };
    return sendJson(res, 200, config);
  }
  if (path === "/__control/revoke") {
    const record = refreshTokens.get(input.refreshToken);
    if (record === undefined) return sendJson(res, 404, { error: "this server never issued that refresh token" });
    record.revoked = true;
    return sendJson(res, 200, { revoked: true });
  }
  return sendJson(res, 404, { error: "no such control endpoint" });
}

function issueRefreshToken(clientId, scope) {
  const token = randomBytes(32).toString("base64url");
  refreshTokens.set(token, { clientId, scope, revoked: false, rotated: false });
  return token;
}

function pkceMatches(verifier, challenge, method) {
  // RFC 7636 §4.1: 43 to 128 unreserved characters.
  if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) return false;
  if (method === "S256") return createHash("sha256").update(verifier).digest("base64url") === challenge;
  return method === "plain" && verifier === challenge;
}

/** The client id of a token request: HTTP Basic (RFC 6749 §2.3.1) or the form's `client_id`. */
function clientIdOf(req, body) {
  const header = req.headers.authorization ?? "";
  const match = /^Basic\s+(\S+)$/i.exec(header);
  if (match !== null) {
    const decoded = Buffer.from(match[1], "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    const id = colon === -1 ? decoded : decoded.slice(0, colon);
    return decodeURIComponent(id.replace(/\+/g, " "));
  }
  return stringOrUndefined(body.client_id);
}

/** Hands an already-read body to the package's express app (body-parser skips finished requests). */
function passBody(req, body) {
  req.body = body;
}

function invalidGrant(res, description) {
  sendJson(res, 400, { error: "invalid_grant", error_description: description });
}

function sendJson(res, status, value) {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

function readText(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** A form (or JSON) request body as a plain object of strings. */
async function readForm(req) {
  const text = await readText(req);
  if ((req.headers["content-type"] ?? "").startsWith("application/json")) {
    try {
      const value = JSON.parse(text);
      if (value !== null && typeof value === "object" && !Array.isArray(value)) return value;
    } catch {
      // Fall through: an empty body.
    }
    return {};
  }
  return Object.fromEntries(new URLSearchParams(text));
}

function stringOrUndefined(value) {
  return typeof value === "string" ? value : undefined;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
