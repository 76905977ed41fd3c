//! No secret in logs, errors, run records or metrics: the whole lifecycle runs under a capturing
//! tracing subscriber at TRACE level, and everything it and the store say is searched for the
//! credentials involved.

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::support::{Harness, connect_with_token, spawn_worker, wait_for_run};
use serde_json::{Value, json};
use tributary_runtime::{RunRequest, RuntimeError};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const GOOD: &str = "acme-secret-GOOD-5f2b9c";
const BAD: &str = "acme-secret-BAD-77e1aa";

/// Set in the child process that runs [`secrets_never_reach_logs_errors_runs_or_metrics`] alone.
const ALONE: &str = "TRIBUTARY_TEST_SECRETS_ALONE";

#[tokio::test]
async fn secrets_never_reach_logs_errors_runs_or_metrics() {
    // Tracing caches, per process, which callsites any subscriber wants. Another test's thread
    // reaching a callsite while this test installs its capturing subscriber can leave that
    // callsite muted for it, so the capture runs in a process of its own.
    if std::env::var_os(ALONE).is_some() {
        capture_and_search().await;
        return;
    }
    let name = format!(
        "{}::secrets_never_reach_logs_errors_runs_or_metrics",
        module_path!()
            .split_once("::")
            .map_or(module_path!(), |(_, rest)| rest)
    );
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &name, "--test-threads=1"])
        .env(ALONE, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the test run alone failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn capture_and_search() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let h = Harness::new(tributary_store::testing::sqlite().await, None).await;
    let mut said = Vec::new();

    // A rejected credential.
    let mut request = tributary_runtime::ConnectRequest {
        tenant_id: h.tenant_id.clone(),
        definition_id: "acme".into(),
        user_input: Some(h.user_input()),
        connection: "AcmeToken".into(),
        credentials: [("AcmeToken".to_owned(), json!({"token": BAD}))].into(),
        ..Default::default()
    };
    let err = h.runtime.connect(request.clone()).await.unwrap_err();
    said.push(format!("{err} {err:?}"));
    request.credentials = [("AcmeToken".to_owned(), json!({"token": 12}))].into();
    said.push(h.runtime.connect(request).await.unwrap_err().to_string());

    // A working one, synced, with a run that fails on a revoked token.
    let id = connect_with_token(&h, GOOD).await;
    let run = h
        .runtime
        .queue_run(RunRequest {
            tenant_id: h.tenant_id.clone(),
            integration_id: id.clone(),
            operation: "DirectorySync".into(),
            config: Value::Null,
            workflow: None,
        })
        .await
        .unwrap();
    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));
    wait_for_run(&h, &run.id).await;
    h.api.reject_token(GOOD);
    let err = h
        .runtime
        .run_inline(RunRequest {
            tenant_id: h.tenant_id.clone(),
            integration_id: id.clone(),
            operation: "HealthCheck".into(),
            config: Value::Null,
            workflow: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::NeedsReauth(_)), "{err}");
    said.push(format!("{err} {err:?}"));
    let _ = stop.send(());
    worker.await.unwrap();

    for run in h.runtime.list_runs(&h.tenant_id, &id, 10).await.unwrap() {
        let details = h.runtime.run_details(&h.tenant_id, &run.id).await.unwrap();
        said.push(serde_json::to_string(&details).unwrap());
    }
    said.push(format!(
        "{:?}",
        h.runtime.integration(&h.tenant_id, &id).await.unwrap()
    ));
    said.push(
        serde_json::to_string(&h.runtime.disconnect(&h.tenant_id, &id).await.unwrap()).unwrap(),
    );
    said.push(h.runtime.metrics().render());
    drop(_guard);
    said.push(String::from_utf8(captured.0.lock().unwrap().clone()).unwrap());

    let everything = said.join("\n");
    assert!(everything.contains("tributary.run"), "spans were captured");
    assert!(everything.contains("validation_operation"));
    for secret in [GOOD, BAD] {
        assert!(
            !everything.contains(secret),
            "a secret leaked:\n{everything}"
        );
    }
}
