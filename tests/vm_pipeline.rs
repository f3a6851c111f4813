//! The container pipeline (README.md, *Containers and pipeline*) on a real boot: pipefail,
//! run_post, services, the B2C_PIPELINE_* environment, containers asking for
//! a power-off or a reboot, b2c.poweroff_delay, secrets kept off the console,
//! the legacy option names. One boot per scenario.

mod common;

use std::time::Duration;

use common::{container, demo_image, require_registry, Vm, VmConfig};

#[test]
fn pipefail_skips_the_rest_and_run_post_still_runs() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let image = demo_image();
    let secret = "cacahuetes-T0P-S3CRET";
    // `quiet`: the kernel itself prints its command line at notice level.
    let cmdline = [
        "quiet b2c.pipefail b2c.poweroff_delay=3".to_string(),
        format!("b2c.login=10.0.2.2:5000,username=kovalsik,password={secret}"),
        container("b2c.run", &format!("{image} sh -c 'exit 5'")),
        container("b2c.run", &format!("{image} echo SHOULD-NOT-RUN")),
        container(
            "b2c.run_post",
            &format!(
                "{image} sh -c 'echo post: status=$B2C_PIPELINE_STATUS prev=$B2C_PIPELINE_PREV_CONTAINER_EXIT_CODE'"
            ),
        ),
    ]
    .join(" ");
    let mut vm = Vm::boot(
        "pipefail",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    // The registry speaks plain HTTP: podman login fails, and says so
    // without the password.
    vm.wait_for("ERROR: b2c.login=10.0.2.2:5000: podman login failed");
    vm.wait_for("The container exited with error code 5, aborting the pipeline...");
    vm.wait_for("Skipping --tls-verify=false");
    vm.wait_for("post: status=5 prev=5");
    vm.wait_for("Execution is over, pipeline status: 5");
    let safe = vm.wait_for("It's now safe to turn off your computer");
    vm.wait_for("Waiting 3 s (b2c.poweroff_delay)");
    let poweroff = vm.wait_for("+ poweroff -f");
    let waited = poweroff.at.duration_since(safe.at);
    assert!(
        waited >= Duration::from_millis(2900),
        "powered off after {waited:?}, not 3 s"
    );
    vm.expect_launch_status();
    vm.assert_no_line("SHOULD-NOT-RUN");
    vm.assert_absent(secret);
}

#[test]
fn services_run_during_the_pipeline_with_the_legacy_names() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let image = demo_image();
    let cmdline = [
        container(
            "b2c.service",
            &format!(
                "-v shared:/shared {image} sh -c 'trap exit TERM; echo from-the-service > /shared/msg; while true; do sleep 1; done'"
            ),
        ),
        container(
            "b2c.container",
            &format!("-v shared:/shared {image} sh -c 'sleep 2; cat /shared/msg; echo first-mode-$B2C_PIPELINE_SHUTDOWN_MODE'"),
        ),
        container("b2c.post_container", &format!("{image} echo legacy-post-ran")),
        container("b2c.container", &format!("{image} poweroff -f")),
        container(
            "b2c.container",
            &format!("{image} sh -c 'echo AFTER-POWEROFF-$B2C_PIPELINE_SHUTDOWN_MODE'"),
        ),
    ]
    .join(" ");
    let mut vm = Vm::boot(
        "services",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    vm.wait_for("Pull, create, init, and start the service container");
    let started = vm.wait_for("The service container ");
    assert!(started.text.ends_with(" started"), "{}", started.text);
    vm.wait_for("About to start executing a container");
    vm.wait_for("from-the-service");
    vm.wait_for("first-mode-default");
    vm.wait_for("The container run successfully, load the next one!");
    // As in the original, 130 (poweroff -f in the container) is a failure
    // like any other: the next container runs, only the mode changes.
    vm.wait_for("The container asked for a poweroff (exit code 130)");
    vm.wait_for("The container exited with error code 130, continuing...");
    vm.wait_for("AFTER-POWEROFF-poweroff");
    vm.wait_for("Running the post containers");
    vm.wait_for("legacy-post-ran");
    vm.wait_for("Execution is over, pipeline status: 130");
    vm.wait_for("Stopped and removed 5 container(s)");
    vm.expect_clean_poweroff();
}

#[test]
fn a_container_can_reboot_the_machine() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let image = demo_image();
    let cmdline = [
        container("b2c.run", &format!("{image} reboot -f")),
        container(
            "b2c.run_post",
            &format!("{image} sh -c 'echo mode=$B2C_PIPELINE_SHUTDOWN_MODE'"),
        ),
    ]
    .join(" ");
    let mut vm = Vm::boot(
        "reboot",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    vm.wait_for("The container asked for a reboot (exit code 129)");
    vm.wait_for("The container exited with error code 129, continuing...");
    vm.wait_for("mode=reboot");
    vm.wait_for("Execution is over, pipeline status: 129");
    vm.wait_for("Rebooting the computer");
    vm.wait_for("+ reboot -f");
    // -no-reboot: the guest's reboot ends QEMU.
    assert_eq!(vm.expect_launch_status(), 129);
    vm.assert_absent("It's now safe to turn off your computer");
}
