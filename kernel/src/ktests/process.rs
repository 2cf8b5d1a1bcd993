//! μprocesses: a static program runs at EL0 in its own view, makes system
//! calls and exits with its status; faults end it with the right signal
//! while the kernel keeps running.

use crate::files::FileState;
use crate::process::{Exit, Process, next_pid};
use crate::{check, check_eq, ktest};
use alloc::vec;
use posix_shim::Errno;

/// A freestanding program (the loader's test program): writes two lines,
/// exits with the OR of its bss bytes, which must be zero.
const STATIC_HELLO: &[u8] = include_bytes!("../../../loader/tests/data/static-hello");

fn run(exe: &[u8]) -> Result<Exit, Errno> {
    let exe = crate::files::ProgramImage::anonymous(exe)?;
    let process = Process::spawn(
        next_pid(),
        b"/test/program",
        &exe,
        vec![b"program".to_vec()],
        vec![],
        FileState::empty(),
        &mut |_| Err(Errno::ENOENT),
    )?;
    Ok(crate::process::scheduler::run(process))
}

ktest!(fn static_program_runs_and_exits() {
    let exit = run(STATIC_HELLO).map_err(|e| crate::ktest::TestError::Failed(alloc::format!("spawn: {e}")))?;
    check_eq!(exit, Exit::Status(0));
    Ok(())
});

ktest!(fn memory_is_returned_when_a_process_ends() {
    let before = crate::process::free_memory();
    for _ in 0..8 {
        let exit = run(STATIC_HELLO).map_err(|e| crate::ktest::TestError::Failed(alloc::format!("spawn: {e}")))?;
        check_eq!(exit, Exit::Status(0));
    }
    check_eq!(crate::process::free_memory(), before);
    Ok(())
});

ktest!(fn live_views_never_share_an_asid() {
    use uprocess::context::IsolationContext;
    let failed = |e: Errno| crate::ktest::TestError::Failed(alloc::format!("new view: {e}"));
    let long_lived = crate::process::Space::new().map_err(failed)?;
    // More views than there are ASIDs, one at a time: retired ASIDs come
    // back after the TLB is flushed, the long-lived view's never.
    for _ in 0..70_000 {
        let view = crate::process::Space::new().map_err(failed)?;
        check!(view.asid() != long_lived.asid() && view.asid() != 0);
    }
    Ok(())
});
