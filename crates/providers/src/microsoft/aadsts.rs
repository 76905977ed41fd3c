//! The Microsoft identity platform's `AADSTS<code>` errors, explained: what is wrong, who must
//! act (the error kind), and the platform's own first sentence without its trace ids.

#[cfg(feature = "azure_security_center")]
use serde_json::Value;
use tributary_core::{ErrorKind, OperationError};
#[cfg(feature = "azure_security_center")]
use tributary_providerkit::StatusCode;
use tributary_providerkit::classify::excerpt;

/// Whose app registration asks for the token, which decides who can fix a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Entra ID uses one variant, Defender for Cloud the other; a build with one of them lacks the other.
#[cfg_attr(
    not(all(feature = "azure_entra_id", feature = "azure_security_center")),
    allow(dead_code)
)]
pub enum Registration {
    /// The operator's multitenant app (Entra ID): its secret is the operator's to fix
    /// (`Config`), and a tenant that no longer knows the app must consent again.
    Operator,
    /// The tenant's own service principal, typed in when connecting (Defender for Cloud): a
    /// refused secret or client id is the tenant's to fix by connecting again (`Auth`).
    Tenant,
}

/// What a known `AADSTS` code means and who must act; `None` keeps the platform's own words.
fn advice(code: u64, registration: Registration) -> Option<(ErrorKind, &'static str)> {
    use ErrorKind::{Auth, Config};
    use Registration::{Operator, Tenant};
    Some(match (code, registration) {
        (7000215 | 7000222, Operator) => (
            Config,
            "the app registration's client secret is wrong or expired: the operator must set a \
             current one",
        ),
        (7000215, Tenant) => (
            Auth,
            "the client secret is not valid: enter the secret's Value (not its Secret ID) of this app registration",
        ),
        (7000222, Tenant) => (
            Auth,
            "the client secret has expired: create a new secret in the app registration and reconnect",
        ),
        (700016, Operator) => (
            Auth,
            "the app is not known in this tenant: an administrator must grant admin consent again",
        ),
        (700016, Tenant) => (
            Auth,
            "no application with this client id exists in the tenant: check the Application (client) ID and the Directory (tenant) ID, or the app was deleted",
        ),
        (65001 | 650056, _) => (
            Auth,
            "the tenant has not consented to the app's permissions: an administrator must grant \
             admin consent",
        ),
        (90002 | 90072, Operator) => (
            Config,
            "the tenant was not found: it may have been deleted or moved to another cloud",
        ),
        (90002 | 90023 | 900023, _) => (
            Config,
            "the tenant was not found: check the Directory (tenant) ID",
        ),
        (700027, _) => (
            Auth,
            "the certificate is not registered on the app registration, or the assertion signature does not match it: upload the certificate's public part under Certificates & secrets",
        ),
        (700024, _) => (
            Auth,
            "the client assertion is outside its validity window: check this server's clock",
        ),
        (7000112 | 700030 | 500014, _) => (
            Auth,
            "the application is disabled in the tenant: an administrator must enable it under \
             Enterprise applications",
        ),
        (53003, _) => (
            Auth,
            "a Conditional Access policy blocked the service principal's sign-in",
        ),
        (500011, _) => (
            Config,
            "the resource principal of the requested scope (the API) was not found in the tenant: check the scope",
        ),
        (70011, _) => (Config, "the requested scope is not valid"),
        (50049 | 90014 | 900144, _) => (Config, "the token request was malformed"),
        _ => return None,
    })
}

/// The first `AADSTS<digits>` code in `text`.
fn aadsts_code(text: &str) -> Option<u64> {
    let start = text.find("AADSTS")? + "AADSTS".len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The platform's first sentence, without the trace and correlation ids that follow it.
fn first_sentence(text: &str) -> &str {
    let line = text.split(['\r', '\n']).next().unwrap_or_default();
    line.split(" Trace ID:").next().unwrap_or_default()
}

/// `<advice> (AADSTS<code>)`, then the platform's sentence (with `secrets` cut out).
fn explained(
    kind: ErrorKind,
    advice: &str,
    code: Option<u64>,
    said: &str,
    secrets: &[&str],
) -> OperationError {
    let code_label = code.map(|c| format!(" (AADSTS{c})")).unwrap_or_default();
    let mut message = format!("{advice}{code_label}");
    let said = excerpt(said, secrets);
    if !said.is_empty() {
        message.push_str(": ");
        message.push_str(&said);
    }
    OperationError::new(kind, message)
}

/// An error of the kit's OAuth client (or of a sign-in callback) whose text carries an
/// `AADSTS` code: known codes get their kind and advice; others are returned as they are.
#[cfg(feature = "azure_entra_id")]
pub fn classify_aadsts(error: OperationError, registration: Registration) -> OperationError {
    let Some(start) = error.message.find("AADSTS") else {
        return error;
    };
    let code = aadsts_code(&error.message);
    match code.and_then(|code| advice(code, registration)) {
        Some((kind, text)) => explained(
            kind,
            text,
            code,
            first_sentence(&error.message[start..]),
            &[],
        ),
        None => error,
    }
}

/// A refused token request's answer (`status` and JSON `body`), by its `AADSTS` code: what is
/// wrong and what to do, plus the platform's first sentence. `secrets` are cut out.
#[cfg(feature = "azure_security_center")]
pub fn classify_token_error(
    status: StatusCode,
    body: &Value,
    secrets: &[&str],
    registration: Registration,
) -> OperationError {
    let description = body
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let code = body
        .pointer("/error_codes/0")
        .and_then(Value::as_u64)
        .or_else(|| aadsts_code(description));
    let (kind, text) = match code.and_then(|code| advice(code, registration)) {
        Some(known) => known,
        None if status == StatusCode::UNAUTHORIZED => (
            ErrorKind::Auth,
            "the Microsoft identity platform refused the service principal's credentials",
        ),
        None => (
            ErrorKind::Provider,
            "the Microsoft identity platform refused the token request",
        ),
    };
    explained(kind, text, code, first_sentence(description), secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "azure_entra_id")]
    fn aadsts_codes_are_explained_with_their_kind() {
        let wrong_secret = classify_aadsts(
            OperationError::auth(
                "token endpoint: invalid_client: AADSTS7000215: Invalid client secret provided.",
            ),
            Registration::Operator,
        );
        assert_eq!(wrong_secret.kind, ErrorKind::Config);
        assert!(wrong_secret.message.contains("client secret"));
        assert!(wrong_secret.message.contains("(AADSTS7000215)"));
        let no_consent = classify_aadsts(
            OperationError::auth(
                "invalid_grant: AADSTS65001: The user or administrator has not consented",
            ),
            Registration::Operator,
        );
        assert_eq!(no_consent.kind, ErrorKind::Auth);
        assert!(no_consent.message.contains("admin consent"));
        let other = classify_aadsts(OperationError::provider("boom"), Registration::Operator);
        assert_eq!(other.kind, ErrorKind::Provider);
        assert_eq!(other.message, "boom");
    }

    #[test]
    #[cfg(feature = "azure_entra_id")]
    fn whose_registration_decides_who_fixes_a_refused_secret() {
        let text = "AADSTS7000222: The provided client secret keys are expired.";
        let error = || OperationError::auth(text);
        assert_eq!(
            classify_aadsts(error(), Registration::Operator).kind,
            ErrorKind::Config
        );
        let tenant = classify_aadsts(error(), Registration::Tenant);
        assert_eq!(tenant.kind, ErrorKind::Auth);
        assert!(tenant.message.starts_with("the client secret has expired"));
    }

    #[test]
    fn codes_are_read_whole() {
        assert_eq!(aadsts_code("x: AADSTS700016: y"), Some(700016));
        assert_eq!(aadsts_code("AADSTS7000160"), Some(7000160));
        assert_eq!(aadsts_code("no code"), None);
        assert_eq!(advice(7000160, Registration::Operator), None);
    }
}
