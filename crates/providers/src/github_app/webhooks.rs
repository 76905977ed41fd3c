//! The app's webhook: one URL for every installation (`/v1/webhooks/apps/github_app/app_events`,
//! the app's Webhook URL), signed with the app's webhook secret (`X-Hub-Signature-256`), routed
//! to the integration whose metadata names the event's `installation.id`.
//!
//! - `ping`: acknowledged (GitHub sends it when the webhook is set up).
//! - `installation` `created`: acknowledged and recorded; `deleted`: the app was uninstalled,
//!   so the integration is disconnected.
//! - `dependabot_alert`, `code_scanning_alert`, `secret_scanning_alert`: the `alert` is ingested
//!   as a Vulnerability with the variant of its kind, for the repository `repository.full_name`.
//! - `repository` (created, edited, renamed, archived, publicized, transferred...): the
//!   `repository` is ingested as its Asset at once; `repository` `deleted` and
//!   `installation_repositories` (added, removed) change which repositories the installation
//!   sees: a RepositorySync and a VulnerabilityCollect are queued, whose full listings tombstone
//!   what is gone.
//! - `member`, `membership`, `organization`: the organisation's people changed: a DirectorySync
//!   is queued.
//! - `installation` `new_permissions_accepted`: the app may read more: every sync is queued.
//! - `installation` `suspend`: the organisation suspended the installation, and GitHub refuses
//!   its tokens (403) until `unsuspend`: the integration is `suspended` (the reason names who
//!   suspended it and when) and its schedules stop. `unsuspend`: a suspended integration is
//!   `connected` again, its schedules resume and every sync is queued to catch up; one that was
//!   not suspended is left as it is.
//!
//! Bursts of events queue one run per operation (a run not started yet reads every change so
//! far). Other events and actions are acknowledged and recorded without a handler.

use serde::Deserialize;
use serde_json::Value;
use tributary_core::{
    ConnectionChange, IngestPayloadSet, MappingEnvelope, OperationError, ResolvedEvent, Secret,
    StableName, VerifyError, WebhookEvent, WebhookEventRequest, WebhookOutcome,
    WebhookRegistration,
};
use tributary_model::{Asset, IngestModel, Vulnerability};

use super::{
    DirectorySync, GithubAppOperatorConfig, INSTALLATION_ATTRIBUTE, RepositorySync,
    VulnerabilityCollect,
};

/// The explicit, persisted name of the app's webhook.
pub const APP_WEBHOOK: &str = "app_events";

/// `ping`: GitHub checks the webhook.
#[derive(StableName, Deserialize)]
pub struct Ping {}

/// `installation` with action `created`: the app was installed.
#[derive(StableName, Deserialize)]
pub struct InstallationCreated {}

/// `installation` with action `deleted`: the app was uninstalled.
#[derive(StableName, Deserialize)]
pub struct InstallationDeleted {}

/// `dependabot_alert`: an alert was created, dismissed, fixed, reopened...
#[derive(StableName, Deserialize)]
pub struct DependabotAlert {
    #[serde(default)]
    alert: Value,
    #[serde(default)]
    repository: Value,
}

/// `code_scanning_alert`.
#[derive(StableName, Deserialize)]
pub struct CodeScanningAlert {
    #[serde(default)]
    alert: Value,
    #[serde(default)]
    repository: Value,
}

/// `secret_scanning_alert`.
#[derive(StableName, Deserialize)]
pub struct SecretScanningAlert {
    #[serde(default)]
    alert: Value,
    #[serde(default)]
    repository: Value,
}

/// `repository` (other than `deleted`): a repository's attributes changed.
#[derive(StableName, Deserialize)]
pub struct RepositoryChanged {
    #[serde(default)]
    repository: Value,
}

/// `repository` `deleted`, `installation_repositories`: the set of repositories changed.
#[derive(StableName, Deserialize)]
pub struct RepositoriesChanged {}

/// `member`, `membership`, `organization`: the organisation's people changed.
#[derive(StableName, Deserialize)]
pub struct MembersChanged {}

/// `installation` `new_permissions_accepted`: the app may read more than before.
#[derive(StableName, Deserialize)]
pub struct PermissionsAccepted {}

/// `installation` with action `suspend`: the organisation suspended the installation.
#[derive(StableName, Deserialize)]
pub struct InstallationSuspended {
    #[serde(default)]
    installation: Value,
    #[serde(default)]
    sender: Value,
}

/// `installation` with action `unsuspend`: the suspension was lifted.
#[derive(StableName, Deserialize)]
pub struct InstallationUnsuspended {}

/// Every sync, queued when the app may read more (or again) than before.
const EVERY_SYNC: [&str; 3] = [
    RepositorySync::NAME,
    VulnerabilityCollect::NAME,
    DirectorySync::NAME,
];

/// The event name for GitHub's `X-GitHub-Event` and the payload's `action`.
fn event_name(kind: &str, action: &str) -> Option<&'static str> {
    Some(match (kind, action) {
        ("ping", _) => Ping::NAME,
        ("installation", "created") => InstallationCreated::NAME,
        ("installation", "deleted") => InstallationDeleted::NAME,
        ("installation", "new_permissions_accepted") => PermissionsAccepted::NAME,
        ("installation", "suspend") => InstallationSuspended::NAME,
        ("installation", "unsuspend") => InstallationUnsuspended::NAME,
        ("repository", "deleted") | ("installation_repositories", _) => RepositoriesChanged::NAME,
        ("repository", _) => RepositoryChanged::NAME,
        ("member" | "membership" | "organization", _) => MembersChanged::NAME,
        ("dependabot_alert", _) => DependabotAlert::NAME,
        ("code_scanning_alert", _) => CodeScanningAlert::NAME,
        ("secret_scanning_alert", _) => SecretScanningAlert::NAME,
        _ => return None,
    })
}

fn resolve(request: &tributary_core::InboundWebhook) -> Result<ResolvedEvent, VerifyError> {
    let kind = request
        .header("x-github-event")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| VerifyError("the X-GitHub-Event header is missing".into()))?
        .to_owned();
    let mut payload: Value = serde_json::from_slice(&request.body)
        .map_err(|_| VerifyError("the body is not JSON".into()))?;
    if kind == "secret_scanning_alert"
        && let Some(alert) = payload.get_mut("alert").and_then(Value::as_object_mut)
    {
        // The delivery is stored as resolved here: the leaked secret must not be among it.
        alert.remove("secret");
    }
    let action = payload["action"].as_str().unwrap_or_default().to_owned();
    Ok(ResolvedEvent {
        name: event_name(&kind, &action).map(str::to_owned),
        delivery_id: request.header("x-github-delivery").map(str::to_owned),
        provider_event: kind,
        action,
        payload,
    })
}

/// The repository an alert belongs to: `repository.full_name`, else `owner.login/name`.
fn repository_of(repository: &Value) -> Option<String> {
    if let Some(full) = repository["full_name"].as_str().filter(|s| !s.is_empty()) {
        return Some(full.to_owned());
    }
    match (
        repository["owner"]["login"].as_str(),
        repository["name"].as_str(),
    ) {
        (Some(owner), Some(name)) if !owner.is_empty() && !name.is_empty() => {
            Some(format!("{owner}/{name}"))
        }
        _ => None,
    }
}

/// Leaves the secret itself out of a secret scanning alert before it is stored.
pub(super) fn without_secret(mut alert: Value) -> Value {
    if let Some(object) = alert.as_object_mut() {
        object.remove("secret");
    }
    alert
}

fn alert_outcome(
    request: &WebhookEventRequest,
    variant: &str,
    alert: Value,
    repository: &Value,
) -> Result<WebhookOutcome, OperationError> {
    if !alert.is_object() {
        return Err(OperationError::provider(format!(
            "the {} event carries no alert",
            request.event.provider_event
        )));
    }
    let repository = repository_of(repository).ok_or_else(|| {
        OperationError::provider(format!(
            "the {} event names no repository",
            request.event.provider_event
        ))
    })?;
    // Deliveries stored before the secret was left out at intake still carry it.
    let alert = if variant == "secret_scanning" {
        without_secret(alert)
    } else {
        alert
    };
    Ok(WebhookOutcome {
        ingest: vec![IngestPayloadSet::new(
            Vulnerability::METADATA.schema,
            vec![
                MappingEnvelope::new(alert)
                    .variant(variant)
                    .resource(repository)
                    .action(request.event.action.clone()),
            ],
        )],
        ..WebhookOutcome::default()
    })
}

/// The repository of a `repository` event as its Asset, as RepositorySync ingests it.
fn repository_outcome(
    request: &WebhookEventRequest,
    repository: Value,
) -> Result<WebhookOutcome, OperationError> {
    let name = repository_of(&repository).ok_or_else(|| {
        OperationError::provider(format!(
            "the {} event names no repository",
            request.event.provider_event
        ))
    })?;
    Ok(WebhookOutcome {
        ingest: vec![IngestPayloadSet::new(
            Asset::METADATA.schema,
            vec![
                MappingEnvelope::new(repository)
                    .variant("repository")
                    .resource(name)
                    .action(request.event.action.clone()),
            ],
        )],
        ..WebhookOutcome::default()
    })
}

/// Longest login or timestamp quoted in a status reason (GitHub logins have at most 39
/// characters, timestamps about 25).
const MAX_QUOTED: usize = 64;

/// `text` as it may appear in a status reason: without control characters, bounded.
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_QUOTED)
        .collect()
}

/// The status reason of a suspension: who suspended the installation (`suspended_by`, else the
/// event's `sender`) and when (`suspended_at`), as far as the event says.
fn suspension_reason(event: &InstallationSuspended) -> String {
    let nonempty = |value: &Value| {
        value
            .as_str()
            .map(quoted)
            .filter(|text| !text.trim().is_empty())
    };
    let mut reason = String::from("GitHub: the app's installation was suspended");
    if let Some(login) = nonempty(&event.installation["suspended_by"]["login"])
        .or_else(|| nonempty(&event.sender["login"]))
    {
        reason.push_str(&format!(" by {login}"));
    }
    if let Some(at) = nonempty(&event.installation["suspended_at"]) {
        reason.push_str(&format!(" at {at}"));
    }
    reason.push_str("; it syncs again once the installation is unsuspended");
    reason
}

/// Queues a run of each operation (with the default config).
fn dispatch(operations: &[&'static str]) -> WebhookOutcome {
    WebhookOutcome {
        dispatch: operations
            .iter()
            .map(|operation| (*operation, serde_json::json!({})))
            .collect(),
        ..WebhookOutcome::default()
    }
}

pub(super) fn registration(operator: &GithubAppOperatorConfig) -> WebhookRegistration {
    // Without a configured secret nothing verifies: the route is closed, not open.
    let secret = operator
        .webhook_secret
        .clone()
        .unwrap_or_else(|| Secret::new(""));
    WebhookRegistration::new(APP_WEBHOOK)
        .app_route(INSTALLATION_ATTRIBUTE, secret, |event| {
            event.payload["installation"]["id"]
                .as_u64()
                .filter(|id| *id != 0)
                .map(|id| id.to_string())
        })
        .verify(|request, secret| {
            if secret.is_empty() {
                return Err(VerifyError(
                    "the GitHub App has no webhook secret configured".into(),
                ));
            }
            tributary_webhooks::github_signature_256(request, secret)
        })
        .resolve_event(resolve)
        // GitHub sends an installation's first events while the install callback may still be
        // running; they are held for as long as an install session lives (15 minutes).
        .hold_unrouted(std::time::Duration::from_secs(15 * 60))
        .event(
            WebhookEvent::<Ping>::new("GitHub checks the app's webhook")
                .handle(|_request, _event| async { Ok(WebhookOutcome::default()) }),
        )
        .event(
            WebhookEvent::<InstallationCreated>::new("The app was installed")
                .handle(|_request, _event| async { Ok(WebhookOutcome::default()) }),
        )
        .event(
            WebhookEvent::<InstallationDeleted>::new(
                "The app was uninstalled: the integration is disconnected",
            )
            .handle(|_request, _event| async {
                Ok(WebhookOutcome {
                    teardown: true,
                    ..WebhookOutcome::default()
                })
            }),
        )
        .event(
            WebhookEvent::<RepositoryChanged>::new(
                "A repository was created or changed: its Asset is updated",
            )
            .ingests([Asset::METADATA.schema])
            .handle(|request, event| async move { repository_outcome(&request, event.repository) }),
        )
        .event(
            WebhookEvent::<RepositoriesChanged>::new(
                "Repositories were deleted, added to or removed from the installation: they and \
                 their alerts are synced again",
            )
            .handle(|_request, _event| async {
                Ok(dispatch(&[
                    RepositorySync::NAME,
                    VulnerabilityCollect::NAME,
                ]))
            }),
        )
        .event(
            WebhookEvent::<MembersChanged>::new(
                "The organisation's members changed: the directory is synced again",
            )
            .handle(|_request, _event| async { Ok(dispatch(&[DirectorySync::NAME])) }),
        )
        .event(
            WebhookEvent::<PermissionsAccepted>::new(
                "New permissions were accepted: everything is synced again",
            )
            .handle(|_request, _event| async { Ok(dispatch(&EVERY_SYNC)) }),
        )
        .event(
            WebhookEvent::<InstallationSuspended>::new(
                "The installation was suspended: the integration is suspended and its schedules \
                 stop",
            )
            .handle(|_request, event| async move {
                Ok(WebhookOutcome {
                    connection: Some(ConnectionChange::Suspended {
                        reason: suspension_reason(&event),
                    }),
                    ..WebhookOutcome::default()
                })
            }),
        )
        .event(
            WebhookEvent::<InstallationUnsuspended>::new(
                "The installation was unsuspended: a suspended integration is connected again \
                 and everything is synced",
            )
            .handle(|_request, _event| async {
                Ok(WebhookOutcome {
                    connection: Some(ConnectionChange::Resumed),
                    ..dispatch(&EVERY_SYNC)
                })
            }),
        )
        .event(
            WebhookEvent::<DependabotAlert>::new("A Dependabot alert changed")
                .ingests([Vulnerability::METADATA.schema])
                .handle(|request, event| async move {
                    alert_outcome(&request, "dependabot", event.alert, &event.repository)
                }),
        )
        .event(
            WebhookEvent::<CodeScanningAlert>::new("A code scanning alert changed")
                .ingests([Vulnerability::METADATA.schema])
                .handle(|request, event| async move {
                    alert_outcome(&request, "code_scanning", event.alert, &event.repository)
                }),
        )
        .event(
            WebhookEvent::<SecretScanningAlert>::new("A secret scanning alert changed")
                .ingests([Vulnerability::METADATA.schema])
                .handle(|request, event| async move {
                    alert_outcome(&request, "secret_scanning", event.alert, &event.repository)
                }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_resolve_by_kind_and_action() {
        assert_eq!(
            event_name("installation", "created"),
            Some("InstallationCreated")
        );
        assert_eq!(
            event_name("installation", "deleted"),
            Some("InstallationDeleted")
        );
        assert_eq!(
            event_name("installation", "suspend"),
            Some("InstallationSuspended")
        );
        assert_eq!(
            event_name("installation", "unsuspend"),
            Some("InstallationUnsuspended")
        );
        assert_eq!(
            event_name("installation", "new_permissions_accepted"),
            Some("PermissionsAccepted")
        );
        assert_eq!(
            event_name("repository", "renamed"),
            Some("RepositoryChanged")
        );
        assert_eq!(
            event_name("repository", "deleted"),
            Some("RepositoriesChanged")
        );
        assert_eq!(
            event_name("installation_repositories", "added"),
            Some("RepositoriesChanged")
        );
        for kind in ["member", "membership", "organization"] {
            assert_eq!(event_name(kind, "added"), Some("MembersChanged"), "{kind}");
        }
        assert_eq!(event_name("push", ""), None);
        assert_eq!(
            event_name("secret_scanning_alert", "created"),
            Some("SecretScanningAlert")
        );
    }

    fn suspended(payload: Value) -> InstallationSuspended {
        serde_json::from_value(payload).unwrap()
    }

    #[test]
    fn a_suspension_names_who_suspended_the_installation_and_when() {
        let event = suspended(serde_json::json!({
            "action": "suspend",
            "installation": {
                "id": 1,
                "suspended_at": "2024-06-20T17:00:00Z",
                "suspended_by": {"login": "octo-admin", "id": 5, "type": "User"},
            },
            "sender": {"login": "someone-else"},
        }));
        assert_eq!(
            suspension_reason(&event),
            "GitHub: the app's installation was suspended by octo-admin at \
             2024-06-20T17:00:00Z; it syncs again once the installation is unsuspended"
        );
        // Without `suspended_by` the sender is named; without either, nobody.
        let event = suspended(serde_json::json!({
            "installation": {"suspended_by": null, "suspended_at": null},
            "sender": {"login": "octo-admin"},
        }));
        assert_eq!(
            suspension_reason(&event),
            "GitHub: the app's installation was suspended by octo-admin; it syncs again once \
             the installation is unsuspended"
        );
        let event = suspended(serde_json::json!({"installation": {"suspended_by": 7}}));
        assert_eq!(
            suspension_reason(&event),
            "GitHub: the app's installation was suspended; it syncs again once the \
             installation is unsuspended"
        );
    }

    #[test]
    fn quoted_text_is_bounded_and_without_control_characters() {
        let long = format!("a\nb{}", "x".repeat(500));
        let text = quoted(&long);
        assert!(text.starts_with("ab"));
        assert_eq!(text.chars().count(), MAX_QUOTED);
    }

    #[test]
    fn the_repository_falls_back_to_owner_and_name() {
        assert_eq!(
            repository_of(&serde_json::json!({"owner": {"login": "acme"}, "name": "web"})),
            Some("acme/web".into())
        );
        assert_eq!(repository_of(&serde_json::json!({})), None);
    }
}
