//! Child processes and the reaper of PID 1.
//!
//! As PID 1 the init inherits every orphan of the system, so it must reap with
//! `waitpid(-1)`. That would steal the exit status of any child waited for in
//! another way (tokio's or std's `wait`), so *all* waiting goes through this
//! module: [`spawn`] registers the child under a lock held across the fork, and
//! [`reap`] hands each collected status to the registered waiter; statuses of
//! unknown processes (orphans) are dropped.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::process::{ChildStderr, ChildStdin, ChildStdout, Command};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::sync::oneshot;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It called exit with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
}

impl Exit {
    /// The shell convention: the exit code, or 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }

    /// True for `exit 0`.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// How long a child is still waited for after SIGKILL (see
/// [`Child::wait_timeout`]).
pub const KILL_WAIT: Duration = Duration::from_secs(5);

static WAITERS: Mutex<Option<HashMap<i32, oneshot::Sender<Exit>>>> = Mutex::new(None);

fn waiters() -> MutexGuard<'static, Option<HashMap<i32, oneshot::Sender<Exit>>>> {
    // A poisoned lock only means another thread panicked while holding it;
    // the map itself is still consistent.
    WAITERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A spawned child whose exit status is delivered by the reaper.
#[derive(Debug)]
pub struct Child {
    pid: i32,
    exit: oneshot::Receiver<Exit>,
    /// Its standard input, when it was piped.
    pub stdin: Option<ChildStdin>,
    /// Its standard output, when it was piped.
    pub stdout: Option<ChildStdout>,
    /// Its standard error, when it was piped.
    pub stderr: Option<ChildStderr>,
}

/// Spawns `cmd` and registers it with the reaper.
pub fn spawn(cmd: &mut Command) -> io::Result<Child> {
    let mut guard = waiters();
    let mut child = cmd.spawn()?;
    let pid = child.id() as i32;
    let (tx, rx) = oneshot::channel();
    guard.get_or_insert_with(HashMap::new).insert(pid, tx);
    drop(guard);
    Ok(Child {
        pid,
        exit: rx,
        stdin: child.stdin.take(),
        stdout: child.stdout.take(),
        stderr: child.stderr.take(),
    })
}

impl Child {
    /// The process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits for the child to end.
    pub async fn wait(self) -> io::Result<Exit> {
        self.exit.await.map_err(|_| {
            io::Error::other(format!(
                "the reaper lost the exit status of pid {}",
                self.pid
            ))
        })
    }

    /// Waits at most `limit`; then sends SIGTERM, waits `grace`, sends
    /// SIGKILL and waits [`KILL_WAIT`] more: a process stuck in the kernel
    /// (D state, on a server that went away) cannot die, and is then given
    /// up (an error) rather than waited for for ever. Returns the exit
    /// status and whether the limit was hit.
    pub async fn wait_timeout(self, limit: Duration, grace: Duration) -> io::Result<(Exit, bool)> {
        let pid = self.pid;
        let exit = async move {
            self.exit
                .await
                .map_err(|_| io::Error::other(format!("lost the exit status of pid {pid}")))
        };
        let signal = move |s| {
            let _ = kill(Pid::from_raw(pid), s);
        };
        escalate(pid, exit, signal, limit, grace).await
    }

    /// Sends `signal` to the child (ignored if it is already gone).
    pub fn signal(&self, signal: Signal) {
        let _ = kill(Pid::from_raw(self.pid), signal);
    }
}

/// [`Child::wait_timeout`]'s steps: `exit` is the child's end, `signal`
/// sends it a signal.
async fn escalate(
    pid: i32,
    exit: impl std::future::Future<Output = io::Result<Exit>>,
    signal: impl Fn(Signal),
    limit: Duration,
    grace: Duration,
) -> io::Result<(Exit, bool)> {
    tokio::pin!(exit);
    if let Ok(result) = tokio::time::timeout(limit, &mut exit).await {
        return result.map(|e| (e, false));
    }
    signal(Signal::SIGTERM);
    if let Ok(result) = tokio::time::timeout(grace, &mut exit).await {
        return result.map(|e| (e, true));
    }
    signal(Signal::SIGKILL);
    match tokio::time::timeout(KILL_WAIT, exit).await {
        Ok(result) => result.map(|e| (e, true)),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "pid {pid} did not end within {} s of SIGKILL (stuck in the kernel?): given up",
                KILL_WAIT.as_secs()
            ),
        )),
    }
}

/// Collects every child that has ended, without blocking. Returns how many
/// processes were reaped.
pub fn reap() -> usize {
    let mut count = 0;
    loop {
        let (pid, exit) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => (pid, Exit::Code(code)),
            Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, Exit::Signal(signal as i32)),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return count,
            Err(Errno::EINTR) => continue,
            Ok(_) => continue,
            Err(_) => return count,
        };
        count += 1;
        if let Some(tx) = waiters().as_mut().and_then(|m| m.remove(&pid.as_raw())) {
            let _ = tx.send(exit);
        }
    }
}

/// Reaps children for ever: on every SIGCHLD, and once a second in case a
/// signal was coalesced or missed. Spawn it before the first [`spawn`].
pub async fn reaper() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigchld = signal(SignalKind::child()).ok();
    loop {
        reap();
        match sigchld.as_mut() {
            Some(s) => {
                let _ = tokio::time::timeout(Duration::from_secs(1), s.recv()).await;
            }
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Turns a child's piped stdout or stderr into an async reader.
pub fn async_pipe(
    pipe: impl Into<std::os::fd::OwnedFd>,
) -> io::Result<tokio::net::unix::pipe::Receiver> {
    tokio::net::unix::pipe::Receiver::from_owned_fd(pipe.into())
}

/// Copies a child's output (a pipe) to the console on a thread of its own,
/// keeping the end of it: writing to a serial console blocks for as long as
/// the line takes to send it (115200 baud: about 11 KB/s), which must never
/// hold the async runtime's thread (the reaper, the DHCP renewals).
pub struct Forwarder {
    tail: std::sync::Arc<Mutex<Vec<u8>>>,
    done: oneshot::Receiver<()>,
}

impl Forwarder {
    /// Starts copying `pipe` to `sink` until the pipe ends, keeping its last
    /// `keep` bytes (at least).
    pub fn start(
        pipe: impl io::Read + Send + 'static,
        sink: impl io::Write + Send + 'static,
        keep: usize,
    ) -> io::Result<Forwarder> {
        Forwarder::start_filtered(pipe, sink, keep, |chunk| {
            chunk.map(<[u8]>::to_vec).unwrap_or_default()
        })
    }

    /// [`Forwarder::start`] through `filter`, on the same thread: it gets
    /// each chunk read and returns what to write (and keep); `None` at the
    /// end of the input, for what it still holds.
    pub fn start_filtered(
        pipe: impl io::Read + Send + 'static,
        mut sink: impl io::Write + Send + 'static,
        keep: usize,
        mut filter: impl FnMut(Option<&[u8]>) -> Vec<u8> + Send + 'static,
    ) -> io::Result<Forwarder> {
        let tail = std::sync::Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = oneshot::channel();
        let kept = std::sync::Arc::clone(&tail);
        let mut pipe = pipe;
        std::thread::Builder::new()
            .name("console-forward".into())
            .spawn(move || {
                let mut buf = [0u8; 4096];
                let mut forward = |bytes: Vec<u8>| {
                    if bytes.is_empty() {
                        return;
                    }
                    let _ = sink.write_all(&bytes);
                    let _ = sink.flush();
                    let mut tail = kept.lock().unwrap_or_else(|e| e.into_inner());
                    tail.extend_from_slice(&bytes);
                    if tail.len() > 2 * keep {
                        let cut = tail.len() - keep;
                        tail.drain(..cut);
                    }
                };
                loop {
                    let n = match pipe.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        // EIO: a pseudo-terminal whose slave side is
                        // closed everywhere.
                        Err(_) => break,
                    };
                    forward(filter(Some(&buf[..n])));
                }
                forward(filter(None));
                let _ = tx.send(());
            })?;
        Ok(Forwarder { tail, done })
    }

    /// Waits up to `limit` for the pipe to end (a process the child left
    /// behind may hold it open), then returns the end of what went through.
    pub async fn finish(self, limit: Duration) -> String {
        let _ = tokio::time::timeout(limit, self.done).await;
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&tail).into_owned()
    }
}

/// Runs `cmd` to completion with a time limit, capturing its standard output
/// and standard error (for short helper commands, not for containers).
pub async fn output(cmd: &mut Command, limit: Duration) -> io::Result<(Exit, String, String)> {
    output_with_input(cmd, None, limit).await
}

/// [`output`], writing `input` (small: it must fit in a pipe buffer, such as
/// a password) to the command's standard input first.
pub async fn output_with_input(
    cmd: &mut Command,
    input: Option<&[u8]>,
    limit: Duration,
) -> io::Result<(Exit, String, String)> {
    match capture(cmd, input, limit).await {
        Ok(done) => Ok(done),
        Err((Failure::Spawn(e) | Failure::Wait(e), _)) => Err(e),
        Err((f @ Failure::TimedOut(_), _)) => {
            Err(io::Error::new(io::ErrorKind::TimedOut, f.to_string()))
        }
        Err((Failure::Exit(exit), (out, err))) => Ok((exit, out, err)),
    }
}

/// How long a command gets between SIGTERM and SIGKILL once over its limit.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long the output pipes are still read once the command has ended (a
/// process it left behind may hold them open).
pub const PIPE_DRAIN: Duration = Duration::from_secs(2);

/// Runs `cmd` with its output captured; an error for anything but an exit
/// status, with what it printed so far.
async fn capture(
    cmd: &mut Command,
    input: Option<&[u8]>,
    limit: Duration,
) -> Result<(Exit, String, String), (Failure, (String, String))> {
    use std::io::Write;
    use std::process::Stdio;
    use tokio::io::AsyncReadExt;
    let nothing = || (String::new(), String::new());
    let stdin = if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    cmd.stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(cmd).map_err(|e| (Failure::Spawn(e), nothing()))?;
    if let (Some(mut pipe), Some(bytes)) = (child.stdin.take(), input) {
        // A failed write shows up as the command's own error.
        let _ = pipe.write_all(bytes);
    }
    let pipes = child
        .stdout
        .take()
        .map(async_pipe)
        .transpose()
        .and_then(|o| Ok((o, child.stderr.take().map(async_pipe).transpose()?)));
    let (stdout, stderr) = match pipes {
        Ok(p) => p,
        Err(e) => {
            child.signal(Signal::SIGKILL);
            return Err((Failure::Wait(e), nothing()));
        }
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit = {
        let reads = async {
            let read_out = async {
                if let Some(mut o) = stdout {
                    let _ = o.read_to_end(&mut out).await;
                }
            };
            let read_err = async {
                if let Some(mut e) = stderr {
                    let _ = e.read_to_end(&mut err).await;
                }
            };
            tokio::join!(read_out, read_err);
        };
        let wait = child.wait_timeout(limit, KILL_GRACE);
        tokio::pin!(reads, wait);
        let mut read = false;
        let exit = loop {
            tokio::select! {
                () = &mut reads, if !read => read = true,
                exit = &mut wait => break exit,
            }
        };
        if !read {
            let _ = tokio::time::timeout(PIPE_DRAIN, &mut reads).await;
        }
        exit
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let printed = (text(&out), text(&err));
    match exit {
        Ok((exit, false)) => Ok((exit, printed.0, printed.1)),
        Ok((_, true)) => Err((Failure::TimedOut(limit), printed)),
        Err(e) => Err((Failure::Wait(e), printed)),
    }
}

/// What a command that exited 0 printed (see [`run`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Output {
    /// How many non-empty lines the standard output holds (podman prints one
    /// name or id per line for what it removed, pruned or started).
    pub fn count_lines(&self) -> usize {
        self.stdout.lines().filter(|l| !l.trim().is_empty()).count()
    }
}

/// Why a command run by [`run`] did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// It could not be started (not found, not executable...).
    #[error("cannot start it: {0}")]
    Spawn(io::Error),
    /// It ended with a non-zero exit code or was killed.
    #[error("{0}")]
    Exit(Exit),
    /// It ran longer than its limit and was killed.
    #[error("timed out after {} s", .0.as_secs())]
    TimedOut(Duration),
    /// Its exit status was lost.
    #[error("{0}")]
    Wait(io::Error),
}

/// A command that failed: `podman rm failed (exit code 1): Error: ...`.
#[derive(Debug, thiserror::Error)]
#[error("{command} failed ({failure}){}", tail_suffix(.stderr))]
pub struct CommandError {
    /// The program and its sub-command words, e.g. `podman volume create`
    /// (see [`command_name`]: option values, and so secrets, are never shown).
    pub command: String,
    /// What went wrong.
    pub failure: Failure,
    /// The end of its standard error (of its standard output when it wrote
    /// nothing there), trimmed, with secrets masked.
    pub stderr: String,
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(": {tail}")
    }
}

/// How much of a failed command's output an error keeps.
pub const TAIL_BYTES: usize = 2048;

/// The last [`TAIL_BYTES`] of `text`, trimmed (cut on a character boundary).
pub fn tail(text: &str) -> String {
    let text = text.trim();
    if text.len() <= TAIL_BYTES {
        return text.to_string();
    }
    let mut start = text.len() - TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", text[start..].trim_start())
}

/// How errors name a command: the program's file name and at most two
/// sub-command words after it (lower-case letters, `-` and `_`), up to the
/// first option, path or other value (`podman volume create`, `mkfs.ext4`):
/// no option value (a password, a key) is ever part of it.
pub fn command_name(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(cmd.get_program())
        .to_string_lossy()
        .into_owned();
    let mut words = vec![program];
    for arg in cmd.get_args().take(2) {
        let arg = arg.to_string_lossy();
        let plain = arg
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-' || c == '_');
        if arg.starts_with('-') || !plain || arg.is_empty() {
            break;
        }
        words.push(arg.into_owned());
    }
    words.join(" ")
}

/// Replaces every occurrence of `secret` in `text` with `***`.
pub fn mask(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, crate::cmdline::MASK)
    }
}

/// Runs `cmd` to completion within `limit` (then it is killed) and checks its
/// exit status: the one way the init runs a helper command whose output it
/// needs (containers attached to the console are not run this way).
pub async fn run(cmd: &mut Command, limit: Duration) -> Result<Output, CommandError> {
    run_inner(cmd, None, limit).await
}

/// [`run`], writing `secret` and a newline to the command's standard input
/// (`podman login --password-stdin`); `secret` is masked in the error.
pub async fn run_with_secret_input(
    cmd: &mut Command,
    secret: &str,
    limit: Duration,
) -> Result<Output, CommandError> {
    run_inner(cmd, Some(secret), limit).await
}

async fn run_inner(
    cmd: &mut Command,
    secret: Option<&str>,
    limit: Duration,
) -> Result<Output, CommandError> {
    let input = secret.map(|s| format!("{s}\n"));
    let (failure, (stdout, stderr)) =
        match capture(cmd, input.as_deref().map(str::as_bytes), limit).await {
            Ok((exit, stdout, stderr)) if exit.success() => return Ok(Output { stdout, stderr }),
            Ok((exit, stdout, stderr)) => (Failure::Exit(exit), (stdout, stderr)),
            Err(failed) => failed,
        };
    let shown = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    // Masked before it is cut, so that no piece of a secret is left.
    let shown = secret.map_or_else(|| shown.clone(), |s| mask(&shown, s));
    Err(CommandError {
        command: command_name(cmd),
        failure,
        stderr: tail(&shown),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn exit_codes_and_signals_come_back() {
        rt().block_on(async {
            tokio::spawn(reaper());
            let ok = spawn(Command::new("true").arg("x"))
                .unwrap()
                .wait()
                .await
                .unwrap();
            assert!(ok.success());
            let three = spawn(Command::new("sh").args(["-c", "exit 3"])).unwrap();
            assert_eq!(three.wait().await.unwrap(), Exit::Code(3));
            let killed = spawn(Command::new("sh").args(["-c", "kill -9 $$"])).unwrap();
            let exit = killed.wait().await.unwrap();
            assert_eq!(exit, Exit::Signal(9));
            assert_eq!(exit.code(), 137);
        });
    }

    #[test]
    fn timeouts_kill_the_child() {
        rt().block_on(async {
            tokio::spawn(reaper());
            let child = spawn(Command::new("sleep").arg("30")).unwrap();
            let (exit, timed_out) = child
                .wait_timeout(Duration::from_millis(200), Duration::from_secs(1))
                .await
                .unwrap();
            assert!(timed_out);
            assert_eq!(exit, Exit::Signal(15));
        });
    }

    /// A child whose end never comes (stuck in the kernel, D state: even
    /// SIGKILL does not end it) is given up a few seconds after SIGKILL:
    /// the init must not wait for it for ever.
    #[test]
    fn a_child_that_never_ends_is_given_up_after_sigkill() {
        rt().block_on(async {
            let sent = std::sync::Mutex::new(Vec::new());
            let start = std::time::Instant::now();
            let waited = tokio::time::timeout(
                Duration::from_secs(30),
                escalate(
                    4242,
                    std::future::pending(),
                    |s| sent.lock().unwrap().push(s),
                    Duration::from_millis(100),
                    Duration::from_millis(100),
                ),
            )
            .await
            .expect("the wait must give up after SIGKILL");
            let e = waited.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
            assert_eq!(
                e.to_string(),
                "pid 4242 did not end within 5 s of SIGKILL (stuck in the kernel?): given up"
            );
            assert_eq!(*sent.lock().unwrap(), [Signal::SIGTERM, Signal::SIGKILL]);
            assert!(start.elapsed() < KILL_WAIT + Duration::from_secs(2));
        });
    }

    /// A sink as slow as a serial console: each write takes `pause`.
    struct SlowConsole {
        pause: Duration,
        written: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }
    impl io::Write for SlowConsole {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            std::thread::sleep(self.pause);
            self.written
                .fetch_add(b.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A container flooding the (slow) console through podman's error
    /// output must not hold the runtime's only thread: timers (the DHCP
    /// renewals) fire on time and the reaper delivers exit statuses while
    /// the console is busy.
    #[test]
    fn a_slow_console_does_not_stall_the_runtime() {
        rt().block_on(async {
            tokio::spawn(reaper());
            let mut flood = Command::new("sh");
            flood
                .args([
                    "-c",
                    "i=0; while [ $i -lt 3000 ]; do echo flood line $i >&2; i=$((i+1)); done",
                ])
                .stderr(std::process::Stdio::piped());
            let mut child = spawn(&mut flood).unwrap();
            let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let forwarder = Forwarder::start(
                child.stderr.take().unwrap(),
                SlowConsole {
                    pause: Duration::from_millis(40),
                    written: std::sync::Arc::clone(&written),
                },
                256,
            )
            .unwrap();
            // While the console is busy: a timer ticking every 20 ms, and a
            // child started and waited for (its status comes from the reaper).
            let mut worst = Duration::ZERO;
            let mut last = std::time::Instant::now();
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                worst = worst.max(last.elapsed());
                last = std::time::Instant::now();
            }
            let started = std::time::Instant::now();
            let exit = spawn(&mut Command::new("true"))
                .unwrap()
                .wait()
                .await
                .unwrap();
            let reaped_in = started.elapsed();
            assert!(exit.success());
            assert!(
                written.load(std::sync::atomic::Ordering::SeqCst) > 0,
                "nothing reached the console"
            );
            assert!(
                worst < Duration::from_millis(300),
                "a 20 ms timer waited {worst:?}"
            );
            assert!(
                reaped_in < Duration::from_millis(500),
                "reaped after {reaped_in:?}"
            );
            let exit = child.wait().await.unwrap();
            assert!(exit.success());
            let tail = forwarder.finish(Duration::from_secs(120)).await;
            assert!(tail.ends_with("flood line 2999\n"), "{tail}");
            assert!(tail.len() <= 2 * 256 + 4096, "{}", tail.len());
        });
    }

    /// A filter sees every chunk, then the end (`None`); what it returns is
    /// written and kept.
    #[test]
    fn a_filtered_forwarder_writes_what_its_filter_returns() {
        rt().block_on(async {
            let sink = std::sync::Arc::new(Mutex::new(Vec::new()));
            struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);
            impl io::Write for Shared {
                fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                    self.0.lock().unwrap().extend_from_slice(b);
                    Ok(b.len())
                }
                fn flush(&mut self) -> io::Result<()> {
                    Ok(())
                }
            }
            let input = std::io::Cursor::new(b"abc\ndef\n".to_vec());
            let forwarder = Forwarder::start_filtered(
                input,
                Shared(std::sync::Arc::clone(&sink)),
                1024,
                |chunk| match chunk {
                    Some(b) => b.to_ascii_uppercase(),
                    None => b"END\n".to_vec(),
                },
            )
            .unwrap();
            let tail = forwarder.finish(Duration::from_secs(5)).await;
            assert_eq!(tail, "ABC\nDEF\nEND\n");
            assert_eq!(&*sink.lock().unwrap(), b"ABC\nDEF\nEND\n");
        });
    }

    #[test]
    fn output_is_captured() {
        rt().block_on(async {
            tokio::spawn(reaper());
            let (exit, out, err) = output(
                Command::new("sh").args(["-c", "echo out; echo err >&2; exit 2"]),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
            assert_eq!(exit, Exit::Code(2));
            assert_eq!(out, "out\n");
            assert_eq!(err, "err\n");
        });
    }

    #[test]
    fn input_reaches_the_command() {
        rt().block_on(async {
            tokio::spawn(reaper());
            let (exit, out, _) = output_with_input(
                &mut Command::new("cat"),
                Some(b"secret\n"),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
            assert!(exit.success());
            assert_eq!(out, "secret\n");
        });
    }

    #[test]
    fn missing_program_is_an_error() {
        let err = spawn(&mut Command::new("/nonexistent/program")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(
            mask("bad password hunter2 for u", "hunter2"),
            "bad password *** for u"
        );
        assert_eq!(mask("nothing", ""), "nothing");
    }

    #[test]
    fn run_names_the_command_its_status_and_its_error_output() {
        rt().block_on(async {
            tokio::spawn(reaper());
            let out = run(
                Command::new("sh").args(["-c", "echo a; echo b"]),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
            assert_eq!(out.count_lines(), 2);
            let e = run(
                Command::new("sh").args(["-c", "echo out; echo oops >&2; exit 1"]),
                Duration::from_secs(10),
            )
            .await
            .unwrap_err();
            assert_eq!(e.to_string(), "sh failed (exit code 1): oops");
            assert!(matches!(e.failure, Failure::Exit(Exit::Code(1))));
            // Nothing on stderr: the end of stdout is shown.
            let e = run(
                Command::new("sh").args(["-c", "echo only-out; exit 2"]),
                Duration::from_secs(10),
            )
            .await
            .unwrap_err();
            assert_eq!(e.to_string(), "sh failed (exit code 2): only-out");
            let e = run(Command::new("sleep").arg("30"), Duration::from_millis(200))
                .await
                .unwrap_err();
            assert_eq!(e.to_string(), "sleep failed (timed out after 0 s)");
            assert!(matches!(e.failure, Failure::TimedOut(_)));
            let e = run(
                &mut Command::new("/nonexistent/mkfs.ext4"),
                Duration::from_secs(10),
            )
            .await
            .unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("mkfs.ext4 failed (cannot start it: "),
                "{e}"
            );
        });
    }

    #[test]
    fn secret_input_is_masked_in_errors() {
        rt().block_on(async {
            tokio::spawn(reaper());
            let e = run_with_secret_input(
                Command::new("sh").args(["-c", "read p; echo \"bad password $p\" >&2; exit 1"]),
                "hunter2",
                Duration::from_secs(10),
            )
            .await
            .unwrap_err();
            assert_eq!(e.to_string(), "sh failed (exit code 1): bad password ***");
        });
    }

    #[test]
    fn command_names_stop_at_options_and_paths() {
        let name = |program: &str, args: &[&str]| {
            let mut c = Command::new(program);
            c.args(args);
            command_name(&c)
        };
        assert_eq!(
            name("podman", &["volume", "create", "--label", "x", "job"]),
            "podman volume create"
        );
        assert_eq!(name("podman", &["rm", "--all", "--force"]), "podman rm");
        assert_eq!(
            name("podman", &["login", "--username", "u", "--password-stdin"]),
            "podman login"
        );
        assert_eq!(name("/sbin/mkfs.ext4", &["-q", "/dev/vda1"]), "mkfs.ext4");
        assert_eq!(name("loadkeys", &["-C", "/dev/tty0"]), "loadkeys");
        assert_eq!(name("tool", &["user:pa55word"]), "tool");
    }

    #[test]
    fn tails_keep_the_end() {
        assert_eq!(tail("  short \n"), "short");
        let long = format!("{}END", "é".repeat(TAIL_BYTES));
        let t = tail(&long);
        assert!(t.starts_with("...") && t.ends_with("END"), "{t}");
        assert!(t.len() <= TAIL_BYTES + 3);
    }
}
