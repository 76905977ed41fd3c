//! The Microsoft identity platform, shared by the definitions that sign in there (Teams, Entra
//! ID, Defender for Cloud): GUID and tenant checks, the operator's hosts validated with one
//! loopback switch, the app registration's OAuth client and id-token verifier (`graph`), and the
//! `AADSTS` error codes in words a user or operator can act on (`aadsts`).
//!
//! One copy on purpose: a check fixed here is fixed for every Microsoft definition. The parts
//! only some definitions use are behind their features, so a build with one of them has no dead
//! code.

#[cfg(any(feature = "azure_entra_id", feature = "azure_security_center"))]
mod aadsts;
#[cfg(any(feature = "microsoft_teams", feature = "azure_entra_id"))]
mod graph;

#[cfg(any(feature = "azure_entra_id", feature = "azure_security_center"))]
pub use aadsts::Registration;
#[cfg(feature = "azure_entra_id")]
pub use aadsts::classify_aadsts;
#[cfg(feature = "azure_security_center")]
pub use aadsts::classify_token_error;
#[cfg(any(feature = "microsoft_teams", feature = "azure_entra_id"))]
pub use graph::{DEFAULT_GRAPH_URL, GraphEndpoints, signed_in_tenant};

use tributary_core::OperationError;
use tributary_providerkit::{HostPolicy, HttpProfile, RateLimit, Url, validate_base_url};

/// The public cloud's identity platform.
pub const DEFAULT_LOGIN_URL: &str = "https://login.microsoftonline.com";

/// Whether `value` is a GUID (`8-4-4-4-12` hex digits), as tenant, app and subscription ids are.
pub fn is_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A GUID typed into `field`, trimmed and lower-cased; an error quotes at most 40 characters.
#[cfg(feature = "azure_security_center")]
pub fn check_guid(field: &str, value: &str) -> Result<String, OperationError> {
    let value = value.trim();
    if is_guid(value) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(OperationError::config(format!(
            "{field}: `{}` is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
            value.chars().take(40).collect::<String>()
        )))
    }
}

/// A tenant id as Entra accepts it in the token URL: a GUID or a verified domain name. The
/// multi-tenant authorities are refused: a service principal belongs to one tenant, and the
/// value becomes a URL path segment, so nothing but host-name characters passes.
#[cfg(feature = "azure_security_center")]
pub fn check_tenant(value: &str) -> Result<String, OperationError> {
    let value = value.trim();
    let valid = !value.is_empty()
        && value.len() <= 253
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !value.starts_with(['.', '-'])
        && !matches!(value, "common" | "organizations" | "consumers");
    if valid {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(OperationError::config(
            "tenantId: enter the Directory (tenant) ID, a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47, or the tenant's domain (contoso.onmicrosoft.com)",
        ))
    }
}

/// One definition's view of the Microsoft cloud: its name (for messages and the HTTP profile),
/// its budget, and the operator's loopback switch. The switch decides both which URLs pass and
/// whether private addresses may be dialled, so the two cannot disagree.
#[derive(Debug, Clone, Copy)]
pub struct Site {
    pub definition: &'static str,
    pub budget: RateLimit,
    pub allow_loopback: bool,
}

impl Site {
    /// The operator's URL in `field` (blank: `default`), validated as a base URL: https on a
    /// host (private ones included: the URL is the operator's choice), or `http://127.0.0.1` when the
    /// operator allowed loopback for tests.
    pub fn url(
        &self,
        field: &str,
        value: Option<&str>,
        default: &str,
    ) -> Result<Url, OperationError> {
        let value = value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or(default);
        let policy = HostPolicy::operator(self.allow_loopback);
        validate_base_url(value, policy).map_err(|err| {
            OperationError::config(format!(
                "the {} operator config `{field}` is not valid: {}",
                self.definition, err.message
            ))
        })
    }

    pub fn profile(&self) -> HttpProfile {
        HttpProfile::operator_hosts(self.definition, self.budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids() {
        assert!(is_guid("19dd6c7e-9b5a-4f2e-8f7e-0123456789ab"));
        assert!(is_guid("72F988BF-86F1-41AF-91AB-2D7CD011DB47"));
        assert!(!is_guid("19dd6c7e9b5a4f2e8f7e0123456789ab"));
        assert!(!is_guid("19dd6c7e-9b5a-4f2e-8f7e-0123456789ag"));
        assert!(!is_guid("contoso.onmicrosoft.com"));
    }

    #[test]
    fn operator_urls_are_https_unless_loopback_is_allowed() {
        let site = |allow_loopback| Site {
            definition: "azure_entra_id",
            budget: RateLimit::per_second(1),
            allow_loopback,
        };
        let plain = Some("http://127.0.0.1:8080");
        let err = site(false)
            .url("graphUrl", plain, "https://x.example")
            .unwrap_err();
        assert!(
            err.message
                .starts_with("the azure_entra_id operator config `graphUrl` is not valid"),
            "{}",
            err.message
        );
        assert!(
            site(true)
                .url("graphUrl", plain, "https://x.example")
                .is_ok()
        );
        // Blank is unset, as for the other optional settings.
        let blank = site(false)
            .url("loginUrl", Some("  "), DEFAULT_LOGIN_URL)
            .unwrap();
        assert_eq!(blank.as_str(), "https://login.microsoftonline.com/");
    }
}
