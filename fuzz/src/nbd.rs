//! NBD handshake replies (`storage::nbd::handshake`).
//!
//! Input: a control byte (which export name to ask for), then everything
//! the server sends, whatever the client writes.
//!
//! Invariants:
//! - the handshake ends (the input is finite: no read loops without
//!   consuming bytes) and never allocates more than a 64 KiB reply;
//! - what the client writes is its 4 flag bytes, then NBD_OPT_GO for the
//!   name, then possibly NBD_OPT_EXPORT_NAME for it, each well formed;
//! - an export is only accepted after the server described it: with
//!   NBD_OPT_GO, the size and flags are those of an NBD_INFO_EXPORT reply;
//! - the reason for a refusal prints as one line (it quotes the server).

use std::io::{self, Read, Write};

use boot2container::storage::nbd::{handshake, HandshakeError};

const IHAVEOPT: u64 = 0x4948_4156_454F_5054;
const OPT_EXPORT_NAME: u32 = 1;
const OPT_GO: u32 = 7;

/// The server's bytes to read; what the client writes, kept.
struct Stream<'a> {
    from_server: &'a [u8],
    read: usize,
    to_server: Vec<u8>,
}

impl Read for Stream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.from_server.len() - self.read);
        buf[..n].copy_from_slice(&self.from_server[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}

impl Write for Stream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.to_server.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The options in what the client wrote after its flags: `(option, data)`.
fn options(mut w: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    while !w.is_empty() {
        assert!(w.len() >= 16, "truncated option header {w:?}");
        assert_eq!(u64::from_be_bytes(w[..8].try_into().unwrap()), IHAVEOPT);
        let option = u32::from_be_bytes(w[8..12].try_into().unwrap());
        let len = u32::from_be_bytes(w[12..16].try_into().unwrap()) as usize;
        assert!(
            w.len() >= 16 + len,
            "option {option}: data shorter than its length"
        );
        out.push((option, w[16..16 + len].to_vec()));
        w = &w[16 + len..];
    }
    out
}

/// The fuzz target `nbd`.
pub fn run(data: &[u8]) {
    let (control, server) = data.split_first().map_or((0, &[][..]), |(c, r)| (*c, r));
    let name = if control & 1 == 0 { "" } else { "cache" };
    let mut s = Stream {
        from_server: server,
        read: 0,
        to_server: Vec::new(),
    };
    let result = handshake(&mut s, name);

    // What the client said.
    let w = &s.to_server;
    if w.len() >= 4 {
        let flags = u32::from_be_bytes(w[..4].try_into().unwrap());
        assert_eq!(flags & !3, 0, "client flags {flags:#x}");
        assert_eq!(flags & 1, 1, "the client must ask for fixed newstyle");
        let opts = options(&w[4..]);
        assert!(
            !opts.is_empty() && opts.len() <= 2,
            "options sent: {opts:?}"
        );
        let (go, go_data) = &opts[0];
        assert_eq!(*go, OPT_GO);
        let n = u32::from_be_bytes(go_data[..4].try_into().unwrap()) as usize;
        assert_eq!(&go_data[4..4 + n], name.as_bytes());
        let requests = usize::from(u16::from_be_bytes([go_data[4 + n], go_data[5 + n]]));
        assert_eq!(go_data.len(), 4 + n + 2 + 2 * requests);
        if let Some((opt, d)) = opts.get(1) {
            assert_eq!(*opt, OPT_EXPORT_NAME);
            assert_eq!(d, name.as_bytes());
        }
    }

    match result {
        Ok(export) => {
            let opts = options(&s.to_server[4..]);
            if opts.len() == 1 {
                // NBD_OPT_GO: the last NBD_INFO_EXPORT the server sent.
                let info = last_info_export(&server[18..s.read]);
                assert_eq!(Some((export.size, export.flags)), info);
            } else {
                assert_eq!(export.block_size, None);
            }
        }
        Err(HandshakeError::Protocol(msg)) => crate::assert_console_safe("NBD handshake", &msg),
        Err(HandshakeError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof),
    }
}

/// The size and flags of the last NBD_INFO_EXPORT among the option replies.
fn last_info_export(mut r: &[u8]) -> Option<(u64, u16)> {
    let mut found = None;
    while r.len() >= 20 {
        let kind = u32::from_be_bytes(r[12..16].try_into().unwrap());
        let len = u32::from_be_bytes(r[16..20].try_into().unwrap()) as usize;
        let p = &r[20..20 + len];
        if kind == 3 && p.len() >= 12 && p[..2] == [0, 0] {
            let size = u64::from_be_bytes(p[2..10].try_into().unwrap());
            found = Some((size, u16::from_be_bytes([p[10], p[11]])));
        }
        r = &r[20 + len..];
    }
    found
}
