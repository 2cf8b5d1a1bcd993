//! Derivations of one capability from another, with the semantics of the
//! Morello instructions: SCVALUE ([`Capability::set_address`]), SCBNDS
//! ([`Capability::set_bounds`]), SCBNDSE ([`Capability::set_bounds_exact`]),
//! CLRPERM ([`Capability::clear_permissions`]), SEAL with a capability or an
//! immediate form ([`Capability::seal`], [`Capability::seal_special`],
//! [`Capability::seal_entry`]), UNSEAL ([`Capability::unseal`]) and BUILD
//! ([`Capability::build`]).
//!
//! Like the hardware, a derivation that is not allowed does not fail: it
//! yields the computed bits with the tag cleared. The invariant every method
//! keeps (and the property tests check): a tagged result comes from a tagged
//! source, its bounds lie within the source's and its permissions are a
//! subset of the source's. `build` is the one operation that sets a tag, and
//! only on a subset of a tagged, unsealed authority.

use super::bounds::{self, EBT_MASK, Length, bounds_address, sign_differs};
use super::{Capability, MAX_OBJECT_TYPE, MAX_RESERVED_OTYPE, Permissions, SealState};
use super::{OTYPE_LOAD_BRANCH, OTYPE_LOAD_PAIR_BRANCH, OTYPE_SENTRY};

/// The result of SCBNDS: the capability and whether the requested bounds
/// were represented exactly (no outward rounding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rounded {
    /// The capability with the (possibly rounded) bounds.
    pub capability: Capability,
    /// Whether the requested bounds were represented exactly.
    pub exact: bool,
}

/// The reserved object types that the immediate form of SEAL applies
/// without a sealing capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpecialSeal {
    /// Object type 1: a sentry ("RB").
    Sentry,
    /// Object type 2: load-pair-and-branch ("LPB").
    LoadPairBranch,
    /// Object type 3: load-and-branch ("LB").
    LoadBranch,
}

impl SpecialSeal {
    /// The object type this form seals with.
    pub const fn object_type(self) -> u16 {
        match self {
            SpecialSeal::Sentry => OTYPE_SENTRY,
            SpecialSeal::LoadPairBranch => OTYPE_LOAD_PAIR_BRANCH,
            SpecialSeal::LoadBranch => OTYPE_LOAD_BRANCH,
        }
    }
}

/// Why [`Capability::build`] refused to tag a bit pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BuildError {
    /// The authority is not tagged.
    AuthorityUntagged,
    /// The authority is sealed.
    AuthoritySealed,
    /// The pattern's exponent is malformed (51..=62).
    MalformedBounds,
    /// The pattern's base lies above its top.
    BaseAboveTop,
    /// The pattern's bounds or permissions exceed the authority's.
    NotSubset,
    /// The pattern is sealed with an ordinary object type, which only a
    /// sealing capability could have produced.
    SealedWithOrdinaryType,
}

impl Capability {
    /// Whether moving the address to `address` keeps the bounds, by the
    /// hardware's check: a change of bit 55 while the bounds depend on the
    /// address (E < 48) or a malformed exponent is unrepresentable; an
    /// in-bounds target is representable; otherwise Morello's fast
    /// (conservative) check decides.
    pub fn is_representable_with_address(&self, address: u64) -> bool {
        let bounds = self.bounds();
        if bounds.depend_on_address() && sign_differs(address, self.address) {
            return false;
        }
        if !bounds.valid {
            return false;
        }
        let target = bounds_address(address);
        if target >= bounds.base && u128::from(target) < bounds.top {
            return true;
        }
        bounds::fast_representable(self.pesbt, &bounds, self.address, address)
    }

    /// SCVALUE: the same capability at another address. The tag is cleared
    /// if the capability is sealed or the new address is not representable
    /// (the bounds then decode differently from the same bits).
    pub fn set_address(&self, address: u64) -> Capability {
        let tag = self.tag && !self.is_sealed() && self.is_representable_with_address(address);
        Capability {
            pesbt: self.pesbt,
            address,
            tag,
        }
    }

    /// SCBNDS: bounds [address, address + length), rounded outward when not
    /// representable. The tag is cleared if the source is sealed or has
    /// malformed bounds, or if the requested bounds leave the source's.
    pub fn set_bounds(&self, length: Length) -> Rounded {
        let old = self.bounds();
        let mut tag = self.tag && !self.is_sealed() && old.valid;
        // Bounds that do not depend on the address take it unmasked, as the
        // taped-out hardware does; otherwise flags are stripped and bit 55
        // sign-extended.
        let from_large = !old.depend_on_address();
        let base = if from_large {
            self.address
        } else {
            bounds_address(self.address)
        };
        let top = u128::from(base) + length.get();
        if base < old.base || top > old.top {
            tag = false;
        }
        let encoding = bounds::encode(base, length);
        let capability = self.with_pesbt((self.pesbt & !EBT_MASK) | encoding.ebt, tag);
        // Going from address-independent to address-dependent bounds with
        // non-canonical flags would change the bounds: detag.
        let to_small = capability.bounds().depend_on_address();
        let capability = if from_large && to_small && bounds_address(self.address) != self.address {
            capability.without_tag()
        } else {
            capability
        };
        Rounded {
            capability,
            exact: encoding.exact,
        }
    }

    /// SCBNDSE: like [`Capability::set_bounds`], but the tag is also cleared
    /// when the bounds cannot be represented exactly.
    pub fn set_bounds_exact(&self, length: Length) -> Capability {
        let rounded = self.set_bounds(length);
        if rounded.exact {
            rounded.capability
        } else {
            rounded.capability.without_tag()
        }
    }

    /// CLRPERM: removes the permissions in `mask`. Clears the tag of a
    /// sealed capability.
    pub fn clear_permissions(&self, mask: Permissions) -> Capability {
        self.with_permissions(
            self.permissions().difference(mask),
            self.tag && !self.is_sealed(),
        )
    }

    /// SEAL with a sealing capability: seals with the object type given by
    /// `sealer`'s address. The result is tagged only if this capability is
    /// tagged and unsealed and `sealer` is tagged, unsealed, has the Seal
    /// permission and its address is within its bounds and an ordinary
    /// object type (4..=0x7fff). With any other address the bits are left
    /// unchanged and the tag cleared.
    pub fn seal(&self, sealer: &Capability) -> Capability {
        let otype = u16::try_from(sealer.address)
            .ok()
            .filter(|otype| (MAX_RESERVED_OTYPE + 1..=MAX_OBJECT_TYPE).contains(otype));
        let authorised = sealer.tag
            && !sealer.is_sealed()
            && sealer.permissions().contains(Permissions::SEAL)
            && sealer.covers_own_address();
        match otype {
            Some(otype) => {
                self.with_object_type(otype, self.tag && !self.is_sealed() && authorised)
            }
            None => self.without_tag(),
        }
    }

    /// SEAL with an immediate form: seals with a reserved object type. The
    /// tag is cleared if the capability is already sealed.
    pub fn seal_special(&self, form: SpecialSeal) -> Capability {
        self.with_object_type(form.object_type(), self.tag && !self.is_sealed())
    }

    /// Makes a sentry (sealed entry, object type 1).
    pub fn seal_entry(&self) -> Capability {
        self.seal_special(SpecialSeal::Sentry)
    }

    /// UNSEAL: unseals a capability sealed with an ordinary object type
    /// under `unsealer`, whose address must equal that object type and lie
    /// within its bounds, and which must be tagged, unsealed and have the
    /// Unseal permission. The result loses Global unless `unsealer` has it.
    pub fn unseal(&self, unsealer: &Capability) -> Capability {
        let matches_type = match self.seal_state() {
            SealState::Sealed(otype) => unsealer.address == u64::from(otype),
            _ => false,
        };
        let authorised = unsealer.tag
            && !unsealer.is_sealed()
            && unsealer.permissions().contains(Permissions::UNSEAL)
            && unsealer.covers_own_address();
        let mut permissions = self.permissions();
        if !unsealer.permissions().contains(Permissions::GLOBAL) {
            permissions.remove(Permissions::GLOBAL);
        }
        self.with_object_type(0, false)
            .with_permissions(permissions, self.tag && matches_type && authorised)
    }

    /// BUILD: the bits of `data` with the tag set, if `data` is derivable
    /// from this capability (the authority): the authority is tagged and
    /// unsealed, `data` has well-formed bounds (base ≤ top) within the
    /// authority's and a subset of its permissions, and `data` is unsealed
    /// or sealed with a reserved type (1..=3: a sentry or branch form that
    /// anyone may make with [`Capability::seal_special`]).
    pub fn build(&self, data: &Capability) -> Result<Capability, BuildError> {
        if !self.tag {
            return Err(BuildError::AuthorityUntagged);
        }
        if self.is_sealed() {
            return Err(BuildError::AuthoritySealed);
        }
        let bounds = data.bounds();
        if !bounds.valid {
            return Err(BuildError::MalformedBounds);
        }
        if u128::from(bounds.base) > bounds.top {
            return Err(BuildError::BaseAboveTop);
        }
        if !data.is_subset_of(self) {
            return Err(BuildError::NotSubset);
        }
        if let SealState::Sealed(_) = data.seal_state() {
            return Err(BuildError::SealedWithOrdinaryType);
        }
        Ok(Capability { tag: true, ..*data })
    }

    /// Whether the address lies within the bounds (for sealing authorities).
    fn covers_own_address(&self) -> bool {
        let bounds = self.bounds();
        bounds.valid && self.address >= bounds.base && u128::from(self.address) < bounds.top
    }
}

/// A tagged capability for [base, base + length) from the root, for tests
/// (the bounds must be exactly representable).
#[cfg(test)]
pub(crate) fn test_region(base: u64, length: u64) -> Capability {
    let cap = Capability::root().set_address(base).set_bounds_exact(Length::from(length));
    assert!(cap.tag(), "test region must be exact");
    cap
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::TOP_OF_ADDRESS_SPACE;

    use crate::capability::test_region as region;

    fn sealer(otype: u64) -> Capability {
        region(0, 0x8000)
            .clear_permissions(Permissions::UNSEAL)
            .set_address(otype)
    }

    fn unsealer(otype: u64) -> Capability {
        region(0, 0x8000)
            .clear_permissions(Permissions::SEAL)
            .set_address(otype)
    }

    #[test]
    fn set_address_keeps_bounds_and_detags_when_unrepresentable() {
        let cap = region(0x4000_0000, 0x1000);
        let moved = cap.set_address(0x4000_0800);
        assert!(moved.tag());
        assert_eq!((moved.base(), moved.top()), (0x4000_0000, 0x4000_1000));
        assert_eq!(moved.offset(), 0x800);
        let far = cap.set_address(0x7000_0000);
        assert!(!far.tag());
        assert_eq!(far.pesbt(), cap.pesbt());
        // Changing bit 55 with address-dependent bounds always detags.
        assert!(!cap.set_address(0x4000_0800 | 1 << 55).tag());
        // Flags alone (bits 63..56) do not move the bounds address.
        assert!(cap.set_address(0x4000_0800 | 0x2a << 56).tag());
        // An untagged source stays untagged.
        assert!(!cap.without_tag().set_address(0x4000_0800).tag());
    }

    #[test]
    fn set_bounds_rounds_outward_and_exact_detags() {
        let cap = Capability::root().set_address(0x1_2345);
        let rounded = cap.set_bounds(Length::from(0x10_0001));
        assert!(!rounded.exact);
        assert!(rounded.capability.tag());
        assert!(rounded.capability.base() <= 0x1_2345);
        assert!(rounded.capability.top() >= 0x11_2346);
        assert!(!cap.set_bounds_exact(Length::from(0x10_0001)).tag());
        let exact = cap.set_bounds(Length::from(0x100));
        assert!(exact.exact);
        assert_eq!(cap.set_bounds_exact(Length::from(0x100)), exact.capability);
    }

    #[test]
    fn set_bounds_outside_source_detags() {
        let cap = region(0x1000, 0x100);
        assert!(cap.set_bounds(Length::from(0x100)).capability.tag());
        assert!(!cap.set_bounds(Length::from(0x101)).capability.tag());
        assert!(
            !cap.set_address(0xff0)
                .set_bounds(Length::from(0x10))
                .capability
                .tag()
        );
        // The whole space from address 1 ends past 2^64.
        assert!(
            !Capability::root()
                .set_address(1)
                .set_bounds(Length::FULL)
                .capability
                .tag()
        );
        let full = Capability::root().set_bounds(Length::FULL);
        assert!(full.exact && full.capability.tag());
        assert_eq!(full.capability.top(), TOP_OF_ADDRESS_SPACE);
    }

    #[test]
    fn clear_permissions_removes_only_the_mask() {
        let cap = region(0x1000, 0x100);
        let read_only = cap.clear_permissions(Permissions::STORE | Permissions::STORE_CAP);
        assert!(read_only.tag());
        assert!(!read_only.permissions().contains(Permissions::STORE));
        assert!(read_only.permissions().contains(Permissions::LOAD));
        assert_eq!(read_only.bounds(), cap.bounds());
        // Sealed capabilities cannot be modified.
        assert!(!cap.seal_entry().clear_permissions(Permissions::STORE).tag());
    }

    #[test]
    fn seal_and_unseal_round_trip() {
        let cap = region(0x1000, 0x100).set_address(0x1010);
        let sealed = cap.seal(&sealer(0x42));
        assert!(sealed.tag());
        assert_eq!(sealed.seal_state(), SealState::Sealed(0x42));
        // Sealed capabilities cannot be moved or bounded.
        assert!(!sealed.set_address(0x1020).tag());
        assert!(!sealed.set_bounds(Length::from(0x10)).capability.tag());
        let unsealed = sealed.unseal(&unsealer(0x42));
        assert!(unsealed.tag());
        assert_eq!(unsealed, cap);
        // Wrong type, missing permission, sealing twice: all detag.
        assert!(!sealed.unseal(&unsealer(0x43)).tag());
        assert!(!sealed.unseal(&sealer(0x42)).tag());
        assert!(!cap.seal(&unsealer(0x42)).tag());
        assert!(!sealed.seal(&sealer(0x42)).tag());
        // An otype outside the sealer's bounds or in the reserved range.
        let past_top = region(0x100, 0x10)
            .clear_permissions(Permissions::UNSEAL)
            .set_address(0x110);
        assert!(past_top.tag(), "an address at top is representable");
        assert!(!cap.seal(&past_top).tag());
        assert!(cap.seal(&past_top.set_address(0x10f)).tag());
        assert!(!cap.seal(&sealer(2)).tag());
        assert!(!cap.seal(&sealer(0x42).without_tag()).tag());
    }

    #[test]
    fn unseal_without_global_authority_clears_global() {
        let cap = region(0x1000, 0x100);
        let sealed = cap.seal(&sealer(0x99));
        let local_unsealer = unsealer(0x99).clear_permissions(Permissions::GLOBAL);
        let unsealed = sealed.unseal(&local_unsealer);
        assert!(unsealed.tag());
        assert!(!unsealed.permissions().contains(Permissions::GLOBAL));
        assert_eq!(
            unsealed.permissions() | Permissions::GLOBAL,
            cap.permissions()
        );
    }

    #[test]
    fn sentries_and_special_forms() {
        let code = region(0x8000, 0x400).set_address(0x8100);
        let sentry = code.seal_entry();
        assert!(sentry.tag());
        assert_eq!(sentry.seal_state(), SealState::Sentry);
        assert_eq!(sentry.bounds(), code.bounds());
        assert!(!sentry.seal_entry().tag());
        assert!(
            !sentry.unseal(&unsealer(1)).tag(),
            "UNSEAL does not open reserved types"
        );
        assert_eq!(
            code.seal_special(SpecialSeal::LoadPairBranch).seal_state(),
            SealState::LoadPairBranch
        );
        assert_eq!(
            code.seal_special(SpecialSeal::LoadBranch).seal_state(),
            SealState::LoadBranch
        );
        assert!(!code.without_tag().seal_entry().tag());
    }

    #[test]
    fn build_retags_subsets_only() {
        let authority = region(0x10_0000, 0x1_0000);
        let inner = authority
            .set_address(0x10_0100)
            .set_bounds_exact(Length::from(0x100));
        let data = inner.clear_permissions(Permissions::EXECUTE).without_tag();
        assert_eq!(authority.build(&data), Ok(Capability { tag: true, ..data }));
        assert_eq!(
            authority.build(&data.seal_entry()).map(|c| c.seal_state()),
            Ok(SealState::Sentry)
        );
        assert_eq!(
            authority.without_tag().build(&data),
            Err(BuildError::AuthorityUntagged)
        );
        assert_eq!(
            authority.seal_entry().build(&data),
            Err(BuildError::AuthoritySealed)
        );
        let outside = Capability::root()
            .set_address(0x20_0000)
            .set_bounds_exact(Length::from(0x10));
        assert_eq!(
            authority.build(&outside.without_tag()),
            Err(BuildError::NotSubset)
        );
        let wider = authority.clear_permissions(Permissions::LOAD).build(&data);
        assert_eq!(wider, Err(BuildError::NotSubset));
        let sealed = inner.seal(&sealer(0x55)).without_tag();
        assert_eq!(
            authority.build(&sealed),
            Err(BuildError::SealedWithOrdinaryType)
        );
        // Exponent 51 is malformed.
        let malformed = Capability::from_parts((0b001 << 16) | 0b100, 0, false);
        assert_eq!(
            Capability::root().build(&malformed),
            Err(BuildError::MalformedBounds)
        );
    }

    #[test]
    fn build_rejects_inverted_bounds() {
        // From decode.txt: exponent 50 with B above T decodes to base
        // 0x14c0000000000000 above top 0x04e0000000000000.
        let data = Capability::from_parts(0xffff_c000_0139_0535, 0xaf74_90c8_1bcb_8849, false);
        assert_eq!(
            (data.base(), data.top()),
            (0x14c0_0000_0000_0000, 0x04e0_0000_0000_0000)
        );
        assert_eq!(
            Capability::root().build(&data),
            Err(BuildError::BaseAboveTop)
        );
    }
}
