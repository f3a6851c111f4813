//! Fixtures of the DHCP client's tests: a client with a fixed seed, the
//! datagrams it sends, and the replies of a server.

use std::net::Ipv4Addr;
use std::time::Instant;

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};

use super::{Client, ClientConfig, Event, Lease, Transmit};

pub(super) const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
pub(super) const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub(super) const ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 42);

pub(super) fn client(now: Instant) -> Client {
    Client::with_seed(MAC, ClientConfig::default(), now, 12345)
}

pub(super) fn sent(events: &[Event]) -> Vec<&Transmit> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Send(t) => Some(t),
            _ => None,
        })
        .collect()
}

pub(super) fn decode(t: &Transmit) -> Message {
    Message::decode(&mut Decoder::new(&t.bytes)).unwrap()
}

pub(super) fn reply(
    xid: u32,
    kind: MessageType,
    yiaddr: Ipv4Addr,
    opts: Vec<DhcpOption>,
) -> Vec<u8> {
    let mut msg = Message::new_with_id(
        xid,
        Ipv4Addr::UNSPECIFIED,
        yiaddr,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &MAC,
    );
    msg.set_opcode(Opcode::BootReply);
    msg.opts_mut().insert(DhcpOption::MessageType(kind));
    for o in opts {
        msg.opts_mut().insert(o);
    }
    let mut buf = Vec::new();
    msg.encode(&mut Encoder::new(&mut buf)).unwrap();
    buf
}

/// A started client that has received the server's OFFER (and sent its
/// REQUEST).
pub(super) fn offered(now: Instant) -> Client {
    let mut c = client(now);
    c.start(now);
    let offer = reply(
        c.xid(),
        MessageType::Offer,
        ADDR,
        vec![DhcpOption::ServerIdentifier(SERVER)],
    );
    c.on_packet(&offer, now).unwrap();
    c
}

/// Runs DISCOVER -> OFFER -> REQUEST -> ACK, the ACK carrying `opts`, and
/// returns the client and the lease it took.
pub(super) fn bound_with(now: Instant, opts: Vec<DhcpOption>) -> (Client, Lease) {
    let mut c = offered(now);
    let ack = reply(c.xid(), MessageType::Ack, ADDR, opts);
    let events = c.on_packet(&ack, now).unwrap();
    let Some(Event::Bound(lease)) = events.first() else {
        panic!("expected Bound, got {events:?}");
    };
    let lease = lease.clone();
    (c, lease)
}
