//! Mounting and unmounting: `b2c.filesystem` (a named filesystem mounted with
//! mount(2) directly, NFS included: no mount.nfs helper), and unmounting
//! what the init mounted, with what is mounted below it, in a bounded time.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::time::Duration;

use std::path::PathBuf;
use std::time::Instant;

use nix::mount::{MntFlags, MsFlags};
use tracing::{info, warn};

use super::Storage;
use crate::cmdline::Filesystem;

/// How long one mount(2) may take (an NFS server that does not answer).
pub const MOUNT_TIMEOUT: Duration = Duration::from_secs(60);
/// The NFS options added unless the filesystem's own options say `hard`:
/// a server that vanishes makes I/O fail (EIO) after about 100 s (timeo is
/// in tenths of a second and grows by itself at each of the retrans tries
/// over TCP: 10 + 20 + 30 + 40 s) instead of hanging the job, its clean-up
/// and the shutdown for ever. `timeo=` or `retrans=` given by the user win.
pub const NFS_SOFT_OPTIONS: [&str; 3] = ["soft", "timeo=100", "retrans=3"];
/// How long to wait for a local source device to appear.
pub const DEVICE_WAIT: Duration = super::DEVICE_WAIT;
/// How long an unmount is retried while the filesystem is busy.
const BUSY_WAIT: Duration = Duration::from_secs(2);
/// The pause between two tries.
const BUSY_PAUSE: Duration = Duration::from_millis(100);

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
    if !has_key(&data, &["hard", "soft", "softerr"]) {
        data.push(NFS_SOFT_OPTIONS[0].to_string());
    }
    if !has_key(&data, &["hard"]) {
        for opt in &NFS_SOFT_OPTIONS[1..] {
            let key = opt.split('=').next().unwrap_or(opt);
            if !has_key(&data, &[key]) {
                data.push(opt.to_string());
            }
        }
    }
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
    let (source, target, fstype, data) = (
        source.to_string(),
        target.to_path_buf(),
        fstype.to_string(),
        data.to_string(),
    );
    let mounted = crate::runtime::within("mount", limit, move || {
        let data = (!data.is_empty()).then_some(data.as_str());
        nix::mount::mount(
            Some(source.as_str()),
            &target,
            Some(fstype.as_str()),
            flags,
            data,
        )
    });
    match mounted {
        Ok(r) => r.map_err(io::Error::from),
        Err(e) => Err(io::Error::new(io::ErrorKind::TimedOut, e.to_string())),
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

impl Storage {
    /// Unmounts our mounts, newest first, with everything mounted below them;
    /// only lazily (detached, nothing waited for) when `synced` is false.
    pub(super) fn unmount_all(&mut self, synced: bool) {
        let mounts = std::mem::take(&mut self.mounts);
        if mounts.is_empty() {
            return;
        }
        for target in mounts.iter().rev() {
            let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            for below in submounts(&table, target) {
                unmount(&below, synced);
            }
            unmount(target, synced);
        }
        if self.cache.take().is_some() {
            info!("Cache unmounted");
        }
    }
}

/// Mount points strictly below `target` in a mountinfo table, deepest (most
/// recent) first.
pub fn submounts(mountinfo: &str, target: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p != target && p.starts_with(target))
        .collect();
    out.reverse();
    out.dedup();
    out
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Filesystem types whose unmount talks to a server (and may wait for it
/// for ever when it is gone).
const NETWORK_TYPES: &[&str] = &["nfs", "nfs4", "cifs", "smb3", "9p", "ceph", "glusterfs"];
/// How long each step of a network filesystem's unmount may take.
pub const NETWORK_UNMOUNT_LIMIT: Duration = Duration::from_secs(10);

/// The type of the filesystem mounted at `target` (the last mount there),
/// from a mountinfo table.
pub fn mounted_type(mountinfo: &str, target: &Path) -> Option<String> {
    mountinfo
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|p| Path::new(&unescape_mountinfo(p)) == target)
        })
        .filter_map(|l| l.split(" - ").nth(1)?.split(' ').next().map(str::to_string))
        .next_back()
}

/// Unmounts a network filesystem whatever its server does: umount(2) with
/// MNT_FORCE (which aborts the requests waiting for the server), then, if
/// that failed or did not return within [`NETWORK_UNMOUNT_LIMIT`], a lazy
/// detach; each in a thread of its own, waited for with that limit.
fn unmount_network(path: &Path, fstype: &str) {
    let target = path.to_path_buf();
    let forced = crate::runtime::within("umount", NETWORK_UNMOUNT_LIMIT, move || {
        nix::mount::umount2(&target, MntFlags::MNT_FORCE)
    });
    let why = match forced {
        Ok(Ok(())) | Ok(Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT)) => return,
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    // A forced unmount that timed out may have left the namespace already
    // (the server is then only waited for by that thread): detach otherwise.
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if mounted_type(&table, path).is_none() {
        warn!(
            "Unmounting {} ({fstype}) is still waiting for its server ({why}): left behind",
            path.display()
        );
        return;
    }
    warn!(
        "Cannot unmount {} ({fstype}): {why}; detaching it",
        path.display()
    );
    let target = path.to_path_buf();
    let detached = crate::runtime::within("umount", NETWORK_UNMOUNT_LIMIT, move || {
        nix::mount::umount2(&target, MntFlags::MNT_DETACH)
    });
    match detached {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!("Cannot detach {}: {e}", path.display()),
        Err(e) => warn!("Cannot detach {}: {e}", path.display()),
    }
}

/// umount(2), retried for up to [`BUSY_WAIT`] while busy; then a read-only remount
/// (so the filesystem is clean) and a lazy detach. Only the detach when
/// `wait` is false. A network filesystem (NFS, CIFS...) is unmounted with
/// MNT_FORCE then detached, each bounded (its server may be gone).
pub fn unmount(path: &Path, wait: bool) {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some(fstype) = mounted_type(&table, path) {
        if NETWORK_TYPES.contains(&fstype.as_str()) {
            unmount_network(path, &fstype);
            return;
        }
    }
    if !wait {
        if let Err(e) = nix::mount::umount2(path, MntFlags::MNT_DETACH) {
            warn!("Cannot detach {}: {e}", path.display());
        }
        return;
    }
    let deadline = Instant::now() + BUSY_WAIT;
    loop {
        match nix::mount::umount2(path, MntFlags::empty()) {
            Ok(()) => return,
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => return,
            Err(nix::errno::Errno::EBUSY) if Instant::now() < deadline => {
                std::thread::sleep(BUSY_PAUSE);
            }
            Err(e) => {
                warn!(
                    "Cannot unmount {}: {e}; remounting it read-only and detaching it",
                    path.display()
                );
                let _ = nix::mount::mount(
                    None::<&str>,
                    path,
                    None::<&str>,
                    MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None::<&str>,
                );
                if let Err(e) = nix::mount::umount2(path, MntFlags::MNT_DETACH) {
                    warn!("Cannot detach {}: {e}", path.display());
                }
                return;
            }
        }
    }
}

#[cfg(test)]
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
        assert_eq!(
            p.data,
            "nolock,soft,timeo=100,retrans=3,addr=10.0.2.2,clientaddr=10.0.2.15"
        );
        assert_eq!(p.nfs_versions, ["4.2", "4.1", "4.0"]);
        // The user's own version and addresses win; no type needed.
        let p = plan(
            &fs("10.0.2.2:/x", None, &["vers=4.1", "clientaddr=1.2.3.4"]),
            |h| h.parse().map_err(io::Error::other),
            |_| Some(ip("10.0.2.15")),
        )
        .unwrap();
        assert_eq!(
            p.data,
            "vers=4.1,clientaddr=1.2.3.4,soft,timeo=100,retrans=3,addr=10.0.2.2"
        );
        assert!(p.nfs_versions.is_empty());
        let p = plan(
            &fs("h:/x", Some("nfs"), &["vers=3"]),
            |_| Ok(ip("1.1.1.1")),
            |_| None,
        )
        .unwrap();
        assert_eq!(
            (p.fstype.as_str(), p.data.as_str()),
            ("nfs", "vers=3,soft,timeo=100,retrans=3,addr=1.1.1.1")
        );
        let p = plan(
            &fs("[fd00::1]:/x", Some("nfs4"), &[]),
            |h| h.parse().map_err(io::Error::other),
            |_| None,
        )
        .unwrap();
        assert_eq!(p.data, "soft,timeo=100,retrans=3,addr=fd00::1");
    }

    /// A vanished NFS server must make I/O fail, not hang the job: `soft`
    /// with bounded retries, unless the user asks for `hard`; the user's
    /// own `timeo=`/`retrans=` win.
    #[test]
    fn nfs_is_soft_unless_hard_is_asked() {
        let data = |opts: &[&str]| {
            plan(
                &fs("h:/x", Some("nfs"), opts),
                |_| Ok(ip("1.1.1.1")),
                |_| None,
            )
            .unwrap()
            .data
        };
        assert_eq!(data(&[]), "soft,timeo=100,retrans=3,addr=1.1.1.1");
        assert_eq!(data(&["hard"]), "hard,addr=1.1.1.1");
        assert_eq!(data(&["hard", "timeo=600"]), "hard,timeo=600,addr=1.1.1.1");
        assert_eq!(
            data(&["timeo=20", "retrans=1"]),
            "timeo=20,retrans=1,soft,addr=1.1.1.1"
        );
        assert_eq!(data(&["soft"]), "soft,timeo=100,retrans=3,addr=1.1.1.1");
        assert_eq!(
            data(&["softerr", "retrans=5"]),
            "softerr,retrans=5,timeo=100,addr=1.1.1.1"
        );
        // Not NFS: nothing added.
        let local = plan(
            &fs("/dev/vdb1", Some("ext4"), &[]),
            |_| unreachable!(),
            |_| None,
        );
        assert_eq!(local.unwrap().data, "");
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
    fn the_type_of_a_mount_point() {
        let table = "22 1 0:20 / / rw - tmpfs tmpfs rw\n\
            30 22 0:60 / /var/lib/containers/storage/volumes/job/_data rw - nfs4 10.0.2.2:/export rw,soft\n\
            31 22 0:61 / /with\\040space rw - cifs //h/s rw\n\
            32 22 253:1 / /storage rw - ext4 /dev/vda1 rw\n\
            33 22 0:62 / /storage rw - nfs 10.0.2.2:/x rw\n";
        assert_eq!(
            mounted_type(
                table,
                Path::new("/var/lib/containers/storage/volumes/job/_data")
            )
            .as_deref(),
            Some("nfs4")
        );
        assert_eq!(
            mounted_type(table, Path::new("/with space")).as_deref(),
            Some("cifs")
        );
        // The last mount on a path is the one in use.
        assert_eq!(
            mounted_type(table, Path::new("/storage")).as_deref(),
            Some("nfs")
        );
        assert_eq!(mounted_type(table, Path::new("/nope")), None);
    }

    #[test]
    fn submounts_deepest_first() {
        let table = "22 1 0:20 / / rw - tmpfs tmpfs rw\n\
            30 22 253:1 / /storage rw - ext4 /dev/vda1 rw\n\
            31 22 253:1 /containers /var/lib/containers rw - ext4 /dev/vda1 rw\n\
            40 31 0:50 / /var/lib/containers/storage/overlay rw - ext4 /dev/vda1 rw\n\
            41 40 0:51 / /var/lib/containers/storage/overlay/abc/merged rw - overlay overlay rw\n\
            42 22 0:52 / /var/lib/containers2 rw - tmpfs tmpfs rw\n\
            43 22 0:53 / /storage/with\\040space rw - tmpfs tmpfs rw\n";
        assert_eq!(
            submounts(table, Path::new("/var/lib/containers")),
            [
                PathBuf::from("/var/lib/containers/storage/overlay/abc/merged"),
                PathBuf::from("/var/lib/containers/storage/overlay")
            ]
        );
        assert_eq!(
            submounts(table, Path::new("/storage")),
            [PathBuf::from("/storage/with space")]
        );
    }
}
