//! `cargo xtask image NAME`: the initramfs images, built from the specs in
//! `tests/images/NAME.toml` (the format is in `tests/images/README.md`).
//!
//! This module owns the specs, apt, the staging tree and the image file:
//! - apt runs with a private arm64 state under `target/images/apt` (its own
//!   package lists and an empty dpkg status, the host's sources), so the
//!   dependency closure is apt's own resolver's answer for an empty arm64
//!   system, the host's dpkg is never touched and no root is needed;
//! - `.deb` files are cached in `target/images/debs`; a build whose closure
//!   is all there downloads nothing;
//! - the staging tree `target/images/NAME/root` is rebuilt on every build:
//!   `dpkg -x` of each package, then the usr-merge (`/bin`, `/sbin`, `/lib`
//!   moved into `/usr` and replaced by symlinks, as Debian 12 lays them out),
//!   the standard directories, the spec's and the user's files, and the
//!   command in `/etc/morsel/command` (one argument per line);
//! - the image is `target/images/NAME.cpio`, written by [`crate::cpio`].
//!
//! Progress goes to stderr, so that `cargo xtask run --image` can keep its
//! stdout for the guest's output.

use crate::cpio;
use serde::Deserialize;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io::BufWriter;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// Where the image's default command is kept, one argument per line.
pub const COMMAND_FILE: &str = "/etc/morsel/command";
/// Top-level directories that Debian's usr-merge turns into symlinks into /usr.
const MERGED_DIRS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];
/// Of those, the ones the layout has even when no package ships them.
const ALWAYS_LINKED: &[&str] = &["bin", "sbin", "lib"];
/// Symlinks followed before a path is declared a loop (Linux's limit).
const MAX_SYMLINKS: usize = 40;

/// An image spec, `tests/images/NAME.toml`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// One line for listings.
    pub description: String,
    /// Debian arm64 packages; their dependency closure comes along.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Files or directories from the repository.
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// The default command; empty when the image has none.
    #[serde(default)]
    pub command: Vec<String>,
}

/// A file or directory from the repository, in a spec.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Path relative to the repository's top directory.
    pub from: String,
    /// Absolute path in the image.
    pub to: String,
    /// Permission bits for a single file (default: the host file's).
    pub mode: Option<u32>,
    /// If `from` is absent the image is built without it (and says so).
    #[serde(default)]
    pub optional: bool,
}

impl Spec {
    /// Parses and checks a spec.
    pub fn parse(text: &str) -> Result<Spec, String> {
        let spec: Spec = toml::from_str(text).map_err(|e| e.to_string())?;
        for package in &spec.packages {
            check_package_name(package)?;
        }
        if let Some(program) = spec.command.first().filter(|p| !p.starts_with('/')) {
            return Err(format!("command: {program:?} must be an absolute path in the image"));
        }
        if let Some(arg) = spec.command.iter().find(|a| a.contains('\n')) {
            return Err(format!("command: argument {arg:?} contains a newline"));
        }
        for file in &spec.files {
            if Path::new(&file.from).is_absolute() {
                return Err(format!("files: from = {:?} must be relative to the repository", file.from));
            }
            guest_path(&file.to)?;
            check_mode(file.mode)?;
        }
        Ok(spec)
    }
}

/// A host file or directory to put into an image.
#[derive(Debug, Clone, PartialEq)]
pub struct Addition {
    /// The file or directory on the host.
    pub host: PathBuf,
    /// Its absolute path in the image.
    pub guest: String,
    /// Permission bits for a single file (default: the host file's).
    pub mode: Option<u32>,
}

impl Addition {
    /// Parses `HOST[:GUEST]`. GUEST defaults to `/` followed by HOST's file
    /// name (`--add build/hello` puts `/hello` into the image).
    pub fn parse(arg: &str) -> Result<Addition, String> {
        let (host, guest) = match arg.split_once(':') {
            Some((host, guest)) => (host, guest.to_string()),
            None => {
                let name =
                    Path::new(arg).file_name().ok_or(format!("--add {arg}: no file name to use in the image"))?;
                (arg, format!("/{}", name.to_string_lossy()))
            }
        };
        if host.is_empty() {
            return Err(format!("--add {arg}: the host path is empty"));
        }
        guest_path(&guest).map_err(|e| format!("--add {arg}: {e}"))?;
        Ok(Addition { host: PathBuf::from(host), guest, mode: None })
    }
}

fn check_package_name(name: &str) -> Result<(), String> {
    // Debian policy 5.6.1: lower case letters, digits, + - . ; at least two, starting alphanumeric.
    let valid = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if valid { Ok(()) } else { Err(format!("{name:?} is not a Debian package name")) }
}

fn check_mode(mode: Option<u32>) -> Result<(), String> {
    match mode {
        Some(m) if m & !0o7777 != 0 => Err(format!("mode {m:#o} is not a permission mode (at most 0o7777)")),
        _ => Ok(()),
    }
}

/// An absolute, normalized guest path as a path relative to the image root.
fn guest_path(path: &str) -> Result<PathBuf, String> {
    let Some(relative) = path.strip_prefix('/') else {
        return Err(format!("{path:?} must be an absolute path in the image"));
    };
    let rel = PathBuf::from(relative);
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!("{path:?} must name a file below / without '.' or '..'"));
    }
    Ok(rel)
}

fn specs_dir() -> PathBuf {
    crate::repo_root().join("tests/images")
}

fn work_dir() -> PathBuf {
    crate::repo_root().join("target/images")
}

/// The images in `dir`, sorted, each with its description (or why its spec
/// does not parse).
fn available(dir: &Path) -> Vec<(String, String)> {
    let mut images: Vec<_> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let name = path.file_name()?.to_str()?.strip_suffix(".toml")?.to_string();
            let about = fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| Spec::parse(&text))
                .map_or_else(|e| format!("invalid spec: {e}"), |spec| spec.description);
            Some((name, about))
        })
        .collect();
    images.sort();
    images
}

fn listing(dir: &Path) -> String {
    let images = available(dir);
    if images.is_empty() {
        return format!("there are no image specs in {}", dir.display());
    }
    images.iter().map(|(name, about)| format!("\n  {name:<12} {about}")).collect()
}

/// Reads the spec of image `name` from `dir`.
fn load(dir: &Path, name: &str) -> Result<Spec, String> {
    let path = dir.join(format!("{name}.toml"));
    let known = !name.is_empty() && !name.contains(['/', '.']) && path.is_file();
    if !known {
        return Err(format!("unknown image {name:?}; the images are:{}", listing(dir)));
    }
    let text = fs::read_to_string(&path).map_err(at(&path))?;
    Spec::parse(&text).map_err(at(&path))
}

/// `cargo xtask image NAME [--packages PKG[,PKG...]]... [--add HOST[:GUEST]]...`:
/// builds the image and prints its path on stdout.
pub fn command(positional: &[String], packages: &[String], adds: &[String]) -> Result<ExitCode, String> {
    let [name] = positional else {
        return Err(format!(
            "usage: cargo xtask image NAME [--packages PKG[,PKG...]] [--add HOST[:GUEST]]...\nimages:{}",
            listing(&specs_dir())
        ));
    };
    let packages: Vec<String> =
        packages.iter().flat_map(|p| p.split(',')).map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect();
    let additions = adds.iter().map(|a| Addition::parse(a)).collect::<Result<Vec<_>, _>>()?;
    let image = build_image(name, &packages, &additions)?;
    println!("{}", image.display());
    Ok(ExitCode::SUCCESS)
}

/// Builds image `name` with `extra_packages` (and their closure) and
/// `additions` beyond its spec; returns the path of the cpio file.
pub fn build_image(name: &str, extra_packages: &[String], additions: &[Addition]) -> Result<PathBuf, String> {
    let started = Instant::now();
    let spec = load(&specs_dir(), name)?;
    let mut packages = spec.packages.clone();
    for package in extra_packages {
        check_package_name(package)?;
        if !packages.contains(package) {
            packages.push(package.clone());
        }
    }
    let work = work_dir();
    let debs = if packages.is_empty() { Vec::new() } else { Apt::new(&work)?.fetch(&packages)? };

    let root = work.join(name).join("root");
    if root.exists() {
        fs::remove_dir_all(&root).map_err(|e| format!("removing the old {}: {e}", root.display()))?;
    }
    fs::create_dir_all(&root).map_err(at(&root))?;
    for deb in &debs {
        run(Command::new("dpkg").arg("-x").arg(deb).arg(&root), "dpkg -x")?;
    }
    merge_usr(&root)?;
    standard_layout(&root)?;
    let repo = crate::repo_root();
    for file in &spec.files {
        let host = repo.join(&file.from);
        if file.optional && !host.exists() {
            eprintln!("xtask: image {name}: {} does not exist: the image is built without it", file.from);
            continue;
        }
        place(&root, &host, &guest_path(&file.to)?, file.mode)?;
    }
    for addition in additions {
        place(&root, &addition.host, &guest_path(&addition.guest)?, addition.mode)?;
    }
    write_command(&root, &spec.command)?;
    if spec.command.is_empty() {
        eprintln!("xtask: image {name}: no default command: name one when running it (-- ARGV)");
    }

    let image = work.join(format!("{name}.cpio"));
    let partial = work.join(format!("{name}.cpio.partial"));
    let file = fs::File::create(&partial).map_err(at(&partial))?;
    cpio::write_tree(&root, BufWriter::new(file))?
        .into_inner()
        .map_err(|e| format!("{}: {}", partial.display(), e.error()))?;
    fs::rename(&partial, &image).map_err(at(&image))?;
    let size = fs::metadata(&image).map_err(at(&image))?.len();
    eprintln!(
        "xtask: image {name}: {} ({:.1} MiB; Debian packages: {}) built in {:.1} s",
        image.display(),
        size as f64 / (1024.0 * 1024.0),
        debs.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(image)
}

/// An error message naming `path`.
fn at<E: std::fmt::Display>(path: &Path) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// Runs a command to completion; an error carries its stderr.
fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{what}: not installed (images need Debian's apt and dpkg)"),
        _ => format!("cannot run {what}: {e}"),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr).trim_end()))
    }
}

/// A package version chosen by apt.
#[derive(Debug, PartialEq)]
struct Deb {
    name: String,
    version: String,
    arch: String,
}

impl Deb {
    /// The name apt gives the file in its archive cache.
    fn file_name(&self) -> String {
        format!("{}_{}_{}.deb", self.name, self.version.replace(':', "%3a"), self.arch)
    }
}

/// The packages `apt-get --simulate install` would unpack, from its
/// `Inst NAME (VERSION RELEASE [ARCH])` lines.
fn parse_simulation(output: &str) -> Result<Vec<Deb>, String> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("Inst "))
        .map(|line| {
            let bad = || format!("unexpected apt-get output: Inst {line}");
            let (name, rest) = line.split_once(" (").ok_or_else(bad)?;
            let inside = rest.split_once(')').ok_or_else(bad)?.0;
            let version = inside.split_whitespace().next().ok_or_else(bad)?;
            let arch = inside.rsplit_once('[').and_then(|(_, a)| a.strip_suffix(']')).ok_or_else(bad)?;
            Ok(Deb { name: name.to_string(), version: version.to_string(), arch: arch.to_string() })
        })
        .collect()
}

/// apt-get with a private arm64 state under `target/images/apt`.
#[derive(Debug)]
pub struct Apt {
    state: PathBuf,
    cache: PathBuf,
    debs: PathBuf,
}

impl Apt {
    /// The private state under `work` (`target/images`), created if needed.
    pub fn new(work: &Path) -> Result<Apt, String> {
        let apt = Apt { state: work.join("apt/state"), cache: work.join("apt/cache"), debs: work.join("debs") };
        for dir in [apt.state.join("lists/partial"), apt.cache.clone(), apt.debs.join("partial")] {
            fs::create_dir_all(&dir).map_err(at(&dir))?;
        }
        let status = apt.state.join("status");
        if !status.exists() {
            fs::write(&status, "").map_err(at(&status))?;
        }
        Ok(apt)
    }

    fn apt_get(&self) -> Command {
        self.command("apt-get")
    }

    /// `program` (apt-get, apt-cache) with the private state's options.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        let dir = |p: &Path| p.display().to_string();
        let options = [
            ("APT::Architecture", "arm64".to_string()),
            ("APT::Architectures", "arm64".to_string()),
            ("Dir::State", dir(&self.state)),
            ("Dir::State::status", dir(&self.state.join("status"))),
            ("Dir::Cache", dir(&self.cache)),
            ("Dir::Cache::archives", dir(&self.debs)),
            ("APT::Install-Recommends", "false".to_string()),
            ("APT::Install-Suggests", "false".to_string()),
            ("Acquire::Languages", "none".to_string()),
            ("Acquire::IndexTargets::deb::DEP-11::DefaultEnabled", "false".to_string()),
            ("Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled", "false".to_string()),
            ("Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled", "false".to_string()),
            ("Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled", "false".to_string()),
            // The cache belongs to whoever runs the xtask; apt's _apt user may not reach it.
            ("APT::Sandbox::User", "root".to_string()),
            ("DPkg::Lock::Timeout", "600".to_string()),
        ];
        for (key, value) in options {
            cmd.arg("-o").arg(format!("{key}={value}"));
        }
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    }

    fn has_lists(&self) -> bool {
        fs::read_dir(self.state.join("lists"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
    }

    /// Fetches the package lists unless the state has them.
    pub fn ensure_lists(&self) -> Result<(), String> {
        if self.has_lists() { Ok(()) } else { self.update() }
    }

    fn update(&self) -> Result<(), String> {
        eprintln!("xtask: apt: fetching Debian's arm64 package lists into {}", self.state.display());
        run(self.apt_get().args(["-q", "update"]), "apt-get update")?;
        if self.has_lists() {
            Ok(())
        } else {
            Err("apt-get update found no arm64 package lists: do the apt sources (/etc/apt/sources.list*) carry arm64?"
                .to_string())
        }
    }

    /// The dependency closure of `packages` on an empty arm64 system.
    fn resolve(&self, packages: &[String]) -> Result<Vec<Deb>, String> {
        let out = self.apt_get().args(["-q", "--simulate", "install"]).args(packages).output();
        let out = out.map_err(|e| format!("cannot run apt-get: {e} (images need Debian's apt and dpkg)"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let missing: Vec<_> =
                stderr.lines().filter_map(|l| l.strip_prefix("E: Unable to locate package ")).collect();
            if !missing.is_empty() {
                return Err(format!("no such Debian arm64 package: {}", missing.join(", ")));
            }
            return Err(format!("apt-get cannot resolve {}:\n{}", packages.join(", "), stderr.trim_end()));
        }
        parse_simulation(&String::from_utf8_lossy(&out.stdout))
    }

    fn download(&self, packages: &[String]) -> Result<(), String> {
        run(self.apt_get().args(["-q", "-y", "--download-only", "install"]).args(packages), "apt-get download")
    }

    /// Resolves the closure of `packages`, downloads what the cache lacks,
    /// and returns the paths of the `.deb` files.
    fn fetch(&self, packages: &[String]) -> Result<Vec<PathBuf>, String> {
        self.ensure_lists()?;
        let mut closure = self.resolve(packages)?;
        let names: Vec<_> = closure.iter().map(|d| d.name.as_str()).collect();
        eprintln!("xtask: apt: {} packages: {}", closure.len(), names.join(" "));
        let missing = closure.iter().filter(|d| !self.debs.join(d.file_name()).is_file()).count();
        if missing == 0 {
            eprintln!("xtask: apt: all in {}: nothing to download", self.debs.display());
        } else {
            eprintln!("xtask: apt: downloading {missing} into {}", self.debs.display());
            if let Err(e) = self.download(packages) {
                eprintln!("xtask: apt: {e}\nxtask: apt: refreshing the package lists and trying again");
                self.update()?;
                closure = self.resolve(packages)?;
                self.download(packages)?;
            }
        }
        closure
            .iter()
            .map(|deb| {
                let path = self.debs.join(deb.file_name());
                if path.is_file() { Ok(path) } else { Err(format!("apt left no {} in the cache", deb.file_name())) }
            })
            .collect()
    }
}

/// Joins `target` (a symlink's target) to `dir` (relative to the image
/// root) lexically: an absolute target starts at the root, `..` stops there.
fn lexical_join(dir: &Path, target: &Path) -> PathBuf {
    let mut out = if target.is_absolute() { PathBuf::new() } else { dir.to_path_buf() };
    for component in target.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The relative path from directory `from` to `to`, both relative to the root.
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let common = from.components().zip(to.components()).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in from.components().skip(common) {
        out.push("..");
    }
    out.extend(to.components().skip(common));
    out
}

/// Where `path` (relative to the image root) leads inside the image, every
/// symlink followed as the guest would, never out of `root`. Missing parts
/// are kept as they are.
fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf, String> {
    let mut pending: VecDeque<OsString> = path.components().map(|c| c.as_os_str().to_owned()).collect();
    let mut resolved = PathBuf::new();
    let mut followed = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        if part == "." || part == "/" {
            continue;
        }
        let candidate = resolved.join(&part);
        match fs::read_link(root.join(&candidate)) {
            Ok(target) => {
                followed += 1;
                if followed > MAX_SYMLINKS {
                    return Err(format!("/{}: too many levels of symbolic links in the image", path.display()));
                }
                if target.is_absolute() {
                    resolved.clear();
                }
                for component in target.components().rev() {
                    pending.push_front(component.as_os_str().to_owned());
                }
            }
            Err(_) => resolved = candidate,
        }
    }
    Ok(resolved)
}

/// Debian 12's merged /usr: the top-level `bin`, `sbin` and `lib*`
/// directories that packages unpacked are moved into `/usr` and replaced by
/// relative symlinks. Where both hold a name, a compatibility symlink to the
/// other copy or an identical file gives way; any other clash is an error.
fn merge_usr(root: &Path) -> Result<(), String> {
    for &dir in MERGED_DIRS {
        let top = root.join(dir);
        let usr = Path::new("usr").join(dir);
        match fs::symlink_metadata(&top) {
            Ok(meta) if meta.is_dir() => {
                merge_into(root, Path::new(dir), &usr)?;
                fs::remove_dir(&top).map_err(at(&top))?;
            }
            Ok(_) => continue,
            Err(_) if ALWAYS_LINKED.contains(&dir) => {
                fs::create_dir_all(root.join(&usr)).map_err(at(&usr))?;
            }
            Err(_) => continue,
        }
        std::os::unix::fs::symlink(&usr, &top).map_err(at(&top))?;
    }
    Ok(())
}

/// Moves the contents of directory `from` into `to` (both relative to root).
fn merge_into(root: &Path, from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(root.join(to)).map_err(at(&root.join(to)))?;
    let mut names: Vec<_> = fs::read_dir(root.join(from))
        .map_err(at(&root.join(from)))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(at(&root.join(from)))?;
    names.sort();
    for name in names {
        let (src, dst) = (from.join(&name), to.join(&name));
        let src_meta = fs::symlink_metadata(root.join(&src)).map_err(at(&root.join(&src)))?;
        let link_to = |path: &Path| {
            fs::read_link(root.join(path)).ok().map(|t| lexical_join(path.parent().unwrap_or(Path::new("")), &t))
        };
        match fs::symlink_metadata(root.join(&dst)) {
            Err(_) => move_entry(root, &src, &dst)?,
            Ok(dst_meta) if dst_meta.is_dir() && src_meta.is_dir() => {
                merge_into(root, &src, &dst)?;
                fs::remove_dir(root.join(&src)).map_err(at(&root.join(&src)))?;
            }
            Ok(_) if link_to(&dst).as_deref() == Some(src.as_path()) => {
                fs::remove_file(root.join(&dst)).map_err(at(&root.join(&dst)))?;
                move_entry(root, &src, &dst)?;
            }
            Ok(_) if link_to(&src).as_deref() == Some(dst.as_path()) => {
                fs::remove_file(root.join(&src)).map_err(at(&root.join(&src)))?;
            }
            Ok(dst_meta)
                if src_meta.is_file()
                    && dst_meta.is_file()
                    && fs::read(root.join(&src)).ok() == fs::read(root.join(&dst)).ok() =>
            {
                fs::remove_file(root.join(&src)).map_err(at(&root.join(&src)))?;
            }
            Ok(_) => return Err(format!("usr-merge: /{} and /{} are different files", src.display(), dst.display())),
        }
    }
    Ok(())
}

/// Moves one entry; a relative symlink that climbs with `..` is rewritten
/// so that it still leads where it did.
fn move_entry(root: &Path, src: &Path, dst: &Path) -> Result<(), String> {
    let err = |e: std::io::Error| format!("usr-merge: moving /{} to /{}: {e}", src.display(), dst.display());
    if let Ok(target) = fs::read_link(root.join(src))
        && target.is_relative()
        && target.components().any(|c| c == Component::ParentDir)
    {
        let there = lexical_join(src.parent().unwrap_or(Path::new("")), &target);
        let new_target = relative_path(dst.parent().unwrap_or(Path::new("")), &there);
        fs::remove_file(root.join(src)).map_err(err)?;
        return std::os::unix::fs::symlink(new_target, root.join(dst)).map_err(err);
    }
    fs::rename(root.join(src), root.join(dst)).map_err(err)
}

/// The directories every image has, and minimal /etc files where no package
/// brought them.
fn standard_layout(root: &Path) -> Result<(), String> {
    for (dir, perm) in
        [("dev", 0o755), ("proc", 0o555), ("sys", 0o555), ("tmp", 0o1777), ("root", 0o700), ("etc", 0o755)]
    {
        let path = root.join(dir);
        if fs::symlink_metadata(&path).is_err() {
            fs::create_dir(&path).map_err(at(&path))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(perm)).map_err(at(&path))?;
        }
    }
    let files = [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        ("etc/group", "root:x:0:\n"),
        ("etc/hosts", "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"),
    ];
    for (file, text) in files {
        let path = root.join(file);
        if fs::symlink_metadata(&path).is_err() {
            fs::write(&path, text).map_err(at(&path))?;
        }
    }
    Ok(())
}

/// Copies host file, symlink or directory `host` to `guest` (relative to
/// the image root), following the image's symlinks inside the image. A file
/// or symlink replaces what was there; a directory's contents are merged
/// into the one there.
fn place(root: &Path, host: &Path, guest: &Path, mode: Option<u32>) -> Result<(), String> {
    let is_link = fs::symlink_metadata(host).map_err(at(host))?.file_type().is_symlink();
    let meta = if is_link { fs::symlink_metadata(host) } else { fs::metadata(host) }.map_err(at(host))?;
    if meta.is_dir() {
        if mode.is_some() {
            return Err(format!("{}: a mode applies to a single file, not a directory", host.display()));
        }
        let dir = root.join(resolve_in_root(root, guest)?);
        fs::create_dir_all(&dir).map_err(|e| format!("/{} in the image: {e}", guest.display()))?;
        let mut names: Vec<_> = fs::read_dir(host)
            .map_err(at(host))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(at(host))?;
        names.sort();
        for name in names {
            place(root, &host.join(&name), &guest.join(&name), None)?;
        }
        return Ok(());
    }
    let parent = root.join(resolve_in_root(root, guest.parent().unwrap_or(Path::new("")))?);
    fs::create_dir_all(&parent).map_err(|e| format!("/{} in the image: {e}", guest.display()))?;
    let dest = parent.join(guest.file_name().ok_or(format!("/{}: no file name", guest.display()))?);
    match fs::symlink_metadata(&dest) {
        Ok(old) if old.is_dir() => return Err(format!("/{} is a directory in the image", guest.display())),
        Ok(_) => fs::remove_file(&dest).map_err(at(&dest))?,
        Err(_) => {}
    }
    if is_link {
        let target = fs::read_link(host).map_err(at(host))?;
        return std::os::unix::fs::symlink(target, &dest).map_err(at(&dest));
    }
    fs::copy(host, &dest).map_err(|e| format!("copying {} to the image: {e}", host.display()))?;
    let perm = mode.unwrap_or(meta.permissions().mode() & 0o7777);
    fs::set_permissions(&dest, fs::Permissions::from_mode(perm)).map_err(at(&dest))
}

/// Writes the default command into [`COMMAND_FILE`] and checks that its
/// program is an executable file in the image. No command, no file.
fn write_command(root: &Path, command: &[String]) -> Result<(), String> {
    let Some(program) = command.first() else { return Ok(()) };
    let found = resolve_in_root(root, Path::new(program))?;
    let executable = fs::metadata(root.join(found)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if !executable {
        return Err(format!("the image's command {program} is not an executable file in the image"));
    }
    let path = root.join(&COMMAND_FILE[1..]);
    let dir = path.parent().unwrap_or(root);
    fs::create_dir_all(dir).map_err(at(dir))?;
    let text: String = command.iter().map(|arg| format!("{arg}\n")).collect();
    fs::write(&path, text).map_err(at(&path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn the_repository_specs_parse() {
        let images = available(&specs_dir());
        let names: Vec<_> = images.iter().map(|(name, _)| name.as_str()).collect();
        for expected in ["busybox", "coreutils", "guest-tests"] {
            assert!(names.contains(&expected), "{expected} missing from {names:?}");
        }
        for (name, _) in &images {
            load(&specs_dir(), name).unwrap();
        }
    }

    #[test]
    fn a_full_spec_parses() {
        let spec = Spec::parse(
            r#"
            description = "test"
            packages = ["libc6", "g++-12"]
            files = [{ from = "tests/guest/build", to = "/tests", optional = true },
                     { from = "x/run.sh", to = "/bin/run", mode = 0o755 }]
            command = ["/bin/run", "a b", ""]
            "#,
        )
        .unwrap();
        assert_eq!(spec.packages, ["libc6", "g++-12"]);
        assert_eq!(
            spec.files[1],
            FileSpec { from: "x/run.sh".into(), to: "/bin/run".into(), mode: Some(0o755), optional: false }
        );
        assert!(spec.files[0].optional);
        assert_eq!(spec.command, ["/bin/run", "a b", ""]);
        let minimal = Spec::parse("description = \"d\"").unwrap();
        assert!(minimal.packages.is_empty() && minimal.files.is_empty() && minimal.command.is_empty());
    }

    #[test]
    fn bad_specs_are_refused_with_the_reason() {
        let cases = [
            ("description = \"d\"\npackage = [\"x\"]", "package"),
            ("packages = []", "description"),
            ("description = \"d\"\ncommand = [\"bin/sh\"]", "absolute"),
            ("description = \"d\"\ncommand = [\"/bin/echo\", \"a\\nb\"]", "newline"),
            ("description = \"d\"\npackages = [\"Busybox\"]", "Busybox"),
            ("description = \"d\"\nfiles = [{ from = \"/etc/passwd\", to = \"/x\" }]", "relative"),
            ("description = \"d\"\nfiles = [{ from = \"a\", to = \"x\" }]", "absolute"),
            ("description = \"d\"\nfiles = [{ from = \"a\", to = \"/x/../y\" }]", ".."),
            ("description = \"d\"\nfiles = [{ from = \"a\", to = \"/x\", mode = 0o10755 }]", "mode"),
        ];
        for (text, reason) in cases {
            let err = Spec::parse(text).unwrap_err();
            assert!(err.contains(reason), "{text:?}: {err:?} does not mention {reason:?}");
        }
    }

    #[test]
    fn additions_default_to_the_root() {
        assert_eq!(
            Addition::parse("build/hello").unwrap(),
            Addition { host: "build/hello".into(), guest: "/hello".into(), mode: None }
        );
        assert_eq!(Addition::parse("build/hello:/usr/bin/hi").unwrap().guest, "/usr/bin/hi");
        assert!(Addition::parse("build/hello:usr/bin/hi").is_err());
        assert!(Addition::parse(":/x").is_err());
        assert!(Addition::parse("/").is_err());
    }

    #[test]
    fn an_unknown_image_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("tiny.toml"), "description = \"a tiny one\"").unwrap();
        fs::write(dir.path().join("broken.toml"), "description = 1").unwrap();
        let err = load(dir.path(), "nosuch").unwrap_err();
        assert!(err.contains("\"nosuch\"") && err.contains("tiny") && err.contains("a tiny one"), "{err}");
        assert!(err.contains("broken") && err.contains("invalid spec"), "{err}");
        assert!(load(dir.path(), "../tiny").is_err());
        assert_eq!(load(dir.path(), "tiny").unwrap().description, "a tiny one");
    }

    #[test]
    fn apt_simulation_output_gives_the_closure() {
        let out = "NOTE: This is only a simulation!\n\
                   Inst gcc-12-base (12.2.0-14+deb12u1 Debian:12.15/oldstable [arm64])\n\
                   Conf gcc-12-base (12.2.0-14+deb12u1 Debian:12.15/oldstable [arm64])\n\
                   Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [arm64]) []\n\
                   Inst busybox-static (1:1.35.0-4+deb12u1+b1 Debian:12.15/oldstable [arm64])\n";
        let debs = parse_simulation(out).unwrap();
        let files: Vec<_> = debs.iter().map(Deb::file_name).collect();
        assert_eq!(
            files,
            [
                "gcc-12-base_12.2.0-14+deb12u1_arm64.deb",
                "libc6_2.36-9+deb12u14_arm64.deb",
                "busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb"
            ]
        );
        assert!(parse_simulation("Inst broken\n").is_err());
    }

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn usr_merge_moves_the_top_directories_into_usr() {
        let tree = tempfile::tempdir().unwrap();
        let root = tree.path();
        write(root, "bin/ls", "ls");
        write(root, "bin/same", "same");
        write(root, "usr/bin/same", "same");
        write(root, "usr/bin/other", "other");
        symlink("../usr/bin/other", root.join("bin/climb")).unwrap();
        write(root, "sbin/tool", "tool");
        fs::create_dir_all(root.join("usr/sbin")).unwrap();
        symlink("/sbin/tool", root.join("usr/sbin/tool")).unwrap();
        write(root, "lib/aarch64-linux-gnu/libc.so.6", "libc");
        symlink("aarch64-linux-gnu/libc.so.6", root.join("lib/ld.so")).unwrap();
        write(root, "usr/lib/aarch64-linux-gnu/libm.so.6", "libm");
        merge_usr(root).unwrap();

        for (link, target) in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib")] {
            assert_eq!(fs::read_link(root.join(link)).unwrap(), Path::new(target));
        }
        assert!(fs::symlink_metadata(root.join("lib64")).is_err(), "lib64 appears only if shipped");
        let read = |p: &str| fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("usr/bin/ls"), "ls");
        assert_eq!(read("usr/bin/same"), "same");
        assert_eq!(read("usr/bin/climb"), "other");
        assert_eq!(fs::read_link(root.join("usr/bin/climb")).unwrap(), Path::new("other"));
        assert!(fs::symlink_metadata(root.join("usr/sbin/tool")).unwrap().is_file());
        assert_eq!(read("usr/lib/ld.so"), "libc");
        assert_eq!(read("lib/aarch64-linux-gnu/libm.so.6"), "libm");
        assert_eq!(read("bin/ls"), "ls");
    }

    #[test]
    fn usr_merge_refuses_two_different_files() {
        let tree = tempfile::tempdir().unwrap();
        write(tree.path(), "bin/sh", "one");
        write(tree.path(), "usr/bin/sh", "two");
        let err = merge_usr(tree.path()).unwrap_err();
        assert!(err.contains("/bin/sh") && err.contains("/usr/bin/sh"), "{err}");
    }

    #[test]
    fn paths_resolve_inside_the_image() {
        let tree = tempfile::tempdir().unwrap();
        let root = tree.path();
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        symlink("usr/bin", root.join("bin")).unwrap();
        symlink("/etc", root.join("usr/bin/escape")).unwrap();
        symlink("../../bin/busybox", root.join("usr/bin/sh")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        assert_eq!(resolve_in_root(root, Path::new("bin/sh")).unwrap(), Path::new("usr/bin/busybox"));
        assert_eq!(resolve_in_root(root, Path::new("/bin/escape/x")).unwrap(), Path::new("etc/x"));
        assert!(resolve_in_root(root, Path::new("loop")).unwrap_err().contains("too many"));
    }

    #[test]
    fn placed_files_follow_image_symlinks_and_keep_modes() {
        let tree = tempfile::tempdir().unwrap();
        let root = tree.path().join("root");
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        symlink("usr/bin", root.join("bin")).unwrap();
        symlink("/opt", root.join("abs")).unwrap();
        let host = tree.path().join("host");
        write(&host, "prog", "#!");
        write(&host, "dir/a", "a");
        write(&host, "dir/sub/b", "b");
        fs::set_permissions(host.join("dir/a"), fs::Permissions::from_mode(0o750)).unwrap();
        place(&root, &host.join("prog"), Path::new("bin/prog"), Some(0o755)).unwrap();
        place(&root, &host.join("dir"), Path::new("abs/tests"), None).unwrap();
        let prog = fs::metadata(root.join("usr/bin/prog")).unwrap();
        assert_eq!(prog.permissions().mode() & 0o7777, 0o755);
        assert_eq!(fs::read_to_string(root.join("opt/tests/sub/b")).unwrap(), "b");
        assert_eq!(fs::metadata(root.join("opt/tests/a")).unwrap().permissions().mode() & 0o7777, 0o750);
        assert!(place(&root, &host.join("dir"), Path::new("x"), Some(0o755)).is_err());
        assert!(place(&root, &host.join("absent"), Path::new("x"), None).is_err());
    }

    #[test]
    fn the_command_is_recorded_one_argument_a_line() {
        let tree = tempfile::tempdir().unwrap();
        let root = tree.path();
        standard_layout(root).unwrap();
        write(root, "usr/bin/ls", "elf");
        symlink("usr/bin", root.join("bin")).unwrap();
        let command = ["/bin/ls".to_string(), "-l".to_string(), "/".to_string()];
        assert!(write_command(root, &command).unwrap_err().contains("not an executable"));
        fs::set_permissions(root.join("usr/bin/ls"), fs::Permissions::from_mode(0o755)).unwrap();
        write_command(root, &command).unwrap();
        assert_eq!(fs::read_to_string(root.join("etc/morsel/command")).unwrap(), "/bin/ls\n-l\n/\n");
        assert!(fs::read_to_string(root.join("etc/passwd")).unwrap().starts_with("root:x:0:0:"));
        assert_eq!(fs::metadata(root.join("tmp")).unwrap().permissions().mode() & 0o7777, 0o1777);
    }
}
