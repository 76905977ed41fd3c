//! `#[each_backend]` (from `tributary_store::testing`) as the provider tests use it: one test
//! per backend, each handed a fresh database of its backend, on the runtime flavour asked for.

use std::cell::RefCell;

use tributary_store::testing::{TestDb, each_backend};

thread_local! {
    // The backends a test of this thread was handed: a current-thread test runs on the thread
    // that calls it, so a call below sees only what it caused.
    static HANDED: RefCell<Vec<(&'static str, Option<String>)>> = const { RefCell::new(Vec::new()) };
}

#[each_backend]
async fn is_handed_its_backend(backend: TestDb) {
    backend.db.tenants().create("t").await.unwrap();
    HANDED.with(|handed| {
        handed
            .borrow_mut()
            .push((backend.name, backend.schema.clone()))
    });
}

#[each_backend(flavor = "multi_thread", worker_threads = 2)]
async fn runs_on_the_flavour_asked_for(backend: TestDb) {
    assert_eq!(
        tokio::runtime::Handle::current().runtime_flavor(),
        tokio::runtime::RuntimeFlavor::MultiThread,
        "{}",
        backend.name
    );
}

#[test]
fn each_backend_makes_one_test_per_backend_named_after_it() {
    let handed = |test: fn()| {
        HANDED.with(|handed| handed.borrow_mut().clear());
        test();
        HANDED.with(|handed| handed.take())
    };
    assert_eq!(handed(is_handed_its_backend_sqlite), [("sqlite", None)]);
    // Under CI PostgreSQL is required; elsewhere it may be skipped, handing nothing.
    match handed(is_handed_its_backend_postgres).as_slice() {
        [("postgres", Some(schema))] => {
            assert!(schema.starts_with("is_handed_its_backend_"), "{schema}")
        }
        [] => assert!(!matches!(std::env::var("CI").as_deref(), Ok("true" | "1"))),
        other => panic!("the PostgreSQL test was handed {other:?}"),
    }
}
