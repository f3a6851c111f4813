//! The errors of the volume set-up, each naming the volume and the path.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;
use thiserror::Error;

use super::KeyIdentifier;
use crate::cmdline::FSCRYPT_KEY_LEN;

/// Why a volume could not be encrypted or unlocked.
#[derive(Debug, Error)]
pub enum FscryptError {
    /// The filesystem was made without encryption support.
    #[error("b2c.volume={volume}: fscrypt_key: the cache filesystem mounted on {} cannot encrypt{detail}: boot once with b2c.cache_device=reset to reformat the cache with encryption support (this erases the cache)", .mount_point.display())]
    NoEncryptFeature {
        /// The volume.
        volume: String,
        /// Where the cache is mounted.
        mount_point: PathBuf,
        /// What the superblock says, when it could be read (starts with a space).
        detail: String,
    },
    /// The filesystem has the feature, the kernel has no fscrypt.
    #[error("b2c.volume={volume}: fscrypt_key: the cache on {} has the ext4 \"encrypt\" feature but this kernel has no fscrypt support (CONFIG_FS_ENCRYPTION)", .mount_point.display())]
    KernelUnsupported {
        /// The volume.
        volume: String,
        /// Where the cache is mounted.
        mount_point: PathBuf,
    },
    /// The volume is not on a filesystem that knows fscrypt (tmpfs...).
    #[error("b2c.volume={volume}: fscrypt_key: {} is on {fs}, which cannot encrypt: encrypted volumes need the ext4 cache (b2c.cache_device)", .dir.display())]
    NoFscrypt {
        /// The volume.
        volume: String,
        /// The volume's data directory.
        dir: PathBuf,
        /// The filesystem type.
        fs: String,
    },
    /// The directory is encrypted with another key.
    #[error("b2c.volume={volume}: {} is encrypted with another key than the fscrypt_key given: give the right key, or add fscrypt_reset_key to empty the volume and encrypt it with this key", .dir.display())]
    WrongKey {
        /// The volume.
        volume: String,
        /// The volume's data directory.
        dir: PathBuf,
    },
    /// The directory has a policy this code does not make (v1...).
    #[error("b2c.volume={volume}: {} is encrypted with a version {version} fscrypt policy, not the v2 policy of fscrypt_key: add fscrypt_reset_key to empty the volume and encrypt it with this key", .dir.display())]
    ForeignPolicy {
        /// The volume.
        volume: String,
        /// The volume's data directory.
        dir: PathBuf,
        /// The policy's version byte (0 for v1).
        version: u8,
    },
    /// Files are in the unencrypted directory.
    #[error("b2c.volume={volume}: {} is not empty and not encrypted: fscrypt only encrypts an empty directory; add fscrypt_reset_key to empty it (its files are deleted) and encrypt it", .dir.display())]
    NotEmpty {
        /// The volume.
        volume: String,
        /// The volume's data directory.
        dir: PathBuf,
    },
    /// An encrypted volume used without a key.
    #[error("b2c.volume={volume}: volume {volume} is encrypted ({}): give fscrypt_key", .dir.display())]
    EncryptedNoKey {
        /// The volume.
        volume: String,
        /// The volume's data directory.
        dir: PathBuf,
    },
    /// `fscrypt_key=` does not decode to 64 bytes.
    #[error("b2c.volume={volume}: fscrypt_key is not base64 of {FSCRYPT_KEY_LEN} bytes (its value is not shown)")]
    BadKey {
        /// The volume.
        volume: String,
    },
    /// The directory is not on the filesystem mounted there.
    #[error("b2c.volume={volume}: {} is not on the filesystem mounted on {} (a filesystem= volume?): fscrypt only encrypts volumes on the cache", .dir.display(), .mount_point.display())]
    OtherFilesystem {
        /// The volume.
        volume: String,
        /// The volume's data directory.
        dir: PathBuf,
        /// Where the cache is mounted.
        mount_point: PathBuf,
    },
    /// The policy read back is not the one set.
    #[error("b2c.volume={volume}: {} does not carry the v2 policy of key {identifier} after it was set", .dir.display())]
    NotApplied {
        /// The volume.
        volume: String,
        /// The volume's data directory.
        dir: PathBuf,
        /// The key's identifier.
        identifier: KeyIdentifier,
    },
    /// An ioctl failed.
    #[error("b2c.volume={volume}: {op} on {}: {errno}", .path.display())]
    Ioctl {
        /// The volume.
        volume: String,
        /// The ioctl's name.
        op: &'static str,
        /// The file it was issued on.
        path: PathBuf,
        /// The error.
        errno: Errno,
    },
    /// A file operation failed.
    #[error("b2c.volume={volume}: cannot {action} {}: {source}", .path.display())]
    Io {
        /// The volume.
        volume: String,
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts() {
        let dir = PathBuf::from("/var/lib/containers/storage/volumes/job/_data");
        let mnt = PathBuf::from("/storage");
        let v = || "job".to_string();
        let cases: Vec<(FscryptError, &str)> = vec![
            (
                FscryptError::NoEncryptFeature { volume: v(), mount_point: mnt.clone(), detail: " (ext4 on /dev/sda1 was formatted without the \"encrypt\" feature)".into() },
                "b2c.volume=job: fscrypt_key: the cache filesystem mounted on /storage cannot encrypt (ext4 on /dev/sda1 was formatted without the \"encrypt\" feature): boot once with b2c.cache_device=reset to reformat the cache with encryption support (this erases the cache)",
            ),
            (
                FscryptError::KernelUnsupported { volume: v(), mount_point: mnt.clone() },
                "b2c.volume=job: fscrypt_key: the cache on /storage has the ext4 \"encrypt\" feature but this kernel has no fscrypt support (CONFIG_FS_ENCRYPTION)",
            ),
            (
                FscryptError::NoFscrypt { volume: v(), dir: dir.clone(), fs: "tmpfs (the cache is in RAM)".into() },
                "b2c.volume=job: fscrypt_key: /var/lib/containers/storage/volumes/job/_data is on tmpfs (the cache is in RAM), which cannot encrypt: encrypted volumes need the ext4 cache (b2c.cache_device)",
            ),
            (
                FscryptError::WrongKey { volume: v(), dir: dir.clone() },
                "b2c.volume=job: /var/lib/containers/storage/volumes/job/_data is encrypted with another key than the fscrypt_key given: give the right key, or add fscrypt_reset_key to empty the volume and encrypt it with this key",
            ),
            (
                FscryptError::ForeignPolicy { volume: v(), dir: dir.clone(), version: 0 },
                "b2c.volume=job: /var/lib/containers/storage/volumes/job/_data is encrypted with a version 0 fscrypt policy, not the v2 policy of fscrypt_key: add fscrypt_reset_key to empty the volume and encrypt it with this key",
            ),
            (
                FscryptError::NotEmpty { volume: v(), dir: dir.clone() },
                "b2c.volume=job: /var/lib/containers/storage/volumes/job/_data is not empty and not encrypted: fscrypt only encrypts an empty directory; add fscrypt_reset_key to empty it (its files are deleted) and encrypt it",
            ),
            (
                FscryptError::EncryptedNoKey { volume: v(), dir: dir.clone() },
                "b2c.volume=job: volume job is encrypted (/var/lib/containers/storage/volumes/job/_data): give fscrypt_key",
            ),
            (
                FscryptError::BadKey { volume: v() },
                "b2c.volume=job: fscrypt_key is not base64 of 64 bytes (its value is not shown)",
            ),
            (
                FscryptError::OtherFilesystem { volume: v(), dir: dir.clone(), mount_point: mnt.clone() },
                "b2c.volume=job: /var/lib/containers/storage/volumes/job/_data is not on the filesystem mounted on /storage (a filesystem= volume?): fscrypt only encrypts volumes on the cache",
            ),
            (
                FscryptError::Ioctl { volume: v(), op: "FS_IOC_ADD_ENCRYPTION_KEY", path: mnt.clone(), errno: Errno::EPERM },
                "b2c.volume=job: FS_IOC_ADD_ENCRYPTION_KEY on /storage: EPERM: Operation not permitted",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
        }
    }
}
