//! The messages the client sends: transaction ids, the fields and options
//! every message carries, encoding; and the kind of a received message.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;
use std::time::Instant;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Encodable, Encoder};

use super::{Client, Destination, Lease, MessageKind, Transmit};

/// A random 64-bit seed from the standard library's randomly keyed hasher.
pub(super) fn random_seed(mac: &[u8; 6]) -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write(mac);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(nanos);
    hasher.finish()
}

/// The kind of a received message (`None`: one the client has no use for).
pub(super) fn kind_of(msg: MessageType) -> Option<MessageKind> {
    match msg {
        MessageType::Offer => Some(MessageKind::Offer),
        MessageType::Ack => Some(MessageKind::Ack),
        MessageType::Nak => Some(MessageKind::Nak),
        MessageType::Discover => Some(MessageKind::Discover),
        MessageType::Request => Some(MessageKind::Request),
        _ => None,
    }
}

impl Client {
    pub(super) fn new_xid(&mut self) {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        // The high half of the product is the best-mixed part.
        self.xid = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32;
    }

    fn secs(&self, now: Instant) -> u16 {
        u16::try_from(now.saturating_duration_since(self.exchange_start).as_secs())
            .unwrap_or(u16::MAX)
    }

    fn base_message(&self, now: Instant, kind: MessageType, broadcast: bool) -> Message {
        let mut msg = Message::new_with_id(
            self.xid,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &self.mac,
        );
        msg.set_opcode(Opcode::BootRequest);
        msg.set_secs(self.secs(now));
        if broadcast {
            msg.set_flags(Flags::default().set_broadcast());
        }
        let opts = msg.opts_mut();
        opts.insert(DhcpOption::MessageType(kind));
        let mut client_id = Vec::with_capacity(7);
        client_id.push(1); // hardware type: Ethernet
        client_id.extend_from_slice(&self.mac);
        opts.insert(DhcpOption::ClientIdentifier(client_id));
        opts.insert(DhcpOption::MaxMessageSize(1500));
        opts.insert(DhcpOption::ParameterRequestList(vec![
            OptionCode::SubnetMask,
            OptionCode::Router,
            OptionCode::DomainNameServer,
            OptionCode::DomainName,
            OptionCode::DomainSearch,
            OptionCode::NtpServers,
            OptionCode::AddressLeaseTime,
            OptionCode::Renewal,
            OptionCode::Rebinding,
            OptionCode::ServerIdentifier,
        ]));
        msg
    }

    fn encode(msg: &Message, to: Destination, kind: MessageKind) -> Transmit {
        let mut bytes = Vec::with_capacity(320);
        let mut encoder = Encoder::new(&mut bytes);
        // Encoding into a Vec only fails on invalid option contents, which
        // this client never builds; an empty datagram is then sent and lost.
        if msg.encode(&mut encoder).is_err() {
            bytes.clear();
        }
        // Some old servers drop messages shorter than a BOOTP packet.
        if bytes.len() < dhcproto::v4::MIN_PACKET_SIZE {
            bytes.resize(dhcproto::v4::MIN_PACKET_SIZE, 0);
        }
        Transmit { bytes, to, kind }
    }

    pub(super) fn discover(&self, now: Instant) -> Transmit {
        let msg = self.base_message(now, MessageType::Discover, true);
        Self::encode(&msg, Destination::Broadcast, MessageKind::Discover)
    }

    pub(super) fn request_selecting(
        &self,
        now: Instant,
        offered: Ipv4Addr,
        server: Ipv4Addr,
    ) -> Transmit {
        let mut msg = self.base_message(now, MessageType::Request, true);
        msg.opts_mut()
            .insert(DhcpOption::RequestedIpAddress(offered));
        msg.opts_mut().insert(DhcpOption::ServerIdentifier(server));
        Self::encode(&msg, Destination::Broadcast, MessageKind::Request)
    }

    pub(super) fn request_renew(&self, now: Instant, lease: &Lease, to: Destination) -> Transmit {
        let mut msg = self.base_message(now, MessageType::Request, false);
        msg.set_ciaddr(lease.address);
        Self::encode(&msg, to, MessageKind::Request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::dhcp::testing::*;
    use crate::net::dhcp::ClientConfig;
    use std::time::Duration;

    #[test]
    fn discover_goes_out_immediately_with_broadcast_flag() {
        let now = Instant::now();
        let mut c = client(now);
        let events = c.start(now);
        let tx = sent(&events);
        assert_eq!(tx.len(), 1);
        assert_eq!(tx[0].to, Destination::Broadcast);
        assert_eq!(tx[0].kind, MessageKind::Discover);
        let msg = decode(tx[0]);
        assert_eq!(msg.xid(), c.xid());
        assert!(msg.flags().broadcast());
        assert_eq!(&msg.chaddr()[..6], &MAC);
        assert_eq!(msg.opts().msg_type(), Some(MessageType::Discover));
        assert!(tx[0].bytes.len() >= 300);
        assert_eq!(c.deadline(), Some(now + Duration::from_secs(1)));
    }

    #[test]
    fn xids_differ_between_clients() {
        let now = Instant::now();
        let a = Client::new(MAC, ClientConfig::default(), now);
        let b = Client::new(MAC, ClientConfig::default(), now);
        assert_ne!(a.xid(), b.xid());
    }
}
