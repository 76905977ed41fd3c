//! "Did you mean": the closest known name to a mistyped one, for configuration errors.

/// The candidate closest to `word`, if one is close enough to be a likely typo. Case, `_` and `-`
/// are ignored when comparing, so `SECURITY_HUB_URL` finds `securityHubUrl`.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wanted = normalized(word);
    // A typo changes a few characters; a third of the word, at least 2, is the most we guess at.
    let threshold = (wanted.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|candidate| {
            let known = normalized(candidate);
            // A name cut short (`ALLOW_LOOPBACK` for `allowLoopbackOrgUrls`) is a near miss too.
            let truncated =
                wanted.len() >= 4 && (known.starts_with(&wanted) || wanted.starts_with(&known));
            let distance = edit_distance(&wanted, &known);
            let distance = if truncated {
                distance.min(threshold)
            } else {
                distance
            };
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= threshold)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// `word` lowercased without `_` and `-`: the form in which spellings of one name agree.
pub fn normalized(word: &str) -> String {
    word.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Levenshtein distance, two rows at a time. Names are short (configuration keys), so the
/// quadratic cost is a few hundred steps; callers never pass untrusted long input.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, a_char) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_near_miss_is_suggested_and_a_stranger_is_not() {
        let keys = ["securityHubUrl", "region", "stsUrl"];
        assert_eq!(did_you_mean("securityHubURL", keys), Some("securityHubUrl"));
        assert_eq!(
            did_you_mean("SECURITY_HUB_URL", keys),
            Some("securityHubUrl")
        );
        assert_eq!(did_you_mean("regoin", keys), Some("region"));
        assert_eq!(did_you_mean("completely_else", keys), None);
        assert_eq!(did_you_mean("lisen", ["listen", "log"]), Some("listen"));
        assert_eq!(
            did_you_mean("ALLOW_LOOPBACK", ["allowLoopbackOrgUrls"]),
            Some("allowLoopbackOrgUrls")
        );
    }

    #[test]
    fn distances_are_levenshtein() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
