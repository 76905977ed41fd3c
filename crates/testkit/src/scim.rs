//! A fake identity provider for the SCIM server: it pushes users and groups to a SCIM base URL
//! with a bearer secret, with the request sequences and quirks of Okta and Microsoft Entra ID as
//! their provisioning documentation describes them (probe by `userName eq` before creating,
//! `PATCH` to deactivate, group membership by `PATCH members`; Entra's capitalised ops, booleans
//! as strings, `emails[type eq "work"].value` paths, the manager as a bare id).

use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A pushing identity provider.
pub struct FakeIdentityProvider {
    base: String,
    secret: String,
    http: reqwest::Client,
}

/// What a push did, for assertions.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Pushed {
    /// SCIM ids of the users created, in order.
    pub users: Vec<String>,
    /// SCIM ids of the groups created.
    pub groups: Vec<String>,
}

/// A failed SCIM call (status and body).
#[derive(Debug)]
pub struct PushError(pub String);

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PushError {}

impl FakeIdentityProvider {
    /// `base` is the SCIM base URL (`.../scim/v2/<endpoint>`), `secret` its bearer secret.
    pub fn new(base: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            secret: secret.into(),
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        expect: u16,
    ) -> Result<Value, PushError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.secret)
            .header("accept", "application/scim+json");
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| PushError(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| PushError(e.to_string()))?;
        if status != expect {
            return Err(PushError(format!("{method} {path}: {status} {text}")));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Okta: for each `(login, given, family)` probe, create; a group "Everyone" with the first
    /// user, then the others added by `PATCH`; the last user deactivated.
    pub async fn push_okta(&self, people: &[(&str, &str, &str)]) -> Result<Pushed, PushError> {
        let mut pushed = Pushed::default();
        for (login, given, family) in people {
            let filter = format!("userName eq \"{login}\"");
            let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
            let probe = self
                .call(
                    reqwest::Method::GET,
                    &format!("/Users?filter={encoded}&startIndex=1&count=100"),
                    None,
                    200,
                )
                .await?;
            if probe["totalResults"] != 0 {
                return Err(PushError(format!("{login} already exists")));
            }
            let created = self
                .call(reqwest::Method::POST, "/Users", Some(json!({
                    "schemas": [USER], "userName": login,
                    "name": {"givenName": given, "familyName": family},
                    "emails": [{"primary": true, "value": login, "type": "work"}],
                    "displayName": format!("{given} {family}"), "locale": "en-US",
                    "externalId": format!("00u{}", pushed.users.len()), "groups": [], "password": "1mP@ssw0rd", "active": true
                })), 201)
                .await?;
            pushed
                .users
                .push(created["id"].as_str().unwrap_or_default().to_owned());
        }
        let Some(first) = pushed.users.first().cloned() else {
            return Ok(pushed);
        };
        let group = self
            .call(reqwest::Method::POST, "/Groups", Some(json!({
                "schemas": [GROUP], "displayName": "Everyone", "members": [{"value": first, "display": people[0].0}]
            })), 201)
            .await?;
        let group_id = group["id"].as_str().unwrap_or_default().to_owned();
        let others: Vec<Value> = pushed.users[1..]
            .iter()
            .map(|id| json!({"value": id}))
            .collect();
        if !others.is_empty() {
            self.call(reqwest::Method::PATCH, &format!("/Groups/{group_id}"), Some(json!({
                "schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": others}]
            })), 200)
            .await?;
        }
        pushed.groups.push(group_id);
        if pushed.users.len() > 1 {
            let last = pushed.users.last().cloned().unwrap_or_default();
            self.call(reqwest::Method::PATCH, &format!("/Users/{last}"), Some(json!({
                "schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]
            })), 200)
            .await?;
        }
        Ok(pushed)
    }

    /// Entra ID: create two users (the second managed by the first), change the first's work
    /// email and department with Entra's capitalised ops and paths, a group with both, then the
    /// first removed from it by value and the second disabled with `"False"`.
    pub async fn push_entra(&self, domain: &str) -> Result<Pushed, PushError> {
        let mut pushed = Pushed::default();
        for name in ["adele.vance", "alex.wilber"] {
            let upn = format!("{name}@{domain}");
            let filter = format!("userName eq \"{upn}\"");
            let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
            self.call(
                reqwest::Method::GET,
                &format!("/Users?filter={encoded}"),
                None,
                200,
            )
            .await?;
            let created = self
                .call(reqwest::Method::POST, "/Users", Some(json!({
                    "schemas": [USER, ENTERPRISE], "externalId": name, "userName": upn, "active": true,
                    "displayName": name.replace('.', " "),
                    "emails": [{"primary": true, "type": "work", "value": upn}],
                    "meta": {"resourceType": "User"},
                    "name": {"formatted": name, "familyName": name.split('.').nth(1).unwrap_or(name), "givenName": name.split('.').next().unwrap_or(name)},
                    ENTERPRISE: {"department": "Retail"}
                })), 201)
                .await?;
            pushed
                .users
                .push(created["id"].as_str().unwrap_or_default().to_owned());
        }
        let (first, second) = (pushed.users[0].clone(), pushed.users[1].clone());
        self.call(reqwest::Method::PATCH, &format!("/Users/{first}"), Some(json!({
            "schemas": [PATCH], "Operations": [
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": format!("adele@{domain}")},
                {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Sales"}]
        })), 200)
        .await?;
        self.call(reqwest::Method::PATCH, &format!("/Users/{second}"), Some(json!({
            "schemas": [PATCH], "Operations": [{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": first}]
        })), 200)
        .await?;
        let group = self
            .call(reqwest::Method::POST, "/Groups", Some(json!({
                "schemas": [GROUP], "externalId": "8aa1a0c0", "displayName": "Retail", "members": []
            })), 201)
            .await?;
        let group_id = group["id"].as_str().unwrap_or_default().to_owned();
        self.call(reqwest::Method::PATCH, &format!("/Groups/{group_id}"), Some(json!({
            "schemas": [PATCH], "Operations": [{"op": "Add", "path": "members", "value": [{"value": first}, {"value": second}]}]
        })), 200)
        .await?;
        self.call(reqwest::Method::PATCH, &format!("/Groups/{group_id}"), Some(json!({
            "schemas": [PATCH], "Operations": [{"op": "Remove", "path": "members", "value": [{"value": first}]}]
        })), 200)
        .await?;
        self.call(reqwest::Method::PATCH, &format!("/Users/{second}"), Some(json!({
            "schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]
        })), 200)
        .await?;
        pushed.groups.push(group_id);
        Ok(pushed)
    }
}
