//! Tagged memory: memory with one validity tag per 16-byte granule, the
//! model the fork engines copy, scan and re-derive in.
//!
//! This module owns the [`TaggedMemory`] trait, its error type and the
//! iterator over tagged granules. The simulator for host tests lives in
//! [`sim`]; the implementation over real Morello memory (capability loads
//! and stores, tag reads) lives in `arch-morello`.
//!
//! Addresses are `u64` values in the memory's own address space (for the
//! hardware, virtual addresses of the single address space); no method
//! takes or returns a pointer. Every access is checked against the memory's
//! [`span`](TaggedMemory::span) and alignment and reports a [`MemoryError`]
//! instead of faulting.
//!
//! The semantics are Morello's:
//! - a capability store sets the granule's tag to the capability's tag;
//! - a data store clears the tag of every granule it touches, even partly;
//! - a capability in memory is little-endian: the address (bits 63..0) in
//!   the granule's first eight bytes, pesbt (bits 127..64) in the last eight;
//! - a data load of a tagged granule returns its bits and leaves the tag.

use core::ops::Range;

use crate::capability::Capability;

pub mod sim;

pub use sim::SimulatedMemory;

/// Bytes per tag granule (one capability).
pub const GRANULE_SIZE: u64 = 16;

/// Why an access to tagged memory was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryError {
    /// `[address, address + length)` is not inside the memory's span (or
    /// its end overflows 2^64).
    OutOfRange {
        /// First byte of the access.
        address: u64,
        /// Length of the access in bytes.
        length: u64,
    },
    /// An access that must be granule-aligned is not: its address (or, for
    /// copies and scans, its length) is not a multiple of [`GRANULE_SIZE`].
    Misaligned {
        /// First byte of the access.
        address: u64,
        /// Length of the access in bytes.
        length: u64,
    },
}

/// Memory with one tag bit per [`GRANULE_SIZE`]-byte granule.
///
/// Loads take `&self` and stores `&mut self`; an implementation over real
/// memory must hold the right to access its span for as long as it lives.
pub trait TaggedMemory {
    /// The addresses this memory holds: granule-aligned start and end.
    fn span(&self) -> Range<u64>;

    /// Loads the granule at `address` (granule-aligned): its 128 bits with
    /// its tag.
    fn load_capability(&self, address: u64) -> Result<Capability, MemoryError>;

    /// Stores `capability`'s bits at `address` (granule-aligned) and sets
    /// the granule's tag to the capability's tag.
    fn store_capability(
        &mut self,
        address: u64,
        capability: &Capability,
    ) -> Result<(), MemoryError>;

    /// Reads `buffer.len()` bytes from `address` (any alignment). Tags are
    /// unaffected.
    fn load_data(&self, address: u64, buffer: &mut [u8]) -> Result<(), MemoryError>;

    /// Writes `data` at `address` (any alignment) and clears the tag of
    /// every granule the write touches, even partly. An empty write touches
    /// nothing.
    fn store_data(&mut self, address: u64, data: &[u8]) -> Result<(), MemoryError>;

    /// Copies `length` bytes from `source` to `destination` with their tags,
    /// as if through a temporary buffer (overlapping ranges behave like
    /// `memmove`). Both addresses and the length are granule-aligned.
    fn copy_with_tags(
        &mut self,
        source: u64,
        destination: u64,
        length: u64,
    ) -> Result<(), MemoryError>;

    /// The tag of the granule at `address` (granule-aligned).
    fn read_tag(&self, address: u64) -> Result<bool, MemoryError>;

    /// The lowest address in `range` of a granule whose tag is set, or
    /// `None`. `range` is granule-aligned and inside the span; an empty
    /// range has no tagged granule.
    ///
    /// This is the scan primitive of the fork engines: it must be fast over
    /// long runs of untagged granules (the simulator skips 64 granules per
    /// bitmap word; hardware may read several tags per instruction). A
    /// caller that changes memory between calls resumes from the granule
    /// after the last one found.
    fn next_tagged_granule(&self, range: Range<u64>) -> Result<Option<u64>, MemoryError>;

    /// The addresses of the tagged granules in `range`, in increasing order
    /// (see [`TaggedMemory::next_tagged_granule`]). The iterator yields the
    /// first error and then ends.
    fn tagged_granules(&self, range: Range<u64>) -> TaggedGranules<'_, Self>
    where
        Self: Sized,
    {
        TaggedGranules {
            memory: self,
            remaining: Some(range),
        }
    }
}

/// Iterator over the addresses of tagged granules, from
/// [`TaggedMemory::tagged_granules`].
#[derive(Debug)]
pub struct TaggedGranules<'a, M: ?Sized> {
    memory: &'a M,
    /// The range still to scan; `None` once the scan ended or failed.
    remaining: Option<Range<u64>>,
}

impl<M: TaggedMemory + ?Sized> Iterator for TaggedGranules<'_, M> {
    type Item = Result<u64, MemoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        let range = self.remaining.take()?;
        match self.memory.next_tagged_granule(range.clone()) {
            Ok(Some(address)) => {
                // A tagged granule lies inside the range, so the next one
                // starts at most at its end (and the scan always advances).
                debug_assert!(range.contains(&address), "scan left {range:x?}");
                self.remaining = Some(address + GRANULE_SIZE..range.end);
                Some(Ok(address))
            }
            Ok(None) => None,
            Err(error) => Some(Err(error)),
        }
    }
}
