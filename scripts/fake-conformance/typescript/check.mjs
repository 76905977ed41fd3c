// Holds the logged responses of the Microsoft Graph (Entra ID, Teams), Microsoft login, Slack and
// Cloudflare fakes to the providers' official TypeScript types (see descriptions.ts).
//
// Every logged JSON body is written out as an object literal assigned to the type of its
// operation's response (`const r12: D.GraphPage<D.User> = {...}`); the TypeScript compiler, strict,
// then rejects wrong types, bad enum values, nulls the type does not allow, missing required
// properties and, because a fresh object literal is checked for excess properties at every
// level, any property the type does not declare. Its diagnostics are mapped back to the logged
// response (service, method, path, status, log file and line) and the JSON path in the body.
//
// Usage: node check.mjs <log dir>     check the logs
//        node check.mjs --self-test   check known-bad bodies and fail unless each is rejected

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DESCRIPTIONS = path.join(HERE, "descriptions.ts");

// The services this check covers; each must have logged at least one response.
const SERVICES = ["microsoft_graph", "microsoft_login", "slack", "cloudflare"];

// A success answered with no body at all (HTTP 204): nothing to type-check, but a body is a
// failure.
const NO_CONTENT = "no content";

// Each fake route (method + path template, `{x}` one segment) and the type its answers are held
// to: `ok` for 2xx answers, `error` for 4xx/5xx answers (null: such an answer is a failure).
// Types are names from descriptions.ts (imported as D).
const ROUTES = [
  // Microsoft Graph, directory (crates/testkit/src/azure_entra_id.rs).
  // GET /organization: "List organization" answers a collection of one.
  { service: "microsoft_graph", method: "GET", path: "/v1.0/organization", ok: "D.GraphPage<D.Organization>", error: "D.GraphErrorBody" },
  { service: "microsoft_graph", method: "GET", path: "/v1.0/users", ok: "D.GraphPage<D.User>", error: "D.GraphErrorBody" },
  { service: "microsoft_graph", method: "GET", path: "/v1.0/groups", ok: "D.GraphPage<D.Group>", error: "D.GraphErrorBody" },
  // "List group members" cast to microsoft.graph.user: the members as users.
  { service: "microsoft_graph", method: "GET", path: "/v1.0/groups/{id}/members/microsoft.graph.user", ok: "D.GraphPage<D.User>", error: "D.GraphErrorBody" },
  // Microsoft Graph, change-notification subscriptions (crates/testkit/src/graph_subscriptions.rs):
  // "List subscriptions", "Create subscription" (201), "Update subscription", and "Delete
  // subscription", which answers 204 with no body.
  { service: "microsoft_graph", method: "GET", path: "/v1.0/subscriptions", ok: "D.GraphPage<D.Subscription>", error: "D.GraphErrorBody" },
  { service: "microsoft_graph", method: "POST", path: "/v1.0/subscriptions", ok: "D.GraphEntity<D.Subscription>", error: "D.GraphErrorBody" },
  { service: "microsoft_graph", method: "PATCH", path: "/v1.0/subscriptions/{id}", ok: "D.GraphEntity<D.Subscription>", error: "D.GraphErrorBody" },
  { service: "microsoft_graph", method: "DELETE", path: "/v1.0/subscriptions/{id}", ok: NO_CONTENT, error: "D.GraphErrorBody" },
  // Microsoft Graph, Teams (crates/testkit/src/microsoft_teams.rs).
  { service: "microsoft_graph", method: "GET", path: "/v1.0/me", ok: "D.GraphEntity<D.User>", error: "D.GraphErrorBody" },
  { service: "microsoft_graph", method: "GET", path: "/v1.0/me/joinedTeams", ok: "D.GraphPage<D.Team>", error: "D.GraphErrorBody" },
  // "Send chatMessage in a channel or a chat": 201 with the chatMessage.
  { service: "microsoft_graph", method: "POST", path: "/v1.0/teams/{team}/channels/{channel}/messages", ok: "D.GraphEntity<D.ChatMessage>", error: "D.GraphErrorBody" },
  { service: "microsoft_graph", method: "POST", path: "/v1.0/chats/{chat}/messages", ok: "D.GraphEntity<D.ChatMessage>", error: "D.GraphErrorBody" },
  // Any other Graph path only ever answers Graph's error body (the fakes' fallback).
  { service: "microsoft_graph", method: "*", path: "*", ok: null, error: "D.GraphErrorBody" },

  // Microsoft identity platform token endpoint: no published type set describes it (it is
  // listed among the undescribed endpoints in the summary); it is held to RFC 6749 §5.1/§5.2.
  { service: "microsoft_login", method: "POST", path: "/{tenant}/oauth2/v2.0/token", ok: "D.OAuthTokenResponse", error: "D.OAuthErrorResponse", undescribed: "RFC 6749 token endpoint, checked against §5.1/§5.2" },

  // Slack Web API (crates/testkit/src/slack.rs), GET or POST: `ok: false` refusals answer HTTP
  // 200 (429 when rate limited) and are typed by the method's own response type, which declares
  // `error`, `needed` and `provided`; slackType() then splits it by `ok`.
  { service: "slack", method: "*", path: "/api/auth.test", ok: "D.AuthTest", error: "D.AuthTest" },
  { service: "slack", method: "*", path: "/api/auth.revoke", ok: "D.AuthRevoke", error: "D.AuthRevoke" },
  { service: "slack", method: "*", path: "/api/team.info", ok: "D.TeamInfo", error: "D.TeamInfo" },
  { service: "slack", method: "*", path: "/api/users.list", ok: "D.UsersList", error: "D.UsersList" },
  { service: "slack", method: "*", path: "/api/chat.postMessage", ok: "D.ChatPostMessage", error: "D.ChatPostMessage" },
  { service: "slack", method: "*", path: "/api/oauth.v2.access", ok: "D.OauthV2Access", error: "D.OauthV2Access" },

  // Cloudflare API v4 (crates/testkit/src/cloudflare.rs).
  { service: "cloudflare", method: "GET", path: "/client/v4/user/tokens/verify", ok: "D.CloudflareSuccess<D.CloudflareUserTokenVerify>", error: "D.CloudflareFailure" },
  { service: "cloudflare", method: "GET", path: "/client/v4/accounts/{account}/tokens/verify", ok: "D.CloudflareSuccess<D.CloudflareAccountTokenVerify>", error: "D.CloudflareFailure" },
  { service: "cloudflare", method: "GET", path: "/client/v4/accounts/{account}", ok: "D.CloudflareSuccess<D.CloudflareAccount>", error: "D.CloudflareFailure" },
  { service: "cloudflare", method: "GET", path: "/client/v4/accounts/{account}/members", ok: "D.CloudflarePage<D.CloudflareAccountMember>", error: "D.CloudflareFailure" },
];

// Endpoints no published description covers and whose answers are not JSON documents: listed
// in the summary, never checked.
const UNDESCRIBED = [
  // The authorization endpoints send the browser on (a 3xx redirect) or show an error page.
  { service: "microsoft_login", method: "GET", path: "/{tenant}/oauth2/v2.0/authorize", why: "OAuth authorization endpoint: a browser redirect" },
  { service: "slack", method: "GET", path: "/oauth/v2/authorize", why: "OAuth authorization endpoint: a browser redirect" },
  // The signing keys: a JWK Set (RFC 7517 §5); the OIDC libraries that read it check it.
  { service: "microsoft_login", method: "GET", path: "/{tenant}/discovery/v2.0/keys", why: "JWK Set (RFC 7517), no published type set" },
];

function templateMatches(template, actual) {
  if (template === "*") return true;
  const t = template.split("/");
  const a = actual.split("/");
  return t.length === a.length && t.every((seg, i) => (seg.startsWith("{") ? a[i] !== "" : seg === a[i]));
}

function routeOf(list, entry) {
  return list.find(
    (r) => r.service === entry.service && (r.method === "*" || r.method === entry.method) && templateMatches(r.path, entry.path),
  );
}

// ------------------------------------------------------------------------------------------
// Reading the logs.

function readLogs(dir) {
  const entries = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const service = name.split(".")[0];
    if (!SERVICES.includes(service) || !name.endsWith(".jsonl")) continue;
    const lines = fs.readFileSync(path.join(dir, name), "utf8").split("\n");
    lines.forEach((line, i) => {
      if (line.trim() === "") return;
      let entry;
      try {
        entry = JSON.parse(line);
      } catch (error) {
        entries.push({ service, method: "?", path: "?", status: 0, where: `${name}:${i + 1}`, unreadable: String(error) });
        return;
      }
      entry.where = `${name}:${i + 1}`;
      entries.push(entry);
    });
  }
  return entries;
}

// ------------------------------------------------------------------------------------------
// Writing the bodies as TypeScript.

// Elements already written for a (type, JSON path pattern): checking an element of an array
// against the element type does not depend on its neighbours, so each distinct element is
// written once per place; this keeps thousands of pages of the same users small.
const seenElements = new Set();

// Pushes `value` as pretty-printed JSON (which is a TypeScript expression) to `out`, one
// {text, path} per line, so that a diagnostic's line gives the JSON path it is about.
function emit(out, value, jsonPath, pattern, typeName, indent, prefix, suffix) {
  const pad = " ".repeat(indent);
  if (Array.isArray(value)) {
    const kept = [];
    value.forEach((item, index) => {
      const key = `${typeName}|${pattern}[]|${JSON.stringify(item)}`;
      if (seenElements.has(key)) return;
      seenElements.add(key);
      kept.push([index, item]);
    });
    if (kept.length === 0) {
      out.push({ text: `${pad}${prefix}[]${suffix}`, path: jsonPath });
      return;
    }
    out.push({ text: `${pad}${prefix}[`, path: jsonPath });
    kept.forEach(([index, item], i) =>
      emit(out, item, `${jsonPath}[${index}]`, `${pattern}[]`, typeName, indent + 2, "", i + 1 < kept.length ? "," : ""),
    );
    out.push({ text: `${pad}]${suffix}`, path: jsonPath });
  } else if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 0) {
      out.push({ text: `${pad}${prefix}{}${suffix}`, path: jsonPath });
      return;
    }
    // OData polymorphism: an object naming its Graph type is held to that type (descriptions.ts).
    // An object of the answer's own entity type (a user listed through the user cast) stays
    // held to the declared type, which may be narrowed by `$select`.
    const derived = /^microsoft_graph\|/.test(typeName) && typeof value["@odata.type"] === "string"
      ? /^#microsoft\.graph\.([A-Za-z]\w*)$/.exec(value["@odata.type"])
      : null;
    const derivedName = derived ? `${derived[1][0].toUpperCase()}${derived[1].slice(1)}` : null;
    if (derived && !typeName.includes(`<D.${derivedName}>`) && !typeName.includes(`<D.${derivedName},`)) {
      const named = `D.OData<D.Graph.${derivedName}>`;
      prefix = `${prefix}(`;
      suffix = ` satisfies ${named}) as ${named}${suffix}`;
    }
    out.push({ text: `${pad}${prefix}{`, path: jsonPath });
    keys.forEach((key, i) => {
      const child = /^[A-Za-z_$][\w$]*$/.test(key) ? `${jsonPath}.${key}` : `${jsonPath}[${JSON.stringify(key)}]`;
      emit(out, value[key], child, `${pattern}.${key}`, typeName, indent + 2, `${JSON.stringify(key)}: `, i + 1 < keys.length ? "," : "");
    });
    out.push({ text: `${pad}}${suffix}`, path: jsonPath });
  } else {
    out.push({ text: `${pad}${prefix}${JSON.stringify(value)}${suffix}`, path: jsonPath });
  }
}

// Turns the checked entries ({typeName, body, ...}) into TypeScript files under `dir`; returns
// the files and, per file, what each line is about.
function writeSources(dir, checked) {
  const files = [];
  const perFile = 2000;
  const importPath = DESCRIPTIONS.replace(/\.ts$/, "");
  for (let start = 0; start < checked.length; start += perFile) {
    const file = path.join(dir, `responses${files.length}.ts`);
    const lines = [{ text: `import type * as D from ${JSON.stringify(importPath)};`, path: null }];
    checked.slice(start, start + perFile).forEach((item, offset) => {
      const index = start + offset;
      lines.push({ text: `// ${item.service} ${item.method} ${item.path} ${item.status} (${item.where})`, path: null });
      const body = [];
      emit(body, item.body, "$", "$", `${item.service}|${item.typeName}`, 0, `export const r${index}: ${item.typeName} = `, ";");
      for (const line of body) lines.push({ ...line, item: index });
    });
    fs.writeFileSync(file, lines.map((l) => l.text).join("\n") + "\n");
    files.push({ file, lines });
  }
  return files;
}

// Compiles the files with tsc's checks (strict) and returns the diagnostics per checked entry.
function typeCheck(files) {
  const options = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
  };
  const program = ts.createProgram(
    files.map((f) => f.file),
    options,
  );
  const byFile = new Map(files.map((f) => [path.resolve(f.file), f]));
  const problems = new Map();
  const general = [];
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
    const source = diagnostic.file && byFile.get(path.resolve(diagnostic.file.fileName));
    if (!source || diagnostic.start === undefined) {
      const where = diagnostic.file ? `${diagnostic.file.fileName}: ` : "";
      general.push(`${where}${message}`);
      continue;
    }
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    const info = source.lines[line];
    if (!info || info.item === undefined) {
      general.push(`${source.file}:${line + 1}: ${message}`);
      continue;
    }
    const list = problems.get(info.item) ?? [];
    list.push({ path: info.path, message, text: info.text.trim() });
    problems.set(info.item, list);
  }
  return { problems, general };
}

// ------------------------------------------------------------------------------------------
// The check.

// Graph answers `$select` with the selected properties only (Graph docs, "Use the $select query
// parameter"): the entity type is narrowed to them, so an unselected property is excess and a
// selected one the type does not have is an error.
function selectedType(entry, typeName) {
  if (entry.service !== "microsoft_graph") return typeName;
  const select = new URLSearchParams(entry.query ?? "").get("$select");
  const shape = /^D\.Graph(Page|Entity)<D\.(\w+)>$/.exec(typeName);
  if (!select || !shape) return typeName;
  const names = select.split(",").map((name) => name.trim()).filter((name) => name !== "");
  const keys = names.map((name) => JSON.stringify(name)).join(" | ");
  return `D.Graph${shape[1]}<D.Selected<D.${shape[2]}, ${keys}>>`;
}

// A Slack answer is held to the method's type split by `ok` (descriptions.ts, SlackOk and
// SlackError); an answer without a boolean `ok` is held to the method's type as it is, which
// requires one.
function slackType(entry, typeName) {
  if (entry.service !== "slack" || typeof entry.body?.ok !== "boolean") return typeName;
  return entry.body.ok ? `D.SlackOk<${typeName}>` : `D.SlackError<${typeName}>`;
}

function classify(entries) {
  const checked = [];
  const failures = [];
  const deviations = [];
  const undescribed = [];
  const unmatched = [];
  for (const entry of entries) {
    const label = `${entry.service} ${entry.method} ${entry.path} ${entry.status} (${entry.where})`;
    if (entry.unreadable) {
      failures.push(`${label}: the log line is not JSON: ${entry.unreadable}`);
      continue;
    }
    if (entry.deviation) {
      deviations.push({ entry, label });
      continue;
    }
    const listed = routeOf(UNDESCRIBED, entry);
    if (listed) {
      undescribed.push({ entry, route: listed });
      continue;
    }
    const route = routeOf(ROUTES, entry);
    if (!route) {
      unmatched.push(`${label}: no described operation and not listed as undescribed`);
      continue;
    }
    const success = entry.status >= 200 && entry.status < 300;
    const typeName = success ? route.ok : entry.status >= 400 ? route.error : null;
    if (!typeName) {
      failures.push(`${label}: ${route.method} ${route.path} is not described to answer ${entry.status}`);
      continue;
    }
    if (typeName === NO_CONTENT) {
      if (entry.status !== 204 || entry.body !== null) {
        failures.push(`${label}: ${route.method} ${route.path} answers 204 with no body`);
      }
      continue;
    }
    if (entry.body === null || typeof entry.body !== "object") {
      failures.push(`${label}: the body is not a JSON document (content type ${entry.contentType ?? "none"})`);
      continue;
    }
    checked.push({ ...entry, route, typeName: slackType(entry, success ? selectedType(entry, typeName) : typeName) });
  }
  return { checked, failures: failures.concat(unmatched), deviations, undescribed };
}

function runCheck(entries, { quiet = false } = {}) {
  seenElements.clear();
  const { checked, failures, deviations, undescribed } = classify(entries);
  // Identical answers (the same route and body) are checked once.
  const distinct = new Map();
  for (const item of checked) {
    const key = `${item.typeName}|${JSON.stringify(item.body)}`;
    if (!distinct.has(key)) distinct.set(key, item);
  }
  const unique = [...distinct.values()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-conformance-ts-"));
  let result;
  try {
    const files = writeSources(dir, unique);
    result = typeCheck(files);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const message of result.general) failures.push(`tsc: ${message}`);
  const rejected = new Set();
  for (const [index, problems] of [...result.problems.entries()].sort((a, b) => a[0] - b[0])) {
    const item = unique[index];
    rejected.add(item);
    const details = problems
      .map((p) => `    at ${p.path}: ${p.message.split("\n").slice(0, 4).join(" / ")}\n      ${p.text}`)
      .join("\n");
    failures.push(
      `${item.service} ${item.method} ${item.path} ${item.status} (${item.where}) as ${item.typeName}:\n${details}`,
    );
  }
  if (!quiet) summarize(entries, checked, unique, deviations, undescribed, failures);
  return { failures, rejected, unique };
}

function summarize(entries, checked, unique, deviations, undescribed, failures) {
  console.log("fake conformance (TypeScript types): Microsoft Graph, Microsoft login, Slack, Cloudflare");
  for (const service of SERVICES) {
    const logged = entries.filter((e) => e.service === service).length;
    const mine = checked.filter((e) => e.service === service);
    const operations = new Set(mine.map((e) => `${e.route.method} ${e.route.path}`));
    const distinct = unique.filter((e) => e.service === service).length;
    const listed = undescribed.filter((u) => u.entry.service === service).length;
    const deviating = deviations.filter((d) => d.entry.service === service).length;
    console.log(
      `  ${service}: ${logged} logged, ${mine.length} checked (${distinct} distinct), ` +
        `${operations.size} operations covered, ${deviating} deviations listed, ${listed} undescribed`,
    );
    for (const operation of [...operations].sort()) console.log(`    covered: ${operation}`);
  }
  const undescribedRoutes = new Map();
  for (const { entry, route } of undescribed) {
    const key = `${route.service} ${route.method} ${route.path}`;
    undescribedRoutes.set(key, { route, count: (undescribedRoutes.get(key)?.count ?? 0) + 1 });
  }
  for (const route of ROUTES.filter((r) => r.undescribed)) {
    console.log(`  undescribed, checked against its RFC: ${route.service} ${route.method} ${route.path} (${route.undescribed})`);
  }
  for (const [key, { route, count }] of undescribedRoutes) {
    console.log(`  undescribed, not checked: ${key} x${count} (${route.why})`);
  }
  const reasons = new Map();
  for (const { entry } of deviations) {
    const key = `${entry.service} ${entry.method} ${entry.path} ${entry.status}: ${entry.deviation}`;
    reasons.set(key, (reasons.get(key) ?? 0) + 1);
  }
  for (const [key, count] of reasons) console.log(`  deviation listed: ${key} x${count}`);
  if (failures.length > 0) {
    console.log(`\n${failures.length} problem(s):`);
    for (const failure of failures) console.log(`- ${failure}`);
  }
}

// ------------------------------------------------------------------------------------------
// Self-test: bodies that leave the descriptions in each way the check exists to catch must each
// be rejected, and a faithful one of each service accepted, or the check itself is broken.

function selfTest() {
  const entry = (service, method, pathname, status, body, name, query = null) => ({
    service,
    method,
    path: pathname,
    query,
    status,
    contentType: "application/json",
    body,
    deviation: null,
    where: `self-test:${name}`,
    name,
  });
  const user = { id: "87d349ed-44d7-43e1-9a83-5f2406dee5bd", displayName: "Adele Vance", accountEnabled: true };
  const good = [
    entry("microsoft_graph", "GET", "/v1.0/users", 200, { "@odata.context": "x", value: [user] }, "graph page"),
    entry("microsoft_graph", "GET", "/v1.0/groups/g1/members/microsoft.graph.user", 200,
      { value: [{ "@odata.type": "#microsoft.graph.user", ...user, externalUserState: null }] }, "graph cast page"),
    entry("microsoft_graph", "GET", "/v1.0/nowhere", 400,
      { error: { code: "BadRequest", message: "m", innerError: { date: "2025-01-01T00:00:00", "request-id": "r", "client-request-id": "r" } } }, "graph error"),
    entry("microsoft_graph", "GET", "/v1.0/groups/g1/members/microsoft.graph.user", 200,
      { value: [{ "@odata.type": "#microsoft.graph.user", id: "u", mail: null }] }, "graph selected page", "%24select=id%2Cmail&%24top=5"),
    entry("microsoft_graph", "POST", "/v1.0/chats/c/messages", 201,
      { "@odata.context": "x", id: "1", from: { user: { "@odata.type": "#microsoft.graph.teamworkUserIdentity", id: "u", userIdentityType: "aadUser" } } }, "graph derived type"),
    entry("microsoft_graph", "POST", "/v1.0/subscriptions", 201,
      { "@odata.context": "x", id: "s", resource: "users", changeType: "updated,deleted", clientState: null, expirationDateTime: "2026-12-30T00:00:00Z", includeResourceData: false }, "graph subscription"),
    { ...entry("microsoft_graph", "DELETE", "/v1.0/subscriptions/s", 204, null, "graph deletion"), contentType: null },
    entry("microsoft_login", "POST", "/t/oauth2/v2.0/token", 200, { access_token: "a", token_type: "Bearer", expires_in: 3600 }, "token"),
    entry("slack", "POST", "/api/users.list", 200, { ok: true, members: [{ id: "U1", profile: { email: "a@b" } }], response_metadata: { next_cursor: "" } }, "slack page"),
    entry("slack", "POST", "/api/oauth.v2.access", 200, { ok: true, access_token: "xoxb", enterprise: null }, "slack oauth"),
    entry("slack", "POST", "/api/users.list", 200, { ok: false, error: "missing_scope", needed: "users:read", provided: "chat:write" }, "slack refusal"),
    entry("slack", "POST", "/api/chat.postMessage", 429, { ok: false, error: "ratelimited" }, "slack rate limit"),
    entry("cloudflare", "GET", "/client/v4/accounts/a", 200,
      { success: true, errors: [], messages: [], result: { id: "a", name: "n", type: "standard" } }, "cloudflare account"),
  ];
  const bad = [
    entry("microsoft_graph", "GET", "/v1.0/users", 200, { value: [{ ...user, nope: 1 }] }, "undeclared entity property"),
    entry("microsoft_graph", "GET", "/v1.0/users", 200, { value: [{ ...user, accountEnabled: "yes" }] }, "wrong property type"),
    entry("microsoft_graph", "GET", "/v1.0/users", 200, { value: [{ ...user, id: null }] }, "null where not nullable"),
    entry("microsoft_graph", "GET", "/v1.0/users", 200, { "@odata.count": 1, value: [user] }, "undeclared page annotation"),
    entry("microsoft_graph", "GET", "/v1.0/users", 200, { "@odata.context": "x" }, "page without value"),
    entry("microsoft_graph", "GET", "/v1.0/users", 200, { value: [{ ...user, "@odata.etag": "W/1" }] }, "unlisted annotation"),
    entry("microsoft_graph", "POST", "/v1.0/chats/c/messages", 201,
      { id: "1", body: { contentType: "markdown", content: "x" } }, "bad enum value"),
    entry("microsoft_graph", "POST", "/v1.0/chats/c/messages", 201,
      { id: "1", from: { user: { id: "u", nickname: "x" } } }, "undeclared nested property"),
    entry("microsoft_graph", "POST", "/v1.0/chats/c/messages", 201,
      { id: "1", from: { user: { "@odata.type": "#microsoft.graph.teamworkUserIdentity", id: "u", userIdentityType: "robot" } } }, "bad enum in a derived type"),
    entry("microsoft_graph", "POST", "/v1.0/chats/c/messages", 201,
      { id: "1", from: { user: { "@odata.type": "#microsoft.graph.noSuchIdentity", id: "u" } } }, "unknown derived type"),
    entry("microsoft_graph", "GET", "/v1.0/users", 200, { value: [{ id: "u", mail: null, accountEnabled: true }] },
      "unselected property", "%24select=id%2Cmail"),
    entry("microsoft_graph", "GET", "/v1.0/groups/g1/members/microsoft.graph.user", 200,
      { value: [{ "@odata.type": "#microsoft.graph.user", id: "u", mail: null, userType: "Member" }] }, "unselected property of a cast member", "%24select=id%2Cmail"),
    entry("microsoft_graph", "GET", "/v1.0/me", 200, { id: "u" }, "selection of an unknown property", "%24select=id%2Cnope"),
    entry("microsoft_graph", "GET", "/v1.0/nowhere", 404, { error: { code: "NotFound" } }, "error without message"),
    entry("microsoft_graph", "GET", "/v1.0/subscriptions", 200, { value: [{ id: "s", resource: "users", secret: "x" }] }, "undeclared subscription property"),
    entry("microsoft_graph", "DELETE", "/v1.0/subscriptions/s", 204, { id: "s" }, "a body on a 204"),
    entry("microsoft_graph", "GET", "/v1.0/nowhere", 200, { value: [] }, "success on an undescribed path"),
    entry("microsoft_login", "POST", "/t/oauth2/v2.0/token", 200, { access_token: "a", token_type: "Bearer", foo: 1 }, "undeclared token field"),
    entry("slack", "POST", "/api/users.list", 200, { ok: true, members: [{ id: "U1", profile: { nickname: "x" } }] }, "undeclared slack profile field"),
    entry("slack", "POST", "/api/team.info", 200, { team: { id: "T1" } }, "slack answer without ok"),
    entry("slack", "POST", "/api/team.info", 200, { ok: false, error: "missing_scope", team: { id: "T1" } }, "slack refusal with a payload"),
    entry("slack", "POST", "/api/team.info", 200, { ok: false }, "slack refusal without error"),
    entry("slack", "POST", "/api/auth.test", 200, { ok: true, error: "x" }, "slack success with an error"),
    entry("slack", "POST", "/api/users.lookupByEmail", 200, { ok: true }, "unmapped slack method"),
    entry("cloudflare", "GET", "/client/v4/accounts/a/members", 200,
      { success: true, errors: [], messages: [], result: [{ id: "m", status: "invited" }], result_info: { page: 1 } }, "bad cloudflare enum"),
    entry("cloudflare", "GET", "/client/v4/accounts/a", 403,
      { success: false, errors: [{ code: 9109, message: "m", extra: true }], messages: [], result: null }, "undeclared error field"),
  ];
  // One compilation for all of them: each failure names the entry it is about.
  const { failures } = runCheck([...good, ...bad], { quiet: true });
  const about = (item) => failures.filter((f) => f.includes(`(${item.where})`));
  let broken = false;
  for (const item of good) {
    for (const failure of about(item)) {
      broken = true;
      console.log(`self-test: the faithful ${item.name} was rejected: ${failure}`);
    }
  }
  for (const item of bad) {
    if (about(item).length === 0) {
      broken = true;
      console.log(`self-test: a body with ${item.name} was accepted`);
    }
  }
  const unexplained = failures.filter((f) => ![...good, ...bad].some((item) => f.includes(`(${item.where})`)));
  for (const failure of unexplained) {
    broken = true;
    console.log(`self-test: ${failure}`);
  }
  if (broken) {
    console.log("self-test failed: the check cannot be trusted");
    return 1;
  }
  console.log(`self-test: ${good.length} faithful bodies accepted, ${bad.length} unfaithful ones rejected`);
  return 0;
}

// ------------------------------------------------------------------------------------------

function main(argv) {
  if (argv[0] === "--self-test") return selfTest();
  const dir = argv[0];
  if (!dir) {
    console.error("usage: node check.mjs <log dir> | --self-test");
    return 2;
  }
  const entries = fs.existsSync(dir) ? readLogs(dir) : [];
  const { failures } = runCheck(entries);
  // A service that logged nothing would pass vacuously.
  const silent = SERVICES.filter((service) => !entries.some((e) => e.service === service));
  for (const service of silent) console.log(`- ${service}: no logged responses (the check would pass vacuously)`);
  if (failures.length > 0 || silent.length > 0) {
    console.log("\nfake conformance (TypeScript types): FAILED");
    return 1;
  }
  console.log("fake conformance (TypeScript types): ok");
  return 0;
}

process.exitCode = main(process.argv.slice(2));
