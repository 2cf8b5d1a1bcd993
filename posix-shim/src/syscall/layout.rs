//! The binary layouts of the structures filesystem syscalls exchange with
//! user space on AArch64, as explicit little-endian encoders: `struct stat`
//! (asm-generic, 128 bytes), `struct statx` (256), `struct statfs`
//! (asm-generic 64-bit, 120), `struct linux_dirent64`, and
//! `struct timespec` decoding for `utimensat`.

use alloc::vec::Vec;

use crate::Errno;
use crate::vfs::{DevNumber, FsStats, Metadata, PAGE_SIZE, Timespec};

/// A fixed-size little-endian record being filled field by field.
struct Record<const N: usize>([u8; N]);

impl<const N: usize> Record<N> {
    fn put(&mut self, at: usize, bytes: &[u8]) {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }
    fn u16(&mut self, at: usize, v: u16) {
        self.put(at, &v.to_le_bytes());
    }
    fn u32(&mut self, at: usize, v: u32) {
        self.put(at, &v.to_le_bytes());
    }
    fn u64(&mut self, at: usize, v: u64) {
        self.put(at, &v.to_le_bytes());
    }
    fn i64(&mut self, at: usize, v: i64) {
        self.put(at, &v.to_le_bytes());
    }
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Size of `struct stat`.
pub const STAT_SIZE: usize = 128;

/// `struct stat` for `fstat`/`newfstatat`: `st_dev` is the filesystem's
/// device number `dev`.
pub fn encode_stat(m: &Metadata, dev: DevNumber) -> [u8; STAT_SIZE] {
    let mut r = Record([0u8; STAT_SIZE]);
    r.u64(0, dev.encode());
    r.u64(8, m.ino);
    r.u32(16, m.mode());
    r.u32(20, m.nlink);
    r.u32(24, m.uid);
    r.u32(28, m.gid);
    r.u64(32, m.rdev.encode());
    r.i64(48, signed(m.size));
    r.u32(56, u32::try_from(PAGE_SIZE).unwrap_or(u32::MAX));
    r.i64(64, signed(m.blocks));
    for (at, t) in [(72, m.atime), (88, m.mtime), (104, m.ctime)] {
        r.i64(at, t.sec);
        r.u64(at + 8, u64::from(t.nsec));
    }
    r.0
}

/// Size of `struct statx`.
pub const STATX_SIZE: usize = 256;
/// `STATX_BASIC_STATS`: type, mode, nlink, uid, gid, atime, mtime, ctime, ino, size, blocks.
pub const STATX_BASIC_STATS: u32 = 0x7ff;
/// `STATX_BTIME`.
pub const STATX_BTIME: u32 = 0x800;
/// `STATX__RESERVED`: a request for it is `EINVAL`.
pub const STATX_RESERVED: u32 = 0x8000_0000;

/// `struct statx`. Every basic field and the birth time are filled whatever
/// was asked, as Linux may; `stx_mask` says so.
pub fn encode_statx(m: &Metadata, dev: DevNumber) -> [u8; STATX_SIZE] {
    let mut r = Record([0u8; STATX_SIZE]);
    r.u32(0, STATX_BASIC_STATS | STATX_BTIME);
    r.u32(4, u32::try_from(PAGE_SIZE).unwrap_or(u32::MAX));
    r.u32(16, m.nlink);
    r.u32(20, m.uid);
    r.u32(24, m.gid);
    r.u16(28, u16::try_from(m.mode() & 0xffff).unwrap_or(0));
    r.u64(32, m.ino);
    r.u64(40, m.size);
    r.u64(48, m.blocks);
    for (at, t) in [(64, m.atime), (80, m.btime), (96, m.ctime), (112, m.mtime)] {
        r.i64(at, t.sec);
        r.u32(at + 8, t.nsec);
    }
    r.u32(128, m.rdev.major);
    r.u32(132, m.rdev.minor);
    r.u32(136, dev.major);
    r.u32(140, dev.minor);
    r.0
}

/// Size of `struct statfs`.
pub const STATFS_SIZE: usize = 120;
/// `ST_VALID | ST_RELATIME`: the `f_flags` of a read-write tmpfs.
pub const STATFS_FLAGS: u64 = 0x20 | 0x1000;

/// `struct statfs`.
pub fn encode_statfs(s: &FsStats) -> [u8; STATFS_SIZE] {
    let mut r = Record([0u8; STATFS_SIZE]);
    r.i64(0, signed(s.fs_type));
    r.i64(8, signed(s.block_size));
    r.u64(16, s.blocks);
    r.u64(24, s.blocks_free);
    r.u64(32, s.blocks_free);
    r.u64(40, s.files);
    r.u64(48, s.files_free);
    r.i64(64, signed(s.name_max));
    r.i64(72, signed(s.block_size));
    r.u64(80, STATFS_FLAGS);
    r.0
}

/// The length of a `linux_dirent64` record for a name of `name_len` bytes:
/// 19 header bytes, the name, its NUL, padded to 8.
pub const fn dirent64_len(name_len: usize) -> usize {
    (19 + name_len + 1 + 7) & !7
}

/// Appends a `linux_dirent64 { d_ino, d_off, d_reclen, d_type, d_name }`.
pub fn push_dirent64(out: &mut Vec<u8>, ino: u64, next: u64, d_type: u8, name: &[u8]) {
    let len = dirent64_len(name.len());
    let start = out.len();
    out.extend_from_slice(&ino.to_le_bytes());
    out.extend_from_slice(&next.to_le_bytes());
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_le_bytes());
    out.push(d_type);
    out.extend_from_slice(name);
    out.resize(start + len, 0);
}

/// `UTIME_NOW`.
pub const UTIME_NOW: u64 = (1 << 30) - 1;
/// `UTIME_OMIT`.
pub const UTIME_OMIT: u64 = (1 << 30) - 2;

/// What a `struct timespec` of `utimensat` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimespecArg {
    /// `UTIME_NOW`.
    Now,
    /// `UTIME_OMIT`.
    Omit,
    /// A time.
    At(Timespec),
}

/// Decodes a 16-byte `struct timespec { time_t tv_sec; long tv_nsec; }`
/// with the `UTIME_*` values; `EINVAL` for a nanosecond count out of range.
pub fn decode_utime(b: &[u8; 16]) -> Result<TimespecArg, Errno> {
    let sec = i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let nsec = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
    match nsec {
        UTIME_NOW => Ok(TimespecArg::Now),
        UTIME_OMIT => Ok(TimespecArg::Omit),
        n if n < 1_000_000_000 => Ok(TimespecArg::At(Timespec::new(sec, u32::try_from(n).map_err(|_| Errno::EINVAL)?))),
        _ => Err(Errno::EINVAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::FileType;

    fn meta() -> Metadata {
        Metadata {
            ino: 0x1122,
            file_type: FileType::CharDevice,
            perm: 0o620,
            nlink: 3,
            uid: 1000,
            gid: 5,
            size: 0x1234_5678,
            blocks: 16,
            rdev: DevNumber::new(136, 2),
            atime: Timespec::new(10, 11),
            mtime: Timespec::new(20, 21),
            ctime: Timespec::new(30, 31),
            btime: Timespec::new(40, 41),
        }
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn stat_field_offsets() {
        let b = encode_stat(&meta(), DevNumber::new(0, 0x2a));
        assert_eq!(u64_at(&b, 0), 0x2a, "st_dev");
        assert_eq!(u64_at(&b, 8), 0x1122, "st_ino");
        assert_eq!(u32_at(&b, 16), 0o20620, "st_mode");
        assert_eq!(u32_at(&b, 20), 3, "st_nlink");
        assert_eq!((u32_at(&b, 24), u32_at(&b, 28)), (1000, 5), "st_uid, st_gid");
        assert_eq!(u64_at(&b, 32), (136 << 8) | 2, "st_rdev");
        assert_eq!(u64_at(&b, 40), 0, "__pad1");
        assert_eq!(u64_at(&b, 48), 0x1234_5678, "st_size");
        assert_eq!(u32_at(&b, 56), 4096, "st_blksize");
        assert_eq!(u64_at(&b, 64), 16, "st_blocks");
        assert_eq!((u64_at(&b, 72), u64_at(&b, 80)), (10, 11), "st_atim");
        assert_eq!((u64_at(&b, 88), u64_at(&b, 96)), (20, 21), "st_mtim");
        assert_eq!((u64_at(&b, 104), u64_at(&b, 112)), (30, 31), "st_ctim");
        assert_eq!(&b[120..], &[0; 8], "__unused");
    }

    #[test]
    fn statx_field_offsets() {
        let b = encode_statx(&meta(), DevNumber::new(0, 0x2a));
        assert_eq!(u32_at(&b, 0), 0xfff, "stx_mask");
        assert_eq!(u32_at(&b, 4), 4096, "stx_blksize");
        assert_eq!(u32_at(&b, 16), 3, "stx_nlink");
        assert_eq!(u32_at(&b, 20), 1000, "stx_uid");
        assert_eq!(u16::from_le_bytes([b[28], b[29]]), 0o20620, "stx_mode");
        assert_eq!(u64_at(&b, 32), 0x1122, "stx_ino");
        assert_eq!(u64_at(&b, 40), 0x1234_5678, "stx_size");
        assert_eq!(u64_at(&b, 48), 16, "stx_blocks");
        assert_eq!((u64_at(&b, 64), u32_at(&b, 72)), (10, 11), "stx_atime");
        assert_eq!((u64_at(&b, 80), u32_at(&b, 88)), (40, 41), "stx_btime");
        assert_eq!((u64_at(&b, 96), u32_at(&b, 104)), (30, 31), "stx_ctime");
        assert_eq!((u64_at(&b, 112), u32_at(&b, 120)), (20, 21), "stx_mtime");
        assert_eq!((u32_at(&b, 128), u32_at(&b, 132)), (136, 2), "stx_rdev");
        assert_eq!((u32_at(&b, 136), u32_at(&b, 140)), (0, 0x2a), "stx_dev");
        assert!(b[144..].iter().all(|&x| x == 0));
    }

    #[test]
    fn statfs_and_dirent_layouts() {
        let s = FsStats { fs_type: 0x0102_1994, block_size: 4096, blocks: 100, blocks_free: 60, files: 50, files_free: 40, name_max: 255 };
        let b = encode_statfs(&s);
        assert_eq!(u64_at(&b, 0), 0x0102_1994);
        assert_eq!(u64_at(&b, 8), 4096);
        assert_eq!((u64_at(&b, 16), u64_at(&b, 24), u64_at(&b, 32)), (100, 60, 60));
        assert_eq!((u64_at(&b, 40), u64_at(&b, 48)), (50, 40));
        assert_eq!(u64_at(&b, 56), 0, "f_fsid");
        assert_eq!(u64_at(&b, 64), 255, "f_namelen");
        assert_eq!(u64_at(&b, 72), 4096, "f_frsize");
        assert_eq!(u64_at(&b, 80), 0x1020, "f_flags");
        let mut d = Vec::new();
        push_dirent64(&mut d, 7, 9, 4, b"abcde");
        assert_eq!(d.len(), 32);
        assert_eq!((u64_at(&d, 0), u64_at(&d, 8)), (7, 9));
        assert_eq!(u16::from_le_bytes([d[16], d[17]]), 32);
        assert_eq!(d[18], 4);
        assert_eq!(&d[19..25], b"abcde\0");
        assert_eq!(dirent64_len(4), 24);
        assert_eq!(dirent64_len(5), 32);
    }

    #[test]
    fn utime_values() {
        let mut b = [0u8; 16];
        b[8..].copy_from_slice(&UTIME_NOW.to_le_bytes());
        assert_eq!(decode_utime(&b), Ok(TimespecArg::Now));
        b[8..].copy_from_slice(&UTIME_OMIT.to_le_bytes());
        assert_eq!(decode_utime(&b), Ok(TimespecArg::Omit));
        b[..8].copy_from_slice(&(-5i64).to_le_bytes());
        b[8..].copy_from_slice(&999_999_999u64.to_le_bytes());
        assert_eq!(decode_utime(&b), Ok(TimespecArg::At(Timespec::new(-5, 999_999_999))));
        b[8..].copy_from_slice(&1_000_000_000u64.to_le_bytes());
        assert_eq!(decode_utime(&b), Err(Errno::EINVAL));
    }
}
