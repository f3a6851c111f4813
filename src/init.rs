//! PID 1: the boot sequence (README.md, *How it boots*), from early set-up to
//! power-off. Each step is a function of the module that owns it; this file
//! only orders them and decides what a failure does to the boot.
//!
//! Every step logs in a console section; every failure is reported and leads
//! to the shutdown path. The init never exits and never panics out: a panic in
//! the boot sequence is caught and still ends in a clean power-off.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{error, info, warn};

use crate::cmdline::{self, Config};
use crate::console::{self, Section, Step};
use crate::pipeline::{self, Outcome};
use crate::podman::Podman;
use crate::power::{self, ShutdownMode};
use crate::storage::Storage;
use crate::timeline::Timeline;
use crate::{kmod, podman_image, runtime, signals, system, watchdog};

pub use crate::system::DEFAULT_HOSTNAME;

/// How long every process gets to end after SIGTERM at shutdown.
const TERMINATE_GRACE: Duration = Duration::from_secs(10);

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

    if std::process::id() == 1 {
        if let Err(e) = signals::catch_ctrl_alt_del() {
            warn!("Cannot catch Ctrl-Alt-Del (it reboots at once): {e}");
        }
    }
    let runtime = match runtime::build() {
        Ok(rt) => rt,
        Err(e) => {
            error!("Cannot start the init's async runtime: {e}; powering off");
            power::finish(ShutdownMode::Poweroff)
        }
    };
    let mut listener = {
        let _inside = runtime.enter();
        signals::Listener::install()
            .inspect_err(|e| error!("Cannot handle the signals of PID 1: {e}"))
            .ok()
    };
    let mut state = State {
        config: Config::default(),
        storage: Arc::default(),
        cleanup: None,
        timeline,
    };
    // A signal stops the boot where it is (see crate::signals).
    let boot = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            tokio::select! {
                outcome = boot(&mut state) => outcome,
                request = signals::next(listener.as_mut()) => {
                    let outcome = request.outcome();
                    error!("{}: stopping the pipeline and shutting down (pipeline status {})", request.describe(), outcome.status);
                    outcome
                }
            }
        })
    }));
    let outcome = boot.unwrap_or_else(|_| {
        error!("Internal error: the init panicked during the boot sequence; shutting down");
        failed("the init itself")
    });
    let limit = watchdog::limit(outcome.mode, &state.config);
    let _watchdog = watchdog::Watchdog::arm(limit, outcome.mode, outcome.status);
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
    /// The cache disk, swap and network block devices, once set up. Shared
    /// with the storage phase running on the blocking pool: a signal that
    /// stops the boot in the middle of one leaves it to the shutdown.
    storage: Arc<Mutex<Option<Storage>>>,
    /// What the pipeline leaves to clean up once the status is printed.
    cleanup: Option<pipeline::Cleanup>,
    timeline: Timeline,
}

fn failed(by: &str) -> Outcome {
    Outcome {
        status: 1,
        failed_by: by.to_string(),
        mode: ShutdownMode::Default,
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
    let info = system::print_runtime_info();
    let partial = system::partly_unpacked(Path::new(system::ARCHIVE_MARKERS));
    if !partial.is_empty() {
        let reason = system::unpack_failure_from_kernel_log();
        error!(
            "{}",
            system::partly_unpacked_message(&partial, reason.as_deref(), info.ram_mib)
        );
        return failed("Initramfs");
    }
    if !state.config.errors.is_empty() {
        error!(
            "The kernel command line has {} error(s): not running the pipeline",
            state.config.errors.len()
        );
        return failed("Kernel command line");
    }

    if let Err(outcome) = load_modules(&state.config).await {
        return outcome;
    }
    state.timeline.mark("modules");

    *lock(&state.storage) = Some(Storage::default());
    storage_phase(state, |s, config| *s = Storage::setup_local(config)).await;
    state.timeline.mark("storage");

    let net = {
        let _section = Section::step(Step::Connect);
        // Each lease and static interface is logged as it is applied.
        match crate::net::setup(&state.config).await {
            Ok(net) => net,
            Err(e) => {
                error!("{e}");
                error!("No network: not running the pipeline");
                return failed("Network");
            }
        }
    };
    storage_phase(state, Storage::setup_network).await;
    state.timeline.mark("network");

    set_clock(&state.config, &net.ntp_servers()).await;

    if let Err(outcome) = extra_args(&mut state.config).await {
        return outcome;
    }

    let config = &state.config;
    {
        let _section = Section::step(Step::SetHostname);
        // b2c.hostname, else ip='s host name, else the default.
        let name = config.hostname.as_deref().or(net.hostname.as_deref());
        system::set_hostname(name.unwrap_or(DEFAULT_HOSTNAME));
    }
    {
        let _section = Section::step(Step::SetKeymap);
        if let Some(name) = &config.keymap {
            // An unknown or broken keymap is reported, not fatal.
            match crate::keymap::load(name).await {
                Ok(path) => info!("Keymap {name} loaded ({})", path.display()),
                Err(e) => error!("{e}"),
            }
        }
    }
    storage_phase(state, Storage::configure_podman).await;
    let config = &state.config;
    Podman::new(config).login(&config.logins).await;
    let persistent = lock(&state.storage)
        .as_ref()
        .is_some_and(|s| s.cache.is_some());
    let (outcome, cleanup) = pipeline::run(config, &mut state.timeline, persistent).await;
    state.cleanup = cleanup;
    state.timeline.mark("pipeline_end");
    outcome
}

fn early_setup() -> anyhow::Result<()> {
    use anyhow::Context;
    if std::process::id() == 1 {
        system::move_root_off_initramfs().context("moving the root off the initramfs")?;
    }
    system::mount_early_filesystems().context("mounting the early filesystems")?;
    if std::process::id() == 1 {
        system::grow_root_tmpfs();
    }
    Ok(())
}

/// Reads and parses `/proc/cmdline`, printing its warnings and errors.
fn read_config() -> Config {
    let _section = Section::step(Step::Setup);
    let config = match std::fs::read("/proc/cmdline") {
        Ok(bytes) => cmdline::parse(&bytes),
        Err(e) => {
            let mut c = Config::default();
            let msg = format!("cannot read /proc/cmdline: {e}");
            c.errors.push(cmdline::Problem::new(None, msg));
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

/// The kernel modules: the coldplug, overlay (podman needs it whatever the
/// hardware), loop and squashfs for podman's image, what the storage
/// options need (ext4, nbd, nfsv4...), then `b2c.modules` and
/// `b2c.insmods`; then podman's image is mounted (a failure there fails the
/// boot: no container could run). Blocking: on the blocking pool.
async fn load_modules(config: &Config) -> Result<(), Outcome> {
    let _section = Section::step(Step::LoadModules);
    let mut modules = vec!["overlay".to_string()];
    let image = podman_image::present();
    if image {
        modules.extend(podman_image::MODULES.iter().map(|m| m.to_string()));
    }
    modules.extend(crate::storage::required_modules(config));
    modules.extend(config.modules.iter().cloned());
    let files = config.insmods.clone();
    if let Err(e) = runtime::blocking(move || kmod::load_at_boot(&modules, &files)).await {
        error!("Internal error while loading the kernel modules: {e}");
    }
    if !image {
        return Ok(());
    }
    match runtime::blocking(podman_image::mount_image).await {
        Ok(Ok(device)) => {
            info!(
                "podman: {} mounted on {} ({})",
                podman_image::IMAGE,
                podman_image::MOUNT_POINT,
                device.display()
            );
            Ok(())
        }
        Ok(Err(e)) => {
            error!("Cannot mount podman's image: {e}: no container can run");
            Err(failed("Podman image"))
        }
        Err(e) => {
            error!("Internal error while mounting podman's image: {e}");
            Err(failed("Podman image"))
        }
    }
}

fn lock(storage: &Mutex<Option<Storage>>) -> MutexGuard<'_, Option<Storage>> {
    // A phase that panicked leaves the storage as it was: still worth
    // tearing down.
    storage.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs a storage phase, which blocks, on the blocking pool (see
/// [`crate::runtime`]).
async fn storage_phase(state: &mut State, phase: fn(&mut Storage, &Config)) {
    let storage = Arc::clone(&state.storage);
    let config = state.config.clone();
    let done = runtime::blocking(move || {
        if let Some(s) = lock(&storage).as_mut() {
            phase(s, &config);
        }
    })
    .await;
    if let Err(e) = done {
        error!("Internal error in the storage set-up: {e}");
    }
}

/// `b2c.ntp_peer`: failures are warnings, the boot goes on.
async fn set_clock(config: &Config, dhcp_ntp: &[std::net::Ipv4Addr]) {
    let _section = Section::step(Step::NtpSet);
    match crate::net::ntp::sync(&config.ntp_peer, dhcp_ntp).await {
        Ok(Some(_)) => {} // The report is logged by the NTP client.
        Ok(None) => warn!("The clock was not set (b2c.ntp_peer=none)"),
        Err(e) => warn!("{e}"),
    }
}

/// `b2c.extra_args_url`: downloads the file and merges it into `config`,
/// printing its warnings and errors. A failed download or an error in the
/// file runs no pipeline: the outcome to end the boot with.
async fn extra_args(config: &mut Config) -> Result<(), Outcome> {
    let _section = Section::step(Step::ParseExtraCmdline);
    let Some(url) = config.extra_args_url.clone() else {
        return Ok(());
    };
    info!("Downloading the extra arguments from {url}");
    let body = match crate::net::http::fetch(&url, config.proxy.as_ref()).await {
        Ok(body) => body,
        Err(e) => {
            error!("{e}");
            error!("No extra arguments: not running the pipeline");
            return Err(failed("b2c.extra_args_url"));
        }
    };
    let (warnings, errors) = (config.warnings.len(), config.errors.len());
    cmdline::merge_extra_args(config, &body);
    for w in &config.warnings[warnings..] {
        warn!("{w}");
    }
    for e in &config.errors[errors..] {
        error!("{e}");
    }
    if config.errors.len() > errors {
        error!("The extra arguments have error(s): not running the pipeline");
        return Err(failed("b2c.extra_args_url"));
    }
    info!("{}", pipeline_summary(config));
    Ok(())
}

/// Reports the status, cleans the pipeline up, stops everything and runs
/// the shutdown command.
async fn shutdown(outcome: &Outcome, state: &mut State) {
    console::status_line(outcome.status);
    if let Some(cleanup) = state.cleanup.take() {
        cleanup.run().await;
    }
    {
        let _section = Section::step(Step::UnmountCache);
        power::terminate_all(TERMINATE_GRACE).await;
        // power::finish syncs (bounded) right before reboot(2).
        storage_phase(state, |s, _| s.shutdown()).await;
    }
    state.timeline.mark("shutdown");
    info!("{}", state.timeline.line());
    power::announce(outcome.mode, &state.config).await;
}
