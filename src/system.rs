//! Early set-up of the system (SPEC section 2, step 1) and runtime information.
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

/// Facts about the machine printed at boot (SPEC section 2, step 2).
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
}
