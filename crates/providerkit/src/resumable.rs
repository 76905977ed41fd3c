//! A run that lists in checkpointed phases: each page's payloads are handed to ingest as the
//! page arrives and the phase's cursor is saved after it, so a throttled or interrupted run
//! resumes at the page it stopped at and memory stays bounded by a page.
//!
//! ```ignore
//! let mut run = ResumableRun::load(&ctx);
//! if let Some(mut users) = run.phase("users", Pagination::link_header()) {
//!     while let Some(page) = users.next_page(api.http.get("/users")).await? {
//!         run.page_done("users", &users, [accounts(envelopes_of(page))]).await?;
//!     }
//! }
//! ```

use tributary_core::{IngestPayloadSet, OperationContext, OperationError};

use crate::{Checkpoint, Listing, Pagination};

/// A page a provider fetched its own way: the payload sets it yields and the cursor of the page
/// after it (`None` on the last page).
pub struct CursorPage {
    pub sets: Vec<IngestPayloadSet>,
    pub next_cursor: Option<String>,
}

/// The checkpoint of a run listing in phases, and the run it belongs to.
pub struct ResumableRun<'a> {
    ctx: &'a OperationContext,
    checkpoint: Checkpoint,
}

impl<'a> ResumableRun<'a> {
    /// Picks up the checkpoint an earlier attempt of the run saved, if any.
    pub fn load(ctx: &'a OperationContext) -> Self {
        Self {
            ctx,
            checkpoint: Checkpoint::load(ctx),
        }
    }

    pub fn is_done(&self, phase: &str) -> bool {
        self.checkpoint.is_done(phase)
    }

    /// Whether an earlier attempt got anywhere in `phase`: a phase this attempt lists from its
    /// start sees every record of it.
    pub fn is_resumed(&self, phase: &str) -> bool {
        self.is_done(phase) || self.checkpoint.cursor(phase).is_some()
    }

    /// The listing of `phase`, resumed where an earlier attempt stopped; `None` when an earlier
    /// attempt finished it.
    pub fn phase(&self, phase: &str, style: Pagination) -> Option<Listing> {
        (!self.is_done(phase)).then(|| Listing::resume(style, self.checkpoint.cursor(phase)))
    }

    /// Hands a page's payload sets to ingest in order, then saves where `listing` stands as the
    /// cursor of `phase` (done after its last page).
    pub async fn page_done(
        &mut self,
        phase: &str,
        listing: &Listing,
        sets: impl IntoIterator<Item = IngestPayloadSet>,
    ) -> Result<(), OperationError> {
        for set in sets {
            self.ctx.emit(set).await?;
        }
        self.checkpoint
            .set(phase, listing.cursor())
            .save(self.ctx)
            .await
    }

    /// Lists `phase` with `fetch`, which gets the cursor of the page to fetch (`None`: the
    /// first): each page's sets are handed to ingest before its next cursor is saved. A phase an
    /// earlier attempt finished is skipped.
    pub async fn cursor_phase<Fetch>(
        &mut self,
        phase: &str,
        mut fetch: impl FnMut(Option<String>) -> Fetch,
    ) -> Result<(), OperationError>
    where
        Fetch: Future<Output = Result<CursorPage, OperationError>>,
    {
        if self.is_done(phase) {
            return Ok(());
        }
        let mut cursor = self.checkpoint.cursor(phase);
        loop {
            let page = fetch(cursor.take()).await?;
            for set in page.sets {
                self.ctx.emit(set).await?;
            }
            self.checkpoint
                .set(phase, page.next_cursor.as_deref())
                .save(self.ctx)
                .await?;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }
}
