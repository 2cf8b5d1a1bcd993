//! The generic timer: the virtual counter and the EL1 virtual timer (PPI 11).

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTKCTL_EL1, CNTV_CTL_EL0, CNTV_TVAL_EL0, CNTVCT_EL0, ReadWriteable, Readable, Writeable};

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

/// The multiplier that turns counter ticks into nanoseconds: ns =
/// (ticks × mult) >> 32 (the vDSO computes the same).
pub fn ns_mult() -> u64 {
    ((1_000_000_000u128 << 32) / u128::from(frequency().max(1))) as u64
}

/// Nanoseconds since the counter started.
pub fn uptime_ns() -> u64 {
    ((u128::from(counter()) * u128::from(ns_mult())) >> 32) as u64
}

/// Lets EL0 read the virtual counter (CNTKCTL_EL1.EL0VCTEN), as Linux does
/// for its vDSO.
pub fn allow_el0_counter() {
    CNTKCTL_EL1.modify(CNTKCTL_EL1::EL0VCTEN::SET);
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
