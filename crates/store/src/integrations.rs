//! Integrations: one tenant's installed instance of a definition.

use serde::Serialize;
use serde_json::Value;

use sqlx::AssertSqlSafe;

use crate::db::{Backend, Db, Scope, Tx, new_id, now_ms};
use crate::error::{Result, StoreError, from_stored_name, one_changed};

/// Lifecycle status of an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationStatus {
    /// Created, not yet connected.
    Pending,
    /// Credentials saved and validated.
    Connected,
    /// Something went wrong; see the reason.
    Errored,
    /// Turned off by the tenant or an operator.
    Disabled,
    /// The provider refused the stored grant (a revoked refresh token): schedules are stopped
    /// until a user connects again.
    NeedsReauth,
    /// Disconnected by a user or a provider teardown event: credentials, webhook endpoints and
    /// schedules are gone; ingested records are kept.
    Disconnected,
    /// The provider suspended the connection (an organisation suspended a GitHub App
    /// installation): schedules are stopped until it is resumed. Its webhook deliveries are
    /// still taken, so the event that resumes it arrives.
    Suspended,
}

impl IntegrationStatus {
    /// Every status.
    pub const ALL: [IntegrationStatus; 7] = [
        IntegrationStatus::Pending,
        IntegrationStatus::Connected,
        IntegrationStatus::Errored,
        IntegrationStatus::Disabled,
        IntegrationStatus::NeedsReauth,
        IntegrationStatus::Disconnected,
        IntegrationStatus::Suspended,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationStatus::Pending => "pending",
            IntegrationStatus::Connected => "connected",
            IntegrationStatus::Errored => "errored",
            IntegrationStatus::Disabled => "disabled",
            IntegrationStatus::NeedsReauth => "needs_reauth",
            IntegrationStatus::Disconnected => "disconnected",
            IntegrationStatus::Suspended => "suspended",
        }
    }

    /// Whether the integration's webhook deliveries are taken and processed: a connected one's,
    /// and a suspended one's, since the provider announces the end of a suspension by an event.
    pub fn takes_deliveries(self) -> bool {
        matches!(
            self,
            IntegrationStatus::Connected | IntegrationStatus::Suspended
        )
    }

    pub(crate) fn parse(text: &str) -> Result<Self> {
        from_stored_name(&Self::ALL, Self::as_str, text, "integration status")
    }
}

/// An integration row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Integration {
    /// Id (UUID v7).
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// The definition it instantiates.
    pub definition_id: String,
    /// Display name.
    pub name: String,
    /// Non-secret user input (validated against the definition's schema by the runtime).
    pub user_input: Value,
    /// Provider state (the active connection, ...).
    pub provider_state: Value,
    /// Resolved metadata (external account identity, ...).
    pub metadata: Value,
    /// Status.
    pub status: IntegrationStatus,
    /// Why the status is what it is (errors, who disabled it).
    pub status_reason: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    tenant_id: String,
    definition_id: String,
    name: String,
    user_input: String,
    provider_state: String,
    metadata: String,
    status: String,
    status_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for Integration {
    type Error = StoreError;
    fn try_from(row: Row) -> Result<Self> {
        Ok(Integration {
            id: row.id,
            tenant_id: row.tenant_id,
            definition_id: row.definition_id,
            name: row.name,
            user_input: serde_json::from_str(&row.user_input)?,
            provider_state: serde_json::from_str(&row.provider_state)?,
            metadata: serde_json::from_str(&row.metadata)?,
            status: IntegrationStatus::parse(&row.status)?,
            status_reason: row.status_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

const COLUMNS: &str = "id, tenant_id, definition_id, name, user_input, provider_state, metadata, \
                       status, status_reason, created_at, updated_at";

/// Repository for integrations. Every call is scoped to a tenant.
#[derive(Debug)]
pub struct Integrations<'a> {
    scope: Scope<'a>,
}

impl Db {
    /// Integrations.
    pub fn integrations(&self) -> Integrations<'_> {
        Integrations {
            scope: Scope::Db(self),
        }
    }
}

impl Tx {
    /// Integrations inside this transaction.
    pub fn integrations(&mut self) -> Integrations<'_> {
        Integrations {
            scope: Scope::Tx(self),
        }
    }
}

/// Which JSON document of an integration to replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// `user_input`.
    UserInput,
    /// `provider_state`.
    ProviderState,
    /// `metadata`.
    Metadata,
}

pub(crate) async fn exists(scope: &mut Scope<'_>, tenant_id: &str, id: &str) -> Result<bool> {
    let sql = "SELECT id FROM integrations WHERE id = $1 AND tenant_id = $2";
    let found: Option<(String,)> = scope.fetch_optional(sql, (id, tenant_id)).await?;
    Ok(found.is_some())
}

impl Integrations<'_> {
    /// Creates a pending integration with empty provider state and metadata.
    pub async fn create(
        &mut self,
        tenant_id: &str,
        definition_id: &str,
        name: &str,
        user_input: &Value,
    ) -> Result<Integration> {
        let now = now_ms();
        let input = serde_json::to_string(user_input)?;
        let sql = format!(
            "INSERT INTO integrations (id, tenant_id, definition_id, name, user_input, \
                 provider_state, metadata, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, '{{}}', '{{}}', 'pending', $6, $6) RETURNING {COLUMNS}"
        );
        let params = (new_id(), tenant_id, definition_id, name, &input, now);
        let row: Row = self.scope.write_one(AssertSqlSafe(sql), params).await?;
        row.try_into()
    }

    /// The tenant's integration with this id.
    pub async fn get(&mut self, tenant_id: &str, id: &str) -> Result<Option<Integration>> {
        let sql = format!("SELECT {COLUMNS} FROM integrations WHERE id = $1 AND tenant_id = $2");
        let row: Option<Row> = self
            .scope
            .fetch_optional(AssertSqlSafe(sql), (id, tenant_id))
            .await?;
        row.map(Integration::try_from).transpose()
    }

    /// The tenant's integrations, optionally of one definition, oldest first.
    pub async fn list(
        &mut self,
        tenant_id: &str,
        definition_id: Option<&str>,
    ) -> Result<Vec<Integration>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM integrations WHERE tenant_id = $1 \
             AND ($2 IS NULL OR definition_id = $2) ORDER BY id"
        );
        let rows: Vec<Row> = self
            .scope
            .fetch_all(AssertSqlSafe(sql), (tenant_id, definition_id))
            .await?;
        rows.into_iter().map(Integration::try_from).collect()
    }

    /// A page of the tenant's integrations in id order: at most `limit` after the id `after`
    /// (the previous page's last), optionally of one definition.
    pub async fn list_page(
        &mut self,
        tenant_id: &str,
        definition_id: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Integration>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {COLUMNS} FROM integrations WHERE tenant_id = $1 \
             AND ($2 IS NULL OR definition_id = $2) AND ($3 IS NULL OR id > $3) \
             ORDER BY id LIMIT $4"
        );
        let params = (tenant_id, definition_id, after, limit);
        let rows: Vec<Row> = self.scope.fetch_all(AssertSqlSafe(sql), params).await?;
        rows.into_iter().map(Integration::try_from).collect()
    }

    /// The integrations of a definition whose metadata attribute `attribute` (under
    /// `attributes`) equals `value`, across tenants: how an app-level webhook finds the
    /// installation an event belongs to. `attribute` names a key (letters, digits, `_`).
    pub async fn find_by_attribute(
        &mut self,
        definition_id: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<Integration>> {
        if attribute.is_empty()
            || !attribute
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError::Config(format!(
                "metadata attribute {attribute:?} is not a plain key"
            )));
        }
        let mut conn = self.scope.read().await?;
        let exec = conn.exec();
        let attribute_text = match exec.backend() {
            Backend::Sqlite => "CAST(json_extract(metadata, '$.attributes.' || $2) AS TEXT)",
            Backend::Postgres => "(metadata::jsonb -> 'attributes' ->> $2)",
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM integrations WHERE definition_id = $1 \
             AND {attribute_text} = $3 ORDER BY id"
        );
        let params = (definition_id, attribute, value);
        let rows: Vec<Row> = exec.fetch_all(AssertSqlSafe(sql), params).await?;
        rows.into_iter().map(Integration::try_from).collect()
    }

    /// Renames the integration.
    pub async fn rename(&mut self, tenant_id: &str, id: &str, name: &str) -> Result<()> {
        self.update(tenant_id, id, "name = $3", name.to_owned())
            .await
    }

    /// Replaces one JSON document of the integration.
    pub async fn set_document(
        &mut self,
        tenant_id: &str,
        id: &str,
        which: Document,
        value: &Value,
    ) -> Result<()> {
        let column = match which {
            Document::UserInput => "user_input = $3",
            Document::ProviderState => "provider_state = $3",
            Document::Metadata => "metadata = $3",
        };
        self.update(tenant_id, id, column, serde_json::to_string(value)?)
            .await
    }

    /// Sets the status and its reason.
    pub async fn set_status(
        &mut self,
        tenant_id: &str,
        id: &str,
        status: IntegrationStatus,
        reason: Option<&str>,
    ) -> Result<()> {
        let now = now_ms();
        let sql = "UPDATE integrations SET status = $3, status_reason = $4, updated_at = $5 \
                   WHERE id = $1 AND tenant_id = $2";
        let params = (id, tenant_id, status.as_str(), reason, now);
        let n = self.scope.execute(sql, params).await?;
        one_changed(n, "integration")
    }

    /// Moves the integration from `from` to `to` with a reason; returns whether it was in
    /// `from` (otherwise nothing changes). For transitions that must not overwrite a concurrent
    /// one: a run that learns its grant was refused must not mark a just-disconnected
    /// integration `needs_reauth`.
    pub async fn change_status(
        &mut self,
        tenant_id: &str,
        id: &str,
        from: IntegrationStatus,
        to: IntegrationStatus,
        reason: Option<&str>,
    ) -> Result<bool> {
        let now = now_ms();
        let sql = "UPDATE integrations SET status = $4, status_reason = $5, updated_at = $6 \
                   WHERE id = $1 AND tenant_id = $2 AND status = $3";
        let params = (id, tenant_id, from.as_str(), to.as_str(), reason, now);
        let n = self.scope.execute(sql, params).await?;
        Ok(n > 0)
    }

    async fn update(
        &mut self,
        tenant_id: &str,
        id: &str,
        assignment: &'static str,
        value: String,
    ) -> Result<()> {
        let now = now_ms();
        let sql = format!(
            "UPDATE integrations SET {assignment}, updated_at = $4 WHERE id = $1 AND tenant_id = $2"
        );
        let params = (id, tenant_id, &value, now);
        let n = self.scope.execute(AssertSqlSafe(sql), params).await?;
        one_changed(n, "integration")
    }

    /// Deletes the integration and, by cascade, its credentials, sessions, webhook endpoints,
    /// runs and reconcile schedules. False if it did not exist.
    pub async fn delete(&mut self, tenant_id: &str, id: &str) -> Result<bool> {
        let sql = "DELETE FROM integrations WHERE id = $1 AND tenant_id = $2";
        let n = self.scope.execute(sql, (id, tenant_id)).await?;
        // Its webhook endpoints went with it.
        self.scope.endpoints_changed();
        Ok(n > 0)
    }
}
