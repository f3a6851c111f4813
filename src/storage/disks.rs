//! Block devices without udev: the disks and partitions the kernel lists in
//! sysfs, their device nodes (made by devtmpfs), what they hold, and a new
//! GPT with one B2C_CACHE partition.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::probe::{self, Content, CACHE_LABEL};

/// One partition of a disk, as the kernel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Kernel name (`vda1`, `nvme0n1p1`).
    pub name: String,
    /// Partition number in the table.
    pub number: u32,
}

impl Partition {
    /// Its device node.
    pub fn dev(&self) -> PathBuf {
        Path::new("/dev").join(&self.name)
    }
}

/// A whole disk listed in /sys/block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// Kernel name (`vda`, `sda`, `nbd0`).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// `/sys/block/NAME/ro`.
    pub read_only: bool,
    /// `/sys/block/NAME/removable`.
    pub removable: bool,
    /// SCSI type 5 (CD/DVD) or an `sr` device.
    pub optical: bool,
    /// An MTD (raw flash) block device: `mtdblockN`, or its parent is MTD.
    pub mtd: bool,
    /// `/sys/block/NAME/holders`: devices built on it (MD RAID members,
    /// device-mapper, bcache backing devices...).
    pub holders: Vec<String>,
    /// Its partitions, by number.
    pub partitions: Vec<Partition>,
}

impl Disk {
    /// Its device node.
    pub fn dev(&self) -> PathBuf {
        Path::new("/dev").join(&self.name)
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// Reads one disk's description from `sys_block/NAME`.
pub fn read_disk(sys_block: &Path, name: &str) -> Option<Disk> {
    let dir = sys_block.join(name);
    let sectors: u64 = read_trimmed(&dir.join("size"))?.parse().ok()?;
    let flag = |f: &str| read_trimmed(&dir.join(f)).as_deref() == Some("1");
    let mut partitions: Vec<Partition> = fs::read_dir(&dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let part = e.file_name().to_string_lossy().into_owned();
            let number = read_trimmed(&dir.join(&part).join("partition"))?
                .parse()
                .ok()?;
            Some(Partition { name: part, number })
        })
        .collect();
    partitions.sort_by_key(|p| p.number);
    let mut holders: Vec<String> = fs::read_dir(dir.join("holders"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    holders.sort();
    let subsystem = fs::read_link(dir.join("device/subsystem"))
        .ok()
        .and_then(|l| l.file_name().map(|n| n.to_string_lossy().into_owned()));
    Some(Disk {
        name: name.to_string(),
        size: sectors.saturating_mul(512),
        read_only: flag("ro"),
        removable: flag("removable"),
        optical: name.starts_with("sr")
            || read_trimmed(&dir.join("device/type")).as_deref() == Some("5"),
        mtd: name.starts_with("mtd") || subsystem.as_deref() == Some("mtd"),
        holders,
        partitions,
    })
}

/// Every disk of `sys_block` (normally /sys/block), sorted by name.
pub fn list_disks(sys_block: &Path) -> Vec<Disk> {
    let mut names: Vec<String> = fs::read_dir(sys_block)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .filter_map(|n| read_disk(sys_block, n))
        .collect()
}

/// Why `auto` never looks at this disk at all, or `None` when it may.
/// `nbds` are the NBD devices attached by `b2c.nbd` (the others are skipped).
pub fn ignored_reason(disk: &Disk, nbds: &[String]) -> Option<String> {
    let n = disk.name.as_str();
    let virtual_prefixes = ["loop", "ram", "zram", "dm-", "md", "fd"];
    if virtual_prefixes.iter().any(|p| n.starts_with(p)) {
        return Some("a virtual device".into());
    }
    if n.starts_with("nbd") && !nbds.iter().any(|d| d.trim_start_matches("/dev/") == n) {
        return Some("an NBD device not attached by b2c.nbd".into());
    }
    if disk.mtd {
        return Some("an MTD (raw flash) device".into());
    }
    if disk.optical {
        return Some("an optical drive".into());
    }
    if disk.read_only {
        return Some("read-only".into());
    }
    if disk.size == 0 {
        return Some("empty (no medium)".into());
    }
    if !disk.holders.is_empty() {
        return Some(format!(
            "in use by {} (a RAID, device-mapper or bcache device is built on it)",
            disk.holders.join(", ")
        ));
    }
    None
}

/// The device node `/dev/NAME`, waiting up to `limit` for devtmpfs to make
/// it, then making it ourselves from sysfs's `dev` (major:minor).
pub fn wait_node(name: &str, limit: Duration) -> io::Result<PathBuf> {
    let node = Path::new("/dev").join(name);
    let deadline = Instant::now() + limit;
    loop {
        if fs::metadata(&node).is_ok_and(|m| m.file_type().is_block_device()) {
            return Ok(node);
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let devno =
        read_trimmed(&Path::new("/sys/class/block").join(name).join("dev")).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no block device {name} in /sys/class/block"),
            )
        })?;
    let (major, minor) = devno
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .ok_or_else(|| io::Error::other(format!("bad device number \"{devno}\" for {name}")))?;
    nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFBLK,
        nix::sys::stat::Mode::from_bits_truncate(0o660),
        nix::sys::stat::makedev(major, minor),
    )
    .map_err(io::Error::from)?;
    Ok(node)
}

/// Waits up to `limit` for the block device `path` (`/dev/...`) to exist.
pub fn wait_path(path: &Path, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device()) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where a device node lives in sysfs: `(disk name, partition number)`,
/// partition `None` for a whole disk.
pub fn sysfs_location(path: &Path) -> io::Result<(String, Option<u32>)> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path)?;
    if !meta.file_type().is_block_device() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a block device",
        ));
    }
    let rdev = meta.rdev();
    let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
    let dir = fs::canonicalize(format!("/sys/dev/block/{major}:{minor}"))?;
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    match read_trimmed(&dir.join("partition")).and_then(|n| n.parse().ok()) {
        Some(number) => {
            let disk = dir
                .parent()
                .and_then(name)
                .ok_or_else(|| io::Error::other("no parent disk in sysfs"))?;
            Ok((disk, Some(number)))
        }
        None => Ok((name(&dir).unwrap_or_default(), None)),
    }
}

/// What the device at `path` holds.
pub fn probe_path(path: &Path) -> io::Result<Option<Content>> {
    probe::probe(&mut File::open(path)?)
}

/// Where a cache was found on a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheSpot {
    /// A partition named or labelled B2C_CACHE.
    Partition(Partition),
    /// The whole disk holds the B2C_CACHE filesystem (no partition table).
    WholeDisk,
}

/// Looks for the cache on `disk`: a GPT partition named B2C_CACHE, or a
/// partition or the whole disk holding an ext filesystem labelled B2C_CACHE.
/// `content` is what the whole disk holds; `part_content` reads a partition.
pub fn find_cache(
    disk: &Disk,
    content: Option<&Content>,
    mut part_content: impl FnMut(&Partition) -> Option<Content>,
) -> Option<CacheSpot> {
    match content {
        Some(c) if c.is_cache_filesystem() => return Some(CacheSpot::WholeDisk),
        Some(Content::Gpt { partitions }) => {
            let named = partitions
                .iter()
                .find(|(_, name)| name == CACHE_LABEL)
                .and_then(|(n, _)| disk.partitions.iter().find(|p| p.number == *n));
            if let Some(p) = named {
                return Some(CacheSpot::Partition(p.clone()));
            }
        }
        _ => {}
    }
    disk.partitions
        .iter()
        .find(|p| part_content(p).is_some_and(|c| c.is_cache_filesystem()))
        .map(|p| CacheSpot::Partition(p.clone()))
}

/// The "Linux filesystem data" partition type, in GPT byte order.
pub const LINUX_DATA_GUID: [u8; 16] = [
    0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4,
];

/// Zeroes the first and last MiB of `dev` (old signatures), then writes a
/// protective MBR and a GPT with one partition named B2C_CACHE spanning the
/// disk, aligned on 1 MiB.
pub fn write_cache_gpt<D>(dev: &mut D, sector_size: u64) -> Result<(), gptman::Error>
where
    D: io::Read + io::Write + io::Seek,
{
    use io::SeekFrom;
    let len = dev.seek(SeekFrom::End(0))?;
    let zeros = vec![0u8; 1 << 20];
    let head = len.min(1 << 20);
    dev.seek(SeekFrom::Start(0))?;
    dev.write_all(&zeros[..head as usize])?;
    let tail_start = len.saturating_sub(1 << 20).max(head);
    dev.seek(SeekFrom::Start(tail_start))?;
    dev.write_all(&zeros[..(len - tail_start) as usize])?;
    let mut gpt = gptman::GPT::new_from(dev, sector_size, random_uuid())?;
    let align = (1 << 20) / sector_size;
    gpt.align = align;
    let first = gpt.header.first_usable_lba.div_ceil(align) * align;
    let last = gpt.header.last_usable_lba;
    if last <= first {
        return Err(gptman::Error::InvalidPartitionBoundaries);
    }
    gpt[1] = gptman::GPTPartitionEntry {
        partition_type_guid: LINUX_DATA_GUID,
        unique_partition_guid: random_uuid(),
        starting_lba: first,
        ending_lba: last,
        attribute_bits: 0,
        partition_name: CACHE_LABEL.into(),
    };
    gpt.write_into(dev)?;
    gptman::GPT::write_protective_mbr_into(dev, sector_size)?;
    dev.flush()?;
    Ok(())
}

/// The logical sector size of a disk (512 when sysfs does not say).
pub fn sector_size(disk: &str) -> u64 {
    read_trimmed(
        &Path::new("/sys/block")
            .join(disk)
            .join("queue/logical_block_size"),
    )
    .and_then(|s| s.parse().ok())
    .filter(|&s: &u64| s >= 512 && s.is_power_of_two())
    .unwrap_or(512)
}

nix::ioctl_none!(blkrrpart, 0x12, 95);

/// Why a disk may be partitioned for the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// `auto` (or `reset`) picked it because it is blank: it is written only
    /// if it is still blank once opened exclusively.
    Blank,
    /// The operator named it (`b2c.cache_device=/dev/DISK`): naming a disk
    /// is consent to erase it.
    Named,
}

/// Partitions `disk` for the cache, asks the kernel to re-read its table,
/// and waits up to `limit` for partition 1 to appear. Returns it.
///
/// The disk is opened exclusively (`O_EXCL`: the kernel refuses while it is
/// mounted or claimed by RAID, device-mapper or swap); with
/// [`Consent::Blank`], its blankness is checked again through that
/// descriptor before anything is written.
pub fn partition_for_cache(disk: &str, consent: Consent, limit: Duration) -> io::Result<Partition> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let path = Path::new("/dev").join(disk);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_EXCL)
        .open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("opening it exclusively: {e}")))?;
    if consent == Consent::Blank {
        if let Some(content) = probe::probe(&mut file)? {
            return Err(io::Error::other(format!(
                "it is not blank any more ({content}): not written"
            )));
        }
        if let Some(why) = probe::data_outside_signatures(&mut file)? {
            return Err(io::Error::other(format!("{why}: not written")));
        }
    }
    write_cache_gpt(&mut file, sector_size(disk))
        .map_err(|e| io::Error::other(format!("writing the partition table: {e}")))?;
    file.sync_all()?;
    // SAFETY: BLKRRPART takes no argument; the descriptor is an open block device.
    unsafe { blkrrpart(file.as_raw_fd()) }.map_err(|e| {
        io::Error::other(format!(
            "the kernel did not re-read the partition table (BLKRRPART): {e}"
        ))
    })?;
    drop(file);
    let deadline = Instant::now() + limit;
    loop {
        if let Some(p) = read_disk(Path::new("/sys/block"), disk)
            .and_then(|d| d.partitions.into_iter().find(|p| p.number == 1))
        {
            let remaining = deadline.saturating_duration_since(Instant::now());
            wait_node(&p.name, remaining)?;
            return Ok(p);
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("partition 1 did not appear within {} s", limit.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A random version-4 UUID (from the kernel's generator).
pub fn random_uuid() -> [u8; 16] {
    let mut uuid = [0u8; 16];
    let text = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap_or_default();
    let hex: Vec<u8> = text.trim().bytes().filter(u8::is_ascii_hexdigit).collect();
    for (i, pair) in hex.chunks(2).take(16).enumerate() {
        let s = std::str::from_utf8(pair).unwrap_or("0");
        uuid[i] = u8::from_str_radix(s, 16).unwrap_or(0);
    }
    uuid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_sys(dir: &Path, name: &str, files: &[(&str, &str)]) {
        for (f, v) in files {
            let p = dir.join(name).join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, v).unwrap();
        }
    }

    #[test]
    fn sysfs_disks_and_skips() {
        let tmp = std::env::temp_dir().join(format!("b2c-sys-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fake_sys(
            &tmp,
            "vda",
            &[
                ("size", "2048\n"),
                ("ro", "0"),
                ("removable", "0"),
                ("vda2/partition", "2"),
                ("vda1/partition", "1"),
            ],
        );
        fake_sys(&tmp, "sr0", &[("size", "100"), ("ro", "1")]);
        fake_sys(&tmp, "loop0", &[("size", "0")]);
        fake_sys(&tmp, "nbd0", &[("size", "100")]);
        fake_sys(&tmp, "vdb", &[("size", "100"), ("ro", "1")]);
        fake_sys(&tmp, "vdc", &[("size", "100"), ("holders/md127", "")]);
        fake_sys(&tmp, "mtdblock0", &[("size", "100")]);
        let disks = list_disks(&tmp);
        let names: Vec<_> = disks.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            ["loop0", "mtdblock0", "nbd0", "sr0", "vda", "vdb", "vdc"]
        );
        let disks: Vec<Disk> = disks
            .into_iter()
            .filter(|d| d.name != "mtdblock0")
            .collect();
        let vda = &disks[3];
        assert_eq!(vda.size, 1 << 20);
        assert_eq!(
            vda.partitions.iter().map(|p| p.number).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(ignored_reason(vda, &[]), None);
        assert_eq!(
            ignored_reason(&disks[0], &[]).as_deref(),
            Some("a virtual device")
        );
        assert!(ignored_reason(&disks[1], &[])
            .unwrap()
            .contains("not attached"));
        assert_eq!(ignored_reason(&disks[1], &["/dev/nbd0".into()]), None);
        assert_eq!(
            ignored_reason(&disks[2], &[]).as_deref(),
            Some("an optical drive")
        );
        assert_eq!(ignored_reason(&disks[4], &[]).as_deref(), Some("read-only"));
        let mut member = vda.clone();
        member.holders = vec!["md127".into()];
        assert!(ignored_reason(&member, &[])
            .unwrap()
            .starts_with("in use by md127"));
        let mut flash = vda.clone();
        flash.mtd = true;
        assert_eq!(
            ignored_reason(&flash, &[]).as_deref(),
            Some("an MTD (raw flash) device")
        );
        assert_eq!(disks[5].holders, ["md127"]);
        assert!(ignored_reason(&disks[5], &[]).unwrap().contains("md127"));
        let flash = read_disk(&tmp, "mtdblock0").unwrap();
        assert!(flash.mtd);
        fs::remove_dir_all(&tmp).unwrap();
        assert!(list_disks(&tmp).is_empty());
    }

    #[test]
    fn cache_gpt_round_trip() {
        let mut img = std::io::Cursor::new(vec![0xAAu8; 8 << 20]);
        write_cache_gpt(&mut img, 512).unwrap();
        let c = probe::probe(&mut img).unwrap().unwrap();
        assert_eq!(
            c,
            Content::Gpt {
                partitions: vec![(1, CACHE_LABEL.to_string())]
            }
        );
        let gpt = probe::read_gpt(&mut img).unwrap().unwrap();
        assert_eq!(gpt[1].starting_lba, 2048);
        let disk = Disk {
            name: "vda".into(),
            size: 8 << 20,
            read_only: false,
            removable: false,
            optical: false,
            mtd: false,
            holders: Vec::new(),
            partitions: vec![Partition {
                name: "vda1".into(),
                number: 1,
            }],
        };
        assert_eq!(
            find_cache(&disk, Some(&c), |_| None),
            Some(CacheSpot::Partition(disk.partitions[0].clone()))
        );
        // Too small a disk for an aligned partition: an error, no panic.
        let mut tiny = std::io::Cursor::new(vec![0u8; 40 * 512]);
        assert!(write_cache_gpt(&mut tiny, 512).is_err());
    }
}
