//! [`TaggedMemory`] over real Morello memory: capability loads and stores
//! (LDR/STR Cn), tag reads (GCTAG), data through ordinary loads and stores
//! (which clear tags, as the architecture does).
//!
//! A stored capability is rebuilt from DDC with BUILD and sealed again with
//! its object type, so its tag is set exactly when DDC authorises its bits;
//! every capability the kernel makes derives from DDC, so this holds for
//! everything the fork engine copies.

use super::insn;
use core::ops::Range;
use uprocess::capability::Capability;
use uprocess::tagged::{GRANULE_SIZE, MemoryError, TaggedMemory};

/// Kernel memory, seen as tagged memory at its kernel (linear-map) addresses.
#[derive(Debug)]
pub struct MorelloMemory {
    span: Range<u64>,
}

impl MorelloMemory {
    /// Tagged memory over `span`; `None` without Morello capabilities or for
    /// a span that is not granule-aligned.
    ///
    /// # Safety
    /// `span` must be RAM mapped read-write with capability loads and stores
    /// allowed (the kernel's linear map on Morello), and owned by the new
    /// value for its whole life: nothing else may access it meanwhile.
    pub unsafe fn new(span: Range<u64>) -> Option<MorelloMemory> {
        let aligned = span.start % GRANULE_SIZE == 0 && span.end % GRANULE_SIZE == 0 && span.start <= span.end;
        (crate::cpu::features().capabilities && aligned).then_some(MorelloMemory { span })
    }

    fn check(&self, address: u64, length: u64, granules: bool) -> Result<(), MemoryError> {
        let end = address.checked_add(length).ok_or(MemoryError::OutOfRange { address, length })?;
        if address < self.span.start || end > self.span.end {
            return Err(MemoryError::OutOfRange { address, length });
        }
        if granules && (address % GRANULE_SIZE != 0 || length % GRANULE_SIZE != 0) {
            return Err(MemoryError::Misaligned { address, length });
        }
        Ok(())
    }

    fn byte(address: u64) -> *mut u8 {
        core::ptr::with_exposed_provenance_mut(address as usize)
    }
}

impl TaggedMemory for MorelloMemory {
    fn span(&self) -> Range<u64> {
        self.span.clone()
    }

    fn load_capability(&self, address: u64) -> Result<Capability, MemoryError> {
        self.check(address, GRANULE_SIZE, true)?;
        // SAFETY: checked to be an aligned granule of the span `new` vouches for.
        let o = unsafe { insn::load_capability(address) };
        Ok(Capability::from_parts(o.pesbt, o.value, o.tag))
    }

    fn store_capability(&mut self, address: u64, capability: &Capability) -> Result<(), MemoryError> {
        self.check(address, GRANULE_SIZE, true)?;
        if capability.tag() {
            // SAFETY: as in `load_capability`; `&mut self` owns the span.
            unsafe {
                insn::store_built_capability(
                    address,
                    capability.pesbt(),
                    capability.address(),
                    u64::from(capability.object_type()),
                )
            };
            Ok(())
        } else {
            let mut bits = [0u8; 16];
            bits[..8].copy_from_slice(&capability.address().to_le_bytes());
            bits[8..].copy_from_slice(&capability.pesbt().to_le_bytes());
            self.store_data(address, &bits)
        }
    }

    fn load_data(&self, address: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        self.check(address, buffer.len() as u64, false)?;
        for (offset, slot) in (0u64..).zip(buffer.iter_mut()) {
            // SAFETY: inside the span (checked), which `new` vouches is mapped RAM.
            *slot = unsafe { Self::byte(address + offset).read_volatile() };
        }
        Ok(())
    }

    fn store_data(&mut self, address: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.check(address, data.len() as u64, false)?;
        for (offset, &value) in (0u64..).zip(data) {
            // SAFETY: inside the span (checked), owned through `&mut self`.
            // A data store clears the granule's tag in hardware.
            unsafe { Self::byte(address + offset).write_volatile(value) };
        }
        Ok(())
    }

    fn copy_with_tags(&mut self, source: u64, destination: u64, length: u64) -> Result<(), MemoryError> {
        self.check(source, length, true)?;
        self.check(destination, length, true)?;
        let backwards = destination > source && destination < source + length;
        // SAFETY: both ranges are aligned granules of the span (checked).
        unsafe { insn::copy_granules(source, destination, length / GRANULE_SIZE, backwards) };
        Ok(())
    }

    fn read_tag(&self, address: u64) -> Result<bool, MemoryError> {
        self.load_capability(address).map(|c| c.tag())
    }

    fn next_tagged_granule(&self, range: Range<u64>) -> Result<Option<u64>, MemoryError> {
        let length = range.end.saturating_sub(range.start);
        self.check(range.start, length, true)?;
        let granules = length / GRANULE_SIZE;
        // SAFETY: an aligned range of the span (checked).
        let index = unsafe { insn::first_tagged_granule(range.start, granules) };
        Ok((index < granules).then(|| range.start + index * GRANULE_SIZE))
    }
}
