//! Morello: the hardware's capability instructions agree with the software
//! model and with the reference vectors. Skipped where the CPU has no
//! capabilities.

use crate::ktest::TestError;
use crate::start::ConsoleWriter;
use crate::{check, check_eq, ktest};
use arch_morello::morello::engine::HardwareEngine;
use core::fmt::Write;
use uprocess::capability::{Capability, ROOT_PESBT};
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
