//! Tenants and their API tokens. A token is shown once, when issued; the table keeps its SHA-256.

use serde::Serialize;

use sqlx::AssertSqlSafe;

use crate::db::{Db, Scope, Tx, new_id, now_ms};
use crate::error::Result;
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
        let result: Result<Tenant> = self
            .scope
            .write_one(
                "INSERT INTO tenants (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3) \
                 RETURNING id, name, created_at, updated_at",
                (new_id(), name, now),
            )
            .await;
        result.map_err(|e| e.taken("tenant"))
    }

    /// The tenant with this id.
    pub async fn get(&mut self, id: &str) -> Result<Option<Tenant>> {
        let sql = "SELECT id, name, created_at, updated_at FROM tenants WHERE id = $1";
        self.scope.fetch_optional(sql, (id,)).await
    }

    /// The tenant with this name.
    pub async fn get_by_name(&mut self, name: &str) -> Result<Option<Tenant>> {
        let sql = "SELECT id, name, created_at, updated_at FROM tenants WHERE name = $1";
        self.scope.fetch_optional(sql, (name,)).await
    }

    /// Every tenant, oldest first.
    pub async fn list(&mut self) -> Result<Vec<Tenant>> {
        let sql = "SELECT id, name, created_at, updated_at FROM tenants ORDER BY id";
        self.scope.fetch_all(sql, ()).await
    }

    /// Deletes a tenant and, by cascade, everything it owns. False if it did not exist.
    pub async fn delete(&mut self, id: &str) -> Result<bool> {
        let n = self
            .scope
            .execute("DELETE FROM tenants WHERE id = $1", (id,))
            .await?;
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
        let sql = format!(
            "INSERT INTO api_tokens (id, tenant_id, name, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
        );
        let params = (new_id(), tenant_id, name, &hash, now, expires_at);
        let record = self.scope.write_one(AssertSqlSafe(sql), params).await?;
        Ok((record, token))
    }

    /// The token record a presented token belongs to, if it is known, unrevoked and unexpired.
    pub async fn authenticate(&mut self, token: &[u8]) -> Result<Option<ApiToken>> {
        let hash = token_hash(token);
        let now = now_ms();
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 \
             AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)"
        );
        self.scope
            .fetch_optional(AssertSqlSafe(sql), (&hash, now))
            .await
    }

    /// The tenant's tokens (operator tokens with `None`).
    pub async fn list_tokens(&mut self, tenant_id: Option<&str>) -> Result<Vec<ApiToken>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens \
             WHERE tenant_id = $1 OR (tenant_id IS NULL AND $1 IS NULL) ORDER BY id"
        );
        self.scope.fetch_all(AssertSqlSafe(sql), (tenant_id,)).await
    }

    /// Revokes one of the tenant's tokens. False if no such token.
    pub async fn revoke_token(&mut self, tenant_id: Option<&str>, token_id: &str) -> Result<bool> {
        let now = now_ms();
        let sql = "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 \
                   AND (tenant_id = $3 OR (tenant_id IS NULL AND $3 IS NULL)) AND revoked_at IS NULL";
        let n = self.scope.execute(sql, (now, token_id, tenant_id)).await?;
        Ok(n > 0)
    }
}
