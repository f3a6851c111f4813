//! What the client tells its caller: datagrams to send and lease changes
//! ([`Event`]), and why it ignored a datagram ([`Ignored`]).

use std::net::Ipv4Addr;

use super::Lease;

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// 255.255.255.255, port 67, on the interface.
    Broadcast,
    /// That server, port 67 (renewals).
    Unicast(Ipv4Addr),
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The encoded DHCP message.
    pub bytes: Vec<u8>,
    /// Where to send it.
    pub to: Destination,
    /// The DHCP message type, for logs.
    pub kind: MessageKind,
}

/// DHCP message types the client sends or receives (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// DHCPDISCOVER.
    Discover,
    /// DHCPREQUEST.
    Request,
    /// DHCPOFFER.
    Offer,
    /// DHCPACK.
    Ack,
    /// DHCPNAK.
    Nak,
}

/// Why a lease was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostReason {
    /// The lease expired before a server extended it.
    Expired,
    /// A server refused the renewal (DHCPNAK).
    Nak,
    /// A renewal granted a different address.
    Replaced,
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send a datagram.
    Send(Transmit),
    /// A new lease: configure its address (and routes, DNS).
    Bound(Lease),
    /// The current lease was extended (same address).
    Renewed(Lease),
    /// The lease is gone: remove its address.
    Lost {
        /// The lease that is no longer valid.
        lease: Lease,
        /// Why.
        reason: LostReason,
    },
}

/// Why a received datagram was ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    /// Not a decodable DHCP message.
    #[error("malformed DHCP message: {0}")]
    Malformed(String),
    /// A BOOTREQUEST (another client's message).
    #[error("not a BOOTREPLY")]
    NotReply,
    /// Another transaction.
    #[error("transaction id {got:#010x} is not ours ({expected:#010x})")]
    WrongXid {
        /// The xid we use.
        expected: u32,
        /// The xid received.
        got: u32,
    },
    /// Another client's hardware address.
    #[error("reply for another hardware address")]
    WrongClient,
    /// A required option is missing.
    #[error("{kind:?} without the {option} option")]
    MissingOption {
        /// The message type.
        kind: MessageKind,
        /// The option's name.
        option: &'static str,
    },
    /// A message that makes no sense in the current state.
    #[error("unexpected {kind} in state {state}")]
    Unexpected {
        /// The message type received (as a name).
        kind: String,
        /// The client's state.
        state: &'static str,
    },
    /// An offer or ack without a usable address.
    #[error("{0:?} without a usable address")]
    NoAddress(MessageKind),
}
