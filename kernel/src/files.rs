//! Files of μprocesses: the one VFS (a tmpfs filled from the initramfs, with
//! the standard device nodes), each μprocess's descriptors and working
//! directory, the console driver behind /dev/console and /dev/tty, and the
//! glue to posix-shim's file system calls.

use crate::process::Process;
use crate::syscall::Outcome;
use alloc::sync::Arc;
use alloc::vec::Vec;
use posix_shim::Errno;
use posix_shim::device::termios::{ECHO, ICANON, ICRNL, ISIG, ONLCR, OPOST, VEOF, VERASE, VINTR, VQUIT, VSUSP};
use posix_shim::device::{CharDevices, Random, SetWhen, Termios, TtyReply, TtyRequest, Winsize};
use posix_shim::fd::{FdTable, FileObject, OpenFile};
use posix_shim::syscall::args::{AtFlags, DirFd, OpenFlags, SyscallArgs};
use posix_shim::user::UserAddr;
use posix_shim::syscall::numbers::Sysno;
use posix_shim::syscall::{FsContext, FsState, dispatch_fs};
use posix_shim::vfs::{Clock, Credentials, DevNumber, NewNode, Timespec, Vfs};
use spin::{Mutex, Once};
use uprocess::areas::NamedFile;

/// File times come from the real-time clock.
struct KernelClock;

impl Clock for KernelClock {
    fn now(&self) -> Timespec {
        let ns = crate::platform::platform().realtime_at_boot_ns + arch_morello::timer::uptime_ns();
        Timespec::new((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
    }
}

static VFS: Once<Vfs> = Once::new();

/// The filesystem: created on first use with the directories and device
/// nodes every Linux program expects (`/dev`, `/dev/shm`, `/tmp`, ...).
/// File data lives in frames, which μprocesses map; as Linux's tmpfs, the
/// filesystem may hold half of them (ENOSPC beyond).
pub fn vfs() -> &'static Vfs {
    VFS.call_once(|| {
        let capacity = crate::platform::platform().frames.lock().free_bytes() / 2;
        let vfs = Vfs::new(Arc::new(KernelClock), capacity, Arc::new(crate::frames::FramePages));
        standard_nodes(&vfs);
        if let Err(e) = crate::procfs::mount(&vfs) {
            log::error!("mounting /proc and /sys: {e:?}");
        }
        vfs
    })
}

fn standard_nodes(vfs: &Vfs) {
    let root = Credentials::root();
    let dir = |path: &[u8], perm: u32| {
        let (parent, name) = split(path);
        if let Ok(parent) = vfs.lookup(&vfs.root(), parent, true, &root) {
            let _ = vfs.create(&parent, name, NewNode::Directory, perm, &root);
        }
    };
    for (path, perm) in [(&b"/dev"[..], 0o755), (b"/dev/shm", 0o1777), (b"/tmp", 0o1777), (b"/proc", 0o555), (b"/sys", 0o555)] {
        dir(path, perm);
    }
    if let Ok(dev) = vfs.lookup(&vfs.root(), b"/dev", true, &root) {
        for (name, number, perm) in [
            (&b"null"[..], DevNumber::NULL, 0o666),
            (b"zero", DevNumber::ZERO, 0o666),
            (b"full", DevNumber::FULL, 0o666),
            (b"random", DevNumber::RANDOM, 0o666),
            (b"urandom", DevNumber::URANDOM, 0o666),
            (b"tty", DevNumber::TTY, 0o666),
            (b"console", DevNumber::CONSOLE, 0o600),
        ] {
            let _ = vfs.create(&dev, name, NewNode::CharDevice(number), perm, &root);
        }
        // As udev and systemd make them on Linux.
        for (name, target) in [
            (&b"fd"[..], &b"/proc/self/fd"[..]),
            (b"stdin", b"/proc/self/fd/0"),
            (b"stdout", b"/proc/self/fd/1"),
            (b"stderr", b"/proc/self/fd/2"),
        ] {
            let _ = vfs.create(&dev, name, NewNode::Symlink(target.to_vec()), 0o777, &root);
        }
    }
}

fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) => (b"/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b".", path),
    }
}

/// Fills the filesystem from an initramfs (cpio newc).
pub fn unpack_initramfs(archive: &[u8]) -> Result<(), Errno> {
    let stats = posix_shim::cpio::populate(vfs(), archive).map_err(|e| {
        log::error!("initramfs: {e:?}");
        Errno::EINVAL
    })?;
    log::info!("initramfs: {} entries", stats.entries);
    Ok(())
}

/// Up to `len` bytes of `inode` from `offset` (fewer at its end).
fn read_range(inode: &posix_shim::vfs::Inode, offset: u64, len: u64) -> Result<Vec<u8>, Errno> {
    let len = usize::try_from(len).map_err(|_| Errno::ENOMEM)?;
    // A file may be larger than the kernel heap has room for: ENOMEM, not a
    // failed allocation.
    let mut contents = Vec::new();
    contents.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
    contents.resize(len, 0u8);
    let mut done = 0;
    while done < contents.len() {
        let n = inode.read_at(offset + done as u64, &mut contents[done..], vfs().now())?;
        if n == 0 {
            break;
        }
        done += n;
    }
    contents.truncate(done);
    Ok(contents)
}

/// The whole contents of the file at `path` (from the root, following
/// symlinks), as root reads it.
pub fn read_file(path: &[u8]) -> Result<Vec<u8>, Errno> {
    read_program(path).map(|program| program.bytes)
}

/// A program file for exec: its bytes, which the loader parses, and the
/// file, whose pages the loader maps.
#[derive(Debug)]
pub struct ProgramImage {
    /// The whole file.
    pub bytes: Vec<u8>,
    /// The file itself, with its canonical path.
    pub file: NamedFile,
}

impl ProgramImage {
    /// `bytes` in a file of their own that no directory lists.
    pub fn anonymous(bytes: &[u8]) -> Result<ProgramImage, Errno> {
        let vfs = vfs();
        let file = vfs.anonymous_file(0, &Credentials::root())?;
        file.write_at(Some(0), bytes, vfs.now())?;
        Ok(ProgramImage { bytes: bytes.to_vec(), file: NamedFile::unnamed(file) })
    }

    /// The program `inode`, whose canonical path is `path`.
    fn of(inode: Arc<posix_shim::vfs::Inode>, path: Vec<u8>) -> Result<ProgramImage, Errno> {
        let bytes = read_range(&inode, 0, inode.size())?;
        Ok(ProgramImage { bytes, file: NamedFile { inode, path: Some(path.into()) } })
    }
}

/// The file at `path` (from the root, following symlinks) for exec, as root
/// reads it: the first program and interpreters named by PT_INTERP.
pub fn read_program(path: &[u8]) -> Result<ProgramImage, Errno> {
    let vfs = vfs();
    let inode = vfs.lookup(&vfs.root(), path, true, &Credentials::root())?;
    if inode.is_dir() {
        return Err(Errno::EISDIR);
    }
    ProgramImage::of(inode, vfs.canonical_path(&vfs.root(), path))
}

/// [`read_program`] as the loader asks for an interpreter.
pub fn read_interpreter(path: &[u8]) -> Result<(Vec<u8>, NamedFile), Errno> {
    read_program(path).map(|program| (program.bytes, program.file))
}

/// The canonical absolute path of the file `path` names from `cwd`, every
/// symlink resolved (as /proc/PID/exe shows a program: exec of
/// /proc/self/exe or /bin/busybox both give /usr/bin/busybox).
pub fn absolute_path(cwd: &Arc<posix_shim::vfs::Inode>, path: &[u8]) -> Vec<u8> {
    vfs().canonical_path(cwd, path)
}

/// What execve runs, as found from its arguments.
#[derive(Debug)]
pub struct Executable {
    /// The ELF file to load (the last interpreter, for a script).
    pub image: ProgramImage,
    /// The arguments: as given, or for a script its interpreter, optional
    /// argument, the script's path, then the arguments after the first.
    pub argv: Vec<Vec<u8>>,
    /// The name exec was given (AT_EXECFN, the command name): the path, or
    /// `/dev/fd/N[/path]` for a descriptor.
    pub path: Vec<u8>,
    /// The canonical path of the ELF file (/proc/PID/exe).
    pub exe: Vec<u8>,
}

/// `#!` nesting Linux allows (BINPRM_MAX_RECURSION): a script's
/// interpreter may itself be a script, four levels deep.
const MAX_SCRIPT_DEPTH: usize = 4;

/// The program execveat(dirfd, path, flags) runs for `p`: the file `path`
/// names from `dirfd` (the descriptor itself with AT_EMPTY_PATH and an empty
/// path; ELOOP for a final symlink with AT_SYMLINK_NOFOLLOW), which `p` may
/// execute. A `#!` script runs its interpreter, found from the cwd.
pub fn executable(p: &mut Process, dirfd: DirFd, path_at: UserAddr, flags: AtFlags, argv: Vec<Vec<u8>>) -> Result<Executable, Errno> {
    use posix_shim::user::UserMemory;
    if !(flags & !(AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW)).is_empty() {
        return Err(Errno::EINVAL);
    }
    let given = p.space.lock().read_path(path_at)?;
    let inode = with_files(p, |ctx, mem| ctx.resolve_at(mem, dirfd, path_at, flags, true))?;
    if flags.contains(AtFlags::SYMLINK_NOFOLLOW) && inode.file_type() == posix_shim::vfs::FileType::Symlink {
        return Err(Errno::ELOOP);
    }
    let path = match (dirfd, given.is_empty() || given.starts_with(b"/")) {
        (DirFd::Fd(fd), _) if given.is_empty() => alloc::format!("/dev/fd/{fd}").into_bytes(),
        (DirFd::Fd(fd), false) => [alloc::format!("/dev/fd/{fd}/").as_bytes(), &given].concat(),
        _ => given.clone(),
    };
    let mut exe = match (path.starts_with(b"/dev/fd/"), file_path_of(p, dirfd, &given)) {
        (true, Some(opened)) => opened,
        _ => absolute_path(&p.files.lock().fs.cwd, &path),
    };
    let mut image = executable_image(p, inode, exe.clone())?;
    let mut argv = argv;
    let mut script = path.clone();
    for depth in 0..=MAX_SCRIPT_DEPTH {
        let Some(line) = image.bytes.strip_prefix(b"#!") else {
            return Ok(Executable { image, argv, path, exe });
        };
        if depth == MAX_SCRIPT_DEPTH {
            break;
        }
        let line = line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len()).min(255)].to_vec();
        let text = line.trim_ascii();
        let (interpreter, argument) = match text.iter().position(|b| b.is_ascii_whitespace()) {
            Some(at) => (&text[..at], Some(text[at..].trim_ascii())),
            None => (text, None),
        };
        if interpreter.is_empty() {
            return Err(Errno::ENOEXEC);
        }
        let mut new_argv = alloc::vec![interpreter.to_vec()];
        new_argv.extend(argument.filter(|a| !a.is_empty()).map(<[u8]>::to_vec));
        new_argv.push(script);
        new_argv.extend(argv.into_iter().skip(1));
        argv = new_argv;
        let start = if interpreter.starts_with(b"/") { vfs().root() } else { p.files.lock().fs.cwd.clone() };
        let inode = vfs().lookup(&start, interpreter, true, &p.credentials.for_files())?;
        exe = absolute_path(&p.files.lock().fs.cwd, interpreter);
        script = interpreter.to_vec();
        image = executable_image(p, inode, exe.clone())?;
    }
    Err(Errno::ELOOP)
}

/// `inode` (at `path`) as a program `p` may execute: EACCES for
/// directories, other file types and files `p` may not execute.
fn executable_image(p: &Process, inode: Arc<posix_shim::vfs::Inode>, path: Vec<u8>) -> Result<ProgramImage, Errno> {
    if inode.file_type() != posix_shim::vfs::FileType::Regular {
        return Err(Errno::EACCES);
    }
    vfs().check_access(&inode, posix_shim::vfs::Access::EXEC, &p.credentials.for_files())?;
    ProgramImage::of(inode, path)
}

/// The canonical path of what `given` names from `dirfd` by way of an
/// open descriptor: the descriptor's own path for an empty `given`
/// (fexecve), else its path joined with `given`.
fn file_path_of(p: &Process, dirfd: DirFd, given: &[u8]) -> Option<Vec<u8>> {
    let DirFd::Fd(fd) = dirfd else { return None };
    let file = p.files.lock().fds.get(posix_shim::syscall::args::Fd::new(fd).ok()?).ok()?;
    let opened = file.path()?;
    if given.is_empty() {
        return Some(opened.to_vec());
    }
    Some(vfs().canonical_path(file.inode(), given))
}

/// A μprocess's files: descriptor table, working directory and umask.
#[derive(Debug)]
pub struct FileState {
    /// Open descriptors.
    pub fds: FdTable,
    /// Working directory and umask.
    pub fs: FsState,
}

impl FileState {
    /// The first μprocess's files: descriptors 0, 1 and 2 on the console.
    pub fn with_console() -> Result<FileState, Errno> {
        let vfs = vfs();
        let console = vfs.lookup(&vfs.root(), b"/dev/console", true, &Credentials::root())?;
        let file = OpenFile::new(FileObject::Device(console, DevNumber::CONSOLE), OpenFlags::RDWR);
        let mut fds = FdTable::new(1024);
        for _ in 0..3 {
            fds.insert(file.clone(), false)?;
        }
        Ok(FileState { fds, fs: FsState::new(vfs) })
    }

    /// The same files with `path` (absolute) as working directory.
    pub fn with_cwd(mut self, path: &[u8]) -> Result<FileState, Errno> {
        let vfs = vfs();
        let dir = vfs.lookup(&vfs.root(), path, true, &Credentials::root())?;
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        self.fs.cwd = dir;
        Ok(self)
    }

    /// The files a forked child starts with: the same open file
    /// descriptions, the same cwd and umask.
    pub fn fork(&self) -> FileState {
        FileState { fds: self.fds.fork(), fs: self.fs.clone() }
    }

    /// No descriptors, the root as working directory.
    pub fn empty() -> FileState {
        FileState { fds: FdTable::new(1024), fs: FsState::new(vfs()) }
    }
}

/// How the console behaves: a terminal (termios, echo, line editing), or,
/// when the host captures the output (`morsel.console=pipe`), a plain byte
/// stream that is not a terminal, as a Linux program's redirected stdout is.
#[derive(Debug)]
struct ConsoleDriver {
    termios: Mutex<Termios>,
    winsize: Mutex<Winsize>,
    is_terminal: bool,
    /// A line being edited in canonical mode, not yet readable.
    line: Mutex<Vec<u8>>,
    /// Input ready to be read.
    ready: Mutex<alloc::collections::VecDeque<u8>>,
    /// End-of-file typed (VEOF on an empty line): the next read returns 0.
    end_of_file: Mutex<bool>,
    /// The foreground process group (TIOCSPGRP), which VINTR, VQUIT and
    /// VSUSP signal.
    foreground: Mutex<i32>,
    /// The session whose controlling terminal the console is (the first
    /// μprocess's, or whoever took it with TIOCSCTTY).
    session: Mutex<Option<u32>>,
}

impl ConsoleDriver {
    fn console() -> &'static crate::platform::Console {
        &crate::platform::platform().console
    }

    fn echo(&self, termios: &Termios, bytes: &[u8]) {
        if self.is_terminal && termios.lflag & ECHO != 0 {
            self.output(termios, bytes);
        }
    }

    fn output(&self, termios: &Termios, bytes: &[u8]) {
        if self.is_terminal && termios.oflag & (OPOST | ONLCR) == OPOST | ONLCR && bytes.contains(&b'\n') {
            let mut translated = Vec::with_capacity(bytes.len() + 8);
            for &b in bytes {
                if b == b'\n' {
                    translated.push(b'\r');
                }
                translated.push(b);
            }
            Self::console().write_user(&translated);
        } else {
            Self::console().write_user(bytes);
        }
    }

    /// Moves received bytes through the line discipline.
    fn take_input(&self) {
        // One core at a time, or input taken in two pieces could arrive out
        // of order; a core that finds another at it leaves the input to it
        // (readers wake when it is ready).
        static TAKING: spin::Mutex<()> = spin::Mutex::new(());
        let Some(_one_at_a_time) = TAKING.try_lock() else { return };
        let mut buf = [0u8; 64];
        loop {
            let n = Self::console().read_received(&mut buf);
            if n == 0 {
                return;
            }
            posix_shim::readiness::changed();
            let termios = *self.termios.lock();
            for &byte in &buf[..n] {
                let byte = if self.is_terminal && termios.iflag & ICRNL != 0 && byte == b'\r' { b'\n' } else { byte };
                if !self.is_terminal || termios.lflag & ICANON == 0 {
                    self.echo(&termios, &[byte]);
                    self.ready.lock().push_back(byte);
                    continue;
                }
                if self.is_terminal && termios.lflag & ISIG != 0 {
                    let signal = [(VINTR, 2u8), (VQUIT, 3), (VSUSP, 20)]
                        .into_iter()
                        .find(|&(index, _)| termios.cc[index] != 0 && byte == termios.cc[index]);
                    if let Some((_, signal)) = signal {
                        self.echo(&termios, &[b'^', byte + b'@']);
                        self.line.lock().clear();
                        let group = *self.foreground.lock();
                        for pid in crate::process::table::members(group.unsigned_abs()) {
                            crate::process::signals::send(pid, crate::process::signals::SigInfo::kernel(signal));
                        }
                        continue;
                    }
                }
                let mut line = self.line.lock();
                if byte == termios.cc[VERASE] || byte == 8 {
                    if line.pop().is_some() {
                        self.echo(&termios, b"\x08 \x08");
                    }
                } else if byte == termios.cc[VEOF] {
                    if line.is_empty() {
                        *self.end_of_file.lock() = true;
                    }
                    self.ready.lock().extend(line.drain(..));
                } else {
                    line.push(byte);
                    self.echo(&termios, &[byte]);
                    if byte == b'\n' {
                        self.ready.lock().extend(line.drain(..));
                    }
                }
            }
        }
    }
}

impl CharDevices for ConsoleDriver {
    fn readable(&self, _dev: DevNumber) -> bool {
        self.take_input();
        !self.ready.lock().is_empty() || *self.end_of_file.lock()
    }

    fn open(&self, dev: DevNumber) -> Result<(), Errno> {
        if dev == DevNumber::CONSOLE || dev == DevNumber::TTY { Ok(()) } else { Err(Errno::ENXIO) }
    }

    fn read(&self, _dev: DevNumber, buf: &mut [u8], nonblocking: bool) -> Result<usize, Errno> {
        self.take_input();
        let mut ready = self.ready.lock();
        if !ready.is_empty() {
            let n = buf.len().min(ready.len());
            for (slot, byte) in buf.iter_mut().zip(ready.drain(..n)) {
                *slot = byte;
            }
            return Ok(n);
        }
        drop(ready);
        if core::mem::take(&mut *self.end_of_file.lock()) {
            return Ok(0);
        }
        // Blocking: the scheduler runs the call again when input may be there.
        Err(if nonblocking { Errno::EAGAIN } else { Errno::ERESTART })
    }

    fn write(&self, _dev: DevNumber, data: &[u8]) -> Result<usize, Errno> {
        let termios = *self.termios.lock();
        self.output(&termios, data);
        Ok(data.len())
    }

    fn tty_request(&self, _dev: DevNumber, request: TtyRequest) -> Result<TtyReply, Errno> {
        if !self.is_terminal {
            return Err(Errno::ENOTTY);
        }
        // A new mode or foreground group may let a waiting reader go on.
        posix_shim::readiness::changed();
        Ok(match request {
            TtyRequest::GetTermios => TtyReply::Termios(*self.termios.lock()),
            TtyRequest::SetTermios(termios, when) => {
                if when == SetWhen::Flush {
                    self.ready.lock().clear();
                    self.line.lock().clear();
                }
                *self.termios.lock() = termios;
                TtyReply::Done
            }
            TtyRequest::GetWinsize => TtyReply::Winsize(*self.winsize.lock()),
            TtyRequest::SetWinsize(size) => {
                *self.winsize.lock() = size;
                TtyReply::Done
            }
            TtyRequest::GetForegroundGroup => TtyReply::Group(*self.foreground.lock()),
            TtyRequest::SetForegroundGroup(group) => {
                if !crate::process::table::group_exists(group.unsigned_abs()) {
                    return Err(Errno::EPERM);
                }
                *self.foreground.lock() = group;
                TtyReply::Done
            }
        })
    }
}

fn console_driver() -> &'static ConsoleDriver {
    static DRIVER: Once<ConsoleDriver> = Once::new();
    DRIVER.call_once(|| ConsoleDriver {
        termios: Mutex::new(Termios::DEFAULT),
        winsize: Mutex::new(Winsize { rows: 24, cols: 80, xpixel: 0, ypixel: 0 }),
        is_terminal: crate::platform::platform().machine.boot_arg("morsel.console") != Some("pipe"),
        line: Mutex::new(Vec::new()),
        ready: Mutex::new(alloc::collections::VecDeque::new()),
        end_of_file: Mutex::new(false),
        foreground: Mutex::new(1),
        session: Mutex::new(Some(1)),
    })
}

/// Runs the console's line discipline over input that arrived, so that
/// Ctrl-C and friends reach the foreground group even when nobody reads.
pub fn console_poll() {
    console_driver().take_input();
}

/// Random bytes for /dev/random and /dev/urandom.
struct KernelRandom;

impl Random for KernelRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        crate::random::fill(buf);
    }
}

/// Runs `call` with posix-shim's view of `p`'s files and memory.
fn with_files<T>(p: &mut Process, call: impl FnOnce(&mut FsContext<'_>, &mut dyn posix_shim::user::UserMemory) -> T) -> T {
    let cred = p.credentials.for_files();
    let mut random = KernelRandom;
    let mut files = p.files.lock();
    let files = &mut *files;
    let mut ctx = FsContext {
        vfs: vfs(),
        fds: &mut files.fds,
        fs: &mut files.fs,
        cred: &cred,
        devices: console_driver(),
        random: &mut random,
    };
    call(&mut ctx, &mut *p.space.lock())
}

/// ppoll(fds, n, timeout, sigmask, size) (AArch64 has no poll).
pub fn ppoll(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let mask = if a.addr(3).is_null() {
        None
    } else if a.u64(4) != 8 {
        return Err(Errno::EINVAL);
    } else {
        Some(a.addr(3))
    };
    let (fds, count) = (a.addr(0), a.u64(1));
    wait_until_ready(p, a.addr(2), mask, |ctx, mem, may_wait| posix_shim::syscall::poll::poll(ctx, mem, fds, count, may_wait)).0
}

/// pselect6(nfds, readfds, writefds, exceptfds, timeout, sigmask) (select
/// too, through glibc): the timeout left is written back.
pub fn pselect6(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    use posix_shim::user::UserMemory;
    // The sixth argument points to { const sigset_t *ss; size_t ss_len; }.
    let mask = if a.addr(5).is_null() {
        None
    } else {
        let set = p.space.lock().read_u64(a.addr(5))?;
        let len = p.space.lock().read_u64(a.addr(5).offset(8)?)?;
        match (set, len) {
            (0, _) => None,
            (set, 8) => Some(UserAddr::new(set)),
            _ => return Err(Errno::EINVAL),
        }
    };
    let (nfds, sets) = (a.i32(0), [a.addr(1), a.addr(2), a.addr(3)]);
    let (result, left) = wait_until_ready(p, a.addr(4), mask, |ctx, mem, may_wait| {
        posix_shim::syscall::poll::select(ctx, mem, nfds, sets, may_wait)
    });
    if let Some(left) = left {
        p.space.lock().write_bytes(a.addr(4), &crate::syscall::timespec(left))?;
    }
    result
}

/// The waiting shared by ppoll and pselect6: `check(ctx, mem, may_wait)`
/// runs until something is ready or the timeout at `timeout_at` (none if
/// null; kept in the μprocess across retries) passes, with the signal mask
/// at `mask` in place meanwhile (restored when the call ends, or by the
/// return of a handler that interrupted it). Returns the result and, once
/// the call ended with a timeout given, the time that was left of it.
fn wait_until_ready(
    p: &mut Process,
    timeout_at: UserAddr,
    mask: Option<UserAddr>,
    check: impl FnOnce(&mut FsContext<'_>, &mut dyn posix_shim::user::UserMemory, bool) -> Result<u64, Errno>,
) -> (Result<u64, Errno>, Option<u64>) {
    use posix_shim::user::UserMemory;
    let timeout_ns = match timeout_at.is_null() {
        true => None,
        false => match crate::syscall::read_timespec(p, timeout_at) {
            Ok(ns) => Some(ns),
            Err(e) => return (Err(e), None),
        },
    };
    if let Some(mask) = mask {
        let mask = match p.space.lock().read_u64(mask) {
            Ok(mask) => mask,
            Err(e) => return (Err(e), None),
        };
        if p.suspended_mask.is_none() {
            p.suspended_mask = Some(p.signal_mask);
        }
        p.signal_mask = mask & !crate::process::signals::UNBLOCKABLE;
    }
    let now = arch_morello::timer::uptime_ns();
    let deadline = timeout_ns.map(|ns| *p.sleep_deadline.get_or_insert(now.saturating_add(ns)));
    let may_wait = deadline.is_none_or(|d| now < d);
    let result = with_files(p, |ctx, mem| check(ctx, mem, may_wait));
    if result == Err(Errno::ERESTART) {
        return (result, None);
    }
    if let Some(saved) = p.suspended_mask.take() {
        p.signal_mask = saved;
    }
    p.sleep_deadline = None;
    let left = deadline.map(|d| d.saturating_sub(arch_morello::timer::uptime_ns()));
    (result, left)
}

/// Job control on the console, before a call on it runs: TIOCSCTTY and
/// TIOCNOTTY; a read from a background process group of the console's
/// session raises SIGTTIN (EIO when the caller blocks or ignores it), and a
/// terminal-changing ioctl (or a write, with TOSTOP) raises SIGTTOU unless
/// blocked or ignored. The call then blocks and runs again once the group
/// continues. `None`: the call proceeds as usual.
fn console_job_control(p: &mut Process, sysno: Sysno, a: &SyscallArgs) -> Option<Result<u64, Errno>> {
    use crate::process::signal::{SIGTTIN, SIGTTOU};
    use crate::process::{signals, table};
    use posix_shim::syscall::fdops::{TCSETS, TCSETSF, TCSETSW, TIOCNOTTY, TIOCSCTTY, TIOCSPGRP};
    let console = console_driver();
    let file = p.files.lock().fds.get(a.fd(0).ok()?).ok()?;
    let FileObject::Device(_, dev) = file.object() else { return None };
    if !console.is_terminal || (*dev != DevNumber::CONSOLE && *dev != DevNumber::TTY) {
        return None;
    }
    let session = table::session_of(p.pid);
    let controlling = *console.session.lock() == session;
    let signal = match (sysno, a.u32(1)) {
        (Sysno::ioctl, TIOCSCTTY) => {
            let leader = session == Some(p.pid);
            let free_or_stolen = console.session.lock().is_none() || (a.u64(2) == 1 && p.credentials.uid[1] == 0);
            return Some(if controlling || (leader && free_or_stolen) {
                *console.session.lock() = session;
                *console.foreground.lock() = table::group_of(p.pid).map_or(0, |g| g as i32);
                Ok(0)
            } else {
                Err(Errno::EPERM)
            });
        }
        (Sysno::ioctl, TIOCNOTTY) => {
            return Some(if controlling {
                if session == Some(p.pid) {
                    *console.session.lock() = None;
                }
                Ok(0)
            } else {
                Err(Errno::ENOTTY)
            });
        }
        (Sysno::ioctl, TCSETS | TCSETSW | TCSETSF | TIOCSPGRP) => SIGTTOU,
        (Sysno::read | Sysno::readv | Sysno::pread64 | Sysno::preadv, _) => SIGTTIN,
        (Sysno::write | Sysno::writev | Sysno::pwrite64 | Sysno::pwritev, _)
            if console.termios.lock().lflag & posix_shim::device::termios::TOSTOP != 0 =>
        {
            SIGTTOU
        }
        _ => return None,
    };
    let group = table::group_of(p.pid)?;
    if !controlling || group as i32 == *console.foreground.lock() {
        return None;
    }
    let refused = p.signal_mask & (1 << (signal - 1)) != 0 || p.group.lock().actions[usize::from(signal) - 1][0] == signals::SIG_IGN;
    if refused {
        return if signal == SIGTTIN { Some(Err(Errno::EIO)) } else { None };
    }
    let members = table::members(group);
    let _ = signals::send_to(p, &members, signals::SigInfo::kernel(signal));
    Some(Err(Errno::ERESTART))
}

/// File system calls, handled by posix-shim against this μprocess's files.
pub fn dispatch(p: &mut Process, sysno: Sysno, a: &SyscallArgs) -> Outcome {
    if let Some(result) = console_job_control(p, sysno, a) {
        return Outcome::Return(result);
    }
    match with_files(p, |ctx, mem| dispatch_fs(ctx, mem, sysno, a)) {
        Some(Err(Errno::EPIPE)) if writes(sysno) => {
            let sender = (p.pid, p.credentials.uid[0]);
            let info = crate::process::signals::SigInfo::from_process(crate::process::signal::SIGPIPE, 0, sender.0, sender.1);
            p.pending.push(info);
            Outcome::Return(Err(Errno::EPIPE))
        }
        // Err(ERESTART) included: the call would block, the scheduler runs
        // it again later.
        Some(result) => Outcome::Return(result),
        None => Outcome::Return(Err(Errno::ENOSYS)),
    }
}

/// Calls that raise SIGPIPE (and fail with EPIPE) when they write to a
/// pipe without readers.
fn writes(sysno: Sysno) -> bool {
    matches!(sysno, Sysno::write | Sysno::writev | Sysno::pwrite64 | Sysno::pwritev | Sysno::pwritev2 | Sysno::sendfile)
}

/// The file a mapping of `fd` shows: a regular file open for reading (and
/// for writing too if the mapping is shared and writable: EACCES
/// otherwise), or `None` for `/dev/zero`, whose mappings are anonymous
/// memory; ENODEV for what cannot be mapped.
pub fn file_for_mmap(p: &mut Process, fd: i32, shared_writable: bool) -> Result<Option<NamedFile>, Errno> {
    let fd = posix_shim::syscall::args::Fd::new(fd)?;
    let file = p.files.lock().fds.get(fd)?;
    if !file.flags().readable() || (shared_writable && !file.flags().writable()) {
        return Err(Errno::EACCES);
    }
    match file.object() {
        FileObject::Inode(inode) if inode.file_type() == posix_shim::vfs::FileType::Regular && !inode.is_synthetic() => {
            Ok(Some(NamedFile { inode: inode.clone(), path: file.path().map(Arc::from) }))
        }
        FileObject::MemDevice(_, posix_shim::device::MemDevice::Zero) => Ok(None),
        _ => Err(Errno::ENODEV),
    }
}
