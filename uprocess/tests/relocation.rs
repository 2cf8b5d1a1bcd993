//! Relocating whole regions in the simulator: pointer-linked structures
//! (a list, a tree, sealed pointers, sentries, interior pointers,
//! sub-objects, capabilities out of the region) built in a parent region
//! and walked back, by checked capability loads, from the child region and
//! the child's registers; and property tests over random capabilities in
//! random regions.

use std::collections::{BTreeSet, HashSet};

use proptest::prelude::*;
use uprocess::capability::{
    Capability, Length, Permissions, SealState, SpecialSeal, alignment_mask, bounds_address,
    representable_length,
};
use uprocess::relocate::{
    CapabilityRegisterFile, OutsidePolicy, Relocation, RelocationError, RelocationStats,
};
use uprocess::tagged::{GRANULE_SIZE, SimulatedMemory, TaggedMemory};

const MEMORY: u64 = 0x8000_0000;
const MEMORY_SIZE: u64 = 0x6_0000;
/// Kernel memory outside both regions.
const KERNEL: u64 = MEMORY;
const PARENT: u64 = MEMORY + 0x1_0000;
const CHILD: u64 = MEMORY + 0x4_0000;
const REGION: u64 = 0x2_0000;
/// Object type of the tree's sealed pointers (plus the node's depth).
const SECRET_OTYPE: u16 = 0x1230;

/// Capability for `[base, base + length)`, exact, from the root.
fn exact(base: u64, length: u64) -> Capability {
    let cap = Capability::root()
        .set_address(base)
        .set_bounds_exact(Length::from(length));
    assert!(cap.tag(), "[{base:#x}, +{length:#x}) must be exact");
    cap
}

/// A sealing authority for every ordinary object type.
fn sealer() -> Capability {
    exact(0, 0x8000).clear_permissions(Permissions::UNSEAL)
}

fn unsealer(otype: u16) -> Capability {
    exact(0, 0x8000)
        .clear_permissions(Permissions::SEAL)
        .set_address(u64::from(otype))
}

/// Whether two bounds share a byte.
fn overlaps(cap: &Capability, base: u64, length: u64) -> bool {
    u128::from(cap.base()) < u128::from(base) + u128::from(length) && u128::from(base) < cap.top()
}

/// A bump allocator handing out exact capabilities (CRAM-aligned bases,
/// CRRL lengths) from a region capability.
struct Heap {
    region: Capability,
    next: u64,
}

impl Heap {
    fn new(region: Capability) -> Heap {
        Heap {
            next: region.base(),
            region,
        }
    }

    fn alloc(&mut self, length: u64) -> Option<Capability> {
        let length = representable_length(length.next_multiple_of(GRANULE_SIZE));
        let mask = alignment_mask(length);
        let base = (self.next + !mask) & mask;
        if u128::from(base) + u128::from(length) > self.region.top() {
            return None;
        }
        self.next = base + length;
        let cap = self
            .region
            .set_address(base)
            .set_bounds_exact(Length::from(length));
        assert!(cap.tag());
        Some(cap)
    }
}

/// Stores through `authority` at its address plus `field` granules, with
/// the checks of a capability store instruction.
fn store_via(memory: &mut SimulatedMemory, authority: &Capability, field: u64, value: &Capability) {
    let address = authority.address() + field * GRANULE_SIZE;
    assert!(authority.tag() && !authority.is_sealed());
    assert!(
        authority
            .permissions()
            .contains(Permissions::STORE | Permissions::STORE_CAP)
    );
    assert!(address >= authority.base() && u128::from(address + GRANULE_SIZE) <= authority.top());
    memory.store_capability(address, value).unwrap();
}

fn store_bytes_via(memory: &mut SimulatedMemory, authority: &Capability, field: u64, data: &[u8]) {
    let address = authority.address() + field * GRANULE_SIZE;
    assert!(authority.permissions().contains(Permissions::STORE));
    assert!(u128::from(address) + data.len() as u128 <= authority.top());
    memory.store_data(address, data).unwrap();
}

/// The parent's world: a region holding a list, a tree and a root object,
/// and the registers of a μprocess running in it.
struct World {
    memory: SimulatedMemory,
    registers: CapabilityRegisterFile,
}

const LIST_NODES: u64 = 20;
const TREE_DEPTH: u16 = 4;

fn build_tree(
    memory: &mut SimulatedMemory,
    heap: &mut Heap,
    code: &Capability,
    depth: u16,
    key: &mut u64,
) -> Capability {
    // [left][right][key][sealed pointer to a secret][sentry into the code]
    let node = heap.alloc(5 * GRANULE_SIZE).unwrap();
    if depth > 1 {
        let left = build_tree(memory, heap, code, depth - 1, key);
        store_via(memory, &node, 0, &left);
    }
    *key += 1;
    let own_key = *key;
    store_bytes_via(memory, &node, 2, &own_key.to_le_bytes());
    if depth > 1 {
        let right = build_tree(memory, heap, code, depth - 1, key);
        store_via(memory, &node, 1, &right);
    }
    let secret = heap.alloc(2 * GRANULE_SIZE).unwrap();
    store_bytes_via(memory, &secret, 0, format!("secret {own_key}").as_bytes());
    let sealed = secret
        .clear_permissions(Permissions::STORE)
        .seal(&sealer().set_address(u64::from(SECRET_OTYPE + depth)));
    assert!(sealed.tag());
    store_via(memory, &node, 3, &sealed);
    let entry = code.set_address(code.base() + 4 * own_key).seal_entry();
    store_via(memory, &node, 4, &entry);
    node
}

/// Builds the parent's world with every kind of capability a μprocess
/// holds.
fn build_world() -> World {
    let mut memory = SimulatedMemory::new(MEMORY, MEMORY_SIZE).unwrap();
    let region = exact(PARENT, REGION);
    let mut heap = Heap::new(region);
    let root = heap.alloc(8 * GRANULE_SIZE).unwrap();
    let buffer = heap.alloc(0x400).unwrap();
    store_bytes_via(&mut memory, &buffer, 0, &[0xb5; 0x400]);
    let code = heap
        .alloc(0x100)
        .unwrap()
        .clear_permissions(Permissions::STORE | Permissions::STORE_CAP);
    let kernel = exact(KERNEL, 0x100).clear_permissions(Permissions::STORE);
    store_bytes_via(&mut memory, &exact(KERNEL, 0x100), 0, b"kernel page");

    // The list, built from its tail: [next][value][pointer into the
    // buffer]. Odd nodes are reached through a pointer to their middle.
    let mut head = Capability::NULL;
    for i in (0..LIST_NODES).rev() {
        let node = heap.alloc(3 * GRANULE_SIZE).unwrap();
        store_via(&mut memory, &node, 0, &head);
        store_bytes_via(&mut memory, &node, 1, format!("node {i}").as_bytes());
        let interior = buffer.set_address(buffer.base() + 8 + i * 16);
        store_via(&mut memory, &node, 2, &interior);
        head = node.set_address(node.base() + if i % 2 == 0 { 0 } else { 16 });
    }
    let tree = build_tree(&mut memory, &mut heap, &code, TREE_DEPTH, &mut 0);

    let field = buffer
        .set_address(buffer.base() + 0x40)
        .set_bounds_exact(Length::from(0x10));
    let whole = region
        .clear_permissions(Permissions::EXECUTE)
        .set_address((PARENT + 0x1230) | (0x7a << 56));
    let end = region
        .set_address(PARENT + REGION)
        .set_bounds_exact(Length::from(0));
    let fields = [
        head,
        tree,
        kernel,
        whole,
        field,
        end,
        code.set_address(code.base() + 0x20)
            .seal_special(SpecialSeal::LoadBranch),
    ];
    assert!(fields.iter().all(Capability::tag));
    for (i, cap) in fields.iter().enumerate() {
        store_via(&mut memory, &root, i as u64, cap);
    }
    store_bytes_via(&mut memory, &root, 7, b"root data");

    let stack = heap.alloc(0x1000).unwrap();
    let tls = heap.alloc(0x40).unwrap();
    let mut registers = CapabilityRegisterFile::default();
    registers.c[0] = root;
    registers.c[1] = kernel;
    registers.c[2] = code.set_address(code.base() + 0x80).seal_entry();
    registers.c[29] = stack.set_address(stack.base() + 0x800);
    registers.csp = stack.set_address(stack.base() + 0x1000);
    registers.pcc = code.set_address(code.base() + 0x44);
    // A data-only DDC: the walk does not enter it.
    registers.ddc = region
        .clear_permissions(Permissions::LOAD_CAP | Permissions::STORE_CAP | Permissions::EXECUTE);
    registers.ctpidr = tls;
    World { memory, registers }
}

/// What a walker saw in one granule or register, relative to its region.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Data([u8; 16]),
    Inside {
        offset_in_region: u64,
        length: u128,
        offset: u64,
        permissions: Permissions,
        seal: SealState,
        flags: u8,
    },
    Outside(Capability),
}

/// Walks every object reachable from the registers by capability loads
/// (unsealing ordinary types, not entering sentries or branch forms),
/// recording what it sees in order. Every load must be authorised by the
/// capability it goes through and stay inside `region`.
struct Walker<'a> {
    memory: &'a SimulatedMemory,
    region: Capability,
    seen: Vec<Seen>,
    visited: BTreeSet<(u64, u128)>,
    capabilities: Vec<Capability>,
}

impl Walker<'_> {
    fn walk_registers(
        memory: &SimulatedMemory,
        region: Capability,
        registers: &CapabilityRegisterFile,
    ) -> (Vec<Seen>, Vec<Capability>) {
        let mut walker = Walker {
            memory,
            region,
            seen: Vec::new(),
            visited: BTreeSet::new(),
            capabilities: Vec::new(),
        };
        let mut registers = *registers;
        for register in registers.iter_mut() {
            walker.visit(register);
        }
        (walker.seen, walker.capabilities)
    }

    fn describe(&self, cap: &Capability) -> Seen {
        let inside = self.region.bounds().contains(&cap.bounds());
        if cap.tag() && inside {
            Seen::Inside {
                offset_in_region: cap.base() - self.region.base(),
                length: cap.length(),
                offset: cap.offset(),
                permissions: cap.permissions(),
                seal: cap.seal_state(),
                flags: cap.flags(),
            }
        } else if cap.tag() {
            Seen::Outside(*cap)
        } else {
            Seen::Data(cap.to_bits().to_le_bytes())
        }
    }

    fn visit(&mut self, cap: &Capability) {
        self.seen.push(self.describe(cap));
        if !cap.tag() {
            return;
        }
        self.capabilities.push(*cap);
        let object = match cap.seal_state() {
            SealState::Unsealed => *cap,
            SealState::Sealed(otype) => cap.unseal(&unsealer(otype)),
            SealState::Sentry | SealState::LoadBranch | SealState::LoadPairBranch => return,
        };
        assert!(object.tag(), "unsealing {cap:?}");
        let inside = self.region.bounds().contains(&object.bounds());
        let readable = object
            .permissions()
            .contains(Permissions::LOAD | Permissions::LOAD_CAP);
        if !inside || !readable || !self.visited.insert((object.base(), object.length())) {
            return;
        }
        let top = u64::try_from(object.top()).unwrap();
        for address in (object.base()..top).step_by(GRANULE_SIZE as usize) {
            let loaded = self.load_via(&object, address);
            self.visit(&loaded);
        }
    }

    /// A capability load at `address` through `authority`, with the
    /// instruction's checks and the walker's: inside its region.
    fn load_via(&self, authority: &Capability, address: u64) -> Capability {
        assert!(authority.tag() && !authority.is_sealed());
        assert!(address >= authority.base() && u128::from(address + 16) <= authority.top());
        assert!(
            address >= self.region.base() && u128::from(address + 16) <= self.region.top(),
            "load at {address:#x} leaves the region"
        );
        self.memory.load_capability(address).unwrap()
    }
}

fn relocate_world(
    policy: OutsidePolicy,
    sealer: Option<&Capability>,
) -> (World, World, RelocationStats) {
    let parent = build_world();
    let mut child = World {
        memory: parent.memory.clone(),
        registers: parent.registers,
    };
    let relocation = Relocation::new(
        &exact(PARENT, REGION),
        &exact(CHILD, REGION),
        policy,
        sealer,
    )
    .unwrap();
    let stats = relocation.relocate_region(&mut child.memory).unwrap();
    let registers = relocation.relocate_registers(&mut child.registers);
    assert_eq!(registers.scanned, 35);
    (parent, child, stats)
}

fn walk_parent(world: &World) -> (Vec<Seen>, Vec<Capability>) {
    Walker::walk_registers(&world.memory, exact(PARENT, REGION), &world.registers)
}

fn walk_child(world: &World) -> (Vec<Seen>, Vec<Capability>) {
    Walker::walk_registers(&world.memory, exact(CHILD, REGION), &world.registers)
}

#[test]
fn linked_structures_read_back_identically_from_the_child() {
    let (parent, child, stats) = relocate_world(OutsidePolicy::Keep, Some(&sealer()));
    let (parent_seen, _) = walk_parent(&parent);
    let (child_seen, _) = walk_child(&child);
    assert_eq!(child_seen, parent_seen);
    // The walk went everywhere (the root holds the whole region, so every
    // granule was compared): list nodes, tree nodes, sealed secrets,
    // sentries, the kernel capability, the untagged data. Count distinct
    // capabilities: (offset in region, length, offset, seal).
    let distinct: HashSet<_> = child_seen
        .iter()
        .filter_map(|s| match s {
            Seen::Inside {
                offset_in_region,
                length,
                offset,
                seal,
                ..
            } => Some((*offset_in_region, *length, *offset, *seal)),
            _ => None,
        })
        .collect();
    let count_inside = |matches: &dyn Fn(u128, SealState) -> bool| {
        distinct
            .iter()
            .filter(|(_, length, _, seal)| matches(*length, *seal))
            .count()
    };
    let tree_nodes = (1 << TREE_DEPTH) - 1;
    assert_eq!(
        count_inside(&|length, seal| length == 48 && seal == SealState::Unsealed),
        LIST_NODES as usize
    );
    assert_eq!(
        count_inside(&|length, seal| length == 80 && seal == SealState::Unsealed),
        tree_nodes
    );
    assert_eq!(
        count_inside(&|_, seal| matches!(seal, SealState::Sealed(_))),
        tree_nodes
    );
    assert_eq!(
        count_inside(&|_, seal| seal == SealState::Sentry),
        tree_nodes + 1
    );
    let outside = child_seen.iter().filter(|s| matches!(s, Seen::Outside(_)));
    assert!(outside.count() >= 2);
    assert!(child_seen.contains(&Seen::Data(*b"node 7\0\0\0\0\0\0\0\0\0\0")));
    // In memory: list next pointers (19) and buffer pointers (20); tree
    // children (2 × 7 inner nodes), secrets (15) and sentries (15); the
    // root's 7. All re-derived but the kernel's.
    assert_eq!(
        stats,
        RelocationStats {
            scanned: REGION / GRANULE_SIZE,
            rederived: 89,
            kept: 1,
            cleared: 0
        }
    );
}

#[test]
fn no_child_capability_reaches_the_parent_region() {
    let (_, child, _) = relocate_world(OutsidePolicy::Keep, Some(&sealer()));
    let (_, reachable) = walk_child(&child);
    let mut everything: Vec<Capability> = reachable;
    for address in child.memory.tagged_granules(CHILD..CHILD + REGION) {
        everything.push(child.memory.load_capability(address.unwrap()).unwrap());
    }
    assert!(everything.len() > 100);
    for cap in everything {
        assert!(!overlaps(&cap, PARENT, REGION), "{cap:?}");
        let in_child = exact(CHILD, REGION).bounds().contains(&cap.bounds());
        let in_kernel = exact(KERNEL, 0x1_0000).bounds().contains(&cap.bounds());
        assert!(in_child || in_kernel, "{cap:?}");
    }
}

#[test]
fn the_parent_region_is_left_as_it_was() {
    let (parent, child, _) = relocate_world(OutsidePolicy::Clear, None);
    let mut before = vec![0; REGION as usize];
    let mut after = vec![0; REGION as usize];
    parent.memory.load_data(PARENT, &mut before).unwrap();
    child.memory.load_data(PARENT, &mut after).unwrap();
    assert!(before == after);
    let tags = |memory: &SimulatedMemory| -> Vec<u64> {
        memory
            .tagged_granules(PARENT..PARENT + REGION)
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(tags(&child.memory), tags(&parent.memory));
}

#[test]
fn the_clear_policy_takes_outside_capabilities_away() {
    let (parent, child, stats) = relocate_world(OutsidePolicy::Clear, Some(&sealer()));
    let (parent_seen, _) = walk_parent(&parent);
    let (child_seen, _) = walk_child(&child);
    assert_eq!(child_seen.len(), parent_seen.len());
    for (p, c) in parent_seen.iter().zip(&child_seen) {
        match p {
            Seen::Outside(cap) => assert_eq!(c, &Seen::Data(cap.to_bits().to_le_bytes())),
            _ => assert_eq!(c, p),
        }
    }
    assert_eq!((stats.kept, stats.cleared), (0, 1));
}

#[test]
fn without_a_sealer_sealed_pointers_are_cleared_and_unreachable() {
    let (parent, child, stats) = relocate_world(OutsidePolicy::Keep, None);
    let (parent_seen, _) = walk_parent(&parent);
    let (child_seen, _) = walk_child(&child);
    let tree_nodes = (1 << TREE_DEPTH) - 1;
    assert_eq!(stats.cleared, tree_nodes);
    // Each secret is one capability and its two granules of contents.
    assert_eq!(
        child_seen.len(),
        parent_seen.len() - 2 * tree_nodes as usize
    );
    assert!(!child_seen.iter().any(|s| matches!(
        s,
        Seen::Inside {
            seal: SealState::Sealed(_),
            ..
        }
    )));
}

#[test]
fn relocation_fails_cleanly_for_regions_outside_memory() {
    let mut memory = SimulatedMemory::new(MEMORY, MEMORY_SIZE).unwrap();
    let outside = exact(MEMORY + MEMORY_SIZE, REGION);
    let relocation =
        Relocation::new(&exact(PARENT, REGION), &outside, OutsidePolicy::Keep, None).unwrap();
    assert!(matches!(
        relocation.relocate_region(&mut memory),
        Err(RelocationError::Memory(_))
    ));
}

// Property tests: random capabilities in random regions.

/// What to store in one granule of the parent region.
#[derive(Clone, Debug)]
enum Slot {
    Data(u128),
    /// A capability to object `target` (sub-bounds from `sub`, address at
    /// `address` from its base), with permissions cleared, sealed by `seal`
    /// (0 none, 1 sentry, 2 LPB, 3 LB, 4 ordinary), flags set.
    Pointer {
        target: prop::sample::Index,
        sub: Option<(u16, u16)>,
        address: i32,
        clear: u32,
        seal: u8,
        otype: u16,
        flags: u8,
        tagged: bool,
    },
    /// A capability in the kernel area below both regions.
    Outside {
        offset: u16,
        length: u16,
        clear: u32,
    },
    /// Bounds across the low or high edge of the parent region.
    Straddling {
        high: bool,
        before: u16,
        after: u16,
    },
    /// The parent region's own capability, at some address.
    Region {
        address: u32,
    },
}

fn any_slot() -> impl Strategy<Value = Slot> {
    prop_oneof![
        1 => any::<u128>().prop_map(Slot::Data),
        6 => (
            any::<prop::sample::Index>(),
            proptest::option::of(any::<(u16, u16)>()),
            -0x800i32..0x2000,
            any::<u32>(),
            0u8..5,
            4u16..=0x7fff,
            prop_oneof![3 => Just(0u8), 1 => any::<u8>()],
            prop_oneof![9 => Just(true), 1 => Just(false)],
        )
            .prop_map(|(target, sub, address, clear, seal, otype, flags, tagged)| {
                Slot::Pointer { target, sub, address, clear, seal, otype, flags, tagged }
            }),
        1 => (any::<u16>(), any::<u16>(), any::<u32>())
            .prop_map(|(offset, length, clear)| Slot::Outside { offset, length, clear }),
        1 => (any::<bool>(), 1u16..0x800, 1u16..0x800)
            .prop_map(|(high, before, after)| Slot::Straddling { high, before, after }),
        1 => any::<u32>().prop_map(|address| Slot::Region { address }),
    ]
}

#[derive(Clone, Debug)]
struct Scenario {
    /// Base of the simulated memory, in MiB.
    memory_mib: u64,
    region_length: u64,
    parent_gap: u64,
    child_gap: u64,
    child_first: bool,
    objects: Vec<u64>,
    slots: Vec<(prop::sample::Index, Slot)>,
    child_clear: u32,
    policy: OutsidePolicy,
    with_sealer: bool,
}

fn any_scenario() -> impl Strategy<Value = Scenario> {
    (
        1u64..(1 << 34),
        0x100u64..=0x1_0000,
        (0u64..0x1_0000, 0u64..0x1_0000, any::<bool>()),
        proptest::collection::vec(prop_oneof![4 => 1u64..0x100, 1 => 1u64..0x4000], 1..24),
        proptest::collection::vec((any::<prop::sample::Index>(), any_slot()), 0..64),
        prop_oneof![3 => Just(0u32), 1 => any::<u32>()],
        prop_oneof![Just(OutsidePolicy::Keep), Just(OutsidePolicy::Clear)],
        any::<bool>(),
    )
        .prop_map(
            |(
                memory_mib,
                region_length,
                gaps,
                objects,
                slots,
                child_clear,
                policy,
                with_sealer,
            )| {
                Scenario {
                    memory_mib,
                    region_length,
                    parent_gap: gaps.0,
                    child_gap: gaps.1,
                    child_first: gaps.2,
                    objects,
                    slots,
                    child_clear,
                    policy,
                    with_sealer,
                }
            },
        )
}

/// Permissions from random bits, never Load (so every capability stays
/// usable for the walk of the property's own checks).
fn permissions_to_clear(bits: u32) -> Permissions {
    Permissions::from_bits_truncate(bits) - Permissions::LOAD
}

const KERNEL_AREA: u64 = 0x1_0000;

/// The memory and the two region capabilities of a scenario.
fn place_regions(scenario: &Scenario) -> (SimulatedMemory, Capability, Capability) {
    let length = representable_length(scenario.region_length.next_multiple_of(GRANULE_SIZE));
    let mask = alignment_mask(length) & !(GRANULE_SIZE - 1);
    let align_up = |address: u64| (address + !mask) & mask;
    let memory_base = scenario.memory_mib << 20;
    let first = align_up(memory_base + KERNEL_AREA + scenario.parent_gap);
    let second = align_up(first + length + scenario.child_gap);
    let (parent_base, child_base) = if scenario.child_first {
        (second, first)
    } else {
        (first, second)
    };
    let size = second + length - memory_base;
    let memory = SimulatedMemory::new(memory_base, size).unwrap();
    let child =
        exact(child_base, length).clear_permissions(permissions_to_clear(scenario.child_clear));
    (memory, exact(parent_base, length), child)
}

fn fill_parent(scenario: &Scenario, memory: &mut SimulatedMemory, parent: &Capability) {
    let mut heap = Heap::new(*parent);
    let objects: Vec<Capability> = scenario
        .objects
        .iter()
        .map_while(|&length| heap.alloc(length))
        .collect();
    let granules = (parent.length() / u128::from(GRANULE_SIZE)) as usize;
    let kernel_base = memory.span().start;
    for (position, slot) in &scenario.slots {
        let address = parent.base() + position.index(granules) as u64 * GRANULE_SIZE;
        let cap = match *slot {
            Slot::Data(bits) => {
                memory.store_data(address, &bits.to_le_bytes()).unwrap();
                continue;
            }
            Slot::Pointer {
                target,
                sub,
                address: at,
                clear,
                seal,
                otype,
                flags,
                tagged,
            } => {
                let object = match objects.get(target.index(objects.len().max(1))) {
                    Some(object) => *object,
                    None => continue,
                };
                let length = u64::try_from(object.length()).unwrap();
                let bounded = match sub {
                    Some((start, sub_length)) => {
                        let start = u64::from(start) % (length + 1);
                        let sub_length = u64::from(sub_length) % (length - start + 1);
                        object
                            .set_address(object.base() + start)
                            .set_bounds(Length::from(sub_length))
                            .capability
                    }
                    None => object,
                };
                let moved = bounded.set_address(
                    bounded.base().wrapping_add_signed(i64::from(at)) | u64::from(flags) << 56,
                );
                let restricted = moved.clear_permissions(permissions_to_clear(clear));
                let sealed = match seal {
                    0 => restricted,
                    1 => restricted.seal_entry(),
                    2 => restricted.seal_special(SpecialSeal::LoadPairBranch),
                    3 => restricted.seal_special(SpecialSeal::LoadBranch),
                    _ => restricted.seal(&sealer().set_address(u64::from(otype))),
                };
                if tagged { sealed } else { sealed.without_tag() }
            }
            Slot::Outside {
                offset,
                length,
                clear,
            } => {
                let base = kernel_base + u64::from(offset) % (KERNEL_AREA / 2);
                Capability::root()
                    .set_address(base)
                    .set_bounds(Length::from(u64::from(length) % (KERNEL_AREA / 2)))
                    .capability
                    .clear_permissions(permissions_to_clear(clear))
            }
            Slot::Straddling {
                high,
                before,
                after,
            } => {
                let edge = if high {
                    u64::try_from(parent.top()).unwrap()
                } else {
                    parent.base()
                };
                Capability::root()
                    .set_address(edge - u64::from(before))
                    .set_bounds(Length::from(u64::from(before) + u64::from(after)))
                    .capability
            }
            Slot::Region { address } => {
                parent.set_address(parent.base().wrapping_add(u64::from(address)))
            }
        };
        memory.store_capability(address, &cap).unwrap();
    }
}

/// Checks the child's granule against the parent's, by the rules of
/// re-derivation restated independently of `relocate`.
fn check_granule(
    scenario: &Scenario,
    parent: &Capability,
    child: &Capability,
    p: &Capability,
    c: &Capability,
) -> Result<(), TestCaseError> {
    let (pb, length) = (parent.base(), u64::try_from(parent.length()).unwrap());
    if c.tag() {
        // The universal properties: no bounds in the parent region, bounds in
        // the child's or kept outside, no new permissions.
        prop_assert!(
            !overlaps(c, pb, length),
            "child holds {c:?} into the parent"
        );
        let kept = scenario.policy == OutsidePolicy::Keep && c == p;
        prop_assert!(c.is_subset_of(child) || kept, "{c:?} from {p:?}");
        prop_assert!(p.permissions().contains(c.permissions()));
    }
    if !p.tag() {
        prop_assert_eq!(c, p);
        return Ok(());
    }
    let bounds = p.bounds();
    let inside = bounds.valid
        && bounds.base >= pb
        && bounds.top <= u128::from(pb) + u128::from(length)
        && u128::from(bounds.base) <= bounds.top;
    let outside = bounds.valid
        && (bounds.top <= u128::from(pb)
            || u128::from(bounds.base) >= u128::from(pb) + u128::from(length));
    if inside {
        if c.tag() {
            prop_assert_eq!(c.base() - child.base(), p.base() - pb);
            prop_assert_eq!(c.length(), p.length());
            prop_assert_eq!(c.offset(), p.offset());
            prop_assert_eq!(c.flags(), p.flags());
            prop_assert_eq!(c.object_type(), p.object_type());
            prop_assert_eq!(c.permissions(), p.permissions() & child.permissions());
        } else {
            prop_assert_eq!(c, &p.without_tag());
            let cursor = bounds_address(p.address());
            let in_bounds = cursor >= bounds.base && u128::from(cursor) < bounds.top;
            let needs_sealer = matches!(p.seal_state(), SealState::Sealed(_));
            prop_assert!(
                !in_bounds || (needs_sealer && !scenario.with_sealer),
                "{p:?} was cleared"
            );
        }
    } else if outside && scenario.policy == OutsidePolicy::Keep {
        prop_assert_eq!(c, p);
    } else {
        prop_assert_eq!(c, &p.without_tag());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn relocation_never_widens_and_reproduces_what_it_can(scenario in any_scenario()) {
        let (mut memory, parent, child) = place_regions(&scenario);
        fill_parent(&scenario, &mut memory, &parent);
        let before = memory.clone();
        let sealer = sealer();
        let relocation = Relocation::new(
            &parent,
            &child,
            scenario.policy,
            scenario.with_sealer.then_some(&sealer),
        )
        .unwrap();
        let stats = relocation.relocate_region(&mut memory).unwrap();
        let length = u64::try_from(parent.length()).unwrap();
        let mut tagged = 0;
        for offset in (0..length).step_by(GRANULE_SIZE as usize) {
            let p = before.load_capability(parent.base() + offset).unwrap();
            let c = memory.load_capability(child.base() + offset).unwrap();
            prop_assert_eq!(memory.load_capability(parent.base() + offset).unwrap(), p);
            tagged += u64::from(p.tag());
            check_granule(&scenario, &parent, &child, &p, &c)?;
        }
        prop_assert_eq!(stats.scanned, length / GRANULE_SIZE);
        prop_assert_eq!(stats.rederived + stats.kept + stats.cleared, tagged);
    }

    #[test]
    fn registers_get_what_memory_gets(scenario in any_scenario()) {
        let (mut memory, parent, child) = place_regions(&scenario);
        fill_parent(&scenario, &mut memory, &parent);
        let relocation = Relocation::new(&parent, &child, scenario.policy, Some(&sealer())).unwrap();
        let mut registers = CapabilityRegisterFile::default();
        let mut sources = Vec::new();
        let span = parent.base()..u64::try_from(parent.top()).unwrap();
        for (register, address) in registers.iter_mut().zip(span.step_by(16)) {
            *register = memory.load_capability(address).unwrap();
            sources.push(address);
        }
        relocation.relocate_registers(&mut registers);
        relocation.relocate_region(&mut memory).unwrap();
        for (register, address) in registers.iter_mut().zip(sources) {
            let in_memory = memory.load_capability(address - parent.base() + child.base()).unwrap();
            prop_assert_eq!(*register, in_memory);
        }
    }
}
