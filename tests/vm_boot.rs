//! End-to-end boots of the real kernel + initramfs in QEMU (issue: the Rust
//! init boots and runs a container from a real registry). One boot per
//! scenario; every assertion of a scenario shares it.
//!
//! Needs: `out/linux-x86_64`, the initramfs, and the registry with the demo
//! image (`./scripts/test` prepares all of it).

mod common;

use std::time::Duration;

use common::{demo_image, require_registry, run_option, Vm, VmConfig};

#[test]
fn demo_container_runs_and_the_machine_powers_off() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let mut vm = Vm::boot(
        "demo",
        VmConfig {
            cmdline: run_option(&demo_image()),
            ..Default::default()
        },
    );
    // The console contract, in order: the original's sections.
    for step in [
        "b2c_setup",
        "runtime_info",
        "load_modules",
        "mount_cache_partition",
        "connect",
        "ntp_set",
        "parse_extra_cmdline",
        "set_hostname",
        "set_keymap",
        "start_pipeline",
    ] {
        vm.wait_for(&format!(":{step}[collapsed=true]\r"));
    }
    vm.wait_for(":execute_hooks[collapsed=true]\r\x1b[0K[");
    vm.wait_for(":create_container[collapsed=true]\r");
    // podman draws progress bars on a terminal; the console gets one line
    // per layer state every few seconds, never its cursor movements.
    let pulling = vm.wait_for("Pulling: ");
    assert!(pulling.text.contains(" / "), "{:?}", pulling.text);
    // The container's own section is not collapsed: the OCI hook opened it.
    let run = vm.wait_for(":container_run\r\x1b[0K[");
    assert!(
        run.text
            .ends_with("]: About to start executing a container"),
        "{:?}",
        run.text
    );
    vm.wait_for("Hello from boot2container!");
    let uname = vm.wait_for("6.1.");
    assert!(
        uname.text.trim().ends_with("-amd64"),
        "uname -r line: {:?}",
        uname.text
    );
    vm.wait_for("section_end:");
    vm.wait_for(":b2c_post_container[collapsed=true]\r");
    vm.wait_for("The container run successfully, load the next one!");
    vm.wait_for("Execution is over, pipeline status: 0");
    vm.wait_for(":cleanup[collapsed=true]\r");
    vm.wait_for(":unmount_cache_partition[collapsed=true]\r");
    vm.wait_for("Boot timeline (s of uptime): init=");
    vm.expect_clean_poweroff();
    // The original's default command, echoed.
    vm.wait_for("+ poweroff -f");
    vm.assert_absent("ERROR:");
    vm.assert_absent("Kernel panic");
    vm.assert_absent("\x1b[J");
}

#[test]
fn failing_container_sets_the_status_and_the_next_one_still_runs() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let image = demo_image();
    // Also values the original ran with a fallback (issue 11, item 4): a
    // fractional delay, and a cache device that names nothing (none).
    let cmdline = format!(
        "b2c.keymap=fr b2c.hostname=plop b2c.poweroff_delay=1.5 b2c.cache_device=bogus {} {} {}",
        run_option(&format!("{image} sh -c 'exit 3'")),
        run_option(&format!(
            "{image} sh -c 'echo prev=$B2C_PIPELINE_PREV_CONTAINER_EXIT_CODE status=$B2C_PIPELINE_STATUS'"
        )),
        run_option(&format!("{image} sh -c 'echo host=$(hostname)'")),
    );
    let mut vm = Vm::boot(
        "exit-3",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    let warning = vm.wait_for("WARNING: b2c.cache_device");
    assert!(
        warning.text.ends_with("]: WARNING: b2c.cache_device: \"bogus\" is not none, auto, reset, a /dev/ path or the name of a b2c.filesystem of the command line (none is defined); defaulting to none (images and volumes live in RAM)"),
        "{:?}",
        warning.text
    );
    let none = vm.wait_for("No cache device");
    assert!(
        none.text.ends_with(
            "]: No cache device (b2c.cache_device=none): images and volumes live in RAM"
        ),
        "{:?}",
        none.text
    );
    let keymap = vm.wait_for("Keymap fr loaded");
    assert!(
        keymap.text.contains("/usr/share/keymaps/"),
        "{}",
        keymap.text
    );
    vm.wait_for("The container exited with error code 3, continuing...");
    vm.wait_for("prev=3 status=3");
    vm.wait_for("host=plop");
    vm.wait_for("Execution is over, pipeline status: 3");
    let safe = vm.wait_for("It's now safe to turn off your computer");
    let waiting = vm.wait_for("Waiting 1.5 s (b2c.poweroff_delay)");
    assert!(
        waiting
            .text
            .ends_with("]: Waiting 1.5 s (b2c.poweroff_delay) before powering off"),
        "{:?}",
        waiting.text
    );
    let poweroff = vm.wait_for("+ poweroff -f");
    let waited = poweroff.at.duration_since(safe.at);
    assert!(
        waited >= Duration::from_millis(1450),
        "powered off after {waited:?}, not 1.5 s"
    );
    // scripts/launch exits with the pipeline status.
    assert_eq!(vm.expect_launch_status(), 3);
    vm.assert_absent("ERROR:");
}

/// `b2c.strict`: the warning of a value the init could fall back from is
/// an error, and the pipeline does not run; the machine still powers off
/// cleanly, with a non-zero status.
#[test]
fn strict_makes_a_warning_stop_the_pipeline() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let cmdline = format!(
        "b2c.strict b2c.cache_device=bogus {}",
        run_option(&format!("{} echo SHOULD-NOT-RUN", demo_image()))
    );
    let mut vm = Vm::boot(
        "strict",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    let error = vm.wait_for("ERROR: b2c.cache_device");
    // Errors are red: the line ends with the colour reset.
    let error_line = |line: &common::Line| line.text.trim_end_matches("\x1b[0m").to_string();
    assert!(
        error_line(&error).ends_with("]: ERROR: b2c.cache_device: \"bogus\" is not none, auto, reset, a /dev/ path or the name of a b2c.filesystem of the command line (none is defined); defaulting to none (images and volumes live in RAM) (an error with b2c.strict)"),
        "{:?}",
        error.text
    );
    let stop = vm.wait_for("The kernel command line has");
    assert!(
        error_line(&stop).ends_with(
            "]: ERROR: The kernel command line has 1 error(s): not running the pipeline"
        ),
        "{:?}",
        stop.text
    );
    vm.wait_for("Execution is over, pipeline status: 1");
    vm.expect_clean_poweroff();
    vm.assert_absent("WARNING: b2c.cache_device");
    vm.assert_absent("About to start executing a container");
    vm.assert_no_line("SHOULD-NOT-RUN");
}

#[test]
fn missing_image_is_a_clear_error_and_a_clean_poweroff() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let image = format!(
        "10.0.2.2:{}/b2c/does-not-exist:latest",
        common::registry_port()
    );
    let mut vm = Vm::boot(
        "missing-image",
        VmConfig {
            cmdline: run_option(&image),
            ..Default::default()
        },
    );
    let error = vm.wait_for("ERROR: podman could not run the container");
    assert!(error.text.contains("b2c/does-not-exist"), "{}", error.text);
    assert!(error.text.contains("manifest unknown"), "{}", error.text);
    vm.wait_for("The container exited with error code 125, continuing...");
    vm.wait_for("Execution is over, pipeline status: 125");
    vm.expect_clean_poweroff();
    // A missing image is permanent: no retries.
    vm.assert_absent("retrying in 1 s");
}

#[test]
fn no_network_interface_is_a_clear_error_and_a_clean_poweroff() {
    if !common::vm_ready() {
        return;
    }
    let mut vm = Vm::boot(
        "no-nic",
        VmConfig {
            cmdline: run_option("10.0.2.2:5000/b2c/demo:latest"),
            no_net: true,
            ..Default::default()
        },
    );
    vm.wait_for("ERROR: no Ethernet interface");
    vm.wait_for("ERROR: No network: not running the pipeline");
    vm.wait_for("Execution is over, pipeline status: 1");
    vm.expect_clean_poweroff();
    vm.assert_absent("About to start executing a container");
}

#[test]
fn no_dhcp_answer_is_a_clear_error_within_the_time_limit() {
    if !common::vm_ready() {
        return;
    }
    // A NIC on an empty QEMU hub: the link is up, nobody answers DHCP.
    let mut vm = Vm::boot(
        "no-dhcp",
        VmConfig {
            cmdline: run_option("10.0.2.2:5000/b2c/demo:latest"),
            no_net: true,
            qemu_args: vec![
                "-netdev".into(),
                "hubport,id=lonely,hubid=7".into(),
                "-device".into(),
                "virtio-net-pci,netdev=lonely,addr=0x3".into(),
            ],
            ..Default::default()
        },
    );
    let error = vm.wait_for("ERROR: no DHCP lease");
    assert!(error.text.contains("eth0"), "{}", error.text);
    vm.wait_for("Execution is over, pipeline status: 1");
    vm.expect_clean_poweroff();
}

/// The smallest machine the README promises: its RAM (QEMU syntax).
const MIN_RAM: &str = "160M";

/// The release archive users boot (zstd, `$B2C_RELEASE_INITRD` or
/// `out/initramfs.linux_amd64.cpio.zst`).
fn release_archive() -> std::path::PathBuf {
    let release = std::env::var_os("B2C_RELEASE_INITRD")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::repo().join("out/initramfs.linux_amd64.cpio.zst"));
    assert!(
        release.exists(),
        "{} does not exist: scripts/build-initramfs --compression zstd",
        release.display()
    );
    release
}

/// The release archive boots the smallest machine the README promises and
/// runs a container, podman from its squashfs image; a module option on the
/// kernel command line, written with dashes, reaches the module coldplug
/// loads.
#[test]
fn release_archive_runs_a_container_in_the_minimum_ram_with_module_options() {
    require_registry();
    let release = release_archive();
    let mut vm = Vm::boot(
        "min-ram",
        VmConfig {
            cmdline: format!(
                "virtio-net.napi-tx=0 {}",
                run_option(&format!(
                    "{} sh -c 'echo napi_tx=$(cat /sys/module/virtio_net/parameters/napi_tx); set -- $(df -k / | tail -n1); echo root-avail=$4'",
                    demo_image()
                ))
            ),
            initrd: Some(release),
            launcher_args: vec!["--mem".into(), MIN_RAM.into()],
            ..Default::default()
        },
    );
    // The root tmpfs grows past the kernel's half of the RAM: room for
    // the images.
    let root = vm.wait_for("Root file system (tmpfs): ");
    assert!(
        root.text.contains("64 MiB kept for the kernel"),
        "{}",
        root.text
    );
    let ram = vm.wait_for("]: RAM: ");
    vm.wait_for("virtio_net: options from the kernel command line: napi_tx=0");
    vm.wait_for("podman: /usr/lib/b2c/podman.squashfs mounted on /usr/lib/b2c/podman (/dev/loop");
    let param = vm.wait_for_start("napi_tx=");
    assert_eq!(param.text.trim(), "napi_tx=N", "{}", param.text);
    // What the container's root (on the root tmpfs) has left, in KiB.
    let avail = vm.wait_for_start("root-avail=");
    let kib: u64 = avail.text.trim()["root-avail=".len()..]
        .parse()
        .unwrap_or(0);
    assert!(kib > 5 * 1024, "{}", avail.text);
    vm.wait_for("Execution is over, pipeline status: 0");
    vm.expect_clean_poweroff();
    vm.assert_absent("invoked oom-killer");
    vm.assert_absent("No space left on device");
    eprintln!("{MIN_RAM} machine: {}", ram.text.trim());
}

/// The smallest machine the xz archive runs a container on (README,
/// "Memory": its files are plain in the cpio, so the kernel unpacks 51 MB).
const XZ_MIN_RAM: &str = "176M";

/// The xz release archive (`$B2C_XZ_INITRD` or
/// `out/initramfs.linux_amd64.cpio.xz`).
fn xz_archive() -> std::path::PathBuf {
    let xz = std::env::var_os("B2C_XZ_INITRD")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::repo().join("out/initramfs.linux_amd64.cpio.xz"));
    assert!(
        xz.exists(),
        "{} does not exist: scripts/build-initramfs --compression xz",
        xz.display()
    );
    xz
}

/// The xz archive, the other layout (podman and its libraries as plain
/// files, modules as .ko.xz), boots its smallest machine and runs a
/// container: no podman image to mount, the modules decompressed from xz.
#[test]
fn xz_archive_runs_a_container_in_its_minimum_ram() {
    require_registry();
    let mut vm = Vm::boot(
        "xz-min-ram",
        VmConfig {
            cmdline: run_option(&format!(
                "{} sh -c 'set -- $(df -k / | tail -n1); echo root-avail=$4; cat /sys/module/virtio_net/initstate'",
                demo_image()
            )),
            initrd: Some(xz_archive()),
            launcher_args: vec!["--mem".into(), XZ_MIN_RAM.into()],
            ..Default::default()
        },
    );
    let coldplug = vm.wait_for("]: Coldplug loaded ");
    assert!(coldplug.text.contains(" virtio_net"), "{}", coldplug.text);
    let avail = vm.wait_for_start("root-avail=");
    let kib: u64 = avail.text.trim()["root-avail=".len()..]
        .parse()
        .unwrap_or(0);
    assert!(kib > 5 * 1024, "{}", avail.text);
    let state = vm.wait_for_start("live");
    assert_eq!(state.text.trim(), "live", "{}", state.text);
    vm.wait_for("Execution is over, pipeline status: 0");
    vm.expect_clean_poweroff();
    vm.assert_absent("podman.squashfs mounted");
    vm.assert_absent("Cannot decompress module file");
    vm.assert_absent("invoked oom-killer");
}

/// A machine too small for the xz base archive and the hardware archive
/// together: the kernel unpacks the base archive and part of the hardware
/// one. (With the zstd base archive, 28 MB unpacked, both fit in 184 MB;
/// below that the kernel itself runs out of memory while unpacking, which
/// no init can report.)
const TOO_SMALL_RAM: &str = "224M";

/// When the kernel cannot unpack the whole initramfs into its root tmpfs
/// (half the RAM; here the xz base archive and the hardware one, 99 MB
/// unpacked, in 224 MB) it stops at the first file that does not fit and
/// runs the init all the same: the init finds the hardware archive's end
/// marker missing, says so with the kernel's reason, and fails the boot
/// (status 1) instead of running a job without its drivers; the power-off
/// still works.
#[test]
fn a_machine_too_small_for_the_archives_says_so_and_fails() {
    require_registry();
    let initrd = format!(
        "{},{}",
        xz_archive().display(),
        common::hardware_archive().display()
    );
    let mut vm = Vm::boot(
        "too-small",
        VmConfig {
            cmdline: run_option(&format!("{} echo must-not-run", demo_image())),
            initrd: Some(std::path::PathBuf::from(initrd)),
            launcher_args: vec!["--mem".into(), TOO_SMALL_RAM.into()],
            ..Default::default()
        },
    );
    let error = vm.wait_for("ERROR: The initramfs was only partly unpacked");
    assert!(
        error.text.contains(
            "(archive hardware: the kernel said \"Initramfs unpacking failed: write error\")"
        ),
        "{}",
        error.text
    );
    vm.wait_for("Execution is over, pipeline status: 1");
    vm.expect_clean_poweroff();
    // The container's own line (the command line, echoed by the kernel,
    // holds the words too).
    assert!(
        !vm.lines().iter().any(|l| l.text.trim() == "must-not-run"),
        "{}",
        vm.dump("the container ran")
    );
}

/// `scripts/launch`'s own exit statuses: 254 when QEMU fails (here on an
/// option it does not know), 253 when the guest ends without a pipeline
/// status (a kernel that finds no init panics and, with `panic=-1`,
/// reboots at once: -no-reboot ends QEMU with 0). The pipeline statuses
/// (0, 3, 129...) are checked by every boot that ends through
/// `Vm::expect_clean_poweroff`.
#[test]
fn launch_exits_254_when_qemu_fails_and_253_without_a_status() {
    if !common::vm_ready() {
        return;
    }
    let out = std::process::Command::new(common::repo().join("scripts/launch"))
        .arg("--kernel")
        .arg(common::kernel())
        .arg("--initrd")
        .arg(common::initrd())
        .args(["--", "-no-such-qemu-option", "--"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run scripts/launch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{stderr}");
    assert!(
        stderr.contains("launch: error: QEMU failed (exit code 1)"),
        "{stderr}"
    );

    let mut vm = Vm::boot(
        "no-status",
        VmConfig {
            // A double quote keeps scripts/launch from quoting the value.
            cmdline: "panic=-1 rdinit=\"/no-such-init\"".to_string(),
            no_net: true,
            ..Default::default()
        },
    );
    vm.wait_for("Kernel panic");
    let status = vm.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(253), "{status}");
}
