//! The retention sweep runs in worker processes only: a worker deletes what its policy no longer
//! keeps and counts the rows in `/metrics`; an API-only process leaves them alone. On SQLite and
//! PostgreSQL.

use std::time::{Duration, Instant};

use serde_json::json;
use tributary_providers::{CatalogConfig, registry};
use tributary_runtime::{Runtime, RuntimeConfig};
use tributary_server::{Role, ServerConfig};
use tributary_store::testing::{TestDb, each_backend};
use tributary_store::{jobs::NewJob, keystore::KeyRing, retention::RetentionPolicy};

/// A server of `role` over `db` whose retention keeps finished jobs 1 ms and sweeps every 50 ms.
/// Returns its base URL, its runtime and the sender that stops it.
async fn start(
    db: &tributary_store::Db,
    role: Role,
) -> (String, Runtime, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = RuntimeConfig::new(base.clone());
    config.retention = RetentionPolicy {
        jobs: Duration::from_millis(1),
        ..RetentionPolicy::default()
    };
    config.retention_interval = Duration::from_millis(50);
    let runtime = Runtime::new(
        registry(&CatalogConfig::default()).unwrap(),
        db.clone(),
        KeyRing::generate(),
        config,
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(tributary_server::serve_role(
        runtime.clone(),
        ServerConfig::default(),
        role,
        None,
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    (base, runtime, stop)
}

/// A cancelled job in a queue no worker takes from: finished, so the sweep's to delete.
async fn cancelled_job(db: &tributary_store::Db) -> String {
    let payload = json!({});
    let job = db
        .jobs()
        .enqueue(&NewJob::new("elsewhere", "test", &payload))
        .await
        .unwrap();
    assert!(db.jobs().cancel(job.id()).await.unwrap());
    job.id().to_owned()
}

#[each_backend]
async fn workers_sweep_and_count_purged_rows_api_processes_do_not(backend: TestDb) {
    tributary_providerkit::install_crypto_provider();

    let db = &backend.db;
    let name = backend.name;

    let (_, _, stop_api) = start(db, Role::Api).await;
    let kept = cancelled_job(db).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        db.jobs().get(&kept).await.unwrap().is_some(),
        "{name}: an API process does not sweep"
    );
    let _ = stop_api.send(());

    let (base, runtime, stop_worker) = start(db, Role::Worker).await;
    let started = Instant::now();
    while db.jobs().get(&kept).await.unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name}: the worker swept"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let gone = cancelled_job(db).await;
    while db.jobs().get(&gone).await.unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name}: the worker sweeps again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The sweep counts after it deleted; wait for the second count to land.
    while runtime.metrics().counter(
        "tributary_retention_purged_rows_total",
        &[("table", "jobs")],
    ) < 2.0
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name}: counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("# HELP tributary_retention_purged_rows_total "),
        "{metrics}"
    );
    assert!(
        metrics.contains("tributary_retention_purged_rows_total{table=\"jobs\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tributary_retention_purged_rows_total{table=\"runs\"} 0"),
        "{metrics}"
    );
    let _ = stop_worker.send(());
}
