//! What the cache filesystem is: the ext4 `encrypt` feature in its
//! superblock, its block device, the name of a filesystem type.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `EXT4_FEATURE_INCOMPAT_ENCRYPT` in the superblock's `s_feature_incompat`.
const EXT4_FEATURE_INCOMPAT_ENCRYPT: u32 = 0x1_0000;
/// The ext2/3/4 magic, in the superblock and as the `statfs` type.
const EXT_MAGIC: u16 = 0xEF53;

/// Whether an ext2/3/4 superblock (the 1024 bytes at byte 1024 of the
/// device) has the `encrypt` feature; `None` when it is not one.
pub fn ext4_encrypt_feature(superblock: &[u8]) -> Option<bool> {
    let magic = u16::from_le_bytes(superblock.get(0x38..0x3A)?.try_into().ok()?);
    if magic != EXT_MAGIC {
        return None;
    }
    let incompat = u32::from_le_bytes(superblock.get(0x60..0x64)?.try_into().ok()?);
    Some(incompat & EXT4_FEATURE_INCOMPAT_ENCRYPT != 0)
}

/// Reads the superblock of `device` and says whether it has the `encrypt`
/// feature (see [`ext4_encrypt_feature`]).
pub fn ext4_encrypt_feature_of(device: &Path) -> Option<bool> {
    let mut file = File::open(device).ok()?;
    file.seek(SeekFrom::Start(1024)).ok()?;
    let mut sb = [0u8; 1024];
    file.read_exact(&mut sb).ok()?;
    ext4_encrypt_feature(&sb)
}

/// The block device of the filesystem mounted on `mount_point`, from its
/// device number through `/sys/dev/block/MAJOR:MINOR/uevent`.
pub(super) fn device_of(mount_point: &Path) -> Option<PathBuf> {
    let dev = std::fs::metadata(mount_point).ok()?.dev();
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let uevent = std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent")).ok()?;
    devname_from_uevent(&uevent).map(|n| Path::new("/dev").join(n))
}

/// The `DEVNAME=` of a sysfs uevent file.
fn devname_from_uevent(uevent: &str) -> Option<&str> {
    uevent
        .lines()
        .find_map(|l| l.strip_prefix("DEVNAME="))
        .filter(|n| !n.is_empty() && !n.contains(".."))
}

/// A readable name for the type of the filesystem `path` is on.
pub(super) fn filesystem_name(path: &Path) -> String {
    let Ok(fs) = nix::sys::statfs::statfs(path) else {
        return "a filesystem of unknown type".to_string();
    };
    // The field is an i64 or an i32 depending on the target.
    #[allow(clippy::unnecessary_cast)]
    let magic = fs.filesystem_type().0 as i64;
    fs_type_name(magic)
}

fn fs_type_name(magic: i64) -> String {
    match magic {
        0xEF53 => "ext4".to_string(),
        0x0102_1994 => "tmpfs (the cache is in RAM)".to_string(),
        0x8584_58f6 => "ramfs (the cache is in RAM)".to_string(),
        0x794c_7630 => "overlayfs".to_string(),
        0x6969 => "NFS".to_string(),
        0x5846_5342 => "XFS".to_string(),
        0x9123_683e => "btrfs".to_string(),
        other => format!("a filesystem of type {other:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superblock_feature_bit() {
        let mut sb = vec![0u8; 1024];
        assert_eq!(ext4_encrypt_feature(&sb), None);
        sb[0x38..0x3A].copy_from_slice(&0xEF53u16.to_le_bytes());
        assert_eq!(ext4_encrypt_feature(&sb), Some(false));
        sb[0x60..0x64].copy_from_slice(&(0x10000u32 | 0x2 | 0x40).to_le_bytes());
        assert_eq!(ext4_encrypt_feature(&sb), Some(true));
        assert_eq!(ext4_encrypt_feature(&sb[..0x50]), None);
    }

    #[test]
    fn uevent_devname() {
        assert_eq!(
            devname_from_uevent("MAJOR=7\nMINOR=0\nDEVNAME=loop0\nDEVTYPE=disk\n"),
            Some("loop0")
        );
        assert_eq!(devname_from_uevent("MAJOR=7\n"), None);
        assert_eq!(devname_from_uevent("DEVNAME=../etc\n"), None);
        assert_eq!(fs_type_name(0x0102_1994), "tmpfs (the cache is in RAM)");
        assert_eq!(fs_type_name(0x1234), "a filesystem of type 0x1234");
    }
}
