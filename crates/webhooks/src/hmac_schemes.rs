//! HMAC-SHA256 schemes with hex digests: GitHub's `X-Hub-Signature-256` and Slack's `v0`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tributary_core::{InboundWebhook, Secret, VerifyError};

use crate::{check_timestamp, refuse, required_header, strip_scheme};

type HmacSha256 = Hmac<Sha256>;

/// Hex HMAC-SHA256 of `parts` concatenated, keyed with `key`. Used to sign test deliveries.
pub fn hmac_sha256_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Verifies `expected_hex` against HMAC-SHA256(key, parts) in constant time.
fn verify_hex(key: &[u8], parts: &[&[u8]], given_hex: &str) -> Result<(), VerifyError> {
    let given = hex::decode(given_hex.trim()).map_err(|_| refuse("the signature is not hex"))?;
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&given)
        .map_err(|_| refuse("the signature does not match"))
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn github_signature_256(request: &InboundWebhook, secret: &Secret) -> Result<(), VerifyError> {
    let header = required_header(request, "X-Hub-Signature-256")?;
    let hex = strip_scheme(header, "sha256=", "X-Hub-Signature-256")?;
    verify_hex(secret.expose().as_bytes(), &[&request.body], hex)
}

/// Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)>`, with
/// `X-Slack-Request-Timestamp` within `tolerance` seconds of the request's receipt.
pub fn slack_v0(
    request: &InboundWebhook,
    secret: &Secret,
    tolerance: i64,
) -> Result<(), VerifyError> {
    let timestamp = required_header(request, "X-Slack-Request-Timestamp")?;
    let signature = required_header(request, "X-Slack-Signature")?;
    check_timestamp(timestamp, request.received_at, tolerance)?;
    let hex = strip_scheme(signature, "v0=", "X-Slack-Signature")?;
    verify_hex(
        secret.expose().as_bytes(),
        &[b"v0:", timestamp.trim().as_bytes(), b":", &request.body],
        hex,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)], body: &[u8], received_at: i64) -> InboundWebhook {
        InboundWebhook {
            method: "POST".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
            received_at,
            ..Default::default()
        }
    }

    // The example in GitHub's "Validating webhook deliveries" documentation.
    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_BODY: &[u8] = b"Hello, World!";
    const GITHUB_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_documented_example_verifies() {
        let req = request(&[("X-Hub-Signature-256", GITHUB_SIGNATURE)], GITHUB_BODY, 0);
        github_signature_256(&req, &Secret::new(GITHUB_SECRET)).unwrap();
    }

    #[test]
    fn github_every_flipped_signature_byte_fails() {
        let hex_part = &GITHUB_SIGNATURE["sha256=".len()..];
        for i in 0..hex_part.len() {
            let mut chars: Vec<char> = hex_part.chars().collect();
            chars[i] = if chars[i] == '0' { '1' } else { '0' };
            let flipped = format!("sha256={}", chars.iter().collect::<String>());
            let req = request(&[("X-Hub-Signature-256", &flipped)], GITHUB_BODY, 0);
            assert!(
                github_signature_256(&req, &Secret::new(GITHUB_SECRET)).is_err(),
                "{i}"
            );
        }
    }

    #[test]
    fn github_every_flipped_body_byte_fails() {
        for i in 0..GITHUB_BODY.len() {
            let mut body = GITHUB_BODY.to_vec();
            body[i] ^= 0x01;
            let req = request(&[("X-Hub-Signature-256", GITHUB_SIGNATURE)], &body, 0);
            assert!(github_signature_256(&req, &Secret::new(GITHUB_SECRET)).is_err());
        }
    }

    #[test]
    fn github_missing_or_malformed_headers_fail_closed() {
        let secret = Secret::new(GITHUB_SECRET);
        let err = github_signature_256(&request(&[], GITHUB_BODY, 0), &secret).unwrap_err();
        assert!(err.0.contains("missing"));
        let req = request(&[("X-Hub-Signature-256", "sha1=abc")], GITHUB_BODY, 0);
        assert!(github_signature_256(&req, &secret).is_err());
        let req = request(&[("X-Hub-Signature-256", "sha256=zz")], GITHUB_BODY, 0);
        assert!(github_signature_256(&req, &secret).is_err());
        let req = request(&[("X-Hub-Signature-256", "sha256=")], GITHUB_BODY, 0);
        assert!(github_signature_256(&req, &secret).is_err());
    }

    // The example in Slack's "Verifying requests from Slack" documentation.
    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TIMESTAMP: &str = "1531420618";
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIGNATURE: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn slack_request(signature: &str, timestamp: &str, now: i64) -> InboundWebhook {
        request(
            &[
                ("X-Slack-Signature", signature),
                ("X-Slack-Request-Timestamp", timestamp),
            ],
            SLACK_BODY.as_bytes(),
            now,
        )
    }

    #[test]
    fn slack_documented_example_verifies() {
        let req = slack_request(SLACK_SIGNATURE, SLACK_TIMESTAMP, 1_531_420_618 + 10);
        slack_v0(&req, &Secret::new(SLACK_SECRET), 300).unwrap();
    }

    #[test]
    fn slack_stale_or_future_timestamps_fail() {
        let secret = Secret::new(SLACK_SECRET);
        let late = slack_request(SLACK_SIGNATURE, SLACK_TIMESTAMP, 1_531_420_618 + 301);
        let err = slack_v0(&late, &secret, 300).unwrap_err();
        assert!(err.0.contains("window"));
        let early = slack_request(SLACK_SIGNATURE, SLACK_TIMESTAMP, 1_531_420_618 - 301);
        assert!(slack_v0(&early, &secret, 300).is_err());
    }

    #[test]
    fn slack_signature_bound_to_timestamp_and_bytes() {
        let secret = Secret::new(SLACK_SECRET);
        // The same signature with a different (fresh) timestamp fails: replays cannot refresh it.
        let replay = slack_request(SLACK_SIGNATURE, "1531420619", 1_531_420_619);
        assert!(slack_v0(&replay, &secret, 300).is_err());
        let hex_part = &SLACK_SIGNATURE[3..];
        for i in 0..hex_part.len() {
            let mut chars: Vec<char> = hex_part.chars().collect();
            chars[i] = if chars[i] == 'f' { 'e' } else { 'f' };
            let flipped = format!("v0={}", chars.iter().collect::<String>());
            let req = slack_request(&flipped, SLACK_TIMESTAMP, 1_531_420_618);
            assert!(slack_v0(&req, &secret, 300).is_err());
        }
    }

    #[test]
    fn slack_missing_headers_fail_closed() {
        let secret = Secret::new(SLACK_SECRET);
        let req = request(&[("X-Slack-Signature", SLACK_SIGNATURE)], b"", 0);
        assert!(
            slack_v0(&req, &secret, 300)
                .unwrap_err()
                .0
                .contains("Timestamp")
        );
        let req = request(&[("X-Slack-Request-Timestamp", SLACK_TIMESTAMP)], b"", 0);
        assert!(
            slack_v0(&req, &secret, 300)
                .unwrap_err()
                .0
                .contains("Signature")
        );
    }

    #[test]
    fn refusals_never_contain_the_secret_or_expected_signature() {
        let secret = Secret::new(GITHUB_SECRET);
        let req = request(&[("X-Hub-Signature-256", "sha256=00")], GITHUB_BODY, 0);
        let err = github_signature_256(&req, &secret).unwrap_err().0;
        assert!(!err.contains(GITHUB_SECRET));
        assert!(!err.contains(&GITHUB_SIGNATURE[7..]));
    }

    #[test]
    fn hmac_helper_matches_the_documented_example() {
        assert_eq!(
            format!(
                "sha256={}",
                hmac_sha256_hex(GITHUB_SECRET.as_bytes(), &[GITHUB_BODY])
            ),
            GITHUB_SIGNATURE
        );
    }
}
