//! Storage on real boots (SPEC section 4): the cache on a blank disk, its
//! reuse (no layer pulled twice) and its `reset`, swap on the cache, `auto`
//! refusing a disk that holds a filesystem, a named disk claimed although it
//! holds data, a named partition with another label used as is, a corrupted
//! cache left alone, an NBD export from `nbd-server` and an NFSv4 export from
//! nfs-ganesha (`scripts/nfs-server`), both on the host loopback, used as the
//! cache.
//!
//! Needs the registry (`scripts/registry start && scripts/demo-image`; the
//! access log is read from `$B2C_OUT/registry/registry.log`, default
//! `out/`), and e2fsprogs (debugfs), gdisk, nbd-server, nfs-ganesha and
//! nfs-ganesha-vfs on the host. Boot one VM at a time on a small machine
//! (`--test-threads=1`).

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

/// The registry's access log, where `scripts/registry` writes it.
fn registry_log() -> PathBuf {
    std::env::var_os("B2C_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("out"))
        .join("registry/registry.log")
}

fn blob_gets() -> usize {
    std::fs::read_to_string(registry_log())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("GET /v2/") && l.contains("/blobs/"))
        .count()
}

fn disk_arg(p: &Path) -> Vec<String> {
    vec!["--cache-disk".into(), p.display().to_string()]
}

/// Boots `cmdline` with `disk` as the virtio disk (/dev/vda).
fn boot_with_disk(name: &str, cmdline: String, disk: &Path) -> Vm {
    Vm::boot(
        name,
        VmConfig {
            cmdline,
            launcher_args: disk_arg(disk),
            ..Default::default()
        },
    )
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
    let mut vm = boot_with_disk("cache-first", cmdline, &disk);
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

    // One VM at a time (the harness allows two per test binary).
    drop(vm);

    // Second boot: nothing pulled, the swap file is gone; a file is left on
    // the cache for the third boot.
    let before = blob_gets();
    let cmdline = container(
        "b2c.run",
        &format!(
            "-v /storage:/cache {image} sh -c 'echo kept > /cache/left-by-boot-2; ls -a /cache'"
        ),
    );
    let cmdline = format!("b2c.cache_device=auto {cmdline}");
    let mut vm = boot_with_disk("cache-second", cmdline, &disk);
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
    let offset = partition_offset(&disk);
    assert_eq!(
        host("debugfs", &["-R", "cat /left-by-boot-2", &offset]),
        "kept\n",
        "the file written by the second boot is not on the cache"
    );
    eprintln!(
        "cache: first boot pulled {pulled} blob(s), container in {:.1} s; second boot none, {:.1} s",
        first.as_secs_f64(),
        second.as_secs_f64()
    );

    drop(vm);

    // Third boot: `reset` reformats the cache; the file is gone and the
    // image is pulled again.
    let before = blob_gets();
    let cmdline = format!(
        "b2c.cache_device=reset {}",
        container(
            "b2c.run",
            &format!(
                "-v /storage:/cache {image} sh -c 'ls -a /cache; w=the-cache; echo listed-$w'"
            ),
        )
    );
    let mut vm = boot_with_disk("cache-reset", cmdline, &disk);
    vm.wait_for("Found the B2C_CACHE partition /dev/vda1");
    vm.wait_for("b2c.cache_device=reset: reformatting /dev/vda1");
    vm.wait_for("Formatting /dev/vda1 (ext4, label B2C_CACHE)");
    vm.wait_for("Cache: /dev/vda1 (ext4) mounted at /storage");
    vm.wait_for("listed-the-cache");
    vm.expect_clean_poweroff();
    vm.assert_absent("left-by-boot-2");
    assert!(
        blob_gets() > before,
        "the reset cache did not pull the image again"
    );
    let listing = host("debugfs", &["-R", "ls /", &offset]);
    assert!(listing.contains("containers"), "{listing}");
    assert!(!listing.contains("left-by-boot-2"), "{listing}");
}

/// `FILE?offset=N` (debugfs syntax) for the first partition of a disk image.
fn partition_offset(disk: &Path) -> String {
    let info = host("sgdisk", &["-i", "1", disk.to_str().unwrap()]);
    let first: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("First sector: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no first sector in sgdisk -i 1 output:\n{info}"));
    format!("{}?offset={}", disk.display(), first * 512)
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
        container(
            "b2c.run",
            &format!("{} sh -c 'w=in-ram; echo ran-$w'", demo_image())
        )
    );
    let mut vm = boot_with_disk("auto-refuses", cmdline, &disk);
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
        container(
            "b2c.run",
            &format!("{} sh -c 'w=in-ram; echo ran-$w'", demo_image())
        )
    );
    let mut vm = boot_with_disk("corrupt-cache", cmdline, &disk);
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
                "{} sh -c 'echo on-$0 > /var/tmp/x && cat /var/tmp/x' nbd",
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

/// QEMU arguments for a second raw virtio disk at PCI slot 6 (`/dev/vdb`
/// when `--cache-disk` is also given, at slot 4).
fn second_disk(p: &Path) -> Vec<String> {
    vec![
        "-drive".into(),
        format!(
            "file={},format=raw,if=none,id=data1,cache=unsafe",
            p.display()
        ),
        "-device".into(),
        "virtio-blk-pci,drive=data1,addr=0x6".into(),
    ]
}

/// An ext4 filesystem labelled `label` holding `/precious`, at `target`
/// (`FILE` or `FILE?offset=N`), of `blocks` 4 KiB blocks.
fn ext4_with_precious_file(target: &str, label: &str, blocks: u64) {
    let (file, offset) = match target.split_once("?offset=") {
        Some((f, o)) => (f, Some(o)),
        None => (target, None),
    };
    let ext = offset.map(|o| format!("offset={o}"));
    let mut args = vec!["-q", "-F", "-b", "4096", "-L", label];
    if let Some(e) = &ext {
        args.extend(["-E", e.as_str()]);
    }
    let blocks = blocks.to_string();
    args.extend([file, blocks.as_str()]);
    host("mkfs.ext4", &args);
    let src = work_dir().join("precious.txt");
    std::fs::write(&src, "precious data\n").unwrap();
    host(
        "debugfs",
        &[
            "-w",
            "-R",
            &format!("write {} /precious", src.display()),
            target,
        ],
    );
    assert_eq!(
        host("debugfs", &["-R", "cat /precious", target]),
        "precious data\n"
    );
}

#[test]
fn a_named_disk_is_claimed_even_if_it_holds_data() {
    require_registry();
    // vda: blank, what `auto` would take; vdb: an ext4 filesystem with data.
    let blank = blank_disk("named-blank.img", 64 << 20);
    let data = blank_disk("named-data.img", 1 << 30);
    let d = data.to_str().unwrap();
    ext4_with_precious_file(d, "data", 65536);
    let cmdline = format!(
        "b2c.cache_device=/dev/vdb {}",
        container(
            "b2c.run",
            &format!(
                "-v /var/tmp:/t {} sh -c 'w=vdb; echo on-$w > /t/where; cat /t/where'",
                demo_image()
            )
        )
    );
    let mut vm = Vm::boot(
        "named-disk",
        VmConfig {
            cmdline,
            launcher_args: disk_arg(&blank),
            qemu_args: second_disk(&data),
            ..Default::default()
        },
    );
    vm.wait_for(
        "/dev/vdb holds an ext4 filesystem labelled \"data\": repartitioning it for the cache (named explicitly)",
    );
    vm.wait_for("Formatting /dev/vdb1 (ext4, label B2C_CACHE)");
    vm.wait_for("Cache: /dev/vdb1 (ext4) mounted at /storage");
    vm.wait_for("on-vdb");
    vm.expect_clean_poweroff();
    let listing = host("sgdisk", &["-p", d]);
    assert!(listing.contains("B2C_CACHE"), "{listing}");
    let offset = partition_offset(&data);
    assert_eq!(
        host("debugfs", &["-R", "cat /tmp/where", &offset]),
        "on-vdb\n"
    );
    // The disk that `auto` would have taken is untouched.
    let untouched = std::fs::read(&blank).unwrap();
    assert!(
        untouched.iter().all(|&b| b == 0),
        "the blank disk /dev/vda was written"
    );
}

#[test]
fn a_named_partition_with_another_label_is_used_as_is() {
    require_registry();
    let disk = blank_disk("named-part.img", 512 << 20);
    let d = disk.to_str().unwrap();
    host(
        "sgdisk",
        &["-n", "1:2048:0", "-t", "1:8300", "-c", "1:scratch", d],
    );
    let offset = partition_offset(&disk);
    ext4_with_precious_file(&offset, "scratch", 100_000);
    let cmdline = format!(
        "b2c.cache_device=/dev/vda1 {}",
        container(
            "b2c.run",
            &format!(
                "-v /storage:/cache {} sh -c 'w=kept; cat /cache/precious && echo precious-$w'",
                demo_image()
            )
        )
    );
    let mut vm = boot_with_disk("named-partition", cmdline, &disk);
    vm.wait_for("/dev/vda1 holds an ext4 filesystem labelled \"scratch\": using it as is");
    vm.wait_for("Cache: /dev/vda1 (ext4) mounted at /storage");
    vm.wait_for("precious data");
    vm.wait_for("precious-kept");
    vm.expect_clean_poweroff();
    vm.assert_absent("Formatting");
    assert_eq!(
        host("debugfs", &["-R", "cat /precious", &offset]),
        "precious data\n"
    );
    let listing = host("debugfs", &["-R", "ls /", &offset]);
    assert!(
        listing.contains("containers"),
        "the store is not on the partition: {listing}"
    );
    let label = host("e2label", &[&offset]);
    assert_eq!(label.trim(), "scratch");
}

/// nfs-ganesha started by `scripts/nfs-server`, stopped on drop.
struct NfsServer {
    dir: PathBuf,
}

impl NfsServer {
    fn start(dir: PathBuf, port: u16) -> NfsServer {
        let _ = std::fs::remove_dir_all(&dir);
        let script = repo().join("scripts/nfs-server");
        let out = Command::new(&script)
            .arg("start")
            .arg("--dir")
            .arg(&dir)
            .arg("--port")
            .arg(port.to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        // Stop it even when start failed half-way.
        let server = NfsServer { dir };
        assert!(
            out.status.success(),
            "scripts/nfs-server start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        server
    }

    fn export(&self) -> PathBuf {
        self.dir.join("export")
    }
}

impl Drop for NfsServer {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/nfs-server"))
            .arg("stop")
            .arg("--dir")
            .arg(&self.dir)
            .status();
        if std::thread::panicking() {
            if let Ok(log) = std::fs::read_to_string(self.dir.join("ganesha.log")) {
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                eprintln!("nfs-ganesha log (end):");
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}

#[test]
fn an_nfs_export_is_the_cache() {
    require_registry();
    let port = 20049 + (std::process::id() % 1000) as u16;
    let server = NfsServer::start(work_dir().join("nfs-server"), port);
    let cmdline = format!(
        "b2c.filesystem=nfs-cache,type=nfs,src=10.0.2.2:/export,opts=port={port} \
         b2c.cache_device=nfs-cache {}",
        container(
            "b2c.run",
            &format!(
                "-v /var/tmp:/t {} sh -c 'w=nfs; echo written-over-$w > /t/marker; cat /t/marker'",
                demo_image()
            )
        )
    );
    let mut vm = Vm::boot(
        "nfs-cache",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    vm.wait_for("The cache device needs the network: set up after it");
    vm.wait_for("The cache is on NFS: podman uses the vfs storage driver");
    vm.wait_for("Cache: b2c.filesystem=nfs-cache (nfs4) mounted at /storage");
    vm.wait_for("written-over-nfs");
    vm.wait_for("The container run successfully");
    vm.expect_clean_poweroff();
    let export = server.export();
    assert_eq!(
        std::fs::read_to_string(export.join("tmp/marker")).unwrap_or_default(),
        "written-over-nfs\n",
        "the file written in the guest is not on the export {}",
        export.display()
    );
    assert!(
        export.join("containers/storage/vfs").is_dir(),
        "podman's vfs store is not on the export {}",
        export.display()
    );
}

#[test]
fn an_nfs_export_is_a_volume() {
    require_registry();
    let port = 21049 + (std::process::id() % 1000) as u16;
    let server = NfsServer::start(work_dir().join("nfs-volume"), port);
    let cmdline = format!(
        "b2c.filesystem=nfs-vol,type=nfs,src=10.0.2.2:/export,opts=port={port} \
         b2c.volume=job,filesystem=nfs-vol,expiration=pipeline_end {}",
        container(
            "b2c.run",
            &format!(
                "-v job:/data {} sh -c 'w=vol; echo on-nfs-$w > /data/result; cat /data/result'",
                demo_image()
            )
        )
    );
    let mut vm = Vm::boot(
        "nfs-volume",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    vm.wait_for("Volume job: created, filesystem nfs-vol (10.0.2.2:/export) mounted on it");
    vm.wait_for("on-nfs-vol");
    vm.wait_for("The container run successfully");
    vm.wait_for("Deleted the expired volume(s): job");
    vm.wait_for("Execution is over, pipeline status: 0");
    vm.expect_clean_poweroff();
    let export = server.export();
    assert_eq!(
        std::fs::read_to_string(export.join("result")).unwrap_or_default(),
        "on-nfs-vol\n",
        "the file written in the volume is not on the export {}",
        export.display()
    );
}
