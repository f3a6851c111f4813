//! The `b2c` binary: the init when it is PID 1, the host-side tool otherwise.
//!
//! The tool's commands (`check`, the hidden `mirror` and `oci-hook`,
//! `--help`, `--version`) are recognised by the first argument whatever the
//! process id: `b2c check ...` as the entry point of a container is PID 1 of
//! its PID namespace, and must check, not boot. The kernel never starts the
//! init with one of these words (it passes the init only the command-line
//! words it does not know, and `check` is not one people write there).

/// The first arguments that make the binary the host-side tool.
const TOOL_COMMANDS: &[&str] = &[
    "check",
    "mirror",
    boot2container::hook::COMMAND,
    "help",
    "--help",
    "-h",
    "--version",
    "-V",
];

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let tool = args
        .get(1)
        .and_then(|a| a.to_str())
        .is_some_and(|a| TOOL_COMMANDS.contains(&a));
    if std::process::id() == 1 && !tool {
        // Never returns: every path ends in a power-off or a reboot.
        boot2container::init::main()
    }
    // `b2c mirror`: one S3 transfer (benchmark, manual checks); not in --help.
    if args.get(1).is_some_and(|a| a == "mirror") {
        std::process::exit(boot2container::mirror::cli::main(args))
    }
    // `b2c oci-hook`: run by podman when a pipeline container starts.
    if args
        .get(1)
        .is_some_and(|a| a == boot2container::hook::COMMAND)
    {
        std::process::exit(boot2container::hook::main(&args))
    }
    std::process::exit(boot2container::check::main(args))
}
