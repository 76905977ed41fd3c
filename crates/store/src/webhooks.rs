//! Webhook endpoints (public id + secret sealed by the keystore) and their deliveries.
//!
//! A delivery is recorded before the provider is acknowledged and marked done only after its
//! handler succeeded; a provider retry of a failed delivery is therefore processed again, while a
//! retry of a done one is recognised as a duplicate.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::db::{Db, Scope, Tx, new_id, now_ms, on_backend};
use crate::error::{Result, StoreError, inserted};
pub use crate::intake_cache::{IntakeLookup, IntakeTarget};
use crate::keystore::{Binding, KeyRing, Resealed};
use crate::secret::{SecretBytes, random_token};

/// The associated-data purpose of webhook secret ciphertexts.
pub const PURPOSE: &str = "webhook-secret";

/// A webhook endpoint (without its secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookEndpoint {
    /// Public id, part of the intake URL.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Owning integration.
    pub integration_id: String,
    /// The definition's webhook name.
    pub name: String,
    /// Event names accepted (empty: all the definition declares).
    pub allowed_events: Vec<String>,
    /// Whether intake accepts deliveries.
    pub enabled: bool,
    /// Unix ms.
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: String,
    tenant_id: String,
    integration_id: String,
    name: String,
    allowed_events: String,
    enabled: bool,
    created_at: i64,
    secret_ciphertext: Vec<u8>,
    secret_key_id: String,
}

/// An endpoint row with its integration's definition ([`Webhooks::intake_target`]).
#[derive(sqlx::FromRow)]
struct IntakeRow {
    #[sqlx(flatten)]
    endpoint: EndpointRow,
    definition_id: String,
}

impl EndpointRow {
    fn endpoint(&self) -> Result<WebhookEndpoint> {
        Ok(WebhookEndpoint {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            integration_id: self.integration_id.clone(),
            name: self.name.clone(),
            allowed_events: serde_json::from_str(&self.allowed_events)?,
            enabled: self.enabled,
            created_at: self.created_at,
        })
    }
}

const ENDPOINT_COLUMNS: &str = "id, tenant_id, integration_id, name, allowed_events, enabled, \
                                created_at, secret_ciphertext, secret_key_id";

/// Processing state of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Stored, not yet handled (or being handled).
    Received,
    /// Handled successfully.
    Done,
    /// The handler failed; a provider retry runs it again.
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Received => "received",
            DeliveryStatus::Done => "done",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "received" => DeliveryStatus::Received,
            "done" => DeliveryStatus::Done,
            "failed" => DeliveryStatus::Failed,
            other => return Err(StoreError::Corrupt(format!("delivery status {other:?}"))),
        })
    }
}

/// A stored delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookDelivery {
    /// Row id.
    pub id: String,
    /// Endpoint it arrived at (which may since have been removed with its integration).
    pub endpoint_id: String,
    /// The integration whose endpoint it arrived at; `None` only for deliveries whose endpoint
    /// was gone when this was first recorded.
    pub integration_id: Option<String>,
    /// Tenant.
    pub tenant_id: String,
    /// The provider's delivery id (or a body hash).
    pub delivery_id: String,
    /// Resolved event name.
    pub event: String,
    /// The body as JSON.
    pub payload: Value,
    /// Processing state.
    pub status: DeliveryStatus,
    /// Times it was recorded (1 + provider retries).
    pub attempts: i64,
    /// The last handler error.
    pub last_error: Option<String>,
    /// Unix ms.
    pub received_at: i64,
    /// Unix ms when it was marked done.
    pub processed_at: Option<i64>,
    /// SHA-256 (hex) of the body as received; `None` for deliveries stored before it was kept.
    pub body_sha256: Option<String>,
    /// Times the delivery id arrived again with a different body (each answered 409).
    pub conflicts: i64,
    /// Unix ms of the last such conflict.
    pub last_conflict_at: Option<i64>,
}

/// A delivery to record ([`Webhooks::record_deliveries`]).
#[derive(Debug, Clone, Copy)]
pub struct DeliveryToRecord<'a> {
    pub tenant_id: &'a str,
    pub endpoint_id: &'a str,
    /// The provider's delivery id, or a digest of the body.
    pub delivery_id: &'a str,
    pub event: &'a str,
    pub payload: &'a Value,
    /// SHA-256 (hex) of the body as received, when known.
    pub body_sha256: Option<&'a str>,
}

impl DeliveryToRecord<'_> {
    fn key(&self) -> (&str, &str) {
        (self.endpoint_id, self.delivery_id)
    }
}

/// Deliveries recorded per statement: 7 parameters each stay far below either backend's limit.
const RECORD_CHUNK: usize = 500;

/// What recording a delivery found.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// Stored, or a copy of one stored before (`attempts` above 1); `process` says whether it
    /// should be processed (new, or a retry of one that is not done).
    Delivery {
        delivery: WebhookDelivery,
        process: bool,
    },
    /// The delivery id names a stored delivery with a different body: nothing was stored, the
    /// conflict was counted on the stored one (returned).
    Conflict(WebhookDelivery),
}

impl Recorded {
    /// What the stored row means for a delivery received with `body_sha256`.
    fn of(delivery: WebhookDelivery, body_sha256: Option<&str>) -> Self {
        let conflict = matches!(
            (delivery.body_sha256.as_deref(), body_sha256),
            (Some(stored), Some(received)) if stored != received
        );
        if conflict {
            return Recorded::Conflict(delivery);
        }
        let process = delivery.status != DeliveryStatus::Done;
        Recorded::Delivery { delivery, process }
    }
}

#[derive(Clone, sqlx::FromRow)]
struct DeliveryRow {
    id: String,
    endpoint_id: String,
    integration_id: Option<String>,
    tenant_id: String,
    delivery_id: String,
    event: String,
    /// `None` only where intake left it out of an insert's answer (see
    /// [`Webhooks::insert_deliveries`]).
    payload: Option<String>,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    received_at: i64,
    processed_at: Option<i64>,
    body_sha256: Option<String>,
    conflicts: i64,
    last_conflict_at: Option<i64>,
}

impl TryFrom<DeliveryRow> for WebhookDelivery {
    type Error = StoreError;
    fn try_from(mut row: DeliveryRow) -> Result<Self> {
        let payload = row.payload.take().ok_or_else(|| {
            StoreError::Corrupt(format!(
                "webhook delivery {} came back without its payload",
                row.id
            ))
        })?;
        row.with_payload(serde_json::from_str(&payload)?)
    }
}

impl DeliveryRow {
    /// The delivery, with `payload` as its body (already parsed).
    fn with_payload(self, payload: Value) -> Result<WebhookDelivery> {
        Ok(WebhookDelivery {
            id: self.id,
            endpoint_id: self.endpoint_id,
            integration_id: self.integration_id,
            tenant_id: self.tenant_id,
            delivery_id: self.delivery_id,
            event: self.event,
            payload,
            status: DeliveryStatus::parse(&self.status)?,
            attempts: self.attempts,
            last_error: self.last_error,
            received_at: self.received_at,
            processed_at: self.processed_at,
            body_sha256: self.body_sha256,
            conflicts: self.conflicts,
            last_conflict_at: self.last_conflict_at,
        })
    }
}

const DELIVERY_COLUMNS: &str = "id, endpoint_id, integration_id, tenant_id, delivery_id, event, payload, status, \
                                attempts, last_error, received_at, processed_at, body_sha256, \
                                conflicts, last_conflict_at";

/// Repository for webhook endpoints and deliveries.
#[derive(Debug)]
pub struct Webhooks<'a> {
    scope: Scope<'a>,
    ring: &'a KeyRing,
}

impl Db {
    /// Webhook endpoints and deliveries; secrets sealed with `ring`.
    pub fn webhooks<'a>(&'a self, ring: &'a KeyRing) -> Webhooks<'a> {
        Webhooks {
            scope: Scope::Db(self),
            ring,
        }
    }
}

impl Tx {
    /// Webhook endpoints and deliveries inside this transaction.
    pub fn webhooks<'a>(&'a mut self, ring: &'a KeyRing) -> Webhooks<'a> {
        Webhooks {
            scope: Scope::Tx(self),
            ring,
        }
    }
}

impl Webhooks<'_> {
    /// Re-seals up to `limit` endpoint secrets that are not under the ring's primary key (one
    /// batch of a rotation, `crate::key_rotation`). A secret rotated meanwhile is left for the
    /// next batch.
    pub async fn reseal_batch(&mut self, limit: i64) -> Result<Resealed> {
        let primary = self.ring.primary_id();
        let mut conn = self.scope.write().await?;
        let sql = "SELECT id, tenant_id, integration_id, secret_ciphertext, secret_key_id \
                   FROM webhook_endpoints WHERE secret_key_id <> $1 ORDER BY id LIMIT $2";
        let rows: Vec<(String, String, String, Vec<u8>, String)> =
            conn.exec().fetch_all(sql, (&primary, limit)).await?;
        let mut resealed = Resealed {
            seen: rows.len() as u64,
            changed: 0,
        };
        for (id, tenant_id, integration_id, ciphertext, key_id) in rows {
            let binding = Binding::new(PURPOSE, &tenant_id, &integration_id, &id);
            let sealed = self.ring.reseal(&binding, &key_id, &ciphertext)?;
            let sql = "UPDATE webhook_endpoints SET secret_ciphertext = $1, secret_key_id = $2 \
                       WHERE id = $3 AND secret_key_id = $4 AND secret_ciphertext = $5";
            let params = (
                &sealed.ciphertext,
                &sealed.key_id,
                &id,
                &key_id,
                &ciphertext,
            );
            resealed.changed += conn.exec().execute(sql, params).await?;
        }
        Ok(resealed)
    }

    /// Creates an endpoint with a fresh random secret. Returns the endpoint and the secret, to
    /// show once. `AlreadyExists` if the integration already has an endpoint of that name.
    pub async fn create_endpoint(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        name: &str,
        allowed_events: &[String],
    ) -> Result<(WebhookEndpoint, SecretBytes)> {
        let id = format!("whe_{}", new_id().replace('-', ""));
        let secret = random_token("whsec_");
        let sealed = self.ring.seal(
            &Binding::new(PURPOSE, tenant_id, integration_id, &id),
            secret.expose(),
        )?;
        let now = now_ms();
        let events = serde_json::to_string(allowed_events)?;
        let sql = format!(
            "INSERT INTO webhook_endpoints (id, tenant_id, integration_id, name, \
                 secret_ciphertext, secret_key_id, allowed_events, enabled, created_at, updated_at) \
             SELECT $1, tenant_id, id, $4, $5, $6, $7, $8, $9, $9 FROM integrations \
             WHERE id = $3 AND tenant_id = $2 RETURNING {ENDPOINT_COLUMNS}"
        );
        let params = (
            &id,
            tenant_id,
            integration_id,
            name,
            &sealed.ciphertext,
            &sealed.key_id,
            &events,
            true,
            now,
        );
        let row: Result<Option<EndpointRow>> = self
            .scope
            .write_optional(sqlx::AssertSqlSafe(sql), params)
            .await;
        let row = inserted(row, "integration", "webhook endpoint")?;
        Ok((row.endpoint()?, secret))
    }

    /// Looks an endpoint up by its public id (webhook intake has no tenant yet) and opens its
    /// secret for signature verification.
    pub async fn endpoint_for_intake(
        &mut self,
        endpoint_id: &str,
    ) -> Result<Option<(WebhookEndpoint, SecretBytes)>> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
        let row: Option<EndpointRow> = self
            .scope
            .fetch_optional(sqlx::AssertSqlSafe(sql), (endpoint_id,))
            .await?;
        row.map(|row| self.opened(&row)).transpose()
    }

    /// [`Webhooks::endpoint_for_intake`] with the definition of the endpoint's integration, in
    /// one query: every request to an endpoint needs both before it can be verified. `None` when
    /// the endpoint or its integration is gone.
    pub async fn intake_target(
        &mut self,
        endpoint_id: &str,
    ) -> Result<Option<(WebhookEndpoint, SecretBytes, String)>> {
        let columns = ENDPOINT_COLUMNS
            .split(", ")
            .map(|column| format!("e.{}", column.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, i.definition_id FROM webhook_endpoints e \
             JOIN integrations i ON i.id = e.integration_id AND i.tenant_id = e.tenant_id \
             WHERE e.id = $1"
        );
        let row: Option<IntakeRow> = self
            .scope
            .fetch_optional(sqlx::AssertSqlSafe(sql), (endpoint_id,))
            .await?;
        let Some(row) = row else { return Ok(None) };
        let (endpoint, secret) = self.opened(&row.endpoint)?;
        Ok(Some((endpoint, secret, row.definition_id)))
    }

    /// [`Webhooks::intake_target`] through intake's cache ([`crate::intake_cache`]): read from the
    /// database at most once per [`INTAKE_CACHE_TTL`](crate::intake_cache::INTAKE_CACHE_TTL) per
    /// endpoint, unless `fresh` (then read now, and the cache refreshed). Inside a transaction
    /// the cache is not used.
    pub async fn cached_intake_target(
        &mut self,
        endpoint_id: &str,
        fresh: bool,
    ) -> Result<Option<IntakeLookup>> {
        let in_tx = matches!(self.scope, Scope::Tx(_));
        // A handle of its own: the lookup below borrows the scope.
        let db = self.scope.db().clone();
        let cache = db.intake_cache();
        if !fresh
            && !in_tx
            && let Some(target) = cache.get(endpoint_id)
        {
            return Ok(Some(IntakeLookup {
                target,
                cached: true,
            }));
        }
        let read_at = cache.generation();
        let fetched = std::time::Instant::now();
        let Some((endpoint, secret, definition_id)) = self.intake_target(endpoint_id).await? else {
            cache.forget(endpoint_id);
            return Ok(None);
        };
        let target = Arc::new(IntakeTarget {
            endpoint,
            secret,
            definition_id,
        });
        if !in_tx {
            cache.put(Arc::clone(&target), read_at, fetched);
        }
        Ok(Some(IntakeLookup {
            target,
            cached: false,
        }))
    }

    /// The endpoint of a row, with its secret opened.
    fn opened(&self, row: &EndpointRow) -> Result<(WebhookEndpoint, SecretBytes)> {
        let secret = self.ring.open(
            &Binding::new(PURPOSE, &row.tenant_id, &row.integration_id, &row.id),
            &row.secret_key_id,
            &row.secret_ciphertext,
        )?;
        Ok((row.endpoint()?, secret))
    }

    /// The integration's endpoints.
    pub async fn list_endpoints(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
    ) -> Result<Vec<WebhookEndpoint>> {
        let rows = self.endpoint_rows(tenant_id, integration_id).await?;
        rows.iter().map(EndpointRow::endpoint).collect()
    }

    /// The integration's endpoints with their secrets opened, for code that registers them with
    /// the provider (never shown to anyone).
    pub async fn list_endpoints_with_secrets(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
    ) -> Result<Vec<(WebhookEndpoint, SecretBytes)>> {
        let rows = self.endpoint_rows(tenant_id, integration_id).await?;
        rows.iter().map(|row| self.opened(row)).collect()
    }

    async fn endpoint_rows(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
    ) -> Result<Vec<EndpointRow>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
             WHERE tenant_id = $1 AND integration_id = $2 ORDER BY name"
        );
        let rows: Vec<EndpointRow> = self
            .scope
            .fetch_all(sqlx::AssertSqlSafe(sql), (tenant_id, integration_id))
            .await?;
        Ok(rows)
    }

    /// Enables or disables an endpoint.
    pub async fn set_enabled(
        &mut self,
        tenant_id: &str,
        endpoint_id: &str,
        enabled: bool,
    ) -> Result<()> {
        let now = now_ms();
        let sql = "UPDATE webhook_endpoints SET enabled = $1, updated_at = $2 WHERE id = $3 AND tenant_id = $4";
        let params = (enabled, now, endpoint_id, tenant_id);
        let n = self.scope.execute(sql, params).await?;
        crate::error::one_changed(n, "webhook endpoint")?;
        self.scope.endpoints_changed();
        Ok(())
    }

    /// Replaces an endpoint's secret with a fresh random one and returns it (to show once). The
    /// old secret stops verifying at once in this process, and within
    /// [`INTAKE_CACHE_TTL`](crate::intake_cache::INTAKE_CACHE_TTL) in others.
    pub async fn rotate_secret(
        &mut self,
        tenant_id: &str,
        endpoint_id: &str,
    ) -> Result<SecretBytes> {
        let sql = "SELECT integration_id FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2";
        let integration_id: Option<String> = self
            .scope
            .scalar_optional(sql, (endpoint_id, tenant_id))
            .await?;
        let integration_id = integration_id.ok_or(StoreError::NotFound("webhook endpoint"))?;
        let secret = random_token("whsec_");
        let sealed = self.ring.seal(
            &Binding::new(PURPOSE, tenant_id, &integration_id, endpoint_id),
            secret.expose(),
        )?;
        let now = now_ms();
        let sql = "UPDATE webhook_endpoints SET secret_ciphertext = $1, secret_key_id = $2, updated_at = $3 \
                   WHERE id = $4 AND tenant_id = $5";
        let params = (
            &sealed.ciphertext,
            &sealed.key_id,
            now,
            endpoint_id,
            tenant_id,
        );
        let n = self.scope.execute(sql, params).await?;
        crate::error::one_changed(n, "webhook endpoint")?;
        self.scope.endpoints_changed();
        Ok(secret)
    }

    /// Deletes an endpoint (and its deliveries).
    pub async fn delete_endpoint(&mut self, tenant_id: &str, endpoint_id: &str) -> Result<bool> {
        let sql = "DELETE FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2";
        let n = self.scope.execute(sql, (endpoint_id, tenant_id)).await?;
        self.scope.endpoints_changed();
        Ok(n > 0)
    }

    /// Records a delivery before acknowledging it. Returns the stored delivery and whether it
    /// should be processed: true for a new delivery or a retry of one that is not done yet; false
    /// for a duplicate of a done delivery. (No body digest: see [`Webhooks::record_delivery_of`].)
    pub async fn record_delivery(
        &mut self,
        tenant_id: &str,
        endpoint_id: &str,
        delivery_id: &str,
        event: &str,
        payload: &Value,
    ) -> Result<(WebhookDelivery, bool)> {
        match self
            .record_delivery_of(tenant_id, endpoint_id, delivery_id, event, payload, None)
            .await?
        {
            Recorded::Delivery { delivery, process } => Ok((delivery, process)),
            Recorded::Conflict(_) => unreachable!("no digest, no conflict"),
        }
    }

    /// Records a delivery whose body has the SHA-256 `body_sha256` (hex). A copy of a stored
    /// delivery (same id, same body) counts an attempt; the same id with a different body is a
    /// [`Recorded::Conflict`], counted on the stored delivery, which is left as it was.
    pub async fn record_delivery_of(
        &mut self,
        tenant_id: &str,
        endpoint_id: &str,
        delivery_id: &str,
        event: &str,
        payload: &Value,
        body_sha256: Option<&str>,
    ) -> Result<Recorded> {
        let write = DeliveryToRecord {
            tenant_id,
            endpoint_id,
            delivery_id,
            event,
            payload,
            body_sha256,
        };
        let mut recorded = self.record_deliveries(std::slice::from_ref(&write)).await?;
        Ok(recorded.remove(0))
    }

    /// Records several deliveries, as [`Webhooks::record_delivery_of`] does each, in as few
    /// statements as it can (one, unless the same delivery comes twice): group commit stores a
    /// burst of deliveries with one round trip instead of one per delivery. The answers are in the
    /// order of `writes`. An endpoint that is gone fails the whole call (`NotFound`).
    pub async fn record_deliveries(
        &mut self,
        writes: &[DeliveryToRecord<'_>],
    ) -> Result<Vec<Recorded>> {
        // A statement may not touch one row twice (PostgreSQL refuses it), so a delivery that
        // comes twice in `writes` is recorded again by a later statement: `round[i]` counts the
        // copies before write `i`.
        let mut round = vec![0usize; writes.len()];
        for i in 0..writes.len() {
            round[i] = writes[..i]
                .iter()
                .filter(|w| w.key() == writes[i].key())
                .count();
        }
        let mut recorded: Vec<Option<Recorded>> = vec![None; writes.len()];
        let rounds = round.iter().copied().max().map_or(0, |last| last + 1);
        for current in 0..rounds {
            let members: Vec<usize> = (0..writes.len()).filter(|&i| round[i] == current).collect();
            for chunk in members.chunks(RECORD_CHUNK) {
                let batch: Vec<&DeliveryToRecord<'_>> = chunk.iter().map(|&i| &writes[i]).collect();
                let ids: Vec<String> = batch.iter().map(|_| new_id()).collect();
                let rows = self.insert_deliveries(&batch, &ids).await?;
                for (&i, id) in chunk.iter().zip(&ids) {
                    let write = &writes[i];
                    let row = rows
                        .iter()
                        .find(|row| {
                            row.endpoint_id == write.endpoint_id
                                && row.delivery_id == write.delivery_id
                        })
                        .ok_or(StoreError::NotFound("webhook endpoint"))?;
                    let delivery = match &row.payload {
                        Some(_) => WebhookDelivery::try_from(row.clone())?,
                        // Inserted by this statement: its payload is the one just written.
                        None if &row.id == id => row.clone().with_payload(write.payload.clone())?,
                        // Stored earlier within the same millisecond: read it.
                        None => self
                            .get_delivery(&row.tenant_id, &row.id)
                            .await?
                            .ok_or(StoreError::NotFound("webhook delivery"))?,
                    };
                    recorded[i] = Some(Recorded::of(delivery, write.body_sha256));
                }
            }
        }
        Ok(recorded.into_iter().flatten().collect())
    }

    /// One multi-row insert of deliveries whose keys are distinct, with `ids` for the new ones;
    /// the stored rows come back. A row this statement inserted comes back without its payload
    /// (the caller has it): webhook bodies run to tens of kilobytes, and sending each back to be
    /// parsed again would cost intake more than the insert. So does a row stored earlier in the
    /// same millisecond, which the caller reads.
    async fn insert_deliveries(
        &mut self,
        batch: &[&DeliveryToRecord<'_>],
        ids: &[String],
    ) -> Result<Vec<DeliveryRow>> {
        let now = now_ms();
        let bodies = batch
            .iter()
            .map(|write| serde_json::to_string(write.payload))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let returning = DELIVERY_COLUMNS.replacen(
            "payload",
            "CASE WHEN received_at = $1 THEN NULL ELSE payload END AS payload",
            1,
        );
        let values: Vec<String> = (0..batch.len())
            .map(|i| {
                let p = 2 + i * 7;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    p,
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6
                )
            })
            .collect();
        // The same body, or one of the two unknown: a copy. Anything else: a conflict.
        let same = "(webhook_deliveries.body_sha256 IS NULL OR excluded.body_sha256 IS NULL \
                    OR webhook_deliveries.body_sha256 = excluded.body_sha256)";
        // VALUES columns are `column1`... on both backends. Only deliveries whose endpoint
        // still exists are stored (the join); `WHERE true` lets SQLite parse the upsert.
        let sql = format!(
            "INSERT INTO webhook_deliveries (id, endpoint_id, integration_id, tenant_id, \
                 delivery_id, event, payload, status, attempts, received_at, body_sha256) \
             SELECT v.column1, e.id, e.integration_id, e.tenant_id, v.column4, v.column5, \
                 v.column6, 'received', 1, $1, v.column7 \
             FROM (VALUES {}) AS v \
             JOIN webhook_endpoints e ON e.id = v.column2 AND e.tenant_id = v.column3 \
             WHERE true \
             ON CONFLICT (endpoint_id, delivery_id) DO UPDATE SET \
                 attempts = CASE WHEN {same} THEN webhook_deliveries.attempts + 1 \
                     ELSE webhook_deliveries.attempts END, \
                 conflicts = CASE WHEN {same} THEN webhook_deliveries.conflicts \
                     ELSE webhook_deliveries.conflicts + 1 END, \
                 last_conflict_at = CASE WHEN {same} THEN webhook_deliveries.last_conflict_at \
                     ELSE $1 END \
             RETURNING {returning}",
            values.join(", ")
        );
        let mut conn = self.scope.write().await?;
        let rows: Vec<DeliveryRow> = on_backend!(conn.exec(), |c| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(now);
            for ((write, id), body) in batch.iter().zip(ids).zip(&bodies) {
                query = query
                    .bind(id)
                    .bind(write.endpoint_id)
                    .bind(write.tenant_id)
                    .bind(write.delivery_id)
                    .bind(write.event)
                    .bind(body)
                    .bind(write.body_sha256);
            }
            query.fetch_all(&mut *c).await?
        });
        Ok(rows)
    }

    /// Marks a delivery done (handler succeeded) or failed (with the error).
    pub async fn finish_delivery(
        &mut self,
        tenant_id: &str,
        id: &str,
        error: Option<&str>,
    ) -> Result<()> {
        let status = if error.is_some() {
            DeliveryStatus::Failed
        } else {
            DeliveryStatus::Done
        };
        let processed_at = error.is_none().then(now_ms);
        let sql = "UPDATE webhook_deliveries SET status = $1, last_error = $2, processed_at = $3 \
                   WHERE id = $4 AND tenant_id = $5";
        let params = (status.as_str(), error, processed_at, id, tenant_id);
        let n = self.scope.execute(sql, params).await?;
        if n == 0 {
            Err(StoreError::NotFound("webhook delivery"))
        } else {
            Ok(())
        }
    }

    /// The tenant a delivery belongs to, for operator tools that are given only its id.
    pub async fn delivery_tenant(&mut self, id: &str) -> Result<Option<String>> {
        let sql = "SELECT tenant_id FROM webhook_deliveries WHERE id = $1";
        self.scope.scalar_optional(sql, (id,)).await
    }

    /// The tenant's delivery by row id.
    pub async fn get_delivery(
        &mut self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<WebhookDelivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1 AND tenant_id = $2"
        );
        let row: Option<DeliveryRow> = self
            .scope
            .fetch_optional(sqlx::AssertSqlSafe(sql), (id, tenant_id))
            .await?;
        row.map(WebhookDelivery::try_from).transpose()
    }

    /// Puts a failed delivery back to `received` so that it is processed again (a provider
    /// redelivery or an operator's replay). False if it was not failed: a delivery being processed
    /// or done is left alone, so two retries never process it twice.
    pub async fn retry_failed_delivery(&mut self, tenant_id: &str, id: &str) -> Result<bool> {
        self.requeue_delivery(tenant_id, id, false).await
    }

    /// Puts a failed delivery, or also a done one when `done_too` (an operator's forced replay),
    /// back to `received`. False if it was in neither state: a delivery being processed is left
    /// alone, so two replays never process it at once.
    pub async fn requeue_delivery(
        &mut self,
        tenant_id: &str,
        id: &str,
        done_too: bool,
    ) -> Result<bool> {
        let sql = "UPDATE webhook_deliveries SET status = 'received' \
                   WHERE id = $1 AND tenant_id = $2 \
                   AND (status = 'failed' OR ($3 AND status = 'done'))";
        let params = (id, tenant_id, done_too);
        let n = self.scope.execute(sql, params).await?;
        Ok(n > 0)
    }

    /// Records a handler error on a delivery that stays `received` (it will be retried).
    pub async fn note_delivery_error(
        &mut self,
        tenant_id: &str,
        id: &str,
        error: &str,
    ) -> Result<()> {
        let sql = "UPDATE webhook_deliveries SET last_error = $1 WHERE id = $2 AND tenant_id = $3";
        self.scope.execute(sql, (error, id, tenant_id)).await?;
        Ok(())
    }

    /// The endpoint's most recent deliveries.
    pub async fn list_deliveries(
        &mut self,
        tenant_id: &str,
        endpoint_id: &str,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>> {
        self.list_deliveries_page(tenant_id, endpoint_id, None, limit)
            .await
    }

    /// A page of the endpoint's deliveries, newest first: at most `limit` older than `before`
    /// (the previous page's last, see [`DeliveryCursor`]).
    pub async fn list_deliveries_page(
        &mut self,
        tenant_id: &str,
        endpoint_id: &str,
        before: Option<&DeliveryCursor>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>> {
        self.deliveries_page(tenant_id, Some(endpoint_id), None, before, limit)
            .await
    }

    /// A page of the tenant's deliveries, newest first, optionally of one integration: also those
    /// whose endpoint was removed with a disconnect (kept for the retention period).
    pub async fn list_tenant_deliveries(
        &mut self,
        tenant_id: &str,
        integration_id: Option<&str>,
        before: Option<&DeliveryCursor>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>> {
        self.deliveries_page(tenant_id, None, integration_id, before, limit)
            .await
    }

    /// The tenant's deliveries newest first, of an endpoint and/or an integration when given,
    /// older than `before`.
    async fn deliveries_page(
        &mut self,
        tenant_id: &str,
        endpoint_id: Option<&str>,
        integration_id: Option<&str>,
        before: Option<&DeliveryCursor>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>> {
        let (before_at, before_id) = match before {
            Some(cursor) => (Some(cursor.received_at), Some(cursor.id.as_str())),
            None => (None, None),
        };
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = $1 \
             AND ($2 IS NULL OR endpoint_id = $2) AND ($3 IS NULL OR integration_id = $3) \
             AND ($4 IS NULL OR received_at < $4 OR (received_at = $4 AND id < $5)) \
             ORDER BY received_at DESC, id DESC LIMIT $6"
        );
        let params = (
            tenant_id,
            endpoint_id,
            integration_id,
            before_at,
            before_id,
            limit,
        );
        let rows: Vec<DeliveryRow> = self
            .scope
            .fetch_all(sqlx::AssertSqlSafe(sql), params)
            .await?;
        rows.into_iter().map(WebhookDelivery::try_from).collect()
    }
}

/// Where a page of deliveries ends: the last delivery's receipt time and id, written
/// `<received_at>.<id>` (ids hold no `.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCursor {
    pub received_at: i64,
    pub id: String,
}

impl DeliveryCursor {
    /// The cursor after `delivery`.
    pub fn after(delivery: &WebhookDelivery) -> Self {
        Self {
            received_at: delivery.received_at,
            id: delivery.id.clone(),
        }
    }

    /// Reads a cursor this type wrote; None for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (received_at, id) = text.split_once('.')?;
        Some(Self {
            received_at: received_at.parse().ok()?,
            id: id.to_owned(),
        })
    }
}

impl std::fmt::Display for DeliveryCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.received_at, self.id)
    }
}

/// Where the key id of each sealed value is kept (for key rotation's counts).
pub(crate) const SEALED: crate::sealed_rows::SealedColumn = crate::sealed_rows::SealedColumn {
    table: "webhook_endpoints",
    key_column: "secret_key_id",
};
