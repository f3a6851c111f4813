//! Network options: `b2c.iface`, `ip=`, `b2c.ntp_peer`, `b2c.proxy`, `b2c.login`.

use super::fields::{split_fields, FieldChecker, Report};
use super::kernel_ip::KernelIp;
use super::secret::Secret;
use super::validate::{is_host, Cidr, Url};
use serde::Serialize;
use std::net::IpAddr;

/// A route of `b2c.iface=...,route=NET:GW`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The destination network.
    pub net: Cidr,
    /// The gateway.
    pub via: IpAddr,
}

/// One `b2c.iface=NAME,...` line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Iface {
    /// The interface name, e.g. `eth0`.
    pub name: String,
    /// `dhcp` (or `auto`): run DHCP on it.
    pub dhcp: bool,
    /// `address=CIDR`: a static address.
    pub address: Option<Cidr>,
    /// `gateway=IP`: the default route through it.
    pub gateway: Option<IpAddr>,
    /// `nameserver=IP` (repeatable), in order.
    pub nameservers: Vec<IpAddr>,
    /// `route=NET:GW` (repeatable), in order.
    pub routes: Vec<Route>,
    /// `forward`: enable IPv4 forwarding.
    pub forward: bool,
}

/// `b2c.ntp_peer`: where the clock is set from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NtpPeer {
    /// `none` (the default): the clock is not set.
    #[default]
    None,
    /// `auto`: `pool.ntp.org`.
    Auto,
    /// A host name or an IP address.
    Host(String),
}

impl NtpPeer {
    /// The host to ask, if any (`auto` is `pool.ntp.org`).
    pub fn host(&self) -> Option<&str> {
        match self {
            NtpPeer::None => None,
            NtpPeer::Auto => Some("pool.ntp.org"),
            NtpPeer::Host(h) => Some(h),
        }
    }
}

impl Serialize for NtpPeer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match self {
            NtpPeer::None => "none",
            NtpPeer::Auto => "auto",
            NtpPeer::Host(h) => h,
        })
    }
}

/// `b2c.proxy=https=URL[,http=URL][,no=HOSTS]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Proxy {
    /// Proxy for https traffic.
    pub https: Option<Url>,
    /// Proxy for http traffic.
    pub http: Option<Url>,
    /// Hosts reached without a proxy (`no=a|b|c`).
    pub no: Vec<String>,
}

/// `b2c.login=REGISTRY,username=USER,password=PASSWORD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Login {
    /// The registry, e.g. `registry.fake` or `10.42.0.1:5000`.
    pub registry: String,
    /// The user name.
    pub username: String,
    /// The password (never printed).
    pub password: Secret,
    /// Written `http://REGISTRY`: a registry without TLS (podman logs in
    /// with `--tls-verify=false`; the password crosses the network in clear).
    pub plain_http: bool,
}

/// True for a Linux interface name: 1 to 15 bytes, no `/`, `:` or whitespace.
fn is_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != ':' && c != '=' && c != ',')
}

/// The first field as a name; an error naming `key` when it is missing or a `key=value`.
pub(crate) fn leading_name<'f>(
    key: &str,
    what: &str,
    fields: &'f [super::fields::Field],
    report: &mut Report,
) -> Option<&'f str> {
    match fields.first() {
        None => {
            report.error(format!("{key}: the {what} is missing"));
            None
        }
        Some(f) if f.value.is_some() => {
            report.error(format!(
                "{key}: the first field must be the {what}, not \"{}=...\"",
                f.name
            ));
            None
        }
        Some(f) => Some(f.name.as_str()),
    }
}

pub(crate) const IFACE_FIELDS: &[&str] = &[
    "dhcp",
    "auto",
    "address",
    "gateway",
    "nameserver",
    "route",
    "forward",
];

/// Parses `b2c.iface=NAME[,dhcp|auto][,address=CIDR][,gateway=IP][,nameserver=IP]...[,route=NET:GW]...[,forward]`.
pub(crate) fn parse_iface(key: &str, value: &str, report: &mut Report) -> Option<Iface> {
    let fields = split_fields(key, value, report);
    let name = leading_name(key, "interface name", &fields, report)?;
    if !is_ifname(name) {
        report.error(format!(
            "{key}: \"{name}\" is not a valid interface name (1 to 15 characters, no '/', ':' or spaces)"
        ));
        return None;
    }
    report.set_instance(name);
    let option = format!("{key}={name}");
    let mut check = FieldChecker::new(&option, IFACE_FIELDS, false);
    let errors_before = report.errors.len();
    let mut iface = Iface {
        name: name.to_string(),
        ..Iface::default()
    };
    for field in &fields[1..] {
        match field.name.as_str() {
            "dhcp" | "auto" => {
                if check.flag(field, report) {
                    iface.dhcp = true;
                }
            }
            "forward" => {
                if check.flag(field, report) {
                    iface.forward = true;
                }
            }
            "address" => {
                if !check.first_time(field, report) {
                    continue;
                }
                if let Some(v) = check.value(field, report) {
                    match Cidr::parse(v) {
                        Some(c) => iface.address = Some(c),
                        None => report.field("address").error(format!(
                            "{option}: address \"{v}\" is not a valid CIDR (expected ADDRESS/PREFIX, like 192.168.42.1/24)"
                        )),
                    }
                }
            }
            "gateway" => {
                if !check.first_time(field, report) {
                    continue;
                }
                if let Some(v) = check.value(field, report) {
                    match v.parse::<IpAddr>() {
                        Ok(ip) => iface.gateway = Some(ip),
                        Err(_) => report.field("gateway").error(format!(
                            "{option}: gateway \"{v}\" is not a valid IP address"
                        )),
                    }
                }
            }
            "nameserver" => {
                if let Some(v) = check.value(field, report) {
                    match v.parse::<IpAddr>() {
                        Ok(ip) => iface.nameservers.push(ip),
                        Err(_) => report.field("nameserver").error(format!(
                            "{option}: nameserver \"{v}\" is not a valid IP address"
                        )),
                    }
                }
            }
            "route" => {
                if let Some(v) = check.value(field, report) {
                    match parse_route(v) {
                        Some(r) => iface.routes.push(r),
                        None => report.field("route").error(format!(
                            "{option}: route \"{v}\" is not NET:GATEWAY (like 10.0.0.0/8:192.168.42.254)"
                        )),
                    }
                }
            }
            _ => check.unknown(field, report),
        }
    }
    if report.errors.len() > errors_before {
        return None;
    }
    if !iface.dhcp && iface.address.is_none() {
        report.warn(format!(
            "{option}: neither dhcp nor address given: the link is only brought up"
        ));
    }
    Some(iface)
}

/// Parses `NET:GW`, where NET is a CIDR (IPv4 or IPv6) and GW an address.
fn parse_route(s: &str) -> Option<Route> {
    let slash = s.find('/')?;
    let after = &s[slash + 1..];
    let colon = after.find(':')?;
    let net = Cidr::parse(&s[..slash + 1 + colon])?;
    let via: IpAddr = after[colon + 1..].parse().ok()?;
    Some(Route { net, via })
}

/// Checks the value of `ip=` with the kernel's syntax ([`KernelIp`]); the
/// network step acts on it. A value that cannot be parsed is a warning and
/// is dropped: the network step then runs DHCP on every Ethernet interface,
/// as without `ip=`.
pub(crate) fn parse_kernel_ip(value: &str, report: &mut Report) -> Option<String> {
    if value.is_empty() {
        report.warn("ip: empty value; the kernel ignores it");
        return None;
    }
    match KernelIp::parse(value) {
        Ok(_) => Some(value.to_string()),
        Err(e) => {
            report.warn(format!("{e}: DHCP on every Ethernet interface instead"));
            None
        }
    }
}

/// Parses `b2c.ntp_peer=none|auto|HOST`.
pub(crate) fn parse_ntp_peer(key: &str, value: &str, report: &mut Report) -> Option<NtpPeer> {
    match value {
        "none" => Some(NtpPeer::None),
        "auto" => Some(NtpPeer::Auto),
        host if is_host(host) => Some(NtpPeer::Host(host.to_string())),
        other => {
            report.error(format!(
                "{key}: \"{other}\" is not none, auto or a host name or IP address"
            ));
            None
        }
    }
}

pub(crate) const PROXY_FIELDS: &[&str] = &["https", "http", "no"];
const PROXY_SCHEMES: &[&str] = &["http", "https", "socks5", "socks5h"];

/// Parses `b2c.proxy=https=URL[,http=URL][,no=HOST|HOST...]`. Bare fields
/// after `no=` are more no-proxy hosts (`no=localhost,127.0.0.1` works).
pub(crate) fn parse_proxy(key: &str, value: &str, report: &mut Report) -> Option<Proxy> {
    let fields = split_fields(key, value, report);
    let mut check = FieldChecker::new(key, PROXY_FIELDS, value.contains('@'));
    let errors_before = report.errors.len();
    let mut proxy = Proxy::default();
    let mut in_no = false;
    for field in &fields {
        if field.value.is_none() && in_no {
            proxy.no.push(field.name.clone());
            continue;
        }
        in_no = false;
        match field.name.as_str() {
            name @ ("https" | "http") => {
                if !check.first_time(field, report) {
                    continue;
                }
                if let Some(v) = check.value(field, report) {
                    match Url::parse(v, PROXY_SCHEMES) {
                        Ok(u) if name == "https" => proxy.https = Some(u),
                        Ok(u) => proxy.http = Some(u),
                        Err(_) if value.contains('@') => report.field(name).error(format!(
                            "{key}: field \"{name}\": the proxy URL is not valid (not shown: it holds credentials)"
                        )),
                        Err(e) => report
                            .field(name)
                            .error(format!("{key}: field \"{name}\": the proxy URL {e}")),
                    }
                }
            }
            "no" => {
                if !check.first_time(field, report) {
                    continue;
                }
                if let Some(v) = check.value(field, report) {
                    for host in v.split('|').map(str::trim) {
                        if host.is_empty() {
                            report
                                .field("no")
                                .warn(format!("{key}: field \"no\": empty host ignored"));
                        } else {
                            proxy.no.push(host.to_string());
                        }
                    }
                    in_no = true;
                }
            }
            _ => check.unknown(field, report),
        }
    }
    if report.errors.len() > errors_before {
        return None;
    }
    if proxy.https.is_none() && proxy.http.is_none() {
        report.error(format!(
            "{key}: no proxy given (expected https=URL and/or http=URL)"
        ));
        return None;
    }
    Some(proxy)
}

pub(crate) const LOGIN_FIELDS: &[&str] = &["username", "password"];

/// True for `HOST[:PORT][/PATH]`.
fn is_registry(s: &str) -> bool {
    let (hostport, path) = match s.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (hostport, None),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    is_host(host)
        && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0))
        && path.is_none_or(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        })
}

/// Parses `b2c.login=REGISTRY,username=USER,password=PASSWORD`.
pub(crate) fn parse_login(key: &str, value: &str, report: &mut Report) -> Option<Login> {
    let fields = split_fields(key, value, report);
    let written = leading_name(key, "registry", &fields, report)?;
    let (registry, plain_http) = match written.strip_prefix("http://") {
        Some(r) => (r, true),
        None => (written.strip_prefix("https://").unwrap_or(written), false),
    };
    if !is_registry(registry) {
        report.error(format!(
            "{key}: \"{written}\" is not a registry (expected [http://]HOST[:PORT][/PATH], like registry.fake or http://10.42.0.1:5000)"
        ));
        return None;
    }
    report.set_instance(registry);
    let option = format!("{key}={registry}");
    let mut check = FieldChecker::new(&option, LOGIN_FIELDS, true);
    let errors_before = report.errors.len();
    let mut username = None;
    let mut password = None;
    for field in &fields[1..] {
        match field.name.as_str() {
            "username" => {
                if check.first_time(field, report) {
                    username = check.value(field, report).map(str::to_string);
                }
            }
            "password" => {
                if check.first_time(field, report) {
                    password = check.value(field, report).map(Secret::new);
                }
            }
            _ => check.unknown(field, report),
        }
    }
    if report.errors.len() > errors_before {
        return None;
    }
    let username = check.required("username", username, report)?;
    let password = check.required("password", password, report)?;
    Some(Login {
        registry: registry.to_string(),
        username,
        password,
        plain_http,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(v: &str) -> (Option<Iface>, Report) {
        let mut r = Report::default();
        (parse_iface("b2c.iface", v, &mut r), r)
    }

    #[test]
    fn iface_examples() {
        let (i, r) = iface("eth0,dhcp,nameserver=9.9.9.9");
        let i = i.unwrap();
        assert!(r.warnings.is_empty() && r.errors.is_empty());
        assert_eq!(i.name, "eth0");
        assert!(i.dhcp);
        assert_eq!(i.nameservers, ["9.9.9.9".parse::<IpAddr>().unwrap()]);

        let (i, _) = iface("eth1,address=192.168.42.1/24");
        assert_eq!(i.unwrap().address.unwrap().to_string(), "192.168.42.1/24");

        let (i, _) = iface("eth2,dhcp,forward");
        assert!(i.unwrap().forward);

        let (i, r) = iface(
            "eth0,auto,address=10.0.0.2/8,gateway=10.0.0.1,nameserver=1.1.1.1,nameserver=fd00::53,route=172.16.0.0/12:10.0.0.254,route=fd01::/64:fd00::1",
        );
        let i = i.unwrap();
        assert!(r.errors.is_empty());
        assert_eq!(i.gateway, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(i.nameservers.len(), 2);
        assert_eq!(i.routes.len(), 2);
        assert_eq!(i.routes[1].net.to_string(), "fd01::/64");
        assert_eq!(i.routes[1].via, "fd00::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn iface_errors() {
        let (i, r) = iface("eth0,address=10.0.0.300/24");
        assert!(i.is_none());
        assert_eq!(
            r.errors,
            ["b2c.iface=eth0: address \"10.0.0.300/24\" is not a valid CIDR (expected ADDRESS/PREFIX, like 192.168.42.1/24)"]
        );
        let (_, r) = iface("eth0,gateway=10.0.0");
        assert_eq!(
            r.errors,
            ["b2c.iface=eth0: gateway \"10.0.0\" is not a valid IP address"]
        );
        let (_, r) = iface("eth0,nameserver=dns.google");
        assert!(r.errors[0]
            .message
            .contains("nameserver \"dns.google\" is not a valid IP address"));
        let (_, r) = iface("eth0,route=10.0.0.0/8");
        assert!(r.errors[0]
            .message
            .contains("route \"10.0.0.0/8\" is not NET:GATEWAY"));
        let (_, r) = iface("eth0,address=1.2.3.4/8,address=1.2.3.5/8");
        assert!(r.errors[0]
            .message
            .contains("field \"address\" is given more than once"));
        let (_, r) = iface("eth0,dhcp=yes");
        assert!(r.errors[0]
            .message
            .contains("\"dhcp\" is a flag and takes no value"));
        let (_, r) = iface("eth0,address=");
        assert!(r.errors[0]
            .message
            .contains("field \"address\" has an empty value"));
        let (_, r) = iface("address=1.2.3.4/8");
        assert!(r.errors[0]
            .message
            .contains("first field must be the interface name"));
        let (_, r) = iface("averyveryverylongname0");
        assert!(r.errors[0].message.contains("not a valid interface name"));
        let (_, r) = iface("");
        assert!(r.errors[0].message.contains("interface name is missing"));
    }

    #[test]
    fn iface_warnings() {
        let (i, r) = iface("eth0,dhcp,mtu=9000");
        assert!(i.is_some());
        assert_eq!(
            r.warnings,
            ["b2c.iface=eth0: unknown field \"mtu\" ignored; accepted fields: dhcp, auto, address, gateway, nameserver, route, forward"]
        );
        let (_, r) = iface("eth0,nameservr=1.1.1.1,dhcp");
        assert!(r.warnings[0]
            .message
            .contains("did you mean \"nameserver\"?"));
        let (_, r) = iface("eth2,forward");
        assert!(r.warnings[0].message.contains("neither dhcp nor address"));
    }

    #[test]
    fn ntp() {
        let mut r = Report::default();
        assert_eq!(
            parse_ntp_peer("b2c.ntp_peer", "none", &mut r),
            Some(NtpPeer::None)
        );
        assert_eq!(
            parse_ntp_peer("b2c.ntp_peer", "auto", &mut r),
            Some(NtpPeer::Auto)
        );
        assert_eq!(
            parse_ntp_peer("b2c.ntp_peer", "10.42.0.1", &mut r),
            Some(NtpPeer::Host("10.42.0.1".into()))
        );
        assert_eq!(NtpPeer::Auto.host(), Some("pool.ntp.org"));
        assert_eq!(parse_ntp_peer("b2c.ntp_peer", "a b", &mut r), None);
        assert_eq!(
            r.errors,
            ["b2c.ntp_peer: \"a b\" is not none, auto or a host name or IP address"]
        );
    }

    #[test]
    fn proxy() {
        let mut r = Report::default();
        let p = parse_proxy(
            "b2c.proxy",
            "https=http://proxy:3128,http=http://proxy:3128,no=localhost|10.0.0.0/8,.lab",
            &mut r,
        )
        .unwrap();
        assert!(r.errors.is_empty() && r.warnings.is_empty());
        assert_eq!(p.https.unwrap().to_string(), "http://proxy:3128");
        assert_eq!(p.no, ["localhost", "10.0.0.0/8", ".lab"]);

        let mut r = Report::default();
        assert!(parse_proxy("b2c.proxy", "no=x", &mut r).is_none());
        assert_eq!(
            r.errors,
            ["b2c.proxy: no proxy given (expected https=URL and/or http=URL)"]
        );

        let mut r = Report::default();
        assert!(parse_proxy("b2c.proxy", "https=ftp://x", &mut r).is_none());
        assert_eq!(
            r.errors,
            ["b2c.proxy: field \"https\": the proxy URL has the scheme \"ftp\", expected http|https|socks5|socks5h"]
        );

        let mut r = Report::default();
        let p = parse_proxy("b2c.proxy", "https=http://u:pa55@p:1", &mut r).unwrap();
        assert!(!format!("{p:?} {}", serde_json::to_string(&p).unwrap()).contains("pa55"));
    }

    #[test]
    fn login() {
        let mut r = Report::default();
        let l = parse_login(
            "b2c.login",
            "registry.fake,username=kovalsik,password=cacahuètes",
            &mut r,
        )
        .unwrap();
        assert!(r.errors.is_empty() && r.warnings.is_empty());
        assert_eq!(l.registry, "registry.fake");
        assert_eq!(l.username, "kovalsik");
        assert_eq!(l.password.expose(), "cacahuètes");
        assert!(!format!("{l:?}").contains("cacahuètes"));

        let mut r = Report::default();
        assert!(parse_login(
            "b2c.login",
            "10.42.0.1:5000/ns,username=u,password=p",
            &mut r
        )
        .is_some());

        let mut r = Report::default();
        assert!(parse_login("b2c.login", "registry.fake,username=u", &mut r).is_none());
        assert_eq!(
            r.errors,
            ["b2c.login=registry.fake: field \"password\" is missing"]
        );

        let mut r = Report::default();
        assert!(parse_login("b2c.login", "reg istry,username=u,password=p", &mut r).is_none());
        assert!(r.errors[0].message.contains("is not a registry"));

        let mut r = Report::default();
        let l = parse_login("b2c.login", "reg,username=u,password=ab,cd", &mut r);
        assert!(l.is_some());
        assert!(r.warnings[0].message.contains("unknown field number 4"));
        assert!(!r.warnings[0].message.contains("cd"));
    }
}
