//! A real S3 server for the tests: s3s-fs (`scripts/setup --tests`
//! installs it) on 127.0.0.1, a free port, a temporary root; it checks
//! request signatures and keeps objects as plain files under its root (the
//! "server's view" the tests read). Shared by `tests/s3_mirror.rs` (the
//! engine on the host) and `tests/vm_volumes.rs` (the guest reaches it as
//! 10.0.2.2).
//!
//! Without the s3s-fs binary, [`Server::start`] says so and returns `None`,
//! unless B2C_REQUIRE_S3=1 (what ./scripts/test sets), where a missing
//! server is a failure.

#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use boot2container::cmdline::{Minio, Secret, Url};
use boot2container::s3::Endpoint;

pub const ACCESS_KEY: &str = "b2c-test-access";
pub const SECRET_KEY: &str = "b2c-test-secret-DO-NOT-PRINT";
pub const SSE_KEY: &str = "0123456789abcdef0123456789abcdef";

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "b2c-s3-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn s3s_fs_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_port(port: u16) {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on 127.0.0.1:{port} after 10 s");
}

/// An s3s-fs server on a free port with a temporary root.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub root: TempDir,
}

impl Server {
    /// Starts a server, or returns `None` (after saying why) when s3s-fs is
    /// not installed and B2C_REQUIRE_S3 is not 1.
    pub fn start() -> Option<Server> {
        let Some(bin) = s3s_fs_binary() else {
            if std::env::var("B2C_REQUIRE_S3").as_deref() == Ok("1") {
                panic!("s3s-fs is not installed and B2C_REQUIRE_S3=1: run scripts/setup --tests");
            }
            eprintln!("SKIPPED: s3s-fs is not installed (scripts/setup --tests installs it)");
            return None;
        };
        let root = TempDir::new("server");
        let port = free_port();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_port(port);
        Some(Server {
            child: Some(child),
            port,
            root,
        })
    }

    pub fn bucket(&self, name: &str) -> PathBuf {
        let p = self.root.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub fn minio(&self, secret: &str) -> Minio {
        minio_at(self.port, secret)
    }

    pub fn endpoint(&self) -> Endpoint {
        Endpoint::from_minio(&self.minio(SECRET_KEY), None).unwrap()
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn minio_at(port: u16, secret: &str) -> Minio {
    Minio {
        alias: "job".into(),
        url: Url::parse(&format!("http://127.0.0.1:{port}"), &["http", "https"]).unwrap(),
        access_key: Secret::new(ACCESS_KEY),
        secret_key: Secret::new(secret),
    }
}
