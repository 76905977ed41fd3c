//! Verification schemes for inbound webhooks and the handshakes some providers perform before
//! they send events. Every check is fail-closed (a missing header is a refusal) and compares in
//! constant time. Definitions use these in their `WebhookRegistration::verify` and `::handshake`.
//!
//! Refusal messages name what is wrong (missing header, malformed signature, stale timestamp,
//! signature mismatch) and never the expected signature or the secret.

mod client_state;
mod handshake;
mod hmac_schemes;
mod shared_secret;
mod standard;

pub use client_state::graph_client_state;
pub use handshake::{graph_validation_token, okta_verification_challenge, slack_url_verification};
pub use hmac_schemes::{github_signature_256, hmac_sha256_hex, slack_v0};
pub use shared_secret::shared_secret_header;
pub use standard::{StandardWebhooks, sign_standard};

/// How far a signed timestamp may be from now, in seconds, before a request counts as a replay.
pub const DEFAULT_TOLERANCE_SECS: i64 = 5 * 60;

pub(crate) fn refuse(message: impl Into<String>) -> tributary_core::VerifyError {
    tributary_core::VerifyError(message.into())
}

/// Checks that a signed timestamp (unix seconds) is within `tolerance` of `now`.
/// Accepts the request when its secret or signature `matched`, else refuses it with `refusal`.
pub(crate) fn accept_if(
    matched: bool,
    refusal: impl Into<String>,
) -> Result<(), tributary_core::VerifyError> {
    if matched {
        Ok(())
    } else {
        Err(refuse(refusal))
    }
}

/// The value of header `name` (matched case-insensitively), or a refusal naming it as written.
pub(crate) fn required_header<'r>(
    request: &'r tributary_core::InboundWebhook,
    name: &str,
) -> Result<&'r str, tributary_core::VerifyError> {
    request
        .header(name)
        .ok_or_else(|| refuse(format!("the {name} header is missing")))
}

/// The part of header `name`'s `value` after its scheme `prefix` (`sha256=`, `v0=`).
pub(crate) fn strip_scheme<'v>(
    value: &'v str,
    prefix: &str,
    name: &str,
) -> Result<&'v str, tributary_core::VerifyError> {
    value
        .strip_prefix(prefix)
        .ok_or_else(|| refuse(format!("the {name} header does not start with {prefix}")))
}

pub(crate) fn check_timestamp(
    raw: &str,
    now: i64,
    tolerance: i64,
) -> Result<i64, tributary_core::VerifyError> {
    let timestamp: i64 = raw
        .trim()
        .parse()
        .map_err(|_| refuse("the signature timestamp is not a number"))?;
    if (now - timestamp).abs() > tolerance {
        return Err(refuse(
            "the signature timestamp is outside the accepted window",
        ));
    }
    Ok(timestamp)
}
