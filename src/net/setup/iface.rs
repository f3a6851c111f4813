//! `b2c.iface` lines: the static settings (address, routes, gateway,
//! nameservers, forwarding) first, then DHCP on the interfaces that ask
//! for it.

use std::net::{IpAddr, Ipv4Addr};

use tracing::{info, warn};

use super::{lo_up, wait_links, write_resolv, NetSetup, NetSource, SetupOptions, StaticIface};
use crate::cmdline::Iface;
use crate::net::link::Netlink;
use crate::net::{bring_up, join, NetError, NetOptions};

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

pub(super) async fn setup_ifaces(
    ifaces: &[Iface],
    opts: &SetupOptions,
) -> Result<NetSetup, NetError> {
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
            write_resolv(opts, "b2c.iface", &static_ns, &[])?;
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
}
