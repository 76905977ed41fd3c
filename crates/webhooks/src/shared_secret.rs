//! Shared-secret headers: the provider sends a value we gave it, verbatim, in a header of our
//! choosing (Okta event hooks' authorization header).

use subtle::ConstantTimeEq;
use tributary_core::{InboundWebhook, Secret, VerifyError};

use crate::{accept_if, refuse, required_header};

/// Verifies that header `name` carries exactly `secret`, comparing in constant time.
pub fn shared_secret_header(
    request: &InboundWebhook,
    name: &str,
    secret: &Secret,
) -> Result<(), VerifyError> {
    let given = required_header(request, name)?;
    if secret.is_empty() {
        return Err(refuse("no secret is configured for this endpoint"));
    }
    accept_if(
        bool::from(given.as_bytes().ct_eq(secret.expose().as_bytes())),
        format!("the {name} header does not match"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(value: Option<&str>) -> InboundWebhook {
        InboundWebhook {
            headers: value
                .map(|v| vec![("authorization".to_owned(), v.to_owned())])
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    #[test]
    fn exact_value_passes_anything_else_fails() {
        let secret = Secret::new("okta-hook-secret");
        shared_secret_header(&request(Some("okta-hook-secret")), "Authorization", &secret).unwrap();
        for bad in ["okta-hook-secreT", "okta-hook-secret ", "", "x"] {
            let err =
                shared_secret_header(&request(Some(bad)), "Authorization", &secret).unwrap_err();
            assert!(!err.0.contains("okta-hook-secret"));
        }
        assert!(shared_secret_header(&request(None), "Authorization", &secret).is_err());
        assert!(
            shared_secret_header(&request(Some("")), "Authorization", &Secret::new("")).is_err()
        );
    }
}
