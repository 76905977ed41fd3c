//! `webhooks-load`: the load generator of the `webhooks` suite, run as its own process so that
//! the server under test and the clients do not share a runtime or a CPU scheduler queue. It
//! posts `--total` deliveries to `--url` with `--senders` concurrent keep-alive clients bound to
//! `--source` (a loopback address, so the server sees distinct senders), signed per Standard
//! Webhooks with the secret in `TRIBUTARY_BENCH_SECRET` (or with a forged signature when
//! `--forged`), and prints one JSON object: what was sent, how it was answered, when.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use serde_json::{Value, json};
use tributary_core::Secret;
use tributary_webhooks::sign_standard;

/// The environment variable carrying the endpoint secret (kept off the command line).
pub const SECRET_ENV: &str = "TRIBUTARY_BENCH_SECRET";

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub total: usize,
    #[arg(long)]
    pub senders: usize,
    /// The local address the clients connect from.
    #[arg(long, default_value = "127.0.0.1")]
    pub source: IpAddr,
    /// Delivery ids are `<prefix><n>`.
    #[arg(long, default_value = "msg_")]
    pub id_prefix: String,
    /// Sign with a made-up signature (an unsigned flood), not the secret.
    #[arg(long)]
    pub forged: bool,
    /// Send no signature headers at all (a bare handler baseline).
    #[arg(long)]
    pub plain: bool,
    /// Pad each body to about this many bytes with a list of small objects, as a provider's
    /// event carries (GitHub's run to tens of kilobytes); 0 sends the bare event.
    #[arg(long, default_value_t = 0)]
    pub body_bytes: usize,
}

/// Objects of the shape a provider's event lists (repositories, members), enough of them to
/// make a body of about `bytes`.
fn padding(bytes: usize) -> Value {
    let mut items = Vec::new();
    let mut size = 0;
    while size < bytes {
        let item = json!({
            "id": items.len(),
            "node_id": format!("R_kgDO{:08}", items.len()),
            "name": format!("repository-{}", items.len()),
            "html_url": format!("https://github.example/acme/repository-{}", items.len()),
            "private": items.len() % 2 == 0,
            "stargazers_count": items.len() * 7,
        });
        size += item.to_string().len() + 1;
        items.push(item);
    }
    Value::Array(items)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    tributary_providerkit::install_crypto_provider();
    let secret = match (args.forged || args.plain, std::env::var(SECRET_ENV)) {
        (true, _) => None,
        (false, Ok(secret)) => Some(Secret::new(secret)),
        (false, Err(_)) => anyhow::bail!("{SECRET_ENV} is not set"),
    };
    let report = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(load(args, secret))?;
    println!("{report}");
    Ok(())
}

async fn load(args: Args, secret: Option<Secret>) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder()
        .local_address(args.source)
        .pool_max_idle_per_host(args.senders)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.senders.max(1) {
        let (client, url, next, secret, prefix) = (
            client.clone(),
            args.url.clone(),
            Arc::clone(&next),
            secret.clone(),
            args.id_prefix.clone(),
        );
        let (total, forged, plain) = (args.total, args.forged, args.plain);
        let padding = padding(args.body_bytes);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut statuses = BTreeMap::<u16, usize>::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return Ok::<_, anyhow::Error>((latencies, statuses));
                }
                let body = serde_json::to_vec(
                    &json!({"n": n, "user": {"id": n, "email": "someone@example.com"}, "items": &padding}),
                )?;
                let id = format!("{prefix}{n}");
                let mut request = client.post(&url).body(body.clone());
                if !plain {
                    let now = tributary_providerkit::unix_now();
                    let signature = match &secret {
                        Some(secret) => sign_standard(secret, &id, now, &body)
                            .map_err(|e| anyhow::anyhow!("{e}"))?,
                        None if forged => "v1,Zm9yZ2VkIHNpZ25hdHVyZQ==".to_owned(),
                        None => String::new(),
                    };
                    request = request
                        .header("webhook-id", &id)
                        .header("webhook-timestamp", now.to_string())
                        .header("webhook-signature", signature);
                }
                let sent = Instant::now();
                let response = request.send().await?;
                let status = response.status().as_u16();
                let _ = response.bytes().await?;
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                *statuses.entry(status).or_default() += 1;
            }
        }));
    }
    let mut latencies = Vec::with_capacity(args.total);
    let mut statuses = BTreeMap::<u16, usize>::new();
    for task in tasks {
        let (task_latencies, task_statuses) = task.await??;
        latencies.extend(task_latencies);
        for (status, count) in task_statuses {
            *statuses.entry(status).or_default() += count;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Ok(json!({
        "sent": args.total,
        "ok": statuses.iter().filter(|(s, _)| (200..300).contains(*s)).map(|(_, c)| c).sum::<usize>(),
        "statuses": statuses.iter().map(|(s, c)| (s.to_string(), json!(c))).collect::<serde_json::Map<_, _>>(),
        "elapsed_s": elapsed,
        "p50_ms": crate::backends::percentile(&latencies, 0.5),
        "p99_ms": crate::backends::percentile(&latencies, 0.99),
    }))
}

/// Runs this binary's `webhooks-load` in a process of its own and returns its report.
pub async fn spawn(args: &[String], secret: Option<&str>) -> anyhow::Result<Value> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command.arg("webhooks-load").args(args);
    match secret {
        Some(secret) => command.env(SECRET_ENV, secret),
        None => command.env_remove(SECRET_ENV),
    };
    let output = command.output().await?;
    anyhow::ensure!(
        output.status.success(),
        "the load generator failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}
