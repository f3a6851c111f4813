//! The OCI hook that tells the console a pipeline container starts.
//!
//! The original boot2container ran `podman create` then `podman start -a`,
//! and printed the `container_run` section (`About to start executing a
//! container`, not collapsed) in between. This init runs one `podman run`
//! per container, which saves a podman process (0.5 to 1 s under TCG); the
//! moment between creation and start is seen through a `prestart` OCI hook
//! instead: podman runs it (the `/init` binary itself, as
//! `b2c oci-hook container-run`) for containers annotated
//! [`ANNOTATION`]=[`CONTAINER_RUN`], after the pull and the creation and
//! before the container's program starts, so the section switch is always
//! printed before the container's first line.
//!
//! The hook writes the switch straight to `/dev/console` and leaves a
//! marker ([`MARKER`]) so that the init knows which section is open when
//! podman returns. It never fails: a hook that fails stops the container.

use std::io::{Read, Write};
use std::path::Path;

use crate::console::{self, Step};

/// The annotation podman matches in the hook's configuration
/// (`/usr/share/containers/oci/hooks.d/b2c-container-run.json`).
pub const ANNOTATION: &str = "io.boot2container.section";
/// Its value on pipeline containers.
pub const CONTAINER_RUN: &str = "container_run";
/// Created by the hook when it switched the console to `container_run`.
pub const MARKER: &str = "/run/b2c/container_run";
/// The hook's command-line word: `b2c oci-hook container-run`.
pub const COMMAND: &str = "oci-hook";

/// The `--annotation` argument of pipeline containers.
pub fn annotation_arg() -> String {
    format!("{ANNOTATION}={CONTAINER_RUN}")
}

/// Forgets an earlier container's marker, before a pipeline container runs.
pub fn reset_marker() {
    let _ = std::fs::remove_file(MARKER);
}

/// True when the hook ran for the container that just ended: the open
/// section is `container_run`, not `create_container`.
pub fn container_started() -> bool {
    Path::new(MARKER).exists()
}

/// `b2c oci-hook container-run`: prints the section switch on the console
/// and leaves the marker. Always returns 0.
pub fn main(args: &[std::ffi::OsString]) -> i32 {
    // The runtime writes the container's state on our standard input; read
    // it (bounded) so that it never sees a broken pipe.
    let mut state = Vec::new();
    let _ = std::io::stdin().take(1 << 20).read_to_end(&mut state);
    if args.get(2).is_some_and(|a| a == "container-run") {
        if let Some(dir) = Path::new(MARKER).parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(MARKER, b"");
        let lines = console::switch_lines(
            Step::CreateContainer,
            Step::ContainerRun,
            &console::uptime(),
        );
        if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/console") {
            let _ = tty.write_all(lines.as_bytes());
            let _ = tty.flush();
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_closes_create_container_and_opens_container_run_expanded() {
        let lines = console::switch_lines(Step::CreateContainer, Step::ContainerRun, "9.87");
        let lines: Vec<&str> = lines.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("\x1b[0Ksection_end:"));
        assert!(lines[0].ends_with(":create_container\r\x1b[0K"));
        assert!(lines[1].starts_with("\x1b[0Ksection_start:"));
        assert!(lines[1]
            .ends_with(":container_run\r\x1b[0K[9.87]: About to start executing a container"));
        assert!(!lines[1].contains("collapsed"));
    }

    #[test]
    fn the_hook_configuration_matches_the_annotation() {
        let json =
            include_str!("../rootfs/usr/share/containers/oci/hooks.d/b2c-container-run.json");
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        assert_eq!(v["hook"]["path"], "/init");
        assert_eq!(v["hook"]["args"][1], COMMAND);
        assert_eq!(v["hook"]["args"][2], "container-run");
        assert_eq!(v["stages"][0], "prestart");
        let when = &v["when"]["annotations"];
        let (key, value) = when
            .as_object()
            .and_then(|m| m.iter().next())
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .unwrap_or_default();
        assert_eq!(key, format!("^{}$", ANNOTATION.replace('.', "\\.")));
        assert_eq!(value, format!("^{CONTAINER_RUN}$"));
    }
}
