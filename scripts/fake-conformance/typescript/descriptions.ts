// The response types the logged responses of the Microsoft Graph, Slack and Cloudflare fakes are
// held to. Entities come from the providers' official published type sets (pinned in
// package.json); the few wrappers written here are what those sets do not type (a Graph
// collection page, Graph's error body, Cloudflare's v4 envelope, the OAuth token endpoint), each
// with the document it follows. check.mjs assigns every logged body, as an object literal, to one
// of these types, so tsc rejects any property a type does not declare, at every level.

import type * as Graph from "@microsoft/microsoft-graph-types";
import type * as SlackApi from "@slack/web-api";
import type { Account } from "cloudflare/resources/accounts/accounts";
import type { TokenVerifyResponse as AccountTokenVerify } from "cloudflare/resources/accounts/tokens/tokens";
import type { TokenVerifyResponse as UserTokenVerify } from "cloudflare/resources/user/tokens/tokens";
import type { Member as CloudflareMember, ResponseInfo } from "cloudflare/resources/shared";

// ---------------------------------------------------------------------------------------------
// Microsoft Graph (v1.0)

// OData JSON Format v4.01 §4.5: a structured value may carry control information. Graph puts
// `@odata.type` on derived-type entities and complex values (a member listed through a cast, a
// chatMessage's `from.user`) and `@odata.id` on entity references; the generated types declare
// neither, so each object of a Graph type may carry exactly these two, and nothing else.
type Annotations = { "@odata.type"?: string; "@odata.id"?: string };
export type OData<T> = T extends readonly (infer Item)[]
  ? OData<Item>[]
  : T extends object
    ? { [K in keyof T]: OData<T[K]> } & Annotations
    : T;

// An object whose `@odata.type` names a derived type (`#microsoft.graph.teamworkUserIdentity` in
// a slot typed identity) is held to that type: check.mjs writes it as
// `({...} satisfies D.OData<D.Graph.TeamworkUserIdentity>) as D.OData<...>`, which checks the
// literal strictly against the named type and then that type against the declared one.
export type { Graph };

// A single entity answered at the top level (`GET /me`, the created chatMessage): OData's
// context URL comes with it.
export type GraphEntity<T> = OData<T> & { "@odata.context"?: string };

// A collection page (Graph docs, "Paging Microsoft Graph data in your app"; OData JSON Format
// §12): the items in `value`, the next page in `@odata.nextLink`, the delta link on the last page
// of a delta query. `@odata.count` only answers `$count=true`, which no fake's client sends, so it
// is not allowed here.
export interface GraphPage<T> {
  "@odata.context"?: string;
  "@odata.nextLink"?: string;
  "@odata.deltaLink"?: string;
  value: OData<T>[];
}

// Graph's error body (Graph docs, "Microsoft Graph error responses and resource types": the
// error resource `{code, message, innerError, details}`; OData JSON Format §21.1 adds `target`).
// The types package has no type for the HTTP error body (its publicError is a resource
// property, whose innerError lacks the request ids Graph always sends), so it is written here:
// innerError carries the `date`, `request-id` and `client-request-id` the docs show, and may
// nest a more specific `code` and innerError.
interface GraphErrorDetail {
  code: string;
  message: string;
  target?: string;
}
interface GraphInnerError {
  code?: string;
  date?: string;
  "request-id"?: string;
  "client-request-id"?: string;
  innerError?: GraphInnerError;
}
export interface GraphErrorBody {
  error: {
    code: string;
    message: string;
    target?: string;
    details?: GraphErrorDetail[];
    innerError?: GraphInnerError;
  };
}

// An entity answered to `$select=<K...>`: only those properties (check.mjs narrows the type).
export type Selected<T, K extends keyof T> = Pick<T, K>;

export type User = Graph.User;
export type Group = Graph.Group;
export type Organization = Graph.Organization;
export type Team = Graph.Team;
export type ChatMessage = Graph.ChatMessage;
export type Subscription = Graph.Subscription;

// ---------------------------------------------------------------------------------------------
// Microsoft identity platform token endpoint (no type set is published for it): RFC 6749 §5.1,
// with OpenID Connect Core §3.1.3.3's `id_token` and the identity platform's documented
// `ext_expires_in`; errors per RFC 6749 §5.2, with the identity platform's documented
// `error_codes`, `timestamp`, `trace_id` and `correlation_id`.
export interface OAuthTokenResponse {
  access_token: string;
  token_type: string;
  expires_in?: number;
  ext_expires_in?: number;
  refresh_token?: string;
  scope?: string;
  id_token?: string;
}
export interface OAuthErrorResponse {
  error:
    | "invalid_request"
    | "invalid_client"
    | "invalid_grant"
    | "unauthorized_client"
    | "unsupported_grant_type"
    | "invalid_scope";
  error_description?: string;
  error_uri?: string;
  error_codes?: number[];
  timestamp?: string;
  trace_id?: string;
  correlation_id?: string;
}

// ---------------------------------------------------------------------------------------------
// Slack Web API: @slack/web-api's generated response types, one per method. They are generated
// from Slack's sample answers and leave out `null`; where Slack documents a null the exception is
// spelled out here, with the documentation that says so.
// Slack docs, "Web API basics" (evaluating responses): every answer has a boolean `ok`; when it
// is false, `error` holds the code (and `missing_scope` adds `needed` and `provided`) and nothing
// of the method's payload comes along; `warning` may come with either. check.mjs holds an
// `ok: true` answer to SlackOk<T> and an `ok: false` one to SlackError<T>.
type SlackRefusalKeys = "error" | "needed" | "provided";
export type SlackOk<T> = Omit<T, SlackRefusalKeys | "ok"> & { ok: true };
export type SlackError<T> = Pick<T, Extract<keyof T, "needed" | "provided" | "warning" | "response_metadata">> & {
  ok: false;
  error: string;
};

export type AuthTest = SlackApi.AuthTestResponse;
// auth.revoke (Slack docs, "auth.revoke": the answer is `{"ok": true, "revoked": true}`): the
// generated type leaves out `revoked`, which Slack documents and always sends.
export type AuthRevoke = SlackApi.AuthRevokeResponse & { revoked?: boolean };
export type TeamInfo = SlackApi.TeamInfoResponse;
export type UsersList = SlackApi.UsersListResponse;
export type ChatPostMessage = SlackApi.ChatPostMessageResponse;
// oauth.v2.access: `enterprise` is null unless the app is installed in an Enterprise Grid
// organization, and `team` is null for an organization-wide install (Slack's own @slack/oauth
// types the answer's `enterprise` as `{id, name} | null`; Slack docs, "Organization-wide apps
// reference", show `"team": null`).
type SlackTeamRef = NonNullable<SlackApi.OauthV2AccessResponse["team"]>;
export type OauthV2Access = Omit<SlackApi.OauthV2AccessResponse, "enterprise" | "team"> & {
  enterprise?: SlackTeamRef | null;
  team?: SlackTeamRef | null;
};

// ---------------------------------------------------------------------------------------------
// Cloudflare API v4. The SDK's methods return the unwrapped `result`, so it exports the result
// types but not the envelope around them; the envelope is written here from the SDK's own parts
// (its ResponseInfo for errors and messages) and Cloudflare's API docs ("Make API calls",
// pagination): `{success, errors, messages, result}`, and `result_info` on list endpoints.
export interface CloudflareSuccess<R> {
  success: true;
  errors: ResponseInfo[];
  messages: ResponseInfo[];
  result: R;
}
// The SDK's V4PagePaginationArray reads only `page` and `per_page`; the API also sends the
// counts (Cloudflare API docs, `result_info` of list operations: page, per_page, count,
// total_count, total_pages).
export interface CloudflarePage<R> extends CloudflareSuccess<R[]> {
  result_info: {
    page?: number;
    per_page?: number;
    count?: number;
    total_count?: number;
    total_pages?: number;
  };
}
export interface CloudflareFailure {
  success: false;
  errors: ResponseInfo[];
  messages: ResponseInfo[];
  result: null;
}
export type CloudflareAccount = Account;
export type CloudflareAccountTokenVerify = AccountTokenVerify;
export type CloudflareUserTokenVerify = UserTokenVerify;
export type CloudflareAccountMember = CloudflareMember;
