//! The arm64 artifacts (issue: farms boot arm64 boards): `out/linux-arm64`
//! and the arm64 initramfs boot under `qemu-system-aarch64 -M virt` (TCG:
//! the slowest boot of the suite, hence one boot and generous limits) and
//! run the arm64 image of the multi-architecture demo image from the local
//! registry (pulled by the digest of its index: podman picks the arm64
//! manifest).
//!
//! Needs: `scripts/get-kernel --arch arm64`, `scripts/build-initramfs --arch
//! arm64`, the registry with the demo image (`./scripts/test` prepares all of
//! it).

mod common;

use std::time::Duration;

use common::{demo_image_index, require_registry, Arch, Vm, VmConfig};

/// Every wait of this boot: arm64 under TCG on a shared 2-core machine runs
/// several times slower than amd64.
const LIMIT: Duration = Duration::from_secs(600);

#[test]
fn arm64_boots_and_runs_the_arm64_demo_image() {
    require_registry();
    let mut vm = Vm::boot(
        "arm64",
        VmConfig {
            arch: Arch::Arm64,
            cmdline: format!("b2c.run=\"--tls-verify=false {}\"", demo_image_index()),
            ..Default::default()
        },
    );
    // The init itself is the aarch64 build.
    let version = vm.wait_for_timeout("]: boot2container ", LIMIT);
    assert!(
        version.text.trim_end().ends_with("(aarch64)"),
        "version line: {:?}",
        version.text
    );
    let modules = vm.wait_for_timeout("Coldplug loaded", LIMIT);
    assert!(modules.text.contains("virtio_net"), "{}", modules.text);
    vm.wait_for_timeout("eth0: 10.0.2.15/24", LIMIT);
    vm.wait_for_timeout("Pull, create, and init the container", LIMIT);
    // The multi-architecture image: podman picked the arm64 manifest, whose
    // busybox runs (an amd64 one would fail with an exec format error).
    let greeting = vm.wait_for_timeout("Hello from boot2container!", LIMIT);
    assert_eq!(greeting.text.trim(), "Hello from boot2container!");
    let uname = vm.wait_for_timeout("6.1.", LIMIT);
    assert!(
        uname.text.trim().starts_with("6.1.") && uname.text.trim().ends_with("-arm64"),
        "uname -r line: {:?}",
        uname.text
    );
    vm.wait_for_timeout("The container run successfully, load the next one!", LIMIT);
    vm.wait_for_timeout("Execution is over, pipeline status: 0", LIMIT);
    vm.expect_clean_poweroff();
    vm.assert_absent("ERROR:");
    vm.assert_absent("Kernel panic");
    eprintln!(
        "arm64: QEMU start to the container's first line: {:.1} s",
        vm.since_start(&greeting).as_secs_f64()
    );
}
