//! VM tests of the network step: `b2c.iface` on two NICs, `b2c.ntp_peer`
//! against a host chronyd, and `b2c.extra_args_url` (served, then
//! unreachable). One boot per scenario.
//!
//! Needs: `out/linux-x86_64`, the initramfs, the registry with the demo image
//! (`./scripts/test` prepares them), and for the NTP test `/usr/sbin/chronyd`
//! (Debian package chrony) and root (it listens on 127.0.0.1:123).
//! Every host-side server listens on 127.0.0.1 only; the guest reaches it as
//! 10.0.2.2 through QEMU's user networking.
// An integration test crate: its helpers fail the test by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{demo_image, require_registry, run_option, Vm, VmConfig};

/// Prints the DHCP time of a boot (the DHCP code logs `in N ms`).
fn report_dhcp_time(vm: &Vm, scenario: &str) {
    for line in vm.lines() {
        if let Some(rest) = line.text.split(" from 10.0.2.2 in ").nth(1) {
            if let Some(ms) = rest.split(" ms").next() {
                eprintln!("[{scenario}] DHCP link up to lease on eth0: {ms} ms");
            }
        }
    }
}

/// Waits for the end: a pipeline status, the power-off line, QEMU's clean exit.
fn expect_status(vm: &mut Vm) -> i32 {
    let line = vm.wait_for("Execution is over, pipeline status: ");
    let status = line
        .text
        .rsplit("pipeline status: ")
        .next()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .unwrap_or_else(|| panic!("cannot read the status in {:?}", line.text));
    vm.expect_clean_poweroff();
    status
}

#[test]
fn two_nics_dhcp_and_static() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let cmdline = format!(
        "b2c.iface=eth0,dhcp b2c.iface=eth1,address=10.6.0.15/24,route=10.7.0.0/24:10.6.0.2,nameserver=10.6.0.3 {}",
        run_option(&format!(
            "{} sh -c 'ip addr; ip route; cat /etc/resolv.conf'",
            demo_image()
        ))
    );
    let mut vm = Vm::boot(
        "two-nics",
        VmConfig {
            cmdline,
            qemu_args: [
                "-netdev",
                "user,id=n1,net=10.6.0.0/24,restrict=on",
                "-device",
                "virtio-net-pci,netdev=n1,addr=0x4",
            ]
            .map(String::from)
            .to_vec(),
            ..Default::default()
        },
    );
    // What the network step logs.
    vm.wait_for("eth1: static 10.6.0.15/24, route 10.7.0.0/24 via 10.6.0.2");
    vm.wait_for("Nameservers: 10.6.0.3, 10.0.2.3");
    // What the container sees (--network=host).
    vm.wait_for("About to start executing a container");
    vm.wait_for("inet 10.0.2.15/24");
    vm.wait_for("inet 10.6.0.15/24");
    vm.wait_for("default via 10.0.2.2 dev eth0");
    vm.wait_for("10.7.0.0/24 via 10.6.0.2 dev eth1");
    vm.wait_for("nameserver 10.6.0.3");
    vm.wait_for("nameserver 10.0.2.3");
    vm.wait_for("The container run successfully, load the next one!");
    assert_eq!(expect_status(&mut vm), 0);
    report_dhcp_time(&vm, "two-nics");
    vm.assert_absent("ERROR:");
}

/// A chronyd serving its (the host's) clock on 127.0.0.1:123, never
/// touching the host clock (`-x`), with its files in a temporary folder.
struct Chronyd {
    child: Child,
    dir: PathBuf,
}

impl Chronyd {
    fn start() -> Chronyd {
        const CHRONYD: &str = "/usr/sbin/chronyd";
        assert!(
            std::path::Path::new(CHRONYD).exists(),
            "the NTP VM test needs {CHRONYD} (Debian package chrony)"
        );
        let dir = std::env::temp_dir().join(format!("b2c-vm-chronyd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("chrony.conf");
        std::fs::write(
            &conf,
            format!(
                "port 123\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\ncmdport 0\n\
                 pidfile {d}/chronyd.pid\ndriftfile {d}/drift\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let child = Command::new(CHRONYD)
            .args(["-x", "-d", "-u", "root", "-f"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).unwrap())
            .spawn()
            .unwrap();
        Chronyd { child, dir }
    }
}

impl Drop for Chronyd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn current_year() -> String {
    let out = Command::new("date").arg("+%Y").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn ntp_sets_the_clock() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let _chronyd = Chronyd::start();
    let cmdline = format!(
        "b2c.ntp_peer=10.0.2.2 {}",
        run_option(&format!("{} sh -c 'echo year=$(date +%Y)'", demo_image()))
    );
    let mut vm = Vm::boot(
        "ntp",
        VmConfig {
            cmdline,
            qemu_args: ["-rtc", "base=2001-01-01"].map(String::from).to_vec(),
            ..Default::default()
        },
    );
    vm.wait_for("Corrected the clock by +");
    vm.wait_for(&format!("year={}", current_year()));
    assert_eq!(expect_status(&mut vm), 0);
    report_dhcp_time(&vm, "ntp");
}

/// Serves `body` to every GET on 127.0.0.1 (any path) until the test ends.
fn serve_forever(body: String) -> u16 {
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
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let w = r.get_mut();
            let _ = w.write_all(head.as_bytes());
            let _ = w.write_all(body.as_bytes());
        }
    });
    port
}

#[test]
fn extra_args_url_adds_a_container() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let extra = format!(
        "# extra arguments\n{}\n",
        run_option(&format!(
            "{} sh -c 'echo extra-args-$((6*7))'",
            demo_image()
        ))
    );
    let port = serve_forever(extra);
    let mut vm = Vm::boot(
        "extra-args",
        VmConfig {
            cmdline: format!("b2c.extra_args_url=http://10.0.2.2:{port}/extra"),
            ..Default::default()
        },
    );
    vm.wait_for("About to start executing a container");
    vm.wait_for("extra-args-42");
    vm.wait_for("The container run successfully, load the next one!");
    assert_eq!(expect_status(&mut vm), 0);
    report_dhcp_time(&vm, "extra-args");
    vm.assert_absent("ERROR:");
}

#[test]
fn unreachable_extra_args_url_is_a_clean_failure() {
    if !common::vm_ready() {
        return;
    }
    // A port nothing listens on.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cmdline = format!(
        "b2c.extra_args_url=http://10.0.2.2:{port}/extra {}",
        run_option(&format!("{} echo must-not-run", demo_image()))
    );
    let mut vm = Vm::boot(
        "extra-args-unreachable",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    vm.wait_for_timeout(
        &format!("ERROR: cannot download http://10.0.2.2:{port}/extra"),
        Duration::from_secs(240),
    );
    let status = expect_status(&mut vm);
    assert_ne!(status, 0, "the pipeline status must be non-zero");
    vm.assert_absent("About to start executing a container");
    report_dhcp_time(&vm, "extra-args-unreachable");
}

/// `ip=` with a static address on a kernel without IP autoconfiguration
/// (Debian's): the init applies it itself (address, gateway, DNS, host
/// name), and the container pulls from the registry through it.
#[test]
fn kernel_ip_static_is_applied_by_the_init() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let cmdline = format!(
        "ip=10.0.2.15::10.0.2.2:255.255.255.0:farm-dut:eth0:off:10.0.2.3 {}",
        run_option(&format!(
            "{} sh -c 'ip addr show eth0; ip route; cat /etc/resolv.conf; echo host=$(hostname)'",
            demo_image()
        ))
    );
    let mut vm = Vm::boot(
        "kernel-ip-static",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    vm.wait_for("eth0: static 10.0.2.15/24, default route via 10.0.2.2");
    vm.wait_for("About to start executing a container");
    vm.wait_for("inet 10.0.2.15/24");
    vm.wait_for("default via 10.0.2.2 dev eth0");
    vm.wait_for("nameserver 10.0.2.3");
    vm.wait_for("host=farm-dut");
    vm.wait_for("The container run successfully, load the next one!");
    assert_eq!(expect_status(&mut vm), 0);
    vm.assert_absent("ERROR:");
    vm.assert_absent("DHCP on every Ethernet interface");
}

/// `ip=dhcp` on a kernel without IP autoconfiguration: DHCP by the init;
/// an `ip=` value it cannot parse is a warning and DHCP everywhere.
#[test]
fn kernel_ip_dhcp_and_a_bad_value() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let cmdline = format!(
        "ip=::::b2c-dhcp:eth0:dhcp {}",
        run_option(&format!(
            "{} sh -c 'ip route; echo host=$(hostname)'",
            demo_image()
        ))
    );
    let mut vm = Vm::boot(
        "kernel-ip-dhcp",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    vm.wait_for("ip=::::b2c-dhcp:eth0:dhcp: DHCP on eth0");
    vm.wait_for("About to start executing a container");
    vm.wait_for("default via 10.0.2.2 dev eth0");
    vm.wait_for("host=b2c-dhcp");
    assert_eq!(expect_status(&mut vm), 0);
    report_dhcp_time(&vm, "kernel-ip-dhcp");
    drop(vm);

    let cmdline = format!(
        "ip=10.0.2.999 {}",
        run_option(&format!("{} echo reached-the-registry", demo_image()))
    );
    let mut vm = Vm::boot(
        "kernel-ip-bad",
        VmConfig {
            cmdline,
            ..Default::default()
        },
    );
    vm.wait_for("WARNING: ip=10.0.2.999: client-ip \"10.0.2.999\"");
    vm.wait_for("reached-the-registry");
    assert_eq!(expect_status(&mut vm), 0);
}
