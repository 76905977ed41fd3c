//! Web UI sessions: what a signed-in browser's cookie stands for.
//!
//! The cookie holds a random 256-bit session id, never the API token the user signed in with; the
//! table keeps the id's SHA-256 and the id of that token. A session is live while its token is
//! (unrevoked, unexpired), it has been used within the idle timeout, and its absolute lifetime has
//! not run out. Deleting the row (signing out) makes the cookie worthless at once.

use std::time::Duration;

use crate::db::{Db, Scope, Tx, now_ms, on_backend};
use crate::error::Result;
use crate::secret::{SecretBytes, random_token, token_hash};

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UiSession {
    /// The tenant it acts for.
    pub tenant_id: String,
    /// The API token it was opened with.
    pub token_id: String,
    /// That token's name (who is acting, for the audit trail).
    pub token_name: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the last use (kept to the minute).
    pub last_seen_at: i64,
    /// Unix ms: the absolute end.
    pub expires_at: i64,
}

/// A live session as listed for its tenant or the operator. `id` is a handle derived from the
/// stored hash: it names the session to revoke it, and cannot be turned back into the cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSessionEntry {
    /// `uis_` and 24 hex digits.
    pub id: String,
    pub session: UiSession,
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    handle_hex: String,
    #[sqlx(flatten)]
    session: UiSession,
}

/// What prefixes a session's handle.
pub const HANDLE_PREFIX: &str = "uis_";

/// Hex digits of the stored hash a handle shows: 96 bits, unique among any number of sessions
/// a deployment will hold.
const HANDLE_HEX: usize = 24;

/// The handle of the session whose cookie holds `id`.
pub fn ui_session_handle(id: &[u8]) -> String {
    format!("{HANDLE_PREFIX}{}", &token_hash(id)[..HANDLE_HEX])
}

/// The hash prefix a well-formed handle names.
fn handle_hex(handle: &str) -> Option<&str> {
    let hex = handle.strip_prefix(HANDLE_PREFIX)?;
    (hex.len() == HANDLE_HEX && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then_some(hex)
}

/// Uses closer together than this do not rewrite `last_seen_at`: the idle timeout is hours long,
/// and a page view should not cost a write.
const TOUCH_EVERY_MS: i64 = 60 * 1000;

/// Repository for UI sessions.
#[derive(Debug)]
pub struct UiSessions<'a> {
    scope: Scope<'a>,
}

impl Db {
    /// Web UI sessions.
    pub fn ui_sessions(&self) -> UiSessions<'_> {
        UiSessions {
            scope: Scope::Db(self),
        }
    }
}

impl Tx {
    /// Web UI sessions, inside this transaction.
    pub fn ui_sessions(&mut self) -> UiSessions<'_> {
        UiSessions {
            scope: Scope::Tx(self),
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl UiSessions<'_> {
    /// Opens a session for `tenant_id` through the token `token_id`, ending after `lifetime`
    /// whatever happens. Returns the session id for the cookie; it is not stored.
    pub async fn create(
        &mut self,
        tenant_id: &str,
        token_id: &str,
        lifetime: Duration,
    ) -> Result<SecretBytes> {
        let id = random_token("trui_");
        let now = now_ms();
        let sql = "INSERT INTO ui_sessions (id_hash, tenant_id, token_id, created_at, last_seen_at, \
                   expires_at) VALUES ($1, $2, $3, $4, $4, $5)";
        let params = (
            token_hash(id.expose()),
            tenant_id,
            token_id,
            now,
            now.saturating_add(millis(lifetime)),
        );
        self.scope.execute(sql, params).await?;
        Ok(id)
    }

    /// The live session of `id`, if any: known, used within `idle`, before its end, and its API
    /// token still valid. Marks it used.
    pub async fn find(&mut self, id: &[u8], idle: Duration) -> Result<Option<UiSession>> {
        let hash = token_hash(id);
        let now = now_ms();
        let session: Option<UiSession> = {
            let sql = "SELECT s.tenant_id, s.token_id, t.name AS token_name, s.created_at, \
                       s.last_seen_at, s.expires_at \
                       FROM ui_sessions s JOIN api_tokens t ON t.id = s.token_id \
                       WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 \
                       AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)";
            let params = (&hash, now, now.saturating_sub(millis(idle)));
            self.scope.fetch_optional(sql, params).await?
        };
        let Some(mut session) = session else {
            return Ok(None);
        };
        if now - session.last_seen_at >= TOUCH_EVERY_MS {
            let sql = "UPDATE ui_sessions SET last_seen_at = $1 WHERE id_hash = $2";
            self.scope.execute(sql, (now, &hash)).await?;
            session.last_seen_at = now;
        }
        Ok(Some(session))
    }

    /// The live sessions (as [`UiSessions::find`] sees them) of `tenant_id`, or of every tenant,
    /// in handle order after the handle `after`, at most `limit`.
    pub async fn list(
        &mut self,
        tenant_id: Option<&str>,
        idle: Duration,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<UiSessionEntry>> {
        let now = now_ms();
        let after = after.map(|handle| handle_hex(handle).unwrap_or(handle));
        let mut sql = format!(
            "SELECT substr(s.id_hash, 1, {HANDLE_HEX}) AS handle_hex, s.tenant_id, s.token_id, \
             t.name AS token_name, s.created_at, s.last_seen_at, s.expires_at \
             FROM ui_sessions s JOIN api_tokens t ON t.id = s.token_id \
             WHERE s.expires_at > $1 AND s.last_seen_at > $2 \
             AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $1) \
             AND substr(s.id_hash, 1, {HANDLE_HEX}) > $3"
        );
        if tenant_id.is_some() {
            sql.push_str(" AND s.tenant_id = $5");
        }
        sql.push_str(" ORDER BY s.id_hash LIMIT $4");
        let mut conn = self.scope.read().await?;
        let rows: Vec<EntryRow> = on_backend!(conn.exec(), |c| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(now)
                .bind(now.saturating_sub(millis(idle)))
                .bind(after.unwrap_or_default())
                .bind(limit);
            if let Some(tenant_id) = tenant_id {
                query = query.bind(tenant_id);
            }
            query.fetch_all(&mut *c).await?
        });
        Ok(rows
            .into_iter()
            .map(|row| UiSessionEntry {
                id: format!("{HANDLE_PREFIX}{}", row.handle_hex),
                session: row.session,
            })
            .collect())
    }

    /// Ends the session named by `handle` (of `tenant_id` when given): its cookie stops working
    /// at once. Returns the tenant of the session ended, `None` if there was none.
    pub async fn revoke(
        &mut self,
        tenant_id: Option<&str>,
        handle: &str,
    ) -> Result<Option<String>> {
        let Some(hex) = handle_hex(handle) else {
            return Ok(None);
        };
        let mut sql =
            format!("DELETE FROM ui_sessions WHERE substr(id_hash, 1, {HANDLE_HEX}) = $1");
        if tenant_id.is_some() {
            sql.push_str(" AND tenant_id = $2");
        }
        sql.push_str(" RETURNING tenant_id");
        let mut conn = self.scope.write().await?;
        let ended: Vec<(String,)> = on_backend!(conn.exec(), |c| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(hex);
            if let Some(tenant_id) = tenant_id {
                query = query.bind(tenant_id);
            }
            query.fetch_all(&mut *c).await?
        });
        Ok(ended.into_iter().next().map(|(tenant,)| tenant))
    }

    /// Ends the session of `id` (signing out). False if there was none.
    pub async fn delete(&mut self, id: &[u8]) -> Result<bool> {
        let sql = "DELETE FROM ui_sessions WHERE id_hash = $1";
        let n = self.scope.execute(sql, (token_hash(id),)).await?;
        Ok(n > 0)
    }

    /// Deletes the sessions that can no longer be used: past their end, idle longer than `idle`,
    /// or opened with a revoked or expired token. Returns how many.
    pub async fn purge_expired(&mut self, idle: Duration) -> Result<u64> {
        let now = now_ms();
        let sql = "DELETE FROM ui_sessions WHERE expires_at <= $1 OR last_seen_at <= $2 \
                   OR token_id IN (SELECT id FROM api_tokens WHERE revoked_at IS NOT NULL \
                   OR (expires_at IS NOT NULL AND expires_at <= $1))";
        self.scope
            .execute(sql, (now, now.saturating_sub(millis(idle))))
            .await
    }
}
