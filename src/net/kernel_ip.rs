//! What the network step does with the kernel's `ip=` (parsed by
//! [`crate::cmdline::KernelIp`]) on this machine: nothing, keep what the
//! kernel configured, a static address, or DHCP. Pure: [`plan`] looks at an
//! [`Observed`] machine.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::parse_pnp;
pub use crate::cmdline::kernel_ip::{Autoconf, DhcpClientId, KernelIp, KernelIpError, Mode};

/// What the machine looks like when the network step starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observed<'a> {
    /// The text of `/proc/net/pnp` (`None`: missing, the kernel has no
    /// autoconfiguration). The kernel writes it even when it configured
    /// nothing (`#MANUAL`), so it is read for the DNS settings only.
    pub pnp: Option<&'a str>,
    /// The Ethernet interfaces present (`eth*`, `en*`), in order.
    pub interfaces: &'a [String],
    /// The IPv4 addresses already on interfaces: (interface, address, prefix).
    pub addresses: &'a [(String, Ipv4Addr, u8)],
}

/// What the network step does for `ip=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `ip=off` (or `none`, or empty): nothing.
    Nothing,
    /// The kernel already configured the interfaces: keep them, write
    /// resolv.conf.
    KernelDone {
        /// The addresses found: (interface, address, prefix).
        addresses: Vec<(String, Ipv4Addr, u8)>,
        /// `/proc/net/pnp`'s nameservers, then `ip=`'s.
        nameservers: Vec<IpAddr>,
        /// `/proc/net/pnp`'s domain.
        domain: Option<String>,
    },
    /// Configure a static address.
    Static {
        /// The interface.
        device: String,
        /// The address.
        address: Ipv4Addr,
        /// Its prefix length.
        prefix: u8,
        /// The default route, if any.
        gateway: Option<Ipv4Addr>,
        /// `dns0-ip`, `dns1-ip`.
        nameservers: Vec<IpAddr>,
    },
    /// Run DHCP.
    Dhcp {
        /// The interfaces (empty: every Ethernet interface).
        interfaces: Vec<String>,
        /// `gw-ip`: the default route instead of the DHCP router.
        gateway: Option<Ipv4Addr>,
        /// `dns0-ip`, `dns1-ip`: before the DHCP-provided nameservers.
        nameservers: Vec<IpAddr>,
        /// `dhcp,TYPE,VALUE`.
        client_id: Option<DhcpClientId>,
    },
}

/// [`plan`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// What to do.
    pub action: Action,
    /// `hostname` (the host name to set unless `b2c.hostname` says otherwise).
    pub hostname: Option<String>,
    /// `ntp0-ip`.
    pub ntp: Option<Ipv4Addr>,
    /// Lines for the console (see [`KernelIp::notes`]).
    pub notes: Vec<String>,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Nothing => f.write_str("no network configuration (ip=off)"),
            Action::KernelDone { addresses, .. } => {
                f.write_str("configured by the kernel:")?;
                addresses
                    .iter()
                    .try_for_each(|(i, a, p)| write!(f, " {i} {a}/{p}"))
            }
            Action::Static {
                device,
                address,
                prefix,
                gateway,
                ..
            } => {
                write!(f, "{device}: static {address}/{prefix}")?;
                match gateway {
                    Some(g) => write!(f, ", default route via {g}"),
                    None => Ok(()),
                }
            }
            Action::Dhcp { interfaces, .. } if interfaces.is_empty() => {
                f.write_str("DHCP on every Ethernet interface")
            }
            Action::Dhcp { interfaces, .. } => write!(f, "DHCP on {}", interfaces.join(", ")),
        }
    }
}

/// Whether the kernel already configured what `ip` asks for: the static
/// address on its interface, or (DHCP) an IPv4 address on `device`, or on
/// any interface when none is named. Returns those addresses.
pub fn kernel_configured(ip: &KernelIp, seen: &Observed) -> Vec<(String, Ipv4Addr, u8)> {
    let on_device = |name: &str| ip.device.as_deref().is_none_or(|d| d == name);
    seen.addresses
        .iter()
        .filter(|(name, addr, prefix)| match ip.mode {
            Mode::Off => false,
            Mode::Static => on_device(name) && ip.address == Some((*addr, *prefix)),
            Mode::Dhcp => on_device(name) && !addr.is_loopback(),
        })
        .cloned()
        .collect()
}

/// What to do for `ip` on the machine as `seen`.
pub fn plan(ip: &KernelIp, seen: &Observed) -> Result<Plan, KernelIpError> {
    let mut notes = ip.notes();
    let ip_dns: Vec<IpAddr> = ip.dns.iter().map(|a| IpAddr::V4(*a)).collect();
    let done = kernel_configured(ip, seen);
    let action = if ip.mode == Mode::Off {
        Action::Nothing
    } else if !done.is_empty() {
        let pnp = seen.pnp.map(parse_pnp).unwrap_or_default();
        let mut nameservers = pnp.nameservers;
        for a in &ip_dns {
            if !nameservers.contains(a) {
                nameservers.push(*a);
            }
        }
        Action::KernelDone {
            addresses: done,
            nameservers,
            domain: pnp.domain,
        }
    } else if let (Mode::Static, Some((address, prefix))) = (ip.mode, ip.address) {
        let device = match (&ip.device, seen.interfaces) {
            (Some(d), _) => Some(d.clone()),
            (None, [only]) => Some(only.clone()),
            (None, []) => {
                return Err(KernelIpError {
                    value: ip.value.clone(),
                    field: "device",
                    field_value: String::new(),
                    reason: format!("is empty and there is no Ethernet interface for {address}"),
                })
            }
            (None, several) if ip.autoconf == Autoconf::Off => {
                return Err(KernelIpError {
                    value: ip.value.clone(),
                    field: "device",
                    field_value: String::new(),
                    reason: format!(
                    "is empty and there are several interfaces ({}): name the one for {address}",
                    several.join(", ")
                ),
                })
            }
            (None, several) => {
                notes.push(format!(
                    "ip={}: no device and several interfaces ({}): DHCP on every one, as the kernel does",
                    ip.value,
                    several.join(", ")
                ));
                None
            }
        };
        match device {
            Some(device) => Action::Static {
                device,
                address,
                prefix,
                gateway: ip.gateway,
                nameservers: ip_dns,
            },
            None => dhcp_action(ip, ip_dns),
        }
    } else {
        dhcp_action(ip, ip_dns)
    };
    Ok(Plan {
        action,
        hostname: ip.hostname.clone(),
        ntp: ip.ntp,
        notes,
    })
}

fn dhcp_action(ip: &KernelIp, nameservers: Vec<IpAddr>) -> Action {
    Action::Dhcp {
        interfaces: ip.device.iter().cloned().collect(),
        gateway: ip.gateway,
        nameservers,
        client_id: ip.client_id.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plans() {
        let eth0 = names(&["eth0"]);
        let two = names(&["eth0", "eth1"]);
        let none: Vec<(String, Ipv4Addr, u8)> = Vec::new();
        let seen = |interfaces, addresses| Observed {
            pnp: None,
            interfaces,
            addresses,
        };
        let act = |v: &str, s: &Observed| plan(&KernelIp::parse(v).unwrap(), s).unwrap().action;

        assert_eq!(act("off", &seen(&eth0, &none)), Action::Nothing);
        assert_eq!(
            act("dhcp", &seen(&two, &none)),
            Action::Dhcp {
                interfaces: vec![],
                gateway: None,
                nameservers: vec![],
                client_id: None
            }
        );
        assert_eq!(
            act(":::::eth1:dhcp:1.1.1.1", &seen(&two, &none)),
            Action::Dhcp {
                interfaces: names(&["eth1"]),
                gateway: None,
                nameservers: vec!["1.1.1.1".parse().unwrap()],
                client_id: None
            }
        );
        let static_eth0 = Action::Static {
            device: "eth0".into(),
            address: a("192.168.1.10"),
            prefix: 24,
            gateway: Some(a("192.168.1.1")),
            nameservers: vec!["1.1.1.1".parse().unwrap()],
        };
        let farm = "192.168.1.10::192.168.1.1:255.255.255.0:host:eth0:off:1.1.1.1";
        assert_eq!(act(farm, &seen(&two, &none)), static_eth0);
        assert_eq!(
            static_eth0.to_string(),
            "eth0: static 192.168.1.10/24, default route via 192.168.1.1"
        );
        // No device: the only interface, as the kernel does.
        assert_eq!(
            act(
                "192.168.1.10::192.168.1.1:255.255.255.0:host::off:1.1.1.1",
                &seen(&eth0, &none)
            ),
            static_eth0
        );
        // No device and several interfaces: the kernel autoconfigures...
        let p = plan(&KernelIp::parse("10.0.0.5").unwrap(), &seen(&two, &none)).unwrap();
        assert_eq!(p.action.to_string(), "DHCP on every Ethernet interface");
        assert_eq!(p.notes.last().unwrap(), "ip=10.0.0.5: no device and several interfaces (eth0, eth1): DHCP on every one, as the kernel does");
        // ...unless autoconf is off: then the device must be named.
        let e = plan(
            &KernelIp::parse("10.0.0.5::::::off").unwrap(),
            &seen(&two, &none),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "ip=10.0.0.5::::::off: device \"\" is empty and there are several interfaces (eth0, eth1): name the one for 10.0.0.5");
        let e = plan(&KernelIp::parse("10.0.0.5").unwrap(), &seen(&[], &none)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ip=10.0.0.5: device \"\" is empty and there is no Ethernet interface for 10.0.0.5"
        );

        let Action::Dhcp { client_id, .. } = act(
            "::::dut:eth0:dhcp,1,dut-42::::10.0.0.1",
            &seen(&eth0, &none),
        ) else {
            panic!("not DHCP");
        };
        assert_eq!(
            client_id,
            Some(DhcpClientId {
                kind: 1,
                value: "dut-42".into()
            })
        );
    }

    #[test]
    fn kernel_already_configured() {
        let two = names(&["eth0", "eth1"]);
        let pnp = "#PROTO: DHCP\ndomain lab.example\nnameserver 10.0.2.3\nbootserver 10.0.2.2\n";
        let dhcp_on_eth1 = vec![("eth1".to_string(), a("10.0.2.15"), 24)];
        let seen = Observed {
            pnp: Some(pnp),
            interfaces: &two,
            addresses: &dhcp_on_eth1,
        };

        let p = plan(&KernelIp::parse("dhcp").unwrap(), &seen).unwrap();
        assert_eq!(
            p.action,
            Action::KernelDone {
                addresses: dhcp_on_eth1.clone(),
                nameservers: vec!["10.0.2.3".parse().unwrap()],
                domain: Some("lab.example".into()),
            }
        );
        assert_eq!(
            p.action.to_string(),
            "configured by the kernel: eth1 10.0.2.15/24"
        );
        // An address on another interface than the one named: not done.
        let p = plan(&KernelIp::parse(":::::eth0:dhcp").unwrap(), &seen).unwrap();
        assert!(matches!(p.action, Action::Dhcp { .. }), "{:?}", p.action);
        // Static: only the very address counts; ip='s DNS follow pnp's.
        let ip = KernelIp::parse("10.0.2.15:::255.255.255.0::eth1:off:1.1.1.1:10.0.2.3").unwrap();
        assert_eq!(kernel_configured(&ip, &seen), dhcp_on_eth1);
        let Action::KernelDone { nameservers, .. } = plan(&ip, &seen).unwrap().action else {
            panic!("not kernel-done");
        };
        assert_eq!(
            nameservers,
            [
                "10.0.2.3".parse::<IpAddr>().unwrap(),
                "1.1.1.1".parse().unwrap()
            ]
        );
        let ip = KernelIp::parse("10.0.2.16:::255.255.255.0::eth1:off").unwrap();
        assert!(kernel_configured(&ip, &seen).is_empty());
        // `#MANUAL` with no address (a kernel that did nothing): configure.
        let manual = Observed {
            pnp: Some("#MANUAL\n"),
            interfaces: &two,
            addresses: &[],
        };
        assert!(matches!(
            plan(&KernelIp::parse("dhcp").unwrap(), &manual)
                .unwrap()
                .action,
            Action::Dhcp { .. }
        ));
        // ip=off never takes over what is there.
        assert_eq!(
            plan(&KernelIp::parse("off").unwrap(), &seen)
                .unwrap()
                .action,
            Action::Nothing
        );
    }

    #[test]
    fn plan_carries_hostname_ntp_and_gateway() {
        let ip = KernelIp::parse("::10.0.0.1::dut-3.lab:eth0:dhcp:::10.0.0.123").unwrap();
        let p = plan(&ip, &Observed::default()).unwrap();
        assert_eq!(p.hostname.as_deref(), Some("dut-3"));
        assert_eq!(p.ntp, Some(a("10.0.0.123")));
        let Action::Dhcp { gateway, .. } = p.action else {
            panic!("{:?}", p.action)
        };
        assert_eq!(gateway, Some(a("10.0.0.1")));
    }
}
