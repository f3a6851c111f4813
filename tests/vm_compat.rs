//! What farms' command lines for the original boot2container rely on, on a
//! real boot: `b2c.insmods` files in `/usr_mods` (the original's folder),
//! and `b2c.login` to a plain-HTTP registry with credentials (farms run
//! local registries without TLS).
//!
//! Needs the registry with the demo image (the image is copied from it into
//! a second registry with password authentication that this test starts on
//! 127.0.0.1), skopeo, docker-registry and htpasswd (apache2-utils).
// An integration test crate: its helpers fail the test by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{host, registry_port, repo, require_registry, Vm, VmConfig};

fn work_dir(name: &str) -> PathBuf {
    let d = repo().join("out/test-compat").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A docker-registry on 127.0.0.1 that asks for a user name and password
/// (htpasswd, bcrypt), plain HTTP. Stopped when dropped.
struct AuthRegistry {
    child: Child,
    port: u16,
}

impl AuthRegistry {
    fn start(user: &str, password: &str) -> AuthRegistry {
        let dir = work_dir("auth-registry");
        let htpasswd = host("htpasswd", &["-Bbn", user, password]);
        std::fs::write(dir.join("htpasswd"), htpasswd).unwrap();
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {data}\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: b2c-test-only\n\
             auth:\n  htpasswd:\n    realm: b2c-test\n    path: {htpasswd}\n",
            data = dir.join("data").display(),
            htpasswd = dir.join("htpasswd").display(),
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("registry.err")).unwrap())
            .spawn()
            .expect("cannot start docker-registry");
        let registry = AuthRegistry { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the auth registry did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        registry
    }
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `base` followed by a cpio archive holding `usr_mods/FILE` for each file:
/// the kernel unpacks both, as a bootloader loading two archives.
fn initrd_with_usr_mods(base: &Path, files: &[&Path], dir: &Path) -> PathBuf {
    let tree = dir.join("extra");
    std::fs::create_dir_all(tree.join("usr_mods")).unwrap();
    for f in files {
        std::fs::copy(f, tree.join("usr_mods").join(f.file_name().unwrap())).unwrap();
    }
    let list: String = std::iter::once("usr_mods".to_string())
        .chain(
            files
                .iter()
                .map(|f| format!("usr_mods/{}", f.file_name().unwrap().to_string_lossy())),
        )
        .map(|l| l + "\n")
        .collect();
    let mut cpio = Command::new("cpio")
        .args(["-o", "-H", "newc", "-R", "0:0", "--quiet"])
        .current_dir(&tree)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        cpio.stdin
            .take()
            .unwrap()
            .write_all(list.as_bytes())
            .unwrap();
    }
    let extra = cpio.wait_with_output().unwrap();
    assert!(extra.status.success());
    let out = dir.join("initrd-with-usr-mods.cpio");
    let mut bytes = std::fs::read(base).unwrap();
    // The kernel looks for the next archive at a 4-byte boundary.
    while bytes.len() % 4 != 0 {
        bytes.push(0);
    }
    bytes.extend_from_slice(&extra.stdout);
    std::fs::write(&out, bytes).unwrap();
    out
}

/// A kernel module the initramfs does not ship, from the kernel package.
fn dummy_module() -> PathBuf {
    let version = std::fs::read_to_string(repo().join("out/kernel-amd64/VERSION")).unwrap();
    repo()
        .join("out/kernel-amd64/lib/modules")
        .join(version.trim())
        .join("kernel/drivers/net/dummy.ko")
}

#[test]
fn usr_mods_and_a_login_to_a_plain_http_registry() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let password = "Pl41n-HTTP-S3CRET";
    let registry = AuthRegistry::start("ci", password);
    let image = format!("127.0.0.1:{}/b2c/demo:latest", registry.port);
    host(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("--dest-creds=ci:{password}"),
            &format!("docker://127.0.0.1:{}/b2c/demo:latest", registry_port()),
            &format!("docker://{image}"),
        ],
    );
    let dir = work_dir("usr-mods");
    let base = common::initrd();
    assert!(
        !base.to_string_lossy().ends_with(".xz") && !base.to_string_lossy().ends_with(".zst"),
        "this test appends to an uncompressed initramfs, not {}",
        base.display()
    );
    let initrd = initrd_with_usr_mods(&base, &[&dummy_module()], &dir);
    let guest_image = format!("10.0.2.2:{}/b2c/demo:latest", registry.port);
    let cmdline = format!(
        "quiet b2c.insmods=dummy.ko b2c.login=http://10.0.2.2:{},username=ci,password={password} \
         b2c.run=\"--tls-verify=false {guest_image} sh -c 'test -d /sys/module/dummy && echo dummy-$((1+1))'\"",
        registry.port
    );
    let mut vm = Vm::boot(
        "usr-mods-http-login",
        VmConfig {
            cmdline,
            initrd: Some(initrd),
            ..Default::default()
        },
    );
    vm.wait_for("Loaded /usr_mods/dummy.ko");
    vm.wait_for(&format!("Logged in to 10.0.2.2:{} as ci", registry.port));
    vm.wait_for("dummy-2");
    vm.wait_for("Execution is over, pipeline status: 0");
    vm.expect_clean_poweroff();
    vm.assert_absent(password);
}
