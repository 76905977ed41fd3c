//! Tenants and their API tokens. A token is shown once, when issued; the table keeps its SHA-256.

use serde::Serialize;

use crate::db::{Db, Scope, Tx, new_id, now_ms, on_backend};
use crate::error::{Result, StoreError};
use crate::secret::{SecretBytes, random_token, token_hash};

/// A tenant: the unit of isolation. Everything else belongs to one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Tenant {
    /// Id (UUID v7).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// An API token's record (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    /// Id (UUID v7).
    pub id: String,
    /// The tenant it acts for; `None` for an operator token.
    pub tenant_id: Option<String>,
    /// A label for people.
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms; `None` never expires.
    pub expires_at: Option<i64>,
    /// Unix ms, set by [`Tenants::revoke_token`].
    pub revoked_at: Option<i64>,
}

/// Repository for tenants and API tokens.
#[derive(Debug)]
pub struct Tenants<'a> {
    scope: Scope<'a>,
}

impl Db {
    /// Tenants and API tokens.
    pub fn tenants(&self) -> Tenants<'_> {
        Tenants {
            scope: Scope::Db(self),
        }
    }
}

impl Tx {
    /// Tenants and API tokens, inside this transaction.
    pub fn tenants(&mut self) -> Tenants<'_> {
        Tenants {
            scope: Scope::Tx(self),
        }
    }
}

const TOKEN_COLUMNS: &str = "id, tenant_id, name, created_at, expires_at, revoked_at";

impl Tenants<'_> {
    /// Creates a tenant; `AlreadyExists` if the name is taken.
    pub async fn create(&mut self, name: &str) -> Result<Tenant> {
        let now = now_ms();
        let mut conn = self.scope.write().await?;
        let result: Result<Tenant> = on_backend!(conn.exec(), |c| {
            sqlx::query_as(
                "INSERT INTO tenants (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3) \
                 RETURNING id, name, created_at, updated_at",
            )
            .bind(new_id())
            .bind(name)
            .bind(now)
            .fetch_one(&mut *c)
            .await
            .map_err(StoreError::from)
        });
        result.map_err(|e| {
            if e.is_unique_violation() {
                StoreError::AlreadyExists("tenant")
            } else {
                e
            }
        })
    }

    /// The tenant with this id.
    pub async fn get(&mut self, id: &str) -> Result<Option<Tenant>> {
        let mut conn = self.scope.read().await?;
        Ok(on_backend!(conn.exec(), |c| {
            sqlx::query_as("SELECT id, name, created_at, updated_at FROM tenants WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *c)
                .await?
        }))
    }

    /// The tenant with this name.
    pub async fn get_by_name(&mut self, name: &str) -> Result<Option<Tenant>> {
        let mut conn = self.scope.read().await?;
        Ok(on_backend!(conn.exec(), |c| {
            sqlx::query_as("SELECT id, name, created_at, updated_at FROM tenants WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *c)
                .await?
        }))
    }

    /// Every tenant, oldest first.
    pub async fn list(&mut self) -> Result<Vec<Tenant>> {
        let mut conn = self.scope.read().await?;
        Ok(on_backend!(conn.exec(), |c| {
            sqlx::query_as("SELECT id, name, created_at, updated_at FROM tenants ORDER BY id")
                .fetch_all(&mut *c)
                .await?
        }))
    }

    /// Deletes a tenant and, by cascade, everything it owns. False if it did not exist.
    pub async fn delete(&mut self, id: &str) -> Result<bool> {
        let mut conn = self.scope.write().await?;
        let n = on_backend!(conn.exec(), |c| {
            sqlx::query("DELETE FROM tenants WHERE id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        drop(conn);
        // Its webhook endpoints went with it.
        self.scope.endpoints_changed();
        Ok(n > 0)
    }

    /// Issues a token for `tenant_id` (`None`: an operator token). Returns the record and the
    /// token, which is not stored and cannot be shown again.
    pub async fn issue_token(
        &mut self,
        tenant_id: Option<&str>,
        name: &str,
        expires_at: Option<i64>,
    ) -> Result<(ApiToken, SecretBytes)> {
        let token = random_token(if tenant_id.is_some() {
            "trb_"
        } else {
            "trbop_"
        });
        let hash = token_hash(token.expose());
        let now = now_ms();
        let mut conn = self.scope.write().await?;
        let record = on_backend!(conn.exec(), |c| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "INSERT INTO api_tokens (id, tenant_id, name, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
            )))
            .bind(new_id())
            .bind(tenant_id)
            .bind(name)
            .bind(&hash)
            .bind(now)
            .bind(expires_at)
            .fetch_one(&mut *c)
            .await?
        });
        Ok((record, token))
    }

    /// The token record a presented token belongs to, if it is known, unrevoked and unexpired.
    pub async fn authenticate(&mut self, token: &[u8]) -> Result<Option<ApiToken>> {
        let hash = token_hash(token);
        let now = now_ms();
        let mut conn = self.scope.read().await?;
        Ok(on_backend!(conn.exec(), |c| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 \
                 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)"
            )))
            .bind(&hash)
            .bind(now)
            .fetch_optional(&mut *c)
            .await?
        }))
    }

    /// The tenant's tokens (operator tokens with `None`).
    pub async fn list_tokens(&mut self, tenant_id: Option<&str>) -> Result<Vec<ApiToken>> {
        let mut conn = self.scope.read().await?;
        Ok(on_backend!(conn.exec(), |c| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens \
                 WHERE tenant_id = $1 OR (tenant_id IS NULL AND $1 IS NULL) ORDER BY id"
            )))
            .bind(tenant_id)
            .fetch_all(&mut *c)
            .await?
        }))
    }

    /// Revokes one of the tenant's tokens. False if no such token.
    pub async fn revoke_token(&mut self, tenant_id: Option<&str>, token_id: &str) -> Result<bool> {
        let now = now_ms();
        let mut conn = self.scope.write().await?;
        let n = on_backend!(conn.exec(), |c| {
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 \
                 AND (tenant_id = $3 OR (tenant_id IS NULL AND $3 IS NULL)) AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(token_id)
            .bind(tenant_id)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }
}
