//! podman's squashfs image, mounted the way the init mounts it at boot
//! (`boot2container::podman_image::mount_squashfs`: a new read-only,
//! auto-clearing loop device), here on an image made by mksquashfs with the
//! build's options, in a temporary directory.
//!
//! Needs root (loop devices, mounts) and mksquashfs. Without root the test
//! is skipped with a message, unless `B2C_REQUIRE_ROOT_TESTS` is set: then it
//! fails. The mount is undone and the files removed when the test ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use boot2container::podman_image::mount_squashfs;

/// Unmounts (detaching the auto-clearing loop device) and removes the
/// directory, passed or failed.
struct Scratch {
    dir: PathBuf,
    mounted: Option<PathBuf>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(m) = &self.mounted {
            let _ = nix::mount::umount(m);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// True as root; without root false with a message (the test skips), or a
/// failure when `B2C_REQUIRE_ROOT_TESTS` is set.
fn root_or_skip() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var_os("B2C_REQUIRE_ROOT_TESTS").is_none(),
        "needs root (loop devices and mounts) and B2C_REQUIRE_ROOT_TESTS is set"
    );
    eprintln!("SKIPPED: needs root (loop devices and mounts); set B2C_REQUIRE_ROOT_TESTS=1 to make this a failure");
    false
}

fn mksquashfs(src: &Path, image: &Path, comp: &[&str]) {
    let out = Command::new("mksquashfs")
        .arg(src)
        .arg(image)
        .args(comp)
        .args([
            "-b",
            "1M",
            "-noappend",
            "-quiet",
            "-no-progress",
            "-all-root",
        ])
        .output()
        .expect("run mksquashfs (package squashfs-tools: scripts/setup)");
    assert!(
        out.status.success(),
        "mksquashfs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_image_mounts_read_only_and_its_program_runs() {
    if !root_or_skip() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("b2c-podman-image-{}", std::process::id()));
    let mut scratch = Scratch {
        dir: dir.clone(),
        mounted: None,
    };
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    // A program, as podman is in the real image.
    let program = src.join("podman");
    fs::write(&program, "#!/bin/sh\necho podman from the image \"$@\"\n").unwrap();
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    for comp in [
        &["-comp", "zstd", "-Xcompression-level", "19"][..],
        &["-comp", "xz", "-Xbcj", "x86"][..],
    ] {
        let image = dir.join("podman.squashfs");
        let target = dir.join("mnt");
        fs::create_dir_all(&target).unwrap();
        mksquashfs(&src, &image, comp);

        let device = mount_squashfs(&image, &target).unwrap_or_else(|e| panic!("{comp:?}: {e}"));
        scratch.mounted = Some(target.clone());
        assert!(
            device.to_string_lossy().starts_with("/dev/loop"),
            "{device:?}"
        );
        let out = Command::new(target.join("podman"))
            .arg("run")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "podman from the image run\n",
            "{comp:?}"
        );
        // Read-only.
        let err = fs::write(target.join("new"), "x").unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(nix::libc::EROFS),
            "{comp:?}: {err}"
        );

        // The loop device clears itself with the mount.
        nix::mount::umount(&target).unwrap();
        scratch.mounted = None;
        let name = device.file_name().unwrap().to_string_lossy().into_owned();
        let backing = Path::new("/sys/block")
            .join(&name)
            .join("loop/backing_file");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while backing.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(
            !backing.exists(),
            "{comp:?}: {name} still attached after the umount"
        );
    }
}

#[test]
fn a_file_that_is_not_squashfs_fails_naming_the_device_and_image() {
    if !root_or_skip() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("b2c-not-squashfs-{}", std::process::id()));
    let _scratch = Scratch {
        dir: dir.clone(),
        mounted: None,
    };
    fs::create_dir_all(dir.join("mnt")).unwrap();
    let image = dir.join("podman.squashfs");
    fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    let err = mount_squashfs(&image, &dir.join("mnt")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("cannot mount /dev/loop")
            && text.contains(&format!(
                "({}, squashfs) on {}",
                image.display(),
                dir.join("mnt").display()
            )),
        "{text}"
    );
}
