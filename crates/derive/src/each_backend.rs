//! `#[each_backend]`: one test per storage backend, so a failure names its database.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{FnArg, ItemFn};

/// Keeps `test` as written (renamed nowhere) and adds `<name>_sqlite` and `<name>_postgres`,
/// each a `#[tokio::test]` with the attribute's arguments (`flavor = "multi_thread"`, ...).
pub fn expand(runtime_arguments: TokenStream, test: &ItemFn) -> syn::Result<TokenStream> {
    let signature = &test.sig;
    if signature.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            signature.fn_token,
            "#[each_backend] needs an `async fn name(backend: TestDb)`",
        ));
    }
    if signature.inputs.len() != 1 || !matches!(signature.inputs[0], FnArg::Typed(_)) {
        return Err(syn::Error::new_spanned(
            &signature.inputs,
            "#[each_backend] passes one argument, the backend (`backend: TestDb`)",
        ));
    }
    let name = &signature.ident;
    let on_sqlite = format_ident!("{name}_sqlite");
    let on_postgres = format_ident!("{name}_postgres");
    // The PostgreSQL schema is named after the test, so a leftover schema names its test too.
    let schema_prefix = name.to_string();
    let tokio_test = if runtime_arguments.is_empty() {
        quote!(#[::tokio::test])
    } else {
        quote!(#[::tokio::test(#runtime_arguments)])
    };
    Ok(quote! {
        #test

        #tokio_test
        async fn #on_sqlite() {
            #name(::tributary_store::testing::sqlite().await).await;
        }

        #tokio_test
        async fn #on_postgres() {
            // `postgres` fails under CI when the server is unreachable, and skips with a note
            // elsewhere.
            if let Some(backend) = ::tributary_store::testing::postgres(#schema_prefix).await {
                #name(backend).await;
            }
        }
    })
}
