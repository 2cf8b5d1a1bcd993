//! The Arm Morello 128-bit capability as a value: its bit image (pesbt and
//! address, plus the tag) and every field decoded from it.
//!
//! Submodules own the parts: [`bounds`] the compression of bounds (and
//! CRRL/CRAM), [`perms`] the permission flags, `ops` the operations that
//! derive one capability from another (methods on [`Capability`]).
//!
//! A [`Capability`] is only its 129 bits; every decoded field is computed
//! from them, so a value can never disagree with its encoding. The tag can be
//! set in exactly three ways: [`Capability::root`] (the almighty capability
//! that hardware provides at reset), [`Capability::from_parts`] with
//! `tag = true` (a register or memory image that was already tagged), and
//! [`Capability::build`] (re-tagging under a tagged authority). Every other
//! operation yields a tag only if its source had one, and then with bounds
//! and permissions within the source's.

pub mod bounds;
mod ops;
pub mod perms;

pub use bounds::{
    Bounds, Length, TOP_OF_ADDRESS_SPACE, alignment_mask, bounds_address, representable_length,
};
pub use ops::{BuildError, Rounded, SpecialSeal};
#[cfg(test)]
pub(crate) use ops::test_region;
pub use perms::Permissions;

/// The pesbt of the reset capability: all permissions, unsealed, bounds
/// [0, 2^64) encoded with internal exponent 50.
pub const ROOT_PESBT: u64 = 0xffff_c000_0001_0005;
/// The largest object type (15 bits).
pub const MAX_OBJECT_TYPE: u16 = 0x7fff;
/// Object type of a sentry (Morello "RB": restricted branch).
pub const OTYPE_SENTRY: u16 = 1;
/// Object type of a load-pair-and-branch capability (Morello "LPB").
pub const OTYPE_LOAD_PAIR_BRANCH: u16 = 2;
/// Object type of a load-and-branch capability (Morello "LB").
pub const OTYPE_LOAD_BRANCH: u16 = 3;
/// The highest object type reserved by the architecture; ordinary sealing
/// uses types above it.
pub const MAX_RESERVED_OTYPE: u16 = OTYPE_LOAD_BRANCH;

const PERMS_SHIFT: u32 = 46;
const PERMS_MASK: u64 = 0x3ffff;
const OTYPE_SHIFT: u32 = 31;
const OTYPE_MASK: u64 = 0x7fff;

/// A Morello capability: 128 bits and a tag.
///
/// `PartialEq`/`Eq` compare the bits and the tag exactly (Morello's
/// `CHKEQ`-style equality of bit patterns); [`Capability::same_value`]
/// compares what the capability means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Capability {
    pesbt: u64,
    address: u64,
    tag: bool,
}

/// Whether and how a capability is sealed, from its object type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SealState {
    /// Object type 0.
    Unsealed,
    /// Object type 1: a sentry (sealed entry), unsealed by branching to it.
    Sentry,
    /// Object type 2: load-pair-and-branch.
    LoadPairBranch,
    /// Object type 3: load-and-branch.
    LoadBranch,
    /// Sealed with an ordinary object type (4..=0x7fff).
    Sealed(u16),
}

impl Capability {
    /// The all-zero, untagged capability (NULL).
    pub const NULL: Capability = Capability {
        pesbt: 0,
        address: 0,
        tag: false,
    };

    /// The almighty capability present at reset in DDC and PCC: tagged, all
    /// permissions, unsealed, bounds [0, 2^64), address 0.
    pub const fn root() -> Capability {
        Capability {
            pesbt: ROOT_PESBT,
            address: 0,
            tag: true,
        }
    }

    /// A capability from its register or memory image: pesbt is bits
    /// 127..64, `address` bits 63..0. A tag is only valid here if the image
    /// came from a tagged register or granule.
    pub const fn from_parts(pesbt: u64, address: u64, tag: bool) -> Capability {
        Capability {
            pesbt,
            address,
            tag,
        }
    }

    /// A capability from its 128 bits (bit 127 first) and a tag.
    pub const fn from_bits(bits: u128, tag: bool) -> Capability {
        Capability {
            pesbt: (bits >> 64) as u64,
            address: bits as u64,
            tag,
        }
    }

    /// The 128 bits of the capability (without the tag).
    pub const fn to_bits(&self) -> u128 {
        ((self.pesbt as u128) << 64) | self.address as u128
    }

    /// Bits 127..64: permissions, object type and bounds.
    pub const fn pesbt(&self) -> u64 {
        self.pesbt
    }

    /// Bits 63..0: the address (value), flags included.
    pub const fn address(&self) -> u64 {
        self.address
    }

    /// The validity tag.
    pub const fn tag(&self) -> bool {
        self.tag
    }

    /// The same bits with the tag cleared.
    pub const fn without_tag(&self) -> Capability {
        Capability {
            tag: false,
            ..*self
        }
    }

    /// The decoded bounds (base, 65-bit top, exponent, validity).
    pub fn bounds(&self) -> Bounds {
        bounds::decode(self.pesbt, self.address)
    }

    /// The lowest address of the bounds.
    pub fn base(&self) -> u64 {
        self.bounds().base
    }

    /// One past the highest address (65 bits).
    pub fn top(&self) -> u128 {
        self.bounds().top
    }

    /// top − base (65 bits).
    pub fn length(&self) -> u128 {
        self.bounds().length()
    }

    /// address − base, modulo 2^64.
    pub fn offset(&self) -> u64 {
        self.address.wrapping_sub(self.base())
    }

    /// The decoded exponent E (0 in the exponent-zero format).
    pub fn exponent(&self) -> u8 {
        bounds::exponent_of(self.pesbt)
    }

    /// False when the exponent is malformed (51..=62).
    pub fn bounds_valid(&self) -> bool {
        self.bounds().valid
    }

    /// The top byte of the address (Morello's flags).
    pub const fn flags(&self) -> u8 {
        (self.address >> 56) as u8
    }

    /// The 18-bit permission field.
    pub fn permissions(&self) -> Permissions {
        // The field is 18 bits, so every bit is a named flag.
        Permissions::from_bits_retain(((self.pesbt >> PERMS_SHIFT) & PERMS_MASK) as u32)
    }

    /// The 15-bit object type.
    pub const fn object_type(&self) -> u16 {
        ((self.pesbt >> OTYPE_SHIFT) & OTYPE_MASK) as u16
    }

    /// Whether the object type is non-zero.
    pub const fn is_sealed(&self) -> bool {
        self.object_type() != 0
    }

    /// The sealing state named by the object type.
    pub const fn seal_state(&self) -> SealState {
        match self.object_type() {
            0 => SealState::Unsealed,
            OTYPE_SENTRY => SealState::Sentry,
            OTYPE_LOAD_PAIR_BRANCH => SealState::LoadPairBranch,
            OTYPE_LOAD_BRANCH => SealState::LoadBranch,
            other => SealState::Sealed(other),
        }
    }

    /// Equality of meaning: tag, bounds (base, top, validity), permissions,
    /// object type and address. Two different encodings of the same bounds
    /// have the same value.
    pub fn same_value(&self, other: &Capability) -> bool {
        self.tag == other.tag
            && self.address == other.address
            && self.permissions() == other.permissions()
            && self.object_type() == other.object_type()
            && {
                let (a, b) = (self.bounds(), other.bounds());
                a.base == b.base && a.top == b.top && a.valid == b.valid
            }
    }

    /// Whether this capability's bounds lie within `authority`'s and its
    /// permissions are a subset of `authority`'s (tags and seals ignored).
    pub fn is_subset_of(&self, authority: &Capability) -> bool {
        authority.bounds().contains(&self.bounds())
            && authority.permissions().contains(self.permissions())
    }

    fn with_pesbt(&self, pesbt: u64, tag: bool) -> Capability {
        Capability {
            pesbt,
            address: self.address,
            tag,
        }
    }

    fn with_object_type(&self, otype: u16, tag: bool) -> Capability {
        let pesbt = (self.pesbt & !(OTYPE_MASK << OTYPE_SHIFT)) | (u64::from(otype) << OTYPE_SHIFT);
        self.with_pesbt(pesbt, tag)
    }

    fn with_permissions(&self, permissions: Permissions, tag: bool) -> Capability {
        let field = u64::from(permissions.bits()) & PERMS_MASK;
        let pesbt = (self.pesbt & !(PERMS_MASK << PERMS_SHIFT)) | (field << PERMS_SHIFT);
        self.with_pesbt(pesbt, tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_decodes_as_almighty() {
        let root = Capability::root();
        assert!(root.tag());
        assert_eq!(root.base(), 0);
        assert_eq!(root.top(), TOP_OF_ADDRESS_SPACE);
        assert_eq!(root.length(), TOP_OF_ADDRESS_SPACE);
        assert_eq!(root.permissions(), Permissions::all());
        assert_eq!(root.seal_state(), SealState::Unsealed);
        assert_eq!(root.exponent(), 50);
        assert!(root.bounds_valid());
    }

    #[test]
    fn bits_round_trip() {
        let bits = 0x47e4_4000_224f_0005_ff82_11c0_0000_582f_u128;
        let cap = Capability::from_bits(bits, true);
        assert_eq!(cap.to_bits(), bits);
        assert_eq!(cap.pesbt(), 0x47e4_4000_224f_0005);
        assert_eq!(cap.address(), 0xff82_11c0_0000_582f);
        assert_eq!(cap.flags(), 0xff);
        assert_eq!(
            Capability::from_parts(cap.pesbt(), cap.address(), true),
            cap
        );
    }

    #[test]
    fn decodes_a_vector_line() {
        // decode.txt: 0x47e44000224f0005 0xff8211c00000582f -> base
        // 0xff8211c000000000 top 0xff8211c000018920 perms 0x11f91 uperms 0x4
        // otype 0 flags 0xff exp 2 valid 1
        let cap = Capability::from_parts(0x47e4_4000_224f_0005, 0xff82_11c0_0000_582f, false);
        assert_eq!(cap.base(), 0xff82_11c0_0000_0000);
        assert_eq!(cap.top(), 0xff82_11c0_0001_8920);
        assert_eq!(cap.permissions().bits(), 0x11f91);
        assert_eq!(cap.permissions().user_bits(), 4);
        assert_eq!(cap.object_type(), 0);
        assert_eq!(cap.exponent(), 2);
        assert_eq!(cap.offset(), 0x582f);
    }

    #[test]
    fn seal_states_follow_the_object_type() {
        let with = |otype: u16| Capability::NULL.with_object_type(otype, false).seal_state();
        assert_eq!(with(0), SealState::Unsealed);
        assert_eq!(with(1), SealState::Sentry);
        assert_eq!(with(2), SealState::LoadPairBranch);
        assert_eq!(with(3), SealState::LoadBranch);
        assert_eq!(with(0x7fff), SealState::Sealed(0x7fff));
        assert!(Capability::NULL.with_object_type(9, false).is_sealed());
        assert!(!Capability::NULL.is_sealed());
    }

    #[test]
    fn bit_equality_differs_from_value_equality() {
        // Exponent 63 decodes to [0, 2^64) whatever B and T hold: two bit
        // patterns, one value.
        let a = Capability::from_parts(0, 0x40, false);
        let b = Capability::from_parts(0x0000_0000_0000_0008, 0x40, false);
        assert_ne!(a, b);
        assert!(a.same_value(&b));
        // Same bits, different tag: neither equal nor the same value.
        assert_ne!(a, a.without_tag().with_pesbt(0, true));
        assert!(!a.same_value(&a.with_pesbt(0, true)));
        // A different address is a different value.
        assert!(!Capability::root().same_value(&Capability::from_parts(ROOT_PESBT, 1, true)));
    }
}
