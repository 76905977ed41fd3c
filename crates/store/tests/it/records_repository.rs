//! The ingested-records repository on SQLite and PostgreSQL: upserts (created / updated /
//! unchanged), membership references, tombstoning and restore, concurrency, listing.
//!
//! PostgreSQL runs at `postgres://postgres@127.0.0.1/test` unless `TRIBUTARY_TEST_POSTGRES_URL`
//! says otherwise; each test gets its own schema. With `CI=true` an unreachable PostgreSQL fails
//! the test; otherwise that half is skipped with a notice.

use serde_json::json;
use tributary_store::Db;
use tributary_store::records::{
    self, Counters, FailureQuery, FailureWrite, IngestRunStatus, MembershipRefs, RecordQuery,
    RecordScope, RecordWrite, RunRef, TombstoneScope, WriteResult,
};
use tributary_store::testing::{TestDb, each_backend};

fn scope() -> RecordScope {
    RecordScope {
        tenant_id: "t1".into(),
        integration_id: "i1".into(),
    }
}

fn run(id: &str) -> RunRef {
    RunRef {
        ingest_run_id: None,
        run_id: Some(id.into()),
    }
}

fn account(key: &str, hash: &str) -> RecordWrite {
    RecordWrite {
        model: "DirectoryAccount".into(),
        variant: String::new(),
        lookup_key: key.into(),
        fields_json: json!({"externalID": key, "displayName": hash}).to_string(),
        raw_json: json!({"id": key}).to_string(),
        content_hash: hash.into(),
        membership: None,
        payload_index: 0,
    }
}

fn group(key: &str) -> RecordWrite {
    RecordWrite {
        model: "DirectoryGroup".into(),
        ..account(key, "g")
    }
}

fn membership(account: &str, group: &str) -> RecordWrite {
    RecordWrite {
        model: "DirectoryMembership".into(),
        lookup_key: json!([account, group]).to_string(),
        membership: Some(MembershipRefs {
            account_external_id: account.into(),
            group_external_id: group.into(),
        }),
        ..self::account("m", "m")
    }
}

async fn live(db: &Db, model: &str) -> Vec<records::StoredRecord> {
    records::list_records(
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
}

#[each_backend]
async fn upserts_report_created_updated_and_unchanged(backend: TestDb) {
    let TestDb { name, db, .. } = backend;
    let first = records::write_batch(
        &db,
        &scope(),
        &run("r1"),
        &[account("a", "h1"), account("b", "h1")],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        first,
        [WriteResult::Created, WriteResult::Created],
        "{name}"
    );
    let before = live(&db, "DirectoryAccount").await;

    let second = records::write_batch(
        &db,
        &scope(),
        &run("r2"),
        &[account("a", "h1"), account("b", "h2")],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        second,
        [WriteResult::Unchanged, WriteResult::Updated],
        "{name}"
    );

    let after = live(&db, "DirectoryAccount").await;
    assert_eq!(after.len(), 2, "{name}");
    let (a_before, a_after) = (&before[0], &after[0]);
    assert_eq!(a_after.lookup_key, "a");
    assert_eq!(
        a_after.changed_at, a_before.changed_at,
        "{name}: unchanged content is not rewritten"
    );
    assert_eq!(a_after.changed_run_id.as_deref(), Some("r1"), "{name}");
    assert_eq!(
        a_after.last_run_id.as_deref(),
        Some("r2"),
        "{name}: the run that last touched it"
    );
    assert_eq!(a_after.first_seen_at, a_before.first_seen_at, "{name}");
    assert_eq!(a_after.id, a_before.id, "{name}");
    let b_after = &after[1];
    assert_eq!(b_after.changed_run_id.as_deref(), Some("r2"), "{name}");
    assert_eq!(b_after.fields["displayName"], "h2", "{name}");
    assert_eq!(b_after.raw_payload, json!({"id": "b"}), "{name}");
}

#[each_backend]
async fn duplicate_keys_in_one_batch_are_written_in_order(backend: TestDb) {
    let TestDb { name, db, .. } = backend;
    let results = records::write_batch(
        &db,
        &scope(),
        &run("r1"),
        &[account("a", "h1"), account("a", "h2")],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        results,
        [WriteResult::Created, WriteResult::Updated],
        "{name}"
    );
    let rows = live(&db, "DirectoryAccount").await;
    assert_eq!(rows.len(), 1, "{name}");
    assert_eq!(rows[0].content_hash, "h2", "{name}");
}

#[each_backend]
async fn memberships_resolve_by_external_id_within_the_integration(backend: TestDb) {
    let TestDb { name, db, .. } = backend;
    records::write_batch(
        &db,
        &scope(),
        &run("r1"),
        &[account("u1", "h"), group("g1")],
        &[],
    )
    .await
    .unwrap();
    let other_integration = RecordScope {
        integration_id: "i2".into(),
        ..scope()
    };
    records::write_batch(
        &db,
        &other_integration,
        &run("r1"),
        &[account("u2", "h")],
        &[],
    )
    .await
    .unwrap();

    let results = records::write_batch(
        &db,
        &scope(),
        &run("r1"),
        &[
            membership("u1", "g1"),
            membership("u2", "g1"),
            membership("u1", "nope"),
        ],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(results[0], WriteResult::Created, "{name}");
    let WriteResult::Rejected { reason } = &results[1] else {
        panic!("{name}: {results:?}")
    };
    assert!(
        reason.contains("account `u2`"),
        "{name}: another integration's account does not resolve: {reason}"
    );
    assert!(
        matches!(&results[2], WriteResult::Rejected { reason } if reason.contains("group `nope`")),
        "{name}"
    );

    let rows = live(&db, "DirectoryMembership").await;
    assert_eq!(rows.len(), 1, "{name}");
    let account_row = &live(&db, "DirectoryAccount").await[0];
    assert_eq!(
        rows[0].account_record_id.as_ref(),
        Some(&account_row.id),
        "{name}"
    );
    assert!(rows[0].group_record_id.is_some(), "{name}");

    let failures = records::list_failures(
        &db,
        &FailureQuery {
            tenant_id: "t1".into(),
            integration_id: Some("i1".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(failures.len(), 2, "{name}");
    assert_eq!(failures[0].code, "unresolved_reference", "{name}");
    assert_eq!(
        failures[0].failed_key.as_deref(),
        Some("accountExternalID"),
        "{name}"
    );
}

#[each_backend]
async fn only_a_completed_directory_sync_tombstones_and_reappearance_restores(backend: TestDb) {
    let TestDb { name, db, .. } = backend;
    let sync1 = records::begin_ingest_run(&db, &scope(), Some("op1"), &TombstoneScope::directory())
        .await
        .unwrap();
    records::write_batch(
        &db,
        &scope(),
        &run("op1"),
        &[account("a", "h"), account("b", "h"), group("g")],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        records::finish_ingest_run(
            &db,
            &sync1.id,
            IngestRunStatus::Completed,
            &Counters::default(),
            None
        )
        .await
        .unwrap(),
        0,
        "{name}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    // A partial run and a failed run that saw only `a` tombstone nothing.
    for status in [IngestRunStatus::Partial, IngestRunStatus::Failed] {
        let sync =
            records::begin_ingest_run(&db, &scope(), Some("op2"), &TombstoneScope::directory())
                .await
                .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        records::write_batch(&db, &scope(), &run("op2"), &[account("a", "h")], &[])
            .await
            .unwrap();
        let tombstoned =
            records::finish_ingest_run(&db, &sync.id, status, &Counters::default(), Some("boom"))
                .await
                .unwrap();
        assert_eq!(tombstoned, 0, "{name}: {status:?}");
        assert_eq!(live(&db, "DirectoryAccount").await.len(), 2, "{name}");
    }

    // A run with an empty tombstone scope never tombstones either.
    let plain = records::begin_ingest_run(&db, &scope(), None, &[])
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    assert_eq!(
        records::finish_ingest_run(
            &db,
            &plain.id,
            IngestRunStatus::Completed,
            &Counters::default(),
            None
        )
        .await
        .unwrap(),
        0
    );

    // A complete sync that sees only `a` tombstones `b` and the group.
    let sync3 = records::begin_ingest_run(&db, &scope(), Some("op3"), &TombstoneScope::directory())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    records::write_batch(&db, &scope(), &run("op3"), &[account("a", "h")], &[])
        .await
        .unwrap();
    let counters = Counters {
        seen: 1,
        unchanged: 1,
        ..Default::default()
    };
    let tombstoned =
        records::finish_ingest_run(&db, &sync3.id, IngestRunStatus::Completed, &counters, None)
            .await
            .unwrap();
    assert_eq!(tombstoned, 2, "{name}");
    let accounts = live(&db, "DirectoryAccount").await;
    assert_eq!(
        accounts
            .iter()
            .map(|r| r.lookup_key.as_str())
            .collect::<Vec<_>>(),
        ["a"],
        "{name}"
    );
    let all = records::list_records(
        &db,
        &RecordQuery {
            tenant_id: "t1".into(),
            model: Some("DirectoryAccount".into()),
            include_deleted: true,
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let b = all.iter().find(|r| r.lookup_key == "b").unwrap();
    assert!(b.deleted_at.is_some(), "{name}");
    assert!(
        b.deleted_reason.as_deref().unwrap().contains(&sync3.id),
        "{name}"
    );
    let stored = records::get_ingest_run(&db, "t1", &sync3.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, IngestRunStatus::Completed);
    assert_eq!(
        stored.counters,
        Counters {
            tombstoned: 2,
            ..counters
        },
        "{name}"
    );

    // Finishing twice is refused.
    assert!(
        records::finish_ingest_run(&db, &sync3.id, IngestRunStatus::Failed, &counters, None)
            .await
            .is_err()
    );

    // `b` reappears unchanged: restored, counted as updated.
    let results = records::write_batch(&db, &scope(), &run("op4"), &[account("b", "h")], &[])
        .await
        .unwrap();
    assert_eq!(results, [WriteResult::Updated], "{name}");
    let restored = records::get_record(&db, "t1", &b.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(restored.deleted_at, None, "{name}");
    assert_eq!(restored.deleted_reason, None, "{name}");
}

fn finding(key: &str, variant: &str) -> RecordWrite {
    RecordWrite {
        model: "Finding".into(),
        variant: variant.into(),
        ..account(key, "f")
    }
}

fn vulnerability(key: &str) -> RecordWrite {
    RecordWrite {
        model: "Vulnerability".into(),
        ..account(key, "v")
    }
}

async fn live_keys(db: &Db, model: &str) -> Vec<String> {
    let mut keys: Vec<String> = live(db, model)
        .await
        .into_iter()
        .map(|r| r.lookup_key)
        .collect();
    keys.sort();
    keys
}

/// Runs one ingest run of `scope` that sees `writes`, finishing it with `status`; returns the
/// run's id and how many records it tombstoned.
async fn sync(
    db: &Db,
    tombstones: &[TombstoneScope],
    writes: &[RecordWrite],
    status: IngestRunStatus,
) -> (String, u64) {
    let ingest_run = records::begin_ingest_run(db, &scope(), Some("op"), tombstones)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    records::write_batch(db, &scope(), &run("op"), writes, &[])
        .await
        .unwrap();
    let tombstoned =
        records::finish_ingest_run(db, &ingest_run.id, status, &Counters::default(), None)
            .await
            .unwrap();
    (ingest_run.id, tombstoned)
}

#[each_backend]
async fn a_completed_run_tombstones_unseen_records_of_its_models_and_variants_only(
    backend: TestDb,
) {
    let TestDb { name, db, .. } = backend;
    // Two emitters of one definition: findings ("" variant) with vulnerabilities, and
    // assessments (the "assessment" variant of Finding).
    let findings = [
        TombstoneScope::variants("Finding", [""]),
        TombstoneScope::model("Vulnerability"),
    ];
    let assessments = [TombstoneScope::variants("Finding", ["assessment"])];
    let all = [
        finding("f1", ""),
        finding("f2", ""),
        finding("a1", "assessment"),
        finding("a2", "assessment"),
        vulnerability("v1"),
        vulnerability("v2"),
        account("u1", "h"),
    ];
    let (_, tombstoned) = sync(&db, &findings, &all, IngestRunStatus::Completed).await;
    assert_eq!(tombstoned, 0, "{name}");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    // Partial and failed runs that saw only f1 and v1 tombstone nothing.
    for status in [IngestRunStatus::Partial, IngestRunStatus::Failed] {
        let seen = [finding("f1", ""), vulnerability("v1")];
        let (_, tombstoned) = sync(&db, &findings, &seen, status).await;
        assert_eq!(tombstoned, 0, "{name}: {status:?}");
    }
    assert_eq!(
        live_keys(&db, "Finding").await,
        ["a1", "a2", "f1", "f2"],
        "{name}"
    );

    // A complete findings run that saw f1 and v1 tombstones f2 and v2, and leaves the
    // assessments (another variant) and the accounts (another model) alone.
    let seen = [finding("f1", ""), vulnerability("v1")];
    let (findings_run, tombstoned) = sync(&db, &findings, &seen, IngestRunStatus::Completed).await;
    assert_eq!(tombstoned, 2, "{name}");
    assert_eq!(
        live_keys(&db, "Finding").await,
        ["a1", "a2", "f1"],
        "{name}"
    );
    assert_eq!(live_keys(&db, "Vulnerability").await, ["v1"], "{name}");
    assert_eq!(live_keys(&db, "DirectoryAccount").await, ["u1"], "{name}");
    let stored = records::get_ingest_run(&db, "t1", &findings_run)
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.directory_sync, "{name}");
    assert_eq!(stored.tombstone_scope, findings, "{name}");
    assert_eq!(stored.counters.tombstoned, 2, "{name}");
    let gone = records::list_records(
        &db,
        &RecordQuery {
            tenant_id: "t1".into(),
            model: Some("Finding".into()),
            lookup_key: Some("f2".into()),
            include_deleted: true,
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let reason = gone[0].deleted_reason.clone().unwrap();
    assert!(reason.contains(&findings_run), "{name}: {reason}");
    assert!(
        reason.contains("Finding [default], Vulnerability"),
        "{name}: {reason}"
    );

    // A complete assessments run that saw a1 tombstones a2 only.
    let (_, tombstoned) = sync(
        &db,
        &assessments,
        &[finding("a1", "assessment")],
        IngestRunStatus::Completed,
    )
    .await;
    assert_eq!(tombstoned, 1, "{name}");
    assert_eq!(live_keys(&db, "Finding").await, ["a1", "f1"], "{name}");

    // An empty variant list covers nothing.
    let nothing = [TombstoneScope::variants("Finding", Vec::<String>::new())];
    let (_, tombstoned) = sync(&db, &nothing, &[], IngestRunStatus::Completed).await;
    assert_eq!(tombstoned, 0, "{name}");

    // f2 reappears: restored, counted as updated.
    let results = records::write_batch(&db, &scope(), &run("op"), &[finding("f2", "")], &[])
        .await
        .unwrap();
    assert_eq!(results, [WriteResult::Updated], "{name}");
    assert_eq!(
        live_keys(&db, "Finding").await,
        ["a1", "f1", "f2"],
        "{name}"
    );
}

#[each_backend]
async fn concurrent_upserts_of_one_key_make_one_row(backend: TestDb) {
    let TestDb { name, db, .. } = backend;
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let hash = format!("h{}", writer % 2);
            records::write_batch(
                &db,
                &scope(),
                &run("r"),
                &[
                    account("same", &hash),
                    account(&format!("own{writer}"), "h"),
                ],
                &[],
            )
            .await
            .unwrap()
        }));
    }
    let mut created = 0;
    for task in tasks {
        let results = task.await.unwrap();
        created += usize::from(results[0] == WriteResult::Created);
    }
    assert_eq!(created, 1, "{name}: exactly one writer created the row");
    let rows = records::list_records(
        &db,
        &RecordQuery {
            tenant_id: "t1".into(),
            lookup_key: Some("same".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "{name}");
}

#[each_backend]
async fn listing_filters_pages_and_scopes_by_tenant(backend: TestDb) {
    let TestDb { name, db, .. } = backend;
    let writes: Vec<_> = (0..5).map(|i| account(&format!("a{i}"), "h")).collect();
    records::write_batch(&db, &scope(), &run("r"), &writes, &[])
        .await
        .unwrap();
    records::write_batch(&db, &scope(), &run("r"), &[group("g")], &[])
        .await
        .unwrap();
    let other_tenant = RecordScope {
        tenant_id: "t2".into(),
        ..scope()
    };
    records::write_batch(&db, &other_tenant, &run("r"), &[account("x", "h")], &[])
        .await
        .unwrap();

    let mut query = RecordQuery {
        tenant_id: "t1".into(),
        model: Some("DirectoryAccount".into()),
        limit: 2,
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = records::list_records(&db, &query).await.unwrap();
        if page.is_empty() {
            break;
        }
        query.after = Some(page.last().unwrap().id.clone());
        seen.extend(page.into_iter().map(|r| r.lookup_key));
    }
    assert_eq!(seen, ["a0", "a1", "a2", "a3", "a4"], "{name}");

    let foreign = live(&db, "DirectoryAccount").await;
    assert!(foreign.iter().all(|r| r.tenant_id == "t1"), "{name}");
    let x = records::list_records(
        &db,
        &RecordQuery {
            tenant_id: "t2".into(),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(
        records::get_record(&db, "t1", &x[0].id)
            .await
            .unwrap()
            .is_none(),
        "{name}: other tenant's record"
    );

    assert_eq!(
        records::mark_disconnected(&db, "t1", "i1").await.unwrap(),
        6,
        "{name}"
    );
    assert!(
        live(&db, "DirectoryGroup").await[0]
            .disconnected_at
            .is_some(),
        "{name}"
    );
}

#[each_backend]
async fn failures_are_stored_with_the_batch(backend: TestDb) {
    let TestDb { name, db, .. } = backend;
    let failure = FailureWrite {
        schema: "DirectoryAccount".into(),
        variant: String::new(),
        mapping: "DirectoryAccount".into(),
        payload_index: 3,
        code: "bad_enum_value".into(),
        failed_key: Some("status".into()),
        reason: "key `status` ...".into(),
        raw_json: json!({"id": 3}).to_string(),
    };
    let ingest_run = records::begin_ingest_run(&db, &scope(), None, &[])
        .await
        .unwrap();
    let run_ref = RunRef {
        ingest_run_id: Some(ingest_run.id.clone()),
        run_id: None,
    };
    records::write_batch(&db, &scope(), &run_ref, &[account("a", "h")], &[failure])
        .await
        .unwrap();
    let stored = records::list_failures(
        &db,
        &FailureQuery {
            tenant_id: "t1".into(),
            ingest_run_id: Some(ingest_run.id.clone()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(stored.len(), 1, "{name}");
    assert_eq!(stored[0].payload_index, 3);
    assert_eq!(stored[0].raw_payload, json!({"id": 3}), "{name}");
}

/// A new ingest run of a run (or delivery) closes one an earlier attempt left `running` (its
/// worker died): it ends `failed` with the reason, and its late finish is refused.
#[each_backend]
async fn a_later_attempt_closes_the_ingest_run_a_stopped_worker_left_running(backend: TestDb) {
    let TestDb { name, db, .. } = backend;
    let first = records::begin_ingest_run(&db, &scope(), Some("op-crash"), &[])
        .await
        .unwrap();
    let other = records::begin_ingest_run(&db, &scope(), Some("op-other"), &[])
        .await
        .unwrap();
    let second = records::begin_ingest_run(&db, &scope(), Some("op-crash"), &[])
        .await
        .unwrap();
    let runs = records::ingest_runs_of(&db, &scope().tenant_id, "op-crash")
        .await
        .unwrap();
    assert_eq!(runs.len(), 2, "{name}");
    assert_eq!(runs[0].id, first.id, "{name}");
    assert_eq!(runs[0].status, IngestRunStatus::Failed, "{name}");
    assert_eq!(runs[0].error.as_deref(), Some(records::ABANDONED), "{name}");
    assert!(runs[0].finished_at.is_some(), "{name}");
    assert_eq!(runs[1].id, second.id, "{name}");
    assert_eq!(runs[1].status, IngestRunStatus::Running, "{name}");
    // Another run's ingest run is left alone.
    let untouched = records::get_ingest_run(&db, &scope().tenant_id, &other.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(untouched.status, IngestRunStatus::Running, "{name}");
    // The stopped worker, if it was only slow, cannot finish the closed run.
    assert!(
        records::finish_ingest_run(
            &db,
            &first.id,
            IngestRunStatus::Partial,
            &Counters::default(),
            None
        )
        .await
        .is_err(),
        "{name}"
    );
}
