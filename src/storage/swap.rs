//! Swap (`b2c.swap`): a swap file on the cache or swap on a device, the
//! version-1 swap header (what `mkswap` writes), swapon/swapoff through
//! libc, and `vm.swappiness`.

use std::ffi::{CStr, CString};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tracing::{error, info, warn};

pub use super::disks::random_uuid;
use super::{disks, Storage, DEVICE_WAIT, STORAGE, SWAP_FILE};
use crate::cmdline::{Config, SwapTarget};
use crate::system::human_size;

/// The swap signature at the end of the first page.
pub const SWAP_MAGIC: &[u8; 10] = b"SWAPSPACE2";
/// The label our swap areas carry.
pub const SWAP_LABEL: &str = "B2C_SWAP";
/// How long swapoff(2) may take at shutdown.
pub const SWAPOFF_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Errors of the swap set-up.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    /// The area is smaller than what the kernel accepts.
    #[error("{path}: {size} bytes is too small for swap (at least 10 pages of {page} bytes)")]
    TooSmall {
        /// The swap file or device.
        path: String,
        /// Its size in bytes.
        size: u64,
        /// The page size.
        page: u64,
    },
    /// An I/O error on the swap file or device.
    #[error("{path}: cannot {action}: {source}")]
    Io {
        /// The swap file or device.
        path: String,
        /// What was attempted.
        action: &'static str,
        /// The cause.
        source: io::Error,
    },
}

/// The system's page size.
pub fn page_size() -> u64 {
    // SAFETY: sysconf only reads a constant of the system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

/// The first page of a version-1 swap area of `size` bytes: version 1, the
/// last usable page, no bad pages, a UUID, a label, the magic at the end.
/// Fields are in the machine's byte order, as the kernel reads them.
pub fn swap_header(size: u64, page: u64, uuid: [u8; 16], label: &str) -> Option<Vec<u8>> {
    let pages = size / page;
    if pages < 10 || page < 4096 {
        return None;
    }
    let last_page = u32::try_from(pages - 1).ok()?;
    let mut h = vec![0u8; usize::try_from(page).ok()?];
    h[1024..1028].copy_from_slice(&1u32.to_ne_bytes());
    h[1028..1032].copy_from_slice(&last_page.to_ne_bytes());
    // nr_badpages stays 0.
    h[1036..1052].copy_from_slice(&uuid);
    let label = label.as_bytes();
    let n = label.len().min(15);
    h[1052..1052 + n].copy_from_slice(&label[..n]);
    let end = h.len();
    h[end - 10..].copy_from_slice(SWAP_MAGIC);
    Some(h)
}

/// Writes a swap header at the start of `dev` (a file or a device) whose
/// usable size is `size` bytes.
pub fn write_header<W: Write + Seek>(dev: &mut W, path: &str, size: u64) -> Result<(), SwapError> {
    let page = page_size();
    let header = swap_header(size, page, random_uuid(), SWAP_LABEL).ok_or(SwapError::TooSmall {
        path: path.to_string(),
        size,
        page,
    })?;
    let io = |action| {
        move |source| SwapError::Io {
            path: path.to_string(),
            action,
            source,
        }
    };
    dev.seek(SeekFrom::Start(0)).map_err(io("seek"))?;
    dev.write_all(&header)
        .map_err(io("write the swap header"))?;
    dev.flush().map_err(io("flush the swap header"))?;
    Ok(())
}

/// Creates the swap file `path` of `size` bytes (allocated, no holes), with
/// its header. A file left over from an earlier boot is replaced.
pub fn create_swap_file(path: &Path, size: u64) -> Result<(), SwapError> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path.display().to_string();
    let io = |action| {
        let name = name.clone();
        move |source| SwapError::Io {
            path: name,
            action,
            source,
        }
    };
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io("create the swap file"))?;
    let len = i64::try_from(size).map_err(|_| SwapError::TooSmall {
        path: name.clone(),
        size,
        page: page_size(),
    })?;
    // SAFETY: fallocate on a file descriptor we own, with a checked length.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        let _ = std::fs::remove_file(path);
        return Err(io("allocate the swap file")(e));
    }
    let written = write_header(&mut file, &name, size)
        .and_then(|()| file.sync_all().map_err(io("sync the swap file")));
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

/// swapon(2) on `path`.
pub fn swapon(path: &Path) -> Result<(), SwapError> {
    // SAFETY: a valid NUL-terminated path; flags 0.
    swap_call(path, "swapon", |c| unsafe { libc::swapon(c.as_ptr(), 0) })
}

/// swapoff(2) on `path`.
pub fn swapoff(path: &Path) -> Result<(), SwapError> {
    // SAFETY: a valid NUL-terminated path.
    swap_call(path, "swapoff", |c| unsafe { libc::swapoff(c.as_ptr()) })
}

/// Calls `call`, the system call `action`, with `path` as a C string: a
/// return other than 0 is an error, the one in errno.
fn swap_call(
    path: &Path,
    action: &'static str,
    call: impl FnOnce(&CStr) -> libc::c_int,
) -> Result<(), SwapError> {
    let error = |source| SwapError::Io {
        path: path.display().to_string(),
        action,
        source,
    };
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| error(io::Error::from(io::ErrorKind::InvalidInput)))?;
    if call(&c) != 0 {
        return Err(error(io::Error::last_os_error()));
    }
    Ok(())
}

/// Writes `vm.swappiness`.
pub fn set_swappiness(value: u8) -> io::Result<()> {
    std::fs::write("/proc/sys/vm/swappiness", format!("{value}\n"))
}

#[derive(Debug)]
pub(super) struct ActiveSwap {
    path: PathBuf,
    is_file: bool,
}

impl Storage {
    /// `b2c.swap`: a swap file on the cache, or swap on a device.
    pub(super) fn setup_swap(&mut self, config: &Config) {
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
                    match set_swappiness(n) {
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
        create_swap_file(path, size).map_err(|e| e.to_string())?;
        if let Err(e) = swapon(path) {
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
                write_header(&mut f, path, size).map_err(|e| e.to_string())?;
                f.sync_all()
                    .map_err(|e| format!("{path}: cannot sync it: {e}"))?;
            }
            Some(c) => {
                return Err(format!(
                    "{path} holds {c}: not making it swap (erase it first)"
                ))
            }
        }
        swapon(dev).map_err(|e| e.to_string())?;
        self.swaps.push(ActiveSwap {
            path: dev.to_path_buf(),
            is_file: false,
        });
        Ok(format!("on {path}"))
    }

    /// Shutdown: every swap off, the swap file removed. Each swapoff(2) is
    /// waited for at most [`SWAPOFF_LIMIT`]: it reads every swapped page
    /// back, and a swap device whose server went away (NBD) would block it
    /// for ever.
    pub(super) fn swaps_off(&mut self) {
        for s in self.swaps.drain(..).rev() {
            let path = s.path.clone();
            let off = crate::runtime::within("swapoff", SWAPOFF_LIMIT, move || swapoff(&path))
                .unwrap_or_else(|timed_out| {
                    Err(SwapError::Io {
                        path: s.path.display().to_string(),
                        action: "swapoff",
                        source: io::Error::new(io::ErrorKind::TimedOut, timed_out.to_string()),
                    })
                });
            match off {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout() {
        let h = swap_header(64 << 20, 4096, [7; 16], "B2C_SWAP").unwrap();
        assert_eq!(h.len(), 4096);
        assert_eq!(&h[4086..], SWAP_MAGIC);
        assert_eq!(u32::from_ne_bytes(h[1024..1028].try_into().unwrap()), 1);
        assert_eq!(
            u32::from_ne_bytes(h[1028..1032].try_into().unwrap()),
            (64 << 20) / 4096 - 1
        );
        assert_eq!(&h[1036..1052], &[7; 16]);
        assert_eq!(&h[1052..1060], b"B2C_SWAP");
        assert!(h[..1024].iter().all(|&b| b == 0));
    }

    #[test]
    fn too_small_or_too_large_areas_are_refused() {
        assert!(swap_header(9 * 4096, 4096, [0; 16], "x").is_none());
        assert!(swap_header(1 << 50, 4096, [0; 16], "x").is_none());
        let mut c = std::io::Cursor::new(Vec::new());
        let e = write_header(&mut c, "/dev/vdz", 4096).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/dev/vdz: 4096 bytes is too small"),
            "{e}"
        );
    }

    #[test]
    fn uuids_are_random() {
        assert_ne!(random_uuid(), random_uuid());
    }

    #[test]
    fn swap_call_errors_name_the_path_and_the_call() {
        // Paths that cannot be swap: nothing on the machine changes.
        let missing = Path::new("/nonexistent/b2c-swap-test");
        let e = swapon(missing).unwrap_err().to_string();
        assert!(
            e.starts_with("/nonexistent/b2c-swap-test: cannot swapon: "),
            "{e}"
        );
        let e = swapoff(missing).unwrap_err().to_string();
        assert!(
            e.starts_with("/nonexistent/b2c-swap-test: cannot swapoff: "),
            "{e}"
        );
        let nul = Path::new("bad\0path");
        let SwapError::Io { action, source, .. } = swapon(nul).unwrap_err() else {
            panic!("not an I/O error");
        };
        assert_eq!(action, "swapon");
        assert_eq!(source.kind(), io::ErrorKind::InvalidInput);
    }
}
