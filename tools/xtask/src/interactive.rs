//! An interactive session on the console: BusyBox's sh on a terminal,
//! driven as a person would type, runs a pipeline, has `sleep 100`
//! interrupted by Ctrl-C (SIGINT to the foreground group: status 130), has
//! `sleep 200` stopped by Ctrl-Z (SIGTSTP), listed by `jobs`, resumed by `fg`
//! and ended by Ctrl-C, and exits with a status of its own.

use crate::qemu::{Boot, Input, KernelText, Machine};
use crate::tally::Tally;
use std::path::Path;
use std::time::Duration;

/// Runs the session; one check.
pub fn check(kernel: &Path) -> Result<Tally, String> {
    let initrd = crate::image::build_image("busybox", &[], &[])?;
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
    let outcome = Boot {
        kernel,
        machine: Machine::Virt { gic: 3, el2: false },
        initrd: Some(&initrd),
        bootargs: vec![
            "morsel.log=warn".to_string(),
            format!("morsel.argv={}", argv.iter().map(|a| crate::hex(a.as_bytes())).collect::<Vec<_>>().join(",")),
        ],
        memory_mib: 512,
        smp: 1,
        gdb: false,
        timeout: Duration::from_secs(60),
        input: Input::Dialogue(steps),
        kernel_text: KernelText::Hidden,
    }
    .run_captured()?;
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
