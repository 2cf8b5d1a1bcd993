//! ELF loading into a μprocess's address space, as Linux arm64's execve does
//! it: static (ET_EXEC), static-PIE and dynamic PIE executables with their
//! PT_INTERP interpreter, purecap Morello binaries recognised by
//! `EF_AARCH64_CHERI_PURECAP`, and the initial stack with argv, envp and
//! auxv. The kernel provides the memory through [`AddressSpace`].
//!
//! - [`space`]: the address space the loader writes into.
//! - [`elf`]: one ELF file: identification and loading.
//! - [`program`]: the executable and its interpreter together.
//! - [`stack`]: the initial stack and auxiliary vector.
//! - [`testing`]: an in-memory [`AddressSpace`] for tests.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod elf;
pub mod program;
pub mod space;
pub mod stack;
pub mod testing;

pub use elf::{
    ADDRESS_LIMIT, EF_AARCH64_CHERI_PURECAP, EXECUTABLE_DYN_BASE, ExecutableKind, INTERPRETER_DYN_BASE, Identity,
    LoadedElf, Placement, identify, load_elf,
};
pub use posix_shim::Errno;
pub use program::{Program, ReadInterpreter, load_program};
pub use space::{AddressSpace, Protection};
pub use stack::{StackPlacement, StartInfo, auxv, build_initial_stack};
