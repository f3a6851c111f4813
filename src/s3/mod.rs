//! A small blocking S3 client for `b2c.minio` endpoints: path-style
//! addressing, AWS Signature V4 (query-string signing from `rusty-s3`, a
//! sans-IO signer), requests sent by the `ureq` agent the init already links
//! (rustls, the shipped CA bundle, `b2c.proxy`).
//!
//! Every call here is one HTTP exchange, bounded in time (connection, each
//! read and write, and the whole call). Retries belong to the caller (see
//! [`RetryPolicy`]) because a body must be produced again for each try.
//! Nothing printed by this module contains a key: errors carry the HTTP
//! status, the S3 error code and message, or a transport reason with the
//! endpoint's keys scrubbed out.

mod request;
mod sse;

pub use request::{Body, ObjectMeta, Response};
pub use sse::{SseKey, SseKeyError};

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::cmdline::{Minio, Proxy, MASK};
use crate::net::http::{proxy_for, tls_config, CA_BUNDLE};

/// The region used for signing; MinIO-style servers accept any region when
/// none is configured, and `us-east-1` is what they default to.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How long a signed request stays valid (from its signing time).
const SIGNATURE_VALIDITY: Duration = Duration::from_secs(3600);

/// Settings of an [`Endpoint`]; [`Default`] is what the init uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointOptions {
    /// PEM file of the trusted certificate authorities, for https.
    pub ca_bundle: PathBuf,
    /// Limit to resolve and connect (default 10 s).
    pub connect_timeout: Duration,
    /// Limit for each read and each write on the connection, and for the
    /// response headers (default 30 s): a stalled server ends the call.
    pub io_timeout: Duration,
    /// The signing region (default [`DEFAULT_REGION`]).
    pub region: String,
}

impl Default for EndpointOptions {
    fn default() -> Self {
        Self {
            ca_bundle: PathBuf::from(CA_BUNDLE),
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
            region: DEFAULT_REGION.to_string(),
        }
    }
}

/// Why an endpoint cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The CA bundle could not be read or holds no certificate.
    #[error("b2c.minio={alias}: cannot load the CA certificates from {}: {reason}", .path.display())]
    CaBundle {
        /// The endpoint alias.
        alias: String,
        /// The bundle.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The proxy could not be used.
    #[error("b2c.minio={alias}: invalid proxy {proxy}: {reason}")]
    Proxy {
        /// The endpoint alias.
        alias: String,
        /// The proxy URL (password masked).
        proxy: String,
        /// Why.
        reason: String,
    },
    /// The URL cannot be an S3 endpoint.
    #[error("b2c.minio={alias}: the URL {url} cannot be used: {reason}")]
    Url {
        /// The endpoint alias.
        alias: String,
        /// The URL (password masked).
        url: String,
        /// Why.
        reason: String,
    },
}

/// What kind of transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The server could not be reached (refused, unreachable, no such host).
    Connect,
    /// No progress within the time limit.
    Timeout,
    /// The TLS certificate was rejected: asking again will not help.
    Tls,
    /// The connection broke or the answer was malformed.
    Other,
}

/// One failed S3 request. Never contains a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3Error {
    /// The server answered with an error status.
    #[error("HTTP status {status}{}", detail(.code.as_deref(), .message.as_deref()))]
    Status {
        /// The HTTP status.
        status: u16,
        /// The S3 error code (`NoSuchBucket`, `AccessDenied`...), when given.
        code: Option<String>,
        /// The S3 error message, when given.
        message: Option<String>,
    },
    /// The request never got a complete answer.
    #[error("{reason}")]
    Transport {
        /// What happened (keys scrubbed).
        reason: String,
        /// Its class.
        kind: TransportKind,
    },
    /// The server answered something this client cannot use (bad XML, a
    /// checksum that does not match what was sent...).
    #[error("{0}")]
    Protocol(String),
    /// The signing clock was off by more than the server allows; it was
    /// corrected from the server's `Date` and the request can be tried again.
    #[error("the clock is {skew_s} s off the server's (corrected, trying again)")]
    ClockSkew {
        /// Server time minus local time, in seconds.
        skew_s: i64,
    },
    /// A local file could not be read (while it was sent) or written
    /// (while it was received).
    #[error("{path}: {reason}")]
    Local {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The transfer was cancelled or ran past its deadline.
    #[error("cancelled")]
    Cancelled,
}

fn detail(code: Option<&str>, message: Option<&str>) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!(" ({c}: {m})"),
        (Some(c), None) => format!(" ({c})"),
        (None, Some(m)) => format!(" ({m})"),
        (None, None) => String::new(),
    }
}

impl S3Error {
    /// True when trying again may succeed: connection trouble, timeouts,
    /// server errors (5xx), throttling (429, `SlowDown`), `RequestTimeout`,
    /// a corrected clock, a garbled answer. Never for permissions, missing
    /// buckets or objects, bad requests, rejected certificates.
    pub fn is_transient(&self) -> bool {
        match self {
            S3Error::Status { status, code, .. } => {
                *status >= 500
                    || *status == 408
                    || *status == 429
                    || matches!(
                        code.as_deref(),
                        Some(
                            "RequestTimeout" | "SlowDown" | "InternalError" | "ServiceUnavailable"
                        )
                    )
            }
            S3Error::Transport { kind, .. } => *kind != TransportKind::Tls,
            S3Error::Protocol(_) | S3Error::ClockSkew { .. } => true,
            S3Error::Local { .. } | S3Error::Cancelled => false,
        }
    }

    /// The S3 error code, when the server gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            S3Error::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            S3Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when the credentials were refused (bad access key, bad
    /// signature, access denied).
    pub fn is_denied(&self) -> bool {
        match self {
            S3Error::Status { status, code, .. } => {
                *status == 401
                    || *status == 403
                    || matches!(
                        code.as_deref(),
                        Some(
                            "AccessDenied"
                                | "InvalidAccessKeyId"
                                | "SignatureDoesNotMatch"
                                | "InvalidToken"
                                | "ExpiredToken"
                        )
                    )
            }
            _ => false,
        }
    }

    /// True when the server could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            S3Error::Transport {
                kind: TransportKind::Connect | TransportKind::Timeout,
                ..
            }
        )
    }
}

/// How often and how fast to try a request again after a transient error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total tries, the first included (at least 1).
    pub tries: u32,
    /// Pause after the first failure; doubled after each one.
    pub first_delay: Duration,
    /// Longest pause.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            tries: 5,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
        }
    }
}

impl RetryPolicy {
    /// The pause before try number `next` (2 for the first retry), with up
    /// to 25 % of jitter so that parallel transfers do not retry in step.
    pub fn delay(&self, next: u32, jitter_seed: u64) -> Duration {
        let doublings = next.saturating_sub(2).min(16);
        let base = self
            .first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay);
        let quarter = base.as_millis() as u64 / 4;
        let jitter = if quarter == 0 {
            0
        } else {
            splitmix(jitter_seed) % quarter
        };
        base + Duration::from_millis(jitter)
    }

    /// Runs `attempt` (given the try number, from 1) until it succeeds, fails
    /// permanently, or the tries are spent; `stop` is asked before each retry
    /// and ends the loop early (for cancellation or a dead endpoint). The
    /// error comes with the number of tries made.
    pub fn run<T>(
        &self,
        stop: &dyn Fn() -> bool,
        mut attempt: impl FnMut(u32) -> Result<T, S3Error>,
    ) -> Result<T, (S3Error, u32)> {
        let tries = self.tries.max(1);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0)
            ^ thread_seed();
        let mut n = 1;
        loop {
            match attempt(n) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    // A corrected clock is worth one immediate try more.
                    let free = matches!(e, S3Error::ClockSkew { .. });
                    if !e.is_transient() || n >= tries || stop() {
                        return Err((e, n));
                    }
                    if !free {
                        sleep_unless(self.delay(n + 1, seed ^ u64::from(n)), stop);
                        if stop() {
                            return Err((e, n));
                        }
                    }
                    n += 1;
                }
            }
        }
    }
}

/// Sleeps `d` in small steps, waking early when `stop` says so.
fn sleep_unless(d: Duration, stop: &dyn Fn() -> bool) {
    let end = std::time::Instant::now() + d;
    loop {
        let now = std::time::Instant::now();
        if now >= end || stop() {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

fn thread_seed() -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::thread::current().id().hash(&mut h);
    h.finish()
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A `b2c.minio` endpoint, ready to send requests. Cheap to share between
/// threads (`&Endpoint` is `Sync`).
pub struct Endpoint {
    alias: String,
    url: url::Url,
    shown: String,
    credentials: rusty_s3::Credentials,
    agent: ureq::Agent,
    region: String,
    /// Server time minus local time, learnt from a clock-skew answer.
    clock_offset_s: AtomicI64,
    /// Texts that must never appear in a message (the keys).
    secrets: Vec<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("alias", &self.alias)
            .field("url", &self.shown)
            .field("access_key", &MASK)
            .field("secret_key", &MASK)
            .finish()
    }
}

impl Endpoint {
    /// The endpoint of `b2c.minio`, reached through `proxy` when one is set
    /// and the host is not in its `no` list, https checked against the CA
    /// bundle the init ships.
    pub fn from_minio(minio: &Minio, proxy: Option<&Proxy>) -> Result<Endpoint, EndpointError> {
        Self::with_options(minio, proxy, &EndpointOptions::default())
    }

    /// [`Endpoint::from_minio`] with explicit settings.
    pub fn with_options(
        minio: &Minio,
        proxy: Option<&Proxy>,
        opts: &EndpointOptions,
    ) -> Result<Endpoint, EndpointError> {
        let alias = minio.alias.clone();
        let shown = minio.url.to_string();
        let url_err = |reason: String| EndpointError::Url {
            alias: alias.clone(),
            url: shown.clone(),
            reason,
        };
        if minio.url.username.is_some() {
            return Err(url_err(
                "it has a user name: the keys are the third and fourth fields of b2c.minio"
                    .to_string(),
            ));
        }
        let path = minio.url.path.as_str();
        if path.contains(['?', '#']) {
            return Err(url_err("it has a query or a fragment".to_string()));
        }
        // The bucket goes after the URL's path: make it end with `/`.
        let mut base = minio.url.expose();
        if !base.ends_with('/') {
            base.push('/');
        }
        let url = url::Url::parse(&base).map_err(|e| url_err(e.to_string()))?;

        let tls = tls_config(minio.url.scheme == "https", &opts.ca_bundle).map_err(|reason| {
            EndpointError::CaBundle {
                alias: alias.clone(),
                path: opts.ca_bundle.clone(),
                reason,
            }
        })?;
        let mut secrets = vec![
            minio.access_key.expose().to_string(),
            minio.secret_key.expose().to_string(),
        ];
        let via = proxy_for(&minio.url, proxy);
        let ureq_proxy = match via {
            None => None,
            Some(p) => {
                if let Some(pw) = &p.password {
                    secrets.push(pw.expose().to_string());
                }
                Some(
                    ureq::Proxy::new(&p.expose()).map_err(|e| EndpointError::Proxy {
                        alias: alias.clone(),
                        proxy: p.to_string(),
                        reason: scrub(&e.to_string(), &secrets),
                    })?,
                )
            }
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .proxy(ureq_proxy)
            .http_status_as_error(false)
            .timeout_connect(Some(opts.connect_timeout))
            .timeout_resolve(Some(opts.connect_timeout))
            .timeout_recv_response(Some(opts.io_timeout))
            .timeout_per_read(Some(opts.io_timeout))
            .timeout_per_write(Some(opts.io_timeout))
            .max_idle_connections(64)
            .max_idle_connections_per_host(64)
            .user_agent(concat!("boot2container/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Endpoint {
            alias,
            url,
            shown,
            credentials: rusty_s3::Credentials::new(
                minio.access_key.expose(),
                minio.secret_key.expose(),
            ),
            agent,
            region: opts.region.clone(),
            clock_offset_s: AtomicI64::new(0),
            secrets,
        })
    }

    /// The `b2c.minio` alias.
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// The endpoint URL as it may be printed.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// A handle on `bucket`, whose object requests carry the SSE-C headers
    /// of `sse` when given.
    pub fn bucket(&self, bucket: &str, sse: Option<SseKey>) -> Result<Bucket<'_>, EndpointError> {
        let inner = rusty_s3::Bucket::new(
            self.url.clone(),
            rusty_s3::UrlStyle::Path,
            bucket.to_string(),
            self.region.clone(),
        )
        .map_err(|e| EndpointError::Url {
            alias: self.alias.clone(),
            url: self.shown.clone(),
            reason: e.to_string(),
        })?;
        Ok(Bucket {
            endpoint: self,
            inner,
            name: bucket.to_string(),
            sse,
        })
    }

    fn signing_time(&self) -> jiff::Timestamp {
        let offset = self.clock_offset_s.load(Ordering::Relaxed);
        let now = jiff::Timestamp::now();
        now.checked_add(jiff::SignedDuration::from_secs(offset))
            .unwrap_or(now)
    }

    fn scrub(&self, text: &str) -> String {
        scrub(text, &self.secrets)
    }
}

/// Replaces each secret found in `text` by `***`, and drops any signed query
/// string (it names the access key).
fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), MASK);
        let encoded: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
        if encoded != *s {
            out = out.replace(&encoded, MASK);
        }
    }
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(start) = rest.find("X-Amz-") {
        result.push_str(&rest[..start]);
        result.push_str("X-Amz-***");
        let after = &rest[start..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '>'))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    result.push_str(rest);
    out = result;
    out
}

/// One bucket of an endpoint.
pub struct Bucket<'e> {
    endpoint: &'e Endpoint,
    inner: rusty_s3::Bucket,
    name: String,
    sse: Option<SseKey>,
}

impl std::fmt::Debug for Bucket<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bucket({}/{})", self.endpoint.alias, self.name)
    }
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The full key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, without quotes.
    pub etag: String,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// The objects of this page.
    pub objects: Vec<Listed>,
    /// The token of the next page, when the listing is truncated.
    pub next: Option<String>,
}

impl<'e> Bucket<'e> {
    /// The bucket name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &'e Endpoint {
        self.endpoint
    }

    /// True when object requests carry SSE-C headers.
    pub fn encrypted(&self) -> bool {
        self.sse.is_some()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn transient_or_not() {
        let st = |status: u16, code: Option<&str>| S3Error::Status {
            status,
            code: code.map(str::to_string),
            message: None,
        };
        assert!(st(500, Some("InternalError")).is_transient());
        assert!(st(503, Some("SlowDown")).is_transient());
        assert!(st(502, None).is_transient());
        assert!(st(429, None).is_transient());
        assert!(st(408, None).is_transient());
        assert!(st(400, Some("RequestTimeout")).is_transient());
        assert!(!st(403, Some("AccessDenied")).is_transient());
        assert!(!st(403, Some("SignatureDoesNotMatch")).is_transient());
        assert!(!st(404, Some("NoSuchBucket")).is_transient());
        assert!(!st(404, Some("NoSuchKey")).is_transient());
        assert!(!st(400, Some("InvalidArgument")).is_transient());
        let tr = |kind| S3Error::Transport {
            reason: String::new(),
            kind,
        };
        assert!(tr(TransportKind::Connect).is_transient());
        assert!(tr(TransportKind::Timeout).is_transient());
        assert!(tr(TransportKind::Other).is_transient());
        assert!(!tr(TransportKind::Tls).is_transient());
        assert!(S3Error::Protocol("bad".into()).is_transient());
        assert!(S3Error::ClockSkew { skew_s: 3600 }.is_transient());
        assert!(!S3Error::Cancelled.is_transient());
        assert!(!S3Error::Local {
            path: "x".into(),
            reason: "y".into()
        }
        .is_transient());
        assert!(st(403, Some("InvalidAccessKeyId")).is_denied());
        assert!(!st(404, Some("NoSuchBucket")).is_denied());
        assert!(tr(TransportKind::Connect).is_unreachable());
    }

    #[test]
    fn error_text() {
        let e = S3Error::Status {
            status: 404,
            code: Some("NoSuchBucket".into()),
            message: Some("The specified bucket does not exist".into()),
        };
        assert_eq!(
            e.to_string(),
            "HTTP status 404 (NoSuchBucket: The specified bucket does not exist)"
        );
        let e = S3Error::Status {
            status: 503,
            code: None,
            message: None,
        };
        assert_eq!(e.to_string(), "HTTP status 503");
    }

    #[test]
    fn retry_delays_grow_and_stay_bounded() {
        let p = RetryPolicy::default();
        let d2 = p.delay(2, 1);
        let d3 = p.delay(3, 1);
        let d9 = p.delay(9, 1);
        assert!(d2 >= Duration::from_millis(250) && d2 < Duration::from_millis(313));
        assert!(d3 >= Duration::from_millis(500) && d3 < Duration::from_millis(625));
        assert!(d9 >= Duration::from_secs(4) && d9 <= Duration::from_secs(5));
    }

    #[test]
    fn retry_loop() {
        let p = RetryPolicy {
            tries: 3,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let never = || false;
        // Transient then success.
        let mut n = 0;
        let r = p.run(&never, |_| {
            n += 1;
            if n < 3 {
                Err(S3Error::Status {
                    status: 503,
                    code: None,
                    message: None,
                })
            } else {
                Ok(n)
            }
        });
        assert_eq!(r.unwrap(), 3);
        // Permanent: one try only.
        let mut n = 0;
        let r: Result<(), _> = p.run(&never, |_| {
            n += 1;
            Err(S3Error::Status {
                status: 403,
                code: Some("AccessDenied".into()),
                message: None,
            })
        });
        assert_eq!(r.unwrap_err().1, 1);
        assert_eq!(n, 1);
        // Transient every time: all tries spent.
        let r: Result<(), _> = p.run(&never, |_| {
            Err(S3Error::Transport {
                reason: "connection refused".into(),
                kind: TransportKind::Connect,
            })
        });
        assert_eq!(r.unwrap_err().1, 3);
        // Stopped: no retry.
        let r: Result<(), _> = p.run(&|| true, |_| {
            Err(S3Error::Transport {
                reason: "x".into(),
                kind: TransportKind::Connect,
            })
        });
        assert_eq!(r.unwrap_err().1, 1);
    }

    #[test]
    fn a_skewed_clock_is_learnt_from_the_server() {
        let minio = Minio {
            alias: "job".into(),
            url: crate::cmdline::Url::parse("http://127.0.0.1:9", &["http", "https"]).unwrap(),
            access_key: crate::cmdline::Secret::new("AK"),
            secret_key: crate::cmdline::Secret::new("SK"),
        };
        let ep = Endpoint::from_minio(&minio, None).unwrap();
        let now = jiff::Timestamp::now().as_second();
        // A small difference, or another error: nothing learnt.
        assert_eq!(
            ep.learn_clock(Some(now + 30), Some("RequestTimeTooSkewed")),
            None
        );
        assert_eq!(ep.learn_clock(Some(now + 3600), Some("NoSuchBucket")), None);
        assert_eq!(ep.learn_clock(None, Some("RequestTimeTooSkewed")), None);
        // The guest is an hour behind: signing moves to the server's time.
        let skew = ep
            .learn_clock(Some(now + 3600), Some("RequestTimeTooSkewed"))
            .unwrap();
        assert!((3599..=3601).contains(&skew), "{skew}");
        let signed = ep.signing_time().as_second();
        assert!((now + 3599..=now + 3602).contains(&signed));
        // Learnt once: the same answer again is not a new correction.
        assert_eq!(ep.learn_clock(Some(now + 3600), Some("AccessDenied")), None);
    }

    #[test]
    fn scrubbing() {
        let secrets = vec!["AKIDEXAMPLE".to_string(), "s3cr3t/+key".to_string()];
        let s = scrub(
            "GET http://h/b/k?X-Amz-Credential=AKIDEXAMPLE%2F2024&X-Amz-Signature=abc failed: s3cr3t/+key s3cr3t%2F%2Bkey",
            &secrets,
        );
        assert!(!s.contains("AKIDEXAMPLE"), "{s}");
        assert!(!s.contains("s3cr3t"), "{s}");
        assert!(!s.contains("abc"), "{s}");
    }
}
