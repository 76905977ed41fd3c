//! What the provider HTTP client reports about its calls (answers by status, calls without an
//! answer, throttles, time spent waiting for a rate-limit budget), to whoever is listening.
//!
//! The listener is a task-local set by the caller around the provider code it runs
//! ([`observed`]), not a field of [`ProviderHttp`](crate::ProviderHttp): clients are built and
//! pooled by provider code that knows nothing of the runtime, and several runtimes (each with its
//! own metrics) may share one process. A request sent outside any [`observed`] scope reports
//! nothing.

use std::{future::Future, sync::Arc, time::Duration};

/// Receives the provider client's reports. `definition` is the profile name (the definition
/// id): a bounded set, fit for a metric label.
pub trait HttpObserver: Send + Sync {
    /// One exchange got an answer with `status` after `elapsed` (every attempt counts, retries
    /// included).
    fn answered(&self, definition: &'static str, status: u16, elapsed: Duration);
    /// One attempt ended without an answer (connect error, timeout).
    fn failed(&self, definition: &'static str, elapsed: Duration);
    /// The provider asked us to slow down (429, a throttling 403, a throttling 503).
    fn throttled(&self, definition: &'static str);
    /// A request waited `waited` for its scope's rate-limit budget (pacing or a throttle pause).
    fn waited(&self, definition: &'static str, waited: Duration);
}

tokio::task_local! {
    static OBSERVER: Arc<dyn HttpObserver>;
}

/// Runs `work` with `observer` receiving the reports of every provider request it sends (on this
/// task: work spawned onto other tasks is not observed).
pub async fn observed<F: Future>(observer: Arc<dyn HttpObserver>, work: F) -> F::Output {
    OBSERVER.scope(observer, work).await
}

/// Calls `report` with the current observer, if any.
pub(crate) fn report(report: impl FnOnce(&dyn HttpObserver)) {
    let _ = OBSERVER.try_with(|observer| report(observer.as_ref()));
}
