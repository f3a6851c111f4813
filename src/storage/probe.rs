//! What a disk or a partition holds, read from its first bytes: partition
//! tables and filesystem signatures (no libblkid, no udev).
//!
//! Every reader takes any `Read + Seek`, so the host tests run it on image
//! files. Short reads (truncated devices) count as zeros; nothing here panics
//! on garbage.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};

/// The label podman's cache filesystem and its GPT partition carry.
pub const CACHE_LABEL: &str = "B2C_CACHE";

/// Offset of the ext2/3/4 superblock.
pub const EXT4_SUPERBLOCK: u64 = 1024;
/// Offset of the magic number inside the ext superblock.
pub const EXT4_MAGIC_OFFSET: usize = 0x38;
/// Offset of the 16-byte volume label inside the ext superblock.
pub const EXT4_LABEL_OFFSET: usize = 0x78;
/// The ext2/3/4 magic number.
pub const EXT4_MAGIC: u16 = 0xEF53;

/// How many bytes at the start of a device [`probe`] reads.
pub const PROBE_LEN: usize = 68 * 1024;

/// A signature found on a disk or a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A GUID partition table; the names of its used partitions.
    Gpt {
        /// `(partition number, GPT name)` of every used entry.
        partitions: Vec<(u32, String)>,
    },
    /// Only the backup GPT header at the end of the disk (primary wiped).
    GptBackup,
    /// An MBR (DOS) partition table, or at least a boot sector signature.
    Mbr,
    /// An ext2, ext3 or ext4 filesystem.
    Ext {
        /// `ext2`, `ext3` or `ext4`.
        version: &'static str,
        /// The volume label (may be empty).
        label: String,
    },
    /// Another filesystem or volume format, by name, with its label if read.
    Other {
        /// `xfs`, `btrfs`, `vfat`, `swap`, `LVM2_member`, ...
        kind: &'static str,
        /// Its label, empty when unknown or unset.
        label: String,
    },
}

impl Content {
    /// True for an ext filesystem labelled B2C_CACHE.
    pub fn is_cache_filesystem(&self) -> bool {
        matches!(self, Content::Ext { label, .. } if label == CACHE_LABEL)
    }

    /// True for a swap signature.
    pub fn is_swap(&self) -> bool {
        matches!(self, Content::Other { kind: "swap", .. })
    }

    /// The filesystem type to mount it with, when it is a filesystem.
    pub fn fstype(&self) -> Option<&'static str> {
        match self {
            Content::Ext { version, .. } => Some(version),
            Content::Other { kind, .. } => match *kind {
                "xfs" | "btrfs" | "vfat" | "iso9660" | "exfat" | "ntfs" => Some(kind),
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Labels and names come from the disk and go to the console.
        use crate::cmdline::escape_controls as shown;
        fn labelled(f: &mut fmt::Formatter<'_>, what: &str, label: &str) -> fmt::Result {
            let label = shown(label);
            if label.is_empty() {
                write!(f, "{what} (no label)")
            } else {
                write!(f, "{what} labelled \"{label}\"")
            }
        }
        match self {
            Content::Gpt { partitions } if partitions.is_empty() => {
                write!(f, "an empty GPT partition table")
            }
            Content::Gpt { partitions } => {
                write!(f, "a GPT partition table (")?;
                for (i, (n, name)) in partitions.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    if name.is_empty() {
                        write!(f, "#{n}")?;
                    } else {
                        write!(f, "#{n} \"{}\"", shown(name))?;
                    }
                }
                write!(f, ")")
            }
            Content::GptBackup => write!(f, "a backup GPT header (primary header damaged)"),
            Content::Mbr => write!(f, "an MBR partition table or boot sector"),
            Content::Ext { version, label } => {
                labelled(f, &format!("an {version} filesystem"), label)
            }
            Content::Other { kind, label } => labelled(f, &format!("a {kind} signature"), label),
        }
    }
}

/// Reads up to `buf.len()` bytes at `offset`; what lies past the end is zero.
fn read_at<R: Read + Seek + ?Sized>(dev: &mut R, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    buf.fill(0);
    dev.seek(SeekFrom::Start(offset))?;
    let mut done = 0;
    while done < buf.len() {
        match dev.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn le16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .unwrap_or(0)
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

fn bytes_at(b: &[u8], at: usize, len: usize) -> &[u8] {
    b.get(at..at + len).unwrap_or(&[])
}

/// A label stored as a NUL-padded byte string.
fn c_label(raw: &[u8]) -> String {
    let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).trim_end().to_string()
}

/// The ext2/3/4 filesystem described by the superblock at byte 1024 of
/// `head`, if its magic number is there.
pub fn ext_superblock(head: &[u8]) -> Option<Content> {
    let sb = head.get(EXT4_SUPERBLOCK as usize..EXT4_SUPERBLOCK as usize + 1024)?;
    if le16(sb, EXT4_MAGIC_OFFSET) != EXT4_MAGIC {
        return None;
    }
    let compat = le32(sb, 0x5C);
    let incompat = le32(sb, 0x60);
    let ro_compat = le32(sb, 0x64);
    // ext4-only features: extents, 64bit, flex_bg, ... / huge_file, dir_nlink, ...
    let version = if incompat & !0x0006 != 0 || ro_compat & !0x0007 != 0 {
        "ext4"
    } else if compat & 0x0004 != 0 {
        "ext3"
    } else {
        "ext2"
    };
    Some(Content::Ext {
        version,
        label: c_label(bytes_at(sb, EXT4_LABEL_OFFSET, 16)),
    })
}

/// Filesystem and volume signatures in the first [`PROBE_LEN`] bytes.
pub fn filesystem_signature(head: &[u8]) -> Option<Content> {
    if let Some(ext) = ext_superblock(head) {
        return Some(ext);
    }
    let other = |kind, label: String| Some(Content::Other { kind, label });
    if bytes_at(head, 0, 4) == b"XFSB" {
        return other("xfs", c_label(bytes_at(head, 108, 12)));
    }
    if bytes_at(head, 0x10040, 8) == b"_BHRfS_M" {
        return other("btrfs", c_label(bytes_at(head, 0x1012B, 256)));
    }
    if bytes_at(head, 0, 6) == b"LUKS\xba\xbe" {
        return other("crypto_LUKS", String::new());
    }
    if bytes_at(head, 0, 4) == b"SKL-" || bytes_at(head, 0, 6) == b"SKUL\xba\xbe" {
        return other("crypto_LUKS", String::new());
    }
    for sector in 0..4 {
        if bytes_at(head, sector * 512, 8) == b"LABELONE"
            && bytes_at(head, sector * 512 + 24, 8) == b"LVM2 001"
        {
            return other("LVM2_member", String::new());
        }
    }
    for page in [4096usize, 8192, 16384, 65536] {
        let magic = bytes_at(head, page - 10, 10);
        if magic == b"SWAPSPACE2" || magic == b"SWAP-SPACE" {
            return other("swap", c_label(bytes_at(head, 1024 + 28, 16)));
        }
    }
    if bytes_at(head, 0x8001, 5) == b"CD001" {
        return other("iso9660", c_label(bytes_at(head, 0x8028, 32)));
    }
    if bytes_at(head, 3, 8) == b"NTFS    " {
        return other("ntfs", String::new());
    }
    if bytes_at(head, 3, 8) == b"EXFAT   " {
        return other("exfat", String::new());
    }
    // Linux MD RAID superblocks 1.1 (offset 0) and 1.2 (offset 4096).
    if le32(head, 0) == 0xa92b_4efc || le32(head, 4096) == 0xa92b_4efc {
        return other("linux_raid_member", String::new());
    }
    if bytes_at(head, 510, 2) == [0x55, 0xAA] {
        if bytes_at(head, 82, 5) == b"FAT32" {
            return other("vfat", fat_label(bytes_at(head, 71, 11)));
        }
        if bytes_at(head, 54, 5) == b"FAT12" || bytes_at(head, 54, 5) == b"FAT16" {
            return other("vfat", fat_label(bytes_at(head, 43, 11)));
        }
    }
    None
}

fn fat_label(raw: &[u8]) -> String {
    let label = c_label(raw);
    if label == "NO NAME" {
        String::new()
    } else {
        label
    }
}

/// Largest GPT entry array we accept to read (entries x entry size).
const GPT_MAX_ENTRIES: u32 = 1024;

/// Reads the GPT (primary, or backup when the primary is damaged) with
/// gptman, after checking the header fields gptman trusts, so that a crafted
/// or random header cannot make it allocate or overflow.
pub fn read_gpt<R: Read + Seek + ?Sized>(dev: &mut R) -> io::Result<Option<gptman::GPT>> {
    let len = dev.seek(SeekFrom::End(0))?;
    for sector in [512u64, 4096] {
        if sector + 92 > len {
            continue;
        }
        let mut header = [0u8; 92];
        read_at(dev, sector, &mut header)?;
        if &header[..8] != b"EFI PART" {
            continue;
        }
        // gptman falls back to the backup header (the disk's last sector)
        // when the primary one is damaged: both must pass the checks.
        let mut backup = [0u8; 92];
        read_at(dev, (len / sector - 1) * sector, &mut backup)?;
        let backup_used = &backup[..8] == b"EFI PART";
        if !sane_gpt_header(&header, sector, len)
            || backup_used && !sane_gpt_header(&backup, sector, len)
        {
            return Ok(None);
        }
        return Ok(read_gpt_checked(dev, sector));
    }
    Ok(None)
}

/// Whether gptman can be trusted with a GPT header: its entry array is of
/// a sane size and lies on the device.
fn sane_gpt_header(header: &[u8; 92], sector: u64, len: u64) -> bool {
    let entries = le32(header, 80);
    let entry_size = le32(header, 84);
    let entry_lba = u64::from_le_bytes(header[72..80].try_into().unwrap_or([0; 8]));
    let array_end = entry_lba
        .checked_mul(sector)
        .and_then(|start| start.checked_add(u64::from(entries) * u64::from(entry_size)));
    entries != 0
        && entries <= GPT_MAX_ENTRIES
        && entry_size == 128
        && array_end.is_some_and(|end| end <= len)
}

fn read_gpt_checked<R: Read + Seek + ?Sized>(dev: &mut R, sector: u64) -> Option<gptman::GPT> {
    // gptman computes an alignment with an `unwrap` that a used entry
    // starting at LBA 0 would trip: refuse such tables ourselves.
    let gpt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        gptman::GPT::read_from(dev, sector).ok()
    }))
    .ok()
    .flatten()?;
    Some(gpt)
}

/// The names of the used partitions of a GPT.
pub fn gpt_partitions(gpt: &gptman::GPT) -> Vec<(u32, String)> {
    gpt.iter()
        .filter(|(_, e)| e.is_used())
        .map(|(n, e)| (n, e.partition_name.as_str().to_string()))
        .collect()
}

/// What `dev` (a whole disk or a partition) holds, from its first bytes and,
/// for a backup GPT, its last sector. `None`: no signature at all.
pub fn probe<R: Read + Seek + ?Sized>(dev: &mut R) -> io::Result<Option<Content>> {
    let mut head = vec![0u8; PROBE_LEN];
    read_at(dev, 0, &mut head)?;
    if bytes_at(&head, 512, 8) == b"EFI PART" || bytes_at(&head, 4096, 8) == b"EFI PART" {
        let partitions = read_gpt(dev)?
            .map(|g| gpt_partitions(&g))
            .unwrap_or_default();
        return Ok(Some(Content::Gpt { partitions }));
    }
    if let Some(fs) = filesystem_signature(&head) {
        return Ok(Some(fs));
    }
    if bytes_at(&head, 510, 2) == [0x55, 0xAA] {
        return Ok(Some(Content::Mbr));
    }
    let len = dev.seek(SeekFrom::End(0))?;
    // The backup header is the last logical block: 512 bytes, or 4096 on
    // 4Kn disks.
    for sector in [512u64, 4096] {
        if len >= 2 * sector {
            let mut last = [0u8; 8];
            read_at(dev, len - sector, &mut last)?;
            if &last == b"EFI PART" {
                return Ok(Some(Content::GptBackup));
            }
        }
    }
    Ok(None)
}

/// How much `auto` reads at the start and at the end of a disk.
pub const BLANK_EDGE: u64 = 1 << 20;
/// How many windows inside the disk `auto` samples, and their size.
pub const BLANK_SAMPLES: u64 = 8;
const BLANK_SAMPLE_LEN: u64 = 64 * 1024;

/// The second half of `auto`'s blankness rule, for a disk on which
/// [`probe`] found no signature: its first and last MiB, and
/// [`BLANK_SAMPLES`] windows spread over it, must read as zeros. Metadata
/// at the end of a disk (MD RAID 0.90/1.0, firmware RAID), formats this
/// probe does not know (bcache, ZFS, F2FS...) and data without any
/// signature are caught here. `None`: all zeros; otherwise where data was
/// found.
pub fn data_outside_signatures<R: Read + Seek + ?Sized>(dev: &mut R) -> io::Result<Option<String>> {
    let len = dev.seek(SeekFrom::End(0))?;
    let mut regions: Vec<(u64, u64, String)> = vec![
        (0, len.min(BLANK_EDGE), "its first MiB".to_string()),
        (
            len.saturating_sub(BLANK_EDGE),
            len.min(BLANK_EDGE),
            "its last MiB".to_string(),
        ),
    ];
    for i in 1..=BLANK_SAMPLES {
        let at = len / (BLANK_SAMPLES + 1) * i;
        let at = at - at % 4096;
        regions.push((
            at,
            BLANK_SAMPLE_LEN.min(len.saturating_sub(at)),
            format!("the sample at {} MiB", at >> 20),
        ));
    }
    let mut buf = Vec::new();
    for (at, size, name) in regions {
        buf.clear();
        buf.resize(size as usize, 0);
        read_at(dev, at, &mut buf)?;
        if let Some(offset) = buf.iter().position(|&b| b != 0) {
            return Ok(Some(format!(
                "{name} holds data (a non-zero byte at offset {}) but no signature this probe knows",
                at + offset as u64
            )));
        }
    }
    Ok(None)
}

/// True when the first `len` bytes of `dev` are all zeros (a partition that
/// was created but never formatted).
pub fn is_zeroed<R: Read + Seek + ?Sized>(dev: &mut R, len: usize) -> io::Result<bool> {
    let mut head = vec![0u8; len];
    read_at(dev, 0, &mut head)?;
    Ok(head.iter().all(|&b| b == 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn ext(label: &[u8], incompat: u32) -> Vec<u8> {
        let mut img = vec![0u8; PROBE_LEN];
        img[1024 + 0x38..1024 + 0x3A].copy_from_slice(&EXT4_MAGIC.to_le_bytes());
        img[1024 + 0x60..1024 + 0x64].copy_from_slice(&incompat.to_le_bytes());
        img[1024 + 0x78..1024 + 0x78 + label.len()].copy_from_slice(label);
        img
    }

    #[test]
    fn ext_labels_and_versions() {
        let c = probe(&mut Cursor::new(ext(b"B2C_CACHE", 0x40)))
            .unwrap()
            .unwrap();
        assert!(c.is_cache_filesystem());
        assert_eq!(c.fstype(), Some("ext4"));
        let c = probe(&mut Cursor::new(ext(b"data", 0x2))).unwrap().unwrap();
        assert_eq!(
            c,
            Content::Ext {
                version: "ext2",
                label: "data".into()
            }
        );
        assert_eq!(c.to_string(), "an ext2 filesystem labelled \"data\"");
        // A 16-byte label without a NUL.
        let c = ext_superblock(&ext(b"0123456789abcdef", 0x40)).unwrap();
        assert_eq!(
            c,
            Content::Ext {
                version: "ext4",
                label: "0123456789abcdef".into()
            }
        );
    }

    #[test]
    fn labels_are_shown_escaped() {
        // Found by fuzzing: labels from the disk reached the console raw.
        let c = probe(&mut Cursor::new(ext(b"a\nB2C\x1b[2J", 0x40)))
            .unwrap()
            .unwrap();
        assert_eq!(
            c.to_string(),
            "an ext4 filesystem labelled \"a\\nB2C\\u{1b}[2J\""
        );
        let gpt = Content::Gpt {
            partitions: vec![(1, "x\ry".into())],
        };
        assert_eq!(gpt.to_string(), "a GPT partition table (#1 \"x\\ry\")");
    }

    #[test]
    fn empty_truncated_and_garbage_devices() {
        assert_eq!(probe(&mut Cursor::new(Vec::new())).unwrap(), None);
        assert_eq!(probe(&mut Cursor::new(vec![0u8; 100])).unwrap(), None);
        assert_eq!(probe(&mut Cursor::new(vec![0u8; 1 << 20])).unwrap(), None);
        // A superblock cut in the middle of its magic.
        let img = ext(b"B2C_CACHE", 0x40);
        assert_eq!(
            probe(&mut Cursor::new(img[..1024 + 0x39].to_vec())).unwrap(),
            None
        );
        // Pseudo-random bytes: whatever is found, no panic.
        let mut x: u32 = 12345;
        let garbage: Vec<u8> = (0..200_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        // Pseudo-random bytes carry no signature, and are never blank.
        let mut dev = Cursor::new(garbage);
        assert_eq!(probe(&mut dev).unwrap(), None);
        let why = data_outside_signatures(&mut dev).unwrap();
        assert!(why.is_some_and(|w| w.starts_with("its first MiB holds data")));
    }

    #[test]
    fn a_backup_gpt_alone_is_found_on_512_and_4096_byte_sectors() {
        for sector in [512usize, 4096] {
            let mut img = vec![0u8; 4 << 20];
            let at = img.len() - sector;
            img[at..at + 8].copy_from_slice(b"EFI PART");
            assert_eq!(
                probe(&mut Cursor::new(img)).unwrap(),
                Some(Content::GptBackup),
                "sector size {sector}"
            );
        }
    }

    #[test]
    fn crafted_gpt_headers_are_refused_not_trusted() {
        let mut img = vec![0u8; 1 << 20];
        img[512..520].copy_from_slice(b"EFI PART");
        // Four billion entries.
        img[512 + 80..512 + 84].copy_from_slice(&u32::MAX.to_le_bytes());
        img[512 + 84..512 + 88].copy_from_slice(&128u32.to_le_bytes());
        img[512 + 72..512 + 80].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(read_gpt(&mut Cursor::new(img.clone())).unwrap().is_none());
        assert_eq!(
            probe(&mut Cursor::new(img)).unwrap(),
            Some(Content::Gpt { partitions: vec![] })
        );
    }

    /// A device that refuses reads past its end (found by fuzzing: the
    /// GPT headers were read on devices too short to hold them).
    struct Strict(Cursor<Vec<u8>>);

    impl Read for Strict {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let len = self.0.get_ref().len() as u64;
            if self.0.position() > len {
                return Err(io::Error::other(format!(
                    "read at {} past the end ({len})",
                    self.0.position()
                )));
            }
            self.0.read(buf)
        }
    }

    impl Seek for Strict {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.0.seek(to)
        }
    }

    /// CRC-32 (IEEE), as GPT headers carry it.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            }
        }
        !crc
    }

    /// A GPT header at `lba` of a `size`-byte disk, CRC right or wrong.
    fn gpt_header(size: u64, lba: u64, entries: u32, crc_ok: bool) -> Vec<u8> {
        let mut h = b"EFI PART".to_vec();
        h.extend_from_slice(&0x0001_0000u32.to_le_bytes());
        h.extend_from_slice(&92u32.to_le_bytes());
        h.extend_from_slice(&[0; 8]); // CRC, reserved
        for v in [lba, size / 512 - 1 - lba + 1, 34, size / 512 - 34] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h.extend_from_slice(&[0; 16]);
        h.extend_from_slice(&2u64.to_le_bytes());
        h.extend_from_slice(&entries.to_le_bytes());
        h.extend_from_slice(&128u32.to_le_bytes());
        h.extend_from_slice(&[0; 4]);
        let crc = crc32(&h) ^ u32::from(!crc_ok);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    }

    #[test]
    fn a_crafted_backup_gpt_header_is_refused() {
        // Found while writing the probe fuzz target: with the primary
        // header damaged (bad CRC), gptman reads the backup header, which
        // was not checked: four billion entries made it allocate 650 GB,
        // and the failed allocation aborts the init.
        let size = 1u64 << 20;
        let mut img = vec![0u8; size as usize];
        img[512..604].copy_from_slice(&gpt_header(size, 1, 128, false));
        let last = (size - 512) as usize;
        img[last..last + 92].copy_from_slice(&gpt_header(size, size / 512 - 1, u32::MAX, true));
        assert!(read_gpt(&mut Cursor::new(img.clone())).unwrap().is_none());
        assert_eq!(
            probe(&mut Cursor::new(img)).unwrap(),
            Some(Content::Gpt { partitions: vec![] })
        );
    }

    #[test]
    fn short_devices_are_read_within_their_end() {
        for len in [0, 100, 600, 4000] {
            let mut dev = Strict(Cursor::new(vec![0u8; len]));
            assert!(read_gpt(&mut dev).unwrap().is_none(), "{len} bytes");
            assert_eq!(probe(&mut dev).unwrap(), None, "{len} bytes");
        }
    }

    #[test]
    fn data_without_a_signature_is_found() {
        // 64 MiB of zeros: blank.
        let size = 64usize << 20;
        let mut img = Cursor::new(vec![0u8; size]);
        assert_eq!(data_outside_signatures(&mut img).unwrap(), None);
        // MD 1.0 / firmware RAID keep their metadata near the end.
        img.get_mut()[size - 8192] = 0xA9;
        let why = data_outside_signatures(&mut img).unwrap().unwrap();
        assert!(why.starts_with("its last MiB holds data"), "{why}");
        // Data in the middle only (a filesystem with its head wiped).
        let mut img = Cursor::new(vec![0u8; size]);
        let at = size / 9 * 4;
        img.get_mut()[at + 100] = 1;
        let why = data_outside_signatures(&mut img).unwrap().unwrap();
        assert!(why.starts_with("the sample at"), "{why}");
        // Data in the first MiB but past the signature probe.
        let mut img = Cursor::new(vec![0u8; size]);
        img.get_mut()[900 * 1024] = 7;
        let why = data_outside_signatures(&mut img).unwrap().unwrap();
        assert!(why.starts_with("its first MiB holds data"), "{why}");
        // Tiny and empty devices never panic.
        for len in [0usize, 1, 4096, 1 << 20] {
            let mut img = Cursor::new(vec![0u8; len]);
            assert_eq!(data_outside_signatures(&mut img).unwrap(), None);
        }
    }

    #[test]
    fn other_signatures() {
        let mut img = vec![0u8; PROBE_LEN];
        img[..4].copy_from_slice(b"XFSB");
        img[108..112].copy_from_slice(b"logs");
        assert_eq!(
            probe(&mut Cursor::new(img)).unwrap().unwrap().to_string(),
            "a xfs signature labelled \"logs\""
        );
        let mut img = vec![0u8; PROBE_LEN];
        img[4086..4096].copy_from_slice(b"SWAPSPACE2");
        assert!(probe(&mut Cursor::new(img)).unwrap().unwrap().is_swap());
        let mut img = vec![0u8; PROBE_LEN];
        img[..6].copy_from_slice(b"LUKS\xba\xbe");
        assert_eq!(
            probe(&mut Cursor::new(img)).unwrap().unwrap().fstype(),
            None
        );
        let mut img = vec![0u8; PROBE_LEN];
        img[510] = 0x55;
        img[511] = 0xAA;
        assert_eq!(probe(&mut Cursor::new(img)).unwrap(), Some(Content::Mbr));
        let mut img = vec![0u8; 1 << 20];
        let at = img.len() - 512;
        img[at..at + 8].copy_from_slice(b"EFI PART");
        assert_eq!(
            probe(&mut Cursor::new(img)).unwrap(),
            Some(Content::GptBackup)
        );
    }
}
