//! Morello: the hardware's capability instructions agree with the software
//! model and with the reference vectors, and μFork's relocation works the
//! same in real tagged memory as in the simulator. Skipped where the CPU has
//! no capabilities.

use crate::ktest::TestError;
use crate::start::ConsoleWriter;
use crate::{check, check_eq, ktest};
use arch_morello::morello::engine::HardwareEngine;
use core::fmt::Write;
use crate::platform::platform;
use arch_morello::PhysAddr;
use arch_morello::morello::tagged::MorelloMemory;
use uprocess::capability::{Capability, Length, Permissions, ROOT_PESBT};
use uprocess::relocate::{OutsidePolicy, Relocation, RelocationStats};
use uprocess::tagged::{MemoryError, SimulatedMemory, TaggedMemory};
use uprocess::vectors::{
    CapabilityEngine, LineOutcome, ModelEngine, VectorCase, VectorKind, check_case, check_file, parse_line,
};

/// A sample of every vector file, taken when the kernel was built.
const SAMPLES: [(VectorKind, &str); 4] = [
    (VectorKind::Decode, include_str!(concat!(env!("OUT_DIR"), "/vectors/decode.txt"))),
    (VectorKind::SetBounds, include_str!(concat!(env!("OUT_DIR"), "/vectors/setbounds.txt"))),
    (VectorKind::SetAddr, include_str!(concat!(env!("OUT_DIR"), "/vectors/setaddr.txt"))),
    (VectorKind::Align, include_str!(concat!(env!("OUT_DIR"), "/vectors/align.txt"))),
];

/// Fewest lines per file the hardware must match for the test to count.
const MINIMUM_MATCHED: usize = 200;

fn hardware() -> Result<HardwareEngine, TestError> {
    HardwareEngine::new().ok_or_else(|| TestError::Skipped("this CPU has no Morello capabilities".into()))
}

ktest!(fn ddc_is_the_vectors_root() {
    let ddc = hardware()?.ddc();
    check!(ddc.tag, "DDC is untagged");
    check_eq!(ddc.pesbt, ROOT_PESBT);
    check_eq!(ddc.base, 0);
    check_eq!(ddc.length, u64::MAX);
    Ok(())
});

/// Whether a setaddr line on which the hardware kept a tag the vectors clear
/// is one the precise representability check keeps: the address moved, the
/// bounds decode unchanged. Morello specifies the fast check (the vectors'
/// oracle); CHERI QEMU implements the precise one, so these lines are the
/// emulator's known divergence, counted apart and never as matches.
fn precise_check_keeps(case: &VectorCase, hw: &mut HardwareEngine) -> bool {
    let VectorCase::SetAddr { req_base, req_len, new_addr, expected } = case else {
        return false;
    };
    let Ok(got) = hw.set_address(*req_base, *req_len, *new_addr) else {
        return false;
    };
    let bounded = Capability::root().set_address(*req_base).set_bounds(*req_len).capability;
    let moved = Capability::from_parts(bounded.pesbt(), *new_addr, true);
    !expected.tag
        && got.tag
        && moved.bounds() == bounded.bounds()
        && (got.base, got.top) == (bounded.base(), bounded.top())
}

/// Counts for one vector file run on the hardware.
#[derive(Debug, Default)]
struct HardwareCounts {
    matched: usize,
    unobservable: usize,
    precise_check: usize,
    mismatched: usize,
}

ktest!(fn hardware_and_model_agree_on_reference_vectors() {
    let mut hw = hardware()?;
    if SAMPLES.iter().any(|(_, text)| text.is_empty()) {
        return Err(TestError::Skipped("the reference vectors were absent when this kernel was built".into()));
    }
    for (kind, text) in SAMPLES {
        let model = check_file(kind, text, &mut ModelEngine);
        check!(model.failures.is_empty() && model.matched == model.checked, "the model disagrees with the sample");
        let mut counts = HardwareCounts::default();
        for (index, line) in text.lines().enumerate().skip(1) {
            let case = parse_line(kind, line).map_err(|e| TestError::Failed(alloc::format!("{e}")))?;
            match check_case(&case, &mut hw) {
                Ok(LineOutcome::Matched) => counts.matched += 1,
                Ok(LineOutcome::Skipped(_)) => counts.unobservable += 1,
                Err(_) if precise_check_keeps(&case, &mut hw) => counts.precise_check += 1,
                Err(error) => {
                    counts.mismatched += 1;
                    if counts.mismatched <= 5 {
                        let _ = writeln!(ConsoleWriter, "    sample line {}: {error}\n      {line}", index + 1);
                    }
                }
            }
        }
        let _ = writeln!(
            ConsoleWriter,
            "  {}: {} lines: hardware matched {}, unobservable {}, kept by the emulator's precise check {}, mismatched {}; model matched {}",
            kind.file_name(),
            model.checked,
            counts.matched,
            counts.unobservable,
            counts.precise_check,
            counts.mismatched,
            model.matched
        );
        check_eq!(counts.mismatched, 0);
        check!(counts.matched >= MINIMUM_MATCHED, "only {} lines of {} were observable", counts.matched, kind.file_name());
    }
    Ok(())
});

/// Bytes of each region in the relocation test; the span holds the parent
/// region, an object outside it, and the child region.
const REGION: u64 = 32 * 1024;
const SPAN: u64 = 4 * REGION;

/// Writes the same pointer-linked structure into `memory`'s parent region
/// (at `base`): a linked list whose nodes hold a data word, a pointer to the
/// next node and an interior pointer into their own payload; a read-only
/// view, a sentry, a capability to an object outside the region, and one
/// straddling the region's end. Returns the head node's address.
fn build_structure(memory: &mut dyn TaggedMemory, base: u64) -> Result<u64, MemoryError> {
    let root = Capability::root();
    let object = |address: u64, length: u64| root.set_address(address).set_bounds(Length::from(length)).capability;
    const NODES: u64 = 24;
    const NODE: u64 = 0x200;
    let head = base + 0x1000;
    for i in 0..NODES {
        let node = head + i * NODE;
        let next = if i + 1 < NODES { object(node + NODE, NODE) } else { Capability::NULL };
        memory.store_capability(node, &next)?;
        memory.store_data(node + 16, &(0x5eed_0000 + i).to_le_bytes())?;
        let interior = object(node, NODE).set_address(node + 48);
        memory.store_capability(node + 32, &interior)?;
    }
    let read_only = object(head, NODES * NODE).clear_permissions(Permissions::STORE | Permissions::STORE_CAP);
    memory.store_capability(base, &read_only)?;
    memory.store_capability(base + 16, &object(base + 0x4000, 64).seal_entry())?;
    memory.store_capability(base + 32, &object(base + REGION + 0x100, 256))?;
    memory.store_capability(base + 48, &object(base + REGION - 32, 64))?;
    Ok(head)
}

ktest!(fn relocation_in_real_tagged_memory_matches_the_simulator() {
    let _ = hardware()?;
    let fail = |what: &str, e: &dyn core::fmt::Debug| TestError::Failed(alloc::format!("{what}: {e:?}"));
    let frames = platform().frames.lock().allocate(SPAN, SPAN).map_err(|e| fail("frames", &e))?;
    let start = PhysAddr(frames.start).to_virt();
    // Like the simulator, start from zeroed, untagged memory: the allocator
    // hands frames out as an earlier user left them.
    let bytes: *mut u8 = core::ptr::with_exposed_provenance_mut(start as usize);
    // SAFETY: the frames were just allocated to this test and are mapped RW
    // by the kernel map; plain stores also clear their tags.
    unsafe { core::ptr::write_bytes(bytes, 0, SPAN as usize) };
    // SAFETY: the frames were just allocated to this test, are mapped RW with
    // capability access by the kernel map, and nothing else touches them.
    let mut hardware_memory =
        unsafe { MorelloMemory::new(start..start + SPAN) }.ok_or_else(|| fail("memory", &"no capabilities"))?;
    let mut simulated = SimulatedMemory::new(start, SPAN).map_err(|e| fail("simulator", &e))?;
    let root = Capability::root();
    let parent = root.set_address(start).set_bounds_exact(Length::from(REGION));
    let child = root.set_address(start + 2 * REGION).set_bounds_exact(Length::from(REGION));
    check!(parent.tag() && child.tag(), "region capabilities are not exact");
    let relocation = Relocation::new(&parent, &child, OutsidePolicy::Keep, None).map_err(|e| fail("relocation", &e))?;

    let result = (|| -> Result<(RelocationStats, RelocationStats, u64), TestError> {
        let head = build_structure(&mut hardware_memory, start).map_err(|e| fail("build (hardware)", &e))?;
        build_structure(&mut simulated, start).map_err(|e| fail("build (simulator)", &e))?;
        let on_hardware = relocation.relocate_region(&mut hardware_memory).map_err(|e| fail("relocate (hardware)", &e))?;
        let simulated_stats = relocation.relocate_region(&mut simulated).map_err(|e| fail("relocate (simulator)", &e))?;
        Ok((on_hardware, simulated_stats, head))
    })();
    let outcome = result.and_then(|(on_hardware, simulated_stats, head)| {
        let _ = writeln!(ConsoleWriter, "  relocation on hardware: {on_hardware:?}");
        check_eq!(on_hardware, simulated_stats);
        check!(on_hardware.rederived >= 48, "only {} capabilities re-derived", on_hardware.rederived);
        check_eq!(on_hardware.kept, 1);
        check_eq!(on_hardware.cleared, 1);
        // Granule by granule, bits and tags, the hardware agrees with the simulator.
        for address in (start..start + SPAN).step_by(16) {
            let (h, s) = (hardware_memory.load_capability(address), simulated.load_capability(address));
            check_eq!(h, s);
        }
        // The child's list reads back value for value, inside the child region.
        let child_range = u128::from(start + 2 * REGION)..u128::from(start + 3 * REGION);
        let mut node = hardware_memory.load_capability(head + 2 * REGION).map_err(|e| fail("load", &e))?;
        let mut visited = 1;
        while node.tag() {
            check!(child_range.contains(&u128::from(node.base())) && node.top() <= child_range.end);
            let mut word = [0u8; 8];
            hardware_memory.load_data(node.address() + 16, &mut word).map_err(|e| fail("load", &e))?;
            check_eq!(u64::from_le_bytes(word), 0x5eed_0000 + visited);
            node = hardware_memory.load_capability(node.address()).map_err(|e| fail("load", &e))?;
            visited += 1;
        }
        check_eq!(visited, 24);
        Ok(())
    });
    let _ = platform().frames.lock().free(frames);
    outcome
});
