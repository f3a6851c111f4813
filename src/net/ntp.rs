//! `b2c.ntp_peer`: set the system clock with one SNTP exchange (RFC 4330).
//!
//! [`sync`] asks the peer (up to 3 tries of 5 s), then steps the clock by
//! the measured offset. [`query`] only measures (the host tests use it
//! against a real chronyd without touching the host's clock).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tracing::{debug, info};

use crate::cmdline::NtpPeer;

/// The NTP port.
pub const NTP_PORT: u16 = 123;
/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const NTP_UNIX_OFFSET: i128 = 2_208_988_800;
const NANOS: i128 = 1_000_000_000;

/// Settings of [`sync_with`] and [`query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SntpOptions {
    /// The server's UDP port (default 123).
    pub port: u16,
    /// How many requests to send (default 3).
    pub tries: u32,
    /// How long to wait for each answer (default 5 s).
    pub timeout: Duration,
    /// Whether to step the system clock (default true).
    pub set_clock: bool,
}

impl Default for SntpOptions {
    fn default() -> Self {
        Self {
            port: NTP_PORT,
            tries: 3,
            timeout: Duration::from_secs(5),
            set_clock: true,
        }
    }
}

/// Why the clock could not be set.
#[derive(Debug, thiserror::Error)]
pub enum NtpError {
    /// The peer's name did not resolve.
    #[error("b2c.ntp_peer: cannot resolve {host}: {reason}")]
    Resolve {
        /// The name.
        host: String,
        /// Why.
        reason: String,
    },
    /// No valid answer after every try.
    #[error(
        "b2c.ntp_peer: no answer from {host} ({server}) after {tries} tries of {timeout:?}: {last}"
    )]
    NoAnswer {
        /// The peer as given.
        host: String,
        /// The address asked last.
        server: SocketAddr,
        /// How many requests were sent.
        tries: u32,
        /// The wait for each one.
        timeout: Duration,
        /// The last failure.
        last: String,
    },
    /// The local UDP socket could not be opened.
    #[error("b2c.ntp_peer: cannot open a UDP socket to ask {host}: {source}")]
    Socket {
        /// The peer.
        host: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// clock_settime failed.
    #[error("b2c.ntp_peer: cannot set the clock (offset {offset}) from {host}: {source}")]
    SetClock {
        /// The peer.
        host: String,
        /// The correction that was to be applied.
        offset: Offset,
        /// The error.
        #[source]
        source: nix::Error,
    },
}

/// A signed time difference, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Offset(pub i128);

impl Offset {
    /// The value in seconds.
    pub fn as_secs_f64(self) -> f64 {
        // Precision loss is fine: this is for display and comparisons.
        self.0 as f64 / 1e9
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.as_secs_f64();
        if s.abs() >= 86_400.0 {
            write!(f, "{:+.0} s ({:+.1} days)", s, s / 86_400.0)
        } else {
            write!(f, "{s:+.6} s")
        }
    }
}

/// The result of one SNTP exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The server that answered.
    pub server: SocketAddr,
    /// Its stratum (1-15).
    pub stratum: u8,
    /// How far our clock is behind the server's (add it to our clock).
    pub offset: Offset,
    /// The round-trip delay.
    pub delay: Offset,
    /// Which try answered (1-based).
    pub tries: u32,
}

/// What [`sync`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtpReport {
    /// The peer as configured (`pool.ntp.org` for auto, or a DHCP server).
    pub host: String,
    /// The measurement.
    pub sample: Sample,
    /// Whether the clock was stepped.
    pub clock_set: bool,
}

impl fmt::Display for NtpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} the clock by {} from {} ({}, stratum {}, delay {:.1} ms)",
            if self.clock_set {
                "Corrected"
            } else {
                "Measured"
            },
            self.sample.offset,
            self.host,
            self.sample.server,
            self.sample.stratum,
            self.sample.delay.as_secs_f64() * 1000.0
        )
    }
}

/// The host to ask for `peer`: `auto` prefers a DHCP-offered NTP server.
pub fn choose_host(peer: &NtpPeer, dhcp_ntp: &[Ipv4Addr]) -> Option<String> {
    match peer {
        NtpPeer::None => None,
        NtpPeer::Auto => Some(
            dhcp_ntp
                .first()
                .map_or_else(|| "pool.ntp.org".to_string(), ToString::to_string),
        ),
        NtpPeer::Host(h) => Some(h.clone()),
    }
}

/// Sets the clock from `peer` (see the module documentation). `Ok(None)`:
/// `b2c.ntp_peer=none`, nothing done. Failures are meant to be warnings.
pub async fn sync(peer: &NtpPeer, dhcp_ntp: &[Ipv4Addr]) -> Result<Option<NtpReport>, NtpError> {
    sync_with(peer, dhcp_ntp, &SntpOptions::default()).await
}

/// [`sync`] with explicit settings.
pub async fn sync_with(
    peer: &NtpPeer,
    dhcp_ntp: &[Ipv4Addr],
    opts: &SntpOptions,
) -> Result<Option<NtpReport>, NtpError> {
    let Some(host) = choose_host(peer, dhcp_ntp) else {
        return Ok(None);
    };
    let sample = query(&host, opts).await?;
    if opts.set_clock {
        step_clock(sample.offset).map_err(|source| NtpError::SetClock {
            host: host.clone(),
            offset: sample.offset,
            source,
        })?;
    }
    let report = NtpReport {
        host,
        sample,
        clock_set: opts.set_clock,
    };
    info!("{report}");
    Ok(Some(report))
}

/// Steps CLOCK_REALTIME by `offset`.
pub fn step_clock(offset: Offset) -> Result<(), nix::Error> {
    let now = unix_nanos(SystemTime::now());
    let target = now + offset.0;
    let secs = target.div_euclid(NANOS);
    let nanos = target.rem_euclid(NANOS);
    let secs = i64::try_from(secs).map_err(|_| nix::Error::EINVAL)?;
    let nanos = i64::try_from(nanos).map_err(|_| nix::Error::EINVAL)?;
    let ts = nix::sys::time::TimeSpec::new(secs, nanos);
    nix::time::clock_settime(nix::time::ClockId::CLOCK_REALTIME, ts)
}

async fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, NtpError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let err = |reason: String| NtpError::Resolve {
        host: host.to_string(),
        reason,
    };
    let addrs = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| err(format!("no answer within {timeout:?}")))?
        .map_err(|e| err(e.to_string()))?;
    // IPv4 first: it is what DHCP configured.
    let (mut v4, v6): (Vec<_>, Vec<_>) = addrs.partition(SocketAddr::is_ipv4);
    v4.extend(v6);
    if v4.is_empty() {
        return Err(err("no address".to_string()));
    }
    Ok(v4)
}

/// Measures the offset of our clock to `host` (a name or an IP address),
/// without changing anything.
pub async fn query(host: &str, opts: &SntpOptions) -> Result<Sample, NtpError> {
    let addrs = resolve(host, opts.port, opts.timeout).await?;
    let tries = opts.tries.max(1);
    let mut last = String::from("no request sent");
    let mut server = addrs[0];
    for attempt in 1..=tries {
        // Successive tries walk the resolved addresses (pool.ntp.org has several).
        let idx = usize::try_from(attempt - 1).unwrap_or(0) % addrs.len();
        server = addrs[idx];
        let slot_end = tokio::time::Instant::now() + opts.timeout;
        match exchange(server, opts.timeout).await {
            Ok(mut sample) => {
                sample.tries = attempt;
                return Ok(sample);
            }
            Err(Failure::Socket(source)) => {
                return Err(NtpError::Socket {
                    host: host.to_string(),
                    source,
                })
            }
            Err(Failure::Other(why)) => {
                debug!("NTP try {attempt}/{tries} to {server}: {why}");
                last = why;
                // A quick refusal (server not up yet) still uses its slot.
                if attempt < tries {
                    tokio::time::sleep_until(slot_end).await;
                }
            }
        }
    }
    Err(NtpError::NoAnswer {
        host: host.to_string(),
        server,
        tries,
        timeout: opts.timeout,
        last,
    })
}

enum Failure {
    Socket(std::io::Error),
    Other(String),
}

async fn exchange(server: SocketAddr, timeout: Duration) -> Result<Sample, Failure> {
    let bind: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await.map_err(Failure::Socket)?;
    sock.connect(server)
        .await
        .map_err(|e| Failure::Other(format!("cannot reach it: {e}")))?;
    let t1 = unix_nanos(SystemTime::now());
    let request = build_request(t1);
    sock.send(&request)
        .await
        .map_err(|e| Failure::Other(format!("cannot send: {e}")))?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 512];
    loop {
        let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Err(_) => return Err(Failure::Other(format!("no answer within {timeout:?}"))),
            Ok(Err(e)) => return Err(Failure::Other(format!("receive: {e}"))),
            Ok(Ok(n)) => n,
        };
        let t4 = unix_nanos(SystemTime::now());
        match parse_reply(buf.get(..n).unwrap_or_default(), &request, t4) {
            Ok((stratum, offset, delay)) => {
                return Ok(Sample {
                    server,
                    stratum,
                    offset,
                    delay,
                    tries: 1,
                })
            }
            // A stray or late datagram: keep waiting for ours.
            Err(ReplyError::NotOurs) => continue,
            Err(ReplyError::Bad(why)) => return Err(Failure::Other(why)),
        }
    }
}

fn unix_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

/// Unix nanoseconds to a 64-bit NTP timestamp.
pub fn to_ntp(unix_nanos: i128) -> u64 {
    let ntp = unix_nanos + NTP_UNIX_OFFSET * NANOS;
    let secs = ntp.div_euclid(NANOS);
    let frac = (ntp.rem_euclid(NANOS) << 32) / NANOS;
    // Truncation to 32 bits is the NTP era wrap.
    (((secs as u64) & 0xFFFF_FFFF) << 32) | (frac as u64 & 0xFFFF_FFFF)
}

/// A 64-bit NTP timestamp to Unix nanoseconds. Seconds values below 2^31
/// are taken from era 1 (2036-2104), as RFC 4330 recommends.
pub fn from_ntp(ts: u64) -> i128 {
    let mut secs = i128::from(ts >> 32);
    if secs < 0x8000_0000 {
        secs += 1 << 32;
    }
    let frac = i128::from(ts & 0xFFFF_FFFF);
    (secs - NTP_UNIX_OFFSET) * NANOS + ((frac * NANOS) >> 32)
}

/// An SNTPv4 client request carrying `t1` as its transmit timestamp.
pub fn build_request(t1_unix_nanos: i128) -> [u8; 48] {
    let mut p = [0u8; 48];
    p[0] = (4 << 3) | 3; // LI 0, version 4, mode 3 (client)
    p[40..48].copy_from_slice(&to_ntp(t1_unix_nanos).to_be_bytes());
    p
}

/// Why [`parse_reply`] refused a datagram.
pub enum ReplyError {
    /// Not an answer to our request.
    NotOurs,
    /// An answer we cannot use.
    Bad(String),
}

fn ts_at(p: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = p.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_be_bytes(b)
}

/// Checks a reply to `request` received at `t4`; returns the stratum, the
/// offset and the round-trip delay.
pub fn parse_reply(
    p: &[u8],
    request: &[u8; 48],
    t4: i128,
) -> Result<(u8, Offset, Offset), ReplyError> {
    if p.len() < 48 {
        return Err(ReplyError::NotOurs);
    }
    if p[24..32] != request[40..48] {
        return Err(ReplyError::NotOurs);
    }
    let mode = p[0] & 7;
    if mode != 4 {
        return Err(ReplyError::Bad(format!(
            "reply in mode {mode}, expected 4 (server)"
        )));
    }
    let li = p[0] >> 6;
    let stratum = p[1];
    if stratum == 0 {
        // Four ASCII letters from the server: shown escaped, never sent raw
        // to the console.
        let code = p[12..16].escape_ascii().to_string();
        return Err(ReplyError::Bad(format!(
            "kiss-o'-death \"{code}\" from the server"
        )));
    }
    if li == 3 || stratum > 15 {
        return Err(ReplyError::Bad(format!(
            "the server is not synchronised (leap indicator {li}, stratum {stratum})"
        )));
    }
    let t1 = from_ntp(ts_at(request, 40));
    let t2 = from_ntp(ts_at(p, 32));
    let t3 = from_ntp(ts_at(p, 40));
    if ts_at(p, 40) == 0 {
        return Err(ReplyError::Bad(
            "the reply has no transmit timestamp".to_string(),
        ));
    }
    let (offset, delay) = offset_delay(t1, t2, t3, t4);
    Ok((stratum, offset, delay))
}

/// RFC 4330: offset = ((T2 - T1) + (T3 - T4)) / 2, delay = (T4 - T1) - (T3 - T2).
pub fn offset_delay(t1: i128, t2: i128, t3: i128, t4: i128) -> (Offset, Offset) {
    (
        Offset(((t2 - t1) + (t3 - t4)) / 2),
        Offset(((t4 - t1) - (t3 - t2)).max(0)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_timestamps_round_trip() {
        for unix in [
            0i128,
            1_700_000_000 * NANOS + 123_456_789,
            978_307_200 * NANOS,
        ] {
            let back = from_ntp(to_ntp(unix));
            assert!((back - unix).abs() < 2, "{unix} -> {back}");
        }
        // After the 2036 wrap.
        let y2040 = 2_208_988_800i128 * NANOS;
        assert!((from_ntp(to_ntp(y2040)) - y2040).abs() < 2);
    }

    #[test]
    fn offset_and_delay() {
        // Our clock 100 s behind, 10 ms each way, 1 ms of server processing.
        let t1 = 1_000 * NANOS;
        let t2 = t1 + 100 * NANOS + 10_000_000;
        let t3 = t2 + 1_000_000;
        let t4 = t1 + 21_000_000;
        let (o, d) = offset_delay(t1, t2, t3, t4);
        assert_eq!(o, Offset(100 * NANOS));
        assert_eq!(d, Offset(20_000_000));
        assert_eq!(Offset(-1_500_000).to_string(), "-0.001500 s");
        assert_eq!(
            Offset(365 * 86_400 * NANOS).to_string(),
            "+31536000 s (+365.0 days)"
        );
    }

    fn reply(request: &[u8; 48], stratum: u8, mode: u8, t2: i128, t3: i128) -> Vec<u8> {
        let mut p = vec![0u8; 48];
        p[0] = (4 << 3) | mode;
        p[1] = stratum;
        p[24..32].copy_from_slice(&request[40..48]);
        p[32..40].copy_from_slice(&to_ntp(t2).to_be_bytes());
        p[40..48].copy_from_slice(&to_ntp(t3).to_be_bytes());
        p
    }

    #[test]
    fn replies_are_checked() {
        let t1 = 978_307_200 * NANOS; // 2001-01-01
        let req = build_request(t1);
        let real = 1_750_000_000 * NANOS;
        let ok = reply(&req, 8, 4, real, real);
        let (stratum, offset, _) = parse_reply(&ok, &req, t1).ok().unwrap();
        assert_eq!(stratum, 8);
        assert!((offset.0 - (real - t1)).abs() < 10);

        let other = build_request(t1 + 1);
        assert!(matches!(
            parse_reply(&reply(&other, 8, 4, real, real), &req, t1),
            Err(ReplyError::NotOurs)
        ));
        assert!(matches!(
            parse_reply(&ok[..40], &req, t1),
            Err(ReplyError::NotOurs)
        ));
        let mut kod = reply(&req, 0, 4, 0, 0);
        kod[12..16].copy_from_slice(b"RATE");
        match parse_reply(&kod, &req, t1) {
            Err(ReplyError::Bad(why)) => assert!(why.contains("kiss-o'-death \"RATE\"")),
            _ => panic!("kiss-o'-death accepted"),
        }
        // Found by fuzzing: a kiss code of control bytes reached the console.
        kod[12..16].copy_from_slice(b"\nA\x1b\0");
        match parse_reply(&kod, &req, t1) {
            Err(ReplyError::Bad(why)) => {
                assert_eq!(why, r#"kiss-o'-death "\nA\x1b\x00" from the server"#)
            }
            _ => panic!("kiss-o'-death accepted"),
        }
        match parse_reply(&reply(&req, 8, 3, real, real), &req, t1) {
            Err(ReplyError::Bad(why)) => assert!(why.contains("mode 3")),
            _ => panic!("client-mode reply accepted"),
        }
        let mut unsync = ok.clone();
        unsync[0] |= 3 << 6;
        assert!(matches!(
            parse_reply(&unsync, &req, t1),
            Err(ReplyError::Bad(_))
        ));
    }

    #[test]
    fn auto_prefers_dhcp() {
        let dhcp = [Ipv4Addr::new(10, 0, 0, 123)];
        assert_eq!(choose_host(&NtpPeer::None, &dhcp), None);
        assert_eq!(choose_host(&NtpPeer::Auto, &dhcp).unwrap(), "10.0.0.123");
        assert_eq!(choose_host(&NtpPeer::Auto, &[]).unwrap(), "pool.ntp.org");
        assert_eq!(
            choose_host(&NtpPeer::Host("ntp.lab".into()), &dhcp).unwrap(),
            "ntp.lab"
        );
    }

    #[tokio::test]
    async fn fake_server_one_year_ahead() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let ahead = 365 * 86_400 * NANOS;
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 48];
            let (_, from) = server.recv_from(&mut buf).unwrap();
            let now = unix_nanos(SystemTime::now()) + ahead;
            let mut req = [0u8; 48];
            req.copy_from_slice(&buf);
            server.send_to(&reply(&req, 2, 4, now, now), from).unwrap();
        });
        let opts = SntpOptions {
            port,
            set_clock: false,
            ..SntpOptions::default()
        };
        let report = sync_with(&NtpPeer::Host("127.0.0.1".into()), &[], &opts)
            .await
            .unwrap()
            .unwrap();
        t.join().unwrap();
        assert!(!report.clock_set);
        assert!((report.sample.offset.0 - ahead).abs() < NANOS / 2);
        assert!(report.to_string().starts_with("Measured the clock by +"));
    }

    #[tokio::test]
    async fn silent_server_is_a_bounded_clear_error() {
        // A bound socket that never answers.
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let opts = SntpOptions {
            port,
            tries: 2,
            timeout: Duration::from_millis(200),
            set_clock: false,
        };
        let start = std::time::Instant::now();
        let e = query("127.0.0.1", &opts).await.err().unwrap();
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(
            e.to_string(),
            format!(
                "b2c.ntp_peer: no answer from 127.0.0.1 (127.0.0.1:{port}) after 2 tries of 200ms: no answer within 200ms"
            )
        );
        drop(server);
    }

    #[tokio::test]
    async fn none_does_nothing() {
        assert!(sync(&NtpPeer::None, &[]).await.unwrap().is_none());
    }

    #[test]
    fn resolve_error_names_the_host() {
        // No real lookup: the tests send nothing beyond loopback.
        let e = NtpError::Resolve {
            host: "ntp.lab".into(),
            reason: "no address".into(),
        };
        assert_eq!(
            e.to_string(),
            "b2c.ntp_peer: cannot resolve ntp.lab: no address"
        );
    }

    /// A chronyd bound to 127.0.0.1 on a free port, serving its local clock
    /// (`local stratum 8`), started with `-x` so that it never touches the
    /// host's clock; killed on drop.
    struct Chronyd {
        child: std::process::Child,
        dir: std::path::PathBuf,
        port: u16,
    }

    impl Chronyd {
        fn start() -> Chronyd {
            const CHRONYD: &str = "/usr/sbin/chronyd";
            assert!(
                std::path::Path::new(CHRONYD).exists(),
                "this test needs {CHRONYD} (Debian package chrony; scripts/setup installs it)"
            );
            let port = {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                s.local_addr().unwrap().port()
            };
            let dir =
                std::env::temp_dir().join(format!("b2c-chronyd-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let conf = dir.join("chrony.conf");
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\n\
                     cmdport 0\npidfile {d}/chronyd.pid\ndriftfile {d}/drift\n",
                    d = dir.display()
                ),
            )
            .unwrap();
            let child = std::process::Command::new(CHRONYD)
                .args(["-x", "-d", "-u", "root", "-f"])
                .arg(&conf)
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(dir.join("log")).unwrap())
                .spawn()
                .unwrap();
            Chronyd { child, dir, port }
        }
    }

    impl Drop for Chronyd {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[tokio::test]
    async fn real_chronyd_on_loopback() {
        // chronyd refuses to start as another user ("Not superuser").
        if !nix::unistd::geteuid().is_root() {
            assert!(
                std::env::var_os("B2C_REQUIRE_ROOT_TESTS").is_none(),
                "chronyd needs root"
            );
            eprintln!("SKIPPED: chronyd needs root");
            return;
        }
        let chronyd = Chronyd::start();
        let opts = SntpOptions {
            port: chronyd.port,
            tries: 10,
            timeout: Duration::from_millis(500),
            set_clock: false,
        };
        let report = sync_with(&NtpPeer::Host("127.0.0.1".into()), &[], &opts).await;
        let log = std::fs::read_to_string(chronyd.dir.join("log")).unwrap_or_default();
        let report = report
            .unwrap_or_else(|e| panic!("{e}\nchronyd log:\n{log}"))
            .unwrap();
        // Same machine, same clock: the offset is tiny.
        assert!(report.sample.offset.as_secs_f64().abs() < 0.1, "{report}");
        assert!((1..=15).contains(&report.sample.stratum), "{report}");
        assert!(report.sample.delay.as_secs_f64() < 0.5, "{report}");
        assert!(!report.clock_set);
        eprintln!("{report} (answered on try {})", report.sample.tries);
    }
}
