//! The file operations of one volume set-up, and the errors that name
//! its volume and paths.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::errno::Errno;

use super::ext4::{device_of, ext4_encrypt_feature_of, filesystem_name};
use super::ioctl::{self, get_policy, v2_policy};
use super::{DirPolicy, FscryptError, KeyIdentifier};

/// The paths of one call, for the operations and their errors.
pub(super) struct Ctx<'a> {
    pub(super) volume: &'a str,
    pub(super) dir: &'a Path,
    mount_point: &'a Path,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(volume: &'a str, dir: &'a Path, mount_point: &'a Path) -> Self {
        Ctx {
            volume,
            dir,
            mount_point,
        }
    }

    fn io(&self, action: &'static str, path: &Path, source: io::Error) -> FscryptError {
        FscryptError::Io {
            volume: self.volume.to_string(),
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(super) fn ioctl(&self, op: &'static str, path: &Path, errno: Errno) -> FscryptError {
        FscryptError::Ioctl {
            volume: self.volume.to_string(),
            op,
            path: path.to_path_buf(),
            errno,
        }
    }

    /// The error for `errno`, with the clear ones for a filesystem or a
    /// kernel that cannot encrypt.
    pub(super) fn unsupported_or(
        &self,
        op: &'static str,
        path: &Path,
        errno: Errno,
    ) -> FscryptError {
        match errno {
            Errno::EOPNOTSUPP => match device_of(self.mount_point)
                .and_then(|d| ext4_encrypt_feature_of(&d).map(|f| (d, f)))
            {
                Some((_, true)) => FscryptError::KernelUnsupported {
                    volume: self.volume.to_string(),
                    mount_point: self.mount_point.to_path_buf(),
                },
                Some((dev, false)) => FscryptError::NoEncryptFeature {
                    volume: self.volume.to_string(),
                    mount_point: self.mount_point.to_path_buf(),
                    detail: format!(
                        " (ext4 on {} was formatted without the \"encrypt\" feature)",
                        dev.display()
                    ),
                },
                None => FscryptError::NoEncryptFeature {
                    volume: self.volume.to_string(),
                    mount_point: self.mount_point.to_path_buf(),
                    detail: String::new(),
                },
            },
            Errno::ENOTTY => FscryptError::NoFscrypt {
                volume: self.volume.to_string(),
                dir: self.dir.to_path_buf(),
                fs: filesystem_name(self.dir),
            },
            other => self.ioctl(op, path, other),
        }
    }

    pub(super) fn open(&self, path: &Path) -> Result<File, FscryptError> {
        File::open(path).map_err(|e| self.io("open", path, e))
    }

    pub(super) fn metadata(
        &self,
        file: &File,
        path: &Path,
    ) -> Result<std::fs::Metadata, FscryptError> {
        file.metadata().map_err(|e| self.io("stat", path, e))
    }

    pub(super) fn is_empty(&self) -> Result<bool, FscryptError> {
        let mut entries = std::fs::read_dir(self.dir).map_err(|e| self.io("list", self.dir, e))?;
        Ok(entries.next().is_none())
    }

    /// Deletes the directory with everything in it (names without the key
    /// can be deleted) and makes it anew with the same mode and owner.
    pub(super) fn recreate(&self) -> Result<(), FscryptError> {
        let meta = std::fs::symlink_metadata(self.dir).map_err(|e| self.io("stat", self.dir, e))?;
        std::fs::remove_dir_all(self.dir).map_err(|e| self.io("empty", self.dir, e))?;
        std::fs::create_dir(self.dir).map_err(|e| self.io("create", self.dir, e))?;
        std::os::unix::fs::chown(self.dir, Some(meta.uid()), Some(meta.gid()))
            .map_err(|e| self.io("chown", self.dir, e))?;
        std::fs::set_permissions(
            self.dir,
            std::fs::Permissions::from_mode(meta.mode() & 0o7777),
        )
        .map_err(|e| self.io("chmod", self.dir, e))
    }

    /// Sets the v2 policy for `identifier` on the (empty) directory and
    /// checks it reads back.
    pub(super) fn set_policy(&self, identifier: KeyIdentifier) -> Result<(), FscryptError> {
        let file = self.open(self.dir)?;
        let policy = v2_policy(identifier);
        // SAFETY: `policy` is a live `struct fscrypt_policy_v2`, which the
        // kernel only reads; `file` is an open directory.
        unsafe { ioctl::raw::set_policy(file.as_raw_fd(), &policy) }
            .map_err(|e| self.unsupported_or("FS_IOC_SET_ENCRYPTION_POLICY", self.dir, e))?;
        match get_policy(&file) {
            Ok(DirPolicy::V2(p)) if p == policy => Ok(()),
            Ok(_) => Err(FscryptError::NotApplied {
                volume: self.volume.to_string(),
                dir: self.dir.to_path_buf(),
                identifier,
            }),
            Err(e) => Err(self.ioctl("FS_IOC_GET_ENCRYPTION_POLICY_EX", self.dir, e)),
        }
    }
}
