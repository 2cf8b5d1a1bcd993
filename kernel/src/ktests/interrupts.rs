//! Bring-up: the kernel dropped from the exception level it was started at,
//! and the timer tick arrives through the GIC the xtask asked for.

use crate::platform::{platform, ticks};
use crate::{check, check_eq, ktest};
use arch_morello::{cpu, timer};

ktest!(fn timer_ticks_arrive() {
    let start = ticks();
    let deadline = timer::counter() + 2 * timer::frequency();
    while ticks() < start + 3 && timer::counter() < deadline {
        cpu::wait_for_interrupt();
    }
    let seen = ticks() - start;
    check!(seen >= 3, "only {seen} timer ticks in 2 s of counter time");
    Ok(())
});

ktest!(fn gic_is_the_requested_version() {
    let Some(expected) = platform().machine.boot_arg("morsel.expect-gic") else {
        return Err(crate::ktest::TestError::Skipped("no morsel.expect-gic given".into()));
    };
    check_eq!(alloc::format!("{}", platform().gic.version()), expected);
    Ok(())
});

ktest!(fn started_at_the_requested_exception_level() {
    let Some(expected) = platform().machine.boot_arg("morsel.expect-el") else {
        return Err(crate::ktest::TestError::Skipped("no morsel.expect-el given".into()));
    };
    check_eq!(alloc::format!("{}", platform().entry_el), expected);
    check_eq!(arch_morello::cpu::current_el(), 1);
    Ok(())
});
