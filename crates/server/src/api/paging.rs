//! The `limit` of list routes. Out-of-range values are refused (400 `invalid_query`), not
//! clamped, so the server does exactly what the OpenAPI document's bounds say: both come from
//! the constants here.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, de::Error as _};

/// Items per page when `limit` is not given.
pub const DEFAULT_PAGE: u32 = 50;

/// The largest `limit`.
pub const MAX_PAGE: u32 = 500;

/// A page size from 1 to [`MAX_PAGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl<'de> Deserialize<'de> for PageLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let requested = u32::deserialize(deserializer)?;
        if (1..=MAX_PAGE).contains(&requested) {
            Ok(PageLimit(requested))
        } else {
            Err(D::Error::custom(format!(
                "limit must be from 1 to {MAX_PAGE}, not {requested}"
            )))
        }
    }
}

impl JsonSchema for PageLimit {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PageLimit".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "integer",
            "format": "uint32",
            "minimum": 1,
            "maximum": MAX_PAGE,
            "description": format!("Page size: 1 to {MAX_PAGE} (default {DEFAULT_PAGE})."),
        })
    }
}

/// The page size asked for, or [`DEFAULT_PAGE`].
pub fn page_limit(requested: Option<PageLimit>) -> usize {
    requested.map_or(DEFAULT_PAGE, |PageLimit(limit)| limit) as usize
}

/// Declares the query of a list route: its filters, each optional (`#[serde(default)]`), then the
/// `limit` and `cursor` every list pages with. One declaration keeps the paging fields (and their
/// OpenAPI descriptions) the same on every list.
macro_rules! list_query {
    (
        $(#[$struct_meta:meta])*
        pub struct $name:ident {
            $($(#[$field_meta:meta])* pub $field:ident: $field_type:ty,)*
        }
    ) => {
        $(#[$struct_meta])*
        #[derive(Debug, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[$field_meta])*
                #[serde(default)]
                pub $field: $field_type,
            )*
            #[serde(default)]
            pub limit: Option<PageLimit>,
            /// The `nextCursor` of the previous page.
            #[serde(default)]
            pub cursor: Option<String>,
        }
    };
}
pub(crate) use list_query;
