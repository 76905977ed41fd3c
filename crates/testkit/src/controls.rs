//! What every fake keeps besides its provider's data, as one piece: the log of the requests it
//! answered (tests assert on what a client asked for), the throttles a test queued (the next
//! calls, or one page of a listing, answer 429) and the tokens a test revoked. How a throttled or
//! revoked request is answered stays each fake's own, as each provider words it differently.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// `W` is what a throttled answer needs (a `Retry-After` wait by default); `P` names a page of a
/// listing.
pub(crate) struct Controls<W = u64, P = usize> {
    requests: Vec<String>,
    /// The next calls' fates in order: `None` passes, `Some` answers 429.
    throttles: VecDeque<Option<W>>,
    /// Pages that answer 429 the next time they are asked for.
    throttled_pages: BTreeMap<P, W>,
    revoked: BTreeSet<String>,
}

impl<W, P> Default for Controls<W, P> {
    fn default() -> Self {
        Self {
            requests: Vec::new(),
            throttles: VecDeque::new(),
            throttled_pages: BTreeMap::new(),
            revoked: BTreeSet::new(),
        }
    }
}

impl<W, P: Ord> Controls<W, P> {
    /// Logs a request as the fake describes it (path and query, or method and path).
    pub(crate) fn record(&mut self, request: impl Into<String>) {
        self.requests.push(request.into());
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.requests.clone()
    }

    /// The next calls answer 429, one each.
    pub(crate) fn throttle(&mut self, throttles: impl IntoIterator<Item = W>) {
        self.throttles.extend(throttles.into_iter().map(Some));
    }

    /// After `passes` more calls go through, the next answers 429.
    pub(crate) fn throttle_after(&mut self, passes: usize, throttle: W) {
        self.throttles
            .extend(std::iter::repeat_with(|| None).take(passes));
        self.throttles.push_back(Some(throttle));
    }

    /// Records the request, then takes this call's fate: `Some` when it is to answer 429.
    pub(crate) fn answer(&mut self, request: impl Into<String>) -> Option<W> {
        self.record(request);
        self.next_throttle()
    }

    /// This call's fate, without logging it: `Some` when it is to answer 429.
    pub(crate) fn next_throttle(&mut self) -> Option<W> {
        self.throttles.pop_front().flatten()
    }

    /// The next request for `page` answers 429.
    pub(crate) fn throttle_page(&mut self, page: P, throttle: W) {
        self.throttled_pages.insert(page, throttle);
    }

    /// Whether this request for `page` is to answer 429; a page throttles once.
    pub(crate) fn take_page_throttle(&mut self, page: &P) -> Option<W> {
        self.throttled_pages.remove(page)
    }

    pub(crate) fn revoke(&mut self, token: impl Into<String>) {
        self.revoked.insert(token.into());
    }

    pub(crate) fn is_revoked(&self, token: &str) -> bool {
        self.revoked.contains(token)
    }
}
