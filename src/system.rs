//! Early set-up of the system (README.md, *How it boots*, step 1) and runtime
//! information.
//!
//! The initramfs root cannot be the old root of `pivot_root(2)` (the kernel
//! refuses: the root mount has no parent), which crun needs. Rather than
//! copying the whole initramfs into a fresh tmpfs (about 50 MB, 1 to 1.5 s
//! under TCG) we bind-mount the root onto a directory of itself and move that
//! mount over `/`: the new root is a mount with a parent, on the same files,
//! for the cost of three system calls.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::unistd::{chdir, chroot};
use thiserror::Error;
use tracing::{info, warn};

use crate::console::Section;

/// An early set-up step that failed.
#[derive(Debug, Error)]
pub enum SetupError {
    /// A mount failed.
    #[error("cannot mount {what} on {target}: {source}")]
    Mount {
        what: String,
        target: String,
        source: nix::Error,
    },
    /// A file or directory operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: io::Error,
    },
    /// Moving the root off the initramfs failed.
    #[error("cannot move the root off the initramfs ({step}): {source}")]
    MoveRoot {
        step: &'static str,
        source: nix::Error,
    },
}

fn mkdir(path: &str) -> Result<(), SetupError> {
    fs::create_dir_all(path).map_err(|source| SetupError::Io {
        action: "cannot create directory",
        path: path.to_string(),
        source,
    })
}

fn is_mountpoint(path: &str) -> bool {
    fs::read_to_string("/proc/self/mountinfo")
        .map(|s| s.lines().any(|l| l.split(' ').nth(4) == Some(path)))
        .unwrap_or(false)
}

fn mount_fs(
    fstype: &str,
    target: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), SetupError> {
    mkdir(target)?;
    mount(Some(fstype), target, Some(fstype), flags, data).map_err(|source| SetupError::Mount {
        what: fstype.to_string(),
        target: target.to_string(),
        source,
    })
}

/// Makes the root a bind mount of the initramfs (see the module docs).
/// Must run before anything else is mounted.
pub fn move_root_off_initramfs() -> Result<(), SetupError> {
    const NEW_ROOT: &str = "/.b2c-root";
    mkdir(NEW_ROOT)?;
    mount(
        Some("/"),
        NEW_ROOT,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|source| SetupError::MoveRoot {
        step: "bind / onto itself",
        source,
    })?;
    chdir(NEW_ROOT).map_err(|source| SetupError::MoveRoot {
        step: "chdir",
        source,
    })?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>).map_err(|source| {
        SetupError::MoveRoot {
            step: "move over /",
            source,
        }
    })?;
    chroot(".").map_err(|source| SetupError::MoveRoot {
        step: "chroot",
        source,
    })?;
    chdir("/").map_err(|source| SetupError::MoveRoot {
        step: "chdir /",
        source,
    })?;
    let _ = fs::remove_dir(NEW_ROOT);
    Ok(())
}

/// What the root tmpfs leaves of the RAM: the larger of 64 MiB and an
/// eighth of the RAM, for the kernel and the processes.
fn root_reserve_kib(ram_kib: u64) -> u64 {
    (64 * 1024).max(ram_kib / 8)
}

/// The size the root tmpfs is given: the RAM less [`root_reserve_kib`],
/// never less than what the kernel gave it (`current_kib`).
fn root_size_kib(ram_kib: u64, current_kib: u64) -> u64 {
    ram_kib
        .saturating_sub(root_reserve_kib(ram_kib))
        .max(current_kib)
}

/// Gives the root file system, when it is the kernel's tmpfs, most of the
/// RAM instead of the half the kernel gives it: without a cache disk the
/// images and volumes live on it, and with the unpacked archive (about
/// 55 MB) a 192 MB machine had less than 1 MB left for them. With
/// `rootfstype=ramfs` the root has no limit and nothing changes. A failure
/// is a warning: the boot goes on with the kernel's size.
pub fn grow_root_tmpfs() {
    use nix::sys::statfs::{statfs, TMPFS_MAGIC};
    let Ok(root) = statfs("/") else { return };
    if root.filesystem_type() != TMPFS_MAGIC {
        return;
    }
    let Ok(info) = nix::sys::sysinfo::sysinfo() else {
        return;
    };
    let ram_kib = info.ram_total() / 1024;
    let current_kib = root.blocks() * root.block_size() as u64 / 1024;
    let size_kib = root_size_kib(ram_kib, current_kib);
    if size_kib == current_kib {
        return;
    }
    let options = format!("size={size_kib}k");
    match mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REMOUNT,
        Some(options.as_str()),
    ) {
        Ok(()) => info!(
            "Root file system (tmpfs): {} MiB instead of the kernel's {} MiB ({} MiB of RAM, {} MiB kept for the kernel and the processes)",
            size_kib / 1024,
            current_kib / 1024,
            ram_kib / 1024,
            root_reserve_kib(ram_kib) / 1024
        ),
        Err(e) => warn!("Cannot resize the root tmpfs to {options}: {e}; it keeps the kernel's {} MiB", current_kib / 1024),
    }
}

/// Mounts the pseudo filesystems and tmpfs directories podman and crun need,
/// and enables every cgroup controller for the containers.
pub fn mount_early_filesystems() -> Result<(), SetupError> {
    let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if !is_mountpoint("/dev") {
        mount_fs("devtmpfs", "/dev", MsFlags::MS_NOSUID, Some("mode=0755"))?;
    }
    mount_fs("proc", "/proc", nosuid_nodev_noexec, None)?;
    mount_fs("sysfs", "/sys", nosuid_nodev_noexec, None)?;
    mount_fs(
        "devpts",
        "/dev/pts",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("gid=5,mode=620,ptmxmode=666"),
    )?;
    mount_fs(
        "tmpfs",
        "/dev/shm",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    mount_fs(
        "tmpfs",
        "/run",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    )?;
    mount_fs(
        "tmpfs",
        "/tmp",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    mount_fs(
        "tmpfs",
        "/var/tmp",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    mount_fs(
        "cgroup2",
        "/sys/fs/cgroup",
        nosuid_nodev_noexec,
        Some("nsdelegate"),
    )?;
    enable_cgroup_controllers(Path::new("/sys/fs/cgroup"))?;
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/etc/mtab", "/proc/self/mounts"),
    ] {
        if fs::symlink_metadata(link).is_err() {
            symlink(target, link).map_err(|source| SetupError::Io {
                action: "cannot create symlink",
                path: link.to_string(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Writes `+controller` for every available controller into
/// `cgroup.subtree_control` of `root`.
pub fn enable_cgroup_controllers(root: &Path) -> Result<(), SetupError> {
    let available = root.join("cgroup.controllers");
    let list = fs::read_to_string(&available).map_err(|source| SetupError::Io {
        action: "cannot read",
        path: available.display().to_string(),
        source,
    })?;
    let control = root.join("cgroup.subtree_control");
    let wanted = subtree_control_line(&list);
    if wanted.is_empty() {
        return Ok(());
    }
    fs::write(&control, wanted).map_err(|source| SetupError::Io {
        action: "cannot enable cgroup controllers in",
        path: control.display().to_string(),
        source,
    })
}

/// `cpu memory pids` -> `+cpu +memory +pids`.
fn subtree_control_line(controllers: &str) -> String {
    controllers
        .split_whitespace()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Facts about the machine printed at boot (README.md, *How it boots*, step 2).
#[derive(Debug, Clone, Default)]
pub struct RuntimeInfo {
    pub kernel: String,
    pub arch: String,
    pub cpu: String,
    pub cpus: usize,
    pub ram_mib: u64,
    /// `name (size)` of each block device.
    pub block_devices: Vec<String>,
}

/// Reads [`RuntimeInfo`] from uname, /proc and /sys.
pub fn runtime_info() -> RuntimeInfo {
    let uts = nix::sys::utsname::uname().ok();
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    RuntimeInfo {
        kernel: uts
            .as_ref()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        arch: uts
            .as_ref()
            .map(|u| u.machine().to_string_lossy().into_owned())
            .unwrap_or_default(),
        cpu: cpu_model(&cpuinfo),
        cpus: cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count(),
        ram_mib: mem_total_kib(&meminfo) / 1024,
        block_devices: block_devices(Path::new("/sys/block")),
    }
}

fn cpu_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name") || l.starts_with("Model"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

fn mem_total_kib(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn block_devices(sys_block: &Path) -> Vec<String> {
    let mut devices: Vec<String> = fs::read_dir(sys_block)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with("loop") || name.starts_with("ram") {
                        return None;
                    }
                    let sectors: u64 = fs::read_to_string(e.path().join("size"))
                        .ok()?
                        .trim()
                        .parse()
                        .ok()?;
                    Some(format!("{name} ({})", human_size(sectors * 512)))
                })
                .collect()
        })
        .unwrap_or_default();
    devices.sort();
    devices
}

/// `1536` -> `1.5 KiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The default `b2c.hostname`.
pub const DEFAULT_HOSTNAME: &str = "boot2container";

/// Prints [`runtime_info`] in its console section, and returns it.
pub fn print_runtime_info() -> RuntimeInfo {
    let _section = Section::step(crate::console::Step::RuntimeInfo);
    let info = runtime_info();
    info!(
        "boot2container {} ({})",
        env!("CARGO_PKG_VERSION"),
        info.arch
    );
    info!("Linux {}", info.kernel);
    info!("CPU: {} ({} cores)", info.cpu, info.cpus);
    info!("RAM: {} MiB", info.ram_mib);
    if info.block_devices.is_empty() {
        info!("Block devices: none");
    } else {
        info!("Block devices: {}", info.block_devices.join(", "));
    }
    info
}

/// Where each archive of the initramfs leaves its unpack markers: the
/// build writes `NAME.begin` as the archive's first file and `NAME.end` as
/// its last one (scripts/build-initramfs).
pub const ARCHIVE_MARKERS: &str = "/usr/lib/b2c/archives";

/// The archives the kernel began to unpack but did not finish: a `.begin`
/// marker in `dir` without its `.end`, sorted. The kernel stops unpacking at
/// its first error (the root file system full, out of memory, a corrupted
/// download) and runs `/init` all the same.
pub fn partly_unpacked(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut partial: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.strip_suffix(".begin")?.to_string();
            (!dir.join(format!("{name}.end")).exists()).then_some(name)
        })
        .collect();
    partial.sort();
    partial
}

/// The kernel's own word on why the unpacking stopped: the text after
/// "Initramfs unpacking failed: " in its log, when the log still has it.
pub fn unpack_failure_from_kernel_log() -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut kmsg = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .ok()?;
    // One record per read(2); EAGAIN at the end of the log.
    let mut record = vec![0u8; 8192];
    let mut found = None;
    for _ in 0..100_000 {
        match kmsg.read(&mut record) {
            Ok(0) => break,
            Ok(n) => {
                if let Some(reason) = unpack_failure(&String::from_utf8_lossy(&record[..n])) {
                    found = Some(reason);
                }
            }
            // EPIPE: a record was overwritten while reading; go on.
            Err(e) if e.raw_os_error() == Some(nix::libc::EPIPE) => continue,
            Err(_) => break,
        }
    }
    found
}

/// The reason in one kernel log record ("6,301,7558023,-;Initramfs unpacking
/// failed: write error"), if it is the unpack failure.
fn unpack_failure(record: &str) -> Option<String> {
    let text = record.split_once(';').map_or(record, |(_, t)| t);
    let reason = text
        .lines()
        .next()?
        .split_once("Initramfs unpacking failed: ")?
        .1;
    Some(reason.trim().to_string())
}

/// The error line for archives the kernel did not finish unpacking.
pub fn partly_unpacked_message(partial: &[String], reason: Option<&str>, ram_mib: u64) -> String {
    let reason = reason.map_or_else(
        || "the kernel stopped at an error".to_string(),
        |r| format!("the kernel said \"Initramfs unpacking failed: {r}\""),
    );
    format!(
        "The initramfs was only partly unpacked (archive {}: {reason}): files are missing, nothing can run reliably. \
         With {ram_mib} MiB of RAM the kernel's root file system (a tmpfs of half the RAM) is likely too small for it: \
         give the machine more RAM (see the README's Memory paragraph), or add rootfstype=ramfs to the kernel command line",
        partial.join(", ")
    )
}

/// `b2c.hostname`: the kernel's host name, /etc/hostname and /etc/hosts.
/// Failures are warnings.
pub fn set_hostname(name: &str) {
    if let Err(e) = nix::unistd::sethostname(name) {
        warn!("Cannot set the hostname to {name}: {e}");
    }
    if let Err(e) = fs::write("/etc/hostname", format!("{name}\n")) {
        warn!("Cannot write /etc/hostname: {e}");
    }
    if let Err(e) = fs::write("/etc/hosts", hosts_file(name)) {
        warn!("Cannot write /etc/hosts: {e}");
    }
}

/// The text of /etc/hosts for the host name `name`.
fn hosts_file(name: &str) -> String {
    format!("127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_tmpfs_gets_the_ram_less_a_reserve_never_less_than_before() {
        // A 192 MB VM (139 MiB for Linux): 64 MiB kept, 75 MiB for the root.
        assert_eq!(root_size_kib(142_948, 71_474), 142_948 - 65_536);
        // 1 GiB: an eighth kept.
        assert_eq!(root_size_kib(1 << 20, 1 << 19), (1 << 20) - (1 << 17));
        // A tiny machine: never smaller than the kernel made it.
        assert_eq!(root_size_kib(100_000, 50_000), 50_000);
    }

    #[test]
    fn an_archive_without_its_end_marker_is_partly_unpacked() {
        let dir = std::env::temp_dir().join(format!("b2c-markers-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for f in ["initramfs.begin", "initramfs.end", "hardware.begin"] {
            fs::write(dir.join(f), "").unwrap();
        }
        assert_eq!(partly_unpacked(&dir), vec!["hardware".to_string()]);
        fs::write(dir.join("hardware.end"), "").unwrap();
        assert!(partly_unpacked(&dir).is_empty());
        fs::remove_file(dir.join("initramfs.end")).unwrap();
        assert_eq!(partly_unpacked(&dir), vec!["initramfs".to_string()]);
        fs::remove_dir_all(&dir).unwrap();
        // An archive built without markers, or no directory at all.
        assert!(partly_unpacked(Path::new("/nonexistent/b2c-markers")).is_empty());
    }

    #[test]
    fn the_unpack_failure_is_read_from_a_kernel_log_record() {
        assert_eq!(
            unpack_failure("3,301,7558023,-;Initramfs unpacking failed: write error\n").as_deref(),
            Some("write error")
        );
        assert_eq!(
            unpack_failure("6,302,7558100,-;Freeing initrd memory: 17728K\n"),
            None
        );
        let line = partly_unpacked_message(&["initramfs".into()], Some("write error"), 107);
        assert!(
            line.contains(
                "archive initramfs: the kernel said \"Initramfs unpacking failed: write error\""
            ),
            "{line}"
        );
        assert!(
            line.contains("With 107 MiB of RAM") && line.contains("rootfstype=ramfs"),
            "{line}"
        );
    }

    #[test]
    fn controllers_line() {
        assert_eq!(
            subtree_control_line("cpuset cpu io memory pids\n"),
            "+cpuset +cpu +io +memory +pids"
        );
        assert_eq!(subtree_control_line(""), "");
    }

    #[test]
    fn controllers_are_written() {
        let dir = std::env::temp_dir().join(format!("b2c-cgroup-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("cgroup.controllers"), "cpu memory\n").unwrap();
        enable_cgroup_controllers(&dir).unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap(),
            "+cpu +memory"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_cgroup_dir_names_the_file() {
        let err = enable_cgroup_controllers(Path::new("/nonexistent-b2c")).unwrap_err();
        assert!(
            err.to_string()
                .contains("/nonexistent-b2c/cgroup.controllers"),
            "{err}"
        );
    }

    #[test]
    fn cpu_and_memory_parsing() {
        assert_eq!(
            cpu_model("processor\t: 0\nmodel name\t: QEMU TCG CPU version 2.5+\n"),
            "QEMU TCG CPU version 2.5+"
        );
        assert_eq!(cpu_model(""), "unknown");
        assert_eq!(
            mem_total_kib("MemTotal:        2030000 kB\nMemFree: 1 kB\n"),
            2030000
        );
        assert_eq!(mem_total_kib("garbage"), 0);
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(8 * 1024 * 1024 * 1024), "8.0 GiB");
    }

    #[test]
    fn hosts_name_the_machine() {
        assert_eq!(
            hosts_file("plop"),
            "127.0.0.1\tlocalhost\n127.0.1.1\tplop\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        );
    }
}
