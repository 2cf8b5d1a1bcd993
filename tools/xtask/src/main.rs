//! `cargo xtask`: build, run and test Morsel.
//!
//! ```text
//! cargo xtask run [--machine virt|morello] [--gic 2|3] [--gdb] [--smp N] [--memory MIB] [--release] [-- ARGS...]
//! cargo xtask test                      host tests, vectors, QEMU tests, harness self-tests
//! cargo xtask qemu-test [--machine virt|morello] [--gic 2|3] [--smp N] [--features F] [--filter TEXT] [--timeout SECS]
//! cargo xtask vectors [DIR]
//! cargo xtask build [--release] [--features F]
//! cargo xtask guest-test [--reference]
//! cargo xtask image NAME [--packages PKG[,PKG...]] [--add HOST[:GUEST]]...
//! cargo xtask bench [--quick] [--release|--debug] [--smp N] [--memory MIB] [--boots N]
//! ```

mod bench;
mod console;
mod cpio;
mod differential;
mod flat;
mod guest;
mod interactive;
mod image;
mod qemu;
mod tally;
mod toolchain;
mod vectors;

use qemu::{Boot, KernelText, Machine};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use tally::Tally;

/// The repository's top directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// Parsed command-line options shared by the commands.
#[derive(Debug, Default)]
struct Options {
    machine: Option<String>,
    gic: Option<u8>,
    gdb: bool,
    release: bool,
    smp: Option<u32>,
    memory: Option<u32>,
    features: Vec<String>,
    filter: Option<String>,
    timeout: Option<u64>,
    quiet: bool,
    reference: bool,
    morsel: bool,
    packages: Vec<String>,
    add: Vec<String>,
    image: Option<String>,
    strace: bool,
    tty: bool,
    positional: Vec<String>,
    trailing: Vec<String>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--machine" => o.machine = Some(value("--machine")?),
            "--gic" => o.gic = Some(value("--gic")?.parse().map_err(|_| "--gic takes 2 or 3")?),
            "--gdb" => o.gdb = true,
            "--quiet" => o.quiet = true,
            "--release" => o.release = true,
            "--smp" => o.smp = Some(value("--smp")?.parse().map_err(|_| "--smp takes a number")?),
            "--memory" => o.memory = Some(value("--memory")?.parse().map_err(|_| "--memory takes MiB")?),
            "--features" => o.features.push(value("--features")?),
            "--filter" => o.filter = Some(value("--filter")?),
            "--timeout" => o.timeout = Some(value("--timeout")?.parse().map_err(|_| "--timeout takes seconds")?),
            "--reference" => o.reference = true,
            "--morsel" => o.morsel = true,
            "--packages" => o.packages.push(value("--packages")?),
            "--image" => o.image = Some(value("--image")?),
            "--strace" => o.strace = true,
            "--tty" => o.tty = true,
            "--add" => o.add.push(value("--add")?),
            "--" => {
                o.trailing = it.by_ref().cloned().collect();
            }
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => o.positional.push(arg.clone()),
        }
    }
    Ok(o)
}

/// Builds the kernel and returns the path of its flat image (the ELF, for
/// debuggers, is beside it without the `.bin`).
pub fn build_kernel(release: bool, features: &[String]) -> Result<PathBuf, String> {
    let tc = toolchain::find()?;
    eprintln!("xtask: toolchain: {}", tc.description);
    let mut cmd = tc.cargo();
    cmd.current_dir(repo_root()).args(["build", "-p", "kernel", "--bin", "kernel"]).args(tc.build_args());
    if release {
        cmd.arg("--release");
    }
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    let status = cmd.status().map_err(|e| format!("cannot run {}: {e}", tc.cargo.display()))?;
    if !status.success() {
        return Err("kernel build failed".to_string());
    }
    let profile = if release { "release" } else { "debug" };
    flat::flat_image(&repo_root().join("target").join(toolchain::TARGET).join(profile).join("kernel"))
}

fn machines(name: Option<&str>, gic: Option<u8>) -> Result<Vec<Machine>, String> {
    match (name.unwrap_or("virt"), gic) {
        ("virt", Some(g @ (2 | 3))) => Ok(vec![Machine::Virt { gic: g, el2: false }]),
        ("virt", None) => Ok(vec![
            Machine::Virt { gic: 2, el2: false },
            Machine::Virt { gic: 3, el2: false },
            Machine::Virt { gic: 3, el2: true },
        ]),
        ("virt", Some(g)) => Err(format!("GIC version {g}: virt has 2 or 3")),
        ("morello", _) => Ok(vec![Machine::Morello]),
        (other, _) => Err(format!("unknown machine {other}: virt or morello")),
    }
}

fn cmd_run(o: &Options) -> Result<ExitCode, String> {
    let machine = *machines(o.machine.as_deref(), Some(o.gic.unwrap_or(3)))?.first().ok_or("no machine")?;
    let image = match &o.image {
        Some(name) => {
            let additions = o.add.iter().map(|a| image::Addition::parse(a)).collect::<Result<Vec<_>, _>>()?;
            Some(image::build_image(name, &o.packages, &additions)?)
        }
        None if !o.packages.is_empty() || !o.add.is_empty() => {
            return Err("--packages and --add need --image NAME".to_string());
        }
        None => None,
    };
    let smp = machine.cores(o.smp)?;
    let kernel = build_kernel(o.release, &o.features)?;
    let mut bootargs = program_bootargs(&o.trailing, o.strace, o.tty);
    if o.quiet {
        bootargs.push("morsel.log=warn".to_string());
    }
    let outcome = Boot {
        kernel: &kernel,
        machine,
        initrd: image.as_deref(),
        bootargs,
        memory_mib: o.memory.unwrap_or(1024),
        smp,
        gdb: o.gdb,
        timeout: Duration::from_secs(o.timeout.unwrap_or(24 * 3600)),
        input: qemu::Input::Forward,
        kernel_text: if o.quiet { KernelText::Hidden } else { KernelText::Stderr },
    }
    .run()?;
    Ok(exit_code(outcome.status))
}

/// Kernel arguments that start `argv` as the first μprocess (each argument
/// hex-encoded, so that any bytes survive the command line), with the
/// default environment; `strace` logs its system calls. When our stdout is
/// not a terminal, the console is a plain stream (not a tty) for the
/// μprocess too, as a redirected stdout is on Linux, unless `tty` asks for a
/// terminal anyway (scripted interactive sessions).
pub fn program_bootargs(argv: &[String], strace: bool, tty: bool) -> Vec<String> {
    use std::io::IsTerminal;
    let mut args = Vec::new();
    if !tty && !std::io::stdout().is_terminal() {
        args.push("morsel.console=pipe".to_string());
    }
    if !argv.is_empty() {
        args.push(format!("morsel.argv={}", argv.iter().map(|a| hex(a.as_bytes())).collect::<Vec<_>>().join(",")));
    }
    if strace {
        args.push("morsel.strace=1".to_string());
    }
    args
}

/// Bytes as the kernel command line carries them: lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn exit_code(status: Option<i32>) -> ExitCode {
    ExitCode::from(status.map_or(1, |s| u8::try_from(s).unwrap_or(1)))
}

/// Boots the test kernel on each machine with `smp` cores (by default one
/// per host core, at least two); the tally counts ktests, plus one failure
/// for every boot that faulted, timed out or printed no summary.
fn qemu_test(kernel: &Path, machines: &[Machine], smp: Option<u32>, filter: Option<&str>, timeout: u64) -> Result<Tally, String> {
    let mut tally = Tally::default();
    for &machine in machines {
        let smp = machine.cores(smp)?;
        println!("xtask: qemu-test on {}, -smp {smp}", machine.name());
        let mut bootargs = vec!["morsel.mode=test".to_string()];
        bootargs.extend(machine.expectations());
        if let Some(f) = filter {
            bootargs.push(format!("morsel.test={f}"));
        }
        let outcome = Boot {
            kernel,
            machine,
            initrd: None,
            bootargs,
            memory_mib: 1024,
            smp,
            gdb: false,
            timeout: Duration::from_secs(timeout),
            input: qemu::Input::KernelRequests,
            kernel_text: KernelText::Stdout,
        }
        .run()?;
        match (outcome.ktest_summary(), outcome.status, outcome.timed_out) {
            (Some((p, f, s)), Some(status), false) => {
                tally.add(Tally { passed: p, failed: f, skipped: s });
                if (status == 0) != (f == 0) {
                    println!("xtask: {}: exit status {status} disagrees with the summary", machine.name());
                    tally.failed += 1;
                }
            }
            (_, status, timed_out) => {
                println!(
                    "xtask: {}: the kernel did not finish its tests (status {status:?}{})",
                    machine.name(),
                    if timed_out { ", watchdog fired" } else { "" }
                );
                tally.failed += 1;
            }
        }
    }
    Ok(tally)
}

fn cmd_qemu_test(o: &Options) -> Result<ExitCode, String> {
    let machines = machines(o.machine.as_deref(), o.gic)?;
    if machines == [Machine::Morello] && qemu::morello_qemu().is_none() {
        println!(
            "xtask: qemu-system-morello is not installed (PATH or MORSEL_QEMU_MORELLO): nothing ran on Morello"
        );
        return Ok(ExitCode::SUCCESS);
    }
    for machine in &machines {
        machine.cores(o.smp)?;
    }
    let kernel = build_kernel(o.release, &o.features)?;
    let tally = qemu_test(&kernel, &machines, o.smp, o.filter.as_deref(), o.timeout.unwrap_or(120))?;
    println!("{}", tally.line());
    Ok(if tally.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The host unit tests of every generic crate and the xtask.
fn host_tests() -> Result<Tally, String> {
    println!("xtask: host tests (cargo test)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(repo_root())
        .args(["test", "--no-fail-fast", "--workspace", "--exclude", "arch-morello"])
        .output()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let mut tally = tally::parse_cargo_test(&stdout);
    if !out.status.success() && tally.failed == 0 {
        println!("xtask: cargo test failed before running its tests");
        tally.failed += 1;
    }
    Ok(tally)
}

/// Shows that the harness fails when it should: a failing ktest, and a
/// kernel fault reported within seconds.
fn harness_self_tests() -> Result<Tally, String> {
    let mut tally = Tally::default();
    let machine = [Machine::Virt { gic: 3, el2: false }];

    println!("xtask: harness self-test: a failing ktest must fail qemu-test");
    let kernel = build_kernel(false, &["ktest-fail".to_string()])?;
    let run = qemu_test(&kernel, &machine, None, Some("harness"), 120)?;
    let ok = run.failed >= 1;
    println!("xtask: harness self-test (failing ktest): {}", if ok { "ok, the run failed" } else { "WRONG: the run passed" });
    tally.add(Tally::check(ok));

    println!("xtask: harness self-test: a kernel fault must be reported and fail the run");
    let kernel = build_kernel(false, &["ktest-fault".to_string()])?;
    let started = Instant::now();
    let outcome = Boot {
        kernel: &kernel,
        machine: machine[0],
        initrd: None,
        bootargs: vec!["morsel.mode=test".to_string(), "morsel.test=harness".to_string()],
        memory_mib: 1024,
        smp: 1,
        gdb: false,
        timeout: Duration::from_secs(60),
        input: qemu::Input::KernelRequests,
        kernel_text: KernelText::Stdout,
    }
    .run()?;
    let elapsed = started.elapsed();
    let reported = outcome.kernel_output.contains("Unhandled exception") && outcome.kernel_output.contains("ESR");
    let ok = reported && outcome.status == Some(3) && !outcome.timed_out && elapsed < Duration::from_secs(30);
    println!(
        "xtask: harness self-test (kernel fault): {} (status {:?}, report {}, {:.1} s)",
        if ok { "ok, reported and failed" } else { "WRONG" },
        outcome.status,
        if reported { "printed" } else { "missing" },
        elapsed.as_secs_f64()
    );
    tally.add(Tally::check(ok));
    Ok(tally)
}

fn cmd_test(o: &Options) -> Result<ExitCode, String> {
    let mut total = Tally::default();
    let mut parts = Vec::new();
    let mut record = |name: &str, t: Tally, total: &mut Tally| {
        println!("xtask: {name}: {}", t.line());
        parts.push(format!("{name}: {}", t.line()));
        total.add(t);
    };
    record("host tests", host_tests()?, &mut total);
    record("vectors", vectors::check(&vectors::directory(None)), &mut total);
    let guests = guest::build_guests()?;
    record("guest tests on the reference (qemu-user)", guest::run_reference(&guests), &mut total);
    let kernel = build_kernel(o.release, &[])?;
    record("qemu-test virt", qemu_test(&kernel, &machines(Some("virt"), None)?, None, None, 120)?, &mut total);
    for suite in [differential::BUSYBOX, differential::COREUTILS] {
        record(&format!("{}, Morsel against Linux", suite.name), differential::check(&suite, &kernel)?, &mut total);
    }
    record("shell scripts, Morsel against Linux", differential::check_scripts(&kernel)?, &mut total);
    record("interactive console session", interactive::check(&kernel)?, &mut total);
    record("piped console input", interactive::check_piped(&kernel)?, &mut total);
    record("guest tests on Morsel", guest::run_on_morsel(&guests, &kernel, guest::PENDING_ON_MORSEL)?, &mut total);
    if qemu::morello_qemu().is_some() {
        record("qemu-test morello", qemu_test(&kernel, &[Machine::Morello], None, None, 600)?, &mut total);
    } else {
        println!("xtask: qemu-system-morello is not installed: the Morello run is not part of this test");
    }
    let bench = bench::main(&["--quick".to_string()]) == ExitCode::SUCCESS;
    record("benchmark harness (bench --quick, every metric on both systems)", Tally::check(bench), &mut total);
    record("harness self-tests", harness_self_tests()?, &mut total);
    println!("\nxtask: summary");
    for part in &parts {
        println!("  {part}");
    }
    println!("total: {}", total.line());
    Ok(if total.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn cmd_vectors(o: &Options) -> Result<ExitCode, String> {
    let dir = vectors::directory(o.positional.first().map(String::as_str));
    let tally = vectors::check(&dir);
    println!("{}", Tally { skipped: 0, ..tally }.line());
    Ok(if tally.failed == 0 && tally.passed > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

const USAGE: &str = "usage: cargo xtask <command>
  run [--machine virt|morello] [--gic 2|3] [--gdb] [--smp N] [--memory MIB] [--release] [--quiet]
      [--image NAME [--packages PKG[,PKG...]] [--add HOST[:GUEST]]...] [--strace] [--tty] [-- ARGV...]
                 build and boot Morsel in QEMU; with an image, run ARGV (or the image's command) as
                 the first μprocess and exit with its status
  test           host tests, capability vectors, QEMU tests (virt GICv2+GICv3, Morello if installed), harness self-tests
  qemu-test [--machine virt|morello] [--gic 2|3] [--smp N] [--features F] [--filter TEXT] [--timeout SECS]
                 run the in-kernel tests in QEMU
                 (run and qemu-test: --smp N cores; by default one per host core, at least 2, at most 8 on GICv2)
  differential   run Debian's busybox applets and coreutils (tests/busybox, tests/coreutils) and the shell
                 scripts (tests/scripts) on Morsel and on Linux (qemu-user) and compare
  scripts        only the shell scripts
  interactive    a scripted interactive shell session on the console (pipeline, Ctrl-C, exit)
  vectors [DIR]  check the capability model against reference vectors (default ../shared/vectors/morello-cap,
                 or MORELLO_CAP_VECTORS)
  build [--release] [--features F]
                 build the kernel image
  guest-test [--reference] [--morsel]
                 build the guest test programs (tests/guest) into tests/guest/build; with --reference, run
                 them under qemu-aarch64 (Linux user-mode emulation)
  image NAME [--packages PKG[,PKG...]] [--add HOST[:GUEST]]...
                 build the initramfs target/images/NAME.cpio from tests/images/NAME.toml, with extra Debian
                 arm64 packages (and their dependencies) and host files (GUEST defaults to /BASENAME)
  bench [--quick] [--release|--debug] [--smp N] [--memory MIB] [--boots N]
                 run the benchmarks (tests/bench) on Morsel and on Linux (Debian's arm64 kernel) in the same
                 QEMU configuration; print the table (Linux/Morsel ratios) and write it to target/bench/;
                 --quick: a short run that checks every metric was measured on both systems";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if command == "bench" {
        return bench::main(rest);
    }
    let result = parse_options(rest).and_then(|o| match command.as_str() {
        "run" => cmd_run(&o),
        "test" => cmd_test(&o),
        "qemu-test" => cmd_qemu_test(&o),
        "vectors" => cmd_vectors(&o),
        "interactive" => build_kernel(o.release, &[]).and_then(|kernel| {
            let mut tally = interactive::check(&kernel)?;
            tally.add(interactive::check_piped(&kernel)?);
            Ok(if tally.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }),
        "scripts" => build_kernel(o.release, &[]).and_then(|kernel| {
            let tally = differential::check_scripts(&kernel)?;
            println!("{}", tally.line());
            Ok(if tally.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }),
        "differential" => build_kernel(o.release, &[]).and_then(|kernel| {
            let mut tally = Tally::default();
            for suite in [differential::BUSYBOX, differential::COREUTILS] {
                tally.add(differential::check(&suite, &kernel)?);
            }
            tally.add(differential::check_scripts(&kernel)?);
            println!("{}", tally.line());
            Ok(if tally.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }),
        "guest-test" => guest::command(o.reference, o.morsel),
        "image" => image::command(&o.positional, &o.packages, &o.add),
        "build" => build_kernel(o.release, &o.features).map(|p| {
            println!("{}", p.display());
            ExitCode::SUCCESS
        }),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command {other}\n{USAGE}")),
    });
    result.unwrap_or_else(|e| {
        eprintln!("xtask: {e}");
        ExitCode::FAILURE
    })
}
