//! Property tests of the capability model: every derivation is monotonic
//! (a tagged result has bounds and permissions within its source's and comes
//! from a tagged source), untagged values never gain a tag, sealed values
//! cannot be modified, and CRRL/CRAM give bounds that SCBNDSE accepts
//! exactly.

use proptest::prelude::*;
use uprocess::capability::{
    Capability, Length, Permissions, SpecialSeal, alignment_mask, bounds_address,
    representable_length,
};

/// A length of a random magnitude (every bit length is equally likely).
fn any_length() -> impl Strategy<Value = u64> {
    (0u32..=64, any::<u64>()).prop_map(|(bits, raw)| {
        if bits == 64 {
            raw
        } else {
            raw & ((1u64 << bits) - 1)
        }
    })
}

/// A tagged capability: SCBNDS of the root, moved somewhere representable,
/// with some permissions cleared, and sometimes sealed.
fn tagged_capability() -> impl Strategy<Value = Capability> {
    let sealing = proptest::option::of(4u16..=0x7fff);
    (
        any_length(),
        any::<u64>(),
        any::<i16>(),
        any::<u32>(),
        sealing,
    )
        .prop_filter_map(
            "bounded capability must stay tagged",
            |(length, raw_base, nudge, clear, sealing)| {
                // Mostly canonical addresses (top byte = sign extension of bit
                // 55), which small bounds need; sometimes any 64-bit value.
                let raw_base = if raw_base & 0b11 != 0 {
                    bounds_address(raw_base)
                } else {
                    raw_base
                };
                let base = if raw_base.checked_add(length).is_some() {
                    raw_base
                } else {
                    u64::MAX - length
                };
                let cap = Capability::root()
                    .set_address(base)
                    .set_bounds(Length::from(length))
                    .capability;
                let cap = cap.set_address(cap.address().wrapping_add_signed(i64::from(nudge)));
                let cap = cap.clear_permissions(Permissions::from_bits_truncate(
                    clear & 0x3ffff & !0x2_0000,
                ));
                let cap = match sealing {
                    Some(otype) => cap.seal(&authority(otype, Permissions::SEAL)),
                    None => cap,
                };
                cap.tag().then_some(cap)
            },
        )
}

/// Where to move the address, relative to the current capability.
#[derive(Clone, Copy, Debug)]
enum Target {
    FromBase(i64),
    FromTop(i64),
    Anywhere(u64),
    FlipBit55,
    Flags(u8),
}

#[derive(Clone, Copy, Debug)]
enum Op {
    SetAddress(Target),
    /// SCBNDS with a length picked from `raw` relative to the current length.
    SetBounds(u64),
    /// SCBNDSE of a CRRL-rounded length from a CRAM-aligned address.
    SetBoundsExact(u64),
    ClearPermissions(u32),
    Seal(u16),
    SealSpecial(u8),
    /// UNSEAL with an authority for the capability's own object type
    /// (`otype: None`) or for another one.
    Unseal {
        otype: Option<u16>,
        global: bool,
    },
    /// BUILD under the current capability of random bits (`Some`) or of the
    /// current capability's own bits, shrunk (`None`).
    Build(Option<(u64, u64)>, u64),
}

fn any_op() -> impl Strategy<Value = Op> {
    let small = || -0x10_0000i64..0x10_0000;
    let target = prop_oneof![
        small().prop_map(Target::FromBase),
        small().prop_map(Target::FromTop),
        any::<u64>().prop_map(Target::Anywhere),
        Just(Target::FlipBit55),
        any::<u8>().prop_map(Target::Flags),
    ];
    prop_oneof![
        3 => target.prop_map(Op::SetAddress),
        2 => any::<u64>().prop_map(Op::SetBounds),
        2 => any::<u64>().prop_map(Op::SetBoundsExact),
        1 => any::<u32>().prop_map(Op::ClearPermissions),
        1 => any::<u16>().prop_map(Op::Seal),
        1 => (0u8..3).prop_map(Op::SealSpecial),
        1 => (proptest::option::of(any::<u16>()), any::<bool>())
            .prop_map(|(otype, global)| Op::Unseal { otype, global }),
        1 => (proptest::option::of(any::<(u64, u64)>()), any::<u64>()).prop_map(|(bits, raw)| Op::Build(bits, raw)),
    ]
}

/// A tagged sealing (or unsealing) authority for one object type.
fn authority(otype: u16, keep: Permissions) -> Capability {
    let cap = Capability::root()
        .set_address(u64::from(otype))
        .set_bounds_exact(Length::from(1));
    cap.clear_permissions(Permissions::all().difference(keep))
}

fn apply(cap: &Capability, op: Op) -> Capability {
    let bounds = cap.bounds();
    match op {
        Op::SetAddress(target) => cap.set_address(match target {
            Target::FromBase(delta) => bounds.base.wrapping_add_signed(delta),
            Target::FromTop(delta) => (bounds.top as u64).wrapping_add_signed(delta),
            Target::Anywhere(address) => address,
            Target::FlipBit55 => cap.address() ^ (1 << 55),
            Target::Flags(flags) => {
                (cap.address() & 0x00ff_ffff_ffff_ffff) | u64::from(flags) << 56
            }
        }),
        Op::SetBounds(raw) => {
            cap.set_bounds(length_within(bounds.length(), raw))
                .capability
        }
        Op::SetBoundsExact(raw) => {
            let length = representable_length(length_within(bounds.length(), raw).get() as u64);
            let aligned = cap.set_address(cap.address() & alignment_mask(length));
            aligned.set_bounds_exact(Length::from(length))
        }
        Op::ClearPermissions(mask) => cap.clear_permissions(Permissions::from_bits_truncate(mask)),
        Op::Seal(otype) => cap.seal(&authority(otype, Permissions::SEAL | Permissions::GLOBAL)),
        Op::SealSpecial(form) => cap.seal_special(match form {
            0 => SpecialSeal::Sentry,
            1 => SpecialSeal::LoadPairBranch,
            _ => SpecialSeal::LoadBranch,
        }),
        Op::Unseal { otype, global } => {
            let keep = if global {
                Permissions::UNSEAL | Permissions::GLOBAL
            } else {
                Permissions::UNSEAL
            };
            cap.unseal(&authority(otype.unwrap_or(cap.object_type()), keep))
        }
        Op::Build(bits, raw) => {
            let data = match bits {
                Some((pesbt, address)) => Capability::from_parts(pesbt, address, false),
                None => cap
                    .set_bounds(length_within(bounds.length(), raw))
                    .capability
                    .without_tag(),
            };
            cap.build(&data).unwrap_or(data)
        }
    }
}

/// A length that is usually within `current` (sometimes one more).
fn length_within(current: u128, raw: u64) -> Length {
    let limit = current.min(u128::from(u64::MAX)) + 2;
    Length::from((u128::from(raw) % limit) as u64)
}

fn assert_within(result: &Capability, source: &Capability, op: Op) {
    if !result.tag() {
        return;
    }
    assert!(
        source.tag(),
        "{op:?} tagged {result:?} from untagged {source:?}"
    );
    let (inner, outer) = (result.bounds(), source.bounds());
    assert!(
        outer.contains(&inner),
        "{op:?} widened bounds {outer:?} to {inner:?}"
    );
    assert!(
        inner.valid && u128::from(inner.base) <= inner.top,
        "{op:?} tagged malformed bounds {inner:?}"
    );
    assert!(
        source.permissions().contains(result.permissions()),
        "{op:?} added permissions {:?}",
        result.permissions().difference(source.permissions())
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn derivations_never_exceed_their_source(
        start in tagged_capability(),
        ops in proptest::collection::vec(any_op(), 1..12),
    ) {
        let mut current = start;
        for op in ops {
            let next = apply(&current, op);
            assert_within(&next, &current, op);
            assert_within(&next, &start, op);
            current = next;
        }
    }

    #[test]
    fn untagged_values_never_gain_a_tag(
        pesbt in any::<u64>(),
        address in any::<u64>(),
        ops in proptest::collection::vec(any_op(), 1..12),
    ) {
        let mut current = Capability::from_parts(pesbt, address, false);
        for op in ops {
            current = apply(&current, op);
            prop_assert!(!current.tag(), "{:?} tagged {:?}", op, current);
        }
    }

    #[test]
    fn sealed_capabilities_cannot_be_modified(
        start in tagged_capability(),
        address in any::<u64>(),
        raw in any::<u64>(),
        mask in any::<u32>(),
    ) {
        let sealed = if start.is_sealed() { start } else { start.seal_entry() };
        prop_assert!(sealed.tag());
        prop_assert!(!sealed.set_address(address).tag());
        prop_assert!(!sealed.set_bounds(length_within(sealed.length(), raw)).capability.tag());
        prop_assert!(!sealed.clear_permissions(Permissions::from_bits_truncate(mask)).tag());
        prop_assert!(!sealed.seal_entry().tag());
    }

    #[test]
    fn exact_bounds_are_the_requested_bounds(start in tagged_capability(), raw in any::<u64>()) {
        let length = length_within(start.length(), raw);
        let rounded = start.set_bounds(length);
        if rounded.exact && rounded.capability.tag() {
            let bounds = rounded.capability.bounds();
            prop_assert_eq!(bounds.base, start.address());
            prop_assert_eq!(bounds.length(), length.get());
        }
        let exact = start.set_bounds_exact(length);
        prop_assert_eq!(exact.tag(), rounded.exact && rounded.capability.tag());
    }

    #[test]
    fn crram_aligned_crrl_lengths_are_exact(length in any_length(), raw_base in any::<u64>()) {
        let mask = alignment_mask(length);
        let rounded = representable_length(length);
        // CRRL wraps to 0 at 2^64: then only the whole space fits.
        let full = Length::new(u128::from(rounded) + if rounded < length { 1 << 64 } else { 0 });
        let full = full.expect("a rounded u64 length is at most 2^64");
        prop_assert!(full.get() >= u128::from(length));
        // Canonical user addresses (below 2^55) leaving room for the length.
        let room = (1u128 << 64) - full.get();
        let base = ((u128::from(raw_base & ((1 << 55) - 1)) % (room + 1)) as u64) & mask;
        let cap = Capability::root().set_address(base).set_bounds_exact(full);
        prop_assert!(cap.tag(), "base {:#x} length {:#x} (CRRL of {:#x}) not exact", base, full.get(), length);
        prop_assert_eq!(cap.base(), base);
        prop_assert_eq!(cap.length(), full.get());
    }

    #[test]
    fn bits_round_trip_and_values_compare(bits in any::<u128>(), tag in any::<bool>()) {
        let cap = Capability::from_bits(bits, tag);
        prop_assert_eq!(cap.to_bits(), bits);
        prop_assert_eq!(Capability::from_parts(cap.pesbt(), cap.address(), tag), cap);
        prop_assert!(cap.same_value(&cap));
        prop_assert!(!cap.same_value(&Capability::from_bits(bits, !tag)));
    }
}
