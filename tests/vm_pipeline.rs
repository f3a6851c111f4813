//! The container pipeline of SPEC section 5 on a real boot: pipefail,
//! run_post, services, the B2C_PIPELINE_* environment, containers asking for
//! a power-off or a reboot, b2c.poweroff_delay, secrets kept off the console,
//! the legacy option names. One boot per scenario.

mod common;

use std::time::Duration;

use common::{demo_image, require_registry, Vm, VmConfig};

fn container(option: &str, args: &str) -> String {
    format!("{option}=\"--tls-verify=false {args}\"")
}

#[test]
fn pipefail_skips_the_rest_and_run_post_still_runs() {
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
    vm.wait_for("Skipping container #2");
    vm.wait_for("post: status=5 prev=5");
    vm.wait_for("Execution is over, pipeline status: 5");
    let safe = vm.wait_for("It's now safe to turn off your computer");
    vm.wait_for("Waiting 3 s (b2c.poweroff_delay)");
    let poweroff = vm.wait_for("+ poweroff");
    let waited = poweroff.at.duration_since(safe.at);
    assert!(
        waited >= Duration::from_millis(2900),
        "powered off after {waited:?}, not 3 s"
    );
    let status = vm.wait_exit(Duration::from_secs(60));
    assert!(status.success());
    vm.assert_no_line("SHOULD-NOT-RUN");
    vm.assert_absent(secret);
}

#[test]
fn services_run_during_the_pipeline_with_the_legacy_names() {
    require_registry();
    let image = demo_image();
    let cmdline = [
        container(
            "b2c.service",
            &format!(
                "-v shared:/shared {image} sh -c 'trap exit TERM; echo from-the-service > /shared/msg; while true; do sleep 1; done'"
            ),
        ),
        container("b2c.container", &format!("-v shared:/shared {image} sh -c 'sleep 2; cat /shared/msg'")),
        container("b2c.post_container", &format!("{image} echo legacy-post-ran")),
        container("b2c.container", &format!("{image} poweroff -f")),
        container("b2c.container", &format!("{image} echo AFTER-POWEROFF")),
    ]
    .join(" ");
    let mut vm = Vm::boot(
        "services",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    vm.wait_for("Starting the service container #1/1");
    vm.wait_for("Service #1 started");
    vm.wait_for("Running the container #1/3");
    vm.wait_for("from-the-service");
    vm.wait_for("The container run successfully, load the next one!");
    vm.wait_for("Running the container #2/3");
    vm.wait_for("The container asked for a poweroff (exit code 130)");
    vm.wait_for("legacy-post-ran");
    vm.wait_for("Stopped and removed 4 container(s)");
    vm.wait_for("Execution is over, pipeline status: 0");
    vm.expect_clean_poweroff();
    vm.assert_no_line("AFTER-POWEROFF");
}

#[test]
fn a_container_can_reboot_the_machine() {
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
    vm.wait_for("mode=reboot");
    vm.wait_for("Execution is over, pipeline status: 0");
    vm.wait_for("+ reboot");
    // -no-reboot: the guest's reboot ends QEMU.
    let status = vm.wait_exit(Duration::from_secs(60));
    assert!(status.success());
    vm.assert_absent("It's now safe to turn off your computer");
}
