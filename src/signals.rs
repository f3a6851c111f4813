//! PID 1's signals, as busybox init users expect them (`kill -TERM 1`,
//! `poweroff`, `halt`, Ctrl-Alt-Del):
//!
//! | signal | sent by | what the init does |
//! | --- | --- | --- |
//! | SIGINT | the kernel on Ctrl-Alt-Del (see [`catch_ctrl_alt_del`]) | orderly path, power-off |
//! | SIGTERM | `kill -TERM 1` | orderly path, power-off |
//! | SIGUSR2 | busybox `poweroff` | orderly path, power-off |
//! | SIGUSR1 | busybox `halt` | orderly path, halt |
//!
//! The orderly path: the pipeline stops where it is (nothing more starts;
//! the running containers get SIGTERM with every other process when the
//! shutdown stops them), the pipeline status is 128 + the signal's number
//! (130, 143, 140, 138: the job was interrupted, it did not succeed), then
//! the status line, the clean-up and the power-off or halt as for any other
//! end of a boot (with the shutdown watchdog). A signal that comes once the
//! shutdown has started is ignored: that path is already under way.

use std::io;

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::pipeline::Outcome;
use crate::power::ShutdownMode;

/// What a signal to PID 1 asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGINT: Ctrl-Alt-Del.
    CtrlAltDel,
    /// SIGTERM.
    Terminate,
    /// SIGUSR2: power off.
    Poweroff,
    /// SIGUSR1: halt.
    Halt,
}

impl Request {
    /// The signal's number.
    pub fn number(self) -> i32 {
        match self {
            Request::CtrlAltDel => libc::SIGINT,
            Request::Terminate => libc::SIGTERM,
            Request::Poweroff => libc::SIGUSR2,
            Request::Halt => libc::SIGUSR1,
        }
    }

    /// How it is named on the console and in `B2C_PIPELINE_FAILED_BY`.
    pub fn describe(self) -> &'static str {
        match self {
            Request::CtrlAltDel => "Ctrl-Alt-Del (SIGINT)",
            Request::Terminate => "SIGTERM",
            Request::Poweroff => "SIGUSR2 (power-off)",
            Request::Halt => "SIGUSR1 (halt)",
        }
    }

    /// What the machine does at the end.
    pub fn mode(self) -> ShutdownMode {
        match self {
            Request::Halt => ShutdownMode::Halt,
            Request::CtrlAltDel | Request::Terminate | Request::Poweroff => ShutdownMode::Poweroff,
        }
    }

    /// The pipeline's outcome: status 128 + the signal's number.
    pub fn outcome(self) -> Outcome {
        Outcome {
            status: 128 + self.number(),
            failed_by: self.describe().to_string(),
            mode: self.mode(),
        }
    }
}

/// Makes Ctrl-Alt-Del send SIGINT to PID 1 instead of rebooting the machine
/// at once (without a sync: what the kernel does by default).
pub fn catch_ctrl_alt_del() -> nix::Result<()> {
    nix::sys::reboot::set_cad_enabled(false)
}

/// The signals PID 1 listens to. Install it early: until then, the kernel
/// drops these signals (PID 1 gets only the signals it handles).
pub struct Listener {
    streams: Vec<(Request, Signal)>,
}

impl Listener {
    /// Installs the handlers; must run inside the async runtime.
    pub fn install() -> io::Result<Listener> {
        let kinds = [
            (Request::CtrlAltDel, SignalKind::interrupt()),
            (Request::Terminate, SignalKind::terminate()),
            (Request::Poweroff, SignalKind::user_defined2()),
            (Request::Halt, SignalKind::user_defined1()),
        ];
        let mut streams = Vec::new();
        for (request, kind) in kinds {
            streams.push((request, signal(kind)?));
        }
        Ok(Listener { streams })
    }

    /// Waits for the next signal.
    pub async fn next(&mut self) -> Request {
        std::future::poll_fn(|cx| {
            for (request, stream) in &mut self.streams {
                if stream.poll_recv(cx).is_ready() {
                    return std::task::Poll::Ready(*request);
                }
            }
            std::task::Poll::Pending
        })
        .await
    }
}

/// Waits for the next signal of `listener`, for ever when there is none
/// (its handlers could not be installed).
pub async fn next(listener: Option<&mut Listener>) -> Request {
    match listener {
        Some(l) => l.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_of_the_signals() {
        let o = Request::CtrlAltDel.outcome();
        assert_eq!(
            (o.status, o.failed_by.as_str(), o.mode),
            (130, "Ctrl-Alt-Del (SIGINT)", ShutdownMode::Poweroff)
        );
        assert_eq!(Request::Terminate.outcome().status, 143);
        assert_eq!(Request::Poweroff.outcome().status, 140);
        assert_eq!(Request::Poweroff.mode(), ShutdownMode::Poweroff);
        let o = Request::Halt.outcome();
        assert_eq!((o.status, o.mode), (138, ShutdownMode::Halt));
    }

    /// The listener reports the signal that came. (Sent to this test
    /// process: the handlers are installed first, so nothing is killed.)
    #[test]
    fn a_signal_is_reported() {
        let rt = crate::runtime::build().unwrap();
        rt.block_on(async {
            let mut l = Listener::install().unwrap();
            nix::sys::signal::raise(nix::sys::signal::Signal::SIGUSR2).unwrap();
            let got = tokio::time::timeout(std::time::Duration::from_secs(10), l.next())
                .await
                .expect("no signal reported");
            assert_eq!(got, Request::Poweroff);
        });
    }
}
