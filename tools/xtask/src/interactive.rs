//! The console as a user feeds it: an interactive session (BusyBox's sh on
//! a terminal, driven as a person would type, runs a pipeline, has `sleep
//! 100` interrupted by Ctrl-C (SIGINT to the foreground group: status 130),
//! has `sleep 200` stopped by Ctrl-Z (SIGTSTP), listed by `jobs`, resumed by
//! `fg` and ended by Ctrl-C, and exits with a status of its own), and input
//! piped in from power-on, which must arrive whole and in order.

use crate::qemu::{Boot, Input, KernelText, Machine};
use crate::tally::Tally;
use std::path::Path;
use std::time::Duration;

/// What the console is to the μprocess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Console {
    /// A terminal (line discipline, echo, job control).
    Terminal,
    /// A plain stream of bytes.
    Stream,
}

/// Boots the `busybox` image on virt (GICv3, 512 MiB, `cores` cores) with
/// `argv` as the first μprocess and `input` on the console; what came out.
fn boot_busybox(kernel: &Path, argv: &[&str], console: Console, cores: u32, timeout: Duration, input: Input) -> Result<crate::qemu::Outcome, String> {
    let initrd = crate::image::build_image("busybox", &[], &[])?;
    let mut bootargs = vec!["morsel.log=warn".to_string()];
    if console == Console::Stream {
        bootargs.push("morsel.console=pipe".to_string());
    }
    bootargs.push(format!("morsel.argv={}", argv.iter().map(|a| crate::hex(a.as_bytes())).collect::<Vec<_>>().join(",")));
    Boot {
        kernel,
        machine: Machine::Virt { gic: 3, el2: false },
        initrd: Some(&initrd),
        bootargs,
        memory_mib: 512,
        smp: cores,
        gdb: false,
        timeout,
        input,
        kernel_text: KernelText::Hidden,
    }
    .run_captured()
}

/// Runs the session; one check.
pub fn check(kernel: &Path) -> Result<Tally, String> {
    let argv = ["/bin/busybox", "sh", "-i"];
    // At each prompt BusyBox's line editor puts the terminal in raw mode
    // (flushing input typed before) and then asks where the cursor is
    // (ESC [ 6 n): typing after that query loses nothing.
    let prompt = "/ # \x1b[6n".to_string();
    let typed = |line: &str| line.as_bytes().to_vec();
    let steps = vec![
        (prompt.clone(), typed("echo one two three | wc -w\n")),
        (prompt.clone(), typed("sleep 100\n")),
        ("sleep 100\r\n".to_string(), b"\x03".to_vec()),
        (prompt.clone(), typed("echo status $?\n")),
        (prompt.clone(), typed("sleep 200\n")),
        ("sleep 200\r\n".to_string(), b"\x1a".to_vec()),
        (prompt.clone(), typed("jobs\n")),
        (prompt.clone(), typed("fg\n")),
        ("sleep 200\r\n".to_string(), b"\x03".to_vec()),
        (prompt.clone(), typed("echo resumed $?\n")),
        (prompt, typed("exit 3\n")),
    ];
    let outcome = boot_busybox(kernel, &argv, Console::Terminal, 1, Duration::from_secs(60), Input::Dialogue(steps))?;
    let text = String::from_utf8_lossy(&outcome.user_output).replace('\r', "");
    let verdict = if outcome.status != Some(3) {
        Err(format!("exit status {:?}, expected 3", outcome.status))
    } else if !text.contains("\n3\n") {
        Err("the pipeline's output (3) is missing".to_string())
    } else if !text.contains("^C") || !text.contains("status 130") {
        Err("Ctrl-C did not interrupt sleep with SIGINT (status 130)".to_string())
    } else if text.matches("Stopped                    sleep 200").count() != 2 {
        Err("Ctrl-Z did not stop sleep 200 as a job that `jobs` lists".to_string())
    } else if !text.contains("resumed 130") {
        Err("fg did not resume the stopped job for Ctrl-C to end (status 130)".to_string())
    } else {
        Ok(())
    };
    match &verdict {
        Ok(()) => println!("interactive session: ok"),
        Err(why) => println!("interactive session: FAILED: {why}\n    console: {text:?}"),
    }
    Ok(Tally::check(verdict.is_ok()))
}

/// How much input [`check_piped`] pipes in: several times the console's
/// input buffer, so that the sender is held back.
const PIPED_BYTES: usize = 96 * 1024;

/// Pipes [`PIPED_BYTES`] of text into the console from power-on, on two
/// cores, into `busybox head -c N`, which must print exactly the bytes sent
/// (the first ones included, which arrive before the kernel runs); one
/// check.
pub fn check_piped(kernel: &Path) -> Result<Tally, String> {
    let count = PIPED_BYTES.to_string();
    let argv = ["/bin/busybox", "head", "-c", count.as_str()];
    let input = piped_text(PIPED_BYTES);
    // A plain stream, not a terminal, as when `run`'s stdin is a pipe.
    let outcome = boot_busybox(kernel, &argv, Console::Stream, 2, Duration::from_secs(120), Input::Piped(input.clone()))?;
    let got = &outcome.user_output;
    let verdict = if outcome.status != Some(0) {
        Err(format!("exit status {:?}, expected 0", outcome.status))
    } else if got.len() != input.len() {
        Err(format!("{} bytes came out of {} piped in", got.len(), input.len()))
    } else if let Some(at) = got.iter().zip(&input).position(|(a, b)| a != b) {
        Err(format!("the bytes differ from offset {at} on"))
    } else {
        Ok(())
    };
    match &verdict {
        Ok(()) => println!("piped console input: ok ({} bytes)", input.len()),
        Err(why) => println!("piped console input: FAILED: {why}"),
    }
    Ok(Tally::check(verdict.is_ok()))
}

/// `len` bytes of lines of letters and digits that never repeat in step
/// with the console's buffers (a lost or reordered piece shows).
fn piped_text(len: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|i| {
            if i % 73 == 72 {
                return b'\n';
            }
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ALPHABET[(state >> 33) as usize % ALPHABET.len()]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piped_text_is_lines_that_do_not_repeat() {
        let text = piped_text(10_000);
        assert_eq!(text.len(), 10_000);
        assert_eq!(text[72], b'\n');
        assert!(text.iter().all(|&b| b == b'\n' || b.is_ascii_alphanumeric()));
        // Whole blocks of the console buffer's size differ from each other.
        assert_ne!(text[..4096], text[4096..8192]);
    }
}
