//! The container pipeline (SPEC section 5): services, `b2c.run` containers in
//! order, `b2c.run_post` containers always, then clean-up.
//!
//! Each container costs one podman process: `podman run --pull=newer` pulls,
//! creates, starts and waits. Only failures cost more (a retry, or the image
//! prune before the last try).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tracing::{error, info, warn};

use crate::cmdline::{Config, ContainerSpec};
use crate::console::Section;
use crate::podman;
use crate::power::ShutdownMode;
use crate::process::{self, Exit};
use crate::volumes::Volumes;

/// Tries for a container whose pull or creation failed transiently.
pub const PULL_TRIES: u32 = 5;
/// Exit code of a container that asked for a reboot (SIGHUP from reboot(2)).
pub const EXIT_REBOOT: i32 = 129;
/// Exit code of a container that asked for a power-off (SIGINT from reboot(2)).
pub const EXIT_POWEROFF: i32 = 130;
/// podman's own error exit code (the container never ran).
const PODMAN_ERROR: i32 = 125;

/// What the pipeline did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `Execution is over, pipeline status: N`.
    pub status: i32,
    /// What failed first (empty when nothing did).
    pub failed_by: String,
    /// Power off or reboot.
    pub mode: ShutdownMode,
}

/// How a container's end is reported and what it does to the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Exit code 0.
    Success,
    /// Exit code 129/130: the container asked for a reboot or power-off.
    Shutdown(ShutdownMode),
    /// Any other exit code.
    Failure(i32),
}

/// Classifies a container's exit code.
pub fn verdict(code: i32) -> Verdict {
    match code {
        0 => Verdict::Success,
        EXIT_REBOOT => Verdict::Shutdown(ShutdownMode::Reboot),
        EXIT_POWEROFF => Verdict::Shutdown(ShutdownMode::Poweroff),
        c => Verdict::Failure(c),
    }
}

/// The console line after a `b2c.run` container (SPEC section 6).
pub fn result_line(code: i32, aborting: bool) -> String {
    if code == 0 {
        "The container run successfully, load the next one!".to_string()
    } else if aborting {
        format!("The container exited with error code {code}, aborting the pipeline...")
    } else {
        format!("The container exited with error code {code}, continuing...")
    }
}

/// True when podman's error output shows a failure worth retrying (the
/// registry or the network was not there), false for permanent ones (no such
/// image, bad credentials, bad arguments).
pub fn is_transient_failure(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    const PERMANENT: [&str; 7] = [
        "manifest unknown",
        "name unknown",
        "unauthorized",
        "denied",
        "invalid reference format",
        "unknown flag",
        "repository name must",
    ];
    const TRANSIENT: [&str; 12] = [
        "connection refused",
        "i/o timeout",
        "no such host",
        "tls handshake timeout",
        "connection reset",
        "network is unreachable",
        "no route to host",
        "temporary failure",
        "too many requests",
        "502 bad gateway",
        "503 service unavailable",
        "unexpected eof",
    ];
    !PERMANENT.iter().any(|p| s.contains(p)) && TRANSIENT.iter().any(|p| s.contains(p))
}

/// The pipeline's running state.
struct Runner<'a> {
    config: &'a Config,
    status: i32,
    failed_by: String,
    prev_container: String,
    prev_exit: Option<i32>,
    mode: ShutdownMode,
    /// Podman's store outlives this boot (a cache device).
    persistent: bool,
}

/// Runs the whole pipeline. Runs nothing (status 0) when there is no
/// `b2c.run` nor `b2c.run_post`. `persistent`: podman's store is on a cache
/// device, so clean-up must leave it tidy for the next boot.
pub async fn run(
    config: &Config,
    timeline: &mut crate::timeline::Timeline,
    persistent: bool,
) -> Outcome {
    let mut runner = Runner {
        persistent,
        config,
        status: 0,
        failed_by: String::new(),
        prev_container: String::new(),
        prev_exit: None,
        mode: ShutdownMode::Poweroff,
    };
    if config.run.is_empty() && config.run_post.is_empty() {
        info!("No b2c.run nor b2c.run_post container given: nothing to run");
        return runner.outcome();
    }
    let (mut volumes, setup) = if config.volumes.is_empty() {
        (Volumes::default(), Ok(()))
    } else {
        let _section = Section::start("b2c_volumes", "Setting up the volumes");
        Volumes::setup(config, persistent, || podman_command(config)).await
    };
    match setup {
        Ok(()) => runner.run_containers(timeline).await,
        Err(e) => {
            error!("{e}");
            error!("The volume set-up failed: no container runs");
            runner.status = 1;
            runner.failed_by = "Volume setup".into();
        }
    }
    runner.cleanup().await;
    if !config.volumes.is_empty() {
        let _section = Section::start("b2c_volumes_end", "Tearing down the volumes");
        volumes.teardown(|| podman_command(config)).await;
    }
    runner.outcome()
}

impl Runner<'_> {
    /// Services, then `b2c.run` in order, then `b2c.run_post`.
    async fn run_containers(&mut self, timeline: &mut crate::timeline::Timeline) {
        self.start_services().await;
        let mut first = true;
        let total = self.config.run.len();
        for (i, spec) in self.config.run.iter().enumerate() {
            let n = i + 1;
            if self.config.pipefail && self.status != 0 {
                info!("Skipping container #{n} (b2c.pipefail and the pipeline failed)");
                continue;
            }
            let section = Section::start_expanded(
                &format!("b2c_run_{n}"),
                &format!("Running the container #{n}/{total}: {}", spec.source),
            );
            if first {
                timeline.mark("podman_start");
                first = false;
            }
            let code = self.run_attached(spec).await;
            section.end();
            match verdict(code) {
                Verdict::Success => info!("{}", result_line(0, false)),
                Verdict::Shutdown(mode) => {
                    self.mode = mode;
                    info!(
                        "The container asked for a {} (exit code {code}): no more b2c.run containers",
                        mode.as_str()
                    );
                    break;
                }
                Verdict::Failure(code) => {
                    if self.status == 0 {
                        self.status = code;
                        self.failed_by = spec.source.clone();
                    }
                    info!("{}", result_line(code, self.config.pipefail));
                }
            }
        }
        timeline.mark("run_end");
        let post_total = self.config.run_post.len();
        for (i, spec) in self.config.run_post.iter().enumerate() {
            let n = i + 1;
            let section = Section::start_expanded(
                &format!("b2c_run_post_{n}"),
                &format!(
                    "Running the post container #{n}/{post_total}: {}",
                    spec.source
                ),
            );
            let code = self.run_attached(spec).await;
            section.end();
            match verdict(code) {
                Verdict::Success => info!("The post container run successfully"),
                Verdict::Shutdown(mode) => {
                    self.mode = mode;
                    info!(
                        "The post container asked for a {} (exit code {code})",
                        mode.as_str()
                    );
                }
                Verdict::Failure(code) => {
                    info!("The post container exited with error code {code} (the pipeline status is not changed)")
                }
            }
        }
    }
}

impl Runner<'_> {
    fn outcome(&self) -> Outcome {
        Outcome {
            status: self.status,
            failed_by: self.failed_by.clone(),
            mode: self.mode,
        }
    }

    /// The `B2C_PIPELINE_*` variables for the next container.
    fn environment(&self) -> Vec<(String, String)> {
        vec![
            ("B2C_PIPELINE_STATUS".into(), self.status.to_string()),
            ("B2C_PIPELINE_FAILED_BY".into(), self.failed_by.clone()),
            (
                "B2C_PIPELINE_PREV_CONTAINER".into(),
                self.prev_container.clone(),
            ),
            (
                "B2C_PIPELINE_PREV_CONTAINER_EXIT_CODE".into(),
                self.prev_exit.map(|c| c.to_string()).unwrap_or_default(),
            ),
            (
                "B2C_PIPELINE_SHUTDOWN_MODE".into(),
                self.mode.as_str().into(),
            ),
        ]
    }

    async fn start_services(&mut self) {
        let total = self.config.run_service.len();
        for (i, spec) in self.config.run_service.iter().enumerate() {
            let n = i + 1;
            let _section = Section::start(
                &format!("b2c_service_{n}"),
                &format!(
                    "Starting the service container #{n}/{total}: {}",
                    spec.source
                ),
            );
            let mut args = podman::run_args_with_env(spec, &self.environment());
            args.insert(1, "--detach".into());
            match process::output(
                podman_command(self.config).args(&args),
                Duration::from_secs(3600),
            )
            .await
            {
                Ok((exit, out, _)) if exit.success() => {
                    info!("Service #{n} started (container {})", out.trim())
                }
                Ok((exit, _, err)) => {
                    error!(
                        "The service container #{n} ({}) did not start ({exit}): {}",
                        spec.source,
                        err.trim()
                    )
                }
                Err(e) => error!("Cannot run podman for the service container #{n}: {e}"),
            }
        }
    }

    /// Runs one container attached to the console, retrying transient pull
    /// failures. Returns its exit code (125 when podman itself failed).
    async fn run_attached(&mut self, spec: &ContainerSpec) -> i32 {
        let mut code = PODMAN_ERROR;
        for attempt in 1..=PULL_TRIES {
            let args = podman::run_args_with_env(spec, &self.environment());
            let (exit, stderr_tail) = match run_on_console(podman_command(self.config), &args).await
            {
                Ok(r) => r,
                Err(e) => {
                    error!("Cannot run podman for {}: {e}", spec.source);
                    (Exit::Code(PODMAN_ERROR), String::new())
                }
            };
            code = exit.code();
            if code != PODMAN_ERROR || !is_transient_failure(&stderr_tail) || attempt == PULL_TRIES
            {
                if code == PODMAN_ERROR && !stderr_tail.is_empty() {
                    let image =
                        podman::image(&spec.args).unwrap_or_else(|| "(no image given)".into());
                    error!(
                        "podman could not run the container {image}: {}",
                        last_error_line(&stderr_tail)
                    );
                }
                break;
            }
            warn!(
                "Try {attempt}/{PULL_TRIES} failed for {}: {}; retrying in 1 s",
                spec.source,
                last_error_line(&stderr_tail)
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            if attempt + 1 == PULL_TRIES {
                info!("Removing unused images before the last try");
                let _ = process::output(
                    podman_command(self.config).args(["image", "prune", "--all", "--force"]),
                    Duration::from_secs(300),
                )
                .await;
            }
        }
        self.prev_container = spec.source.clone();
        self.prev_exit = Some(code);
        code
    }

    async fn cleanup(&mut self) {
        if self.config.run_service.is_empty() && !self.persistent {
            // Every pipeline container has ended and the store lives in
            // RAM: nothing to stop, nothing worth a podman process.
            return;
        }
        let _section = Section::start("b2c_cleanup", "Stopping and removing the containers");
        let rm = ["rm", "--all", "--force", "--time", "10"];
        match process::output(
            podman_command(self.config).args(rm),
            Duration::from_secs(120),
        )
        .await
        {
            Ok((exit, out, _)) if exit.success() => info!(
                "Stopped and removed {} container(s)",
                out.lines().filter(|l| !l.trim().is_empty()).count()
            ),
            Ok((exit, _, err)) => warn!("podman rm --all failed ({exit}): {}", err.trim()),
            Err(e) => warn!("podman rm --all failed: {e}"),
        }
        if self.persistent {
            // Dangling images only: the tagged ones are the cache's point.
            let prune = ["image", "prune", "--force"];
            match process::output(
                podman_command(self.config).args(prune),
                Duration::from_secs(300),
            )
            .await
            {
                Ok((exit, out, _)) if exit.success() => info!(
                    "Pruned {} dangling image(s)",
                    out.lines().filter(|l| !l.trim().is_empty()).count()
                ),
                Ok((exit, _, err)) => warn!("podman image prune failed ({exit}): {}", err.trim()),
                Err(e) => warn!("podman image prune failed: {e}"),
            }
        }
    }
}

/// The last line of podman's error output that says `Error:` (or the last
/// non-empty line).
fn last_error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with("Error:"))
        .or(lines.last())
        .map(|l| l.to_string())
        .unwrap_or_default()
}

/// The environment of every podman process: a fixed PATH and HOME, plus the
/// `b2c.proxy` variables podman's pulls honour.
pub fn podman_environment(config: &Config) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        (
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ),
        ("HOME", "/root"),
        ("TERM", "linux"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(proxy) = &config.proxy {
        let mut both = |name: &str, value: String| {
            env.push((name.to_uppercase(), value.clone()));
            env.push((name.to_string(), value));
        };
        if let Some(url) = &proxy.https {
            both("https_proxy", url.expose());
        }
        if let Some(url) = &proxy.http {
            both("http_proxy", url.expose());
        }
        if !proxy.no.is_empty() {
            both("no_proxy", proxy.no.join(","));
        }
    }
    env
}

fn podman_command(config: &Config) -> Command {
    let mut cmd = Command::new("podman");
    cmd.env_clear().envs(podman_environment(config));
    cmd
}

/// `podman login` for each `b2c.login`, the password given on standard input
/// (never on a command line, never printed). A failed login is an error
/// line; the pipeline still runs (public images still pull).
pub async fn login(config: &Config) {
    if config.logins.is_empty() {
        return;
    }
    let _section = Section::start("b2c_login", "Logging in to the container registries");
    for login in &config.logins {
        let mut cmd = podman_command(config);
        cmd.args([
            "login",
            "--username",
            &login.username,
            "--password-stdin",
            &login.registry,
        ]);
        let input = format!("{}\n", login.password.expose());
        match process::output_with_input(&mut cmd, Some(input.as_bytes()), Duration::from_secs(60))
            .await
        {
            Ok((exit, _, _)) if exit.success() => {
                info!("Logged in to {} as {}", login.registry, login.username)
            }
            Ok((exit, out, err)) => error!(
                "b2c.login={}: podman login failed ({exit}): {}",
                login.registry,
                mask(
                    &last_error_line(&format!("{out}\n{err}")),
                    login.password.expose()
                )
            ),
            Err(e) => error!("b2c.login={}: cannot run podman login: {e}", login.registry),
        }
    }
}

/// Replaces every occurrence of `secret` in `text` with `***`.
pub fn mask(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, crate::cmdline::MASK)
    }
}

/// Runs `podman ARGS` with the console as its terminal (stdin, stdout and
/// controlling tty, so `-ti` works) and its standard error forwarded to the
/// console while the end of it is kept to classify failures.
async fn run_on_console(mut cmd: Command, args: &[String]) -> std::io::Result<(Exit, String)> {
    cmd.args(args).stderr(Stdio::piped());
    // SAFETY: setsid and ioctl are async-signal-safe and touch only the child.
    unsafe {
        cmd.pre_exec(|| {
            let _ = nix::unistd::setsid();
            // Make the console (our stdin) the controlling terminal; failing
            // is fine when stdin is not a terminal.
            let _ = libc::ioctl(0, libc::TIOCSCTTY, 1);
            Ok(())
        });
    }
    let mut child = process::spawn(&mut cmd)?;
    let stderr = child.stderr.take().map(process::async_pipe).transpose()?;
    let forward = async {
        let mut tail: Vec<u8> = Vec::new();
        if let Some(mut pipe) = stderr {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(&buf[..n]);
                let _ = err.flush();
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 16384 {
                    tail.drain(..tail.len() - 8192);
                }
            }
        }
        String::from_utf8_lossy(&tail).into_owned()
    };
    let (tail, exit) = tokio::join!(forward, child.wait());
    Ok((exit?, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(verdict(0), Verdict::Success);
        assert_eq!(verdict(3), Verdict::Failure(3));
        assert_eq!(verdict(129), Verdict::Shutdown(ShutdownMode::Reboot));
        assert_eq!(verdict(130), Verdict::Shutdown(ShutdownMode::Poweroff));
        assert_eq!(verdict(125), Verdict::Failure(125));
    }

    #[test]
    fn result_lines_are_the_contract() {
        assert_eq!(
            result_line(0, false),
            "The container run successfully, load the next one!"
        );
        assert_eq!(
            result_line(3, false),
            "The container exited with error code 3, continuing..."
        );
        assert_eq!(
            result_line(3, true),
            "The container exited with error code 3, aborting the pipeline..."
        );
    }

    #[test]
    fn transient_failures() {
        assert!(is_transient_failure(
            "Error: initializing source docker://10.0.2.2:5000/x:latest: pinging container registry 10.0.2.2:5000: Get \"http://10.0.2.2:5000/v2/\": dial tcp 10.0.2.2:5000: connect: connection refused"
        ));
        assert!(!is_transient_failure(
            "Error: initializing source docker://10.0.2.2:5000/b2c/nope:latest: reading manifest latest in 10.0.2.2:5000/b2c/nope: manifest unknown: manifest unknown"
        ));
        assert!(!is_transient_failure("Error: unknown flag: --bogus"));
        assert!(!is_transient_failure(""));
    }

    #[test]
    fn error_line_extraction() {
        assert_eq!(
            last_error_line("Trying to pull x...\nError: boom\n\n"),
            "Error: boom"
        );
        assert_eq!(last_error_line("a\nb\n"), "b");
        assert_eq!(last_error_line(""), "");
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(
            mask("bad password hunter2 for u", "hunter2"),
            "bad password *** for u"
        );
        assert_eq!(mask("nothing", ""), "nothing");
    }

    #[test]
    fn podman_gets_a_fixed_environment_without_proxy() {
        let env = podman_environment(&Config::default());
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["PATH", "HOME", "TERM"]);
    }

    #[test]
    fn proxy_variables_reach_podman() {
        let config =
            crate::cmdline::parse(b"b2c.proxy=https=http://10.0.0.1:3128,no=a.fake|b.fake");
        assert!(config.errors.is_empty(), "{:?}", config.errors);
        let env = podman_environment(&config);
        let get = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert!(get("HTTPS_PROXY").is_some_and(|v| v.starts_with("http://10.0.0.1:3128")));
        assert!(get("https_proxy").is_some());
        assert_eq!(get("NO_PROXY"), Some("a.fake,b.fake"));
        assert_eq!(get("HTTP_PROXY"), None);
    }

    #[test]
    fn environment_of_the_first_container() {
        let config = Config::default();
        let runner = Runner {
            config: &config,
            status: 0,
            failed_by: String::new(),
            prev_container: String::new(),
            prev_exit: None,
            mode: ShutdownMode::Poweroff,
            persistent: false,
        };
        let env = runner.environment();
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "B2C_PIPELINE_STATUS",
                "B2C_PIPELINE_FAILED_BY",
                "B2C_PIPELINE_PREV_CONTAINER",
                "B2C_PIPELINE_PREV_CONTAINER_EXIT_CODE",
                "B2C_PIPELINE_SHUTDOWN_MODE"
            ]
        );
        assert_eq!(env[0].1, "0");
        assert_eq!(env[4].1, "poweroff");
    }
}
