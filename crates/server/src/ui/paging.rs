//! Paging of the UI's lists: a page is fetched with one row more than it shows, and a link with
//! the list's filters leads to the next one.

use super::html::url_part;

/// Cuts `rows`, fetched with one more than `page_size`, to the page; whether more follow.
pub fn cut_page<T>(rows: &mut Vec<T>, page_size: usize) -> bool {
    let more = rows.len() > page_size;
    rows.truncate(page_size);
    more
}

/// The link to a list page: `path` with the parameters that are set, in order, encoded.
pub fn page_link(path: &str, params: &[(&str, Option<&str>)]) -> String {
    let query: Vec<String> = params
        .iter()
        .filter_map(|(name, value)| value.map(|value| format!("{name}={}", url_part(value))))
        .collect();
    format!("{path}?{}", query.join("&"))
}
