//! fscrypt v2 on real filesystems: ext4 images made by `mkfs.ext4 -O encrypt`
//! (and one without the feature) and a tmpfs, loop-mounted in a temporary
//! directory, through the same ioctls the init uses at boot.
//!
//! Needs root (losetup, mount) and a kernel with ext4 encryption
//! (`/sys/fs/ext4/features/encryption`). Without root the tests are skipped
//! with a message, unless `B2C_REQUIRE_ROOT_TESTS` is set: then they fail.
//! Every image is unmounted, its loop device detached and its files removed
//! when the test ends, passed or failed.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::fs;
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use boot2container::cmdline::{Secret, Volume};
use boot2container::fscrypt::{
    self, sys, DirPolicy, FscryptError, FscryptKey, KeyIdentifier, KeyStatus, LockOutcome,
    UnlockOutcome,
};

/// True when the test may run; false (with a message) when it must be
/// skipped; a failure when root is required and missing.
fn root_or_skip(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        assert!(
            Path::new("/sys/fs/ext4/features/encryption").exists(),
            "{test}: this kernel has no ext4 encryption (/sys/fs/ext4/features/encryption is missing)"
        );
        return true;
    }
    assert!(
        std::env::var_os("B2C_REQUIRE_ROOT_TESTS").is_none(),
        "{test}: needs root (loop devices and mounts) and B2C_REQUIRE_ROOT_TESTS is set"
    );
    eprintln!("SKIPPED {test}: needs root (loop devices and mounts); set B2C_REQUIRE_ROOT_TESTS=1 to make this a failure");
    false
}

/// The filesystem for `test`, made by `make`; `None` when the test is
/// skipped (see [`root_or_skip`]).
fn mounted(test: &str, make: impl FnOnce(&str) -> Mounted) -> Option<Mounted> {
    root_or_skip(test).then(|| make(test))
}

/// An ext4 image made with `-O encrypt`, as the cache is.
fn encrypted_cache(test: &str) -> Option<Mounted> {
    mounted(test, |n| Mounted::ext4(n, true))
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A filesystem mounted in a temporary directory, torn down on drop.
struct Mounted {
    work: PathBuf,
    mnt: PathBuf,
    loop_dev: Option<String>,
    mounted: bool,
}

impl Mounted {
    fn workdir(name: &str) -> PathBuf {
        let work = std::env::temp_dir().join(format!("b2c-fscrypt-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(work.join("mnt")).unwrap();
        work
    }

    /// A 32 MiB ext4 image, with or without the `encrypt` feature.
    fn ext4(name: &str, encrypt: bool) -> Mounted {
        let work = Self::workdir(name);
        let mut fs = Mounted {
            mnt: work.join("mnt"),
            work,
            loop_dev: None,
            mounted: false,
        };
        let img = fs.work.join("cache.img");
        fs::File::create(&img).unwrap().set_len(32 << 20).unwrap();
        let features = if encrypt { "encrypt" } else { "^encrypt" };
        let img_s = img.to_str().unwrap();
        run(
            "mkfs.ext4",
            &[
                "-q",
                "-F",
                "-b",
                "4096",
                "-O",
                features,
                "-L",
                "B2C_CACHE",
                img_s,
            ],
        );
        fs.loop_dev = Some(run("losetup", &["--find", "--show", img_s]));
        run(
            "mount",
            &[fs.loop_dev.as_deref().unwrap(), fs.mnt.to_str().unwrap()],
        );
        fs.mounted = true;
        fs
    }

    fn tmpfs(name: &str) -> Mounted {
        let work = Self::workdir(name);
        let mut fs = Mounted {
            mnt: work.join("mnt"),
            work,
            loop_dev: None,
            mounted: false,
        };
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                "size=8m",
                "tmpfs",
                fs.mnt.to_str().unwrap(),
            ],
        );
        fs.mounted = true;
        fs
    }

    /// A podman-like volume directory `volumes/NAME/_data` on it.
    fn volume_dir(&self, name: &str) -> PathBuf {
        let d = self.mnt.join("volumes").join(name).join("_data");
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn root(&self) -> fs::File {
        fs::File::open(&self.mnt).unwrap()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.mounted {
            let mnt = self.mnt.to_str().unwrap_or_default();
            let ok = Command::new("umount")
                .arg(mnt)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").args(["-l", mnt]).status();
            }
        }
        if let Some(dev) = &self.loop_dev {
            let _ = Command::new("/usr/sbin/losetup").args(["-d", dev]).status();
        }
        let _ = fs::remove_dir_all(&self.work);
    }
}

fn key(byte: u8) -> FscryptKey {
    FscryptKey::from_bytes(&[byte; 64]).unwrap()
}

/// The identifier of a key, learnt on a scratch directory (the kernel
/// derives it), with the key removed again.
fn identifier_of(fs: &Mounted, k: &FscryptKey) -> KeyIdentifier {
    let dir = fs.volume_dir(&format!("scratch-{}", rand_name()));
    let u = fscrypt::unlock_dir("scratch", &dir, &fs.mnt, k, false).unwrap();
    let id = u.identifier();
    assert_eq!(u.lock().unwrap(), LockOutcome::Removed);
    id
}

fn rand_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

fn status(fs: &Mounted, id: &KeyIdentifier) -> KeyStatus {
    fscrypt::key_status(&fs.root(), id).unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn policy(dir: &Path) -> DirPolicy {
    fscrypt::get_policy(&fs::File::open(dir).unwrap()).unwrap()
}

fn write_tree(dir: &Path) {
    fs::create_dir(dir.join("results")).unwrap();
    fs::write(dir.join("results").join("junit.xml"), "<testsuite/>").unwrap();
    fs::write(dir.join("input.txt"), "job input").unwrap();
}

#[test]
fn cache_without_encrypt_feature_says_to_reset_it() {
    let Some(fs) = mounted("cache_without_encrypt_feature_says_to_reset_it", |n| {
        Mounted::ext4(n, false)
    }) else {
        return;
    };
    let dir = fs.volume_dir("job");
    let err = fscrypt::unlock_dir("job", &dir, &fs.mnt, &key(1), false).unwrap_err();
    assert!(
        matches!(err, FscryptError::NoEncryptFeature { .. }),
        "{err}"
    );
    let dev = fs.loop_dev.as_deref().unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "b2c.volume=job: fscrypt_key: the cache filesystem mounted on {} cannot encrypt (ext4 on {dev} was formatted without the \"encrypt\" feature): boot once with b2c.cache_device=reset to reformat the cache with encryption support (this erases the cache)",
            fs.mnt.display()
        )
    );
    // A volume without a key on such a cache is fine.
    fscrypt::require_unencrypted("job", &dir).unwrap();
}

#[test]
fn volume_in_ram_cannot_be_encrypted() {
    let Some(fs) = mounted("volume_in_ram_cannot_be_encrypted", Mounted::tmpfs) else {
        return;
    };
    let dir = fs.volume_dir("job");
    let err = fscrypt::unlock_dir("job", &dir, &fs.mnt, &key(1), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "b2c.volume=job: fscrypt_key: {} is on tmpfs (the cache is in RAM), which cannot encrypt: encrypted volumes need the ext4 cache (b2c.cache_device)",
            dir.display()
        )
    );
    fscrypt::require_unencrypted("job", &dir).unwrap();
}

#[test]
fn empty_volume_is_encrypted_locked_and_unlocked_again() {
    let Some(fs) = encrypted_cache("empty_volume_is_encrypted_locked_and_unlocked_again") else {
        return;
    };
    let dir = fs.volume_dir("job");
    fscrypt::require_unencrypted("job", &dir).unwrap();

    let u = fscrypt::unlock_dir("job", &dir, &fs.mnt, &key(1), false).unwrap();
    assert_eq!(u.outcome(), UnlockOutcome::Encrypted);
    let id = u.identifier();
    // The kernel kept the policy as set (its values are pinned by the
    // unit tests of fscrypt::v2_policy).
    assert_eq!(policy(&dir), DirPolicy::V2(fscrypt::v2_policy(id)));
    assert_eq!(u.status().unwrap(), KeyStatus::Present);
    write_tree(&dir);
    assert_eq!(names(&dir), ["input.txt", "results"]);
    assert_eq!(u.lock().unwrap(), LockOutcome::Removed);
    assert_eq!(status(&fs, &id), KeyStatus::Absent);

    // Without the key: the names are the kernel's encoded no-key names and
    // the contents cannot be read.
    let locked = names(&dir);
    assert_eq!(locked.len(), 2);
    assert!(
        !locked.iter().any(|n| n == "input.txt" || n == "results"),
        "{locked:?}"
    );
    assert_eq!(
        fs::read(dir.join("input.txt")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let some_file = locked
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .unwrap();
    let err = fs::read(&some_file).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOKEY), "{err}");

    // A boot that gives no key is told to give one.
    let err = fscrypt::require_unencrypted("job", &dir).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "b2c.volume=job: volume job is encrypted ({}): give fscrypt_key",
            dir.display()
        )
    );

    // The right key makes everything readable again.
    let u = fscrypt::unlock_dir("job", &dir, &fs.mnt, &key(1), false).unwrap();
    assert_eq!(u.outcome(), UnlockOutcome::Unlocked);
    assert_eq!(u.identifier(), id);
    assert_eq!(names(&dir), ["input.txt", "results"]);
    assert_eq!(
        fs::read_to_string(dir.join("input.txt")).unwrap(),
        "job input"
    );
    assert_eq!(
        fs::read_to_string(dir.join("results/junit.xml")).unwrap(),
        "<testsuite/>"
    );
    assert_eq!(u.lock().unwrap(), LockOutcome::Removed);
}

#[test]
fn wrong_key_is_an_error_and_reset_reencrypts() {
    let Some(fs) = encrypted_cache("wrong_key_is_an_error_and_reset_reencrypts") else {
        return;
    };
    let id_b = identifier_of(&fs, &key(2));
    let dir = fs.volume_dir("job");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(&dir, Some(1234), Some(4321)).unwrap();
    let u = fscrypt::unlock_dir("job", &dir, &fs.mnt, &key(1), false).unwrap();
    let id_a = u.identifier();
    assert_ne!(id_a, id_b);
    write_tree(&dir);
    assert_eq!(u.lock().unwrap(), LockOutcome::Removed);

    let err = fscrypt::unlock_dir("job", &dir, &fs.mnt, &key(2), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("b2c.volume=job: {} is encrypted with another key than the fscrypt_key given: give the right key, or add fscrypt_reset_key to empty the volume and encrypt it with this key", dir.display())
    );
    // Nothing was touched: still A's policy, both entries there, key B not
    // left in the keyring.
    assert_eq!(policy(&dir), DirPolicy::V2(fscrypt::v2_policy(id_a)));
    assert_eq!(names(&dir).len(), 2);
    assert_eq!(status(&fs, &id_b), KeyStatus::Absent);

    // fscrypt_reset_key: emptied, made anew with the same mode and owner,
    // encrypted with B.
    let u = fscrypt::unlock_dir("job", &dir, &fs.mnt, &key(2), true).unwrap();
    assert_eq!(u.outcome(), UnlockOutcome::Reset);
    assert_eq!(u.identifier(), id_b);
    assert_eq!(policy(&dir), DirPolicy::V2(fscrypt::v2_policy(id_b)));
    assert!(names(&dir).is_empty());
    let meta = fs::metadata(&dir).unwrap();
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o750, 1234, 4321)
    );
    fs::write(dir.join("new.txt"), "new").unwrap();
    assert_eq!(u.lock().unwrap(), LockOutcome::Removed);

    // Now A is the wrong key, and B opens it.
    let err = fscrypt::unlock_dir("job", &dir, &fs.mnt, &key(1), false).unwrap_err();
    assert!(matches!(err, FscryptError::WrongKey { .. }), "{err}");
    let u = fscrypt::unlock_dir("job", &dir, &fs.mnt, &key(2), true).unwrap();
    assert_eq!(
        u.outcome(),
        UnlockOutcome::Unlocked,
        "reset only acts on a mismatch"
    );
    assert_eq!(names(&dir), ["new.txt"]);
    assert_eq!(u.lock().unwrap(), LockOutcome::Removed);
}

#[test]
fn non_empty_plain_volume_needs_reset() {
    let Some(fs) = encrypted_cache("non_empty_plain_volume_needs_reset") else {
        return;
    };
    let id = identifier_of(&fs, &key(3));
    let dir = fs.volume_dir("job");
    write_tree(&dir);
    let err = fscrypt::unlock_dir("job", &dir, &fs.mnt, &key(3), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("b2c.volume=job: {} is not empty and not encrypted: fscrypt only encrypts an empty directory; add fscrypt_reset_key to empty it (its files are deleted) and encrypt it", dir.display())
    );
    assert_eq!(names(&dir), ["input.txt", "results"], "nothing deleted");
    assert_eq!(policy(&dir), DirPolicy::None);
    assert_eq!(status(&fs, &id), KeyStatus::Absent);

    let u = fscrypt::unlock_dir("job", &dir, &fs.mnt, &key(3), true).unwrap();
    assert_eq!(u.outcome(), UnlockOutcome::Reset);
    assert!(names(&dir).is_empty());
    assert_eq!(policy(&dir), DirPolicy::V2(fscrypt::v2_policy(id)));
    assert_eq!(u.lock().unwrap(), LockOutcome::Removed);
}

#[test]
fn v1_policy_is_foreign_and_reset_replaces_it() {
    let Some(fs) = encrypted_cache("v1_policy_is_foreign_and_reset_replaces_it") else {
        return;
    };
    let dir = fs.volume_dir("job");
    let v1 = sys::PolicyV1 {
        version: 0,
        contents_encryption_mode: 1,
        filenames_encryption_mode: 4,
        flags: 3,
        master_key_descriptor: [9; 8],
    };
    let file = fs::File::open(&dir).unwrap();
    // SAFETY: a live `struct fscrypt_policy_v1` passed to the set-policy
    // ioctl (v1 policies can be set without their key).
    let rc = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            sys::FS_IOC_SET_ENCRYPTION_POLICY as _,
            &v1 as *const sys::PolicyV1,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    drop(file);
    assert_eq!(policy(&dir), DirPolicy::Other { version: 0 });

    let err = fscrypt::unlock_dir("job", &dir, &fs.mnt, &key(4), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("b2c.volume=job: {} is encrypted with a version 0 fscrypt policy, not the v2 policy of fscrypt_key: add fscrypt_reset_key to empty the volume and encrypt it with this key", dir.display())
    );
    let err = fscrypt::require_unencrypted("job", &dir).unwrap_err();
    assert!(matches!(err, FscryptError::EncryptedNoKey { .. }), "{err}");
    let u = fscrypt::unlock_dir("job", &dir, &fs.mnt, &key(4), true).unwrap();
    assert_eq!(u.outcome(), UnlockOutcome::Reset);
    assert_eq!(
        policy(&dir),
        DirPolicy::V2(fscrypt::v2_policy(u.identifier()))
    );
    assert_eq!(u.lock().unwrap(), LockOutcome::Removed);
}

#[test]
fn volumes_sharing_a_key_keep_it_until_the_last_lock() {
    let Some(fs) = encrypted_cache("volumes_sharing_a_key_keep_it_until_the_last_lock") else {
        return;
    };
    let (d1, d2) = (fs.volume_dir("one"), fs.volume_dir("two"));
    let u1 = fscrypt::unlock_dir("one", &d1, &fs.mnt, &key(5), false).unwrap();
    let u2 = fscrypt::unlock_dir("two", &d2, &fs.mnt, &key(5), false).unwrap();
    fs::write(d2.join("out.txt"), "x").unwrap();
    assert_eq!(u1.lock().unwrap(), LockOutcome::SharedKey);
    assert_eq!(names(&d2), ["out.txt"]);
    assert_eq!(u2.status().unwrap(), KeyStatus::Present);
    let id = u2.identifier();
    assert_eq!(u2.lock().unwrap(), LockOutcome::Removed);
    assert_eq!(status(&fs, &id), KeyStatus::Absent);
    assert_ne!(names(&d2), ["out.txt"]);
}

#[test]
fn setup_volume_takes_the_command_line_fields() {
    let Some(fs) = encrypted_cache("setup_volume_takes_the_command_line_fields") else {
        return;
    };
    let dir = fs.volume_dir("job");
    let id = identifier_of(&fs, &key(6));
    let b64 = "BgYG".repeat(21) + "Bg=="; // 64 bytes of 6
    let mut vol = Volume {
        name: "job".into(),
        fscrypt_key: Some(Secret::new(b64)),
        ..Default::default()
    };
    let u = fscrypt::setup_volume(&vol, &dir, &fs.mnt).unwrap().unwrap();
    assert_eq!(u.volume(), "job");
    assert_eq!(u.dir(), dir);
    assert_eq!(u.identifier(), id);
    assert_eq!(u.lock().unwrap(), LockOutcome::Removed);
    vol.fscrypt_key = None;
    let err = fscrypt::setup_volume(&vol, &dir, &fs.mnt).unwrap_err();
    assert!(matches!(err, FscryptError::EncryptedNoKey { .. }), "{err}");
}

#[test]
fn directory_off_the_cache_is_refused() {
    let Some(fs) = encrypted_cache("directory_off_the_cache_is_refused") else {
        return;
    };
    let elsewhere = fs.work.join("not-on-the-image");
    fs::create_dir_all(&elsewhere).unwrap();
    let err = fscrypt::unlock_dir("job", &elsewhere, &fs.mnt, &key(7), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "b2c.volume=job: {} is not on the filesystem mounted on {} (a filesystem= volume?): fscrypt only encrypts volumes on the cache",
            elsewhere.display(),
            fs.mnt.display()
        )
    );
}
