//! Booting the kernel in QEMU: the command line for each machine, the console
//! relay (with answers to the kernel's console-input requests), the watchdog,
//! and the run's outcome.

use crate::console::{Demux, Piece};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A line to type: the text and a newline.
fn typed_line(text: &str) -> Vec<u8> {
    format!("{text}\n").into_bytes()
}

/// The kernel asks the host to type a line with this prefix.
pub const INPUT_REQUEST: &str = "ktest-input-request: ";

/// Which emulated machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// Stock `qemu-system-aarch64 -M virt` with a GIC of this version.
    Virt {
        /// 2 or 3.
        gic: u8,
        /// Start the kernel at EL2 (`virtualization=on`) instead of EL1.
        el2: bool,
    },
    /// CHERI QEMU, `-M virt,gic-version=3 -cpu morello`.
    Morello,
}

impl Machine {
    /// Its name in messages.
    pub fn name(&self) -> String {
        match self {
            Machine::Virt { gic, el2: false } => format!("virt (GICv{gic})"),
            Machine::Virt { gic, el2: true } => format!("virt (GICv{gic}, started at EL2)"),
            Machine::Morello => "morello".to_string(),
        }
    }

    fn starts_at_el2(&self) -> bool {
        matches!(self, Machine::Virt { el2: true, .. })
    }

    /// Kernel arguments that tell the ktests what this machine must look like.
    pub fn expectations(&self) -> [String; 2] {
        [
            format!("morsel.expect-gic={}", self.gic()),
            format!("morsel.expect-el={}", if self.starts_at_el2() { 2 } else { 1 }),
        ]
    }

    /// The most cores a run on this machine may have: GICv2 has eight CPU
    /// interfaces; with GICv3 the kernel's own limit (`cpu::MAX_CORES` in
    /// arch-morello) applies.
    pub fn max_cores(&self) -> u32 {
        match self {
            Machine::Virt { gic: 2, .. } => 8,
            Machine::Virt { .. } | Machine::Morello => 64,
        }
    }

    /// The cores a run has unless told otherwise: one per host core, at
    /// least two, at most [`Machine::max_cores`].
    pub fn default_cores(&self, host_cores: u32) -> u32 {
        host_cores.max(2).min(self.max_cores())
    }

    /// The cores a run has: `requested` (an error if the machine cannot
    /// have that many), or else the default for this host.
    pub fn cores(&self, requested: Option<u32>) -> Result<u32, String> {
        match requested {
            Some(n) if n == 0 || n > self.max_cores() => {
                Err(format!("--smp {n}: {} takes 1 to {} cores", self.name(), self.max_cores()))
            }
            Some(n) => Ok(n),
            None => Ok(self.default_cores(std::thread::available_parallelism().map_or(2, |n| n.get() as u32))),
        }
    }

    fn gic(&self) -> u8 {
        match self {
            Machine::Virt { gic, .. } => *gic,
            Machine::Morello => 3,
        }
    }
}

/// The CHERI QEMU binary, if installed (`MORSEL_QEMU_MORELLO` or PATH).
pub fn morello_qemu() -> Option<PathBuf> {
    std::env::var_os("MORSEL_QEMU_MORELLO")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| crate::toolchain::which("qemu-system-morello"))
}

/// One boot of the kernel.
#[derive(Debug, Clone)]
pub struct Boot<'a> {
    /// The flat kernel image.
    pub kernel: &'a Path,
    /// The machine.
    pub machine: Machine,
    /// The initramfs, if any.
    pub initrd: Option<&'a Path>,
    /// Extra kernel command-line words.
    pub bootargs: Vec<String>,
    /// Memory in MiB.
    pub memory_mib: u32,
    /// Cores.
    pub smp: u32,
    /// Start QEMU's gdb stub and wait for the debugger.
    pub gdb: bool,
    /// Kill QEMU after this long.
    pub timeout: Duration,
    /// Where the machine's console input comes from.
    pub input: Input,
    /// Where the kernel's own console text goes.
    pub kernel_text: KernelText,
}

/// Where the machine's console input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Our own stdin (`run`).
    Forward,
    /// Answers to the kernel's `ktest-input-request:` lines (test runs).
    KernelRequests,
    /// A scripted session: each time μprocess output shows the expected
    /// text (after the previous match), the bytes are typed.
    Dialogue(Vec<(String, Vec<u8>)>),
    /// These bytes, piped in from power-on as fast as the machine takes
    /// them (as `run` forwards a pipe).
    Piped(Vec<u8>),
}

/// Where the xtask shows the kernel's console text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelText {
    /// On stdout, interleaved with μprocess output (test runs).
    Stdout,
    /// On stderr, so stdout carries exactly what μprocesses wrote.
    Stderr,
    /// Not shown (`--quiet`).
    Hidden,
}

impl KernelText {
    fn write(self, bytes: &[u8]) {
        match self {
            KernelText::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(bytes);
                let _ = out.flush();
            }
            KernelText::Stderr => {
                let _ = std::io::stderr().lock().write_all(bytes);
            }
            KernelText::Hidden => {}
        }
    }
}


/// How a boot ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// QEMU's exit status (the kernel's semihosting status), None if killed.
    pub status: Option<i32>,
    /// The watchdog fired.
    pub timed_out: bool,
    /// What the kernel printed (its framed console output).
    pub kernel_output: String,
    /// What μprocesses wrote to the console.
    pub user_output: Vec<u8>,
}

impl Outcome {
    /// The `N passed, N failed, N skipped` line the ktest runner printed.
    pub fn ktest_summary(&self) -> Option<(usize, usize, usize)> {
        self.kernel_output.lines().rev().find_map(crate::tally::parse_summary_line)
    }
}

impl Boot<'_> {
    fn command(&self) -> Result<Command, String> {
        let qemu = match self.machine {
            Machine::Virt { .. } => crate::toolchain::require_program("qemu-system-aarch64", "qemu-system-arm")?,
            Machine::Morello => morello_qemu().ok_or("qemu-system-morello is not installed")?,
        };
        let cpu = match self.machine {
            Machine::Virt { .. } => "cortex-a72",
            Machine::Morello => "morello",
        };
        let el2 = self.machine.starts_at_el2();
        let mut bootargs = vec!["morsel.exit=semihosting".to_string()];
        bootargs.extend(self.bootargs.iter().cloned());
        let mut cmd = Command::new(qemu);
        let virtualization = if el2 { ",virtualization=on" } else { "" };
        cmd.args(["-M", &format!("virt,gic-version={}{virtualization}", self.machine.gic())])
            .args(["-cpu", cpu])
            .args(["-m", &self.memory_mib.to_string()])
            .args(["-smp", &self.smp.to_string()])
            .args(["-display", "none", "-serial", "stdio", "-monitor", "none"])
            .args(["-semihosting-config", "enable=on,target=native"])
            .arg("-kernel")
            .arg(self.kernel)
            .args(["-append", &bootargs.join(" ")]);
        if let Some(initrd) = self.initrd {
            cmd.arg("-initrd").arg(initrd);
        }
        if self.gdb {
            cmd.args(["-s", "-S"]);
        }
        Ok(cmd)
    }

    /// Boots, relays the console to our stdout, and waits for the end or the
    /// watchdog.
    pub fn run(&self) -> Result<Outcome, String> {
        self.boot(true)
    }

    /// Boots and waits like [`Boot::run`], keeping what μprocesses write
    /// (in [`Outcome::user_output`]) instead of showing it.
    pub fn run_captured(&self) -> Result<Outcome, String> {
        self.boot(false)
    }

    fn boot(&self, show_user_output: bool) -> Result<Outcome, String> {
        let mut cmd = self.command()?;
        if self.gdb {
            eprintln!(
                "xtask: QEMU waits for gdb on localhost:1234; attach with:\n  gdb-multiarch {} -ex 'target remote localhost:1234'",
                self.kernel.with_extension("").display()
            );
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start QEMU: {e}"))?;
        let mut stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let (lines_tx, lines_rx) = mpsc::channel::<Vec<u8>>();
        let answer = self.input == Input::KernelRequests;
        let mut dialogue = match &self.input {
            Input::Dialogue(steps) => steps.clone().into_iter(),
            _ => Vec::new().into_iter(),
        };
        let mut expected = dialogue.next();
        let dialogue_tx = lines_tx.clone();
        let kernel_text_to = self.kernel_text;
        let relay = std::thread::spawn(move || {
            let mut reader = stdout;
            let mut demux = Demux::default();
            let mut outcome = (String::new(), Vec::new());
            let mut line = String::new();
            let mut dialogue_mark = 0usize;
            let mut buffer = [0u8; 4096];
            loop {
                let (pieces, ended) = match reader.read(&mut buffer) {
                    Ok(0) | Err(_) => (demux.finish(), true),
                    Ok(n) => (demux.feed(&buffer[..n]), false),
                };
                for piece in pieces {
                    match piece {
                        Piece::User(bytes) => {
                            if show_user_output {
                                let mut out = std::io::stdout().lock();
                                let _ = out.write_all(&bytes);
                                let _ = out.flush();
                            }
                            outcome.1.extend(bytes);
                            while let Some((text, reply)) = &expected {
                                let seen = String::from_utf8_lossy(&outcome.1[dialogue_mark..]).into_owned();
                                let Some(at) = seen.find(text.as_str()) else { break };
                                dialogue_mark += seen[..at + text.len()].len();
                                let _ = dialogue_tx.send(reply.clone());
                                expected = dialogue.next();
                            }
                        }
                        Piece::Kernel(bytes) => {
                            kernel_text_to.write(&bytes);
                            let text = String::from_utf8_lossy(&bytes);
                            outcome.0.push_str(&text);
                            for c in text.chars() {
                                if c != '\n' {
                                    line.push(c);
                                    continue;
                                }
                                if answer && let Some(token) = line.strip_prefix(INPUT_REQUEST) {
                                    let _ = lines_tx.send(typed_line(token.trim_end()));
                                }
                                line.clear();
                            }
                        }
                    }
                }
                if ended {
                    break outcome;
                }
            }
        });
        // `run`: our stdin is the machine's console input.
        let forward = match (&self.input, stdin.take()) {
            (Input::Forward, Some(mut pipe)) => Some(std::thread::spawn(move || {
                let _ = std::io::copy(&mut std::io::stdin().lock(), &mut pipe);
            })),
            (Input::Piped(bytes), Some(mut pipe)) => {
                let bytes = bytes.clone();
                Some(std::thread::spawn(move || {
                    let _ = pipe.write_all(&bytes);
                }))
            }
            (_, pipe) => {
                stdin = pipe;
                None
            }
        };
        let started = Instant::now();
        let (status, timed_out) = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break (status.code(), false);
            }
            if !self.gdb && started.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                break (None, true);
            }
            if let (Ok(bytes), Some(pipe)) = (lines_rx.try_recv(), stdin.as_mut()) {
                // Typed a moment later, as a person would: the machine is
                // already waiting for it.
                std::thread::sleep(Duration::from_millis(200));
                let _ = pipe.write_all(&bytes);
                let _ = pipe.flush();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        drop(forward);
        let (kernel_output, user_output) = relay.join().map_err(|_| "console relay panicked")?;
        if timed_out {
            eprintln!(
                "xtask: watchdog: {} did not finish within {} s; QEMU killed",
                self.machine.name(),
                self.timeout.as_secs()
            );
        }
        Ok(Outcome { status, timed_out, kernel_output, user_output })
    }
}

/// The kernel command line that runs `argv` as the first μprocess in `cwd`,
/// its console a plain stream, the kernel quiet but for warnings.
pub fn program_bootargs(argv: &[String], cwd: &str) -> Vec<String> {
    vec![
        "morsel.console=pipe".to_string(),
        "morsel.log=warn".to_string(),
        format!("morsel.cwd={}", crate::hex(cwd.as_bytes())),
        format!("morsel.argv={}", argv.iter().map(|a| crate::hex(a.as_bytes())).collect::<Vec<_>>().join(",")),
    ]
}

/// The memory of the machines test programs run in.
pub const PROGRAM_MEMORY_MIB: u32 = 512;

/// The machine [`run_program`] boots: memory, cores, and how long the run
/// may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramMachine {
    /// RAM in MiB.
    pub memory_mib: u32,
    /// Cores.
    pub cores: u32,
    /// The watchdog.
    pub timeout: Duration,
}

impl ProgramMachine {
    /// [`PROGRAM_MEMORY_MIB`], one core, two minutes.
    pub const DEFAULT: ProgramMachine = ProgramMachine { memory_mib: PROGRAM_MEMORY_MIB, cores: 1, timeout: Duration::from_secs(120) };
}

/// Runs `argv` as the first μprocess of a Morsel boot with `initrd` and
/// `memory_mib` of memory, in the working directory `cwd`, with the console
/// as a plain stream; returns what it wrote to the console and its exit
/// status (128 + signal if killed).
pub fn run_program(kernel: &Path, initrd: &Path, argv: &[String], cwd: &str, shape: ProgramMachine) -> Result<(Vec<u8>, i32), String> {
    let bootargs = program_bootargs(argv, cwd);
    let outcome = Boot {
        kernel,
        machine: Machine::Virt { gic: 3, el2: false },
        initrd: Some(initrd),
        bootargs,
        memory_mib: shape.memory_mib,
        smp: shape.cores,
        gdb: false,
        timeout: shape.timeout,
        input: Input::Dialogue(Vec::new()),
        kernel_text: KernelText::Hidden,
    }
    .run_captured()?;
    let status = outcome.status.ok_or("Morsel did not finish (watchdog)")?;
    Ok((outcome.user_output, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_default_to_the_host_at_least_two_within_the_machine() {
        let v2 = Machine::Virt { gic: 2, el2: false };
        let v3 = Machine::Virt { gic: 3, el2: true };
        assert_eq!(v3.default_cores(1), 2);
        assert_eq!(v3.default_cores(2), 2);
        assert_eq!(v3.default_cores(12), 12);
        assert_eq!(v3.default_cores(500), 64);
        assert_eq!(v2.default_cores(12), 8);
        assert_eq!(Machine::Morello.default_cores(4), 4);
    }

    #[test]
    fn requested_cores_must_fit_the_machine() {
        let v2 = Machine::Virt { gic: 2, el2: false };
        assert_eq!(v2.cores(Some(1)), Ok(1));
        assert_eq!(v2.cores(Some(8)), Ok(8));
        assert!(v2.cores(Some(9)).is_err());
        assert!(v2.cores(Some(0)).is_err());
        assert_eq!(Machine::Virt { gic: 3, el2: false }.cores(Some(9)), Ok(9));
        assert!(v2.cores(None).is_ok_and(|n| (2..=8).contains(&n)));
    }
}
