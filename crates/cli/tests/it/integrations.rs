//! `tributary integrations` and `tributary runs`, on the database and over a running server's API
//! (`--api`), connecting Cloudflare to the fake Cloudflare on loopback and running its sync to the
//! end, with the exit codes of a refused token (3) and a partial run (5).

use std::{path::Path, process::Command};

use serde_json::Value;
use tributary_testkit::cloudflare::{CloudflareAccount, FakeCloudflare, TokenOwner};

use crate::support::command::{assert_json_error, serve};

const CF_TOKEN: &str = "cf-cli-token-0123456789abcdef0123456789";
const CF_REVOKED_TOKEN: &str = "cf-cli-revoked-0123456789abcdef01234567";

struct Cli<'a> {
    config: &'a Path,
    api: Option<(String, String)>,
}

impl<'a> Cli<'a> {
    /// The CLI on the database of `config`, after `tributary init` succeeded there.
    fn initialised(config: &'a Path) -> Self {
        let cli = Cli { config, api: None };
        assert!(cli.run(&["init"]).0);
        cli
    }

    fn run(&self, args: &[&str]) -> (bool, Value, String) {
        let (code, stdout, stderr) = self.run_for_code(args);
        (code == 0, stdout, stderr)
    }

    /// [`Cli::run`] with the exit code.
    fn run_for_code(&self, args: &[&str]) -> (i32, Value, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tributary"));
        command
            .args(args)
            .arg("--config")
            .arg(self.config)
            .arg("--json")
            .env_remove("TRIBUTARY_DATABASE_URL")
            .env_remove("TRIBUTARY_API_URL")
            .env_remove("TRIBUTARY_API_TOKEN");
        if let Some((url, token)) = &self.api {
            command
                .args(["--api", url])
                .env("TRIBUTARY_API_TOKEN", token);
        }
        let out = command.output().expect("the binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (
            out.status.code().expect("an exit code"),
            serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stderr,
        )
    }
}

/// Creates, connects, syncs, lists and deletes a Cloudflare integration with `cli`; `tenant` is
/// the `--tenant` arguments (none over the API).
fn connect_and_sync(cli: &Cli<'_>, fake: &FakeCloudflare, tenant: &[&str]) {
    let account = format!("{{\"accountId\": \"{}\"}}", fake.account_id());
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(tenant.iter())
            .map(|s| (*s).to_owned())
            .collect()
    };
    let call_for_code = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cli.run_for_code(&refs)
    };
    let call = |args: Vec<String>| {
        let (code, stdout, stderr) = call_for_code(args);
        (code == 0, stdout, stderr)
    };
    let (ok, created, err) = call(with(&[
        "integrations",
        "create",
        "--definition",
        "cloudflare",
        "--name",
        "Cloudflare (cli)",
        "--input",
        &account,
    ]));
    assert!(ok, "{err}");
    let id = created["id"].as_str().unwrap().to_owned();

    let connect_with_token = |token: &str| {
        let credentials = format!("{{\"CloudflareApiToken\": {{\"apiToken\": \"{token}\"}}}}");
        call_for_code(with(&[
            "integrations",
            "connect",
            &id,
            "--connection",
            "CloudflareApiToken",
            "--credentials",
            &credentials,
        ]))
    };

    let (code, _, err) = connect_with_token("cf-wrong-token-never-printed");
    assert_eq!(code, 1, "a token of the wrong format fails: exit 1; {err}");
    assert!(err.contains("setup failed"), "{err}");
    assert!(!err.contains("cf-wrong-token-never-printed"), "{err}");

    // A token the provider refuses as revoked: authentication refused, exit 3.
    fake.revoke_token(CF_REVOKED_TOKEN);
    let (code, _, err) = connect_with_token(CF_REVOKED_TOKEN);
    assert_eq!(code, 3, "a revoked token: exit 3; {err}");
    assert!(!err.contains(CF_REVOKED_TOKEN), "{err}");

    let (code, connected, err) = connect_with_token(CF_TOKEN);
    assert_eq!(code, 0, "{err}");
    assert_eq!(connected["outcome"], "connected", "{connected}");

    let (ok, run, err) = call(with(&[
        "integrations",
        "run",
        &id,
        "--operation",
        "DirectorySync",
    ]));
    assert!(ok, "{err} {run}");
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["seen"], 4, "{run}");
    let run_id = run["id"].as_str().unwrap().to_owned();

    let (ok, listed, err) = call(with(&["integrations", "list"]));
    assert!(ok, "{err}");
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "Cloudflare (cli)");

    let (ok, runs, err) = call(with(&["runs", "list", "--integration", &id]));
    assert!(ok, "{err}");
    assert_eq!(runs["runs"][0]["id"], run_id.as_str(), "{runs}");
    let (ok, shown, err) = call(with(&["runs", "show", &run_id]));
    assert!(ok, "{err}");
    assert_eq!(shown["run"]["id"], run_id.as_str());

    // Throttled past the HTTP layer's patience, the next sync ends partial: exit 5.
    fake.throttle_members_page(1, 300);
    let (code, run, err) = call_for_code(with(&[
        "integrations",
        "run",
        &id,
        "--operation",
        "DirectorySync",
    ]));
    assert_eq!(code, 5, "{err} {run}");
    assert_eq!(run["status"], "partial", "{run}");

    let (ok, _, err) = call(with(&["integrations", "delete", &id]));
    assert!(ok, "{err}");
    let (_, listed, _) = call(with(&["integrations", "list"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");
}

/// The fake Cloudflare (served by the runtime returned with it) and a configuration file in
/// `dir` that points the CLI at it.
fn fake_and_config(dir: &Path) -> (tokio::runtime::Runtime, FakeCloudflare, std::path::PathBuf) {
    let (rt, fake) = start_fake();
    let config = write_config(dir, &fake);
    (rt, fake, config)
}

fn start_fake() -> (tokio::runtime::Runtime, FakeCloudflare) {
    let rt = crate::support::multi_thread_runtime(2);
    let fake = rt
        .block_on(FakeCloudflare::start(CloudflareAccount::sample(4)))
        .unwrap();
    fake.add_token(CF_TOKEN, TokenOwner::User);
    (rt, fake)
}

fn write_config(dir: &Path, fake: &FakeCloudflare) -> std::path::PathBuf {
    let config = dir.join("tributary.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n\n[definitions.cloudflare]\napiUrl = \"{}\"\nallowLoopbackApiUrl = true\n",
            dir.join("data").display(),
            fake.api_url()
        ),
    )
    .unwrap();
    config
}

#[test]
fn integrations_are_connected_and_synced_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, fake, config) = fake_and_config(dir.path());
    let cli = Cli::initialised(&config);
    let (ok, _, err) = cli.run(&["tenants", "create", "acme"]);
    assert!(ok, "{err}");
    let (ok, _, err) = cli.run(&["integrations", "list"]);
    assert!(!ok);
    assert!(err.contains("--tenant is required"), "{err}");
    connect_and_sync(&cli, &fake, &["--tenant", "acme"]);
}

#[test]
fn integrations_are_connected_and_synced_over_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, fake, config) = fake_and_config(dir.path());
    let db = Cli::initialised(&config);
    assert!(db.run(&["tenants", "create", "acme"]).0);
    let (ok, issued, err) = db.run(&["tenants", "token", "acme"]);
    assert!(ok, "{err}");
    let token = issued["token"].as_str().expect("a token").to_owned();

    let (mut server, url) = serve(&["--config".as_ref(), config.as_os_str()]);

    let api = Cli {
        config: &config,
        api: Some((url.clone(), token)),
    };
    connect_and_sync(&api, &fake, &[]);
    let refused = Cli {
        config: &config,
        api: Some((url, "not-a-token".into())),
    }
    .run_for_code(&["integrations", "list"]);
    assert_eq!(refused.0, 3, "a refused token: exit 3; {}", refused.2);
    assert_json_error(&refused.2, "refused", "unknown, revoked or expired");

    let _ = server.kill();
    let _ = server.wait();
}
