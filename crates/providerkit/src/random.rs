//! Random values from the operating system's CSPRNG, for tokens, jitter and fakes alike: one
//! source, so that no part of the workspace needs a random-number crate of its own.

/// `N` random bytes.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill_random(&mut bytes);
    bytes
}

/// Fills `buffer` with random bytes.
pub fn fill_random(buffer: &mut [u8]) {
    // Without its random source the process cannot make a secret; nothing sensible goes on.
    getrandom::fill(buffer).expect("the operating system's random source failed");
}

/// A uniform value in `[low, high]` (for jitter: spreads, not secrets).
pub fn random_between(low: f64, high: f64) -> f64 {
    // The top 53 bits make a uniform double in [0, 1].
    let unit = (u64::from_le_bytes(random_bytes()) >> 11) as f64 / ((1u64 << 53) - 1) as f64;
    low + (high - low) * unit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_within_their_range_and_differ() {
        for _ in 0..1_000 {
            let value = random_between(-2.5, 7.0);
            assert!((-2.5..=7.0).contains(&value), "{value}");
        }
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
    }
}
