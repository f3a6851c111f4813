//! The end of every boot: stop every process, sync, then power off or reboot
//! with `reboot(2)`. PID 1 must never exit (the kernel would panic), so the
//! last function here never returns, whatever fails.

use std::time::Duration;

use nix::sys::reboot::{reboot, RebootMode};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{sync, Pid};
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
/// end (reaping), then SIGKILLs what is left.
pub async fn terminate_all(grace: Duration) {
    let all = Pid::from_raw(-1);
    if kill(all, Signal::SIGTERM).is_err() {
        return; // ESRCH: nothing else runs.
    }
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline {
        crate::process::reap();
        // Signal 0 to -1 fails with ESRCH once no other process exists.
        if kill(all, None).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = kill(all, Signal::SIGKILL);
    tokio::time::sleep(Duration::from_millis(100)).await;
    crate::process::reap();
}

/// Syncs the filesystems and powers off or reboots. Never returns: if the
/// kernel refuses, the init stays parked with the error on the console.
pub fn finish(mode: ShutdownMode) -> ! {
    sync();
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
    fn mode_names_are_the_environment_values() {
        assert_eq!(ShutdownMode::Poweroff.as_str(), "poweroff");
        assert_eq!(ShutdownMode::Reboot.as_str(), "reboot");
        assert_eq!(ShutdownMode::default(), ShutdownMode::Poweroff);
    }
}
