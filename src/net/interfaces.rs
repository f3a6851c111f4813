//! DHCP on several interfaces at once: [`bring_up`] starts one lease task
//! per interface ([`super::lease`]) and returns as soon as the first
//! interface has a lease: that interface provides the default route and the
//! DNS configuration. The other interfaces keep trying in the background and
//! get their address (but no default route). Every task renews its lease for
//! as long as the machine runs.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::warn;

pub use super::lease::{InterfaceStatus, LeaseInfo};
use super::lease::{InterfaceTask, Shared, TaskReport};
use super::link::{names, wait_for, Netlink};
use super::{NetError, TriedInterface};

/// Settings of [`bring_up`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetOptions {
    /// How long to wait for the first lease (default 10 s).
    pub timeout: Duration,
    /// Where the DNS configuration goes (default `/etc/resolv.conf`).
    pub resolv_conf: PathBuf,
    /// Interfaces to run DHCP on. Empty: every Ethernet interface named
    /// `eth*` or `en*` that is not virtual. Named interfaces that do not
    /// exist yet are waited for (up to `timeout`).
    pub interfaces: Vec<String>,
    /// Nameservers written before the DHCP-provided ones (`b2c.iface=...,nameserver=`).
    pub extra_nameservers: Vec<IpAddr>,
    /// Whether the primary lease's router becomes the default route (false
    /// when a static `gateway=` provides it).
    pub default_route: bool,
}

impl Default for NetOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            interfaces: Vec::new(),
            extra_nameservers: Vec::new(),
            default_route: true,
        }
    }
}

/// A live view of one interface's DHCP client.
#[derive(Debug, Clone)]
pub struct InterfaceHandle {
    name: String,
    status: watch::Receiver<InterfaceStatus>,
    renew: Arc<Notify>,
}

impl InterfaceHandle {
    /// Interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current status.
    pub fn status(&self) -> InterfaceStatus {
        self.status.borrow().clone()
    }

    /// Waits (at most `timeout`) for a status that satisfies `pred`.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&InterfaceStatus) -> bool,
    ) -> Option<InterfaceStatus> {
        let fut = self.status.wait_for(|s| pred(s));
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// Asks the client to renew its lease now (does nothing unless bound).
    pub fn renew_now(&self) {
        self.renew.notify_one();
    }
}

/// What [`bring_up`] did.
#[derive(Debug, Clone)]
pub struct NetSummary {
    /// The interface that provides the default route and DNS.
    pub primary: LeaseInfo,
    /// Every interface tried, with its status when `bring_up` returned.
    pub interfaces: Vec<(InterfaceStatus, InterfaceHandle)>,
}

impl NetSummary {
    /// NTP servers offered by DHCP, the primary interface's first.
    pub fn ntp_servers(&self) -> Vec<Ipv4Addr> {
        let mut out = self.primary.ntp.clone();
        for (_, h) in &self.interfaces {
            if let InterfaceStatus::Leased(l) = h.status() {
                for s in l.ntp {
                    if !out.contains(&s) {
                        out.push(s);
                    }
                }
            }
        }
        out
    }

    /// The handle of an interface.
    pub fn interface(&self, name: &str) -> Option<&InterfaceHandle> {
        self.interfaces
            .iter()
            .map(|(_, h)| h)
            .find(|h| h.name == name)
    }
}

/// Brings the network up (see the module documentation): returns once the
/// first lease is applied, or an error after `opts.timeout`.
pub async fn bring_up(opts: &NetOptions) -> Result<NetSummary, NetError> {
    let deadline = Instant::now() + opts.timeout;
    let nl = Netlink::connect()?;
    if let Err(e) = nl.loopback_up().await {
        warn!("lo: {e}");
    }
    let names = if opts.interfaces.is_empty() {
        // Drivers may still be probing: wait for a first candidate.
        let candidates = || async {
            let found = names_of_candidates(&nl.links().await?);
            Ok((!found.is_empty()).then_some(found))
        };
        match wait_for(deadline - Instant::now(), candidates).await? {
            Some(found) => found,
            None => {
                return Err(NetError::NoInterface {
                    present: names(&nl.links().await?),
                })
            }
        }
    } else {
        opts.interfaces.clone()
    };

    let shared = Arc::new(Shared {
        nl: nl.clone(),
        resolv_conf: opts.resolv_conf.clone(),
        extra_nameservers: opts.extra_nameservers.clone(),
        default_route: opts.default_route,
        primary: Mutex::new(None),
        appear_timeout: opts.timeout,
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut handles = Vec::new();
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    for name in &names {
        let (status_tx, status_rx) = watch::channel(InterfaceStatus::Missing);
        let renew = Arc::new(Notify::new());
        handles.push(InterfaceHandle {
            name: name.clone(),
            status: status_rx,
            renew: renew.clone(),
        });
        let task = InterfaceTask {
            shared: shared.clone(),
            name: name.clone(),
            status: status_tx,
            renew,
            report: tx.clone(),
        };
        tasks.push(tokio::spawn(task.run()));
    }
    drop(tx);

    let mut failed = 0;
    let outcome = loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(TaskReport::Primary(lease))) => break Some(lease),
            Ok(Some(TaskReport::Failed)) => {
                failed += 1;
                if failed == names.len() {
                    break None;
                }
            }
            Ok(None) | Err(_) => break None,
        }
    };
    if let Some(primary) = outcome {
        return Ok(NetSummary {
            primary,
            interfaces: handles.into_iter().map(|h| (h.status(), h)).collect(),
        });
    }
    for t in &tasks {
        t.abort();
    }
    let tried: Vec<TriedInterface> = handles
        .iter()
        .map(|h| TriedInterface {
            name: h.name.clone(),
            status: h.status(),
        })
        .collect();
    let missing: Vec<String> = tried
        .iter()
        .filter(|t| t.status == InterfaceStatus::Missing)
        .map(|t| t.name.clone())
        .collect();
    if missing.len() == tried.len() {
        let present = nl
            .links()
            .await
            .map(|l| super::link::names(&l))
            .unwrap_or_default();
        return Err(NetError::MissingInterface {
            missing,
            present,
            timeout: opts.timeout,
        });
    }
    Err(NetError::NoLease {
        tried,
        timeout: opts.timeout,
    })
}

/// The interfaces DHCP runs on when none is named: see
/// [`super::link::Link::is_dhcp_candidate`].
fn names_of_candidates(links: &[super::link::Link]) -> Vec<String> {
    links
        .iter()
        .filter(|l| l.is_dhcp_candidate())
        .map(|l| l.name.clone())
        .collect()
}
