//! The kernel image. Everything lives in the `kernel` library; this binary
//! only links it for the bare machine.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
use kernel as _;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the Morsel kernel runs on aarch64-unknown-none: use `cargo xtask run`");
    std::process::exit(2);
}
