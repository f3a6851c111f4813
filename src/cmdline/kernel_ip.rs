//! The kernel's `ip=` parameter, parsed by the init itself: a kernel built
//! without IP autoconfiguration (Debian's) ignores it, and a farm's command
//! line must still configure the network.
//!
//! Syntax (the kernel's `Documentation/admin-guide/nfs/nfsroot.rst`):
//! `ip=dhcp|on|any|off|none|bootp|rarp|both` (`dhcp,TYPE,CLIENT_ID` also), or
//! `ip=<client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>:<dns0-ip>:<dns1-ip>:<ntp0-ip>`
//! where any field may be empty and trailing ones may be left out. The
//! meaning follows the kernel's `net/ipv4/ipconfig.c`:
//! - `off`, `none` or an empty value: nothing is configured;
//! - a client address: a static configuration (whatever `autoconf` says,
//!   as the kernel does), with the netmask of the address class when the
//!   netmask is empty; `0.0.0.0` counts as empty in every address field;
//! - no client address: autoconfiguration, unless `autoconf` is `off` or
//!   `none`. Only DHCP is implemented here (a DHCP server also answers what
//!   BOOTP asks); `bootp`, `rarp` and `both` use it, with a note;
//! - `hostname` before its first `.` is the host name, the rest the (NIS)
//!   domain;
//! - `dns0-ip`/`dns1-ip` come before any the DHCP server gives, `gw-ip`
//!   replaces its router;
//! - fields after `ntp0-ip` are ignored (with a note), as the kernel does.
//!
//! [`KernelIp::parse`] gives the typed value (pure, so the checker and the
//! parser use it); `net::kernel_ip::plan` says what to do on this machine.

use std::net::Ipv4Addr;

use thiserror::Error;

use super::suggest::closest;

/// The fields of the long form, in order, named as in the kernel's
/// documentation.
pub const FIELDS: [&str; 10] = [
    "client-ip",
    "server-ip",
    "gw-ip",
    "netmask",
    "hostname",
    "device",
    "autoconf",
    "dns0-ip",
    "dns1-ip",
    "ntp0-ip",
];

/// The values of `autoconf` (and of `ip=` alone).
pub const AUTOCONF_VALUES: [&str; 8] =
    ["dhcp", "on", "any", "off", "none", "bootp", "rarp", "both"];

/// The longest host name the kernel keeps (`__NEW_UTS_LEN`).
const MAX_HOSTNAME: usize = 64;
/// The longest interface name (`IFNAMSIZ` - 1).
const MAX_IFNAME: usize = 15;

/// What `autoconf` (or `ip=` alone) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Autoconf {
    /// `off` or `none`: no autoconfiguration.
    Off,
    /// `on`, `any`, or empty: any protocol (the kernel's default).
    Any,
    /// `dhcp`.
    Dhcp,
    /// `bootp` (DHCP is used: DHCP servers answer BOOTP clients' needs).
    Bootp,
    /// `rarp` (not implemented: DHCP is used).
    Rarp,
    /// `both`: BOOTP and RARP (DHCP is used).
    Both,
}

impl Autoconf {
    /// The value as written on the command line (`any` for the default).
    pub fn as_str(self) -> &'static str {
        match self {
            Autoconf::Off => "off",
            Autoconf::Any => "any",
            Autoconf::Dhcp => "dhcp",
            Autoconf::Bootp => "bootp",
            Autoconf::Rarp => "rarp",
            Autoconf::Both => "both",
        }
    }
}

/// `ip=dhcp,TYPE,VALUE`: the DHCP client identifier (option 61) to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpClientId {
    /// The identifier type (first byte of option 61).
    pub kind: u8,
    /// The identifier, as written.
    pub value: String,
}

/// How the interface is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing is configured (`off`, `none`, empty).
    Off,
    /// DHCP, on `device` or, without one, on every Ethernet interface.
    Dhcp,
    /// A static address.
    Static,
}

/// The kernel's `ip=`, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelIp {
    /// The value as given (for messages).
    pub value: String,
    /// What to do.
    pub mode: Mode,
    /// The `autoconf` value (or the short form).
    pub autoconf: Autoconf,
    /// `dhcp,TYPE,VALUE`: a DHCP client identifier.
    pub client_id: Option<DhcpClientId>,
    /// `client-ip` with its prefix (from `netmask`, or the address class).
    pub address: Option<(Ipv4Addr, u8)>,
    /// `netmask` as a prefix length, when given.
    pub netmask: Option<u8>,
    /// `server-ip` (an NFS root's server: not used here).
    pub server: Option<Ipv4Addr>,
    /// `gw-ip`: the default route.
    pub gateway: Option<Ipv4Addr>,
    /// `hostname` up to its first `.`.
    pub hostname: Option<String>,
    /// `hostname` after its first `.` (the kernel's NIS domain).
    pub domain: Option<String>,
    /// `device`: the interface (none: the only one, or every one for DHCP).
    pub device: Option<String>,
    /// `dns0-ip`, `dns1-ip`.
    pub dns: Vec<Ipv4Addr>,
    /// `ntp0-ip`.
    pub ntp: Option<Ipv4Addr>,
    /// Fields after `ntp0-ip` (the kernel ignores them).
    pub extra: Vec<String>,
}

/// A field of `ip=` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("ip={value}: {field} \"{field_value}\" {reason}")]
pub struct KernelIpError {
    /// The whole value of `ip=`.
    pub value: String,
    /// The field's name (see [`FIELDS`]).
    pub field: &'static str,
    /// The field's value.
    pub field_value: String,
    /// What is wrong, and what would be right.
    pub reason: String,
}

impl KernelIp {
    /// Parses the value of `ip=`.
    pub fn parse(value: &str) -> Result<KernelIp, KernelIpError> {
        let err = |field: &'static str, field_value: &str, reason: String| KernelIpError {
            value: value.to_string(),
            field,
            field_value: field_value.to_string(),
            reason,
        };
        let mut ip = KernelIp {
            value: value.to_string(),
            mode: Mode::Dhcp,
            autoconf: Autoconf::Any,
            client_id: None,
            address: None,
            netmask: None,
            server: None,
            gateway: None,
            hostname: None,
            domain: None,
            device: None,
            dns: Vec::new(),
            ntp: None,
            extra: Vec::new(),
        };
        // The short form: the whole value is an autoconf value.
        if value.is_empty() {
            ip.mode = Mode::Off;
            ip.autoconf = Autoconf::Off;
            return Ok(ip);
        }
        if let Some(parsed) = parse_autoconf(value) {
            let (autoconf, client_id) = parsed.map_err(|r| err("autoconf", value, r))?;
            ip.autoconf = autoconf;
            ip.client_id = client_id;
            ip.mode = if autoconf == Autoconf::Off {
                Mode::Off
            } else {
                Mode::Dhcp
            };
            return Ok(ip);
        }

        let fields: Vec<&str> = value.split(':').collect();
        let get = |n: usize| fields.get(n).copied().filter(|f| !f.is_empty());
        let addr = |n: usize| -> Result<Option<Ipv4Addr>, KernelIpError> {
            let Some(f) = get(n) else { return Ok(None) };
            match f.parse::<Ipv4Addr>() {
                Ok(a) if a.is_unspecified() => Ok(None),
                Ok(a) => Ok(Some(a)),
                Err(_) if n == 0 && fields.len() == 1 => Err(err(
                    FIELDS[n],
                    f,
                    format!(
                        "is not an IPv4 address, nor one of {}",
                        AUTOCONF_VALUES.join(", ")
                    ) + &suggest(f),
                )),
                Err(_) => Err(err(FIELDS[n], f, "is not an IPv4 address".to_string())),
            }
        };

        let client = addr(0)?;
        ip.server = addr(1)?;
        ip.gateway = addr(2)?;
        if let Some(f) = get(3) {
            let mask: Ipv4Addr = f.parse().map_err(|_| {
                err(
                    "netmask",
                    f,
                    "is not a netmask in dotted form, e.g. 255.255.255.0".into(),
                )
            })?;
            // 0.0.0.0 counts as empty, as in every address field.
            if !mask.is_unspecified() {
                ip.netmask = Some(netmask_prefix(mask).ok_or_else(|| {
                    err(
                        "netmask",
                        f,
                        "is not a netmask: its one bits must come first, e.g. 255.255.255.0".into(),
                    )
                })?);
            }
        }
        if let Some(h) = get(4) {
            let (host, domain) = match h.split_once('.') {
                Some((host, domain)) => (host, Some(domain)),
                None => (h, None),
            };
            if host.is_empty() || host.len() > MAX_HOSTNAME || h.chars().any(char::is_control) {
                return Err(err(
                    "hostname",
                    h,
                    format!(
                        "is not a host name (1 to {MAX_HOSTNAME} characters before the first '.')"
                    ),
                ));
            }
            ip.hostname = Some(host.to_string());
            ip.domain = domain.filter(|d| !d.is_empty()).map(str::to_string);
        }
        if let Some(d) = get(5) {
            if d.len() > MAX_IFNAME || d == "." || d == ".." || d.contains(['/', ' ', '\t']) {
                return Err(err(
                    "device",
                    d,
                    format!("is not an interface name (1 to {MAX_IFNAME} characters, no '/')"),
                ));
            }
            ip.device = Some(d.to_string());
        }
        if let Some(a) = get(6) {
            let (autoconf, client_id) = parse_autoconf(a)
                .unwrap_or_else(|| {
                    Err(format!(
                        "is not one of {}{}",
                        AUTOCONF_VALUES.join(", "),
                        suggest(a)
                    ))
                })
                .map_err(|r| err("autoconf", a, r))?;
            ip.autoconf = autoconf;
            ip.client_id = client_id;
        }
        ip.dns = [addr(7)?, addr(8)?].into_iter().flatten().collect();
        ip.ntp = addr(9)?;
        ip.extra = fields
            .iter()
            .skip(FIELDS.len())
            .map(|f| f.to_string())
            .collect();

        ip.mode = match client {
            Some(c) => {
                if c.is_multicast() || c.is_broadcast() || c.octets()[0] >= 240 {
                    return Err(err(
                        "client-ip",
                        get(0).unwrap_or_default(),
                        "is not a unicast address".into(),
                    ));
                }
                let prefix = ip.netmask.unwrap_or_else(|| class_prefix(c));
                ip.address = Some((c, prefix));
                Mode::Static
            }
            None if ip.autoconf == Autoconf::Off => Mode::Off,
            None => Mode::Dhcp,
        };
        Ok(ip)
    }

    /// Things worth a line on the console: what is ignored or done
    /// differently from what was asked.
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let v = &self.value;
        match (self.mode, self.autoconf) {
            (Mode::Dhcp, a @ (Autoconf::Bootp | Autoconf::Rarp | Autoconf::Both)) => out.push(
                format!("ip={v}: autoconf \"{}\": only DHCP is implemented, DHCP is used", a.as_str()),
            ),
            (Mode::Static, a @ (Autoconf::Dhcp | Autoconf::Bootp | Autoconf::Rarp | Autoconf::Both)) => out.push(format!(
                "ip={v}: client-ip is given: a static configuration, as the kernel does (autoconf \"{}\" is not used)",
                a.as_str()
            )),
            _ => {}
        }
        if let Some(s) = self.server {
            out.push(format!(
                "ip={v}: server-ip {s} is for an NFS root: not used"
            ));
        }
        if self.mode == Mode::Static && self.netmask.is_none() {
            if let Some((a, p)) = self.address {
                out.push(format!("ip={v}: no netmask: /{p} from the class of {a}"));
            }
        }
        if !self.extra.is_empty() {
            out.push(format!(
                "ip={v}: fields after ntp0-ip ignored: {}",
                self.extra.join(":")
            ));
        }
        out
    }
}

/// An autoconf value and its client identifier, or what is wrong with it.
type AutoconfResult = Result<(Autoconf, Option<DhcpClientId>), String>;

/// Parses an autoconf value: `None` when it is not one; an error text for
/// a `dhcp,TYPE,VALUE` with a bad type.
fn parse_autoconf(s: &str) -> Option<AutoconfResult> {
    let autoconf = match s {
        "off" | "none" => Autoconf::Off,
        "on" | "any" => Autoconf::Any,
        "dhcp" => Autoconf::Dhcp,
        "bootp" => Autoconf::Bootp,
        "rarp" => Autoconf::Rarp,
        "both" => Autoconf::Both,
        _ => {
            let rest = s.strip_prefix("dhcp,")?;
            let Some((kind, id)) = rest.split_once(',') else {
                return Some(Err(
                    "has no client identifier: write dhcp,TYPE,VALUE (e.g. dhcp,1,52:54:00:12:34:56)"
                        .into(),
                ));
            };
            let Some(kind) = parse_u8(kind) else {
                return Some(Err(format!(
                    "has a client identifier type \"{kind}\" that is not a number from 0 to 255"
                )));
            };
            return Some(Ok((
                Autoconf::Dhcp,
                Some(DhcpClientId {
                    kind,
                    value: id.to_string(),
                }),
            )));
        }
    };
    Some(Ok((autoconf, None)))
}

/// A number as the kernel's `kstrtou8(s, 0)` reads it: decimal, `0x` hex or
/// `0` octal.
fn parse_u8(s: &str) -> Option<u8> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u8::from_str_radix(hex, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u8::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

fn suggest(s: &str) -> String {
    closest(s, &AUTOCONF_VALUES)
        .map(|c| format!(" (did you mean \"{c}\"?)"))
        .unwrap_or_default()
}

/// The prefix length of a netmask; `None` when its one bits are not
/// contiguous.
pub fn netmask_prefix(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let prefix = bits.leading_ones();
    (bits.checked_shl(prefix).unwrap_or(0) == 0).then_some(prefix as u8)
}

/// The netmask the kernel guesses from the address class (A /8, B /16,
/// C /24) when `netmask` is empty. Only called for unicast addresses.
pub fn class_prefix(addr: Ipv4Addr) -> u8 {
    match addr.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// The expected parse of one value, field by field.
    struct Want {
        mode: Mode,
        autoconf: Autoconf,
        address: Option<(&'static str, u8)>,
        gateway: Option<&'static str>,
        hostname: Option<&'static str>,
        device: Option<&'static str>,
        dns: &'static [&'static str],
        ntp: Option<&'static str>,
    }

    const OFF: Want = Want {
        mode: Mode::Off,
        autoconf: Autoconf::Off,
        address: None,
        gateway: None,
        hostname: None,
        device: None,
        dns: &[],
        ntp: None,
    };
    const DHCP_ALL: Want = Want {
        mode: Mode::Dhcp,
        autoconf: Autoconf::Dhcp,
        ..OFF
    };

    #[test]
    fn farm_values() {
        let table: Vec<(&str, Want)> = vec![
            ("dhcp", DHCP_ALL),
            ("on", Want { autoconf: Autoconf::Any, ..DHCP_ALL }),
            ("any", Want { autoconf: Autoconf::Any, ..DHCP_ALL }),
            ("bootp", Want { autoconf: Autoconf::Bootp, ..DHCP_ALL }),
            ("rarp", Want { autoconf: Autoconf::Rarp, ..DHCP_ALL }),
            ("both", Want { autoconf: Autoconf::Both, ..DHCP_ALL }),
            ("off", OFF),
            ("none", OFF),
            ("", OFF),
            (
                "::::b2c:eth0:dhcp",
                Want { hostname: Some("b2c"), device: Some("eth0"), ..DHCP_ALL },
            ),
            (
                "192.168.1.10::192.168.1.1:255.255.255.0:host:eth0:off:1.1.1.1",
                Want {
                    mode: Mode::Static,
                    address: Some(("192.168.1.10", 24)),
                    gateway: Some("192.168.1.1"),
                    hostname: Some("host"),
                    device: Some("eth0"),
                    dns: &["1.1.1.1"],
                    ..OFF
                },
            ),
            (
                "10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0::eth0:none",
                Want {
                    mode: Mode::Static,
                    address: Some(("10.0.2.15", 24)),
                    gateway: Some("10.0.2.2"),
                    device: Some("eth0"),
                    ..OFF
                },
            ),
            (
                "192.168.42.7::192.168.42.1:255.255.254.0:dut-07.lab.example:enp3s0:off:10.0.0.53:10.0.0.54:10.0.0.123",
                Want {
                    mode: Mode::Static,
                    address: Some(("192.168.42.7", 23)),
                    gateway: Some("192.168.42.1"),
                    hostname: Some("dut-07"),
                    device: Some("enp3s0"),
                    dns: &["10.0.0.53", "10.0.0.54"],
                    ntp: Some("10.0.0.123"),
                    ..OFF
                },
            ),
            // The client address alone: class A netmask, autoconf default.
            (
                "10.42.0.9",
                Want { mode: Mode::Static, autoconf: Autoconf::Any, address: Some(("10.42.0.9", 8)), ..OFF },
            ),
            (
                "172.16.5.5:::::eth1",
                Want {
                    mode: Mode::Static,
                    autoconf: Autoconf::Any,
                    address: Some(("172.16.5.5", 16)),
                    device: Some("eth1"),
                    ..OFF
                },
            ),
            // A client address wins over autoconf, as in the kernel.
            (
                "192.168.0.2:::255.255.255.128::eth0:dhcp",
                Want { mode: Mode::Static, address: Some(("192.168.0.2", 25)), device: Some("eth0"), ..DHCP_ALL },
            ),
            (":::::eth1", Want { autoconf: Autoconf::Any, device: Some("eth1"), ..DHCP_ALL }),
            (":::::eth1:off", Want { device: Some("eth1"), ..OFF }),
            (":::::eth1:none:9.9.9.9", Want { device: Some("eth1"), dns: &["9.9.9.9"], ..OFF }),
            // 0.0.0.0 is empty; a /32 netmask; trailing empty fields.
            (
                "0.0.0.0::0.0.0.0:0.0.0.0::eth0:dhcp:::",
                Want { device: Some("eth0"), ..DHCP_ALL },
            ),
            (
                "10.1.1.1:::255.255.255.255:::off",
                Want { mode: Mode::Static, address: Some(("10.1.1.1", 32)), ..OFF },
            ),
            (
                ":::::eth0:any::8.8.4.4:10.0.0.1",
                Want { autoconf: Autoconf::Any, device: Some("eth0"), dns: &["8.8.4.4"], ntp: Some("10.0.0.1"), ..DHCP_ALL },
            ),
        ];
        for (value, want) in table {
            let ip = KernelIp::parse(value).unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(ip.value, value);
            assert_eq!(ip.mode, want.mode, "{value}");
            assert_eq!(ip.autoconf, want.autoconf, "{value}");
            assert_eq!(ip.address, want.address.map(|(s, p)| (a(s), p)), "{value}");
            assert_eq!(ip.gateway, want.gateway.map(a), "{value}");
            assert_eq!(ip.hostname.as_deref(), want.hostname, "{value}");
            assert_eq!(ip.device.as_deref(), want.device, "{value}");
            assert_eq!(
                ip.dns,
                want.dns.iter().map(|s| a(s)).collect::<Vec<_>>(),
                "{value}"
            );
            assert_eq!(ip.ntp, want.ntp.map(a), "{value}");
        }
    }

    #[test]
    fn other_fields() {
        let ip = KernelIp::parse("10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0:dut.lab.example:eth0:none:1.1.1.1:8.8.8.8:10.0.2.2:extra:more").unwrap();
        assert_eq!(ip.server, Some(a("10.0.2.2")));
        assert_eq!(ip.netmask, Some(24));
        assert_eq!(ip.domain.as_deref(), Some("lab.example"));
        assert_eq!(ip.extra, ["extra", "more"]);
        assert_eq!(ip.client_id, None);
        let ip = KernelIp::parse("dhcp,1,52:54:00:12:34:56").unwrap();
        assert_eq!((ip.mode, ip.autoconf), (Mode::Dhcp, Autoconf::Dhcp));
        assert_eq!(
            ip.client_id,
            Some(DhcpClientId {
                kind: 1,
                value: "52:54:00:12:34:56".into()
            })
        );
        let ip = KernelIp::parse(":::::eth0:dhcp,0x00,dut-42").unwrap();
        assert_eq!(ip.client_id.unwrap().kind, 0);
        assert_eq!(ip.device.as_deref(), Some("eth0"));
    }

    #[test]
    fn errors_name_the_field_and_the_value() {
        let table = [
            ("dhcpp", "ip=dhcpp: client-ip \"dhcpp\" is not an IPv4 address, nor one of dhcp, on, any, off, none, bootp, rarp, both (did you mean \"dhcp\"?)"),
            ("10.0.2.300::10.0.2.2:255.255.255.0::eth0:off", "ip=10.0.2.300::10.0.2.2:255.255.255.0::eth0:off: client-ip \"10.0.2.300\" is not an IPv4 address"),
            ("10.0.2.15:nfs:10.0.2.2", "ip=10.0.2.15:nfs:10.0.2.2: server-ip \"nfs\" is not an IPv4 address"),
            ("10.0.2.15::10.0.2:255.255.255.0", "ip=10.0.2.15::10.0.2:255.255.255.0: gw-ip \"10.0.2\" is not an IPv4 address"),
            ("10.0.2.15::10.0.2.2:255.0.255.0", "ip=10.0.2.15::10.0.2.2:255.0.255.0: netmask \"255.0.255.0\" is not a netmask: its one bits must come first, e.g. 255.255.255.0"),
            ("10.0.2.15::10.0.2.2:24", "ip=10.0.2.15::10.0.2.2:24: netmask \"24\" is not a netmask in dotted form, e.g. 255.255.255.0"),
            ("10.0.2.15::::.lab::off", "ip=10.0.2.15::::.lab::off: hostname \".lab\" is not a host name (1 to 64 characters before the first '.')"),
            ("10.0.2.15:::::averyveryverylongname:off", "ip=10.0.2.15:::::averyveryverylongname:off: device \"averyveryverylongname\" is not an interface name (1 to 15 characters, no '/')"),
            ("10.0.2.15:::::eth0:dchp", "ip=10.0.2.15:::::eth0:dchp: autoconf \"dchp\" is not one of dhcp, on, any, off, none, bootp, rarp, both (did you mean \"dhcp\"?)"),
            (":::::eth0:dhcp:1.1.1", "ip=:::::eth0:dhcp:1.1.1: dns0-ip \"1.1.1\" is not an IPv4 address"),
            (":::::eth0:dhcp:1.1.1.1:x", "ip=:::::eth0:dhcp:1.1.1.1:x: dns1-ip \"x\" is not an IPv4 address"),
            (":::::eth0:dhcp:::ntp.example", "ip=:::::eth0:dhcp:::ntp.example: ntp0-ip \"ntp.example\" is not an IPv4 address"),
            ("224.0.0.1:::::eth0:off", "ip=224.0.0.1:::::eth0:off: client-ip \"224.0.0.1\" is not a unicast address"),
            ("dhcp,1", "ip=dhcp,1: autoconf \"dhcp,1\" has no client identifier: write dhcp,TYPE,VALUE (e.g. dhcp,1,52:54:00:12:34:56)"),
            ("dhcp,mac,x", "ip=dhcp,mac,x: autoconf \"dhcp,mac,x\" has a client identifier type \"mac\" that is not a number from 0 to 255"),
        ];
        for (value, text) in table {
            let e = KernelIp::parse(value).unwrap_err();
            assert_eq!(e.to_string(), text, "{value}");
        }
    }

    #[test]
    fn netmasks_and_classes() {
        assert_eq!(netmask_prefix(a("255.255.255.0")), Some(24));
        assert_eq!(netmask_prefix(a("255.255.255.255")), Some(32));
        assert_eq!(netmask_prefix(a("128.0.0.0")), Some(1));
        assert_eq!(netmask_prefix(a("0.0.0.0")), Some(0));
        assert_eq!(netmask_prefix(a("255.255.0.255")), None);
        assert_eq!(netmask_prefix(a("0.255.255.255")), None);
        assert_eq!(class_prefix(a("10.0.0.1")), 8);
        assert_eq!(class_prefix(a("172.16.0.1")), 16);
        assert_eq!(class_prefix(a("192.168.0.1")), 24);
        assert_eq!(parse_u8("017"), Some(15));
        assert_eq!(parse_u8("256"), None);
    }

    #[test]
    fn notes_say_what_is_not_used() {
        let notes = |v: &str| KernelIp::parse(v).unwrap().notes();
        assert!(notes("dhcp").is_empty());
        assert!(notes("192.168.1.10::192.168.1.1:255.255.255.0:host:eth0:off:1.1.1.1").is_empty());
        assert_eq!(
            notes("rarp"),
            ["ip=rarp: autoconf \"rarp\": only DHCP is implemented, DHCP is used"]
        );
        assert_eq!(
            notes("10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0::eth0:none"),
            ["ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0::eth0:none: server-ip 10.0.2.2 is for an NFS root: not used"]
        );
        assert_eq!(
            notes("10.0.0.5:::::eth0:dhcp:::1.2.3.4:x"),
            [
                "ip=10.0.0.5:::::eth0:dhcp:::1.2.3.4:x: client-ip is given: a static configuration, as the kernel does (autoconf \"dhcp\" is not used)",
                "ip=10.0.0.5:::::eth0:dhcp:::1.2.3.4:x: no netmask: /8 from the class of 10.0.0.5",
                "ip=10.0.0.5:::::eth0:dhcp:::1.2.3.4:x: fields after ntp0-ip ignored: x",
            ]
        );
    }
}
