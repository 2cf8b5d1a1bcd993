//! [`SimulatedMemory`]: tagged memory for host tests, a byte array plus a
//! tag bitmap, with the semantics of Morello memory (see [`super`]).

use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use super::{GRANULE_SIZE, MemoryError, TaggedMemory};
use crate::capability::Capability;

/// [`GRANULE_SIZE`] as an index.
const GRANULE_BYTES: usize = GRANULE_SIZE as usize;
/// Granules per bitmap word.
const WORD_GRANULES: usize = 64;

/// A span of simulated memory at `base`: its bytes and one tag bit per
/// granule (bit `i % 64` of word `i / 64` for granule `i`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimulatedMemory {
    base: u64,
    bytes: Vec<u8>,
    tags: Vec<u64>,
}

impl SimulatedMemory {
    /// Zeroed, untagged memory for `[base, base + size)`. Both must be
    /// granule-aligned and the end must not pass `u64::MAX`.
    pub fn new(base: u64, size: u64) -> Result<SimulatedMemory, MemoryError> {
        let error = MemoryError::OutOfRange {
            address: base,
            length: size,
        };
        if !base.is_multiple_of(GRANULE_SIZE) || !size.is_multiple_of(GRANULE_SIZE) {
            return Err(MemoryError::Misaligned {
                address: base,
                length: size,
            });
        }
        base.checked_add(size).ok_or(error)?;
        let size = usize::try_from(size).map_err(|_| error)?;
        let granules = size / GRANULE_BYTES;
        Ok(SimulatedMemory {
            base,
            bytes: vec![0; size],
            tags: vec![0; granules.div_ceil(WORD_GRANULES)],
        })
    }

    /// The byte index of `[address, address + length)`, if it lies inside
    /// the span.
    fn index(&self, address: u64, length: u64) -> Result<usize, MemoryError> {
        let error = MemoryError::OutOfRange { address, length };
        let offset = address.checked_sub(self.base).ok_or(error)?;
        let end = offset.checked_add(length).ok_or(error)?;
        // `bytes.len()` fits in u64 (it came from a u64 size).
        if end > self.bytes.len() as u64 {
            return Err(error);
        }
        // offset ≤ end ≤ bytes.len(), so it fits in usize.
        Ok(offset as usize)
    }

    /// Like [`SimulatedMemory::index`], and the address and length must be
    /// granule-aligned.
    fn aligned_index(&self, address: u64, length: u64) -> Result<usize, MemoryError> {
        if !address.is_multiple_of(GRANULE_SIZE) || !length.is_multiple_of(GRANULE_SIZE) {
            return Err(MemoryError::Misaligned { address, length });
        }
        self.index(address, length)
    }

    fn tag(&self, granule: usize) -> bool {
        self.tags[granule / WORD_GRANULES] & (1 << (granule % WORD_GRANULES)) != 0
    }

    fn set_tag(&mut self, granule: usize, tag: bool) {
        let word = &mut self.tags[granule / WORD_GRANULES];
        let bit = 1 << (granule % WORD_GRANULES);
        if tag {
            *word |= bit;
        } else {
            *word &= !bit;
        }
    }
}

/// The granule holding byte index `index`.
fn granule_of(index: usize) -> usize {
    index / GRANULE_BYTES
}

impl TaggedMemory for SimulatedMemory {
    fn span(&self) -> Range<u64> {
        self.base..self.base + self.bytes.len() as u64
    }

    fn load_capability(&self, address: u64) -> Result<Capability, MemoryError> {
        let index = self.aligned_index(address, GRANULE_SIZE)?;
        let mut image = [0; GRANULE_BYTES];
        image.copy_from_slice(&self.bytes[index..index + GRANULE_BYTES]);
        Ok(Capability::from_bits(
            u128::from_le_bytes(image),
            self.tag(granule_of(index)),
        ))
    }

    fn store_capability(
        &mut self,
        address: u64,
        capability: &Capability,
    ) -> Result<(), MemoryError> {
        let index = self.aligned_index(address, GRANULE_SIZE)?;
        let image = capability.to_bits().to_le_bytes();
        self.bytes[index..index + GRANULE_BYTES].copy_from_slice(&image);
        self.set_tag(granule_of(index), capability.tag());
        Ok(())
    }

    fn load_data(&self, address: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        let index = self.index(address, buffer.len() as u64)?;
        buffer.copy_from_slice(&self.bytes[index..index + buffer.len()]);
        Ok(())
    }

    fn store_data(&mut self, address: u64, data: &[u8]) -> Result<(), MemoryError> {
        let index = self.index(address, data.len() as u64)?;
        self.bytes[index..index + data.len()].copy_from_slice(data);
        if !data.is_empty() {
            for granule in granule_of(index)..=granule_of(index + data.len() - 1) {
                self.set_tag(granule, false);
            }
        }
        Ok(())
    }

    fn copy_with_tags(
        &mut self,
        source: u64,
        destination: u64,
        length: u64,
    ) -> Result<(), MemoryError> {
        let from = self.aligned_index(source, length)?;
        let to = self.aligned_index(destination, length)?;
        // Both ranges are inside the span, so the length fits in usize.
        let length = length as usize;
        self.bytes.copy_within(from..from + length, to);
        let (from, to) = (granule_of(from), granule_of(to));
        let granules = granule_of(length);
        // Like memmove: walk away from the overlap.
        if to <= from {
            for i in 0..granules {
                self.set_tag(to + i, self.tag(from + i));
            }
        } else {
            for i in (0..granules).rev() {
                self.set_tag(to + i, self.tag(from + i));
            }
        }
        Ok(())
    }

    fn read_tag(&self, address: u64) -> Result<bool, MemoryError> {
        let index = self.aligned_index(address, GRANULE_SIZE)?;
        Ok(self.tag(granule_of(index)))
    }

    fn next_tagged_granule(&self, range: Range<u64>) -> Result<Option<u64>, MemoryError> {
        let length = range
            .end
            .checked_sub(range.start)
            .ok_or(MemoryError::OutOfRange {
                address: range.start,
                length: 0,
            })?;
        let start = self.aligned_index(range.start, length)?;
        let (first, end) = (
            granule_of(start),
            granule_of(start) + granule_of(length as usize),
        );
        if first == end {
            return Ok(None);
        }
        // Word at a time: mask off the granules before `first`, then skip
        // whole zero words.
        let mut word_index = first / WORD_GRANULES;
        let mut word = self.tags[word_index] & (u64::MAX << (first % WORD_GRANULES));
        while word == 0 {
            word_index += 1;
            if word_index * WORD_GRANULES >= end {
                return Ok(None);
            }
            word = self.tags[word_index];
        }
        let granule = word_index * WORD_GRANULES + word.trailing_zeros() as usize;
        Ok((granule < end).then(|| self.base + granule as u64 * GRANULE_SIZE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::Length;

    const BASE: u64 = 0x4000_0000;

    fn memory(granules: u64) -> SimulatedMemory {
        SimulatedMemory::new(BASE, granules * GRANULE_SIZE).expect("aligned test memory")
    }

    fn tagged(address: u64) -> Capability {
        let cap = Capability::root()
            .set_address(address)
            .set_bounds_exact(Length::from(0x40));
        assert!(cap.tag());
        cap
    }

    fn tagged_addresses(memory: &SimulatedMemory, range: Range<u64>) -> Vec<u64> {
        memory
            .tagged_granules(range)
            .collect::<Result<_, _>>()
            .expect("scan in range")
    }

    #[test]
    fn construction_checks_alignment_and_overflow() {
        assert_eq!(
            SimulatedMemory::new(8, 16),
            Err(MemoryError::Misaligned {
                address: 8,
                length: 16
            })
        );
        assert_eq!(
            SimulatedMemory::new(0, 24),
            Err(MemoryError::Misaligned {
                address: 0,
                length: 24
            })
        );
        let top = u64::MAX - 15;
        assert_eq!(
            SimulatedMemory::new(top, 32),
            Err(MemoryError::OutOfRange {
                address: top,
                length: 32
            })
        );
        assert_eq!(memory(3).span(), BASE..BASE + 48);
    }

    #[test]
    fn capabilities_round_trip_with_their_tag_little_endian() {
        let mut mem = memory(4);
        let cap = tagged(0x1234_5670);
        mem.store_capability(BASE + 16, &cap).unwrap();
        assert_eq!(mem.load_capability(BASE + 16), Ok(cap));
        assert_eq!(mem.read_tag(BASE + 16), Ok(true));
        assert_eq!(mem.read_tag(BASE), Ok(false));
        let mut image = [0; 16];
        mem.load_data(BASE + 16, &mut image).unwrap();
        assert_eq!(image[..8], cap.address().to_le_bytes());
        assert_eq!(image[8..], cap.pesbt().to_le_bytes());
        assert_eq!(mem.read_tag(BASE + 16), Ok(true), "a data load keeps tags");
        // Storing an untagged capability clears the tag, keeps the bits.
        mem.store_capability(BASE + 16, &cap.without_tag()).unwrap();
        assert_eq!(mem.load_capability(BASE + 16), Ok(cap.without_tag()));
    }

    #[test]
    fn data_stores_clear_every_granule_they_touch() {
        let mut mem = memory(4);
        for granule in 0..4 {
            let address = BASE + granule * 16;
            mem.store_capability(address, &tagged(address)).unwrap();
        }
        // One byte at the end of granule 1 and one at the start of granule 2.
        mem.store_data(BASE + 31, &[0xaa, 0xbb]).unwrap();
        let tags: Vec<bool> = (0..4)
            .map(|g| mem.read_tag(BASE + g * 16).unwrap())
            .collect();
        assert_eq!(tags, [true, false, false, true]);
        let mut bytes = [0; 2];
        mem.load_data(BASE + 31, &mut bytes).unwrap();
        assert_eq!(bytes, [0xaa, 0xbb]);
        // An empty store touches nothing, even at the end of the span.
        mem.store_data(BASE + 48, &[]).unwrap();
        mem.store_data(BASE + 64, &[]).unwrap();
        assert_eq!(mem.read_tag(BASE + 48), Ok(true));
    }

    #[test]
    fn accesses_outside_the_span_or_misaligned_fail() {
        let mut mem = memory(2);
        let cap = tagged(BASE);
        assert_eq!(
            mem.store_capability(BASE + 32, &cap),
            Err(MemoryError::OutOfRange {
                address: BASE + 32,
                length: 16
            })
        );
        assert_eq!(
            mem.load_capability(BASE - 16),
            Err(MemoryError::OutOfRange {
                address: BASE - 16,
                length: 16
            })
        );
        assert_eq!(
            mem.load_capability(BASE + 8),
            Err(MemoryError::Misaligned {
                address: BASE + 8,
                length: 16
            })
        );
        assert_eq!(
            mem.read_tag(BASE + 1),
            Err(MemoryError::Misaligned {
                address: BASE + 1,
                length: 16
            })
        );
        assert_eq!(
            mem.store_data(BASE + 30, &[0; 3]),
            Err(MemoryError::OutOfRange {
                address: BASE + 30,
                length: 3
            })
        );
        assert_eq!(
            mem.load_data(u64::MAX, &mut [0; 2]),
            Err(MemoryError::OutOfRange {
                address: u64::MAX,
                length: 2
            })
        );
        assert_eq!(
            mem.copy_with_tags(BASE, BASE + 16, 8),
            Err(MemoryError::Misaligned {
                address: BASE,
                length: 8
            })
        );
        assert_eq!(
            mem.copy_with_tags(BASE, BASE + 16, 32),
            Err(MemoryError::OutOfRange {
                address: BASE + 16,
                length: 32
            })
        );
        assert_eq!(
            mem.next_tagged_granule(Range {
                start: BASE + 16,
                end: BASE
            }),
            Err(MemoryError::OutOfRange {
                address: BASE + 16,
                length: 0
            })
        );
        assert_eq!(
            mem.next_tagged_granule(BASE..BASE + 8),
            Err(MemoryError::Misaligned {
                address: BASE,
                length: 8
            })
        );
        let mut scan = mem.tagged_granules(BASE..BASE + 48);
        assert_eq!(
            scan.next(),
            Some(Err(MemoryError::OutOfRange {
                address: BASE,
                length: 48
            }))
        );
        assert_eq!(scan.next(), None, "the scan ends after an error");
    }

    /// Tags granules `0..count` with a capability naming each granule.
    fn numbered(count: u64) -> SimulatedMemory {
        let mut mem = memory(count);
        for granule in 0..count {
            let address = BASE + granule * 16;
            mem.store_capability(address, &tagged(address)).unwrap();
        }
        mem
    }

    fn assert_numbered(mem: &SimulatedMemory, granule: u64, expected: u64) {
        let address = BASE + granule * 16;
        assert_eq!(
            mem.load_capability(address),
            Ok(tagged(BASE + expected * 16)),
            "granule {granule}"
        );
    }

    #[test]
    fn copies_overlapping_forward_and_backward_like_memmove() {
        let mut mem = numbered(8);
        mem.store_data(BASE + 2 * 16, &[1]).unwrap();
        // Upward by two granules: granules 0..5 to 2..7.
        mem.copy_with_tags(BASE, BASE + 32, 5 * 16).unwrap();
        assert_numbered(&mem, 0, 0);
        assert_numbered(&mem, 1, 1);
        for granule in 2..7 {
            if granule == 4 {
                assert_eq!(mem.read_tag(BASE + 4 * 16), Ok(false));
            } else {
                assert_numbered(&mem, granule, granule - 2);
            }
        }
        assert_numbered(&mem, 7, 7);

        let mut mem = numbered(8);
        mem.store_data(BASE + 5 * 16, &[1]).unwrap();
        // Downward by three granules: granules 3..8 to 0..5.
        mem.copy_with_tags(BASE + 48, BASE, 5 * 16).unwrap();
        for granule in 0..5 {
            if granule == 2 {
                assert_eq!(mem.read_tag(BASE + 2 * 16), Ok(false));
            } else {
                assert_numbered(&mem, granule, granule + 3);
            }
        }
        assert_eq!(mem.read_tag(BASE + 5 * 16), Ok(false));
        assert_numbered(&mem, 6, 6);
        assert_numbered(&mem, 7, 7);
    }

    #[test]
    fn scan_skips_words_and_respects_both_ends() {
        let mut mem = memory(300);
        let granules = [0, 63, 64, 200, 299];
        for granule in granules {
            let address = BASE + granule * 16;
            mem.store_capability(address, &tagged(address)).unwrap();
        }
        let all: Vec<u64> = granules.iter().map(|g| BASE + g * 16).collect();
        assert_eq!(tagged_addresses(&mem, mem.span()), all);
        // Starting inside a word masks the granules before the start; the
        // end is exclusive even inside a word.
        assert_eq!(
            tagged_addresses(&mem, BASE + 16..BASE + 200 * 16),
            all[1..3]
        );
        assert_eq!(
            tagged_addresses(&mem, BASE + 65 * 16..BASE + 201 * 16),
            all[3..4]
        );
        assert_eq!(tagged_addresses(&mem, BASE + 65 * 16..BASE + 200 * 16), []);
        let end = mem.span().end;
        assert_eq!(mem.next_tagged_granule(end..end), Ok(None));
    }
}
