//! The shutdown watchdog: the promise that every boot ends, whatever is
//! stuck. Armed when the shutdown starts (after the pipeline, or once a
//! signal stopped it), it waits for the orderly path (stopping every process,
//! syncing, unmounting, the shutdown command) to call reboot(2). If that has
//! not happened within its limit, a thread of its own prints the status line
//! (when the orderly path has not), says why, prints the last line of the
//! console contract (`It's now safe to turn off your computer`, or
//! `Rebooting the computer`), syncs (bounded) and calls reboot(2) itself.
//!
//! The limit is [`WATCHDOG_LIMIT`] plus what the user asked the shutdown to
//! take: `b2c.poweroff_delay`, and the time a `b2c.shutdown_cmd` or
//! `b2c.reboot_cmd` may run (see [`limit`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cmdline::Config;
use crate::console;
use crate::power::{self, ShutdownMode};

/// How long the orderly shutdown may take before the watchdog powers off
/// (plus the delay and the custom command's limit the user gave). The
/// orderly path's own steps are bounded well within it: 10 s for the
/// processes to end, 20 s per sync, 30 s for swapoff, 10 s per step of a
/// network unmount, 5 s per NBD disconnection.
pub const WATCHDOG_LIMIT: Duration = Duration::from_secs(90);
/// How long the watchdog's own sync may take.
pub const WATCHDOG_SYNC_LIMIT: Duration = Duration::from_secs(10);

/// The watchdog's limit for a shutdown in `mode` with `config`.
pub fn limit(mode: ShutdownMode, config: &Config) -> Duration {
    let (delay, command) = match mode {
        ShutdownMode::Default | ShutdownMode::Poweroff => {
            (config.poweroff_delay, config.shutdown_cmd.is_some())
        }
        ShutdownMode::Reboot => (Duration::ZERO, config.reboot_cmd.is_some()),
        ShutdownMode::Halt => (Duration::ZERO, false),
    };
    let command = if command {
        power::SHUTDOWN_CMD_LIMIT + Duration::from_secs(5)
    } else {
        Duration::ZERO
    };
    WATCHDOG_LIMIT + delay + command
}

/// The lines the watchdog prints when it fires.
pub fn last_words(
    mode: ShutdownMode,
    status: i32,
    status_printed: bool,
    limit: Duration,
) -> Vec<String> {
    let mut lines = Vec::new();
    if !status_printed {
        lines.push(console::format_line(
            &console::uptime(),
            tracing::Level::INFO,
            &console::status_text(status),
        ));
    }
    lines.push(console::format_line(
        &console::uptime(),
        tracing::Level::ERROR,
        &format!(
            "The shutdown did not finish within {} s (something is stuck): the watchdog syncs and goes on with the {} itself",
            limit.as_secs(),
            mode.as_str()
        ),
    ));
    let last = match mode {
        ShutdownMode::Reboot => "Rebooting the computer",
        ShutdownMode::Default | ShutdownMode::Poweroff | ShutdownMode::Halt => {
            "It's now safe to turn off your computer"
        }
    };
    lines.push(console::format_line(
        &console::uptime(),
        tracing::Level::INFO,
        last,
    ));
    lines
}

/// An armed watchdog. Dropping it does not disarm it: only
/// [`Watchdog::disarm`] does (the orderly path never needs to: it ends in
/// reboot(2)).
pub struct Watchdog {
    disarmed: Arc<AtomicBool>,
}

impl Watchdog {
    /// Arms the watchdog of a shutdown in `mode` whose pipeline status is
    /// `status`: after `limit`, it prints [`last_words`], syncs and calls
    /// reboot(2).
    pub fn arm(limit: Duration, mode: ShutdownMode, status: i32) -> Watchdog {
        Watchdog::arm_with(limit, move || {
            for line in last_words(mode, status, console::status_line_printed(), limit) {
                console::write_unlocked(&line);
            }
            power::sync_bounded(WATCHDOG_SYNC_LIMIT);
            power::reboot_now(mode)
        })
    }

    /// Arms a watchdog that runs `fire` after `limit` unless disarmed.
    pub fn arm_with(limit: Duration, fire: impl FnOnce() + Send + 'static) -> Watchdog {
        let disarmed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&disarmed);
        let deadline = Instant::now() + limit;
        let spawned = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                while Instant::now() < deadline {
                    if flag.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(
                        deadline
                            .saturating_duration_since(Instant::now())
                            .min(Duration::from_millis(100)),
                    );
                }
                if !flag.load(Ordering::SeqCst) {
                    fire();
                }
            });
        if let Err(e) = spawned {
            tracing::error!("Cannot start the shutdown watchdog: {e}");
        }
        Watchdog { disarmed }
    }

    /// Disarms the watchdog (for tests and callers that end otherwise).
    pub fn disarm(&self) {
        self.disarmed.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_fires_when_the_shutdown_is_stuck_and_not_when_disarmed() {
        let (tx, rx) = std::sync::mpsc::channel();
        let start = Instant::now();
        let _armed = Watchdog::arm_with(Duration::from_millis(200), move || {
            let _ = tx.send(Instant::now());
        });
        let fired = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the watchdog did not fire");
        assert!(fired.duration_since(start) >= Duration::from_millis(200));

        let (tx, rx) = std::sync::mpsc::channel();
        let dog = Watchdog::arm_with(Duration::from_millis(200), move || {
            let _ = tx.send(());
        });
        dog.disarm();
        assert!(rx.recv_timeout(Duration::from_millis(600)).is_err());
    }

    #[test]
    fn its_last_words_are_the_console_contract() {
        let strip = |l: &String| l.split("]: ").nth(1).unwrap_or("").to_string();
        let lines = last_words(ShutdownMode::Poweroff, 3, false, Duration::from_secs(90));
        let texts: Vec<String> = lines.iter().map(strip).collect();
        assert_eq!(texts[0], "Execution is over, pipeline status: 3");
        assert!(texts[1].starts_with("ERROR: The shutdown did not finish within 90 s"));
        assert_eq!(texts[2], "It's now safe to turn off your computer");
        // The status line is not printed twice.
        let lines = last_words(ShutdownMode::Reboot, 0, true, Duration::from_secs(90));
        let texts: Vec<String> = lines.iter().map(strip).collect();
        assert_eq!(texts.len(), 2);
        assert_eq!(texts[1], "Rebooting the computer");
    }

    #[test]
    fn its_limit_grows_with_what_the_user_asked() {
        let mut c = Config::default();
        assert_eq!(limit(ShutdownMode::Poweroff, &c), WATCHDOG_LIMIT);
        c.poweroff_delay = Duration::from_secs(15);
        c.shutdown_cmd = Some(vec!["/sbin/poweroff".into(), "-f".into()]);
        assert_eq!(
            limit(ShutdownMode::Poweroff, &c),
            WATCHDOG_LIMIT + Duration::from_secs(15 + 65)
        );
        assert_eq!(limit(ShutdownMode::Reboot, &c), WATCHDOG_LIMIT);
        assert_eq!(limit(ShutdownMode::Halt, &c), WATCHDOG_LIMIT);
    }
}
