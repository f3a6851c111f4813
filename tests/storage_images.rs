//! The storage readers and writers against images made by the real tools:
//! mkfs.ext4/ext3/ext2, mkfs.vfat, mkswap, sgdisk (packages e2fsprogs,
//! dosfstools, util-linux, gdisk), and what we write read back by sgdisk,
//! blkid and swaplabel. No root needed.

// An integration test crate: its helpers fail the test by panicking.
#![allow(clippy::unwrap_used, clippy::panic)]

mod images;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use boot2container::storage::disks::write_cache_gpt;
use boot2container::storage::probe::{probe, Content};
use boot2container::storage::swap::write_header;

fn tmp(name: &str, size: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("b2c-images-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = fs::remove_file(&p);
    let f = fs::File::create(&p).unwrap();
    f.set_len(size).unwrap();
    p
}

fn tool(program: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
}

fn run(program: &str, args: &[&str]) -> String {
    let Some(path) = tool(program) else {
        panic!("{program} is missing: install it (scripts/setup: e2fsprogs dosfstools gdisk util-linux)");
    };
    let out = Command::new(path).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn probe_file(p: &Path) -> Option<Content> {
    probe(&mut fs::File::open(p).unwrap()).unwrap()
}

#[test]
fn ext_filesystems_and_labels() {
    let img = tmp("cache.ext4", 16 << 20);
    run(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-O",
            "encrypt",
            "-L",
            "B2C_CACHE",
            img.to_str().unwrap(),
        ],
    );
    let c = probe_file(&img).unwrap();
    assert!(c.is_cache_filesystem(), "{c:?}");
    assert_eq!(c.fstype(), Some("ext4"));
    for (mkfs, version) in [("mkfs.ext3", "ext3"), ("mkfs.ext2", "ext2")] {
        let img = tmp(version, 8 << 20);
        run(mkfs, &["-q", "-F", "-L", "data", img.to_str().unwrap()]);
        assert_eq!(
            probe_file(&img),
            Some(Content::Ext {
                version,
                label: "data".into()
            })
        );
    }
    let img = tmp("nolabel.ext4", 8 << 20);
    run("mkfs.ext4", &["-q", "-F", img.to_str().unwrap()]);
    assert_eq!(
        probe_file(&img).unwrap().to_string(),
        "an ext4 filesystem (no label)"
    );
}

#[test]
fn vfat_and_swap_signatures() {
    let img = tmp("fat.img", 8 << 20);
    run("mkfs.vfat", &["-n", "BOOT", img.to_str().unwrap()]);
    assert_eq!(
        probe_file(&img),
        Some(Content::Other {
            kind: "vfat",
            label: "BOOT".into()
        })
    );
    let img = tmp("fat32.img", 40 << 20);
    run("mkfs.vfat", &["-F", "32", img.to_str().unwrap()]);
    assert_eq!(probe_file(&img).unwrap().fstype(), Some("vfat"));
    let img = tmp("swap.img", 8 << 20);
    run("mkswap", &["-L", "old", img.to_str().unwrap()]);
    let c = probe_file(&img).unwrap();
    assert!(c.is_swap());
    assert_eq!(c.to_string(), "a swap signature labelled \"old\"");
}

#[test]
fn gpt_made_by_sgdisk_is_read() {
    let img = tmp("sgdisk.img", 16 << 20);
    let p = img.to_str().unwrap();
    run(
        "sgdisk",
        &[
            "-n",
            "1:2048:+2M",
            "-c",
            "1:esp",
            "-n",
            "2:0:0",
            "-c",
            "2:B2C_CACHE",
            p,
        ],
    );
    assert_eq!(
        probe_file(&img),
        Some(Content::Gpt {
            partitions: vec![(1, "esp".into()), (2, "B2C_CACHE".into())]
        })
    );
    // Primary header wiped: the GPT is still recognised (backup), never blank.
    let mut bytes = fs::read(&img).unwrap();
    bytes[512..1024].fill(0);
    fs::write(&img, &bytes).unwrap();
    assert!(probe_file(&img).is_some());
}

#[test]
fn our_gpt_is_read_by_sgdisk_and_blkid() {
    let img = tmp("ours.img", 64 << 20);
    // Old signatures first: a whole-disk ext4 the GPT must replace.
    run(
        "mkfs.ext4",
        &["-q", "-F", "-L", "old", img.to_str().unwrap()],
    );
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&img)
        .unwrap();
    write_cache_gpt(&mut f, 512).unwrap();
    drop(f);
    let p = img.to_str().unwrap();
    let listing = run("sgdisk", &["-p", p]);
    assert!(listing.contains("B2C_CACHE"), "{listing}");
    assert!(listing.contains("2048"), "{listing}");
    let verify = run("sgdisk", &["-v", p]);
    assert!(verify.contains("No problems found"), "{verify}");
    let pttype = run("blkid", &["-p", "-o", "value", "-s", "PTTYPE", p]);
    assert_eq!(pttype.trim(), "gpt");
    assert_eq!(
        probe_file(&img),
        Some(Content::Gpt {
            partitions: vec![(1, "B2C_CACHE".into())]
        })
    );
}

#[test]
fn our_swap_header_is_read_by_blkid_and_swaplabel() {
    let img = tmp("ourswap.img", 16 << 20);
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&img)
        .unwrap();
    write_header(&mut f, img.to_str().unwrap(), 16 << 20).unwrap();
    drop(f);
    let p = img.to_str().unwrap();
    let out = run("blkid", &["-p", "-o", "export", p]);
    assert!(out.contains("TYPE=swap"), "{out}");
    assert!(out.contains("LABEL=B2C_SWAP"), "{out}");
    let out = run("swaplabel", &[p]);
    assert!(out.contains("LABEL: B2C_SWAP"), "{out}");
    assert!(probe_file(&img).unwrap().is_swap());
}

#[test]
fn truncated_and_garbage_images_do_not_panic() {
    let img = tmp("trunc.ext4", 8 << 20);
    run(
        "mkfs.ext4",
        &["-q", "-F", "-L", "B2C_CACHE", img.to_str().unwrap()],
    );
    let bytes = fs::read(&img).unwrap();
    for len in [
        0usize,
        1,
        511,
        1024,
        1024 + 0x38,
        1024 + 0x3A,
        1024 + 0x80,
        4096,
    ] {
        let t = tmp("t.img", 0);
        fs::write(&t, &bytes[..len]).unwrap();
        let c = probe_file(&t);
        if len >= 1024 + 0x3A {
            assert!(matches!(c, Some(Content::Ext { .. })), "{len}: {c:?}");
        } else {
            assert_eq!(c, None, "{len}");
        }
    }
    let mut garbage = vec![0u8; 2 << 20];
    fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut garbage)
        .unwrap();
    for chunk in [512usize, 4096, 70_000, 2 << 20] {
        let g = tmp("garbage.img", 0);
        fs::write(&g, &garbage[..chunk]).unwrap();
        let _ = probe_file(&g);
    }
    // Garbage over the superblock of a cache partition: no ext4 any more.
    let mut damaged = bytes.clone();
    damaged[1024..2048].copy_from_slice(&garbage[..1024]);
    let d = tmp("damaged.img", 0);
    fs::write(&d, &damaged).unwrap();
    assert!(!probe_file(&d).is_some_and(|c| c.is_cache_filesystem()));
}

/// The handshake against Debian's nbd-server on the loopback (no kernel
/// nbd needed): NBD_OPT_GO gives the export's size; an unknown export is a
/// clear error.
#[test]
fn nbd_handshake_with_nbd_server() {
    use boot2container::storage::nbd::{handshake, HandshakeError};
    let Some(server) = tool("nbd-server") else {
        panic!("nbd-server is missing: install it (scripts/setup: nbd-server)");
    };
    let export = tmp("export.img", 32 << 20);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let conf = tmp("nbd.conf", 0);
    let pidfile = conf.with_extension("pid");
    fs::write(
        &conf,
        format!(
            "[generic]\nlistenaddr = 127.0.0.1\nport = {port}\n[cache]\nexportname = {}\n",
            export.display()
        ),
    )
    .unwrap();
    let status = Command::new(server)
        .args([
            "-C",
            conf.to_str().unwrap(),
            "-p",
            pidfile.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let mut stream = None;
    for _ in 0..50 {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            stream = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut s = stream.expect("nbd-server did not listen");
    let result = handshake(&mut s, "cache");
    let mut s2 = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let unknown = handshake(&mut s2, "nope");
    if let Some(pid) = fs::read_to_string(&pidfile)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
    {
        // SAFETY: signalling the nbd-server this test started, by its pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let e = result.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(e.size, 32 << 20);
    match unknown {
        Err(HandshakeError::Protocol(m)) => assert!(m.starts_with("export nope:"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// The safety rule of `auto`, end to end on real images: every disk made by
/// the real tools is skipped (and could be claimed by naming it), the zeroed
/// disk after them is the one `auto` would format.
#[test]
fn auto_skips_every_used_disk_made_by_the_real_tools() {
    use boot2container::storage::disks::Disk;
    use boot2container::storage::probe::data_outside_signatures;
    use boot2container::storage::scan_once;
    let dir = std::env::temp_dir().join(format!("b2c-used-disks-{}", std::process::id()));
    let mut files = Vec::new();
    for kind in images::KINDS {
        if kind.needs_root && !images::is_root() {
            assert!(
                std::env::var_os("B2C_REQUIRE_ROOT_TESTS").is_none(),
                "{}: needs root (a loop device)",
                kind.name
            );
            eprintln!("skipping the {} image: it needs root", kind.name);
            continue;
        }
        files.push((kind.name, images::make(kind, &dir)));
    }
    let zeroed = dir.join("zeroed.img");
    fs::File::create(&zeroed)
        .unwrap()
        .set_len(images::SIZE)
        .unwrap();
    files.push(("zeroed", zeroed));
    let disks: Vec<Disk> = files
        .iter()
        .enumerate()
        .map(|(i, _)| Disk {
            name: format!("img{i:02}"),
            size: images::SIZE,
            read_only: false,
            removable: false,
            optical: false,
            mtd: false,
            holders: Vec::new(),
            partitions: Vec::new(),
        })
        .collect();
    let file_of = |dev: &Path| -> PathBuf {
        let name = dev.file_name().unwrap().to_str().unwrap();
        let i: usize = name.trim_start_matches("img").parse().unwrap();
        files[i].1.clone()
    };
    let scan = scan_once(
        disks,
        &[],
        |dev| probe(&mut fs::File::open(file_of(dev))?),
        |dev| data_outside_signatures(&mut fs::File::open(file_of(dev))?),
    );
    assert!(scan.cache.is_none());
    let chosen = scan.blank.expect("the zeroed disk is blank");
    assert_eq!(chosen.name, format!("img{:02}", files.len() - 1));
    assert_eq!(scan.skipped.len(), files.len() - 1, "{:#?}", scan.skipped);
    for (skip, (kind, _)) in scan.skipped.iter().zip(&files) {
        eprintln!("{kind}: {skip}");
        assert!(skip.claimable, "{kind}: {skip}");
    }
    fs::remove_dir_all(&dir).unwrap();
}
