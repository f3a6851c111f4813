//! boot2container: a PID 1 that boots a machine straight into containers.
//!
//! The crate is a library with a thin `main.rs`. When the binary runs as PID 1
//! it is the init ([`init::main`]); otherwise it is the host-side command-line
//! tool ([`check`]).

pub mod check;
pub mod cmdline;
pub mod console;
pub mod fscrypt;
pub mod hook;
pub mod init;
pub mod keymap;
pub mod kmod;
pub mod mirror;
pub mod net;
pub mod pipeline;
pub mod podman;
pub mod podman_image;
pub mod power;
pub mod process;
pub mod progress;
pub mod runtime;
pub mod s3;
pub mod signals;
pub mod storage;
pub mod system;
pub mod timeline;
pub mod volumes;
pub mod watchdog;
