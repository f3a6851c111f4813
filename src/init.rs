//! PID 1: the boot sequence of SPEC section 2, from early set-up to power-off.
//!
//! Every step logs in a console section; every failure is reported and leads
//! to the shutdown path. The init never exits and never panics out: a panic in
//! the boot sequence is caught and still ends in a clean power-off.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::Duration;

use tracing::{error, info, warn};

use crate::cmdline::{self, Config};
use crate::console::{self, Section};
use crate::kmod;
use crate::pipeline::{self, Outcome};
use crate::power::{self, ShutdownMode};
use crate::storage::Storage;
use crate::system;
use crate::timeline::Timeline;

/// The default `b2c.hostname`.
pub const DEFAULT_HOSTNAME: &str = "boot2container";
/// How long a custom shutdown or reboot command may run before the init does
/// the job itself.
const SHUTDOWN_CMD_LIMIT: Duration = Duration::from_secs(60);

/// The init's entry point. Never returns.
pub fn main() -> ! {
    // The environment of PID 1 is nearly empty; children inherit this one.
    std::env::set_var(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    std::env::set_var("HOME", "/root");
    console::init_logging();
    let mut timeline = Timeline::new();
    timeline.mark("init");

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("Cannot start the init's async runtime: {e}; powering off");
            power::finish(ShutdownMode::Poweroff)
        }
    };
    let mut state = State {
        config: Config::default(),
        storage: None,
        timeline,
    };
    let boot = std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(boot(&mut state))));
    let outcome = boot.unwrap_or_else(|_| {
        error!("Internal error: the init panicked during the boot sequence; shutting down");
        failed("the init itself")
    });
    let shutdown = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(shutdown(&outcome, &mut state))
    }));
    if shutdown.is_err() {
        error!("Internal error: the init panicked while shutting down");
    }
    power::finish(outcome.mode)
}

/// What the boot sequence sets up and the shutdown path tears down.
struct State {
    config: Config,
    /// The cache disk, swap and network block devices, once set up.
    storage: Option<Storage>,
    timeline: Timeline,
}

fn failed(by: &str) -> Outcome {
    Outcome {
        status: 1,
        failed_by: by.to_string(),
        mode: ShutdownMode::Poweroff,
    }
}

/// Everything from early set-up to the end of the pipeline.
async fn boot(state: &mut State) -> Outcome {
    if let Err(e) = early_setup() {
        // Without /proc, /sys or cgroups nothing else can work.
        error!("Early set-up failed: {e:#}");
        return failed("Early set-up");
    }
    tokio::spawn(crate::process::reaper());
    state.timeline.mark("early_setup");

    state.config = read_config();
    print_runtime_info();
    if !state.config.errors.is_empty() {
        error!(
            "The kernel command line has {} error(s): not running the pipeline",
            state.config.errors.len()
        );
        return failed("Kernel command line");
    }

    warn_unimplemented(&state.config);
    load_modules(&state.config);
    state.timeline.mark("modules");

    state.storage = Some(Storage::setup_local(&state.config).await);
    state.timeline.mark("storage");

    let net = match network_up(&state.config).await {
        Ok(net) => net,
        Err(e) => {
            error!("{e}");
            error!("No network: not running the pipeline");
            return failed("Network");
        }
    };
    if let Some(storage) = state.storage.as_mut() {
        storage.setup_network(&state.config).await;
    }
    state.timeline.mark("network");

    set_clock(&state.config, &net.ntp_servers()).await;

    if let Some(url) = state.config.extra_args_url.clone() {
        let _section = Section::start(
            "b2c_extra_args",
            &format!("Downloading the extra arguments from {url}"),
        );
        match crate::net::http::fetch(&url, state.config.proxy.as_ref()).await {
            Ok(body) => {
                let (warnings, errors) = (state.config.warnings.len(), state.config.errors.len());
                cmdline::merge_extra_args(&mut state.config, &body);
                for w in &state.config.warnings[warnings..] {
                    warn!("{w}");
                }
                for e in &state.config.errors[errors..] {
                    error!("{e}");
                }
                if state.config.errors.len() > errors {
                    error!("The extra arguments have error(s): not running the pipeline");
                    return failed("b2c.extra_args_url");
                }
                info!("{}", pipeline_summary(&state.config));
            }
            Err(e) => {
                error!("{e}");
                error!("No extra arguments: not running the pipeline");
                return failed("b2c.extra_args_url");
            }
        }
    }

    let config = &state.config;
    set_hostname(config.hostname.as_deref().unwrap_or(DEFAULT_HOSTNAME));
    if let Some(name) = &config.keymap {
        // An unknown or broken keymap is reported, not fatal.
        match crate::keymap::load(name).await {
            Ok(path) => info!("Keymap {name} loaded ({})", path.display()),
            Err(e) => error!("{e}"),
        }
    }
    if let Some(storage) = state.storage.as_mut() {
        storage.configure_podman(config);
    }
    pipeline::login(config).await;
    let persistent = state.storage.as_ref().is_some_and(|s| s.cache.is_some());
    let outcome = pipeline::run(config, &mut state.timeline, persistent).await;
    state.timeline.mark("pipeline_end");
    outcome
}

/// Options the parser validates but this init does not act on yet: say so
/// rather than ignore them silently.
fn warn_unimplemented(config: &Config) {
    for minio in &config.minio {
        warn!(
            "b2c.minio={}: S3 endpoints are not supported yet: ignored",
            minio.alias
        );
    }
}

/// `b2c.ntp_peer`: failures are warnings, the boot goes on.
async fn set_clock(config: &Config, dhcp_ntp: &[std::net::Ipv4Addr]) {
    let _section = Section::start("b2c_clock", "Setting the clock");
    match crate::net::ntp::sync(&config.ntp_peer, dhcp_ntp).await {
        Ok(Some(_)) => {} // The report is logged by the NTP client.
        Ok(None) => warn!("The clock was not set (b2c.ntp_peer=none)"),
        Err(e) => warn!("{e}"),
    }
}

fn early_setup() -> anyhow::Result<()> {
    use anyhow::Context;
    if std::process::id() == 1 {
        system::move_root_off_initramfs().context("moving the root off the initramfs")?;
    }
    system::mount_early_filesystems().context("mounting the early filesystems")?;
    Ok(())
}

/// Reads and parses `/proc/cmdline`, printing its warnings and errors.
fn read_config() -> Config {
    let _section = Section::start("b2c_cmdline", "Reading the kernel command line");
    let config = match std::fs::read("/proc/cmdline") {
        Ok(bytes) => cmdline::parse(&bytes),
        Err(e) => {
            let mut c = Config::default();
            c.errors.push(format!("cannot read /proc/cmdline: {e}"));
            c
        }
    };
    for w in &config.warnings {
        warn!("{w}");
    }
    for e in &config.errors {
        error!("{e}");
    }
    info!("{}", pipeline_summary(&config));
    config
}

/// `Pipeline: 1 service(s), 2 container(s), 0 post container(s)`.
fn pipeline_summary(config: &Config) -> String {
    format!(
        "Pipeline: {} service(s), {} container(s), {} post container(s){}",
        config.run_service.len(),
        config.run.len(),
        config.run_post.len(),
        if config.pipefail { ", pipefail" } else { "" }
    )
}

fn print_runtime_info() {
    let _section = Section::start("b2c_info", "Runtime information");
    let info = system::runtime_info();
    info!(
        "boot2container {} ({})",
        env!("CARGO_PKG_VERSION"),
        info.arch
    );
    info!("Linux {}", info.kernel);
    info!("CPU: {} ({} cores)", info.cpu, info.cpus);
    info!("RAM: {} MiB", info.ram_mib);
    if info.block_devices.is_empty() {
        info!("Block devices: none");
    } else {
        info!("Block devices: {}", info.block_devices.join(", "));
    }
}

fn load_modules(config: &Config) {
    let _section = Section::start("b2c_modules", "Loading the kernel modules");
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = Path::new("/lib/modules").join(&release);
    let db = match kmod::ModuleDb::load(&dir) {
        Ok(db) => db,
        Err(e) => {
            warn!("No kernel modules loaded: {e}");
            return;
        }
    };
    let mut loader = kmod::Loader::new(db);
    let (loaded, errors) = loader.coldplug(Path::new("/sys"));
    for e in errors {
        warn!("{e}");
    }
    info!(
        "Coldplug loaded {} module(s): {}",
        loaded.len(),
        loaded.join(" ")
    );
    // overlay is needed by podman whatever the hardware; the storage options
    // say what else they need (ext4, nbd, nfsv4...).
    let wanted = std::iter::once("overlay".to_string())
        .chain(crate::storage::required_modules(config))
        .chain(config.modules.iter().cloned());
    for module in wanted {
        match loader.load(&module) {
            Ok(_) => {}
            Err(kmod::ModuleError::Unknown(_)) if is_builtin(&dir, &module) => {}
            Err(e) => error!("b2c.modules: {e}"),
        }
    }
    for file in &config.insmods {
        match find_module_file(&dir, file) {
            Some(path) => match loader.insmod(&path) {
                Ok(()) => info!("Loaded {}", path.display()),
                Err(e) => error!("b2c.insmods: {e}"),
            },
            None => error!("b2c.insmods: no module file {file} under {}", dir.display()),
        }
    }
}

/// True when `modules.builtin` lists `name` (built into the kernel).
fn is_builtin(dir: &Path, name: &str) -> bool {
    let name = kmod::canonical(name);
    std::fs::read_to_string(dir.join("modules.builtin"))
        .map(|s| {
            s.lines().any(|l| {
                let file = l.rsplit('/').next().unwrap_or(l);
                kmod::canonical(file.trim_end_matches(".ko")) == name
            })
        })
        .unwrap_or(false)
}

/// `b2c.insmods` names module files: an absolute path, or a file name (with
/// or without `.ko`) searched under the modules directory.
fn find_module_file(dir: &Path, file: &str) -> Option<std::path::PathBuf> {
    let given = Path::new(file);
    if given.is_absolute() {
        return given.exists().then(|| given.to_path_buf());
    }
    let wanted = [file.to_string(), format!("{file}.ko")];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if wanted
                .iter()
                .any(|w| entry.file_name().to_string_lossy() == *w)
            {
                return Some(path);
            }
        }
    }
    None
}

async fn network_up(config: &Config) -> Result<crate::net::NetSetup, crate::net::NetError> {
    let _section = Section::start("b2c_network", "Setting up the network");
    // Each lease and static interface is logged as it is applied.
    crate::net::setup(config).await
}

fn set_hostname(name: &str) {
    if let Err(e) = nix::unistd::sethostname(name) {
        warn!("Cannot set the hostname to {name}: {e}");
    }
    if let Err(e) = std::fs::write("/etc/hostname", format!("{name}\n")) {
        warn!("Cannot write /etc/hostname: {e}");
    }
    let hosts = format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    );
    if let Err(e) = std::fs::write("/etc/hosts", hosts) {
        warn!("Cannot write /etc/hosts: {e}");
    }
}

/// Reports the status, stops everything and runs the shutdown command.
async fn shutdown(outcome: &Outcome, state: &mut State) {
    info!("Execution is over, pipeline status: {}", outcome.status);
    {
        let _section = Section::start(
            "b2c_shutdown",
            "Stopping every process, syncing and unmounting the disks",
        );
        power::terminate_all(Duration::from_secs(10)).await;
        // power::finish syncs (bounded) right before reboot(2).
        if let Some(storage) = state.storage.as_mut() {
            storage.shutdown();
        }
    }
    state.timeline.mark("shutdown");
    info!("{}", state.timeline.line());
    let config = &state.config;
    let command = match outcome.mode {
        ShutdownMode::Reboot => config.reboot_cmd.clone(),
        ShutdownMode::Poweroff => {
            info!("It's now safe to turn off your computer");
            if config.poweroff_delay > 0 {
                info!(
                    "Waiting {} s (b2c.poweroff_delay) before powering off",
                    config.poweroff_delay
                );
                tokio::time::sleep(Duration::from_secs(config.poweroff_delay)).await;
            }
            config.shutdown_cmd.clone()
        }
    };
    match command {
        None => console::print_raw(&format!("+ {}", outcome.mode.as_str())),
        Some(words) => run_shutdown_command(&words).await,
    }
}

async fn run_shutdown_command(words: &[String]) {
    console::print_raw(&format!("+ {}", words.join(" ")));
    let Some((program, args)) = words.split_first() else {
        return;
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    match crate::process::spawn(&mut cmd) {
        Ok(child) => match child
            .wait_timeout(SHUTDOWN_CMD_LIMIT, Duration::from_secs(2))
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
