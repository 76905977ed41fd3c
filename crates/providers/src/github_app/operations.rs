//! GitHub App operations: the health check, the repository, alert and member syncs.
//!
//! Repositories and alerts come from REST (installation repositories are not reachable through
//! GraphQL's `viewer` with an installation token, and each alert kind has its own REST list);
//! members come from GraphQL, which gives the member's role, name and public email in one
//! cursor-paged query. Every listing emits a page as it arrives and saves its cursor after it,
//! so a throttled run resumes where it stopped.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    IngestPayloadSet, LogLevel, MappingEnvelope, OperationContext, OperationError, StableName,
};
use tributary_model::{Asset, IngestModel, Vulnerability};
use tributary_providerkit::{
    Checkpoint, Pagination, Paginator, ProviderRequest, ResumableRun, accounts,
    classify::is_throttling_403, retry_after,
};

use crate::registration::settingless_configs;

use super::GithubApi;

/// Repositories and alerts per REST page (GitHub's maximum).
const PER_PAGE: &str = "100";
/// Members per GraphQL page (GitHub's maximum is 100).
const MEMBERS_PER_PAGE: u32 = 100;
/// The checkpoint phases of the repository sync and the members sync.
const REPOSITORIES_PHASE: &str = "repositories";
const MEMBERS_PHASE: &str = "members";

settingless_configs! {
    /// Mints an installation token (at connect) and reads the installation's repositories.
    HealthCheck;

    /// Lists the repositories the installation can see.
    RepositorySync;

    /// Lists the members of the organisation the app is installed on.
    DirectorySync;
}

/// Collects the Dependabot, code scanning and secret scanning alerts of each repository.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VulnerabilityCollect {
    /// Scan at most this many repositories (in the order GitHub lists them).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_repos: Option<u32>,
}

fn rest(api: &GithubApi, path: &str) -> ProviderRequest {
    api.rest
        .get(path)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
}

fn repositories_request(api: &GithubApi) -> ProviderRequest {
    rest(api, "/installation/repositories").query("per_page", PER_PAGE)
}

const REPOSITORIES: Pagination = Pagination::LinkHeader {
    items: "/repositories",
};

pub async fn health_check(
    _ctx: OperationContext,
    api: &GithubApi,
) -> Result<Value, OperationError> {
    let response = rest(api, "/installation/repositories")
        .query("per_page", "1")
        .send()
        .await?;
    let body: Value = response.json()?;
    Ok(json!({
        "installationId": api.installation_id.to_string(),
        "repositories": body["total_count"],
        "rateLimitRemaining": response
            .header("x-ratelimit-remaining")
            .and_then(|v| v.parse::<u64>().ok()),
    }))
}

/// Emits each page of repositories as assets (variant `repository`).
pub async fn repository_sync(ctx: OperationContext, api: &GithubApi) -> Result<(), OperationError> {
    let mut run = ResumableRun::load(&ctx);
    let Some(mut repositories) = run.phase(REPOSITORIES_PHASE, REPOSITORIES) else {
        return Ok(());
    };
    while let Some(page) = repositories.next_page(repositories_request(api)).await? {
        let envelopes = page
            .items
            .into_iter()
            .map(|repo| {
                let name = repo["full_name"].as_str().unwrap_or_default().to_owned();
                MappingEnvelope::new(repo)
                    .variant("repository")
                    .resource(name)
            })
            .collect();
        run.page_done(
            REPOSITORIES_PHASE,
            &repositories,
            [IngestPayloadSet::new(Asset::METADATA.schema, envelopes)],
        )
        .await?;
    }
    Ok(())
}

/// The alert kinds: (variant, REST path under `/repos/{owner}/{repo}`).
pub(super) const ALERT_KINDS: [(&str, &str); 3] = [
    ("dependabot", "dependabot/alerts"),
    ("code_scanning", "code-scanning/alerts"),
    ("secret_scanning", "secret-scanning/alerts"),
];

/// For each repository (up to `maxRepos`) and alert kind, emits each page of alerts
/// (Vulnerability, one variant per kind). A kind that is not enabled on a repository (GitHub
/// answers 404, or 403 "disabled" / no permission) is noted in the run log and skipped.
pub async fn vulnerability_collect(
    ctx: OperationContext,
    config: VulnerabilityCollect,
    api: &GithubApi,
) -> Result<(), OperationError> {
    let mut checkpoint = Checkpoint::load(&ctx);
    let mut repositories: Vec<String> = Paginator::new(repositories_request(api), REPOSITORIES)
        .collect_all()
        .await?
        .into_iter()
        .filter_map(|repo| repo["full_name"].as_str().map(str::to_owned))
        .collect();
    if let Some(max) = config.max_repos
        && repositories.len() > max as usize
    {
        repositories.truncate(max as usize);
        ctx.mark_incomplete(&format!(
            "only the first {max} repositories are read (maxRepos)"
        ));
    }
    for repository in &repositories {
        for (variant, path) in ALERT_KINDS {
            let phase = format!("{variant}:{repository}");
            if checkpoint.is_done(&phase) {
                continue;
            }
            let mut template =
                rest(api, &format!("/repos/{repository}/{path}")).query("per_page", PER_PAGE);
            if variant == "secret_scanning" {
                template = template.query("hide_secret", "true");
            }
            let mut cursor = checkpoint.cursor(&phase);
            if cursor.is_none() {
                // The first page tells whether the feature is on for this repository.
                let response = template
                    .clone()
                    .accept_status(403)
                    .accept_status(404)
                    .send()
                    .await?;
                let status = response.status().as_u16();
                if status == 403 || status == 404 {
                    let body: Value = response.json().unwrap_or(Value::Null);
                    if status == 403 && is_throttling_403(response.headers(), &body) {
                        return Err(OperationError::rate_limited(
                            format!("{} returned 403: secondary rate limit", response.label()),
                            retry_after(response.headers(), std::time::SystemTime::now()),
                        ));
                    }
                    let why = format!(
                        "{variant} alerts of {repository} are not available ({status}): {}",
                        tributary_providerkit::classify::excerpt(
                            body["message"].as_str().unwrap_or_default(),
                            &[]
                        )
                    );
                    // A feature switched off (404, or GitHub's 403 "... are disabled" / "must
                    // be enabled") means the repository has no such alerts. Any other 403 is a
                    // permission the app lacks: alerts may exist, so none may be tombstoned.
                    let message = body["message"].as_str().unwrap_or_default().to_lowercase();
                    let feature_off = status == 404
                        || message.contains("disabled")
                        || message.contains("must be enabled");
                    if !feature_off {
                        ctx.mark_incomplete(&why);
                    } else {
                        ctx.log(LogLevel::Info, &why);
                    }
                    checkpoint.set(&phase, None).save(&ctx).await?;
                    continue;
                }
                let alerts: Vec<Value> = response.json()?;
                let next = response.next_link().map(|url| url.to_string());
                emit_alerts(&ctx, variant, repository, alerts).await?;
                checkpoint.set(&phase, next.as_deref()).save(&ctx).await?;
                match next {
                    Some(next) => cursor = Some(next),
                    None => continue,
                }
            }
            let mut pages = Paginator::resume(template, Pagination::link_header(), cursor);
            while let Some(page) = pages.next_page().await? {
                emit_alerts(&ctx, variant, repository, page.items).await?;
                checkpoint
                    .set(&phase, page.next_cursor.as_deref())
                    .save(&ctx)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn emit_alerts(
    ctx: &OperationContext,
    variant: &str,
    repository: &str,
    alerts: Vec<Value>,
) -> Result<(), OperationError> {
    if alerts.is_empty() {
        return Ok(());
    }
    let envelopes = alerts
        .into_iter()
        .map(|alert| {
            let alert = if variant == "secret_scanning" {
                super::webhooks::without_secret(alert)
            } else {
                alert
            };
            MappingEnvelope::new(alert)
                .variant(variant)
                .resource(repository)
        })
        .collect();
    ctx.emit(IngestPayloadSet::new(
        Vulnerability::METADATA.schema,
        envelopes,
    ))
    .await
}

const MEMBERS_QUERY: &str = "query($login: String!, $first: Int!, $after: String) {
  organization(login: $login) {
    membersWithRole(first: $first, after: $after) {
      totalCount
      edges { role }
      nodes { databaseId login name email avatarUrl url createdAt updatedAt }
      pageInfo { hasNextPage endCursor }
    }
  }
}";

/// Emits each page of members (DirectoryAccount) with their role (`ADMIN` or `MEMBER`).
/// An installation on a personal account has no members to sync.
pub async fn directory_sync(ctx: OperationContext, api: &GithubApi) -> Result<(), OperationError> {
    let attributes = &ctx.integration.metadata["attributes"];
    let login = attributes["accountLogin"]
        .as_str()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            OperationError::config(
                "the installation's account is not known yet; run the health check or connect \
                 again",
            )
        })?
        .to_owned();
    if attributes["accountType"].as_str() != Some("Organization") {
        ctx.log(
            LogLevel::Info,
            &format!("{login} is a personal account: it has no organisation members"),
        );
        return Ok(());
    }
    let mut run = ResumableRun::load(&ctx);
    let members_pages = Pagination::graphql("/data/organization/membersWithRole");
    let Some(mut members) = run.phase(MEMBERS_PHASE, members_pages) else {
        return Ok(());
    };
    let request = api.rest.post(&api.graphql).json(&json!({
        "query": MEMBERS_QUERY,
        "variables": {"login": login, "first": MEMBERS_PER_PAGE},
    }));
    while let Some(page) = members.next_page(request.clone()).await? {
        let edges = page
            .body
            .pointer("/data/organization/membersWithRole/edges")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let envelopes = page
            .items
            .into_iter()
            .enumerate()
            .map(|(i, mut member)| {
                member["role"] = edges
                    .get(i)
                    .and_then(|edge| edge.get("role"))
                    .cloned()
                    .unwrap_or(Value::Null);
                member["organization"] = json!(login);
                let resource = format!("{login}/{}", member["login"].as_str().unwrap_or_default());
                MappingEnvelope::new(member).resource(resource)
            })
            .collect();
        run.page_done(MEMBERS_PHASE, &members, [accounts(envelopes)])
            .await?;
    }
    Ok(())
}
