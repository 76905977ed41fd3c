//! Talking to AWS without an SDK: requests signed with Signature Version 4 (the `aws-sigv4`
//! crate computes the signature; we only hand it the request), temporary credentials from STS
//! `AssumeRole` (itself a signed request), and the regional endpoints of a service.
//!
//! A signature is computed per attempt, just before sending, so a request retried after a
//! throttle carries a fresh `X-Amz-Date` (AWS refuses signatures older than five minutes).

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SigningSettings, sign},
    sign::v4,
};
use reqwest::header::{HeaderName, HeaderValue};
use tributary_core::{ErrorKind, OperationError, Secret};

use crate::{ProviderHttp, unix_now};

/// The STS API version every `AssumeRole` call names.
const STS_VERSION: &str = "2011-06-15";

/// An access key pair, with the session token and expiry of temporary credentials. `Debug`
/// shows only the access key id, which AWS does not treat as secret.
#[derive(Clone)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// Present for temporary credentials (STS), sent as `X-Amz-Security-Token`.
    pub session_token: Option<Secret>,
    /// Unix seconds; `None` for long-term keys.
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("temporary", &self.session_token.is_some())
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl AwsCredentials {
    /// Long-term (or externally issued temporary) keys; checks their shape, not their validity.
    pub fn new(
        access_key_id: &str,
        secret_access_key: &Secret,
        session_token: Option<&Secret>,
    ) -> Result<Self, OperationError> {
        let access_key_id = access_key_id.trim();
        if access_key_id.len() < 16
            || access_key_id.len() > 128
            || !access_key_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(OperationError::config(
                "the access key id must be 16 to 128 letters and digits (AKIA… or ASIA…)",
            ));
        }
        let secret = secret_access_key.expose().trim();
        if secret.is_empty() || secret.chars().any(char::is_whitespace) {
            return Err(OperationError::config(
                "the secret access key is empty or contains spaces",
            ));
        }
        let session_token = session_token
            .map(|token| token.expose().trim())
            .filter(|token| !token.is_empty())
            .map(Secret::new);
        Ok(Self {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: Secret::new(secret),
            session_token,
            expires_at: None,
        })
    }

    /// The keys of this process's environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`), if both halves of the pair are set.
    pub fn from_env() -> Option<Self> {
        let id = std::env::var("AWS_ACCESS_KEY_ID").ok()?;
        let secret = Secret::new(std::env::var("AWS_SECRET_ACCESS_KEY").ok()?);
        let token = std::env::var("AWS_SESSION_TOKEN").ok().map(Secret::new);
        Self::new(&id, &secret, token.as_ref()).ok()
    }

    /// Whether the credentials expire within `margin` (never for long-term keys).
    pub fn expires_within(&self, margin: Duration) -> bool {
        self.expires_at
            .is_some_and(|at| at - unix_now() <= margin.as_secs() as i64)
    }

    /// The secret parts, for cutting out of any message.
    pub fn secrets(&self) -> Vec<Secret> {
        let mut secrets = vec![self.secret_access_key.clone()];
        secrets.extend(self.session_token.clone());
        secrets
    }
}

/// Signs requests for one service in one region with one set of credentials.
#[derive(Clone)]
pub struct SigV4 {
    credentials: Arc<AwsCredentials>,
    region: String,
    service: &'static str,
}

impl std::fmt::Debug for SigV4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigV4")
            .field("credentials", &self.credentials)
            .field("region", &self.region)
            .field("service", &self.service)
            .finish()
    }
}

impl SigV4 {
    /// `service` is the signing name (`securityhub`, `auditmanager`, `sts`).
    pub fn new(
        credentials: Arc<AwsCredentials>,
        region: impl Into<String>,
        service: &'static str,
    ) -> Self {
        Self {
            credentials,
            region: region.into(),
            service,
        }
    }

    pub fn credentials(&self) -> &AwsCredentials {
        &self.credentials
    }

    /// Adds `X-Amz-Date`, `X-Amz-Security-Token` (temporary credentials) and `Authorization` to
    /// `request`, signing its method, URL, headers and body as of `now`.
    pub fn sign(
        &self,
        request: &mut reqwest::Request,
        now: SystemTime,
    ) -> Result<(), OperationError> {
        let failed = |what: &str| {
            OperationError::internal(format!("the request could not be signed for AWS ({what})"))
        };
        let identity = Credentials::new(
            self.credentials.access_key_id.clone(),
            self.credentials.secret_access_key.expose().to_owned(),
            self.credentials
                .session_token
                .as_ref()
                .map(|token| token.expose().to_owned()),
            None,
            "tributary",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|_| failed("signing parameters"))?
            .into();
        let body = request
            .body()
            .map(|body| body.as_bytes().ok_or_else(|| failed("streamed body")))
            .transpose()?
            .unwrap_or_default();
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.url().as_str(),
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|_| failed("URL"))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|_| failed("signature"))?
            .into_parts();
        let (headers, _params) = instructions.into_parts();
        for header in headers {
            let mut value =
                HeaderValue::from_str(header.value()).map_err(|_| failed("header value"))?;
            value.set_sensitive(header.sensitive() || header.name() == "authorization");
            request
                .headers_mut()
                .insert(HeaderName::from_static(header.name()), value);
        }
        Ok(())
    }
}

/// What an `AssumeRole` call asks for.
#[derive(Debug, Clone)]
pub struct AssumeRoleRequest {
    pub role_arn: String,
    /// The value the role's trust policy requires in `sts:ExternalId` (guards against the
    /// confused deputy: another tenant naming this tenant's role).
    pub external_id: Option<String>,
    pub session_name: String,
    /// 900 to the role's maximum session duration (default 3600).
    pub duration_seconds: u32,
}

/// Calls STS `AssumeRole` at `sts_url` (signed with `source` for `region`) and returns the
/// role's temporary credentials. A refusal is `Auth` (the role does not trust the caller, or
/// the external id does not match) with AWS's code and message.
pub async fn assume_role(
    http: &ProviderHttp,
    sts_url: &str,
    region: &str,
    source: Arc<AwsCredentials>,
    request: &AssumeRoleRequest,
) -> Result<AwsCredentials, OperationError> {
    let duration = request.duration_seconds.to_string();
    let mut form = vec![
        ("Action", "AssumeRole"),
        ("Version", STS_VERSION),
        ("RoleArn", request.role_arn.as_str()),
        ("RoleSessionName", request.session_name.as_str()),
        ("DurationSeconds", duration.as_str()),
    ];
    if let Some(external_id) = &request.external_id {
        form.push(("ExternalId", external_id.as_str()));
    }
    let answer = http
        .post(sts_url)
        .without_auth()
        .form(form)
        .sigv4(SigV4::new(source, region, "sts"))
        .send()
        .await
        .map_err(|err| match err.kind {
            ErrorKind::Auth => OperationError::auth(format!(
                "AWS STS refused to assume {} (the role's trust policy must allow the source \
                 identity and require this external id): {}",
                request.role_arn, err.message
            )),
            // A session longer than the role allows, a malformed ARN or session name.
            ErrorKind::Config => OperationError::config(format!(
                "AWS STS refused the request to assume {}: {}",
                request.role_arn, err.message
            )),
            _ => err,
        })?;
    let xml = String::from_utf8_lossy(answer.bytes());
    let field = |tag: &str| {
        xml_text(&xml, tag)
            .ok_or_else(|| OperationError::provider(format!("the AssumeRole answer has no {tag}")))
    };
    let expires_at = chrono::DateTime::parse_from_rfc3339(&field("Expiration")?)
        .map_err(|_| {
            OperationError::provider("the AssumeRole answer has an unreadable Expiration")
        })?
        .timestamp();
    Ok(AwsCredentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: Secret::new(field("SecretAccessKey")?),
        session_token: Some(Secret::new(field("SessionToken")?)),
        expires_at: Some(expires_at),
    })
}

/// The text of the first `<tag>…</tag>` in `xml`, entities decoded. AWS Query APIs (STS) answer
/// with small fixed XML documents; this reads the few leaves we need without an XML parser.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let text = xml[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    Some(text.trim().to_owned())
}

/// Whether `region` looks like an AWS region code (`us-east-1`, `eu-central-2`,
/// `us-gov-west-1`, `cn-north-1`).
pub fn is_aws_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

/// `https://<service>.<region>.amazonaws.com` (`.amazonaws.com.cn` in the China regions).
pub fn aws_endpoint(service: &str, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{service}.{region}.{suffix}")
}

/// The partition of a region (`aws`, `aws-cn`, `aws-us-gov`), as ARNs name it.
pub fn aws_partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_codes_and_endpoints() {
        for region in ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1"] {
            assert!(is_aws_region(region), "{region}");
        }
        for region in [
            "",
            "us-east",
            "US-EAST-1",
            "us_east_1",
            "us-east-1/x",
            "us-east-x",
        ] {
            assert!(!is_aws_region(region), "{region}");
        }
        assert_eq!(
            aws_endpoint("securityhub", "eu-west-1"),
            "https://securityhub.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            aws_endpoint("sts", "cn-north-1"),
            "https://sts.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(aws_partition("us-gov-east-1"), "aws-us-gov");
    }

    #[test]
    fn xml_leaves_are_read_and_decoded() {
        let xml = "<AssumeRoleResponse><AssumeRoleResult><Credentials>\
                   <SessionToken>a+b/c=&amp;d</SessionToken><Expiration>2026-11-29T01:00:00Z\
                   </Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        assert_eq!(xml_text(xml, "SessionToken").unwrap(), "a+b/c=&d");
        assert_eq!(xml_text(xml, "Expiration").unwrap(), "2026-11-29T01:00:00Z");
        assert_eq!(xml_text(xml, "AccessKeyId"), None);
    }

    #[test]
    fn debug_shows_no_secret() {
        let credentials = AwsCredentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            &Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            Some(&Secret::new("session-token-value")),
        )
        .unwrap();
        let shown = format!(
            "{:?}",
            SigV4::new(Arc::new(credentials), "us-east-1", "sts")
        );
        assert!(shown.contains("AKIAIOSFODNN7EXAMPLE"));
        assert!(!shown.contains("wJalr") && !shown.contains("session-token-value"));
    }

    #[test]
    fn key_shapes_are_checked() {
        let secret = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert!(AwsCredentials::new("short", &secret, None).is_err());
        assert!(AwsCredentials::new("AKIA IOSFODNN7EXAMPLE", &secret, None).is_err());
        assert!(AwsCredentials::new("AKIAIOSFODNN7EXAMPLE", &Secret::new(" "), None).is_err());
    }
}
