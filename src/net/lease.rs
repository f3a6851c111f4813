//! One interface's DHCP client, for the life of the machine: it waits for
//! the interface and its carrier, runs the [`dhcp::Client`] state machine on
//! the interface's sockets, and applies what it decides (addresses, and for
//! the primary interface the default route and resolv.conf). Every lease is
//! renewed (T1: unicast to the server, T2: broadcast); when a lease expires
//! or is refused, the address is removed and the client starts over.
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

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::dhcp::{
    self, Client, ClientConfig, ClientState, Destination, Event, Lease, LostReason, Transmit,
};
use super::link::{names, wait_for, Link, LinkError, Netlink};
use super::{join, packet, write_resolv_conf};

/// How long the carrier is polled quickly before the first "waiting for a
/// carrier" line, then between two looks.
const CARRIER_FIRST_WAIT: Duration = Duration::from_millis(100);
const CARRIER_WAIT: Duration = Duration::from_secs(5);
/// The pause after a failed receive on the DHCP socket.
const SOCKET_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// Large enough for any DHCP message (and its Ethernet, IP and UDP headers).
const BUFFER: usize = 2048;

/// State shared by the interface tasks.
pub(super) struct Shared {
    pub nl: Netlink,
    pub resolv_conf: PathBuf,
    pub extra_nameservers: Vec<IpAddr>,
    /// Whether the primary lease sets the default route.
    pub default_route: bool,
    /// The interface that owns the default route and DNS.
    pub primary: Mutex<Option<String>>,
    /// How long a named interface may take to appear.
    pub appear_timeout: Duration,
}

/// What a task tells [`super::bring_up`].
pub(super) enum TaskReport {
    /// The primary interface's first lease is applied.
    Primary(LeaseInfo),
    /// The task ended without a lease.
    Failed,
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

/// Why an interface's DHCP client stopped.
#[derive(Debug, thiserror::Error)]
pub(super) enum LeaseError {
    /// The interface did not appear in time.
    #[error("interface {name} not found within {timeout:?}; interfaces present: {}", join(.present))]
    NotFound {
        name: String,
        timeout: Duration,
        present: Vec<String>,
    },
    /// The interface has no MAC address.
    #[error("no Ethernet hardware address")]
    NoMac,
    /// A netlink operation failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The DHCP socket could not be opened.
    #[error("cannot open the DHCP socket (UDP port 68): {0}")]
    Socket(io::Error),
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
pub(super) struct InterfaceTask {
    pub shared: Arc<Shared>,
    pub name: String,
    pub status: watch::Sender<InterfaceStatus>,
    pub renew: Arc<Notify>,
    pub report: mpsc::UnboundedSender<TaskReport>,
}

/// The `AF_PACKET` listener kept while the interface has no lease.
#[derive(Default)]
struct RawListener {
    socket: Option<packet::PacketReceiver>,
    /// It could not be opened (or failed): not tried again.
    failed: bool,
}

impl RawListener {
    fn close(&mut self) {
        if let Some(r) = self.socket.take() {
            r.close_in_background();
        }
    }
}

/// The client of one interface and what it has applied.
struct Session {
    link: Link,
    client: Client,
    sock: UdpSocket,
    raw: RawListener,
    /// The lease applied, as reported.
    current: Option<LeaseInfo>,
    renewals: u32,
    /// The primary lease was reported to `bring_up`.
    reported: bool,
    /// Since when the interface has been without a lease.
    acquiring_since: Instant,
    buf: Vec<u8>,
    raw_buf: Vec<u8>,
}

impl InterfaceTask {
    pub(super) async fn run(self) {
        if let Err(e) = self.run_inner().await {
            error!("{}: {e}", self.name);
            self.status
                .send_replace(InterfaceStatus::Failed(e.to_string()));
            let _ = self.report.send(TaskReport::Failed);
        }
    }

    /// Waits (bounded) for the interface to exist. (A lookup by name, not
    /// a dump of every link: the tasks share one netlink socket, on which
    /// the kernel refuses a second dump while one runs.)
    async fn find_link(&self) -> Result<Link, LeaseError> {
        let nl = &self.shared.nl;
        let timeout = self.shared.appear_timeout;
        if let Some(link) = wait_for(timeout, || nl.link_by_name(&self.name)).await? {
            return Ok(link);
        }
        Err(LeaseError::NotFound {
            name: self.name.clone(),
            timeout,
            present: nl.links().await.map(|l| names(&l)).unwrap_or_default(),
        })
    }

    /// Waits for the carrier without holding anything up: quickly first,
    /// then with a line on the console, for as long as it takes.
    async fn wait_carrier(&self, link: &Link) -> Result<(), LeaseError> {
        let mut warned = false;
        loop {
            let wait = if warned {
                CARRIER_WAIT
            } else {
                CARRIER_FIRST_WAIT
            };
            if self.shared.nl.wait_carrier(link, wait).await? {
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
        Ok(())
    }

    /// The client's loop: handle what it asks for, then wait for the next
    /// datagram, time-out or renewal request.
    async fn run_inner(&self) -> Result<(), LeaseError> {
        let link = match self.find_link().await {
            Ok(l) => l,
            Err(e) => {
                // Keep the Missing status: the caller reports it.
                error!("{e}");
                let _ = self.report.send(TaskReport::Failed);
                return Ok(());
            }
        };
        let mac = link.mac.ok_or(LeaseError::NoMac)?;
        self.shared.nl.set_up(&link).await?;
        let link_up = Instant::now();
        self.wait_carrier(&link).await?;
        let sock = dhcp_socket(&self.name).map_err(LeaseError::Socket)?;
        self.status.send_replace(InterfaceStatus::Discovering);
        let client = Client::new(mac, ClientConfig::default(), Instant::now().into_std());
        let mut s = Session {
            link,
            client,
            sock,
            raw: RawListener::default(),
            current: None,
            renewals: 0,
            reported: false,
            acquiring_since: link_up,
            buf: vec![0u8; BUFFER],
            raw_buf: vec![0u8; BUFFER],
        };
        let mut events = s.client.start(Instant::now().into_std());
        loop {
            for event in events.drain(..) {
                self.handle(&mut s, event).await?;
            }
            self.track_state(s.client.state());
            // The packet socket is only needed while unbound.
            if s.client.lease().is_some() {
                s.raw.close();
            }
            events = self.next_events(&mut s).await;
        }
    }

    /// Acts on one decision of the client.
    async fn handle(&self, s: &mut Session, event: Event) -> Result<(), LeaseError> {
        let nl = &self.shared.nl;
        match event {
            Event::Send(t) => self.send(s, t).await,
            Event::Bound(lease) => {
                let info = self
                    .apply(&s.link, &lease, s.acquiring_since.elapsed())
                    .await?;
                s.renewals = 0;
                if info.primary && !s.reported {
                    s.reported = true;
                    let _ = self.report.send(TaskReport::Primary(info.clone()));
                }
                s.current = Some(info.clone());
                self.status.send_replace(InterfaceStatus::Leased(info));
            }
            Event::Renewed(lease) => {
                s.renewals += 1;
                if let Err(e) = nl
                    .add_address(&s.link, lease.address, lease.prefix_len)
                    .await
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
                if let Some(info) = s.current.as_mut() {
                    info.renewals = s.renewals;
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
                if let Err(e) = nl
                    .del_address(&s.link, lease.address, lease.prefix_len)
                    .await
                {
                    warn!("{}: {e}", self.name);
                }
                s.current = None;
                s.acquiring_since = Instant::now();
                self.status.send_replace(InterfaceStatus::Discovering);
            }
        }
        Ok(())
    }

    /// Sends a message of the client, listening below the IP stack first
    /// (rp_filter) while the interface has no lease.
    async fn send(&self, s: &mut Session, t: Transmit) {
        if s.client.lease().is_none() && s.raw.socket.is_none() && !s.raw.failed {
            match packet::PacketReceiver::open(s.link.index) {
                Ok(r) => s.raw.socket = Some(r),
                Err(e) => {
                    s.raw.failed = true;
                    warn!(
                        "{}: no packet socket ({e}); DHCP replies are lost if rp_filter is on",
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
        if let Err(e) = s.sock.send_to(&t.bytes, to).await {
            warn!(
                "{}: cannot send DHCP {:?} to {dest}: {e}",
                self.name, t.kind
            );
        }
    }

    /// Shows a pending offer as [`InterfaceStatus::Requesting`] (and a
    /// request that gave up as discovering again).
    fn track_state(&self, state: ClientState) {
        let next = match (&*self.status.borrow(), state) {
            (InterfaceStatus::Discovering, ClientState::Requesting) => {
                Some(InterfaceStatus::Requesting)
            }
            (InterfaceStatus::Requesting, ClientState::Selecting) => {
                Some(InterfaceStatus::Discovering)
            }
            _ => None,
        };
        if let Some(next) = next {
            self.status.send_replace(next);
        }
    }

    /// Waits for what comes first: a datagram on either socket, the
    /// client's next deadline, or a renewal request. Returns the client's
    /// decisions.
    async fn next_events(&self, s: &mut Session) -> Vec<Event> {
        let deadline = s.client.deadline();
        let sleep = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = s.sock.recv_from(&mut s.buf) => match r {
                Ok((n, _)) => self.on_datagram(&mut s.client, s.buf.get(..n).unwrap_or_default()),
                Err(e) => {
                    warn!("{}: DHCP socket: {e}", self.name);
                    tokio::time::sleep(SOCKET_ERROR_PAUSE).await;
                    Vec::new()
                }
            },
            r = recv_raw(s.raw.socket.as_ref(), &mut s.raw_buf) => match r {
                Ok(n) => {
                    let pkt = s.raw_buf.get(..n).unwrap_or_default();
                    match packet::udp_payload_to_port(pkt, dhcp::DHCP_CLIENT_PORT) {
                        Some(data) => self.on_datagram(&mut s.client, data),
                        None => Vec::new(),
                    }
                }
                Err(e) => {
                    warn!("{}: packet socket: {e}", self.name);
                    s.raw.close();
                    s.raw.failed = true;
                    Vec::new()
                }
            },
            () = sleep => s.client.on_timeout(Instant::now().into_std()),
            () = self.renew.notified() => s.client.renew_now(Instant::now().into_std()),
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
