//! Unpacking an initramfs: the cpio "newc" (`070701`) and "crc" (`070702`)
//! formats into the [`Vfs`].
//!
//! Directories, regular files, symlinks and character devices are created
//! with the archive's modes, owners and mtimes; regular files that share an
//! inode number (and device) in the archive become hard links, wherever the
//! data is stored among them. Missing parent directories are created `0755`;
//! an entry whose name exists replaces it unless both are directories (then
//! the metadata is updated), as Linux's initramfs unpacker does. Block
//! devices, FIFOs and sockets have no tmpfs inode type here and are skipped
//! (counted in [`CpioStats::skipped`]). A malformed archive is an error,
//! never a panic.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::Errno;
use crate::vfs::{Credentials, DevNumber, Inode, Last, NewNode, Timespec, Vfs};

const HEADER_LEN: usize = 110;
const TRAILER: &[u8] = b"TRAILER!!!";

/// What went wrong, and at which byte offset of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpioError {
    /// Offset of the header of the entry at fault.
    pub offset: usize,
    /// The fault.
    pub kind: CpioErrorKind,
}

/// The faults a cpio archive can have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpioErrorKind {
    /// The archive ends inside an entry, or before `TRAILER!!!`.
    Truncated,
    /// Not `070701` or `070702`.
    BadMagic,
    /// A header field is not 8 hex digits.
    BadField,
    /// The name is empty, not NUL-terminated, or not a usable path.
    BadName,
    /// A `070702` entry's data does not match its checksum.
    Checksum,
    /// The filesystem refused the entry.
    Fs(Errno),
}

/// What was unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpioStats {
    /// Entries created or updated.
    pub entries: usize,
    /// Entries of types tmpfs does not hold here (block devices, FIFOs, sockets).
    pub skipped: usize,
}

#[derive(Debug)]
struct Header {
    ino: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    mtime: i64,
    file_size: usize,
    dev: (u64, u64),
    rdev: (u64, u64),
    name_size: usize,
    check: u32,
    crc: bool,
}

fn hex(field: &[u8]) -> Option<u64> {
    let s = core::str::from_utf8(field).ok()?;
    u64::from_str_radix(s, 16).ok()
}

fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|v| v & !3)
}

fn parse_header(h: &[u8]) -> Result<Header, CpioErrorKind> {
    let crc = match &h[..6] {
        b"070701" => false,
        b"070702" => true,
        _ => return Err(CpioErrorKind::BadMagic),
    };
    let mut f = [0u64; 13];
    for (i, v) in f.iter_mut().enumerate() {
        *v = hex(&h[6 + 8 * i..14 + 8 * i]).ok_or(CpioErrorKind::BadField)?;
    }
    let u32_of = |v: u64| u32::try_from(v).map_err(|_| CpioErrorKind::BadField);
    let usize_of = |v: u64| usize::try_from(v).map_err(|_| CpioErrorKind::BadField);
    Ok(Header {
        ino: f[0],
        mode: u32_of(f[1])?,
        uid: u32_of(f[2])?,
        gid: u32_of(f[3])?,
        nlink: f[4],
        mtime: i64::try_from(f[5]).map_err(|_| CpioErrorKind::BadField)?,
        file_size: usize_of(f[6])?,
        dev: (f[7], f[8]),
        rdev: (f[9], f[10]),
        name_size: usize_of(f[11])?,
        check: u32_of(f[12])?,
        crc,
    })
}

/// Unpacks `archive` into `vfs` (below its root).
pub fn populate(vfs: &Vfs, archive: &[u8]) -> Result<CpioStats, CpioError> {
    let mut stats = CpioStats::default();
    let mut links: BTreeMap<(u64, u64, u64), Arc<Inode>> = BTreeMap::new();
    let mut pos = 0;
    loop {
        let at = pos;
        let err = |kind| CpioError { offset: at, kind };
        let header = archive.get(pos..pos + HEADER_LEN).ok_or(err(CpioErrorKind::Truncated))?;
        let h = parse_header(header).map_err(err)?;
        let name_end = pos + HEADER_LEN + h.name_size;
        let name_field = archive.get(pos + HEADER_LEN..name_end).ok_or(err(CpioErrorKind::Truncated))?;
        let name = match name_field.split_last() {
            Some((0, name)) if !name.is_empty() && !name.contains(&0) => name,
            _ => return Err(err(CpioErrorKind::BadName)),
        };
        let data_start = align4(name_end).ok_or(err(CpioErrorKind::Truncated))?;
        let data_end = data_start.checked_add(h.file_size).ok_or(err(CpioErrorKind::Truncated))?;
        let data = archive.get(data_start..data_end).ok_or(err(CpioErrorKind::Truncated))?;
        if name == TRAILER {
            return Ok(stats);
        }
        if h.crc && data.iter().fold(0u32, |s, &b| s.wrapping_add(u32::from(b))) != h.check {
            return Err(err(CpioErrorKind::Checksum));
        }
        match unpack_entry(vfs, &h, name, data, &mut links).map_err(err)? {
            true => stats.entries += 1,
            false => stats.skipped += 1,
        }
        pos = align4(data_end).ok_or(err(CpioErrorKind::Truncated))?;
    }
}

/// Creates one entry; `Ok(false)` if its type is skipped.
fn unpack_entry(
    vfs: &Vfs,
    h: &Header,
    name: &[u8],
    data: &[u8],
    links: &mut BTreeMap<(u64, u64, u64), Arc<Inode>>,
) -> Result<bool, CpioErrorKind> {
    let fs = CpioErrorKind::Fs;
    let cred = Credentials::root();
    let perm = h.mode & 0o7777;
    let mtime = Timespec::new(h.mtime, 0);
    let path: &[u8] = name.strip_prefix(b"./").or_else(|| name.strip_prefix(b"/")).unwrap_or(name);
    let root = vfs.root();
    if path.is_empty() || path == b"." {
        vfs.restore_metadata(&root, perm, h.uid, h.gid, mtime);
        return Ok(true);
    }
    let parent = vfs.lookup_parent(&root, path, &cred).or_else(|e| {
        if e != Errno::ENOENT {
            return Err(e);
        }
        make_parents(vfs, path)?;
        vfs.lookup_parent(&root, path, &cred)
    });
    let parent = parent.map_err(fs)?;
    let Last::Name(leaf) = &parent.last else { return Err(CpioErrorKind::BadName) };
    let node = match h.mode & 0o170000 {
        0o040000 => NewNode::Directory,
        0o100000 => NewNode::Regular,
        0o120000 => NewNode::Symlink(data.to_vec()),
        0o020000 => NewNode::CharDevice(DevNumber::from_parts(h.rdev.0, h.rdev.1).ok_or(CpioErrorKind::BadField)?),
        0o060000 | 0o010000 | 0o140000 => return Ok(false),
        _ => return Err(CpioErrorKind::BadField),
    };
    if let Some(existing) = parent.dir.child(leaf).map_err(fs)? {
        if existing.is_dir() && node == NewNode::Directory {
            vfs.restore_metadata(&existing, perm, h.uid, h.gid, mtime);
            return Ok(true);
        }
        let removed = if existing.is_dir() { vfs.rmdir(&parent.dir, leaf, &cred) } else { vfs.unlink(&parent.dir, leaf, &cred) };
        removed.map_err(fs)?;
    }
    let key = (h.dev.0, h.dev.1, h.ino);
    let linked = (node == NewNode::Regular && h.nlink > 1).then(|| links.get(&key).cloned()).flatten();
    let inode = match linked {
        Some(inode) => {
            vfs.link(&parent.dir, leaf, &inode, &cred).map_err(fs)?;
            inode
        }
        None => {
            let inode = vfs.create(&parent.dir, leaf, node.clone(), perm, &cred).map_err(fs)?;
            if node == NewNode::Regular && h.nlink > 1 {
                links.insert(key, inode.clone());
            }
            inode
        }
    };
    if node == NewNode::Regular && !data.is_empty() {
        inode.truncate(0, mtime).map_err(fs)?;
        let (written, _) = inode.write_at(Some(0), data, mtime).map_err(fs)?;
        if written != data.len() {
            return Err(fs(Errno::ENOSPC));
        }
    }
    vfs.restore_metadata(&inode, perm, h.uid, h.gid, mtime);
    Ok(true)
}

/// Creates the missing directories above `path`, `0755` owned by root.
fn make_parents(vfs: &Vfs, path: &[u8]) -> Result<(), Errno> {
    let cred = Credentials::root();
    let mut dir = vfs.root();
    let components: Vec<&[u8]> = path.split(|&b| b == b'/').filter(|c| !c.is_empty()).collect();
    for comp in components.iter().take(components.len().saturating_sub(1)) {
        dir = match dir.child(comp)? {
            Some(d) if d.is_dir() => d,
            Some(_) => return Err(Errno::ENOTDIR),
            None => vfs.create(&dir, comp, NewNode::Directory, 0o755, &cred)?,
        };
    }
    Ok(())
}

/// Writes newc archives (for tests of the reader and of code that needs an
/// initramfs).
#[cfg(test)]
pub(crate) mod writer {
    use alloc::format;
    use alloc::vec::Vec;

    /// One entry: name, mode, ino, nlink, data.
    pub(crate) fn entry(out: &mut Vec<u8>, name: &[u8], mode: u32, ino: u64, nlink: u64, data: &[u8], crc: bool) {
        let check: u32 = if crc { data.iter().map(|&b| u32::from(b)).sum() } else { 0 };
        let fields = [ino, u64::from(mode), 1000, 100, nlink, 1_600_000_000, data.len() as u64, 0, 1, 1, 3, name.len() as u64 + 1, u64::from(check)];
        out.extend_from_slice(if crc { b"070702" } else { b"070701" });
        for f in fields {
            out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name);
        out.push(0);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }

    pub(crate) fn trailer(out: &mut Vec<u8>) {
        entry(out, b"TRAILER!!!", 0, 0, 1, b"", false);
    }
}

#[cfg(test)]
mod tests {
    use super::writer::{entry, trailer};
    use super::*;
    use crate::vfs::FileType;
    use crate::vfs::tests::new_vfs;
    use proptest::prelude::*;

    fn sample(crc: bool) -> Vec<u8> {
        let mut a = Vec::new();
        entry(&mut a, b".", 0o040755, 1, 2, b"", crc);
        entry(&mut a, b"bin", 0o040755, 2, 2, b"", crc);
        entry(&mut a, b"bin/busybox", 0o100755, 3, 1, b"\x7fELF...", crc);
        entry(&mut a, b"bin/sh", 0o120777, 4, 1, b"busybox", crc);
        entry(&mut a, b"etc/passwd", 0o100644, 5, 1, b"root:x:0:0::/root:/bin/sh\n", crc);
        // A hard link pair, with the data on the second name (GNU cpio's way).
        entry(&mut a, b"bin/a", 0o100755, 9, 2, b"", crc);
        entry(&mut a, b"bin/b", 0o100755, 9, 2, b"shared", crc);
        entry(&mut a, b"dev/null", 0o020666, 10, 1, b"", crc);
        entry(&mut a, b"dev/fifo", 0o010644, 11, 1, b"", crc);
        trailer(&mut a);
        a
    }

    fn read_all(v: &Vfs, path: &[u8]) -> Vec<u8> {
        let f = v.lookup(&v.root(), path, true, &Credentials::root()).unwrap();
        let mut buf = alloc::vec![0u8; 256];
        let n = f.read_at(0, &mut buf, v.now()).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn unpacks_files_dirs_links_and_devices() {
        for crc in [false, true] {
            let v = new_vfs();
            let stats = populate(&v, &sample(crc)).unwrap();
            assert_eq!(stats, CpioStats { entries: 8, skipped: 1 });
            let cred = Credentials::root();
            let bb = v.lookup(&v.root(), b"/bin/busybox", true, &cred).unwrap();
            let m = bb.metadata();
            assert_eq!((m.mode(), m.uid, m.gid, m.mtime.sec, m.size), (0o100755, 1000, 100, 1_600_000_000, 7));
            assert_eq!(v.lookup(&v.root(), b"/bin/sh", true, &cred).unwrap().ino(), bb.ino());
            assert_eq!(v.lookup(&v.root(), b"/bin/sh", false, &cred).unwrap().readlink(), Ok(b"busybox".to_vec()));
            assert_eq!(read_all(&v, b"/etc/passwd"), b"root:x:0:0::/root:/bin/sh\n");
            assert_eq!(v.lookup(&v.root(), b"/etc", true, &cred).unwrap().metadata().perm, 0o755);
            let a = v.lookup(&v.root(), b"/bin/a", true, &cred).unwrap();
            assert_eq!(a.ino(), v.lookup(&v.root(), b"/bin/b", true, &cred).unwrap().ino());
            assert_eq!(a.metadata().nlink, 2);
            assert_eq!(read_all(&v, b"/bin/a"), b"shared");
            let null = v.lookup(&v.root(), b"/dev/null", true, &cred).unwrap();
            assert_eq!((null.file_type(), null.device()), (FileType::CharDevice, Some(DevNumber::NULL)));
            assert_eq!(v.root().metadata().uid, 1000);
        }
    }

    #[test]
    fn malformed_archives_are_errors() {
        let good = sample(true);
        assert_eq!(populate(&new_vfs(), &good[..good.len() - 120]).unwrap_err().kind, CpioErrorKind::Truncated);
        let mut bad = good.clone();
        bad[0] = b'1';
        assert_eq!(populate(&new_vfs(), &bad).unwrap_err(), CpioError { offset: 0, kind: CpioErrorKind::BadMagic });
        let mut bad = good.clone();
        bad[10] = b'g';
        assert_eq!(populate(&new_vfs(), &bad).unwrap_err().kind, CpioErrorKind::BadField);
        let mut bad = good.clone();
        let last_data = good.windows(6).position(|w| w == b"shared").unwrap();
        bad[last_data] = b'S';
        assert_eq!(populate(&new_vfs(), &bad).unwrap_err().kind, CpioErrorKind::Checksum);
        let mut no_nul = Vec::new();
        entry(&mut no_nul, b"x", 0o100644, 1, 1, b"", false);
        no_nul[HEADER_LEN] = b'y';
        no_nul[HEADER_LEN + 1] = b'z';
        assert_eq!(populate(&new_vfs(), &no_nul).unwrap_err().kind, CpioErrorKind::BadName);
        assert_eq!(populate(&new_vfs(), b"").unwrap_err().kind, CpioErrorKind::Truncated);
        let mut through_file = Vec::new();
        entry(&mut through_file, b"f", 0o100644, 1, 1, b"", false);
        entry(&mut through_file, b"f/g", 0o100644, 2, 1, b"", false);
        trailer(&mut through_file);
        assert_eq!(populate(&new_vfs(), &through_file).unwrap_err().kind, CpioErrorKind::Fs(Errno::ENOTDIR));
    }

    proptest! {
        #[test]
        fn mutated_archives_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
            let mut a = sample(false);
            for (at, byte) in edits {
                let i = at % a.len();
                a[i] = byte;
            }
            a.truncate(cut % (a.len() + 1));
            let _ = populate(&new_vfs(), &a);
        }
    }
}
