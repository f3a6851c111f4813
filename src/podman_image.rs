//! podman's squashfs image: the zstd base archive carries podman (31 MiB),
//! crun, conmon, mke2fs, loadkeys, every shared library and the keymaps as
//! `/usr/lib/b2c/podman.squashfs`, and `/usr/bin/podman`,
//! `/usr/lib/x86_64-linux-gnu` and the others are links into its mount
//! point. The init mounts it, read-only, through a loop device once the
//! modules are loaded (`loop` and `squashfs` are in the base archive); the
//! init is static and runs no program before. The kernel then unpacks 27 MiB
//! less into the root tmpfs at boot, and those files' pages are decompressed
//! as they are read, into the page cache, which the kernel can reclaim: a
//! smaller machine boots. The xz archive has the plain files and no image.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use thiserror::Error;

/// The image, as the build writes it.
pub const IMAGE: &str = "/usr/lib/b2c/podman.squashfs";
/// Where it is mounted (`/usr/bin/podman` links to `usr/bin/podman` in there).
pub const MOUNT_POINT: &str = "/usr/lib/b2c/podman";
/// The kernel modules the mount needs.
pub const MODULES: [&str; 2] = ["loop", "squashfs"];

/// How long a new loop device's node may take to appear in /dev.
const NODE_WAIT: Duration = Duration::from_secs(5);
/// How many free loop devices to try when another process takes the one
/// the kernel offered first.
const ATTACH_TRIES: usize = 8;

/// Why the image could not be mounted: each names the file or device.
#[derive(Debug, Error)]
pub enum ImageError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("no free loop device (LOOP_CTL_GET_FREE on /dev/loop-control): {0}")]
    NoFreeLoop(Errno),
    #[error("{device} did not appear within {}s", NODE_WAIT.as_secs())]
    NoNode { device: String },
    #[error("cannot attach {image} to {device} (LOOP_CONFIGURE): {source}")]
    Attach {
        image: String,
        device: String,
        source: Errno,
    },
    #[error("cannot mount {device} ({image}, squashfs) on {target}: {source}")]
    Mount {
        device: String,
        image: String,
        target: String,
        source: Errno,
    },
}

/// The kernel's `struct loop_info64` (linux/loop.h).
#[repr(C)]
struct LoopInfo64 {
    device: u64,
    inode: u64,
    rdevice: u64,
    offset: u64,
    sizelimit: u64,
    number: u32,
    encrypt_type: u32,
    encrypt_key_size: u32,
    flags: u32,
    file_name: [u8; 64],
    crypt_name: [u8; 64],
    encrypt_key: [u8; 32],
    init: [u64; 2],
}

/// The kernel's `struct loop_config` (linux/loop.h, Linux 5.8 and later).
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

const LO_FLAGS_READ_ONLY: u32 = 1;
/// The device detaches itself once its last user (the mount) is gone.
const LO_FLAGS_AUTOCLEAR: u32 = 4;

nix::ioctl_none_bad!(loop_ctl_get_free, 0x4C82);
nix::ioctl_write_ptr_bad!(loop_configure, 0x4C0A, LoopConfig);

/// True when this archive carries the image (the xz archive and the
/// baseline have a plain `/usr/bin/podman`).
pub fn present() -> bool {
    Path::new(IMAGE).exists()
}

/// Mounts [`IMAGE`] on [`MOUNT_POINT`], read-only, through a new loop
/// device; returns the device. Bounded: the device node is waited for
/// [`NODE_WAIT`] at most.
pub fn mount_image() -> Result<PathBuf, ImageError> {
    mount_squashfs(Path::new(IMAGE), Path::new(MOUNT_POINT))
}

/// Mounts the squashfs `image` on `target`, read-only, through a new loop
/// device; returns the device.
pub fn mount_squashfs(image: &Path, target: &Path) -> Result<PathBuf, ImageError> {
    let backing = File::open(image).map_err(|source| ImageError::Open {
        path: image.display().to_string(),
        source,
    })?;
    // The device stays open until the mount holds it: an auto-clearing
    // device detaches itself when its last user closes it.
    let (device, _open) = attach_read_only(&backing, image)?;
    mount(
        Some(&device),
        target,
        Some("squashfs"),
        MsFlags::MS_RDONLY | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|source| ImageError::Mount {
        device: device.display().to_string(),
        image: image.display().to_string(),
        target: target.display().to_string(),
        source,
    })?;
    // With LO_FLAGS_AUTOCLEAR the device goes away with the mount; the
    // backing file stays open in the kernel as long as the device is.
    Ok(device)
}

/// Attaches `backing` to a free loop device, read-only and auto-clearing;
/// returns the device and its open file (see [`mount_squashfs`]).
fn attach_read_only(backing: &File, image: &Path) -> Result<(PathBuf, File), ImageError> {
    let control = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/loop-control")
        .map_err(|source| ImageError::Open {
            path: "/dev/loop-control".into(),
            source,
        })?;
    let mut last = None;
    for _ in 0..ATTACH_TRIES {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device
        // number; the descriptor is /dev/loop-control, open for the call.
        let index =
            unsafe { loop_ctl_get_free(control.as_raw_fd()) }.map_err(ImageError::NoFreeLoop)?;
        let device = PathBuf::from(format!("/dev/loop{index}"));
        let loop_dev = open_when_present(&device)?;
        let config = loop_config(backing.as_raw_fd());
        // SAFETY: `config` is a valid `struct loop_config` that lives for the
        // call; the kernel only reads it. Both descriptors are open.
        match unsafe { loop_configure(loop_dev.as_raw_fd(), &config) } {
            Ok(_) => return Ok((device, loop_dev)),
            // Another process took it between the two calls: the next one.
            Err(Errno::EBUSY) => last = Some((device, Errno::EBUSY)),
            Err(source) => {
                return Err(ImageError::Attach {
                    image: image.display().to_string(),
                    device: device.display().to_string(),
                    source,
                })
            }
        }
    }
    let (device, source) = last.unwrap_or((PathBuf::from("/dev/loop?"), Errno::EBUSY));
    Err(ImageError::Attach {
        image: image.display().to_string(),
        device: device.display().to_string(),
        source,
    })
}

/// The configuration of a read-only, auto-clearing loop device on `fd`.
fn loop_config(fd: i32) -> LoopConfig {
    LoopConfig {
        fd: fd as u32,
        block_size: 0,
        info: LoopInfo64 {
            device: 0,
            inode: 0,
            rdevice: 0,
            offset: 0,
            sizelimit: 0,
            number: 0,
            encrypt_type: 0,
            encrypt_key_size: 0,
            flags: LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR,
            file_name: [0; 64],
            crypt_name: [0; 64],
            encrypt_key: [0; 32],
            init: [0; 2],
        },
        reserved: [0; 8],
    }
}

/// Opens a loop device, waiting for devtmpfs to create its node.
fn open_when_present(device: &Path) -> Result<File, ImageError> {
    let deadline = Instant::now() + NODE_WAIT;
    loop {
        match OpenOptions::new().read(true).open(device) {
            Ok(f) => return Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if Instant::now() >= deadline {
                    return Err(ImageError::NoNode {
                        device: device.display().to_string(),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(source) => {
                return Err(ImageError::Open {
                    path: device.display().to_string(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loop_structures_have_the_kernel_layout() {
        // linux/loop.h: loop_info64 is 232 bytes, loop_config 304.
        assert_eq!(std::mem::size_of::<LoopInfo64>(), 232);
        assert_eq!(std::mem::size_of::<LoopConfig>(), 304);
        assert_eq!(std::mem::offset_of!(LoopConfig, info), 8);
        assert_eq!(std::mem::offset_of!(LoopInfo64, flags), 52);
        assert_eq!(std::mem::offset_of!(LoopInfo64, file_name), 56);
    }

    #[test]
    fn the_device_is_read_only_and_clears_itself() {
        let config = loop_config(7);
        assert_eq!(config.fd, 7);
        assert_eq!(config.info.flags, LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR);
    }

    #[test]
    fn a_missing_image_names_its_path() {
        let err = mount_squashfs(
            Path::new("/nonexistent/podman.squashfs"),
            Path::new("/nonexistent/mnt"),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot open /nonexistent/podman.squashfs: "),
            "{err}"
        );
    }
}
