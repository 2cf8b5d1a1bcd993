//! Debian's programs on Morsel against the Linux reference: each command of
//! a suite's list (BusyBox applets: `tests/busybox/applets.txt`; Debian's
//! dynamically linked coreutils: `tests/coreutils/commands.txt`) runs as the
//! first μprocess of a Morsel boot (the suite's image plus `tests/data` as
//! `/data`, the working directory) and under qemu-user on the host kernel
//! (in a copy of the same directory, with the image as its library root),
//! and the two must agree: stdout and stderr together (on Morsel both are
//! the console) byte for byte and the exit status, or for `form:` commands
//! the exit status and the number of lines.

use crate::image::{self, Addition};
use crate::tally::Tally;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How a command's outputs are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// Same bytes, same status.
    Exact,
    /// Same status, same number of lines.
    Form,
}

/// One command to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Case {
    comparison: Comparison,
    args: Vec<String>,
}

/// Splits at spaces; 'single quotes' keep spaces (and lose the quotes).
fn split_arguments(line: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut current: Option<String> = None;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                current.get_or_insert_with(String::new);
            }
            ' ' if !quoted => args.extend(current.take()),
            _ => current.get_or_insert_with(String::new).push(c),
        }
    }
    if quoted {
        return Err(format!("unterminated quote in: {line}"));
    }
    args.extend(current);
    Ok(args)
}

/// Reads the case list.
fn parse_cases(text: &str) -> Result<Vec<Case>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (kind, rest) = line.split_once(':').ok_or_else(|| format!("no `exact:` or `form:` in: {line}"))?;
            let comparison = match kind {
                "exact" => Comparison::Exact,
                "form" => Comparison::Form,
                other => return Err(format!("unknown comparison `{other}` in: {line}")),
            };
            let args = split_arguments(rest.trim())?;
            if args.is_empty() {
                return Err(format!("no command in: {line}"));
            }
            Ok(Case { comparison, args })
        })
        .collect()
}

/// What one run gave.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    output: Vec<u8>,
    status: i32,
}

/// The environment Morsel gives its first μprocess (kernel/src/start.rs),
/// in its order.
const ENVIRONMENT: [(&str, &str); 3] =
    [("HOME", "/"), ("TERM", "linux"), ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")];

/// A set of commands from one image.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    /// What the report calls it.
    pub name: &'static str,
    /// The image (tests/images/NAME.toml).
    pub image: &'static str,
    /// The command list, relative to the repository.
    pub list: &'static str,
    /// Prepended to each command (BusyBox: `/bin/busybox`); without it the
    /// first word is a program in /usr/bin.
    pub multicall: Option<&'static str>,
}

/// BusyBox's applets (busybox-static).
pub const BUSYBOX: Suite =
    Suite { name: "busybox applets", image: "busybox", list: "tests/busybox/applets.txt", multicall: Some("/bin/busybox") };
/// Debian's coreutils, dynamically linked against glibc.
pub const COREUTILS: Suite =
    Suite { name: "coreutils", image: "coreutils", list: "tests/coreutils/commands.txt", multicall: None };

impl Suite {
    /// The guest's argv for a command.
    fn argv(&self, args: &[String]) -> Vec<String> {
        match self.multicall {
            Some(program) => core::iter::once(program.to_string()).chain(args.iter().cloned()).collect(),
            None => core::iter::once(format!("/usr/bin/{}", args[0])).chain(args[1..].iter().cloned()).collect(),
        }
    }
}

fn run_reference(image_root: &Path, data: &Path, argv: &[String]) -> Result<Run, String> {
    let (reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    // qemu-user hands its environment to the guest in reverse order, so it
    // gets ours reversed (through env -i, which keeps the order given).
    let mut child = Command::new("env")
        .arg("-i")
        .args(ENVIRONMENT.iter().rev().map(|(k, v)| format!("{k}={v}")))
        .arg("qemu-aarch64")
        .arg("-0")
        .arg(&argv[0])
        .arg("-L")
        .arg(image_root)
        .arg(image_root.join(argv[0].trim_start_matches('/')))
        .args(&argv[1..])
        .current_dir(data)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().map_err(|e| e.to_string())?)
        .stderr(writer)
        .spawn()
        .map_err(|e| format!("cannot run qemu-aarch64: {e}"))?;
    let mut output = Vec::new();
    std::io::Read::read_to_end(&mut &reader, &mut output).map_err(|e| e.to_string())?;
    let status = child.wait().map_err(|e| e.to_string())?;
    use std::os::unix::process::ExitStatusExt;
    let status = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(Run { output, status })
}

fn run_morsel(kernel: &Path, initrd: &Path, argv: &[String]) -> Result<Run, String> {
    let (output, status) = crate::qemu::run_program(kernel, initrd, argv, "/data", crate::qemu::ProgramMachine::DEFAULT)?;
    Ok(Run { output, status })
}

fn lines(bytes: &[u8]) -> usize {
    bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count()
}

/// Compares the two runs; `Err` says how they differ.
fn compare(comparison: Comparison, morsel: &Run, linux: &Run) -> Result<(), String> {
    if morsel.status != linux.status {
        return Err(format!("exit status {} on Morsel, {} on Linux", morsel.status, linux.status));
    }
    match comparison {
        Comparison::Exact if morsel.output != linux.output => Err(format!(
            "output differs:\n    Morsel: {:?}\n    Linux:  {:?}",
            String::from_utf8_lossy(&morsel.output),
            String::from_utf8_lossy(&linux.output)
        )),
        Comparison::Form if lines(&morsel.output) != lines(&linux.output) => Err(format!(
            "{} lines on Morsel, {} on Linux:\n    Morsel: {:?}\n    Linux:  {:?}",
            lines(&morsel.output),
            lines(&linux.output),
            String::from_utf8_lossy(&morsel.output),
            String::from_utf8_lossy(&linux.output)
        )),
        _ => Ok(()),
    }
}

/// A fresh copy of the data directory for one reference run (commands
/// change it: mkdir, cp, chmod).
fn fresh_copy(data: &Path, scratch: &Path) -> Result<PathBuf, String> {
    let _ = std::fs::remove_dir_all(scratch);
    let status = Command::new("cp").arg("-a").arg(data).arg(scratch).status().map_err(|e| e.to_string())?;
    if status.success() { Ok(scratch.to_path_buf()) } else { Err("cannot copy the test data".to_string()) }
}

/// The shell scripts of `tests/scripts`, run by BusyBox's sh from
/// `tests/data` on Morsel and on Linux; a script whose first line is
/// `# pending: REASON` is skipped and says why. The reference needs exec of AArch64
/// programs (sh runs applets through /proc/self/exe), so it runs inside a
/// user and mount namespace with a private binfmt_misc registration of
/// qemu-user-static, chrooted into a copy of the image (see
/// [`reference_command`]).
pub fn check_scripts(kernel: &Path) -> Result<Tally, String> {
    let root = crate::repo_root();
    let (data, scripts_dir) = (root.join("tests/data"), root.join("tests/scripts"));
    let additions = [
        Addition::parse(&format!("{}:/data", data.display()))?,
        Addition::parse(&format!("{}:/scripts", scripts_dir.display()))?,
    ];
    let initrd = image::build_image("busybox", &[], &additions)?;
    let image_root = root.join("target/images/busybox/root");
    let mut scripts: Vec<String> = std::fs::read_dir(&scripts_dir)
        .map_err(|e| format!("{}: {e}", scripts_dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".sh"))
        .collect();
    scripts.sort();
    let scratch = root.join("target/scripts-reference");
    let mut tally = Tally::default();
    for script in &scripts {
        let text = std::fs::read_to_string(scripts_dir.join(script)).map_err(|e| format!("{script}: {e}"))?;
        if let Some(reason) = text.lines().next().and_then(|line| line.strip_prefix("# pending: ")) {
            println!("script {script}: skipped ({reason})");
            tally.skipped += 1;
            continue;
        }
        let argv = ["/bin/busybox".to_string(), "sh".to_string(), format!("/scripts/{script}")];
        let verdict = reference_root(&image_root, &scratch)
            .and_then(|chroot| run_reference_script(&chroot, script))
            .and_then(|linux| run_morsel(kernel, &initrd, &argv).map(|morsel| (morsel, linux)))
            .and_then(|(morsel, linux)| compare(Comparison::Exact, &morsel, &linux));
        match &verdict {
            Ok(()) => println!("script {script}: ok"),
            Err(why) => println!("script {script}: FAILED: {why}"),
        }
        tally.add(Tally::check(verdict.is_ok()));
    }
    Ok(tally)
}

/// A fresh copy of an image's staging tree (for the scripts, one that holds
/// /data and /scripts), for one reference run: `scratch/root`.
pub fn reference_root(image_root: &Path, scratch: &Path) -> Result<PathBuf, String> {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch).map_err(|e| e.to_string())?;
    let chroot = scratch.join("root");
    let status = Command::new("cp").arg("-a").arg(image_root).arg(&chroot).status().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("cannot copy {} for the reference", image_root.display()));
    }
    Ok(chroot)
}

/// Runs `sh /scripts/SCRIPT` from /data in `chroot` on the host kernel.
fn run_reference_script(chroot: &Path, script: &str) -> Result<Run, String> {
    let argv = [
        "/bin/busybox".to_string(),
        "sh".to_string(),
        "-c".to_string(),
        format!("cd /data && exec /bin/busybox sh /scripts/{script}"),
    ];
    let (reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    let mut child = reference_command(chroot, &reference_environment(), &argv)?
        .stdin(Stdio::null())
        .stdout(writer.try_clone().map_err(|e| e.to_string())?)
        .stderr(writer)
        .spawn()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    let mut output = Vec::new();
    std::io::Read::read_to_end(&mut &reader, &mut output).map_err(|e| e.to_string())?;
    let status = child.wait().map_err(|e| e.to_string())?;
    Ok(Run { output, status: status.code().unwrap_or(-1) })
}

/// Morsel's environment for its first μprocess as `NAME=VALUE` words for a
/// reference run: reversed, because qemu-user hands its environment to the
/// guest in reverse order.
pub fn reference_environment() -> Vec<String> {
    ENVIRONMENT.iter().rev().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Where Debian's qemu-user-static keeps its binfmt_misc registration (its
/// interpreter is opened at registration: the `F` flag, so it works from
/// inside a chroot).
const BINFMT_REGISTRATION: &str = "/usr/lib/binfmt.d/qemu-aarch64.conf";

/// A command that runs `argv` (an AArch64 program in `chroot` and its
/// arguments) on the host kernel the way the reference runs programs that
/// exec other AArch64 programs: in a new user, mount and pid namespace with
/// a private binfmt_misc registration of qemu-user-static (so that the
/// kernel's execve of an AArch64 file starts qemu-user), a fresh /proc and
/// the host's /dev in `chroot`, chrooted there (the working directory is its
/// `/`), with exactly `environment`. The namespace's first process is a
/// shell that waits for the program: the program is never the pid
/// namespace's init (for which Linux ignores signals with default actions),
/// the exit status is the shell's (128 + N for a program killed by signal
/// N), and killing the returned command's process (`unshare`) kills
/// everything left in the namespace. The caller sets stdio and spawns it.
pub fn reference_command(chroot: &Path, environment: &[String], argv: &[String]) -> Result<Command, String> {
    crate::toolchain::require_program("qemu-aarch64-static", "qemu-user-static")?;
    crate::toolchain::require_program("unshare", "util-linux")?;
    let root = shell_quote(&chroot.display().to_string());
    let inner = format!(
        "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
         && cat {registration} > /proc/sys/fs/binfmt_misc/register \
         && mount -t proc proc {root}/proc && mount --rbind /dev {root}/dev \
         && env -i {env} /usr/sbin/chroot {root} \"$@\"; exit $?",
        registration = BINFMT_REGISTRATION,
        env = environment.iter().map(|word| shell_quote(word)).collect::<Vec<_>>().join(" "),
    );
    let mut command = Command::new("unshare");
    command
        .args(["--map-root-user", "--mount", "--pid", "--fork", "--kill-child", "sh", "-c", &inner, "sh"])
        .args(argv);
    Ok(command)
}

/// `word` in single quotes for sh.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// Runs every case of `suite` on both systems; one check per case.
pub fn check(suite: &Suite, kernel: &Path) -> Result<Tally, String> {
    let root = crate::repo_root();
    let cases = parse_cases(&std::fs::read_to_string(root.join(suite.list)).map_err(|e| format!("{}: {e}", suite.list))?)?;
    let data = root.join("tests/data");
    let additions = [Addition::parse(&format!("{}:/data", data.display()))?];
    let initrd = image::build_image(suite.image, &[], &additions)?;
    let image_root = root.join("target/images").join(suite.image).join("root");
    crate::toolchain::require_program("qemu-aarch64", "qemu-user")?;
    let scratch = root.join("target/differential-reference");
    let mut tally = Tally::default();
    for case in &cases {
        let label = case.args.join(" ");
        let argv = suite.argv(&case.args);
        let verdict = fresh_copy(&data, &scratch)
            .and_then(|dir| run_reference(&image_root, &dir, &argv))
            .and_then(|linux| run_morsel(kernel, &initrd, &argv).map(|morsel| (morsel, linux)))
            .and_then(|(morsel, linux)| compare(case.comparison, &morsel, &linux));
        match &verdict {
            Ok(()) => println!("{} `{label}`: ok", suite.name),
            Err(why) => println!("{} `{label}`: FAILED: {why}", suite.name),
        }
        tally.add(Tally::check(verdict.is_ok()));
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_arguments_with_quotes() {
        assert_eq!(split_arguments("awk '{print $2, $1}' pairs.txt").unwrap(), ["awk", "{print $2, $1}", "pairs.txt"]);
        assert_eq!(split_arguments("printf '' x").unwrap(), ["printf", "", "x"]);
        assert!(split_arguments("echo 'open").is_err());
    }

    #[test]
    fn reads_cases_and_refuses_bad_lines() {
        let cases = parse_cases("# comment\nexact: echo hi\n\nform: ls -l\n").unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[1], Case { comparison: Comparison::Form, args: vec!["ls".into(), "-l".into()] });
        assert!(parse_cases("fuzzy: echo").is_err());
        assert!(parse_cases("echo hi").is_err());
        assert!(parse_cases("exact:   ").is_err());
    }

    #[test]
    fn compares_by_bytes_or_by_form() {
        let run = |out: &str, status| Run { output: out.as_bytes().to_vec(), status };
        assert!(compare(Comparison::Exact, &run("a\n", 0), &run("a\n", 0)).is_ok());
        assert!(compare(Comparison::Exact, &run("a\n", 0), &run("b\n", 0)).is_err());
        assert!(compare(Comparison::Exact, &run("a\n", 1), &run("a\n", 0)).is_err());
        assert!(compare(Comparison::Form, &run("x 1\ny\n", 0), &run("z 2\nw\n", 0)).is_ok());
        assert!(compare(Comparison::Form, &run("x\n", 0), &run("z\nw\n", 0)).is_err());
    }

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote("PATH=/bin:/usr/bin"), "'PATH=/bin:/usr/bin'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
