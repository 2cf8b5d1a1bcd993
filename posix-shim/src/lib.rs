//! The Linux AArch64 syscall ABI as Morsel implements it: error numbers now;
//! syscall numbers, typed arguments, file descriptors, VFS, pipes, signals,
//! futexes and sockets as the process layer grows.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod errno;

pub use errno::Errno;
