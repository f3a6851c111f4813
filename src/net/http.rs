//! The init's own HTTP(S) downloads (`b2c.extra_args_url`): ureq with rustls,
//! certificates checked against the CA bundle the initramfs ships, bounded
//! tries, `b2c.proxy` honoured. Errors name the URL with its password masked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::{info, warn};

use crate::cmdline::{Proxy, Url};

/// The CA bundle shipped in the initramfs.
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Settings of [`fetch_with`]; [`fetch`] uses the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// PEM file of the trusted certificate authorities (default [`CA_BUNDLE`]).
    pub ca_bundle: PathBuf,
    /// Limit for one try, connection to last byte (default 10 s).
    pub timeout: Duration,
    /// How many tries (default 3).
    pub tries: u32,
    /// Pause between tries (default 1 s).
    pub retry_delay: Duration,
    /// Largest body accepted (default 1 MiB).
    pub max_size: u64,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            ca_bundle: PathBuf::from(CA_BUNDLE),
            timeout: Duration::from_secs(10),
            tries: 3,
            retry_delay: Duration::from_secs(1),
            max_size: 1 << 20,
        }
    }
}

/// Why a download failed. Every message names the URL (password masked).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Neither http nor https.
    #[error("cannot download {url}: only http and https are supported")]
    Scheme {
        /// The URL (masked).
        url: String,
    },
    /// The CA bundle could not be read or holds no certificate.
    #[error("cannot download {url}: cannot load the CA certificates from {}: {reason}", .path.display())]
    CaBundle {
        /// The URL (masked).
        url: String,
        /// The bundle.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The proxy could not be used.
    #[error("cannot download {url}: invalid proxy {proxy}: {reason}")]
    Proxy {
        /// The URL (masked).
        url: String,
        /// The proxy URL (masked).
        proxy: String,
        /// Why.
        reason: String,
    },
    /// The server answered with a non-2xx status.
    #[error("cannot download {url}: HTTP status {status}{}", reason_phrase(*.status))]
    Status {
        /// The URL (masked).
        url: String,
        /// The status code.
        status: u16,
    },
    /// No answer within the time limit, on every try.
    #[error("cannot download {url}: no complete answer within {timeout:?} ({tries} tries)")]
    Timeout {
        /// The URL (masked).
        url: String,
        /// The limit of each try.
        timeout: Duration,
        /// How many tries.
        tries: u32,
    },
    /// Connection, TLS or protocol failure, on every try.
    #[error("cannot download {url} ({tries} tries): {reason}")]
    Transport {
        /// The URL (masked).
        url: String,
        /// How many tries.
        tries: u32,
        /// The last failure (secrets masked).
        reason: String,
    },
    /// The body is larger than accepted.
    #[error("cannot download {url}: the file is larger than {limit} bytes")]
    TooLarge {
        /// The URL (masked).
        url: String,
        /// The limit.
        limit: u64,
    },
    /// The blocking task died.
    #[error("cannot download {url}: the download task failed: {reason}")]
    Task {
        /// The URL (masked).
        url: String,
        /// Why.
        reason: String,
    },
}

fn reason_phrase(status: u16) -> String {
    match http_reason(status) {
        Some(r) => format!(" ({r})"),
        None => String::new(),
    }
}

fn http_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return None,
    })
}

/// Downloads `url` (see the module documentation) with the default settings.
pub async fn fetch(url: &Url, proxy: Option<&Proxy>) -> Result<Vec<u8>, FetchError> {
    fetch_with(url, proxy, &FetchOptions::default()).await
}

/// [`fetch`] with explicit settings.
pub async fn fetch_with(
    url: &Url,
    proxy: Option<&Proxy>,
    opts: &FetchOptions,
) -> Result<Vec<u8>, FetchError> {
    let url = url.clone();
    let proxy = proxy.cloned();
    let opts = opts.clone();
    let shown = url.to_string();
    tokio::task::spawn_blocking(move || fetch_blocking(&url, proxy.as_ref(), &opts))
        .await
        .map_err(|e| FetchError::Task {
            url: shown,
            reason: e.to_string(),
        })?
}

/// Whether `host` is listed in the proxy's `no` list: exact names, domain
/// suffixes (`.lab` or `lab` match `x.lab`), `*`, and IPv4 networks
/// (`10.0.0.0/8`).
pub fn bypasses_proxy(host: &str, no: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    no.iter().any(|entry| {
        let entry = entry.trim().trim_end_matches('.').to_ascii_lowercase();
        if entry == "*" || entry == host {
            return true;
        }
        if let Some((net, prefix)) = entry.split_once('/') {
            if let (Ok(net), Ok(prefix), Ok(ip)) = (
                net.parse::<std::net::Ipv4Addr>(),
                prefix.parse::<u8>(),
                host.parse::<std::net::Ipv4Addr>(),
            ) {
                return prefix <= 32 && super::link::same_subnet(net, ip, prefix);
            }
            return false;
        }
        let suffix = entry.trim_start_matches('.');
        !suffix.is_empty() && host.ends_with(&format!(".{suffix}"))
    })
}

/// The proxy for `url`, if any (also used by the S3 client).
pub(crate) fn proxy_for<'p>(url: &Url, proxy: Option<&'p Proxy>) -> Option<&'p Url> {
    let p = proxy?;
    if bypasses_proxy(&url.host, &p.no) {
        return None;
    }
    if url.scheme == "https" {
        p.https.as_ref().or(p.http.as_ref())
    } else {
        p.http.as_ref().or(p.https.as_ref())
    }
}

/// Replaces every secret of `url` and `proxy` found in `text` by `***`,
/// and escapes control characters (the text may quote the server).
fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = crate::cmdline::escape_controls(text);
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s, crate::cmdline::MASK);
    }
    out
}

/// The TLS settings of the init's HTTP clients (downloads and S3): rustls,
/// trusting the certificates of the CA bundle `ca_bundle` for https (the
/// bundle is not read for plain http). The error says what is wrong with
/// the bundle.
pub(crate) fn tls_config(https: bool, ca_bundle: &Path) -> Result<ureq::tls::TlsConfig, String> {
    let mut tls = ureq::tls::TlsConfig::builder().provider(ureq::tls::TlsProvider::Rustls);
    if https {
        let roots = load_roots(ca_bundle)?;
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&roots));
    }
    Ok(tls.build())
}

fn load_roots(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err("no PEM certificate in it".to_string());
    }
    Ok(certs)
}

fn basic_auth(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let bytes = input.as_bytes();
    let mut out = String::from("Basic ");
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
                out.push(char::from(ALPHABET[idx]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

enum TryError {
    /// Worth another try.
    Retry(FetchError),
    /// Final.
    Fatal(FetchError),
}

fn fetch_blocking(
    url: &Url,
    proxy: Option<&Proxy>,
    opts: &FetchOptions,
) -> Result<Vec<u8>, FetchError> {
    let shown = url.to_string();
    if url.scheme != "http" && url.scheme != "https" {
        return Err(FetchError::Scheme { url: shown });
    }
    let mut secrets: Vec<String> = Vec::new();
    if let Some(p) = &url.password {
        secrets.push(p.expose().to_string());
    }
    let via = proxy_for(url, proxy);
    if let Some(p) = via.and_then(|v| v.password.as_ref()) {
        secrets.push(p.expose().to_string());
    }
    let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();

    let tls = tls_config(url.scheme == "https", &opts.ca_bundle).map_err(|reason| {
        FetchError::CaBundle {
            url: shown.clone(),
            path: opts.ca_bundle.clone(),
            reason,
        }
    })?;
    let ureq_proxy = match via {
        None => None,
        Some(p) => Some(
            ureq::Proxy::new(&p.expose()).map_err(|e| FetchError::Proxy {
                url: shown.clone(),
                proxy: p.to_string(),
                reason: scrub(&e.to_string(), &secret_refs),
            })?,
        ),
    };
    if let Some(p) = via {
        info!("Downloading {shown} through the proxy {p}");
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .proxy(ureq_proxy)
        .http_status_as_error(false)
        .timeout_global(Some(opts.timeout))
        .user_agent(concat!("boot2container/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();

    // The password goes in a header: the request URL carries none.
    let mut target = url.clone();
    target.username = None;
    target.password = None;
    let target = target.expose();
    let auth = url.username.as_ref().map(|u| {
        basic_auth(
            u,
            url.password
                .as_ref()
                .map(|p| p.expose())
                .unwrap_or_default(),
        )
    });

    let tries = opts.tries.max(1);
    let mut last = None;
    for attempt in 1..=tries {
        if attempt > 1 {
            std::thread::sleep(opts.retry_delay);
        }
        // ureq 3.5.2 panics on some malformed answers (a redirect whose
        // chunked body ends early): a failed try, not a failed task.
        let once = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            try_once(
                &agent,
                &target,
                auth.as_deref(),
                url,
                opts,
                tries,
                &secret_refs,
            )
        }))
        .unwrap_or_else(|_| {
            Err(TryError::Retry(FetchError::Transport {
                url: shown.clone(),
                tries,
                reason: "the HTTP library failed on a malformed answer".to_string(),
            }))
        });
        match once {
            Ok(body) => return Ok(body),
            Err(TryError::Fatal(e)) => return Err(e),
            Err(TryError::Retry(e)) => {
                if attempt < tries {
                    warn!("{e} (try {attempt}/{tries}, trying again)");
                }
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or(FetchError::Transport {
        url: shown,
        tries,
        reason: "no try was made".to_string(),
    }))
}

fn try_once(
    agent: &ureq::Agent,
    target: &str,
    auth: Option<&str>,
    url: &Url,
    opts: &FetchOptions,
    tries: u32,
    secrets: &[&str],
) -> Result<Vec<u8>, TryError> {
    let shown = url.to_string();
    let classify = |e: ureq::Error| -> TryError {
        match e {
            ureq::Error::Timeout(_) => TryError::Retry(FetchError::Timeout {
                url: shown.clone(),
                timeout: opts.timeout,
                tries,
            }),
            ureq::Error::BodyExceedsLimit(_) => TryError::Fatal(FetchError::TooLarge {
                url: shown.clone(),
                limit: opts.max_size,
            }),
            other => {
                let reason = describe(&other);
                let e = FetchError::Transport {
                    url: shown.clone(),
                    tries,
                    reason: scrub(&reason, secrets),
                };
                if is_tls_verification(&other) {
                    // A certificate does not get better by asking again.
                    TryError::Fatal(FetchError::Transport {
                        url: shown.clone(),
                        tries: 1,
                        reason: scrub(&reason, secrets),
                    })
                } else {
                    TryError::Retry(e)
                }
            }
        }
    };
    let mut req = agent.get(target);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let mut resp = req.call().map_err(classify)?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        let e = FetchError::Status { url: shown, status };
        // Server-side trouble may pass; the rest will not.
        return Err(if status >= 500 || status == 408 || status == 429 {
            TryError::Retry(e)
        } else {
            TryError::Fatal(e)
        });
    }
    resp.body_mut()
        .with_config()
        .limit(opts.max_size)
        .read_to_vec()
        .map_err(classify)
}

fn is_tls_verification(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::Rustls(rustls::Error::InvalidCertificate(_)))
        || matches!(e, ureq::Error::Io(io) if io.get_ref().is_some_and(|inner| inner.to_string().contains("invalid peer certificate")))
}

fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Rustls(rustls::Error::InvalidCertificate(c)) => {
            format!("TLS certificate verification failed: {c:?}")
        }
        ureq::Error::Io(io) if io.to_string().contains("invalid peer certificate") => {
            format!("TLS certificate verification failed: {io}")
        }
        ureq::Error::HostNotFound => "the host name does not resolve".to_string(),
        ureq::Error::ConnectionFailed => "cannot connect".to_string(),
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            _ => io.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s, &["http", "https"]).unwrap()
    }

    #[test]
    fn no_proxy_matching() {
        let no = vec![
            "localhost".to_string(),
            ".lab".to_string(),
            "example.com".to_string(),
            "10.0.0.0/8".to_string(),
        ];
        assert!(bypasses_proxy("localhost", &no));
        assert!(bypasses_proxy("ci.lab", &no));
        assert!(bypasses_proxy("a.example.com", &no));
        assert!(bypasses_proxy("EXAMPLE.com.", &no));
        assert!(bypasses_proxy("10.42.0.1", &no));
        assert!(!bypasses_proxy("11.0.0.1", &no));
        assert!(!bypasses_proxy("notexample.com", &no));
        assert!(!bypasses_proxy("lab", &["".to_string()]));
        assert!(bypasses_proxy("anything", &["*".to_string()]));
    }

    #[test]
    fn proxy_choice() {
        let p = Proxy {
            https: Some(Url::parse("http://sproxy:3128", &["http"]).unwrap()),
            http: Some(Url::parse("http://proxy:3128", &["http"]).unwrap()),
            no: vec!["10.0.2.2".into()],
        };
        assert_eq!(
            proxy_for(&url("https://a.b/x"), Some(&p)).unwrap().host,
            "sproxy"
        );
        assert_eq!(
            proxy_for(&url("http://a.b/x"), Some(&p)).unwrap().host,
            "proxy"
        );
        assert!(proxy_for(&url("http://10.0.2.2/x"), Some(&p)).is_none());
        assert!(proxy_for(&url("http://a.b/x"), None).is_none());
        let only_https = Proxy {
            https: p.https.clone(),
            ..Proxy::default()
        };
        assert_eq!(
            proxy_for(&url("http://a.b/x"), Some(&only_https))
                .unwrap()
                .host,
            "sproxy"
        );
    }

    #[test]
    fn basic_auth_encoding() {
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_auth("a", "b"), "Basic YTpi");
        assert_eq!(basic_auth("ab", ""), "Basic YWI6");
    }

    #[test]
    fn messages_hide_secrets() {
        assert_eq!(
            scrub("user:hunter2@host", &["hunter2", ""]),
            "user:***@host"
        );
        let e = FetchError::Status {
            url: url("https://u:hunter2@h/x").to_string(),
            status: 404,
        };
        assert_eq!(
            e.to_string(),
            "cannot download https://u:***@h/x: HTTP status 404 (Not Found)"
        );
    }

    #[tokio::test]
    async fn other_schemes_are_refused() {
        let u = Url::parse("ftp://h/x", &["ftp"]).unwrap();
        let e = fetch(&u, None).await.err().unwrap();
        assert_eq!(
            e.to_string(),
            "cannot download ftp://h/x: only http and https are supported"
        );
    }

    #[tokio::test]
    async fn missing_ca_bundle_is_named() {
        let opts = FetchOptions {
            ca_bundle: PathBuf::from("/nonexistent/ca.pem"),
            ..FetchOptions::default()
        };
        let e = fetch_with(&url("https://127.0.0.1:1/x"), None, &opts)
            .await
            .err()
            .unwrap();
        assert!(
            e.to_string().starts_with(
                "cannot download https://127.0.0.1:1/x: cannot load the CA certificates from /nonexistent/ca.pem: "
            ),
            "{e}"
        );
    }

    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    /// Reads one HTTP request head; returns its first line.
    fn read_head(r: &mut impl BufRead) -> String {
        let mut first = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if first.is_empty() {
                first = line.trim_end().to_string();
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        first
    }

    fn respond(w: &mut impl Write, status: u16, body: &[u8]) {
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = w.write_all(head.as_bytes());
        let _ = w.write_all(body);
        let _ = w.flush();
    }

    /// A plain HTTP server on 127.0.0.1 answering each connection with the
    /// next `(status, body)`; records the request lines.
    fn serve(answers: Vec<(u16, &'static [u8])>) -> (u16, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for (status, body) in answers {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let mut r = BufReader::new(stream);
                let first = read_head(&mut r);
                log.lock().unwrap().push(first);
                respond(r.get_mut(), status, body);
            }
        });
        (port, seen)
    }

    fn quick() -> FetchOptions {
        FetchOptions {
            timeout: Duration::from_secs(2),
            retry_delay: Duration::from_millis(10),
            ..FetchOptions::default()
        }
    }

    #[tokio::test]
    async fn downloads_a_file() {
        let (port, seen) = serve(vec![(200, b"b2c.run=docker://x\n")]);
        let u = url(&format!("http://127.0.0.1:{port}/extra"));
        let body = fetch_with(&u, None, &quick()).await.unwrap();
        assert_eq!(body, b"b2c.run=docker://x\n");
        assert_eq!(seen.lock().unwrap()[0], "GET /extra HTTP/1.1");
    }

    #[tokio::test]
    async fn not_found_is_final_and_named() {
        let (port, seen) = serve(vec![(404, b"no"), (200, b"late")]);
        let u = url(&format!("http://127.0.0.1:{port}/missing"));
        let e = fetch_with(&u, None, &quick()).await.err().unwrap();
        assert_eq!(
            e.to_string(),
            format!("cannot download http://127.0.0.1:{port}/missing: HTTP status 404 (Not Found)")
        );
        assert_eq!(seen.lock().unwrap().len(), 1, "a 404 is not retried");
    }

    #[tokio::test]
    async fn server_errors_are_retried() {
        let (port, seen) = serve(vec![(503, b"busy"), (200, b"ok")]);
        let u = url(&format!("http://127.0.0.1:{port}/x"));
        assert_eq!(fetch_with(&u, None, &quick()).await.unwrap(), b"ok");
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn nothing_listening_is_bounded_and_clear() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let u = url(&format!("http://127.0.0.1:{port}/extra"));
        let start = std::time::Instant::now();
        let e = fetch_with(&u, None, &quick()).await.err().unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(
            e.to_string(),
            format!("cannot download http://127.0.0.1:{port}/extra (3 tries): connection refused")
        );
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in listener.incoming().take(2) {
                held.push(s);
            }
            std::thread::sleep(Duration::from_secs(3));
        });
        let opts = FetchOptions {
            timeout: Duration::from_millis(300),
            tries: 2,
            ..quick()
        };
        let u = url(&format!("http://127.0.0.1:{port}/slow"));
        let start = std::time::Instant::now();
        let e = fetch_with(&u, None, &opts).await.err().unwrap();
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(
            e.to_string(),
            format!("cannot download http://127.0.0.1:{port}/slow: no complete answer within 300ms (2 tries)")
        );
    }

    #[tokio::test]
    async fn server_text_in_errors_is_escaped() {
        // Found by fuzzing: ureq quotes a malformed Location header, which
        // reached the console with its control characters (httparse lets
        // tabs and bytes over 0x7f through).
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut r = BufReader::new(stream);
            read_head(&mut r);
            let _ = r.get_mut().write_all(
                b"HTTP/1.1 302 Found\r\nLocation: http:/\xc8x\xc2\x9b2J\tB2C\r\nContent-Length: 0\r\n\r\n",
            );
        });
        let opts = FetchOptions {
            tries: 1,
            ..quick()
        };
        let u = url(&format!("http://127.0.0.1:{port}/x"));
        let e = fetch_with(&u, None, &opts).await.err().unwrap().to_string();
        // U+009B is the one-character CSI of 8-bit terminals.
        assert!(e.contains("x\\u{9b}2J\\tB2C"), "{e}");
        assert!(!e.chars().any(char::is_control), "{e}");
    }

    #[tokio::test]
    async fn a_panic_of_ureq_is_a_failed_try() {
        // Found by fuzzing: ureq 3.5.2 panics ("remote to have signaled
        // redirect") on a redirect whose chunked body ends after its last
        // chunk's size line.
        let (port, seen) = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let seen = Arc::new(Mutex::new(0));
            let count = seen.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().take(2) {
                    let mut r = BufReader::new(stream.unwrap());
                    read_head(&mut r);
                    *count.lock().unwrap() += 1;
                    let _ = r.get_mut().write_all(
                        b"HTTP/1.1 302 Found\r\nLocation: /y\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
                    );
                }
            });
            (port, seen)
        };
        let opts = FetchOptions {
            tries: 2,
            ..quick()
        };
        let u = url(&format!("http://127.0.0.1:{port}/x"));
        let e = fetch_with(&u, None, &opts).await.err().unwrap();
        assert_eq!(
            e.to_string(),
            format!("cannot download http://127.0.0.1:{port}/x (2 tries): the HTTP library failed on a malformed answer")
        );
        assert_eq!(*seen.lock().unwrap(), 2, "tried again");
    }

    #[tokio::test]
    async fn basic_auth_is_sent_and_never_shown() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut r = BufReader::new(stream);
            let mut head = String::new();
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 2 {
                head.push_str(&line);
                line.clear();
            }
            respond(r.get_mut(), 401, b"");
            head
        });
        let u = url(&format!("http://farm:s3cr3t@127.0.0.1:{port}/x"));
        let e = fetch_with(&u, None, &quick()).await.err().unwrap();
        let head = t.join().unwrap();
        assert!(head.contains(&basic_auth("farm", "s3cr3t")), "{head}");
        assert!(head.starts_with("GET /x HTTP/1.1"), "{head}");
        assert!(!e.to_string().contains("s3cr3t"));
        assert!(e.to_string().contains("http://farm:***@127.0.0.1"));
    }

    #[tokio::test]
    async fn proxy_is_used_unless_bypassed() {
        // A proxy that tunnels CONNECT and also answers absolute-URI GETs.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let pport = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut r = BufReader::new(stream);
            let first = read_head(&mut r);
            log.lock().unwrap().push(first.clone());
            if first.starts_with("CONNECT ") {
                let _ = r
                    .get_mut()
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                let inner = read_head(&mut r);
                log.lock().unwrap().push(inner);
            }
            respond(r.get_mut(), 200, b"via proxy");
        });
        let (direct_port, _) = serve(vec![(200, b"direct")]);
        let proxy = Proxy {
            http: Some(Url::parse(&format!("http://127.0.0.1:{pport}"), &["http"]).unwrap()),
            https: None,
            no: vec!["127.0.0.1".into()],
        };
        // 127.0.0.2 is not in the no list: through the proxy (which never
        // connects anywhere).
        let u = url("http://127.0.0.2:9/extra");
        assert_eq!(
            fetch_with(&u, Some(&proxy), &quick()).await.unwrap(),
            b"via proxy"
        );
        let lines = seen.lock().unwrap().clone();
        assert!(lines[0].contains("127.0.0.2:9"), "{lines:?}");
        // 127.0.0.1 is in the no list: direct.
        let u = url(&format!("http://127.0.0.1:{direct_port}/extra"));
        assert_eq!(
            fetch_with(&u, Some(&proxy), &quick()).await.unwrap(),
            b"direct"
        );
    }

    /// A test CA, a server certificate for 127.0.0.1 signed by it, and a
    /// rustls server answering one connection; returns the port and the
    /// CA's PEM.
    fn tls_server(body: &'static [u8]) -> (u16, String) {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "b2c test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let srv_key = rcgen::KeyPair::generate().unwrap();
        let srv_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        let srv_cert = srv_params.signed_by(&srv_key, &issuer).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(srv_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(srv_key.serialize_der())),
        )
        .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(3) {
                let Ok(stream) = stream else { continue };
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                if !got.is_empty() {
                    respond(&mut tls, 200, body);
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
            }
        });
        (port, ca_cert.pem())
    }

    #[tokio::test]
    async fn https_verified_against_the_given_ca() {
        let dir = std::env::temp_dir().join(format!("b2c-https-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (port, ca_pem) = tls_server(b"secure args");
        let good = dir.join("good.pem");
        std::fs::write(&good, &ca_pem).unwrap();
        let opts = FetchOptions {
            ca_bundle: good,
            ..quick()
        };
        let u = url(&format!("https://127.0.0.1:{port}/extra"));
        assert_eq!(fetch_with(&u, None, &opts).await.unwrap(), b"secure args");

        // Another CA: refused, clearly, without retrying.
        let (_, other_ca) = tls_server(b"unused");
        let bad = dir.join("bad.pem");
        std::fs::write(&bad, &other_ca).unwrap();
        let opts = FetchOptions {
            ca_bundle: bad,
            ..quick()
        };
        let e = fetch_with(&u, None, &opts).await.err().unwrap();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "cannot download https://127.0.0.1:{port}/extra (1 tries): TLS certificate verification failed"
            )),
            "{msg}"
        );
        let _ = TcpStream::connect(("127.0.0.1", port));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
