//! Storage (SPEC section 4): the cache device at /storage, swap, named
//! filesystems, NBD devices and `b2c.storage`.
//!
//! Boot order, as the init calls it:
//! 1. after the kernel modules (load [`required_modules`] with them):
//!    [`Storage::setup_local`] — the cache and the swap, unless they need the
//!    network (an NFS filesystem, an NBD device, or `auto`/`reset` while
//!    `b2c.nbd` is given): those are deferred;
//! 2. right after the network is up: [`Storage::setup_network`] — attaches
//!    every `b2c.nbd`, then does the deferred cache and swap;
//! 3. before the pipeline: [`Storage::configure_podman`] (`b2c.storage`);
//! 4. at shutdown, once every process is gone: [`Storage::shutdown`].
//!
//! Safety rule of `auto`: a disk is only ever written when it is blank (no
//! partition table, no filesystem or volume signature), not removable, not
//! read-only, not optical and not virtual (loop, ram, zram, device-mapper,
//! MD, an NBD not attached by `b2c.nbd`). Removable disks are used when they
//! already hold a B2C_CACHE partition, but `auto` never formats them.

pub mod disks;
pub mod mount;
pub mod nbd;
pub mod probe;
pub mod swap;

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::mount::{MntFlags, MsFlags};
use tracing::{error, info, warn};

use crate::cmdline::{CacheDevice, Config, Filesystem, SwapTarget};
use crate::console::Section;
use crate::system::human_size;
use disks::{CacheSpot, Disk};
use probe::{Content, CACHE_LABEL};

pub use mount::{mount_filesystem, MountError};

/// Where the cache is mounted.
pub const STORAGE: &str = "/storage";
/// The b2c compatibility link to [`STORAGE`].
pub const CONTAINER_LINK: &str = "/container";
/// Podman's storage (graphroot and volumes) is under this directory.
pub const PODMAN_DIR: &str = "/var/lib/containers";
/// The temporary directory podman uses for pulls.
pub const VAR_TMP: &str = "/var/tmp";
/// The swap file of `b2c.swap=SIZE`.
pub const SWAP_FILE: &str = "/storage/swapfile";
/// The runtime containers-storage configuration.
pub const STORAGE_CONF: &str = "/etc/containers/storage.conf";
/// Where `b2c.storage=additionalimagestores=FSNAME` stores are mounted.
pub const IMAGE_STORES: &str = "/run/b2c/imagestores";
/// How long to wait for disks and named devices.
pub const DEVICE_WAIT: Duration = Duration::from_secs(10);
/// How long mkfs.ext4 may run.
const MKFS_LIMIT: Duration = Duration::from_secs(300);

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
    #[error("cache device {device}: mkfs.ext4 failed: {reason}")]
    Format {
        /// The device.
        device: String,
        /// Its error output or exit status.
        reason: String,
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

#[derive(Debug)]
struct ActiveSwap {
    path: PathBuf,
    is_file: bool,
}

/// The storage state from boot to shutdown.
#[derive(Debug, Default)]
pub struct Storage {
    /// The mounted cache, if any.
    pub cache: Option<Cache>,
    swaps: Vec<ActiveSwap>,
    /// Mount points we made, in order.
    mounts: Vec<PathBuf>,
    nbds: Vec<nbd::Attached>,
    cache_deferred: bool,
    swap_deferred: bool,
}

/// Kernel modules the storage options need, to load with the others (the
/// init ignores built-in ones): ext4 for a cache, nbd for `b2c.nbd`, nfsv4
/// for NFS filesystems, and the type of every other `b2c.filesystem`.
pub fn required_modules(config: &Config) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |m: &str| {
        if !out.iter().any(|o| o == m) {
            out.push(m.to_string());
        }
    };
    if config.cache_device != CacheDevice::None {
        add("ext4");
    }
    if !config.nbds.is_empty() {
        add("nbd");
    }
    for fs in &config.filesystems {
        if mount::is_nfs(fs) {
            add("nfsv4");
        } else if let Some(t) = fs.fstype.as_deref() {
            add(t);
        }
    }
    out
}

fn named_filesystem<'a>(config: &'a Config, name: &str) -> Result<&'a Filesystem, MountError> {
    config
        .filesystems
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| MountError::Unknown(name.to_string()))
}

/// True when the cache needs the network (so waits for [`Storage::setup_network`]).
pub fn cache_needs_network(config: &Config) -> bool {
    match &config.cache_device {
        CacheDevice::None => false,
        CacheDevice::Auto | CacheDevice::Reset => !config.nbds.is_empty(),
        CacheDevice::Device { path } => path.starts_with("/dev/nbd"),
        CacheDevice::Filesystem { name } => named_filesystem(config, name)
            .map(mount::needs_network)
            .unwrap_or(false),
    }
}

fn swap_needs_network(config: &Config) -> bool {
    match config.swap.as_ref().map(|s| &s.target) {
        Some(SwapTarget::File { .. }) => cache_needs_network(config),
        Some(SwapTarget::Device { path }) => path.starts_with("/dev/nbd"),
        None => false,
    }
}

impl Storage {
    /// Step 4 of the boot: the cache device then the swap, except what needs
    /// the network. Never fails: errors are printed and the boot goes on in RAM.
    pub async fn setup_local(config: &Config) -> Storage {
        let mut s = Storage::default();
        let _section = Section::start("b2c_cache", "Setting up the cache device and swap");
        if cache_needs_network(config) {
            info!("The cache device needs the network: set up after it");
            s.cache_deferred = true;
        } else {
            s.setup_cache(config).await;
        }
        if swap_needs_network(config) {
            s.swap_deferred = true;
        } else {
            s.setup_swap(config);
        }
        s
    }

    /// Right after the network: attaches the `b2c.nbd` devices, then sets up
    /// the cache and swap that were deferred.
    pub async fn setup_network(&mut self, config: &Config) {
        if config.nbds.is_empty() && !self.cache_deferred && !self.swap_deferred {
            return;
        }
        let _section = Section::start("b2c_network_storage", "Setting up network storage");
        for n in &config.nbds {
            let nbd = n.clone();
            let attached = tokio::task::spawn_blocking(move || nbd::attach(&nbd)).await;
            match attached {
                Ok(Ok(a)) => {
                    info!(
                        "{}: attached {}:{} ({})",
                        n.device,
                        n.host,
                        n.port,
                        human_size(a.size)
                    );
                    self.nbds.push(a);
                }
                Ok(Err(e)) => error!("{e}"),
                Err(e) => error!("b2c.nbd={}: internal error: {e}", n.device),
            }
        }
        if self.cache_deferred {
            self.cache_deferred = false;
            self.setup_cache(config).await;
        }
        if self.swap_deferred {
            self.swap_deferred = false;
            self.setup_swap(config);
        }
    }

    async fn setup_cache(&mut self, config: &Config) {
        let started = Instant::now();
        let result = match &config.cache_device {
            CacheDevice::None => {
                info!("No cache device (b2c.cache_device=none): images and volumes live in RAM");
                return;
            }
            CacheDevice::Auto => self.cache_auto(config, false).await,
            CacheDevice::Reset => self.cache_auto(config, true).await,
            CacheDevice::Device { path } => self.cache_device(path).await,
            CacheDevice::Filesystem { name } => self.cache_filesystem(config, name).await,
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
    async fn cache_auto(
        &mut self,
        config: &Config,
        reset: bool,
    ) -> Result<Option<Cache>, CacheError> {
        let nbds: Vec<String> = config.nbds.iter().map(|n| n.device.clone()).collect();
        let scan = scan_disks(&nbds).await;
        if let Some((disk, spot)) = scan.cache {
            let dev = spot_dev(&disk, &spot);
            info!("Found the B2C_CACHE partition {}", dev.display());
            if reset {
                info!("b2c.cache_device=reset: reformatting {}", dev.display());
                format(&dev).await?;
            }
            return self.mount_cache_partition(&dev).await.map(Some);
        }
        for (disk, why) in &scan.skipped {
            info!("Skipping /dev/{}: {why}", disk);
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
        self.create_cache_on_disk(&disk.name).await.map(Some)
    }

    async fn create_cache_on_disk(&mut self, disk: &str) -> Result<Cache, CacheError> {
        let name = disk.to_string();
        let part =
            tokio::task::spawn_blocking(move || disks::partition_for_cache(&name, DEVICE_WAIT))
                .await
                .map_err(|e| io::Error::other(e.to_string()))
                .and_then(|r| r)
                .map_err(|source| CacheError::Io {
                    device: format!("/dev/{disk}"),
                    action: "partitioning",
                    source,
                })?;
        let dev = part.dev();
        format(&dev).await?;
        self.mount_block(&dev, "ext4").await
    }

    /// Mounts a B2C_CACHE partition: its ext4 filesystem; a partition that
    /// was created but never formatted (all zeros) is formatted; anything
    /// else is an error, never reformatted.
    async fn mount_cache_partition(&mut self, dev: &Path) -> Result<Cache, CacheError> {
        let name = dev.display().to_string();
        let io_err = |source| CacheError::Io {
            device: name.clone(),
            action: "reading",
            source,
        };
        match disks::probe_path(dev).map_err(io_err)? {
            Some(Content::Ext { version, .. }) => {
                self.mount_block(dev, if version == "ext2" { "ext2" } else { "ext4" })
                    .await
            }
            None if probe::is_zeroed(&mut std::fs::File::open(dev).map_err(io_err)?, 64 * 1024)
                .map_err(io_err)? =>
            {
                info!("{name} was never formatted: formatting it");
                format(dev).await?;
                self.mount_block(dev, "ext4").await
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
    async fn cache_device(&mut self, path: &str) -> Result<Option<Cache>, CacheError> {
        let dev = PathBuf::from(path);
        let waited = dev.clone();
        let appeared = tokio::task::spawn_blocking(move || disks::wait_path(&waited, DEVICE_WAIT))
            .await
            .unwrap_or(false);
        if !appeared {
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
                Some(c) if c.is_cache_filesystem() => {
                    self.mount_block(&dev, "ext4").await.map(Some)
                }
                None => {
                    info!("{path} holds no filesystem: formatting it");
                    format(&dev).await?;
                    self.mount_block(&dev, "ext4").await.map(Some)
                }
                Some(c @ (Content::Ext { .. } | Content::Other { .. }))
                    if label_of(&c).is_empty() =>
                {
                    warn!("{path} holds {c}: formatting it (a partition without a label is formatted)");
                    format(&dev).await?;
                    self.mount_block(&dev, "ext4").await.map(Some)
                }
                Some(c) => match c.fstype() {
                    Some(t) => {
                        info!("{path} holds {c}: using it as is");
                        self.mount_block(&dev, t).await.map(Some)
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
            return self.mount_cache_partition(&d).await.map(Some);
        }
        if let Some(c) = &content {
            warn!("{path} holds {c}: repartitioning it for the cache (named explicitly)");
        }
        self.create_cache_on_disk(&disk_name).await.map(Some)
    }

    /// `b2c.cache_device=FILESYSTEM_NAME`.
    async fn cache_filesystem(
        &mut self,
        config: &Config,
        name: &str,
    ) -> Result<Option<Cache>, CacheError> {
        let fs = named_filesystem(config, name)?.clone();
        let is_nfs = mount::is_nfs(&fs);
        tokio::task::spawn_blocking(move || mount::mount_filesystem(&fs, Path::new(STORAGE)))
            .await
            .map_err(|e| CacheError::Io {
                device: name.to_string(),
                action: "mounting",
                source: io::Error::other(e.to_string()),
            })??;
        self.mounts.push(PathBuf::from(STORAGE));
        let fstype = config
            .filesystems
            .iter()
            .find(|f| f.name == name)
            .and_then(|f| f.fstype.clone())
            .unwrap_or_default();
        if is_nfs {
            // Overlayfs cannot use NFS as its upper layer.
            match std::fs::read_to_string(STORAGE_CONF) {
                Ok(conf) => {
                    if let Err(e) = std::fs::write(STORAGE_CONF, with_driver(&conf, "vfs")) {
                        warn!("Cannot write {STORAGE_CONF}: {e}");
                    } else {
                        warn!("The cache is on NFS: podman uses the vfs storage driver (overlay needs a local filesystem)");
                    }
                }
                Err(e) => warn!("Cannot read {STORAGE_CONF}: {e}"),
            }
        }
        Ok(Some(Cache {
            source: format!("b2c.filesystem={name}"),
            fstype: if is_nfs { "nfs4".into() } else { fstype },
        }))
    }

    async fn mount_block(&mut self, dev: &Path, fstype: &str) -> Result<Cache, CacheError> {
        let (d, t) = (dev.to_path_buf(), fstype.to_string());
        let name = dev.display().to_string();
        std::fs::create_dir_all(STORAGE).map_err(|source| CacheError::Io {
            device: STORAGE.into(),
            action: "creating",
            source,
        })?;
        let result = tokio::task::spawn_blocking(move || {
            nix::mount::mount(
                Some(&d),
                STORAGE,
                Some(t.as_str()),
                MsFlags::MS_NOATIME,
                None::<&str>,
            )
        })
        .await
        .map_err(|e| io::Error::other(e.to_string()))
        .and_then(|r| r.map_err(io::Error::from));
        result.map_err(|source| CacheError::Mount {
            device: name.clone(),
            fstype: fstype.to_string(),
            source,
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

    fn setup_swap(&mut self, config: &Config) {
        let Some(swap_opt) = &config.swap else {
            return;
        };
        let result = match &swap_opt.target {
            SwapTarget::File { size } => {
                if self.cache.is_none() {
                    warn!("b2c.swap: no cache device, so no swap file");
                    return;
                }
                self.swap_file(*size)
            }
            SwapTarget::Device { path } => self.swap_device(path),
        };
        match result {
            Ok(what) => {
                if let Some(n) = swap_opt.swappiness {
                    match swap::set_swappiness(n) {
                        Ok(()) => info!("Swap: {what}, swappiness {n}"),
                        Err(e) => warn!("Swap: {what}; cannot set the swappiness to {n}: {e}"),
                    }
                } else {
                    info!("Swap: {what}");
                }
            }
            Err(e) => error!("b2c.swap: {e}"),
        }
    }

    fn swap_file(&mut self, size: u64) -> Result<String, String> {
        let path = Path::new(SWAP_FILE);
        if path.exists() {
            info!("Removing the swap file left by an earlier boot");
        }
        if let Ok(v) = nix::sys::statvfs::statvfs(STORAGE) {
            let free = v.blocks_available() * v.fragment_size();
            let old = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if size > free + old {
                return Err(format!(
                    "a {} swap file does not fit in the cache ({} free)",
                    human_size(size),
                    human_size(free + old)
                ));
            }
        }
        swap::create_swap_file(path, size).map_err(|e| e.to_string())?;
        if let Err(e) = swap::swapon(path) {
            let _ = std::fs::remove_file(path);
            return Err(e.to_string());
        }
        self.swaps.push(ActiveSwap {
            path: path.to_path_buf(),
            is_file: true,
        });
        Ok(format!("{} swap file {SWAP_FILE}", human_size(size)))
    }

    fn swap_device(&mut self, path: &str) -> Result<String, String> {
        let dev = Path::new(path);
        if !disks::wait_path(dev, DEVICE_WAIT) {
            return Err(format!(
                "{path} did not appear within {} s",
                DEVICE_WAIT.as_secs()
            ));
        }
        let content = disks::probe_path(dev).map_err(|e| format!("{path}: cannot read it: {e}"))?;
        match &content {
            Some(c) if c.is_swap() => {}
            None => {
                use std::io::Seek;
                let mut f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(dev)
                    .map_err(|e| format!("{path}: cannot open it: {e}"))?;
                let size = f
                    .seek(io::SeekFrom::End(0))
                    .map_err(|e| format!("{path}: cannot read its size: {e}"))?;
                swap::write_header(&mut f, path, size).map_err(|e| e.to_string())?;
                f.sync_all()
                    .map_err(|e| format!("{path}: cannot sync it: {e}"))?;
            }
            Some(c) => {
                return Err(format!(
                    "{path} holds {c}: not making it swap (erase it first)"
                ))
            }
        }
        swap::swapon(dev).map_err(|e| e.to_string())?;
        self.swaps.push(ActiveSwap {
            path: dev.to_path_buf(),
            is_file: false,
        });
        Ok(format!("on {path}"))
    }

    /// `b2c.storage` (step 9, before the pipeline): mounts the
    /// `additionalimagestores` filesystems read-only and lists them in the
    /// runtime storage.conf. Other keys are reported as not supported.
    pub fn configure_podman(&mut self, config: &Config) {
        self.configure_podman_at(config, Path::new(STORAGE_CONF));
    }

    fn configure_podman_at(&mut self, config: &Config, conf_path: &Path) {
        if config.storage.is_empty() {
            return;
        }
        let mut stores = Vec::new();
        for opt in &config.storage {
            if opt.key != "additionalimagestores" {
                warn!(
                    "b2c.storage: {} is not supported, ignored (only additionalimagestores is)",
                    opt.key
                );
                continue;
            }
            if opt.value.starts_with('/') {
                stores.push(opt.value.clone());
                continue;
            }
            let fs = match named_filesystem(config, &opt.value) {
                Ok(fs) => fs,
                Err(e) => {
                    error!("b2c.storage: additionalimagestores: {e}");
                    continue;
                }
            };
            let target = Path::new(IMAGE_STORES).join(&fs.name);
            match mount::mount_filesystem_with(fs, &target, MsFlags::MS_RDONLY) {
                Ok(()) => {
                    info!(
                        "Image store {} mounted read-only at {}",
                        fs.name,
                        target.display()
                    );
                    self.mounts.push(target.clone());
                    stores.push(target.display().to_string());
                }
                Err(e) => error!("b2c.storage: additionalimagestores: {e}"),
            }
        }
        if stores.is_empty() {
            return;
        }
        let conf = std::fs::read_to_string(conf_path).unwrap_or_default();
        match std::fs::write(conf_path, mount::with_image_stores(&conf, &stores)) {
            Ok(()) => info!("podman's additional image stores: {}", stores.join(", ")),
            Err(e) => error!("b2c.storage: cannot write {}: {e}", conf_path.display()),
        }
    }

    /// Shutdown (after every process was killed): sync, swap off (the swap
    /// file is removed), unmount what is on the cache and the cache itself,
    /// detach the NBD devices. Bounded: a busy mount is remounted read-only
    /// and detached.
    pub fn shutdown(&mut self) {
        // One sync, bounded: unmounting writes back what is left. If the
        // sync hangs (a server gone), unmounting would hang too: detach.
        let synced = crate::power::sync_bounded(crate::power::SYNC_LIMIT);
        for s in self.swaps.drain(..).rev() {
            match swap::swapoff(&s.path) {
                Ok(()) => {
                    if s.is_file {
                        if let Err(e) = std::fs::remove_file(&s.path) {
                            warn!("Cannot remove the swap file {}: {e}", s.path.display());
                        }
                    }
                }
                Err(e) => warn!("{e}"),
            }
        }
        self.unmount_all(synced);
        for n in self.nbds.drain(..) {
            let device = n.device.display().to_string();
            match n.detach(Duration::from_secs(5)) {
                Ok(()) => info!("{device}: detached"),
                Err(e) => warn!("{e}"),
            }
        }
    }

    /// Unmounts our mounts, newest first, with everything mounted below them;
    /// only lazily (detached, nothing waited for) when `synced` is false.
    fn unmount_all(&mut self, synced: bool) {
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

/// umount(2), retried for up to 2 s while busy; then a read-only remount
/// (so the filesystem is clean) and a lazy detach. Only the detach when
/// `wait` is false.
pub fn unmount(path: &Path, wait: bool) {
    if !wait {
        if let Err(e) = nix::mount::umount2(path, MntFlags::MNT_DETACH) {
            warn!("Cannot detach {}: {e}", path.display());
        }
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match nix::mount::umount2(path, MntFlags::empty()) {
            Ok(()) => return,
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => return,
            Err(nix::errno::Errno::EBUSY) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
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

/// storage.conf with `driver = "DRIVER"` in `[storage]`.
pub fn with_driver(conf: &str, driver: &str) -> String {
    let mut section = "";
    let mut out: Vec<String> = conf
        .lines()
        .map(|l| {
            let t = l.trim();
            if t.starts_with('[') {
                section = t;
            }
            if section == "[storage]" && t.starts_with("driver") && t.contains('=') {
                format!("driver = \"{driver}\"")
            } else {
                l.to_string()
            }
        })
        .collect();
    out.push(String::new());
    out.join("\n")
}

/// The result of looking at every disk for `auto`.
#[derive(Debug, Default)]
pub struct Scan {
    /// A disk holding the cache, and where.
    pub cache: Option<(Disk, CacheSpot)>,
    /// The first blank disk `auto` may format.
    pub blank: Option<Disk>,
    /// Disks not used, and why.
    pub skipped: Vec<(String, String)>,
}

/// Looks at `disks` once. `content` reads what a device holds.
pub fn scan_once(
    list: Vec<Disk>,
    nbds: &[String],
    mut content: impl FnMut(&Path) -> io::Result<Option<Content>>,
) -> Scan {
    let mut scan = Scan::default();
    for disk in list {
        if let Some(why) = disks::ignored_reason(&disk, nbds) {
            scan.skipped.push((disk.name.clone(), why.to_string()));
            continue;
        }
        let whole = match content(&disk.dev()) {
            Ok(c) => c,
            Err(e) => {
                scan.skipped
                    .push((disk.name.clone(), format!("cannot read it: {e}")));
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
        match &whole {
            None if disk.partitions.is_empty() && !disk.removable => {
                if scan.blank.is_none() {
                    scan.blank = Some(disk);
                } else {
                    scan.skipped.push((
                        disk.name.clone(),
                        "blank, but another blank disk comes first".into(),
                    ));
                }
            }
            None if disk.removable => scan.skipped.push((
                disk.name.clone(),
                "removable (auto never formats removable media)".into(),
            )),
            None => scan.skipped.push((
                disk.name.clone(),
                format!(
                    "it has {} partition(s) but no partition table we know",
                    disk.partitions.len()
                ),
            )),
            Some(c) => scan
                .skipped
                .push((disk.name.clone(), format!("it holds {c}"))),
        }
    }
    scan
}

/// Scans the disks for `auto`, waiting up to 10 s for them: until a cache or
/// a blank disk shows up, or the list of disks has not changed for 2 s.
async fn scan_disks(nbds: &[String]) -> Scan {
    let started = Instant::now();
    let mut last_names: Vec<String> = Vec::new();
    let mut stable_since = Instant::now();
    loop {
        let list = disks::list_disks(Path::new("/sys/block"));
        let names: Vec<String> = list.iter().map(|d| d.name.clone()).collect();
        for d in &list {
            if disks::ignored_reason(d, nbds).is_none() {
                let _ = disks::wait_node(&d.name, Duration::from_millis(500));
                for p in &d.partitions {
                    let _ = disks::wait_node(&p.name, Duration::from_millis(500));
                }
            }
        }
        let scan = scan_once(list, nbds, disks::probe_path);
        if names != last_names {
            last_names = names;
            stable_since = Instant::now();
        }
        let waited = started.elapsed();
        let settled = !last_names.is_empty() && stable_since.elapsed() >= Duration::from_secs(2);
        if scan.cache.is_some() || scan.blank.is_some() || settled || waited >= DEVICE_WAIT {
            if scan.cache.is_none() && scan.blank.is_none() && last_names.is_empty() {
                info!("No disk appeared within {} s", DEVICE_WAIT.as_secs());
            }
            return scan;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// mkfs.ext4 -F -O encrypt -L B2C_CACHE on `dev`.
async fn format(dev: &Path) -> Result<(), CacheError> {
    let device = dev.display().to_string();
    info!("Formatting {device} (ext4, label {CACHE_LABEL})");
    let mut cmd = std::process::Command::new("mkfs.ext4");
    cmd.args(["-q", "-F", "-O", "encrypt", "-L", CACHE_LABEL])
        .arg(dev);
    match crate::process::output(&mut cmd, MKFS_LIMIT).await {
        Ok((exit, _, _)) if exit.success() => Ok(()),
        Ok((exit, out, err)) => Err(CacheError::Format {
            device,
            reason: format!("{exit}: {}", format!("{out}{err}").trim()),
        }),
        Err(e) => Err(CacheError::Format {
            device,
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cmdline::{Nbd, Swap};
    use disks::Partition;

    fn disk(name: &str, parts: &[u32], removable: bool) -> Disk {
        Disk {
            name: name.into(),
            size: 1 << 30,
            read_only: false,
            removable,
            optical: false,
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
        let scan = scan_once(list, &[], |p| {
            Ok(match p.to_str().unwrap() {
                "/dev/vda" => ext("data"),
                "/dev/vdb" => Some(Content::Gpt {
                    partitions: vec![(1, "B2C_CACHE".into())],
                }),
                _ => None,
            })
        });
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
                (
                    "vda".to_string(),
                    "it holds an ext4 filesystem labelled \"data\"".to_string()
                ),
                ("loop0".to_string(), "a virtual device".to_string())
            ]
        );
    }

    #[test]
    fn removable_and_unreadable_disks() {
        let list = vec![
            disk("sda", &[], true),
            disk("sdb", &[2], false),
            disk("vda", &[], false),
        ];
        let scan = scan_once(list, &[], |p| {
            if p == Path::new("/dev/vda") {
                Err(io::Error::other("I/O error"))
            } else {
                Ok(None)
            }
        });
        assert!(scan.cache.is_none() && scan.blank.is_none());
        assert!(scan.skipped[0].1.starts_with("removable"));
        assert!(scan.skipped[1].1.contains("1 partition(s)"));
        assert_eq!(scan.skipped[2].1, "cannot read it: I/O error");
        // A removable disk with a cache is used.
        let scan = scan_once(vec![disk("sda", &[1], true)], &[], |p| {
            Ok(if p.ends_with("sda1") {
                ext("B2C_CACHE")
            } else {
                None
            })
        });
        assert!(scan.cache.is_some());
    }

    #[test]
    fn deferral_and_modules() {
        let mut c = Config::default();
        assert!(required_modules(&c).is_empty());
        c.cache_device = CacheDevice::Filesystem { name: "n".into() };
        c.filesystems.push(Filesystem {
            name: "n".into(),
            src: "h:/x".into(),
            fstype: Some("nfs".into()),
            opts: vec![],
        });
        assert!(cache_needs_network(&c));
        assert_eq!(required_modules(&c), ["ext4", "nfsv4"]);
        c.cache_device = CacheDevice::Auto;
        assert!(!cache_needs_network(&c));
        c.nbds.push(Nbd {
            device: "/dev/nbd0".into(),
            host: "h".into(),
            port: 1,
            name: None,
            connections: 1,
        });
        assert!(cache_needs_network(&c));
        c.swap = Some(Swap {
            target: SwapTarget::File { size: 1 << 26 },
            swappiness: None,
        });
        assert!(swap_needs_network(&c));
        c.cache_device = CacheDevice::Device {
            path: "/dev/vda".into(),
        };
        assert!(!swap_needs_network(&c));
        assert!(required_modules(&c).contains(&"nbd".to_string()));
        c.cache_device = CacheDevice::Filesystem {
            name: "missing".into(),
        };
        assert!(!cache_needs_network(&c));
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

    #[test]
    fn driver_rewrite() {
        let conf = "[storage]\ndriver = \"overlay\"\n[storage.options.overlay]\ndriver = \"x\"\n";
        assert_eq!(
            with_driver(conf, "vfs"),
            "[storage]\ndriver = \"vfs\"\n[storage.options.overlay]\ndriver = \"x\"\n"
        );
    }

    #[test]
    fn unknown_cache_filesystem_is_an_error() {
        let c = Config::default();
        assert_eq!(
            named_filesystem(&c, "nope").unwrap_err().to_string(),
            "no b2c.filesystem is named \"nope\""
        );
    }
}
