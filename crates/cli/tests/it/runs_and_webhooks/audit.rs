//! The commands that change the database directly (without `--api`) record their actions in the
//! audit trail as the command line (`local_cli`), named by the operating-system user, with a
//! command id each, on SQLite and on PostgreSQL; read-only commands record nothing, and no
//! secret a command reads or prints reaches a stored event.

use std::{collections::HashSet, path::Path, process::Command};

use serde_json::{Value, json};
use tributary_store::{
    Db,
    audit::{ActorKind, AuditEvent, AuditQuery, Outcome},
    keystore::KeyRing,
};

use crate::support::{fresh_database::on_fresh_database, seed::run_of};

const OS_USER: &str = "audit-tester";
const REFUSED_API_TOKEN: &str = "cf-wrong-token-never-recorded";

/// `tributary <args> --data-dir <data> --json` as [`OS_USER`], on `database_url` when given.
fn as_user(data: &Path, database_url: Option<&str>, args: &[&str]) -> (bool, Value, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tributary"));
    command
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--json")
        .env("USER", OS_USER)
        .env_remove("LOGNAME")
        .env_remove("TRIBUTARY_CONFIG")
        .env_remove("TRIBUTARY_KEYRING")
        .env_remove("TRIBUTARY_KEYRING_FILE")
        .env_remove("TRIBUTARY_API_URL")
        .env_remove("TRIBUTARY_API_TOKEN");
    match database_url {
        Some(url) => command.env("TRIBUTARY_DATABASE_URL", url),
        None => command.env_remove("TRIBUTARY_DATABASE_URL"),
    };
    let out = command.output().expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.success(), value, stderr)
}

async fn every_event(db: &Db) -> Vec<AuditEvent> {
    db.audit()
        .list(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
}

/// The one event of `action` on `target_id`.
fn event<'a>(events: &'a [AuditEvent], action: &str, target_id: &str) -> &'a AuditEvent {
    let found: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.action == action && e.target_id.as_deref() == Some(target_id))
        .collect();
    assert_eq!(found.len(), 1, "one {action} on {target_id}: {events:#?}");
    found[0]
}

fn direct_commands_are_audited(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", data.join("tributary.db").display()));
    let cli = |args: &[&str]| as_user(&data, database_url.as_deref(), args);
    let ok = |args: &[&str]| {
        let (ok, out, err) = cli(args);
        assert!(ok, "{args:?}: {err}");
        out
    };
    ok(&["init"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(Db::open(&url)).unwrap();
    assert!(
        rt.block_on(every_event(&db)).is_empty(),
        "init records nothing"
    );

    let tenant = ok(&["tenants", "create", "acme"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let issued = ok(&["tenants", "token", "acme", "--name", "deploy"]);
    let api_token = issued["token"].as_str().unwrap().to_owned();
    let token_id = issued["record"]["id"].as_str().unwrap().to_owned();
    // Before any command that holds the key ring: none to wait for.
    let primary_key = ok(&["keys", "rotate", "--wait-timeout-secs", "5"])["primaryKeyId"]
        .as_str()
        .unwrap()
        .to_owned();

    let scim = ok(&[
        "integrations",
        "create",
        "--tenant",
        "acme",
        "--definition",
        "scim",
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = ok(&["scim", "create-endpoint", "--tenant", "acme", &scim]);
    let rotated = ok(&["scim", "rotate-secret", "--tenant", "acme", &scim]);
    let scim_endpoint = created["id"].as_str().unwrap().to_owned();
    let scim_secrets = [&created, &rotated].map(|out| out["secret"].as_str().unwrap().to_owned());

    let cloudflare = ok(&[
        "integrations",
        "create",
        "--tenant",
        "acme",
        "--definition",
        "cloudflare",
        "--input",
        r#"{"accountId": "0123456789abcdef0123456789abcdef"}"#,
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let credentials = json!({"CloudflareApiToken": {"apiToken": REFUSED_API_TOKEN}}).to_string();
    let (connected, _, err) = cli(&[
        "integrations",
        "connect",
        "--tenant",
        "acme",
        &cloudflare,
        "--connection",
        "CloudflareApiToken",
        "--credentials",
        &credentials,
    ]);
    assert!(!connected, "a token of the wrong format is refused: {err}");
    let (cancelled, _, err) = cli(&["runs", "cancel", "--tenant", "acme", "no-such-run"]);
    assert!(!cancelled && err.contains("not found"), "{err}");

    // A queued run and a failed delivery, to cancel and replay.
    let ring = KeyRing::load(&data.join("keyring.json")).unwrap();
    let (run, delivery) = rt.block_on(async {
        let run = run_of(&db, &tenant, &cloudflare, "DirectorySync", "queued").await;
        let (endpoint, _) = db
            .webhooks(&ring)
            .create_endpoint(&tenant, &cloudflare, "events", &[])
            .await
            .unwrap();
        let (delivery, _) = db
            .webhooks(&ring)
            .record_delivery(&tenant, &endpoint.id, "evt-1", "Changed", &json!({}))
            .await
            .unwrap();
        db.webhooks(&ring)
            .finish_delivery(&tenant, &delivery.id, Some("the handler failed"))
            .await
            .unwrap();
        (run.id, delivery.id)
    });
    ok(&["runs", "cancel", "--tenant", "acme", &run]);
    ok(&["webhooks", "replay", "--tenant", "acme", &delivery]);
    ok(&["integrations", "delete", "--tenant", "acme", &cloudflare]);
    // The commands just run still count as holders of the key ring, which never take the new
    // key: the rotation times out, and its failure is recorded.
    let (rotated, _, err) = cli(&["keys", "rotate", "--wait-timeout-secs", "1"]);
    assert!(
        !rotated && err.contains("did not hold the new key"),
        "{err}"
    );
    ok(&["storage", "purge"]);

    let recorded = rt.block_on(every_event(&db)).len();
    for read_only in [
        &["tenants", "list"][..],
        &["integrations", "list", "--tenant", "acme"],
        &["runs", "list", "--tenant", "acme", "--integration", &scim],
        &["scim", "show", "--tenant", "acme", &scim],
        &["keys", "status"],
        &["storage", "purge", "--dry-run"],
    ] {
        ok(read_only);
    }
    let events = rt.block_on(every_event(&db));
    assert_eq!(events.len(), recorded, "read-only commands record nothing");

    let mut command_ids = HashSet::new();
    for event in &events {
        assert_eq!(event.actor.kind, ActorKind::LocalCli, "{event:?}");
        assert_eq!(event.actor.token_id, None, "{event:?}");
        assert_eq!(event.actor.token_name.as_deref(), Some(OS_USER));
        let command_id = event.request_id.clone().expect("a command id");
        assert!(command_ids.insert(command_id), "one command id per command");
    }
    let succeeded = |action: &str, target_type: &str, target_id: &str, tenant_id: Option<&str>| {
        let found = event(&events, action, target_id);
        assert_eq!(found.outcome, Outcome::Succeeded, "{found:?}");
        assert_eq!(found.target_type, target_type, "{found:?}");
        assert_eq!(found.tenant_id.as_deref(), tenant_id, "{found:?}");
        found
    };
    let acme = Some(tenant.as_str());
    assert_eq!(
        succeeded("tenant.create", "tenant", &tenant, acme).metadata["name"],
        "acme"
    );
    assert_eq!(
        succeeded("token.issue", "api_token", &token_id, acme).metadata["name"],
        "deploy"
    );
    succeeded("integration.create", "integration", &scim, acme);
    assert_eq!(
        succeeded("integration.create", "integration", &cloudflare, acme).metadata["fields"],
        json!(["accountId"])
    );
    for action in ["scim_endpoint.create", "scim_endpoint.rotate_secret"] {
        let found = succeeded(action, "scim_endpoint", &scim_endpoint, acme);
        assert_eq!(found.metadata["integrationId"], scim.as_str());
    }
    let refused = event(&events, "integration.connect", &cloudflare);
    assert!(
        matches!(&refused.outcome, Outcome::Failed(reason) if reason.starts_with("setup_failed")),
        "{refused:?}"
    );
    assert_eq!(refused.metadata["slots"], json!(["CloudflareApiToken"]));
    let missing = event(&events, "run.cancel", "no-such-run");
    assert_eq!(missing.outcome, Outcome::Failed("not_found".into()));
    assert_eq!(
        succeeded("run.cancel", "run", &run, acme).metadata["status"],
        "cancelled"
    );
    assert_eq!(
        succeeded(
            "webhook_delivery.replay",
            "webhook_delivery",
            &delivery,
            acme
        )
        .metadata["integrationId"],
        cloudflare.as_str()
    );
    succeeded("integration.delete", "integration", &cloudflare, acme);
    succeeded("key_ring.rotate", "key_ring", &primary_key, None);
    let timed_out: Vec<_> = events
        .iter()
        .filter(|e| e.action == "key_ring.rotate" && e.target_id.is_none())
        .collect();
    assert_eq!(timed_out.len(), 1, "{timed_out:?}");
    assert_eq!(timed_out[0].outcome, Outcome::Failed("config".into()));
    assert_eq!(timed_out[0].tenant_id, None);
    let purged: Vec<_> = events
        .iter()
        .filter(|e| e.action == "storage.purge")
        .collect();
    assert_eq!(purged.len(), 1, "the purge, not its dry run: {purged:?}");
    assert_eq!(purged[0].outcome, Outcome::Succeeded);

    let stored = serde_json::to_string(&events).unwrap();
    for secret in [api_token.as_str(), REFUSED_API_TOKEN]
        .into_iter()
        .chain(scim_secrets.iter().map(String::as_str))
    {
        assert!(!secret.is_empty());
        assert!(!stored.contains(secret), "a secret in the trail: {stored}");
    }
    rt.block_on(db.close());
}

#[test]
fn direct_commands_are_audited_sqlite() {
    direct_commands_are_audited(None);
}

#[test]
fn direct_commands_are_audited_postgres() {
    on_fresh_database("tributary_cli_audit", |url| {
        direct_commands_are_audited(Some(url))
    });
}
