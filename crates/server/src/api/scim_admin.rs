//! The SCIM endpoint of an integration of the `scim` definition: create it (this connects the
//! integration; the bearer secret is shown once), read it, rotate its secret (the previous one
//! keeps working for 24 hours).

use tributary_scim::admin::{self, AdminError};
use tributary_store::SecretBytes;
use tributary_store::scim::ScimEndpoint;

use super::prelude::*;
use crate::audit::{Audit, AuditBuilder, actions};

#[derive(Debug, Deserialize)]
struct IntegrationPath {
    integration_id: String,
}

/// An integration's SCIM endpoint.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimEndpointView {
    pub id: String,
    pub integration_id: String,
    /// The SCIM base URL to enter in the identity provider (`.../scim/v2/<id>`).
    pub base_url: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the last secret rotation.
    pub rotated_at: Option<i64>,
    /// Until when (Unix ms) the secret replaced by the last rotation is still accepted.
    pub previous_secret_valid_until: Option<i64>,
}

/// The endpoint with its bearer secret (shown this once).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimSecretView {
    #[serde(flatten)]
    pub endpoint: ScimEndpointView,
    /// The bearer secret the identity provider sends (`Authorization: Bearer <secret>`).
    pub secret: String,
}

fn view(state: &ApiState, endpoint: ScimEndpoint) -> ScimEndpointView {
    ScimEndpointView {
        base_url: admin::base_url(&state.runtime, &endpoint.id),
        id: endpoint.id,
        integration_id: endpoint.integration_id,
        created_at: endpoint.created_at,
        rotated_at: endpoint.rotated_at,
        previous_secret_valid_until: endpoint.previous_valid_until,
    }
}

fn with_secret(
    state: &ApiState,
    (endpoint, secret): (ScimEndpoint, SecretBytes),
) -> ScimSecretView {
    ScimSecretView {
        endpoint: view(state, endpoint),
        secret: secret.expose_str().unwrap_or_default().to_owned(),
    }
}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::NotScim(_) => ApiError::unprocessable("not_scim", error.to_string()),
            AdminError::Store(store) => store.into(),
        }
    }
}

pub(super) fn endpoints() -> Vec<Endpoint> {
    let tag = "scim";
    vec![
        Endpoint::new(
            Method::POST,
            "/v1/integrations/{integration_id}/scim-endpoint",
            "createScimEndpoint",
            "Create the SCIM endpoint of a SCIM integration (connects it; the secret is shown once)",
            create,
        )
        .tag(tag)
        .answers::<ScimSecretView>(201, "The endpoint with its bearer secret"),
        Endpoint::new(
            Method::GET,
            "/v1/integrations/{integration_id}/scim-endpoint",
            "getScimEndpoint",
            "Get the SCIM endpoint of a SCIM integration",
            get,
        )
        .tag(tag)
        .answers::<ScimEndpointView>(200, "The endpoint"),
        Endpoint::new(
            Method::POST,
            "/v1/integrations/{integration_id}/scim-endpoint/rotate-secret",
            "rotateScimSecret",
            "Rotate the SCIM bearer secret (the new one is shown once; the old one works 24 more hours)",
            rotate,
        )
        .tag(tag)
        .answers::<ScimSecretView>(200, "The endpoint with its new bearer secret"),
    ]
}

async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<IntegrationPath>,
) -> Result<(StatusCode, Json<ScimSecretView>), ApiError> {
    let tenant = caller.tenant()?;
    let result = admin::create_endpoint(&state.runtime, tenant, &path.integration_id).await;
    Audit::api(&caller, actions::SCIM_ENDPOINT_CREATE, "scim_endpoint")
        .meta("integrationId", path.integration_id.as_str())
        .on_success(&result, |audit, (endpoint, _)| audit.target(&endpoint.id))
        .record(&state, &result)
        .await;
    Ok((StatusCode::CREATED, Json(with_secret(&state, result?))))
}

async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<IntegrationPath>,
) -> ApiResult<ScimEndpointView> {
    let tenant = caller.tenant()?;
    let endpoint = admin::endpoint(&state.runtime, tenant, &path.integration_id)
        .await?
        .ok_or_else(|| ApiError::not_found("scim endpoint"))?;
    Ok(Json(view(&state, endpoint)))
}

async fn rotate(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<IntegrationPath>,
) -> ApiResult<ScimSecretView> {
    let tenant = caller.tenant()?;
    let result = admin::rotate_secret(&state.runtime, tenant, &path.integration_id).await;
    // The new secret is in the answer only, never in the trail.
    Audit::api(&caller, actions::SCIM_SECRET_ROTATE, "scim_endpoint")
        .meta("integrationId", path.integration_id.as_str())
        .on_success(&result, |audit, (endpoint, _)| audit.target(&endpoint.id))
        .record(&state, &result)
        .await;
    Ok(Json(with_secret(&state, result?)))
}
