//! Helpers shared by several areas.

pub mod command;
pub mod fresh_database;
pub mod http;
pub mod seed;

/// A multi-threaded Tokio runtime of `workers` threads, for fakes that serve while a test blocks.
pub fn multi_thread_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}
