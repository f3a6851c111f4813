//! Building `podman` command lines from the user's container arguments.
//!
//! Every container runs as
//! `podman run --privileged --network=host --pull=newer [ENV] USER_ARGS...`:
//! the user's arguments come last so that their own `--pull` or `--network`
//! wins (podman keeps the last value of a repeated option).

use crate::cmdline::ContainerSpec;

/// The options the init always puts before the user's arguments.
pub const BASE_RUN_OPTIONS: [&str; 4] = ["run", "--privileged", "--network=host", "--pull=newer"];

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

/// The image named by the user's arguments, in the form podman accepts.
pub fn image(args: &[String]) -> Option<String> {
    image_index(args).map(|i| normalize_image(&args[i]))
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
}
