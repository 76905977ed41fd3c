//! Pagination styles as data, a paginator that fetches page after page and exposes the cursor
//! to save as a checkpoint, and resume from a saved cursor.
//!
//! ```ignore
//! let mut pages = Paginator::resume(http.get("/api/v1/users").query("limit", "200"),
//!     Pagination::link_header(), checkpoint.cursor("users"));
//! while let Some(page) = pages.next_page().await? {
//!     emit(page.items);
//!     checkpoint.set("users", page.next_cursor.as_deref()).save(&ctx).await?;
//! }
//! ```

use std::collections::BTreeMap;

use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tributary_core::{OperationContext, OperationError};

use crate::{ProviderRequest, RequestBody};

/// Where a provider puts the next page and how the request asks for it. Pointers are JSON
/// pointers into the response body (`""` is the body itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pagination {
    /// RFC 8288 `Link: <url>; rel="next"` (Okta, GitHub REST). The cursor is the next URL.
    LinkHeader { items: &'static str },
    /// The next URL in a body field (Microsoft Graph `@odata.nextLink`, Azure `nextLink`).
    NextLink {
        link: &'static str,
        items: &'static str,
    },
    /// A token in the body, sent back as a query parameter (Google `nextPageToken` as
    /// `pageToken`, Slack `response_metadata.next_cursor` as `cursor`). Empty means done.
    QueryToken {
        token: &'static str,
        param: &'static str,
        items: &'static str,
    },
    /// A token in the body, sent back as a field of the JSON request body (AWS `NextToken`).
    BodyToken {
        token: &'static str,
        field: &'static str,
        items: &'static str,
    },
    /// A GraphQL connection at `connection` with `nodes` and `pageInfo { hasNextPage
    /// endCursor }`; the cursor goes into `variables.<variable>` of the request body.
    GraphQl {
        connection: &'static str,
        variable: &'static str,
    },
    /// Numbered pages with a total (Cloudflare `result_info.total_pages`). Without a total,
    /// paging stops at the first empty page.
    PageNumber {
        param: &'static str,
        total_pages: &'static str,
        items: &'static str,
    },
}

impl Pagination {
    /// Okta and GitHub REST: a JSON array body and `Link` headers.
    pub const fn link_header() -> Self {
        Self::LinkHeader { items: "" }
    }

    /// Microsoft Graph: `value` and `@odata.nextLink`.
    pub const fn odata() -> Self {
        Self::NextLink {
            link: "/@odata.nextLink",
            items: "/value",
        }
    }

    /// Google APIs: `nextPageToken` sent back as `pageToken`; items at `items`
    /// (`/users`, `/groups`, `/members`).
    pub const fn google(items: &'static str) -> Self {
        Self::QueryToken {
            token: "/nextPageToken",
            param: "pageToken",
            items,
        }
    }

    /// Slack Web API: `response_metadata.next_cursor` sent back as `cursor`.
    pub const fn slack(items: &'static str) -> Self {
        Self::QueryToken {
            token: "/response_metadata/next_cursor",
            param: "cursor",
            items,
        }
    }

    /// AWS JSON APIs: `NextToken` in the response and in the request body.
    pub const fn aws(items: &'static str) -> Self {
        Self::BodyToken {
            token: "/NextToken",
            field: "NextToken",
            items,
        }
    }

    /// GitHub GraphQL: a connection with `first`/`after`.
    pub const fn graphql(connection: &'static str) -> Self {
        Self::GraphQl {
            connection,
            variable: "after",
        }
    }

    /// Cloudflare v4: `result` and `result_info.total_pages`, `page` parameter.
    pub const fn cloudflare() -> Self {
        Self::PageNumber {
            param: "page",
            total_pages: "/result_info/total_pages",
            items: "/result",
        }
    }
}

/// One page: its items, the cursor of the page after it (`None` on the last page) and the whole
/// body for anything else a provider needs from it.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Value>,
    pub next_cursor: Option<String>,
    pub body: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Position {
    Start,
    At(String),
    Done,
}

/// Where a listing stands: its pagination style and the cursor of the page it fetches next.
/// Each page is fetched with a request the caller builds for it, so a listing whose requests
/// need a fresh token per page (Google) pages and resumes like any other.
#[derive(Debug, Clone)]
pub struct Listing {
    style: Pagination,
    position: Position,
}

impl Listing {
    /// Starts at the first page.
    pub fn new(style: Pagination) -> Self {
        Self::resume(style, None)
    }

    /// Starts at `cursor` (a cursor from [`Page::next_cursor`] saved by an earlier run), or at
    /// the first page when it is `None`.
    pub fn resume(style: Pagination, cursor: Option<String>) -> Self {
        Self {
            style,
            position: cursor.map_or(Position::Start, Position::At),
        }
    }

    /// The cursor of the page the next call fetches (`None` at the start or when done).
    pub fn cursor(&self) -> Option<&str> {
        match &self.position {
            Position::At(cursor) => Some(cursor),
            _ => None,
        }
    }

    pub fn is_done(&self) -> bool {
        self.position == Position::Done
    }

    /// Fetches the next page with `template` (the listing's first-page request), or `None`
    /// after the last one.
    pub async fn next_page(
        &mut self,
        template: ProviderRequest,
    ) -> Result<Option<Page>, OperationError> {
        let cursor = match &self.position {
            Position::Done => return Ok(None),
            Position::Start => None,
            Position::At(cursor) => Some(cursor.clone()),
        };
        let request = self.request_for(template, cursor.as_deref())?;
        let response = request.send().await?;
        let body: Value = if response.bytes().is_empty() {
            Value::Null
        } else {
            response.json()?
        };
        let label = response.label().to_owned();
        let (items, next) = match &self.style {
            Pagination::LinkHeader { items } => (
                items_at(&body, items, &label)?,
                response.next_link().map(|url| url.to_string()),
            ),
            Pagination::NextLink { link, items } => (
                items_at(&body, items, &label)?,
                non_empty(body.pointer(link)),
            ),
            Pagination::QueryToken { token, items, .. }
            | Pagination::BodyToken { token, items, .. } => (
                items_at(&body, items, &label)?,
                non_empty(body.pointer(token)),
            ),
            Pagination::GraphQl { connection, .. } => graphql_page(&body, connection, &label)?,
            Pagination::PageNumber {
                total_pages, items, ..
            } => {
                let items = items_at(&body, items, &label)?;
                let current: u64 = cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(1);
                let more = match body.pointer(total_pages).and_then(Value::as_u64) {
                    Some(total) => current < total,
                    None => !items.is_empty(),
                };
                (items, more.then(|| (current + 1).to_string()))
            }
        };
        if next.is_some() && next == cursor {
            return Err(OperationError::provider(format!(
                "{label}: pagination did not advance (the provider returned the same cursor)"
            )));
        }
        self.position = next.clone().map_or(Position::Done, Position::At);
        Ok(Some(Page {
            items,
            next_cursor: next,
            body,
        }))
    }

    fn request_for(
        &self,
        template: ProviderRequest,
        cursor: Option<&str>,
    ) -> Result<ProviderRequest, OperationError> {
        let Some(cursor) = cursor else {
            return Ok(template);
        };
        Ok(match &self.style {
            Pagination::LinkHeader { .. } | Pagination::NextLink { .. } => {
                let next = same_origin_url(&template, cursor)?;
                template.set_url(next)
            }
            Pagination::QueryToken { param, .. } | Pagination::PageNumber { param, .. } => {
                template.set_query(param, cursor)
            }
            Pagination::BodyToken { field, .. } => {
                let mut body = json_body(&template);
                body[*field] = json!(cursor);
                template.set_json(body)
            }
            Pagination::GraphQl { variable, .. } => {
                let mut body = json_body(&template);
                if !body["variables"].is_object() {
                    body["variables"] = json!({});
                }
                body["variables"][*variable] = json!(cursor);
                template.set_json(body)
            }
        })
    }
}

/// Fetches the pages of one listing whose requests differ only by the cursor.
#[derive(Debug)]
pub struct Paginator {
    template: ProviderRequest,
    listing: Listing,
}

impl Paginator {
    /// Starts at the first page.
    pub fn new(template: ProviderRequest, style: Pagination) -> Self {
        Self::resume(template, style, None)
    }

    /// Starts at `cursor` (see [`Listing::resume`]).
    pub fn resume(template: ProviderRequest, style: Pagination, cursor: Option<String>) -> Self {
        Self {
            template,
            listing: Listing::resume(style, cursor),
        }
    }

    /// The cursor of the page the next call fetches (`None` at the start or when done).
    pub fn cursor(&self) -> Option<&str> {
        self.listing.cursor()
    }

    pub fn is_done(&self) -> bool {
        self.listing.is_done()
    }

    /// Fetches the next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Page>, OperationError> {
        self.listing.next_page(self.template.clone()).await
    }

    /// Fetches every remaining page and returns all items (for small listings only).
    pub async fn collect_all(mut self) -> Result<Vec<Value>, OperationError> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(page.items);
        }
        Ok(all)
    }
}

fn json_body(request: &ProviderRequest) -> Value {
    match request.body() {
        Some(RequestBody::Json(value)) if value.is_object() => value.clone(),
        _ => json!({}),
    }
}

/// A next-page URL must stay on the origin of the first request: a link elsewhere would carry
/// the credential to another host.
fn same_origin_url(template: &ProviderRequest, next: &str) -> Result<Url, OperationError> {
    let base = template
        .url()
        .ok_or_else(|| OperationError::internal("paginated request without a valid URL"))?;
    let next = base
        .join(next)
        .map_err(|_| OperationError::provider("the next-page link is not a valid URL"))?;
    if next.origin() != base.origin() {
        return Err(OperationError::provider(format!(
            "the next-page link points to another host ({}), refusing to follow it",
            next.host_str().unwrap_or_default()
        )));
    }
    Ok(next)
}

/// The cursor of the next page that a body names at `pointer`; an empty or missing one means the
/// page was the last.
pub fn next_cursor(body: &Value, pointer: &str) -> Option<String> {
    non_empty(body.pointer(pointer))
}

fn non_empty(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn items_at(body: &Value, pointer: &str, label: &str) -> Result<Vec<Value>, OperationError> {
    match body.pointer(pointer) {
        Some(Value::Array(items)) => Ok(items.clone()),
        // Some APIs leave the list out when it is empty (Google, AWS).
        None | Some(Value::Null) if !pointer.is_empty() => Ok(Vec::new()),
        _ => Err(OperationError::provider(format!(
            "{label}: the answer has no list at `{pointer}`"
        ))),
    }
}

fn graphql_page(
    body: &Value,
    connection: &str,
    label: &str,
) -> Result<(Vec<Value>, Option<String>), OperationError> {
    if let Some(errors) = body.get("errors").and_then(Value::as_array)
        && let Some(first) = errors.first()
    {
        let message = crate::classify::excerpt(
            first.get("message").and_then(Value::as_str).unwrap_or(""),
            &[],
        );
        let text = format!("{label}: GraphQL error: {message}");
        return Err(
            if first.get("type").and_then(Value::as_str) == Some("RATE_LIMITED") {
                OperationError::rate_limited(text, None)
            } else {
                OperationError::provider(text)
            },
        );
    }
    let connection = body.pointer(connection).ok_or_else(|| {
        OperationError::provider(format!(
            "{label}: the answer has no connection at `{connection}`"
        ))
    })?;
    let items = items_at(connection, "/nodes", label)?;
    let info = connection.get("pageInfo");
    let has_next = info
        .and_then(|i| i.get("hasNextPage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let next = if has_next {
        non_empty(info.and_then(|i| i.get("endCursor")))
    } else {
        None
    };
    Ok((items, next))
}

/// Parses an RFC 8288 `Link` header (possibly split over several header values) and returns the
/// target of the link whose `rel` includes `rel`.
pub fn link_rel<'a>(values: impl IntoIterator<Item = &'a str>, rel: &str) -> Option<String> {
    for value in values {
        let mut rest = value;
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let close = after.find('>')?;
            let target = &after[..close];
            let tail = &after[close + 1..];
            let params_end = tail.find('<').unwrap_or(tail.len());
            let params = &tail[..params_end];
            let matches = params.split([';', ',']).any(|param| {
                let param = param.trim();
                param
                    .strip_prefix("rel")
                    .map(str::trim_start)
                    .and_then(|p| p.strip_prefix('='))
                    .is_some_and(|value| {
                        value
                            .trim()
                            .trim_matches('"')
                            .split_whitespace()
                            .any(|r| r.eq_ignore_ascii_case(rel))
                    })
            });
            if matches {
                return Some(target.to_owned());
            }
            rest = &tail[params_end..];
        }
    }
    None
}

/// The state of a phase of a resumable listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PhaseState {
    /// Resume this phase at the cursor.
    Cursor(String),
    /// The phase finished.
    Done,
}

/// A run checkpoint over named phases (`users`, `groups`, `members:<group id>`): which phases
/// are done and where an unfinished one resumes. Stored as JSON through the run hooks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    phases: BTreeMap<String, PhaseState>,
}

impl Checkpoint {
    /// The run's saved checkpoint; an absent or unreadable one starts from scratch.
    pub fn load(ctx: &OperationContext) -> Self {
        ctx.run
            .checkpoint()
            .and_then(|value| serde_json::from_value(value).ok())
            .unwrap_or_default()
    }

    /// Where `phase` resumes (`None`: from its start, or it is done).
    pub fn cursor(&self, phase: &str) -> Option<String> {
        match self.phases.get(phase) {
            Some(PhaseState::Cursor(cursor)) => Some(cursor.clone()),
            _ => None,
        }
    }

    pub fn is_done(&self, phase: &str) -> bool {
        self.phases.get(phase) == Some(&PhaseState::Done)
    }

    /// Records the cursor after a page: `Some` to resume there, `None` when the phase is done.
    pub fn set(&mut self, phase: &str, next_cursor: Option<&str>) -> &mut Self {
        let state = match next_cursor {
            Some(cursor) => PhaseState::Cursor(cursor.to_owned()),
            None => PhaseState::Done,
        };
        self.phases.insert(phase.to_owned(), state);
        self
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Saves the checkpoint through the run hooks.
    pub async fn save(&self, ctx: &OperationContext) -> Result<(), OperationError> {
        ctx.run.save_checkpoint(self.to_value()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_parse() {
        let okta = [
            "<https://acme.okta.com/api/v1/users?limit=2>; rel=\"self\"",
            "<https://acme.okta.com/api/v1/users?after=00u2&limit=2>; rel=\"next\"",
        ];
        assert_eq!(
            link_rel(okta, "next").as_deref(),
            Some("https://acme.okta.com/api/v1/users?after=00u2&limit=2")
        );
        let github = "<https://api.github.com/x?page=2&q=a,b>; rel=\"next\", <https://api.github.com/x?page=5>; rel=\"last\"";
        assert_eq!(
            link_rel([github], "next").as_deref(),
            Some("https://api.github.com/x?page=2&q=a,b")
        );
        assert_eq!(
            link_rel([github], "last").as_deref(),
            Some("https://api.github.com/x?page=5")
        );
        assert_eq!(
            link_rel(["<https://x/>; rel=\"prev next\""], "next").as_deref(),
            Some("https://x/")
        );
        assert_eq!(link_rel(["<https://x/>; rel=self"], "next"), None);
        assert_eq!(link_rel(["garbage"], "next"), None);
    }

    #[test]
    fn checkpoint_round_trips() {
        let mut checkpoint = Checkpoint::default();
        checkpoint.set("users", None).set("groups", Some("abc"));
        let back: Checkpoint = serde_json::from_value(checkpoint.to_value()).unwrap();
        assert!(back.is_done("users"));
        assert_eq!(back.cursor("groups").as_deref(), Some("abc"));
        assert_eq!(back.cursor("members"), None);
        assert!(!back.is_done("members"));
    }
}
