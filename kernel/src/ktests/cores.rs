//! Several cores: every core the device tree lists is up under its own
//! number, takes its own timer tick without speeding up the kernel's, and
//! takes the wake-up IPI sent to it.

use crate::platform::{self, platform};
use crate::{check, check_eq, ktest};
use alloc::vec::Vec;
use arch_morello::{cpu, timer};

/// Waits (for interrupts) until `done` holds or two seconds of counter time
/// pass; says whether it held.
fn within_two_seconds(done: impl Fn() -> bool) -> bool {
    let deadline = timer::counter() + 2 * timer::frequency();
    while !done() && timer::counter() < deadline {
        cpu::wait_for_interrupt();
    }
    done()
}

ktest!(fn every_described_core_is_up_under_its_own_number() {
    let machine = &platform().machine;
    check_eq!(platform::cores_up(), machine.cpus);
    check_eq!(cpu::core_id(), 0);
    check_eq!(platform::core_affinity(0), Some(cpu::core_affinity()));
    // Each core wrote its own affinity under the number it reads from
    // core_id(): distinct numbers give the device tree's cores, once each.
    let mut seen: Vec<u64> = (0..platform::cores_up()).filter_map(platform::core_affinity).collect();
    let mut described = machine.cpu_ids.clone();
    seen.sort_unstable();
    described.sort_unstable();
    check_eq!(seen, described);
    Ok(())
});

ktest!(fn every_core_takes_its_own_tick() {
    for core in 0..platform::cores_up() {
        let start = platform::core_ticks(core);
        check!(within_two_seconds(|| platform::core_ticks(core) >= start + 2), "core {core}: no timer ticks in 2 s");
    }
    Ok(())
});

ktest!(fn the_kernel_tick_keeps_its_rate_with_several_cores() {
    let (start, since) = (platform::ticks(), timer::counter());
    check!(within_two_seconds(|| platform::ticks() >= start + 10), "no 10 ticks in 2 s");
    let elapsed = timer::counter() - since;
    // Ten ticks at TICK_HZ take at least nine tick periods after the first.
    let nine_periods = 9 * timer::frequency() / platform::TICK_HZ;
    check!(elapsed >= nine_periods, "10 ticks in {elapsed} counter ticks, less than {nine_periods}: the tick runs fast");
    Ok(())
});

ktest!(fn the_wakeup_ipi_reaches_every_core() {
    for core in 0..platform::cores_up() {
        let before = platform::core_wakeups(core);
        platform::send_wakeup_ipi(core);
        check!(within_two_seconds(|| platform::core_wakeups(core) > before), "core {core} took no wake-up IPI");
    }
    Ok(())
});
