//! `ip=` on the kernel command line.

use std::net::IpAddr;

use tracing::{info, warn};

use super::{
    lo_up, setup_dhcp, wait_links, write_resolv, NetSetup, NetSource, SetupOptions, StaticIface,
};
use crate::net::kernel_ip::{self, Action, KernelIp, Mode, Observed};
use crate::net::link::{names, Netlink};
use crate::net::{bring_up, join, NetError, NetOptions};

/// `ip=` on the kernel command line, whether or not the kernel has IP
/// autoconfiguration (Debian's has not): what the kernel already configured
/// is kept (resolv.conf is written from `/proc/net/pnp`); otherwise the init
/// applies the value itself, a static address or DHCP (see
/// [`kernel_ip::plan`]). `ip=off` and `ip=none` ask the kernel for nothing:
/// DHCP on every Ethernet interface, as without `ip=`.
pub(super) async fn setup_kernel_ip(
    value: &str,
    opts: &SetupOptions,
) -> Result<NetSetup, NetError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
