//! The HTTP layer shared by every provider: blocking requests over `ureq` with rustls,
//! per-request timeouts, gzip, ETags, a response size cap, proxies from the environment,
//! the OS certificate store plus bundled roots, retries with backoff, and the mapping of
//! every failure to a stable [`ErrorCode`]. Nothing here ever writes the key into an
//! error message.

pub mod poller;
pub mod sse;

use std::io::{self, Read};
use std::time::Duration;

use ureq::http::header::{ETAG, IF_NONE_MATCH};
use ureq::{Agent, Body};

use crate::error::{Error, ErrorCode, Result};

/// The `X-Amp-Exp-Library` / `User-Agent` value: `allot/<version>`.
pub const LIBRARY: &str = concat!("allot/", env!("CARGO_PKG_VERSION"));

/// How many bytes of an error response's body are quoted in the error message.
const ERROR_BODY_QUOTE: usize = 200;

/// A failed attempt: the error, and whether trying again could help (network errors,
/// timeouts, 429 and 5xx can; other 4xx, 401/403 and unusable answers cannot).
#[derive(Debug, Clone)]
pub struct Failure {
    /// What went wrong, with a stable code.
    pub error: Error,
    /// Whether a retry may succeed.
    pub retryable: bool,
}

impl Failure {
    fn new(code: ErrorCode, message: String, retryable: bool) -> Failure {
        Failure {
            error: Error::new(code, message),
            retryable,
        }
    }
}

/// A successful answer.
#[derive(Debug)]
pub enum Outcome {
    /// A 2xx answer: its (decompressed) body and its `ETag`, if any.
    Body {
        /// The body bytes, at most the size cap.
        bytes: Vec<u8>,
        /// The `ETag` header, when the server sent one.
        etag: Option<String>,
    },
    /// `304 Not Modified`: the resource did not change since the given `ETag`.
    NotModified,
}

/// One request: method, URL, extra headers, optional body, timeout and `If-None-Match`.
#[derive(Debug)]
pub struct Request<'a> {
    /// The full URL.
    pub url: &'a str,
    /// Headers besides `Authorization` and `X-Amp-Exp-Library` (sent unless
    /// [`Http::without_key_header`]).
    pub headers: Vec<(&'static str, String)>,
    /// A body to `POST`; `None` sends a `GET`.
    pub body: Option<&'a [u8]>,
    /// The whole request's time budget: connecting, sending, and reading the answer.
    pub timeout: Duration,
    /// Sent as `If-None-Match` when present.
    pub etag: Option<&'a str>,
}

/// A deployment key: printed as `<redacted>` by `Debug`, read only with [`ApiKey::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: &str) -> ApiKey {
        ApiKey(key.to_owned())
    }

    /// The key itself, for the `Authorization` header and redaction only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// The time limits of one request.
#[derive(Debug, Clone, Copy)]
enum Budget {
    /// One limit for everything: connecting, sending, the answer and its body.
    Whole(Duration),
    /// A stream: a limit for connecting and the response headers, then one per read.
    Stream { connect: Duration, read: Duration },
}

impl Budget {
    fn apply<S: ureq::AsSendBody>(
        self,
        config: ureq::config::ConfigBuilder<ureq::typestate::HttpCrateScope<S>>,
    ) -> ureq::config::ConfigBuilder<ureq::typestate::HttpCrateScope<S>> {
        match self {
            Budget::Whole(limit) => config.timeout_global(Some(limit)),
            Budget::Stream { connect, read } => config
                .timeout_connect(Some(connect))
                .timeout_recv_response(Some(connect))
                .timeout_per_read(Some(read)),
        }
    }
}

/// The environment's proxy for one URL scheme.
#[derive(Debug)]
enum ProxySetting {
    /// No proxy variable is set for the scheme.
    Direct,
    /// A proxied agent.
    Proxied(Agent),
    /// The variable is set but is not a proxy URL: requests fail with this message.
    Invalid(String),
}

/// An HTTP client for one allot client: agents built for this process, the `NO_PROXY`
/// list, the key (sent as `Authorization: Api-Key <key>` unless it travels in the URL,
/// redacted from every message) and the response size cap. Create a new one in a forked
/// child; never share the parent's.
#[derive(Debug)]
pub struct Http {
    direct: Agent,
    https_proxy: ProxySetting,
    http_proxy: ProxySetting,
    no_proxy: Vec<String>,
    api_key: ApiKey,
    key_header: bool,
    max_body_bytes: u64,
}

impl Http {
    /// Builds the agents. `https_used` loads the trusted certificates (only needed when a
    /// URL of this client is `https`).
    pub fn new(api_key: &ApiKey, max_body_bytes: u64, https_used: bool) -> Http {
        let roots = if https_used {
            trusted_roots()
        } else {
            ureq::tls::RootCerts::WebPki
        };
        let build = |proxy: Option<ureq::Proxy>| {
            Agent::config_builder()
                .http_status_as_error(false)
                .user_agent(LIBRARY)
                .tls_config(
                    ureq::tls::TlsConfig::builder()
                        .root_certs(roots.clone())
                        .build(),
                )
                .proxy(proxy)
                .build()
                .new_agent()
        };
        let proxy_for = |names: &[&str]| match env_first(names) {
            None => ProxySetting::Direct,
            Some((name, value)) => match ureq::Proxy::new(&value) {
                Ok(proxy) => ProxySetting::Proxied(build(Some(proxy))),
                Err(_) => ProxySetting::Invalid(format!(
                    "the environment variable {name} is not a valid proxy URL"
                )),
            },
        };
        Http {
            direct: build(None),
            https_proxy: proxy_for(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
            http_proxy: proxy_for(&["http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"]),
            no_proxy: env_first(&["NO_PROXY", "no_proxy"])
                .map(|(_, v)| parse_no_proxy(&v))
                .unwrap_or_default(),
            api_key: api_key.clone(),
            key_header: true,
            max_body_bytes,
        }
    }

    /// For APIs that take the key elsewhere — in the URL's query (Eppo) or in the body
    /// (Amplitude's analytics API): sends neither `Authorization` nor
    /// `X-Amp-Exp-Library`. The key (raw or query-encoded) is still redacted from every
    /// message.
    pub fn without_key_header(mut self) -> Http {
        self.key_header = false;
        self
    }

    /// Closes every connection of this client, interrupting requests and streams in
    /// flight (they fail at once); later requests fail. Call only in the process that
    /// created this `Http`.
    pub fn shutdown(&self) {
        self.direct.clone().shutdown();
        for setting in [&self.https_proxy, &self.http_proxy] {
            if let ProxySetting::Proxied(agent) = setting {
                agent.clone().shutdown();
            }
        }
    }

    /// Replaces the key wherever it appears in `text`.
    pub fn redact(&self, text: &str) -> String {
        redact(text, self.api_key.expose())
    }

    /// The same error with the key replaced wherever it appears in the message.
    pub fn redact_error(&self, mut error: Error) -> Error {
        error.message = self.redact(&error.message);
        error
    }

    /// Sends one request and reads the whole answer (at most the size cap).
    pub fn send(&self, request: &Request<'_>) -> std::result::Result<Outcome, Failure> {
        let mut response = self
            .call(request, Budget::Whole(request.timeout))
            .map_err(|f| self.clean(f))?;
        let status = response.status().as_u16();
        if status == 304 {
            return Ok(Outcome::NotModified);
        }
        if !(200..300).contains(&status) {
            return Err(self.clean(status_failure(status, response.body_mut())));
        }
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .body_mut()
            .with_config()
            .limit(self.max_body_bytes)
            .read_to_vec()
            .map_err(|e| self.clean(self.body_failure(&e, request)))?;
        Ok(Outcome::Body { bytes, etag })
    }

    /// Sends one request and returns its status and whole body (at most the size cap),
    /// whatever the status: for APIs whose statuses mean more than success or failure.
    pub fn send_any(&self, request: &Request<'_>) -> std::result::Result<(u16, Vec<u8>), Failure> {
        let mut response = self
            .call(request, Budget::Whole(request.timeout))
            .map_err(|f| self.clean(f))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(self.max_body_bytes)
            .read_to_vec()
            .map_err(|e| self.clean(self.body_failure(&e, request)))?;
        Ok((status, bytes))
    }

    /// Opens a server-sent events stream: `connect_timeout` bounds connecting and the
    /// response headers, `read_timeout` every later read (a silent stream then fails with
    /// `timeout`).
    pub fn open_stream(
        &self,
        url: &str,
        connect_timeout: Duration,
        read_timeout: Duration,
    ) -> std::result::Result<impl Read + Send + 'static, Failure> {
        let request = Request {
            url,
            headers: vec![("Accept", "text/event-stream".to_owned())],
            body: None,
            timeout: connect_timeout,
            etag: None,
        };
        let mut response = self
            .call(
                &request,
                Budget::Stream {
                    connect: connect_timeout,
                    read: read_timeout,
                },
            )
            .map_err(|f| self.clean(f))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(self.clean(status_failure(status, response.body_mut())));
        }
        Ok(response.into_body().into_reader())
    }

    /// Runs a request on the agent its URL needs, within `budget`.
    fn call(
        &self,
        request: &Request<'_>,
        budget: Budget,
    ) -> std::result::Result<ureq::http::Response<Body>, Failure> {
        let agent = self.agent_for(request.url)?;
        let method = if request.body.is_some() {
            "POST"
        } else {
            "GET"
        };
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(request.url);
        if self.key_header {
            builder = builder
                .header(
                    "Authorization",
                    format!("Api-Key {}", self.api_key.expose()),
                )
                .header("X-Amp-Exp-Library", LIBRARY);
        }
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        if let Some(etag) = request.etag {
            builder = builder.header(IF_NONE_MATCH, etag);
        }
        let invalid = |e: ureq::http::Error| {
            Failure::new(
                ErrorCode::Network,
                format!("cannot build a request to {}: {e}", request.url),
                false,
            )
        };
        let result = match request.body {
            Some(body) => {
                let http_request = builder.body(body).map_err(invalid)?;
                agent.run(budget.apply(agent.configure_request(http_request)).build())
            }
            None => {
                let http_request = builder.body(()).map_err(invalid)?;
                agent.run(budget.apply(agent.configure_request(http_request)).build())
            }
        };
        result.map_err(|e| transport_failure(&e, request))
    }

    /// The agent for a URL: direct when its host is on `NO_PROXY` or no proxy is set.
    fn agent_for(&self, url: &str) -> std::result::Result<&Agent, Failure> {
        let (scheme, host) = scheme_and_host(url);
        if no_proxy_matches(&self.no_proxy, host) {
            return Ok(&self.direct);
        }
        let setting = if scheme.eq_ignore_ascii_case("https") {
            &self.https_proxy
        } else {
            &self.http_proxy
        };
        match setting {
            ProxySetting::Direct => Ok(&self.direct),
            ProxySetting::Proxied(agent) => Ok(agent),
            ProxySetting::Invalid(message) => {
                Err(Failure::new(ErrorCode::Network, message.clone(), false))
            }
        }
    }

    fn body_failure(&self, err: &ureq::Error, request: &Request<'_>) -> Failure {
        match err {
            ureq::Error::BodyExceedsLimit(_) => Failure::new(
                ErrorCode::InvalidResponse,
                format!(
                    "the response from {} is larger than the {}-byte limit",
                    request.url, self.max_body_bytes
                ),
                false,
            ),
            other => {
                let mut failure = transport_failure(other, request);
                failure.error.message =
                    format!("reading the response body: {}", failure.error.message);
                failure
            }
        }
    }

    fn clean(&self, mut failure: Failure) -> Failure {
        failure.error.message = self.redact(&failure.error.message);
        failure
    }
}

/// The certificates to trust: the operating system's store and the bundled Mozilla
/// roots (so that both corporate CAs and a bare container work).
#[cfg(all(unix, not(target_vendor = "apple"), not(target_os = "android")))]
fn trusted_roots() -> ureq::tls::RootCerts {
    let native = rustls_native_certs::load_native_certs().certs;
    let certs: Vec<ureq::tls::Certificate<'static>> = native
        .iter()
        .map(|c| c.as_ref())
        .chain(
            webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|c| c.as_ref()),
        )
        .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
        .collect();
    ureq::tls::RootCerts::from(certs)
}

/// The certificates to trust on macOS: the bundled Mozilla roots. The OS store needs the
/// Security framework, which the release builds cannot link without Apple's SDK.
#[cfg(target_vendor = "apple")]
fn trusted_roots() -> ureq::tls::RootCerts {
    ureq::tls::RootCerts::WebPki
}

/// The certificates to trust: the platform verifier (the OS store) on Windows and Android.
#[cfg(any(windows, target_os = "android"))]
fn trusted_roots() -> ureq::tls::RootCerts {
    ureq::tls::RootCerts::PlatformVerifier
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
            entry.to_ascii_lowercase()
        })
        .filter(|entry| !entry.is_empty())
        .collect()
}

fn no_proxy_matches(entries: &[String], host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    entries.iter().any(|entry| {
        entry == "*"
            || host == *entry
            || (host.len() > entry.len()
                && host.ends_with(entry.as_str())
                && host.as_bytes()[host.len() - entry.len() - 1] == b'.')
    })
}

/// The scheme and host of a URL (`("http", "example.com")`); best effort, for proxy
/// selection only.
fn scheme_and_host(url: &str) -> (&str, &str) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or(authority)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    (scheme, host)
}

/// The failure for a non-success status: 401/403 → `unauthorized`; 429 and 5xx →
/// retryable `http_status`; other → `http_status`. Quotes the start of the body.
fn status_failure(status: u16, body: &mut Body) -> Failure {
    let mut quoted = Vec::new();
    // The quote is best effort: a body that cannot be read is simply not quoted.
    let _ = body
        .as_reader()
        .take(ERROR_BODY_QUOTE as u64)
        .read_to_end(&mut quoted);
    let text = String::from_utf8_lossy(&quoted);
    let text = text.trim();
    let detail = if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    };
    match status {
        401 | 403 => Failure::new(
            ErrorCode::Unauthorized,
            format!("the server rejected the key (HTTP {status}){detail}"),
            false,
        ),
        429 | 500..=599 => Failure::new(
            ErrorCode::HttpStatus,
            format!("the server answered HTTP {status}{detail}"),
            true,
        ),
        _ => Failure::new(
            ErrorCode::HttpStatus,
            format!("the server answered HTTP {status}{detail}"),
            false,
        ),
    }
}

/// Maps a transport error to `timeout`, `network` or `invalid_response`.
fn transport_failure(err: &ureq::Error, request: &Request<'_>) -> Failure {
    let url = request.url;
    match err {
        ureq::Error::Timeout(phase) => Failure::new(
            ErrorCode::Timeout,
            format!(
                "request to {url} timed out after {} ms ({phase})",
                request.timeout.as_millis()
            ),
            true,
        ),
        ureq::Error::Io(io) => io_failure(io, request),
        ureq::Error::HostNotFound => Failure::new(
            ErrorCode::Network,
            format!("request to {url} failed: host not found"),
            true,
        ),
        ureq::Error::BadUri(detail) => Failure::new(
            ErrorCode::Network,
            format!("invalid URL {url}: {detail}"),
            false,
        ),
        ureq::Error::Protocol(detail) => Failure::new(
            ErrorCode::InvalidResponse,
            format!("request to {url} got a malformed HTTP response: {detail}"),
            true,
        ),
        other => Failure::new(
            ErrorCode::Network,
            format!("request to {url} failed: {other}"),
            true,
        ),
    }
}

fn io_failure(io: &io::Error, request: &Request<'_>) -> Failure {
    if let Some(inner) = io.get_ref().and_then(|e| e.downcast_ref::<ureq::Error>()) {
        return transport_failure(inner, request);
    }
    let url = request.url;
    let what = match io.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            return Failure::new(
                ErrorCode::Timeout,
                format!("request to {url} timed out: {io}"),
                true,
            )
        }
        io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        io::ErrorKind::UnexpectedEof => {
            "the connection closed before the whole response arrived".to_owned()
        }
        _ => io.to_string(),
    };
    Failure::new(
        ErrorCode::Network,
        format!("request to {url} failed: {what}"),
        true,
    )
}

/// The code of a read error: `timeout` for a timeout (ureq's or the socket's), else
/// `network`.
fn io_code(err: &io::Error) -> ErrorCode {
    let ureq_timeout = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<ureq::Error>())
        .is_some_and(|e| matches!(e, ureq::Error::Timeout(_)));
    if ureq_timeout
        || matches!(
            err.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        )
    {
        ErrorCode::Timeout
    } else {
        ErrorCode::Network
    }
}

/// Replaces every occurrence of `secret`, raw or as [`query_value`] encodes it, in `text`
/// by `<redacted>`.
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    let text = text.replace(secret, "<redacted>");
    let encoded = query_value(secret);
    if encoded == secret {
        text
    } else {
        text.replace(&encoded, "<redacted>")
    }
}

/// Characters a URL query value keeps as they are (RFC 3986 unreserved).
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a URL query value.
pub fn query_value(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// Retries with exponential backoff, as the Amplitude SDKs configure them.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first attempt's timeout.
    pub first_timeout: Duration,
    /// Each retry's timeout.
    pub retry_timeout: Duration,
    /// The wait before the first retry.
    pub backoff_min: Duration,
    /// The longest wait between attempts.
    pub backoff_max: Duration,
    /// The factor applied to the wait after each retry.
    pub backoff_scalar: f64,
}

impl RetryPolicy {
    /// Runs `attempt` (given its timeout) until it succeeds, fails with a non-retryable
    /// failure, or every attempt is spent. The final error keeps the last failure's code
    /// and says how many attempts were made.
    pub fn run<T>(
        &self,
        what: &str,
        mut attempt: impl FnMut(Duration) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        let attempts = self.retries.saturating_add(1);
        let mut delay = self.backoff_min;
        let mut made = 0;
        loop {
            made += 1;
            let timeout = if made == 1 {
                self.first_timeout
            } else {
                self.retry_timeout
            };
            let failure = match attempt(timeout) {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            if !failure.retryable || made >= attempts {
                let plural = if made == 1 { "" } else { "s" };
                return Err(Error::new(
                    failure.error.code,
                    format!(
                        "{what} failed after {made} attempt{plural}; the last one failed: {}",
                        failure.error.message
                    ),
                ));
            }
            std::thread::sleep(delay);
            delay = delay
                .mul_f64(self.backoff_scalar.max(0.0))
                .min(self.backoff_max);
        }
    }
}

/// `base` plus or minus up to `spread`, uniformly (never below zero).
pub fn jittered(base: Duration, spread: Duration) -> Duration {
    let spread_ms = spread.as_millis().min(u128::from(u32::MAX)) as u64;
    if spread_ms == 0 {
        return base;
    }
    let offset = fastrand::u64(0..=2 * spread_ms);
    (base + Duration::from_millis(offset)).saturating_sub(spread)
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
    fn scheme_and_host_are_found() {
        assert_eq!(
            scheme_and_host("https://api.lab.amplitude.com/sdk/v2/flags?v=0"),
            ("https", "api.lab.amplitude.com")
        );
        assert_eq!(
            scheme_and_host("http://user:pw@127.0.0.1:8080"),
            ("http", "127.0.0.1")
        );
        assert_eq!(scheme_and_host("http://[::1]:80/x"), ("http", "[::1]"));
    }

    #[test]
    fn redaction_hides_the_key() {
        assert_eq!(
            redact("bad key server-abc in url", "server-abc"),
            "bad key <redacted> in url"
        );
        assert_eq!(redact("nothing", ""), "nothing");
        assert_eq!(query_value("a+b/c=d.e"), "a%2Bb%2Fc%3Dd.e");
        assert_eq!(
            redact("GET /x?apiKey=a%2Bb%3D&y=1 or a+b=", "a+b="),
            "GET /x?apiKey=<redacted>&y=1 or <redacted>"
        );
    }

    #[test]
    fn jitter_stays_within_its_spread() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_millis(15_000), Duration::from_millis(1_000));
            assert!(d >= Duration::from_millis(14_000) && d <= Duration::from_millis(16_000));
        }
        assert_eq!(
            jittered(Duration::from_millis(5), Duration::ZERO),
            Duration::from_millis(5)
        );
    }

    #[test]
    fn retries_stop_on_a_non_retryable_failure_and_count_attempts() {
        let policy = RetryPolicy {
            retries: 3,
            first_timeout: Duration::from_millis(100),
            retry_timeout: Duration::from_millis(200),
            backoff_min: Duration::from_millis(1),
            backoff_max: Duration::from_millis(2),
            backoff_scalar: 2.0,
        };
        let mut timeouts = Vec::new();
        let err = policy
            .run::<()>("fetch", |t| {
                timeouts.push(t);
                Err(Failure::new(ErrorCode::HttpStatus, "HTTP 503".into(), true))
            })
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::HttpStatus);
        assert!(err.message.contains("after 4 attempts"), "{}", err.message);
        assert!(err.message.contains("HTTP 503"), "{}", err.message);
        assert_eq!(
            timeouts,
            [100, 200, 200, 200].map(Duration::from_millis).to_vec()
        );
        let mut calls = 0;
        let err = policy
            .run::<()>("fetch", |_| {
                calls += 1;
                Err(Failure::new(
                    ErrorCode::HttpStatus,
                    "HTTP 400".into(),
                    false,
                ))
            })
            .unwrap_err();
        assert_eq!(calls, 1);
        assert!(err.message.contains("after 1 attempt;"), "{}", err.message);
    }
}
