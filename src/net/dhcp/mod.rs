//! DHCPv4 client state machine (RFC 2131), without any I/O.
//!
//! [`Client`] is fed with received datagrams ([`Client::on_packet`]) and with
//! the passing of time ([`Client::on_timeout`] once [`Client::deadline`] is
//! reached); it answers with [`Event`]s: datagrams to send, and lease changes
//! to apply to the interface. `dhcproto` is used only to encode and decode
//! messages.
//!
//! The client asks servers to broadcast their replies (the BOOTP broadcast
//! flag), so that a plain UDP socket bound to port 68 receives them before the
//! interface has an address. Renewals are unicast to the server and their
//! replies are unicast to the leased address, which is configured by then.
//!
//! This module holds the state machine; `event` what it answers,
//! `message` the messages it sends, `lease` the lease read from an ACK.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, Message, Opcode, OptionCode, CLIENT_PORT, SERVER_PORT};
use dhcproto::{Decodable, Decoder};

mod event;
mod lease;
mod message;
#[cfg(test)]
mod testing;

pub use event::{Destination, Event, Ignored, LostReason, MessageKind, Transmit};
use lease::parse_lease;
pub use lease::{classful_prefix, is_usable_host, mask_to_prefix, Lease};
use message::{kind_of, random_seed};

/// UDP port of DHCP servers.
pub const DHCP_SERVER_PORT: u16 = SERVER_PORT;
/// UDP port of DHCP clients.
pub const DHCP_CLIENT_PORT: u16 = CLIENT_PORT;

/// Retransmission and retry settings of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Delay before the first retransmission of a DISCOVER or REQUEST.
    pub initial_retransmit: Duration,
    /// Longest delay between two retransmissions (exponential back-off cap).
    pub max_retransmit: Duration,
    /// REQUESTs sent in the REQUESTING state before going back to DISCOVER.
    pub request_attempts: u32,
    /// Shortest delay between two REQUESTs while renewing or rebinding.
    pub min_renew_retransmit: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            initial_retransmit: Duration::from_secs(1),
            max_retransmit: Duration::from_secs(16),
            request_attempts: 4,
            min_renew_retransmit: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Init,
    Selecting,
    Requesting { offered: Ipv4Addr, server: Ipv4Addr },
    Bound,
    Renewing,
    Rebinding,
}

impl State {
    fn kind(&self) -> ClientState {
        match self {
            State::Init => ClientState::Init,
            State::Selecting => ClientState::Selecting,
            State::Requesting { .. } => ClientState::Requesting,
            State::Bound => ClientState::Bound,
            State::Renewing => ClientState::Renewing,
            State::Rebinding => ClientState::Rebinding,
        }
    }

    fn name(&self) -> &'static str {
        self.kind().name()
    }
}

/// The RFC 2131 state of a [`Client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Not started.
    Init,
    /// Discovering: waiting for an offer.
    Selecting,
    /// An offer was taken: waiting for its acknowledgement.
    Requesting,
    /// A lease is held.
    Bound,
    /// Extending the lease with its server (after T1).
    Renewing,
    /// Extending the lease with any server (after T2).
    Rebinding,
}

impl ClientState {
    /// The RFC 2131 name (for logs).
    pub fn name(self) -> &'static str {
        match self {
            ClientState::Init => "INIT",
            ClientState::Selecting => "SELECTING",
            ClientState::Requesting => "REQUESTING",
            ClientState::Bound => "BOUND",
            ClientState::Renewing => "RENEWING",
            ClientState::Rebinding => "REBINDING",
        }
    }
}

/// A DHCPv4 client for one interface.
#[derive(Debug)]
pub struct Client {
    mac: [u8; 6],
    config: ClientConfig,
    state: State,
    xid: u32,
    rng: u64,
    /// Start of the current exchange (for the `secs` field).
    exchange_start: Instant,
    /// Next retransmission (or state change) time.
    next: Option<Instant>,
    /// Sends in the current state.
    attempts: u32,
    /// Consecutive NAKs, to slow down a misbehaving server.
    naks: u32,
    lease: Option<Lease>,
}

impl Client {
    /// A client for the interface with that MAC address, with a random xid.
    pub fn new(mac: [u8; 6], config: ClientConfig, now: Instant) -> Self {
        let seed = random_seed(&mac);
        Self::with_seed(mac, config, now, seed)
    }

    /// A client whose transaction ids derive from `seed` (deterministic tests).
    pub fn with_seed(mac: [u8; 6], config: ClientConfig, now: Instant, seed: u64) -> Self {
        let mut client = Self {
            mac,
            config,
            state: State::Init,
            xid: 0,
            rng: seed | 1,
            exchange_start: now,
            next: None,
            attempts: 0,
            naks: 0,
            lease: None,
        };
        client.new_xid();
        client
    }

    /// The current transaction id.
    pub fn xid(&self) -> u32 {
        self.xid
    }

    /// The current lease, if bound (or renewing/rebinding).
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        self.state.kind()
    }

    /// The RFC 2131 name of the current state (for logs).
    pub fn state_name(&self) -> &'static str {
        self.state.name()
    }

    /// When [`Client::on_timeout`] must be called next.
    pub fn deadline(&self) -> Option<Instant> {
        self.next
    }

    /// Starts (or restarts) discovery: returns the first DISCOVER to send now.
    pub fn start(&mut self, now: Instant) -> Vec<Event> {
        self.new_xid();
        self.state = State::Selecting;
        self.exchange_start = now;
        self.attempts = 0;
        let delay = match self.naks {
            0 | 1 => Duration::ZERO,
            n => self.backoff(n - 1),
        };
        if delay.is_zero() {
            self.attempts = 1;
            self.next = Some(now + self.backoff(0));
            vec![Event::Send(self.discover(now))]
        } else {
            // Send the DISCOVER when the delay expires.
            self.next = Some(now + delay);
            Vec::new()
        }
    }

    /// Forces a renewal now (a bound client sends a unicast REQUEST).
    /// Does nothing unless bound.
    pub fn renew_now(&mut self, now: Instant) -> Vec<Event> {
        if self.state != State::Bound {
            return Vec::new();
        }
        self.enter_renewing(now)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
        self.config
            .initial_retransmit
            .saturating_mul(factor)
            .min(self.config.max_retransmit)
    }

    fn enter_renewing(&mut self, now: Instant) -> Vec<Event> {
        self.enter_extension(now, State::Renewing)
    }

    fn enter_rebinding(&mut self, now: Instant) -> Vec<Event> {
        self.enter_extension(now, State::Rebinding)
    }

    /// Starts asking to extend the lease: unicast to its server when
    /// renewing (T1), broadcast to any server when rebinding (T2).
    fn enter_extension(&mut self, now: Instant, state: State) -> Vec<Event> {
        let Some(lease) = self.lease.clone() else {
            return self.start(now);
        };
        let to = if state == State::Renewing {
            Destination::Unicast(lease.server)
        } else {
            Destination::Broadcast
        };
        self.new_xid();
        self.state = state;
        self.exchange_start = now;
        self.attempts = 1;
        self.next = Some(self.renew_retry_time(now, &lease));
        vec![Event::Send(self.request_renew(now, &lease, to))]
    }

    /// Next retransmission while renewing/rebinding: half the time left before
    /// the next stage (T2 or expiry), at least `min_renew_retransmit`, never
    /// after that stage.
    fn renew_retry_time(&self, now: Instant, lease: &Lease) -> Instant {
        let stage_end = match self.state {
            State::Renewing => lease.t2.map(|t2| lease.acquired + t2),
            _ => lease.expires(),
        };
        match stage_end {
            Some(end) => {
                let left = end.saturating_duration_since(now);
                let wait = (left / 2).max(self.config.min_renew_retransmit);
                (now + wait).min(end)
            }
            None => now + self.config.max_retransmit,
        }
    }

    fn lose_lease(&mut self, now: Instant, reason: LostReason) -> Vec<Event> {
        let mut events = Vec::new();
        if let Some(lease) = self.lease.take() {
            events.push(Event::Lost { lease, reason });
        }
        events.extend(self.start(now));
        events
    }

    /// Handles the passing of time: call it when [`Client::deadline`] is
    /// reached (calling it early is harmless).
    pub fn on_timeout(&mut self, now: Instant) -> Vec<Event> {
        match self.next {
            Some(deadline) if deadline <= now => {}
            _ => return Vec::new(),
        }
        match self.state {
            State::Init => self.start(now),
            State::Selecting => {
                let delay = self.backoff(self.attempts);
                self.attempts += 1;
                self.next = Some(now + delay);
                vec![Event::Send(self.discover(now))]
            }
            State::Requesting { offered, server } => {
                if self.attempts >= self.config.request_attempts {
                    return self.start(now);
                }
                let delay = self.backoff(self.attempts);
                self.attempts += 1;
                self.next = Some(now + delay);
                vec![Event::Send(self.request_selecting(now, offered, server))]
            }
            State::Bound => self.enter_renewing(now),
            State::Renewing | State::Rebinding => {
                let Some(lease) = self.lease.clone() else {
                    return self.start(now);
                };
                if lease.expires().is_some_and(|e| e <= now) {
                    return self.lose_lease(now, LostReason::Expired);
                }
                let t2 = lease.t2.map(|t2| lease.acquired + t2);
                if self.state == State::Renewing && t2.is_some_and(|t2| t2 <= now) {
                    return self.enter_rebinding(now);
                }
                let to = if self.state == State::Renewing {
                    Destination::Unicast(lease.server)
                } else {
                    Destination::Broadcast
                };
                self.attempts += 1;
                self.next = Some(self.renew_retry_time(now, &lease));
                vec![Event::Send(self.request_renew(now, &lease, to))]
            }
        }
    }

    /// Handles a received datagram. Datagrams that are not for us, or that
    /// make no sense now, are reported as [`Ignored`] and change nothing.
    pub fn on_packet(&mut self, bytes: &[u8], now: Instant) -> Result<Vec<Event>, Ignored> {
        let msg = Message::decode(&mut Decoder::new(bytes))
            .map_err(|e| Ignored::Malformed(e.to_string()))?;
        if msg.opcode() != Opcode::BootReply {
            return Err(Ignored::NotReply);
        }
        if msg.xid() != self.xid {
            return Err(Ignored::WrongXid {
                expected: self.xid,
                got: msg.xid(),
            });
        }
        // dhcproto's chaddr() slices the 16-byte field by the sender's hlen.
        if msg.hlen() > 16 || msg.chaddr().get(..6) != Some(&self.mac[..]) {
            return Err(Ignored::WrongClient);
        }
        let Some(DhcpOption::MessageType(mtype)) = msg.opts().get(OptionCode::MessageType) else {
            return Err(Ignored::MissingOption {
                kind: MessageKind::Offer,
                option: "message type",
            });
        };
        let kind = kind_of(*mtype);
        let unexpected = |state: State| Ignored::Unexpected {
            kind: format!("{mtype:?}"),
            state: state.name(),
        };
        match (self.state, kind) {
            (State::Selecting, Some(MessageKind::Offer)) => self.on_offer(&msg, now),
            (State::Requesting { .. }, Some(MessageKind::Ack))
            | (State::Renewing, Some(MessageKind::Ack))
            | (State::Rebinding, Some(MessageKind::Ack)) => self.on_ack(&msg, now),
            (State::Requesting { server, .. }, Some(MessageKind::Nak)) => {
                // A NAK from another server (one we did not pick) is not for us.
                if let Some(DhcpOption::ServerIdentifier(id)) =
                    msg.opts().get(OptionCode::ServerIdentifier)
                {
                    if *id != server {
                        return Err(unexpected(self.state));
                    }
                }
                self.naks += 1;
                Ok(self.start(now))
            }
            (State::Renewing, Some(MessageKind::Nak))
            | (State::Rebinding, Some(MessageKind::Nak)) => {
                self.naks += 1;
                Ok(self.lose_lease(now, LostReason::Nak))
            }
            (state, _) => Err(unexpected(state)),
        }
    }

    fn on_offer(&mut self, msg: &Message, now: Instant) -> Result<Vec<Event>, Ignored> {
        let offered = msg.yiaddr();
        if !is_usable_host(offered) {
            return Err(Ignored::NoAddress(MessageKind::Offer));
        }
        let Some(DhcpOption::ServerIdentifier(server)) =
            msg.opts().get(OptionCode::ServerIdentifier)
        else {
            return Err(Ignored::MissingOption {
                kind: MessageKind::Offer,
                option: "server identifier",
            });
        };
        let server = *server;
        self.state = State::Requesting { offered, server };
        self.attempts = 1;
        self.next = Some(now + self.backoff(0));
        Ok(vec![Event::Send(
            self.request_selecting(now, offered, server),
        )])
    }

    fn on_ack(&mut self, msg: &Message, now: Instant) -> Result<Vec<Event>, Ignored> {
        let address = msg.yiaddr();
        if !is_usable_host(address) {
            return Err(Ignored::NoAddress(MessageKind::Ack));
        }
        let server = match (msg.opts().get(OptionCode::ServerIdentifier), self.state) {
            (Some(DhcpOption::ServerIdentifier(id)), _) => *id,
            (_, State::Requesting { server, .. }) => server,
            _ => match &self.lease {
                Some(lease) => lease.server,
                None => {
                    return Err(Ignored::MissingOption {
                        kind: MessageKind::Ack,
                        option: "server identifier",
                    })
                }
            },
        };
        let lease = parse_lease(msg, address, server, now);
        self.naks = 0;
        self.state = State::Bound;
        self.attempts = 0;
        self.next = lease.t1.map(|t1| lease.acquired + t1);
        let mut events = Vec::new();
        match self.lease.replace(lease.clone()) {
            Some(old) if old.address == lease.address && old.prefix_len == lease.prefix_len => {
                events.push(Event::Renewed(lease));
            }
            Some(old) => {
                events.push(Event::Lost {
                    lease: old,
                    reason: LostReason::Replaced,
                });
                events.push(Event::Bound(lease));
            }
            None => events.push(Event::Bound(lease)),
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use dhcproto::v4::MessageType;
    use dhcproto::{Encodable, Encoder};

    fn full_ack_opts() -> Vec<DhcpOption> {
        vec![
            DhcpOption::ServerIdentifier(SERVER),
            DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)),
            DhcpOption::Router(vec![SERVER]),
            DhcpOption::DomainNameServer(vec![SERVER, Ipv4Addr::new(9, 9, 9, 9)]),
            DhcpOption::DomainName("example.test".into()),
            DhcpOption::NtpServers(vec![Ipv4Addr::new(10, 0, 0, 2)]),
            DhcpOption::AddressLeaseTime(120),
        ]
    }

    /// Runs DISCOVER -> OFFER -> REQUEST -> ACK and returns the client and lease.
    fn bound(now: Instant) -> (Client, Lease) {
        bound_with(now, full_ack_opts())
    }

    #[test]
    fn full_exchange_yields_lease_with_options() {
        let now = Instant::now();
        let mut c = client(now);
        c.start(now);
        let xid = c.xid();
        let offer = reply(
            xid,
            MessageType::Offer,
            ADDR,
            vec![DhcpOption::ServerIdentifier(SERVER)],
        );
        let events = c.on_packet(&offer, now).unwrap();
        let tx = sent(&events);
        assert_eq!(tx.len(), 1);
        let req = decode(tx[0]);
        assert_eq!(req.xid(), xid, "REQUEST keeps the DISCOVER's xid");
        assert_eq!(req.opts().msg_type(), Some(MessageType::Request));
        assert_eq!(
            req.opts().get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress(ADDR))
        );
        assert_eq!(
            req.opts().get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(SERVER))
        );
        let ack = reply(xid, MessageType::Ack, ADDR, full_ack_opts());
        let events = c.on_packet(&ack, now).unwrap();
        assert_eq!(events.len(), 1);
        let Event::Bound(lease) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(lease.address, ADDR);
        assert_eq!(lease.prefix_len, 24);
        assert_eq!(lease.routers, vec![SERVER]);
        assert_eq!(lease.dns.len(), 2);
        assert_eq!(lease.domain.as_deref(), Some("example.test"));
        assert_eq!(lease.ntp, vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(lease.server, SERVER);
        assert_eq!(lease.lease_time, Some(Duration::from_secs(120)));
        assert_eq!(lease.t1, Some(Duration::from_secs(60)));
        assert_eq!(lease.t2, Some(Duration::from_secs(105)));
        assert_eq!(c.state_name(), "BOUND");
        assert_eq!(c.deadline(), Some(now + Duration::from_secs(60)));
    }

    #[test]
    fn wrong_xid_and_other_client_are_ignored() {
        let now = Instant::now();
        let mut c = client(now);
        c.start(now);
        let offer = reply(
            c.xid().wrapping_add(1),
            MessageType::Offer,
            ADDR,
            vec![DhcpOption::ServerIdentifier(SERVER)],
        );
        assert!(matches!(
            c.on_packet(&offer, now),
            Err(Ignored::WrongXid { .. })
        ));
        let mut msg = Message::new_with_id(
            c.xid(),
            Ipv4Addr::UNSPECIFIED,
            ADDR,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &[1, 2, 3, 4, 5, 6],
        );
        msg.set_opcode(Opcode::BootReply);
        msg.opts_mut()
            .insert(DhcpOption::MessageType(MessageType::Offer));
        let mut buf = Vec::new();
        msg.encode(&mut Encoder::new(&mut buf)).unwrap();
        assert_eq!(c.on_packet(&buf, now), Err(Ignored::WrongClient));
        assert_eq!(c.state_name(), "SELECTING");
    }

    #[test]
    fn garbage_and_requests_are_ignored() {
        let now = Instant::now();
        let mut c = client(now);
        c.start(now);
        assert!(matches!(
            c.on_packet(b"hello", now),
            Err(Ignored::Malformed(_))
        ));
        assert!(matches!(c.on_packet(&[], now), Err(Ignored::Malformed(_))));
        let mut junk = vec![0xffu8; 600];
        junk[0] = 2;
        assert!(c.on_packet(&junk, now).is_err());
        // Our own DISCOVER echoed back is a BOOTREQUEST.
        let discover = sent(&c.start(now))[0].bytes.clone();
        assert_eq!(c.on_packet(&discover, now), Err(Ignored::NotReply));
        assert_eq!(c.state_name(), "SELECTING");
    }

    #[test]
    fn garbage_never_panics() {
        let now = Instant::now();
        let mut c = client(now);
        c.start(now);
        let valid = reply(
            c.xid(),
            MessageType::Offer,
            ADDR,
            vec![DhcpOption::ServerIdentifier(SERVER)],
        );
        // Every truncation and a few bit flips of a valid message.
        for len in 0..valid.len() {
            let _ = c.on_packet(&valid[..len], now);
            c.start(now);
        }
        for i in 0..valid.len() {
            let mut v = valid.clone();
            v[i] ^= 0x5a;
            let _ = c.on_packet(&v, now);
            c.start(now);
        }
    }

    #[test]
    fn hardware_address_length_over_16_is_ignored() {
        // Found by fuzzing: a reply whose hlen exceeds the 16-byte chaddr
        // field made dhcproto's chaddr() panic.
        let now = Instant::now();
        let mut c = client(now);
        c.start(now);
        let mut offer = reply(
            c.xid(),
            MessageType::Offer,
            ADDR,
            vec![DhcpOption::ServerIdentifier(SERVER)],
        );
        offer[2] = 17;
        assert_eq!(c.on_packet(&offer, now), Err(Ignored::WrongClient));
        offer[2] = 255;
        assert_eq!(c.on_packet(&offer, now), Err(Ignored::WrongClient));
        assert_eq!(c.state_name(), "SELECTING");
    }

    #[test]
    fn offer_or_ack_of_an_address_no_host_can_have_is_ignored() {
        // Found by the dhcp fuzz target: an ACK of 127.0.0.213 was taken as
        // a lease, and would have been put on the interface.
        let unusable = [
            Ipv4Addr::new(127, 0, 0, 213),
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(224, 0, 0, 1),
            Ipv4Addr::UNSPECIFIED,
        ];
        let now = Instant::now();
        for addr in unusable {
            let mut c = client(now);
            c.start(now);
            let offer = reply(
                c.xid(),
                MessageType::Offer,
                addr,
                vec![DhcpOption::ServerIdentifier(SERVER)],
            );
            assert_eq!(
                c.on_packet(&offer, now),
                Err(Ignored::NoAddress(MessageKind::Offer)),
                "offer of {addr}"
            );
            assert_eq!(c.state(), ClientState::Selecting);
            // The server offers a good address, then acknowledges a bad one.
            let offer = reply(
                c.xid(),
                MessageType::Offer,
                ADDR,
                vec![DhcpOption::ServerIdentifier(SERVER)],
            );
            c.on_packet(&offer, now).unwrap();
            let ack = reply(c.xid(), MessageType::Ack, addr, full_ack_opts());
            assert_eq!(
                c.on_packet(&ack, now),
                Err(Ignored::NoAddress(MessageKind::Ack)),
                "ack of {addr}"
            );
            assert_eq!(c.lease(), None, "ack of {addr}");
        }
    }

    #[test]
    fn offer_without_server_id_or_address_is_ignored() {
        let now = Instant::now();
        let mut c = client(now);
        c.start(now);
        let offer = reply(c.xid(), MessageType::Offer, ADDR, vec![]);
        assert!(matches!(
            c.on_packet(&offer, now),
            Err(Ignored::MissingOption {
                option: "server identifier",
                ..
            })
        ));
        let offer = reply(
            c.xid(),
            MessageType::Offer,
            Ipv4Addr::UNSPECIFIED,
            vec![DhcpOption::ServerIdentifier(SERVER)],
        );
        assert_eq!(
            c.on_packet(&offer, now),
            Err(Ignored::NoAddress(MessageKind::Offer))
        );
        // No message type at all.
        let mut msg = Message::new_with_id(
            c.xid(),
            Ipv4Addr::UNSPECIFIED,
            ADDR,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &MAC,
        );
        msg.set_opcode(Opcode::BootReply);
        let mut buf = Vec::new();
        msg.encode(&mut Encoder::new(&mut buf)).unwrap();
        assert!(matches!(
            c.on_packet(&buf, now),
            Err(Ignored::MissingOption {
                option: "message type",
                ..
            })
        ));
        assert_eq!(c.state_name(), "SELECTING");
    }

    #[test]
    fn ack_with_minimal_options_uses_defaults() {
        let now = Instant::now();
        let mut c = client(now);
        c.start(now);
        let offer = reply(
            c.xid(),
            MessageType::Offer,
            Ipv4Addr::new(172, 16, 5, 9),
            vec![DhcpOption::ServerIdentifier(SERVER)],
        );
        c.on_packet(&offer, now).unwrap();
        // No server id, no mask, no lease time, no router, no DNS.
        let ack = reply(
            c.xid(),
            MessageType::Ack,
            Ipv4Addr::new(172, 16, 5, 9),
            vec![],
        );
        let events = c.on_packet(&ack, now).unwrap();
        let Event::Bound(lease) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(lease.prefix_len, 16);
        assert_eq!(lease.server, SERVER);
        assert_eq!(lease.lease_time, None);
        assert!(lease.routers.is_empty() && lease.dns.is_empty() && lease.domain.is_none());
        assert_eq!(c.deadline(), None, "infinite lease: nothing to renew");
    }

    #[test]
    fn discover_retransmits_with_exponential_backoff() {
        let t0 = Instant::now();
        let mut c = client(t0);
        c.start(t0);
        let mut at = t0;
        let mut delays = Vec::new();
        for _ in 0..7 {
            let next = c.deadline().unwrap();
            delays.push((next - at).as_secs());
            at = next;
            let events = c.on_timeout(at);
            assert_eq!(sent(&events).len(), 1);
            assert_eq!(sent(&events)[0].kind, MessageKind::Discover);
        }
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 16, 16]);
        // Early calls do nothing.
        assert!(c.on_timeout(at).is_empty());
    }

    #[test]
    fn request_gives_up_and_rediscovers() {
        let now = Instant::now();
        let mut c = offered(now);
        let mut kinds = Vec::new();
        for _ in 0..4 {
            let at = c.deadline().unwrap();
            for t in sent(&c.on_timeout(at)) {
                kinds.push(t.kind);
            }
        }
        assert_eq!(
            kinds,
            vec![
                MessageKind::Request,
                MessageKind::Request,
                MessageKind::Request,
                MessageKind::Discover
            ]
        );
        assert_eq!(c.state_name(), "SELECTING");
    }

    #[test]
    fn nak_while_requesting_restarts_discovery() {
        let now = Instant::now();
        let mut c = client(now);
        c.start(now);
        let xid = c.xid();
        let offer = reply(
            xid,
            MessageType::Offer,
            ADDR,
            vec![DhcpOption::ServerIdentifier(SERVER)],
        );
        c.on_packet(&offer, now).unwrap();
        // A NAK from a server we did not choose is ignored.
        let other = reply(
            xid,
            MessageType::Nak,
            Ipv4Addr::UNSPECIFIED,
            vec![DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 99))],
        );
        assert!(c.on_packet(&other, now).is_err());
        let nak = reply(
            xid,
            MessageType::Nak,
            Ipv4Addr::UNSPECIFIED,
            vec![DhcpOption::ServerIdentifier(SERVER)],
        );
        let events = c.on_packet(&nak, now).unwrap();
        assert_eq!(sent(&events)[0].kind, MessageKind::Discover);
        assert_ne!(c.xid(), xid, "a new transaction after a NAK");
        assert_eq!(c.state_name(), "SELECTING");
    }

    #[test]
    fn renew_rebind_expire_cycle() {
        let t0 = Instant::now();
        let (mut c, lease) = bound(t0);
        // T1: unicast REQUEST with ciaddr, new xid, no server id.
        let xid = c.xid();
        let t1 = c.deadline().unwrap();
        assert_eq!(t1, t0 + Duration::from_secs(60));
        let events = c.on_timeout(t1);
        let tx = sent(&events);
        assert_eq!(tx[0].to, Destination::Unicast(SERVER));
        let req = decode(tx[0]);
        assert_eq!(req.ciaddr(), ADDR);
        assert!(!req.flags().broadcast());
        assert!(req.opts().get(OptionCode::ServerIdentifier).is_none());
        assert!(req.opts().get(OptionCode::RequestedIpAddress).is_none());
        assert_ne!(c.xid(), xid);
        assert_eq!(c.state_name(), "RENEWING");
        // Retransmissions until T2 (105 s), then broadcast.
        let mut saw_rebind = false;
        let mut at = t1;
        while let Some(next) = c.deadline() {
            assert!(next > at, "deadlines move forward");
            at = next;
            let events = c.on_timeout(at);
            if let Some(Event::Lost { reason, lease: l }) = events.first() {
                assert_eq!(*reason, LostReason::Expired);
                assert_eq!(l.address, lease.address);
                assert_eq!(at, t0 + Duration::from_secs(120));
                assert_eq!(sent(&events)[0].kind, MessageKind::Discover);
                break;
            }
            let tx = sent(&events);
            if tx[0].to == Destination::Broadcast {
                saw_rebind = true;
                assert!(at >= t0 + Duration::from_secs(105));
                assert_eq!(c.state_name(), "REBINDING");
            }
        }
        assert!(saw_rebind);
        assert_eq!(c.state_name(), "SELECTING");
        assert!(c.lease().is_none());
    }

    #[test]
    fn renewal_ack_extends_lease() {
        let t0 = Instant::now();
        let (mut c, _) = bound(t0);
        let t1 = c.deadline().unwrap();
        c.on_timeout(t1);
        let ack = reply(c.xid(), MessageType::Ack, ADDR, full_ack_opts());
        let events = c.on_packet(&ack, t1).unwrap();
        let Event::Renewed(lease) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(lease.acquired, t1);
        assert_eq!(c.deadline(), Some(t1 + Duration::from_secs(60)));
        assert_eq!(c.state_name(), "BOUND");
    }

    #[test]
    fn renewal_nak_drops_lease_and_rediscovers() {
        let t0 = Instant::now();
        let (mut c, _) = bound(t0);
        let events = c.renew_now(t0 + Duration::from_secs(5));
        assert_eq!(sent(&events)[0].to, Destination::Unicast(SERVER));
        let nak = reply(c.xid(), MessageType::Nak, Ipv4Addr::UNSPECIFIED, vec![]);
        let events = c.on_packet(&nak, t0).unwrap();
        assert!(matches!(
            events[0],
            Event::Lost {
                reason: LostReason::Nak,
                ..
            }
        ));
        assert_eq!(sent(&events)[0].kind, MessageKind::Discover);
        assert!(c.lease().is_none());
    }

    #[test]
    fn repeated_naks_slow_down() {
        let now = Instant::now();
        let mut c = client(now);
        c.start(now);
        for round in 0..3 {
            let at = c.deadline().unwrap();
            if round > 0 {
                // The DISCOVER after a second NAK waits.
                assert!(sent(&c.on_timeout(at)).len() == 1);
            }
            let offer = reply(
                c.xid(),
                MessageType::Offer,
                ADDR,
                vec![DhcpOption::ServerIdentifier(SERVER)],
            );
            c.on_packet(&offer, at).unwrap();
            let nak = reply(c.xid(), MessageType::Nak, Ipv4Addr::UNSPECIFIED, vec![]);
            let events = c.on_packet(&nak, at).unwrap();
            if round == 0 {
                assert_eq!(sent(&events).len(), 1, "first NAK: immediate DISCOVER");
            } else {
                assert!(sent(&events).is_empty(), "later NAKs: delayed DISCOVER");
                assert!(c.deadline().unwrap() > at);
            }
        }
    }

    #[test]
    fn ack_in_selecting_and_offer_when_bound_are_unexpected() {
        let now = Instant::now();
        let mut c = client(now);
        c.start(now);
        let ack = reply(c.xid(), MessageType::Ack, ADDR, full_ack_opts());
        assert!(matches!(
            c.on_packet(&ack, now),
            Err(Ignored::Unexpected { .. })
        ));
        let (mut c, _) = bound(now);
        let offer = reply(
            c.xid(),
            MessageType::Offer,
            ADDR,
            vec![DhcpOption::ServerIdentifier(SERVER)],
        );
        assert!(matches!(
            c.on_packet(&offer, now),
            Err(Ignored::Unexpected { .. })
        ));
    }

    #[test]
    fn states_are_typed() {
        let now = Instant::now();
        let mut c = client(now);
        assert_eq!(c.state(), ClientState::Init);
        c.start(now);
        assert_eq!(c.state(), ClientState::Selecting);
        let offer = reply(
            c.xid(),
            MessageType::Offer,
            ADDR,
            vec![DhcpOption::ServerIdentifier(SERVER)],
        );
        c.on_packet(&offer, now).unwrap();
        assert_eq!(c.state(), ClientState::Requesting);
        let ack = reply(c.xid(), MessageType::Ack, ADDR, full_ack_opts());
        c.on_packet(&ack, now).unwrap();
        assert_eq!(c.state(), ClientState::Bound);
        assert_eq!(c.state().name(), c.state_name());
    }
}
