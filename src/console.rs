//! The console contract (SPEC section 6): every log line of the init is
//! `[UPTIME]: MESSAGE`, errors are `[UPTIME]: ERROR: MESSAGE` in red, warnings
//! `[UPTIME]: WARNING: MESSAGE`; boot steps are GitLab CI collapsible sections.
//!
//! The init logs with `tracing`'s macros; [`init_logging`] installs a
//! subscriber that formats events this way on standard output (the console).

use std::fmt;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";
const ERASE_LINE: &str = "\x1b[0K";

/// Seconds since boot with two decimals, as `/proc/uptime` shows them
/// (e.g. `12.34`). Read from CLOCK_BOOTTIME, the clock behind
/// `/proc/uptime`, so that it works before /proc is mounted.
pub fn uptime() -> String {
    format!("{:.2}", uptime_secs())
}

/// Seconds since boot as a number (0 if the clock cannot be read).
pub fn uptime_secs() -> f64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_BOOTTIME)
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
        .unwrap_or(0.0)
}

/// Formats one log line of the console contract (without the trailing newline).
pub fn format_line(uptime: &str, level: Level, message: &str) -> String {
    if level == Level::ERROR {
        format!("{RED}[{uptime}]: ERROR: {message}{RESET}")
    } else if level == Level::WARN {
        format!("[{uptime}]: WARNING: {message}")
    } else {
        format!("[{uptime}]: {message}")
    }
}

/// The `tracing` event format of the console contract.
struct ConsoleFormat;

impl<S, N> FormatEvent<S, N> for ConsoleFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut message = String::new();
        ctx.field_format()
            .format_fields(Writer::new(&mut message), event)?;
        let line = format_line(&uptime(), *event.metadata().level(), &message);
        writeln!(writer, "{line}")
    }
}

/// Installs the console subscriber (info level and above) on standard output.
/// Safe to call more than once: later calls do nothing.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(Level::INFO)
        .event_format(ConsoleFormat)
        .with_writer(std::io::stdout)
        .try_init();
}

fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The line that opens a GitLab CI section.
pub fn section_start_line(time: u64, name: &str, collapsed: bool, header: &str) -> String {
    let options = if collapsed { "[collapsed=true]" } else { "" };
    format!("{ERASE_LINE}section_start:{time}:{name}{options}\r{ERASE_LINE}{header}")
}

/// The line that closes a GitLab CI section.
pub fn section_end_line(time: u64, name: &str) -> String {
    format!("{ERASE_LINE}section_end:{time}:{name}\r{ERASE_LINE}")
}

/// An open console section; closed when dropped (or by [`Section::end`]).
#[must_use = "a section is closed when this value is dropped"]
pub struct Section {
    name: String,
}

impl Section {
    /// Opens a collapsed section named `name` whose header is a log line.
    pub fn start(name: &str, header: &str) -> Section {
        Self::open(name, header, true)
    }

    /// Opens a section that GitLab shows expanded (used before each
    /// `b2c.run` container's output).
    pub fn start_expanded(name: &str, header: &str) -> Section {
        Self::open(name, header, false)
    }

    fn open(name: &str, header: &str, collapsed: bool) -> Section {
        let header = format_line(&uptime(), Level::INFO, header);
        print_raw(&section_start_line(unix_time(), name, collapsed, &header));
        Section {
            name: name.to_string(),
        }
    }

    /// Closes the section now.
    pub fn end(self) {}
}

impl Drop for Section {
    fn drop(&mut self) {
        print_raw(&section_end_line(unix_time(), &self.name));
    }
}

/// Writes one raw line to the console (errors writing to the console are
/// ignored: there is nowhere else to report them).
pub fn print_raw(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_follow_the_contract() {
        assert_eq!(format_line("1.23", Level::INFO, "hello"), "[1.23]: hello");
        assert_eq!(
            format_line("1.23", Level::WARN, "careful"),
            "[1.23]: WARNING: careful"
        );
        assert_eq!(
            format_line("1.23", Level::ERROR, "broken"),
            "\x1b[31m[1.23]: ERROR: broken\x1b[0m"
        );
    }

    #[test]
    fn section_markers_are_gitlab_ones() {
        assert_eq!(
            section_start_line(1700000000, "b2c_network", true, "[1.00]: Network"),
            "\x1b[0Ksection_start:1700000000:b2c_network[collapsed=true]\r\x1b[0K[1.00]: Network"
        );
        assert_eq!(
            section_start_line(1700000000, "b2c_run_1", false, "x"),
            "\x1b[0Ksection_start:1700000000:b2c_run_1\r\x1b[0Kx"
        );
        assert_eq!(
            section_end_line(1700000001, "b2c_network"),
            "\x1b[0Ksection_end:1700000001:b2c_network\r\x1b[0K"
        );
    }

    #[test]
    fn uptime_is_a_number_on_linux() {
        assert!(uptime().parse::<f64>().is_ok());
    }
}
