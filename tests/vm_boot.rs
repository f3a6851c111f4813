//! End-to-end boots of the real kernel + initramfs in QEMU (issue: the Rust
//! init boots and runs a container from a real registry). One boot per
//! scenario; every assertion of a scenario shares it.
//!
//! Needs: `out/linux-x86_64`, the initramfs, and the registry with the demo
//! image (`./scripts/test` prepares all of it).

mod common;

use common::{demo_image, require_registry, Vm, VmConfig};

fn run_option(args: &str) -> String {
    format!("b2c.run=\"--tls-verify=false {args}\"")
}

#[test]
fn demo_container_runs_and_the_machine_powers_off() {
    require_registry();
    let mut vm = Vm::boot(
        "demo",
        VmConfig {
            cmdline: run_option(&demo_image()),
            ..Default::default()
        },
    );
    // The console contract, in order.
    vm.wait_for("Running the container #1/1");
    vm.wait_for("Hello from boot2container!");
    let uname = vm.wait_for("6.1.");
    assert!(
        uname.text.trim().ends_with("-amd64"),
        "uname -r line: {:?}",
        uname.text
    );
    vm.wait_for("The container run successfully, load the next one!");
    vm.wait_for("Execution is over, pipeline status: 0");
    vm.wait_for("Boot timeline (s of uptime): init=");
    vm.expect_clean_poweroff();
    vm.assert_absent("ERROR:");
    vm.assert_absent("Kernel panic");
}

#[test]
fn failing_container_sets_the_status_and_the_next_one_still_runs() {
    require_registry();
    let image = demo_image();
    let cmdline = format!(
        "b2c.keymap=fr b2c.hostname=plop {} {} {}",
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
    let keymap = vm.wait_for("Keymap fr loaded");
    assert!(
        keymap.text.contains("/usr/share/keymaps/"),
        "{}",
        keymap.text
    );
    vm.wait_for("The container exited with error code 3, continuing...");
    vm.wait_for("Running the container #2/3");
    vm.wait_for("prev=3 status=3");
    vm.wait_for("host=plop");
    vm.wait_for("Execution is over, pipeline status: 3");
    vm.expect_clean_poweroff();
}

#[test]
fn missing_image_is_a_clear_error_and_a_clean_poweroff() {
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
    vm.assert_absent("Running the container");
}

#[test]
fn no_dhcp_answer_is_a_clear_error_within_the_time_limit() {
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
