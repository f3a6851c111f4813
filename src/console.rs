//! The console contract (README.md, *How it boots*): every log line of the init is
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

/// The boot steps' console sections, named (and headed) as the original
/// boot2container names them: farms' log parsers look for these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Early set-up and the command line.
    Setup,
    /// Versions, CPU, RAM, disks.
    RuntimeInfo,
    /// Kernel modules.
    LoadModules,
    /// The cache device and swap.
    MountCache,
    /// The network.
    Connect,
    /// The clock.
    NtpSet,
    /// `b2c.extra_args_url`.
    ParseExtraCmdline,
    /// `b2c.hostname`.
    SetHostname,
    /// `b2c.keymap`.
    SetKeymap,
    /// The pipeline: volumes, then the containers.
    StartPipeline,
    /// The volume transfers of one pipeline point (the header names it).
    ExecuteHooks,
    /// One `b2c.run_service` container.
    StartServiceContainer,
    /// Pulling and creating a pipeline container.
    CreateContainer,
    /// A pipeline container's own output (not collapsed).
    ContainerRun,
    /// After a pipeline container.
    PostContainer,
    /// Removing containers, images and volumes after the pipeline.
    Cleanup,
    /// Stopping every process, swap and the cache at shutdown.
    UnmountCache,
}

impl Step {
    /// The section name, as the original's.
    pub fn name(self) -> &'static str {
        match self {
            Step::Setup => "b2c_setup",
            Step::RuntimeInfo => "runtime_info",
            Step::LoadModules => "load_modules",
            Step::MountCache => "mount_cache_partition",
            Step::Connect => "connect",
            Step::NtpSet => "ntp_set",
            Step::ParseExtraCmdline => "parse_extra_cmdline",
            Step::SetHostname => "set_hostname",
            Step::SetKeymap => "set_keymap",
            Step::StartPipeline => "start_pipeline",
            Step::ExecuteHooks => "execute_hooks",
            Step::StartServiceContainer => "start_service_container",
            Step::CreateContainer => "create_container",
            Step::ContainerRun => "container_run",
            Step::PostContainer => "b2c_post_container",
            Step::Cleanup => "cleanup",
            Step::UnmountCache => "unmount_cache_partition",
        }
    }

    /// The section's header line, as the original's (execute_hooks names
    /// its point: see [`hooks_header`]).
    pub fn header(self) -> &'static str {
        match self {
            Step::Setup => "Setting up boot2container",
            Step::RuntimeInfo => "Runtime information",
            Step::LoadModules => "Load the kernel modules wanted by the user",
            Step::MountCache => "Mount the cache partition",
            Step::Connect => "Connect to the network",
            Step::NtpSet => "Synchronize the clock",
            Step::ParseExtraCmdline => "Download and parse the extra command line",
            Step::SetHostname => "Set the hostname",
            Step::SetKeymap => "Setting the keymap",
            Step::StartPipeline => "Run all the cmdline-specified containers",
            Step::ExecuteHooks => "Execute the hooks",
            Step::StartServiceContainer => "Pull, create, init, and start the service container",
            Step::CreateContainer => "Pull, create, and init the container",
            Step::ContainerRun => "About to start executing a container",
            Step::PostContainer => "gathering container results",
            Step::Cleanup => "Done executing the pipeline, clean up time!",
            Step::UnmountCache => "Unmount the cache partition",
        }
    }
}

/// The header of the `execute_hooks` section of a pipeline point
/// (`pipeline_start`, `container_start`...): `Execute the pipeline_start hooks`.
pub fn hooks_header(point: &str) -> String {
    format!("Execute the {point} hooks")
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

    /// Opens the section of a boot step (collapsed, except
    /// [`Step::ContainerRun`]).
    pub fn step(step: Step) -> Section {
        Self::open(step.name(), step.header(), step != Step::ContainerRun)
    }

    /// Opens the section of `step` with another header.
    pub fn step_with(step: Step, header: &str) -> Section {
        Self::open(step.name(), header, step != Step::ContainerRun)
    }

    /// Another process (the OCI hook of [`crate::hook`]) closed this section
    /// and opened `step`'s: this value now closes that one.
    pub fn handed_over(&mut self, step: Step) {
        self.name = step.name().to_string();
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

/// The two lines that close section `from` and open section `to`, with
/// `to`'s header as a log line at `uptime` (for a process that is not the
/// init: see [`crate::hook`]).
pub fn switch_lines(from: Step, to: Step, uptime: &str) -> String {
    let now = unix_time();
    let header = format_line(uptime, Level::INFO, to.header());
    format!(
        "{}\n{}\n",
        section_end_line(now, from.name()),
        section_start_line(now, to.name(), to != Step::ContainerRun, &header)
    )
}

/// Writes one raw line to the console (errors writing to the console are
/// ignored: there is nowhere else to report them).
pub fn print_raw(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

static STATUS_PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The status line of the console contract.
pub fn status_text(status: i32) -> String {
    format!("Execution is over, pipeline status: {status}")
}

/// Prints the status line `Execution is over, pipeline status: N` and
/// remembers that it was printed (the shutdown watchdog prints it only if it
/// was not).
pub fn status_line(status: i32) {
    tracing::info!("{}", status_text(status));
    STATUS_PRINTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether [`status_line`] was called.
pub fn status_line_printed() -> bool {
    STATUS_PRINTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Writes `line` and a newline to the console with write(2) on standard
/// output, bypassing the lock of Rust's `stdout`, which a thread stuck
/// writing may hold: for the last words of the shutdown watchdog.
pub fn write_unlocked(line: &str) {
    let mut bytes = line.as_bytes().to_vec();
    bytes.push(b'\n');
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        // SAFETY: write(2) on standard output of a buffer we own, with its length.
        let n = unsafe { libc::write(1, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        rest = &rest[n.unsigned_abs().min(rest.len())..];
    }
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
