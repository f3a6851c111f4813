//! nfs-ganesha on the host loopback, for the VM tests (`scripts/nfs-server`).

use std::path::PathBuf;
use std::process::Command;

use super::repo;

/// nfs-ganesha started by `scripts/nfs-server`, stopped on drop.
pub struct NfsServer {
    dir: PathBuf,
}

impl NfsServer {
    /// Starts a server exporting `dir/export` on 127.0.0.1:`port`.
    pub fn start(dir: PathBuf, port: u16) -> NfsServer {
        let _ = std::fs::remove_dir_all(&dir);
        let script = repo().join("scripts/nfs-server");
        let out = Command::new(&script)
            .arg("start")
            .arg("--dir")
            .arg(&dir)
            .arg("--port")
            .arg(port.to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        // Stop it even when start failed half-way.
        let server = NfsServer { dir };
        assert!(
            out.status.success(),
            "scripts/nfs-server start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        server
    }

    /// The exported directory, on the host.
    pub fn export(&self) -> PathBuf {
        self.dir.join("export")
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&self) {
        let pid: i32 = std::fs::read_to_string(self.dir.join("ganesha.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no ganesha.pid in {}", self.dir.display()));
        // SAFETY: signalling the nfs-ganesha this test started, by its pid.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

impl Drop for NfsServer {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/nfs-server"))
            .arg("stop")
            .arg("--dir")
            .arg(&self.dir)
            .status();
        if std::thread::panicking() {
            if let Ok(log) = std::fs::read_to_string(self.dir.join("ganesha.log")) {
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                eprintln!("nfs-ganesha log (end):");
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}
