//! `tributary storage purge [--dry-run]`: deletes now what the retention settings (`[retention]`
//! in the configuration file, else the defaults) no longer keep, the same sweep a worker runs
//! every few minutes; `--dry-run` only counts. A purge (not a dry run) is recorded in the audit
//! trail (`storage.purge`, on no tenant) with the rows it deleted per table, after it: the event
//! is never one the purge deletes.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;
use tributary_store::{
    now_ms,
    retention::{DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE},
};

use super::storage::{StorageArgs, retention_policy};
use crate::{
    audit::{AuditBuilder, CommandAudit, actions},
    output,
};

#[derive(Subcommand)]
pub enum Command {
    /// Deletes the finished jobs, runs with their logs, handled webhook deliveries, ingest runs
    /// and failures, ended sessions and audit events that are older than the retention settings
    /// keep, in batches. Safe while Tributary runs.
    ///
    /// With `--json` it prints `{"dryRun", "rows": {table: rows}, "total"}`.
    Purge(PurgeArgs),
}

#[derive(Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Only count, per table, the rows a purge would delete.
    #[arg(long)]
    dry_run: bool,
    /// Rows deleted per statement (each statement commits on its own).
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BATCH_SIZE)))]
    batch_size: u32,
}

pub async fn run(command: Command, json: bool) -> anyhow::Result<ExitCode> {
    let Command::Purge(args) = command;
    let policy = retention_policy(&args.storage.file()?.retention);
    let db = args.storage.open_db().await?;
    let now = now_ms();
    let report = if args.dry_run {
        db.retention().count(&policy, now).await?
    } else {
        let swept = db
            .retention()
            .sweep(&policy, now, args.batch_size)
            .await
            .map_err(anyhow::Error::from);
        CommandAudit::new(actions::STORAGE_PURGE, "storage")
            .on_success(&swept, |audit, report| {
                audit
                    .meta("rows", serde_json::to_value(report).unwrap_or_default())
                    .meta("total", report.total())
            })
            .record(&db, &swept)
            .await;
        swept?
    };
    db.close().await;
    if json {
        output::json(&json!({
            "dryRun": args.dry_run,
            "rows": report,
            "total": report.total(),
        }))?;
    } else {
        let rows: Vec<Vec<String>> = report
            .iter()
            .map(|(table, rows)| vec![table.to_owned(), rows.to_string()])
            .collect();
        let header = if args.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        output::table(&["table", header], &rows);
        println!(
            "{} row(s) {}",
            report.total(),
            if args.dry_run {
                "would be deleted (dry run: nothing was)"
            } else {
                "deleted"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::config::FileConfig;
    use super::*;

    #[test]
    fn the_retention_section_overrides_the_defaults_and_refuses_unknown_keys() {
        let file: FileConfig = toml::from_str(
            "[retention]\njobs_days = 7\nruns_days = 0\nsessions_days = 2\naudit_events_days = 90\n\
             sweep_interval_secs = 60",
        )
        .unwrap();
        let policy = retention_policy(&file.retention);
        let day = Duration::from_secs(24 * 60 * 60);
        assert_eq!(policy.jobs, 7 * day);
        assert!(policy.runs.is_zero(), "0 keeps runs forever");
        assert_eq!(policy.sessions, 2 * day);
        assert_eq!(policy.audit_events, 90 * day);
        assert_eq!(policy.deliveries, 30 * day, "unset keys keep the default");
        assert_eq!(file.retention.sweep_interval_secs, Some(60));
        let error = toml::from_str::<FileConfig>("[retention]\njob_days = 1").unwrap_err();
        assert!(error.to_string().contains("job_days"), "{error}");
        let error = toml::from_str::<FileConfig>("[retention]\naudit_days = 1").unwrap_err();
        assert!(error.to_string().contains("audit_days"), "{error}");
    }
}
