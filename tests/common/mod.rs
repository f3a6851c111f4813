//! VM test harness: boots the built kernel + initramfs in QEMU through
//! `scripts/launch`, captures the serial console with a host timestamp per
//! line, waits for expected lines with a timeout, always kills QEMU, and
//! prints the whole console log when a test fails.
//!
//! At most two VMs run at once on the machine (it has two cores), whatever
//! test binaries or checkouts ask for them: slots are lock files.

// A test harness: it fails a test by panicking (with the console log).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod nfs;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Default time limit for one wait on the console (TCG is slow, and two VMs
/// share two cores).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(240);
/// Concurrent VMs allowed on the whole machine (it has two cores): every test
/// binary, and every checkout running its tests at the same time, shares
/// these slots through lock files.
const MAX_VMS: usize = 2;

/// One of the machine-wide VM slots: an exclusive `flock` on
/// `$B2C_VM_LOCK_DIR/slot-N.lock` (default `/tmp/b2c-vm-slots`), released
/// when the slot is dropped (or the process dies).
struct Slot {
    _lock: std::fs::File,
}

impl Slot {
    fn take() -> Slot {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::var_os("B2C_VM_LOCK_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp/b2c-vm-slots"));
        if !dir.exists() {
            let _ = std::fs::create_dir_all(&dir);
            // Shared by root and normal users running the tests.
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777));
        }
        loop {
            for n in 0..MAX_VMS {
                let path = dir.join(format!("slot-{n}.lock"));
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .unwrap_or_else(|e| panic!("cannot open the VM slot {}: {e}", path.display()));
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666));
                // SAFETY: flock on a file descriptor this function owns.
                let got = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
                if got == 0 {
                    return Slot { _lock: file };
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the kernel under test is looked for.
const KERNELS: &[&str] = &["out/linux-x86_64"];
/// Where the initramfs under test is looked for, in order.
const INITRDS: &[&str] = &[
    "out/initramfs.linux_amd64.cpio.zst",
    "out/initramfs.linux_amd64.cpio",
    "out/initramfs.linux_amd64.cpio.xz",
];

/// The guest architecture of a VM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Arch {
    /// x86-64 (`qemu-system-x86_64`).
    #[default]
    Amd64,
    /// arm64 (`qemu-system-aarch64 -M virt`, much slower under TCG).
    Arm64,
}

impl Arch {
    /// Debian's name, as `scripts/launch --arch` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// The kernel under test: `$B2C_KERNEL` or `out/linux-x86_64`
/// (`$B2C_KERNEL_ARM64` or `out/linux-arm64` for arm64).
pub fn kernel_for(arch: Arch) -> PathBuf {
    match arch {
        Arch::Amd64 => artifact("B2C_KERNEL", KERNELS),
        Arch::Arm64 => artifact("B2C_KERNEL_ARM64", &["out/linux-arm64"]),
    }
}

/// The amd64 kernel under test.
pub fn kernel() -> PathBuf {
    kernel_for(Arch::Amd64)
}

/// The initramfs under test: `$B2C_INITRD` (`$B2C_INITRD_ARM64`), or the
/// first of the usual names.
pub fn initrd_for(arch: Arch) -> PathBuf {
    match arch {
        Arch::Amd64 => artifact("B2C_INITRD", INITRDS),
        Arch::Arm64 => artifact(
            "B2C_INITRD_ARM64",
            &[
                "out/initramfs.linux_arm64.cpio",
                "out/initramfs.linux_arm64.cpio.zst",
                "out/initramfs.linux_arm64.cpio.xz",
            ],
        ),
    }
}

/// The amd64 hardware archive under test (`$B2C_HARDWARE`, else the first of
/// out/hardware.linux_amd64.cpio, .cpio.zst, .cpio.xz).
pub fn hardware_archive() -> PathBuf {
    if let Some(p) = std::env::var_os("B2C_HARDWARE") {
        return PathBuf::from(p);
    }
    [
        "out/hardware.linux_amd64.cpio",
        "out/hardware.linux_amd64.cpio.zst",
        "out/hardware.linux_amd64.cpio.xz",
    ]
    .iter()
    .map(|p| repo().join(p))
    .find(|p| p.exists())
    .unwrap_or_else(|| {
        panic!("no out/hardware.linux_amd64.cpio*: run scripts/build-initramfs --hardware")
    })
}

/// The amd64 initramfs under test.
pub fn initrd() -> PathBuf {
    initrd_for(Arch::Amd64)
}

fn artifact(var: &str, candidates: &[&str]) -> PathBuf {
    find_artifact(var, candidates).unwrap_or_else(|why| panic!("{why}"))
}

fn find_artifact(var: &str, candidates: &[&str]) -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var(var) {
        let p = PathBuf::from(p);
        if !p.exists() {
            return Err(format!("{var}={} does not exist", p.display()));
        }
        return Ok(p);
    }
    for c in candidates {
        let p = repo().join(c);
        if p.exists() {
            return Ok(p);
        }
    }
    Err(format!(
        "none of {candidates:?} exists and {var} is not set: build them first \
         (scripts/get-kernel, scripts/build-initramfs), or run ./scripts/test"
    ))
}

/// The environment variable that makes a missing VM artifact a failure
/// rather than a skip (`./scripts/test` sets it).
pub const REQUIRE_VM: &str = "B2C_REQUIRE_VM";

/// Whether the kernel and the initramfs the VM tests boot are there. Every
/// VM test starts with `if !common::vm_ready() { return; }`: without them
/// the test skips itself with a line saying so (a plain `cargo test` in a
/// fresh clone passes), unless `B2C_REQUIRE_VM=1`, where a missing artifact
/// fails the test.
pub fn vm_ready() -> bool {
    let missing: Vec<String> = [
        find_artifact("B2C_KERNEL", KERNELS).err(),
        find_artifact("B2C_INITRD", INITRDS).err(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if missing.is_empty() {
        return true;
    }
    let why = missing.join("; ");
    if std::env::var(REQUIRE_VM).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_VM}=1 and a VM artifact is missing: {why}");
    }
    // Written to stderr directly, not through eprintln!, which the test
    // harness captures (and hides for a test that passes).
    let test = std::thread::current()
        .name()
        .unwrap_or("a VM test")
        .to_string();
    let line =
        format!("SKIPPED {test}: no VM artifacts ({REQUIRE_VM}=1 makes this a failure): {why}\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    false
}

/// The registry port the tests use: `$B2C_REGISTRY_PORT`, else the one
/// `scripts/registry start` chose (`out/registry/port`), else 5000.
pub fn registry_port() -> u16 {
    std::env::var("B2C_REGISTRY_PORT")
        .ok()
        .or_else(|| std::fs::read_to_string(repo().join("out/registry/port")).ok())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(5000)
}

/// The demo image as the guest names it.
pub fn demo_image() -> String {
    format!("10.0.2.2:{}/b2c/demo:latest", registry_port())
}

/// The multi-architecture demo image by the digest of its index (as
/// `scripts/demo-image` of this checkout built it), so that another
/// checkout pushing its own `b2c/demo:latest` to the shared registry cannot
/// swap it; `demo_image()` when this checkout has no index.
pub fn demo_image_index() -> String {
    let index = repo().join("out/demo-image/oci/index.json");
    let digest = std::fs::read_to_string(index).ok().and_then(|text| {
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json["manifests"].as_array()?.iter().find_map(|m| {
            let is_index = m["mediaType"] == "application/vnd.oci.image.index.v1+json";
            let is_latest = m["annotations"]["org.opencontainers.image.ref.name"] == "latest";
            (is_index && is_latest).then(|| m["digest"].as_str().map(str::to_string))?
        })
    });
    match digest {
        Some(d) => format!("10.0.2.2:{}/b2c/demo@{d}", registry_port()),
        None => demo_image(),
    }
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
    /// The guest architecture (default amd64).
    pub arch: Arch,
    /// Boot through the NIC's iPXE ROM with this iPXE script (served by
    /// QEMU's TFTP server) instead of -kernel/-initrd; `cmdline` stays empty.
    pub netboot: Option<PathBuf>,
    /// Keep QEMU's standard input (the serial console, multiplexed with
    /// QEMU's monitor) open for [`Vm::send`].
    pub stdin: bool,
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
    stdin: Option<std::process::ChildStdin>,
    _slot: Slot,
}

impl Vm {
    /// Boots a VM named `name` (used in failure output).
    pub fn boot(name: &str, config: VmConfig) -> Vm {
        let slot = Slot::take();
        let mut cmd = Command::new(repo().join("scripts/launch"));
        cmd.arg("--arch").arg(config.arch.name());
        if let Some(script) = &config.netboot {
            cmd.arg("--netboot").arg(script);
        } else {
            cmd.arg("--kernel").arg(kernel_for(config.arch));
            cmd.arg("--initrd").arg(
                config
                    .initrd
                    .clone()
                    .unwrap_or_else(|| initrd_for(config.arch)),
            );
        }
        if config.no_net {
            cmd.arg("--no-net");
        }
        cmd.args(&config.launcher_args);
        if !config.qemu_args.is_empty() {
            cmd.arg("--").args(&config.qemu_args).arg("--");
        }
        if !config.cmdline.is_empty() {
            cmd.arg(&config.cmdline);
        }
        cmd.stdin(if config.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        // A process group of its own: the test kills scripts/launch and its
        // QEMU together.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run scripts/launch: {e}"));
        let stdin = child.stdin.take();
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
            stdin,
            _slot: slot,
        }
    }

    /// Writes `bytes` to QEMU's standard input: the serial console (what
    /// is typed on it), or QEMU's monitor after `Ctrl-a c` (see
    /// [`Vm::monitor`]). Needs [`VmConfig::stdin`].
    pub fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let stdin = self
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("VM {}: booted without stdin", self.name));
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// Runs one command of QEMU's monitor (e.g. `sendkey ctrl-alt-delete`):
    /// `Ctrl-a c` switches the multiplexed standard input from the serial
    /// console to the monitor and back.
    pub fn monitor(&mut self, command: &str) {
        self.send(b"\x01c");
        std::thread::sleep(Duration::from_millis(300));
        self.send(format!("{command}\n").as_bytes());
        std::thread::sleep(Duration::from_millis(300));
        self.send(b"\x01c");
    }

    /// Kills QEMU at once (SIGKILL: the guest gets no chance to sync), as
    /// a power cut would.
    pub fn kill(&mut self) {
        self.kill_group();
        if let Ok(status) = self.child.wait() {
            self.exit = Some(status);
        }
    }

    /// SIGKILL to scripts/launch's process group (the script and QEMU).
    fn kill_group(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.kill();
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

    /// The console log so far under a heading that says `why` (for panics).
    pub fn dump(&self, why: &str) -> String {
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

    /// Waits until a line after the cursor starts with `prefix` (spaces
    /// trimmed): a container's own output, never the kernel's or the init's
    /// echo of the command line that holds it.
    pub fn wait_for_start(&mut self, prefix: &str) -> Line {
        let what = format!("a line starting with {prefix:?}");
        match self.try_wait_until(|l| l.trim().starts_with(prefix), &what, DEFAULT_TIMEOUT) {
            Ok(line) => line,
            Err(why) => panic!("{}", self.dump(&why)),
        }
    }

    /// Like [`Vm::wait_for`] but returns an error instead of panicking.
    pub fn try_wait_for(&mut self, needle: &str, limit: Duration) -> Result<Line, String> {
        self.try_wait_until(|l| l.contains(needle), &format!("{needle:?}"), limit)
    }

    /// Waits for a line after the cursor that `matches`; `what` describes it
    /// in errors.
    fn try_wait_until(
        &mut self,
        matches: impl Fn(&str) -> bool,
        what: &str,
        limit: Duration,
    ) -> Result<Line, String> {
        let deadline = Instant::now() + limit;
        let lines = Arc::clone(&self.lines);
        let (lock, cv) = &*lines;
        let mut guard = lock.lock().unwrap();
        let mut ended = false;
        loop {
            let found = guard[self.cursor..].iter().position(|l| matches(&l.text));
            if let Some(offset) = found {
                self.cursor += offset + 1;
                return Ok(guard[self.cursor - 1].clone());
            }
            if ended {
                return Err(format!("QEMU ended before {what} appeared"));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "timed out after {} s waiting for {what}",
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
        self.expect_launch_status();
    }

    /// Waits for scripts/launch to exit and checks its exit status: the
    /// pipeline status of the console's last `Execution is over, pipeline
    /// status: N` line (which must be there).
    pub fn expect_launch_status(&mut self) -> i32 {
        let status = self.wait_exit(Duration::from_secs(60));
        let printed = self
            .lines()
            .iter()
            .rev()
            .find_map(|l| {
                // The whole line, as the init prints it:
                // `[UPTIME]: Execution is over, pipeline status: N`.
                let (uptime, rest) = l.text.trim_end().split_once("]: ")?;
                let uptime = uptime.strip_prefix('[')?;
                if !uptime.chars().all(|c| c.is_ascii_digit() || c == '.') {
                    return None;
                }
                rest.strip_prefix("Execution is over, pipeline status: ")?
                    .parse::<i32>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("{}", self.dump("no pipeline status on the console")));
        if status.code() != Some(printed) {
            panic!(
                "{}",
                self.dump(&format!(
                    "scripts/launch exited with {status}, not the pipeline status {printed}"
                ))
            );
        }
        printed
    }

    /// Host time from QEMU's start to `line`.
    pub fn since_start(&self, line: &Line) -> Duration {
        line.at.duration_since(self.started)
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill_group();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // The panic message already holds the console when the harness
            // panicked; an assertion of the test itself did not print it.
            eprintln!("{}", self.dump("test failed"));
        } else if std::env::var_os("B2C_VM_SHOW").is_some() {
            // To read the console of a test that passed.
            eprintln!("{}", self.dump("passed"));
        }
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now (for a
/// server a test starts).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `path` relative to the repository, for messages.
pub fn rel(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A static HTTP/1.1 file server on 127.0.0.1 (a free port), for guests
/// (they reach it as 10.0.2.2:PORT): serves the given files by name, answers
/// 404 to anything else, records every request line, and stops when dropped.
pub struct FileServer {
    pub port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl FileServer {
    /// Serves each `(name, path)` as `/name`.
    pub fn start(files: Vec<(String, PathBuf)>) -> FileServer {
        use std::io::Write;
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let files = Arc::new(files);
        let (log, stopped) = (Arc::clone(&requests), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (files, log) = (Arc::clone(&files), Arc::clone(&log));
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    // One request per connection is enough for iPXE and podman.
                    let mut request = String::new();
                    if reader.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut header = String::new();
                    while reader.read_line(&mut header).unwrap_or(0) > 2 {
                        header.clear();
                    }
                    let request = request.trim_end().to_string();
                    log.lock().unwrap().push(request.clone());
                    let path = request.split(' ').nth(1).unwrap_or("");
                    let found = files
                        .iter()
                        .find(|(name, _)| path == format!("/{name}"))
                        .and_then(|(_, p)| std::fs::read(p).ok());
                    let w = reader.get_mut();
                    let _ = match found {
                        Some(body) => w
                            .write_all(
                                format!(
                                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                                    body.len()
                                )
                                .as_bytes(),
                            )
                            .and_then(|()| w.write_all(&body)),
                        None => w.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        ),
                    };
                });
            }
        });
        FileServer {
            port,
            requests,
            stop,
        }
    }

    /// The request lines received so far (`GET /name HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and ends.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A cpio archive (the kernel's "newc" format) holding `files` as regular
/// files (path without a leading `/`, mode, content), directories created by
/// the kernel as needed: a small extra initramfs for tests.
pub fn newc_archive(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    fn entry(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, data: &[u8]) {
        let header = format!(
            "070701{ino:08X}{mode:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    }
    let mut out = Vec::new();
    for (i, (name, mode, data)) in files.iter().enumerate() {
        entry(&mut out, i as u32 + 1, name, 0o100000 | mode, data);
    }
    entry(&mut out, 0, "TRAILER!!!", 0, &[]);
    out
}

/// A QMP (QEMU's JSON monitor) client on a unix socket that the VM was
/// started with (`-qmp unix:PATH,server=on,wait=off`).
pub struct Qmp {
    reader: BufReader<std::os::unix::net::UnixStream>,
}

impl Qmp {
    /// Connects (retrying for a few seconds while QEMU starts) and leaves the
    /// capabilities negotiation mode.
    pub fn connect(path: &Path) -> Qmp {
        let deadline = Instant::now() + Duration::from_secs(20);
        let stream = loop {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("cannot connect to QMP at {}: {e}", path.display()),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
        };
        let greeting = qmp.read_message();
        assert!(greeting.contains("\"QMP\""), "QMP greeting: {greeting}");
        qmp.execute("{\"execute\": \"qmp_capabilities\"}");
        qmp
    }

    fn read_message(&mut self) -> String {
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("QMP: {e}"));
        line
    }

    /// Sends one command (a JSON object) and returns its answer, skipping
    /// the asynchronous events; panics on an error answer.
    pub fn execute(&mut self, command: &str) -> String {
        use std::io::Write;
        self.reader
            .get_mut()
            .write_all(format!("{command}\n").as_bytes())
            .unwrap_or_else(|e| panic!("QMP: {e}"));
        loop {
            let answer = self.read_message();
            assert!(!answer.is_empty(), "QMP: QEMU closed the socket");
            if answer.contains("\"event\"") {
                continue;
            }
            assert!(
                answer.contains("\"return\""),
                "QMP {command} failed: {answer}"
            );
            return answer;
        }
    }
}

/// An image in the binary PPM format (P6, 8 bits), as QEMU's `screendump`
/// writes it.
pub struct Ppm {
    pub width: usize,
    pub height: usize,
    /// RGB triplets, row by row.
    pub pixels: Vec<u8>,
}

impl Ppm {
    /// Parses a P6 file; panics with what is wrong.
    pub fn parse(data: &[u8]) -> Ppm {
        // The header: "P6", width, height, maxval, separated by whitespace,
        // then one whitespace byte and the pixels.
        let mut fields = Vec::new();
        let mut i = 0;
        while fields.len() < 4 {
            while i < data.len() && data[i].is_ascii_whitespace() {
                i += 1;
            }
            if data.get(i) == Some(&b'#') {
                while i < data.len() && data[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            let start = i;
            while i < data.len() && !data[i].is_ascii_whitespace() {
                i += 1;
            }
            assert!(i > start, "PPM: truncated header");
            fields.push(String::from_utf8_lossy(&data[start..i]).into_owned());
        }
        assert_eq!(fields[0], "P6", "not a binary PPM");
        let width: usize = fields[1].parse().unwrap();
        let height: usize = fields[2].parse().unwrap();
        assert_eq!(fields[3], "255", "PPM: 8-bit samples expected");
        let pixels = data[i + 1..].to_vec();
        assert_eq!(pixels.len(), width * height * 3, "PPM: pixel data size");
        Ppm {
            width,
            height,
            pixels,
        }
    }

    /// The colour at (x, y).
    pub fn at(&self, x: usize, y: usize) -> [u8; 3] {
        let o = (y * self.width + x) * 3;
        [self.pixels[o], self.pixels[o + 1], self.pixels[o + 2]]
    }
}

/// A container option as the tests write it: `OPTION="--tls-verify=false
/// ARGS"` (the local registry speaks plain HTTP).
pub fn container(option: &str, args: &str) -> String {
    format!("{option}=\"--tls-verify=false {args}\"")
}

/// [`container`] for `b2c.run`.
pub fn run_option(args: &str) -> String {
    container("b2c.run", args)
}

/// `out/test-NAME`, created if missing: where a test file keeps its disks
/// and servers' data.
pub fn test_dir(name: &str) -> PathBuf {
    let d = repo().join("out").join(format!("test-{name}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs a host tool and returns its standard output; fails the test when
/// it fails.
pub fn host(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `FILE?offset=N` (debugfs syntax) for the first partition of a disk image.
pub fn partition_offset(disk: &Path) -> String {
    let info = host("sgdisk", &["-i", "1", disk.to_str().unwrap()]);
    let first: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("First sector: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no first sector in sgdisk -i 1 output:\n{info}"));
    format!("{}?offset={}", disk.display(), first * 512)
}
