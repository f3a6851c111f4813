//! A DHCP lease: what a server granted, read from the options of its ACK.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, Message, OptionCode};

/// The configuration granted by a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Our address.
    pub address: Ipv4Addr,
    /// Prefix length of the subnet (from the subnet mask, or the address class).
    pub prefix_len: u8,
    /// Routers, preferred first.
    pub routers: Vec<Ipv4Addr>,
    /// DNS servers.
    pub dns: Vec<Ipv4Addr>,
    /// Domain name (option 15).
    pub domain: Option<String>,
    /// Domain search list (option 119).
    pub search: Vec<String>,
    /// NTP servers (option 42).
    pub ntp: Vec<Ipv4Addr>,
    /// The server that granted the lease.
    pub server: Ipv4Addr,
    /// Lease duration; `None` for an infinite lease.
    pub lease_time: Option<Duration>,
    /// Renewal time T1, from the moment the lease was granted.
    pub t1: Option<Duration>,
    /// Rebinding time T2, from the moment the lease was granted.
    pub t2: Option<Duration>,
    /// When the lease was granted (the ACK was received).
    pub acquired: Instant,
}

impl Lease {
    /// When the lease expires, if it does.
    pub fn expires(&self) -> Option<Instant> {
        self.lease_time.map(|d| self.acquired + d)
    }
}

/// Prefix length of a subnet mask (leading one bits).
pub fn mask_to_prefix(mask: Ipv4Addr) -> u8 {
    // leading_ones() of a u32 is at most 32, so it fits in a u8.
    u8::try_from(u32::from(mask).leading_ones()).unwrap_or(32)
}

/// The classful prefix length of an address (used when no mask is given).
pub fn classful_prefix(addr: Ipv4Addr) -> u8 {
    match addr.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

/// An address a host of the link can have: not 0.0.0.0, not broadcast,
/// multicast or loopback (a leased 127.x address would break the host's own
/// loopback, and no server or router can be reached there).
pub fn is_usable_host(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
}

/// Reads the lease's options from an ACK.
pub(super) fn parse_lease(
    msg: &Message,
    address: Ipv4Addr,
    server: Ipv4Addr,
    now: Instant,
) -> Lease {
    let opts = msg.opts();
    // A mask of 0.0.0.0 would put the whole Internet on the link.
    let prefix_len = match opts.get(OptionCode::SubnetMask) {
        Some(DhcpOption::SubnetMask(mask)) if mask_to_prefix(*mask) > 0 => mask_to_prefix(*mask),
        _ => classful_prefix(address),
    };
    let addrs = |code: OptionCode| -> Vec<Ipv4Addr> {
        match opts.get(code) {
            Some(DhcpOption::Router(v))
            | Some(DhcpOption::DomainNameServer(v))
            | Some(DhcpOption::NtpServers(v)) => v
                .iter()
                .copied()
                // Routers and servers are unicast hosts of the network.
                .filter(|a| is_usable_host(*a))
                .collect(),
            _ => Vec::new(),
        }
    };
    let domain = match opts.get(OptionCode::DomainName) {
        Some(DhcpOption::DomainName(d)) => {
            let d = d.trim_matches(|c: char| c == '\0' || c.is_whitespace());
            let d = d.trim_end_matches('.');
            (!d.is_empty() && is_valid_domain(d)).then(|| d.to_string())
        }
        _ => None,
    };
    let search = match opts.get(OptionCode::DomainSearch) {
        Some(DhcpOption::DomainSearch(names)) => names
            .iter()
            .map(|n| n.to_utf8().trim_end_matches('.').to_string())
            .filter(|d| !d.is_empty() && is_valid_domain(d))
            .collect(),
        _ => Vec::new(),
    };
    let secs = |code: OptionCode| -> Option<u32> {
        match opts.get(code) {
            Some(DhcpOption::AddressLeaseTime(s))
            | Some(DhcpOption::Renewal(s))
            | Some(DhcpOption::Rebinding(s)) => Some(*s),
            _ => None,
        }
    };
    // 0xffffffff is an infinite lease, and so is a missing lease time
    // (BOOTP-style servers).
    let lease_time = match secs(OptionCode::AddressLeaseTime) {
        Some(u32::MAX) | None => None,
        Some(s) => Some(Duration::from_secs(u64::from(s.max(1)))),
    };
    let (t1, t2) = match lease_time {
        None => (None, None),
        Some(lt) => {
            let t1_default = lt / 2;
            let t2_default = lt.mul_f64(0.875);
            let t1 = secs(OptionCode::Renewal).map(|s| Duration::from_secs(u64::from(s)));
            let t2 = secs(OptionCode::Rebinding).map(|s| Duration::from_secs(u64::from(s)));
            let t2 = t2.filter(|t2| *t2 < lt).unwrap_or(t2_default);
            let t1 = t1.filter(|t1| *t1 < t2).unwrap_or(t1_default.min(t2));
            (Some(t1), Some(t2))
        }
    };
    Lease {
        address,
        prefix_len,
        routers: addrs(OptionCode::Router),
        dns: addrs(OptionCode::DomainNameServer),
        domain,
        search,
        ntp: addrs(OptionCode::NtpServers),
        server,
        lease_time,
        t1,
        t2,
        acquired: now,
    }
}

/// A domain name safe to write into resolv.conf (no spaces, no control
/// characters, nothing but letters, digits, `-`, `_` and `.`).
fn is_valid_domain(d: &str) -> bool {
    d.len() <= 253
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::dhcp::testing::*;

    /// The lease that an ACK with `opts` grants after the usual OFFER.
    fn lease_from_ack(opts: Vec<DhcpOption>) -> Lease {
        bound_with(Instant::now(), opts).1
    }

    #[test]
    fn zero_subnet_mask_falls_back_to_the_class() {
        // Found by fuzzing: a mask of 0.0.0.0 gave a /0 lease.
        let lease = lease_from_ack(vec![DhcpOption::SubnetMask(Ipv4Addr::UNSPECIFIED)]);
        assert_eq!(lease.prefix_len, 8);
    }

    #[test]
    fn multicast_and_loopback_routers_are_dropped() {
        // Found by fuzzing: a multicast router reached the default route.
        let lease = lease_from_ack(vec![DhcpOption::Router(vec![
            Ipv4Addr::new(224, 0, 0, 1),
            Ipv4Addr::LOCALHOST,
            SERVER,
        ])]);
        assert_eq!(lease.routers, [SERVER]);
    }

    #[test]
    fn bad_t1_t2_fall_back_to_defaults() {
        let lease = lease_from_ack(vec![
            DhcpOption::AddressLeaseTime(1000),
            DhcpOption::Renewal(5000),
            DhcpOption::Rebinding(2000),
            DhcpOption::DomainName("bad name; rm -rf".into()),
        ]);
        assert_eq!(lease.t1, Some(Duration::from_secs(500)));
        assert_eq!(lease.t2, Some(Duration::from_secs(875)));
        assert_eq!(lease.domain, None);
    }

    #[test]
    fn masks_and_classes() {
        assert_eq!(mask_to_prefix(Ipv4Addr::new(255, 255, 255, 0)), 24);
        assert_eq!(mask_to_prefix(Ipv4Addr::new(255, 255, 255, 255)), 32);
        assert_eq!(mask_to_prefix(Ipv4Addr::new(0, 0, 0, 0)), 0);
        assert_eq!(mask_to_prefix(Ipv4Addr::new(255, 255, 240, 0)), 20);
        assert_eq!(classful_prefix(Ipv4Addr::new(10, 1, 2, 3)), 8);
        assert_eq!(classful_prefix(Ipv4Addr::new(172, 16, 0, 1)), 16);
        assert_eq!(classful_prefix(Ipv4Addr::new(192, 168, 1, 1)), 24);
    }
}
