//! The end of every boot: stop every process, sync, then power off or reboot
//! with `reboot(2)`. PID 1 must never exit (the kernel would panic), so the
//! last function here never returns, whatever fails.

use std::path::Path;
use std::time::Duration;

use nix::sys::reboot::{reboot, RebootMode};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tracing::{error, info, warn};

use crate::cmdline::Config;
use crate::console;

/// What the machine does at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShutdownMode {
    /// Nothing asked: power off, as the original does.
    #[default]
    Default,
    /// Power off (a container exited with 130).
    Poweroff,
    /// Reboot (a container exited with 129).
    Reboot,
    /// Halt: the processors stop, the machine stays on (SIGUSR1 to PID 1).
    Halt,
}

impl ShutdownMode {
    /// The value of `B2C_PIPELINE_SHUTDOWN_MODE`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownMode::Default => "default",
            ShutdownMode::Poweroff => "poweroff",
            ShutdownMode::Reboot => "reboot",
            ShutdownMode::Halt => "halt",
        }
    }

    /// The original's default command for this mode, echoed as `+ CMD`
    /// when the init does the job itself.
    pub fn default_command(self) -> &'static str {
        match self {
            ShutdownMode::Reboot => "reboot -f",
            ShutdownMode::Halt => "halt -f",
            ShutdownMode::Default | ShutdownMode::Poweroff => "poweroff -f",
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
    if crate::runtime::within("sync", limit, nix::unistd::sync).is_ok() {
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
    reboot_now(mode)
}

/// reboot(2) for `mode`, at once (the caller synced). Never returns: if the
/// kernel refuses, the calling thread stays parked with the error on the
/// console. Outside PID 1 (tests), exits the process instead.
pub fn reboot_now(mode: ShutdownMode) -> ! {
    let how = match mode {
        ShutdownMode::Default | ShutdownMode::Poweroff => RebootMode::RB_POWER_OFF,
        ShutdownMode::Reboot => RebootMode::RB_AUTOBOOT,
        ShutdownMode::Halt => RebootMode::RB_HALT_SYSTEM,
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

/// How long a custom shutdown or reboot command may run before the init
/// does the job itself.
pub const SHUTDOWN_CMD_LIMIT: Duration = Duration::from_secs(60);
/// How long it gets between SIGTERM and SIGKILL once over that limit.
const SHUTDOWN_CMD_GRACE: Duration = Duration::from_secs(2);

/// The last words before [`finish`]: `Rebooting the computer` in reboot
/// mode; otherwise `It's now safe to turn off your computer` and
/// `b2c.poweroff_delay`. Then the command echoed as `+ CMD` (`+ poweroff -f`
/// or `+ reboot -f` when the init does the job itself, as the original's
/// defaults), and `b2c.shutdown_cmd` or `b2c.reboot_cmd` run when given.
pub async fn announce(mode: ShutdownMode, config: &Config) {
    let command = match mode {
        ShutdownMode::Reboot => {
            info!("Rebooting the computer");
            config.reboot_cmd.as_ref()
        }
        ShutdownMode::Halt => {
            // SIGUSR1: no b2c.shutdown_cmd, no delay.
            info!("It's now safe to turn off your computer");
            None
        }
        ShutdownMode::Default | ShutdownMode::Poweroff => {
            info!("It's now safe to turn off your computer");
            if !config.poweroff_delay.is_zero() {
                info!(
                    "Waiting {} s (b2c.poweroff_delay) before powering off",
                    config.poweroff_delay.as_secs_f64()
                );
                tokio::time::sleep(config.poweroff_delay).await;
            }
            config.shutdown_cmd.as_ref()
        }
    };
    match command {
        None => console::print_raw(&format!("+ {}", mode.default_command())),
        Some(words) => run_shutdown_command(words).await,
    }
}

/// Runs `b2c.shutdown_cmd` or `b2c.reboot_cmd` (never through a shell), for
/// at most [`SHUTDOWN_CMD_LIMIT`]. If it returns, the init goes on and shuts
/// down itself.
pub async fn run_shutdown_command(words: &[String]) {
    console::print_raw(&format!("+ {}", words.join(" ")));
    let Some((program, args)) = words.split_first() else {
        return;
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    match crate::process::spawn(&mut cmd) {
        Ok(child) => match child
            .wait_timeout(SHUTDOWN_CMD_LIMIT, SHUTDOWN_CMD_GRACE)
            .await
        {
            Ok((exit, _)) => warn!(
                "The shutdown command {program} returned ({exit}); the init shuts down itself"
            ),
            Err(e) => {
                warn!("The shutdown command {program} failed: {e}; the init shuts down itself")
            }
        },
        Err(e) => {
            error!("Cannot run the shutdown command {program}: {e}; the init shuts down itself")
        }
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
        assert_eq!(ShutdownMode::Halt.as_str(), "halt");
        assert_eq!(ShutdownMode::default(), ShutdownMode::Default);
        assert_eq!(ShutdownMode::Default.as_str(), "default");
        assert_eq!(ShutdownMode::Default.default_command(), "poweroff -f");
        assert_eq!(ShutdownMode::Reboot.default_command(), "reboot -f");
    }

    #[test]
    fn a_shutdown_command_that_returns_hands_back_to_the_init() {
        let rt = crate::runtime::build().unwrap();
        rt.block_on(async {
            tokio::spawn(crate::process::reaper());
            let start = std::time::Instant::now();
            run_shutdown_command(&["true".to_string()]).await;
            run_shutdown_command(&["/nonexistent/poweroff".to_string(), "-f".into()]).await;
            run_shutdown_command(&[]).await;
            assert!(start.elapsed() < SHUTDOWN_CMD_LIMIT);
        });
    }
}
