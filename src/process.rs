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

    /// Waits at most `limit`; then sends SIGTERM, waits `grace`, sends SIGKILL.
    /// Returns the exit status and whether the limit was hit.
    pub async fn wait_timeout(
        mut self,
        limit: Duration,
        grace: Duration,
    ) -> io::Result<(Exit, bool)> {
        if let Ok(result) = tokio::time::timeout(limit, &mut self.exit).await {
            return result.map(|e| (e, false)).map_err(|_| {
                io::Error::other(format!("lost the exit status of pid {}", self.pid))
            });
        }
        self.signal(Signal::SIGTERM);
        if let Ok(result) = tokio::time::timeout(grace, &mut self.exit).await {
            return result.map(|e| (e, true)).map_err(|_| {
                io::Error::other(format!("lost the exit status of pid {}", self.pid))
            });
        }
        self.signal(Signal::SIGKILL);
        let pid = self.pid;
        self.exit
            .await
            .map(|e| (e, true))
            .map_err(|_| io::Error::other(format!("lost the exit status of pid {pid}")))
    }

    /// Sends `signal` to the child (ignored if it is already gone).
    pub fn signal(&self, signal: Signal) {
        let _ = kill(Pid::from_raw(self.pid), signal);
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
    use std::io::Write;
    use std::process::Stdio;
    use tokio::io::AsyncReadExt;
    let stdin = if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    cmd.stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(cmd)?;
    if let (Some(mut pipe), Some(bytes)) = (child.stdin.take(), input) {
        // A failed write shows up as the command's own error.
        let _ = pipe.write_all(bytes);
    }
    let stdout = child.stdout.take().map(async_pipe).transpose()?;
    let stderr = child.stderr.take().map(async_pipe).transpose()?;
    let read_out = async {
        let mut s = String::new();
        if let Some(mut o) = stdout {
            let mut buf = Vec::new();
            let _ = o.read_to_end(&mut buf).await;
            s = String::from_utf8_lossy(&buf).into_owned();
        }
        s
    };
    let read_err = async {
        let mut s = String::new();
        if let Some(mut e) = stderr {
            let mut buf = Vec::new();
            let _ = e.read_to_end(&mut buf).await;
            s = String::from_utf8_lossy(&buf).into_owned();
        }
        s
    };
    let (out, err, exit) = tokio::join!(
        read_out,
        read_err,
        child.wait_timeout(limit, Duration::from_secs(2))
    );
    let (exit, timed_out) = exit?;
    if timed_out {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("timed out after {} s", limit.as_secs()),
        ));
    }
    Ok((exit, out, err))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
}
