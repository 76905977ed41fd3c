//! The web UI end to end in a real browser: Debian's Chromium driven by playwright-core
//! (`crates/server/ui-tests/e2e.mjs`) against this server and the fake Okta and Slack on
//! loopback. The script signs in, connects Okta through the generated form (after a failed
//! attempt that must show its field error), runs a sync, reads the records, connects Slack with
//! the OAuth button, and uses the mapping playground; screenshots land in
//! `target/ui-screenshots/`. Afterwards the store must hold what the browser did.
//!
//! `crates/server/ui-tests/setup.sh` (run by `scripts/test`) installs playwright-core and
//! Chromium; without them the test is skipped, except under `CI=true`, where it fails.

use std::{path::PathBuf, process::Stdio, time::Duration};

use tributary_providers::{CatalogConfig, registry};
use tributary_server::ServerConfig;
use tributary_store::{
    integrations::IntegrationStatus,
    records::{RecordQuery, list_records},
};
use tributary_testkit::{
    okta::{FakeOkta, OktaOrg},
    slack::{FakeSlack, SlackWorkspace},
};

use crate::support::{TenantToken, TestServer};

const OKTA_TOKEN: &str = "00ui-test-okta-api-token-0123456789";

fn ui_tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ui-tests")
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

/// Whether the browser tooling is installed; under CI it must be.
fn tooling() -> Option<PathBuf> {
    let ready = ui_tests_dir().join("node_modules/playwright-core").exists();
    match (ready, chromium()) {
        (true, Some(browser)) => Some(browser),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "the UI browser tests need playwright-core and chromium: run crates/server/ui-tests/setup.sh"
        ),
        _ => {
            eprintln!(
                "skipping the UI browser test: run crates/server/ui-tests/setup.sh to install playwright-core and chromium"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_connects_runs_and_reads_records_in_a_real_browser() {
    let Some(browser) = tooling() else {
        return;
    };
    let okta = FakeOkta::start(OktaOrg::sample(40, 4), OKTA_TOKEN)
        .await
        .unwrap();
    let slack = FakeSlack::start(SlackWorkspace::sample(6)).await.unwrap();
    let server = TestServer::start_with(
        tributary_store::testing::sqlite().await,
        ServerConfig::default(),
        |base| {
            registry(&CatalogConfig {
                definitions: [
                    ("okta".to_owned(), okta.demo_connection().operator_config),
                    ("slack".to_owned(), slack.demo_connection().operator_config),
                ]
                .into(),
                public_url: Some(base.to_owned()),
            })
            .unwrap()
        },
        |runtime| runtime,
    )
    .await;
    let TenantToken { tenant, token, .. } = server.tenant_with_token("Browser Co", "ui").await;
    let runtime = &server.runtime;

    let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/ui-screenshots")
        .canonicalize()
        .unwrap_or_else(|_| {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
            std::fs::create_dir_all(&dir).unwrap();
            dir
        });
    let script = tokio::process::Command::new("node")
        .arg(ui_tests_dir().join("e2e.mjs"))
        .env("TRIBUTARY_URL", &server.base)
        .env("TRIBUTARY_TOKEN", &token)
        .env("OKTA_ORG_URL", okta.org_url())
        .env("OKTA_API_TOKEN", OKTA_TOKEN)
        .env("SCREENSHOT_DIR", &screenshots)
        .env("CHROMIUM", &browser)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(240), script)
        .await
        .expect("the browser script finished within four minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser script failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
    assert!(
        !stdout.contains(OKTA_TOKEN) && !stderr.contains(OKTA_TOKEN),
        "the script never prints the token"
    );

    // What the browser did is in the store: one Okta integration (the failed attempt was retried
    // on it, not duplicated) with its synced records, and Slack connected through OAuth.
    let integrations = runtime
        .db()
        .integrations()
        .list(&tenant, None)
        .await
        .unwrap();
    let okta_integrations: Vec<_> = integrations
        .iter()
        .filter(|i| i.definition_id == "okta")
        .collect();
    assert_eq!(okta_integrations.len(), 1, "{integrations:?}");
    assert_eq!(okta_integrations[0].name, "Okta (UI test)");
    assert_eq!(okta_integrations[0].status, IntegrationStatus::Connected);
    assert!(
        integrations
            .iter()
            .any(|i| i.definition_id == "slack" && i.status == IntegrationStatus::Connected),
        "{integrations:?}"
    );
    let accounts = list_records(
        runtime.db(),
        &RecordQuery {
            tenant_id: tenant.clone(),
            integration_id: Some(okta_integrations[0].id.clone()),
            model: Some("DirectoryAccount".into()),
            lookup_key: None,
            include_deleted: false,
            after: None,
            limit: 500,
        },
    )
    .await
    .unwrap();
    assert_eq!(accounts.len(), 40);
    for page in [
        "01-login-refused",
        "04-connect-field-error",
        "08-run",
        "10-records",
        "12-oauth-connected",
    ] {
        assert!(
            screenshots.join(format!("{page}.png")).exists(),
            "screenshot {page} saved"
        );
    }
    server.stop().await;
}
