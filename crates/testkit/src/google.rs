//! What the Google fakes (Workspace and Security Command Center) share: the JSON key of a
//! service account as Google Cloud downloads it.

use serde_json::json;

use crate::authorization::CLIENT_PRIVATE_KEY_PEM;

/// A service account of a Google Cloud project.
pub(crate) struct ServiceAccount<'a> {
    pub(crate) project_id: &'a str,
    pub(crate) email: &'a str,
    pub(crate) client_id: &'a str,
    /// The id of its key (`private_key_id`).
    pub(crate) key_id: &'a str,
}

/// The service account's JSON key file as Google Cloud downloads it, with the testkit's client
/// key as its private key.
pub(crate) fn service_account_key_json(account: &ServiceAccount<'_>) -> String {
    json!({
        "type": "service_account",
        "project_id": account.project_id,
        "private_key_id": account.key_id,
        "private_key": CLIENT_PRIVATE_KEY_PEM,
        "client_email": account.email,
        "client_id": account.client_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": format!("https://www.googleapis.com/robot/v1/metadata/x509/{}", account.email.replace('@', "%40")),
        "universe_domain": "googleapis.com",
    })
    .to_string()
}
