//! The `b2c` binary: the init when it is PID 1, the checker otherwise.

fn main() {
    if std::process::id() == 1 {
        // Never returns: every path ends in a power-off or a reboot.
        boot2container::init::main()
    } else {
        std::process::exit(boot2container::check::main(std::env::args_os().collect()))
    }
}
