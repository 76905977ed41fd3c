//! Runs of operations (queued, scheduled, webhook-triggered) and their logs.

use serde::Serialize;
use serde_json::Value;

use crate::db::{Db, Scope, Tx, new_id, now_ms, push_filters};
use crate::error::{Result, StoreError, from_stored_name, one_changed};

/// State of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created, waiting for a worker.
    Pending,
    /// A worker is executing it.
    Running,
    /// Finished without error.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Finished with some items failing (the counters say which).
    Partial,
    /// Cancelled before it finished.
    Cancelled,
}

impl RunStatus {
    /// Every status, in the order a run can reach them; pickers and checks walk this list.
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Partial,
        RunStatus::Cancelled,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Partial => "partial",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self> {
        from_stored_name(&Self::ALL, Self::as_str, text, "run status")
    }

    /// True for states a run never leaves.
    pub fn is_terminal(self) -> bool {
        !matches!(self, RunStatus::Pending | RunStatus::Running)
    }
}

/// A run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// Id (UUID v7).
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Integration.
    pub integration_id: String,
    /// Operation name.
    pub operation: String,
    /// What started it: `manual`, `reconcile`, `webhook`, `workflow`.
    pub run_type: String,
    /// State.
    pub status: RunStatus,
    /// Attempt number (1 for the first execution).
    pub attempt: i64,
    /// Operation config.
    pub config: Value,
    /// Counters (records seen, written, failed, ...).
    pub counters: Value,
    /// Error class (`auth`, `rate_limited`, `provider`, ...).
    pub error_kind: Option<String>,
    /// Error message (never containing secrets).
    pub error_message: Option<String>,
    /// Resumption point of a long operation.
    pub checkpoint: Option<Value>,
    /// Workflow metadata of the caller.
    pub workflow: Option<Value>,
    /// What a raw operation returned.
    pub result: Option<Value>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub started_at: Option<i64>,
    /// Unix ms.
    pub finished_at: Option<i64>,
    /// Run time of the last attempt.
    pub duration_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    tenant_id: String,
    integration_id: String,
    operation: String,
    run_type: String,
    status: String,
    attempt: i64,
    config: String,
    counters: String,
    error_kind: Option<String>,
    error_message: Option<String>,
    checkpoint: Option<String>,
    workflow: Option<String>,
    result: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    duration_ms: Option<i64>,
}

fn parse_opt(text: Option<String>) -> Result<Option<Value>> {
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(Into::into)
}

impl TryFrom<Row> for Run {
    type Error = StoreError;
    fn try_from(row: Row) -> Result<Self> {
        Ok(Run {
            id: row.id,
            tenant_id: row.tenant_id,
            integration_id: row.integration_id,
            operation: row.operation,
            run_type: row.run_type,
            status: RunStatus::parse(&row.status)?,
            attempt: row.attempt,
            config: serde_json::from_str(&row.config)?,
            counters: serde_json::from_str(&row.counters)?,
            error_kind: row.error_kind,
            error_message: row.error_message,
            checkpoint: parse_opt(row.checkpoint)?,
            workflow: parse_opt(row.workflow)?,
            result: parse_opt(row.result)?,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            duration_ms: row.duration_ms,
        })
    }
}

const COLUMNS: &str = "id, tenant_id, integration_id, operation, run_type, status, attempt, config, \
                       counters, error_kind, error_message, checkpoint, workflow, result, created_at, \
                       started_at, finished_at, duration_ms";

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome<'a> {
    /// A terminal status.
    pub status: RunStatus,
    /// Final counters.
    pub counters: &'a Value,
    /// Error class, if it failed.
    pub error_kind: Option<&'a str>,
    /// Error message, if it failed.
    pub error_message: Option<&'a str>,
    /// What a raw operation returned, kept on the run.
    pub result: Option<&'a Value>,
}

/// One log line of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunLog {
    /// Order within the database.
    pub seq: i64,
    /// Unix ms.
    pub at: i64,
    /// `debug`, `info`, `warn`, `error`.
    pub level: String,
    /// Message.
    pub message: String,
    /// Structured fields.
    pub fields: Value,
}

/// Which runs to list: a tenant's, narrowed by integration, operation and status, newest first,
/// at most `limit` (1 to 1001) older than the run id `before`.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    pub tenant_id: String,
    pub integration_id: Option<String>,
    pub operation: Option<String>,
    pub status: Option<RunStatus>,
    pub before: Option<String>,
    pub limit: i64,
}

/// Repository for runs and run logs.
#[derive(Debug)]
pub struct Runs<'a> {
    scope: Scope<'a>,
}

impl Db {
    /// Runs and run logs.
    pub fn runs(&self) -> Runs<'_> {
        Runs {
            scope: Scope::Db(self),
        }
    }
}

impl Tx {
    /// Runs and run logs inside this transaction.
    pub fn runs(&mut self) -> Runs<'_> {
        Runs {
            scope: Scope::Tx(self),
        }
    }
}

impl Runs<'_> {
    /// Creates a pending run for the tenant's integration. `NotFound` if the integration is not
    /// the tenant's.
    pub async fn create(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        operation: &str,
        run_type: &str,
        config: &Value,
        workflow: Option<&Value>,
    ) -> Result<Run> {
        let now = now_ms();
        let config = serde_json::to_string(config)?;
        let workflow = workflow.map(serde_json::to_string).transpose()?;
        let sql = format!(
            "INSERT INTO runs (id, tenant_id, integration_id, operation, run_type, status, \
             attempt, config, counters, workflow, created_at) \
             SELECT $1, tenant_id, id, $4, $5, 'pending', 0, $6, '{{}}', $7, $8 \
             FROM integrations WHERE id = $3 AND tenant_id = $2 RETURNING {COLUMNS}"
        );
        let params = (
            new_id(),
            tenant_id,
            integration_id,
            operation,
            run_type,
            &config,
            workflow.as_deref(),
            now,
        );
        let row: Option<Row> = self
            .scope
            .write_optional(sqlx::AssertSqlSafe(sql), params)
            .await?;
        row.ok_or(StoreError::NotFound("integration"))?.try_into()
    }

    /// Marks the run running (a new attempt); returns the attempt number. `NotFound` if the run
    /// is unknown or already finished.
    pub async fn start(&mut self, tenant_id: &str, run_id: &str) -> Result<i64> {
        let now = now_ms();
        let mut conn = self.scope.write().await?;
        let sql = "UPDATE runs SET status = 'running', attempt = attempt + 1, started_at = $1, \
                   finished_at = NULL, duration_ms = NULL \
                   WHERE id = $2 AND tenant_id = $3 AND status IN ('pending', 'running') \
                   RETURNING attempt";
        let params = (now, run_id, tenant_id);
        let attempt: Option<i64> = conn.exec().scalar_optional(sql, params).await?;
        attempt.ok_or(StoreError::NotFound("active run"))
    }

    /// Saves a checkpoint and counters of a running run.
    pub async fn checkpoint(
        &mut self,
        tenant_id: &str,
        run_id: &str,
        checkpoint: &Value,
        counters: &Value,
    ) -> Result<()> {
        let checkpoint = serde_json::to_string(checkpoint)?;
        let counters = serde_json::to_string(counters)?;
        let sql = "UPDATE runs SET checkpoint = $1, counters = $2 WHERE id = $3 AND tenant_id = $4";
        let params = (&checkpoint, &counters, run_id, tenant_id);
        let n = self.scope.execute(sql, params).await?;
        one_changed(n, "run")
    }

    /// Finishes the run with a terminal outcome; the duration is measured from `started_at`
    /// (or creation, if it never started). `NotFound` if it is unknown or already finished.
    pub async fn finish(
        &mut self,
        tenant_id: &str,
        run_id: &str,
        outcome: &RunOutcome<'_>,
    ) -> Result<Run> {
        if !outcome.status.is_terminal() {
            return Err(StoreError::Config(format!(
                "{} is not a terminal run status",
                outcome.status.as_str()
            )));
        }
        let now = now_ms();
        let counters = serde_json::to_string(outcome.counters)?;
        let result = outcome.result.map(serde_json::to_string).transpose()?;
        let sql = format!(
            "UPDATE runs SET status = $1, counters = $2, error_kind = $3, error_message = $4, \
             finished_at = $5, duration_ms = $5 - COALESCE(started_at, created_at), result = $8 \
             WHERE id = $6 AND tenant_id = $7 AND status IN ('pending', 'running') \
             RETURNING {COLUMNS}"
        );
        let params = (
            outcome.status.as_str(),
            &counters,
            outcome.error_kind,
            outcome.error_message,
            now,
            run_id,
            tenant_id,
            result.as_deref(),
        );
        let row: Option<Row> = self
            .scope
            .write_optional(sqlx::AssertSqlSafe(sql), params)
            .await?;
        row.ok_or(StoreError::NotFound("active run"))?.try_into()
    }

    /// Puts a running run back to pending after a failed attempt that will be retried, keeping
    /// the error of that attempt for display. `NotFound` if the run is no longer active (it was
    /// cancelled meanwhile).
    pub async fn requeue(
        &mut self,
        tenant_id: &str,
        run_id: &str,
        error_kind: &str,
        error_message: &str,
    ) -> Result<()> {
        let sql = "UPDATE runs SET status = 'pending', error_kind = $1, error_message = $2 \
                   WHERE id = $3 AND tenant_id = $4 AND status IN ('pending', 'running')";
        let params = (error_kind, error_message, run_id, tenant_id);
        let n = self.scope.execute(sql, params).await?;
        one_changed(n, "active run")
    }

    /// Seeds a pending run's checkpoint (a run continuing where an earlier, throttled run of the
    /// same operation stopped).
    pub async fn seed_checkpoint(
        &mut self,
        tenant_id: &str,
        run_id: &str,
        checkpoint: &Value,
    ) -> Result<()> {
        let checkpoint = serde_json::to_string(checkpoint)?;
        let sql = "UPDATE runs SET checkpoint = $1 WHERE id = $2 AND tenant_id = $3 AND status = 'pending'";
        self.scope
            .execute(sql, (&checkpoint, run_id, tenant_id))
            .await?;
        Ok(())
    }

    /// The newest finished run of an integration's operation, if any.
    pub async fn latest_finished(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        operation: &str,
    ) -> Result<Option<Run>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM runs WHERE tenant_id = $1 AND integration_id = $2 \
             AND operation = $3 AND status NOT IN ('pending', 'running') \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        let params = (tenant_id, integration_id, operation);
        let row: Option<Row> = self
            .scope
            .fetch_optional(sqlx::AssertSqlSafe(sql), params)
            .await?;
        row.map(Run::try_from).transpose()
    }

    /// Ids of the integration's runs that have not finished.
    pub async fn active_ids(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
    ) -> Result<Vec<String>> {
        let sql = "SELECT id FROM runs WHERE tenant_id = $1 AND integration_id = $2 \
                   AND status IN ('pending', 'running') ORDER BY created_at";
        self.scope
            .scalar_all(sql, (tenant_id, integration_id))
            .await
    }

    /// Whether the integration's operation has a run that has not finished.
    pub async fn has_active(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        operation: &str,
    ) -> Result<bool> {
        let sql = "SELECT id FROM runs WHERE tenant_id = $1 AND integration_id = $2 \
                   AND operation = $3 AND status IN ('pending', 'running') LIMIT 1";
        let params = (tenant_id, integration_id, operation);
        let found: Option<String> = self.scope.scalar_optional(sql, params).await?;
        Ok(found.is_some())
    }

    /// Whether the run was cancelled (cheap; polled by running operations).
    pub async fn is_cancelled(&mut self, tenant_id: &str, run_id: &str) -> Result<bool> {
        let sql = "SELECT status FROM runs WHERE id = $1 AND tenant_id = $2";
        let status: Option<String> = self.scope.scalar_optional(sql, (run_id, tenant_id)).await?;
        Ok(status.as_deref() == Some("cancelled"))
    }

    /// The tenant's run.
    pub async fn get(&mut self, tenant_id: &str, run_id: &str) -> Result<Option<Run>> {
        let sql = format!("SELECT {COLUMNS} FROM runs WHERE id = $1 AND tenant_id = $2");
        let row: Option<Row> = self
            .scope
            .fetch_optional(sqlx::AssertSqlSafe(sql), (run_id, tenant_id))
            .await?;
        row.map(Run::try_from).transpose()
    }

    /// The integration's runs, newest first.
    pub async fn list(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        limit: i64,
    ) -> Result<Vec<Run>> {
        self.query(&RunQuery {
            tenant_id: tenant_id.to_owned(),
            integration_id: Some(integration_id.to_owned()),
            limit,
            ..RunQuery::default()
        })
        .await
    }

    /// The tenant's runs matching `query`, newest first (ids are time-ordered UUID v7, so `before`
    /// pages backwards through them).
    pub async fn query(&mut self, query: &RunQuery) -> Result<Vec<Run>> {
        let mut sql = format!("SELECT {COLUMNS} FROM runs WHERE tenant_id = $1");
        let mut binds: Vec<&str> = vec![&query.tenant_id];
        let status = query.status.map(RunStatus::as_str);
        let filters = [
            ("integration_id = ", query.integration_id.as_deref()),
            ("operation = ", query.operation.as_deref()),
            ("status = ", status),
            ("id < ", query.before.as_deref()),
        ];
        push_filters(&mut sql, &mut binds, filters);
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT {}",
            query.limit.clamp(1, 1001)
        ));
        let rows: Vec<Row> = self
            .scope
            .fetch_all(sqlx::AssertSqlSafe(sql), binds)
            .await?;
        rows.into_iter().map(Run::try_from).collect()
    }

    /// Appends a log line to the tenant's run.
    pub async fn log(
        &mut self,
        tenant_id: &str,
        run_id: &str,
        level: &str,
        message: &str,
        fields: &Value,
    ) -> Result<()> {
        let now = now_ms();
        let fields = serde_json::to_string(fields)?;
        let sql = "INSERT INTO run_logs (run_id, at, level, message, fields) \
                   SELECT id, $1, $2, $3, $4 FROM runs WHERE id = $5 AND tenant_id = $6";
        let params = (now, level, message, &fields, run_id, tenant_id);
        let n = self.scope.execute(sql, params).await?;
        one_changed(n, "run")
    }

    /// The run's log lines in order.
    pub async fn logs(&mut self, tenant_id: &str, run_id: &str) -> Result<Vec<RunLog>> {
        let sql = "SELECT l.seq, l.at, l.level, l.message, l.fields FROM run_logs l \
                   JOIN runs r ON r.id = l.run_id WHERE l.run_id = $1 AND r.tenant_id = $2 ORDER BY l.seq";
        let rows: Vec<(i64, i64, String, String, String)> =
            self.scope.fetch_all(sql, (run_id, tenant_id)).await?;
        rows.into_iter()
            .map(|(seq, at, level, message, fields)| {
                Ok(RunLog {
                    seq,
                    at,
                    level,
                    message,
                    fields: serde_json::from_str(&fields)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::RunStatus;
    use crate::error::Result;
    use crate::integrations::IntegrationStatus;

    /// Each value of `all` reads back from its stored spelling, which is also its JSON name.
    fn reads_back<T: Copy + PartialEq + std::fmt::Debug + Serialize>(
        all: &[T],
        name: fn(T) -> &'static str,
        parse: fn(&str) -> Result<T>,
    ) {
        for &value in all {
            assert_eq!(parse(name(value)).unwrap(), value);
            assert_eq!(serde_json::to_value(value).unwrap(), name(value));
        }
        assert!(parse("paused").is_err());
    }

    /// Statuses are read by walking `ALL`: every status must be listed there to be readable.
    #[test]
    fn every_stored_status_reads_back() {
        reads_back(&RunStatus::ALL, RunStatus::as_str, RunStatus::parse);
        reads_back(
            &IntegrationStatus::ALL,
            IntegrationStatus::as_str,
            IntegrationStatus::parse,
        );
    }
}
