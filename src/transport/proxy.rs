//! Proxies from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, lower-case
//! too) and `NO_PROXY`, chosen per request from the URL as `http::Uri` parses it. ureq's
//! own `NO_PROXY` matching compares host text only (`127.0.0.1` does not match
//! `2130706433`, entries are not trimmed, `example.com` does not cover its subdomains), so
//! the matching is done here, on canonical hosts.

use std::net::{IpAddr, Ipv4Addr};

use ureq::http::Uri;
use ureq::Agent;

use super::Failure;
use crate::error::ErrorCode;

/// The environment's proxy for one URL scheme.
#[derive(Debug)]
enum Setting {
    /// No proxy variable is set for the scheme.
    Direct,
    /// A proxied agent.
    Proxied(Agent),
    /// The variable is set but is not a proxy URL: requests fail with this message.
    Invalid(String),
}

/// The agents of one HTTP client: direct, and one per proxied scheme.
#[derive(Debug)]
pub struct Proxies {
    direct: Agent,
    https: Setting,
    http: Setting,
    no_proxy: Vec<String>,
}

impl Proxies {
    /// Reads the environment; `build` makes an agent (with a proxy, or direct).
    pub fn from_env(build: impl Fn(Option<ureq::Proxy>) -> Agent) -> Proxies {
        let setting = |names: &[&str]| match env_first(names) {
            None => Setting::Direct,
            Some((name, value)) => match ureq::Proxy::new(&value) {
                Ok(proxy) => Setting::Proxied(build(Some(proxy))),
                Err(_) => Setting::Invalid(format!(
                    "the environment variable {name} is not a valid proxy URL"
                )),
            },
        };
        Proxies {
            direct: build(None),
            https: setting(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
            http: setting(&["http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"]),
            no_proxy: env_first(&["NO_PROXY", "no_proxy"])
                .map(|(_, v)| parse_no_proxy(&v))
                .unwrap_or_default(),
        }
    }

    /// The agent for a URL: direct when its host is on `NO_PROXY` or no proxy is set.
    pub fn agent_for(&self, url: &str) -> Result<&Agent, Failure> {
        let Ok(uri) = url.parse::<Uri>() else {
            // ureq reports the bad URL itself.
            return Ok(&self.direct);
        };
        if uri
            .host()
            .is_some_and(|host| no_proxy_matches(&self.no_proxy, host))
        {
            return Ok(&self.direct);
        }
        let setting = match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => &self.https,
            _ => &self.http,
        };
        match setting {
            Setting::Direct => Ok(&self.direct),
            Setting::Proxied(agent) => Ok(agent),
            Setting::Invalid(message) => {
                Err(Failure::new(ErrorCode::Network, message.clone(), false))
            }
        }
    }

    /// Closes every connection of every agent.
    pub fn shutdown(&self) {
        self.direct.clone().shutdown();
        for setting in [&self.https, &self.http] {
            if let Setting::Proxied(agent) = setting {
                agent.clone().shutdown();
            }
        }
    }
}

/// The first of the environment variables that is set and not empty.
fn env_first(names: &[&str]) -> Option<(String, String)> {
    names.iter().find_map(|name| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| ((*name).to_owned(), v.trim().to_owned()))
    })
}

/// `NO_PROXY`: comma-separated hosts, domains (`example.com` also covers its
/// subdomains, as does `.example.com`), `*` for all; lower-cased, ports dropped.
fn parse_no_proxy(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|entry| {
            let entry = entry
                .trim()
                .trim_start_matches("*.")
                .trim_start_matches('.');
            let entry = match entry.rsplit_once(':') {
                Some((host, port)) if !host.contains(':') && port.parse::<u16>().is_ok() => host,
                _ => entry,
            };
            canonical_host(entry)
        })
        .filter(|entry| !entry.is_empty())
        .collect()
}

fn no_proxy_matches(entries: &[String], host: &str) -> bool {
    let host = canonical_host(host);
    entries.iter().any(|entry| {
        entry == "*"
            || host == *entry
            || (host.len() > entry.len()
                && host.ends_with(entry.as_str())
                && host.as_bytes()[host.len() - entry.len() - 1] == b'.')
    })
}

/// A host as the resolver sees it: IP addresses in their canonical form (an IPv4
/// address also in the numeric forms `inet_aton` accepts, such as `2130706433` or
/// `127.1`), names lower-cased.
fn canonical_host(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.to_string();
    }
    match inet_aton(host) {
        Some(ip) => ip.to_string(),
        None => host.to_ascii_lowercase(),
    }
}

/// The IPv4 forms of `inet_aton`: one to four numbers (decimal, `0x` hex or `0` octal),
/// the last filling the remaining bytes.
fn inet_aton(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let numbers: Vec<u32> = parts
        .iter()
        .map(|part| {
            let (digits, radix) = match part.strip_prefix("0x").or_else(|| part.strip_prefix("0X"))
            {
                Some(hex) => (hex, 16),
                None if part.len() > 1 && part.starts_with('0') => (&part[1..], 8),
                None => (*part, 10),
            };
            if digits.is_empty() && radix != 8 {
                return None;
            }
            u32::from_str_radix(digits, radix).ok()
        })
        .collect::<Option<_>>()?;
    let (last, leading) = numbers.split_last()?;
    let last_bytes = 4 - leading.len();
    if leading.iter().any(|&n| n > 0xff) || (last_bytes < 4 && *last >= 1 << (8 * last_bytes)) {
        return None;
    }
    let value = leading
        .iter()
        .enumerate()
        .fold(*last, |acc, (i, &n)| acc | (n << (8 * (3 - i))));
    Some(Ipv4Addr::from(value))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_matches_hosts_domains_and_star() {
        let list = parse_no_proxy(" localhost, .internal.example ,*.corp:8080, 10.0.0.1");
        assert_eq!(list, ["localhost", "internal.example", "corp", "10.0.0.1"]);
        assert!(no_proxy_matches(&list, "localhost"));
        assert!(no_proxy_matches(&list, "api.internal.example"));
        assert!(no_proxy_matches(&list, "internal.example"));
        assert!(no_proxy_matches(&list, "a.b.corp"));
        assert!(no_proxy_matches(&list, "10.0.0.1"));
        assert!(!no_proxy_matches(&list, "notcorp"));
        assert!(!no_proxy_matches(&list, "api.lab.amplitude.com"));
        assert!(no_proxy_matches(&parse_no_proxy("*"), "anything"));
    }

    #[test]
    fn hosts_are_found_by_the_uri_parser() {
        let host = |url: &str| url.parse::<Uri>().unwrap().host().unwrap().to_owned();
        assert_eq!(
            host("https://api.lab.amplitude.com/sdk/v2/flags?v=0"),
            "api.lab.amplitude.com"
        );
        assert_eq!(host("http://user:pw@127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host("http://[::1]:80/x"), "[::1]");
    }

    #[test]
    fn ip_hosts_match_in_every_numeric_form() {
        let list = parse_no_proxy("127.0.0.1, [::1]");
        for host in [
            "127.0.0.1",
            "2130706433",
            "0x7f000001",
            "127.1",
            "0177.0.0.1",
            "[::1]",
            "[0:0::1]",
        ] {
            assert!(no_proxy_matches(&list, host), "{host}");
        }
        assert!(!no_proxy_matches(&list, "127.0.0.2"));
        assert!(!no_proxy_matches(&list, "2130706434"));
        assert_eq!(inet_aton("1.2.3"), Some(Ipv4Addr::new(1, 2, 0, 3)));
        assert_eq!(inet_aton("256.1.1.1"), None);
        assert_eq!(inet_aton("example"), None);
    }
}
