//! Networking: loopback, DHCP on the Ethernet interfaces, default route and
//! `/etc/resolv.conf`, and lease renewal for as long as the machine runs.
//!
//! [`bring_up`] starts one task per interface (a DHCP client of our own, see
//! [`dhcp`]) and returns as soon as the first interface has a lease: that
//! interface provides the default route and the DNS configuration. The other
//! interfaces keep trying in the background and get their address (but no
//! default route). Every task renews its lease (T1: unicast to the server,
//! T2: broadcast), and when a lease expires or is refused it removes the
//! address and starts over.
//!
//! Sockets: one UDP socket per interface, bound to 0.0.0.0:68 with
//! `SO_BINDTODEVICE` (so several interfaces can use port 68 at once),
//! `SO_REUSEADDR` and `SO_BROADCAST`. Requests carry the BOOTP broadcast
//! flag, so servers (dnsmasq, QEMU's user-mode stack, ISC, Windows...)
//! broadcast their replies, which an interface without an address receives.
//! Renewals are plain unicast once the address is configured. While an
//! interface has no lease, an `AF_PACKET` socket ([`packet`]) also listens,
//! because a reverse-path filter (`rp_filter`) drops replies to an interface
//! without an address before they reach the UDP socket.

pub mod dhcp;
pub mod http;
pub mod link;
pub mod ntp;
pub mod packet;
mod setup;

pub use setup::{setup, setup_with, NetSetup, NetSource, SetupOptions, StaticIface};

use std::fmt;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use self::dhcp::{Client, ClientConfig, Destination, Event, Lease, LostReason};
use self::link::{Link, LinkError, Netlink};

/// Settings of [`bring_up`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetOptions {
    /// How long to wait for the first lease (default 10 s).
    pub timeout: Duration,
    /// Where the DNS configuration goes (default `/etc/resolv.conf`).
    pub resolv_conf: PathBuf,
    /// Interfaces to run DHCP on. Empty: every Ethernet interface named
    /// `eth*` or `en*` that is not virtual. Named interfaces that do not
    /// exist yet are waited for (up to `timeout`).
    pub interfaces: Vec<String>,
    /// Nameservers written before the DHCP-provided ones (`b2c.iface=...,nameserver=`).
    pub extra_nameservers: Vec<IpAddr>,
    /// Whether the primary lease's router becomes the default route (false
    /// when a static `gateway=` provides it).
    pub default_route: bool,
}

impl Default for NetOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            interfaces: Vec::new(),
            extra_nameservers: Vec::new(),
            default_route: true,
        }
    }
}

/// An interface that was tried, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriedInterface {
    /// Interface name.
    pub name: String,
    /// Its state when we gave up.
    pub status: InterfaceStatus,
}

impl fmt::Display for TriedInterface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.status)
    }
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why the network could not be brought up.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// No interface to run DHCP on.
    #[error("no Ethernet interface (eth*, en*) found; interfaces present: {}", join(.present))]
    NoInterface {
        /// Every interface that exists.
        present: Vec<String>,
    },
    /// Interfaces named in the options never appeared (and none got a lease).
    #[error("interface {} not found within {timeout:?}; interfaces present: {}", join(.missing), join(.present))]
    MissingInterface {
        /// The named interfaces that do not exist.
        missing: Vec<String>,
        /// Every interface that exists.
        present: Vec<String>,
        /// How long we waited.
        timeout: Duration,
    },
    /// No interface got a lease in time.
    #[error("no DHCP lease within {timeout:?} on {}", join(.tried))]
    NoLease {
        /// The interfaces tried and their state.
        tried: Vec<TriedInterface>,
        /// How long we waited.
        timeout: Duration,
    },
    /// A netlink operation failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A `b2c.iface` setting this implementation cannot apply.
    #[error("{option}: {what}")]
    Unsupported {
        /// The option, e.g. `b2c.iface=eth1`.
        option: String,
        /// What is not supported.
        what: String,
    },
    /// `forward` was asked and `/proc/sys/net/ipv4/ip_forward` could not be written.
    #[error("{option}: cannot enable IPv4 forwarding: {source}")]
    Forwarding {
        /// The option that asked for it.
        option: String,
        /// The write error.
        #[source]
        source: std::io::Error,
    },
    /// `/etc/resolv.conf` could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    ResolvConf {
        /// The file.
        path: PathBuf,
        /// The write error.
        #[source]
        source: std::io::Error,
    },
    /// `ip=` was given but the kernel configured no IPv4 address.
    #[error("ip={ip}: the kernel configured no IPv4 address on any interface; interfaces present: {}", join(.present))]
    KernelIp {
        /// The value of `ip=`.
        ip: String,
        /// Every interface that exists.
        present: Vec<String>,
    },
}

/// The state of one interface's DHCP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceStatus {
    /// The interface does not exist (yet).
    Missing,
    /// Set up, waiting for a carrier.
    NoCarrier,
    /// Carrier present, no offer received yet.
    Discovering,
    /// An offer was received, the REQUEST was not acknowledged yet.
    Requesting,
    /// A lease is applied.
    Leased(LeaseInfo),
    /// The client stopped because of an error.
    Failed(String),
}

impl fmt::Display for InterfaceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterfaceStatus::Missing => write!(f, "does not exist"),
            InterfaceStatus::NoCarrier => write!(f, "no carrier"),
            InterfaceStatus::Discovering => write!(f, "no answer to DHCPDISCOVER"),
            InterfaceStatus::Requesting => write!(f, "offer received, no DHCPACK"),
            InterfaceStatus::Leased(l) => write!(f, "leased {}/{}", l.address, l.prefix_len),
            InterfaceStatus::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}

/// A lease as applied to an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// Interface name.
    pub interface: String,
    /// Our address.
    pub address: Ipv4Addr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// The router (default gateway) offered, if any.
    pub router: Option<Ipv4Addr>,
    /// DNS servers offered.
    pub dns: Vec<Ipv4Addr>,
    /// Domain name offered.
    pub domain: Option<String>,
    /// Domain search list offered.
    pub search: Vec<String>,
    /// NTP servers offered.
    pub ntp: Vec<Ipv4Addr>,
    /// The DHCP server.
    pub server: Ipv4Addr,
    /// Lease duration (`None`: infinite).
    pub lease_time: Option<Duration>,
    /// From link up (or from the loss of the previous lease) to the lease
    /// being applied.
    pub time_to_lease: Duration,
    /// Renewals since the lease was obtained.
    pub renewals: u32,
    /// Whether this interface provides the default route and DNS.
    pub primary: bool,
}

/// A live view of one interface's DHCP client.
#[derive(Debug, Clone)]
pub struct InterfaceHandle {
    name: String,
    status: watch::Receiver<InterfaceStatus>,
    renew: Arc<Notify>,
}

impl InterfaceHandle {
    /// Interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current status.
    pub fn status(&self) -> InterfaceStatus {
        self.status.borrow().clone()
    }

    /// Waits (at most `timeout`) for a status that satisfies `pred`.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&InterfaceStatus) -> bool,
    ) -> Option<InterfaceStatus> {
        let fut = self.status.wait_for(|s| pred(s));
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// Asks the client to renew its lease now (does nothing unless bound).
    pub fn renew_now(&self) {
        self.renew.notify_one();
    }
}

/// What [`bring_up`] did.
#[derive(Debug, Clone)]
pub struct NetSummary {
    /// The interface that provides the default route and DNS.
    pub primary: LeaseInfo,
    /// Every interface tried, with its status when `bring_up` returned.
    pub interfaces: Vec<(InterfaceStatus, InterfaceHandle)>,
}

impl NetSummary {
    /// NTP servers offered by DHCP, the primary interface's first.
    pub fn ntp_servers(&self) -> Vec<Ipv4Addr> {
        let mut out = self.primary.ntp.clone();
        for (_, h) in &self.interfaces {
            if let InterfaceStatus::Leased(l) = h.status() {
                for s in l.ntp {
                    if !out.contains(&s) {
                        out.push(s);
                    }
                }
            }
        }
        out
    }

    /// The handle of an interface.
    pub fn interface(&self, name: &str) -> Option<&InterfaceHandle> {
        self.interfaces
            .iter()
            .map(|(_, h)| h)
            .find(|h| h.name == name)
    }
}

/// The text of a resolv.conf.
pub fn resolv_conf_contents(source: &str, nameservers: &[IpAddr], search: &[String]) -> String {
    let mut out = format!("# Written by boot2container ({source})\n");
    if !search.is_empty() {
        out.push_str("search ");
        out.push_str(&search.join(" "));
        out.push('\n');
    }
    let mut seen = Vec::new();
    for ns in nameservers {
        if !seen.contains(ns) {
            seen.push(*ns);
            out.push_str(&format!("nameserver {ns}\n"));
        }
    }
    out
}

/// Writes a resolv.conf atomically (temporary file, then rename).
pub fn write_resolv_conf(
    path: &Path,
    source: &str,
    nameservers: &[IpAddr],
    search: &[String],
) -> std::io::Result<()> {
    let contents = resolv_conf_contents(source, nameservers, search);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".b2c-tmp");
    let tmp = PathBuf::from(tmp);
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// DNS settings the kernel's `ip=` autoconfiguration left in `/proc/net/pnp`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PnpConfig {
    /// `nameserver` lines.
    pub nameservers: Vec<IpAddr>,
    /// The `domain` line.
    pub domain: Option<String>,
}

/// Parses the text of `/proc/net/pnp` (same syntax as resolv.conf, plus
/// `#PROTO:` and `bootserver` lines, which are ignored).
pub fn parse_pnp(text: &str) -> PnpConfig {
    let mut out = PnpConfig::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("nameserver"), Some(ns)) => {
                if let Ok(ip) = ns.parse::<IpAddr>() {
                    if !ip.is_unspecified() && !out.nameservers.contains(&ip) {
                        out.nameservers.push(ip);
                    }
                }
            }
            (Some("domain"), Some(d)) if !d.is_empty() => out.domain = Some(d.to_string()),
            _ => {}
        }
    }
    out
}

/// For `ip=` on the kernel command line: the kernel configured the
/// interface, write resolv.conf from `/proc/net/pnp` (`extra_nameservers`
/// first). Returns what was found.
pub fn resolv_conf_from_pnp(
    pnp: &Path,
    resolv_conf: &Path,
    extra_nameservers: &[IpAddr],
) -> std::io::Result<PnpConfig> {
    let cfg = parse_pnp(&std::fs::read_to_string(pnp)?);
    let mut nameservers = extra_nameservers.to_vec();
    nameservers.extend(cfg.nameservers.iter().copied());
    let search: Vec<String> = cfg.domain.iter().cloned().collect();
    write_resolv_conf(
        resolv_conf,
        "kernel ip= configuration",
        &nameservers,
        &search,
    )?;
    Ok(cfg)
}

/// Enables IPv4 forwarding (`b2c.iface=...,forward`).
pub fn enable_ipv4_forwarding() -> std::io::Result<()> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1\n")
}

/// Sets `lo` up with 127.0.0.1/8.
pub async fn loopback_up(nl: &Netlink) -> Result<(), LinkError> {
    let lo = nl
        .link_by_name("lo")
        .await?
        .ok_or_else(|| LinkError::NotFound("lo".into()))?;
    nl.set_up(&lo).await?;
    nl.add_address(&lo, Ipv4Addr::LOCALHOST, 8).await
}

/// State shared by the interface tasks.
struct Shared {
    nl: Netlink,
    resolv_conf: PathBuf,
    extra_nameservers: Vec<IpAddr>,
    /// Whether the primary lease sets the default route.
    default_route: bool,
    /// The interface that owns the default route and DNS.
    primary: Mutex<Option<String>>,
    /// How long a named interface may take to appear.
    appear_timeout: Duration,
}

enum Report {
    /// The primary interface's first lease is applied.
    Primary(LeaseInfo),
    /// The task ended without a lease.
    Failed,
}

/// Brings the network up (see the module documentation): returns once the
/// first lease is applied, or an error after `opts.timeout`.
pub async fn bring_up(opts: &NetOptions) -> Result<NetSummary, NetError> {
    let start = Instant::now();
    let deadline = start + opts.timeout;
    let nl = Netlink::connect()?;
    if let Err(e) = loopback_up(&nl).await {
        warn!("lo: {e}");
    }

    // Pick the interfaces.
    let mut names: Vec<String> = opts.interfaces.clone();
    if names.is_empty() {
        loop {
            let links = nl.links().await?;
            names = links
                .iter()
                .filter(|l| l.is_dhcp_candidate())
                .map(|l| l.name.clone())
                .collect();
            if !names.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(NetError::NoInterface {
                    present: links.into_iter().map(|l| l.name).collect(),
                });
            }
            // Drivers may still be probing.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let shared = Arc::new(Shared {
        nl: nl.clone(),
        resolv_conf: opts.resolv_conf.clone(),
        extra_nameservers: opts.extra_nameservers.clone(),
        default_route: opts.default_route,
        primary: Mutex::new(None),
        appear_timeout: opts.timeout,
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut handles = Vec::new();
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    for name in &names {
        let (status_tx, status_rx) = watch::channel(InterfaceStatus::Missing);
        let renew = Arc::new(Notify::new());
        handles.push(InterfaceHandle {
            name: name.clone(),
            status: status_rx,
            renew: renew.clone(),
        });
        let task = InterfaceTask {
            shared: shared.clone(),
            name: name.clone(),
            status: status_tx,
            renew,
            report: tx.clone(),
        };
        tasks.push(tokio::spawn(task.run()));
    }
    drop(tx);

    let mut failed = 0;
    let outcome = loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Report::Primary(lease))) => break Some(lease),
            Ok(Some(Report::Failed)) => {
                failed += 1;
                if failed == names.len() {
                    break None;
                }
            }
            Ok(None) | Err(_) => break None,
        }
    };

    match outcome {
        Some(primary) => Ok(NetSummary {
            primary,
            interfaces: handles.into_iter().map(|h| (h.status(), h)).collect(),
        }),
        None => {
            for t in &tasks {
                t.abort();
            }
            let tried: Vec<TriedInterface> = handles
                .iter()
                .map(|h| TriedInterface {
                    name: h.name.clone(),
                    status: h.status(),
                })
                .collect();
            let missing: Vec<String> = tried
                .iter()
                .filter(|t| t.status == InterfaceStatus::Missing)
                .map(|t| t.name.clone())
                .collect();
            if missing.len() == tried.len() {
                let present = nl
                    .links()
                    .await
                    .map(|ls| ls.into_iter().map(|l| l.name).collect())
                    .unwrap_or_default();
                return Err(NetError::MissingInterface {
                    missing,
                    present,
                    timeout: opts.timeout,
                });
            }
            Err(NetError::NoLease {
                tried,
                timeout: opts.timeout,
            })
        }
    }
}

/// Opens the DHCP client socket of an interface.
fn dhcp_socket(iface: &str) -> std::io::Result<tokio::net::UdpSocket> {
    use nix::sys::socket::{
        bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockProtocol, SockType,
        SockaddrIn,
    };
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        SockProtocol::Udp,
    )?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    setsockopt(&fd, sockopt::Broadcast, &true)?;
    setsockopt(&fd, sockopt::BindToDevice, &std::ffi::OsString::from(iface))?;
    bind(
        fd.as_raw_fd(),
        &SockaddrIn::new(0, 0, 0, 0, dhcp::DHCP_CLIENT_PORT),
    )?;
    tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(fd))
}

/// One interface's DHCP client, for the life of the machine.
struct InterfaceTask {
    shared: Arc<Shared>,
    name: String,
    status: watch::Sender<InterfaceStatus>,
    renew: Arc<Notify>,
    report: mpsc::UnboundedSender<Report>,
}

impl InterfaceTask {
    async fn run(self) {
        if let Err(e) = self.run_inner().await {
            error!("{}: {e}", self.name);
            self.status
                .send_replace(InterfaceStatus::Failed(e.to_string()));
            let _ = self.report.send(Report::Failed);
        }
    }

    /// Waits (bounded) for the interface to exist.
    async fn find_link(&self) -> Result<Link, String> {
        let nl = &self.shared.nl;
        let deadline = Instant::now() + self.shared.appear_timeout;
        loop {
            match nl.link_by_name(&self.name).await {
                Ok(Some(link)) => return Ok(link),
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            if Instant::now() >= deadline {
                let present = nl
                    .links()
                    .await
                    .map(|ls| ls.into_iter().map(|l| l.name).collect::<Vec<_>>())
                    .unwrap_or_default();
                return Err(format!(
                    "interface {} not found within {:?}; interfaces present: {}",
                    self.name,
                    self.shared.appear_timeout,
                    join(&present)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn run_inner(&self) -> Result<(), String> {
        let nl = &self.shared.nl;
        let link = match self.find_link().await {
            Ok(l) => l,
            Err(e) => {
                // Keep the Missing status: the caller reports it.
                error!("{e}");
                let _ = self.report.send(Report::Failed);
                return Ok(());
            }
        };
        let mac = link
            .mac
            .ok_or_else(|| "no Ethernet hardware address".to_string())?;
        nl.set_up(&link).await.map_err(|e| e.to_string())?;
        let link_up = Instant::now();

        // Wait for the carrier without holding anything up.
        let mut warned = false;
        loop {
            let wait = if warned {
                Duration::from_secs(5)
            } else {
                Duration::from_millis(100)
            };
            if nl
                .wait_carrier(&link, wait)
                .await
                .map_err(|e| e.to_string())?
            {
                break;
            }
            self.status.send_replace(InterfaceStatus::NoCarrier);
            if !warned {
                info!("{}: waiting for a carrier", self.name);
                warned = true;
            }
        }
        if warned {
            info!("{}: carrier up", self.name);
        }

        let sock = dhcp_socket(&self.name)
            .map_err(|e| format!("cannot open the DHCP socket (UDP port 68): {e}"))?;
        self.status.send_replace(InterfaceStatus::Discovering);
        let mut client = Client::new(mac, ClientConfig::default(), Instant::now().into_std());
        let mut acquiring_since = link_up;
        let mut renewals = 0u32;
        let mut current: Option<LeaseInfo> = None;
        let mut reported = false;
        let mut buf = vec![0u8; 2048];
        let mut raw: Option<packet::PacketReceiver> = None;
        let mut raw_failed = false;
        let mut raw_buf = vec![0u8; 2048];
        let mut events = client.start(Instant::now().into_std());
        loop {
            for event in events.drain(..) {
                match event {
                    Event::Send(t) => {
                        // Listen below the IP stack (rp_filter) before asking.
                        if client.lease().is_none() && raw.is_none() && !raw_failed {
                            match packet::PacketReceiver::open(link.index) {
                                Ok(r) => raw = Some(r),
                                Err(e) => {
                                    raw_failed = true;
                                    warn!(
                                        "{}: no packet socket ({e}); DHCP replies are lost if \
                                         rp_filter is on",
                                        self.name
                                    );
                                }
                            }
                        }
                        let dest = match t.to {
                            Destination::Broadcast => Ipv4Addr::BROADCAST,
                            Destination::Unicast(a) => a,
                        };
                        let to = SocketAddr::V4(SocketAddrV4::new(dest, dhcp::DHCP_SERVER_PORT));
                        debug!("{}: sending {:?} to {dest}", self.name, t.kind);
                        if let Err(e) = sock.send_to(&t.bytes, to).await {
                            warn!(
                                "{}: cannot send DHCP {:?} to {dest}: {e}",
                                self.name, t.kind
                            );
                        }
                    }
                    Event::Bound(lease) => {
                        let info = self
                            .apply(&link, &lease, acquiring_since.elapsed())
                            .await
                            .map_err(|e| e.to_string())?;
                        renewals = 0;
                        if info.primary && !reported {
                            reported = true;
                            let _ = self.report.send(Report::Primary(info.clone()));
                        }
                        current = Some(info.clone());
                        self.status.send_replace(InterfaceStatus::Leased(info));
                    }
                    Event::Renewed(lease) => {
                        renewals += 1;
                        if let Err(e) = nl.add_address(&link, lease.address, lease.prefix_len).await
                        {
                            warn!("{}: {e}", self.name);
                        }
                        info!(
                            "{}: lease {}/{} renewed for {}",
                            self.name,
                            lease.address,
                            lease.prefix_len,
                            fmt_lease_time(lease.lease_time)
                        );
                        if let Some(info) = current.as_mut() {
                            info.renewals = renewals;
                            info.lease_time = lease.lease_time;
                            self.status
                                .send_replace(InterfaceStatus::Leased(info.clone()));
                        }
                    }
                    Event::Lost { lease, reason } => {
                        let why = match reason {
                            LostReason::Expired => "expired",
                            LostReason::Nak => "refused by the server (DHCPNAK)",
                            LostReason::Replaced => "replaced by a new address",
                        };
                        warn!(
                            "{}: lease {}/{} {why}, address removed",
                            self.name, lease.address, lease.prefix_len
                        );
                        if let Err(e) = nl.del_address(&link, lease.address, lease.prefix_len).await
                        {
                            warn!("{}: {e}", self.name);
                        }
                        current = None;
                        acquiring_since = Instant::now();
                        self.status.send_replace(InterfaceStatus::Discovering);
                    }
                }
            }
            if matches!(*self.status.borrow(), InterfaceStatus::Discovering)
                && client.state_name() == "REQUESTING"
            {
                self.status.send_replace(InterfaceStatus::Requesting);
            } else if matches!(*self.status.borrow(), InterfaceStatus::Requesting)
                && client.state_name() == "SELECTING"
            {
                self.status.send_replace(InterfaceStatus::Discovering);
            }

            // The packet socket is only needed while unbound.
            if client.lease().is_some() {
                if let Some(r) = raw.take() {
                    r.close_in_background();
                }
            }

            let deadline = client.deadline();
            let sleep = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = sock.recv_from(&mut buf) => match r {
                    Ok((n, _)) => {
                        events = self.on_datagram(&mut client, buf.get(..n).unwrap_or_default());
                    }
                    Err(e) => {
                        warn!("{}: DHCP socket: {e}", self.name);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                r = recv_raw(raw.as_ref(), &mut raw_buf) => match r {
                    Ok(n) => {
                        let pkt = raw_buf.get(..n).unwrap_or_default();
                        if let Some(data) = packet::udp_payload_to_port(pkt, dhcp::DHCP_CLIENT_PORT) {
                            events = self.on_datagram(&mut client, data);
                        }
                    }
                    Err(e) => {
                        warn!("{}: packet socket: {e}", self.name);
                        if let Some(r) = raw.take() {
                            r.close_in_background();
                        }
                        raw_failed = true;
                    }
                },
                () = sleep => events = client.on_timeout(Instant::now().into_std()),
                () = self.renew.notified() => events = client.renew_now(Instant::now().into_std()),
            }
        }
    }

    /// Feeds a received DHCP message to the client.
    fn on_datagram(&self, client: &mut Client, data: &[u8]) -> Vec<Event> {
        match client.on_packet(data, Instant::now().into_std()) {
            Ok(events) => events,
            // Other clients' traffic, and the copy of a reply already
            // received on the other socket, are normal.
            Err(
                dhcp::Ignored::WrongXid { .. }
                | dhcp::Ignored::WrongClient
                | dhcp::Ignored::NotReply
                | dhcp::Ignored::Unexpected { .. },
            ) => Vec::new(),
            Err(e) => {
                debug!("{}: ignored DHCP message: {e}", self.name);
                Vec::new()
            }
        }
    }

    /// Configures a new lease: address, and for the primary interface the
    /// default route and resolv.conf.
    async fn apply(
        &self,
        link: &Link,
        lease: &Lease,
        time_to_lease: Duration,
    ) -> Result<LeaseInfo, LinkError> {
        let nl = &self.shared.nl;
        nl.add_address(link, lease.address, lease.prefix_len)
            .await?;
        let primary = {
            let mut p = self
                .shared
                .primary
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match p.as_deref() {
                None => {
                    *p = Some(self.name.clone());
                    true
                }
                Some(name) => name == self.name,
            }
        };
        let router = lease.routers.first().copied();
        if primary {
            if let (Some(gw), true) = (router, self.shared.default_route) {
                nl.replace_default_route(link, gw).await?;
            }
            let mut nameservers = self.shared.extra_nameservers.clone();
            nameservers.extend(lease.dns.iter().map(|a| IpAddr::V4(*a)));
            let mut search: Vec<String> = lease.domain.iter().cloned().collect();
            for s in &lease.search {
                if !search.contains(s) {
                    search.push(s.clone());
                }
            }
            let source = format!("DHCP lease on {}", self.name);
            if let Err(e) =
                write_resolv_conf(&self.shared.resolv_conf, &source, &nameservers, &search)
            {
                error!(
                    "{}: cannot write {}: {e}",
                    self.name,
                    self.shared.resolv_conf.display()
                );
            }
        }
        let info = LeaseInfo {
            interface: self.name.clone(),
            address: lease.address,
            prefix_len: lease.prefix_len,
            router,
            dns: lease.dns.clone(),
            domain: lease.domain.clone(),
            search: lease.search.clone(),
            ntp: lease.ntp.clone(),
            server: lease.server,
            lease_time: lease.lease_time,
            time_to_lease,
            renewals: 0,
            primary,
        };
        info!(
            "{}: {}/{} from {} in {} ms (router {}, dns {}, {}){}",
            self.name,
            lease.address,
            lease.prefix_len,
            lease.server,
            time_to_lease.as_millis(),
            router.map_or_else(|| "none".to_string(), |r| r.to_string()),
            join(&lease.dns),
            fmt_lease_time(lease.lease_time),
            if primary { "" } else { ", no default route" },
        );
        Ok(info)
    }
}

/// Receives from the packet socket, if there is one (otherwise never returns).
async fn recv_raw(raw: Option<&packet::PacketReceiver>, buf: &mut [u8]) -> std::io::Result<usize> {
    match raw {
        Some(r) => r.recv(buf).await,
        None => std::future::pending().await,
    }
}

fn fmt_lease_time(t: Option<Duration>) -> String {
    match t {
        Some(t) => format!("{} s lease", t.as_secs()),
        None => "infinite lease".to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_text() {
        let text = resolv_conf_contents(
            "DHCP lease on eth0",
            &[
                "9.9.9.9".parse().unwrap(),
                "10.0.2.3".parse().unwrap(),
                "9.9.9.9".parse().unwrap(),
            ],
            &["example.test".to_string(), "corp.test".to_string()],
        );
        assert_eq!(
            text,
            "# Written by boot2container (DHCP lease on eth0)\n\
             search example.test corp.test\n\
             nameserver 9.9.9.9\n\
             nameserver 10.0.2.3\n"
        );
        let empty = resolv_conf_contents("x", &[], &[]);
        assert_eq!(empty, "# Written by boot2container (x)\n");
    }

    #[test]
    fn resolv_conf_written_atomically() {
        let dir = std::env::temp_dir().join(format!("b2c-resolv-{}", std::process::id()));
        let path = dir.join("etc/resolv.conf");
        write_resolv_conf(&path, "test", &["1.1.1.1".parse().unwrap()], &[]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("nameserver 1.1.1.1"));
        let entries: Vec<_> = std::fs::read_dir(dir.join("etc")).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pnp_parsing() {
        let cfg = parse_pnp(
            "#PROTO: DHCP\ndomain example.test\nnameserver 10.0.2.3\nnameserver 0.0.0.0\n\
             nameserver 10.0.2.3\nbootserver 10.0.2.2\nnameserver bogus\n",
        );
        assert_eq!(cfg.domain.as_deref(), Some("example.test"));
        assert_eq!(cfg.nameservers, vec!["10.0.2.3".parse::<IpAddr>().unwrap()]);
        assert_eq!(parse_pnp(""), PnpConfig::default());
    }

    #[test]
    fn error_messages_name_interfaces() {
        let e = NetError::NoLease {
            tried: vec![
                TriedInterface {
                    name: "eth0".into(),
                    status: InterfaceStatus::NoCarrier,
                },
                TriedInterface {
                    name: "eth1".into(),
                    status: InterfaceStatus::Discovering,
                },
            ],
            timeout: Duration::from_secs(10),
        };
        assert_eq!(
            e.to_string(),
            "no DHCP lease within 10s on eth0 (no carrier), eth1 (no answer to DHCPDISCOVER)"
        );
        let e = NetError::NoInterface {
            present: vec!["lo".into(), "wlan0".into()],
        };
        assert!(e.to_string().contains("lo, wlan0"));
        let e = NetError::MissingInterface {
            missing: vec!["eth5".into()],
            present: vec!["lo".into(), "eth0".into()],
            timeout: Duration::from_secs(10),
        };
        assert_eq!(
            e.to_string(),
            "interface eth5 not found within 10s; interfaces present: lo, eth0"
        );
    }
}
