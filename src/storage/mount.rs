//! `b2c.filesystem`: mounting a named filesystem with mount(2) directly, NFS
//! included (no mount.nfs helper), and the runtime storage.conf.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use nix::mount::MsFlags;

use crate::cmdline::Filesystem;

/// How long one mount(2) may take (an NFS server that does not answer).
pub const MOUNT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for a local source device to appear.
pub const DEVICE_WAIT: Duration = Duration::from_secs(10);

/// Errors mounting a `b2c.filesystem`.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// `cache_device=NAME` or `filesystem=NAME` names no `b2c.filesystem`.
    #[error("no b2c.filesystem is named \"{0}\"")]
    Unknown(String),
    /// The server's name did not resolve.
    #[error("b2c.filesystem={name}: cannot resolve {host}: {reason}")]
    Resolve {
        /// The filesystem's name.
        name: String,
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The source is malformed or missing.
    #[error("b2c.filesystem={name}: {reason}")]
    Source {
        /// The filesystem's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// mount(2) failed.
    #[error("b2c.filesystem={name}: cannot mount {src} ({fstype}) on {target}: {source}")]
    Mount {
        /// The filesystem's name.
        name: String,
        /// Its source.
        src: String,
        /// The type given to mount(2).
        fstype: String,
        /// The mount point.
        target: String,
        /// The cause.
        source: io::Error,
    },
}

/// What is handed to mount(2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlan {
    /// The source.
    pub source: String,
    /// The filesystem type.
    pub fstype: String,
    /// Mount flags from the options (ro, nosuid, ...).
    pub flags: MsFlags,
    /// The remaining options, comma-separated.
    pub data: String,
    /// For NFS without an explicit version: the versions to try in turn.
    pub nfs_versions: Vec<&'static str>,
}

/// Splits mount options into mount(2) flags and filesystem data.
pub fn split_options(opts: &[String]) -> (MsFlags, Vec<String>) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in opts {
        match o.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags.remove(MsFlags::MS_RDONLY),
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "dirsync" => flags |= MsFlags::MS_DIRSYNC,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "lazytime" => flags |= MsFlags::MS_LAZYTIME,
            "suid" | "dev" | "exec" | "async" | "atime" | "defaults" | "auto" | "noauto"
            | "nofail" | "_netdev" | "user" | "nouser" => {}
            other => data.push(other.to_string()),
        }
    }
    (flags, data)
}

/// True for an NFS filesystem (by type, or by a `host:/path` source).
pub fn is_nfs(fs: &Filesystem) -> bool {
    match fs.fstype.as_deref() {
        Some(t) => t.starts_with("nfs"),
        None => !fs.src.starts_with('/') && fs.src.contains(":/"),
    }
}

/// True when mounting `fs` needs the network: NFS, CIFS, or an NBD device.
pub fn needs_network(fs: &Filesystem) -> bool {
    is_nfs(fs)
        || matches!(
            fs.fstype.as_deref(),
            Some("cifs" | "smb3" | "9p" | "ceph" | "glusterfs")
        )
        || fs.src.starts_with("/dev/nbd")
}

/// Splits an NFS source `host:/path` (`[v6]:/path` for IPv6).
pub fn nfs_host(src: &str) -> Option<&str> {
    if let Some(rest) = src.strip_prefix('[') {
        let (host, path) = rest.split_once("]:")?;
        return (!host.is_empty() && path.starts_with('/')).then_some(host);
    }
    let (host, path) = src.split_once(':')?;
    (!host.is_empty() && path.starts_with('/')).then_some(host)
}

fn has_key(data: &[String], keys: &[&str]) -> bool {
    data.iter()
        .any(|d| keys.contains(&d.split('=').next().unwrap_or(d.as_str())))
}

/// The mount(2) arguments for `fs`. `resolve` turns a host name into an
/// address; `local_for` gives our own address towards a server.
pub fn plan(
    fs: &Filesystem,
    resolve: impl Fn(&str) -> io::Result<IpAddr>,
    local_for: impl Fn(IpAddr) -> Option<IpAddr>,
) -> Result<MountPlan, MountError> {
    let (flags, mut data) = split_options(&fs.opts);
    if !is_nfs(fs) {
        return Ok(MountPlan {
            source: fs.src.clone(),
            fstype: fs.fstype.clone().unwrap_or_default(),
            flags,
            data: data.join(","),
            nfs_versions: Vec::new(),
        });
    }
    let host = nfs_host(&fs.src).ok_or_else(|| MountError::Source {
        name: fs.name.clone(),
        reason: format!("src \"{}\" is not HOST:/PATH", fs.src),
    })?;
    let addr = resolve(host).map_err(|e| MountError::Resolve {
        name: fs.name.clone(),
        host: host.to_string(),
        reason: e.to_string(),
    })?;
    let explicit_version = data
        .iter()
        .find_map(|d| {
            d.strip_prefix("vers=")
                .or_else(|| d.strip_prefix("nfsvers="))
        })
        .map(str::to_string);
    let mut versions = Vec::new();
    let fstype = match (&explicit_version, fs.fstype.as_deref()) {
        (Some(v), _) if !v.starts_with('4') => "nfs",
        (None, _) => {
            versions = vec!["4.2", "4.1", "4.0"];
            "nfs4"
        }
        _ => "nfs4",
    };
    if !has_key(&data, &["addr"]) {
        data.push(format!("addr={addr}"));
    }
    if fstype == "nfs4" && !has_key(&data, &["clientaddr"]) {
        if let Some(own) = local_for(addr) {
            data.push(format!("clientaddr={own}"));
        }
    }
    Ok(MountPlan {
        source: fs.src.clone(),
        fstype: fstype.to_string(),
        flags,
        data: data.join(","),
        nfs_versions: versions,
    })
}

/// Resolves a host name or an IP address (the resolver reads the
/// /etc/resolv.conf the network set-up wrote).
pub fn resolve_host(host: &str) -> io::Result<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    (host, 0)
        .to_socket_addrs()?
        .map(|a| a.ip())
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
}

/// Our own address towards `server` (a connected UDP socket sends nothing).
pub fn local_address_for(server: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().ok()?
    } else {
        "[::]:0".parse().ok()?
    };
    let sock = UdpSocket::bind(bind).ok()?;
    sock.connect(SocketAddr::new(server, 2049)).ok()?;
    sock.local_addr().ok().map(|a| a.ip())
}

/// mount(2) in a thread, waiting at most `limit` (a stuck NFS mount cannot
/// be interrupted, but the init goes on).
fn mount_bounded(
    source: &str,
    target: &Path,
    fstype: &str,
    flags: MsFlags,
    data: &str,
    limit: Duration,
) -> io::Result<()> {
    let (tx, rx) = mpsc::channel();
    let (source, target, fstype, data) = (
        source.to_string(),
        target.to_path_buf(),
        fstype.to_string(),
        data.to_string(),
    );
    std::thread::Builder::new()
        .name("mount".into())
        .spawn(move || {
            let data = (!data.is_empty()).then_some(data.as_str());
            let r = nix::mount::mount(
                Some(source.as_str()),
                &target,
                Some(fstype.as_str()),
                flags,
                data,
            );
            let _ = tx.send(r);
        })?;
    match rx.recv_timeout(limit) {
        Ok(r) => r.map_err(io::Error::from),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {} s", limit.as_secs()),
        )),
    }
}

/// Mounts `fs` on `target` (created if missing). `extra` flags are added
/// (MS_RDONLY for an image store).
pub fn mount_filesystem_with(
    fs: &Filesystem,
    target: &Path,
    extra: MsFlags,
) -> Result<(), MountError> {
    let mut plan = plan(fs, resolve_host, local_address_for)?;
    plan.flags |= extra;
    let fail = |fstype: &str, source: io::Error| MountError::Mount {
        name: fs.name.clone(),
        src: fs.src.clone(),
        fstype: fstype.to_string(),
        target: target.display().to_string(),
        source,
    };
    std::fs::create_dir_all(target).map_err(|e| fail("-", e))?;
    if plan.fstype.is_empty() || fs.src.starts_with("/dev/") {
        let dev = Path::new(&fs.src);
        if fs.src.starts_with("/dev/") && !super::disks::wait_path(dev, DEVICE_WAIT) {
            return Err(MountError::Source {
                name: fs.name.clone(),
                reason: format!(
                    "{} did not appear within {} s",
                    fs.src,
                    DEVICE_WAIT.as_secs()
                ),
            });
        }
        if plan.fstype.is_empty() {
            let probed = super::disks::probe_path(dev).ok().flatten();
            plan.fstype = probed
                .as_ref()
                .and_then(|c| c.fstype())
                .ok_or_else(|| MountError::Source {
                    name: fs.name.clone(),
                    reason: format!(
                        "cannot tell the filesystem type of {} ({}): add type=",
                        fs.src,
                        probed.map_or("no signature".to_string(), |c| c.to_string())
                    ),
                })?
                .to_string();
        }
    }
    if plan.nfs_versions.is_empty() {
        return mount_bounded(
            &plan.source,
            target,
            &plan.fstype,
            plan.flags,
            &plan.data,
            MOUNT_TIMEOUT,
        )
        .map_err(|e| fail(&plan.fstype, e));
    }
    let mut last = None;
    for v in &plan.nfs_versions {
        let data = if plan.data.is_empty() {
            format!("vers={v}")
        } else {
            format!("vers={v},{}", plan.data)
        };
        match mount_bounded(
            &plan.source,
            target,
            &plan.fstype,
            plan.flags,
            &data,
            MOUNT_TIMEOUT,
        ) {
            Ok(()) => return Ok(()),
            // The server does not do this minor version: try the next one.
            Err(e) if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) => last = Some(e),
            Err(e) => return Err(fail(&format!("{} vers={v}", plan.fstype), e)),
        }
    }
    Err(fail(
        &plan.fstype,
        last.unwrap_or_else(|| io::Error::other("no NFS version left")),
    ))
}

/// Mounts `fs` on `target` (for `cache_device=NAME` and volumes).
pub fn mount_filesystem(fs: &Filesystem, target: &Path) -> Result<(), MountError> {
    mount_filesystem_with(fs, target, MsFlags::empty())
}

/// storage.conf with `stores` as `additionalimagestores` in
/// `[storage.options]` (replacing the existing list, or adding one).
pub fn with_image_stores(conf: &str, stores: &[String]) -> String {
    let list = stores
        .iter()
        .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(", ");
    let line = format!("additionalimagestores = [{list}]");
    let mut out = Vec::new();
    let mut section = String::new();
    let mut done = false;
    let mut skipping = false;
    for l in conf.lines() {
        let t = l.trim();
        if skipping {
            // The rest of a multi-line list.
            if t.contains(']') {
                skipping = false;
            }
            continue;
        }
        if t.starts_with('[') {
            if section == "[storage.options]" && !done {
                out.push(line.clone());
                done = true;
            }
            section = t.to_string();
        }
        if section == "[storage.options]" && t.starts_with("additionalimagestores") {
            if !done {
                out.push(line.clone());
                done = true;
            }
            skipping = t.contains('[') && !t.contains(']');
            continue;
        }
        out.push(l.to_string());
    }
    if !done {
        if section != "[storage.options]" {
            out.push("[storage.options]".to_string());
        }
        out.push(line);
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fs(src: &str, fstype: Option<&str>, opts: &[&str]) -> Filesystem {
        Filesystem {
            name: "cache".into(),
            src: src.into(),
            fstype: fstype.map(str::to_string),
            opts: opts.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn nfs_plans() {
        let p = plan(
            &fs("w.fake:/export", Some("nfs"), &["ro", "nolock"]),
            |h| {
                assert_eq!(h, "w.fake");
                Ok(ip("10.0.2.2"))
            },
            |_| Some(ip("10.0.2.15")),
        )
        .unwrap();
        assert_eq!(p.fstype, "nfs4");
        assert_eq!(p.flags, MsFlags::MS_RDONLY);
        assert_eq!(p.data, "nolock,addr=10.0.2.2,clientaddr=10.0.2.15");
        assert_eq!(p.nfs_versions, ["4.2", "4.1", "4.0"]);
        // The user's own version and addresses win; no type needed.
        let p = plan(
            &fs("10.0.2.2:/x", None, &["vers=4.1", "clientaddr=1.2.3.4"]),
            |h| h.parse().map_err(io::Error::other),
            |_| Some(ip("10.0.2.15")),
        )
        .unwrap();
        assert_eq!(p.data, "vers=4.1,clientaddr=1.2.3.4,addr=10.0.2.2");
        assert!(p.nfs_versions.is_empty());
        let p = plan(
            &fs("h:/x", Some("nfs"), &["vers=3"]),
            |_| Ok(ip("1.1.1.1")),
            |_| None,
        )
        .unwrap();
        assert_eq!(
            (p.fstype.as_str(), p.data.as_str()),
            ("nfs", "vers=3,addr=1.1.1.1")
        );
        let p = plan(
            &fs("[fd00::1]:/x", Some("nfs4"), &[]),
            |h| h.parse().map_err(io::Error::other),
            |_| None,
        )
        .unwrap();
        assert_eq!(p.data, "addr=fd00::1");
    }

    #[test]
    fn nfs_errors_name_the_filesystem() {
        let e = plan(
            &fs("nohost", Some("nfs"), &[]),
            |_| Ok(ip("1.1.1.1")),
            |_| None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "b2c.filesystem=cache: src \"nohost\" is not HOST:/PATH"
        );
        let e = plan(
            &fs("bad.host:/x", Some("nfs"), &[]),
            |_| Err(io::Error::other("NXDOMAIN")),
            |_| None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "b2c.filesystem=cache: cannot resolve bad.host: NXDOMAIN"
        );
    }

    #[test]
    fn local_plans_and_network_needs() {
        let f = fs(
            "/dev/vdb1",
            Some("ext4"),
            &["noatime", "data=ordered", "defaults"],
        );
        let p = plan(&f, |_| unreachable!(), |_| None).unwrap();
        assert_eq!(p.flags, MsFlags::MS_NOATIME);
        assert_eq!(p.data, "data=ordered");
        assert!(!needs_network(&f));
        assert!(needs_network(&fs("/dev/nbd0", None, &[])));
        assert!(needs_network(&fs("h:/x", None, &[])));
        assert!(!needs_network(&fs("tmpfs", Some("tmpfs"), &[])));
    }

    #[test]
    fn storage_conf_rewrite() {
        let conf = "[storage]\ndriver = \"overlay\"\n\n[storage.options]\nadditionalimagestores = []\n\n[storage.options.overlay]\nmountopt = \"nodev\"\n";
        let out = with_image_stores(conf, &["/run/b2c/stores/a".into(), "/b".into()]);
        assert_eq!(out, "[storage]\ndriver = \"overlay\"\n\n[storage.options]\nadditionalimagestores = [\"/run/b2c/stores/a\", \"/b\"]\n\n[storage.options.overlay]\nmountopt = \"nodev\"\n");
        let multi = "[storage.options]\nadditionalimagestores = [\n \"/x\",\n]\nsize = \"1G\"\n";
        assert_eq!(
            with_image_stores(multi, &["/y".into()]),
            "[storage.options]\nadditionalimagestores = [\"/y\"]\nsize = \"1G\"\n"
        );
        let none =
            "[storage]\ndriver = \"overlay\"\n[storage.options.overlay]\nmountopt = \"nodev\"\n";
        assert_eq!(
            with_image_stores(none, &["/y".into()]),
            "[storage]\ndriver = \"overlay\"\n[storage.options.overlay]\nmountopt = \"nodev\"\n[storage.options]\nadditionalimagestores = [\"/y\"]\n"
        );
    }
}
