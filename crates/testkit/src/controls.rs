//! What every fake keeps besides its provider's data, as one piece: the log of the requests it
//! answered (tests assert on what a client asked for), the throttles a test queued (the next
//! calls, or one page of a listing, answer 429) and the tokens a test revoked. How a throttled or
//! revoked request is answered stays each fake's own, as each provider words it differently.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use axum::{
    http::{HeaderValue, header},
    response::Response,
};

/// A fake's 429 `response` telling the client to wait `wait` seconds (`Retry-After`).
pub(crate) fn retry_after(mut response: Response, wait: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    response
}

/// `W` is what a throttled answer needs (a `Retry-After` wait by default, or a fake's own kind of
/// throttle); `P` names a page of a listing; `R` is a logged request.
pub(crate) struct Controls<W = u64, P = usize, R = String> {
    requests: Vec<R>,
    /// The next calls' fates in order: `None` passes, `Some` answers 429.
    throttles: VecDeque<Option<W>>,
    /// Pages that answer 429 the next time they are asked for, in the order they were throttled
    /// (a fake that picks a page by a pattern takes the first match); one entry a page.
    throttled_pages: Vec<(P, W)>,
    revoked: BTreeSet<String>,
}

impl<W, P, R> Default for Controls<W, P, R> {
    fn default() -> Self {
        Self {
            requests: Vec::new(),
            throttles: VecDeque::new(),
            throttled_pages: Vec::new(),
            revoked: BTreeSet::new(),
        }
    }
}

impl<W, P: PartialEq, R: Clone> Controls<W, P, R> {
    /// Logs a request as the fake describes it (path and query, or method and path).
    pub(crate) fn record(&mut self, request: impl Into<R>) {
        self.requests.push(request.into());
    }

    pub(crate) fn requests(&self) -> Vec<R> {
        self.requests.clone()
    }

    /// How many requests were logged.
    pub(crate) fn request_count(&self) -> usize {
        self.requests.len()
    }

    /// The next calls answer 429, one each.
    pub(crate) fn throttle(&mut self, throttles: impl IntoIterator<Item = W>) {
        self.throttles.extend(throttles.into_iter().map(Some));
    }

    /// Exactly the next `count` calls answer 429 with `throttle`, replacing whatever was queued
    /// (for fakes whose tests say how many calls fail rather than how each fails).
    pub(crate) fn throttle_next(&mut self, count: usize, throttle: W)
    where
        W: Clone,
    {
        self.throttles.clear();
        self.throttle(std::iter::repeat_n(throttle, count));
    }

    /// After `passes` more calls go through, the next answers 429.
    pub(crate) fn throttle_after(&mut self, passes: usize, throttle: W) {
        self.throttles
            .extend(std::iter::repeat_with(|| None).take(passes));
        self.throttles.push_back(Some(throttle));
    }

    /// Records the request, then takes this call's fate: `Some` when it is to answer 429.
    pub(crate) fn answer(&mut self, request: impl Into<R>) -> Option<W> {
        self.record(request);
        self.next_throttle()
    }

    /// This call's fate, without logging it: `Some` when it is to answer 429.
    pub(crate) fn next_throttle(&mut self) -> Option<W> {
        self.throttles.pop_front().flatten()
    }

    /// The next request for `page` answers 429; throttling a page again replaces its answer.
    pub(crate) fn throttle_page(&mut self, page: P, throttle: W) {
        match self.throttled_pages.iter_mut().find(|(at, _)| *at == page) {
            Some((_, pending)) => *pending = throttle,
            None => self.throttled_pages.push((page, throttle)),
        }
    }

    /// Whether this request for `page` is to answer 429; a page throttles once.
    pub(crate) fn take_page_throttle(&mut self, page: &P) -> Option<W> {
        self.take_page_throttle_where(|at| at == page)
    }

    /// Like [`take_page_throttle`](Self::take_page_throttle) for the first throttled page that
    /// `matches` (a fake whose pages are patterns over the request).
    pub(crate) fn take_page_throttle_where(&mut self, matches: impl Fn(&P) -> bool) -> Option<W> {
        let at = self
            .throttled_pages
            .iter()
            .position(|(page, _)| matches(page))?;
        Some(self.throttled_pages.remove(at).1)
    }

    pub(crate) fn revoke(&mut self, token: impl Into<String>) {
        self.revoked.insert(token.into());
    }

    pub(crate) fn is_revoked(&self, token: &str) -> bool {
        self.revoked.contains(token)
    }
}

/// Throttles on posting messages, as chat fakes (Slack, Teams) offer them: the next posts
/// anywhere, and the next posts to one channel or chat, each answer 429 with a `Retry-After`.
#[derive(Default)]
pub(crate) struct PostThrottles {
    /// Waits of the next posts, wherever they go.
    any: VecDeque<u64>,
    /// Channel or chat id -> waits of its next posts.
    to: BTreeMap<String, VecDeque<u64>>,
}

impl PostThrottles {
    pub(crate) fn throttle_any(&mut self, waits: impl IntoIterator<Item = u64>) {
        self.any.extend(waits);
    }

    pub(crate) fn throttle_to(&mut self, destination: &str, waits: impl IntoIterator<Item = u64>) {
        self.to
            .entry(destination.to_owned())
            .or_default()
            .extend(waits);
    }

    /// The wait for this post if it is throttled wherever it goes.
    pub(crate) fn take_any(&mut self) -> Option<u64> {
        self.any.pop_front()
    }

    /// The wait for this post to `destination` if that destination is throttled.
    pub(crate) fn take_to(&mut self, destination: &str) -> Option<u64> {
        self.to.get_mut(destination).and_then(VecDeque::pop_front)
    }

    /// This post's wait: posts anywhere are throttled first, then those to `destination`.
    pub(crate) fn take(&mut self, destination: &str) -> Option<u64> {
        self.take_any().or_else(|| self.take_to(destination))
    }
}
