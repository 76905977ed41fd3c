//! Host validation of user-supplied URLs, as a table.

use tributary_core::ErrorKind;
use tributary_providerkit::{
    HostPolicy, host_has_suffix, validate_base_url, validate_host_with_suffix,
};

const OKTA: &[&str] = &["okta.com", "oktapreview.com", "okta-emea.com"];

#[test]
fn base_url_table() {
    let production = HostPolicy::public_https();
    let tests = HostPolicy::loopback_for_tests();
    let cases: &[(&str, HostPolicy, Option<&str>)] = &[
        (
            "https://acme.okta.com",
            production,
            Some("https://acme.okta.com/"),
        ),
        (
            "https://acme.okta.com/",
            production,
            Some("https://acme.okta.com/"),
        ),
        (
            "  https://acme.okta.com/api/  ",
            production,
            Some("https://acme.okta.com/api"),
        ),
        ("https://8.8.8.8", production, Some("https://8.8.8.8/")),
        ("http://acme.okta.com", production, None),
        ("ftp://acme.okta.com", production, None),
        ("acme.okta.com", production, None),
        ("https://user:pw@acme.okta.com", production, None),
        ("https://acme.okta.com/?x=1", production, None),
        ("https://localhost", production, None),
        ("https://foo.localhost", production, None),
        ("https://intranet", production, None),
        ("https://db.internal", production, None),
        ("https://printer.local", production, None),
        ("https://127.0.0.1", production, None),
        ("https://10.1.2.3", production, None),
        ("https://172.16.0.1", production, None),
        ("https://192.168.1.1", production, None),
        ("https://169.254.169.254", production, None),
        ("https://100.64.0.1", production, None),
        ("https://0.0.0.0", production, None),
        ("https://[::1]", production, None),
        ("https://[fe80::1]", production, None),
        ("https://[fd00::1]", production, None),
        ("https://[::ffff:10.0.0.1]", production, None),
        (
            "https://[2606:4700::1111]",
            production,
            Some("https://[2606:4700::1111]/"),
        ),
        ("https://2130706433", production, None), // 127.0.0.1 as a decimal integer
        (
            "http://127.0.0.1:8080",
            tests,
            Some("http://127.0.0.1:8080/"),
        ),
        (
            "http://localhost:8080",
            tests,
            Some("http://localhost:8080/"),
        ),
        ("http://10.0.0.1", tests, None),
        ("https://10.0.0.1", tests, None),
        ("http://example.com", tests, None),
    ];
    for (input, policy, expected) in cases {
        let result = validate_base_url(input, *policy);
        match expected {
            Some(url) => assert_eq!(
                result.as_ref().map(|u| u.as_str()).ok(),
                Some(*url),
                "{input}: {result:?}"
            ),
            None => {
                let err = result.expect_err(input);
                assert_eq!(err.kind, ErrorKind::Config, "{input}");
            }
        }
    }
}

#[test]
fn suffix_table() {
    let cases = [
        ("acme.okta.com", true),
        ("ACME.Okta.COM.", true),
        ("acme.oktapreview.com", true),
        ("acme.okta-emea.com", true),
        ("okta.com", true),
        ("evilokta.com", false),
        ("okta.com.evil.example", false),
        ("acme.okta.co", false),
    ];
    for (host, expected) in cases {
        assert_eq!(host_has_suffix(host, OKTA), expected, "{host}");
    }
}

#[test]
fn suffix_or_custom_domain() {
    let production = HostPolicy::public_https();
    assert!(validate_host_with_suffix("https://acme.okta.com", production, OKTA, &[]).is_ok());
    assert!(
        validate_host_with_suffix(
            "https://login.acme.example",
            production,
            OKTA,
            &["login.acme.example"]
        )
        .is_ok()
    );
    let err =
        validate_host_with_suffix("https://login.acme.example", production, OKTA, &[]).unwrap_err();
    assert!(err.message.contains("okta.com"), "{err}");
    assert!(
        validate_host_with_suffix("https://10.0.0.1", production, OKTA, &["10.0.0.1"]).is_err()
    );
    assert!(
        validate_host_with_suffix(
            "http://127.0.0.1:1234",
            HostPolicy::loopback_for_tests(),
            OKTA,
            &[]
        )
        .is_ok()
    );
}
