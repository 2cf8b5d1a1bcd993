//! The in-kernel tests of the platform bring-up. Each file tests one piece;
//! `ktest!` registers them, `cargo xtask qemu-test` runs them.

mod console;
mod cores;
mod harness;
mod interrupts;
mod memory;
mod morello;
mod process;
