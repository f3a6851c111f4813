//! Disks that hold data, made by the real tools Debian packages, for the
//! tests of `b2c.cache_device=auto`'s safety rule: none of them may ever be
//! written by `auto`.
//!
//! Each image is 64 MiB (a 4 KiB squashfs or erofs image is padded to that
//! size, as it would be on a disk). Some need root (loop devices).

#![allow(dead_code, clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The size of each disk image.
pub const SIZE: u64 = 64 << 20;

/// One kind of used disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// A short name, also the image's file name.
    pub name: &'static str,
    /// The disk's logical sector size (the VM must attach it so).
    pub sector: u32,
    /// Needs root (a loop device).
    pub needs_root: bool,
}

/// Every kind this module makes.
pub const KINDS: &[Kind] = &[
    Kind {
        name: "md-0.90-member",
        sector: 512,
        needs_root: false,
    },
    Kind {
        name: "md-1.0-member",
        sector: 512,
        needs_root: false,
    },
    Kind {
        name: "bcache",
        sector: 512,
        needs_root: false,
    },
    Kind {
        name: "f2fs",
        sector: 512,
        needs_root: false,
    },
    Kind {
        name: "squashfs",
        sector: 512,
        needs_root: false,
    },
    Kind {
        name: "erofs",
        sector: 512,
        needs_root: false,
    },
    Kind {
        name: "jfs",
        sector: 512,
        needs_root: false,
    },
    Kind {
        name: "reiserfs",
        sector: 512,
        needs_root: false,
    },
    Kind {
        name: "udf",
        sector: 512,
        needs_root: false,
    },
    Kind {
        name: "luks2-primary-wiped",
        sector: 512,
        needs_root: false,
    },
    Kind {
        name: "random",
        sector: 512,
        needs_root: false,
    },
    Kind {
        name: "gpt-4kn-backup-only",
        sector: 4096,
        needs_root: true,
    },
];

/// The repository root.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Finds a tool in the usual directories (a normal user's PATH lacks /usr/sbin).
pub fn tool(program: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{program} is missing: install the disk tools (scripts/setup --tests: \
                 bcache-tools f2fs-tools squashfs-tools erofs-utils jfsutils reiserfsprogs \
                 udftools cryptsetup-bin gdisk)"
            )
        })
}

/// Runs a tool, panicking with its output when it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(tool(program)).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True when running as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn blank(path: &Path, size: u64) {
    let _ = fs::remove_file(path);
    fs::File::create(path).unwrap().set_len(size).unwrap();
}

fn pad(path: &Path) {
    let f = fs::OpenOptions::new().write(true).open(path).unwrap();
    assert!(f.metadata().unwrap().len() <= SIZE);
    f.set_len(SIZE).unwrap();
}

fn zero_range(path: &Path, offset: u64, len: u64) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&vec![0u8; len as usize]).unwrap();
}

/// A small directory tree to put in read-only images.
fn content_dir(dir: &Path) -> PathBuf {
    let src = dir.join("content");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("hello.txt"), "precious data\n").unwrap();
    fs::write(src.join("sub/more.txt"), "more precious data\n").unwrap();
    src
}

/// Makes the image of `kind` in `dir`; returns its path.
pub fn make(kind: &Kind, dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let img = dir.join(format!("{}.img", kind.name));
    let p = img.to_str().unwrap();
    match kind.name {
        "md-0.90-member" | "md-1.0-member" => {
            // The second member of a RAID 1: superblock at the end only.
            let cache = repo().join("out/test-images/md");
            let made = Command::new(repo().join("scripts/make-md-images"))
                .arg(&cache)
                .status()
                .unwrap();
            assert!(
                made.success(),
                "scripts/make-md-images {} failed",
                cache.display()
            );
            let version = kind
                .name
                .trim_start_matches("md-")
                .trim_end_matches("-member");
            fs::copy(cache.join(format!("md-{version}-b.img")), &img).unwrap();
        }
        "bcache" => {
            blank(&img, SIZE);
            // A backing device: its superblock is at 4 KiB.
            run("make-bcache", &["-B", p]);
        }
        "f2fs" => {
            blank(&img, SIZE);
            run("mkfs.f2fs", &["-q", "-l", "data", p]);
        }
        "squashfs" => {
            let _ = fs::remove_file(&img);
            let src = content_dir(dir);
            run(
                "mksquashfs",
                &[
                    src.to_str().unwrap(),
                    p,
                    "-quiet",
                    "-noappend",
                    "-no-progress",
                ],
            );
            pad(&img);
        }
        "erofs" => {
            let _ = fs::remove_file(&img);
            let src = content_dir(dir);
            run("mkfs.erofs", &["--quiet", p, src.to_str().unwrap()]);
            pad(&img);
        }
        "jfs" => {
            blank(&img, SIZE);
            run("mkfs.jfs", &["-q", "-L", "data", p]);
        }
        "reiserfs" => {
            blank(&img, SIZE);
            run("mkfs.reiserfs", &["-q", "-f", "-l", "data", p]);
        }
        "udf" => {
            blank(&img, SIZE);
            run("mkudffs", &["--label=data", p]);
        }
        "luks2-primary-wiped" => {
            blank(&img, SIZE);
            let key = dir.join("luks.key");
            fs::write(&key, "not a real secret, only for a test image").unwrap();
            run(
                "cryptsetup",
                &[
                    "luksFormat",
                    "--type",
                    "luks2",
                    "--batch-mode",
                    "--pbkdf",
                    "pbkdf2",
                    "--pbkdf-force-iterations",
                    "1000",
                    p,
                    key.to_str().unwrap(),
                ],
            );
            // The primary binary header: what a careless tool or a bad
            // sector destroys first. The secondary copy at 16 KiB remains.
            zero_range(&img, 0, 4096);
        }
        "random" => {
            let data: Vec<u8> = {
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
                (0..SIZE)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect()
            };
            fs::write(&img, data).unwrap();
        }
        "gpt-4kn-backup-only" => {
            blank(&img, SIZE);
            let out = run("losetup", &["--find", "--show", "--sector-size", "4096", p]);
            let dev = out.trim().to_string();
            let made = Command::new(tool("sgdisk"))
                .args(["-n", "1:0:0", "-c", "1:data", &dev])
                .output();
            run("losetup", &["-d", &dev]);
            let made = made.unwrap();
            assert!(made.status.success(), "sgdisk on {dev}: {made:?}");
            // Only the backup GPT at the end is left.
            zero_range(&img, 0, 1 << 20);
        }
        other => panic!("unknown image kind {other}"),
    }
    img
}

/// The sha256 of a file, by the real sha256sum.
pub fn sha256(path: &Path) -> String {
    run("sha256sum", &[path.to_str().unwrap()])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}
