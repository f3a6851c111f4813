//! Storage on real boots (docs/options.md, *Storage*): the cache on a blank disk, its
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

// An integration test crate: its helpers fail the test by panicking.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
mod images;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::nfs::NfsServer;
use common::{
    container, demo_image, host, partition_offset, repo, require_registry, test_dir, Vm, VmConfig,
};

/// A fresh sparse disk image of `size` bytes.
fn blank_disk(name: &str, size: u64) -> PathBuf {
    let p = test_dir("storage").join(name);
    let _ = std::fs::remove_file(&p);
    std::fs::File::create(&p).unwrap().set_len(size).unwrap();
    p
}

/// The access log of the registry the guests pull from: `$B2C_REGISTRY_LOG`,
/// else the one of the `docker-registry serve DIR/config.yml` running on
/// this machine (the registry is shared: it may have been started from
/// another checkout), else this checkout's `out/registry/registry.log`.
fn registry_log() -> PathBuf {
    if let Some(log) = std::env::var_os("B2C_REGISTRY_LOG") {
        return PathBuf::from(log);
    }
    let running = std::fs::read_dir("/proc").ok().and_then(|procs| {
        procs.flatten().find_map(|p| {
            let cmdline = std::fs::read(p.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            let serves = args.first()?.ends_with(b"docker-registry") && args.get(1)? == b"serve";
            let config = Path::new(std::str::from_utf8(args.get(2)?).ok()?);
            serves.then(|| config.with_file_name("registry.log"))
        })
    });
    running.unwrap_or_else(|| {
        std::env::var_os("B2C_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("out"))
            .join("registry/registry.log")
    })
}

/// Blob downloads from the repository `repo` (`b2c/demo`) so far.
fn blob_gets(repo: &str) -> usize {
    let wanted = format!("GET /v2/{repo}/blobs/");
    std::fs::read_to_string(registry_log())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&wanted))
        .count()
}

/// A copy of the demo image under a repository of this test alone
/// (`b2c/NAME-PID`), so that its blob downloads are counted apart from
/// those of the other VMs that share the registry. Returns the repository
/// and the image as the guest names it.
fn private_demo_image(name: &str) -> (String, String) {
    let port = common::registry_port();
    let repo = format!("b2c/{name}-{}", std::process::id());
    host(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://127.0.0.1:{port}/b2c/demo:latest"),
            &format!("docker://127.0.0.1:{port}/{repo}:latest"),
        ],
    );
    let image = format!("10.0.2.2:{port}/{repo}:latest");
    (repo, image)
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
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let (repo, image) = private_demo_image("cache");
    let disk = blank_disk("auto.img", 2 << 30);

    // First boot: the cache is created, the image pulled, swap is on.
    let before = blob_gets(&repo);
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
    let start = vm.wait_for("About to start executing a container");
    vm.wait_for("/storage/swapfile");
    let done = vm.wait_for("The container run successfully");
    vm.expect_clean_poweroff();
    let first = done.at.duration_since(start.at);
    let pulled = blob_gets(&repo) - before;
    assert!(pulled > 0, "the first boot pulled no blob");
    let listing = host("sgdisk", &["-p", disk.to_str().unwrap()]);
    assert!(listing.contains("B2C_CACHE"), "{listing}");

    // One VM at a time (the harness allows two per test binary).
    drop(vm);

    // Second boot: nothing pulled, the swap file is gone; a file is left on
    // the cache for the third boot.
    let before = blob_gets(&repo);
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
    let start = vm.wait_for("About to start executing a container");
    vm.wait_for("containers");
    let done = vm.wait_for("The container run successfully");
    vm.expect_clean_poweroff();
    vm.assert_absent("swapfile");
    vm.assert_absent("Formatting");
    let second = done.at.duration_since(start.at);
    assert_eq!(
        blob_gets(&repo) - before,
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
    let before = blob_gets(&repo);
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
        blob_gets(&repo) > before,
        "the reset cache did not pull the image again"
    );
    let listing = host("debugfs", &["-R", "ls /", &offset]);
    assert!(listing.contains("containers"), "{listing}");
    assert!(!listing.contains("left-by-boot-2"), "{listing}");
}

#[test]
fn auto_never_touches_a_disk_with_a_filesystem() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let disk = blank_disk("ext4-data.img", 256 << 20);
    let d = disk.to_str().unwrap();
    host("mkfs.ext4", &["-q", "-F", "-L", "data", d]);
    let file = test_dir("storage").join("precious.txt");
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
    // A second disk with data but no signature anywhere a probe looks:
    // metadata near its end, as MD RAID 1.0 and firmware RAID keep it.
    let raw = blank_disk("no-signature.img", 64 << 20);
    host(
        "dd",
        &[
            "if=/dev/urandom",
            &format!("of={}", raw.display()),
            "bs=4096",
            "count=2",
            &format!("seek={}", (64 << 20) / 4096 - 16),
            "conv=notrunc",
            "status=none",
        ],
    );
    let raw_sum = host("sha256sum", &[raw.to_str().unwrap()]);
    let mut vm = Vm::boot(
        "auto-refuses",
        VmConfig {
            cmdline,
            launcher_args: disk_arg(&disk),
            qemu_args: second_disk(&raw),
            ..Default::default()
        },
    );
    vm.wait_for("Skipping /dev/vda: it holds an ext4 filesystem labelled \"data\"");
    let line = vm.wait_for("Skipping /dev/vdb: its last MiB holds data");
    assert!(
        line.text
            .contains("(to use it anyway, give b2c.cache_device=/dev/vdb: it will be erased)"),
        "{}",
        line.text
    );
    vm.wait_for("no B2C_CACHE partition and no blank disk: no cache");
    vm.wait_for("ran-in-ram");
    vm.expect_clean_poweroff();
    assert_eq!(
        host("debugfs", &["-R", "cat /precious", d]),
        "precious data\n"
    );
    assert_eq!(host("sha256sum", &[raw.to_str().unwrap()]), raw_sum);
}

#[test]
fn a_corrupted_cache_is_reported_and_left_alone() {
    if !common::vm_ready() {
        return;
    }
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
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let image = test_dir("storage").join("nbd-export.img");
    let _ = std::fs::remove_file(&image);
    std::fs::File::create(&image)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let port = 10809 + (std::process::id() % 1000) as u16;
    let conf = test_dir("storage").join("nbd-server.conf");
    let pidfile = test_dir("storage").join("nbd-server.pid");
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
    let src = test_dir("storage").join("precious.txt");
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
    if !common::vm_ready() {
        return;
    }
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
    if !common::vm_ready() {
        return;
    }
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

#[test]
fn an_nfs_export_is_the_cache() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let port = 20049 + (std::process::id() % 1000) as u16;
    let server = NfsServer::start(test_dir("storage").join("nfs-server"), port);
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
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let port = 21049 + (std::process::id() % 1000) as u16;
    let server = NfsServer::start(test_dir("storage").join("nfs-volume"), port);
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
    // The status line, then the clean-up (as the original orders them).
    vm.wait_for("Execution is over, pipeline status: 0");
    vm.wait_for("Deleted the expired volume(s): job");
    vm.expect_clean_poweroff();
    let export = server.export();
    assert_eq!(
        std::fs::read_to_string(export.join("result")).unwrap_or_default(),
        "on-nfs-vol\n",
        "the file written in the volume is not on the export {}",
        export.display()
    );
}

/// The data-safety rule on a real boot: disks made by the real tools
/// (bcache, F2FS, squashfs, erofs, JFS, ReiserFS, UDF, LUKS2 with its
/// primary header wiped, random data, a 4Kn disk with only a backup GPT)
/// are each named as skipped and left byte-identical; the zeroed disk after
/// them becomes the cache.
#[test]
fn auto_leaves_every_used_disk_byte_identical() {
    require_registry();
    let dir = test_dir("storage").join("used-disks");
    let mut disks = Vec::new();
    for kind in images::KINDS {
        if kind.needs_root && !images::is_root() {
            assert!(
                std::env::var_os("B2C_REQUIRE_ROOT_TESTS").is_none(),
                "{}: needs root",
                kind.name
            );
            eprintln!("skipping the {} image: it needs root", kind.name);
            continue;
        }
        let img = images::make(kind, &dir);
        let sum = images::sha256(&img);
        disks.push((kind, img, sum));
    }
    let zeroed = blank_disk("used-disks-zeroed.img", 256 << 20);
    let mut qemu_args = Vec::new();
    for (i, (kind, img, _)) in disks.iter().enumerate() {
        let id = format!("used{i}");
        qemu_args.push("-drive".to_string());
        qemu_args.push(format!(
            "file={},format=raw,if=none,id={id},cache=unsafe",
            img.display()
        ));
        qemu_args.push("-device".to_string());
        qemu_args.push(format!(
            "virtio-blk-pci,drive={id},addr={:#x},logical_block_size={s},physical_block_size={s}",
            6 + i,
            s = kind.sector
        ));
    }
    qemu_args.extend([
        "-drive".to_string(),
        format!(
            "file={},format=raw,if=none,id=zeroed,cache=unsafe",
            zeroed.display()
        ),
        "-device".to_string(),
        format!("virtio-blk-pci,drive=zeroed,addr={:#x}", 6 + disks.len()),
    ]);
    let cmdline = format!(
        "b2c.cache_device=auto {}",
        container(
            "b2c.run",
            &format!("{} sh -c 'w=on-cache; echo ran-$w'", demo_image())
        )
    );
    let mut vm = Vm::boot(
        "auto-used-disks",
        VmConfig {
            cmdline,
            qemu_args,
            ..Default::default()
        },
    );
    // virtio disks are named in PCI slot order: vda, vdb...
    for (i, (kind, _, _)) in disks.iter().enumerate() {
        let name = format!("vd{}", (b'a' + i as u8) as char);
        let line = vm.wait_for(&format!("Skipping /dev/{name}: "));
        assert!(
            line.text.contains(&format!(
                "(to use it anyway, give b2c.cache_device=/dev/{name}: it will be erased)"
            )),
            "{}: {}",
            kind.name,
            line.text
        );
    }
    let cache = format!("vd{}", (b'a' + disks.len() as u8) as char);
    vm.wait_for(&format!(
        "Creating the cache on the blank disk /dev/{cache}"
    ));
    vm.wait_for("ran-on-cache");
    vm.expect_clean_poweroff();
    for (kind, img, sum) in &disks {
        assert_eq!(&images::sha256(img), sum, "{} was modified", kind.name);
    }
    let listing = host("sgdisk", &["-p", zeroed.to_str().unwrap()]);
    assert!(listing.contains("B2C_CACHE"), "{listing}");
    let _ = std::fs::remove_dir_all(&dir);
}
