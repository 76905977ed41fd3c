//! Who a signed-in request acts as. Its own module, which needs nothing else of the UI: the page
//! frame ([`super::html`]) shows it, and the session store ([`super::session`]) makes it.

/// A signed-in tenant.
#[derive(Debug, Clone)]
pub struct UiSession {
    pub tenant_id: String,
    /// The API token the session was opened with: the audit trail's actor, "via UI session".
    pub token_id: String,
    pub token_name: String,
    /// The session's handle (`uis_...`, as `/v1/ui-sessions` names it), to tell it apart in
    /// the list of sessions.
    pub handle: String,
    /// The value every form of this session must send back.
    pub csrf: String,
}
