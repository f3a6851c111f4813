//! The disk probes (`storage::probe`): `probe` on a device, `read_gpt`,
//! `filesystem_signature`, `ext_superblock`, `is_zeroed`.
//!
//! The device is sparse, so that real images of megabytes fit in a small
//! seed: the input is a 32-bit gap, a 16-bit head length and a fault byte,
//! then the device's first bytes (the head), then its last bytes (the
//! tail); the gap is zeros between them. Reads return at most one region
//! at a time (short reads), and the fault byte can make one read fail with
//! `Interrupted`, which callers must retry.
//!
//! Invariants:
//! - nothing reads past the end of the device, nor panics, whatever the
//!   device holds, truncated or not (gptman's own panics included);
//! - an interrupted read changes nothing to the result;
//! - what is found prints as one line (labels and partition names come from
//!   the disk and end up on the console);
//! - `probe` agrees with the signature functions on the device's head.

use std::io::{self, Read, Seek, SeekFrom};

use boot2container::storage::probe::{
    ext_superblock, filesystem_signature, is_zeroed, probe, read_gpt, Content, PROBE_LEN,
};

/// A device made of `head`, `gap` zero bytes, then `tail`.
struct Device<'a> {
    head: &'a [u8],
    gap: u64,
    tail: &'a [u8],
    pos: u64,
    /// Reads so far; the read of that number fails with `Interrupted`.
    reads: u32,
    interrupt_at: Option<u32>,
}

impl Device<'_> {
    fn len(&self) -> u64 {
        self.head.len() as u64 + self.gap + self.tail.len() as u64
    }
}

impl Read for Device<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        if Some(self.reads) == self.interrupt_at {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let len = self.len();
        assert!(
            self.pos <= len,
            "read at byte {} of a device of {len} bytes",
            self.pos
        );
        let head = self.head.len() as u64;
        let (src, at): (Option<&[u8]>, u64) = if self.pos < head {
            (Some(self.head), self.pos)
        } else if self.pos < head + self.gap {
            (None, head + self.gap - self.pos)
        } else {
            (Some(self.tail), self.pos - head - self.gap)
        };
        let n = match src {
            Some(s) => {
                let avail = &s[at as usize..];
                let n = buf.len().min(avail.len());
                buf[..n].copy_from_slice(&avail[..n]);
                n
            }
            // `at`: the zeros left in the gap.
            None => {
                let n = buf.len().min(usize::try_from(at).unwrap_or(usize::MAX));
                buf[..n].fill(0);
                n
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Device<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::ErrorKind::InvalidInput.into()),
        }
    }
}

fn check_content(c: &Content) {
    crate::assert_console_safe("probe result", &c.to_string());
}

/// The fuzz target `probe`.
pub fn run(data: &[u8]) {
    let mut input = crate::Input::new(data);
    let gap = u64::from(input.u32());
    let head_len = usize::from(input.u16());
    let fault = input.u8();
    let head = input.bytes(head_len);
    let tail = input.rest();
    let device = |interrupt_at| Device {
        head,
        gap,
        tail,
        pos: 0,
        reads: 0,
        interrupt_at,
    };

    let found = match probe(&mut device(None)) {
        Ok(found) => found,
        Err(e) => panic!("probe failed on a readable device: {e}"),
    };
    if let Some(c) = &found {
        check_content(c);
    }
    if fault != 0 {
        let again = probe(&mut device(Some(u32::from(fault)))).ok();
        assert_eq!(
            again,
            Some(found.clone()),
            "an interrupted read changed the result"
        );
    }

    let gpt = match read_gpt(&mut device(None)) {
        Ok(gpt) => gpt,
        Err(e) => panic!("read_gpt failed on a readable device: {e}"),
    };
    if let Some(g) = &gpt {
        assert!(matches!(g.sector_size, 512 | 4096));
    }

    // The signature functions on the head as probe reads it.
    let first = first_bytes(head, gap, tail, PROBE_LEN);
    let efi = |at: usize| first.get(at..at + 8) == Some(&b"EFI PART"[..]);
    let sig = filesystem_signature(&first);
    if let Some(c) = &sig {
        check_content(c);
    }
    match &found {
        Some(Content::Gpt { .. }) => assert!(efi(512) || efi(4096)),
        Some(Content::Ext { .. }) => assert_eq!(ext_superblock(&first), found),
        _ if !efi(512) && !efi(4096) && sig.is_some() => assert_eq!(sig, found),
        _ => {}
    }

    // Shorter buffers than probe's: nothing may read past their end.
    if let Some(c) = filesystem_signature(head) {
        check_content(&c);
    }
    let _ = ext_superblock(tail);
    let zeroed = is_zeroed(&mut device(None), 4096).ok();
    let expect = first_bytes(head, gap, tail, 4096).iter().all(|&b| b == 0);
    assert_eq!(zeroed, Some(expect));
}

/// The first `n` bytes of the device, zeros past its end.
fn first_bytes(head: &[u8], gap: u64, tail: &[u8], n: usize) -> Vec<u8> {
    let mut out = head.iter().copied().take(n).collect::<Vec<u8>>();
    let zeros = usize::try_from(gap)
        .unwrap_or(usize::MAX)
        .min(n - out.len());
    out.resize(out.len() + zeros, 0);
    let room = n - out.len();
    out.extend(tail.iter().take(room));
    out.resize(n, 0);
    out
}
