//! The end of every boot: stop every process, sync, then power off or reboot
//! with `reboot(2)`. PID 1 must never exit (the kernel would panic), so the
//! last function here never returns, whatever fails.

use std::path::Path;
use std::time::Duration;

use nix::sys::reboot::{reboot, RebootMode};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tracing::{error, warn};

/// What the machine does at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShutdownMode {
    /// Power off (the default).
    #[default]
    Poweroff,
    /// Reboot (a container exited with 129, or reboot was asked).
    Reboot,
}

impl ShutdownMode {
    /// The value of `B2C_PIPELINE_SHUTDOWN_MODE`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownMode::Poweroff => "poweroff",
            ShutdownMode::Reboot => "reboot",
        }
    }
}

/// Sends SIGTERM to every process but PID 1, waits up to `grace` for them to
/// end (reaping), then SIGKILLs what is left. Returns how many processes had
/// to be killed.
pub async fn terminate_all(grace: Duration) -> usize {
    let all = Pid::from_raw(-1);
    if user_processes(Path::new("/proc")).is_empty() {
        return 0;
    }
    let _ = kill(all, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        crate::process::reap();
        let left = user_processes(Path::new("/proc"));
        if left.is_empty() {
            return 0;
        }
        if tokio::time::Instant::now() >= deadline {
            warn!(
                "{} process(es) still running after SIGTERM and {} s, killing them: {}",
                left.len(),
                grace.as_secs(),
                left.join(", ")
            );
            let _ = kill(all, Signal::SIGKILL);
            tokio::time::sleep(Duration::from_millis(100)).await;
            crate::process::reap();
            return left.len();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `PID (name)` of every process other than this one that is neither a
/// kernel thread nor a zombie, read from `proc`.
/// (`kill(-1, 0)` cannot tell: kernel threads count as processes there.)
pub fn user_processes(proc: &Path) -> Vec<String> {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir(proc) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == 1 || pid == me {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp session tty tpgid flags ...: comm may
        // hold spaces and parentheses, so split after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map(|(_, c)| c).unwrap_or("?");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let state = fields.first().copied().unwrap_or("");
        let flags: u64 = fields.get(6).and_then(|f| f.parse().ok()).unwrap_or(0);
        if state == "Z" || flags & PF_KTHREAD != 0 {
            continue;
        }
        found.push(format!("{pid} ({comm})"));
    }
    found.sort();
    found
}

/// How long a sync may take before the shutdown goes on without it.
pub const SYNC_LIMIT: Duration = Duration::from_secs(20);

/// sync(2), waited for at most `limit`: a cache on an NFS server or an NBD
/// export that went away would block it for ever. Returns false when it did
/// not finish in time (the syncing thread is left behind; the machine is
/// about to go down).
pub fn sync_bounded(limit: Duration) -> bool {
    let (done, finished) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("sync".into())
        .spawn(move || {
            nix::unistd::sync();
            let _ = done.send(());
        });
    if spawned.is_err() {
        // No thread to spare: sync in place rather than not at all.
        nix::unistd::sync();
        return true;
    }
    if finished.recv_timeout(limit).is_ok() {
        return true;
    }
    warn!(
        "sync did not finish within {} s: going on without it",
        limit.as_secs()
    );
    false
}

/// Syncs the filesystems and powers off or reboots. Never returns: if the
/// kernel refuses, the init stays parked with the error on the console.
pub fn finish(mode: ShutdownMode) -> ! {
    sync_bounded(SYNC_LIMIT);
    let how = match mode {
        ShutdownMode::Poweroff => RebootMode::RB_POWER_OFF,
        ShutdownMode::Reboot => RebootMode::RB_AUTOBOOT,
    };
    if std::process::id() != 1 {
        warn!(
            "not PID 1: not calling reboot(2) ({}); exiting",
            mode.as_str()
        );
        std::process::exit(0);
    }
    match reboot(how) {
        Ok(never) => match never {},
        Err(e) => error!("reboot(2) for {} failed: {e}; halting here", mode.as_str()),
    }
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_threads_and_zombies_are_not_user_processes() {
        let dir = std::env::temp_dir().join(format!("b2c-proc-{}", std::process::id()));
        let write = |pid: &str, stat: &str| {
            std::fs::create_dir_all(dir.join(pid)).ok();
            std::fs::write(dir.join(pid).join("stat"), stat).ok();
        };
        write("1", "1 (init) S 0 1 1 0 -1 4194560 0 0");
        write("2", "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0");
        write("77", "77 (sleep (x)) S 1 77 77 0 -1 4194304 0 0");
        write("78", "78 (gone) Z 1 78 78 0 -1 4194304 0 0");
        write("79", "garbage");
        std::fs::create_dir_all(dir.join("self")).ok();
        assert_eq!(user_processes(&dir), vec!["77 (sleep (x))".to_string()]);
        std::fs::remove_dir_all(&dir).ok();
        assert!(user_processes(Path::new("/nonexistent-proc")).is_empty());
    }

    #[test]
    fn sync_returns_in_time() {
        assert!(sync_bounded(SYNC_LIMIT));
    }

    #[test]
    fn mode_names_are_the_environment_values() {
        assert_eq!(ShutdownMode::Poweroff.as_str(), "poweroff");
        assert_eq!(ShutdownMode::Reboot.as_str(), "reboot");
        assert_eq!(ShutdownMode::default(), ShutdownMode::Poweroff);
    }
}
