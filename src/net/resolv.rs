//! `/etc/resolv.conf`: its text, an atomic writer, and the DNS settings the
//! kernel's `ip=` autoconfiguration leaves in `/proc/net/pnp`.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The text of a resolv.conf.
pub fn resolv_conf_contents(source: &str, nameservers: &[IpAddr], search: &[String]) -> String {
    let mut out = format!("# Written by boot2container ({source})\n");
    if !search.is_empty() {
        out.push_str("search ");
        out.push_str(&search.join(" "));
        out.push('\n');
    }
    let mut seen = Vec::new();
    for ns in nameservers {
        if !seen.contains(ns) {
            seen.push(*ns);
            out.push_str(&format!("nameserver {ns}\n"));
        }
    }
    out
}

/// Writes a resolv.conf atomically (temporary file, then rename).
pub fn write_resolv_conf(
    path: &Path,
    source: &str,
    nameservers: &[IpAddr],
    search: &[String],
) -> std::io::Result<()> {
    let contents = resolv_conf_contents(source, nameservers, search);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".b2c-tmp");
    let tmp = PathBuf::from(tmp);
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// DNS settings the kernel's `ip=` autoconfiguration left in `/proc/net/pnp`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PnpConfig {
    /// `nameserver` lines.
    pub nameservers: Vec<IpAddr>,
    /// The `domain` line.
    pub domain: Option<String>,
}

/// Parses the text of `/proc/net/pnp` (same syntax as resolv.conf, plus
/// `#PROTO:` and `bootserver` lines, which are ignored).
pub fn parse_pnp(text: &str) -> PnpConfig {
    let mut out = PnpConfig::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("nameserver"), Some(ns)) => {
                if let Ok(ip) = ns.parse::<IpAddr>() {
                    if !ip.is_unspecified() && !out.nameservers.contains(&ip) {
                        out.nameservers.push(ip);
                    }
                }
            }
            (Some("domain"), Some(d)) if !d.is_empty() => out.domain = Some(d.to_string()),
            _ => {}
        }
    }
    out
}

/// For `ip=` on the kernel command line: the kernel configured the
/// interface, write resolv.conf from `/proc/net/pnp` (`extra_nameservers`
/// first). Returns what was found.
pub fn resolv_conf_from_pnp(
    pnp: &Path,
    resolv_conf: &Path,
    extra_nameservers: &[IpAddr],
) -> std::io::Result<PnpConfig> {
    let cfg = parse_pnp(&std::fs::read_to_string(pnp)?);
    let mut nameservers = extra_nameservers.to_vec();
    nameservers.extend(cfg.nameservers.iter().copied());
    let search: Vec<String> = cfg.domain.iter().cloned().collect();
    write_resolv_conf(
        resolv_conf,
        "kernel ip= configuration",
        &nameservers,
        &search,
    )?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_text() {
        let text = resolv_conf_contents(
            "DHCP lease on eth0",
            &[
                "9.9.9.9".parse().unwrap(),
                "10.0.2.3".parse().unwrap(),
                "9.9.9.9".parse().unwrap(),
            ],
            &["example.test".to_string(), "corp.test".to_string()],
        );
        assert_eq!(
            text,
            "# Written by boot2container (DHCP lease on eth0)\n\
             search example.test corp.test\n\
             nameserver 9.9.9.9\n\
             nameserver 10.0.2.3\n"
        );
        let empty = resolv_conf_contents("x", &[], &[]);
        assert_eq!(empty, "# Written by boot2container (x)\n");
    }

    #[test]
    fn resolv_conf_written_atomically() {
        let dir = std::env::temp_dir().join(format!("b2c-resolv-{}", std::process::id()));
        let path = dir.join("etc/resolv.conf");
        write_resolv_conf(&path, "test", &["1.1.1.1".parse().unwrap()], &[]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("nameserver 1.1.1.1"));
        let entries: Vec<_> = std::fs::read_dir(dir.join("etc")).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pnp_parsing() {
        let cfg = parse_pnp(
            "#PROTO: DHCP\ndomain example.test\nnameserver 10.0.2.3\nnameserver 0.0.0.0\n\
             nameserver 10.0.2.3\nbootserver 10.0.2.2\nnameserver bogus\n",
        );
        assert_eq!(cfg.domain.as_deref(), Some("example.test"));
        assert_eq!(cfg.nameservers, vec!["10.0.2.3".parse::<IpAddr>().unwrap()]);
        assert_eq!(parse_pnp(""), PnpConfig::default());
    }
}
