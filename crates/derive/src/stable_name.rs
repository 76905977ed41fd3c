//! `#[derive(StableName)]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, Expr, ExprLit, Lit, Meta};

pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let ident = &input.ident;
    let name = match frozen_name(input)? {
        Some(name) => name,
        None => ident.to_string(),
    };
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::tributary_core::StableName for #ident #ty_generics #where_clause {
            const NAME: &'static str = #name;
        }
    })
}

/// Reads `#[stable_name = "..."]`, rejecting an empty or malformed value.
fn frozen_name(input: &DeriveInput) -> syn::Result<Option<String>> {
    let mut found = None;
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("stable_name"))
    {
        let Meta::NameValue(nv) = &attr.meta else {
            return Err(syn::Error::new_spanned(
                attr,
                "expected #[stable_name = \"Name\"]",
            ));
        };
        let Expr::Lit(ExprLit {
            lit: Lit::Str(value),
            ..
        }) = &nv.value
        else {
            return Err(syn::Error::new_spanned(
                &nv.value,
                "stable_name takes a string literal",
            ));
        };
        let value = value.value();
        if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(syn::Error::new_spanned(
                &nv.value,
                "a stable name is non-empty and made of ASCII letters, digits and underscores",
            ));
        }
        if found.replace(value).is_some() {
            return Err(syn::Error::new_spanned(attr, "stable_name given twice"));
        }
    }
    Ok(found)
}
