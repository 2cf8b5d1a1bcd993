//! The generic timer: the virtual counter and the EL1 virtual timer (PPI 11).

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTV_CTL_EL0, CNTV_TVAL_EL0, CNTVCT_EL0, Readable, Writeable};

/// The interrupt ID of the EL1 virtual timer (PPI 11).
pub const VIRTUAL_TIMER_INTID: u32 = 27;

/// Counter ticks per second.
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// The virtual counter now.
pub fn counter() -> u64 {
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    CNTVCT_EL0.get()
}

/// Nanoseconds since the counter started.
pub fn uptime_ns() -> u64 {
    let freq = u128::from(frequency().max(1));
    (u128::from(counter()) * 1_000_000_000 / freq) as u64
}

/// Arms the timer to fire `ticks` counter ticks from now, interrupt unmasked.
pub fn arm(ticks: u64) {
    CNTV_TVAL_EL0.set(ticks.min(u64::from(u32::MAX >> 1)));
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Stops the timer.
pub fn stop() {
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR);
}
