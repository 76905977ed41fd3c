//! What `tributary demo` needs to connect a definition to its fake: the operator config that
//! points the definition at the fake, and what a tenant would enter in the connect form. Each fake
//! provider describes itself with a [`DemoConnection`] (`FakeOkta::demo_connection`, ...), so the
//! demo connects every fake through the public API the same way. [`start_all`] starts them.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{
    aws_security_hub::{AwsData, FakeAwsSecurityHub},
    azure_entra_id::{EntraDirectory, FakeEntra},
    azure_security_center::{DefenderData, FakeAzureSecurityCenter},
    cloudflare::{CloudflareAccount, FakeCloudflare},
    gcp_scc::{FakeGcpScc, SccData},
    github_app::{FakeGithub, GithubOrg},
    google_workspace::{FakeGoogleWorkspace, GoogleDirectory},
    microsoft_teams::{FakeMicrosoftTeams, TeamsTenant},
    okta::{FakeOkta, OktaOrg},
    slack::{FakeSlack, SlackWorkspace},
};

#[derive(Debug, Clone)]
pub struct DemoConnection {
    /// The definition id (`okta`).
    pub definition: &'static str,
    /// The definition's operator config section (`[definitions.<id>]`) pointing it at the fake,
    /// including any OAuth client registered with the fake's authorization server.
    pub operator_config: Value,
    /// The connection mode to connect with (a credential slot name).
    pub connection: String,
    /// The connect form's user input.
    pub user_input: Value,
    /// Credentials per slot for a form connection; empty when the connection goes through an
    /// authorization redirect (OAuth, app install), which the demo follows like a browser.
    pub credentials: BTreeMap<String, Value>,
}

/// Every fake `tributary demo` connects, each with its sample data, kept running while this
/// lives (dropping it stops them all).
pub struct DemoFakes {
    pub okta: FakeOkta,
    pub google: FakeGoogleWorkspace,
    pub slack: FakeSlack,
    pub cloudflare: FakeCloudflare,
    pub teams: FakeMicrosoftTeams,
    pub entra: FakeEntra,
    pub github: FakeGithub,
    pub defender: FakeAzureSecurityCenter,
    pub gcp: FakeGcpScc,
    pub aws: FakeAwsSecurityHub,
}

/// Starts every fake the demo needs, with sample data large enough to page through.
pub async fn start_all() -> std::io::Result<DemoFakes> {
    Ok(DemoFakes {
        okta: FakeOkta::start(OktaOrg::sample(250, 12), "00demo-okta-api-token").await?,
        google: FakeGoogleWorkspace::start(GoogleDirectory::sample(150, 8)).await?,
        slack: FakeSlack::start(SlackWorkspace::sample(80)).await?,
        cloudflare: FakeCloudflare::start(CloudflareAccount::sample(120)).await?,
        teams: FakeMicrosoftTeams::start(TeamsTenant::sample()).await?,
        entra: FakeEntra::start(EntraDirectory::sample(96)).await?,
        github: FakeGithub::start(GithubOrg::sample(1, 30)).await?,
        defender: FakeAzureSecurityCenter::start(DefenderData::sample(60, 30)).await?,
        gcp: FakeGcpScc::start(SccData::sample(80)).await?,
        aws: FakeAwsSecurityHub::start(AwsData::sample(90)).await?,
    })
}

impl DemoFakes {
    /// How the demo connects each fake, in the order it connects them. Some fakes register the
    /// credential they describe (a Cloudflare token), so ask once.
    pub fn connections(&self) -> Vec<DemoConnection> {
        vec![
            self.okta.demo_connection(),
            self.google.demo_connection(),
            self.slack.demo_connection(),
            self.cloudflare.demo_connection(),
            self.entra.demo_connection(),
            self.teams.demo_connection(),
            self.github.demo_connection(),
            self.defender.demo_connection(),
            self.gcp.demo_connection(),
            self.aws.demo_connection(),
        ]
    }
}
