//! fscrypt v2 for podman volumes on the cache (`b2c.volume=NAME,fscrypt_key=...`;
//! see docs/options.md).
//!
//! The cache is ext4 made with `-O encrypt`. A volume's data directory is
//! encrypted with a v2 policy (AES-256-XTS contents, AES-256-CTS names,
//! 32-byte name padding) through the kernel's ioctls, with the structures of
//! `linux/fscrypt.h` written out in [`sys`]:
//! `FS_IOC_ADD_ENCRYPTION_KEY` (the kernel derives the key's 16-byte
//! identifier), `FS_IOC_SET_ENCRYPTION_POLICY`, `FS_IOC_GET_ENCRYPTION_POLICY_EX`,
//! `FS_IOC_GET_ENCRYPTION_KEY_STATUS` and, at shutdown,
//! `FS_IOC_REMOVE_ENCRYPTION_KEY`.
//!
//! [`setup_volume`] is the one call for a volume: with a key it calls
//! [`unlock_dir`], without one [`require_unencrypted`]. The [`Unlocked`] it
//! returns is locked again with [`Unlocked::lock`] before the cache is
//! unmounted. Keys are held in zeroized buffers ([`FscryptKey`]) and never
//! appear in a message.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::errno::Errno;
use zeroize::Zeroizing;

use crate::cmdline::{decode_base64, Secret, Volume, FSCRYPT_KEY_LEN};

/// `FSCRYPT_KEY_IDENTIFIER_SIZE`.
pub const KEY_IDENTIFIER_SIZE: usize = 16;
/// `FSCRYPT_POLICY_V2`.
pub const POLICY_V2: u8 = 2;
/// `FSCRYPT_MODE_AES_256_XTS`: file contents.
pub const MODE_AES_256_XTS: u8 = 1;
/// `FSCRYPT_MODE_AES_256_CTS`: file names.
pub const MODE_AES_256_CTS: u8 = 4;
/// `FSCRYPT_POLICY_FLAGS_PAD_32`: names padded to 32 bytes.
pub const POLICY_FLAGS_PAD_32: u8 = 0x03;
/// `FSCRYPT_KEY_REMOVAL_STATUS_FLAG_FILES_BUSY`.
const REMOVAL_FILES_BUSY: u32 = 0x1;
/// `FSCRYPT_KEY_REMOVAL_STATUS_FLAG_OTHER_USERS`.
const REMOVAL_OTHER_USERS: u32 = 0x2;

mod ctx;
mod error;
mod ext4;
/// The ioctl wrappers, on the structures of [`sys`].
mod ioctl;
/// The kernel's structures, field for field (`linux/fscrypt.h`).
pub mod sys;

use ctx::Ctx;
pub use error::FscryptError;
pub use ext4::{ext4_encrypt_feature, ext4_encrypt_feature_of};
pub use ioctl::{add_key, get_policy, key_status, remove_key, v2_policy};

/// An fscrypt master key (64 bytes), wiped from memory when dropped.
/// Printed as `***`.
pub struct FscryptKey(Zeroizing<[u8; FSCRYPT_KEY_LEN]>);

impl FscryptKey {
    /// The key from its raw bytes; `None` unless there are exactly 64.
    pub fn from_bytes(bytes: &[u8]) -> Option<FscryptKey> {
        if bytes.len() != FSCRYPT_KEY_LEN {
            return None;
        }
        let mut key = Zeroizing::new([0u8; FSCRYPT_KEY_LEN]);
        key.copy_from_slice(bytes);
        Some(FscryptKey(key))
    }

    /// The key from the base64 text of `fscrypt_key=`; `None` unless it
    /// decodes to 64 bytes.
    pub fn from_base64(secret: &Secret) -> Option<FscryptKey> {
        let decoded = Zeroizing::new(decode_base64(secret.expose())?);
        FscryptKey::from_bytes(&decoded)
    }
}

impl fmt::Debug for FscryptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(crate::cmdline::MASK)
    }
}

/// The identifier the kernel derives from a v2 master key (not secret: a
/// one-way hash of it, shown by the kernel's own tools).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyIdentifier(pub [u8; KEY_IDENTIFIER_SIZE]);

impl fmt::Display for KeyIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyIdentifier({self})")
    }
}

/// The encryption state of a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirPolicy {
    /// Not encrypted.
    None,
    /// A v2 policy.
    V2(sys::PolicyV2),
    /// Another policy version (v1: the legacy one, not used here).
    Other {
        /// The `version` byte (0 for v1).
        version: u8,
    },
}

/// What `FS_IOC_GET_ENCRYPTION_KEY_STATUS` says about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Not in the filesystem's keyring.
    Absent,
    /// Present: encrypted names and contents are readable.
    Present,
    /// Removed, but files that use it are still open.
    IncompletelyRemoved,
    /// A status value this code does not know.
    Unknown(u32),
}

/// What [`unlock_dir`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlockOutcome {
    /// The directory was empty and not encrypted: it is now encrypted.
    Encrypted,
    /// The directory was encrypted with this key: it is unlocked.
    Unlocked,
    /// `fscrypt_reset_key`: the directory was emptied, made anew and
    /// encrypted with this key.
    Reset,
}

impl fmt::Display for UnlockOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnlockOutcome::Encrypted => "encrypted with the key given (it was empty)",
            UnlockOutcome::Unlocked => "unlocked with the key given",
            UnlockOutcome::Reset => "emptied and encrypted with the new key (fscrypt_reset_key)",
        })
    }
}

/// What [`Unlocked::lock`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockOutcome {
    /// The key was removed: names and contents are unreadable again.
    Removed,
    /// The key was removed, but files still open keep it in use until they
    /// are closed.
    FilesBusy,
    /// Another user of the filesystem still holds the key.
    OtherUsers,
    /// Another unlocked volume of this boot uses the same key: it stays
    /// until that one is locked too.
    SharedKey,
}

/// A volume directory unlocked with its key. Call [`Unlocked::lock`] at
/// shutdown, before the cache is unmounted.
#[derive(Debug)]
#[must_use = "lock() removes the key at shutdown"]
pub struct Unlocked {
    volume: String,
    dir: PathBuf,
    mount_point: PathBuf,
    dev: u64,
    identifier: KeyIdentifier,
    outcome: UnlockOutcome,
}

impl Unlocked {
    /// The volume's name.
    pub fn volume(&self) -> &str {
        &self.volume
    }

    /// The encrypted directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key's identifier.
    pub fn identifier(&self) -> KeyIdentifier {
        self.identifier
    }

    /// What was done to unlock it.
    pub fn outcome(&self) -> UnlockOutcome {
        self.outcome
    }

    /// Whether the key is in the filesystem's keyring now.
    pub fn status(&self) -> Result<KeyStatus, FscryptError> {
        let ctx = Ctx::new(&self.volume, &self.dir, &self.mount_point);
        let root = ctx.open(&self.mount_point)?;
        key_status(&root, &self.identifier)
            .map_err(|e| ctx.ioctl("FS_IOC_GET_ENCRYPTION_KEY_STATUS", &self.mount_point, e))
    }

    /// Removes the key from the filesystem (`FS_IOC_REMOVE_ENCRYPTION_KEY`):
    /// the directory's names and contents are unreadable again. When
    /// another volume of this boot was unlocked with the same key, the key
    /// stays until that one is locked too.
    pub fn lock(self) -> Result<LockOutcome, FscryptError> {
        let ctx = Ctx::new(&self.volume, &self.dir, &self.mount_point);
        if !claims_release(self.dev, self.identifier) {
            return Ok(LockOutcome::SharedKey);
        }
        let root = ctx.open(&self.mount_point)?;
        let flags = remove_key(&root, &self.identifier)
            .map_err(|e| ctx.ioctl("FS_IOC_REMOVE_ENCRYPTION_KEY", &self.mount_point, e))?;
        Ok(if flags & REMOVAL_FILES_BUSY != 0 {
            LockOutcome::FilesBusy
        } else if flags & REMOVAL_OTHER_USERS != 0 {
            LockOutcome::OtherUsers
        } else {
            LockOutcome::Removed
        })
    }
}

/// The volume set-up step for fscrypt: with `fscrypt_key`, encrypts or
/// unlocks `dir` ([`unlock_dir`]); without, checks that `dir` is not
/// encrypted ([`require_unencrypted`]) and returns `None`.
pub fn setup_volume(
    volume: &Volume,
    dir: &Path,
    mount_point: &Path,
) -> Result<Option<Unlocked>, FscryptError> {
    match &volume.fscrypt_key {
        None => require_unencrypted(&volume.name, dir).map(|()| None),
        Some(secret) => {
            let key = FscryptKey::from_base64(secret).ok_or_else(|| FscryptError::BadKey {
                volume: volume.name.clone(),
            })?;
            unlock_dir(
                &volume.name,
                dir,
                mount_point,
                &key,
                volume.fscrypt_reset_key,
            )
            .map(Some)
        }
    }
}

/// For a volume given without `fscrypt_key`: an error when `dir` is
/// encrypted. A filesystem without fscrypt has nothing encrypted: fine.
pub fn require_unencrypted(volume: &str, dir: &Path) -> Result<(), FscryptError> {
    let ctx = Ctx::new(volume, dir, Path::new("/"));
    let file = ctx.open(dir)?;
    match get_policy(&file) {
        Ok(DirPolicy::None) | Err(Errno::EOPNOTSUPP | Errno::ENOTTY) => Ok(()),
        Ok(_) => Err(FscryptError::EncryptedNoKey {
            volume: volume.to_string(),
            dir: dir.to_path_buf(),
        }),
        Err(e) => Err(ctx.ioctl("FS_IOC_GET_ENCRYPTION_POLICY_EX", dir, e)),
    }
}

/// Encrypts or unlocks the volume directory `dir`, on the filesystem
/// mounted on `mount_point`, with `key`:
/// - not encrypted and empty: encrypted with a v2 policy for `key`;
/// - encrypted for `key`: unlocked (the key is added);
/// - encrypted for another key (or with a v1 policy): an error, unless
///   `reset`: then it is emptied, made anew (same mode and owner) and
///   encrypted for `key`;
/// - not encrypted and not empty: an error, unless `reset` (emptied, then
///   encrypted);
/// - a filesystem without encryption support: an error that says to
///   reformat the cache with `b2c.cache_device=reset`.
///
/// Nothing is deleted unless the filesystem accepted the key first.
pub fn unlock_dir(
    volume: &str,
    dir: &Path,
    mount_point: &Path,
    key: &FscryptKey,
    reset: bool,
) -> Result<Unlocked, FscryptError> {
    let ctx = Ctx::new(volume, dir, mount_point);
    let root = ctx.open(mount_point)?;
    let dev = ctx.metadata(&root, mount_point)?.dev();
    let existing = {
        let file = ctx.open(dir)?;
        if ctx.metadata(&file, dir)?.dev() != dev {
            return Err(FscryptError::OtherFilesystem {
                volume: volume.to_string(),
                dir: dir.to_path_buf(),
                mount_point: mount_point.to_path_buf(),
            });
        }
        get_policy(&file)
            .map_err(|e| ctx.unsupported_or("FS_IOC_GET_ENCRYPTION_POLICY_EX", dir, e))?
    };
    let identifier = add_key(&root, key)
        .map_err(|e| ctx.unsupported_or("FS_IOC_ADD_ENCRYPTION_KEY", mount_point, e))?;
    claims_take(dev, identifier);
    let result = apply(&ctx, existing, identifier, reset);
    match result {
        Ok(outcome) => Ok(Unlocked {
            volume: volume.to_string(),
            dir: dir.to_path_buf(),
            mount_point: mount_point.to_path_buf(),
            dev,
            identifier,
            outcome,
        }),
        Err(e) => {
            // Leave the keyring as it was (unless another volume uses the key).
            if claims_release(dev, identifier) {
                let _ = remove_key(&root, &identifier);
            }
            Err(e)
        }
    }
}

/// The decision of [`unlock_dir`] once the key is in the keyring.
fn apply(
    ctx: &Ctx,
    existing: DirPolicy,
    identifier: KeyIdentifier,
    reset: bool,
) -> Result<UnlockOutcome, FscryptError> {
    let mismatch = match existing {
        DirPolicy::V2(p) if p.master_key_identifier == identifier.0 => {
            return Ok(UnlockOutcome::Unlocked)
        }
        DirPolicy::None => {
            if ctx.is_empty()? {
                ctx.set_policy(identifier)?;
                return Ok(UnlockOutcome::Encrypted);
            }
            FscryptError::NotEmpty {
                volume: ctx.volume.to_string(),
                dir: ctx.dir.to_path_buf(),
            }
        }
        DirPolicy::V2(_) => FscryptError::WrongKey {
            volume: ctx.volume.to_string(),
            dir: ctx.dir.to_path_buf(),
        },
        DirPolicy::Other { version } => FscryptError::ForeignPolicy {
            volume: ctx.volume.to_string(),
            dir: ctx.dir.to_path_buf(),
            version,
        },
    };
    if !reset {
        return Err(mismatch);
    }
    ctx.recreate()?;
    ctx.set_policy(identifier)?;
    Ok(UnlockOutcome::Reset)
}

/// Keys this process added, per filesystem, with how many unlocked
/// volumes use each: the filesystem keyring counts one claim per user, so
/// a key shared by two volumes must only be removed with the last one.
static CLAIMS: Mutex<Vec<(u64, KeyIdentifier, usize)>> = Mutex::new(Vec::new());

fn claims_take(dev: u64, id: KeyIdentifier) {
    let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
    match claims.iter_mut().find(|(d, i, _)| *d == dev && *i == id) {
        Some((_, _, n)) => *n += 1,
        None => claims.push((dev, id, 1)),
    }
}

/// Drops one claim; true when it was the last (the key may be removed).
fn claims_release(dev: u64, id: KeyIdentifier) -> bool {
    let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
    match claims.iter().position(|(d, i, _)| *d == dev && *i == id) {
        Some(at) if claims[at].2 > 1 => {
            claims[at].2 -= 1;
            false
        }
        Some(at) => {
            claims.remove(at);
            true
        }
        None => true,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_from_base64_and_never_print() {
        let b64 = "AQEB".repeat(21) + "AQ=="; // 64 bytes of 0x01
        let key = FscryptKey::from_base64(&Secret::new(b64)).unwrap();
        assert_eq!(&key.0[..], &[1u8; 64]);
        assert_eq!(format!("{key:?}"), "***");
        assert!(FscryptKey::from_base64(&Secret::new("AAAA")).is_none());
        assert!(FscryptKey::from_base64(&Secret::new("!!")).is_none());
        assert!(FscryptKey::from_bytes(&[0; 63]).is_none());
        assert!(FscryptKey::from_bytes(&[0; 65]).is_none());
    }

    #[test]
    fn claims_count_volumes_sharing_a_key() {
        let id = KeyIdentifier([0xAB; 16]);
        let dev = u64::MAX - 1;
        claims_take(dev, id);
        claims_take(dev, id);
        assert!(!claims_release(dev, id));
        assert!(claims_release(dev, id));
        assert!(
            claims_release(dev, id),
            "a key never claimed may be removed"
        );
    }

    #[test]
    fn bad_key_from_setup_volume_hides_the_value() {
        let vol = Volume {
            name: "job".into(),
            fscrypt_key: Some(Secret::new("SNEAKYVALUE")),
            ..Default::default()
        };
        let err = setup_volume(&vol, Path::new("/nonexistent"), Path::new("/")).unwrap_err();
        assert!(matches!(err, FscryptError::BadKey { .. }), "{err}");
        assert!(!err.to_string().contains("SNEAKY"));
    }

    #[test]
    fn missing_directory_is_named() {
        let err = require_unencrypted("job", Path::new("/nonexistent/b2c/_data")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("b2c.volume=job: cannot open /nonexistent/b2c/_data: "),
            "{err}"
        );
    }
}
