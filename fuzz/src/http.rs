//! HTTP responses to the extra-args download (`net::http::fetch_with`: ureq
//! parses the status line, headers, chunked or sized body and follows
//! redirects; the init classifies statuses, limits the size, describes and
//! masks the errors).
//!
//! The input is a control byte (the size limit) and the bytes a server
//! answers to every request, served by a thread of this process on
//! 127.0.0.1. The target first moves itself into a network namespace of its
//! own with only the loopback interface (or checks that it runs in one), so
//! that a redirect to any other address, or a name to resolve, cannot send a
//! packet anywhere else.
//!
//! Invariants:
//! - the download ends within its time limit;
//! - a download succeeds only on a 2xx status, with at most the size limit,
//!   and with the whole body the response announced (`Content-Length`;
//!   none with 204 No Content): a truncated extra-args file is an error,
//!   never a shorter file;
//! - an error names no password (the URL's, even when the server repeats it)
//!   and prints as one line.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use boot2container::cmdline::Url;
use boot2container::net::http::{fetch_with, FetchError, FetchOptions};

/// The password of the URL; seeds make the server repeat it.
pub const PASSWORD: &str = "S3cr3tPw";
const TIMEOUT: Duration = Duration::from_secs(2);

struct Server {
    port: u16,
    response: Arc<Mutex<Vec<u8>>>,
    runtime: tokio::runtime::Runtime,
}

/// Interfaces of this process's network namespace.
fn interfaces() -> Vec<String> {
    let dev = std::fs::read_to_string("/proc/self/net/dev").unwrap_or_default();
    dev.lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect()
}

fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain syscall with integer arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is a plain C struct for which all zeroes is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq naming an interface; the kernel fills its flags.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above, with the flags to set.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Moves the calling thread (and the threads it starts later) into a new
/// network namespace, unless the process is already in one with only `lo`.
fn isolate() {
    if interfaces() != ["lo"] {
        // SAFETY: a plain syscall; only the calling thread changes namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            eprintln!(
                "the http fuzz target needs a network namespace of its own: run it as root, or under `unshare -rn` ({})",
                io::Error::last_os_error()
            );
            std::process::exit(2);
        }
    }
    if let Err(e) = loopback_up() {
        eprintln!("http fuzz target: cannot bring lo up in its network namespace: {e}");
        std::process::exit(2);
    }
    assert_eq!(interfaces(), ["lo"], "not isolated");
}

/// Reads a request head (up to the blank line).
fn read_request(conn: &TcpStream) -> io::Result<()> {
    conn.set_read_timeout(Some(TIMEOUT))?;
    let mut r = io::BufReader::new(conn);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            return Ok(());
        }
    }
}

fn serve(listener: TcpListener, response: Arc<Mutex<Vec<u8>>>) {
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        if read_request(&conn).is_err() {
            continue;
        }
        let answer = response.lock().map(|r| r.clone()).unwrap_or_default();
        let _ = conn.write_all(&answer);
        let _ = conn.shutdown(Shutdown::Write);
        // Wait for the client to close (a reset could lose the answer).
        let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
        let _ = conn.read(&mut [0u8; 1024]);
    }
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        isolate();
        // libFuzzer's panic hook aborts before unwinding. fetch_with turns a
        // panic inside ureq (3.5.2 has one) into a failed try, and the
        // checks below see that: let ureq's panics unwind to it.
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.location().is_some_and(|l| l.file().contains("/ureq-")) {
                fuzzer_hook(info);
            }
        }));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local address").port();
        let response = Arc::new(Mutex::new(Vec::new()));
        let r = Arc::clone(&response);
        std::thread::spawn(move || serve(listener, r));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime");
        Server {
            port,
            response,
            runtime,
        }
    })
}

/// The response from its status line on: like the client (and RFC 9112's
/// robustness rule), the empty lines a server sends before it are skipped.
fn from_status_line(response: &[u8]) -> &[u8] {
    let start = response
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(response.len());
    &response[start..]
}

/// The announced body size: one `Content-Length` header and no
/// `Transfer-Encoding`, in a response that has a complete head. Like the
/// client (RFC 9112, section 2.2), a line ends with LF, a CR before it is
/// dropped, and the head ends at the first empty line.
fn content_length(response: &[u8]) -> Option<u64> {
    let mut rest = from_status_line(response);
    let mut next_line = || -> Option<&[u8]> {
        let end = rest.iter().position(|&b| b == b'\n')?;
        let line = &rest[..end];
        rest = &rest[end + 1..];
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    };
    next_line()?; // the status line
    let mut lengths = Vec::new();
    loop {
        let line = next_line()?;
        if line.is_empty() {
            break;
        }
        let (name, value) = std::str::from_utf8(line).ok()?.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => lengths.push(value.trim().parse::<u64>().ok()?),
            "transfer-encoding" => return None,
            _ => {}
        }
    }
    match lengths[..] {
        [n] => Some(n),
        _ => None,
    }
}

/// The status code of the first line, when it is `HTTP/1.x NNN`.
fn status(response: &[u8]) -> Option<u16> {
    let line = from_status_line(response).split(|&b| b == b'\n').next()?;
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| line.strip_prefix(b"HTTP/1.0 "))?;
    std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()
}

/// The fuzz target `http`.
pub fn run(data: &[u8]) {
    let server = server();
    let (control, response) = data.split_first().map_or((0, &[][..]), |(c, r)| (*c, r));
    if let Ok(mut r) = server.response.lock() {
        *r = response.to_vec();
    }
    let max_size = 16 * (1 + u64::from(control));
    let opts = FetchOptions {
        ca_bundle: PathBuf::from("/nonexistent/ca.pem"),
        timeout: TIMEOUT,
        tries: 1,
        retry_delay: Duration::ZERO,
        max_size,
    };
    let url = format!("http://fuzz:{PASSWORD}@127.0.0.1:{}/extra", server.port);
    let url = Url::parse(&url, &["http", "https"]).expect("the URL parses");
    let start = Instant::now();
    let result = server.runtime.block_on(fetch_with(&url, None, &opts));
    let took = start.elapsed();
    assert!(took < TIMEOUT + Duration::from_secs(1), "took {took:?}");

    match result {
        Ok(body) => {
            assert!(
                body.len() as u64 <= max_size,
                "{} bytes over the limit",
                body.len()
            );
            let code = status(response);
            assert!(
                code.is_some_and(|c| (200..300).contains(&c)),
                "success on the status line {:?}",
                String::from_utf8_lossy(
                    from_status_line(response)
                        .split(|&b| b == b'\n')
                        .next()
                        .unwrap_or_default()
                )
            );
            // A 204 has no body, whatever its head says (RFC 9110, 15.3.5).
            let no_body = code == Some(204);
            if let Some(n) = content_length(response).filter(|_| !no_body) {
                assert_eq!(
                    body.len() as u64,
                    n,
                    "the body is not what Content-Length announced"
                );
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains(PASSWORD), "the password shows: {msg}");
            crate::assert_console_safe("download error", &msg);
            if let FetchError::Status { status: s, .. } = e {
                assert!(!(200..300).contains(&s), "status {s} is an error");
            }
        }
    }
}
