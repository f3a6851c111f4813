use std::mem::size_of;

use super::KEY_IDENTIFIER_SIZE;

/// `struct fscrypt_policy_v1`: only its size matters (the set-policy
/// ioctl number is declared with it, whatever the version passed).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicyV1 {
    pub version: u8,
    pub contents_encryption_mode: u8,
    pub filenames_encryption_mode: u8,
    pub flags: u8,
    pub master_key_descriptor: [u8; 8],
}

/// `struct fscrypt_policy_v2`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyV2 {
    pub version: u8,
    pub contents_encryption_mode: u8,
    pub filenames_encryption_mode: u8,
    pub flags: u8,
    pub reserved: [u8; 4],
    pub master_key_identifier: [u8; KEY_IDENTIFIER_SIZE],
}

/// The union in `struct fscrypt_get_policy_ex_arg`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union PolicyUnion {
    pub version: u8,
    pub v1: PolicyV1,
    pub v2: PolicyV2,
}

/// `struct fscrypt_get_policy_ex_arg`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct GetPolicyExArg {
    /// In: the size of `policy`; out: the size of the policy found.
    pub policy_size: u64,
    pub policy: PolicyUnion,
}

/// `struct fscrypt_key_specifier` (the union is 32 bytes; a v2
/// identifier takes its first 16).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct KeySpecifier {
    pub type_: u32,
    pub reserved: u32,
    pub u: [u8; 32],
}

/// `struct fscrypt_add_key_arg`, without its flexible `raw[]` member.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct AddKeyArg {
    pub key_spec: KeySpecifier,
    pub raw_size: u32,
    pub key_id: u32,
    pub reserved: [u32; 8],
}

/// `struct fscrypt_remove_key_arg`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveKeyArg {
    pub key_spec: KeySpecifier,
    pub removal_status_flags: u32,
    pub reserved: [u32; 5],
}

/// `struct fscrypt_get_key_status_arg`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct GetKeyStatusArg {
    pub key_spec: KeySpecifier,
    pub reserved: [u32; 6],
    pub status: u32,
    pub status_flags: u32,
    pub user_count: u32,
    pub out_reserved: [u32; 13],
}

/// The type of an ioctl request number on this target.
pub type IoctlRequest = nix::sys::ioctl::ioctl_num_type;

/// `_IOR('f', 19, struct fscrypt_policy_v1)`.
pub const FS_IOC_SET_ENCRYPTION_POLICY: IoctlRequest =
    nix::request_code_read!(b'f', 19, size_of::<PolicyV1>());
/// `_IOWR('f', 22, __u8[9])`.
pub const FS_IOC_GET_ENCRYPTION_POLICY_EX: IoctlRequest = nix::request_code_readwrite!(b'f', 22, 9);
/// `_IOWR('f', 23, struct fscrypt_add_key_arg)`.
pub const FS_IOC_ADD_ENCRYPTION_KEY: IoctlRequest =
    nix::request_code_readwrite!(b'f', 23, size_of::<AddKeyArg>());
/// `_IOWR('f', 24, struct fscrypt_remove_key_arg)`.
pub const FS_IOC_REMOVE_ENCRYPTION_KEY: IoctlRequest =
    nix::request_code_readwrite!(b'f', 24, size_of::<RemoveKeyArg>());
/// `_IOWR('f', 26, struct fscrypt_get_key_status_arg)`.
pub const FS_IOC_GET_ENCRYPTION_KEY_STATUS: IoctlRequest =
    nix::request_code_readwrite!(b'f', 26, size_of::<GetKeyStatusArg>());

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    #[test]
    fn structures_have_the_kernel_layout() {
        // Sizes and offsets printed by a C program built against
        // <linux/fscrypt.h> (Debian 12's linux-libc-dev).
        assert_eq!(size_of::<PolicyV1>(), 12);
        assert_eq!(size_of::<PolicyV2>(), 24);
        assert_eq!(offset_of!(PolicyV2, master_key_identifier), 8);
        assert_eq!(size_of::<GetPolicyExArg>(), 32);
        assert_eq!(offset_of!(GetPolicyExArg, policy), 8);
        assert_eq!(align_of::<GetPolicyExArg>(), 8);
        assert_eq!(size_of::<KeySpecifier>(), 40);
        assert_eq!(offset_of!(KeySpecifier, u), 8);
        assert_eq!(size_of::<AddKeyArg>(), 80);
        assert_eq!(offset_of!(AddKeyArg, raw_size), 40);
        assert_eq!(offset_of!(AddKeyArg, key_id), 44);
        assert_eq!(
            offset_of!(crate::fscrypt::ioctl::raw::AddKeyRequest, raw),
            80
        );
        assert_eq!(size_of::<RemoveKeyArg>(), 64);
        assert_eq!(offset_of!(RemoveKeyArg, removal_status_flags), 40);
        assert_eq!(size_of::<GetKeyStatusArg>(), 128);
        assert_eq!(offset_of!(GetKeyStatusArg, status), 64);
        assert_eq!(offset_of!(GetKeyStatusArg, status_flags), 68);
        assert_eq!(offset_of!(GetKeyStatusArg, user_count), 72);
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "x86"))]
    fn ioctl_numbers_match_the_kernel_header() {
        assert_eq!(FS_IOC_SET_ENCRYPTION_POLICY as u32, 0x800c_6613);
        assert_eq!(FS_IOC_GET_ENCRYPTION_POLICY_EX as u32, 0xc009_6616);
        assert_eq!(FS_IOC_ADD_ENCRYPTION_KEY as u32, 0xc050_6617);
        assert_eq!(FS_IOC_REMOVE_ENCRYPTION_KEY as u32, 0xc040_6618);
        assert_eq!(FS_IOC_GET_ENCRYPTION_KEY_STATUS as u32, 0xc080_661a);
    }
}
