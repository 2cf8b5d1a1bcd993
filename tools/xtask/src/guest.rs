//! `cargo xtask guest-test [--reference]`: the guest test programs.
//!
//! `tests/guest/*.c` are C programs for Linux/AArch64, each built twice with
//! Debian's cross compiler (`NAME-static`, `NAME-dynamic`) into
//! `tests/guest/build/`. A program prints one `ok - ...` or `not ok - ...`
//! line per check and ends with `N passed, N failed`; it exits with 0 iff
//! nothing failed. Some programs also have crash modes, selected by their
//! first argument, in which they must be killed by a signal.
//!
//! Where a binary runs is the caller's choice: [`run_guests`] takes a closure
//! that runs one binary with arguments and returns its output and status.
//! [`run_reference`] runs them under qemu-user (user-mode emulation on the
//! host's Linux kernel), the reference Morsel is compared with: from a copy
//! of the `guest-tests` image, inside namespaces where the kernel's execve
//! of an AArch64 program starts qemu-user too
//! ([`differential::reference_command`]), so programs can exec.

use crate::differential;
use crate::qemu::ProgramMachine;
use crate::tally::{self, Tally};
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Debian's cross compiler (package `gcc-aarch64-linux-gnu`).
const COMPILER: &str = "aarch64-linux-gnu-gcc";
/// Flags for every guest program.
const CFLAGS: &[&str] = &["-std=gnu11", "-O2", "-g", "-Wall", "-Wextra"];
/// The image that holds the guest programs (tests/guest/build as /tests)
/// and glibc for the dynamically linked ones.
const IMAGE: &str = "guest-tests";
/// Where that image holds the guest programs.
const IMAGE_DIR: &str = "/tests";
/// How long one guest run may take under qemu-user.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// How many `not ok` lines are printed per failing run.
const SHOWN_FAILURES: usize = 20;

const SIGILL: i32 = 4;
const SIGSEGV: i32 = 11;

/// How a guest binary is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    /// `-static`: no dynamic loader.
    Static,
    /// Linked against glibc's shared libraries, loaded by `ld-linux-aarch64.so.1`.
    Dynamic,
}

impl Linkage {
    const ALL: [Linkage; 2] = [Linkage::Static, Linkage::Dynamic];

    fn name(self) -> &'static str {
        match self {
            Linkage::Static => "static",
            Linkage::Dynamic => "dynamic",
        }
    }

    fn compiler_flags(self) -> &'static [&'static str] {
        match self {
            Linkage::Static => &["-static"],
            Linkage::Dynamic => &[],
        }
    }
}

/// One built guest program.
#[derive(Debug, Clone)]
pub struct GuestBinary {
    /// The program: its source file's name without `.c` (`mem`).
    pub program: String,
    /// How it is linked.
    pub linkage: Linkage,
    /// The executable on the host: `tests/guest/build/PROGRAM-LINKAGE`.
    pub path: PathBuf,
}

impl GuestBinary {
    /// The executable's file name (`mem-static`).
    pub fn name(&self) -> String {
        format!("{}-{}", self.program, self.linkage.name())
    }
}

/// What one run of a guest binary gave back.
#[derive(Debug)]
pub struct RunResult {
    /// Everything the program wrote to stdout.
    pub stdout: String,
    /// What it wrote to stderr, where that can be told apart from stdout
    /// (empty otherwise); shown when the run fails.
    pub stderr: String,
    /// The exit status as a shell reports it: the exit code, or 128 + the
    /// number of the signal that killed the program (as `cargo xtask run`
    /// reports a μprocess).
    pub status: i32,
}

/// A run of a program with an argument that must end with a signal.
#[derive(Debug)]
struct CrashMode {
    program: &'static str,
    argument: &'static str,
    signal: i32,
}

/// The crash modes of the guest programs (see the top of `badptr.c`).
const CRASH_MODES: &[CrashMode] = &[
    CrashMode { program: "badptr", argument: "null-jump", signal: SIGSEGV },
    CrashMode { program: "badptr", argument: "kernel-write", signal: SIGSEGV },
    CrashMode { program: "badptr", argument: "kernel-jump", signal: SIGSEGV },
    CrashMode { program: "badptr", argument: "text-write", signal: SIGSEGV },
    CrashMode { program: "badptr", argument: "undefined-insn", signal: SIGILL },
];

/// `tests/guest/`.
fn source_dir() -> PathBuf {
    crate::repo_root().join("tests/guest")
}

/// Builds every `tests/guest/*.c`, static and dynamic, into
/// `tests/guest/build/`. The compilers run in parallel; their diagnostics go
/// to stderr.
pub fn build_guests() -> Result<Vec<GuestBinary>, String> {
    crate::toolchain::require_program(COMPILER, "gcc-aarch64-linux-gnu")?;
    let dir = source_dir();
    let build = dir.join("build");
    std::fs::create_dir_all(&build).map_err(|e| format!("cannot create {}: {e}", build.display()))?;
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
        .collect();
    sources.sort();
    if sources.is_empty() {
        return Err(format!("no guest programs (*.c) in {}", dir.display()));
    }

    let mut compilations: Vec<(GuestBinary, Child)> = Vec::new();
    for source in &sources {
        let program = source.file_stem().and_then(|s| s.to_str()).ok_or("a guest source name is not UTF-8")?;
        for linkage in Linkage::ALL {
            let path = build.join(format!("{program}-{}", linkage.name()));
            let binary = GuestBinary { program: program.to_string(), linkage, path };
            let child = Command::new(COMPILER)
                .args(CFLAGS)
                .args(linkage.compiler_flags())
                .arg("-o")
                .arg(&binary.path)
                .arg(source)
                .spawn()
                .map_err(|e| format!("cannot run {COMPILER}: {e} (Debian package gcc-aarch64-linux-gnu)"))?;
            compilations.push((binary, child));
        }
    }
    let mut failed = Vec::new();
    let mut binaries = Vec::new();
    for (binary, mut child) in compilations {
        match child.wait() {
            Ok(status) if status.success() => binaries.push(binary),
            _ => failed.push(binary.name()),
        }
    }
    if failed.is_empty() { Ok(binaries) } else { Err(format!("cannot build {}", failed.join(", "))) }
}

/// Where guest programs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// qemu-user on the host's Linux kernel.
    Reference,
    /// Morsel.
    Morsel,
}

impl Platform {
    fn name(self) -> &'static str {
        match self {
            Platform::Reference => "qemu-user",
            Platform::Morsel => "Morsel",
        }
    }
}

/// Arguments a program's plain run takes on one platform (none for the
/// others). `many` builds a chain of 2000 μprocesses on Morsel; qemu-user
/// needs minutes and gigabytes for that (a host process per μprocess), so
/// the reference checks the same behaviour with 200.
const PLAIN_ARGUMENTS: &[(&str, Platform, &[&str])] = &[("many", Platform::Reference, &["200"])];

/// The arguments of `program`'s plain run on `platform`.
fn plain_arguments(program: &str, platform: Platform) -> &'static [&'static str] {
    PLAIN_ARGUMENTS.iter().find(|(p, on, _)| *p == program && *on == platform).map_or(&[], |(_, _, args)| args)
}

/// Runs each binary through `run` (which runs one binary with arguments, on
/// `platform`) and checks it: a plain run must print only passing checks and
/// its summary and exit with 0; a crash mode must end with its signal. One
/// check per run.
pub fn run_guests(
    binaries: &[GuestBinary],
    platform: Platform,
    skip_plain: &[&str],
    mut run: impl FnMut(&GuestBinary, &[&str]) -> Result<RunResult, String>,
) -> Tally {
    let mut tally = Tally::default();
    let platform_name = platform.name();
    for binary in binaries {
        if skip_plain.contains(&binary.program.as_str()) {
            println!("guest {} on {platform_name}: skipped (not offered yet: see PENDING_ON_MORSEL)", binary.name());
            tally.skipped += 1;
        } else {
            let arguments = plain_arguments(&binary.program, platform);
            let plain = run(binary, arguments).and_then(|result| judge_checks(&result).map_err(|e| failure(e, &result)));
            tally.add(report(&binary.name(), platform_name, plain));
        }
        for mode in CRASH_MODES.iter().filter(|m| m.program == binary.program) {
            let crash =
                run(binary, &[mode.argument]).and_then(|result| judge_crash(&result, mode).map_err(|e| failure(e, &result)));
            tally.add(report(&format!("{} {}", binary.name(), mode.argument), platform_name, crash));
        }
    }
    tally
}

/// Runs each binary under qemu-user, the reference, each run in a fresh
/// copy of the `guest-tests` image (built here from the binaries). The runs
/// copy a snapshot taken right after the build, not the image's staging
/// tree, which any other image build rebuilds.
pub fn run_reference(binaries: &[GuestBinary]) -> Tally {
    let root = crate::repo_root();
    let scratch = root.join("target/guest-reference");
    let snapshot = crate::image::build_image(IMAGE, &[], &[]).and_then(|_| {
        differential::reference_root(&root.join("target/images").join(IMAGE).join("root"), &scratch.join("image"))
    });
    let snapshot = match snapshot {
        Ok(snapshot) => snapshot,
        Err(why) => {
            println!("guest tests on qemu-user: FAILED: cannot prepare the {IMAGE} image: {why}");
            return Tally::check(false);
        }
    };
    let runs = scratch.join("run");
    run_guests(binaries, Platform::Reference, &[], |binary, args| run_under_qemu_user(&snapshot, &runs, binary, args))
}

/// Prints one run's verdict and counts it.
fn report(run: &str, platform: &str, verdict: Result<String, String>) -> Tally {
    match &verdict {
        Ok(summary) => println!("guest {run} on {platform}: ok ({summary})"),
        Err(reason) => println!("guest {run} on {platform}: FAILED: {reason}"),
    }
    Tally::check(verdict.is_ok())
}

/// A failure reason followed by the run's failing lines and its stderr.
fn failure(reason: String, result: &RunResult) -> String {
    let mut text = reason;
    for line in result.stdout.lines().filter(|l| l.starts_with("not ok")).take(SHOWN_FAILURES) {
        text.push_str("\n    ");
        text.push_str(line);
    }
    for line in result.stderr.lines() {
        text.push_str("\n    stderr: ");
        text.push_str(line);
    }
    text
}

/// Checks a plain run: the summary line closes the output, agrees with the
/// check lines, counts no failure, and the status is 0.
fn judge_checks(result: &RunResult) -> Result<String, String> {
    let last = result.stdout.lines().last().unwrap_or("");
    let Some((passed, failed, 0)) = tally::parse_summary_line(last) else {
        return Err(format!("the output does not end with \"N passed, N failed\" (status {})", result.status));
    };
    let ok_lines = result.stdout.lines().filter(|l| l.starts_with("ok - ")).count();
    let not_ok_lines = result.stdout.lines().filter(|l| l.starts_with("not ok - ")).count();
    if (ok_lines, not_ok_lines) != (passed, failed) {
        return Err(format!(
            "the summary says {passed} passed, {failed} failed, but there are {ok_lines} ok and {not_ok_lines} not ok lines"
        ));
    }
    if failed > 0 || passed == 0 || result.status != 0 {
        return Err(format!("{passed} passed, {failed} failed, exit status {}", result.status));
    }
    Ok(format!("{passed} checks"))
}

/// Checks a crash mode: the program was killed by the expected signal.
fn judge_crash(result: &RunResult, mode: &CrashMode) -> Result<String, String> {
    if result.status == 128 + mode.signal {
        Ok(format!("killed by signal {}", mode.signal))
    } else {
        Err(format!("exit status {}, expected {} (killed by signal {})", result.status, 128 + mode.signal, mode.signal))
    }
}

/// Runs one binary under qemu-user from `/` of a fresh copy of the image at
/// `image_root` (made in `scratch`), with Morsel's environment for its first
/// μprocess and a time limit.
fn run_under_qemu_user(
    image_root: &Path,
    scratch: &Path,
    binary: &GuestBinary,
    args: &[&str],
) -> Result<RunResult, String> {
    let chroot = differential::reference_root(image_root, scratch)?;
    let mut argv = vec![format!("{IMAGE_DIR}/{}", binary.name())];
    argv.extend(args.iter().map(|a| a.to_string()));
    let mut child = differential::reference_command(&chroot, &differential::reference_environment(), &argv)?
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());
    let status = wait_with_timeout(&mut child, RUN_TIMEOUT)?;
    let collect = |reader: std::thread::JoinHandle<String>| reader.join().unwrap_or_default();
    Ok(RunResult { stdout: collect(stdout), stderr: collect(stderr), status: shell_status(status) })
}

/// Reads a child's pipe to its end on a thread of its own.
fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error ends the output early; the verdict then shows it.
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child`, killing it after `timeout` (which, for a reference
/// run, ends everything in its namespaces).
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Result<ExitStatus, String> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("cannot wait for the guest: {e}"))? {
            return Ok(status);
        }
        if started.elapsed() > timeout {
            // Killing can only fail if it has just exited; wait reaps it either way.
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no exit within {} s", timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An exit status as a shell reports it: the code, or 128 + the signal.
fn shell_status(status: ExitStatus) -> i32 {
    status.code().or_else(|| status.signal().map(|signal| 128 + signal)).unwrap_or(-1)
}

/// `cargo xtask guest-test [--reference]`: builds the guest programs and,
/// with `reference`, runs them under qemu-user.
pub fn command(reference: bool, morsel: bool) -> Result<ExitCode, String> {
    let binaries = build_guests()?;
    println!("guest: built {} binaries in {}", binaries.len(), source_dir().join("build").display());
    let mut tally = Tally::default();
    if reference {
        tally.add(run_reference(&binaries));
    }
    if morsel {
        let kernel = crate::build_kernel(false, &[])?;
        tally.add(run_on_morsel(&binaries, &kernel, &[])?);
    }
    if !reference && !morsel {
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(if tally.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Guest programs whose plain runs need what Morsel does not offer yet
/// (none now); `cargo xtask guest-test --morsel` runs everything.
pub const PENDING_ON_MORSEL: &[&str] = &[];

/// The fork bomb, run for real only on Morsel (its plain run just passes),
/// in a machine with this little memory.
const FORK_BOMB: &str = "forkbomb";
const FORK_BOMB_MEMORY_MIB: u32 = 384;

/// The cores Morsel's guest runs have: two, so that threads and processes
/// run in parallel.
const MORSEL_CORES: u32 = 2;
/// Programs that also run on one core (their behaviour must not depend on
/// parallelism).
const ALSO_ON_ONE_CORE: &[&str] = &["threads", "futex", "stress"];
/// The stress test's long run on Morsel (issue 7: 16 threads in each of 4
/// processes on 2 cores for 60 s of guest time), static binary only; its
/// own watchdog gives up at 3 × 60 + 30 s.
const STRESS: &str = "stress";
const STRESS_SECONDS: u64 = 60;

/// Runs each binary on Morsel, from the `guest-tests` image (which holds
/// tests/guest/build as /tests), one boot per run, on [`MORSEL_CORES`]
/// cores; [`ALSO_ON_ONE_CORE`] on one core too, the fork bomb for real and
/// the stress test for a minute. With `skip_plain`, the plain runs of those
/// programs are left out.
pub fn run_on_morsel(binaries: &[GuestBinary], kernel: &Path, skip_plain: &[&str]) -> Result<Tally, String> {
    let initrd = crate::image::build_image(IMAGE, &[], &[])?;
    let boot = |binary: &GuestBinary, args: &[&str], machine: ProgramMachine| -> Result<RunResult, String> {
        let mut argv = vec![format!("{IMAGE_DIR}/{}", binary.name())];
        argv.extend(args.iter().map(|a| a.to_string()));
        let (output, status) = crate::qemu::run_program(kernel, &initrd, &argv, "/", machine)?;
        Ok(RunResult { stdout: String::from_utf8_lossy(&output).into_owned(), stderr: String::new(), status })
    };
    let on_cores = |cores: u32| ProgramMachine { cores, ..ProgramMachine::DEFAULT };
    let mut tally = run_guests(binaries, Platform::Morsel, skip_plain, |binary, args| boot(binary, args, on_cores(MORSEL_CORES)));
    let checked = |binary: &GuestBinary, args: &[&str], machine: ProgramMachine| {
        boot(binary, args, machine).and_then(|result| judge_checks(&result).map_err(|e| failure(e, &result)))
    };
    for binary in binaries.iter().filter(|b| ALSO_ON_ONE_CORE.contains(&b.program.as_str())) {
        tally.add(report(&format!("{} (1 core)", binary.name()), "Morsel", checked(binary, &[], on_cores(1))));
    }
    for bomb in binaries.iter().filter(|b| b.program == FORK_BOMB) {
        let machine = ProgramMachine { memory_mib: FORK_BOMB_MEMORY_MIB, ..on_cores(MORSEL_CORES) };
        tally.add(report(&format!("{} run ({FORK_BOMB_MEMORY_MIB} MiB)", bomb.name()), "Morsel", checked(bomb, &["run"], machine)));
    }
    for stress in binaries.iter().filter(|b| b.program == STRESS && b.linkage == Linkage::Static) {
        let machine = ProgramMachine { timeout: Duration::from_secs(STRESS_SECONDS * 3 + 60), ..on_cores(MORSEL_CORES) };
        let seconds = STRESS_SECONDS.to_string();
        let verdict = checked(stress, &[seconds.as_str()], machine);
        tally.add(report(&format!("{} {STRESS_SECONDS} s ({MORSEL_CORES} cores)", stress.name()), "Morsel", verdict));
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(stdout: &str, status: i32) -> RunResult {
        RunResult { stdout: stdout.to_string(), stderr: String::new(), status }
    }

    #[test]
    fn passes_a_clean_run() {
        assert!(judge_checks(&result("ok - a\nok - b\n2 passed, 0 failed\n", 0)).is_ok());
    }

    #[test]
    fn fails_bad_runs() {
        // A failed check, a missing summary, a summary that miscounts, a
        // non-zero status, and a program without checks.
        assert!(judge_checks(&result("ok - a\nnot ok - b: x\n1 passed, 1 failed\n", 1)).is_err());
        assert!(judge_checks(&result("ok - a\n", 0)).is_err());
        assert!(judge_checks(&result("ok - a\n2 passed, 0 failed\n", 0)).is_err());
        assert!(judge_checks(&result("ok - a\n1 passed, 0 failed\n", 1)).is_err());
        assert!(judge_checks(&result("0 passed, 0 failed\n", 0)).is_err());
    }

    #[test]
    fn crash_modes_need_their_signal() {
        let mode = &CRASH_MODES[0];
        assert!(judge_crash(&result("", 128 + mode.signal), mode).is_ok());
        assert!(judge_crash(&result("", 0), mode).is_err());
        assert!(judge_crash(&result("", 128 + SIGILL), mode).is_err());
    }
}
