//! Finding a Rust toolchain that can build `aarch64-unknown-none`, and the
//! host programs the runs need (QEMU), installing them on Debian when root.
//!
//! Order: an explicit override (`MORSEL_RUSTC`, with `MORSEL_CARGO`), the
//! rustup toolchain of `rust-toolchain.toml` if it has the prebuilt target or
//! rust-src, then Debian's `rustc-web`/`cargo-web` with `rust-web-src` and
//! `rust-web-llvm` (rust-lld), built with `-Zbuild-std` under
//! `RUSTC_BOOTSTRAP=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The bare-metal target.
pub const TARGET: &str = "aarch64-unknown-none";
/// Debian's packages that build the kernel offline.
const DEBIAN_TOOLCHAIN: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "rust-web-llvm"];

/// How the kernel is built.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// The cargo to run.
    pub cargo: PathBuf,
    /// RUSTC for that cargo, when not the one on PATH.
    pub rustc: Option<PathBuf>,
    /// Whether core and alloc are built from source (`-Zbuild-std`).
    pub build_std: bool,
    /// What was chosen, for the log.
    pub description: String,
}

impl Toolchain {
    /// A cargo command set up for this toolchain.
    pub fn cargo(&self) -> Command {
        let mut cmd = Command::new(&self.cargo);
        // The outer `cargo xtask` (possibly a rustup proxy) must not steer the
        // inner build to another toolchain.
        cmd.env_remove("RUSTUP_TOOLCHAIN");
        cmd.env_remove("CARGO");
        if let Some(rustc) = &self.rustc {
            cmd.env("RUSTC", rustc);
        }
        if self.build_std {
            cmd.env("RUSTC_BOOTSTRAP", "1");
        }
        cmd
    }

    /// Extra cargo arguments for the kernel build.
    pub fn build_args(&self) -> Vec<String> {
        let mut args = vec!["--target".to_string(), TARGET.to_string()];
        if self.build_std {
            args.push("-Zbuild-std=core,alloc".to_string());
        }
        args
    }
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn sysroot(rustc: &Path) -> Option<PathBuf> {
    let mut cmd = Command::new(rustc);
    cmd.env_remove("RUSTUP_TOOLCHAIN").args(["--print", "sysroot"]);
    output(&mut cmd).map(PathBuf::from)
}

fn has_prebuilt_target(sysroot: &Path) -> bool {
    sysroot.join("lib/rustlib").join(TARGET).join("lib").is_dir()
}

fn has_library_source(sysroot: &Path) -> bool {
    sysroot.join("lib/rustlib/src/rust/library/core").is_dir()
}

/// Whether a linker for the target exists next to that rustc or on PATH.
fn has_rust_lld(sysroot: &Path) -> bool {
    let host_bins = sysroot.join("lib/rustlib");
    let beside = std::fs::read_dir(&host_bins).into_iter().flatten().flatten().any(|entry| {
        entry.path().join("bin/rust-lld").exists() || entry.path().join("bin/gcc-ld/ld.lld").exists()
    });
    beside || which("rust-lld").is_some()
}

/// The full path of a program on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

fn candidate(rustc: PathBuf, cargo: PathBuf, origin: &str) -> Result<Toolchain, String> {
    let root = sysroot(&rustc).ok_or_else(|| format!("{origin}: `{} --print sysroot` failed", rustc.display()))?;
    if !has_rust_lld(&root) {
        return Err(format!("{origin}: no rust-lld (rustup: llvm-tools; Debian: rust-web-llvm)"));
    }
    let (build_std, how) = if has_prebuilt_target(&root) {
        (false, "prebuilt aarch64-unknown-none")
    } else if has_library_source(&root) {
        (true, "-Zbuild-std from rust-src")
    } else {
        return Err(format!(
            "{origin}: {} has neither the {TARGET} target nor rust-src",
            root.display()
        ));
    };
    Ok(Toolchain {
        description: format!("{origin}: {} ({how})", rustc.display()),
        cargo,
        rustc: Some(rustc),
        build_std,
    })
}

/// Finds a toolchain, installing Debian's when nothing else works and this
/// is a Debian machine run as root.
pub fn find() -> Result<Toolchain, String> {
    let mut refusals = Vec::new();
    if let Some(rustc) = std::env::var_os("MORSEL_RUSTC") {
        let cargo = std::env::var_os("MORSEL_CARGO").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("cargo"));
        // An explicit choice is final: say why it does not work.
        return candidate(PathBuf::from(rustc), cargo, "MORSEL_RUSTC");
    }
    if which("rustup").is_some() {
        match candidate(PathBuf::from("rustc"), PathBuf::from("cargo"), "rustup toolchain") {
            Ok(t) => return Ok(t),
            Err(why) => refusals.push(why),
        }
    }
    let debian = || candidate(PathBuf::from("/usr/bin/rustc"), PathBuf::from("/usr/bin/cargo"), "Debian rustc-web");
    if Path::new("/usr/bin/rustc").exists() {
        match debian() {
            Ok(t) => return Ok(t),
            Err(why) => refusals.push(why),
        }
    }
    if apt_install(DEBIAN_TOOLCHAIN).is_ok() {
        return debian();
    }
    Err(format!(
        "no Rust toolchain here can build {TARGET}:\n  {}\n\
         Install one of:\n  rustup: rustup target add {TARGET} && rustup component add rust-src llvm-tools\n  \
         Debian (offline-friendly): apt-get install {}",
        refusals.join("\n  "),
        DEBIAN_TOOLCHAIN.join(" ")
    ))
}

/// Whether this process runs as root on a machine with apt.
fn can_apt() -> bool {
    let root = output(Command::new("id").arg("-u")).as_deref() == Some("0");
    root && Path::new("/usr/bin/apt-get").exists()
}

/// Installs Debian packages (as root, with a lock timeout), or says which
/// command would.
pub fn apt_install(packages: &[&str]) -> Result<(), String> {
    let command = format!("apt-get install -y {}", packages.join(" "));
    if !can_apt() {
        return Err(format!("missing packages; run as root: apt-get update && {command}"));
    }
    eprintln!("xtask: installing {} with apt-get", packages.join(" "));
    let lock = ["-o", "DPkg::Lock::Timeout=600"];
    let update = Command::new("apt-get").args(lock).args(["update", "-q"]).status();
    let install = Command::new("apt-get")
        .args(lock)
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    match (update, install) {
        (Ok(_), Ok(s)) if s.success() => Ok(()),
        _ => Err(format!("`{command}` failed")),
    }
}

/// A host program, installed from `package` on Debian when missing.
pub fn require_program(program: &str, package: &str) -> Result<PathBuf, String> {
    if let Some(path) = which(program) {
        return Ok(path);
    }
    apt_install(&[package])?;
    which(program).ok_or_else(|| format!("{program} is still missing after installing {package}"))
}
