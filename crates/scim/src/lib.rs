//! The SCIM 2.0 push server (RFC 7643, RFC 7644): identity providers (Okta, Entra ID, OneLogin,
//! JumpCloud) provision users and groups into a SCIM endpoint of an integration of the `scim`
//! definition. The protocol lives here: the discovery documents ([`schema`]), the filter parser
//! and evaluator ([`filter`]), the PATCH engine ([`patch`]) and the HTTP handlers ([`routes`]).
//! Storage is the store's `scim` module; each write also reaches the runtime's ingest path as
//! DirectoryAccount, DirectoryGroup and DirectoryMembership records.

pub mod admin;
pub mod error;
pub mod filter;
pub mod openapi;
pub mod patch;
pub mod records;
pub mod resource;
pub mod routes;
pub mod schema;
pub use routes::{BASE_PATH, router};
