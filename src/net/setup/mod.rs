//! The network step of the boot: the priority between `b2c.iface` lines,
//! the kernel's `ip=` and DHCP on every Ethernet interface (docs/options.md,
//! *Network*).
//!
//! This module holds what the step returns, the choice of the source and
//! DHCP on every Ethernet interface; `iface` applies `b2c.iface` lines,
//! `ip` the kernel's `ip=`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use tracing::warn;

use super::link::{names, wait_for, Link, Netlink};
use super::{bring_up, join, write_resolv_conf, InterfaceStatus, NetError, NetOptions, NetSummary};
use crate::cmdline::Config;

mod iface;
mod ip;

pub use iface::enable_ipv4_forwarding;
use iface::setup_ifaces;
use ip::setup_kernel_ip;

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
}
