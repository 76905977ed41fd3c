//! Serving an axum router on an ephemeral loopback port.

use std::net::SocketAddr;

use crate::response_log;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A running fake server; dropping it shuts the server down.
pub struct FakeServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Serves a provider's fake: like [`FakeServer::start`], and each response is logged for the
    /// conformance check against the provider's official description when
    /// [`RESPONSE_LOG_ENV`](crate::response_log::RESPONSE_LOG_ENV) is set.
    pub async fn start_provider(
        service: &'static str,
        router: axum::Router,
    ) -> std::io::Result<Self> {
        let router = if response_log::log_dir().is_some() {
            router.layer(axum::middleware::from_fn(move |request, next| {
                response_log::log_response(service, request, next)
            }))
        } else {
            router
        };
        Self::start(router).await
    }

    /// Serves `router` on 127.0.0.1 with a port chosen by the OS.
    pub async fn start(router: axum::Router) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = signal.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
