//! OAuth tokens as stored in a credential.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tributary_core::{OperationError, Secret};

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// An access token with what it takes to renew it. Serialises as the credential the keystore
/// stores; `Debug` never shows a token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// Unix seconds at which the access token expires; `None` when the provider did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(default = "bearer", skip_serializing_if = "String::is_empty")]
    pub token_type: String,
    /// The OIDC id token of the exchange, kept so claims can be read (verify it first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Secret>,
}

fn bearer() -> String {
    "Bearer".to_owned()
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("token_type", &self.token_type)
            .finish_non_exhaustive()
    }
}

impl TokenSet {
    /// A token that never expires as far as we know (a pasted bot token).
    pub fn from_access_token(access_token: Secret) -> Self {
        Self {
            access_token,
            refresh_token: None,
            expires_at: None,
            scopes: Vec::new(),
            token_type: bearer(),
            id_token: None,
        }
    }

    /// Whether the token expires within `margin` from now (or has expired). Tokens without an
    /// expiry never do.
    pub fn expires_within(&self, margin: Duration) -> bool {
        self.expires_within_at(margin, unix_now())
    }

    /// [`expires_within`](Self::expires_within) at a given time.
    pub fn expires_within_at(&self, margin: Duration, now: i64) -> bool {
        self.expires_at
            .is_some_and(|at| at <= now.saturating_add(margin.as_secs() as i64))
    }

    /// Reads the token fields of a token endpoint's JSON answer.
    pub fn from_token_response(body: &Value, now: i64) -> Result<Self, OperationError> {
        let access_token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OperationError::provider("the token answer has no access_token"))?;
        let string = |name: &str| {
            body.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
        };
        // `expires_in` is a number, but some servers send it as a string.
        let expires_in = body.get("expires_in").and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        });
        let scopes = body
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| {
                s.split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            access_token: Secret::new(access_token),
            refresh_token: string("refresh_token"),
            expires_at: expires_in.map(|seconds| now.saturating_add(seconds)),
            scopes,
            token_type: body
                .get("token_type")
                .and_then(Value::as_str)
                .map_or_else(bearer, str::to_owned),
            id_token: string("id_token"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expiry_margin() {
        let token = TokenSet {
            expires_at: Some(1_000),
            ..TokenSet::from_access_token(Secret::new("t"))
        };
        assert!(!token.expires_within_at(Duration::from_secs(60), 900));
        assert!(token.expires_within_at(Duration::from_secs(120), 900));
        assert!(token.expires_within_at(Duration::ZERO, 1_000));
        assert!(!TokenSet::from_access_token(Secret::new("t")).expires_within(Duration::MAX));
    }

    #[test]
    fn reads_token_answers() {
        let body = json!({"access_token": "access-XYZ", "refresh_token": "refresh-XYZ", "expires_in": "3600",
            "scope": "users:read,team:read", "token_type": "bearer"});
        let token = TokenSet::from_token_response(&body, 100).unwrap();
        assert_eq!(token.expires_at, Some(3700));
        assert_eq!(token.scopes, ["users:read", "team:read"]);
        assert_eq!(
            token.refresh_token.as_ref().map(Secret::expose),
            Some("refresh-XYZ")
        );
        let shown = format!("{token:?}");
        assert!(!shown.contains("XYZ"), "{shown}");
        assert!(TokenSet::from_token_response(&json!({"error": "x"}), 0).is_err());
    }
}
