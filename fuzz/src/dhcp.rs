//! DHCP replies as the client receives them: IPv4 frames from the packet
//! socket (`net::packet::udp_payload_to_port`) and UDP payloads, fed to the
//! client's state machine (`net::dhcp::Client::on_packet`) between passings
//! of time (`on_timeout`) and forced renewals (`renew_now`).
//!
//! The input is a list of steps: one control byte, then for packets a
//! 16-bit length and the bytes. The control byte says what the step is and
//! whether to patch in the client's transaction id and MAC address (a
//! server would; the fuzzer needs not guess them).
//!
//! Invariants:
//! - a lease (`Bound`, `Renewed`) has a usable unicast address (not 0.0.0.0,
//!   broadcast, multicast or loopback) and a prefix of 1 to 32 bits; its
//!   routers are usable unicast addresses, its DNS and NTP servers are not
//!   0.0.0.0 nor broadcast; its domain and search names are safe to write
//!   into resolv.conf; T1 <= T2 <= lease time, all three or none;
//! - `Renewed` keeps the address and prefix; `Lost` gives back the lease
//!   the client had; `Client::lease` is the last lease granted;
//! - every datagram sent is a BOOTREQUEST of our transaction, with our MAC,
//!   at least 300 bytes long; renewals are unicast to the lease's server;
//! - the client never stalls: without an infinite lease it always has a
//!   deadline, and timeouts settle (the next deadline is in the future)
//!   after a few steps, with no busy loop;
//! - the reason a datagram is ignored prints as one line.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use boot2container::net::dhcp::{
    Client, ClientConfig, Destination, Event, Lease, DHCP_CLIENT_PORT,
};
use boot2container::net::packet::udp_payload_to_port;
use dhcproto::v4::{Message, Opcode};
use dhcproto::{Decodable, Decoder};

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// The fuzz target `dhcp`.
pub fn run(data: &[u8]) {
    let mut input = crate::Input::new(data);
    let mut now = Instant::now();
    let mut client = Client::with_seed(MAC, ClientConfig::default(), now, 0x5eed);
    let mut lease: Option<Lease> = None;
    let events = client.start(now);
    check_events(&client, &events, &mut lease, now);
    let mut steps = 0;
    while !input.is_empty() && steps < 64 {
        steps += 1;
        let control = input.u8();
        match control & 3 {
            // A packet: a UDP payload, or a whole IPv4 frame.
            0 | 1 => {
                let len = usize::from(input.u16());
                let bytes = input.bytes(len);
                let payload: Vec<u8> = if control & 3 == 1 {
                    match udp_payload_to_port(bytes, DHCP_CLIENT_PORT) {
                        Some(p) => {
                            check_frame(bytes, p);
                            p.to_vec()
                        }
                        None => continue,
                    }
                } else {
                    bytes.to_vec()
                };
                let payload = patch(payload, control, &client);
                match client.on_packet(&payload, now) {
                    Ok(events) => check_events(&client, &events, &mut lease, now),
                    Err(e) => crate::assert_console_safe("ignored DHCP message", &e.to_string()),
                }
            }
            // Time passes (up to 18 hours), then the client's timeouts run.
            2 => {
                let secs = u64::from(input.u16());
                let millis = u64::from(control >> 2) * 16;
                now += Duration::from_secs(secs) + Duration::from_millis(millis);
                settle(&mut client, &mut lease, now);
            }
            _ => {
                let events = client.renew_now(now);
                check_events(&client, &events, &mut lease, now);
            }
        }
        check_deadline(&client, now);
    }
}

/// Puts the client's transaction id and MAC address in a reply, as the
/// control byte asks.
fn patch(mut payload: Vec<u8>, control: u8, client: &Client) -> Vec<u8> {
    if control & 0x04 == 0 && payload.len() >= 8 {
        payload[4..8].copy_from_slice(&client.xid().to_be_bytes());
    }
    if control & 0x08 == 0 && payload.len() >= 34 {
        payload[28..34].copy_from_slice(&MAC);
    }
    payload
}

/// The payload found in a frame lies inside its IPv4 packet.
fn check_frame(frame: &[u8], payload: &[u8]) {
    let start = payload.as_ptr() as usize - frame.as_ptr() as usize;
    let total = usize::from(u16::from_be_bytes([frame[2], frame[3]]));
    assert!(start >= 28, "UDP payload at {start}, inside the headers");
    assert!(start + payload.len() <= total.min(frame.len()));
}

/// Runs the client's timeouts due at `now`; they must settle quickly.
fn settle(client: &mut Client, lease: &mut Option<Lease>, now: Instant) {
    for _ in 0..8 {
        match client.deadline() {
            Some(d) if d <= now => {
                let events = client.on_timeout(now);
                check_events(client, &events, lease, now);
            }
            _ => return,
        }
    }
    panic!(
        "the client's deadline stays in the past after 8 timeouts (state {}): a busy loop",
        client.state_name()
    );
}

/// Without an infinite lease, the client always has something to wait for.
fn check_deadline(client: &Client, now: Instant) {
    let infinite = client.lease().is_some_and(|l| l.lease_time.is_none());
    if !infinite {
        assert!(
            client.deadline().is_some(),
            "no deadline in state {} without an infinite lease: the client would wait forever",
            client.state_name()
        );
    }
    if let (Some(l), Some(d)) = (client.lease(), client.deadline()) {
        if let Some(expires) = l.expires() {
            assert!(d <= expires.max(now), "next step after the lease expires");
        }
    }
}

fn usable_unicast(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
}

fn safe_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn check_lease(l: &Lease, now: Instant) {
    assert!(usable_unicast(l.address), "lease address {}", l.address);
    assert!(
        (1..=32).contains(&l.prefix_len),
        "lease {}/{}: prefix length out of 1..=32",
        l.address,
        l.prefix_len
    );
    for r in &l.routers {
        assert!(usable_unicast(*r), "router {r}");
    }
    for a in l.dns.iter().chain(&l.ntp) {
        assert!(!a.is_unspecified() && !a.is_broadcast(), "server {a}");
    }
    for d in l.domain.iter().chain(&l.search) {
        assert!(safe_domain(d), "domain {d:?} unsafe for resolv.conf");
    }
    match (l.lease_time, l.t1, l.t2) {
        (None, None, None) => {}
        (Some(lt), Some(t1), Some(t2)) => {
            assert!(t1 <= t2 && t2 <= lt, "T1 {t1:?} T2 {t2:?} lease {lt:?}");
            assert!(lt >= Duration::from_secs(1));
        }
        other => panic!("lease times half set: {other:?}"),
    }
    assert_eq!(l.acquired, now);
}

fn check_sent(client: &Client, bytes: &[u8]) -> Message {
    assert!(bytes.len() >= 300, "datagram of {} bytes", bytes.len());
    let msg = match Message::decode(&mut Decoder::new(bytes)) {
        Ok(m) => m,
        Err(e) => panic!("the client sent a datagram it cannot decode: {e}"),
    };
    assert_eq!(msg.opcode(), Opcode::BootRequest);
    assert_eq!(msg.xid(), client.xid());
    assert_eq!(msg.chaddr().get(..6), Some(&MAC[..]));
    msg
}

fn check_events(client: &Client, events: &[Event], lease: &mut Option<Lease>, now: Instant) {
    for e in events {
        match e {
            Event::Send(t) => {
                let msg = check_sent(client, &t.bytes);
                if let Destination::Unicast(to) = t.to {
                    let l = lease.as_ref().expect("unicast without a lease");
                    assert_eq!(to, l.server, "renewal sent to another server");
                    assert_eq!(msg.ciaddr(), l.address);
                }
            }
            Event::Bound(l) => {
                check_lease(l, now);
                assert!(lease.is_none(), "Bound while a lease is held");
                *lease = Some(l.clone());
            }
            Event::Renewed(l) => {
                check_lease(l, now);
                let old = lease.as_ref().expect("Renewed without a lease");
                assert_eq!((old.address, old.prefix_len), (l.address, l.prefix_len));
                *lease = Some(l.clone());
            }
            Event::Lost { lease: l, .. } => {
                assert_eq!(lease.as_ref(), Some(l), "Lost a lease we did not have");
                *lease = None;
            }
        }
    }
    assert_eq!(client.lease(), lease.as_ref(), "the client's lease differs");
}
