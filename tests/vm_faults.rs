//! The fault matrix (issue 10) on real boots: each scenario breaks
//! something on purpose and asserts an ERROR (or WARNING) line naming the
//! cause, the pipeline status, the status line and a clean power-off (or
//! halt) within a bound.
//!
//! Covered elsewhere, not booted again here: no network interface and no
//! DHCP answer (`vm_boot.rs`), an image that does not exist (`vm_boot.rs`),
//! a corrupted cache disk (`vm_storage.rs`).
//!
//! Here: `^C` typed on the serial console of a container without `-t`, then
//! Ctrl-Alt-Del (QEMU's monitor: `sendkey ctrl-alt-delete`), in one boot;
//! SIGUSR1 sent to PID 1 by a container (halt); containers killed by SIGKILL
//! and by the OOM killer with the NTP server down, in one boot; the NFS
//! server killed while a container writes to an NFS volume; the cache disk
//! full during a pull; QEMU killed in the middle of a job, then a boot on the
//! same cache with the registry down (the cached image runs, one not cached
//! fails with 125); a malformed option; an extra-args URL answering 404.
//!
//! Input on the console: the tests keep QEMU's standard input (the serial
//! line, multiplexed with QEMU's monitor by `scripts/launch`) and write to
//! it; `Ctrl-a c` switches to the monitor and back.
//!
//! Needs what `./scripts/test` prepares (kernel, initramfs, the registry
//! with the demo image), plus nfs-ganesha (`scripts/nfs-server`), umoci and
//! skopeo on the host, and root (the NTP scenario holds UDP port 123).

// An integration test crate: its helpers fail the test by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::nfs::NfsServer;
use common::{
    container, demo_image, free_port, host, registry_port, require_registry, test_dir, Line, Vm,
    VmConfig,
};

/// Waits for `Execution is over, pipeline status: N` (asserting N), then
/// the power-off line and QEMU's clean exit, all within `bound` of `since`
/// (the line of the fault's cause).
fn expect_end(vm: &mut Vm, since: &Line, status: i32, bound: Duration) {
    let line = vm.wait_for("Execution is over, pipeline status: ");
    assert!(
        line.text
            .trim_end()
            .ends_with(&format!("pipeline status: {status}")),
        "status line: {:?} (expected {status})",
        line.text
    );
    vm.expect_clean_poweroff();
    let took = since.at.elapsed();
    assert!(
        took < bound,
        "powered off {took:?} after {:?}, over {bound:?}",
        since.text
    );
    vm.assert_absent("Kernel panic");
}

/// `^C` typed on the serial console reaches no container that did not ask
/// for a TTY; Ctrl-Alt-Del stops the pipeline through the orderly path:
/// status 130, no b2c.run_post, the status line and a clean power-off.
#[test]
fn ctrl_c_on_the_console_and_ctrl_alt_del() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let image = demo_image();
    let cmdline = [
        container(
            "b2c.run",
            &format!(
                "-i {image} sh -c 'echo waiting-for-input-$((2+2)); read line; echo got-$line; sleep 3; echo survived-$((6*7))'"
            ),
        ),
        container(
            "b2c.run",
            &format!("{image} sh -c 'echo waiting-for-c-a-d-$((2+3)); sleep 600'"),
        ),
        container("b2c.run_post", &format!("{image} echo POST-$((1+1))")),
    ]
    .join(" ");
    let mut vm = Vm::boot(
        "ctrl-c-and-ctrl-alt-del",
        VmConfig {
            cmdline,
            stdin: true,
            ..Default::default()
        },
    );
    vm.wait_for("waiting-for-input-4");
    // ^C, then a line for `read`: the line proves the typing reaches the
    // console, the rest of the output that ^C did not end the container.
    vm.send(b"\x03");
    std::thread::sleep(Duration::from_secs(1));
    vm.send(b"\x03hello\n");
    vm.wait_for("got-hello");
    vm.wait_for("survived-42");
    vm.wait_for("The container run successfully, load the next one!");
    vm.wait_for("waiting-for-c-a-d-5");
    vm.monitor("sendkey ctrl-alt-delete");
    let cause =
        vm.wait_for("ERROR: Ctrl-Alt-Del (SIGINT): stopping the pipeline and shutting down");
    expect_end(&mut vm, &cause, 130, Duration::from_secs(120));
    vm.assert_no_line("POST-2");
}

/// SIGUSR1 to PID 1 (busybox `halt`), from a container that shares the
/// host's PID namespace: the orderly path, status 138, then a halt.
#[test]
fn sigusr1_halts_the_machine() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let image = demo_image();
    let cmdline = [
        container(
            "b2c.run",
            &format!(
                "--pid=host {image} sh -c 'echo sending-usr1-$((1+1)); kill -USR1 1; sleep 600'"
            ),
        ),
        container("b2c.run_post", &format!("{image} echo POST-$((1+1))")),
    ]
    .join(" ");
    let mut vm = Vm::boot(
        "sigusr1-halt",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    // (The container's own line and the init's may come in either order.)
    let cause = vm.wait_for("ERROR: SIGUSR1 (halt): stopping the pipeline and shutting down");
    vm.wait_for("Execution is over, pipeline status: 138");
    vm.wait_for("It's now safe to turn off your computer");
    vm.wait_for("+ halt");
    // A halted machine stays on: QEMU does not exit by itself.
    vm.wait_for_timeout("reboot: System halted", Duration::from_secs(60));
    assert!(cause.at.elapsed() < Duration::from_secs(120));
    vm.assert_no_line("POST-2");
    vm.assert_absent("Kernel panic");
}

/// Holds UDP 127.0.0.1:123 without ever answering: the guest's NTP server
/// (10.0.2.2) is down, even if a chronyd of another test would start.
struct SilentNtp {
    _socket: std::net::UdpSocket,
}

impl SilentNtp {
    fn hold() -> SilentNtp {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            match std::net::UdpSocket::bind("127.0.0.1:123") {
                Ok(socket) => return SilentNtp { _socket: socket },
                Err(e) if Instant::now() < deadline => {
                    // Another test's chronyd: wait for it to end.
                    eprintln!("UDP 127.0.0.1:123 is busy ({e}): waiting");
                    std::thread::sleep(Duration::from_secs(2));
                }
                Err(e) => panic!("cannot hold UDP 127.0.0.1:123 (root needed): {e}"),
            }
        }
    }
}

/// A container killed by SIGKILL and one killed by the OOM killer: each is
/// named with its cause, the first failure is the status (137); the NTP
/// server being down is a warning, nothing more.
#[test]
fn killed_containers_and_the_ntp_server_down() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let image = demo_image();
    let ntp = SilentNtp::hold();
    let cmdline = [
        "b2c.ntp_peer=10.0.2.2".to_string(),
        // In the host's PID namespace: the shell is not its namespace's
        // PID 1, which signals from inside cannot kill.
        container(
            "b2c.run",
            &format!("--pid=host {image} sh -c 'echo self-kill-$((1+1)); kill -9 $$'"),
        ),
        container(
            "b2c.run",
            &format!("--memory=32m --memory-swap=32m {image} sh -c 'echo eating-$((1+1)); x=a; while true; do x=$x$x; done'"),
        ),
        container("b2c.run", &format!("{image} sh -c 'echo still-$((2+2))'")),
    ]
    .join(" ");
    let mut vm = Vm::boot(
        "killed-containers",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    let warning = vm.wait_for("WARNING: b2c.ntp_peer: ");
    assert!(
        warning.text.contains("10.0.2.2"),
        "the NTP warning does not name the server: {}",
        warning.text
    );
    drop(ntp);
    vm.wait_for("self-kill-2");
    let kill = vm.wait_for("ERROR: The container");
    assert!(
        kill.text.contains("was killed by SIGKILL (exit code 137)"),
        "{}",
        kill.text
    );
    vm.wait_for("The container exited with error code 137, continuing...");
    vm.wait_for("eating-2");
    let oom = vm.wait_for("ERROR: The container");
    assert!(
        oom.text
            .contains("was killed by SIGKILL (out of memory: the kernel's OOM killer"),
        "{}",
        oom.text
    );
    vm.wait_for("The container exited with error code 137, continuing...");
    vm.wait_for("still-4");
    expect_end(&mut vm, &oom, 137, Duration::from_secs(120));
}

/// The NFS server dies while a container writes to an NFS volume: the
/// mount is `soft` (here with short timeouts given in the filesystem's
/// options), so the writes fail, the container ends, and the shutdown
/// unmounts what is left without waiting for the dead server.
#[test]
fn nfs_server_killed_while_a_container_writes() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let port = free_port();
    let server = NfsServer::start(test_dir("faults").join("nfs-killed"), port);
    let cmdline = [
        format!("b2c.filesystem=nfs-vol,type=nfs,src=10.0.2.2:/export,opts=port={port}|timeo=20|retrans=1"),
        "b2c.volume=job,filesystem=nfs-vol".to_string(),
        container(
            "b2c.run",
            &format!(
                "-v job:/data {} sh -c 'i=0; while dd if=/dev/zero of=/data/f$i bs=64k count=16 conv=fsync 2>/dev/null; do i=$((i+1)); [ $i = 3 ] && echo writing-to-nfs-$((1+1)); done; echo write-failed-$((3+4)); exit 7'",
                demo_image()
            ),
        ),
    ]
    .join(" ");
    let mut vm = Vm::boot(
        "nfs-killed",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    vm.wait_for("Volume job: created, filesystem nfs-vol (10.0.2.2:/export) mounted on it");
    vm.wait_for("writing-to-nfs-2");
    server.kill();
    let killed = Instant::now();
    let cause = vm.wait_for_timeout(
        "nfs: server 10.0.2.2 not responding",
        Duration::from_secs(120),
    );
    vm.wait_for("write-failed-7");
    vm.wait_for("The container exited with error code 7, continuing...");
    eprintln!(
        "nfs-killed: the container ended {:.1} s after the server was killed",
        killed.elapsed().as_secs_f64()
    );
    expect_end(&mut vm, &cause, 7, Duration::from_secs(240));
}

/// An image of its own for this test: the demo image plus a layer of
/// `mb` MB of random data, pushed as `b2c/NAME-PID`. Returns the image as
/// the guest names it.
fn big_image(name: &str, mb: usize) -> String {
    let port = registry_port();
    let dir = test_dir("faults").join(format!("image-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let layout = dir.join("oci");
    let layout_ref = format!("oci:{}:latest", layout.display());
    host(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &format!("docker://127.0.0.1:{port}/b2c/demo:latest"),
            &layout_ref,
        ],
    );
    let mut data = vec![0u8; mb << 20];
    let mut f = std::fs::File::open("/dev/urandom").unwrap();
    std::io::Read::read_exact(&mut f, &mut data).unwrap();
    std::fs::write(dir.join("data/blob"), data).unwrap();
    host(
        "umoci",
        &[
            "insert",
            "--rootless",
            "--image",
            &format!("{}:latest", layout.display()),
            dir.join("data").to_str().unwrap(),
            "/big",
        ],
    );
    let repo = format!("b2c/{name}-{}", std::process::id());
    host(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            &layout_ref,
            &format!("docker://127.0.0.1:{port}/{repo}:latest"),
        ],
    );
    format!("10.0.2.2:{port}/{repo}:latest")
}

/// The cache disk fills up during a pull: podman says "no space left on
/// device", the unused images are removed and the pull tried again, which
/// works. The first container (an image of 24 MB, run with --rm: unused
/// afterwards) fills the cache but for 512 KiB.
#[test]
fn a_full_cache_during_a_pull_removes_unused_images_and_tries_again() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let big = big_image("fill", 24);
    // Its own 2 MB layer: not in the cache, to pull when the cache is full.
    let small = big_image("pull", 2);
    let disk = test_dir("faults").join("full-cache.img");
    let _ = std::fs::remove_file(&disk);
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(160 << 20)
        .unwrap();
    let cmdline = [
        "b2c.cache_device=auto".to_string(),
        container(
            "b2c.run",
            &format!(
                "--rm -v /storage:/cache {big} sh -c 'dd if=/dev/zero of=/cache/reserve bs=1k count=512 2>/dev/null; dd if=/dev/zero of=/cache/fill bs=1M 2>/dev/null; rm /cache/reserve; echo filled-$((5*5))'"
            ),
        ),
        container("b2c.run", &format!("{small} sh -c 'echo pulled-$((6*6))'")),
    ]
    .join(" ");
    let mut vm = Vm::boot(
        "full-cache",
        VmConfig {
            cmdline,
            launcher_args: vec!["--cache-disk".into(), disk.display().to_string()],
            ..Default::default()
        },
    );
    vm.wait_for("Cache: /dev/vda1 (ext4) mounted at /storage");
    vm.wait_for("filled-25");
    let cause = vm.wait_for("no space left on device; removing the unused images and trying again");
    vm.wait_for("Removed ");
    vm.wait_for("pulled-36");
    vm.wait_for("The container run successfully, load the next one!");
    expect_end(&mut vm, &cause, 0, Duration::from_secs(240));
}

/// Forwards 127.0.0.1:PORT to the registry until stopped: a registry the
/// test can take down without touching the shared one.
struct Forwarder {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Forwarder {
    fn start() -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let target = format!("127.0.0.1:{}", registry_port());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
            // Dropping the listener closes the port: connection refused.
        });
        Forwarder { port, stop }
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wait until the port refuses connections.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "the forwarder did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// QEMU is killed in the middle of a job (a power cut: no sync, no
/// unmount); the next boot, with the registry down, mounts the cache
/// cleanly (the journal is replayed), runs the cached image with a warning,
/// and fails the image that is not cached with 125 after its tries, without
/// removing any image from the cache.
#[test]
fn power_cut_then_a_boot_with_the_registry_down() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let registry = Forwarder::start();
    let demo = format!("10.0.2.2:{}/b2c/demo:latest", registry.port);
    let missing = format!("10.0.2.2:{}/b2c/never-pulled:latest", registry.port);
    let disk = test_dir("faults").join("power-cut.img");
    let _ = std::fs::remove_file(&disk);
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let disk_args = vec!["--cache-disk".to_string(), disk.display().to_string()];

    let cmdline = format!(
        "b2c.cache_device=auto {}",
        container(
            "b2c.run",
            &format!("-v /storage:/cache {demo} sh -c 'echo job > /cache/job-file; echo job-$((2*3))-started; sleep 600'"),
        )
    );
    let mut vm = Vm::boot(
        "power-cut",
        VmConfig {
            cmdline,
            launcher_args: disk_args.clone(),
            ..Default::default()
        },
    );
    vm.wait_for("Formatting /dev/vda1 (ext4, label B2C_CACHE)");
    let started = vm.wait_for("job-6-started");
    // The power cut comes in the middle of the job, once the ext4 journal
    // (5 s commits) has seen the end of the pull.
    while started.at.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(100));
    }
    vm.kill();
    drop(vm);
    registry.stop();

    let cmdline = [
        "b2c.cache_device=auto".to_string(),
        container("b2c.run", &format!("{demo} sh -c 'echo cached-$((3*3))'")),
        container("b2c.run", &format!("{missing} echo NOPE-$((1+1))")),
    ]
    .join(" ");
    let mut vm = Vm::boot(
        "registry-down",
        VmConfig {
            cmdline,
            launcher_args: disk_args,
            ..Default::default()
        },
    );
    vm.wait_for("Found the B2C_CACHE partition /dev/vda1");
    vm.wait_for("Cache: /dev/vda1 (ext4) mounted at /storage");
    vm.wait_for("Pull, create, and init the container");
    let warning = vm.wait_for(&format!(
        "WARNING: The registry 10.0.2.2:{} does not answer (Connection refused",
        registry.port
    ));
    assert!(
        warning
            .text
            .ends_with("b2c/demo:latest runs from the cache if it is there"),
        "{}",
        warning.text
    );
    vm.wait_for("cached-9");
    vm.wait_for("The container run successfully, load the next one!");
    vm.wait_for("Pull, create, and init the container");
    let retry = vm.wait_for("WARNING: Try 1/5 failed for");
    assert!(retry.text.contains("connection refused"), "{}", retry.text);
    let cause = vm.wait_for("ERROR: podman could not run the container");
    assert!(cause.text.contains("b2c/never-pulled"), "{}", cause.text);
    assert!(cause.text.contains("connection refused"), "{}", cause.text);
    vm.wait_for("The container exited with error code 125, continuing...");
    expect_end(&mut vm, &cause, 125, Duration::from_secs(120));
    // A registry that is down removes nothing from the cache.
    vm.assert_absent("removing the unused images");
    vm.assert_absent("Formatting");
    vm.assert_no_line("NOPE-2");
}

/// A malformed option: an error naming it, no pipeline, status 1.
#[test]
fn a_malformed_option_runs_no_pipeline() {
    if !common::vm_ready() {
        return;
    }
    let mut vm = Vm::boot(
        "malformed-option",
        VmConfig {
            cmdline: format!(
                "b2c.iface=eth0,address=10.0.0.300/24 {}",
                container("b2c.run", &format!("{} echo RAN-$((1+1))", demo_image()))
            ),
            no_net: true,
            ..Default::default()
        },
    );
    let cause = vm.wait_for("ERROR: b2c.iface=eth0: address \"10.0.0.300/24\" is not a valid CIDR");
    vm.wait_for("ERROR: The kernel command line has 1 error(s): not running the pipeline");
    expect_end(&mut vm, &cause, 1, Duration::from_secs(60));
    vm.assert_absent("Pull, create, and init the container");
    vm.assert_no_line("RAN-2");
}

/// Answers 404 to every request on 127.0.0.1 until the test ends.
fn serve_404() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut r = BufReader::new(stream);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let _ = r.get_mut().write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
            );
        }
    });
    port
}

/// An extra-args URL that answers 404: an error naming the URL and the
/// status, no pipeline, a non-zero status.
#[test]
fn an_extra_args_url_answering_404_runs_no_pipeline() {
    if !common::vm_ready() {
        return;
    }
    let port = serve_404();
    let url = format!("http://10.0.2.2:{port}/job/42/args");
    let mut vm = Vm::boot(
        "extra-args-404",
        VmConfig {
            cmdline: format!(
                "b2c.extra_args_url={url} {}",
                container("b2c.run", &format!("{} echo RAN-$((1+1))", demo_image()))
            ),
            ..Default::default()
        },
    );
    let cause = vm.wait_for(&format!("ERROR: cannot download {url}"));
    assert!(cause.text.contains("404"), "{}", cause.text);
    vm.wait_for("ERROR: No extra arguments: not running the pipeline");
    expect_end(&mut vm, &cause, 1, Duration::from_secs(60));
    vm.assert_absent("Pull, create, and init the container");
}
