//! The capability engine backed by the CPU's own instructions, so the
//! reference vectors can be run through real (or emulated) Morello hardware
//! and compared with the software model in `uprocess`.
//!
//! What the instructions cannot show is said per case: GCLEN saturates at
//! 2^64 - 1, so a decoded top at or above 2^64 is not observable (the case is
//! reported unsupported, not passed), and SCBNDS takes a 64-bit length, so
//! 2^64 lengths are unsupported too. The exponent and the bounds-validity bit
//! have no instruction that reads them: the engine decodes them from the
//! high half the hardware produced (CFHI), or for `decode` from the input bits.

use super::insn;
use uprocess::capability::{Capability, Length, bounds_address};
use uprocess::vectors::{
    AlignResult, CapabilityEngine, DecodeResult, SetAddrResult, SetBoundsResult, Unsupported,
};

/// The Morello CPU as a [`CapabilityEngine`]. Only constructible where
/// capabilities exist.
#[derive(Debug)]
pub struct HardwareEngine {
    _private: (),
}

impl HardwareEngine {
    /// The engine, if this CPU has Morello capabilities (enabled at boot).
    pub fn new() -> Option<HardwareEngine> {
        crate::cpu::features().capabilities.then_some(HardwareEngine { _private: () })
    }

    /// The root the vectors start from must be what DDC holds at reset.
    pub fn ddc(&self) -> insn::Observed {
        insn::ddc()
    }
}

const SATURATED_LENGTH: Unsupported = Unsupported { reason: "GCLEN saturates: a top at or above 2^64 is not observable" };
const FULL_LENGTH: Unsupported = Unsupported { reason: "SCBNDS takes a 64-bit length: 2^64 is not expressible" };

/// The top the hardware reports, when GCLEN did not saturate.
fn observed_top(o: &insn::Observed) -> Result<u128, Unsupported> {
    if o.length == u64::MAX {
        Err(SATURATED_LENGTH)
    } else {
        Ok(u128::from(o.base) + u128::from(o.length))
    }
}

fn sixty_four_bit(length: Length) -> Result<u64, Unsupported> {
    u64::try_from(length.get()).map_err(|_| FULL_LENGTH)
}

impl CapabilityEngine for HardwareEngine {
    fn decode(&mut self, pesbt: u64, cursor: u64) -> Result<DecodeResult, Unsupported> {
        let o = insn::decode_bits(pesbt, cursor);
        let unobservable = Capability::from_parts(pesbt, cursor, false);
        Ok(DecodeResult {
            base: o.base,
            top: observed_top(&o)?,
            permissions: o.permissions as u32,
            user_permissions: ((o.permissions >> 2) & 0xf) as u8,
            object_type: o.object_type as u16,
            // GCFLGS leaves the flags in place, in bits 63..56.
            flags: (o.flags >> 56) as u8,
            exponent: unobservable.exponent(),
            bounds_valid: unobservable.bounds_valid(),
        })
    }

    fn set_bounds(&mut self, req_base: u64, req_len: Length) -> Result<SetBoundsResult, Unsupported> {
        let length = sixty_four_bit(req_len)?;
        let rounded = insn::ddc_set_bounds(req_base, length);
        let produced = Capability::from_parts(rounded.pesbt, rounded.value, rounded.tag);
        let top = observed_top(&rounded)?;
        // SCBNDSE keeps the tag only for exact bounds inside the source; it
        // also clears it for exact bounds that leave the root (a non-canonical
        // base sign-extends past 2^64), so exactness is otherwise read from the
        // bounds GCBASE/GCLEN report, compared as the hardware compares them:
        // sign-extended from bit 55.
        let requested_top = req_base.wrapping_add(length);
        let bounds_match = bounds_address(rounded.base) == bounds_address(req_base)
            && bounds_address(top as u64) == bounds_address(requested_top);
        let exact = insn::ddc_set_bounds_exact(req_base, length).tag || bounds_match;
        Ok(SetBoundsResult {
            exact,
            base: rounded.base,
            top,
            pesbt: rounded.pesbt,
            cursor: rounded.value,
            exponent: produced.exponent(),
        })
    }

    fn set_address(&mut self, req_base: u64, req_len: Length, new_addr: u64) -> Result<SetAddrResult, Unsupported> {
        let o = insn::ddc_bounds_then_address(req_base, sixty_four_bit(req_len)?, new_addr);
        Ok(SetAddrResult { representable: o.tag, tag: o.tag, base: o.base, top: observed_top(&o)? })
    }

    fn align(&mut self, req_len: u64) -> Result<AlignResult, Unsupported> {
        let (representable_length, alignment_mask) = insn::representable_length_and_mask(req_len);
        Ok(AlignResult { alignment_mask, representable_length })
    }
}
