//! One counter of readiness changes: bumped whenever a pipe, an eventfd or
//! a device may have become readable or writable (data queued or taken, an
//! end closed). A kernel that runs a blocked call again only when something
//! may have changed remembers the count the call saw and leaves it alone
//! until the count moves: μprocesses blocked on files cost nothing while
//! nothing happens.

use core::sync::atomic::{AtomicU64, Ordering};

static CHANGES: AtomicU64 = AtomicU64::new(0);

/// Something may have become ready.
pub fn changed() {
    CHANGES.fetch_add(1, Ordering::AcqRel);
}

/// The count of changes so far.
pub fn changes() -> u64 {
    CHANGES.load(Ordering::Acquire)
}
