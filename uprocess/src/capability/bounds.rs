//! Morello bounds compression: decoding the 31-bit exponent/bottom/top field
//! (capability bits 94..64) against an address, encoding requested bounds
//! (rounding outward), the hardware's fast representability check, and the
//! CRRL/CRAM computations.
//!
//! Everything here is a pure function of bit patterns, written from the Arm
//! Morello definitions (as restated in `cheri-compressed-cap`'s `cc128m`
//! format and its Sail-derived model) and checked line by line against the
//! shared reference vectors.
//!
//! Layout of the field, in pesbt bit numbers (capability bit − 64):
//! - bit 30: exponent-zero flag. When set, E = 0, `T[13:0]` is bits 29..16 and
//!   `B[15:0]` is bits 15..0.
//! - when clear (internal exponent): `T[13:3]` is bits 29..19, `B[15:3]` bits
//!   15..3, and the bit-inverted exponent is split: `E[5:3]` in bits 18..16,
//!   `E[2:0]` in bits 2..0.
//!
//! Bounds computations use the address with its top byte (the flags)
//! replaced by the sign extension of bit 55.

/// Width of the bottom mantissa B.
const MANTISSA_WIDTH: u32 = 16;
/// Largest exponent that a well-formed capability needs.
const MAX_EXPONENT: u8 = 50;
/// The only exponent above [`MAX_EXPONENT`] that still decodes as valid
/// (all ones: the encoding of NULL).
const MAX_ENCODABLE_EXPONENT: u8 = 63;
/// Below this exponent the bounds depend on address bits, including bit 55.
const ADDRESS_DEPENDENT_EXPONENT_LIMIT: u8 = 48;
/// Mask of the bounds field within pesbt.
pub(crate) const EBT_MASK: u64 = (1 << 31) - 1;
/// The encoding of [0, 2^64): internal exponent, E = 50, T = B = 0.
pub(crate) const MAX_BOUNDS_EBT: u64 = 0x0001_0005;
/// One past the highest address: the top of a capability that covers everything.
pub const TOP_OF_ADDRESS_SPACE: u128 = 1 << 64;
const LENGTH_WIDTH_MASK: u128 = (1 << 65) - 1;
const EXPONENT_ZERO_FLAG: u64 = 1 << 30;
/// The address bits below the flags byte.
const ADDRESS_MASK: u64 = 0x00ff_ffff_ffff_ffff;
const ADDRESS_SIGN_BIT: u64 = 1 << 55;

/// A requested bounds length: 0..=2^64 (the 65-bit length of Morello).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Length(u128);

impl Length {
    /// The length of the whole address space, 2^64.
    pub const FULL: Length = Length(TOP_OF_ADDRESS_SPACE);

    /// A length, or `None` if it exceeds 2^64.
    pub const fn new(length: u128) -> Option<Length> {
        if length <= TOP_OF_ADDRESS_SPACE {
            Some(Length(length))
        } else {
            None
        }
    }

    /// The length in bytes.
    pub const fn get(self) -> u128 {
        self.0
    }
}

impl From<u64> for Length {
    fn from(length: u64) -> Length {
        Length(u128::from(length))
    }
}

/// Decoded bounds of a capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bounds {
    /// The lowest address (64 bits; sign-extended from bit 55 when the
    /// bounds depend on the address).
    pub base: u64,
    /// One past the highest address: a 65-bit value. Arbitrary bit patterns
    /// may decode to top > 2^64 or top < base.
    pub top: u128,
    /// The decoded exponent E (0..=63).
    pub exponent: u8,
    /// False when the exponent is malformed (51..=62).
    pub valid: bool,
}

impl Bounds {
    /// top − base in 65-bit arithmetic.
    pub fn length(&self) -> u128 {
        self.top.wrapping_sub(u128::from(self.base)) & LENGTH_WIDTH_MASK
    }

    /// Whether `inner` lies within these bounds (base ≥ base, top ≤ top).
    pub fn contains(&self, inner: &Bounds) -> bool {
        inner.base >= self.base && inner.top <= self.top
    }

    /// Whether the bounds depend on the address (E < 48), so that changing
    /// bit 55 of the address would change them.
    pub fn depend_on_address(&self) -> bool {
        self.exponent < ADDRESS_DEPENDENT_EXPONENT_LIMIT
    }
}

/// The address used for bounds computations: the low 56 bits sign-extended
/// from bit 55 (the top byte holds flags).
pub fn bounds_address(address: u64) -> u64 {
    let low = address & ADDRESS_MASK;
    if low & ADDRESS_SIGN_BIT != 0 {
        low | !ADDRESS_MASK
    } else {
        low
    }
}

/// Whether two addresses differ in bit 55, the sign of the bounds address.
pub(crate) fn sign_differs(a: u64, b: u64) -> bool {
    (a ^ b) & ADDRESS_SIGN_BIT != 0
}

/// The raw mantissas and exponent of a bounds field, with T's top two bits
/// reconstructed.
#[derive(Clone, Copy)]
struct Fields {
    bottom: u64,
    top: u64,
    exponent: u8,
}

fn extract_fields(pesbt: u64) -> Fields {
    let internal_exponent = pesbt & EXPONENT_ZERO_FLAG == 0;
    let (bottom, top, exponent, length_msb) = if internal_exponent {
        let stored = (((pesbt >> 16) & 0b111) << 3) | (pesbt & 0b111);
        // Six bits, stored inverted.
        let exponent = (!stored & 0x3f) as u8;
        let bottom = ((pesbt >> 3) & 0x1fff) << 3;
        let top = ((pesbt >> 19) & 0x7ff) << 3;
        (bottom, top, exponent, 1)
    } else {
        (pesbt & 0xffff, (pesbt >> 16) & 0x3fff, 0, 0)
    };
    // T = B + length: its two high bits follow from B's two high bits, the
    // length's implied high bit and the carry out of the low 14 bits.
    let carry = u64::from(top < (bottom & 0x3fff));
    let high = ((bottom >> 14) + carry + length_msb) & 0b11;
    Fields {
        bottom,
        top: top | (high << 14),
        exponent,
    }
}

/// The exponent field of `pesbt` (0 in the exponent-zero format).
pub(crate) fn exponent_of(pesbt: u64) -> u8 {
    extract_fields(pesbt).exponent
}

/// Decodes the bounds of `pesbt` for a capability whose address is `address`.
pub(crate) fn decode(pesbt: u64, address: u64) -> Bounds {
    let fields = extract_fields(pesbt);
    if fields.exponent > MAX_EXPONENT {
        return Bounds {
            base: 0,
            top: TOP_OF_ADDRESS_SPACE,
            exponent: fields.exponent,
            valid: fields.exponent == MAX_ENCODABLE_EXPONENT,
        };
    }
    let e = u32::from(fields.exponent);
    let cursor = bounds_address(address);
    // The representable region is split in eight by the three top mantissa
    // bits; R is one eighth below B. Whether the address, base and top lie
    // above R decides which 2^(E+16)-aligned block each belongs to.
    let address_mid = (cursor >> (e + MANTISSA_WIDTH - 3)) & 0b111;
    let bottom3 = fields.bottom >> (MANTISSA_WIDTH - 3);
    let top3 = fields.top >> (MANTISSA_WIDTH - 3);
    let region = bottom3.wrapping_sub(1) & 0b111;
    let above = |x: u64| i64::from(x < region);
    let base_correction = above(bottom3) - above(address_mid);
    let top_correction = above(top3) - above(address_mid);
    let block_shift = e + MANTISSA_WIDTH;
    let address_block = if block_shift >= 64 {
        0
    } else {
        cursor >> block_shift
    };
    let assemble = |correction: i64, mantissa: u64| -> u128 {
        let block = u128::from(address_block.wrapping_add_signed(correction));
        (((block << MANTISSA_WIDTH) | u128::from(mantissa)) << e) & LENGTH_WIDTH_MASK
    };
    let base = assemble(base_correction, fields.bottom);
    let mut top = assemble(top_correction, fields.top);
    // When base and top end up more than an address space apart, the
    // representable region wrapped: flip bit 64 of top.
    let base_high = ((base >> 63) & 1) as u32;
    let top_high = ((top >> 63) & 0b11) as u32;
    if fields.exponent < MAX_EXPONENT - 1 && top_high.wrapping_sub(base_high) > 1 {
        top ^= TOP_OF_ADDRESS_SPACE;
    }
    Bounds {
        // Bit 64 of base is dropped, as the architecture does.
        base: base as u64,
        top,
        exponent: fields.exponent,
        valid: true,
    }
}

/// The result of compressing requested bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Encoding {
    /// The new bounds field (to be placed under [`EBT_MASK`]).
    pub(crate) ebt: u64,
    /// Whether the requested bounds are represented without rounding.
    pub(crate) exact: bool,
    /// The mask that aligns a base to the granule the encoding used (CRAM).
    pub(crate) alignment_mask: u64,
}

/// The exponent the encoder starts from for a length: the smallest E that
/// fits the length's most significant bit under a 16-bit mantissa whose top
/// bit is implied.
fn initial_exponent(length: u128) -> u32 {
    match u64::try_from(length) {
        Err(_) => 65 - (MANTISSA_WIDTH - 1),
        Ok(small) if small < 1 << (MANTISSA_WIDTH - 1) => 0,
        Ok(small) => (63 - small.leading_zeros()) - (MANTISSA_WIDTH - 2),
    }
}

/// Compresses [base, base + length), rounding outward when not exact.
pub(crate) fn encode(base: u64, length: Length) -> Encoding {
    let top = u128::from(base) + length.get();
    if base == 0 && top == TOP_OF_ADDRESS_SPACE {
        return Encoding {
            ebt: MAX_BOUNDS_EBT,
            exact: true,
            alignment_mask: u64::MAX,
        };
    }
    let exponent = initial_exponent(length.get());
    // Bit 14 of the length is the implied mantissa bit: a length from 2^14
    // needs the internal-exponent format even with E = 0.
    let needs_internal_exponent = exponent != 0 || (length.get() >> 14) & 1 == 1;
    if !needs_internal_exponent {
        // Truncation keeps `T[13:0]` and `B[15:0]`, which is all E = 0 needs.
        let ebt = EXPONENT_ZERO_FLAG | (((top as u64) & 0x3fff) << 16) | (base & 0xffff);
        return Encoding {
            ebt,
            exact: true,
            alignment_mask: u64::MAX,
        };
    }
    // The internal exponent takes the three low bits of B and T.
    let mut shift = exponent + 3;
    let mantissa = |value: u128, shift: u32| ((value >> shift) as u64) & 0x1fff;
    let lost_below = |value: u128, shift: u32| value & ((1 << shift) - 1) != 0;
    let mut bottom = mantissa(u128::from(base), shift);
    let mut top_bits = mantissa(top, shift);
    let mut lost_base = lost_below(u128::from(base), shift);
    let mut lost_top = lost_below(top, shift);
    if lost_top {
        top_bits = (top_bits + 1) & 0x1fff;
    }
    let mut new_exponent = exponent;
    // Rounding may have grown the length past the mantissa: one more bit of
    // exponent, recomputing B and T at the coarser granule.
    if (top_bits.wrapping_sub(bottom) & 0x1fff) >> 12 != 0 {
        new_exponent += 1;
        lost_base |= bottom & 1 == 1;
        lost_top |= top_bits & 1 == 1;
        shift += 1;
        bottom = mantissa(u128::from(base), shift);
        top_bits = (mantissa(top, shift) + u64::from(lost_top)) & 0x1fff;
    }
    let stored_exponent = u64::from(!new_exponent & 0x3f);
    let ebt = ((top_bits & 0x7ff) << 19)
        | ((stored_exponent >> 3) << 16)
        | (bottom << 3)
        | (stored_exponent & 0b111);
    Encoding {
        ebt,
        exact: !lost_base && !lost_top,
        alignment_mask: u64::MAX << shift,
    }
}

/// Morello's fast representability check (`CapIsRepresentableFast`) for
/// moving a capability with bounds field `pesbt` and `bounds` from address
/// `from` to `to`. The caller has already handled in-bounds targets.
pub(crate) fn fast_representable(pesbt: u64, bounds: &Bounds, from: u64, to: u64) -> bool {
    if bounds.base == 0 && bounds.top == TOP_OF_ADDRESS_SPACE {
        return true;
    }
    let fields = extract_fields(pesbt);
    let e = u32::from(fields.exponent);
    let increment = bounds_address(to.wrapping_sub(from));
    let cursor = bounds_address(from);
    let high_shift = (e + MANTISSA_WIDTH).min(63);
    let low_shift = e.min(63);
    // Arithmetic shift: the high part of the increment must be all zeros or
    // all ones (a small positive or negative move).
    let increment_high = (increment as i64) >> high_shift;
    let increment_mid = (increment >> low_shift) & 0xffff;
    let address_mid = (cursor >> low_shift) & 0xffff;
    let region3 = (fields.bottom >> (MANTISSA_WIDTH - 3)).wrapping_sub(1) & 0b111;
    let region = region3 << (MANTISSA_WIDTH - 3);
    let distance = region.wrapping_sub(address_mid) & 0xffff;
    let distance_less_one = distance.wrapping_sub(1) & 0xffff;
    let in_limits = match increment_high {
        0 => increment_mid < distance_less_one,
        -1 => increment_mid >= distance && region != address_mid,
        _ => false,
    };
    in_limits || fields.exponent >= MAX_EXPONENT - 2
}

/// CRAM: the mask that aligns a base so that bounds of `length` bytes from
/// it are exactly representable. All ones for lengths that need no
/// alignment (including 0).
pub fn alignment_mask(length: u64) -> u64 {
    encode(0, Length::from(length)).alignment_mask
}

/// CRRL: `length` rounded up to the next exactly representable length,
/// modulo 2^64 (so it wraps to 0 when the rounded length reaches 2^64).
pub fn representable_length(length: u64) -> u64 {
    let mask = alignment_mask(length);
    length.wrapping_add(!mask) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_bounds_decode_to_the_whole_space() {
        let root = decode(MAX_BOUNDS_EBT, 0x1234);
        assert_eq!(
            (root.base, root.top, root.exponent, root.valid),
            (0, 1 << 64, 50, true)
        );
        // All-zero bits (NULL) are exponent 63: also the whole space, valid.
        let null = decode(0, 0);
        assert_eq!(
            (null.base, null.top, null.exponent, null.valid),
            (0, 1 << 64, 63, true)
        );
    }

    #[test]
    fn malformed_exponents_are_invalid() {
        // Internal exponent 51: stored inverted as 0b001100.
        let pesbt = (0b001 << 16) | 0b100;
        let bounds = decode(pesbt, 0);
        assert_eq!(bounds.exponent, 51);
        assert!(!bounds.valid);
    }

    #[test]
    fn small_lengths_are_exact_and_round_trip() {
        let encoding = encode(0x1000_0010, Length::from(0x30));
        assert!(encoding.exact);
        let bounds = decode(encoding.ebt, 0x1000_0010);
        assert_eq!((bounds.base, bounds.top), (0x1000_0010, 0x1000_0040));
    }

    #[test]
    fn large_unaligned_bounds_round_outward() {
        let encoding = encode(0x1_0001, Length::from(0x10_0000));
        assert!(!encoding.exact);
        let bounds = decode(encoding.ebt, 0x1_0001);
        assert!(bounds.base <= 0x1_0001 && bounds.top >= 0x11_0001);
        assert_eq!(bounds.base & !encoding.alignment_mask, 0);
    }

    #[test]
    fn crrl_and_cram_edges() {
        assert_eq!(alignment_mask(0), u64::MAX);
        assert_eq!(representable_length(0), 0);
        assert_eq!(representable_length(u64::MAX), 0);
        assert_eq!(alignment_mask(0x3fff), u64::MAX);
        assert_eq!(alignment_mask(0x1_0001), !0x1f);
        assert_eq!(representable_length(0x1_0001), 0x1_0020);
    }

    #[test]
    fn bounds_address_sign_extends_bit_55() {
        assert_eq!(bounds_address(0x0080_0000_0000_0000), 0xff80_0000_0000_0000);
        assert_eq!(bounds_address(0x5a7f_ffff_ffff_ffff), 0x007f_ffff_ffff_ffff);
    }
}
