//! Helpers shared by the integration tests: clients pointed at a wiremock server on loopback,
//! with waits small enough for tests.

use std::time::Duration;

use tributary_providerkit::{HttpProfile, ProviderHttp, ResetHeader, RetryPolicy, Url};
use wiremock::MockServer;

pub const KEY_A: &str = include_str!("../fixtures/test_only_rsa_key_a.pem");
pub const KEY_A_PUBLIC: &str = include_str!("../fixtures/test_only_rsa_key_a.pub.pem");
pub const KEY_B: &str = include_str!("../fixtures/test_only_rsa_key_b.pem");

pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(1),
        max_wait: Duration::from_secs(5),
    }
}

pub fn profile() -> HttpProfile {
    HttpProfile::new("test")
        .retry(fast_retries())
        .reset_header(ResetHeader::OKTA)
        .remaining_header("x-rate-limit-remaining")
}

pub fn http_with(profile: HttpProfile, server: &MockServer) -> ProviderHttp {
    ProviderHttp::new(profile)
        .expect("client builds")
        .with_base_url(Url::parse(&server.uri()).expect("server uri"))
}

pub fn http(server: &MockServer) -> ProviderHttp {
    http_with(profile(), server)
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
