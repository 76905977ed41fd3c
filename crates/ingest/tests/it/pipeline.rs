//! The whole pipeline against a real database, on SQLite and PostgreSQL: counters, failures kept
//! without stopping the batch, unchanged records, directory-sync tombstoning and restore.
//!
//! PostgreSQL: `postgres://postgres@127.0.0.1/test` or `TRIBUTARY_TEST_POSTGRES_URL`, one schema
//! per test; with `CI=true` it must be reachable.

use std::sync::Arc;

use serde_json::{Value, json};
use tributary_cel::CelEngine;
use tributary_core::{IngestContract, IngestPayloadSet, MappingEnvelope, MappingRegistration};
use tributary_ingest::{
    Completeness, Counters, IngestContext, IngestOptions, IngestRun, IngestRunStatus, Mapper,
    ingest_payload_sets,
};
use tributary_store::Db;
use tributary_store::records::{self, FailureQuery, RecordQuery, TombstoneScope};
use tributary_store::testing::{TestDb, each_backend};

fn mapper() -> Arc<Mapper> {
    let mappings = [
        MappingRegistration::new("DirectoryAccount")
            .filter("payload.type != 'app'")
            .map(r#"{"externalID": payload.id, "canonicalEmail": payload.email, "status": payload.status}"#),
        MappingRegistration::new("DirectoryGroup").map(r#"{"externalID": payload.id, "displayName": payload.name}"#),
        MappingRegistration::new("DirectoryMembership")
            .map(r#"{"accountExternalID": payload.user, "groupExternalID": payload.group}"#),
    ];
    let contracts =
        ["DirectoryAccount", "DirectoryGroup", "DirectoryMembership"].map(IngestContract::new);
    Arc::new(Mapper::new(&CelEngine::default(), "acme", &mappings, &contracts).unwrap())
}

fn context(run: &str) -> IngestContext {
    IngestContext {
        tenant_id: "t1".into(),
        integration_id: "i1".into(),
        run_id: Some(run.into()),
    }
}

fn user(id: &str, status: &str) -> MappingEnvelope {
    MappingEnvelope::new(
        json!({"id": id, "email": format!("{id}@example.com"), "status": status, "type": "user"}),
    )
}

fn accounts(envelopes: Vec<MappingEnvelope>) -> IngestPayloadSet {
    IngestPayloadSet::new("DirectoryAccount", envelopes)
}

async fn live_keys(db: &Db, model: &str) -> Vec<String> {
    let mut keys: Vec<String> = records::list_records(
        db,
        &RecordQuery {
            tenant_id: "t1".into(),
            model: Some(model.into()),
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.lookup_key)
    .collect();
    keys.sort();
    keys
}

/// The first ten record failures of the ingest run.
async fn failures_of(db: &Db, ingest_run_id: &str) -> Vec<records::StoredFailure> {
    let query = FailureQuery {
        tenant_id: "t1".into(),
        ingest_run_id: Some(ingest_run_id.to_owned()),
        limit: 10,
        ..Default::default()
    };
    records::list_failures(db, &query).await.unwrap()
}

/// One emitter of a definition (its mapper) writing to `db`.
struct Emitter<'a> {
    db: &'a Db,
    mapper: Arc<Mapper>,
}

/// The emitter of the `scanner` definition that declares the Finding `variant`.
fn scanner_emitter<'a>(db: &'a Db, mappings: &[MappingRegistration], variant: &str) -> Emitter<'a> {
    let contract = IngestContract::with_variants("Finding", [variant]);
    let mapper = Mapper::new(&CelEngine::default(), "scanner", mappings, &[contract]).unwrap();
    Emitter {
        db,
        mapper: Arc::new(mapper),
    }
}

impl Emitter<'_> {
    /// Ingests `sets` as the run `run`; the ingest must not fail.
    async fn ingest(
        &self,
        run: &str,
        sets: Vec<IngestPayloadSet>,
        completeness: Completeness,
        options: IngestOptions,
    ) -> tributary_ingest::IngestReport {
        let mapper = Arc::clone(&self.mapper);
        ingest_payload_sets(self.db, mapper, &context(run), sets, completeness, options)
            .await
            .unwrap()
    }

    /// A complete run of `sets` with the default options.
    async fn complete(
        &self,
        run: &str,
        sets: Vec<IngestPayloadSet>,
    ) -> tributary_ingest::IngestReport {
        let options = IngestOptions::default();
        self.ingest(run, sets, Completeness::Complete, options)
            .await
    }

    /// A partial run of `sets` with the default options.
    async fn partial(
        &self,
        run: &str,
        sets: Vec<IngestPayloadSet>,
    ) -> tributary_ingest::IngestReport {
        let options = IngestOptions::default();
        self.ingest(run, sets, Completeness::Partial, options).await
    }
}

async fn sync(
    db: &Db,
    run: &str,
    sets: &[IngestPayloadSet],
    completeness: Completeness,
) -> tributary_ingest::IngestReport {
    // Let the clock move so that "seen since the run started" is unambiguous at millisecond scale.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    ingest_payload_sets(
        db,
        mapper(),
        &context(run),
        sets.to_vec(),
        completeness,
        IngestOptions {
            batch_size: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

#[each_backend]
async fn a_bad_payload_is_counted_kept_and_does_not_stop_the_batch(backend: TestDb) {
    let (name, db) = (backend.name, backend.db.clone());
    let sets = [accounts(vec![
        user("a", "ACTIVE"),
        user("b", "enabled"),
        MappingEnvelope::new(json!({"id": "app1", "type": "app"})),
        user("c", "SUSPENDED"),
        MappingEnvelope::new(json!({"id": "v1"})).variant("vendor"),
    ])];
    let report = sync(&db, "r1", &sets, Completeness::Complete).await;
    assert_eq!(
        report.counters,
        Counters {
            seen: 5,
            created: 2,
            filtered: 1,
            failed: 2,
            ..Default::default()
        },
        "{name}"
    );
    assert_eq!(
        report.status,
        IngestRunStatus::Partial,
        "{name}: failures make the run partial"
    );
    assert_eq!(
        live_keys(&db, "DirectoryAccount").await,
        ["a", "c"],
        "{name}"
    );

    let failures = failures_of(&db, &report.ingest_run_id).await;
    let codes: Vec<_> = failures
        .iter()
        .map(|f| (f.code.as_str(), f.payload_index))
        .collect();
    assert_eq!(
        codes,
        [("bad_enum_value", 1), ("mapping_not_found", 4)],
        "{name}"
    );
    assert_eq!(failures[0].failed_key.as_deref(), Some("status"));
    assert!(
        failures[0]
            .reason
            .contains("definition `acme`, mapping DirectoryAccount, payload #1"),
        "{}",
        failures[0].reason
    );
    assert_eq!(
        failures[0].raw_payload["id"], "b",
        "{name}: the payload is kept for inspection"
    );

    let stored = records::get_ingest_run(&db, "t1", &report.ingest_run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.counters, report.counters, "{name}");
    assert!(stored.directory_sync, "{name}");
}

#[each_backend]
async fn unchanged_records_are_counted_and_not_rewritten(backend: TestDb) {
    let (name, db) = (backend.name, backend.db.clone());
    let set = || [accounts(vec![user("a", "ACTIVE"), user("b", "ACTIVE")])];
    let first = sync(&db, "r1", &set(), Completeness::Complete).await;
    assert_eq!(first.counters.created, 2, "{name}");
    let before = records::list_records(
        &db,
        &RecordQuery {
            tenant_id: "t1".into(),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let second = sync(&db, "r2", &set(), Completeness::Complete).await;
    assert_eq!(
        second.counters,
        Counters {
            seen: 2,
            unchanged: 2,
            ..Default::default()
        },
        "{name}"
    );
    let after = records::list_records(
        &db,
        &RecordQuery {
            tenant_id: "t1".into(),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old.changed_at, new.changed_at, "{name}");
        assert_eq!(new.changed_run_id.as_deref(), Some("r1"), "{name}");
        assert_eq!(new.last_run_id.as_deref(), Some("r2"), "{name}");
    }

    let third = sync(
        &db,
        "r3",
        &[accounts(vec![user("a", "SUSPENDED"), user("b", "ACTIVE")])],
        Completeness::Complete,
    )
    .await;
    assert_eq!(
        third.counters,
        Counters {
            seen: 2,
            updated: 1,
            unchanged: 1,
            ..Default::default()
        },
        "{name}"
    );
}

#[each_backend]
async fn only_a_complete_successful_sync_tombstones_and_a_returning_record_is_restored(
    backend: TestDb,
) {
    let (name, db) = (backend.name, backend.db.clone());
    let everyone = || {
        [
            accounts(vec![user("a", "ACTIVE"), user("b", "ACTIVE")]),
            IngestPayloadSet::new(
                "DirectoryGroup",
                vec![MappingEnvelope::new(json!({"id": "g", "name": "G"}))],
            ),
            IngestPayloadSet::new(
                "DirectoryMembership",
                vec![
                    MappingEnvelope::new(json!({"user": "a", "group": "g"})),
                    MappingEnvelope::new(json!({"user": "b", "group": "g"})),
                ],
            ),
        ]
    };
    let first = sync(&db, "r1", &everyone(), Completeness::Complete).await;
    assert_eq!(first.counters.created, 5, "{name}");
    assert_eq!(first.status, IngestRunStatus::Completed, "{name}");

    let only_a = || {
        [
            accounts(vec![user("a", "ACTIVE")]),
            IngestPayloadSet::new(
                "DirectoryGroup",
                vec![MappingEnvelope::new(json!({"id": "g", "name": "G"}))],
            ),
            IngestPayloadSet::new(
                "DirectoryMembership",
                vec![MappingEnvelope::new(json!({"user": "a", "group": "g"}))],
            ),
        ]
    };
    // A partial listing tombstones nothing.
    let partial = sync(&db, "r2", &only_a(), Completeness::Partial).await;
    assert_eq!(
        (partial.status, partial.counters.tombstoned),
        (IngestRunStatus::Partial, 0),
        "{name}"
    );
    // Nor does a complete listing in which one payload failed.
    let mut with_failure = only_a();
    with_failure[0].envelopes.push(user("z", "nope"));
    let failed = sync(&db, "r3", &with_failure, Completeness::Complete).await;
    assert_eq!(
        (failed.status, failed.counters.tombstoned),
        (IngestRunStatus::Partial, 0),
        "{name}"
    );
    assert_eq!(
        live_keys(&db, "DirectoryAccount").await,
        ["a", "b"],
        "{name}"
    );

    // A complete, clean listing without `b` tombstones b and its membership.
    let complete = sync(&db, "r4", &only_a(), Completeness::Complete).await;
    assert_eq!(
        (complete.status, complete.counters.tombstoned),
        (IngestRunStatus::Completed, 2),
        "{name}"
    );
    assert_eq!(live_keys(&db, "DirectoryAccount").await, ["a"], "{name}");
    assert_eq!(
        live_keys(&db, "DirectoryMembership").await,
        [r#"["a","g"]"#],
        "{name}"
    );

    // b comes back: restored (counted as updated), with its membership.
    let back = sync(&db, "r5", &everyone(), Completeness::Complete).await;
    assert_eq!(
        back.counters,
        Counters {
            seen: 5,
            updated: 2,
            unchanged: 3,
            ..Default::default()
        },
        "{name}"
    );
    assert_eq!(
        live_keys(&db, "DirectoryAccount").await,
        ["a", "b"],
        "{name}"
    );
    assert_eq!(
        live_keys(&db, "DirectoryMembership").await.len(),
        2,
        "{name}"
    );
}

#[each_backend]
async fn a_failed_run_tombstones_nothing_and_records_its_reason(backend: TestDb) {
    let (name, db) = (backend.name, backend.db.clone());
    sync(
        &db,
        "r1",
        &[accounts(vec![user("a", "ACTIVE"), user("b", "ACTIVE")])],
        Completeness::Complete,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let mut run = IngestRun::begin(&db, mapper(), &context("r2"), IngestOptions::default())
        .await
        .unwrap();
    run.ingest(vec![accounts(vec![user("a", "ACTIVE")])])
        .await
        .unwrap();
    let report = run.fail("provider returned 500 on page 2").await.unwrap();
    assert_eq!(
        (report.status, report.counters.tombstoned),
        (IngestRunStatus::Failed, 0),
        "{name}"
    );
    assert_eq!(
        live_keys(&db, "DirectoryAccount").await,
        ["a", "b"],
        "{name}"
    );
    let stored = records::get_ingest_run(&db, "t1", &report.ingest_run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.error.as_deref(),
        Some("provider returned 500 on page 2"),
        "{name}"
    );
}

#[each_backend]
async fn a_complete_run_tombstones_unseen_records_of_its_declared_models_and_variants(
    backend: TestDb,
) {
    let (name, db) = (backend.name, backend.db.clone());
    let mappings = [
        MappingRegistration::new("Finding")
            .map(r#"{"externalID": payload.id, "severity": payload.sev}"#),
        MappingRegistration::new("Finding")
            .variant("assessment")
            .map(r#"{"externalID": payload.id, "severity": payload.sev}"#),
    ];
    // Two emitters of one definition share the Finding model, one variant each.
    let findings_emitter = scanner_emitter(&db, &mappings, "");
    let assessments_emitter = scanner_emitter(&db, &mappings, "assessment");
    let findings = |variant: &str, ids: &[&str]| {
        vec![IngestPayloadSet::new(
            "Finding",
            ids.iter()
                .map(|id| MappingEnvelope::new(json!({"id": id, "sev": "HIGH"})).variant(variant))
                .collect(),
        )]
    };
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(3));
    let first = findings_emitter
        .complete("r1", findings("", &["f1", "f2", "f3"]))
        .await;
    assert!(!first.directory_sync, "{name}");
    assert_eq!(
        first.tombstone_scope,
        [TombstoneScope::variants("Finding", [""])],
        "{name}"
    );
    let assessed = assessments_emitter
        .complete("r2", findings("assessment", &["a1", "a2"]))
        .await;
    assert_eq!(assessed.counters.created, 2, "{name}");

    // The findings emitter does not write the assessment variant.
    let stray = findings_emitter
        .partial("r3", findings("assessment", &["a9"]))
        .await;
    assert_eq!(stray.counters.failed, 1, "{name}");
    let failures = failures_of(&db, &stray.ingest_run_id).await;
    assert_eq!(failures[0].code, "variant_not_declared", "{name}");
    pause().await;

    // Partial, and complete without reconciling (a resumed run): nothing is tombstoned.
    for (completeness, reconcile) in [
        (Completeness::Partial, true),
        (Completeness::Complete, false),
    ] {
        let options = IngestOptions {
            reconcile,
            ..Default::default()
        };
        let run = findings_emitter
            .ingest("r4", findings("", &["f1"]), completeness, options)
            .await;
        assert_eq!(run.counters.tombstoned, 0, "{name}");
    }
    assert_eq!(
        live_keys(&db, "Finding").await,
        ["a1", "a2", "f1", "f2", "f3"],
        "{name}"
    );

    // A complete findings run that sees f1 tombstones f2 and f3, not the assessments.
    let complete = findings_emitter.complete("r5", findings("", &["f1"])).await;
    assert_eq!(complete.status, IngestRunStatus::Completed, "{name}");
    assert_eq!(complete.counters.tombstoned, 2, "{name}");
    assert_eq!(
        live_keys(&db, "Finding").await,
        ["a1", "a2", "f1"],
        "{name}"
    );
    pause().await;

    // A complete assessments run that sees a2 tombstones a1 only; f2 reappears.
    let complete = assessments_emitter
        .complete("r6", findings("assessment", &["a2"]))
        .await;
    assert_eq!(complete.counters.tombstoned, 1, "{name}");
    let back = findings_emitter.partial("r7", findings("", &["f2"])).await;
    assert_eq!(
        back.counters.updated, 1,
        "{name}: restored counts as updated"
    );
    assert_eq!(
        live_keys(&db, "Finding").await,
        ["a2", "f1", "f2"],
        "{name}"
    );
    let record = &records::list_records(
        &db,
        &RecordQuery {
            tenant_id: "t1".into(),
            model: Some("Finding".into()),
            lookup_key: Some("f1".into()),
            limit: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap()[0];
    assert_eq!(
        record.fields,
        json!({"externalID": "f1", "severity": "HIGH"}) as Value,
        "{name}"
    );
}

/// A filter that takes about a million steps of comprehension work for each payload, just under
/// the engine's work budget: slow, yet within every limit the engine checks.
fn slow_filter() -> String {
    let list = format!(
        "[{}]",
        (0..99).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
    );
    format!("{list}.all(a, {list}.all(b, {list}.all(c, c >= 0)))")
}

#[each_backend]
async fn a_batch_past_its_evaluation_time_limit_fails_the_run_and_names_the_limit(backend: TestDb) {
    let (name, db) = (backend.name, backend.db.clone());
    let mappings = [MappingRegistration::new("DirectoryAccount")
        .filter(slow_filter())
        .map(r#"{"externalID": payload.id}"#)];
    let contracts = [IngestContract::new("DirectoryAccount")];
    let mapper = Mapper::new(&CelEngine::default(), "acme", &mappings, &contracts).unwrap();
    let options = IngestOptions {
        evaluation_timeout: std::time::Duration::from_millis(200),
        ..IngestOptions::default()
    };
    let mut run = IngestRun::begin(&db, Arc::new(mapper), &context("r1"), options)
        .await
        .unwrap();
    let id = run.id().to_owned();
    let many = (0..50).map(|i| user(&format!("u{i}"), "ACTIVE")).collect();
    let started = std::time::Instant::now();
    run.ingest(vec![accounts(many)]).await.unwrap();
    let error = run.finish(Completeness::Complete).await.unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{name}: the limit did not end the batch ({:?})",
        started.elapsed()
    );
    let expected = "evaluating a batch of 50 payloads took longer than the CEL evaluation \
                        time limit of 200 ms";
    assert!(error.to_string().starts_with(expected), "{name}: {error}");
    let stored = records::get_ingest_run(&db, "t1", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, IngestRunStatus::Failed, "{name}");
    assert!(
        stored
            .error
            .as_deref()
            .unwrap_or_default()
            .starts_with(expected),
        "{name}: {:?}",
        stored.error
    );
    assert!(
        live_keys(&db, "DirectoryAccount").await.is_empty(),
        "{name}"
    );
}

/// Batches are mapped while the one before is written: many small batches still commit in push
/// order (each membership finds the account and group of the batches just before it), `flush`
/// returns only once everything pushed is stored, and the counters count every batch.
#[each_backend]
async fn overlapped_batches_commit_in_order_and_flush_waits_for_them(backend: TestDb) {
    let (name, db) = (backend.name, backend.db.clone());
    let options = IngestOptions {
        batch_size: 1,
        ..Default::default()
    };
    let mut run = IngestRun::begin(&db, mapper(), &context("r1"), options)
        .await
        .unwrap();
    for i in 0..20 {
        let (user_id, group_id) = (format!("u{i:02}"), format!("g{i:02}"));
        run.push("DirectoryAccount", user(&user_id, "ACTIVE"), i)
            .await
            .unwrap();
        let group = json!({"id": group_id, "name": group_id});
        run.push("DirectoryGroup", MappingEnvelope::new(group), i)
            .await
            .unwrap();
        let member = json!({"user": user_id, "group": group_id});
        run.push("DirectoryMembership", MappingEnvelope::new(member), i)
            .await
            .unwrap();
    }
    run.flush().await.unwrap();
    assert_eq!(
        live_keys(&db, "DirectoryMembership").await.len(),
        20,
        "{name}: flush returned before every batch was written"
    );
    let report = run.finish(Completeness::Complete).await.unwrap();
    assert_eq!(
        (
            report.counters.seen,
            report.counters.created,
            report.counters.failed
        ),
        (60, 60, 0),
        "{name}: {:?}",
        report.counters
    );
    assert_eq!(report.status, IngestRunStatus::Completed, "{name}");
}

fn group(id: &str) -> MappingEnvelope {
    MappingEnvelope::new(json!({"id": id, "name": format!("Group {id}")}))
}

fn membership(user: &str, group: &str) -> MappingEnvelope {
    MappingEnvelope::new(json!({"user": user, "group": group}))
}

/// Counters written `seen=4 created=2 ...`; a counter not named is zero.
fn counters(written: &str) -> Counters {
    let mut counters = Counters::default();
    for pair in written.split_whitespace() {
        let (field, value) = pair.split_once('=').unwrap();
        let value = value.parse().unwrap();
        match field {
            "seen" => counters.seen = value,
            "created" => counters.created = value,
            "updated" => counters.updated = value,
            "unchanged" => counters.unchanged = value,
            "filtered" => counters.filtered = value,
            "failed" => counters.failed = value,
            "tombstoned" => counters.tombstoned = value,
            other => panic!("no counter {other}"),
        }
    }
    counters
}

/// Asserts the counters of each model (see [`counters`]; zero for a model the run has none
/// for), and that the models' counters add up to the run's.
fn assert_counts_by_model(
    report: &tributary_ingest::IngestReport,
    name: &str,
    expected: &[(&str, &str)],
) {
    for &(model, written) in expected {
        let counted = report.by_model.get(model).copied().unwrap_or_default();
        assert_eq!(counted, counters(written), "{name}: {model}");
    }
    assert_eq!(report.by_model.total(), report.counters, "{name}");
}

#[each_backend]
async fn counts_per_model_add_up_to_the_run_counters(backend: TestDb) {
    let (name, db) = (backend.name, backend.db.clone());
    let first = sync(
        &db,
        "r1",
        &[
            accounts(vec![
                user("a", "ACTIVE"),
                user("b", "enabled"),
                MappingEnvelope::new(json!({"id": "app1", "type": "app"})),
                user("c", "ACTIVE"),
            ]),
            IngestPayloadSet::new("DirectoryGroup", vec![group("g1"), group("g2")]),
            IngestPayloadSet::new(
                "DirectoryMembership",
                vec![membership("a", "g1"), membership("a", "missing")],
            ),
            // Not an internal model: counted, under the one bounded name for such schemas.
            IngestPayloadSet::new("Widget", vec![MappingEnvelope::new(json!({"id": "w"}))]),
        ],
        Completeness::Complete,
    )
    .await;
    // A membership naming an unknown group fails when it is written.
    assert_counts_by_model(
        &first,
        name,
        &[
            ("DirectoryAccount", "seen=4 created=2 failed=1 filtered=1"),
            ("DirectoryGroup", "seen=2 created=2"),
            ("DirectoryMembership", "seen=2 created=1 failed=1"),
            (tributary_ingest::OTHER_MODEL, "seen=1 failed=1"),
        ],
    );
    assert_eq!(first.counters.seen, 9, "{name}");

    let second = sync(
        &db,
        "r2",
        &[
            accounts(vec![user("a", "SUSPENDED")]),
            IngestPayloadSet::new("DirectoryGroup", vec![group("g1")]),
            IngestPayloadSet::new("DirectoryMembership", vec![membership("a", "g1")]),
        ],
        Completeness::Complete,
    )
    .await;
    assert_eq!(second.status, IngestRunStatus::Completed, "{name}");
    assert_counts_by_model(
        &second,
        name,
        &[
            ("DirectoryAccount", "seen=1 updated=1 tombstoned=1"),
            ("DirectoryGroup", "seen=1 unchanged=1 tombstoned=1"),
            ("DirectoryMembership", "seen=1 unchanged=1"),
        ],
    );
    assert_eq!(second.counters.tombstoned, 2, "{name}");
}
