//! Validation of base URLs by who chose them. A tenant-supplied URL (an Okta org URL) must name
//! a public host, so that a tenant cannot point our credentials-carrying client at an internal
//! address. An operator-configured one (a GitHub Enterprise Server on premises, an AWS VPC
//! interface endpoint, a national cloud) may name a private host: the operator runs the network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use reqwest::Url;
use tributary_core::OperationError;

/// Which hosts a user-supplied URL may name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostPolicy {
    /// Accept `http` and loopback hosts (`127.0.0.1`, `::1`, `localhost`). Only for tests that point
    /// a provider at a wiremock server; never set from user input.
    pub allow_loopback_for_tests: bool,
    /// Accept private, loopback and link-local hosts over https: the URL is the operator's
    /// configuration, not a tenant's input.
    pub allow_private_hosts: bool,
}

impl HostPolicy {
    /// For a tenant-supplied URL: public https hosts only.
    pub const fn public_https() -> Self {
        Self {
            allow_loopback_for_tests: false,
            allow_private_hosts: false,
        }
    }

    /// For an operator-configured URL: any https host, private ones included.
    pub const fn operator_https() -> Self {
        Self {
            allow_loopback_for_tests: false,
            allow_private_hosts: true,
        }
    }

    /// Also accepts plain-http loopback servers, for tests.
    pub const fn loopback_for_tests() -> Self {
        Self {
            allow_loopback_for_tests: true,
            allow_private_hosts: false,
        }
    }

    /// For an operator-configured URL, or [`loopback_for_tests`](Self::loopback_for_tests)
    /// when the operator config's switch for tests and the demo allows loopback URLs.
    pub const fn operator(allow_loopback_urls: bool) -> Self {
        if allow_loopback_urls {
            Self::loopback_for_tests()
        } else {
            Self::operator_https()
        }
    }
}

/// An operator-configured base URL, checked under `policy`; the error names the definition's
/// config key (`gcp_scc operator config `apiUrl`: ...`).
pub fn operator_config_url(
    definition: &str,
    field: &str,
    value: &str,
    policy: HostPolicy,
) -> Result<Url, OperationError> {
    validate_base_url(value, policy).map_err(|err| {
        OperationError::config(format!(
            "{definition} operator config `{field}`: {}",
            err.message
        ))
    })
}

/// Parses and checks a user-supplied base URL: `https` only, a host name or a public IP literal,
/// no user info, no query or fragment, no private, loopback, link-local or otherwise
/// non-public addresses, and no names that resolve locally by convention (`localhost`,
/// `*.localhost`, `*.local`, `*.internal`). Returns the URL with a trailing slash removed from
/// its path. Errors are `Config` errors that name the problem, not the URL's query.
///
/// Names are checked as written; a public name that resolves to a private address is caught by
/// a client whose profile sets `public_addresses_only`.
pub fn validate_base_url(input: &str, policy: HostPolicy) -> Result<Url, OperationError> {
    let trimmed = input.trim();
    let mut url = Url::parse(trimmed)
        .map_err(|err| OperationError::config(format!("the URL is not valid ({err})")))?;
    let host = url
        .host()
        .ok_or_else(|| OperationError::config("the URL has no host name"))?;
    let loopback = is_loopback_host(&host);
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_loopback_for_tests && loopback => {}
        other => {
            return Err(OperationError::config(format!(
                "the URL must use https, not `{other}`"
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OperationError::config(
            "the URL must not contain a user name or password",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(OperationError::config(
            "the URL must not contain a query or fragment",
        ));
    }
    let host_is_accepted =
        policy.allow_private_hosts || (policy.allow_loopback_for_tests && loopback);
    if !host_is_accepted {
        match host {
            url::Host::Domain(name) => check_domain(name)?,
            url::Host::Ipv4(ip) => check_ip(IpAddr::V4(ip))?,
            url::Host::Ipv6(ip) => check_ip(IpAddr::V6(ip))?,
        }
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// Whether `host` is one of `suffixes` or a subdomain of one (`acme.okta.com` matches
/// `okta.com`; `evilokta.com` does not). Comparison ignores ASCII case and a trailing dot.
pub fn host_has_suffix(host: &str, suffixes: &[&str]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    suffixes.iter().any(|suffix| {
        let suffix = suffix.trim_start_matches('.').trim_end_matches('.');
        let suffix = suffix.to_ascii_lowercase();
        host == suffix
            || (host.len() > suffix.len()
                && host.ends_with(&suffix)
                && host.as_bytes()[host.len() - suffix.len() - 1] == b'.')
    })
}

/// [`validate_base_url`], then require the host to end in one of `suffixes` unless it is one of
/// `custom_hosts` (an org's verified custom domain).
pub fn validate_host_with_suffix(
    input: &str,
    policy: HostPolicy,
    suffixes: &[&str],
    custom_hosts: &[&str],
) -> Result<Url, OperationError> {
    let url = validate_base_url(input, policy)?;
    let host = url.host_str().unwrap_or_default();
    let loopback_allowed =
        policy.allow_loopback_for_tests && url.host().as_ref().is_some_and(is_loopback_host);
    if loopback_allowed || host_has_suffix(host, suffixes) || host_has_suffix(host, custom_hosts) {
        Ok(url)
    } else {
        Err(OperationError::config(format!(
            "the host `{host}` is not one of the accepted domains ({})",
            suffixes.join(", ")
        )))
    }
}

fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

fn check_domain(name: &str) -> Result<(), OperationError> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let local_suffixes = ["localhost", "local", "internal", "localdomain", "home.arpa"];
    if !name.contains('.') || host_has_suffix(&name, &local_suffixes) {
        return Err(OperationError::config(format!(
            "the host `{name}` is not a public host name"
        )));
    }
    Ok(())
}

fn check_ip(ip: IpAddr) -> Result<(), OperationError> {
    if is_public_ip(ip) {
        Ok(())
    } else {
        Err(OperationError::config(format!(
            "the address {ip} is not a public address"
        )))
    }
}

/// Whether `ip` is a globally routable unicast address.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => {
            if let Some(mapped) = ip.to_ipv4_mapped() {
                return is_public_v4(mapped);
            }
            is_public_v6(ip)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // 100.64.0.0/10 carrier-grade NAT
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0.0/24 protocol assignments
        || (a == 192 && b == 0 && c == 0)
        // 198.18.0.0/15 benchmarking
        || (a == 198 && (b == 18 || b == 19))
        // 240.0.0.0/4 reserved
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // fc00::/7 unique local
        || (first & 0xfe00) == 0xfc00
        // fe80::/10 link local
        || (first & 0xffc0) == 0xfe80
        // 2001:db8::/32 documentation
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // 64:ff9b:1::/48 local-use NAT64, ::/96 IPv4-compatible (deprecated)
        || (first == 0x0064 && ip.segments()[1] == 0xff9b && ip.segments()[2] == 1)
        || ip.segments()[..6].iter().all(|s| *s == 0))
}
