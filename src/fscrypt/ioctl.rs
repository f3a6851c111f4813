use std::fs::File;
use std::mem::size_of;
use std::os::fd::AsRawFd;

use nix::errno::Errno;

use super::{
    sys, DirPolicy, FscryptKey, KeyIdentifier, KeyStatus, KEY_IDENTIFIER_SIZE, MODE_AES_256_CTS,
    MODE_AES_256_XTS, POLICY_FLAGS_PAD_32, POLICY_V2,
};
use crate::cmdline::FSCRYPT_KEY_LEN;

/// `FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER`: a v2 key named by its identifier.
const KEY_SPEC_TYPE_IDENTIFIER: u32 = 2;

/// The ioctls as nix declares them (unsafe: the wrappers below make them
/// safe).
pub(super) mod raw {
    use super::sys::*;

    /// The argument of the add-key ioctl: the structure followed by the key.
    #[repr(C)]
    pub struct AddKeyRequest {
        pub arg: AddKeyArg,
        pub raw: [u8; super::FSCRYPT_KEY_LEN],
    }

    impl Drop for AddKeyRequest {
        fn drop(&mut self) {
            zeroize::Zeroize::zeroize(&mut self.raw);
        }
    }

    nix::ioctl_write_ptr_bad!(set_policy, FS_IOC_SET_ENCRYPTION_POLICY, PolicyV2);
    nix::ioctl_readwrite_bad!(
        get_policy_ex,
        FS_IOC_GET_ENCRYPTION_POLICY_EX,
        GetPolicyExArg
    );
    nix::ioctl_readwrite_bad!(add_key, FS_IOC_ADD_ENCRYPTION_KEY, AddKeyRequest);
    nix::ioctl_readwrite_bad!(remove_key, FS_IOC_REMOVE_ENCRYPTION_KEY, RemoveKeyArg);
    nix::ioctl_readwrite_bad!(
        get_key_status,
        FS_IOC_GET_ENCRYPTION_KEY_STATUS,
        GetKeyStatusArg
    );
}

/// The policy made for a key: AES-256-XTS contents, AES-256-CTS names,
/// names padded to 32 bytes.
pub fn v2_policy(identifier: KeyIdentifier) -> sys::PolicyV2 {
    sys::PolicyV2 {
        version: POLICY_V2,
        contents_encryption_mode: MODE_AES_256_XTS,
        filenames_encryption_mode: MODE_AES_256_CTS,
        flags: POLICY_FLAGS_PAD_32,
        reserved: [0; 4],
        master_key_identifier: identifier.0,
    }
}

/// The encryption policy of an open directory
/// (`FS_IOC_GET_ENCRYPTION_POLICY_EX`). `EOPNOTSUPP`: the filesystem has
/// no encryption support; `ENOTTY`: it does not know fscrypt.
pub fn get_policy(file: &File) -> Result<DirPolicy, Errno> {
    let mut arg = sys::GetPolicyExArg {
        policy_size: size_of::<sys::PolicyUnion>() as u64,
        policy: sys::PolicyUnion {
            v2: sys::PolicyV2::default(),
        },
    };
    // SAFETY: `arg` is a live `struct fscrypt_get_policy_ex_arg` whose
    // `policy_size` says how much the kernel may write.
    match unsafe { raw::get_policy_ex(file.as_raw_fd(), &mut arg) } {
        Ok(_) => {}
        Err(Errno::ENODATA) => return Ok(DirPolicy::None),
        Err(e) => return Err(e),
    }
    // SAFETY: every member of the union is plain bytes, any value is valid.
    let (version, v2) = unsafe { (arg.policy.version, arg.policy.v2) };
    Ok(
        if version == POLICY_V2 && arg.policy_size == size_of::<sys::PolicyV2>() as u64 {
            DirPolicy::V2(v2)
        } else {
            DirPolicy::Other { version }
        },
    )
}

fn key_spec(identifier: &KeyIdentifier) -> sys::KeySpecifier {
    let mut spec = sys::KeySpecifier {
        type_: KEY_SPEC_TYPE_IDENTIFIER,
        ..Default::default()
    };
    spec.u[..KEY_IDENTIFIER_SIZE].copy_from_slice(&identifier.0);
    spec
}

/// Adds `key` to the keyring of the filesystem `root` is on
/// (`FS_IOC_ADD_ENCRYPTION_KEY`) and returns the identifier the kernel
/// derived.
pub fn add_key(root: &File, key: &FscryptKey) -> Result<KeyIdentifier, Errno> {
    let mut req = raw::AddKeyRequest {
        arg: sys::AddKeyArg {
            key_spec: sys::KeySpecifier {
                type_: KEY_SPEC_TYPE_IDENTIFIER,
                ..Default::default()
            },
            raw_size: FSCRYPT_KEY_LEN as u32,
            ..Default::default()
        },
        raw: [0; FSCRYPT_KEY_LEN],
    };
    req.raw.copy_from_slice(&key.0[..]);
    // SAFETY: `req` is a `struct fscrypt_add_key_arg` followed by
    // `raw_size` bytes of key, as the kernel expects; it stays alive for
    // the call (and is wiped when dropped).
    unsafe { raw::add_key(root.as_raw_fd(), &mut req) }?;
    let mut id = [0u8; KEY_IDENTIFIER_SIZE];
    id.copy_from_slice(&req.arg.key_spec.u[..KEY_IDENTIFIER_SIZE]);
    Ok(KeyIdentifier(id))
}

/// Removes a key from the keyring of the filesystem `root` is on
/// (`FS_IOC_REMOVE_ENCRYPTION_KEY`); returns the removal status flags.
pub fn remove_key(root: &File, identifier: &KeyIdentifier) -> Result<u32, Errno> {
    let mut arg = sys::RemoveKeyArg {
        key_spec: key_spec(identifier),
        ..Default::default()
    };
    // SAFETY: `arg` is a live `struct fscrypt_remove_key_arg`.
    unsafe { raw::remove_key(root.as_raw_fd(), &mut arg) }?;
    Ok(arg.removal_status_flags)
}

/// The status of a key in the keyring of the filesystem `root` is on
/// (`FS_IOC_GET_ENCRYPTION_KEY_STATUS`).
pub fn key_status(root: &File, identifier: &KeyIdentifier) -> Result<KeyStatus, Errno> {
    let mut arg = sys::GetKeyStatusArg {
        key_spec: key_spec(identifier),
        ..Default::default()
    };
    // SAFETY: `arg` is a live `struct fscrypt_get_key_status_arg`.
    unsafe { raw::get_key_status(root.as_raw_fd(), &mut arg) }?;
    Ok(match arg.status {
        1 => KeyStatus::Absent,
        2 => KeyStatus::Present,
        3 => KeyStatus::IncompletelyRemoved,
        other => KeyStatus::Unknown(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_is_v2_aes_256_xts_cts_pad_32() {
        let p = v2_policy(KeyIdentifier([7; 16]));
        assert_eq!(
            (
                p.version,
                p.contents_encryption_mode,
                p.filenames_encryption_mode,
                p.flags
            ),
            (2, 1, 4, 3)
        );
        assert_eq!(p.master_key_identifier, [7; 16]);
        assert_eq!(p.reserved, [0; 4]);
    }

    #[test]
    fn key_spec_carries_the_identifier() {
        let id = KeyIdentifier(core::array::from_fn(|i| i as u8));
        let spec = key_spec(&id);
        assert_eq!(spec.type_, 2);
        assert_eq!(&spec.u[..16], &id.0);
        assert_eq!(&spec.u[16..], &[0; 16]);
        assert_eq!(id.to_string(), "000102030405060708090a0b0c0d0e0f");
    }
}
