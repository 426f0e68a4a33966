//! The HTTP client: blocking requests over `ureq` with rustls, per-request timeouts,
//! gzip, ETags, a response size cap, proxies ([`super::proxy`]) and the trusted roots.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ureq::http::header::{ETAG, IF_NONE_MATCH};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::{Agent, Body};

use super::failure::{status_failure, transport_failure, Failure};
use super::proxy::Proxies;
use super::redact::{redact, ApiKey};
use crate::error::{Error, ErrorCode};

/// The `X-Amp-Exp-Library` / `User-Agent` value: `allot/<version>`.
pub const LIBRARY: &str = concat!("allot/", env!("CARGO_PKG_VERSION"));

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

/// An HTTP client for one allot client: agents built for this process, the `NO_PROXY`
/// list, the key (sent as `Authorization: Api-Key <key>` unless it travels in the URL,
/// redacted from every message) and the response size cap. Create a new one in a forked
/// child; never share the parent's.
#[derive(Debug)]
pub struct Http {
    proxies: Proxies,
    /// Set by [`Http::shutdown`]: a body being read (or decompressed) stops.
    shut_down: AtomicBool,
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
            let config = Agent::config_builder()
                .http_status_as_error(false)
                .user_agent(LIBRARY)
                .tls_config(
                    ureq::tls::TlsConfig::builder()
                        .root_certs(roots.clone())
                        .build(),
                )
                .proxy(proxy)
                .build();
            Agent::with_parts(config, DefaultConnector::new(), LiteralFirst::default())
        };
        Http {
            proxies: Proxies::from_env(build),
            shut_down: AtomicBool::new(false),
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
    /// flight (they fail at once, and a body being decompressed stops at its next
    /// chunk); later requests fail. Call only in the process that created this `Http`.
    pub fn shutdown(&self) {
        self.shut_down.store(true, Ordering::Release);
        self.proxies.shutdown();
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
    pub fn send(&self, request: &Request<'_>) -> Result<Outcome, Failure> {
        let mut response = self
            .call(request, Budget::Whole(request.timeout))
            .map_err(|f| self.clean(f))?;
        let status = response.status().as_u16();
        if status == 304 {
            return Ok(Outcome::NotModified);
        }
        if !(200..300).contains(&status) {
            let failure = status_failure(status, &mut response, self.api_key.expose());
            return Err(self.clean(failure));
        }
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = self
            .read_body(response.body_mut(), request)
            .map_err(|f| self.clean(f))?;
        Ok(Outcome::Body { bytes, etag })
    }

    /// Reads (and decompresses) a whole body of at most the size cap, in chunks, so that
    /// [`Http::shutdown`] interrupts even a decompression that needs no more input.
    fn read_body(&self, body: &mut Body, request: &Request<'_>) -> Result<Vec<u8>, Failure> {
        let mut reader = body.with_config().limit(self.max_body_bytes).reader();
        let mut bytes = Vec::new();
        let mut chunk = vec![0; 64 * 1024];
        loop {
            if self.shut_down.load(Ordering::Acquire) {
                return Err(Failure::new(
                    ErrorCode::Network,
                    format!(
                        "reading the response from {}: the client was freed",
                        request.url
                    ),
                    false,
                ));
            }
            match reader.read(&mut chunk) {
                Ok(0) => return Ok(bytes),
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let inner = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>());
                    return Err(match inner {
                        Some(err) => self.body_failure(err, request),
                        None => self.body_failure(&ureq::Error::Io(e), request),
                    });
                }
            }
        }
    }

    /// Sends one request and returns its status and whole body (at most the size cap),
    /// whatever the status: for APIs whose statuses mean more than success or failure.
    pub fn send_any(&self, request: &Request<'_>) -> Result<(u16, Vec<u8>), Failure> {
        let mut response = self
            .call(request, Budget::Whole(request.timeout))
            .map_err(|f| self.clean(f))?;
        let status = response.status().as_u16();
        let bytes = self
            .read_body(response.body_mut(), request)
            .map_err(|f| self.clean(f))?;
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
    ) -> Result<impl Read + Send + 'static, Failure> {
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
            let failure = status_failure(status, &mut response, self.api_key.expose());
            return Err(self.clean(failure));
        }
        Ok(response.into_body().into_reader())
    }

    /// Runs a request on the agent its URL needs, within `budget`.
    fn call(
        &self,
        request: &Request<'_>,
        budget: Budget,
    ) -> Result<ureq::http::Response<Body>, Failure> {
        let agent = self.proxies.agent_for(request.url)?;
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
                // A redirected POST is answered with a clear error, not resent.
                let http_request = builder.body(body).map_err(invalid)?;
                let config = budget.apply(agent.configure_request(http_request));
                agent.run(config.max_redirects(0).build())
            }
            None => {
                let http_request = builder.body(()).map_err(invalid)?;
                agent.run(budget.apply(agent.configure_request(http_request)).build())
            }
        };
        result.map_err(|e| transport_failure(&e, request))
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

/// Resolves IP-literal hosts (`127.0.0.1`, `[::1]`) in the calling thread; names go to
/// ureq's resolver. ureq resolves on a new `std` thread whenever a timeout is set, and
/// `std` thread starts can hang in a forked child (see `crate::runtime`): a client whose
/// URLs name IP addresses never starts one.
#[derive(Debug, Default)]
struct LiteralFirst(DefaultResolver);

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let literal = uri.host().and_then(|host| {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .ok()
        });
        let port = uri.port_u16().or_else(|| match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => Some(443),
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => Some(80),
            _ => None,
        });
        match (literal, port) {
            (Some(ip), Some(port)) => {
                let mut addrs = self.empty();
                addrs.push(std::net::SocketAddr::new(ip, port));
                Ok(addrs)
            }
            _ => self.0.resolve(uri, config, timeout),
        }
    }
}
