//! The network step of the boot: the priority between `b2c.iface` lines,
//! the kernel's `ip=` and DHCP on every Ethernet interface (docs/options.md,
//! *Network*).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use tracing::{info, warn};

use super::kernel_ip::{self, Action, KernelIp, Mode, Observed};
use super::link::{names, wait_for, Link, Netlink};
use super::{bring_up, join, write_resolv_conf, InterfaceStatus, NetError, NetOptions, NetSummary};
use crate::cmdline::{Config, Iface};

/// Settings of [`setup_with`]; [`setup`] uses the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupOptions {
    /// How long to wait for named interfaces to appear, and for the first
    /// DHCP lease (default 10 s).
    pub timeout: Duration,
    /// Where the DNS configuration goes (default `/etc/resolv.conf`).
    pub resolv_conf: PathBuf,
    /// The kernel's autoconfiguration report (default `/proc/net/pnp`).
    pub pnp: PathBuf,
}

impl Default for SetupOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            pnp: PathBuf::from("/proc/net/pnp"),
        }
    }
}

/// Which configuration source was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetSource {
    /// `b2c.iface` lines.
    Iface,
    /// `ip=` on the kernel command line (configured by the kernel, or by
    /// the init from its value).
    KernelIp,
    /// DHCP on every Ethernet interface (nothing was said).
    Dhcp,
}

impl fmt::Display for NetSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetSource::Iface => "b2c.iface",
            NetSource::KernelIp => "kernel ip=",
            NetSource::Dhcp => "DHCP on every Ethernet interface",
        })
    }
}

/// A statically configured interface, as applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticIface {
    /// Interface name.
    pub name: String,
    /// The static address, if any (`None`: only brought up, or DHCP only).
    pub address: Option<(Ipv4Addr, u8)>,
    /// The default gateway set through it, if any.
    pub gateway: Option<Ipv4Addr>,
    /// Routes `(network, prefix, gateway)` set through it.
    pub routes: Vec<(Ipv4Addr, u8, Ipv4Addr)>,
}

impl fmt::Display for StaticIface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.name)?;
        match self.address {
            Some((a, p)) => write!(f, "static {a}/{p}")?,
            None => write!(f, "link up")?,
        }
        if let Some(gw) = self.gateway {
            write!(f, ", default route via {gw}")?;
        }
        for (net, prefix, via) in &self.routes {
            write!(f, ", route {net}/{prefix} via {via}")?;
        }
        Ok(())
    }
}

/// What [`setup`] configured.
#[derive(Debug, Clone)]
pub struct NetSetup {
    /// Which source was used.
    pub source: NetSource,
    /// The DHCP clients, when DHCP was run.
    pub dhcp: Option<NetSummary>,
    /// Static configurations (`b2c.iface` with `address`, `gateway`, `route`).
    pub statics: Vec<StaticIface>,
    /// With `ip=`: the IPv4 addresses the kernel configured, per interface.
    pub kernel_addresses: Vec<(String, Ipv4Addr, u8)>,
    /// The nameservers written to resolv.conf, in order (empty: not written).
    pub nameservers: Vec<IpAddr>,
    /// Whether IPv4 forwarding was enabled.
    pub forwarding: bool,
    /// `ip=`'s host name (used unless `b2c.hostname` is given).
    pub hostname: Option<String>,
    /// `ip=`'s NTP server.
    pub ntp: Option<Ipv4Addr>,
}

impl NetSetup {
    /// NTP servers offered by DHCP (the primary interface's first).
    pub fn ntp_servers(&self) -> Vec<Ipv4Addr> {
        let mut servers: Vec<Ipv4Addr> = self.ntp.into_iter().collect();
        for s in self
            .dhcp
            .as_ref()
            .map(NetSummary::ntp_servers)
            .unwrap_or_default()
        {
            if !servers.contains(&s) {
                servers.push(s);
            }
        }
        servers
    }

    /// One line per configured item, for the console.
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![format!("Network configured from {}", self.source)];
        for (name, addr, prefix) in &self.kernel_addresses {
            out.push(format!(
                "{name}: {addr}/{prefix} (configured by the kernel)"
            ));
        }
        for s in &self.statics {
            out.push(s.to_string());
        }
        if let Some(dhcp) = &self.dhcp {
            for (_, handle) in &dhcp.interfaces {
                out.push(match handle.status() {
                    InterfaceStatus::Leased(l) => format!(
                        "{}: DHCP {}/{}{}",
                        l.interface,
                        l.address,
                        l.prefix_len,
                        if l.primary {
                            match l.router {
                                Some(r) if dhcp_routes(self) => format!(", default route via {r}"),
                                _ => String::new(),
                            }
                        } else {
                            String::new()
                        }
                    ),
                    other => format!("{}: DHCP {other}", handle.name()),
                });
            }
        }
        if !self.nameservers.is_empty() {
            out.push(format!("Nameservers: {}", join(&self.nameservers)));
        }
        if self.forwarding {
            out.push("IPv4 forwarding enabled".to_string());
        }
        out
    }
}

fn dhcp_routes(s: &NetSetup) -> bool {
    !s.statics.iter().any(|st| st.gateway.is_some())
}

/// Brings the network up from the parsed command line (docs/options.md, *Network*),
/// with the default paths and a 10 s limit. Logs what it configures; the
/// returned [`NetSetup`] says it again (and keeps the DHCP clients, which
/// renew their leases for as long as the machine runs).
pub async fn setup(config: &Config) -> Result<NetSetup, NetError> {
    setup_with(config, &SetupOptions::default()).await
}

/// [`setup`] with explicit paths and time limit.
pub async fn setup_with(config: &Config, opts: &SetupOptions) -> Result<NetSetup, NetError> {
    if !config.ifaces.is_empty() {
        return setup_ifaces(&config.ifaces, opts).await;
    }
    if let Some(ip) = config.kernel_ip.as_deref() {
        return setup_kernel_ip(ip, opts).await;
    }
    setup_dhcp(opts, NetSource::Dhcp).await
}

/// DHCP on every Ethernet interface.
async fn setup_dhcp(opts: &SetupOptions, source: NetSource) -> Result<NetSetup, NetError> {
    let nl = Netlink::connect()?;
    lo_up(&nl).await;
    let summary = bring_up(&NetOptions {
        timeout: opts.timeout,
        resolv_conf: opts.resolv_conf.clone(),
        ..NetOptions::default()
    })
    .await?;
    let mut nameservers: Vec<IpAddr> = summary.primary.dns.iter().map(|a| (*a).into()).collect();
    nameservers.dedup();
    Ok(NetSetup {
        source,
        dhcp: Some(summary),
        statics: Vec::new(),
        kernel_addresses: Vec::new(),
        nameservers,
        forwarding: false,
        hostname: None,
        ntp: None,
    })
}

async fn lo_up(nl: &Netlink) {
    if let Err(e) = nl.loopback_up().await {
        warn!("lo: {e}");
    }
}

/// Enables IPv4 forwarding (`b2c.iface=...,forward`).
pub fn enable_ipv4_forwarding() -> std::io::Result<()> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1\n")
}

fn option_name(iface: &Iface) -> String {
    format!("b2c.iface={}", iface.name)
}

/// A `b2c.iface` line reduced to what we can apply (IPv4 only).
struct Plan {
    option: String,
    name: String,
    dhcp: bool,
    address: Option<(Ipv4Addr, u8)>,
    gateway: Option<Ipv4Addr>,
    routes: Vec<(Ipv4Addr, u8, Ipv4Addr)>,
}

fn v4(option: &str, field: &str, ip: IpAddr) -> Result<Ipv4Addr, NetError> {
    match ip {
        IpAddr::V4(a) => Ok(a),
        IpAddr::V6(_) => Err(NetError::Unsupported {
            option: option.to_string(),
            what: format!("{field} {ip}: IPv6 is not supported yet"),
        }),
    }
}

/// The network address of `addr/prefix`.
fn network(addr: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    Ipv4Addr::from(u32::from(addr) & mask)
}

fn plan(iface: &Iface) -> Result<Plan, NetError> {
    let option = option_name(iface);
    let address = match iface.address {
        Some(c) => Some((v4(&option, "address", c.addr)?, c.prefix)),
        None => None,
    };
    let gateway = match iface.gateway {
        Some(g) => Some(v4(&option, "gateway", g)?),
        None => None,
    };
    let mut routes = Vec::new();
    for r in &iface.routes {
        let net = v4(&option, "route", r.net.addr)?;
        let via = v4(&option, "route", r.via)?;
        routes.push((network(net, r.net.prefix), r.net.prefix, via));
    }
    Ok(Plan {
        option,
        name: iface.name.clone(),
        dhcp: iface.dhcp,
        address,
        gateway,
        routes,
    })
}

/// Waits (up to `timeout`) for every named interface; an error names the
/// missing ones and those present.
async fn wait_links(
    nl: &Netlink,
    wanted: &[String],
    timeout: Duration,
) -> Result<Vec<Link>, NetError> {
    let all_there = || async {
        let found: Vec<Link> = nl
            .links()
            .await?
            .into_iter()
            .filter(|l| wanted.contains(&l.name))
            .collect();
        Ok((found.len() == wanted.len()).then_some(found))
    };
    if let Some(links) = wait_for(timeout, all_there).await? {
        return Ok(links);
    }
    let links = nl.links().await?;
    Err(NetError::MissingInterface {
        missing: wanted
            .iter()
            .filter(|w| !links.iter().any(|l| &l.name == *w))
            .cloned()
            .collect(),
        present: names(&links),
        timeout,
    })
}

async fn setup_ifaces(ifaces: &[Iface], opts: &SetupOptions) -> Result<NetSetup, NetError> {
    let plans = ifaces.iter().map(plan).collect::<Result<Vec<_>, _>>()?;
    let nl = Netlink::connect()?;
    lo_up(&nl).await;

    let mut names: Vec<String> = Vec::new();
    for p in &plans {
        if !names.contains(&p.name) {
            names.push(p.name.clone());
        }
    }
    let links = wait_links(&nl, &names, opts.timeout).await?;

    let mut forwarding = false;
    if let Some(iface) = ifaces.iter().find(|i| i.forward) {
        enable_ipv4_forwarding().map_err(|source| NetError::Forwarding {
            option: option_name(iface),
            source,
        })?;
        forwarding = true;
        info!("IPv4 forwarding enabled ({})", option_name(iface));
    }

    let gateways: Vec<&Plan> = plans.iter().filter(|p| p.gateway.is_some()).collect();
    if gateways.len() > 1 {
        let last = gateways.last().map_or("", |p| p.option.as_str());
        warn!(
            "{} b2c.iface lines set a gateway: the default route goes via {last}",
            gateways.len()
        );
    }

    // Static settings first: they are immediate.
    let mut statics = Vec::new();
    for p in &plans {
        let Some(link) = links.iter().find(|l| l.name == p.name) else {
            continue;
        };
        nl.set_up(link).await?;
        if let Some((addr, prefix)) = p.address {
            nl.add_address(link, addr, prefix).await?;
        }
        for (net, prefix, via) in &p.routes {
            nl.replace_route(link, *net, *prefix, Some(*via)).await?;
        }
        if let Some(gw) = p.gateway {
            nl.replace_default_route(link, gw).await?;
        }
        if p.address.is_some() || p.gateway.is_some() || !p.routes.is_empty() || !p.dhcp {
            let s = StaticIface {
                name: p.name.clone(),
                address: p.address,
                gateway: p.gateway,
                routes: p.routes.clone(),
            };
            info!("{s}");
            statics.push(s);
        }
    }

    let mut static_ns: Vec<IpAddr> = Vec::new();
    for ns in ifaces.iter().flat_map(|i| i.nameservers.iter()) {
        if !static_ns.contains(ns) {
            static_ns.push(*ns);
        }
    }

    let dhcp_names: Vec<String> = plans
        .iter()
        .filter(|p| p.dhcp)
        .map(|p| p.name.clone())
        .fold(Vec::new(), |mut acc, n| {
            if !acc.contains(&n) {
                acc.push(n);
            }
            acc
        });
    let mut nameservers = static_ns.clone();
    let dhcp = if dhcp_names.is_empty() {
        if !static_ns.is_empty() {
            write_resolv_conf(&opts.resolv_conf, "b2c.iface", &static_ns, &[]).map_err(
                |source| NetError::ResolvConf {
                    path: opts.resolv_conf.clone(),
                    source,
                },
            )?;
        }
        None
    } else {
        let summary = bring_up(&NetOptions {
            timeout: opts.timeout,
            resolv_conf: opts.resolv_conf.clone(),
            interfaces: dhcp_names,
            extra_nameservers: static_ns,
            default_route: gateways.is_empty(),
        })
        .await?;
        for d in &summary.primary.dns {
            let d = IpAddr::V4(*d);
            if !nameservers.contains(&d) {
                nameservers.push(d);
            }
        }
        Some(summary)
    };
    if !nameservers.is_empty() {
        info!("Nameservers: {}", join(&nameservers));
    }
    Ok(NetSetup {
        source: NetSource::Iface,
        dhcp,
        statics,
        kernel_addresses: Vec::new(),
        nameservers,
        forwarding,
        hostname: None,
        ntp: None,
    })
}

/// `ip=` on the kernel command line, whether or not the kernel has IP
/// autoconfiguration (Debian's has not): what the kernel already configured
/// is kept (resolv.conf is written from `/proc/net/pnp`); otherwise the init
/// applies the value itself, a static address or DHCP (see
/// [`kernel_ip::plan`]). `ip=off` and `ip=none` ask the kernel for nothing:
/// DHCP on every Ethernet interface, as without `ip=`.
async fn setup_kernel_ip(value: &str, opts: &SetupOptions) -> Result<NetSetup, NetError> {
    let ip = match KernelIp::parse(value) {
        Ok(ip) => ip,
        Err(e) => {
            // The parser already dropped such a value with a warning.
            warn!("{e}: DHCP on every Ethernet interface instead");
            return setup_dhcp(opts, NetSource::Dhcp).await;
        }
    };
    if ip.mode == Mode::Off {
        info!("ip={value}: no configuration asked of the kernel: DHCP on every Ethernet interface");
        return setup_dhcp(opts, NetSource::Dhcp).await;
    }
    let nl = Netlink::connect()?;
    lo_up(&nl).await;
    let links = nl.links().await?;
    let mut addresses = Vec::new();
    for link in links.iter().filter(|l| !l.loopback) {
        for (addr, prefix) in nl.ipv4_addresses(link).await? {
            addresses.push((link.name.clone(), addr, prefix));
        }
    }
    let interfaces: Vec<String> = links
        .iter()
        .filter(|l| l.is_dhcp_candidate())
        .map(|l| l.name.clone())
        .collect();
    let pnp = std::fs::read_to_string(&opts.pnp).ok();
    let plan = kernel_ip::plan(
        &ip,
        &Observed {
            pnp: pnp.as_deref(),
            interfaces: &interfaces,
            addresses: &addresses,
        },
    )
    .map_err(|e| NetError::KernelIpValue(Box::new(e)))?;
    for note in &plan.notes {
        info!("{note}");
    }
    info!("ip={value}: {}", plan.action);
    let mut setup = match plan.action {
        // Mode::Off returned above.
        Action::Nothing => return setup_dhcp(opts, NetSource::Dhcp).await,
        Action::KernelDone {
            addresses,
            nameservers,
            domain,
        } => {
            let search: Vec<String> = domain.into_iter().collect();
            write_resolv(opts, "kernel ip= configuration", &nameservers, &search)?;
            if nameservers.is_empty() {
                warn!("ip={value}: no nameserver (neither the kernel's nor ip='s): names will not resolve");
            }
            NetSetup {
                source: NetSource::KernelIp,
                dhcp: None,
                statics: Vec::new(),
                kernel_addresses: addresses,
                nameservers,
                forwarding: false,
                hostname: None,
                ntp: None,
            }
        }
        Action::Static {
            device,
            address,
            prefix,
            gateway,
            nameservers,
        } => {
            let links = wait_links(&nl, std::slice::from_ref(&device), opts.timeout).await?;
            let Some(link) = links.first() else {
                return Err(NetError::KernelIp {
                    ip: value.to_string(),
                    present: names(&nl.links().await?),
                });
            };
            nl.set_up(link).await?;
            nl.add_address(link, address, prefix).await?;
            if let Some(gw) = gateway {
                nl.replace_default_route(link, gw).await?;
            }
            let s = StaticIface {
                name: device,
                address: Some((address, prefix)),
                gateway,
                routes: Vec::new(),
            };
            info!("{s}");
            if !nameservers.is_empty() {
                write_resolv(opts, "kernel ip= (static)", &nameservers, &[])?;
                info!("Nameservers: {}", join(&nameservers));
            }
            NetSetup {
                source: NetSource::KernelIp,
                dhcp: None,
                statics: vec![s],
                kernel_addresses: Vec::new(),
                nameservers,
                forwarding: false,
                hostname: None,
                ntp: None,
            }
        }
        Action::Dhcp {
            interfaces,
            gateway,
            nameservers: extra,
            client_id: _,
        } => {
            let summary = bring_up(&NetOptions {
                timeout: opts.timeout,
                resolv_conf: opts.resolv_conf.clone(),
                interfaces,
                extra_nameservers: extra.clone(),
                default_route: gateway.is_none(),
            })
            .await?;
            let mut statics = Vec::new();
            if let Some(gw) = gateway {
                let primary = summary.primary.interface.clone();
                if let Some(link) = nl.link_by_name(&primary).await? {
                    nl.replace_default_route(&link, gw).await?;
                    let s = StaticIface {
                        name: primary,
                        address: None,
                        gateway: Some(gw),
                        routes: Vec::new(),
                    };
                    info!("{s}");
                    statics.push(s);
                }
            }
            let mut nameservers = extra;
            for d in &summary.primary.dns {
                let d = IpAddr::V4(*d);
                if !nameservers.contains(&d) {
                    nameservers.push(d);
                }
            }
            NetSetup {
                source: NetSource::KernelIp,
                dhcp: Some(summary),
                statics,
                kernel_addresses: Vec::new(),
                nameservers,
                forwarding: false,
                hostname: None,
                ntp: None,
            }
        }
    };
    setup.hostname = plan.hostname;
    setup.ntp = plan.ntp;
    Ok(setup)
}

fn write_resolv(
    opts: &SetupOptions,
    source: &str,
    nameservers: &[IpAddr],
    search: &[String],
) -> Result<(), NetError> {
    write_resolv_conf(&opts.resolv_conf, source, nameservers, search).map_err(|source| {
        NetError::ResolvConf {
            path: opts.resolv_conf.clone(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::{Cidr, Route};

    fn iface(name: &str) -> Iface {
        Iface {
            name: name.into(),
            ..Iface::default()
        }
    }

    #[test]
    fn plan_masks_route_networks() {
        let mut i = iface("eth1");
        i.address = Cidr::parse("10.6.0.15/24");
        i.routes.push(Route {
            net: Cidr::parse("10.7.0.9/24").unwrap(),
            via: "10.6.0.2".parse().unwrap(),
        });
        let p = plan(&i).unwrap();
        assert_eq!(p.address, Some((Ipv4Addr::new(10, 6, 0, 15), 24)));
        assert_eq!(
            p.routes,
            vec![(Ipv4Addr::new(10, 7, 0, 0), 24, Ipv4Addr::new(10, 6, 0, 2))]
        );
        assert_eq!(network(Ipv4Addr::new(1, 2, 3, 4), 0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(
            network(Ipv4Addr::new(1, 2, 3, 4), 32),
            Ipv4Addr::new(1, 2, 3, 4)
        );
    }

    #[test]
    fn ipv6_is_a_clear_error() {
        let mut i = iface("eth0");
        i.address = Cidr::parse("fd00::2/64");
        let e = plan(&i).err().unwrap();
        assert_eq!(
            e.to_string(),
            "b2c.iface=eth0: address fd00::2: IPv6 is not supported yet"
        );
        let mut i = iface("eth0");
        i.gateway = Some("fd00::1".parse().unwrap());
        assert!(plan(&i)
            .err()
            .unwrap()
            .to_string()
            .contains("gateway fd00::1"));
        let mut i = iface("eth0");
        i.routes.push(Route {
            net: Cidr::parse("fd01::/64").unwrap(),
            via: "fd00::1".parse().unwrap(),
        });
        assert!(plan(&i).err().unwrap().to_string().contains("route fd01::"));
    }

    #[test]
    fn static_description() {
        let s = StaticIface {
            name: "eth1".into(),
            address: Some((Ipv4Addr::new(10, 6, 0, 15), 24)),
            gateway: None,
            routes: vec![(Ipv4Addr::new(10, 7, 0, 0), 24, Ipv4Addr::new(10, 6, 0, 2))],
        };
        assert_eq!(
            s.to_string(),
            "eth1: static 10.6.0.15/24, route 10.7.0.0/24 via 10.6.0.2"
        );
        let setup = NetSetup {
            source: NetSource::Iface,
            dhcp: None,
            statics: vec![s],
            kernel_addresses: Vec::new(),
            nameservers: vec!["10.6.0.3".parse().unwrap()],
            forwarding: true,
            hostname: None,
            ntp: None,
        };
        assert_eq!(
            setup.describe(),
            vec![
                "Network configured from b2c.iface",
                "eth1: static 10.6.0.15/24, route 10.7.0.0/24 via 10.6.0.2",
                "Nameservers: 10.6.0.3",
                "IPv4 forwarding enabled",
            ]
        );
        assert!(setup.ntp_servers().is_empty());
    }

    #[test]
    fn kernel_ip_error_names_interfaces() {
        let e = NetError::KernelIp {
            ip: "dhcp".into(),
            present: vec!["lo".into(), "eth0".into()],
        };
        assert_eq!(
            e.to_string(),
            "ip=dhcp: the kernel configured no IPv4 address on any interface; interfaces present: lo, eth0"
        );
    }
}
