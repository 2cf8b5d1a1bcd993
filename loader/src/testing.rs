//! An in-memory [`AddressSpace`] for host tests (the loader's own and any
//! other crate's): mappings are kept as ranges and contents as sparse pages,
//! so that the absurd mappings a fuzzed file asks for cost nothing.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use posix_shim::Errno;

use crate::elf::{ADDRESS_LIMIT, align_down, align_up};
use crate::space::{AddressSpace, Protection};

/// One mapping: `[start, end)` with a protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// The address just past the end.
    pub end: u64,
    /// Its protection.
    pub prot: Protection,
}

/// A sparse address space: demand-zero mappings, of which only the pages
/// written to hold memory.
#[derive(Debug, Clone)]
pub struct FakeAddressSpace {
    page_size: u64,
    limit: u64,
    /// Mappings by start address; they never overlap.
    mappings: BTreeMap<u64, Mapping>,
    /// Written pages by address; pages not here read as zero.
    pages: BTreeMap<u64, Box<[u8]>>,
}

impl Default for FakeAddressSpace {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeAddressSpace {
    /// An empty space with 4 KiB pages up to [`ADDRESS_LIMIT`].
    pub fn new() -> Self {
        Self::with_layout(4096, ADDRESS_LIMIT)
    }

    /// An empty space with pages of `page_size` (a power of two) and room
    /// below `limit`.
    pub fn with_layout(page_size: u64, limit: u64) -> Self {
        assert!(page_size.is_power_of_two(), "page size {page_size:#x} is not a power of two");
        FakeAddressSpace { page_size, limit, mappings: BTreeMap::new(), pages: BTreeMap::new() }
    }

    /// The mappings in address order.
    pub fn mappings(&self) -> Vec<Mapping> {
        self.mappings.values().copied().collect()
    }

    /// The mapping holding `addr`.
    pub fn mapping_at(&self, addr: u64) -> Option<Mapping> {
        self.mappings.range(..=addr).next_back().map(|(_, m)| *m).filter(|m| addr < m.end)
    }

    /// `len` bytes at `addr`, whatever their protection; EFAULT if any of
    /// them is not mapped.
    pub fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
        let len64 = u64::try_from(len).map_err(|_| Errno::EFAULT)?;
        self.check_mapped(addr, len64)?;
        let mut out = Vec::with_capacity(len);
        let mut at = addr;
        while out.len() < len {
            let page = align_down(at, self.page_size);
            let offset = self.offset_in_page(at);
            let chunk = (self.page_len() - offset).min(len - out.len());
            match self.pages.get(&page) {
                Some(bytes) => out.extend_from_slice(&bytes[offset..offset + chunk]),
                None => out.resize(out.len() + chunk, 0),
            }
            at += u64::try_from(chunk).map_err(|_| Errno::EFAULT)?;
        }
        Ok(out)
    }

    /// The little-endian 64-bit word at `addr`.
    pub fn read_u64(&self, addr: u64) -> Result<u64, Errno> {
        let bytes = self.read(addr, 8)?;
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes);
        Ok(u64::from_le_bytes(word))
    }

    /// The NUL-terminated string at `addr`, without its NUL.
    pub fn read_c_string(&self, addr: u64) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut at = addr;
        loop {
            let byte = self.read(at, 1)?[0];
            if byte == 0 {
                return Ok(out);
            }
            out.push(byte);
            at = at.checked_add(1).ok_or(Errno::EFAULT)?;
        }
    }

    /// EFAULT unless every byte of `[addr, addr + len)` is mapped.
    fn check_mapped(&self, addr: u64, len: u64) -> Result<(), Errno> {
        let end = addr.checked_add(len).ok_or(Errno::EFAULT)?;
        let mut at = addr;
        while at < end {
            at = self.mapping_at(at).ok_or(Errno::EFAULT)?.end;
        }
        Ok(())
    }

    fn page_len(&self) -> usize {
        usize::try_from(self.page_size).unwrap_or(usize::MAX)
    }

    fn offset_in_page(&self, addr: u64) -> usize {
        usize::try_from(addr - align_down(addr, self.page_size)).unwrap_or(usize::MAX)
    }
}

impl AddressSpace for FakeAddressSpace {
    type File = ();

    fn map_zeroed(&mut self, start: u64, len: u64, prot: Protection) -> Result<(), Errno> {
        if len == 0 || !start.is_multiple_of(self.page_size) || !len.is_multiple_of(self.page_size) {
            return Err(Errno::EINVAL);
        }
        let end = start.checked_add(len).filter(|&end| end <= self.limit).ok_or(Errno::ENOMEM)?;
        if self.mappings.range(..end).next_back().is_some_and(|(_, m)| m.end > start) {
            return Err(Errno::EEXIST);
        }
        self.mappings.insert(start, Mapping { start, end, prot });
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        let len = u64::try_from(data.len()).map_err(|_| Errno::EFAULT)?;
        self.check_mapped(addr, len)?;
        let page_len = self.page_len();
        let mut at = addr;
        let mut rest = data;
        while !rest.is_empty() {
            let page = align_down(at, self.page_size);
            let offset = self.offset_in_page(at);
            let chunk = (page_len - offset).min(rest.len());
            let bytes = self.pages.entry(page).or_insert_with(|| alloc::vec![0; page_len].into_boxed_slice());
            bytes[offset..offset + chunk].copy_from_slice(&rest[..chunk]);
            rest = &rest[chunk..];
            at += u64::try_from(chunk).map_err(|_| Errno::EFAULT)?;
        }
        Ok(())
    }

    fn find_free(&self, hint: u64, len: u64) -> Result<u64, Errno> {
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let mut candidate = align_up(hint, self.page_size).ok_or(Errno::ENOMEM)?;
        loop {
            let end = candidate.checked_add(len).filter(|&end| end <= self.limit).ok_or(Errno::ENOMEM)?;
            match self.mappings.range(..end).next_back() {
                Some((_, m)) if m.end > candidate => candidate = m.end,
                _ => return Ok(candidate),
            }
        }
    }

    fn page_size(&self) -> u64 {
        self.page_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: Protection = Protection::READ.union(Protection::WRITE);

    #[test]
    fn mappings_are_demand_zero_and_refuse_overlaps() {
        let mut space = FakeAddressSpace::new();
        space.map_zeroed(0x10000, 0x3000, RW).unwrap();
        assert_eq!(space.read(0x10000, 0x3000).unwrap(), std::vec![0; 0x3000]);
        assert_eq!(space.map_zeroed(0x12000, 0x1000, RW), Err(Errno::EEXIST));
        assert_eq!(space.map_zeroed(0xf000, 0x2000, RW), Err(Errno::EEXIST));
        assert_eq!(space.map_zeroed(0x10001, 0x1000, RW), Err(Errno::EINVAL));
        assert_eq!(space.map_zeroed(ADDRESS_LIMIT - 0x1000, 0x2000, RW), Err(Errno::ENOMEM));
        space.map_zeroed(0x13000, 0x1000, Protection::READ).unwrap();
        assert_eq!(space.mapping_at(0x13fff).map(|m| m.prot), Some(Protection::READ));
        assert_eq!(space.mapping_at(0x14000), None);
    }

    #[test]
    fn writes_cross_pages_and_fault_outside_mappings() {
        let mut space = FakeAddressSpace::new();
        space.map_zeroed(0x10000, 0x2000, Protection::READ).unwrap();
        space.write(0x10ffe, b"abcd").unwrap();
        assert_eq!(space.read(0x10ffc, 8).unwrap(), b"\0\0abcd\0\0");
        assert_eq!(space.write(0x11ffe, b"abcd"), Err(Errno::EFAULT));
        assert_eq!(space.read(0x11ffe, 4), Err(Errno::EFAULT));
        space.write(0x10100, b"hi\0").unwrap();
        assert_eq!(space.read_c_string(0x10100).unwrap(), b"hi");
    }

    #[test]
    fn find_free_skips_mappings() {
        let mut space = FakeAddressSpace::new();
        space.map_zeroed(0x10000, 0x2000, RW).unwrap();
        space.map_zeroed(0x13000, 0x1000, RW).unwrap();
        assert_eq!(space.find_free(0x10000, 0x1000), Ok(0x12000));
        assert_eq!(space.find_free(0x10000, 0x2000), Ok(0x14000));
        assert_eq!(space.find_free(0xf001, 0x1000), Ok(0x12000));
        assert_eq!(space.find_free(0xf000, 0x1000), Ok(0xf000));
        assert_eq!(space.find_free(ADDRESS_LIMIT - 0x1000, 0x2000), Err(Errno::ENOMEM));
    }
}
