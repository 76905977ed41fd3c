//! The Standard Webhooks scheme (standardwebhooks.com), used for Tributary's own endpoints:
//! `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, the signature a
//! space-separated list of `v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>`, the
//! secret `whsec_<base64 key>`.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tributary_core::{InboundWebhook, Secret, VerifyError};

use crate::{DEFAULT_TOLERANCE_SECS, accept_if, check_timestamp, refuse, required_header};

const SECRET_PREFIX: &str = "whsec_";

/// Verifies requests signed with the Standard Webhooks scheme.
#[derive(Debug, Clone, Copy)]
pub struct StandardWebhooks {
    pub tolerance_secs: i64,
}

impl Default for StandardWebhooks {
    fn default() -> Self {
        Self {
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }
}

fn key_of(secret: &Secret) -> Result<Vec<u8>, VerifyError> {
    let encoded = secret
        .expose()
        .strip_prefix(SECRET_PREFIX)
        .unwrap_or(secret.expose());
    // The scheme's keys are standard base64; ours are generated URL-safe without padding. Both
    // spell the same bytes, so accept either.
    BASE64
        .decode(encoded)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(encoded))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| refuse("the endpoint secret is not a whsec_ base64 key"))
}

fn signature(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The `webhook-signature` header value for a delivery (`v1,<base64>`).
pub fn sign_standard(
    secret: &Secret,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, VerifyError> {
    let key = key_of(secret)?;
    let sig = signature(&key, id, &timestamp.to_string(), body);
    Ok(format!("v1,{}", BASE64.encode(sig)))
}

impl StandardWebhooks {
    pub fn verify(&self, request: &InboundWebhook, secret: &Secret) -> Result<(), VerifyError> {
        let id = required_header(request, "webhook-id")?;
        let timestamp = required_header(request, "webhook-timestamp")?;
        let signatures = required_header(request, "webhook-signature")?;
        check_timestamp(timestamp, request.received_at, self.tolerance_secs)?;
        let expected = signature(&key_of(secret)?, id, timestamp.trim(), &request.body);
        let mut matched = false;
        for candidate in signatures.split_whitespace() {
            let Some(encoded) = candidate.strip_prefix("v1,") else {
                continue;
            };
            let Ok(given) = BASE64.decode(encoded) else {
                continue;
            };
            // Check every candidate so timing does not reveal which one matched.
            matched |= bool::from(given.ct_eq(&expected));
        }
        accept_if(matched, "no webhook-signature matches")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example from the Standard Webhooks specification.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn request(signature: &str, now: i64) -> InboundWebhook {
        InboundWebhook {
            method: "POST".into(),
            headers: vec![
                ("webhook-id".into(), ID.into()),
                ("webhook-timestamp".into(), TIMESTAMP.to_string()),
                ("webhook-signature".into(), signature.into()),
            ],
            body: BODY.to_vec(),
            received_at: now,
            ..Default::default()
        }
    }

    #[test]
    fn specification_example_signs_and_verifies() {
        assert_eq!(
            sign_standard(&Secret::new(SECRET), ID, TIMESTAMP, BODY).unwrap(),
            SIGNATURE
        );
        StandardWebhooks::default()
            .verify(&request(SIGNATURE, TIMESTAMP), &Secret::new(SECRET))
            .unwrap();
    }

    #[test]
    fn url_safe_keys_as_our_endpoints_generate_them_verify() {
        // The bytes of the specification's key, spelled URL-safe without padding.
        let standard = SECRET.strip_prefix("whsec_").unwrap();
        let bytes = BASE64.decode(standard).unwrap();
        let url_safe = format!(
            "whsec_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes)
        );
        let secret = Secret::new(url_safe);
        let signature = sign_standard(&secret, ID, TIMESTAMP, BODY).unwrap();
        assert_eq!(signature, SIGNATURE);
        StandardWebhooks::default()
            .verify(&request(&signature, TIMESTAMP), &secret)
            .unwrap();
        // Keys with `-` and `_` (never valid standard base64) are read too.
        let secret = Secret::new("whsec_-_-_abcdefghijklmnopqrstuvwxyz01");
        let signature = sign_standard(&secret, ID, TIMESTAMP, BODY).unwrap();
        StandardWebhooks::default()
            .verify(&request(&signature, TIMESTAMP), &secret)
            .unwrap();
    }

    #[test]
    fn any_listed_signature_may_match() {
        let header = format!("v1,AAAA v2,whatever {SIGNATURE}");
        StandardWebhooks::default()
            .verify(&request(&header, TIMESTAMP + 5), &Secret::new(SECRET))
            .unwrap();
    }

    #[test]
    fn tampering_and_staleness_fail() {
        let verifier = StandardWebhooks::default();
        let secret = Secret::new(SECRET);
        let mut tampered = request(SIGNATURE, TIMESTAMP);
        for i in 0..tampered.body.len() {
            tampered.body = BODY.to_vec();
            tampered.body[i] ^= 0x20;
            assert!(verifier.verify(&tampered, &secret).is_err());
        }
        let stale = request(SIGNATURE, TIMESTAMP + DEFAULT_TOLERANCE_SECS + 1);
        assert!(
            verifier
                .verify(&stale, &secret)
                .unwrap_err()
                .0
                .contains("window")
        );
        let mut missing = request(SIGNATURE, TIMESTAMP);
        missing.headers.retain(|(k, _)| k != "webhook-id");
        assert!(
            verifier
                .verify(&missing, &secret)
                .unwrap_err()
                .0
                .contains("webhook-id")
        );
    }
}
