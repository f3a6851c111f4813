//! check

/// Entry point of the command-line tool; returns the exit status.
pub fn main(_args: Vec<std::ffi::OsString>) -> i32 {
    0
}
