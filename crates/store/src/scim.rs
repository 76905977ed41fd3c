//! SCIM 2.0 push endpoints and the resources identity providers provision into them (the
//! protocol is the `tributary-scim` crate). An endpoint's bearer secret is stored as its SHA-256;
//! rotating keeps the previous secret valid for a grace period. Resources are SCIM JSON with a
//! version (the ETag), unique per endpoint by lower-cased `userName` / `displayName`.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use crate::db::{Db, Scope, Tx, new_id, now_ms, on_backend};
use crate::error::{Result, StoreError, inserted};
use crate::secret::{SecretBytes, random_token, token_hash};

/// How long the previous secret keeps working after a rotation: 24 hours, time to update the
/// identity provider's configuration.
pub const ROTATION_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// A SCIM endpoint (without its secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScimEndpoint {
    /// Public id, part of the base URL `/scim/v2/<id>`.
    pub id: String,
    pub tenant_id: String,
    pub integration_id: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the last rotation.
    pub rotated_at: Option<i64>,
    /// Until when (Unix ms) the secret replaced by the last rotation is still accepted.
    pub previous_valid_until: Option<i64>,
}

/// A stored SCIM resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScimResource {
    pub id: String,
    pub endpoint_id: String,
    /// `User` or `Group`.
    pub resource_type: String,
    /// The resource's attributes (without `id` and `meta`).
    pub body: Value,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set once deleted (then only the directory records' sync reads it).
    pub deleted_at: Option<i64>,
}

const ENDPOINT_COLUMNS: &str =
    "id, tenant_id, integration_id, created_at, rotated_at, previous_valid_until";
const RESOURCE_COLUMNS: &str =
    "id, endpoint_id, resource_type, body, version, created_at, updated_at, deleted_at";

fn endpoint_of<R: Row>(row: &R) -> Result<ScimEndpoint>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'d> String: sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
    for<'d> i64: sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
    for<'d> Option<i64>: sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ScimEndpoint {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        integration_id: row.try_get("integration_id")?,
        created_at: row.try_get("created_at")?,
        rotated_at: row.try_get("rotated_at")?,
        previous_valid_until: row.try_get("previous_valid_until")?,
    })
}

fn resource_of<R: Row>(row: &R) -> Result<ScimResource>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'d> String: sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
    for<'d> i64: sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
    for<'d> Option<i64>: sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
{
    let body: String = row.try_get("body")?;
    Ok(ScimResource {
        id: row.try_get("id")?,
        endpoint_id: row.try_get("endpoint_id")?,
        resource_type: row.try_get("resource_type")?,
        body: serde_json::from_str(&body)?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

/// Live resources' keys start with `=`, deleted ones' with `deleted:`, so they never collide.
fn live_key(unique_key: &str) -> String {
    format!("={unique_key}")
}

/// Repository of SCIM endpoints and resources.
#[derive(Debug)]
pub struct Scim<'a> {
    scope: Scope<'a>,
}

impl Db {
    /// SCIM endpoints and resources.
    pub fn scim(&self) -> Scim<'_> {
        Scim {
            scope: Scope::Db(self),
        }
    }
}

impl Tx {
    /// SCIM endpoints and resources inside this transaction.
    pub fn scim(&mut self) -> Scim<'_> {
        Scim {
            scope: Scope::Tx(self),
        }
    }
}

macro_rules! fetch_one_of {
    ($self:ident, $kind:ident, $map:ident, $sql:expr, $($bind:expr),*) => {{
        let mut conn = $self.scope.$kind().await?;
        on_backend!(conn.exec(), |c| {
            let row = sqlx::query(sqlx::AssertSqlSafe($sql))
                $(.bind($bind))*
                .fetch_optional(&mut *c)
                .await
                .map_err(StoreError::from)?;
            row.as_ref().map($map).transpose()?
        })
    }};
}

impl Scim<'_> {
    /// Creates the integration's endpoint with a fresh secret (returned to show once).
    /// `AlreadyExists` if it has one, `NotFound` if the integration is not the tenant's.
    pub async fn create_endpoint(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
    ) -> Result<(ScimEndpoint, SecretBytes)> {
        let id = format!("scim_{}", new_id().replace('-', ""));
        let secret = random_token("scimsec_");
        let hash = token_hash(secret.expose());
        let now = now_ms();
        let sql = format!(
            "INSERT INTO scim_endpoints (id, tenant_id, integration_id, secret_hash, created_at) \
             SELECT $1, tenant_id, id, $4, $5 FROM integrations WHERE id = $3 AND tenant_id = $2 \
             RETURNING {ENDPOINT_COLUMNS}"
        );
        let created: Result<Option<ScimEndpoint>> = async {
            Ok(fetch_one_of!(
                self,
                write,
                endpoint_of,
                sql,
                &id,
                tenant_id,
                integration_id,
                &hash,
                now
            ))
        }
        .await;
        let endpoint = inserted(created, "integration", "scim endpoint")?;
        Ok((endpoint, secret))
    }

    /// The integration's endpoint, if it has one.
    pub async fn endpoint(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
    ) -> Result<Option<ScimEndpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM scim_endpoints WHERE tenant_id = $1 AND integration_id = $2"
        );
        Ok(fetch_one_of!(
            self,
            read,
            endpoint_of,
            sql,
            tenant_id,
            integration_id
        ))
    }

    /// Replaces the secret; the current one stays valid for `grace_ms` (at most one previous
    /// secret is kept: rotating twice ends the first one's grace).
    pub async fn rotate_secret(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        grace_ms: i64,
    ) -> Result<(ScimEndpoint, SecretBytes)> {
        let secret = random_token("scimsec_");
        let hash = token_hash(secret.expose());
        let now = now_ms();
        let sql = format!(
            "UPDATE scim_endpoints SET previous_secret_hash = secret_hash, secret_hash = $1, \
             previous_valid_until = $2, rotated_at = $3 WHERE tenant_id = $4 AND integration_id = $5 \
             RETURNING {ENDPOINT_COLUMNS}"
        );
        let endpoint = fetch_one_of!(
            self,
            write,
            endpoint_of,
            sql,
            &hash,
            now + grace_ms,
            now,
            tenant_id,
            integration_id
        );
        let endpoint = endpoint.ok_or(StoreError::NotFound("scim endpoint"))?;
        Ok((endpoint, secret))
    }

    /// The endpoint `endpoint_id` if `token` is its secret (or its previous one, within the
    /// grace period). The comparison is of SHA-256 digests.
    pub async fn authenticate(
        &mut self,
        endpoint_id: &str,
        token: &[u8],
    ) -> Result<Option<ScimEndpoint>> {
        let hash = token_hash(token);
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM scim_endpoints WHERE id = $1 AND (secret_hash = $2 \
             OR (previous_secret_hash = $2 AND previous_valid_until > $3))"
        );
        Ok(fetch_one_of!(
            self,
            read,
            endpoint_of,
            sql,
            endpoint_id,
            &hash,
            now_ms()
        ))
    }

    /// A resource (a deleted one too when `include_deleted`).
    pub async fn get(
        &mut self,
        endpoint_id: &str,
        resource_type: &str,
        id: &str,
        include_deleted: bool,
    ) -> Result<Option<ScimResource>> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} FROM scim_resources WHERE endpoint_id = $1 AND resource_type = $2 AND id = $3"
        );
        let found = fetch_one_of!(self, read, resource_of, sql, endpoint_id, resource_type, id);
        Ok(found.filter(|r: &ScimResource| include_deleted || r.deleted_at.is_none()))
    }

    /// The live resource of a type whose unique key (lower-cased `userName` / `displayName`) is
    /// `unique_key`.
    pub async fn find_by_key(
        &mut self,
        endpoint_id: &str,
        resource_type: &str,
        unique_key: &str,
    ) -> Result<Option<ScimResource>> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} FROM scim_resources WHERE endpoint_id = $1 AND resource_type = $2 AND unique_key = $3"
        );
        let key = live_key(unique_key);
        Ok(fetch_one_of!(
            self,
            read,
            resource_of,
            sql,
            endpoint_id,
            resource_type,
            &key
        ))
    }

    /// The endpoint's live resources of a type, oldest first.
    pub async fn list(
        &mut self,
        endpoint_id: &str,
        resource_type: &str,
    ) -> Result<Vec<ScimResource>> {
        let mut conn = self.scope.read().await?;
        on_backend!(conn.exec(), |c| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {RESOURCE_COLUMNS} FROM scim_resources WHERE endpoint_id = $1 \
                 AND resource_type = $2 AND deleted_at IS NULL ORDER BY created_at, id"
            )))
            .bind(endpoint_id)
            .bind(resource_type)
            .fetch_all(&mut *c)
            .await?;
            rows.iter().map(resource_of).collect()
        })
    }

    /// Stores a new resource. `AlreadyExists` when `unique_key` is taken.
    pub async fn insert(
        &mut self,
        endpoint_id: &str,
        resource_type: &str,
        unique_key: &str,
        body: &Value,
    ) -> Result<ScimResource> {
        let id = new_id();
        let now = now_ms();
        let text = serde_json::to_string(body)?;
        let unique_key = &live_key(unique_key);
        let sql = format!(
            "INSERT INTO scim_resources (id, endpoint_id, resource_type, unique_key, body, version, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6) RETURNING {RESOURCE_COLUMNS}"
        );
        let inserted: Result<Option<ScimResource>> = async {
            Ok(fetch_one_of!(
                self,
                write,
                resource_of,
                sql,
                &id,
                endpoint_id,
                resource_type,
                unique_key,
                &text,
                now
            ))
        }
        .await;
        crate::error::inserted(inserted, "scim endpoint", "scim resource")
    }

    /// Replaces a live resource's body if its version is still `expected_version`, and bumps the
    /// version. `NotFound` if it is gone, `Conflict` if it changed meanwhile, `AlreadyExists` when
    /// `unique_key` is another resource's.
    pub async fn update(
        &mut self,
        resource: &ScimResource,
        unique_key: &str,
        body: &Value,
    ) -> Result<ScimResource> {
        let now = now_ms().max(resource.updated_at);
        let text = serde_json::to_string(body)?;
        let unique_key = &live_key(unique_key);
        let sql = format!(
            "UPDATE scim_resources SET body = $1, unique_key = $2, version = version + 1, updated_at = $3 \
             WHERE id = $4 AND endpoint_id = $5 AND version = $6 AND deleted_at IS NULL \
             RETURNING {RESOURCE_COLUMNS}"
        );
        let updated: Result<Option<ScimResource>> = async {
            Ok(fetch_one_of!(
                self,
                write,
                resource_of,
                sql,
                &text,
                unique_key,
                now,
                &resource.id,
                &resource.endpoint_id,
                resource.version
            ))
        }
        .await;
        match updated {
            Ok(Some(resource)) => Ok(resource),
            Ok(None) => Err(StoreError::Conflict {
                what: "scim resource",
                expected: resource.version,
                found: 0,
            }),
            Err(e) => Err(e.taken("scim resource")),
        }
    }

    /// Marks a resource deleted (its unique key is released). `false` if it was not live.
    pub async fn delete(
        &mut self,
        endpoint_id: &str,
        resource_type: &str,
        id: &str,
    ) -> Result<bool> {
        let now = now_ms();
        let sql = "UPDATE scim_resources SET deleted_at = $1, unique_key = $2, version = version + 1, \
                   updated_at = $1 WHERE endpoint_id = $3 AND resource_type = $4 AND id = $5 \
                   AND deleted_at IS NULL";
        let params = (now, format!("deleted:{id}"), endpoint_id, resource_type, id);
        let n = self.scope.execute(sql, params).await?;
        Ok(n > 0)
    }

    /// Tombstones the integration's live records of `model` with these lookup keys (a resource
    /// deleted through SCIM). Returns how many.
    pub async fn tombstone_records(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        model: &str,
        lookup_keys: &[String],
        reason: &str,
    ) -> Result<u64> {
        let now = now_ms();
        let mut total = 0;
        let mut conn = self.scope.write().await?;
        for key in lookup_keys {
            let sql = "UPDATE ingest_records SET deleted_at = $1, deleted_reason = $2 WHERE tenant_id = $3 \
                       AND integration_id = $4 AND model = $5 AND lookup_key = $6 AND deleted_at IS NULL";
            let params = (now, reason, tenant_id, integration_id, model, key);
            total += conn.exec().execute(sql, params).await?;
        }
        Ok(total)
    }

    /// The lookup keys of the integration's live records of `model`.
    pub async fn live_record_keys(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        model: &str,
    ) -> Result<Vec<String>> {
        let sql = "SELECT lookup_key FROM ingest_records WHERE tenant_id = $1 AND integration_id = $2 \
                   AND model = $3 AND deleted_at IS NULL ORDER BY lookup_key";
        let params = (tenant_id, integration_id, model);
        self.scope.scalar_all(sql, params).await
    }
}
