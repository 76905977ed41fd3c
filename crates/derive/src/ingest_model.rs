//! `#[derive(IngestModel)]`: not written yet (see issue 6).

use proc_macro2::TokenStream;
use syn::DeriveInput;

pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    Err(syn::Error::new_spanned(
        &input.ident,
        "IngestModel is not implemented yet",
    ))
}
