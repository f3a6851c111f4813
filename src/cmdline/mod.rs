//! The kernel command line: tokenising and parsing `b2c.*` options (SPEC section 1).
//!
//! Placeholder API, completed by the parser work: [`parse`] is a pure function.

/// One container of the pipeline, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ContainerSpec {
    /// The option's value as written (after tokenising).
    pub source: String,
    /// The user's `podman run` arguments, split like a POSIX shell would.
    pub args: Vec<String>,
}

/// The typed configuration read from the command line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub run: Vec<ContainerSpec>,
    pub run_post: Vec<ContainerSpec>,
    pub run_service: Vec<ContainerSpec>,
    pub pipefail: bool,
    pub poweroff_delay: u64,
    pub hostname: Option<String>,
    pub shutdown_cmd: Option<Vec<String>>,
    pub reboot_cmd: Option<Vec<String>>,
    /// Warnings, already masked: no secret appears here.
    pub warnings: Vec<String>,
    /// Errors, already masked.
    pub errors: Vec<String>,
}

/// Parses a whole command line (bytes: `/proc/cmdline` may hold anything).
pub fn parse(_input: &[u8]) -> Config {
    Config::default()
}
