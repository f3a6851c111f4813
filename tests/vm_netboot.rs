//! Network boot through iPXE (issue: farms boot the artifacts from iPXE):
//! QEMU's NIC boots its iPXE ROM (Debian's ipxe-qemu), which gets the script
//! from QEMU's TFTP server; the script fetches the kernel and two archives
//! over HTTP from a server of this test (on the host, 10.0.2.2 for the
//! guest), with a command line whose `b2c.run` is quoted and holds spaces and
//! single quotes. The container runs, sees a file of the second archive, and
//! the machine powers off.
//!
//! Needs: `out/linux-x86_64`, the initramfs (`$B2C_NETBOOT_INITRD`, else the
//! usual one), the registry with the demo image.

#![allow(clippy::unwrap_used)]

mod common;

use common::{demo_image, kernel, newc_archive, require_registry, FileServer, Vm, VmConfig};

const MARKER: &str = "unpacked from the second archive";

#[test]
fn ipxe_loads_the_kernel_and_two_archives_over_http_and_the_container_runs() {
    require_registry();
    let base = std::env::var_os("B2C_NETBOOT_INITRD")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(common::initrd);
    let dir = std::env::temp_dir().join(format!("b2c-netboot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The second archive: one file, unpacked over the first one by the kernel
    // (what hardware.linux_amd64.cpio.xz does with modules and firmware).
    let extra = dir.join("extra.cpio");
    std::fs::write(
        &extra,
        newc_archive(&[(
            "etc/netboot-marker",
            0o644,
            format!("{MARKER}\n").as_bytes(),
        )]),
    )
    .unwrap();
    let base_name = base.file_name().unwrap().to_string_lossy().into_owned();
    let server = FileServer::start(vec![
        ("linux-x86_64".into(), kernel()),
        (base_name.clone(), base.clone()),
        ("extra.cpio".into(), extra),
    ]);
    let url = format!("http://10.0.2.2:{}", server.port);
    // The README's recipe, with the test's own server and command.
    let script = format!(
        "#!ipxe\n\
         echo boot2container through iPXE\n\
         kernel {url}/linux-x86_64 console=ttyS0 b2c.run=\"--tls-verify=false -v /etc/netboot-marker:/marker:ro {image} sh -c 'echo netboot-container-ran; cat /marker'\"\n\
         initrd {url}/{base_name}\n\
         initrd {url}/extra.cpio\n\
         boot\n",
        image = demo_image()
    );
    let script_path = dir.join("boot.ipxe");
    std::fs::write(&script_path, script).unwrap();

    let mut vm = Vm::boot(
        "netboot",
        VmConfig {
            netboot: Some(script_path),
            ..Default::default()
        },
    );
    // iPXE itself prints on the screen only (its ROM has no serial console):
    // the HTTP requests below show that it ran the script.
    let line = vm.wait_for("Kernel command line: ");
    assert!(
        line.text.trim_end().ends_with(&format!(
            "b2c.run=\"--tls-verify=false -v /etc/netboot-marker:/marker:ro {} sh -c 'echo netboot-container-ran; cat /marker'\"",
            demo_image()
        )),
        "the quoted b2c.run did not arrive whole: {:?}",
        line.text
    );
    vm.wait_for("Pull, create, and init the container");
    let ran = vm.wait_for("netboot-container-ran");
    assert_eq!(ran.text.trim(), "netboot-container-ran");
    let marker = vm.wait_for(MARKER);
    assert_eq!(marker.text.trim(), MARKER);
    vm.wait_for("Execution is over, pipeline status: 0");
    vm.expect_clean_poweroff();
    let requests = server.requests();
    for name in ["linux-x86_64", base_name.as_str(), "extra.cpio"] {
        assert!(
            requests
                .iter()
                .any(|r| r.starts_with(&format!("GET /{name} "))),
            "iPXE did not fetch /{name}: {requests:?}"
        );
    }
    assert!(
        vm.lines().iter().any(|l| l
            .text
            .contains("Command line: console=ttyS0 b2c.run=\"--tls-verify=false")),
        "the kernel did not get the script's command line"
    );
    eprintln!(
        "netboot: QEMU start to the container's first line: {:.1} s ({} MB archive)",
        vm.since_start(&ran).as_secs_f64(),
        std::fs::metadata(&base)
            .map(|m| m.len() / 1_000_000)
            .unwrap_or(0)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
