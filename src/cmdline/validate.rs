//! Validation of the small values found in options: host names, addresses,
//! URLs, sizes, base64.

use super::secret::{Secret, MASK};
use std::fmt;
use std::net::IpAddr;

/// Longest host name the kernel accepts (`HOST_NAME_MAX`).
pub const HOSTNAME_MAX: usize = 64;

/// True for a valid DNS name: labels of 1-63 letters, digits and `-` (not at
/// either end of a label), separated by dots, at most 253 characters; a
/// trailing dot is accepted. `allow_underscore` also accepts `_` (seen in
/// internal host names of URLs).
pub fn is_dns_name(s: &str, allow_underscore: bool) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || (allow_underscore && c == '_'))
    })
}

/// Checks a machine host name (`b2c.hostname`): a DNS name without a
/// trailing dot, at most [`HOSTNAME_MAX`] characters.
pub fn check_hostname(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("the host name is empty".into());
    }
    if s.len() > HOSTNAME_MAX {
        return Err(format!(
            "\"{s}\" is {} characters long, the kernel accepts at most {HOSTNAME_MAX}",
            s.len()
        ));
    }
    if s.ends_with('.') || !is_dns_name(s, false) {
        return Err(format!(
            "\"{s}\" is not a valid host name (letters, digits and '-', in labels of 1 to 63 characters separated by '.', no '-' at either end of a label)"
        ));
    }
    Ok(())
}

/// True for a host given as a DNS name or an IP address.
pub fn is_host(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok() || is_dns_name(s, true)
}

/// True for a simple identifier: letters, digits, `_`, `-` and `.`, starting
/// with a letter or digit, at most 128 characters.
pub fn is_identifier(s: &str) -> bool {
    s.len() <= 128
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

/// An IP network or an address with its prefix length: `192.168.42.1/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address as written.
    pub addr: IpAddr,
    /// The prefix length (0-32 for IPv4, 0-128 for IPv6).
    pub prefix: u8,
}

impl Cidr {
    /// Parses `ADDRESS/PREFIX`. A missing prefix is an error: an address
    /// without a prefix length is ambiguous.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = s.split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_digit()) || prefix.len() > 3 {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Why a URL was refused. No variant holds the URL's password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// No `scheme://` at the start.
    #[error("is not a URL (expected {expected}://HOST...)")]
    NoScheme {
        /// The schemes accepted here, joined with `|`.
        expected: String,
    },
    /// A scheme that is not accepted here.
    #[error("has the scheme \"{scheme}\", expected {expected}")]
    Scheme {
        /// The scheme found.
        scheme: String,
        /// The schemes accepted here, joined with `|`.
        expected: String,
    },
    /// No host after `scheme://`.
    #[error("has no host")]
    NoHost,
    /// A host that is neither a DNS name nor an IP address.
    #[error("has an invalid host \"{0}\"")]
    Host(String),
    /// A port that is not a number between 1 and 65535.
    #[error("has an invalid port \"{0}\" (expected 1 to 65535)")]
    Port(String),
    /// Spaces or control characters.
    #[error("contains spaces or control characters")]
    Characters,
}

/// An `http`/`https` (or proxy) URL. `Display` and `Serialize` mask the
/// password of `user:password@` (if any); [`Url::expose`] gives the real URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The scheme, lower case: `http`, `https`, ...
    pub scheme: String,
    /// The user name of `user[:password]@`, if given.
    pub username: Option<String>,
    /// The password of `user:password@`, if given.
    pub password: Option<Secret>,
    /// The host: a DNS name or an IP address (IPv6 without brackets).
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
    /// Everything from the first `/` after the host (path, query), maybe empty.
    pub path: String,
}

impl Url {
    /// Parses `SCHEME://[USER[:PASSWORD]@]HOST[:PORT][/PATH]` with one of `schemes`.
    pub fn parse(s: &str, schemes: &[&str]) -> Result<Url, UrlError> {
        Self::parse_inner(s, schemes).map_err(|e| match e {
            // With credentials, a malformed URL could put a piece of the
            // password where a host or port is expected: never quote it.
            UrlError::Host(_) if s.contains('@') => UrlError::Host(MASK.to_string()),
            UrlError::Port(_) if s.contains('@') => UrlError::Port(MASK.to_string()),
            other => other,
        })
    }

    fn parse_inner(s: &str, schemes: &[&str]) -> Result<Url, UrlError> {
        let expected = schemes.join("|");
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlError::Characters);
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(UrlError::NoScheme { expected });
        };
        let scheme = scheme.to_ascii_lowercase();
        if !schemes.contains(&scheme.as_str()) {
            return Err(UrlError::Scheme { scheme, expected });
        }
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, String::new()),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (Some(user.to_string()), Some(Secret::new(pass))),
                None => (Some(u.to_string()), None),
            },
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let Some((host, after)) = v6.split_once(']') else {
                return Err(UrlError::Host(hostport.to_string()));
            };
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(UrlError::Host(host.to_string()));
            }
            match after {
                "" => (host, None),
                p => match p.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(UrlError::Host(hostport.to_string())),
                },
            }
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        if !host.contains(':') && !is_host(host) {
            return Err(UrlError::Host(host.to_string()));
        }
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()) => Some(n),
                _ => return Err(UrlError::Port(p.to_string())),
            },
        };
        Ok(Url {
            scheme,
            username,
            password,
            host: host.to_string(),
            port,
            path,
        })
    }

    /// The port, or the scheme's default one (80 for http, 443 for https).
    pub fn port_or_default(&self) -> u16 {
        self.port
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 })
    }

    /// The complete URL, password included: only for the request itself.
    pub fn expose(&self) -> String {
        self.render(self.password.as_ref().map(Secret::expose))
    }

    fn render(&self, password: Option<&str>) -> String {
        let mut out = format!("{}://", self.scheme);
        if let Some(user) = &self.username {
            out.push_str(user);
            if let Some(p) = password {
                out.push(':');
                out.push_str(p);
            }
            out.push('@');
        }
        if self.host.contains(':') {
            out.push_str(&format!("[{}]", self.host));
        } else {
            out.push_str(&self.host);
        }
        if let Some(port) = self.port {
            out.push_str(&format!(":{port}"));
        }
        out.push_str(&self.path);
        out
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked = self.password.as_ref().map(|_| MASK);
        f.write_str(&self.render(masked))
    }
}

impl serde::Serialize for Url {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Parses a size: a whole number followed by an optional unit `K`, `M`, `G`
/// or `T` (powers of 1024, any case, an optional `B` or `iB` after it). A
/// number without a unit is in bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!(
            "\"{s}\" is not a size (expected a whole number and a unit, like 512M or 8G)"
        ));
    }
    let unit_lower = unit.to_ascii_lowercase();
    let shift = match unit_lower.as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "\"{s}\" has an unknown unit \"{unit}\" (expected K, M, G or T)"
            ))
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("\"{s}\" is too large"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("\"{s}\" is too large"))
}

/// Decodes standard base64 (`A-Z a-z 0-9 + /`, `=` padding optional; the
/// URL-safe `-` and `_` are also accepted). `None` when it is not base64.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    }
    let trimmed = s.trim_end_matches('=');
    let padding = s.len() - trimmed.len();
    if padding > 2 || (padding > 0 && s.len() % 4 != 0) {
        return None;
    }
    let bytes = trimmed.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc: u32 = 0;
        for &c in chunk {
            acc = (acc << 6) | value(c)?;
        }
        match chunk.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            3 => {
                if acc & 0b11 != 0 {
                    return None;
                }
                out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]);
            }
            2 => {
                if acc & 0b1111 != 0 {
                    return None;
                }
                out.push((acc >> 4) as u8);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert!(check_hostname("plop").is_ok());
        assert!(check_hostname("ci-runner-01.lab.example").is_ok());
        assert!(check_hostname("").is_err());
        assert!(check_hostname("-a").is_err());
        assert!(check_hostname("a_b")
            .unwrap_err()
            .contains("\"a_b\" is not a valid host name"));
        assert!(check_hostname("a..b").is_err());
        assert!(check_hostname("a.").is_err());
        assert!(check_hostname(&"a".repeat(65))
            .unwrap_err()
            .contains("at most 64"));
        assert!(check_hostname("é").is_err());
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("192.168.42.1/24").unwrap();
        assert_eq!(c.to_string(), "192.168.42.1/24");
        assert!(Cidr::parse("fd00::1/64").is_some());
        assert!(Cidr::parse("10.0.0.300/24").is_none());
        assert!(Cidr::parse("10.0.0.1/33").is_none());
        assert!(Cidr::parse("10.0.0.1").is_none());
        assert!(Cidr::parse("10.0.0.1/").is_none());
        assert!(Cidr::parse("10.0.0.1/+8").is_none());
        assert!(Cidr::parse("fd00::1/129").is_none());
    }

    #[test]
    fn urls() {
        let u = Url::parse("http://10.42.0.1:8000/path/x?y=1", &["http", "https"]).unwrap();
        assert_eq!(u.host, "10.42.0.1");
        assert_eq!(u.port, Some(8000));
        assert_eq!(u.path, "/path/x?y=1");
        assert_eq!(u.to_string(), "http://10.42.0.1:8000/path/x?y=1");
        let u = Url::parse("HTTPS://example.com", &["http", "https"]).unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.port_or_default(), 443);
        let u = Url::parse("http://me:s3cret@proxy:3128", &["http"]).unwrap();
        assert_eq!(u.to_string(), "http://me:***@proxy:3128");
        assert_eq!(u.expose(), "http://me:s3cret@proxy:3128");
        assert!(!format!("{u:?}").contains("s3cret"));
        let u = Url::parse("http://[fd00::1]:9000/b", &["http"]).unwrap();
        assert_eq!(u.host, "fd00::1");
        assert_eq!(u.to_string(), "http://[fd00::1]:9000/b");

        let schemes = &["http", "https"];
        assert_eq!(
            Url::parse("ftp://x", schemes).unwrap_err().to_string(),
            "has the scheme \"ftp\", expected http|https"
        );
        assert!(matches!(
            Url::parse("x.example", schemes),
            Err(UrlError::NoScheme { .. })
        ));
        assert_eq!(Url::parse("http://", schemes), Err(UrlError::NoHost));
        assert_eq!(Url::parse("http://:80/", schemes), Err(UrlError::NoHost));
        assert!(matches!(
            Url::parse("http://a:0", schemes),
            Err(UrlError::Port(_))
        ));
        assert!(matches!(
            Url::parse("http://a:99999", schemes),
            Err(UrlError::Port(_))
        ));
        assert!(matches!(
            Url::parse("http://a:+80", schemes),
            Err(UrlError::Port(_))
        ));
        assert!(matches!(
            Url::parse("http://a b", schemes),
            Err(UrlError::Characters)
        ));
        assert!(matches!(
            Url::parse("http://a!b/", schemes),
            Err(UrlError::Host(_))
        ));
        assert!(matches!(
            Url::parse("http://[zz]/", schemes),
            Err(UrlError::Host(_))
        ));
        let e = Url::parse("http://u:pw@a!b/", schemes)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("pw"));
        // A '/' in a password ends the authority: the password would be the port.
        let e = Url::parse("http://u:pa/ss@host", schemes)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "has an invalid port \"***\" (expected 1 to 65535)");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("8g"), Ok(8 << 30));
        assert_eq!(parse_size("8GiB"), Ok(8 << 30));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("1.5G").unwrap_err().contains("unknown unit"));
        assert!(parse_size("8X").unwrap_err().contains("unknown unit \"X\""));
        assert!(parse_size("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_size("99999999999T")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn base64() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode_base64("").unwrap(), b"");
        assert_eq!(decode_base64("AAEC").unwrap(), [0, 1, 2]);
        assert!(decode_base64("a").is_none());
        assert!(decode_base64("a===").is_none());
        assert!(decode_base64("aGVsbG8!").is_none());
        assert!(decode_base64("aGVsbG9=").is_none());
    }

    #[test]
    fn identifiers_and_hosts() {
        assert!(is_identifier("fs-web"));
        assert!(is_identifier("job_vol.1"));
        assert!(!is_identifier("-x"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("a/b"));
        assert!(is_host("10.42.0.1"));
        assert!(is_host("fd00::1"));
        assert!(is_host("pool.ntp.org"));
        assert!(!is_host("a b"));
        assert!(!is_host(""));
    }
}
