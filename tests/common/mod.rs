//! VM test harness: boots the built kernel + initramfs in QEMU through
//! `scripts/launch`, captures the serial console with a host timestamp per
//! line, waits for expected lines with a timeout, always kills QEMU, and
//! prints the whole console log when a test fails.
//!
//! At most two VMs run at once in a test binary (the machine has two cores).

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Default time limit for one wait on the console (TCG is slow, and two VMs
/// share two cores).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(240);
/// Concurrent VMs allowed per test binary.
const MAX_VMS: usize = 2;

static SLOTS: Mutex<usize> = Mutex::new(0);
static SLOT_FREED: Condvar = Condvar::new();

struct Slot;

impl Slot {
    fn take() -> Slot {
        let mut used = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
        while *used >= MAX_VMS {
            used = SLOT_FREED.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut used = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
        *used -= 1;
        SLOT_FREED.notify_one();
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The kernel under test: `$B2C_KERNEL` or `out/linux-x86_64`.
pub fn kernel() -> PathBuf {
    artifact("B2C_KERNEL", &["out/linux-x86_64"])
}

/// The initramfs under test: `$B2C_INITRD`, or the first of the usual names.
pub fn initrd() -> PathBuf {
    artifact(
        "B2C_INITRD",
        &[
            "out/initramfs.linux_amd64.cpio.zst",
            "out/initramfs.linux_amd64.cpio",
            "out/initramfs.linux_amd64.cpio.xz",
        ],
    )
}

fn artifact(var: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(p) = std::env::var(var) {
        let p = PathBuf::from(p);
        assert!(p.exists(), "{var}={} does not exist", p.display());
        return p;
    }
    for c in candidates {
        let p = repo().join(c);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "none of {candidates:?} exists and {var} is not set: build them first \
         (scripts/get-kernel, scripts/build-initramfs), or run ./scripts/test"
    );
}

/// The registry port the tests use (`$B2C_REGISTRY_PORT`, default 5000).
pub fn registry_port() -> u16 {
    std::env::var("B2C_REGISTRY_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5000)
}

/// The demo image as the guest names it.
pub fn demo_image() -> String {
    format!("10.0.2.2:{}/b2c/demo:latest", registry_port())
}

/// Fails the test early with a clear message when the registry is not up.
pub fn require_registry() {
    let addr = format!("127.0.0.1:{}", registry_port());
    let ok = std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))
        .is_ok();
    assert!(
        ok,
        "no registry on {addr}: start it with `scripts/registry start && scripts/demo-image` \
         (./scripts/test does it)"
    );
}

/// One console line with the host time it arrived at.
#[derive(Debug, Clone)]
pub struct Line {
    pub at: Instant,
    pub text: String,
}

/// How to boot a VM.
#[derive(Debug, Clone, Default)]
pub struct VmConfig {
    /// The b2c options (and any kernel options), joined into -append.
    pub cmdline: String,
    /// Boot without any network interface.
    pub no_net: bool,
    /// Extra arguments for the launcher, before `--`.
    pub launcher_args: Vec<String>,
    /// Extra QEMU arguments.
    pub qemu_args: Vec<String>,
    /// Override the initramfs.
    pub initrd: Option<PathBuf>,
}

/// A running VM.
pub struct Vm {
    name: String,
    child: Child,
    lines: Arc<(Mutex<Vec<Line>>, Condvar)>,
    /// Index of the next line `wait_for` looks at.
    cursor: usize,
    pub started: Instant,
    exit: Option<std::process::ExitStatus>,
    _slot: Slot,
}

impl Vm {
    /// Boots a VM named `name` (used in failure output).
    pub fn boot(name: &str, config: VmConfig) -> Vm {
        let slot = Slot::take();
        let mut cmd = Command::new(repo().join("scripts/launch"));
        cmd.arg("--kernel").arg(kernel());
        cmd.arg("--initrd")
            .arg(config.initrd.clone().unwrap_or_else(initrd));
        if config.no_net {
            cmd.arg("--no-net");
        }
        cmd.args(&config.launcher_args);
        if !config.qemu_args.is_empty() {
            cmd.arg("--").args(&config.qemu_args).arg("--");
        }
        cmd.arg(&config.cmdline);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run scripts/launch: {e}"));
        let lines: Arc<(Mutex<Vec<Line>>, Condvar)> = Arc::default();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&buf)
                                .trim_end_matches(['\n', '\r'])
                                .to_string();
                            let (lock, cv) = &*lines;
                            lock.lock().unwrap().push(Line {
                                at: Instant::now(),
                                text,
                            });
                            cv.notify_all();
                        }
                    }
                }
                // Wake waiters at end of stream too.
                lines.1.notify_all();
            });
        }
        Vm {
            name: name.to_string(),
            child,
            lines,
            cursor: 0,
            started,
            exit: None,
            _slot: slot,
        }
    }

    /// All console lines so far.
    pub fn lines(&self) -> Vec<Line> {
        self.lines.0.lock().unwrap().clone()
    }

    /// The whole console so far as text.
    pub fn console(&self) -> String {
        self.lines()
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn dump(&self, why: &str) -> String {
        format!(
            "VM {}: {why}\n======== console log ({} s) ========\n{}\n======== end of console log ========",
            self.name,
            self.started.elapsed().as_secs(),
            self.console()
        )
    }

    /// Waits until a line after the cursor contains `needle`; moves the
    /// cursor past it and returns it. Panics (with the console) on timeout or
    /// when QEMU ends first.
    pub fn wait_for(&mut self, needle: &str) -> Line {
        self.wait_for_timeout(needle, DEFAULT_TIMEOUT)
    }

    /// [`Vm::wait_for`] with an explicit limit.
    pub fn wait_for_timeout(&mut self, needle: &str, limit: Duration) -> Line {
        match self.try_wait_for(needle, limit) {
            Ok(line) => line,
            Err(why) => panic!("{}", self.dump(&why)),
        }
    }

    /// Like [`Vm::wait_for`] but returns an error instead of panicking.
    pub fn try_wait_for(&mut self, needle: &str, limit: Duration) -> Result<Line, String> {
        let deadline = Instant::now() + limit;
        let lines = Arc::clone(&self.lines);
        let (lock, cv) = &*lines;
        let mut guard = lock.lock().unwrap();
        let mut ended = false;
        loop {
            let found = guard[self.cursor..]
                .iter()
                .position(|l| l.text.contains(needle));
            if let Some(offset) = found {
                self.cursor += offset + 1;
                return Ok(guard[self.cursor - 1].clone());
            }
            if ended {
                return Err(format!("QEMU ended before {needle:?} appeared"));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "timed out after {} s waiting for {needle:?}",
                    limit.as_secs()
                ));
            }
            if self.exit.is_some() || matches!(self.child.try_wait(), Ok(Some(_))) {
                // Give the reader threads a moment to drain the pipes, then
                // look one last time.
                drop(guard);
                std::thread::sleep(Duration::from_millis(300));
                guard = lock.lock().unwrap();
                ended = true;
                continue;
            }
            let step = (deadline - now).min(Duration::from_millis(500));
            guard = cv.wait_timeout(guard, step).unwrap().0;
        }
    }

    /// Asserts that no console line so far is exactly `text` (ignoring
    /// surrounding spaces): for a container's output, which the kernel's own
    /// `Command line:` would otherwise match.
    pub fn assert_no_line(&self, text: &str) {
        if self.lines().iter().any(|l| l.text.trim() == text) {
            panic!(
                "{}",
                self.dump(&format!("the line {text:?} appeared on the console"))
            );
        }
    }

    /// Asserts that no console line so far contains `needle`.
    pub fn assert_absent(&self, needle: &str) {
        if self.lines().iter().any(|l| l.text.contains(needle)) {
            panic!(
                "{}",
                self.dump(&format!("{needle:?} appeared on the console"))
            );
        }
    }

    /// Waits for QEMU to exit by itself (the guest powered off or rebooted
    /// with -no-reboot); returns its status.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exit {
                return status;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
                std::thread::sleep(Duration::from_millis(200));
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}",
                    self.dump(&format!("QEMU did not exit within {} s", limit.as_secs()))
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the clean end of a boot: the power-off line, then QEMU's
    /// own exit with status 0.
    pub fn expect_clean_poweroff(&mut self) {
        self.wait_for("It's now safe to turn off your computer");
        let status = self.wait_exit(Duration::from_secs(60));
        if !status.success() {
            panic!("{}", self.dump(&format!("QEMU exited with {status}")));
        }
    }

    /// Host time from QEMU's start to `line`.
    pub fn since_start(&self, line: &Line) -> Duration {
        line.at.duration_since(self.started)
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // The panic message already holds the console when the harness
            // panicked; an assertion of the test itself did not print it.
            eprintln!("{}", self.dump("test failed"));
        }
    }
}

/// `path` relative to the repository, for messages.
pub fn rel(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}
