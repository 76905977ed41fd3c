//! The audit trail on SQLite and PostgreSQL: an event written in a transaction commits or rolls
//! back with it; lists are per tenant or all, filtered, newest first and paged by id; long target
//! ids and reasons are cut; the retention sweep deletes events older than their own setting.

use crate::support;

use serde_json::json;
use tributary_store::audit::{
    Actor, ActorKind, AuditQuery, MAX_REASON_CHARS, MAX_TARGET_ID_CHARS, NewAuditEvent, Outcome,
};
use tributary_store::retention::RetentionPolicy;
use tributary_store::testing::{TestDb, each_backend};
use tributary_store::{StoreError, now_ms};

fn event(tenant: Option<&str>, action: &str, target: &str) -> NewAuditEvent {
    NewAuditEvent {
        tenant_id: tenant.map(str::to_owned),
        actor: Actor {
            kind: ActorKind::TenantToken,
            token_id: Some("token-1".into()),
            token_name: Some("ci".into()),
        },
        request_id: Some("req-1".into()),
        action: action.into(),
        target_type: "integration".into(),
        target_id: Some(target.into()),
        outcome: Outcome::Succeeded,
        metadata: json!({"operation": "DirectorySync"}),
    }
}

fn all() -> AuditQuery {
    AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    }
}

#[each_backend]
async fn events_commit_with_their_transaction_and_list_per_tenant(t: TestDb) {
    let db = &t.db;
    let name = t.name;

    let mut tx = db.begin().await.unwrap();
    tx.audit()
        .record(&event(Some("a"), "integration.create", "rolled-back"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(db.audit().list(&all()).await.unwrap().is_empty(), "{name}");

    let mut tx = db.begin().await.unwrap();
    let first = tx
        .audit()
        .record(&event(Some("a"), "integration.create", "i-1"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(first.actor.token_name.as_deref(), Some("ci"), "{name}");
    assert_eq!(first.metadata["operation"], "DirectorySync", "{name}");
    let mut failed = event(Some("a"), "integration.connect", "i-1");
    failed.outcome = Outcome::Failed("x".repeat(MAX_REASON_CHARS + 50));
    failed.target_id = Some("i".repeat(MAX_TARGET_ID_CHARS + 50));
    let failed = db.audit().record(&failed).await.unwrap();
    assert_eq!(
        failed.outcome.reason().unwrap().len(),
        MAX_REASON_CHARS,
        "{name}"
    );
    assert_eq!(
        failed.target_id.as_deref().unwrap().len(),
        MAX_TARGET_ID_CHARS,
        "{name}"
    );
    db.audit()
        .record(&event(Some("b"), "integration.create", "i-2"))
        .await
        .unwrap();
    db.audit()
        .record(&event(None, "tenant.create", "t-1"))
        .await
        .unwrap();
    let mut not_object = event(Some("a"), "x", "y");
    not_object.metadata = json!([1]);
    assert!(matches!(
        db.audit().record(&not_object).await,
        Err(StoreError::Corrupt(_))
    ));

    let of_a = db
        .audit()
        .list(&AuditQuery {
            tenant_id: Some("a".into()),
            ..all()
        })
        .await
        .unwrap();
    assert_eq!(of_a.len(), 2, "{name}");
    assert_eq!(of_a[0].id, failed.id, "{name}: newest first");
    assert_eq!(of_a[1], first, "{name}");
    let everyone = db.audit().list(&all()).await.unwrap();
    assert_eq!(everyone.len(), 4, "{name}");
    let page = db
        .audit()
        .list(&AuditQuery {
            before: Some(everyone[1].id.clone()),
            limit: 1,
            ..all()
        })
        .await
        .unwrap();
    assert_eq!(page, [everyone[2].clone()], "{name}");

    for (query, expected) in [
        (
            AuditQuery {
                action: Some("integration.create".into()),
                ..all()
            },
            2,
        ),
        (
            AuditQuery {
                target_id: Some("i-1".into()),
                ..all()
            },
            1,
        ),
        (
            AuditQuery {
                target_type: Some("integration".into()),
                tenant_id: Some("b".into()),
                ..all()
            },
            1,
        ),
        (
            AuditQuery {
                since: Some(now_ms() + 60_000),
                ..all()
            },
            0,
        ),
        (
            AuditQuery {
                since: Some(first.occurred_at),
                ..all()
            },
            4,
        ),
    ] {
        let found = db.audit().list(&query).await.unwrap();
        assert_eq!(found.len(), expected, "{name}: {query:?}");
    }
}

#[each_backend]
async fn audit_events_go_after_their_own_retention(t: TestDb) {
    let db = &t.db;
    let name = t.name;
    let old = db
        .audit()
        .record(&event(Some("a"), "integration.create", "old"))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let new = db
        .audit()
        .record(&event(Some("a"), "integration.delete", "new"))
        .await
        .unwrap();
    let year = RetentionPolicy::days(365);
    let now = new.occurred_at + i64::try_from(year.as_millis()).unwrap();

    // Other classes' settings leave the trail alone; kept forever, it is never swept.
    let others = RetentionPolicy {
        audit_events: RetentionPolicy::KEEP_FOREVER,
        ..RetentionPolicy::default()
    };
    let report = support::sweep(db, &others, now).await;
    assert_eq!(report.rows("audit_events"), 0, "{name}");

    let policy = RetentionPolicy {
        audit_events: year,
        ..RetentionPolicy::KEEP_EVERYTHING
    };
    assert_eq!(
        db.retention()
            .count(&policy, now)
            .await
            .unwrap()
            .rows("audit_events"),
        1,
        "{name}"
    );
    let report = support::sweep(db, &policy, now).await;
    assert_eq!(report.rows("audit_events"), 1, "{name}");
    let left = db.audit().list(&all()).await.unwrap();
    assert_eq!(left, [new], "{name}");
    assert_ne!(left[0].id, old.id, "{name}");
    assert_eq!(
        RetentionPolicy::default().audit_events,
        year,
        "a year by default"
    );
}
