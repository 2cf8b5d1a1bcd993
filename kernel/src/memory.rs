//! Physical memory: the allocator of free physical ranges from which page
//! frames, the kernel heap and μprocess regions are carved.
//!
//! [`RangeAllocator`] keeps the free ranges sorted and coalesced; an
//! allocation takes the first free range that fits at the requested
//! alignment. Addresses are plain `u64` physical addresses: nothing here
//! dereferences them.

use alloc::collections::BTreeMap;

/// A half-open range of physical addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PhysRange {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
}

impl PhysRange {
    /// `[start, start + len)`.
    pub const fn new(start: u64, len: u64) -> PhysRange {
        PhysRange { start, end: start + len }
    }

    /// Its length in bytes.
    pub const fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether it is empty.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// Why an allocator call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocError {
    /// No free range is large enough.
    OutOfMemory,
    /// Size zero, or an alignment that is not a power of two.
    BadRequest,
    /// A freed range overlaps free memory (a double free).
    DoubleFree,
}

/// Free physical memory, as sorted, disjoint, coalesced ranges.
#[derive(Debug, Default)]
pub struct RangeAllocator {
    /// start -> end of each free range.
    free: BTreeMap<u64, u64>,
}

impl RangeAllocator {
    /// An allocator with nothing free.
    pub const fn new() -> RangeAllocator {
        RangeAllocator { free: BTreeMap::new() }
    }

    /// Bytes free in all.
    pub fn free_bytes(&self) -> u64 {
        self.free.iter().map(|(s, e)| e - s).sum()
    }

    /// The free ranges, in address order.
    pub fn free_ranges(&self) -> impl Iterator<Item = PhysRange> + '_ {
        self.free.iter().map(|(&start, &end)| PhysRange { start, end })
    }

    /// Returns `range` to the free pool, merging it with its neighbours.
    pub fn free(&mut self, range: PhysRange) -> Result<(), AllocError> {
        if range.is_empty() {
            return Ok(());
        }
        let before = self.free.range(..range.end).next_back().map(|(&s, &e)| (s, e));
        if before.is_some_and(|(_, e)| e > range.start) {
            return Err(AllocError::DoubleFree);
        }
        let mut start = range.start;
        let mut end = range.end;
        if let Some((s, _)) = before.filter(|&(_, e)| e == range.start) {
            self.free.remove(&s);
            start = s;
        }
        if let Some(next_end) = self.free.remove(&range.end) {
            end = next_end;
        }
        self.free.insert(start, end);
        Ok(())
    }

    /// Takes `size` bytes aligned to `align` (a power of two) from the first
    /// free range that has room.
    pub fn allocate(&mut self, size: u64, align: u64) -> Result<PhysRange, AllocError> {
        if size == 0 || !align.is_power_of_two() {
            return Err(AllocError::BadRequest);
        }
        let found = self.free.iter().find_map(|(&s, &e)| {
            let start = s.checked_add(align - 1)? & !(align - 1);
            let end = start.checked_add(size)?;
            (end <= e).then_some((s, e, start, end))
        });
        let (s, e, start, end) = found.ok_or(AllocError::OutOfMemory)?;
        self.free.remove(&s);
        if s < start {
            self.free.insert(s, start);
        }
        if end < e {
            self.free.insert(end, e);
        }
        Ok(PhysRange { start, end })
    }

    /// Removes `range` from the free pool wherever it overlaps (for memory
    /// the firmware or the kernel image already uses).
    pub fn reserve(&mut self, range: PhysRange) {
        let overlapping: alloc::vec::Vec<(u64, u64)> = self
            .free
            .range(..range.end)
            .filter(|&(_, &e)| e > range.start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in overlapping {
            self.free.remove(&s);
            if s < range.start {
                self.free.insert(s, range.start);
            }
            if range.end < e {
                self.free.insert(range.end, e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    #[test]
    fn allocates_aligned_and_coalesces_on_free() {
        let mut a = RangeAllocator::new();
        a.free(PhysRange::new(0x1000, 0x10_0000)).unwrap();
        let r = a.allocate(0x3000, 0x1_0000).unwrap();
        assert_eq!(r, PhysRange::new(0x1_0000, 0x3000));
        assert_eq!(a.free_bytes(), 0x10_0000 - 0x3000);
        a.free(r).unwrap();
        assert_eq!(a.free_ranges().collect::<Vec<_>>(), [PhysRange::new(0x1000, 0x10_0000)]);
    }

    #[test]
    fn rejects_bad_requests_and_double_frees() {
        let mut a = RangeAllocator::new();
        a.free(PhysRange::new(0, 0x1000)).unwrap();
        assert_eq!(a.allocate(0, 8), Err(AllocError::BadRequest));
        assert_eq!(a.allocate(8, 3), Err(AllocError::BadRequest));
        assert_eq!(a.allocate(0x2000, 8), Err(AllocError::OutOfMemory));
        assert_eq!(a.free(PhysRange::new(0x800, 0x10)), Err(AllocError::DoubleFree));
    }

    #[test]
    fn reserve_cuts_holes() {
        let mut a = RangeAllocator::new();
        a.free(PhysRange::new(0, 0x10000)).unwrap();
        a.reserve(PhysRange::new(0x2000, 0x1000));
        a.reserve(PhysRange::new(0xf000, 0x5000));
        assert_eq!(
            a.free_ranges().collect::<Vec<_>>(),
            [PhysRange::new(0, 0x2000), PhysRange { start: 0x3000, end: 0xf000 }]
        );
    }

    proptest! {
        /// Allocations never overlap each other or leave the pool, and freeing
        /// them all restores the pool exactly.
        #[test]
        fn allocations_are_disjoint_and_conserved(
            requests in proptest::collection::vec((1u64..0x5000, 0u32..16), 1..64)
        ) {
            let pool = PhysRange::new(0x4000_0000, 0x10_0000);
            let mut a = RangeAllocator::new();
            a.free(pool).unwrap();
            let mut taken: Vec<PhysRange> = Vec::new();
            for (size, align_log) in requests {
                if let Ok(r) = a.allocate(size, 1 << align_log) {
                    prop_assert!(r.start >= pool.start && r.end <= pool.end);
                    prop_assert_eq!(r.start % (1 << align_log), 0);
                    prop_assert!(taken.iter().all(|t| t.end <= r.start || r.end <= t.start));
                    taken.push(r);
                }
            }
            let used: u64 = taken.iter().map(PhysRange::len).sum();
            prop_assert_eq!(a.free_bytes() + used, pool.len());
            for r in taken {
                a.free(r).unwrap();
            }
            prop_assert_eq!(a.free_ranges().collect::<Vec<_>>(), [pool]);
        }
    }
}
