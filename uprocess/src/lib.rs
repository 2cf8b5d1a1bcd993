//! μprocesses: the Morello capability model, tagged memory, regions and the
//! fork engines. Everything here is generic code that builds and is tested on
//! the host; the hardware implementations of its traits live in `arch-morello`.
//!
//! - [`capability`]: the exact Morello 128-bit capability (decode, encode,
//!   bounds compression, CRRL/CRAM) and its monotonic operations.
//! - [`vectors`]: the reference vector format and the engine trait that
//!   checks the model, or hardware, against it.
//! - [`tagged`]: memory with a tag per 16-byte granule ([`TaggedMemory`])
//!   and its simulator.
//! - [`relocate`]: the μFork re-derivation of a region's and a register
//!   file's capabilities into a child region.
//! - [`context`]: the isolation context trait the process layer is written
//!   against, and [`areas`], the bookkeeping of a μprocess's memory areas.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod areas;
pub mod capability;
pub mod context;
pub mod relocate;
pub mod tagged;
pub mod vectors;

pub use capability::Capability;
pub use tagged::TaggedMemory;
