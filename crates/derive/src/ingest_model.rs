//! `#[derive(IngestModel)]`: the key metadata of an internal model, computed from its struct.
//!
//! Struct attributes: `#[ingest(schema = "Name")]` (default: the struct ident) and
//! `#[ingest(directory)]` (records are tombstoned by complete directory syncs).
//! Field attributes: `#[ingest(lookup)]` (identifies the record within its integration; implies
//! upsert), `#[ingest(upsert)]`, `#[ingest(context = "tenant" | "integration" | "run")]` (filled
//! by the runtime, never mapped), `#[ingest(default = "VALUE")]` (used when a mapping leaves the
//! key out), `#[ingest(key = "customKey")]` and `#[ingest(skip)]`.
//!
//! The key of a field is its name in lowerCamel case with initialisms in capitals after the first
//! word (`external_id` -> `externalID`); `tributary_model::mapping_key` documents the same rule.
//! Checks that need the field's type (a lookup key must be a string, a default needs a string-like
//! type) are emitted as compile-time assertions against `tributary_model::IngestField`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Attribute, Data, DeriveInput, Expr, ExprLit, Fields, Lit, LitStr, Meta, Type};

/// Words written in capitals after the first word; keep in step with `tributary_model::INITIALISMS`.
const INITIALISMS: &[&str] = &[
    "api", "cve", "dns", "html", "http", "https", "id", "ip", "json", "mfa", "os", "sql", "sso",
    "uri", "url", "uuid", "vm",
];

pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "an ingest model cannot be generic",
        ));
    }
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "IngestModel can only be derived for a struct",
        ));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "IngestModel needs a struct with named fields",
        ));
    };

    let model = ModelAttrs::parse(&input.attrs, &input.ident)?;
    let mut fields = Vec::new();
    for field in &named.named {
        let ident = field.ident.as_ref().expect("named field");
        let attrs = FieldAttrs::parse(&field.attrs)?;
        if attrs.skip {
            continue;
        }
        let key = match &attrs.key {
            Some(key) => key.value(),
            None => mapping_key(&ident.unraw_string()),
        };
        fields.push(FieldSpec {
            ident: ident.clone(),
            key,
            ty: field.ty.clone(),
            doc: doc_text(&field.attrs),
            attrs,
        });
    }
    check_fields(&fields, &input.ident)?;

    let ident = &input.ident;
    let schema = model.schema;
    let directory = model.directory;
    let doc = doc_text(&input.attrs);
    let field_tokens = fields.iter().map(FieldSpec::metadata_tokens);
    let assertions = fields.iter().map(|f| f.assertion_tokens(ident));

    Ok(quote! {
        impl ::tributary_model::IngestModel for #ident {
            const METADATA: &'static ::tributary_model::ModelMetadata =
                &::tributary_model::ModelMetadata {
                    schema: #schema,
                    doc: #doc,
                    directory: #directory,
                    fields: &[#(#field_tokens),*],
                };
        }
        #(#assertions)*
    })
}

/// The mapping key of a snake_case field name.
pub fn mapping_key(field: &str) -> String {
    let mut key = String::with_capacity(field.len());
    for (index, word) in field.split('_').filter(|w| !w.is_empty()).enumerate() {
        let lower = word.to_ascii_lowercase();
        if index == 0 {
            key.push_str(&lower);
        } else if INITIALISMS.contains(&lower.as_str()) {
            key.push_str(&word.to_ascii_uppercase());
        } else {
            let mut chars = lower.chars();
            if let Some(first) = chars.next() {
                key.push(first.to_ascii_uppercase());
                key.push_str(chars.as_str());
            }
        }
    }
    key
}

trait UnrawString {
    fn unraw_string(&self) -> String;
}

impl UnrawString for syn::Ident {
    fn unraw_string(&self) -> String {
        let text = self.to_string();
        text.strip_prefix("r#").map(str::to_owned).unwrap_or(text)
    }
}

struct ModelAttrs {
    schema: String,
    directory: bool,
}

impl ModelAttrs {
    fn parse(attrs: &[Attribute], ident: &syn::Ident) -> syn::Result<Self> {
        let mut schema: Option<LitStr> = None;
        let mut directory = false;
        for attr in attrs.iter().filter(|a| a.path().is_ident("ingest")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("schema") {
                    let value: LitStr = meta.value()?.parse()?;
                    let text = value.value();
                    if text.is_empty() || !text.chars().all(|c| c.is_ascii_alphanumeric()) {
                        return Err(
                            meta.error("a schema name is non-empty ASCII letters and digits")
                        );
                    }
                    if schema.replace(value).is_some() {
                        return Err(meta.error("schema given twice"));
                    }
                    Ok(())
                } else if meta.path.is_ident("directory") {
                    directory = true;
                    Ok(())
                } else {
                    Err(meta
                        .error("unknown ingest model attribute; expected `schema` or `directory`"))
                }
            })?;
        }
        Ok(Self {
            schema: schema
                .map(|s| s.value())
                .unwrap_or_else(|| ident.to_string()),
            directory,
        })
    }
}

#[derive(Default)]
struct FieldAttrs {
    lookup: bool,
    upsert: bool,
    skip: bool,
    context: Option<(ContextKind, Span)>,
    default: Option<LitStr>,
    key: Option<LitStr>,
}

#[derive(Clone, Copy, PartialEq)]
enum ContextKind {
    Tenant,
    Integration,
    Run,
}

impl FieldAttrs {
    fn parse(attrs: &[Attribute]) -> syn::Result<Self> {
        let mut parsed = FieldAttrs::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("ingest")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("lookup") {
                    parsed.lookup = true;
                } else if meta.path.is_ident("upsert") {
                    parsed.upsert = true;
                } else if meta.path.is_ident("skip") {
                    parsed.skip = true;
                } else if meta.path.is_ident("context") {
                    let value: LitStr = meta.value()?.parse()?;
                    let kind = match value.value().as_str() {
                        "tenant" => ContextKind::Tenant,
                        "integration" => ContextKind::Integration,
                        "run" => ContextKind::Run,
                        _ => {
                            return Err(syn::Error::new_spanned(
                                &value,
                                "context is one of \"tenant\", \"integration\", \"run\"",
                            ));
                        }
                    };
                    parsed.context = Some((kind, value.span()));
                } else if meta.path.is_ident("default") {
                    parsed.default = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("key") {
                    let value: LitStr = meta.value()?.parse()?;
                    if value.value().is_empty()
                        || !value.value().chars().all(|c| c.is_ascii_alphanumeric())
                    {
                        return Err(syn::Error::new_spanned(
                            &value,
                            "a mapping key is non-empty ASCII letters and digits",
                        ));
                    }
                    parsed.key = Some(value);
                } else {
                    return Err(meta.error(
                        "unknown ingest field attribute; expected lookup, upsert, context, default, key or skip",
                    ));
                }
                Ok(())
            })?;
        }
        if let Some((_, span)) = parsed.context
            && (parsed.lookup || parsed.default.is_some() || parsed.skip)
        {
            return Err(syn::Error::new(
                span,
                "a context field cannot also be lookup, default or skip",
            ));
        }
        if parsed.lookup {
            parsed.upsert = true;
            if let Some(default) = &parsed.default {
                return Err(syn::Error::new_spanned(
                    default,
                    "a lookup key has no default: every record must name itself",
                ));
            }
        }
        Ok(parsed)
    }
}

struct FieldSpec {
    ident: syn::Ident,
    key: String,
    ty: Type,
    doc: String,
    attrs: FieldAttrs,
}

impl FieldSpec {
    fn metadata_tokens(&self) -> TokenStream {
        let key = &self.key;
        let field = self.ident.unraw_string();
        let ty = &self.ty;
        let lookup = self.attrs.lookup;
        let upsert = self.attrs.upsert;
        let doc = &self.doc;
        let is_context = self.attrs.context.is_some();
        let has_default = self.attrs.default.is_some();
        let context = match self.attrs.context {
            None => quote!(::core::option::Option::None),
            Some((kind, _)) => {
                let variant = match kind {
                    ContextKind::Tenant => quote!(Tenant),
                    ContextKind::Integration => quote!(Integration),
                    ContextKind::Run => quote!(Run),
                };
                quote!(::core::option::Option::Some(::tributary_model::ContextSource::#variant))
            }
        };
        let default = match &self.attrs.default {
            None => quote!(::core::option::Option::None),
            Some(value) => quote!(::core::option::Option::Some(#value)),
        };
        quote! {
            ::tributary_model::FieldMetadata {
                key: #key,
                field: #field,
                ty: <#ty as ::tributary_model::IngestField>::TYPE,
                required: !<#ty as ::tributary_model::IngestField>::OPTIONAL
                    && !#is_context && !#has_default,
                lookup: #lookup,
                upsert: #upsert,
                context: #context,
                default: #default,
                doc: #doc,
            }
        }
    }

    /// Compile-time checks that depend on the field's type.
    fn assertion_tokens(&self, model: &syn::Ident) -> TokenStream {
        let ty = &self.ty;
        let mut checks = Vec::new();
        // An assertion that `condition` holds, failing with `rule` prefixed by the field's name.
        let mut check = |condition: TokenStream, rule: &str| {
            let message = format!("{model}.{}: {rule}", self.ident.unraw_string());
            checks.push(quote! {
                ::core::assert!(#condition, #message);
            });
        };
        if self.attrs.lookup {
            check(
                quote! {
                    <#ty as ::tributary_model::IngestField>::TYPE.is_text()
                        && !<#ty as ::tributary_model::IngestField>::OPTIONAL
                },
                "a lookup key must be a required String",
            );
        }
        if self.attrs.context.is_some() {
            check(
                quote! { <#ty as ::tributary_model::IngestField>::TYPE.is_text() },
                "a context field must be a String or Option<String>",
            );
        }
        if self.attrs.default.is_some() {
            check(
                quote! {
                    <#ty as ::tributary_model::IngestField>::TYPE.accepts_string_default()
                        && !<#ty as ::tributary_model::IngestField>::OPTIONAL
                },
                "a default needs a required string, enum or timestamp field",
            );
        }
        if checks.is_empty() {
            return TokenStream::new();
        }
        quote! { const _: () = { #(#checks)* }; }
    }
}

/// Checks that only need the attributes: unique keys, at least one lookup key.
fn check_fields(fields: &[FieldSpec], model: &syn::Ident) -> syn::Result<()> {
    for (index, field) in fields.iter().enumerate() {
        if let Some(earlier) = fields[..index].iter().find(|f| f.key == field.key) {
            return Err(syn::Error::new_spanned(
                &field.ident,
                format!(
                    "mapping key `{}` is also the key of field `{}`",
                    field.key, earlier.ident
                ),
            ));
        }
    }
    if !fields.iter().any(|f| f.attrs.lookup) {
        return Err(syn::Error::new_spanned(
            model,
            "an ingest model needs at least one #[ingest(lookup)] field to identify its records",
        ));
    }
    let contexts: Vec<ContextKind> = fields
        .iter()
        .filter_map(|f| f.attrs.context.map(|c| c.0))
        .collect();
    for (index, kind) in contexts.iter().enumerate() {
        if contexts[..index].contains(kind) {
            return Err(syn::Error::new_spanned(
                model,
                "each context source (tenant, integration, run) fills at most one field",
            ));
        }
    }
    Ok(())
}

/// The doc comment of an item, lines joined with spaces.
fn doc_text(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        if let Meta::NameValue(nv) = &attr.meta
            && let Expr::Lit(ExprLit {
                lit: Lit::Str(text),
                ..
            }) = &nv.value
        {
            lines.push(text.value().trim().to_owned());
        }
    }
    lines.join(" ").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(source: &str) -> syn::Result<TokenStream> {
        expand(&syn::parse_str::<DeriveInput>(source).expect("valid struct"))
    }

    fn error_of(source: &str) -> String {
        expand_str(source)
            .expect_err("should be rejected")
            .to_string()
    }

    #[test]
    fn keys_follow_the_lower_camel_initialism_rule() {
        assert_eq!(mapping_key("external_id"), "externalID");
        assert_eq!(mapping_key("canonical_email"), "canonicalEmail");
        assert_eq!(mapping_key("avatar_url"), "avatarURL");
        assert_eq!(mapping_key("cve_id"), "cveID");
        assert_eq!(mapping_key("ip_addresses"), "ipAddresses");
        assert_eq!(mapping_key("mfa_state"), "mfaState");
        assert_eq!(mapping_key("status"), "status");
        assert_eq!(mapping_key("source_ip"), "sourceIP");
    }

    #[test]
    fn a_model_without_lookup_key_is_rejected() {
        let error = error_of("struct Thing { name: String }");
        assert!(error.contains("at least one #[ingest(lookup)]"), "{error}");
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let error = error_of(
            "struct Thing { #[ingest(lookup)] external_id: String, #[ingest(key = \"externalID\")] other: String }",
        );
        assert!(error.contains("mapping key `externalID`"), "{error}");
    }

    #[test]
    fn unknown_attributes_and_contexts_are_rejected() {
        assert!(
            error_of("struct T { #[ingest(lookup, primary)] id: String }")
                .contains("unknown ingest field attribute")
        );
        assert!(error_of("struct T { #[ingest(lookup)] id: String, #[ingest(context = \"owner\")] o: String }").contains("context is one of"));
        assert!(
            error_of("#[ingest(table = \"x\")] struct T { #[ingest(lookup)] id: String }")
                .contains("unknown ingest model attribute")
        );
    }

    #[test]
    fn contradictory_field_attributes_are_rejected() {
        assert!(
            error_of("struct T { #[ingest(lookup, default = \"x\")] id: String }")
                .contains("no default")
        );
        assert!(error_of("struct T { #[ingest(lookup)] id: String, #[ingest(context = \"tenant\", lookup)] t: String }").contains("context field cannot"));
        assert!(error_of("struct T { #[ingest(lookup)] id: String, #[ingest(context = \"run\")] a: String, #[ingest(context = \"run\")] b: String }").contains("at most one field"));
    }

    #[test]
    fn enums_tuples_and_generics_are_rejected() {
        assert!(error_of("enum T { A }").contains("only be derived for a struct"));
        assert!(error_of("struct T(String);").contains("named fields"));
        assert!(error_of("struct T<X> { #[ingest(lookup)] id: X }").contains("cannot be generic"));
    }

    #[test]
    fn expansion_names_the_schema_and_keys() {
        let tokens = expand_str(
            "/// A thing.\n#[ingest(schema = \"Widget\", directory)] struct Thing { #[ingest(lookup)] external_id: String, #[ingest(skip)] cache: u8 }",
        )
        .expect("expands")
        .to_string();
        assert!(tokens.contains("schema : \"Widget\""), "{tokens}");
        assert!(tokens.contains("directory : true"), "{tokens}");
        assert!(tokens.contains("\"externalID\""), "{tokens}");
        assert!(!tokens.contains("cache"), "{tokens}");
        assert!(tokens.contains("\"A thing.\""), "{tokens}");
    }
}
