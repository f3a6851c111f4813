//! Storage on real boots (SPEC section 4): the cache on a blank disk and its
//! reuse (no layer pulled twice), swap on the cache, `auto` refusing a disk
//! that holds a filesystem, a corrupted cache left alone, and an NBD export
//! from `nbd-server` on the host loopback used as the cache.
//!
//! Needs the registry (`scripts/registry start && scripts/demo-image`), and
//! e2fsprogs (debugfs), gdisk and nbd-server on the host.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{demo_image, repo, require_registry, Vm, VmConfig};

fn container(option: &str, args: &str) -> String {
    format!("{option}=\"--tls-verify=false {args}\"")
}

fn work_dir() -> PathBuf {
    let d = repo().join("out/test-storage");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A fresh sparse disk image of `size` bytes.
fn blank_disk(name: &str, size: u64) -> PathBuf {
    let p = work_dir().join(name);
    let _ = std::fs::remove_file(&p);
    std::fs::File::create(&p).unwrap().set_len(size).unwrap();
    p
}

fn host(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn blob_gets() -> usize {
    std::fs::read_to_string(repo().join("out/registry/registry.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("GET /v2/") && l.contains("/blobs/"))
        .count()
}

fn disk_arg(p: &Path) -> Vec<String> {
    vec!["--cache-disk".into(), p.display().to_string()]
}

#[test]
fn blank_disk_becomes_the_cache_and_is_reused() {
    require_registry();
    let image = demo_image();
    let disk = blank_disk("auto.img", 2 << 30);

    // First boot: the cache is created, the image pulled, swap is on.
    let before = blob_gets();
    let cmdline = [
        "b2c.cache_device=auto b2c.swap=64M,swappiness=10".to_string(),
        container(
            "b2c.run",
            &format!("{image} sh -c 'cat /proc/swaps; cat /proc/sys/vm/swappiness'"),
        ),
    ]
    .join(" ");
    let mut vm = Vm::boot(
        "cache-first",
        VmConfig {
            cmdline,
            launcher_args: disk_arg(&disk),
            ..Default::default()
        },
    );
    vm.wait_for("Creating the cache on the blank disk /dev/vda");
    vm.wait_for("Formatting /dev/vda1 (ext4, label B2C_CACHE)");
    vm.wait_for("Cache: /dev/vda1 (ext4) mounted at /storage");
    vm.wait_for("Swap: 64.0 MiB swap file /storage/swapfile, swappiness 10");
    let start = vm.wait_for("Running the container");
    vm.wait_for("/storage/swapfile");
    let done = vm.wait_for("The container run successfully");
    vm.expect_clean_poweroff();
    let first = done.at.duration_since(start.at);
    let pulled = blob_gets() - before;
    assert!(pulled > 0, "the first boot pulled no blob");
    let listing = host("sgdisk", &["-p", disk.to_str().unwrap()]);
    assert!(listing.contains("B2C_CACHE"), "{listing}");

    // Second boot: nothing pulled, the swap file is gone.
    let before = blob_gets();
    let cmdline = container(
        "b2c.run",
        &format!("-v /storage:/cache {image} ls -a /cache"),
    );
    let cmdline = format!("b2c.cache_device=auto {cmdline}");
    let mut vm = Vm::boot(
        "cache-second",
        VmConfig {
            cmdline,
            launcher_args: disk_arg(&disk),
            ..Default::default()
        },
    );
    vm.wait_for("Found the B2C_CACHE partition /dev/vda1");
    vm.wait_for("Cache: /dev/vda1 (ext4) mounted at /storage");
    let start = vm.wait_for("Running the container");
    vm.wait_for("containers");
    let done = vm.wait_for("The container run successfully");
    vm.expect_clean_poweroff();
    vm.assert_absent("swapfile");
    vm.assert_absent("Formatting");
    let second = done.at.duration_since(start.at);
    assert_eq!(
        blob_gets() - before,
        0,
        "the second boot pulled blobs again"
    );
    eprintln!(
        "cache: first boot pulled {pulled} blob(s), container in {:.1} s; second boot none, {:.1} s",
        first.as_secs_f64(),
        second.as_secs_f64()
    );
}

#[test]
fn auto_never_touches_a_disk_with_a_filesystem() {
    require_registry();
    let disk = blank_disk("ext4-data.img", 256 << 20);
    let d = disk.to_str().unwrap();
    host("mkfs.ext4", &["-q", "-F", "-L", "data", d]);
    let file = work_dir().join("precious.txt");
    std::fs::write(&file, "precious data\n").unwrap();
    host(
        "debugfs",
        &[
            "-w",
            "-R",
            &format!("write {} /precious", file.display()),
            d,
        ],
    );
    let cmdline = format!(
        "b2c.cache_device=auto {}",
        container("b2c.run", &format!("{} echo ran-in-ram", demo_image()))
    );
    let mut vm = Vm::boot(
        "auto-refuses",
        VmConfig {
            cmdline,
            launcher_args: disk_arg(&disk),
            ..Default::default()
        },
    );
    vm.wait_for("Skipping /dev/vda: it holds an ext4 filesystem labelled \"data\"");
    vm.wait_for("no B2C_CACHE partition and no blank disk: no cache");
    vm.wait_for("ran-in-ram");
    vm.expect_clean_poweroff();
    assert_eq!(
        host("debugfs", &["-R", "cat /precious", d]),
        "precious data\n"
    );
}

#[test]
fn a_corrupted_cache_is_reported_and_left_alone() {
    require_registry();
    let disk = blank_disk("corrupt.img", 256 << 20);
    {
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&disk)
            .unwrap();
        boot2container::storage::disks::write_cache_gpt(&mut f, 512).unwrap();
    }
    let d = disk.to_str().unwrap();
    host(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-b",
            "4096",
            "-E",
            "offset=1048576",
            "-L",
            "B2C_CACHE",
            d,
            "32768",
        ],
    );
    // Garbage over the superblock of the partition.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
        f.seek(SeekFrom::Start((1 << 20) + 1024)).unwrap();
        f.write_all(&[0x5a; 1024]).unwrap();
    }
    let before = std::fs::read(&disk).unwrap();
    let cmdline = format!(
        "b2c.cache_device=auto {}",
        container("b2c.run", &format!("{} echo ran-in-ram", demo_image()))
    );
    let mut vm = Vm::boot(
        "corrupt-cache",
        VmConfig {
            cmdline,
            launcher_args: disk_arg(&disk),
            ..Default::default()
        },
    );
    vm.wait_for("Found the B2C_CACHE partition /dev/vda1");
    let error = vm.wait_for("ERROR: the B2C_CACHE partition /dev/vda1 holds");
    assert!(
        error.text.contains("continuing without a cache"),
        "{}",
        error.text
    );
    vm.wait_for("ran-in-ram");
    vm.expect_clean_poweroff();
    assert!(
        std::fs::read(&disk).unwrap() == before,
        "the corrupted disk was modified"
    );
}

struct NbdServer {
    pid: i32,
}

impl Drop for NbdServer {
    fn drop(&mut self) {
        // SAFETY: signalling the nbd-server this test started, by its pid.
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
    }
}

#[test]
fn an_nbd_export_is_the_cache() {
    require_registry();
    let image = work_dir().join("nbd-export.img");
    let _ = std::fs::remove_file(&image);
    std::fs::File::create(&image)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let port = 10809 + (std::process::id() % 1000) as u16;
    let conf = work_dir().join("nbd-server.conf");
    let pidfile = work_dir().join("nbd-server.pid");
    let _ = std::fs::remove_file(&pidfile);
    std::fs::write(
        &conf,
        format!(
            "[generic]\nlistenaddr = 127.0.0.1\nport = {port}\nallowlist = false\n[cache]\nexportname = {}\n",
            image.display()
        ),
    )
    .unwrap();
    host(
        "nbd-server",
        &[
            "-C",
            conf.to_str().unwrap(),
            "-p",
            pidfile.to_str().unwrap(),
        ],
    );
    let mut pid = None;
    for _ in 0..50 {
        if let Some(p) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            pid = Some(p);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _server = NbdServer {
        pid: pid.expect("nbd-server wrote no pid file"),
    };
    let cmdline = format!(
        "b2c.nbd=/dev/nbd0,host=10.0.2.2,port={port},name=cache b2c.cache_device=/dev/nbd0 {}",
        container(
            "b2c.run",
            &format!(
                "{} sh -c 'echo on-nbd > /var/tmp/x && cat /var/tmp/x'",
                demo_image()
            )
        )
    );
    let mut vm = Vm::boot(
        "nbd-cache",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    vm.wait_for("/dev/nbd0: attached 10.0.2.2");
    vm.wait_for("Cache: /dev/nbd0p1 (ext4) mounted at /storage");
    vm.wait_for("on-nbd");
    vm.expect_clean_poweroff();
    let listing = host("sgdisk", &["-p", image.to_str().unwrap()]);
    assert!(listing.contains("B2C_CACHE"), "{listing}");
}
