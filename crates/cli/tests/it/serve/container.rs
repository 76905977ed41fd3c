//! The container recipe (`Dockerfile`, `.dockerignore`, `compose.yaml`), checked without a
//! container engine: the image's build command selects a package, binary and features that cargo
//! resolves (as CI's production build test does, without a release build), the runtime stage runs
//! the binary as a non-root user with `/data` and a health check on `/readyz`, and the compose
//! file's services, run as plain processes with exactly the environment it gives them, bring up
//! an API and a worker on PostgreSQL.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use super::{compose_yaml, get};
use crate::support::{
    command::{self, spawn_serving, stop_on_sigterm, succeeded},
    fresh_database::FreshDatabase,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn read(name: &str) -> String {
    std::fs::read_to_string(root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The Dockerfile's instructions, continuation lines joined: (INSTRUCTION, arguments), split in
/// stages at each `FROM`.
fn dockerfile_stages() -> Vec<Vec<(String, String)>> {
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    let mut pending = String::new();
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let text = std::mem::take(&mut pending);
        let (instruction, arguments) = text.split_once(' ').unwrap_or((&text, ""));
        let instruction = instruction.to_ascii_uppercase();
        if instruction == "FROM" {
            stages.push(Vec::new());
        }
        stages
            .last_mut()
            .expect("a Dockerfile starts with FROM")
            .push((instruction, arguments.trim().to_owned()));
    }
    stages
}

fn arguments_of<'a>(stage: &'a [(String, String)], instruction: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|(name, _)| name == instruction)
        .map(|(_, arguments)| arguments.as_str())
        .collect()
}

/// The one value of `flag` in `args` (`-p NAME`).
fn flag_value<'a>(args: &[&'a str], flag: &str) -> &'a str {
    let at = args
        .iter()
        .position(|arg| *arg == flag)
        .unwrap_or_else(|| panic!("the build command has no {flag}"));
    args[at + 1]
}

fn cargo(args: &[&str]) -> String {
    let output = command::cargo()
        .current_dir(root())
        .args(args)
        .output()
        .expect("cargo runs");
    succeeded(output, &format!("cargo {args:?}"))
}

#[test]
fn the_image_builds_the_production_binary_with_the_pinned_toolchain() {
    let stages = dockerfile_stages();
    assert_eq!(stages.len(), 2, "a builder stage and a runtime stage");
    let (builder, runtime) = (&stages[0], &stages[1]);

    // The builder's Rust is the toolchain file's, which the context leaves out.
    let toolchain = read("rust-toolchain.toml");
    let channel = toolchain
        .lines()
        .find_map(|line| line.trim().strip_prefix("channel = "))
        .expect("a channel in rust-toolchain.toml")
        .trim_matches('"');
    // Fully qualified, so that engines without a default registry (podman) find it too.
    let from = arguments_of(builder, "FROM")[0];
    assert!(
        from.starts_with(&format!("docker.io/library/rust:{channel}-")),
        "the builder is `{from}`, the toolchain {channel}"
    );
    assert!(arguments_of(runtime, "FROM")[0].starts_with("docker.io/library/debian:"));
    let dockerignore = read(".dockerignore");
    let ignored: Vec<&str> = dockerignore.lines().map(str::trim).collect();
    for path in ["target/", "rust-toolchain.toml", ".git/"] {
        assert!(ignored.contains(&path), ".dockerignore lacks {path}");
    }

    // The build command: a locked release build of one binary without the default features.
    let run = arguments_of(builder, "RUN")
        .into_iter()
        .find(|run| run.contains("cargo build"))
        .expect("a RUN with cargo build");
    let build: Vec<&str> = run
        .split_whitespace()
        .skip_while(|word| *word != "cargo")
        .skip(1)
        .take_while(|word| *word != "&&")
        .collect();
    for flag in ["--release", "--locked", "--no-default-features"] {
        assert!(build.contains(&flag), "{build:?} lacks {flag}");
    }
    let (package, binary) = (flag_value(&build, "-p"), flag_value(&build, "--bin"));
    // The image carries the binary without its debug line tables (five times its size).
    assert!(
        run.contains("install -D -s ") || run.contains(" strip "),
        "the binary copied into the image is not stripped: {run}"
    );
    assert!(
        run.contains(&format!("target/release/{binary} /out/{binary}")),
        "the binary copied out is not the one built: {run}"
    );

    // The same selection resolves (offline, locked), and links no fake provider: the feature
    // flags are the build's own, so a flag cargo does not know, or a package renamed, fails here.
    let mut tree = vec!["tree", "--edges", "normal", "--prefix", "none", "--offline"];
    let mut words = build.iter().copied();
    while let Some(word) = words.next() {
        match word {
            "build" | "--release" => {}
            "--bin" => {
                words.next();
            }
            "-p" | "--features" => tree.extend([word, words.next().unwrap()]),
            "--locked" | "--no-default-features" | "--all-features" => tree.push(word),
            other => panic!("the build command's `{other}` is not checked here: add it"),
        }
    }
    let dependencies = cargo(&tree);
    assert!(
        dependencies.starts_with(&format!("{package} ")),
        "{dependencies}"
    );
    assert!(
        !dependencies
            .lines()
            .any(|line| line.starts_with("tributary-testkit ")),
        "the image's build links the fake providers"
    );
    assert!(
        dependencies
            .lines()
            .any(|line| line.starts_with("opentelemetry-otlp ")),
        "the image's build cannot export traces (the `otlp` feature)"
    );
    let metadata: Value =
        serde_json::from_str(&cargo(&["metadata", "--no-deps", "--format-version", "1"])).unwrap();
    let has_binary = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == package)
        .flat_map(|p| p["targets"].as_array().unwrap())
        .any(|t| t["name"] == binary && t["kind"].as_array().unwrap().contains(&"bin".into()));
    assert!(has_binary, "{package} has no binary `{binary}`");

    // The runtime stage: that binary, a non-root user, /data, the port it listens on, a health
    // check on /readyz, `serve` by default.
    assert!(
        arguments_of(runtime, "COPY")
            .contains(&format!("--from=builder /out/{binary} /usr/local/bin/{binary}").as_str()),
        "{runtime:?}"
    );
    let user = arguments_of(runtime, "USER");
    assert_eq!(user.len(), 1);
    let uid = user[0].split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().is_ok_and(|uid| uid != 0),
        "USER {uid}: a numeric, non-root user"
    );
    assert!(
        arguments_of(runtime, "VOLUME")
            .concat()
            .contains("\"/data\"")
    );
    let environment = image_environment();
    assert_eq!(environment["TRIBUTARY_DATA_DIR"], "/data");
    let port = environment["TRIBUTARY_LISTEN"]
        .strip_prefix("0.0.0.0:")
        .expect("listening on every interface");
    assert_eq!(arguments_of(runtime, "EXPOSE"), [port]);
    let health = arguments_of(runtime, "HEALTHCHECK").concat();
    assert!(
        health.contains("/readyz") && health.contains("${TRIBUTARY_LISTEN##*:}"),
        "{health}"
    );
    assert_eq!(
        arguments_of(runtime, "ENTRYPOINT"),
        [format!("[\"{binary}\"]")]
    );
    assert_eq!(arguments_of(runtime, "CMD"), ["[\"serve\"]"]);
}

/// The runtime stage's `ENV`.
fn image_environment() -> BTreeMap<String, String> {
    let stages = dockerfile_stages();
    arguments_of(&stages[1], "ENV")
        .iter()
        .flat_map(|arguments| arguments.split_whitespace())
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("ENV NAME=value");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

fn compose() -> Value {
    compose_yaml::parse(&read("compose.yaml"))
}

/// `${NAME}`, `${NAME:-default}` and `${NAME:?message}` of `text`, as compose substitutes them.
fn interpolate(text: &str, variables: &BTreeMap<&str, &str>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find('}').expect("a closing brace");
        let expression = &rest[start + 2..end];
        let (name, default) = match expression.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (expression.split(":?").next().unwrap(), None),
        };
        let value = variables
            .get(name)
            .copied()
            .or(default)
            .unwrap_or_else(|| panic!("compose.yaml requires {name}"));
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The environment compose gives a Tributary service: the image's, then the service's.
fn service_environment(
    compose: &Value,
    service: &str,
    variables: &BTreeMap<&str, &str>,
) -> BTreeMap<String, String> {
    let mut environment = image_environment();
    for (name, value) in compose["services"][service]["environment"]
        .as_object()
        .unwrap_or_else(|| panic!("{service} has no environment"))
    {
        let value = value.as_str().expect("text");
        environment.insert(name.clone(), interpolate(value, variables));
    }
    environment
}

const TRIBUTARY_SERVICES: [&str; 3] = ["init", "api", "worker"];

#[test]
fn compose_runs_postgresql_an_api_and_a_worker_on_one_database_key_ring_and_public_url() {
    let compose = compose();
    let services = compose["services"].as_object().unwrap();
    let mut names: Vec<&str> = services.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["api", "init", "postgres", "worker"]);
    assert!(
        compose["services"]["postgres"]["image"]
            .as_str()
            .unwrap()
            .starts_with("docker.io/library/postgres:")
    );
    assert!(
        compose["services"]["postgres"]["healthcheck"]["test"]
            .to_string()
            .contains("pg_isready")
    );

    let command = |service: &str| compose["services"][service]["command"].clone();
    assert_eq!(command("init"), serde_json::json!(["init"]));
    assert_eq!(
        command("api"),
        serde_json::json!(["serve", "--role", "api"])
    );
    assert_eq!(
        command("worker"),
        serde_json::json!(["serve", "--role", "worker"])
    );
    let condition = |service: &str, on: &str| {
        compose["services"][service]["depends_on"][on]["condition"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(
        condition("init", "postgres").as_deref(),
        Some("service_healthy")
    );
    for service in ["api", "worker"] {
        assert_eq!(
            condition(service, "init").as_deref(),
            Some("service_completed_successfully"),
            "{service} starts after the migrations and the key ring"
        );
        let grace = compose["services"][service]["stop_grace_period"]
            .as_str()
            .and_then(|text| text.strip_suffix('s'))
            .and_then(|seconds| seconds.parse::<u64>().ok());
        assert!(
            grace.is_some_and(|seconds| seconds > 60),
            "{service}: serve drains for up to 60 s"
        );
    }

    let variables = BTreeMap::from([("POSTGRES_PASSWORD", "pw")]);
    let environments: Vec<_> = TRIBUTARY_SERVICES
        .iter()
        .map(|service| service_environment(&compose, service, &variables))
        .collect();
    for shared in [
        "TRIBUTARY_DATABASE_URL",
        "TRIBUTARY_PUBLIC_URL",
        "TRIBUTARY_KEYRING_FILE",
    ] {
        let values: Vec<Option<&String>> = environments.iter().map(|e| e.get(shared)).collect();
        assert!(
            values[0].is_some() && values.iter().all(|v| *v == values[0]),
            "{shared} differs between the services: {values:?}"
        );
    }
    let environment = &environments[0];
    assert_eq!(
        environment["TRIBUTARY_DATABASE_URL"],
        "postgres://tributary:pw@postgres:5432/tributary"
    );
    // The key file is on a volume every Tributary service mounts.
    let key_file = &environment["TRIBUTARY_KEYRING_FILE"];
    for service in TRIBUTARY_SERVICES {
        let mounted = compose["services"][service]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|volume| volume.as_str()?.split_once(':'))
            .any(|(volume, path)| {
                key_file.starts_with(&format!("{path}/"))
                    && compose["volumes"].get(volume).is_some()
            });
        assert!(mounted, "{service} does not mount {key_file} from a volume");
    }
    // The API publishes the port it listens on.
    let api = &environments[1];
    let port = api["TRIBUTARY_LISTEN"].rsplit(':').next().unwrap();
    assert_eq!(
        compose["services"]["api"]["ports"],
        serde_json::json!([format!("{port}:{port}")])
    );
}

/// A service run as a process; killed if the test ends early.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a container of `service` would run, as a process: its command and its environment, with
/// the container's paths under `data`, a free loopback port, and `database` for the database.
fn service_process(compose: &Value, service: &str, data: &Path, database: &str) -> Command {
    let variables = BTreeMap::from([("POSTGRES_PASSWORD", "pw")]);
    let mut command = Command::new(env!("CARGO_BIN_EXE_tributary"));
    for argument in compose["services"][service]["command"].as_array().unwrap() {
        command.arg(argument.as_str().unwrap());
    }
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("TRIBUTARY_")) {
        command.env_remove(name);
    }
    for (name, value) in service_environment(compose, service, &variables) {
        let value = match name.as_str() {
            "TRIBUTARY_DATABASE_URL" => database.to_owned(),
            "TRIBUTARY_LISTEN" => "127.0.0.1:0".to_owned(),
            _ => match value.strip_prefix("/data") {
                Some(rest) => format!("{}{rest}", data.display()),
                None => value,
            },
        };
        command.env(name, value);
    }
    command
}

/// Starts `serve` (with `--json`): the process and its startup line.
fn start_serving(mut command: Command) -> (Process, Value) {
    let (child, started) = spawn_serving(command.arg("--json"), Stdio::null());
    (Process(child), started)
}

/// Starts the compose service `service`, which reports its role and answers `/readyz` with 200:
/// the process and its startup line.
fn start_ready(compose: &Value, service: &str, data: &Path, database: &str) -> (Process, Value) {
    let (process, started) = start_serving(service_process(compose, service, data, database));
    assert_eq!(started["role"], service);
    let url = started["url"].as_str().unwrap();
    assert_eq!(get(&format!("{url}/readyz")).0, 200);
    (process, started)
}

fn stop(mut process: Process) {
    stop_on_sigterm(&mut process.0, Duration::from_secs(30));
}

#[test]
fn the_compose_services_start_with_the_environment_compose_gives_them() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(database) = rt.block_on(FreshDatabase::create("tributary_compose")) else {
        return;
    };
    let compose = compose();
    let data = tempfile::tempdir().unwrap();
    let url = database.url();

    let init = service_process(&compose, "init", data.path(), &url)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "init: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(
        data.path().join("keyring.json").is_file(),
        "init wrote the key file"
    );

    let (api, started) = start_ready(&compose, "api", data.path(), &url);
    assert!(
        started["operatorToken"].is_string(),
        "the API prints the operator token"
    );

    let (worker, started) = start_ready(&compose, "worker", data.path(), &url);
    assert!(
        started["operatorToken"].is_null(),
        "only the first process issues one"
    );

    stop(worker);
    stop(api);
    rt.block_on(database.drop_it());
}
