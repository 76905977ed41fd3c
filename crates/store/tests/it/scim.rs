//! SCIM endpoints (secret, rotation grace) and resources (uniqueness, versions, deletion) on
//! SQLite and PostgreSQL.

use crate::support;

use serde_json::json;
use tributary_store::StoreError;
use tributary_store::testing::{TestDb, each_backend};

#[each_backend]
async fn endpoints_secrets_and_rotation_grace(t: TestDb) {
    let db = &t.db;
    let (tenant, integration) = support::tenant_with_integration(db, "acme").await;
    let (intruder, _) = support::tenant_with_integration(db, "intruder").await;
    assert!(matches!(
        db.scim().create_endpoint(&intruder, &integration).await,
        Err(StoreError::NotFound(_))
    ));
    let (endpoint, first) = db
        .scim()
        .create_endpoint(&tenant, &integration)
        .await
        .unwrap();
    assert!(first.expose_str().unwrap().starts_with("scimsec_"));
    assert!(matches!(
        db.scim().create_endpoint(&tenant, &integration).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        db.scim()
            .endpoint(&tenant, &integration)
            .await
            .unwrap()
            .unwrap(),
        endpoint
    );
    let auth = |token: Vec<u8>| {
        let db = db.clone();
        let id = endpoint.id.clone();
        async move { db.scim().authenticate(&id, &token).await.unwrap().is_some() }
    };
    assert!(auth(first.expose().to_vec()).await, "{}", t.name);
    assert!(!auth(b"scimsec_wrong".to_vec()).await);

    // The previous secret works during the grace period only.
    let (_, second) = db
        .scim()
        .rotate_secret(&tenant, &integration, 60_000)
        .await
        .unwrap();
    assert!(auth(first.expose().to_vec()).await);
    assert!(auth(second.expose().to_vec()).await);
    let (rotated, third) = db
        .scim()
        .rotate_secret(&tenant, &integration, 0)
        .await
        .unwrap();
    assert!(rotated.rotated_at.is_some());
    assert!(!auth(first.expose().to_vec()).await);
    assert!(!auth(second.expose().to_vec()).await);
    assert!(auth(third.expose().to_vec()).await);
    assert!(matches!(
        db.scim().rotate_secret(&intruder, &integration, 0).await,
        Err(StoreError::NotFound(_))
    ));
}

#[each_backend]
async fn resources_unique_versioned_and_deleted(t: TestDb) {
    let db = &t.db;
    let (tenant, integration) = support::tenant_with_integration(db, "acme").await;
    let (endpoint, _) = db
        .scim()
        .create_endpoint(&tenant, &integration)
        .await
        .unwrap();
    let e = endpoint.id.as_str();
    let alice = db
        .scim()
        .insert(e, "User", "alice", &json!({"userName": "Alice"}))
        .await
        .unwrap();
    assert_eq!(alice.version, 1);
    assert!(matches!(
        db.scim()
            .insert(e, "User", "alice", &json!({"userName": "ALICE"}))
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    // The same name is fine for a group.
    db.scim()
        .insert(e, "Group", "alice", &json!({"displayName": "alice"}))
        .await
        .unwrap();
    let bob = db
        .scim()
        .insert(e, "User", "bob", &json!({"userName": "bob"}))
        .await
        .unwrap();

    let updated = db
        .scim()
        .update(
            &alice,
            "alice",
            &json!({"userName": "Alice", "active": false}),
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    // A writer holding the old version loses.
    assert!(matches!(
        db.scim()
            .update(&alice, "alice", &json!({"userName": "x"}))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        db.scim()
            .update(&bob, "alice", &json!({"userName": "alice"}))
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(db.scim().list(e, "User").await.unwrap().len(), 2);
    let found = db
        .scim()
        .find_by_key(e, "User", "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, alice.id);
    assert!(
        db.scim()
            .find_by_key(e, "Group", "bob")
            .await
            .unwrap()
            .is_none()
    );

    assert!(db.scim().delete(e, "User", &alice.id).await.unwrap());
    assert!(!db.scim().delete(e, "User", &alice.id).await.unwrap());
    assert!(
        db.scim()
            .get(e, "User", &alice.id, false)
            .await
            .unwrap()
            .is_none()
    );
    let gone = db
        .scim()
        .get(e, "User", &alice.id, true)
        .await
        .unwrap()
        .unwrap();
    assert!(gone.deleted_at.is_some());
    assert_eq!(db.scim().list(e, "User").await.unwrap().len(), 1);
    assert!(
        db.scim()
            .find_by_key(e, "User", "alice")
            .await
            .unwrap()
            .is_none()
    );
    // The name is free again.
    db.scim()
        .insert(e, "User", "alice", &json!({"userName": "alice"}))
        .await
        .unwrap();

    // Inside a transaction.
    let mut tx = db.begin().await.unwrap();
    tx.scim()
        .insert(e, "User", "carol", &json!({"userName": "carol"}))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(db.scim().list(e, "User").await.unwrap().len(), 2);
}
