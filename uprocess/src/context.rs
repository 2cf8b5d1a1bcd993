//! The isolation context: what makes a μprocess's region runnable, keeps
//! it apart from every other μprocess and from the kernel, and forks it.
//! The process layer (fork, exec, wait, signals, memory system calls) is
//! written against [`IsolationContext`] alone; each way of isolating
//! implements it:
//!
//! - the **paged** context (the kernel's, for any AArch64 binary): the
//!   μprocess sees its memory through its own translation table; fork shares
//!   the pages copy-on-write;
//! - the **capability** context (Morello, purecap binaries): the μprocess
//!   runs at its region's own address, confined by its capabilities; fork
//!   copies the region and re-derives every capability
//!   ([`crate::relocate`]).
//!
//! Addresses are the μprocess's own, as `u64`. The kernel's reads and writes
//! on the μprocess's behalf go through [`read`](IsolationContext::read) and
//! [`write`](IsolationContext::write), which check the areas: a bad address
//! is EFAULT, never a kernel fault.

use loader::Protection;
use posix_shim::Errno;

use crate::areas::{AreaKind, AreaMap, Backing};

/// How an access uses memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Execute,
    /// A kernel write that ignores the protection (ELF loading, brk's
    /// zeroing, mremap's moves).
    Load,
}

/// Why an access did not work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No area covers the address (SIGSEGV, SEGV_MAPERR).
    Unmapped,
    /// The area forbids the access (SIGSEGV, SEGV_ACCERR).
    Forbidden,
    /// The area shows a file and the page lies past its end (SIGBUS,
    /// BUS_ADRERR).
    PastEndOfFile,
    /// No memory was left for a page (SIGBUS, or ENOMEM for the kernel).
    OutOfMemory,
}

impl From<Fault> for Errno {
    fn from(fault: Fault) -> Errno {
        match fault {
            Fault::OutOfMemory => Errno::ENOMEM,
            Fault::Unmapped | Fault::Forbidden | Fault::PastEndOfFile => Errno::EFAULT,
        }
    }
}

/// A μprocess's memory, isolated: its areas, the pages behind them, and
/// how it runs.
pub trait IsolationContext: Sized {
    /// An empty context (no areas).
    fn new() -> Result<Self, Errno>;

    /// The areas.
    fn areas(&self) -> &AreaMap;

    /// Adds an area showing `backing`, or demand-zero memory without one.
    /// EEXIST if it overlaps an area, ENOMEM outside the μprocess's range.
    fn map(&mut self, start: u64, len: u64, protection: Protection, kind: AreaKind, backing: Option<Backing>) -> Result<(), Errno>;

    /// Removes whatever is mapped in `[start, start + len)` and frees its
    /// pages.
    fn unmap(&mut self, start: u64, len: u64) -> Result<(), Errno>;

    /// Changes the protection of `[start, start + len)`; ENOMEM if part of
    /// it is not mapped.
    fn protect(&mut self, start: u64, len: u64, protection: Protection) -> Result<(), Errno>;

    /// Grows or shrinks the area starting at `start` (ending at `old_end`)
    /// to end at `new_end`, freeing the pages it loses.
    fn resize(&mut self, start: u64, old_end: u64, new_end: u64) -> Result<(), Errno>;

    /// Drops the pages of `[start, start + len)`: anonymous memory reads as
    /// zero again, a file mapping shows the file again (MADV_DONTNEED).
    fn discard(&mut self, start: u64, len: u64) -> Result<(), Errno>;

    /// A free range of `len` bytes, as high as possible below `below`.
    fn find_free(&self, len: u64, below: u64) -> Option<u64>;

    /// Whether the page holding `address` has memory behind it now.
    fn is_resident(&self, address: u64) -> bool;

    /// How many pages have memory behind them.
    fn resident_pages(&self) -> usize;

    /// Makes the page holding `address` present for `access`, as a fault
    /// from the μprocess would.
    fn fault_in(&mut self, address: u64, access: Access) -> Result<(), Fault>;

    /// Reads the μprocess's memory (readable by the μprocess, unless
    /// `any_protection`); pages never touched read as what they would show,
    /// without being allocated.
    fn read(&self, address: u64, buffer: &mut [u8], any_protection: bool) -> Result<(), Errno>;

    /// Writes the μprocess's memory (writable by the μprocess, unless
    /// `access` is [`Access::Load`]).
    fn write(&mut self, address: u64, data: &[u8], access: Access) -> Result<(), Errno>;

    /// Replaces the aligned 32-bit word at `address` (writable by the
    /// μprocess) with `update(old)` in one atomic step, as the μprocess's
    /// own atomic instructions on other cores see it (futex operations);
    /// returns the old value. EINVAL for a misaligned address.
    fn update_u32(&mut self, address: u64, update: &mut dyn FnMut(u32) -> u32) -> Result<u32, Errno>;

    /// The context of a forked child: the same areas and contents, private
    /// memory copied (or shared until written), shared mappings shared.
    fn fork(&mut self) -> Result<Self, Errno>;

    /// Makes this context the one the μprocess runs in on this core.
    fn activate(&self);
}
