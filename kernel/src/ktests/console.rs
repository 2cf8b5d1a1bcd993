//! Console input: bytes fed through QEMU's serial port arrive through the
//! PL011 receive interrupt.

use crate::platform::platform;
use crate::start::ConsoleWriter;
use crate::{check_eq, ktest};
use alloc::vec::Vec;
use arch_morello::{cpu, timer};
use core::fmt::Write;

/// The line the test asks the host to type. The xtask answers the request
/// line by writing the token and a newline to QEMU's serial input.
const TOKEN: &str = "morsel-console-input-7f3a";

ktest!(fn console_input_is_received() {
    let _ = writeln!(ConsoleWriter, "ktest-input-request: {TOKEN}");
    let mut line = Vec::new();
    let deadline = timer::counter() + 20 * timer::frequency();
    while !line.ends_with(b"\n") && timer::counter() < deadline {
        let mut buf = [0u8; 64];
        let n = platform().console.read_received(&mut buf);
        line.extend_from_slice(&buf[..n]);
        if n == 0 {
            cpu::wait_for_interrupt();
        }
    }
    let text = alloc::string::String::from_utf8_lossy(&line).into_owned();
    check_eq!(text.trim_end(), TOKEN);
    Ok(())
});
