//! The Linux AArch64 syscall ABI as Morsel implements it, host-tested:
//!
//! - [`errno`](Errno): error numbers;
//! - [`user`]: checked access to a μprocess's memory;
//! - [`syscall`]: syscall numbers, typed arguments, the binary layouts of
//!   the structures syscalls exchange, and the handlers, one file per family;
//! - [`vfs`]: the in-memory filesystem;
//! - [`procfs`]: `/proc` and `/sys`, synthetic filesystems over what the
//!   kernel reports;
//! - [`cpio`]: unpacking an initramfs into it;
//! - [`fd`]: open file descriptions and descriptor tables;
//! - [`eventfd`]: eventfd counters;
//! - [`readiness`]: the count of readiness changes blocked calls wait on;
//! - [`device`]: character devices (the built-in memory devices and the
//!   interface to the kernel's drivers).
//!
//! Pipes, signals, futexes and sockets come with the process layer.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod cpio;
pub mod device;
mod errno;
pub mod eventfd;
pub mod fd;
pub mod pipe;
pub mod procfs;
pub mod readiness;
pub mod syscall;
pub mod user;
pub mod vfs;

pub use errno::Errno;
