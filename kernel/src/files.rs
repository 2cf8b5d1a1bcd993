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
use posix_shim::syscall::args::{OpenFlags, SyscallArgs};
use posix_shim::syscall::numbers::Sysno;
use posix_shim::syscall::{FsContext, FsState, dispatch_fs};
use posix_shim::vfs::{Clock, Credentials, DevNumber, NewNode, Timespec, Vfs};
use spin::{Mutex, Once};

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
    let mut contents = alloc::vec![0u8; usize::try_from(len).map_err(|_| Errno::ENOMEM)?];
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

/// A program file for exec: its bytes, which the loader parses, and its
/// inode, whose pages the loader maps.
#[derive(Debug)]
pub struct ProgramImage {
    /// The whole file.
    pub bytes: Vec<u8>,
    /// The file itself.
    pub file: Arc<posix_shim::vfs::Inode>,
}

impl ProgramImage {
    /// `bytes` in a file of their own that no directory lists.
    pub fn anonymous(bytes: &[u8]) -> Result<ProgramImage, Errno> {
        let vfs = vfs();
        let file = vfs.anonymous_file(0, &Credentials::root())?;
        file.write_at(Some(0), bytes, vfs.now())?;
        Ok(ProgramImage { bytes: bytes.to_vec(), file })
    }

    fn of(file: Arc<posix_shim::vfs::Inode>) -> Result<ProgramImage, Errno> {
        Ok(ProgramImage { bytes: read_range(&file, 0, file.size())?, file })
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
    ProgramImage::of(inode)
}

/// [`read_program`] as the loader asks for an interpreter.
pub fn read_interpreter(path: &[u8]) -> Result<(Vec<u8>, Arc<posix_shim::vfs::Inode>), Errno> {
    read_program(path).map(|program| (program.bytes, program.file))
}

/// The canonical absolute path of the file `path` names from `cwd`, every
/// symlink resolved (as /proc/PID/exe shows a program: exec of
/// /proc/self/exe or /bin/busybox both give /usr/bin/busybox).
pub fn absolute_path(cwd: &Arc<posix_shim::vfs::Inode>, path: &[u8]) -> Vec<u8> {
    let vfs = vfs();
    let root = Credentials::root();
    let mut start = if path.starts_with(b"/") { vfs.root() } else { cwd.clone() };
    let mut path = path.to_vec();
    for _ in 0..40 {
        let (parent, name) = split(&path);
        let parent = if parent.is_empty() { &b"/"[..] } else { parent };
        let Ok(dir) = vfs.lookup(&start, parent, true, &root) else { break };
        let dir_path = vfs.path_of(&dir).unwrap_or_default();
        let target = vfs.lookup(&dir, name, false, &root).ok().and_then(|inode| inode.readlink().ok());
        match target {
            Some(target) if target.starts_with(b"/") => {
                start = vfs.root();
                path = target;
            }
            Some(target) => {
                start = vfs.root();
                path = [dir_path.as_slice(), b"/", target.as_slice()].concat();
            }
            None => {
                let separator: &[u8] = if dir_path.ends_with(b"/") { b"" } else { b"/" };
                return [dir_path.as_slice(), separator, name].concat();
            }
        }
    }
    path
}

/// The program execve(path) runs, as `p` finds it: an ELF file with
/// `argv` unchanged, or for a `#!` script its interpreter with
/// `argv` = interpreter, optional argument, path, then argv[1..].
pub fn executable(p: &Process, path: &[u8], argv: Vec<Vec<u8>>) -> Result<(ProgramImage, Vec<Vec<u8>>), Errno> {
    let image = read_executable(p, path)?;
    let Some(line) = image.bytes.strip_prefix(b"#!") else {
        return Ok((image, argv));
    };
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len()).min(255)];
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
    new_argv.push(path.to_vec());
    new_argv.extend(argv.into_iter().skip(1));
    let image = read_executable(p, interpreter)?;
    if image.bytes.starts_with(b"#!") {
        return Err(Errno::ELOOP);
    }
    Ok((image, new_argv))
}

/// An executable regular file at `path` (from `p`'s cwd), which `p` may
/// execute: EACCES for directories, other file types and files without an
/// execute bit.
fn read_executable(p: &Process, path: &[u8]) -> Result<ProgramImage, Errno> {
    let vfs = vfs();
    let start = if path.starts_with(b"/") { vfs.root() } else { p.files.fs.cwd.clone() };
    let inode = vfs.lookup(&start, path, true, &p.credentials.for_files())?;
    let metadata = inode.metadata();
    if metadata.file_type != posix_shim::vfs::FileType::Regular || metadata.perm & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    ProgramImage::of(inode)
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
        let mut buf = [0u8; 64];
        loop {
            let n = Self::console().read_received(&mut buf);
            if n == 0 {
                return;
            }
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
    let mut ctx = FsContext {
        vfs: vfs(),
        fds: &mut p.files.fds,
        fs: &mut p.files.fs,
        cred: &cred,
        devices: console_driver(),
        random: &mut random,
    };
    call(&mut ctx, &mut p.space)
}

/// ppoll(fds, n, timeout, sigmask, size) (AArch64 has no poll): blocks
/// (the call runs again) until a descriptor is ready or the timeout, kept
/// in the μprocess, passes. The signal mask waits for signal delivery.
pub fn ppoll(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    use posix_shim::user::UserMemory;
    let timeout_ns = if a.addr(2).is_null() {
        None
    } else {
        let seconds = p.space.read_u64(a.addr(2))? as i64;
        let nanos = p.space.read_u64(a.addr(2).offset(8)?)? as i64;
        if seconds < 0 || !(0..1_000_000_000).contains(&nanos) {
            return Err(Errno::EINVAL);
        }
        Some((seconds as u64).saturating_mul(1_000_000_000).saturating_add(nanos as u64))
    };
    let now = arch_morello::timer::uptime_ns();
    let may_wait = match timeout_ns {
        None => true,
        Some(0) => false,
        Some(ns) => now < *p.sleep_deadline.get_or_insert(now.saturating_add(ns)),
    };
    let (fds, count) = (a.addr(0), a.u64(1));
    let result = with_files(p, |ctx, mem| posix_shim::syscall::poll::poll(ctx, mem, fds, count, may_wait));
    if result != Err(Errno::ERESTART) {
        p.sleep_deadline = None;
    }
    result
}

/// File system calls, handled by posix-shim against this μprocess's files.
pub fn dispatch(p: &mut Process, sysno: Sysno, a: &SyscallArgs) -> Outcome {
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
pub fn file_for_mmap(p: &mut Process, fd: i32, shared_writable: bool) -> Result<Option<Arc<posix_shim::vfs::Inode>>, Errno> {
    let fd = posix_shim::syscall::args::Fd::new(fd)?;
    let file = p.files.fds.get(fd)?;
    if !file.flags().readable() || (shared_writable && !file.flags().writable()) {
        return Err(Errno::EACCES);
    }
    match file.object() {
        FileObject::Inode(inode) if inode.file_type() == posix_shim::vfs::FileType::Regular && !inode.is_synthetic() => {
            Ok(Some(inode.clone()))
        }
        FileObject::MemDevice(_, posix_shim::device::MemDevice::Zero) => Ok(None),
        _ => Err(Errno::ENODEV),
    }
}
