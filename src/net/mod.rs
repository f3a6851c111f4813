//! Networking: loopback, the interfaces (`b2c.iface`, the kernel's `ip=`,
//! DHCP on every Ethernet interface), the default route,
//! `/etc/resolv.conf`, lease renewal for as long as the machine runs, the
//! clock (SNTP) and the init's own HTTP.
//!
//! - [`setup`]: the network step of the boot, from the parsed command line;
//! - [`interfaces`]: DHCP on several interfaces at once ([`bring_up`]);
//! - [`lease`]: one interface's DHCP client task, applying its leases;
//! - [`dhcp`]: the DHCPv4 client state machine (no I/O);
//! - [`link`]: rtnetlink (links, addresses, routes);
//! - [`packet`]: the `AF_PACKET` receiver used while an interface has no address;
//! - [`resolv`]: `/etc/resolv.conf` and `/proc/net/pnp`;
//! - [`ntp`], [`http`]: the clock and the downloads.
//!
//! This module holds the re-exports and the error type.

pub mod dhcp;
pub mod http;
pub mod interfaces;
pub mod kernel_ip;
mod lease;
pub mod link;
pub mod ntp;
pub mod packet;
pub mod resolv;
mod setup;

pub use interfaces::{
    bring_up, InterfaceHandle, InterfaceStatus, LeaseInfo, NetOptions, NetSummary,
};
pub use link::loopback_up;
pub use resolv::{
    parse_pnp, resolv_conf_contents, resolv_conf_from_pnp, write_resolv_conf, PnpConfig,
};
pub use setup::{
    enable_ipv4_forwarding, setup, setup_with, NetSetup, NetSource, SetupOptions, StaticIface,
};

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use self::link::LinkError;

/// An interface that was tried, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriedInterface {
    /// Interface name.
    pub name: String,
    /// Its state when we gave up.
    pub status: InterfaceStatus,
}

impl fmt::Display for TriedInterface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.status)
    }
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why the network could not be brought up.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// No interface to run DHCP on.
    #[error("no Ethernet interface (eth*, en*) found; interfaces present: {}", join(.present))]
    NoInterface {
        /// Every interface that exists.
        present: Vec<String>,
    },
    /// Interfaces named in the options never appeared (and none got a lease).
    #[error("interface {} not found within {timeout:?}; interfaces present: {}", join(.missing), join(.present))]
    MissingInterface {
        /// The named interfaces that do not exist.
        missing: Vec<String>,
        /// Every interface that exists.
        present: Vec<String>,
        /// How long we waited.
        timeout: Duration,
    },
    /// No interface got a lease in time.
    #[error("no DHCP lease within {timeout:?} on {}", join(.tried))]
    NoLease {
        /// The interfaces tried and their state.
        tried: Vec<TriedInterface>,
        /// How long we waited.
        timeout: Duration,
    },
    /// A netlink operation failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A `b2c.iface` setting this implementation cannot apply.
    #[error("{option}: {what}")]
    Unsupported {
        /// The option, e.g. `b2c.iface=eth1`.
        option: String,
        /// What is not supported.
        what: String,
    },
    /// `forward` was asked and `/proc/sys/net/ipv4/ip_forward` could not be written.
    #[error("{option}: cannot enable IPv4 forwarding: {source}")]
    Forwarding {
        /// The option that asked for it.
        option: String,
        /// The write error.
        #[source]
        source: std::io::Error,
    },
    /// `/etc/resolv.conf` could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    ResolvConf {
        /// The file.
        path: PathBuf,
        /// The write error.
        #[source]
        source: std::io::Error,
    },
    /// `ip=` asks for something that cannot be done on this machine (no
    /// device for a static address...).
    #[error("{0}")]
    KernelIpValue(Box<kernel_ip::KernelIpError>),
    /// `ip=` was given but the kernel configured no IPv4 address.
    #[error("ip={ip}: the kernel configured no IPv4 address on any interface; interfaces present: {}", join(.present))]
    KernelIp {
        /// The value of `ip=`.
        ip: String,
        /// Every interface that exists.
        present: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_name_interfaces() {
        let e = NetError::NoLease {
            tried: vec![
                TriedInterface {
                    name: "eth0".into(),
                    status: InterfaceStatus::NoCarrier,
                },
                TriedInterface {
                    name: "eth1".into(),
                    status: InterfaceStatus::Discovering,
                },
            ],
            timeout: Duration::from_secs(10),
        };
        assert_eq!(
            e.to_string(),
            "no DHCP lease within 10s on eth0 (no carrier), eth1 (no answer to DHCPDISCOVER)"
        );
        let e = NetError::NoInterface {
            present: vec!["lo".into(), "wlan0".into()],
        };
        assert!(e.to_string().contains("lo, wlan0"));
        let e = NetError::MissingInterface {
            missing: vec!["eth5".into()],
            present: vec!["lo".into(), "eth0".into()],
            timeout: Duration::from_secs(10),
        };
        assert_eq!(
            e.to_string(),
            "interface eth5 not found within 10s; interfaces present: lo, eth0"
        );
    }
}
