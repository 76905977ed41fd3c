//! Proc-macros of Tributary.
//!
//! - `#[derive(StableName)]`: the persisted name of a credential slot, operation or webhook event
//!   type is its identifier, verbatim (`OktaApiToken` gives `"OktaApiToken"`). Renaming the type is
//!   therefore a visible, reviewed change (a migration), never a silent refactor. `std::any::type_name`
//!   is not used because its output includes the module path and is not stable.
//! - `#[derive(IngestModel)]`: key metadata (allowed, required, upsert, lookup and context keys) of an
//!   internal model that mappings target.
//! - `#[each_backend]`: a test on the storage backends, one generated test per backend
//!   (`name_sqlite`, `name_postgres`); re-exported as `tributary_store::testing::each_backend`.

use proc_macro::TokenStream;

mod each_backend;
mod ingest_model;
mod stable_name;

/// Implements `tributary_core::StableName` with `NAME` set to the type's identifier.
///
/// `#[stable_name = "..."]` freezes a different name, for a type that must be renamed without
/// migrating what is stored.
#[proc_macro_derive(StableName, attributes(stable_name))]
pub fn derive_stable_name(input: TokenStream) -> TokenStream {
    derive_with(input, stable_name::expand)
}

/// Derives the ingest key metadata of an internal model; see `tributary_model`.
#[proc_macro_derive(IngestModel, attributes(ingest))]
pub fn derive_ingest_model(input: TokenStream) -> TokenStream {
    derive_with(input, ingest_model::expand)
}

/// Runs a derive's `expand` on its input, turning an error into `compile_error!`.
fn derive_with(
    input: TokenStream,
    expand: fn(&syn::DeriveInput) -> syn::Result<proc_macro2::TokenStream>,
) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns `async fn name(backend: TestDb)` into the tests `name_sqlite` and `name_postgres`, each
/// handing the function a fresh database of its backend (see `tributary_store::testing`).
///
/// The attribute's arguments go to `#[tokio::test(...)]`: `#[each_backend(flavor =
/// "multi_thread", worker_threads = 2)]`.
#[proc_macro_attribute]
pub fn each_backend(arguments: TokenStream, test: TokenStream) -> TokenStream {
    let test = syn::parse_macro_input!(test as syn::ItemFn);
    each_backend::expand(arguments.into(), &test)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
