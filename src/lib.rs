//! boot2container: a PID 1 that boots a machine straight into containers.
//!
//! The crate is a library with a thin `main.rs`. When the binary runs as PID 1
//! it is the init ([`init::main`]); otherwise it is the host-side command-line
//! tool ([`check`]).

pub mod check;
pub mod cmdline;
pub mod console;
pub mod init;
pub mod keymap;
pub mod kmod;
pub mod net;
pub mod pipeline;
pub mod podman;
pub mod power;
pub mod process;
pub mod storage;
pub mod system;
pub mod timeline;
pub mod volumes;
