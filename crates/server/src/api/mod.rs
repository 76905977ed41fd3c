//! The REST API under `/v1`. Every route is declared once, in [`endpoints`], with what the
//! OpenAPI document needs (parameters, body, answers, who may call it) next to its handler: the
//! router and `/openapi.json` are both built from that one list, so the document cannot forget a
//! route or describe one that does not exist.
//!
//! Tenancy: the operator token manages tenants and their tokens; every other route acts for the
//! tenant of the calling token, and another tenant's ids answer 404 like ids that do not exist.

mod audit;
mod definitions;
pub mod error;
pub(crate) mod extract;
mod integrations;
pub(crate) mod mappings;
mod nul;
mod paging;
mod records;
pub mod request_id;
mod runs;
mod scim_admin;
mod tenants;
mod ui_sessions;
pub mod views;
mod webhook_admin;

use axum::{
    handler::Handler,
    http::Method,
    routing::{MethodFilter, MethodRouter},
};
use schemars::{JsonSchema, Schema, SchemaGenerator};

pub(crate) use crate::AppState as ApiState;
pub(crate) use audit::event_cursor;
pub use error::{ApiError, ErrorBody};

pub(crate) type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// No token (health, metrics, the OpenAPI document).
    Public,
    /// The operator token.
    Operator,
    /// A tenant API token.
    Tenant,
    /// Any valid token.
    AnyToken,
}

/// One route: its handler and its description.
pub(crate) struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub access: Access,
    pub query: Option<SchemaFn>,
    pub body: Option<SchemaFn>,
    /// The success status, its description and body (`None`: no body).
    pub success: (u16, &'static str, Option<SchemaFn>),
    /// Other success answers (a queued run's 202).
    pub also: Vec<(u16, &'static str, Option<SchemaFn>)>,
    /// A success answer that is not JSON (`text/plain` for `/metrics`).
    pub success_media: &'static str,
    pub handler: MethodRouter<ApiState>,
}

impl Endpoint {
    fn new<H, T>(
        method: Method,
        path: &'static str,
        operation_id: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, ApiState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a standard method");
        Self {
            method,
            path,
            operation_id,
            summary,
            tag: "",
            access: Access::Tenant,
            query: None,
            body: None,
            success: (200, "OK", None),
            also: Vec::new(),
            success_media: "application/json",
            handler: MethodRouter::new().on(filter, handler),
        }
    }

    fn tag(mut self, tag: &'static str) -> Self {
        self.tag = tag;
        self
    }

    fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    fn query<Q: JsonSchema>(mut self) -> Self {
        self.query = Some(schema_of::<Q>);
        self
    }

    fn body<B: JsonSchema>(mut self) -> Self {
        self.body = Some(schema_of::<B>);
        self
    }

    fn answers<R: JsonSchema>(mut self, status: u16, description: &'static str) -> Self {
        self.success = (status, description, Some(schema_of::<R>));
        self
    }

    fn also<R: JsonSchema>(mut self, status: u16, description: &'static str) -> Self {
        self.also.push((status, description, Some(schema_of::<R>)));
        self
    }

    fn answers_empty(mut self, status: u16, description: &'static str) -> Self {
        self.success = (status, description, None);
        self
    }
}

/// Every `/v1` route.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    let mut all = Vec::new();
    all.extend(tenants::endpoints());
    all.extend(definitions::endpoints());
    all.extend(integrations::endpoints());
    all.extend(runs::endpoints());
    all.extend(webhook_admin::endpoints());
    all.extend(scim_admin::endpoints());
    all.extend(records::endpoints());
    all.extend(mappings::endpoints());
    all.extend(audit::endpoints());
    all.extend(ui_sessions::endpoints());
    all
}

/// A route of the table, for tests and tools: method, path and who may call it (`public`,
/// `operator`, `tenant`, `any_token`).
pub fn route_table() -> Vec<(Method, &'static str, &'static str)> {
    endpoints()
        .into_iter()
        .map(|endpoint| {
            let access = match endpoint.access {
                Access::Public => "public",
                Access::Operator => "operator",
                Access::Tenant => "tenant",
                Access::AnyToken => "any_token",
            };
            (endpoint.method, endpoint.path, access)
        })
        .collect()
}

/// Shorthands for the handlers' modules.
mod prelude {
    pub(crate) use super::{
        Access, ApiState, Endpoint,
        error::ApiError,
        extract::{Caller, JsonBody, PathParams, QueryParams},
        views::*,
    };
    pub use axum::{
        Json,
        extract::State,
        http::{Method, StatusCode},
    };
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::Value;

    pub type ApiResult<T> = Result<Json<T>, ApiError>;

    pub(crate) use super::paging::{PageLimit, list_query, page_limit};
}
