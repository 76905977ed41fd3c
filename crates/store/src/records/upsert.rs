//! Batched upserts: one transaction per batch, `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`
//! on the lookup key, membership references resolved inside the same transaction.

use std::collections::{HashMap, HashSet};

use sqlx::{AssertSqlSafe, Row};
use tributary_model::{DirectoryAccount, DirectoryGroup, IngestModel};

use super::{
    FailureWrite, MembershipRefs, RecordScope, RecordWrite, RecordsError, RunRef, WriteResult,
    failures::insert_failures,
};
use crate::db::{Backend, Db, Exec, new_id, now_ms, on_backend};
use crate::placeholders::Placeholders;

/// Rows per `INSERT` statement: with at most 18 binds a row this stays well under both
/// backends' bind limits (SQLite 32766, PostgreSQL 65535).
const ROWS_PER_STATEMENT: usize = 500;
/// Keys per `IN (...)` list when resolving membership references.
const KEYS_PER_LOOKUP: usize = 500;
/// Binds shared by every row of a statement (tenant, integration, now, run, write token):
/// `$1..$5` on PostgreSQL, bound again in each row on SQLite (see [`Placeholders`]).
const SHARED_BINDS: usize = 5;

/// Writes a batch in its own transaction; see [`write_batch_in`].
pub async fn write_batch(
    db: &Db,
    scope: &RecordScope,
    run: &RunRef,
    writes: &[RecordWrite],
    failures: &[FailureWrite],
) -> Result<Vec<WriteResult>, RecordsError> {
    let mut tx = db.begin().await?;
    let results = write_batch_in(tx.exec(), scope, run, writes, failures).await?;
    tx.commit().await?;
    Ok(results)
}

/// Upserts `writes` and stores `failures` (plus the memberships whose account or group does not
/// resolve, as failures too). Memberships are written after the other records of the batch, so
/// they may name accounts and groups of the same batch on `exec`, which should be a transaction so that the batch is written
/// whole or not at all. Returns one result per write, in order.
pub async fn write_batch_in(
    exec: Exec<'_>,
    scope: &RecordScope,
    run: &RunRef,
    writes: &[RecordWrite],
    failures: &[FailureWrite],
) -> Result<Vec<WriteResult>, RecordsError> {
    let now = now_ms();
    let backend = exec.backend();
    on_backend!(exec, |c| {
        let mut results: Vec<Option<WriteResult>> = vec![None; writes.len()];
        let mut all_failures = failures.to_vec();
        // Plain records first, so that memberships can name accounts and groups of this batch.
        let plain: Vec<Accepted> = (0..writes.len())
            .filter(|&index| writes[index].membership.is_none())
            .map(|index| Accepted {
                index,
                account: None,
                group: None,
            })
            .collect();
        let mut accepted = plain;
        let mut memberships_pending = writes.iter().any(|w| w.membership.is_some());
        loop {
            for chunk in statement_chunks(writes, std::mem::take(&mut accepted)) {
                let token = new_id();
                let ids: Vec<String> = chunk.iter().map(|_| new_id()).collect();
                let (sql, rebind_shared) = upsert_sql(chunk.len(), backend);
                let mut query = sqlx::query(AssertSqlSafe(sql));
                if !rebind_shared {
                    query = query
                        .bind(&scope.tenant_id)
                        .bind(&scope.integration_id)
                        .bind(now)
                        .bind(run.run_id.as_deref())
                        .bind(&token);
                }
                // In the order of `upsert_sql`'s row, the shared values included where they are
                // bound again.
                for (entry, id) in chunk.iter().zip(&ids) {
                    let write = &writes[entry.index];
                    query = query.bind(id);
                    if rebind_shared {
                        query = query.bind(&scope.tenant_id).bind(&scope.integration_id);
                    }
                    query = query
                        .bind(&write.model)
                        .bind(&write.lookup_key)
                        .bind(&write.variant)
                        .bind(&write.fields_json)
                        .bind(&write.raw_json)
                        .bind(&write.content_hash)
                        .bind(entry.account.as_deref())
                        .bind(entry.group.as_deref());
                    if rebind_shared {
                        query = query.bind(now).bind(now).bind(now);
                        for _ in 0..3 {
                            query = query.bind(run.run_id.as_deref());
                        }
                        query = query.bind(&token);
                    }
                }
                let rows = query.fetch_all(&mut *c).await?;

                let mut by_key: HashMap<(&str, &str), (usize, &str)> =
                    HashMap::with_capacity(chunk.len());
                for (entry, id) in chunk.iter().zip(&ids) {
                    let write = &writes[entry.index];
                    by_key.insert(
                        (write.model.as_str(), write.lookup_key.as_str()),
                        (entry.index, id.as_str()),
                    );
                }
                for row in rows {
                    let model: String = row.try_get("model")?;
                    let lookup_key: String = row.try_get("lookup_key")?;
                    let id: String = row.try_get("id")?;
                    let written_by: String = row.try_get("write_token")?;
                    let Some((index, inserted_id)) =
                        by_key.get(&(model.as_str(), lookup_key.as_str()))
                    else {
                        return Err(RecordsError::Invalid(format!(
                            "the upsert returned an unexpected row for {model}"
                        )));
                    };
                    results[*index] = Some(if id == *inserted_id {
                        WriteResult::Created
                    } else if written_by == token {
                        WriteResult::Updated
                    } else {
                        WriteResult::Unchanged
                    });
                }
            }
            if !memberships_pending {
                break;
            }
            memberships_pending = false;

            let mut references = References::default();
            let memberships = writes.iter().filter_map(|w| w.membership.as_ref());
            let accounts: HashSet<&str> = memberships
                .clone()
                .map(|m| m.account_external_id.as_str())
                .collect();
            let groups: HashSet<&str> = memberships.map(|m| m.group_external_id.as_str()).collect();
            for (model, keys, into) in [
                (
                    DirectoryAccount::METADATA.schema,
                    accounts,
                    &mut references.accounts,
                ),
                (
                    DirectoryGroup::METADATA.schema,
                    groups,
                    &mut references.groups,
                ),
            ] {
                let keys: Vec<&str> = keys.into_iter().collect();
                for chunk in keys.chunks(KEYS_PER_LOOKUP) {
                    let mut sql = String::from("SELECT id, lookup_key FROM ingest_records WHERE ");
                    let mut placeholders = Placeholders::new(backend, 0);
                    for column in ["tenant_id", "integration_id", "model"] {
                        sql.push_str(column);
                        sql.push_str(" = ");
                        placeholders.push(&mut sql);
                        sql.push_str(" AND ");
                    }
                    sql.push_str("lookup_key IN (");
                    placeholders.push_list(&mut sql, chunk.len());
                    sql.push(')');
                    let mut query = sqlx::query(AssertSqlSafe(sql))
                        .bind(&scope.tenant_id)
                        .bind(&scope.integration_id)
                        .bind(model);
                    for key in chunk {
                        query = query.bind(*key);
                    }
                    for row in query.fetch_all(&mut *c).await? {
                        into.insert(
                            row.try_get::<String, _>("lookup_key")?,
                            row.try_get::<String, _>("id")?,
                        );
                    }
                }
            }
            for (index, write) in writes.iter().enumerate() {
                let Some(refs) = &write.membership else {
                    continue;
                };
                let account = references.accounts.get(&refs.account_external_id);
                let group = references.groups.get(&refs.group_external_id);
                if let (Some(account), Some(group)) = (account, group) {
                    accepted.push(Accepted {
                        index,
                        account: Some(account.clone()),
                        group: Some(group.clone()),
                    });
                    continue;
                }
                let failure = unresolved(write, refs, account.is_none());
                results[index] = Some(WriteResult::Rejected {
                    reason: failure.reason.clone(),
                });
                all_failures.push(failure);
            }
        }

        insert_failures!(c, scope, run, &all_failures, now);

        results
            .into_iter()
            .map(|r| r.ok_or_else(|| RecordsError::Invalid("the upsert skipped a row".into())))
            .collect()
    })
}

/// A write that passed reference resolution, with its resolved references.
#[derive(Clone)]
struct Accepted {
    index: usize,
    account: Option<String>,
    group: Option<String>,
}

#[derive(Default)]
struct References {
    accounts: HashMap<String, String>,
    groups: HashMap<String, String>,
}

/// The statement for `rows` rows, and whether the shared values are bound again in each row
/// (SQLite) rather than once, first (PostgreSQL). A row's values, in column order: id, tenant,
/// integration, model, lookup key, variant, fields, raw payload, content hash, account, group,
/// then now three times, the run three times and the write token.
fn upsert_sql(rows: usize, backend: Backend) -> (String, bool) {
    const TENANT: usize = 1;
    const INTEGRATION: usize = 2;
    const NOW: usize = 3;
    const RUN: usize = 4;
    const WRITE_TOKEN: usize = 5;
    let mut sql = String::with_capacity(UPSERT_TAIL.len() + 300 + rows * 100);
    sql.push_str(
        "INSERT INTO ingest_records (id, tenant_id, integration_id, model, lookup_key, variant, \
         fields, raw_payload, content_hash, account_record_id, group_record_id, first_seen_at, \
         last_seen_at, changed_at, created_run_id, changed_run_id, last_run_id, write_token) VALUES ",
    );
    let mut placeholders = Placeholders::new(backend, SHARED_BINDS);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        placeholders.push(&mut sql);
        for shared in [TENANT, INTEGRATION] {
            sql.push_str(", ");
            placeholders.push_shared(&mut sql, shared);
        }
        sql.push_str(", ");
        placeholders.push_list(&mut sql, 8);
        for shared in [NOW, NOW, NOW, RUN, RUN, RUN, WRITE_TOKEN] {
            sql.push_str(", ");
            placeholders.push_shared(&mut sql, shared);
        }
        sql.push(')');
    }
    sql.push_str(UPSERT_TAIL);
    (sql, placeholders.rebinds_shared_values())
}

/// Content columns change only when the hash differs or the record was tombstoned (a restore);
/// the last-seen time and run always move, and the tombstone and disconnection marks clear. The
/// `RETURNING` write token tells the writer whether its statement changed the row.
const UPSERT_TAIL: &str = " ON CONFLICT (tenant_id, integration_id, model, lookup_key) DO UPDATE SET \
    variant = CASE WHEN ingest_records.content_hash = excluded.content_hash AND ingest_records.deleted_at IS NULL THEN ingest_records.variant ELSE excluded.variant END, \
    fields = CASE WHEN ingest_records.content_hash = excluded.content_hash AND ingest_records.deleted_at IS NULL THEN ingest_records.fields ELSE excluded.fields END, \
    raw_payload = CASE WHEN ingest_records.content_hash = excluded.content_hash AND ingest_records.deleted_at IS NULL THEN ingest_records.raw_payload ELSE excluded.raw_payload END, \
    changed_at = CASE WHEN ingest_records.content_hash = excluded.content_hash AND ingest_records.deleted_at IS NULL THEN ingest_records.changed_at ELSE excluded.changed_at END, \
    changed_run_id = CASE WHEN ingest_records.content_hash = excluded.content_hash AND ingest_records.deleted_at IS NULL THEN ingest_records.changed_run_id ELSE excluded.changed_run_id END, \
    write_token = CASE WHEN ingest_records.content_hash = excluded.content_hash AND ingest_records.deleted_at IS NULL THEN ingest_records.write_token ELSE excluded.write_token END, \
    account_record_id = excluded.account_record_id, \
    group_record_id = excluded.group_record_id, \
    content_hash = excluded.content_hash, \
    last_seen_at = excluded.last_seen_at, \
    last_run_id = excluded.last_run_id, \
    deleted_at = NULL, \
    deleted_reason = NULL, \
    disconnected_at = NULL \
    RETURNING id, model, lookup_key, write_token";

/// Splits the accepted writes into statements of at most [`ROWS_PER_STATEMENT`] rows in which no
/// (model, lookup key) repeats: PostgreSQL refuses to update one row twice in a statement, and a
/// later duplicate must see the earlier one's write.
fn statement_chunks(writes: &[RecordWrite], accepted: Vec<Accepted>) -> Vec<Vec<Accepted>> {
    let mut chunks = Vec::new();
    let mut current: Vec<Accepted> = Vec::new();
    let mut keys: HashSet<(&str, &str)> = HashSet::new();
    for entry in accepted {
        let write = &writes[entry.index];
        let key = (write.model.as_str(), write.lookup_key.as_str());
        if current.len() == ROWS_PER_STATEMENT || keys.contains(&key) {
            chunks.push(std::mem::take(&mut current));
            keys.clear();
        }
        keys.insert(key);
        current.push(entry);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// The failure row of a membership whose account or group this integration has not ingested.
fn unresolved(write: &RecordWrite, refs: &MembershipRefs, account_missing: bool) -> FailureWrite {
    let (key, reason) = if account_missing {
        (
            "accountExternalID",
            format!(
                "membership names account `{}`, which this integration has not ingested",
                refs.account_external_id
            ),
        )
    } else {
        (
            "groupExternalID",
            format!(
                "membership names group `{}`, which this integration has not ingested",
                refs.group_external_id
            ),
        )
    };
    FailureWrite {
        schema: write.model.clone(),
        variant: write.variant.clone(),
        mapping: if write.variant.is_empty() {
            write.model.clone()
        } else {
            format!("{}/{}", write.model, write.variant)
        },
        payload_index: write.payload_index,
        code: "unresolved_reference".into(),
        failed_key: Some(key.into()),
        reason,
        raw_json: write.raw_json.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_gets_one_placeholder_per_bound_value() {
        let (sqlite, rebinds) = upsert_sql(2, Backend::Sqlite);
        assert!(rebinds);
        assert_eq!(sqlite.matches('?').count(), 2 * 18);
        assert!(!sqlite.contains('$'));

        let (postgres, rebinds) = upsert_sql(2, Backend::Postgres);
        assert!(!rebinds);
        assert!(!postgres.contains('?'));
        assert!(postgres.contains(
            "($6, $1, $2, $7, $8, $9, $10, $11, $12, $13, $14, $3, $3, $3, $4, $4, $4, $5), \
             ($15, $1, $2, $16,"
        ));
        assert!(postgres.contains("$23, $3, $3, $3, $4, $4, $4, $5) ON CONFLICT"));
    }
}
