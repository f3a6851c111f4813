//! Receiving DHCP replies below the IP stack, with an `AF_PACKET` socket.
//!
//! While an interface has no address, the kernel's reverse-path filter
//! (`rp_filter` = 1 or 2) drops broadcast replies from a server it has no
//! route to, before they reach the UDP socket. A packet socket sees them
//! anyway. It is only open while the client has no lease (a few
//! milliseconds on a healthy network), so it costs nothing once bound.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// `ETH_P_IP` in network byte order, as packet sockets want it.
fn eth_p_ip_be() -> u16 {
    // ETH_P_IP is 0x0800: it fits in a u16.
    u16::try_from(libc::ETH_P_IP).unwrap_or(0x0800).to_be()
}

/// An `AF_PACKET` socket receiving the IPv4 packets of one interface.
#[derive(Debug)]
pub struct PacketReceiver {
    fd: AsyncFd<OwnedFd>,
}

impl PacketReceiver {
    /// Opens the socket on the interface with that index.
    pub fn open(ifindex: u32) -> io::Result<Self> {
        // Protocol 0: the socket receives nothing until bound. (Creating it
        // with ETH_P_IP and then binding it to the interface costs an RCU
        // grace period, about 10 ms, in the kernel.)
        // SAFETY: a plain syscall with integer arguments; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_ll is a plain C struct for which all zeroes is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = u16::try_from(libc::AF_PACKET).unwrap_or(17);
        sll.sll_protocol = eth_p_ip_be();
        sll.sll_ifindex =
            i32::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let len = u32::try_from(std::mem::size_of::<libc::sockaddr_ll>()).unwrap_or(20);
        // SAFETY: `sll` is a valid, initialised sockaddr_ll and `len` is its size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                std::ptr::addr_of!(sll).cast::<libc::sockaddr>(),
                len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the AsyncFd owns `fd` and never replaces or closes it
        // while registered (it is closed when the AsyncFd is dropped).
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(Self { fd })
    }

    /// Closes the socket on a blocking thread: closing a packet socket waits
    /// for an RCU grace period in the kernel (about 10 ms), which must not
    /// stall the init's single-threaded runtime. Must be called from inside
    /// a tokio runtime.
    pub fn close_in_background(self) {
        let fd = self.fd.into_inner();
        drop(tokio::task::spawn_blocking(move || drop(fd)));
    }

    /// Receives the next IPv4 packet into `buf`; returns its length.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            let result = guard.try_io(|inner| {
                nix::sys::socket::recv(inner.as_raw_fd(), buf, nix::sys::socket::MsgFlags::empty())
                    .map_err(io::Error::from)
            });
            match result {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }
}

/// The payload of an unfragmented IPv4 UDP datagram to `port`, if `packet`
/// is one. Checksums are not verified (offloaded checksums are not filled
/// in yet when a packet socket sees a locally delivered packet).
pub fn udp_payload_to_port(packet: &[u8], port: u16) -> Option<&[u8]> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
    let frag = u16::from_be_bytes([*packet.get(6)?, *packet.get(7)?]);
    // More-fragments flag or a fragment offset: not a whole datagram.
    if ihl < 20 || frag & 0x3fff != 0 || *packet.get(9)? != 17 {
        return None;
    }
    let ip = packet.get(..total)?;
    let udp = ip.get(ihl..)?;
    let dport = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    let ulen = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    if dport != port || ulen < 8 {
        return None;
    }
    udp.get(8..ulen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(dport: u16, payload: &[u8], frag: u16, proto: u8) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&u16::try_from(total).unwrap().to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&frag.to_be_bytes());
        p.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 255, 255, 255, 255]);
        p.extend_from_slice(&67u16.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&u16::try_from(8 + payload.len()).unwrap().to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn extracts_payload() {
        let p = packet(68, b"dhcp", 0, 17);
        assert_eq!(udp_payload_to_port(&p, 68), Some(&b"dhcp"[..]));
        // Ethernet padding after the IP packet is ignored.
        let mut padded = p.clone();
        padded.extend_from_slice(&[0; 10]);
        assert_eq!(udp_payload_to_port(&padded, 68), Some(&b"dhcp"[..]));
        // Don't-fragment flag is fine.
        let df = packet(68, b"x", 0x4000, 17);
        assert_eq!(udp_payload_to_port(&df, 68), Some(&b"x"[..]));
    }

    #[test]
    fn rejects_others() {
        assert_eq!(udp_payload_to_port(&packet(67, b"x", 0, 17), 68), None);
        assert_eq!(udp_payload_to_port(&packet(68, b"x", 0, 6), 68), None);
        assert_eq!(udp_payload_to_port(&packet(68, b"x", 0x2000, 17), 68), None);
        assert_eq!(udp_payload_to_port(&packet(68, b"x", 0x0001, 17), 68), None);
        let p = packet(68, b"abc", 0, 17);
        for len in 0..p.len() {
            assert_eq!(
                udp_payload_to_port(&p[..len], 68),
                None,
                "truncated at {len}"
            );
        }
        assert_eq!(udp_payload_to_port(&[], 68), None);
        let mut v6 = p.clone();
        v6[0] = 0x60;
        assert_eq!(udp_payload_to_port(&v6, 68), None);
    }
}
