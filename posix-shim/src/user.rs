//! User memory: the one checked accessor through which syscalls touch a
//! μprocess's memory.
//!
//! A user address is a `u64` wrapped in [`UserAddr`]; it is never turned into
//! a pointer here. The kernel implements [`UserMemory`] over a μprocess's
//! mappings (an unmapped or inaccessible byte gives `EFAULT`, never a kernel
//! fault); the provided methods build typed reads (integers, C strings, paths,
//! `struct iovec` arrays) on its two byte-copy primitives.
//! [`FakeUserMemory`] is a map of byte ranges for host tests.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use crate::Errno;

/// `PATH_MAX`: a path, its terminating NUL included, fits in this many bytes.
pub const PATH_MAX: usize = 4096;
/// `UIO_MAXIOV`: the most `iovec`s one readv/writev may pass.
pub const IOV_MAX: u64 = 1024;
/// The largest byte count one read or write transfers (`MAX_RW_COUNT`:
/// `INT_MAX` rounded down to a page), as Linux clamps it.
pub const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// The granule a C string is read in: reads never cross a 4 KiB boundary, so
/// a string that ends just before an unmapped page reads cleanly.
const STRING_CHUNK: u64 = 4096;

/// An address in a μprocess's address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UserAddr(u64);

impl UserAddr {
    /// The null address.
    pub const NULL: UserAddr = UserAddr(0);

    /// The address `value`.
    pub const fn new(value: u64) -> UserAddr {
        UserAddr(value)
    }

    /// The address as a number.
    pub const fn value(self) -> u64 {
        self.0
    }

    /// Whether this is the null address.
    pub const fn is_null(self) -> bool {
        self.0 == 0
    }

    /// `self + offset`, or `EFAULT` if that wraps around the address space.
    pub fn offset(self, offset: u64) -> Result<UserAddr, Errno> {
        self.0.checked_add(offset).map(UserAddr).ok_or(Errno::EFAULT)
    }

    /// `self + offset` for a buffer offset.
    pub fn add_usize(self, offset: usize) -> Result<UserAddr, Errno> {
        self.offset(u64::try_from(offset).map_err(|_| Errno::EFAULT)?)
    }
}

/// One `struct iovec { void *iov_base; size_t iov_len; }` (16 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoVec {
    /// `iov_base`.
    pub base: UserAddr,
    /// `iov_len`.
    pub len: u64,
}

impl IoVec {
    /// The size of `struct iovec` on AArch64.
    pub const SIZE: usize = 16;
}

/// Checked access to one μprocess's memory.
pub trait UserMemory {
    /// Copies `buf.len()` bytes at `addr` into `buf`; `EFAULT` if any of them is
    /// not readable by the μprocess.
    fn read_bytes(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno>;

    /// Copies `data` to `addr`; `EFAULT` if any byte is not writable by the
    /// μprocess. Bytes before the faulting one may have been written, as on Linux.
    fn write_bytes(&mut self, addr: UserAddr, data: &[u8]) -> Result<(), Errno>;

    /// Reads a little-endian `u32`.
    fn read_u32(&self, addr: UserAddr) -> Result<u32, Errno> {
        read_array::<4, _>(self, addr).map(u32::from_le_bytes)
    }

    /// Reads a little-endian `u64`.
    fn read_u64(&self, addr: UserAddr) -> Result<u64, Errno> {
        read_array::<8, _>(self, addr).map(u64::from_le_bytes)
    }

    /// Writes a little-endian `u32`.
    fn write_u32(&mut self, addr: UserAddr, value: u32) -> Result<(), Errno> {
        self.write_bytes(addr, &value.to_le_bytes())
    }

    /// Writes a little-endian `u64`.
    fn write_u64(&mut self, addr: UserAddr, value: u64) -> Result<(), Errno> {
        self.write_bytes(addr, &value.to_le_bytes())
    }

    /// Reads a NUL-terminated string of at most `max_len` bytes, the NUL
    /// included, and returns it without the NUL. `ENAMETOOLONG` if there is no
    /// NUL in the first `max_len` bytes, `EFAULT` if memory runs out first.
    fn read_c_string(&self, addr: UserAddr, max_len: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut at = addr;
        while out.len() < max_len {
            let to_boundary = STRING_CHUNK - at.value() % STRING_CHUNK;
            let want = usize::try_from(to_boundary).unwrap_or(usize::MAX).min(max_len - out.len());
            let mut chunk = vec![0u8; want];
            self.read_bytes(at, &mut chunk)?;
            if let Some(nul) = chunk.iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk);
            at = at.add_usize(want)?;
        }
        Err(Errno::ENAMETOOLONG)
    }

    /// Reads a path argument: a C string of at most [`PATH_MAX`] bytes with its
    /// NUL. An empty path is returned as is (callers decide between `ENOENT`
    /// and `AT_EMPTY_PATH`).
    fn read_path(&self, addr: UserAddr) -> Result<Vec<u8>, Errno> {
        self.read_c_string(addr, PATH_MAX)
    }

    /// Reads `count` `struct iovec`s at `addr`, checked as Linux does: more than
    /// [`IOV_MAX`] or a total length that overflows `ssize_t` is `EINVAL`.
    fn read_iovec_array(&self, addr: UserAddr, count: u64) -> Result<Vec<IoVec>, Errno> {
        if count > IOV_MAX {
            return Err(Errno::EINVAL);
        }
        let count = usize::try_from(count).map_err(|_| Errno::EINVAL)?;
        let mut raw = vec![0u8; count * IoVec::SIZE];
        self.read_bytes(addr, &mut raw)?;
        let vecs = raw
            .chunks_exact(IoVec::SIZE)
            .map(|c| IoVec { base: UserAddr::new(le_u64(&c[0..8])), len: le_u64(&c[8..16]) })
            .collect::<Vec<_>>();
        let mut total: u64 = 0;
        for v in &vecs {
            total = total.checked_add(v.len).ok_or(Errno::EINVAL)?;
            if total > i64::MAX.unsigned_abs() {
                return Err(Errno::EINVAL);
            }
        }
        Ok(vecs)
    }
}

/// Reads `N` bytes at `addr`: structures are read this way, then decoded
/// field by field.
pub fn read_array<const N: usize, M: UserMemory + ?Sized>(mem: &M, addr: UserAddr) -> Result<[u8; N], Errno> {
    let mut buf = [0u8; N];
    mem.read_bytes(addr, &mut buf)?;
    Ok(buf)
}

/// Decodes a little-endian `u64` from exactly 8 bytes.
pub(crate) fn le_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    u64::from_le_bytes(b)
}

/// User memory for host tests: a set of mapped byte ranges; everything else
/// faults. Ranges may be made read-only.
#[derive(Debug, Default, Clone)]
pub struct FakeUserMemory {
    /// Mapped ranges by base address: (bytes, writable).
    ranges: BTreeMap<u64, (Vec<u8>, bool)>,
}

impl FakeUserMemory {
    /// Nothing mapped.
    pub fn new() -> FakeUserMemory {
        FakeUserMemory::default()
    }

    /// Maps `len` zero bytes at `base`, writable.
    pub fn map(&mut self, base: u64, len: usize) {
        self.ranges.insert(base, (vec![0; len], true));
    }

    /// Maps a copy of `data` at `base`, read-only.
    pub fn map_read_only(&mut self, base: u64, data: &[u8]) {
        self.ranges.insert(base, (data.to_vec(), false));
    }

    /// Stores `data` at `addr` regardless of write permission (test setup);
    /// panics if it is not mapped.
    pub fn poke(&mut self, addr: u64, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            let at = addr + u64::try_from(i).expect("small");
            *self.byte_mut(at, true).expect("poke outside the fake memory") = b;
        }
    }

    /// The `len` bytes at `addr`; panics if they are not mapped.
    pub fn peek(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        self.read_bytes(UserAddr::new(addr), &mut buf).expect("peek outside the fake memory");
        buf
    }

    fn locate(&self, at: u64) -> Option<(u64, usize)> {
        let (&base, (bytes, _)) = self.ranges.range(..=at).next_back()?;
        let off = usize::try_from(at - base).ok()?;
        (off < bytes.len()).then_some((base, off))
    }

    fn byte_mut(&mut self, at: u64, force: bool) -> Option<&mut u8> {
        let (base, off) = self.locate(at)?;
        let (bytes, writable) = self.ranges.get_mut(&base)?;
        (force || *writable).then(|| &mut bytes[off])
    }
}

impl UserMemory for FakeUserMemory {
    fn read_bytes(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        for (i, slot) in buf.iter_mut().enumerate() {
            let at = addr.add_usize(i)?.value();
            let (base, off) = self.locate(at).ok_or(Errno::EFAULT)?;
            *slot = self.ranges[&base].0[off];
        }
        Ok(())
    }

    fn write_bytes(&mut self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        for (i, &b) in data.iter().enumerate() {
            let at = addr.add_usize(i)?.value();
            *self.byte_mut(at, false).ok_or(Errno::EFAULT)? = b;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_memory_faults_outside_ranges() {
        let mut m = FakeUserMemory::new();
        m.map(0x1000, 16);
        assert_eq!(m.write_u64(UserAddr::new(0x1008), 7), Ok(()));
        assert_eq!(m.read_u64(UserAddr::new(0x1008)), Ok(7));
        assert_eq!(m.read_u64(UserAddr::new(0x1009)), Err(Errno::EFAULT));
        assert_eq!(m.read_u32(UserAddr::new(0xfff)), Err(Errno::EFAULT));
        m.map_read_only(0x2000, &[1, 2, 3, 4]);
        assert_eq!(m.read_u32(UserAddr::new(0x2000)), Ok(0x0403_0201));
        assert_eq!(m.write_u32(UserAddr::new(0x2000), 0), Err(Errno::EFAULT));
        assert_eq!(m.read_u64(UserAddr::new(u64::MAX - 3)), Err(Errno::EFAULT));
    }

    #[test]
    fn c_string_stops_at_nul_before_a_hole() {
        let mut m = FakeUserMemory::new();
        m.map(0x1000, 4096);
        m.poke(0x1ffc, b"abc\0");
        assert_eq!(m.read_c_string(UserAddr::new(0x1ffc), 100), Ok(b"abc".to_vec()));
        m.poke(0x1ffc, b"abcd");
        assert_eq!(m.read_c_string(UserAddr::new(0x1ffc), 100), Err(Errno::EFAULT));
        assert_eq!(m.read_c_string(UserAddr::new(0x1ffc), 4), Err(Errno::ENAMETOOLONG));
        assert_eq!(m.read_path(UserAddr::NULL), Err(Errno::EFAULT));
    }

    #[test]
    fn path_max_counts_the_nul() {
        let mut m = FakeUserMemory::new();
        m.map(0x10000, 8192);
        let mut long = vec![b'a'; PATH_MAX - 1];
        long.push(0);
        m.poke(0x10000, &long);
        assert_eq!(m.read_path(UserAddr::new(0x10000)).map(|p| p.len()), Ok(PATH_MAX - 1));
        m.poke(0x10000 + 4095, b"a\0");
        assert_eq!(m.read_path(UserAddr::new(0x10000)), Err(Errno::ENAMETOOLONG));
    }

    #[test]
    fn iovec_arrays_are_checked() {
        let mut m = FakeUserMemory::new();
        m.map(0x1000, 64);
        m.poke(0x1000, &0x5000u64.to_le_bytes());
        m.poke(0x1008, &10u64.to_le_bytes());
        m.poke(0x1010, &0x6000u64.to_le_bytes());
        m.poke(0x1018, &20u64.to_le_bytes());
        let v = m.read_iovec_array(UserAddr::new(0x1000), 2).unwrap();
        assert_eq!(v, vec![
            IoVec { base: UserAddr::new(0x5000), len: 10 },
            IoVec { base: UserAddr::new(0x6000), len: 20 }
        ]);
        assert_eq!(m.read_iovec_array(UserAddr::new(0x1000), 5), Err(Errno::EFAULT));
        assert_eq!(m.read_iovec_array(UserAddr::new(0x1000), 1025), Err(Errno::EINVAL));
        m.poke(0x1018, &u64::MAX.to_le_bytes());
        assert_eq!(m.read_iovec_array(UserAddr::new(0x1000), 2), Err(Errno::EINVAL));
        assert_eq!(m.read_iovec_array(UserAddr::new(0x1000), 0), Ok(vec![]));
    }
}
