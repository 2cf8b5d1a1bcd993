//! The μFork re-derivation primitive: moving a μprocess's capabilities from
//! its parent's region to its child's.
//!
//! This module owns [`Relocation`] (one parent region, one child region, an
//! [`OutsidePolicy`] and an optional sealing authority, checked once) and
//! what it does:
//! - [`Relocation::rederive`]: the capability the child must hold in place
//!   of one found in the copy;
//! - [`Relocation::relocate_region`]: copy the parent region with its tags
//!   to the child's place in a [`TaggedMemory`], scan the copy and re-derive
//!   every tagged granule in place;
//! - [`Relocation::relocate_registers`]: the same for a saved
//!   [`CapabilityRegisterFile`].
//!
//! A capability whose bounds lie inside the parent region is rebuilt from
//! the child region's capability by the monotonic operations of
//! [`crate::capability`] (SCVALUE, SCBNDSE, CLRPERM, SEAL), never by
//! rewriting bits: the result can only have bounds inside the child region
//! and permissions within the found capability's and the child region's.
//! When a step cannot reproduce the capability exactly (bounds that are not
//! exact at the new place, an address that is not representable there, a
//! seal without authority) the result is the found bits with the tag
//! cleared: never a wider capability.

use crate::capability::{Capability, Length, SealState, SpecialSeal, bounds_address};
use crate::tagged::{GRANULE_SIZE, MemoryError, TaggedMemory};

/// The flags byte of an address (bits 63..56).
const FLAGS_MASK: u64 = 0xff << 56;

/// What to do with a capability whose bounds lie entirely outside the
/// parent region (memory the kernel granted, shared with others).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutsidePolicy {
    /// The child keeps it unchanged.
    Keep,
    /// The child gets it with the tag cleared.
    Clear,
}

/// Why a [`Relocation`] could not be set up, or a region relocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelocationError {
    /// The child region's capability is untagged: it cannot be the
    /// authority for the child's capabilities.
    ChildRegionUntagged,
    /// The child region's capability is sealed.
    ChildRegionSealed,
    /// The regions differ in length (65-bit lengths).
    LengthMismatch {
        /// Length of the parent region.
        parent: u128,
        /// Length of the child region.
        child: u128,
    },
    /// The regions share at least one byte.
    RegionsOverlap,
    /// A region ends at 2^64, past every address a [`TaggedMemory`] can
    /// span.
    RegionAtTopOfAddressSpace,
    /// The memory refused an access (the region is not inside it, or not
    /// granule-aligned).
    Memory(MemoryError),
}

impl From<MemoryError> for RelocationError {
    fn from(error: MemoryError) -> RelocationError {
        RelocationError::Memory(error)
    }
}

/// Why a tagged capability reached the child with its tag cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClearReason {
    /// Its bounds lie outside the parent region and the policy is
    /// [`OutsidePolicy::Clear`].
    Outside,
    /// Its bounds cross an edge of the parent region.
    Straddles,
    /// Its bounds are malformed (bad exponent, base above top, or a length
    /// above 2^64).
    MalformedBounds,
    /// The same bounds or address offset cannot be represented at the
    /// child's place. (With regions of exact bounds only the address can
    /// fail: every object's alignment divides the regions'.)
    NotRepresentable,
    /// It is sealed with an ordinary object type and no sealing authority
    /// was given.
    NoSealer,
    /// The sealing authority could not seal with its object type.
    SealRefused,
}

/// What [`Relocation::rederive`] did with a capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It was untagged and is returned unchanged.
    Untagged,
    /// It was rebuilt inside the child region.
    Rederived,
    /// It lies outside the parent region and was kept
    /// ([`OutsidePolicy::Keep`]).
    Kept,
    /// Its tag was cleared.
    Cleared(ClearReason),
}

/// The capability the child gets and how it was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rederivation {
    /// The capability for the child.
    pub capability: Capability,
    /// How it was obtained.
    pub outcome: Outcome,
}

/// Counts of a relocation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RelocationStats {
    /// Granules (of a region) or registers (of a register file) examined.
    pub scanned: u64,
    /// Tagged capabilities rebuilt inside the child region.
    pub rederived: u64,
    /// Tagged capabilities outside the parent region kept unchanged.
    pub kept: u64,
    /// Tagged capabilities whose tag was cleared.
    pub cleared: u64,
}

impl RelocationStats {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Untagged => {}
            Outcome::Rederived => self.rederived += 1,
            Outcome::Kept => self.kept += 1,
            Outcome::Cleared(_) => self.cleared += 1,
        }
    }
}

/// The capability registers saved for a μprocess: C0–C30, CSP, PCC, DDC
/// and CTPIDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CapabilityRegisterFile {
    /// C0–C30.
    pub c: [Capability; 31],
    /// The stack pointer.
    pub csp: Capability,
    /// The program counter capability.
    pub pcc: Capability,
    /// The default data capability.
    pub ddc: Capability,
    /// The thread pointer.
    pub ctpidr: Capability,
}

impl Default for CapabilityRegisterFile {
    /// Every register NULL.
    fn default() -> CapabilityRegisterFile {
        CapabilityRegisterFile {
            c: [Capability::NULL; 31],
            csp: Capability::NULL,
            pcc: Capability::NULL,
            ddc: Capability::NULL,
            ctpidr: Capability::NULL,
        }
    }
}

impl CapabilityRegisterFile {
    /// Every register: C0–C30, then CSP, PCC, DDC, CTPIDR.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Capability> {
        self.c.iter_mut().chain([
            &mut self.csp,
            &mut self.pcc,
            &mut self.ddc,
            &mut self.ctpidr,
        ])
    }
}

/// A checked pair of regions and the rules for moving capabilities from the
/// parent's to the child's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Relocation {
    parent_base: u64,
    child: Capability,
    child_base: u64,
    length: u64,
    policy: OutsidePolicy,
    sealer: Option<Capability>,
}

impl Relocation {
    /// Checks the regions: the child's capability must be tagged and
    /// unsealed (it is the authority for everything the child gets), both
    /// must have the same length, be disjoint and end below 2^64. Only the
    /// bounds of `parent` matter.
    ///
    /// `sealer` re-seals capabilities sealed with ordinary object types: a
    /// capability with the Seal permission whose bounds cover those types
    /// (its address is irrelevant). Without it such capabilities are
    /// cleared. Sentries and the load-(pair-)branch forms need no authority.
    pub fn new(
        parent: &Capability,
        child: &Capability,
        policy: OutsidePolicy,
        sealer: Option<&Capability>,
    ) -> Result<Relocation, RelocationError> {
        if !child.tag() {
            return Err(RelocationError::ChildRegionUntagged);
        }
        if child.is_sealed() {
            return Err(RelocationError::ChildRegionSealed);
        }
        let (parent_bounds, child_bounds) = (parent.bounds(), child.bounds());
        let (parent_length, child_length) = (parent_bounds.length(), child_bounds.length());
        if parent_length != child_length {
            return Err(RelocationError::LengthMismatch {
                parent: parent_length,
                child: child_length,
            });
        }
        let overlap = u128::from(parent_bounds.base) < child_bounds.top
            && u128::from(child_bounds.base) < parent_bounds.top;
        if overlap {
            return Err(RelocationError::RegionsOverlap);
        }
        let below_top = |base: u64| {
            u64::try_from(parent_length)
                .ok()
                .filter(|&length| base.checked_add(length).is_some())
        };
        let (Some(length), Some(_)) = (below_top(parent_bounds.base), below_top(child_bounds.base))
        else {
            return Err(RelocationError::RegionAtTopOfAddressSpace);
        };
        Ok(Relocation {
            parent_base: parent_bounds.base,
            child: *child,
            child_base: child_bounds.base,
            length,
            policy,
            sealer: sealer.copied(),
        })
    }

    /// The capability the child must hold in place of `found`:
    /// - untagged: unchanged;
    /// - bounds inside the parent region: rebuilt from the child region's
    ///   capability with the same offset from the region base, the same
    ///   length (exactly), address offset, permissions (as far as the child
    ///   region has them), flags and seal (sentries and load-(pair-)branch
    ///   forms by the immediate SEAL, ordinary types under the sealer);
    /// - bounds outside the parent region: by the policy;
    /// - bounds straddling an edge, or malformed: tag cleared.
    ///
    /// Empty bounds at either end of the region count as inside.
    pub fn rederive(&self, found: &Capability) -> Rederivation {
        let outcome = |capability, outcome| Rederivation {
            capability,
            outcome,
        };
        let cleared = |reason| outcome(found.without_tag(), Outcome::Cleared(reason));
        if !found.tag() {
            return outcome(*found, Outcome::Untagged);
        }
        let bounds = found.bounds();
        let length = bounds
            .top
            .checked_sub(u128::from(bounds.base))
            .and_then(Length::new);
        let (Some(length), true) = (length, bounds.valid) else {
            return cleared(ClearReason::MalformedBounds);
        };
        let parent_top = u128::from(self.parent_base) + u128::from(self.length);
        if bounds.base >= self.parent_base && bounds.top <= parent_top {
            match self.rebuild(found, bounds.base - self.parent_base, length) {
                Ok(capability) => outcome(capability, Outcome::Rederived),
                Err(reason) => cleared(reason),
            }
        } else if bounds.top <= u128::from(self.parent_base)
            || u128::from(bounds.base) >= parent_top
        {
            match self.policy {
                OutsidePolicy::Keep => outcome(*found, Outcome::Kept),
                OutsidePolicy::Clear => cleared(ClearReason::Outside),
            }
        } else {
            cleared(ClearReason::Straddles)
        }
    }

    /// Rebuilds `found` (bounds `offset` bytes into the parent region,
    /// `length` long) from the child region's capability.
    fn rebuild(
        &self,
        found: &Capability,
        offset: u64,
        length: Length,
    ) -> Result<Capability, ClearReason> {
        let tagged_or = |capability: Capability, reason| {
            if capability.tag() {
                Ok(capability)
            } else {
                Err(reason)
            }
        };
        // offset ≤ region length and the child region ends below 2^64.
        let base = self.child.set_address(self.child_base + offset);
        let base = tagged_or(base, ClearReason::NotRepresentable)?;
        let bounded = tagged_or(base.set_bounds_exact(length), ClearReason::NotRepresentable)?;
        // Move the 56-bit address by the distance between the regions and
        // keep the flags byte as it was.
        let cursor = bounds_address(found.address())
            .wrapping_sub(self.parent_base)
            .wrapping_add(self.child_base);
        let address = (found.address() & FLAGS_MASK) | (cursor & !FLAGS_MASK);
        let moved = tagged_or(bounded.set_address(address), ClearReason::NotRepresentable)?;
        let restricted = moved.clear_permissions(!found.permissions());
        match found.seal_state() {
            SealState::Unsealed => Ok(restricted),
            SealState::Sentry => Ok(restricted.seal_special(SpecialSeal::Sentry)),
            SealState::LoadPairBranch => Ok(restricted.seal_special(SpecialSeal::LoadPairBranch)),
            SealState::LoadBranch => Ok(restricted.seal_special(SpecialSeal::LoadBranch)),
            SealState::Sealed(otype) => {
                let sealer = self.sealer.ok_or(ClearReason::NoSealer)?;
                let sealed = restricted.seal(&sealer.set_address(u64::from(otype)));
                tagged_or(sealed, ClearReason::SealRefused)
            }
        }
    }

    /// Copies the parent region's bytes and tags to the child region in
    /// `memory`, then re-derives every tagged granule of the copy in place
    /// ([`Relocation::rederive`]). The parent region is left unchanged.
    /// Both regions must be granule-aligned and inside the memory.
    pub fn relocate_region<M: TaggedMemory + ?Sized>(
        &self,
        memory: &mut M,
    ) -> Result<RelocationStats, RelocationError> {
        memory.copy_with_tags(self.parent_base, self.child_base, self.length)?;
        let end = self.child_base + self.length;
        let mut stats = RelocationStats {
            scanned: self.length / GRANULE_SIZE,
            ..RelocationStats::default()
        };
        let mut next = self.child_base;
        while let Some(address) = memory.next_tagged_granule(next..end)? {
            debug_assert!((next..end).contains(&address), "scan left the region");
            let found = memory.load_capability(address)?;
            let rederived = self.rederive(&found);
            stats.count(rederived.outcome);
            if rederived.capability != found {
                memory.store_capability(address, &rederived.capability)?;
            }
            next = address + GRANULE_SIZE;
        }
        Ok(stats)
    }

    /// Re-derives every register of `registers` in place.
    pub fn relocate_registers(&self, registers: &mut CapabilityRegisterFile) -> RelocationStats {
        let mut stats = RelocationStats::default();
        for register in registers.iter_mut() {
            let rederived = self.rederive(register);
            stats.scanned += 1;
            stats.count(rederived.outcome);
            *register = rederived.capability;
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::{Permissions, representable_length};
    use crate::tagged::SimulatedMemory;

    const PARENT: u64 = 0x4000_0000;
    const CHILD: u64 = 0x4010_0000;
    const REGION: u64 = 0x1_0000;

    use crate::capability::test_region as region;

    /// A sealing authority for every ordinary object type.
    fn sealer() -> Capability {
        region(0, 0x8000).clear_permissions(Permissions::UNSEAL)
    }

    fn unsealer(otype: u16) -> Capability {
        region(0, 0x8000)
            .clear_permissions(Permissions::SEAL)
            .set_address(u64::from(otype))
    }

    fn relocation(policy: OutsidePolicy) -> Relocation {
        Relocation::new(
            &region(PARENT, REGION),
            &region(CHILD, REGION),
            policy,
            Some(&sealer()),
        )
        .expect("valid regions")
    }

    /// An object `[offset, offset + length)` of the parent region, with
    /// its address at `address_offset` from the object's base.
    fn object(offset: u64, length: u64, address_offset: u64) -> Capability {
        let cap = region(PARENT + offset, length).set_address(PARENT + offset + address_offset);
        assert!(cap.tag());
        cap
    }

    fn rederived(found: &Capability) -> Capability {
        let result = relocation(OutsidePolicy::Clear).rederive(found);
        assert_eq!(result.outcome, Outcome::Rederived, "{found:?}");
        result.capability
    }

    /// The child's capability matches `found` moved by CHILD − PARENT.
    fn assert_moved(found: &Capability, child: &Capability) {
        assert!(child.tag());
        assert_eq!(child.base(), found.base() - PARENT + CHILD);
        assert_eq!(child.length(), found.length());
        assert_eq!(child.offset(), found.offset());
        assert_eq!(child.permissions(), found.permissions());
        assert_eq!(child.seal_state(), found.seal_state());
        assert_eq!(child.flags(), found.flags());
    }

    #[test]
    fn inside_keeps_offset_length_address_and_permissions() {
        let found = object(0x100, 0x40, 0x8)
            .clear_permissions(Permissions::EXECUTE | Permissions::STORE | Permissions::USER2);
        let child = rederived(&found);
        assert_moved(&found, &child);
        assert_eq!(
            (child.base(), child.address()),
            (CHILD + 0x100, CHILD + 0x108)
        );
        assert!(child.is_subset_of(&region(CHILD, REGION)));
    }

    #[test]
    fn interior_and_out_of_bounds_addresses_keep_their_offset() {
        // Into the middle of an object, at its top, and a little below it.
        for address_offset in [0x18, 0x40, 0u64.wrapping_sub(0x10)] {
            let found =
                object(0x200, 0x40, 0).set_address((PARENT + 0x200).wrapping_add(address_offset));
            assert!(found.tag());
            assert_moved(&found, &rederived(&found));
        }
    }

    #[test]
    fn flags_survive() {
        let found = object(0x100, 0x40, 0x8).set_address((PARENT + 0x108) | 0x5a << 56);
        assert!(found.tag());
        let child = rederived(&found);
        assert_moved(&found, &child);
        assert_eq!(child.address(), (CHILD + 0x108) | 0x5a << 56);
    }

    #[test]
    fn whole_region_and_empty_bounds_at_either_end() {
        let whole = region(PARENT, REGION).set_address(PARENT + 0x30);
        assert_eq!(
            rederived(&whole),
            region(CHILD, REGION).set_address(CHILD + 0x30)
        );
        for offset in [0, REGION] {
            let empty = object(offset, 0, 0);
            let child = rederived(&empty);
            assert_moved(&empty, &child);
            assert_eq!(
                (child.base(), child.top()),
                (CHILD + offset, u128::from(CHILD + offset))
            );
        }
    }

    #[test]
    fn sealed_are_resealed_with_the_same_type() {
        let plain = object(0x300, 0x20, 0x10);
        let found = plain.seal(&sealer().set_address(0x4242));
        let child = rederived(&found);
        assert_moved(&found, &child);
        assert_eq!(child.seal_state(), SealState::Sealed(0x4242));
        assert_moved(&plain, &child.unseal(&unsealer(0x4242)));
    }

    #[test]
    fn sealed_without_or_beyond_the_sealer_are_cleared() {
        let found = object(0x300, 0x20, 0).seal(&sealer().set_address(0x4242));
        let without = Relocation::new(
            &region(PARENT, REGION),
            &region(CHILD, REGION),
            OutsidePolicy::Keep,
            None,
        )
        .unwrap()
        .rederive(&found);
        assert_eq!(without.outcome, Outcome::Cleared(ClearReason::NoSealer));
        assert_eq!(without.capability, found.without_tag());
        let narrow = region(0, 0x100).clear_permissions(Permissions::UNSEAL);
        let refused = Relocation::new(
            &region(PARENT, REGION),
            &region(CHILD, REGION),
            OutsidePolicy::Keep,
            Some(&narrow),
        )
        .unwrap()
        .rederive(&found);
        assert_eq!(refused.outcome, Outcome::Cleared(ClearReason::SealRefused));
        assert!(!refused.capability.tag());
    }

    #[test]
    fn sentries_and_branch_forms_stay_sealed_without_a_sealer() {
        let code = object(0x400, 0x100, 0x40);
        let relocation = Relocation::new(
            &region(PARENT, REGION),
            &region(CHILD, REGION),
            OutsidePolicy::Clear,
            None,
        )
        .unwrap();
        for (form, state) in [
            (SpecialSeal::Sentry, SealState::Sentry),
            (SpecialSeal::LoadPairBranch, SealState::LoadPairBranch),
            (SpecialSeal::LoadBranch, SealState::LoadBranch),
        ] {
            let found = code.seal_special(form);
            let result = relocation.rederive(&found);
            assert_eq!(result.outcome, Outcome::Rederived);
            assert_eq!(result.capability.seal_state(), state);
            assert_moved(&found, &result.capability);
        }
    }

    #[test]
    fn outside_follows_the_policy() {
        let below = region(PARENT - 0x100, 0x100);
        let above = region(PARENT + REGION, 0x40).seal_entry();
        for found in [below, above] {
            let kept = relocation(OutsidePolicy::Keep).rederive(&found);
            assert_eq!(
                kept,
                Rederivation {
                    capability: found,
                    outcome: Outcome::Kept
                }
            );
            let cleared = relocation(OutsidePolicy::Clear).rederive(&found);
            assert_eq!(
                cleared,
                Rederivation {
                    capability: found.without_tag(),
                    outcome: Outcome::Cleared(ClearReason::Outside)
                }
            );
        }
    }

    #[test]
    fn straddling_is_cleared_under_either_policy() {
        let low_edge = region(PARENT - 0x10, 0x20);
        let high_edge = region(PARENT + REGION - 0x10, 0x20);
        let around = region(PARENT - 0x20, REGION + 0x40);
        for found in [low_edge, high_edge, around] {
            for policy in [OutsidePolicy::Keep, OutsidePolicy::Clear] {
                let result = relocation(policy).rederive(&found);
                assert_eq!(result.outcome, Outcome::Cleared(ClearReason::Straddles));
                assert_eq!(result.capability, found.without_tag());
            }
        }
    }

    #[test]
    fn untagged_and_malformed() {
        let data = Capability::from_bits(0x1234_5678_9abc_def0_0fed_cba9_8765_4321, false);
        let result = relocation(OutsidePolicy::Keep).rederive(&data);
        assert_eq!(
            result,
            Rederivation {
                capability: data,
                outcome: Outcome::Untagged
            }
        );
        let inside = object(0x100, 0x40, 0).without_tag();
        assert_eq!(
            relocation(OutsidePolicy::Keep).rederive(&inside).capability,
            inside
        );
        // Exponent 51 (malformed), tagged as a corrupted image could be.
        let malformed = Capability::from_parts((0b001 << 16) | 0b100, PARENT, true);
        assert_eq!(
            relocation(OutsidePolicy::Keep).rederive(&malformed).outcome,
            Outcome::Cleared(ClearReason::MalformedBounds)
        );
        // Base above top (exponent 50 with B above T).
        let inverted = Capability::from_parts(0xffff_c000_0139_0535, 0xaf74_90c8_1bcb_8849, true);
        assert_eq!(
            relocation(OutsidePolicy::Keep).rederive(&inverted).outcome,
            Outcome::Cleared(ClearReason::MalformedBounds)
        );
    }

    #[test]
    fn addresses_not_representable_at_the_child_place_are_cleared() {
        // An object with 16-bit mantissas: its addresses are representable
        // within the 64 KiB window that starts one eighth below its base.
        // In the parent that window is [0x4000_0000, 0x4001_0000); moved by
        // 0x10_1000 it is [0x4010_0000, 0x4011_0000) and the same offset
        // falls outside.
        let length = 0x2_0000;
        let child_base = 0x4010_1000;
        let relocation = Relocation::new(
            &region(PARENT, length),
            &region(child_base, length),
            OutsidePolicy::Keep,
            None,
        )
        .unwrap();
        let found = object(0x2000, 0x40, 0xdff0);
        assert!(found.tag());
        let result = relocation.rederive(&found);
        assert_eq!(
            result.outcome,
            Outcome::Cleared(ClearReason::NotRepresentable)
        );
        assert_eq!(result.capability, found.without_tag());
        // The same object with an in-bounds address moves.
        let inside = object(0x2000, 0x40, 0x20);
        assert_eq!(relocation.rederive(&inside).outcome, Outcome::Rederived);
    }

    #[test]
    fn child_permissions_bound_the_result() {
        let child_region = region(CHILD, REGION).clear_permissions(Permissions::EXECUTE);
        let relocation = Relocation::new(
            &region(PARENT, REGION),
            &child_region,
            OutsidePolicy::Keep,
            None,
        )
        .unwrap();
        let found = object(0x100, 0x40, 0);
        let result = relocation.rederive(&found);
        assert_eq!(result.outcome, Outcome::Rederived);
        assert_eq!(
            result.capability.permissions(),
            found.permissions() - Permissions::EXECUTE
        );
    }

    #[test]
    fn regions_are_checked() {
        let parent = region(PARENT, REGION);
        let child = region(CHILD, REGION);
        let new = |parent: &Capability, child: &Capability| {
            Relocation::new(parent, child, OutsidePolicy::Keep, None).map(|_| ())
        };
        assert_eq!(new(&parent, &child), Ok(()));
        assert_eq!(
            new(&parent, &child.without_tag()),
            Err(RelocationError::ChildRegionUntagged)
        );
        assert_eq!(
            new(&parent, &child.seal_entry()),
            Err(RelocationError::ChildRegionSealed)
        );
        assert_eq!(
            new(&parent, &region(CHILD, REGION * 2)),
            Err(RelocationError::LengthMismatch {
                parent: u128::from(REGION),
                child: u128::from(REGION * 2)
            })
        );
        let overlapping = region(PARENT + REGION - 0x20, REGION);
        assert_eq!(
            new(&parent, &overlapping),
            Err(RelocationError::RegionsOverlap)
        );
        assert_eq!(
            new(&overlapping, &parent),
            Err(RelocationError::RegionsOverlap)
        );
        // Adjacent regions are fine.
        assert_eq!(new(&parent, &region(PARENT + REGION, REGION)), Ok(()));
        let length = representable_length(0x100_0000);
        let at_top = region(0u64.wrapping_sub(length), length);
        assert_eq!(
            new(&at_top, &region(0, length)),
            Err(RelocationError::RegionAtTopOfAddressSpace)
        );
    }

    #[test]
    fn relocate_region_copies_scans_and_counts() {
        let mut memory = SimulatedMemory::new(PARENT, CHILD + REGION - PARENT).unwrap();
        let inside = object(0x100, 0x40, 0x10);
        let outside = region(0x1000, 0x10);
        let straddling = region(PARENT + REGION - 0x10, 0x20);
        memory.store_capability(PARENT, &inside).unwrap();
        memory.store_capability(PARENT + 0x20, &outside).unwrap();
        memory
            .store_capability(PARENT + REGION - 0x10, &straddling)
            .unwrap();
        memory.store_data(PARENT + 0x40, b"parent bytes").unwrap();
        let before = memory.clone();
        let stats = relocation(OutsidePolicy::Keep)
            .relocate_region(&mut memory)
            .unwrap();
        assert_eq!(
            stats,
            RelocationStats {
                scanned: REGION / 16,
                rederived: 1,
                kept: 1,
                cleared: 1
            }
        );
        assert_moved(&inside, &memory.load_capability(CHILD).unwrap());
        assert_eq!(memory.load_capability(CHILD + 0x20), Ok(outside));
        assert_eq!(
            memory.load_capability(CHILD + REGION - 0x10),
            Ok(straddling.without_tag())
        );
        let mut bytes = [0; 12];
        memory.load_data(CHILD + 0x40, &mut bytes).unwrap();
        assert_eq!(&bytes, b"parent bytes");
        // The parent region is untouched.
        for address in (PARENT..PARENT + REGION).step_by(16) {
            assert_eq!(
                memory.load_capability(address),
                before.load_capability(address)
            );
        }
        // A child region the memory does not hold.
        let mut small = SimulatedMemory::new(PARENT, REGION).unwrap();
        assert_eq!(
            relocation(OutsidePolicy::Keep).relocate_region(&mut small),
            Err(RelocationError::Memory(MemoryError::OutOfRange {
                address: CHILD,
                length: REGION
            }))
        );
    }

    #[test]
    fn relocate_registers_visits_all_35() {
        let mut registers = CapabilityRegisterFile::default();
        let stack = object(0x8000, 0x1000, 0x1000);
        registers.c[0] = object(0x100, 0x40, 0);
        registers.c[30] = object(0x400, 0x100, 0x40).seal_entry();
        registers.csp = stack;
        registers.pcc = object(0x400, 0x100, 0x44);
        registers.ddc = region(PARENT, REGION);
        registers.ctpidr = region(0x1000, 0x10);
        registers.c[7] = region(PARENT - 0x10, 0x20);
        let original = registers;
        let stats = relocation(OutsidePolicy::Clear).relocate_registers(&mut registers);
        assert_eq!(
            stats,
            RelocationStats {
                scanned: 35,
                rederived: 5,
                kept: 0,
                cleared: 2
            }
        );
        for (found, child) in [
            (original.c[0], registers.c[0]),
            (original.c[30], registers.c[30]),
            (original.csp, registers.csp),
            (original.pcc, registers.pcc),
            (original.ddc, registers.ddc),
        ] {
            assert_moved(&found, &child);
        }
        assert!(!registers.ctpidr.tag() && !registers.c[7].tag());
        assert_eq!(registers.c[1], Capability::NULL);
    }
}
