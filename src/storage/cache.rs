//! The cache policy: `b2c.cache_device=none|auto|reset|/dev/DISK|/dev/PART|FSNAME`
//! (docs/options.md), the scan of the disks for `auto`, partitioning and
//! `mkfs.ext4`, mounting the cache at /storage and putting podman's store
//! and /var/tmp on it.
//!
//! Safety rule of `auto`: a disk is only ever written when it is blank (no
//! partition table, no filesystem or volume signature, no data in the places
//! sampled), not removable, not read-only, not optical and not virtual
//! (loop, ram, zram, device-mapper, MD, an NBD not attached by `b2c.nbd`).
//! Removable disks are used when they already hold a B2C_CACHE partition,
//! but `auto` never formats them.
//!
//! Synchronous: the init runs it on the blocking pool (see [`crate::runtime`]).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::mount::MsFlags;
use tracing::{error, info, warn};

use super::disks::{self, CacheSpot, Consent, Disk};
use super::mount::{self, MountError};
use super::podman_conf::{self, Change};
use super::probe::{self, Content, CACHE_LABEL};
use super::{
    named_filesystem, Storage, CONTAINER_LINK, DEVICE_WAIT, PODMAN_DIR, STORAGE, STORAGE_CONF,
    VAR_TMP,
};
use crate::cmdline::{CacheDevice, Config};
use crate::system::human_size;
use crate::{process, runtime};

/// How long mkfs.ext4 may run.
const MKFS_LIMIT: Duration = Duration::from_secs(300);
/// The pause between two looks at the disks.
const SCAN_PAUSE: Duration = Duration::from_millis(250);
/// How long the disk list must stay the same before `auto` stops waiting.
const SCAN_SETTLE: Duration = Duration::from_secs(2);
/// How long a disk's device node may take to appear once sysfs lists it.
const NODE_WAIT: Duration = Duration::from_millis(500);

/// Why the cache could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The named device did not appear.
    #[error("b2c.cache_device={0}: the device did not appear within 10 s")]
    Missing(String),
    /// The device could not be read.
    #[error("cache device {device}: {action}: {source}")]
    Io {
        /// The device or path.
        device: String,
        /// What was attempted.
        action: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// A B2C_CACHE partition that does not hold an ext4 filesystem.
    #[error("the B2C_CACHE partition {device} holds {holds} instead of an ext4 filesystem: not reformatting it (b2c.cache_device=reset would)")]
    Corrupt {
        /// The partition.
        device: String,
        /// What it holds.
        holds: String,
    },
    /// Something that cannot be mounted as a cache.
    #[error("cache device {device}: cannot use it: it holds {holds}")]
    Unusable {
        /// The device.
        device: String,
        /// What it holds.
        holds: String,
    },
    /// mkfs.ext4 failed.
    #[error("cache device {device}: {source}")]
    Format {
        /// The device.
        device: String,
        /// The command's failure.
        source: crate::process::CommandError,
    },
    /// mount(2) failed.
    #[error("cache device {device}: cannot mount it ({fstype}) on /storage: {source}")]
    Mount {
        /// The device.
        device: String,
        /// The type tried.
        fstype: String,
        /// The cause.
        source: io::Error,
    },
    /// The named filesystem failed.
    #[error("{0}")]
    Filesystem(#[from] MountError),
}

/// The cache as mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    /// The device or `b2c.filesystem` name.
    pub source: String,
    /// Its filesystem type.
    pub fstype: String,
}

impl Storage {
    pub(super) fn setup_cache(&mut self, config: &Config) {
        let started = Instant::now();
        let result = match &config.cache_device {
            CacheDevice::None => {
                info!("No cache device (b2c.cache_device=none): images and volumes live in RAM");
                return;
            }
            CacheDevice::Auto => self.cache_auto(config, false),
            CacheDevice::Reset => self.cache_auto(config, true),
            CacheDevice::Device { path } => self.cache_device(path),
            CacheDevice::Filesystem { name } => self.cache_filesystem(config, name),
        };
        match result {
            Ok(Some(cache)) => {
                if let Err(e) = self.use_cache() {
                    error!("{e}; continuing without a cache (everything in RAM)");
                    self.unmount_all(true);
                    return;
                }
                let space = nix::sys::statvfs::statvfs(STORAGE)
                    .map(|v| {
                        let block = v.fragment_size();
                        format!(
                            "{} free of {}",
                            human_size(v.blocks_available() * block),
                            human_size(v.blocks() * block)
                        )
                    })
                    .unwrap_or_else(|e| format!("free space unknown: {e}"));
                info!(
                    "Cache: {} ({}) mounted at {STORAGE}, {space} (set up in {:.1} s)",
                    cache.source,
                    cache.fstype,
                    started.elapsed().as_secs_f64()
                );
                self.cache = Some(cache);
            }
            Ok(None) => info!("No cache: images and volumes live in RAM"),
            Err(e) => {
                error!("{e}; continuing without a cache (everything in RAM)");
                self.unmount_all(true);
            }
        }
    }

    /// `auto` and `reset`.
    fn cache_auto(&mut self, config: &Config, reset: bool) -> Result<Option<Cache>, CacheError> {
        let nbds: Vec<String> = config.nbds.iter().map(|n| n.device.clone()).collect();
        let scan = scan_disks(&nbds);
        if let Some((disk, spot)) = scan.cache {
            let dev = spot_dev(&disk, &spot);
            info!("Found the B2C_CACHE partition {}", dev.display());
            if reset {
                info!("b2c.cache_device=reset: reformatting {}", dev.display());
                format(&dev)?;
            }
            return self.mount_cache_partition(&dev).map(Some);
        }
        for skip in &scan.skipped {
            info!("{skip}");
        }
        let Some(disk) = scan.blank else {
            warn!(
                "b2c.cache_device={}: no B2C_CACHE partition and no blank disk: no cache",
                if reset { "reset" } else { "auto" }
            );
            return Ok(None);
        };
        info!(
            "Creating the cache on the blank disk /dev/{} ({})",
            disk.name,
            human_size(disk.size)
        );
        self.create_cache_on_disk(&disk.name, Consent::Blank)
            .map(Some)
    }

    fn create_cache_on_disk(&mut self, disk: &str, consent: Consent) -> Result<Cache, CacheError> {
        let part = disks::partition_for_cache(disk, consent, DEVICE_WAIT).map_err(|source| {
            CacheError::Io {
                device: format!("/dev/{disk}"),
                action: "partitioning",
                source,
            }
        })?;
        let dev = part.dev();
        format(&dev)?;
        self.mount_block(&dev, "ext4")
    }

    /// Mounts a B2C_CACHE partition: its ext4 filesystem; a partition that
    /// was created but never formatted (all zeros) is formatted; anything
    /// else is an error, never reformatted.
    fn mount_cache_partition(&mut self, dev: &Path) -> Result<Cache, CacheError> {
        let name = dev.display().to_string();
        let io_err = |source| CacheError::Io {
            device: name.clone(),
            action: "reading",
            source,
        };
        match disks::probe_path(dev).map_err(io_err)? {
            Some(Content::Ext { version, .. }) => {
                self.mount_block(dev, if version == "ext2" { "ext2" } else { "ext4" })
            }
            None if probe::is_zeroed(&mut std::fs::File::open(dev).map_err(io_err)?, 64 * 1024)
                .map_err(io_err)? =>
            {
                info!("{name} was never formatted: formatting it");
                format(dev)?;
                self.mount_block(dev, "ext4")
            }
            other => Err(CacheError::Corrupt {
                device: name.clone(),
                holds: other.map_or(
                    "unrecognised data (no filesystem signature)".to_string(),
                    |c| c.to_string(),
                ),
            }),
        }
    }

    /// `b2c.cache_device=/dev/...`.
    fn cache_device(&mut self, path: &str) -> Result<Option<Cache>, CacheError> {
        let dev = PathBuf::from(path);
        if !disks::wait_path(&dev, DEVICE_WAIT) {
            return Err(CacheError::Missing(path.to_string()));
        }
        let io_err = |action| {
            move |source| CacheError::Io {
                device: path.to_string(),
                action,
                source,
            }
        };
        let (disk_name, part) =
            disks::sysfs_location(&dev).map_err(io_err("finding it in sysfs"))?;
        let content = disks::probe_path(&dev).map_err(io_err("reading"))?;
        if part.is_some() {
            return match content {
                Some(c) if c.is_cache_filesystem() => self.mount_block(&dev, "ext4").map(Some),
                None => {
                    info!("{path} holds no filesystem: formatting it");
                    format(&dev)?;
                    self.mount_block(&dev, "ext4").map(Some)
                }
                Some(c @ (Content::Ext { .. } | Content::Other { .. }))
                    if label_of(&c).is_empty() =>
                {
                    warn!("{path} holds {c}: formatting it (a partition without a label is formatted)");
                    format(&dev)?;
                    self.mount_block(&dev, "ext4").map(Some)
                }
                Some(c) => match c.fstype() {
                    Some(t) => {
                        info!("{path} holds {c}: using it as is");
                        self.mount_block(&dev, t).map(Some)
                    }
                    None => Err(CacheError::Unusable {
                        device: path.to_string(),
                        holds: c.to_string(),
                    }),
                },
            };
        }
        let disk = disks::read_disk(Path::new("/sys/block"), &disk_name).ok_or_else(|| {
            CacheError::Io {
                device: path.to_string(),
                action: "reading sysfs",
                source: io::Error::from(io::ErrorKind::NotFound),
            }
        })?;
        let spot = disks::find_cache(&disk, content.as_ref(), |p| {
            disks::probe_path(&p.dev()).ok().flatten()
        });
        if let Some(spot) = spot {
            let d = spot_dev(&disk, &spot);
            info!("Found the B2C_CACHE partition {}", d.display());
            return self.mount_cache_partition(&d).map(Some);
        }
        if let Some(c) = &content {
            warn!("{path} holds {c}: repartitioning it for the cache (named explicitly)");
        }
        self.create_cache_on_disk(&disk_name, Consent::Named)
            .map(Some)
    }

    /// `b2c.cache_device=FILESYSTEM_NAME`.
    fn cache_filesystem(
        &mut self,
        config: &Config,
        name: &str,
    ) -> Result<Option<Cache>, CacheError> {
        let fs = named_filesystem(config, name)?.clone();
        let is_nfs = mount::is_nfs(&fs);
        mount::mount_filesystem(&fs, Path::new(STORAGE))?;
        self.mounts.push(PathBuf::from(STORAGE));
        let fstype = config
            .filesystems
            .iter()
            .find(|f| f.name == name)
            .and_then(|f| f.fstype.clone())
            .unwrap_or_default();
        if is_nfs {
            // Overlayfs cannot use NFS as its upper layer.
            match podman_conf::update(Path::new(STORAGE_CONF), Change::Driver("vfs")) {
                Ok(()) => warn!("The cache is on NFS: podman uses the vfs storage driver (overlay needs a local filesystem)"),
                Err(e) => warn!("{e}"),
            }
        }
        Ok(Some(Cache {
            source: format!("b2c.filesystem={name}"),
            fstype: if is_nfs { "nfs4".into() } else { fstype },
        }))
    }

    /// Mounts the cache `dev` (see [`cache_mount_data`] for its options).
    fn mount_block(&mut self, dev: &Path, fstype: &str) -> Result<Cache, CacheError> {
        let name = dev.display().to_string();
        std::fs::create_dir_all(STORAGE).map_err(|source| CacheError::Io {
            device: STORAGE.into(),
            action: "creating",
            source,
        })?;
        nix::mount::mount(
            Some(dev),
            STORAGE,
            Some(fstype),
            MsFlags::MS_NOATIME,
            cache_mount_data(fstype),
        )
        .map_err(|e| CacheError::Mount {
            device: name.clone(),
            fstype: fstype.to_string(),
            source: e.into(),
        })?;
        self.mounts.push(PathBuf::from(STORAGE));
        Ok(Cache {
            source: name,
            fstype: fstype.to_string(),
        })
    }

    /// Links /container, and puts podman's store and /var/tmp on the cache.
    fn use_cache(&mut self) -> Result<(), CacheError> {
        let io_err = |device: &str, action| {
            let device = device.to_string();
            move |source| CacheError::Io {
                device,
                action,
                source,
            }
        };
        if std::fs::symlink_metadata(CONTAINER_LINK).is_err() {
            std::os::unix::fs::symlink(STORAGE, CONTAINER_LINK)
                .map_err(io_err(CONTAINER_LINK, "linking to /storage"))?;
        }
        for (sub, target, mode) in [("containers", PODMAN_DIR, 0o700), ("tmp", VAR_TMP, 0o1777)] {
            let src = Path::new(STORAGE).join(sub);
            std::fs::create_dir_all(&src)
                .map_err(io_err(&src.display().to_string(), "creating"))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&src, std::fs::Permissions::from_mode(mode))
                .map_err(io_err(&src.display().to_string(), "setting the mode of"))?;
            std::fs::create_dir_all(target).map_err(io_err(target, "creating"))?;
            nix::mount::mount(
                Some(&src),
                target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| CacheError::Io {
                device: target.to_string(),
                action: "bind-mounting the cache on",
                source: e.into(),
            })?;
            self.mounts.push(PathBuf::from(target));
        }
        Ok(())
    }
}

fn label_of(c: &Content) -> &str {
    match c {
        Content::Ext { label, .. } | Content::Other { label, .. } => label,
        _ => "",
    }
}

fn spot_dev(disk: &Disk, spot: &CacheSpot) -> PathBuf {
    match spot {
        CacheSpot::Partition(p) => p.dev(),
        CacheSpot::WholeDisk => disk.dev(),
    }
}

/// The result of looking at every disk for `auto`.
#[derive(Debug, Default)]
pub struct Scan {
    /// A disk holding the cache, and where.
    pub cache: Option<(Disk, CacheSpot)>,
    /// The first blank disk `auto` may format.
    pub blank: Option<Disk>,
    /// Disks not used, and why.
    pub skipped: Vec<Skip>,
}

/// A disk `auto` did not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// Kernel name (`vdb`).
    pub disk: String,
    /// Why, in words.
    pub why: String,
    /// It holds something: the operator may claim it by naming it.
    pub claimable: bool,
}

impl Skip {
    fn new(disk: &str, why: impl Into<String>, claimable: bool) -> Skip {
        Skip {
            disk: disk.to_string(),
            why: why.into(),
            claimable,
        }
    }
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Skipping /dev/{}: {}", self.disk, self.why)?;
        if self.claimable {
            write!(
                f,
                " (to use it anyway, give b2c.cache_device=/dev/{}: it will be erased)",
                self.disk
            )?;
        }
        Ok(())
    }
}

/// The filesystem options of a cache on a disk. ext4 gets `nodelalloc`:
/// with delayed allocation, a power cut (a machine reset in the middle of a
/// job) leaves the files podman extracted from an image as empty files under
/// metadata that the journal did commit, and the next boot finds a
/// "complete" image whose `sh` does not exist. Allocating at write time lets
/// the journal's ordered mode write the data before the metadata that names
/// it: after a power cut an image is either whole or known as incomplete
/// (and pulled again).
pub fn cache_mount_data(fstype: &str) -> Option<&'static str> {
    (fstype == "ext4").then_some("nodelalloc")
}

/// Looks at `disks` once. `content` reads what a device holds (its
/// signatures); `data` says where a disk without a signature still holds
/// data ([`probe::data_outside_signatures`]). A disk is blank only when it
/// has no partitions, no holders, no signature and no data: `auto` never
/// writes anything else.
pub fn scan_once(
    list: Vec<Disk>,
    nbds: &[String],
    mut content: impl FnMut(&Path) -> io::Result<Option<Content>>,
    mut data: impl FnMut(&Path) -> io::Result<Option<String>>,
) -> Scan {
    let mut scan = Scan::default();
    for disk in list {
        if let Some(why) = disks::ignored_reason(&disk, nbds) {
            let claimable = !disk.holders.is_empty();
            scan.skipped.push(Skip::new(&disk.name, why, claimable));
            continue;
        }
        let whole = match content(&disk.dev()) {
            Ok(c) => c,
            Err(e) => {
                scan.skipped
                    .push(Skip::new(&disk.name, format!("cannot read it: {e}"), false));
                continue;
            }
        };
        if scan.cache.is_none() {
            if let Some(spot) =
                disks::find_cache(&disk, whole.as_ref(), |p| content(&p.dev()).ok().flatten())
            {
                scan.cache = Some((disk, spot));
                continue;
            }
        }
        let skip = match &whole {
            Some(c) => Skip::new(&disk.name, format!("it holds {c}"), true),
            None if disk.removable => Skip::new(
                &disk.name,
                "removable (auto never formats removable media)",
                false,
            ),
            None if !disk.partitions.is_empty() => Skip::new(
                &disk.name,
                format!(
                    "it has {} partition(s) but no partition table we know",
                    disk.partitions.len()
                ),
                true,
            ),
            None if scan.blank.is_some() => Skip::new(
                &disk.name,
                "no signature, but another blank disk comes first",
                false,
            ),
            None => match data(&disk.dev()) {
                Ok(None) => {
                    scan.blank = Some(disk);
                    continue;
                }
                Ok(Some(why)) => Skip::new(&disk.name, why, true),
                Err(e) => Skip::new(&disk.name, format!("cannot read it: {e}"), false),
            },
        };
        scan.skipped.push(skip);
    }
    scan
}

/// Scans the disks for `auto`, waiting up to 10 s for them: until a cache or
/// a blank disk shows up, or the list of disks has not changed for 2 s.
fn scan_disks(nbds: &[String]) -> Scan {
    let started = Instant::now();
    let mut last_names: Vec<String> = Vec::new();
    let mut stable_since = Instant::now();
    loop {
        let list = disks::list_disks(Path::new("/sys/block"));
        let names: Vec<String> = list.iter().map(|d| d.name.clone()).collect();
        for d in &list {
            if disks::ignored_reason(d, nbds).is_none() {
                let _ = disks::wait_node(&d.name, NODE_WAIT);
                for p in &d.partitions {
                    let _ = disks::wait_node(&p.name, NODE_WAIT);
                }
            }
        }
        let scan = scan_once(list, nbds, disks::probe_path, |dev| {
            probe::data_outside_signatures(&mut std::fs::File::open(dev)?)
        });
        if names != last_names {
            last_names = names;
            stable_since = Instant::now();
        }
        let waited = started.elapsed();
        let settled = !last_names.is_empty() && stable_since.elapsed() >= SCAN_SETTLE;
        if scan.cache.is_some() || scan.blank.is_some() || settled || waited >= DEVICE_WAIT {
            if scan.cache.is_none() && scan.blank.is_none() && last_names.is_empty() {
                info!("No disk appeared within {} s", DEVICE_WAIT.as_secs());
            }
            return scan;
        }
        std::thread::sleep(SCAN_PAUSE);
    }
}

/// mkfs.ext4 -F -O encrypt -L B2C_CACHE on `dev`.
fn format(dev: &Path) -> Result<(), CacheError> {
    let device = dev.display().to_string();
    info!("Formatting {device} (ext4, label {CACHE_LABEL})");
    let mut cmd = std::process::Command::new("mkfs.ext4");
    cmd.args(["-q", "-F", "-O", "encrypt", "-L", CACHE_LABEL])
        .arg(dev);
    let ran = runtime::block_on(process::run(&mut cmd, MKFS_LIMIT)).unwrap_or_else(|e| {
        Err(process::CommandError {
            command: process::command_name(&cmd),
            failure: process::Failure::Wait(e),
            stderr: String::new(),
        })
    });
    ran.map(drop)
        .map_err(|source| CacheError::Format { device, source })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_ext4_cache_allocates_at_write_time() {
        assert_eq!(super::cache_mount_data("ext4"), Some("nodelalloc"));
        assert_eq!(super::cache_mount_data("ext2"), None);
    }

    use super::*;
    use disks::Partition;

    fn disk(name: &str, parts: &[u32], removable: bool) -> Disk {
        Disk {
            name: name.into(),
            size: 1 << 30,
            read_only: false,
            removable,
            optical: false,
            mtd: false,
            holders: Vec::new(),
            partitions: parts
                .iter()
                .map(|&n| Partition {
                    name: format!("{name}{n}"),
                    number: n,
                })
                .collect(),
        }
    }

    fn ext(label: &str) -> Option<Content> {
        Some(Content::Ext {
            version: "ext4",
            label: label.into(),
        })
    }

    #[test]
    fn auto_prefers_the_cache_and_never_takes_a_used_disk() {
        let list = vec![
            disk("vda", &[], false),
            disk("vdb", &[1], false),
            disk("vdc", &[], false),
            disk("loop0", &[], false),
        ];
        let scan = scan_once(
            list,
            &[],
            |p| {
                Ok(match p.to_str().unwrap() {
                    "/dev/vda" => ext("data"),
                    "/dev/vdb" => Some(Content::Gpt {
                        partitions: vec![(1, "B2C_CACHE".into())],
                    }),
                    _ => None,
                })
            },
            |_| Ok(None),
        );
        let (d, spot) = scan.cache.unwrap();
        assert_eq!(d.name, "vdb");
        assert_eq!(
            spot,
            CacheSpot::Partition(Partition {
                name: "vdb1".into(),
                number: 1
            })
        );
        assert_eq!(scan.blank.unwrap().name, "vdc");
        assert_eq!(
            scan.skipped,
            [
                Skip::new("vda", "it holds an ext4 filesystem labelled \"data\"", true),
                Skip::new("loop0", "a virtual device", false),
            ]
        );
        assert_eq!(
            scan.skipped[0].to_string(),
            "Skipping /dev/vda: it holds an ext4 filesystem labelled \"data\" \
             (to use it anyway, give b2c.cache_device=/dev/vda: it will be erased)"
        );
        assert_eq!(
            scan.skipped[1].to_string(),
            "Skipping /dev/loop0: a virtual device"
        );
    }

    /// The regression of the review: a disk with no signature this probe
    /// knows (an MD 1.0 member, bcache, ZFS, random data...) used to be
    /// formatted. Now it is skipped, named, with the way to claim it.
    #[test]
    fn auto_never_formats_data_without_a_signature() {
        let list = vec![
            disk("vda", &[], false),
            disk("vdb", &[], false),
            disk("vdc", &[], false),
        ];
        let mut member = disk("vdd", &[], false);
        member.holders = vec!["md0".into()];
        let mut list = list;
        list.push(member);
        let scan = scan_once(
            list,
            &[],
            |_| Ok(None),
            |p| {
                Ok(match p.to_str().unwrap() {
                    "/dev/vda" => Some("its last MiB holds data".to_string()),
                    "/dev/vdb" => Some("the sample at 100 MiB holds data".to_string()),
                    _ => None,
                })
            },
        );
        assert_eq!(scan.blank.unwrap().name, "vdc");
        assert_eq!(scan.skipped.len(), 3);
        assert_eq!(scan.skipped[0].why, "its last MiB holds data");
        assert!(scan.skipped[0].claimable);
        assert!(scan.skipped[2].why.starts_with("in use by md0"));
        assert!(scan.skipped[2]
            .to_string()
            .contains("b2c.cache_device=/dev/vdd"));
        // Nothing blank at all: no disk to format.
        let scan = scan_once(
            vec![disk("vda", &[], false)],
            &[],
            |_| Ok(None),
            |_| Err(io::Error::other("I/O error")),
        );
        assert!(scan.blank.is_none());
        assert_eq!(scan.skipped[0].why, "cannot read it: I/O error");
    }

    #[test]
    fn removable_and_unreadable_disks() {
        let list = vec![
            disk("sda", &[], true),
            disk("sdb", &[2], false),
            disk("vda", &[], false),
        ];
        let scan = scan_once(
            list,
            &[],
            |p| {
                if p == Path::new("/dev/vda") {
                    Err(io::Error::other("I/O error"))
                } else {
                    Ok(None)
                }
            },
            |_| Ok(None),
        );
        assert!(scan.cache.is_none() && scan.blank.is_none());
        assert!(scan.skipped[0].why.starts_with("removable"));
        assert!(scan.skipped[1].why.contains("1 partition(s)"));
        assert_eq!(scan.skipped[2].why, "cannot read it: I/O error");
        // A removable disk with a cache is used.
        let scan = scan_once(
            vec![disk("sda", &[1], true)],
            &[],
            |p| {
                Ok(if p.ends_with("sda1") {
                    ext("B2C_CACHE")
                } else {
                    None
                })
            },
            |_| Ok(None),
        );
        assert!(scan.cache.is_some());
    }
}
