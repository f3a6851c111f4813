//! Storage (docs/options.md, *Storage*): the cache device at /storage, swap,
//! named filesystems, NBD devices and `b2c.storage`.
//!
//! One module per concern: [`cache`] (the cache policy, the disk scan,
//! mkfs), [`swap`], [`mount`] (mounting and unmounting), [`podman_conf`]
//! (`b2c.storage` and the one writer of podman's storage.conf), [`nbd`],
//! [`disks`] (sysfs and partitioning) and [`probe`] (signatures). This
//! module holds the state from boot to shutdown and its phases.
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
//! Every phase is synchronous and blocks (disk I/O, mount(2), device waits):
//! the init runs each one once on the blocking pool ([`crate::runtime`]).

pub mod cache;
pub mod disks;
pub mod mount;
pub mod nbd;
pub mod podman_conf;
pub mod probe;
pub mod swap;

use std::path::PathBuf;
use std::time::Duration;

use tracing::{error, info, warn};

use crate::cmdline::{CacheDevice, Config, Filesystem, SwapTarget};
use crate::console::Section;
use crate::system::human_size;

pub use cache::{scan_once, Cache, CacheError, Scan, Skip};
pub use mount::{mount_filesystem, submounts, unmount, MountError};
pub use podman_conf::with_driver;

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
/// How long detaching an NBD device may take at shutdown.
const NBD_DETACH_LIMIT: Duration = Duration::from_secs(5);
/// The storage state from boot to shutdown.
#[derive(Debug, Default)]
pub struct Storage {
    /// The mounted cache, if any.
    pub cache: Option<Cache>,
    swaps: Vec<swap::ActiveSwap>,
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

pub(crate) fn named_filesystem<'a>(
    config: &'a Config,
    name: &str,
) -> Result<&'a Filesystem, MountError> {
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

pub(crate) fn swap_needs_network(config: &Config) -> bool {
    match config.swap.as_ref().map(|s| &s.target) {
        Some(SwapTarget::File { .. }) => cache_needs_network(config),
        Some(SwapTarget::Device { path }) => path.starts_with("/dev/nbd"),
        None => false,
    }
}

impl Storage {
    /// After the kernel modules: the cache device then the swap, except what needs
    /// the network. Never fails: errors are printed and the boot goes on in RAM.
    pub fn setup_local(config: &Config) -> Storage {
        let mut s = Storage::default();
        let _section = Section::step(crate::console::Step::MountCache);
        if cache_needs_network(config) {
            info!("The cache device needs the network: set up after it");
            s.cache_deferred = true;
        } else {
            s.setup_cache(config);
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
    pub fn setup_network(&mut self, config: &Config) {
        if config.nbds.is_empty() && !self.cache_deferred && !self.swap_deferred {
            return;
        }
        let _section = Section::start("b2c_network_storage", "Setting up network storage");
        for n in &config.nbds {
            match nbd::attach(n) {
                Ok(a) => {
                    info!(
                        "{}: attached {}:{} ({})",
                        n.device,
                        n.host,
                        n.port,
                        human_size(a.size)
                    );
                    self.nbds.push(a);
                }
                Err(e) => error!("{e}"),
            }
        }
        if self.cache_deferred {
            self.cache_deferred = false;
            self.setup_cache(config);
        }
        if self.swap_deferred {
            self.swap_deferred = false;
            self.setup_swap(config);
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
        self.swaps_off();
        self.unmount_all(synced);
        for n in self.nbds.drain(..) {
            let device = n.device.display().to_string();
            match n.detach(NBD_DETACH_LIMIT) {
                Ok(()) => info!("{device}: detached"),
                Err(e) => warn!("{e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::{Nbd, Swap};

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
    fn unknown_cache_filesystem_is_an_error() {
        let c = Config::default();
        assert_eq!(
            named_filesystem(&c, "nope").unwrap_err().to_string(),
            "no b2c.filesystem is named \"nope\""
        );
    }
}
