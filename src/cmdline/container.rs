//! Container options (`b2c.run`, `b2c.run_post`, `b2c.run_service`): their
//! value is a list of `podman run` arguments, split like a POSIX shell would
//! split them, and must name an image.

use super::fields::Report;
use super::words::split_option;
use serde::Serialize;

/// One container of the pipeline, as given on the command line.
#[derive(Clone, PartialEq, Eq, Default, Serialize)]
pub struct ContainerSpec {
    /// The option's value as written (after tokenising), with registry
    /// credentials masked (`--creds USER:***`): what the console and
    /// `B2C_PIPELINE_FAILED_BY` show.
    pub source: String,
    /// The user's `podman run` arguments, split like a POSIX shell would
    /// (credentials included: podman needs them; masked when serialised).
    #[serde(serialize_with = "super::mask::serialize_container_args")]
    pub args: Vec<String>,
}

impl std::fmt::Debug for ContainerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerSpec")
            .field("source", &self.source)
            .field("args", &super::mask::container_args(&self.args))
            .finish()
    }
}

/// `podman run` options (podman 4.x) that take their value as the next word
/// when written without `=`. Every other option is a flag.
const OPTIONS_WITH_VALUE: &[&str] = &[
    "-a",
    "--attach",
    "--add-host",
    "--annotation",
    "--arch",
    "--authfile",
    "--blkio-weight",
    "--blkio-weight-device",
    "--cap-add",
    "--cap-drop",
    "--cgroup-conf",
    "--cgroup-parent",
    "--cgroupns",
    "--cgroups",
    "--chrootdirs",
    "--cidfile",
    "--conmon-pidfile",
    "--cpu-period",
    "--cpu-quota",
    "--cpu-rt-period",
    "--cpu-rt-runtime",
    "--cpu-shares",
    "-c",
    "--cpus",
    "--creds",
    "--cert-dir",
    "--cpuset-cpus",
    "--cpuset-mems",
    "--decryption-key",
    "--detach-keys",
    "--device",
    "--device-cgroup-rule",
    "--device-read-bps",
    "--device-read-iops",
    "--device-write-bps",
    "--device-write-iops",
    "--dns",
    "--dns-opt",
    "--dns-option",
    "--dns-search",
    "--entrypoint",
    "-e",
    "--env",
    "--env-file",
    "--expose",
    "--gidmap",
    "--group-add",
    "--group-entry",
    "--health-cmd",
    "--health-interval",
    "--health-retries",
    "--health-start-period",
    "--health-timeout",
    "--health-on-failure",
    "-h",
    "--hostname",
    "--hostuser",
    "--image-volume",
    "--init-path",
    "--ip",
    "--ip6",
    "--ipc",
    "-l",
    "--label",
    "--label-file",
    "--log-driver",
    "--log-opt",
    "--mac-address",
    "-m",
    "--memory",
    "--memory-reservation",
    "--memory-swap",
    "--memory-swappiness",
    "--mount",
    "--name",
    "--net",
    "--network",
    "--network-alias",
    "--oom-score-adj",
    "--os",
    "--passwd-entry",
    "--personality",
    "--pid",
    "--pidfile",
    "--pids-limit",
    "--platform",
    "--pod",
    "--pod-id-file",
    "--preserve-fds",
    "-p",
    "--publish",
    "--pull",
    "--requires",
    "--restart",
    "--sdnotify",
    "--seccomp-policy",
    "--signature-policy",
    "--secret",
    "--security-opt",
    "--shm-size",
    "--stop-signal",
    "--stop-timeout",
    "--subgidname",
    "--subuidname",
    "--sysctl",
    "--systemd",
    "--timeout",
    "--tmpfs",
    "--tz",
    "--uidmap",
    "-u",
    "--user",
    "--ulimit",
    "--umask",
    "--unsetenv",
    "--userns",
    "--uts",
    "--variant",
    "-v",
    "--volume",
    "--volumes-from",
    "-w",
    "--workdir",
];

/// Returns true when `word` is a `podman run` option whose value is the next word.
fn takes_separate_value(word: &str) -> bool {
    if word.contains('=') {
        return false;
    }
    if OPTIONS_WITH_VALUE.contains(&word) {
        return true;
    }
    // Combined short flags such as `-itv`: the last letter decides.
    if let Some(flags) = word.strip_prefix('-') {
        if !flags.starts_with('-') && flags.chars().count() > 1 {
            if let Some(last) = flags.chars().last() {
                return OPTIONS_WITH_VALUE.contains(&format!("-{last}").as_str());
            }
        }
    }
    false
}

/// Index of the image in the user's `podman run` arguments, if there is one.
pub fn image_index(args: &[String]) -> Option<usize> {
    let mut i = 0;
    while i < args.len() {
        let word = args[i].as_str();
        if word == "--" {
            return (i + 1 < args.len()).then_some(i + 1);
        }
        if word.starts_with('-') && word.len() > 1 {
            i += if takes_separate_value(word) { 2 } else { 1 };
            continue;
        }
        return Some(i);
    }
    None
}

/// Whether the user's `podman run` arguments ask for a terminal: `-t`,
/// `--tty`, `--tty=true`, or a `t` among combined short flags (`-it`,
/// `-ti`, `-dit`) before any flag that takes a value (`-itv vol:/x` asks,
/// `-eFOO=t` does not). The last of them wins (`--tty=false` after `-t`).
/// Only the options before the image count.
pub fn asks_for_tty(args: &[String]) -> bool {
    let end = image_index(args).unwrap_or(args.len());
    let mut tty = false;
    let mut i = 0;
    while i < end {
        let word = args[i].as_str();
        if word == "--" {
            break;
        }
        if let Some(value) = word
            .strip_prefix("--tty=")
            .or_else(|| word.strip_prefix("-t="))
        {
            tty = matches!(value, "true" | "1" | "t" | "T" | "TRUE" | "True");
        } else if word == "--tty" {
            tty = true;
        } else if let Some(flags) = word.strip_prefix('-').filter(|f| !f.starts_with('-')) {
            for c in flags.chars() {
                if c == 't' {
                    tty = true;
                }
                if OPTIONS_WITH_VALUE.contains(&format!("-{c}").as_str()) {
                    // The rest of the word is that option's value.
                    break;
                }
            }
        }
        i += if takes_separate_value(word) { 2 } else { 1 };
    }
    tty
}

pub(crate) fn parse_container(
    key: &str,
    value: &str,
    report: &mut Report,
) -> Option<ContainerSpec> {
    const USAGE: &str = "expected [PODMAN OPTIONS] IMAGE [COMMAND [ARG...]]";
    let empty = format!("no podman run arguments ({USAGE})");
    let args = split_option(key, value, &empty, report)?;
    // podman's options are ASCII: probe with other characters masked, then
    // refuse a non-ASCII word where an option is expected.
    let probe: Vec<String> = args
        .iter()
        .map(|w| {
            w.chars()
                .map(|c| if c.is_ascii() { c } else { '?' })
                .collect()
        })
        .collect();
    let shown = super::mask::container_text(value);
    let Some(image) = image_index(&probe) else {
        report.error(format!("{key}: no image in \"{shown}\" ({USAGE})"));
        return None;
    };
    if let Some(bad) = args[..image]
        .iter()
        .find(|w| w.starts_with('-') && !w.is_ascii())
    {
        report.error(format!(
            "{key}: \"{bad}\" is not a podman option (they are ASCII) in \"{shown}\""
        ));
        return None;
    }
    Some(ContainerSpec {
        source: shown,
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tty(s: &str) -> bool {
        let words: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        asks_for_tty(&words)
    }

    #[test]
    fn terminal_requests() {
        for yes in [
            "-t img",
            "-ti img",
            "-it img",
            "-dit img",
            "--tty img",
            "--tty=true img",
            "-t=true img",
            "-itv vol:/x img",
            "-e A=1 -t img sh",
            "--rm --tls-verify=false -ti img",
            "-t --tty=false --tty img",
        ] {
            assert!(tty(yes), "{yes}");
        }
        for no in [
            "img",
            "-i img",
            "--interactive img",
            "--tty=false img",
            "-t --tty=false img",
            "-eFOO=t img",
            "-e -t img",
            "-v t:/t img",
            "img -t",
            "img sh -c -ti",
            "-- -t",
            "--tls-verify=false img",
            "--tty=1x img",
        ] {
            assert!(!tty(no), "{no}");
        }
    }
}
