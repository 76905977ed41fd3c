//! `tributary demo`: the whole product on the embedded default, with nothing to set up and no
//! network beyond loopback. It starts the testkit's fake providers and the server on a fresh
//! SQLite database, then acts as a user would, only through the public HTTP API: creates a tenant
//! and its token, connects each definition (typing credentials, or following an OAuth redirect
//! like a browser), runs the syncs, delivers signed webhooks, and reports what was ingested.

use std::{
    collections::BTreeMap,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tributary_server::{Role, ServerConfig};
use tributary_testkit::demo::DemoConnection;

use super::remote::ApiClient as Client;
use super::storage::StorageArgs;

#[derive(Args)]
pub struct DemoArgs {
    /// Keep the demo's data directory (printed) instead of deleting it.
    #[arg(long)]
    pub keep: bool,
    /// After the summary, keep the server and the fake providers running until Ctrl-C, and
    /// print the web UI's address and a tenant token to sign in with.
    #[arg(long)]
    pub stay: bool,
}

/// The fakes, kept running for the whole demo, and how the demo connects each.
struct Fakes {
    running: tributary_testkit::demo::DemoFakes,
    connections: Vec<DemoConnection>,
}

async fn start_fakes() -> anyhow::Result<Fakes> {
    let running = tributary_testkit::demo::start_all().await?;
    let connections = running.connections();
    Ok(Fakes {
        running,
        connections,
    })
}

#[derive(Default)]
struct Summary {
    integrations: Vec<Value>,
    records: BTreeMap<String, u64>,
    succeeded: u64,
    failed: u64,
    accepted: u64,
    processed: u64,
}

pub async fn run(args: DemoArgs, json: bool) -> anyhow::Result<ExitCode> {
    tributary_providerkit::install_crypto_provider();
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("tributary-demo-")
        .tempdir()?;
    let fakes = start_fakes().await?;

    // The server, configured like an operator would: each definition pointed at its fake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let storage = StorageArgs::in_dir(dir.path().to_path_buf());
    let definitions: BTreeMap<String, Value> = fakes
        .connections
        .iter()
        .map(|c| (c.definition.to_owned(), c.operator_config.clone()))
        .collect();
    let runtime = open_runtime_with(&storage, &base, definitions).await?;
    // GitHub sends the browser back to the app's setup URL after an install.
    fakes
        .running
        .github
        .set_setup_url(&format!("{base}{}", runtime.config().callback_path));
    let operator = super::serve::bootstrap_operator_token(runtime.db())
        .await?
        .context("a fresh database has no operator token")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tributary_server::serve_role(
        runtime,
        ServerConfig::default(),
        Role::All,
        None,
        listener,
        async {
            let _ = stopped.await;
        },
    ));

    let progress = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    progress.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
    progress.enable_steady_tick(Duration::from_millis(100));

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let operator = Client::new(http.clone(), &base, operator);
    progress.set_message("creating a tenant and its API token");
    let tenant = operator
        .post("/v1/tenants", json!({"name": "demo"}))
        .await?;
    let tenant_id = tenant["id"].as_str().unwrap_or_default().to_owned();
    // The tenant's AWS role trusts Tributary's external id for this tenant, as a tenant sets
    // up its role's trust policy before connecting.
    fakes
        .running
        .aws
        .trust_external_id(&format!("tributary-{tenant_id}"));
    let issued = operator
        .post(
            &format!("/v1/tenants/{tenant_id}/tokens"),
            json!({"name": "demo"}),
        )
        .await?;
    let client = Client::new(
        http,
        &base,
        issued["token"].as_str().unwrap_or_default().to_owned(),
    );

    let mut summary = Summary::default();
    let mut runs: Vec<(String, String, String)> = Vec::new();
    let mut webhook_endpoints: Vec<(String, Vec<Value>)> = Vec::new();
    for connection in &fakes.connections {
        progress.set_message(format!("connecting {}", connection.definition));
        let (integration, endpoints) = connect(&client, connection).await?;
        let id = integration["id"].as_str().unwrap_or_default().to_owned();
        if !endpoints.is_empty() {
            progress.set_message(format!("delivering {} webhooks", connection.definition));
            summary.accepted += deliver_webhooks(connection.definition, &endpoints, &fakes).await?;
            webhook_endpoints.push((id.clone(), endpoints));
        }
        let catalog = client
            .get(&format!("/v1/definitions/{}", connection.definition))
            .await?;
        for operation in catalog["operations"].as_array().into_iter().flatten() {
            if operation["policy"]["reconcile"] != true {
                continue;
            }
            let name = operation["name"].as_str().unwrap_or_default();
            let run = client
                .post(
                    &format!("/v1/integrations/{id}/operations/{name}/runs"),
                    json!({"mode": "queued"}),
                )
                .await?;
            runs.push((
                connection.definition.to_owned(),
                name.to_owned(),
                run["run"]["id"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        summary.integrations.push(json!({
            "definition": connection.definition,
            "integrationId": id,
            "connection": connection.connection,
        }));
    }

    progress.set_message("provisioning over SCIM");
    let scim = push_scim(&client).await?;
    summary.integrations.push(scim);

    progress.set_message("syncing");
    let mut durations = Vec::new();
    for (definition, operation, run_id) in &runs {
        let run = wait_for_run(&client, run_id).await?;
        match run["status"].as_str() {
            Some("succeeded") => summary.succeeded += 1,
            _ => summary.failed += 1,
        }
        durations.push(json!({
            "definition": definition,
            "operation": operation,
            "status": run["status"],
            "durationMs": run["durationMs"],
            "counters": run["counters"],
        }));
    }

    progress.set_message("waiting for webhook deliveries");
    for (integration, endpoints) in &webhook_endpoints {
        summary.processed += processed_deliveries(&client, integration, endpoints).await?;
    }
    // Runs the webhooks queued (a directory change asks for a sync) finish too.
    for (integration, _) in &webhook_endpoints {
        let queued = client
            .get(&format!("/v1/runs?integrationId={integration}&limit=500"))
            .await?;
        for run in queued["items"].as_array().into_iter().flatten() {
            if run["runType"] != "webhook" {
                continue;
            }
            let id = run["id"].as_str().unwrap_or_default();
            let finished = wait_for_run(&client, id).await?;
            match finished["status"].as_str() {
                Some("succeeded") => summary.succeeded += 1,
                _ => summary.failed += 1,
            }
            durations.push(json!({
                "definition": "webhook",
                "operation": finished["operation"],
                "status": finished["status"],
                "durationMs": finished["durationMs"],
                "counters": finished["counters"],
            }));
        }
    }

    progress.set_message("reading what was ingested");
    for entry in &mut summary.integrations {
        let id = entry["integrationId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let integration = client.get(&format!("/v1/integrations/{id}")).await?;
        entry["status"] = integration["status"].clone();
    }
    for model in tributary_model::schema_names() {
        let count = count_records(&client, model).await?;
        if count > 0 {
            summary.records.insert(model.to_owned(), count);
        }
    }
    progress.finish_and_clear();
    let elapsed = started.elapsed();
    if args.keep {
        let kept = dir.keep();
        eprintln!("the demo's data directory is kept at {}", kept.display());
    }
    let object = json!({
        "integrations": summary.integrations.iter().map(|i| json!({
            "definition": i["definition"],
            "status": i["status"],
        })).collect::<Vec<_>>(),
        "records": summary.records,
        "runs": {"succeeded": summary.succeeded, "failed": summary.failed, "details": durations},
        "webhooks": {"accepted": summary.accepted, "processed": summary.processed},
        "elapsedMs": elapsed.as_millis() as u64,
    });
    if json {
        println!("{object}");
    } else {
        print_summary(&object);
    }
    if args.stay {
        // The token is the demo tenant's, on a loopback server that lives until Ctrl-C.
        eprintln!(
            "\nthe web UI is at {base}/ ; sign in with the demo tenant's API token:\n  {}\n(Ctrl-C stops the server and the fake providers)",
            client.token()
        );
        tokio::signal::ctrl_c().await?;
    }
    let _ = stop.send(());
    let _ = server.await;
    drop(fakes);
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// SCIM is pushed, not pulled: the demo creates a SCIM integration and its endpoint through the
/// API, then plays an identity provider (Okta's provisioning requests) against it.
async fn push_scim(client: &Client) -> anyhow::Result<Value> {
    let integration = client
        .post(
            "/v1/integrations",
            json!({"definitionId": "scim", "name": "SCIM (Okta provisioning)"}),
        )
        .await?;
    let id = integration["id"].as_str().unwrap_or_default().to_owned();
    let endpoint = client
        .call(
            Method::POST,
            &format!("/v1/integrations/{id}/scim-endpoint"),
            None,
        )
        .await?;
    let provider = tributary_testkit::scim::FakeIdentityProvider::new(
        endpoint["baseUrl"].as_str().unwrap_or_default(),
        endpoint["secret"].as_str().unwrap_or_default(),
    );
    provider
        .push_okta(&[
            ("ada@example.com", "Ada", "Lovelace"),
            ("grace@example.com", "Grace", "Hopper"),
            ("alan@example.com", "Alan", "Turing"),
            ("edsger@example.com", "Edsger", "Dijkstra"),
        ])
        .await
        .map_err(|err| anyhow::anyhow!("the SCIM push failed: {err}"))?;
    Ok(json!({"definition": "scim", "integrationId": id, "connection": "scim"}))
}

async fn open_runtime_with(
    storage: &StorageArgs,
    base: &str,
    definitions: BTreeMap<String, Value>,
) -> anyhow::Result<tributary_runtime::Runtime> {
    super::storage::open_runtime_with_catalog(storage, base.to_owned(), definitions).await
}

/// Creates the integration and connects it: typed credentials through `/connect`, a redirect
/// mode by following the authorization URL like a browser until the callback page. Returns the
/// integration and the webhook endpoints created (with their secrets, shown this once).
async fn connect(
    client: &Client,
    connection: &DemoConnection,
) -> anyhow::Result<(Value, Vec<Value>)> {
    let integration = client
        .post(
            "/v1/integrations",
            json!({
                "definitionId": connection.definition,
                "userInput": connection.user_input,
            }),
        )
        .await?;
    let id = integration["id"].as_str().unwrap_or_default().to_owned();
    if !connection.credentials.is_empty() {
        let connected = client
            .post(
                &format!("/v1/integrations/{id}/connect"),
                json!({
                    "connection": connection.connection,
                    "credentials": connection.credentials,
                }),
            )
            .await?;
        let endpoints = connected["webhookEndpoints"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        return Ok((integration, endpoints));
    }
    let started = client
        .post(
            &format!("/v1/integrations/{id}/auth"),
            json!({"connection": connection.connection}),
        )
        .await?;
    let url = started["authorizeUrl"]
        .as_str()
        .context("the auth flow gave no authorization URL")?;
    // The browser: follows the provider's consent redirect back to our callback page.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(10))
        .build()?;
    let page = browser.get(url).send().await?;
    if page.status() != StatusCode::OK {
        let status = page.status();
        let text = page.text().await.unwrap_or_default();
        bail!(
            "connecting {} through its authorization redirect failed ({status}): {}",
            connection.definition,
            text.chars().take(300).collect::<String>()
        );
    }
    // Endpoints of a redirect connection are created by the callback; their secrets are
    // rotated here to be known (a real user copies them from the connect page).
    let mut endpoints = Vec::new();
    let listed = client
        .get(&format!("/v1/integrations/{id}/webhook-endpoints"))
        .await?;
    for endpoint in listed.as_array().into_iter().flatten() {
        let endpoint_id = endpoint["id"].as_str().unwrap_or_default();
        endpoints.push(
            client
                .call(
                    Method::POST,
                    &format!("/v1/integrations/{id}/webhook-endpoints/{endpoint_id}/rotate-secret"),
                    None,
                )
                .await?,
        );
    }
    Ok((integration, endpoints))
}

/// Sends the provider's webhook requests to each endpoint as the provider would, and counts the
/// deliveries the server accepted.
async fn deliver_webhooks(
    definition: &str,
    endpoints: &[Value],
    fakes: &Fakes,
) -> anyhow::Result<u64> {
    let http = reqwest::Client::new();
    let mut accepted = 0;
    for endpoint in endpoints {
        let url = endpoint["url"].as_str().unwrap_or_default();
        let secret = endpoint["secret"].as_str().unwrap_or_default();
        let deliveries = match (definition, endpoint["name"].as_str()) {
            ("okta", _) => tributary_testkit::okta_events::demo_deliveries(secret),
            ("slack", Some("events")) => slack_events(&fakes.running.slack),
            _ => Vec::new(),
        };
        for delivery in deliveries {
            let method = Method::from_bytes(delivery.method.as_bytes())?;
            let mut request = http.request(method, url);
            for (name, value) in &delivery.headers {
                request = request.header(name, value);
            }
            if let Some(body) = &delivery.body {
                request = request.json(body);
            }
            let response = request.send().await?;
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                bail!("the {definition} webhook endpoint refused a delivery ({status}): {answer}");
            }
            if answer.get("delivery").is_some() {
                accepted += 1;
            }
        }
    }
    Ok(accepted)
}

/// A member of the fake workspace is retitled and another one joins; Slack tells the app's
/// Request URL (signed with the app's signing secret, not the endpoint's).
fn slack_events(
    slack: &tributary_testkit::slack::FakeSlack,
) -> Vec<tributary_testkit::okta_events::DemoDelivery> {
    let joined = tributary_testkit::slack::member(1000);
    let changed = slack.with_workspace(|workspace| {
        workspace.users.insert(
            joined["id"].as_str().unwrap_or_default().to_owned(),
            joined.clone(),
        );
        let member = workspace.users.get_mut("U04MEMB3R1")?;
        member["profile"]["title"] = json!("Head of Analytical Engines");
        Some(member.clone())
    });
    match changed {
        Some(changed) => tributary_testkit::slack_events::demo_deliveries(
            tributary_testkit::slack_events::SIGNING_SECRET,
            &slack.team_id(),
            &changed,
            &joined,
        ),
        None => Vec::new(),
    }
}

/// Waits until every delivery of the endpoints is handled; returns how many were.
async fn processed_deliveries(
    client: &Client,
    integration: &str,
    endpoints: &[Value],
) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut done = 0;
        let mut waiting = 0;
        for endpoint in endpoints {
            let endpoint_id = endpoint["id"].as_str().unwrap_or_default();
            let deliveries = client
                .list_all(&format!(
                    "/v1/integrations/{integration}/webhook-endpoints/{endpoint_id}/deliveries"
                ))
                .await?;
            for delivery in &deliveries {
                match delivery["status"].as_str() {
                    Some("done") => done += 1,
                    Some("received") => waiting += 1,
                    _ => {}
                }
            }
        }
        if waiting == 0 || Instant::now() > deadline {
            return Ok(done);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for_run(client: &Client, run_id: &str) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(50);
    loop {
        let detail = client.get(&format!("/v1/runs/{run_id}")).await?;
        let status = detail["run"]["status"].as_str().unwrap_or_default();
        if !matches!(status, "pending" | "running") {
            return Ok(detail["run"].clone());
        }
        if Instant::now() > deadline {
            bail!(
                "run {run_id} ({}) did not finish in time: {}",
                detail["run"]["operation"].as_str().unwrap_or_default(),
                detail["run"]["counters"]
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn count_records(client: &Client, model: &str) -> anyhow::Result<u64> {
    let records = client.list_all(&format!("/v1/records/{model}")).await?;
    Ok(records.len() as u64)
}

fn print_summary(summary: &Value) {
    println!("Integrations");
    for integration in summary["integrations"].as_array().into_iter().flatten() {
        println!(
            "  {:<24} {}",
            integration["definition"].as_str().unwrap_or_default(),
            integration["status"].as_str().unwrap_or_default()
        );
    }
    println!("Runs");
    for run in summary["runs"]["details"].as_array().into_iter().flatten() {
        println!(
            "  {:<24} {:<16} {:<10} {} ms",
            run["definition"].as_str().unwrap_or_default(),
            run["operation"].as_str().unwrap_or_default(),
            run["status"].as_str().unwrap_or_default(),
            run["durationMs"]
        );
    }
    println!("Records");
    for (model, count) in summary["records"].as_object().into_iter().flatten() {
        println!("  {model:<24} {count}");
    }
    println!(
        "Webhooks: {} accepted, {} processed",
        summary["webhooks"]["accepted"], summary["webhooks"]["processed"]
    );
    println!(
        "Done in {:.1} s",
        summary["elapsedMs"].as_u64().unwrap_or_default() as f64 / 1000.0
    );
}
