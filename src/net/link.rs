//! rtnetlink helpers: list links, set them up, watch the carrier, manage IPv4
//! addresses and routes. Every error names the interface concerned.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage,
};
use rtnetlink::packet_route::route::RouteScope;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{AddressMessageBuilder, Handle, LinkUnspec, RouteMessageBuilder};
use tokio::time::Instant;

/// How often [`wait_for`] looks again.
const LINK_POLL: Duration = Duration::from_millis(100);

/// Calls `look` every 100 ms until it finds something (interfaces that
/// appear late: drivers still probing), at most `timeout`: `Ok(None)` when
/// it found nothing in time. The one way the network code waits for links.
pub async fn wait_for<T, Fut>(
    timeout: Duration,
    mut look: impl FnMut() -> Fut,
) -> Result<Option<T>, LinkError>
where
    Fut: std::future::Future<Output = Result<Option<T>, LinkError>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = look().await? {
            return Ok(Some(found));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(LINK_POLL).await;
    }
}

/// Sets `lo` up with 127.0.0.1/8 (see [`Netlink::loopback_up`]).
pub async fn loopback_up(nl: &Netlink) -> Result<(), LinkError> {
    nl.loopback_up().await
}

/// The names of `links`, for messages.
pub fn names(links: &[Link]) -> Vec<String> {
    links.iter().map(|l| l.name.clone()).collect()
}

/// A failed netlink operation.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The netlink socket could not be opened.
    #[error("cannot open a netlink socket: {0}")]
    Connect(#[source] std::io::Error),
    /// The kernel refused an operation on an interface.
    #[error("{op} on {iface}: {source}")]
    Netlink {
        /// The interface name.
        iface: String,
        /// What was being done, e.g. "set link up".
        op: &'static str,
        /// The netlink error.
        #[source]
        source: rtnetlink::Error,
    },
    /// No interface has that name.
    #[error("interface {0} does not exist")]
    NotFound(String),
}

impl LinkError {
    fn nl(iface: &str, op: &'static str, source: rtnetlink::Error) -> Self {
        LinkError::Netlink {
            iface: iface.to_string(),
            op,
            source,
        }
    }

    /// The errno of a netlink error, if that is what this is.
    pub fn errno(&self) -> Option<i32> {
        match self {
            LinkError::Netlink {
                source: rtnetlink::Error::NetlinkError(e),
                ..
            } => Some(e.raw_code().abs()),
            _ => None,
        }
    }
}

/// What we know of a network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Kernel interface index.
    pub index: u32,
    /// Interface name, e.g. `eth0`.
    pub name: String,
    /// Hardware address, for Ethernet-like links.
    pub mac: Option<[u8; 6]>,
    /// ARPHRD_ETHER link layer.
    pub ether: bool,
    /// The loopback interface.
    pub loopback: bool,
    /// Link kind of a virtual interface (`veth`, `bridge`, `dummy`...);
    /// `None` for hardware (and paravirtual hardware such as virtio-net).
    pub kind: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// Carrier present (IFF_LOWER_UP).
    pub carrier: bool,
}

impl Link {
    /// Whether boot2container runs DHCP on it without being told: an
    /// Ethernet device named `eth*` or `en*` that is not virtual.
    pub fn is_dhcp_candidate(&self) -> bool {
        self.ether
            && !self.loopback
            && self.kind.is_none()
            && self.mac.is_some()
            && (self.name.starts_with("eth") || self.name.starts_with("en"))
    }

    fn from_message(msg: &LinkMessage) -> Self {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            mac: None,
            ether: msg.header.link_layer_type == LinkLayerType::Ether,
            loopback: msg.header.flags.contains(LinkFlags::Loopback)
                || msg.header.link_layer_type == LinkLayerType::Loopback,
            kind: None,
            up: msg.header.flags.contains(LinkFlags::Up),
            carrier: msg.header.flags.contains(LinkFlags::LowerUp),
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => link.name = name.clone(),
                LinkAttribute::Address(bytes) => {
                    if let Ok(mac) = <[u8; 6]>::try_from(bytes.as_slice()) {
                        link.mac = Some(mac);
                    }
                }
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(kind) = info {
                            link.kind = Some(kind.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

/// A connection to the kernel's routing netlink.
#[derive(Debug, Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens a netlink socket; its connection task is spawned on the current
    /// tokio runtime (so this must be called from inside one).
    pub fn connect() -> Result<Self, LinkError> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(LinkError::Connect)?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }

    /// Every link of the network namespace.
    pub async fn links(&self) -> Result<Vec<Link>, LinkError> {
        let mut stream = self.handle.link().get().execute();
        let mut links = Vec::new();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(|e| LinkError::nl("all interfaces", "list links", e))?
        {
            links.push(Link::from_message(&msg));
        }
        Ok(links)
    }

    /// Sets `lo` up with 127.0.0.1/8.
    pub async fn loopback_up(&self) -> Result<(), LinkError> {
        let lo = self
            .link_by_name("lo")
            .await?
            .ok_or_else(|| LinkError::NotFound("lo".into()))?;
        self.set_up(&lo).await?;
        self.add_address(&lo, Ipv4Addr::LOCALHOST, 8).await
    }

    /// The link with that name, or `None` if there is none.
    pub async fn link_by_name(&self, name: &str) -> Result<Option<Link>, LinkError> {
        let mut stream = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match stream.try_next().await {
            Ok(Some(msg)) => Ok(Some(Link::from_message(&msg))),
            Ok(None) => Ok(None),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code().abs() == libc::ENODEV => {
                Ok(None)
            }
            Err(e) => Err(LinkError::nl(name, "get link", e)),
        }
    }

    /// Fresh state of a link.
    pub async fn refresh(&self, link: &Link) -> Result<Link, LinkError> {
        let mut stream = self.handle.link().get().match_index(link.index).execute();
        match stream.try_next().await {
            Ok(Some(msg)) => Ok(Link::from_message(&msg)),
            Ok(None) => Err(LinkError::NotFound(link.name.clone())),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code().abs() == libc::ENODEV => {
                Err(LinkError::NotFound(link.name.clone()))
            }
            Err(e) => Err(LinkError::nl(&link.name, "get link", e)),
        }
    }

    /// Sets the link administratively up.
    pub async fn set_up(&self, link: &Link) -> Result<(), LinkError> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(link.index).up().build())
            .execute()
            .await
            .map_err(|e| LinkError::nl(&link.name, "set link up", e))
    }

    /// Waits until the link has a carrier, polling its state (quickly at
    /// first: virtual NICs get theirs within milliseconds). Returns whether
    /// the carrier came within `timeout`.
    pub async fn wait_carrier(&self, link: &Link, timeout: Duration) -> Result<bool, LinkError> {
        let start = Instant::now();
        let deadline = start + timeout;
        loop {
            if self.refresh(link).await?.carrier {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let poll = if now - start < Duration::from_secs(1) {
                Duration::from_millis(5)
            } else {
                Duration::from_millis(100)
            };
            tokio::time::sleep_until((now + poll).min(deadline)).await;
        }
    }

    /// Adds (or refreshes) an IPv4 address with its broadcast address.
    pub async fn add_address(
        &self,
        link: &Link,
        address: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(), LinkError> {
        self.handle
            .address()
            .add(link.index, IpAddr::V4(address), prefix_len)
            .replace()
            .execute()
            .await
            .map_err(|e| LinkError::nl(&link.name, "add address", e))
    }

    /// Removes an IPv4 address (an address that is already gone is fine).
    pub async fn del_address(
        &self,
        link: &Link,
        address: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(), LinkError> {
        let msg = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(link.index)
            .address(address, prefix_len)
            .build();
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code().abs() == libc::EADDRNOTAVAIL => {
                Ok(())
            }
            Err(e) => Err(LinkError::nl(&link.name, "delete address", e)),
        }
    }

    /// The IPv4 addresses of a link, with their prefix lengths.
    pub async fn ipv4_addresses(&self, link: &Link) -> Result<Vec<(Ipv4Addr, u8)>, LinkError> {
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(link.index)
            .execute();
        let mut out = Vec::new();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(|e| LinkError::nl(&link.name, "list addresses", e))?
        {
            if let Some(addr) = ipv4_of(&msg) {
                out.push((addr, msg.header.prefix_len));
            }
        }
        Ok(out)
    }

    /// Removes every IPv4 address of a link.
    pub async fn flush_ipv4(&self, link: &Link) -> Result<(), LinkError> {
        for (addr, prefix) in self.ipv4_addresses(link).await? {
            self.del_address(link, addr, prefix).await?;
        }
        Ok(())
    }

    /// Sets the default route via `gateway` on that link (replacing any).
    /// A gateway outside the link's subnets gets an on-link host route first.
    pub async fn replace_default_route(
        &self,
        link: &Link,
        gateway: Ipv4Addr,
    ) -> Result<(), LinkError> {
        self.replace_route(link, Ipv4Addr::UNSPECIFIED, 0, Some(gateway))
            .await
    }

    /// Adds or replaces the route to `dest/prefix_len` on that link, via
    /// `gateway` or directly on the link when `gateway` is `None`.
    pub async fn replace_route(
        &self,
        link: &Link,
        dest: Ipv4Addr,
        prefix_len: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<(), LinkError> {
        let mut builder = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dest, prefix_len)
            .output_interface(link.index);
        match gateway {
            Some(gw) => {
                let on_link = self
                    .ipv4_addresses(link)
                    .await?
                    .iter()
                    .any(|(a, p)| same_subnet(*a, gw, *p));
                if !on_link {
                    // e.g. a /32 lease whose router is elsewhere: reach it directly.
                    Box::pin(self.replace_route(link, gw, 32, None)).await?;
                }
                builder = builder.gateway(gw);
            }
            None => builder = builder.scope(RouteScope::Link),
        }
        self.handle
            .route()
            .add(builder.build())
            .replace()
            .execute()
            .await
            .map_err(|e| LinkError::nl(&link.name, "add route", e))
    }
}

fn ipv4_of(msg: &AddressMessage) -> Option<Ipv4Addr> {
    if msg.header.family != AddressFamily::Inet {
        return None;
    }
    let mut found = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(IpAddr::V4(a)) => return Some(*a),
            AddressAttribute::Address(IpAddr::V4(a)) => found = Some(*a),
            _ => {}
        }
    }
    found
}

/// Whether two addresses share the same `prefix_len` subnet.
pub fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix_len: u8) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len.min(32)))
        .unwrap_or(0);
    u32::from(a) & mask == u32::from(b) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, kind: Option<&str>) -> Link {
        Link {
            index: 2,
            name: name.into(),
            mac: Some([2, 0, 0, 0, 0, 1]),
            ether: true,
            loopback: false,
            kind: kind.map(str::to_string),
            up: false,
            carrier: false,
        }
    }

    #[test]
    fn candidates() {
        assert!(link("eth0", None).is_dhcp_candidate());
        assert!(link("enp0s3", None).is_dhcp_candidate());
        assert!(!link("eth0", Some("veth")).is_dhcp_candidate());
        assert!(!link("wlan0", None).is_dhcp_candidate());
        assert!(!link("docker0", Some("bridge")).is_dhcp_candidate());
        let mut lo = link("lo", None);
        lo.loopback = true;
        lo.ether = false;
        assert!(!lo.is_dhcp_candidate());
    }

    #[test]
    fn subnets() {
        let a = Ipv4Addr::new(10, 0, 0, 5);
        assert!(same_subnet(a, Ipv4Addr::new(10, 0, 0, 1), 24));
        assert!(!same_subnet(a, Ipv4Addr::new(10, 0, 1, 1), 24));
        assert!(same_subnet(a, Ipv4Addr::new(10, 9, 9, 9), 8));
        assert!(same_subnet(a, Ipv4Addr::new(1, 2, 3, 4), 0));
        assert!(!same_subnet(a, Ipv4Addr::new(10, 0, 0, 6), 32));
    }

    #[test]
    fn waits_until_found_or_the_limit() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut looks = 0;
            let found = wait_for(Duration::from_secs(5), || {
                looks += 1;
                let n = looks;
                async move { Ok((n == 3).then_some(n)) }
            })
            .await
            .unwrap();
            assert_eq!(found, Some(3));
            let start = Instant::now();
            let none = wait_for(Duration::from_millis(250), || async { Ok(None::<u8>) })
                .await
                .unwrap();
            assert_eq!(none, None);
            assert!(start.elapsed() >= Duration::from_millis(250));
            let failed = wait_for(Duration::from_secs(5), || async {
                Err::<Option<u8>, _>(LinkError::NotFound("eth9".into()))
            })
            .await;
            assert!(matches!(failed, Err(LinkError::NotFound(_))));
        });
    }
}
