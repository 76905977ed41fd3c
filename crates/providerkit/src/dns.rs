//! Name resolution that keeps public addresses only, for clients whose host a user supplied: a
//! public-looking name that resolves to 10.0.0.5 or 169.254.169.254 must not be reachable with
//! our credentials (host validation alone checks names as written).
//!
//! The proxy the operator configured (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`) is the
//! operator's choice and is resolved as it is, often `localhost`. Through a proxy the target's
//! name is resolved by the proxy, not by us, so such a client checks the target itself first
//! ([`ensure_public_host`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::is_public_ip;

/// The variables reqwest reads a proxy from, in either case.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The hosts of the proxies configured in this process's environment, lower case.
pub(crate) fn proxy_hosts() -> Arc<[String]> {
    PROXY_VARIABLES
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .filter_map(|value| {
            let value = value.trim();
            let with_scheme = if value.contains("://") {
                value.to_owned()
            } else {
                format!("http://{value}")
            };
            Url::parse(&with_scheme)
                .ok()?
                .host_str()
                .map(|host| host.trim_matches(['[', ']']).to_ascii_lowercase())
        })
        .collect()
}

/// The system resolver, filtered to globally routable addresses, except for the configured
/// proxies' hosts.
#[derive(Debug, Clone, Default)]
pub(crate) struct PublicOnlyResolver {
    pub(crate) proxies: Arc<[String]>,
}

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let is_proxy = self
            .proxies
            .iter()
            .any(|proxy| proxy.eq_ignore_ascii_case(&host));
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            if is_proxy {
                return Ok(Box::new(resolved.collect::<Vec<_>>().into_iter()) as Addrs);
            }
            let public: Vec<SocketAddr> = resolved.filter(|addr| is_public_ip(addr.ip())).collect();
            if public.is_empty() {
                return Err(format!("`{host}` resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Through a proxy: refuses a target whose name resolves to any non-public address (the proxy
/// could pick it), before anything is sent.
pub(crate) async fn ensure_public_host(url: &Url) -> Result<(), String> {
    let Some(url::Host::Domain(host)) = url.host() else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|err| format!("`{host}` could not be resolved ({err})"))?
        .collect();
    if resolved.is_empty() || resolved.iter().any(|addr| !is_public_ip(addr.ip())) {
        return Err(format!("`{host}` resolves to a non-public address"));
    }
    Ok(())
}

/// Whether `url` names a non-public IP literal (names are left to the resolver).
pub(crate) fn is_private_ip_literal(url: &Url) -> bool {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return false,
    };
    !is_public_ip(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_proxy_host_resolves_as_it_is_and_other_private_names_do_not() {
        let resolver = PublicOnlyResolver {
            proxies: Arc::from(vec!["localhost".to_owned()]),
        };
        let proxy: Vec<SocketAddr> = resolver
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(proxy.iter().all(|addr| addr.ip().is_loopback()) && !proxy.is_empty());
        let refused = PublicOnlyResolver::default()
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .unwrap();
        assert!(
            refused.to_string().contains("no public address"),
            "{refused}"
        );
        let target = Url::parse("https://localhost:8443/api").unwrap();
        assert!(ensure_public_host(&target).await.is_err());
    }
}
