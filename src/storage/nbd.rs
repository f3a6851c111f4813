//! `b2c.nbd`: the fixed-newstyle NBD handshake done here over TCP, then the
//! socket handed to the kernel's nbd driver (ioctl interface), with
//! `NBD_DO_IT` blocking in a dedicated thread for as long as the device is
//! attached.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use crate::cmdline::Nbd;

const NBDMAGIC: &[u8; 8] = b"NBDMAGIC";
const IHAVEOPT: u64 = 0x4948_4156_454F_5054;
const OLDSTYLE_MAGIC: u64 = 0x0000_4202_8186_1253;
const REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
const FLAG_FIXED_NEWSTYLE: u16 = 1;
const FLAG_NO_ZEROES: u16 = 2;
const OPT_EXPORT_NAME: u32 = 1;
const OPT_ABORT: u32 = 2;
const OPT_GO: u32 = 7;
const REP_ACK: u32 = 1;
const REP_INFO: u32 = 3;
const REP_ERR_UNSUP: u32 = (1 << 31) | 1;
const INFO_EXPORT: u16 = 0;
const INFO_BLOCK_SIZE: u16 = 3;

/// How long the TCP connection and each handshake read may take.
pub const NBD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the whole handshake (greeting and option exchange) may take: a
/// server that answers every read in time but never ends its replies must
/// not hold the boot.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(30);

/// Errors attaching an NBD export.
#[derive(Debug, thiserror::Error)]
pub enum NbdError {
    /// The host name did not resolve.
    #[error("b2c.nbd={device}: cannot resolve {host}: {reason}")]
    Resolve {
        /// The NBD device.
        device: String,
        /// The server.
        host: String,
        /// Why.
        reason: String,
    },
    /// TCP or handshake I/O failed.
    #[error("b2c.nbd={device}: {server}: {action}: {source}")]
    Io {
        /// The NBD device.
        device: String,
        /// `host:port`.
        server: String,
        /// What was attempted.
        action: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// The server does not speak the protocol we expect, or refused the export.
    #[error("b2c.nbd={device}: {server}: {reason}")]
    Protocol {
        /// The NBD device.
        device: String,
        /// `host:port`.
        server: String,
        /// What went wrong.
        reason: String,
    },
    /// The kernel refused the device set-up.
    #[error("b2c.nbd={device}: {action}: {source}")]
    Kernel {
        /// The NBD device.
        device: String,
        /// The ioctl or step.
        action: &'static str,
        /// The cause.
        source: io::Error,
    },
}

/// What the server said about the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Export {
    /// Size in bytes.
    pub size: u64,
    /// Transmission flags (read-only, flush, ...), passed to the kernel.
    pub flags: u16,
    /// Minimum block size, when the server said (NBD_INFO_BLOCK_SIZE).
    pub block_size: Option<u32>,
}

/// A handshake failure, before it is tied to a device and server.
#[derive(Debug)]
pub enum HandshakeError {
    /// Reading or writing the socket failed.
    Io(io::Error),
    /// The server misbehaved or refused.
    Protocol(String),
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        HandshakeError::Io(e)
    }
}

fn read_u16<R: Read>(r: &mut R) -> io::Result<u16> {
    let mut b = [0u8; 2];
    r.read_exact(&mut b)?;
    Ok(u16::from_be_bytes(b))
}

fn read_u32<R: Read>(r: &mut R) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn read_u64<R: Read>(r: &mut R) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_be_bytes(b))
}

fn send_option<W: Write>(w: &mut W, option: u32, data: &[u8]) -> io::Result<()> {
    let mut msg = Vec::with_capacity(16 + data.len());
    msg.extend_from_slice(&IHAVEOPT.to_be_bytes());
    msg.extend_from_slice(&option.to_be_bytes());
    msg.extend_from_slice(&(data.len() as u32).to_be_bytes());
    msg.extend_from_slice(data);
    w.write_all(&msg)?;
    w.flush()
}

/// A stream whose reads and writes fail once a deadline has passed.
struct Deadline<'a, S> {
    inner: &'a mut S,
    until: std::time::Instant,
    limit: Duration,
}

impl<S> Deadline<'_, S> {
    fn check(&self) -> io::Result<()> {
        if std::time::Instant::now() >= self.until {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the handshake did not end within {} s",
                    self.limit.as_secs_f64()
                ),
            ));
        }
        Ok(())
    }
}

impl<S: Read> Read for Deadline<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.check()?;
        self.inner.read(buf)
    }
}

impl<S: Write> Write for Deadline<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check()?;
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The fixed-newstyle handshake for `name` (the default export when empty):
/// NBD_OPT_GO, falling back to NBD_OPT_EXPORT_NAME for servers without it.
/// It may take at most [`HANDSHAKE_DEADLINE`] (plus one read's own time
/// limit).
pub fn handshake<S: Read + Write>(s: &mut S, name: &str) -> Result<Export, HandshakeError> {
    handshake_within(s, name, HANDSHAKE_DEADLINE)
}

/// [`handshake`] with its own deadline.
pub fn handshake_within<S: Read + Write>(
    s: &mut S,
    name: &str,
    limit: Duration,
) -> Result<Export, HandshakeError> {
    let mut s = Deadline {
        inner: s,
        until: std::time::Instant::now() + limit,
        limit,
    };
    exchange(&mut s, name)
}

fn exchange<S: Read + Write>(s: &mut S, name: &str) -> Result<Export, HandshakeError> {
    let proto = |m: String| HandshakeError::Protocol(m);
    let mut magic = [0u8; 8];
    s.read_exact(&mut magic)?;
    if &magic != NBDMAGIC {
        return Err(proto("not an NBD server (no NBDMAGIC)".into()));
    }
    let kind = read_u64(s)?;
    if kind == OLDSTYLE_MAGIC {
        return Err(proto(
            "the server speaks the old-style protocol, which is not supported".into(),
        ));
    }
    if kind != IHAVEOPT {
        return Err(proto(format!("unknown handshake magic {kind:#x}")));
    }
    let server_flags = read_u16(s)?;
    if server_flags & FLAG_FIXED_NEWSTYLE == 0 {
        return Err(proto(
            "the server does not support the fixed-newstyle handshake".into(),
        ));
    }
    let no_zeroes = server_flags & FLAG_NO_ZEROES != 0;
    let client_flags = u32::from(FLAG_FIXED_NEWSTYLE)
        | if no_zeroes {
            u32::from(FLAG_NO_ZEROES)
        } else {
            0
        };
    s.write_all(&client_flags.to_be_bytes())?;

    // NBD_OPT_GO: name length, name, one information request (block size).
    let mut data = Vec::new();
    data.extend_from_slice(&(name.len() as u32).to_be_bytes());
    data.extend_from_slice(name.as_bytes());
    data.extend_from_slice(&1u16.to_be_bytes());
    data.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
    send_option(s, OPT_GO, &data)?;
    let mut export: Option<(u64, u16)> = None;
    let mut block_size = None;
    loop {
        let magic = read_u64(s)?;
        if magic != REPLY_MAGIC {
            return Err(proto(format!("bad option reply magic {magic:#x}")));
        }
        let _option = read_u32(s)?;
        let reply = read_u32(s)?;
        let len = read_u32(s)?;
        if len > 64 * 1024 {
            return Err(proto(format!("option reply of {len} bytes is too long")));
        }
        let mut payload = vec![0u8; len as usize];
        s.read_exact(&mut payload)?;
        match reply {
            REP_ACK => break,
            REP_INFO
                if payload.len() >= 12
                    && u16::from_be_bytes([payload[0], payload[1]]) == INFO_EXPORT =>
            {
                let size = u64::from_be_bytes(payload[2..10].try_into().unwrap_or([0; 8]));
                let flags = u16::from_be_bytes([payload[10], payload[11]]);
                export = Some((size, flags));
            }
            REP_INFO
                if payload.len() >= 14
                    && u16::from_be_bytes([payload[0], payload[1]]) == INFO_BLOCK_SIZE =>
            {
                // min (2..6), preferred (6..10), max (10..14): the
                // kernel's logical block size is the minimum, so that
                // the disk has the usual 512-byte sectors that partition
                // tools elsewhere expect (nbd-server prefers 4096).
                block_size = Some(u32::from_be_bytes(
                    payload[2..6].try_into().unwrap_or([0; 4]),
                ));
            }
            REP_INFO => {}
            REP_ERR_UNSUP => return export_name(s, name, no_zeroes),
            err if err & (1 << 31) != 0 => {
                // The server's words go to the console: escaped.
                let msg = crate::cmdline::escape_controls(&String::from_utf8_lossy(&payload));
                let what = match err & 0x7fff_ffff {
                    2 => "the export is refused by policy",
                    3 => "invalid request",
                    4 => "the server does not support this platform",
                    5 => "TLS is required",
                    6 => "unknown export",
                    7 => "the server is shutting down",
                    8 => "the block size constraints cannot be met",
                    _ => "error",
                };
                let name = if name.is_empty() { "(default)" } else { name };
                return Err(proto(format!(
                    "export {name}: {what}{}{msg}",
                    if msg.is_empty() { "" } else { ": " }
                )));
            }
            _ => {}
        }
    }
    let (size, flags) = export.ok_or_else(|| {
        proto("the server acknowledged NBD_OPT_GO without describing the export".into())
    })?;
    Ok(Export {
        size,
        flags,
        block_size,
    })
}

fn export_name<S: Read + Write>(
    s: &mut S,
    name: &str,
    no_zeroes: bool,
) -> Result<Export, HandshakeError> {
    send_option(s, OPT_EXPORT_NAME, name.as_bytes())?;
    let size = read_u64(s)?;
    let flags = read_u16(s)?;
    if !no_zeroes {
        let mut zeroes = [0u8; 124];
        s.read_exact(&mut zeroes)?;
    }
    Ok(Export {
        size,
        flags,
        block_size: None,
    })
}

/// Ends a handshake without using the export (NBD_OPT_ABORT), best effort.
pub fn abort<W: Write>(w: &mut W) {
    let _ = send_option(w, OPT_ABORT, &[]);
}

nix::ioctl_write_int_bad!(nbd_set_sock, 0xab00);
nix::ioctl_write_int_bad!(nbd_set_blksize, 0xab01);
nix::ioctl_write_int_bad!(nbd_set_size_blocks, 0xab07);
nix::ioctl_none_bad!(nbd_do_it, 0xab03);
nix::ioctl_none_bad!(nbd_clear_sock, 0xab04);
nix::ioctl_none_bad!(nbd_clear_que, 0xab05);
nix::ioctl_none_bad!(nbd_disconnect, 0xab08);
nix::ioctl_write_int_bad!(nbd_set_timeout, 0xab09);
nix::ioctl_write_int_bad!(nbd_set_flags, 0xab0a);

/// An attached NBD device. [`Attached::detach`] disconnects it.
#[derive(Debug)]
pub struct Attached {
    /// The device node.
    pub device: PathBuf,
    /// The export's size in bytes.
    pub size: u64,
    done: mpsc::Receiver<io::Result<()>>,
}

fn resolve(nbd: &Nbd) -> Result<SocketAddr, NbdError> {
    let err = |reason: String| NbdError::Resolve {
        device: nbd.device.clone(),
        host: nbd.host.clone(),
        reason,
    };
    (nbd.host.as_str(), nbd.port)
        .to_socket_addrs()
        .map_err(|e| err(e.to_string()))?
        .next()
        .ok_or_else(|| err("no address".into()))
}

/// Connects to the server of `nbd` (connections as asked), does the
/// handshake, hands the sockets to the kernel and starts `NBD_DO_IT` in a
/// thread. Returns once the device has its size.
pub fn attach(nbd: &Nbd) -> Result<Attached, NbdError> {
    let addr = resolve(nbd)?;
    let server = format!("{}:{}", nbd.host, nbd.port);
    let device = nbd.device.clone();
    let io_err = |action| {
        let (device, server) = (device.clone(), server.clone());
        move |source| NbdError::Io {
            device,
            server,
            action,
            source,
        }
    };
    let name = nbd.name.as_deref().unwrap_or("");
    let mut sockets = Vec::new();
    let mut export = None;
    for _ in 0..nbd.connections.max(1) {
        let mut sock =
            TcpStream::connect_timeout(&addr, NBD_TIMEOUT).map_err(io_err("cannot connect"))?;
        sock.set_read_timeout(Some(NBD_TIMEOUT))
            .map_err(io_err("set a timeout"))?;
        sock.set_write_timeout(Some(NBD_TIMEOUT))
            .map_err(io_err("set a timeout"))?;
        let _ = sock.set_nodelay(true);
        let e = handshake(&mut sock, name).map_err(|e| match e {
            HandshakeError::Io(source) => NbdError::Io {
                device: device.clone(),
                server: server.clone(),
                action: "handshake",
                source,
            },
            HandshakeError::Protocol(reason) => NbdError::Protocol {
                device: device.clone(),
                server: server.clone(),
                reason,
            },
        })?;
        // The kernel sets its own timeouts on the socket it is given.
        sock.set_read_timeout(None)
            .map_err(io_err("clear the timeout"))?;
        sock.set_write_timeout(None)
            .map_err(io_err("clear the timeout"))?;
        export = Some(e);
        sockets.push(sock);
    }
    let Some(export) = export else {
        return Err(NbdError::Protocol {
            device,
            server,
            reason: "no connection".into(),
        });
    };
    let kernel = |action| {
        let device = device.clone();
        move |e: nix::Error| NbdError::Kernel {
            device,
            action,
            source: io::Error::from(e),
        }
    };
    let path = super::disks::wait_node(device.trim_start_matches("/dev/"), Duration::from_secs(5))
        .map_err(|source| NbdError::Kernel {
            device: device.clone(),
            action: "find the device (is the nbd module loaded?)",
            source,
        })?;
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| NbdError::Kernel {
            device: device.clone(),
            action: "open",
            source,
        })?;
    let fd = dev.as_raw_fd();
    let block = u64::from(
        export
            .block_size
            .filter(|b| b.is_power_of_two())
            .map_or(512, |b| b.clamp(512, 4096)),
    );
    // SAFETY: every ioctl of this block gets `fd`, the open NBD device; the arguments
    // are integers or socket descriptors we own and keep open.
    unsafe {
        nbd_clear_sock(fd).map_err(kernel("NBD_CLEAR_SOCK"))?;
        nbd_set_blksize(fd, block as libc::c_int).map_err(kernel("NBD_SET_BLKSIZE"))?;
        let blocks =
            libc::c_int::try_from(export.size / block).map_err(|_| NbdError::Protocol {
                device: device.clone(),
                server: server.clone(),
                reason: format!("export of {} bytes is too large", export.size),
            })?;
        nbd_set_size_blocks(fd, blocks).map_err(kernel("NBD_SET_SIZE_BLOCKS"))?;
        nbd_set_flags(fd, libc::c_int::from(export.flags)).map_err(kernel("NBD_SET_FLAGS"))?;
        for s in &sockets {
            nbd_set_sock(fd, s.as_raw_fd()).map_err(kernel("NBD_SET_SOCK"))?;
        }
        nbd_set_timeout(fd, 60).map_err(kernel("NBD_SET_TIMEOUT"))?;
    }
    let (tx, rx) = mpsc::channel();
    let thread_device = device.clone();
    std::thread::Builder::new()
        .name(format!("nbd-{}", device.trim_start_matches("/dev/")))
        .spawn(move || {
            // SAFETY: `dev` and the sockets live in this thread until NBD_DO_IT returns.
            let result = unsafe { nbd_do_it(dev.as_raw_fd()) };
            // SAFETY: as above.
            unsafe {
                let _ = nbd_clear_que(dev.as_raw_fd());
                let _ = nbd_clear_sock(dev.as_raw_fd());
            }
            drop(sockets);
            tracing::info!("{thread_device}: NBD connection ended");
            let _ = tx.send(result.map(|_| ()).map_err(io::Error::from));
        })
        .map_err(|source| NbdError::Kernel {
            device: device.clone(),
            action: "start the NBD_DO_IT thread",
            source,
        })?;
    // The size shows in sysfs once the device is started.
    let sys_size = PathBuf::from("/sys/block")
        .join(device.trim_start_matches("/dev/"))
        .join("size");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let size: u64 = std::fs::read_to_string(&sys_size)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        if size > 0 {
            break;
        }
        if let Ok(result) = rx.try_recv() {
            let source = result
                .err()
                .unwrap_or_else(|| io::Error::other("ended at once"));
            return Err(NbdError::Kernel {
                device,
                action: "NBD_DO_IT",
                source,
            });
        }
        if std::time::Instant::now() >= deadline {
            return Err(NbdError::Kernel {
                device,
                action: "wait for the device size",
                source: io::Error::from(io::ErrorKind::TimedOut),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Attached {
        device: path,
        size: export.size,
        done: rx,
    })
}

impl Attached {
    /// Disconnects the device (after everything on it is unmounted) and
    /// waits up to `limit` for the NBD_DO_IT thread to end.
    pub fn detach(self, limit: Duration) -> Result<(), NbdError> {
        let dev = std::fs::File::open(&self.device).map_err(|source| NbdError::Kernel {
            device: self.device.display().to_string(),
            action: "open",
            source,
        })?;
        // SAFETY: NBD_DISCONNECT on the open NBD device.
        let sent = unsafe { nbd_disconnect(dev.as_raw_fd()) };
        if let Err(e) = sent {
            return Err(NbdError::Kernel {
                device: self.device.display().to_string(),
                action: "NBD_DISCONNECT",
                source: io::Error::from(e),
            });
        }
        match self.done.recv_timeout(limit) {
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => Ok(()),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(NbdError::Kernel {
                device: self.device.display().to_string(),
                action: "wait for the disconnection",
                source: io::Error::from(io::ErrorKind::TimedOut),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn reply(opt: u32, kind: u32, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&REPLY_MAGIC.to_be_bytes());
        v.extend_from_slice(&opt.to_be_bytes());
        v.extend_from_slice(&kind.to_be_bytes());
        v.extend_from_slice(&(data.len() as u32).to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    /// A tiny fixed-newstyle server: `go` = support NBD_OPT_GO.
    fn serve(go: bool, known: &'static str) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(NBDMAGIC).unwrap();
            s.write_all(&IHAVEOPT.to_be_bytes()).unwrap();
            s.write_all(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes())
                .unwrap();
            let flags = read_u32(&mut s).unwrap();
            assert_eq!(flags, 3);
            loop {
                assert_eq!(read_u64(&mut s).unwrap(), IHAVEOPT);
                let opt = read_u32(&mut s).unwrap();
                let len = read_u32(&mut s).unwrap();
                let mut data = vec![0; len as usize];
                s.read_exact(&mut data).unwrap();
                match opt {
                    OPT_GO if !go => s.write_all(&reply(opt, REP_ERR_UNSUP, &[])).unwrap(),
                    OPT_GO => {
                        let n = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
                        if &data[4..4 + n] != known.as_bytes() {
                            s.write_all(&reply(opt, (1 << 31) | 6, b"no such export"))
                                .unwrap();
                            continue;
                        }
                        let mut info = INFO_EXPORT.to_be_bytes().to_vec();
                        info.extend_from_slice(&(64u64 << 20).to_be_bytes());
                        info.extend_from_slice(&0x0005u16.to_be_bytes());
                        s.write_all(&reply(opt, REP_INFO, &info)).unwrap();
                        s.write_all(&reply(opt, REP_ACK, &[])).unwrap();
                        return;
                    }
                    OPT_EXPORT_NAME => {
                        s.write_all(&(32u64 << 20).to_be_bytes()).unwrap();
                        s.write_all(&1u16.to_be_bytes()).unwrap();
                        return;
                    }
                    _ => return,
                }
            }
        });
        addr
    }

    #[test]
    fn opt_go() {
        let mut s = TcpStream::connect(serve(true, "disk")).unwrap();
        let e = handshake(&mut s, "disk").unwrap();
        assert_eq!(
            e,
            Export {
                size: 64 << 20,
                flags: 5,
                block_size: None
            }
        );
    }

    #[test]
    fn export_name_fallback() {
        let mut s = TcpStream::connect(serve(false, "")).unwrap();
        let e = handshake(&mut s, "").unwrap();
        assert_eq!(e.size, 32 << 20);
    }

    #[test]
    fn unknown_export_is_a_clear_error() {
        let mut s = TcpStream::connect(serve(true, "disk")).unwrap();
        match handshake(&mut s, "other") {
            Err(HandshakeError::Protocol(m)) => {
                assert_eq!(m, "export other: unknown export: no such export")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_servers() {
        let mut c = std::io::Cursor::new(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec());
        assert!(matches!(
            handshake(&mut Rw(&mut c), ""),
            Err(HandshakeError::Protocol(_))
        ));
        let mut c = std::io::Cursor::new(b"NBDMAG".to_vec());
        assert!(matches!(
            handshake(&mut Rw(&mut c), ""),
            Err(HandshakeError::Io(_))
        ));
        let mut old = NBDMAGIC.to_vec();
        old.extend_from_slice(&OLDSTYLE_MAGIC.to_be_bytes());
        let mut c = std::io::Cursor::new(old);
        match handshake(&mut Rw(&mut c), "") {
            Err(HandshakeError::Protocol(m)) => assert!(m.contains("old-style")),
            other => panic!("{other:?}"),
        }
    }

    /// A server that answers every read at once, with informational replies
    /// that never end (never NBD_REP_ACK): the handshake must end at its
    /// deadline, not loop for ever.
    struct EndlessInfo {
        greeting: std::io::Cursor<Vec<u8>>,
        info: Vec<u8>,
        at: usize,
    }
    impl Read for EndlessInfo {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            let n = self.greeting.read(b)?;
            if n > 0 {
                return Ok(n);
            }
            let n = b.len().min(self.info.len() - self.at);
            b[..n].copy_from_slice(&self.info[self.at..self.at + n]);
            self.at = (self.at + n) % self.info.len();
            Ok(n)
        }
    }
    impl Write for EndlessInfo {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_server_that_never_ends_its_replies_meets_the_deadline() {
        let mut greeting = NBDMAGIC.to_vec();
        greeting.extend_from_slice(&IHAVEOPT.to_be_bytes());
        greeting.extend_from_slice(&FLAG_FIXED_NEWSTYLE.to_be_bytes());
        // An information reply of an unknown type: ignored, read the next.
        let info = reply(OPT_GO, REP_INFO, &[0x7f, 0x7f]);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut server = EndlessInfo {
                greeting: std::io::Cursor::new(greeting),
                info,
                at: 0,
            };
            let _ = tx.send(handshake_within(
                &mut server,
                "",
                Duration::from_millis(300),
            ));
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Err(HandshakeError::Io(e))) => {
                assert_eq!(e.kind(), io::ErrorKind::TimedOut);
                assert_eq!(e.to_string(), "the handshake did not end within 0.3 s");
            }
            Ok(other) => panic!("{other:?}"),
            Err(_) => panic!("the handshake did not end within 20 s: no deadline"),
        }
        assert_eq!(HANDSHAKE_DEADLINE, Duration::from_secs(30));
    }

    #[test]
    fn server_messages_are_escaped() {
        // Found by fuzzing: the server's error text reached the console raw.
        let mut server = NBDMAGIC.to_vec();
        server.extend_from_slice(&IHAVEOPT.to_be_bytes());
        server.extend_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
        server.extend(reply(
            OPT_GO,
            (1 << 31) | 6,
            b"gone\nB2C_PIPELINE_STATUS=0\x1b[2J",
        ));
        let mut c = std::io::Cursor::new(server);
        match handshake(&mut Rw(&mut c), "disk") {
            Err(HandshakeError::Protocol(m)) => assert_eq!(
                m,
                "export disk: unknown export: gone\\nB2C_PIPELINE_STATUS=0\\u{1b}[2J"
            ),
            other => panic!("{other:?}"),
        }
    }

    /// A cursor that reads from its buffer and swallows writes.
    struct Rw<'a>(&'a mut std::io::Cursor<Vec<u8>>);
    impl Read for Rw<'_> {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.0.read(b)
        }
    }
    impl Write for Rw<'_> {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}
