//! Everything about podman: building its command lines and environment,
//! logging in to registries, running containers on the console, and reading
//! its errors.
//!
//! Every container runs as
//! `podman run --privileged --network=host --pull=newer [ENV] USER_ARGS...`:
//! the user's arguments come last so that their own `--pull` or `--network`
//! wins (podman keeps the last value of a repeated option).
//!
//! Each container costs one podman process: `podman run --pull=newer` pulls,
//! creates, starts and waits. Only failures cost more (a retry, or the image
//! prune before the last try).

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use tracing::{error, info, warn};

use crate::cmdline::{image_index, Config, ContainerSpec, Login};
use crate::console::Section;
use crate::hook;
use crate::process::{self, CommandError, Exit, Output};
use crate::progress;

/// Tries for a container whose pull or creation failed transiently.
pub const PULL_TRIES: u32 = 5;
/// The pause between two tries.
pub const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// podman's own error exit code (the container never ran).
pub const PODMAN_ERROR: i32 = 125;
/// How long `podman login` may take.
pub const LOGIN_LIMIT: Duration = Duration::from_secs(60);
/// How long `podman image prune` may take.
pub const PRUNE_LIMIT: Duration = Duration::from_secs(300);
/// How long the registry of a container's image gets to accept a TCP
/// connection before a warning says it is down.
pub const REGISTRY_PROBE_LIMIT: Duration = Duration::from_secs(3);
/// How long podman's error output is still read once podman ended (what its
/// children may hold open).
const STDERR_DRAIN: Duration = Duration::from_secs(2);
/// How long podman's error output is kept while a container runs, to
/// classify a failure (the end of it: podman prints its error last).
const STDERR_KEEP: usize = 8192;

/// The options the init always puts before the user's arguments.
pub const BASE_RUN_OPTIONS: [&str; 4] = ["run", "--privileged", "--network=host", "--pull=newer"];

/// The image named by the user's arguments, in the form podman accepts.
pub fn image(args: &[String]) -> Option<String> {
    image_index(args).map(|i| normalize_image(&args[i]))
}

/// The pull policy the user's arguments ask for (their last `--pull`),
/// `newer` (the init's) when they say nothing.
pub fn pull_policy(args: &[String]) -> String {
    let end = image_index(args).unwrap_or(args.len());
    let mut policy = "newer".to_string();
    let mut words = args[..end].iter();
    while let Some(w) = words.next() {
        if let Some(p) = w.strip_prefix("--pull=") {
            policy = p.to_string();
        } else if w == "--pull" {
            if let Some(p) = words.next() {
                policy = p.clone();
            }
        }
    }
    policy
}

/// The registry (host and port) an image reference names, when it names one
/// (`reg.fake:5000/a/b:1`, `docker.io/alpine`); None for a short name
/// (`alpine`), which registries.conf resolves.
pub fn registry_of(image: &str) -> Option<(String, u16)> {
    let (first, _) = image.split_once('/')?;
    if !(first.contains('.') || first.contains(':') || first == "localhost") {
        return None;
    }
    if first == "docker.io" || first == "index.docker.io" {
        return Some(("registry-1.docker.io".to_string(), 443));
    }
    let (host, port) = match first.strip_prefix('[') {
        Some(v6) => {
            let (host, rest) = v6.split_once(']')?;
            (host, rest.strip_prefix(':'))
        }
        None => match first.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (first, None),
        },
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 443,
    };
    Some((host.to_string(), port))
}

/// b2c accepted `docker://registry/name:tag`; podman wants `registry/name:tag`.
pub fn normalize_image(image: &str) -> String {
    image.strip_prefix("docker://").unwrap_or(image).to_string()
}

/// The user's arguments with the image normalised (nothing else is touched:
/// a `docker://` in the container's own command stays as written).
pub fn user_args(spec: &ContainerSpec) -> Vec<String> {
    let mut args = spec.args.clone();
    if let Some(i) = image_index(&args) {
        args[i] = normalize_image(&args[i]);
    }
    args
}

/// The full argument list given to `podman` for a pipeline container, without
/// the per-run environment (see [`run_args_with_env`]).
pub fn run_args(spec: &ContainerSpec) -> Vec<String> {
    run_args_with_env(spec, &[])
}

/// The full argument list given to `podman`, with `-e NAME=VALUE` for each
/// variable of `env` placed before the user's arguments (so a user's own
/// `-e` for the same name wins).
pub fn run_args_with_env(spec: &ContainerSpec, env: &[(String, String)]) -> Vec<String> {
    let mut args: Vec<String> = BASE_RUN_OPTIONS.iter().map(|s| s.to_string()).collect();
    for (name, value) in env {
        args.push("-e".to_string());
        args.push(format!("{name}={value}"));
    }
    args.extend(user_args(spec));
    args
}

/// Builds and runs podman commands with the init's environment: a fixed
/// PATH, HOME and TERM, plus the `b2c.proxy` variables podman's pulls honour.
#[derive(Debug, Clone, Default)]
pub struct Podman {
    env: Vec<(String, String)>,
    /// Pulls go through a `b2c.proxy`: the registry is not probed directly.
    proxied: bool,
}

impl Podman {
    /// Podman for the configuration `config` (its `b2c.proxy`).
    pub fn new(config: &Config) -> Podman {
        Podman {
            env: environment(config),
            proxied: config.proxy.is_some(),
        }
    }

    /// Before a container whose pull may fall back to the cached image
    /// (`--pull=newer`, the default): a warning when its registry does not
    /// answer, since podman then runs the cached image without a word (and
    /// fails as usual when there is none).
    async fn warn_if_registry_down(&self, spec: &ContainerSpec) {
        if pull_policy(&spec.args) != "newer" {
            return;
        }
        let Some(image) = image(&spec.args) else {
            return;
        };
        let Some((host, port)) = registry_of(&image) else {
            return;
        };
        let connect = tokio::net::TcpStream::connect((host.as_str(), port));
        let why = match tokio::time::timeout(REGISTRY_PROBE_LIMIT, connect).await {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} s", REGISTRY_PROBE_LIMIT.as_secs()),
        };
        warn!(
            "The registry {host}:{port} does not answer ({why}): {image} runs from the cache if it is there"
        );
    }

    /// A `podman` command with the init's environment and nothing else.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("podman");
        cmd.env_clear().envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// `podman ARGS`, run to completion within `limit` (see [`process::run`]).
    pub async fn run<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        limit: Duration,
    ) -> Result<Output, CommandError> {
        process::run(self.command().args(args), limit).await
    }

    /// `podman login` for each `b2c.login`, the password given on standard
    /// input (never on a command line, never printed). A failed login is an
    /// error line; the pipeline still runs (public images still pull).
    pub async fn login(&self, logins: &[Login]) {
        if logins.is_empty() {
            return;
        }
        let _section = Section::start("b2c_login", "Logging in to the container registries");
        for login in logins {
            let mut cmd = self.command();
            cmd.args(["login", "--username", &login.username, "--password-stdin"]);
            if login.plain_http {
                warn!(
                    "b2c.login=http://{}: a registry without TLS: the password crosses the network in clear",
                    login.registry
                );
                cmd.arg("--tls-verify=false");
            }
            cmd.arg(&login.registry);
            match process::run_with_secret_input(&mut cmd, login.password.expose(), LOGIN_LIMIT)
                .await
            {
                Ok(_) => info!("Logged in to {} as {}", login.registry, login.username),
                Err(e) => error!("b2c.login={}: {}", login.registry, login_error(&e)),
            }
        }
    }

    /// Starts `spec` detached (a service container); returns its id.
    pub async fn start_detached(
        &self,
        spec: &ContainerSpec,
        env: &[(String, String)],
        limit: Duration,
    ) -> Result<String, CommandError> {
        let mut args = run_args_with_env(spec, env);
        args.insert(1, "--detach".into());
        let out = self.run(&args, limit).await?;
        Ok(out.stdout.trim().to_string())
    }

    /// Runs `spec` attached to the console, retrying failures to pull or
    /// create it (see [`next_step`]): transient network failures are tried
    /// again ([`PULL_TRIES`] tries, [`RETRY_PAUSE`] apart) and never prune
    /// anything; "no space left on device" removes the unused images
    /// (`podman image prune --all`) once, then tries again. Returns its exit
    /// code (125 when podman itself failed).
    pub async fn run_attached(&self, spec: &ContainerSpec, env: &[(String, String)]) -> i32 {
        let mut pruned = false;
        let mut attempt = 1;
        let oom_before = oom_kills();
        if !self.proxied {
            self.warn_if_registry_down(spec).await;
        }
        loop {
            let mut args = run_args_with_env(spec, env);
            // The OCI hook that prints the container_run section.
            args.splice(1..1, ["--annotation".to_string(), hook::annotation_arg()]);
            hook::reset_marker();
            let tty = crate::cmdline::asks_for_tty(&spec.args);
            let (exit, stderr_tail) = match self.run_on_console(&args, tty).await {
                Ok(r) => r,
                Err(e) => {
                    error!("Cannot run podman for {}: {e}", spec.source);
                    (Exit::Code(PODMAN_ERROR), String::new())
                }
            };
            let code = exit.code();
            if code != PODMAN_ERROR {
                if let Some(why) = killed_by(code, oom_before, oom_kills()) {
                    let image = image(&spec.args).unwrap_or_else(|| "(no image given)".into());
                    error!("The container {image} was killed by {why}");
                }
                return code;
            }
            let failure = classify_failure(&stderr_tail);
            let why = last_error_line(&stderr_tail);
            match next_step(failure, attempt, pruned) {
                NextStep::GiveUp => {
                    if !stderr_tail.is_empty() {
                        let image = image(&spec.args).unwrap_or_else(|| "(no image given)".into());
                        error!("podman could not run the container {image}: {why}");
                    }
                    return code;
                }
                NextStep::Retry => {
                    warn!(
                        "Try {attempt}/{PULL_TRIES} failed for {}: {why}; retrying in {} s",
                        spec.source,
                        RETRY_PAUSE.as_secs()
                    );
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                NextStep::PruneThenRetry => {
                    warn!(
                        "Try {attempt}/{PULL_TRIES} failed for {}: {why}; removing the unused images and trying again",
                        spec.source
                    );
                    pruned = true;
                    match self
                        .run(&["image", "prune", "--all", "--force"], PRUNE_LIMIT)
                        .await
                    {
                        Ok(out) => info!("Removed {} unused image(s)", out.count_lines()),
                        Err(e) => warn!("{e}"),
                    }
                }
            }
            attempt += 1;
        }
    }

    /// Runs `podman ARGS` on the console: its standard input and output are
    /// the console. With `tty` (the container asked for `-t`), the console
    /// is also its controlling terminal, so that `-ti` works; otherwise
    /// podman has none, and a `^C` typed on the console does not reach it
    /// (nor end the job). Its standard error is a pseudo-terminal read
    /// through [`progress::Filter`] (pull progress as one line every few
    /// seconds; the container's own error output passes through once it
    /// started), or a pipe when no pseudo-terminal can be had; the end of it
    /// is kept to classify failures.
    pub async fn run_on_console(
        &self,
        args: &[String],
        tty: bool,
    ) -> std::io::Result<(Exit, String)> {
        let mut cmd = self.command();
        cmd.args(args);
        let pty = match stderr_pty() {
            Ok(pty) => Some(pty),
            Err(e) => {
                warn!(
                    "No pseudo-terminal for podman's progress ({e}): its messages come as they are"
                );
                None
            }
        };
        match &pty {
            Some((_, slave)) => cmd.stderr(Stdio::from(slave.try_clone()?)),
            None => cmd.stderr(Stdio::piped()),
        };
        // SAFETY: the closure runs in the child between fork and exec, and
        // only calls setsid and ioctl, which are async-signal-safe and touch
        // nothing but the child itself.
        unsafe {
            cmd.pre_exec(move || {
                // A session of its own: no controlling terminal...
                let _ = nix::unistd::setsid();
                if tty {
                    // ...but the console (our stdin) when a TTY was asked
                    // for; failing is fine when stdin is not a terminal.
                    let _ = libc::ioctl(0, libc::TIOCSCTTY, 1);
                }
                Ok(())
            });
        }
        let mut child = process::spawn(&mut cmd)?;
        // The command holds a copy of the terminal's slave side: closed now,
        // so that the reader sees the end once podman and its children are
        // gone.
        drop(cmd);
        let source: OwnedFd = match pty {
            Some((master, _slave)) => master,
            None => match child.stderr.take() {
                Some(pipe) => pipe.into(),
                None => {
                    return Err(std::io::Error::other(
                        "podman's standard error was not piped",
                    ))
                }
            },
        };
        // Read, filtered and written to the console on a thread of its own:
        // a serial console takes its time (about 11 KB/s), which must never
        // hold the async runtime's thread (the reaper, the DHCP renewals).
        let mut filter = progress::Filter::new();
        let forwarder = process::Forwarder::start_filtered(
            std::fs::File::from(source),
            std::io::stderr(),
            STDERR_KEEP,
            move |chunk| match chunk {
                Some(bytes) => {
                    let mut out = Vec::new();
                    if !filter.is_passthrough() && hook::container_started() {
                        out.extend(filter.start_passthrough());
                    }
                    out.extend(filter.feed(bytes, std::time::Instant::now()));
                    out
                }
                None => filter.finish(),
            },
        );
        let forwarder = match forwarder {
            Ok(f) => f,
            Err(e) => {
                child.signal(nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait().await;
                return Err(e);
            }
        };
        let exit = child.wait().await;
        // What podman's children may still hold is read for a short while only.
        let tail = forwarder.finish(STDERR_DRAIN).await;
        Ok((exit?, tail))
    }
}

/// A pseudo-terminal for podman's standard error: raw (no line ending
/// translation: the container's own output passes through it), 160 columns
/// wide so that a progress bar's counters fit. Returns (master, slave).
fn stderr_pty() -> nix::Result<(OwnedFd, OwnedFd)> {
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    let size = nix::pty::Winsize {
        ws_row: 50,
        ws_col: 160,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None)?;
    let mut attrs = tcgetattr(&pty.slave)?;
    cfmakeraw(&mut attrs);
    tcsetattr(&pty.slave, SetArg::TCSANOW, &attrs)?;
    Ok((pty.master, pty.slave))
}

/// `podman login failed (exit code 125): Error: ...`: podman's last error
/// line (its output may hold anything, the password is masked by
/// [`process::run_with_secret_input`]).
fn login_error(e: &CommandError) -> String {
    let why = last_error_line(&e.stderr);
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(": {why}")
    };
    format!("podman login failed ({}){why}", e.failure)
}

/// How many processes the kernel's out-of-memory killer killed since boot
/// (`oom_kill` in /proc/vmstat; 0 when it cannot be read).
pub fn oom_kills() -> u64 {
    std::fs::read_to_string("/proc/vmstat")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("oom_kill "))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// What killed a container that ended with `code` (128 + a signal's
/// number), `oom_before` and `oom_after` being [`oom_kills`] around its run:
/// `SIGKILL (out of memory: the kernel's OOM killer)`. None for other codes,
/// and for 129 and 130 (the container asked for a reboot or a power-off).
pub fn killed_by(code: i32, oom_before: u64, oom_after: u64) -> Option<String> {
    if !(131..=128 + 64).contains(&code) {
        return None;
    }
    let number = code - 128;
    let name = nix::sys::signal::Signal::try_from(number)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {number}"));
    if number == libc::SIGKILL && oom_after > oom_before {
        Some(format!(
            "{name} (out of memory: the kernel's OOM killer; exit code {code})"
        ))
    } else {
        Some(format!("{name} (exit code {code})"))
    }
}

/// Why `podman run` failed before the container ran, for the retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullFailure {
    /// The disk (the cache, or RAM) is full: removing unused images may help.
    NoSpace,
    /// The registry or the network was not there: trying again may help.
    Transient,
    /// No such image, bad credentials, bad arguments...: nothing helps.
    Permanent,
}

/// What to do after a try that failed with podman's own error (125).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Report the failure: the container's status is 125.
    GiveUp,
    /// Try again after [`RETRY_PAUSE`].
    Retry,
    /// Remove the unused images (`podman image prune --all`), then try
    /// again.
    PruneThenRetry,
}

/// Classifies podman's error output.
pub fn classify_failure(stderr: &str) -> PullFailure {
    if stderr
        .to_ascii_lowercase()
        .contains("no space left on device")
    {
        PullFailure::NoSpace
    } else if is_transient_failure(stderr) {
        PullFailure::Transient
    } else {
        PullFailure::Permanent
    }
}

/// The retry policy, after try number `attempt` (from 1) failed with
/// `failure`; `pruned`: the unused images were already removed for this
/// container. A network failure never removes images: on a persistent
/// cache they are the next boots' images, and a registry that is down does
/// not come back because the disk has more room.
pub fn next_step(failure: PullFailure, attempt: u32, pruned: bool) -> NextStep {
    if attempt >= PULL_TRIES {
        return NextStep::GiveUp;
    }
    match failure {
        PullFailure::NoSpace if !pruned => NextStep::PruneThenRetry,
        PullFailure::Transient => NextStep::Retry,
        PullFailure::NoSpace | PullFailure::Permanent => NextStep::GiveUp,
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

/// The last line of podman's error output that says `Error:` (or the last
/// non-empty line).
pub fn last_error_line(stderr: &str) -> String {
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
pub fn environment(config: &Config) -> Vec<(String, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn spec(s: &str) -> ContainerSpec {
        ContainerSpec {
            source: s.to_string(),
            args: words(s),
        }
    }

    #[test]
    fn image_after_flags_and_valued_options() {
        assert_eq!(
            image(&words("-ti docker.io/alpine:3.20")).as_deref(),
            Some("docker.io/alpine:3.20")
        );
        assert_eq!(
            image(&words("-v vol:/data -e A=1 --rm img sh")).as_deref(),
            Some("img")
        );
        assert_eq!(
            image(&words("--name=foo --env=A=1 img")).as_deref(),
            Some("img")
        );
        assert_eq!(
            image(&words("-itv vol:/x img true")).as_deref(),
            Some("img")
        );
        assert_eq!(
            image(&words("-- -weird-image")).as_deref(),
            Some("-weird-image")
        );
        // --creds takes a value: the password is not the image.
        assert_eq!(
            image(&words("--creds u:pa55 --tls-verify=false img")).as_deref(),
            Some("img")
        );
    }

    #[test]
    fn non_ascii_options_do_not_panic() {
        assert_eq!(image(&words("-éé img")).as_deref(), Some("img"));
        assert_eq!(image(&words("-éve A=1 img")).as_deref(), Some("img"));
    }

    #[test]
    fn no_image() {
        assert_eq!(image(&words("-ti --rm")), None);
        assert_eq!(image(&words("-v")), None);
        assert_eq!(image(&words("--")), None);
        assert_eq!(image(&[]), None);
    }

    #[test]
    fn docker_scheme_is_stripped_from_the_image_only() {
        let args = run_args(&spec(
            "-t docker://reg/img:1 skopeo copy docker://a docker://b",
        ));
        assert_eq!(
            args,
            words("run --privileged --network=host --pull=newer -t reg/img:1 skopeo copy docker://a docker://b")
        );
    }

    #[test]
    fn base_options_come_first_env_before_user_args() {
        let env = vec![("B2C_PIPELINE_STATUS".to_string(), "0".to_string())];
        let args = run_args_with_env(&spec("--pull=always img"), &env);
        assert_eq!(
            args,
            words("run --privileged --network=host --pull=newer -e B2C_PIPELINE_STATUS=0 --pull=always img")
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
    fn registries_and_pull_policies() {
        let reg = |i: &str| registry_of(i).map(|(h, p)| format!("{h}:{p}"));
        assert_eq!(
            reg("10.0.2.2:5000/b2c/demo:latest").as_deref(),
            Some("10.0.2.2:5000")
        );
        assert_eq!(
            reg("reg.fake/a/b@sha256:ab").as_deref(),
            Some("reg.fake:443")
        );
        assert_eq!(reg("localhost/x").as_deref(), Some("localhost:443"));
        assert_eq!(reg("[fd00::1]:5000/x").as_deref(), Some("fd00::1:5000"));
        assert_eq!(
            reg("docker.io/library/alpine:3.20").as_deref(),
            Some("registry-1.docker.io:443")
        );
        assert_eq!(reg("alpine:3.20"), None);
        assert_eq!(reg("library/alpine"), None);
        assert_eq!(reg("reg.fake:port/x"), None);
        assert_eq!(pull_policy(&words("img")), "newer");
        assert_eq!(pull_policy(&words("--pull=always img")), "always");
        assert_eq!(pull_policy(&words("--pull never -t img --pull=x")), "never");
    }

    #[test]
    fn killed_containers_are_named_with_their_signal() {
        assert_eq!(killed_by(0, 0, 0), None);
        assert_eq!(killed_by(3, 0, 0), None);
        assert_eq!(killed_by(125, 0, 0), None);
        // 129, 130: a reboot or a power-off asked by the container.
        assert_eq!(killed_by(129, 0, 0), None);
        assert_eq!(killed_by(130, 0, 0), None);
        assert_eq!(
            killed_by(137, 4, 4).as_deref(),
            Some("SIGKILL (exit code 137)")
        );
        assert_eq!(
            killed_by(137, 4, 5).as_deref(),
            Some("SIGKILL (out of memory: the kernel's OOM killer; exit code 137)")
        );
        assert_eq!(
            killed_by(143, 0, 1).as_deref(),
            Some("SIGTERM (exit code 143)")
        );
        assert_eq!(killed_by(255, 0, 0), None);
    }

    #[test]
    fn no_space_is_its_own_failure() {
        assert_eq!(
            classify_failure("Error: writing blob: adding layer with blob \"sha256:ab\": processing tar file(write /x: no space left on device): exit status 1"),
            PullFailure::NoSpace
        );
        assert_eq!(
            classify_failure("Error: ...: dial tcp 10.0.2.2:5000: connect: connection refused"),
            PullFailure::Transient
        );
        assert_eq!(
            classify_failure("Error: ...: manifest unknown: manifest unknown"),
            PullFailure::Permanent
        );
    }

    /// The retry policy: a full disk prunes the unused images once; a
    /// network failure is retried and never prunes (the image cache of a
    /// persistent disk survives a registry that is down).
    #[test]
    fn retries_prune_only_for_a_full_disk() {
        use NextStep::*;
        for attempt in 1..=PULL_TRIES {
            assert_ne!(
                next_step(PullFailure::Transient, attempt, false),
                PruneThenRetry,
                "a network failure pruned the images at try {attempt}"
            );
        }
        let steps: Vec<NextStep> = (1..=PULL_TRIES)
            .map(|a| next_step(PullFailure::Transient, a, false))
            .collect();
        assert_eq!(steps, [Retry, Retry, Retry, Retry, GiveUp]);
        assert_eq!(next_step(PullFailure::NoSpace, 1, false), PruneThenRetry);
        assert_eq!(next_step(PullFailure::NoSpace, 2, true), GiveUp);
        assert_eq!(next_step(PullFailure::NoSpace, PULL_TRIES, false), GiveUp);
        assert_eq!(next_step(PullFailure::Permanent, 1, false), GiveUp);
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
    fn podman_gets_a_fixed_environment_without_proxy() {
        let env = environment(&Config::default());
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["PATH", "HOME", "TERM"]);
    }

    #[test]
    fn proxy_variables_reach_podman() {
        let config =
            crate::cmdline::parse(b"b2c.proxy=https=http://10.0.0.1:3128,no=a.fake|b.fake");
        assert!(config.errors.is_empty(), "{:?}", config.errors);
        let env = environment(&config);
        let get = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert!(get("HTTPS_PROXY").is_some_and(|v| v.starts_with("http://10.0.0.1:3128")));
        assert!(get("https_proxy").is_some());
        assert_eq!(get("NO_PROXY"), Some("a.fake,b.fake"));
        assert_eq!(get("HTTP_PROXY"), None);
    }
}
