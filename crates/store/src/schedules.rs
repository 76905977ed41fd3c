//! Reconcile schedules: when each reconcile-eligible operation of an integration runs next.
//!
//! The adaptive interval is computed by the runtime; this table records it. [`Schedules::claim_due`]
//! moves due schedules' `next_run_at` forward in the same statement that returns them, so several
//! processes sharing a PostgreSQL database never start the same reconcile twice.

use serde::Serialize;

use crate::db::{Db, Scope, Tx, now_ms};
use crate::error::{Result, StoreError};

/// A reconcile schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Schedule {
    /// Integration.
    pub integration_id: String,
    /// Operation name.
    pub operation: String,
    /// Tenant.
    pub tenant_id: String,
    /// Unix ms of the next run.
    pub next_run_at: i64,
    /// Current interval.
    pub interval_ms: i64,
    /// Consecutive runs that found nothing new.
    pub idle_streak: i64,
    /// Consecutive failed runs.
    pub error_streak: i64,
    /// False once the integration is disconnected.
    pub enabled: bool,
    /// Unix ms of the last run.
    pub last_run_at: Option<i64>,
    /// Last error message.
    pub last_error: Option<String>,
}

const COLUMNS: &str = "integration_id, operation, tenant_id, next_run_at, interval_ms, idle_streak, \
                       error_streak, enabled, last_run_at, last_error";

/// The result of one reconcile run, as the runtime computed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleUpdate<'a> {
    /// Next interval.
    pub interval_ms: i64,
    /// New idle streak.
    pub idle_streak: i64,
    /// New error streak.
    pub error_streak: i64,
    /// Error of this run, if any.
    pub last_error: Option<&'a str>,
}

/// Repository for reconcile schedules.
#[derive(Debug)]
pub struct Schedules<'a> {
    scope: Scope<'a>,
}

impl Db {
    /// Reconcile schedules.
    pub fn schedules(&self) -> Schedules<'_> {
        Schedules {
            scope: Scope::Db(self),
        }
    }
}

impl Tx {
    /// Reconcile schedules inside this transaction.
    pub fn schedules(&mut self) -> Schedules<'_> {
        Schedules {
            scope: Scope::Tx(self),
        }
    }
}

impl Schedules<'_> {
    /// Creates (or re-enables, keeping its streaks) the schedule of an operation, first due at
    /// `first_run_at`. `NotFound` if the integration is not the tenant's.
    pub async fn upsert(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        operation: &str,
        interval_ms: i64,
        first_run_at: i64,
    ) -> Result<Schedule> {
        let now = now_ms();
        let sql = format!(
            "INSERT INTO reconcile_schedules (integration_id, operation, tenant_id, next_run_at, \
             interval_ms, idle_streak, error_streak, enabled, created_at, updated_at) \
             SELECT id, $2, tenant_id, $4, $5, 0, 0, $6, $7, $7 FROM integrations \
             WHERE id = $1 AND tenant_id = $3 \
             ON CONFLICT (integration_id, operation) DO UPDATE SET enabled = excluded.enabled, \
             next_run_at = excluded.next_run_at, updated_at = excluded.updated_at \
             RETURNING {COLUMNS}"
        );
        let params = (
            integration_id,
            operation,
            tenant_id,
            first_run_at,
            interval_ms,
            true,
            now,
        );
        let row: Option<Schedule> = self
            .scope
            .write_optional(sqlx::AssertSqlSafe(sql), params)
            .await?;
        row.ok_or(StoreError::NotFound("integration"))
    }

    /// Takes up to `limit` enabled schedules due at `now` (across tenants: the scheduler is a
    /// system task) and pushes their `next_run_at` to `now + lease_ms`, so no other process
    /// takes them while this one runs them. [`Schedules::record`] then sets the real next time.
    pub async fn claim_due(
        &mut self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Schedule>> {
        let sql = format!(
            "UPDATE reconcile_schedules SET next_run_at = $2, updated_at = $1 \
             WHERE enabled = $4 AND next_run_at <= $1 AND (integration_id, operation) IN ( \
             SELECT integration_id, operation FROM reconcile_schedules \
             WHERE enabled = $4 AND next_run_at <= $1 ORDER BY next_run_at LIMIT $3) \
             RETURNING {COLUMNS}"
        );
        let params = (now, now.saturating_add(lease_ms), limit, true);
        self.scope.write_all(sqlx::AssertSqlSafe(sql), params).await
    }

    /// Records a run's result and the next run time (`last_run_at` + interval).
    pub async fn record(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        operation: &str,
        update: &ScheduleUpdate<'_>,
    ) -> Result<Schedule> {
        let now = now_ms();
        let sql = format!(
            "UPDATE reconcile_schedules SET interval_ms = $1, idle_streak = $2, error_streak = $3, \
             last_error = $4, last_run_at = $5, next_run_at = $5 + $1, updated_at = $5 \
             WHERE tenant_id = $6 AND integration_id = $7 AND operation = $8 RETURNING {COLUMNS}"
        );
        let params = (
            update.interval_ms,
            update.idle_streak,
            update.error_streak,
            update.last_error,
            now,
            tenant_id,
            integration_id,
            operation,
        );
        let row: Option<Schedule> = self
            .scope
            .write_optional(sqlx::AssertSqlSafe(sql), params)
            .await?;
        row.ok_or(StoreError::NotFound("reconcile schedule"))
    }

    /// Enables or disables every schedule of the integration (disconnect stops reconciles).
    /// Returns how many changed.
    pub async fn set_enabled(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        enabled: bool,
    ) -> Result<u64> {
        let now = now_ms();
        let sql = "UPDATE reconcile_schedules SET enabled = $1, updated_at = $2 \
                   WHERE tenant_id = $3 AND integration_id = $4 AND enabled <> $1";
        let params = (enabled, now, tenant_id, integration_id);
        self.scope.execute(sql, params).await
    }

    /// The integration's schedules.
    pub async fn list(&mut self, tenant_id: &str, integration_id: &str) -> Result<Vec<Schedule>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM reconcile_schedules WHERE tenant_id = $1 AND integration_id = $2 \
             ORDER BY operation"
        );
        self.scope
            .fetch_all(sqlx::AssertSqlSafe(sql), (tenant_id, integration_id))
            .await
    }

    /// Deletes one schedule (the operation was removed from the definition).
    pub async fn delete(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        operation: &str,
    ) -> Result<bool> {
        let sql = "DELETE FROM reconcile_schedules WHERE tenant_id = $1 AND integration_id = $2 AND operation = $3";
        let params = (tenant_id, integration_id, operation);
        let n = self.scope.execute(sql, params).await?;
        Ok(n > 0)
    }
}
