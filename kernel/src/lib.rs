//! The Morsel kernel: the glue between the platform (`arch-morello`) and the
//! generic crates. The machine description, memory allocator and in-kernel
//! test runner are generic and tested on the host; bring-up, interrupts, the
//! console and the ktests themselves exist only in the bare-metal build.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod ktest;
pub mod machine;
pub mod memory;
pub mod strace;

#[cfg(target_os = "none")]
mod files;
#[cfg(target_os = "none")]
mod frames;
#[cfg(target_os = "none")]
mod ktests;
#[cfg(target_os = "none")]
mod logger;
#[cfg(target_os = "none")]
pub mod platform;
#[cfg(target_os = "none")]
pub mod process;
#[cfg(target_os = "none")]
mod procfs;
#[cfg(target_os = "none")]
mod random;
#[cfg(target_os = "none")]
mod start;
#[cfg(target_os = "none")]
mod syscall;
#[cfg(target_os = "none")]
mod vdso;
