//! Filesystem syscalls end to end: registers in, `dispatch_fs`, bytes out
//! through fake user memory.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use super::numbers::Sysno;
use super::*;
use crate::device::{Termios, TtyReply, TtyRequest, Winsize};
use crate::user::FakeUserMemory;
use crate::vfs::tests::new_vfs;
use crate::vfs::NewNode;

const MEM: u64 = 0x10_0000;
const MEM_LEN: usize = 1 << 20;
const BAD: u64 = 0xdead_0000;
const AT_FDCWD: u64 = (-100i64).cast_unsigned();

/// A console that records writes, serves queued input and keeps a termios.
#[derive(Default)]
struct FakeConsole {
    output: RefCell<Vec<u8>>,
    input: RefCell<Vec<u8>>,
    termios: RefCell<Option<Termios>>,
}

impl CharDevices for FakeConsole {
    fn readable(&self, _dev: DevNumber) -> bool {
        !self.input.borrow().is_empty()
    }

    fn open(&self, dev: DevNumber) -> Result<(), Errno> {
        if dev == DevNumber::CONSOLE || dev == DevNumber::TTY { Ok(()) } else { Err(Errno::ENXIO) }
    }
    fn read(&self, _dev: DevNumber, buf: &mut [u8], nonblocking: bool) -> Result<usize, Errno> {
        let mut input = self.input.borrow_mut();
        if input.is_empty() && nonblocking {
            return Err(Errno::EAGAIN);
        }
        let n = buf.len().min(input.len());
        buf[..n].copy_from_slice(&input[..n]);
        input.drain(..n);
        Ok(n)
    }
    fn write(&self, _dev: DevNumber, data: &[u8]) -> Result<usize, Errno> {
        self.output.borrow_mut().extend_from_slice(data);
        Ok(data.len())
    }
    fn tty_request(&self, _dev: DevNumber, request: TtyRequest) -> Result<TtyReply, Errno> {
        match request {
            TtyRequest::GetTermios => Ok(TtyReply::Termios(self.termios.borrow().unwrap_or(Termios::DEFAULT))),
            TtyRequest::SetTermios(t, _) => {
                *self.termios.borrow_mut() = Some(t);
                Ok(TtyReply::Done)
            }
            TtyRequest::GetWinsize => Ok(TtyReply::Winsize(Winsize { rows: 24, cols: 80, xpixel: 0, ypixel: 0 })),
            TtyRequest::GetForegroundGroup => Ok(TtyReply::Group(1)),
            _ => Err(Errno::EINVAL),
        }
    }
}

struct Sevens;
impl Random for Sevens {
    fn fill(&mut self, buf: &mut [u8]) {
        buf.fill(7);
    }
}

struct World {
    vfs: Vfs,
    fds: FdTable,
    fs: FsState,
    cred: Credentials,
    console: FakeConsole,
    mem: FakeUserMemory,
    next: u64,
}

impl World {
    fn new() -> World {
        let vfs = new_vfs();
        let root = vfs.root();
        let dev = vfs.create(&root, b"dev", NewNode::Directory, 0o755, &Credentials::root()).unwrap();
        for (name, d) in [(&b"null"[..], DevNumber::NULL), (b"zero", DevNumber::ZERO), (b"full", DevNumber::FULL), (b"urandom", DevNumber::URANDOM), (b"console", DevNumber::CONSOLE), (b"sda", DevNumber::new(8, 0))] {
            vfs.create(&dev, name, NewNode::CharDevice(d), 0o666, &Credentials::root()).unwrap();
        }
        let fs = FsState::new(&vfs);
        let mut mem = FakeUserMemory::new();
        mem.map(MEM, MEM_LEN);
        World { vfs, fds: FdTable::default(), fs, cred: Credentials::root(), console: FakeConsole::default(), mem, next: MEM + 0x8_0000 }
    }

    fn sys(&mut self, nr: Sysno, regs: [u64; 6]) -> Result<u64, Errno> {
        let mut random = Sevens;
        let mut ctx = FsContext {
            vfs: &self.vfs,
            fds: &mut self.fds,
            fs: &mut self.fs,
            cred: &self.cred,
            devices: &self.console,
            random: &mut random,
        };
        dispatch_fs(&mut ctx, &mut self.mem, nr, &SyscallArgs::new(regs)).expect("a filesystem syscall")
    }

    /// Places bytes in user memory and returns their address.
    fn put(&mut self, bytes: &[u8]) -> u64 {
        let at = self.next;
        self.mem.poke(at, bytes);
        self.next += u64::try_from(bytes.len()).unwrap() + 8;
        at
    }

    fn s(&mut self, text: &str) -> u64 {
        let mut b = text.as_bytes().to_vec();
        b.push(0);
        self.put(&b)
    }

    fn open(&mut self, path: &str, flags: u32, mode: u32) -> Result<u64, Errno> {
        let p = self.s(path);
        self.sys(Sysno::openat, [AT_FDCWD, p, u64::from(flags), u64::from(mode), 0, 0])
    }

    fn write_str(&mut self, fd: u64, data: &[u8]) -> Result<u64, Errno> {
        let b = self.put(data);
        self.sys(Sysno::write, [fd, b, data.len() as u64, 0, 0, 0])
    }

    fn read_n(&mut self, fd: u64, n: usize) -> Result<Vec<u8>, Errno> {
        let got = self.sys(Sysno::read, [fd, MEM, n as u64, 0, 0, 0])?;
        Ok(self.mem.peek(MEM, usize::try_from(got).unwrap()))
    }

    fn stat(&mut self, path: &str, flags: u32) -> Result<Vec<u8>, Errno> {
        let p = self.s(path);
        self.sys(Sysno::newfstatat, [AT_FDCWD, p, MEM, u64::from(flags), 0, 0])?;
        Ok(self.mem.peek(MEM, 128))
    }

    fn simple(&mut self, nr: Sysno, path: &str, a: u64, b: u64) -> Result<u64, Errno> {
        let p = self.s(path);
        self.sys(nr, [AT_FDCWD, p, a, b, 0, 0])
    }
}

const O_RDONLY: u32 = 0;
const O_WRONLY: u32 = 1;
const O_RDWR: u32 = 2;
const O_CREAT: u32 = 0o100;
const O_EXCL: u32 = 0o200;
const O_TRUNC: u32 = 0o1000;
const O_APPEND: u32 = 0o2000;
const O_NONBLOCK: u32 = 0o4000;
const O_DIRECTORY: u32 = 0o40000;
const O_NOFOLLOW: u32 = 0o100000;
const O_CLOEXEC: u32 = 0o2000000;
const O_PATH: u32 = 0o10000000;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[test]
fn non_fs_syscalls_are_not_dispatched() {
    let mut w = World::new();
    let mut random = Sevens;
    let mut ctx = FsContext { vfs: &w.vfs, fds: &mut w.fds, fs: &mut w.fs, cred: &w.cred, devices: &w.console, random: &mut random };
    assert!(dispatch_fs(&mut ctx, &mut w.mem, Sysno::mmap, &SyscallArgs::default()).is_none());
}

#[test]
fn open_write_read_lseek() {
    let mut w = World::new();
    let fd = w.open("/f", O_RDWR | O_CREAT | O_EXCL, 0o666).unwrap();
    assert_eq!(fd, 0);
    assert_eq!(w.write_str(fd, b"hello world"), Ok(11));
    assert_eq!(w.sys(Sysno::lseek, [fd, 6, 0, 0, 0, 0]), Ok(6));
    assert_eq!(w.read_n(fd, 100), Ok(b"world".to_vec()));
    assert_eq!(w.read_n(fd, 100), Ok(vec![]));
    assert_eq!(w.sys(Sysno::lseek, [fd, (-5i64).cast_unsigned(), 2, 0, 0, 0]), Ok(6));
    assert_eq!(w.sys(Sysno::lseek, [fd, (-1i64).cast_unsigned(), 0, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::lseek, [fd, 0, 9, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::lseek, [fd, 20, 3, 0, 0, 0]), Err(Errno::ENXIO));
    assert_eq!(w.sys(Sysno::lseek, [fd, 2, 4, 0, 0, 0]), Ok(11));
    // umask 022 applied to 0666.
    let st = w.stat("/f", 0).unwrap();
    assert_eq!(u32_at(&st, 16), 0o100644);
    assert_eq!(u64_at(&st, 48), 11);
    assert_eq!(w.open("/f", O_RDWR | O_CREAT | O_EXCL, 0o666), Err(Errno::EEXIST));
    assert_eq!(w.sys(Sysno::close, [fd, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::close, [fd, 0, 0, 0, 0, 0]), Err(Errno::EBADF));
    assert_eq!(w.sys(Sysno::read, [u64::MAX, MEM, 1, 0, 0, 0]), Err(Errno::EBADF));
}

#[test]
fn open_errors() {
    let mut w = World::new();
    assert_eq!(w.open("/nope", O_RDONLY, 0), Err(Errno::ENOENT));
    assert_eq!(w.open("", O_RDONLY, 0), Err(Errno::ENOENT));
    assert_eq!(w.open("/nodir/f", O_CREAT | O_WRONLY, 0o644), Err(Errno::ENOENT));
    assert_eq!(w.open("/dev", O_WRONLY, 0), Err(Errno::EISDIR));
    assert_eq!(w.open("/dev", O_CREAT | O_RDONLY, 0), Err(Errno::EISDIR));
    assert_eq!(w.open("/dev/null", O_DIRECTORY, 0), Err(Errno::ENOTDIR));
    assert_eq!(w.open("/dev/null/x", O_RDONLY, 0), Err(Errno::ENOTDIR));
    assert_eq!(w.open("/new/", O_CREAT | O_WRONLY, 0o644), Err(Errno::EISDIR));
    assert_eq!(w.open("/dev/sda", O_RDONLY, 0), Err(Errno::ENXIO));
    assert_eq!(w.open("/t", O_CREAT | O_DIRECTORY, 0o644), Err(Errno::EINVAL));
    // O_TMPFILE with O_CREAT is malformed (Linux: EINVAL); well formed it is
    // not offered by this tmpfs.
    assert_eq!(w.open("/t", O_CREAT | 0o20000000, 0o644), Err(Errno::EINVAL));
    assert_eq!(w.open("/tmp", 0o20000000 | O_DIRECTORY | 2, 0o600), Err(Errno::EOPNOTSUPP));
    let long = "x".repeat(256);
    assert_eq!(w.open(&long, O_RDONLY, 0), Err(Errno::ENAMETOOLONG));
    assert_eq!(w.sys(Sysno::openat, [AT_FDCWD, BAD, 0, 0, 0, 0]), Err(Errno::EFAULT));
    let dev = w.open("/dev/null", O_RDONLY, 0).unwrap();
    let p = w.s("x");
    assert_eq!(w.sys(Sysno::openat, [dev, p, 0, 0, 0, 0]), Err(Errno::ENOTDIR));
    assert_eq!(w.sys(Sysno::openat, [99, p, 0, 0, 0, 0]), Err(Errno::EBADF));
    let abs = w.s("/dev/null");
    assert!(w.sys(Sysno::openat, [99, abs, 0, 0, 0, 0]).is_ok(), "dirfd is ignored for absolute paths");
}

#[test]
fn symlinks_in_open() {
    let mut w = World::new();
    w.simple(Sysno::mkdirat, "/d", 0o755, 0).unwrap();
    let t = w.s("d/target");
    let l = w.s("/link");
    w.sys(Sysno::symlinkat, [t, AT_FDCWD, l, 0, 0, 0]).unwrap();
    // O_CREAT through a dangling symlink creates the target.
    let fd = w.open("/link", O_CREAT | O_WRONLY, 0o600).unwrap();
    w.write_str(fd, b"via link").unwrap();
    assert_eq!(u64_at(&w.stat("/d/target", 0).unwrap(), 48), 8);
    assert_eq!(w.open("/link", O_RDONLY | O_NOFOLLOW, 0), Err(Errno::ELOOP));
    assert_eq!(w.open("/link", O_CREAT | O_EXCL | O_WRONLY, 0o600), Err(Errno::EEXIST));
    let pfd = w.open("/link", O_PATH | O_NOFOLLOW, 0).unwrap();
    assert_eq!(w.sys(Sysno::read, [pfd, MEM, 1, 0, 0, 0]), Err(Errno::EBADF));
    let empty = w.s("");
    assert_eq!(w.sys(Sysno::readlinkat, [pfd, empty, MEM, 64, 0, 0]), Ok(8));
    assert_eq!(w.mem.peek(MEM, 8), b"d/target");
    let st = w.stat("/link", 0x100).unwrap();
    assert_eq!(u32_at(&st, 16), 0o120777);
    let l2 = w.s("/loop");
    w.sys(Sysno::symlinkat, [l2, AT_FDCWD, l2, 0, 0, 0]).unwrap();
    assert_eq!(w.open("/loop", O_RDONLY, 0), Err(Errno::ELOOP));
    assert_eq!(w.sys(Sysno::symlinkat, [empty, AT_FDCWD, l2, 0, 0, 0]), Err(Errno::ENOENT));
    assert_eq!(w.sys(Sysno::symlinkat, [t, AT_FDCWD, l2, 0, 0, 0]), Err(Errno::EEXIST));
}

#[test]
fn readlinkat_cases() {
    let mut w = World::new();
    let t = w.s("/some/where");
    let l = w.s("/l");
    w.sys(Sysno::symlinkat, [t, AT_FDCWD, l, 0, 0, 0]).unwrap();
    assert_eq!(w.sys(Sysno::readlinkat, [AT_FDCWD, l, MEM, 4, 0, 0]), Ok(4));
    assert_eq!(w.mem.peek(MEM, 4), b"/som");
    assert_eq!(w.sys(Sysno::readlinkat, [AT_FDCWD, l, MEM, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::readlinkat, [AT_FDCWD, l, BAD, 10, 0, 0]), Err(Errno::EFAULT));
    let d = w.s("/dev");
    assert_eq!(w.sys(Sysno::readlinkat, [AT_FDCWD, d, MEM, 10, 0, 0]), Err(Errno::EINVAL));
    let n = w.s("/none");
    assert_eq!(w.sys(Sysno::readlinkat, [AT_FDCWD, n, MEM, 10, 0, 0]), Err(Errno::ENOENT));
}

#[test]
fn append_trunc_and_shared_offsets() {
    let mut w = World::new();
    let a = w.open("/f", O_CREAT | O_WRONLY | O_APPEND, 0o644).unwrap();
    w.write_str(a, b"one").unwrap();
    let b = w.open("/f", O_WRONLY, 0).unwrap();
    w.write_str(b, b"X").unwrap();
    w.write_str(a, b"two").unwrap();
    let r = w.open("/f", O_RDONLY, 0).unwrap();
    assert_eq!(w.read_n(r, 100), Ok(b"Xnetwo".to_vec()));
    // dup shares the offset.
    let d = w.sys(Sysno::dup, [r, 0, 0, 0, 0, 0]).unwrap();
    w.sys(Sysno::lseek, [r, 1, 0, 0, 0, 0]).unwrap();
    assert_eq!(w.read_n(d, 2), Ok(b"ne".to_vec()));
    assert_eq!(w.sys(Sysno::lseek, [r, 0, 1, 0, 0, 0]), Ok(3));
    // O_TRUNC empties it.
    let t = w.open("/f", O_WRONLY | O_TRUNC, 0).unwrap();
    assert_eq!(u64_at(&w.stat("/f", 0).unwrap(), 48), 0);
    assert_eq!(w.read_n(t, 1), Err(Errno::EBADF));
    assert_eq!(w.write_str(r, b"x"), Err(Errno::EBADF));
}

#[test]
fn readv_writev_pread_pwrite() {
    let mut w = World::new();
    let fd = w.open("/v", O_CREAT | O_RDWR, 0o644).unwrap();
    let p1 = w.put(b"abc");
    let p2 = w.put(b"defg");
    let iov = w.put(&[p1.to_le_bytes(), 3u64.to_le_bytes(), p2.to_le_bytes(), 4u64.to_le_bytes()].concat());
    assert_eq!(w.sys(Sysno::writev, [fd, iov, 2, 0, 0, 0]), Ok(7));
    let buf = w.put(b"bbbbbbbb");
    assert_eq!(w.sys(Sysno::pwrite64, [fd, buf, 2, 1, 0, 0]), Ok(2));
    assert_eq!(w.sys(Sysno::lseek, [fd, 0, 1, 0, 0, 0]), Ok(7), "pwrite leaves the offset");
    let out_iov = w.put(&[MEM.to_le_bytes(), 2u64.to_le_bytes(), (MEM + 100).to_le_bytes(), 10u64.to_le_bytes()].concat());
    w.sys(Sysno::lseek, [fd, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(w.sys(Sysno::readv, [fd, out_iov, 2, 0, 0, 0]), Ok(7));
    assert_eq!(w.mem.peek(MEM, 2), b"ab");
    assert_eq!(w.mem.peek(MEM + 100, 5), b"bdefg");
    assert_eq!(w.sys(Sysno::pread64, [fd, MEM, 3, 4, 0, 0]), Ok(3));
    assert_eq!(w.mem.peek(MEM, 3), b"efg");
    assert_eq!(w.sys(Sysno::pread64, [fd, MEM, 3, u64::MAX, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::readv, [fd, BAD, 1, 0, 0, 0]), Err(Errno::EFAULT));
    assert_eq!(w.sys(Sysno::readv, [fd, out_iov, 2000, 0, 0, 0]), Err(Errno::EINVAL));
    let bad_iov = w.put(&[BAD.to_le_bytes(), 4u64.to_le_bytes()].concat());
    assert_eq!(w.sys(Sysno::writev, [fd, bad_iov, 1, 0, 0, 0]), Err(Errno::EFAULT));
    // A partially bad buffer: the bytes before the hole count.
    let edge = MEM + u64::try_from(MEM_LEN).unwrap() - 2;
    w.sys(Sysno::lseek, [fd, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(w.sys(Sysno::read, [fd, edge, 5, 0, 0, 0]), Err(Errno::EFAULT));
    assert_eq!(w.sys(Sysno::read, [fd, BAD, 5, 0, 0, 0]), Err(Errno::EFAULT));
    assert_eq!(w.sys(Sysno::write, [fd, BAD, 5, 0, 0, 0]), Err(Errno::EFAULT));
    let dir = w.open("/dev", O_RDONLY, 0).unwrap();
    assert_eq!(w.sys(Sysno::read, [dir, MEM, 5, 0, 0, 0]), Err(Errno::EISDIR));
}

#[test]
fn devices() {
    let mut w = World::new();
    let null = w.open("/dev/null", O_RDWR, 0).unwrap();
    assert_eq!(w.read_n(null, 10), Ok(vec![]));
    assert_eq!(w.write_str(null, b"gone"), Ok(4));
    let zero = w.open("/dev/zero", O_RDONLY, 0).unwrap();
    w.mem.poke(MEM, &[1; 4]);
    assert_eq!(w.read_n(zero, 4), Ok(vec![0; 4]));
    let full = w.open("/dev/full", O_WRONLY, 0).unwrap();
    assert_eq!(w.write_str(full, b"x"), Err(Errno::ENOSPC));
    let ur = w.open("/dev/urandom", O_RDONLY, 0).unwrap();
    assert_eq!(w.read_n(ur, 3), Ok(vec![7; 3]));
    assert_eq!(w.sys(Sysno::lseek, [ur, 100, 0, 0, 0, 0]), Ok(0));
    let con = w.open("/dev/console", O_RDWR | O_NONBLOCK, 0).unwrap();
    assert_eq!(w.write_str(con, b"hi\n"), Ok(3));
    assert_eq!(*w.console.output.borrow(), b"hi\n");
    assert_eq!(w.read_n(con, 10), Err(Errno::EAGAIN));
    w.console.input.borrow_mut().extend_from_slice(b"ls\n");
    assert_eq!(w.read_n(con, 10), Ok(b"ls\n".to_vec()));
    assert_eq!(w.sys(Sysno::lseek, [con, 0, 0, 0, 0, 0]), Err(Errno::ESPIPE));
    assert_eq!(w.sys(Sysno::pread64, [con, MEM, 1, 0, 0, 0]), Err(Errno::ESPIPE));
    let st = w.stat("/dev/console", 0).unwrap();
    assert_eq!((u32_at(&st, 16), u64_at(&st, 32)), (0o20666, 0x501));
}

#[test]
fn terminal_ioctls() {
    let mut w = World::new();
    let con = w.open("/dev/console", O_RDWR, 0).unwrap();
    assert_eq!(w.sys(Sysno::ioctl, [con, 0x5401, MEM, 0, 0, 0]), Ok(0));
    assert_eq!(w.mem.peek(MEM, 36), Termios::DEFAULT.encode());
    let mut raw = Termios::DEFAULT;
    raw.lflag &= !0o12;
    let p = w.put(&raw.encode());
    assert_eq!(w.sys(Sysno::ioctl, [con, 0x5404, p, 0, 0, 0]), Ok(0));
    assert_eq!(*w.console.termios.borrow(), Some(raw));
    assert_eq!(w.sys(Sysno::ioctl, [con, 0x5413, MEM, 0, 0, 0]), Ok(0));
    assert_eq!(w.mem.peek(MEM, 8), [24, 0, 80, 0, 0, 0, 0, 0]);
    assert_eq!(w.sys(Sysno::ioctl, [con, 0x540f, MEM, 0, 0, 0]), Ok(0));
    assert_eq!(u32_at(&w.mem.peek(MEM, 4), 0), 1);
    assert_eq!(w.sys(Sysno::ioctl, [con, 0x5401, BAD, 0, 0, 0]), Err(Errno::EFAULT));
    assert_eq!(w.sys(Sysno::ioctl, [con, 0x1234, MEM, 0, 0, 0]), Err(Errno::ENOTTY));
    let f = w.open("/f", O_CREAT | O_RDWR, 0o644).unwrap();
    assert_eq!(w.sys(Sysno::ioctl, [f, 0x5401, MEM, 0, 0, 0]), Err(Errno::ENOTTY));
    assert_eq!(w.sys(Sysno::ioctl, [f, 0x5413, MEM, 0, 0, 0]), Err(Errno::ENOTTY));
    assert_eq!(w.sys(Sysno::ioctl, [42, 0x5401, MEM, 0, 0, 0]), Err(Errno::EBADF));
    w.write_str(f, b"12345").unwrap();
    w.sys(Sysno::lseek, [f, 1, 0, 0, 0, 0]).unwrap();
    assert_eq!(w.sys(Sysno::ioctl, [f, 0x541b, MEM, 0, 0, 0]), Ok(0));
    assert_eq!(u32_at(&w.mem.peek(MEM, 4), 0), 4);
    // FIOCLEX / FIONBIO work on any descriptor.
    assert_eq!(w.sys(Sysno::ioctl, [f, 0x5451, 0, 0, 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::fcntl, [f, 1, 0, 0, 0, 0]), Ok(1));
    let one = w.put(&1i32.to_le_bytes());
    assert_eq!(w.sys(Sysno::ioctl, [f, 0x5421, one, 0, 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::fcntl, [f, 3, 0, 0, 0, 0]), Ok(u64::from(O_RDWR | O_NONBLOCK)));
}

#[test]
fn fcntl_and_dup3() {
    let mut w = World::new();
    let fd = w.open("/dev/null", O_RDWR | O_CLOEXEC | O_APPEND, 0).unwrap();
    assert_eq!(w.sys(Sysno::fcntl, [fd, 1, 0, 0, 0, 0]), Ok(1));
    assert_eq!(w.sys(Sysno::fcntl, [fd, 2, 0, 0, 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::fcntl, [fd, 1, 0, 0, 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::fcntl, [fd, 3, 0, 0, 0, 0]), Ok(u64::from(O_RDWR | O_APPEND)));
    assert_eq!(w.sys(Sysno::fcntl, [fd, 4, u64::from(O_NONBLOCK | O_WRONLY), 0, 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::fcntl, [fd, 3, 0, 0, 0, 0]), Ok(u64::from(O_RDWR | O_NONBLOCK)));
    assert_eq!(w.sys(Sysno::fcntl, [fd, 0, 10, 0, 0, 0]), Ok(10));
    assert_eq!(w.sys(Sysno::fcntl, [fd, 1030, 10, 0, 0, 0]), Ok(11));
    assert_eq!(w.sys(Sysno::fcntl, [11, 1, 0, 0, 0, 0]), Ok(1));
    assert_eq!(w.sys(Sysno::fcntl, [fd, 0, 5000, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::fcntl, [fd, 999, 0, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::fcntl, [77, 1, 0, 0, 0, 0]), Err(Errno::EBADF));
    assert_eq!(w.sys(Sysno::dup3, [fd, 5, u64::from(O_CLOEXEC), 0, 0, 0]), Ok(5));
    assert_eq!(w.sys(Sysno::fcntl, [5, 1, 0, 0, 0, 0]), Ok(1));
    assert_eq!(w.sys(Sysno::dup3, [fd, fd, 0, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::dup3, [fd, 6, 1, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::dup3, [44, 6, 0, 0, 0, 0]), Err(Errno::EBADF));
    assert_eq!(w.sys(Sysno::dup3, [fd, 5000, 0, 0, 0, 0]), Err(Errno::EBADF));
    assert_eq!(w.sys(Sysno::dup, [fd, 0, 0, 0, 0, 0]), Ok(1));
}

#[test]
fn stat_fstat_statx() {
    let mut w = World::new();
    let fd = w.open("/s", O_CREAT | O_WRONLY, 0o640).unwrap();
    w.write_str(fd, b"12345").unwrap();
    assert_eq!(w.sys(Sysno::fstat, [fd, MEM, 0, 0, 0, 0]), Ok(0));
    let st = w.mem.peek(MEM, 128);
    assert_eq!(u32_at(&st, 16), 0o100640);
    assert_eq!(u32_at(&st, 20), 1);
    assert_eq!(u64_at(&st, 48), 5);
    assert_eq!(u64_at(&st, 0), TMPFS_DEV.encode());
    let empty = w.s("");
    assert_eq!(w.sys(Sysno::newfstatat, [fd, empty, MEM, 0x1000, 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::newfstatat, [fd, empty, MEM, 0, 0, 0]), Err(Errno::ENOENT));
    assert_eq!(w.stat("/s", 0x8000_0000), Err(Errno::EINVAL));
    assert_eq!(w.stat("/none", 0), Err(Errno::ENOENT));
    assert_eq!(w.stat("/s/", 0), Err(Errno::ENOTDIR));
    let p = w.s("/s");
    assert_eq!(w.sys(Sysno::newfstatat, [AT_FDCWD, p, BAD, 0, 0, 0]), Err(Errno::EFAULT));
    assert_eq!(w.sys(Sysno::fstat, [99, MEM, 0, 0, 0, 0]), Err(Errno::EBADF));
    assert_eq!(w.sys(Sysno::statx, [AT_FDCWD, p, 0, 0x7ff, MEM, 0]), Ok(0));
    let sx = w.mem.peek(MEM, 256);
    assert_eq!(u32_at(&sx, 0) & 0x7ff, 0x7ff);
    assert_eq!(u16::from_le_bytes([sx[28], sx[29]]), 0o100640);
    assert_eq!(u64_at(&sx, 40), 5);
    assert_eq!(w.sys(Sysno::statx, [AT_FDCWD, p, 0x6000, 0x7ff, MEM, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::statx, [AT_FDCWD, p, 0, 0x8000_0000, MEM, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::statfs, [p, MEM, 0, 0, 0, 0]), Ok(0));
    assert_eq!(u64_at(&w.mem.peek(MEM, 120), 0), 0x0102_1994);
    assert_eq!(w.sys(Sysno::fstatfs, [fd, MEM, 0, 0, 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::fstatfs, [fd, BAD, 0, 0, 0, 0]), Err(Errno::EFAULT));
}

fn dirents(bytes: &[u8]) -> Vec<(Vec<u8>, u8)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let reclen = usize::from(u16::from_le_bytes([bytes[at + 16], bytes[at + 17]]));
        let name = &bytes[at + 19..at + reclen];
        let end = name.iter().position(|&b| b == 0).unwrap();
        out.push((name[..end].to_vec(), bytes[at + 18]));
        at += reclen;
    }
    out
}

#[test]
fn getdents64_lists_and_resumes() {
    let mut w = World::new();
    w.simple(Sysno::mkdirat, "/d", 0o755, 0).unwrap();
    w.simple(Sysno::mkdirat, "/d/sub", 0o755, 0).unwrap();
    w.open("/d/file", O_CREAT | O_WRONLY, 0o644).unwrap();
    let t = w.s("file");
    let l = w.s("/d/link");
    w.sys(Sysno::symlinkat, [t, AT_FDCWD, l, 0, 0, 0]).unwrap();
    let fd = w.open("/d", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let n = w.sys(Sysno::getdents64, [fd, MEM, 4096, 0, 0, 0]).unwrap();
    let list = dirents(&w.mem.peek(MEM, usize::try_from(n).unwrap()));
    assert_eq!(list, vec![(b".".to_vec(), 4), (b"..".to_vec(), 4), (b"sub".to_vec(), 4), (b"file".to_vec(), 8), (b"link".to_vec(), 10)]);
    assert_eq!(w.sys(Sysno::getdents64, [fd, MEM, 4096, 0, 0, 0]), Ok(0));
    // Small buffers: one record at a time; too small for one is EINVAL.
    w.sys(Sysno::lseek, [fd, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(w.sys(Sysno::getdents64, [fd, MEM, 10, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::getdents64, [fd, MEM, 30, 0, 0, 0]), Ok(24));
    assert_eq!(w.sys(Sysno::getdents64, [fd, MEM, 30, 0, 0, 0]), Ok(24));
    let n = w.sys(Sysno::getdents64, [fd, MEM, 4096, 0, 0, 0]).unwrap();
    assert_eq!(dirents(&w.mem.peek(MEM, usize::try_from(n).unwrap())).len(), 3);
    assert_eq!(w.sys(Sysno::getdents64, [fd, BAD, 4096, 0, 0, 0]), Ok(0));
    w.sys(Sysno::lseek, [fd, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(w.sys(Sysno::getdents64, [fd, BAD, 4096, 0, 0, 0]), Err(Errno::EFAULT));
    let f = w.open("/d/file", O_RDONLY, 0).unwrap();
    assert_eq!(w.sys(Sysno::getdents64, [f, MEM, 4096, 0, 0, 0]), Err(Errno::ENOTDIR));
}

#[test]
fn cwd_chdir_fchdir_getcwd() {
    let mut w = World::new();
    assert_eq!(w.sys(Sysno::getcwd, [MEM, 100, 0, 0, 0, 0]), Ok(2));
    assert_eq!(w.mem.peek(MEM, 2), b"/\0");
    w.simple(Sysno::mkdirat, "/a", 0o755, 0).unwrap();
    w.simple(Sysno::mkdirat, "/a/b", 0o755, 0).unwrap();
    let p = w.s("/a/b");
    assert_eq!(w.sys(Sysno::chdir, [p, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::getcwd, [MEM, 100, 0, 0, 0, 0]), Ok(5));
    assert_eq!(w.mem.peek(MEM, 5), b"/a/b\0");
    assert_eq!(w.sys(Sysno::getcwd, [MEM, 4, 0, 0, 0, 0]), Err(Errno::ERANGE));
    assert_eq!(w.sys(Sysno::getcwd, [BAD, 100, 0, 0, 0, 0]), Err(Errno::EFAULT));
    // Relative paths start at the cwd.
    w.open("rel", O_CREAT | O_WRONLY, 0o644).unwrap();
    assert!(w.stat("/a/b/rel", 0).is_ok());
    let up = w.s("..");
    w.sys(Sysno::chdir, [up, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(w.sys(Sysno::getcwd, [MEM, 100, 0, 0, 0, 0]), Ok(3));
    let f = w.s("/a/b/rel");
    assert_eq!(w.sys(Sysno::chdir, [f, 0, 0, 0, 0, 0]), Err(Errno::ENOTDIR));
    let none = w.s("/zz");
    assert_eq!(w.sys(Sysno::chdir, [none, 0, 0, 0, 0, 0]), Err(Errno::ENOENT));
    let root = w.open("/", O_PATH, 0).unwrap();
    assert_eq!(w.sys(Sysno::fchdir, [root, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::getcwd, [MEM, 100, 0, 0, 0, 0]), Ok(2));
    let file = w.open("/a/b/rel", O_RDONLY, 0).unwrap();
    assert_eq!(w.sys(Sysno::fchdir, [file, 0, 0, 0, 0, 0]), Err(Errno::ENOTDIR));
    // A removed cwd.
    let b = w.s("/a/b");
    w.sys(Sysno::chdir, [b, 0, 0, 0, 0, 0]).unwrap();
    w.simple(Sysno::unlinkat, "/a/b/rel", 0, 0).unwrap();
    w.simple(Sysno::unlinkat, "/a/b", 0x200, 0).unwrap();
    assert_eq!(w.sys(Sysno::getcwd, [MEM, 100, 0, 0, 0, 0]), Err(Errno::ENOENT));
    assert_eq!(w.sys(Sysno::umask, [0o77, 0, 0, 0, 0, 0]), Ok(0o22));
    assert_eq!(w.sys(Sysno::umask, [0o1777, 0, 0, 0, 0, 0]), Ok(0o77));
}

#[test]
fn mkdir_unlink_rmdir() {
    let mut w = World::new();
    assert_eq!(w.simple(Sysno::mkdirat, "/m", 0o777, 0), Ok(0));
    assert_eq!(u32_at(&w.stat("/m", 0).unwrap(), 16), 0o40755);
    assert_eq!(w.simple(Sysno::mkdirat, "/m", 0o777, 0), Err(Errno::EEXIST));
    assert_eq!(w.simple(Sysno::mkdirat, "/m/", 0o777, 0), Err(Errno::EEXIST));
    assert_eq!(w.simple(Sysno::mkdirat, "/n/", 0o777, 0), Ok(0));
    assert_eq!(w.simple(Sysno::mkdirat, "/", 0o777, 0), Err(Errno::EEXIST));
    assert_eq!(w.simple(Sysno::mkdirat, "/x/y", 0o777, 0), Err(Errno::ENOENT));
    w.open("/m/f", O_CREAT | O_WRONLY, 0o644).unwrap();
    assert_eq!(w.simple(Sysno::unlinkat, "/m", 0, 0), Err(Errno::EISDIR));
    assert_eq!(w.simple(Sysno::unlinkat, "/m", 0x200, 0), Err(Errno::ENOTEMPTY));
    assert_eq!(w.simple(Sysno::unlinkat, "/m/f", 0x200, 0), Err(Errno::ENOTDIR));
    assert_eq!(w.simple(Sysno::unlinkat, "/m/f/", 0, 0), Err(Errno::ENOTDIR));
    assert_eq!(w.simple(Sysno::unlinkat, "/m/.", 0x200, 0), Err(Errno::EINVAL));
    assert_eq!(w.simple(Sysno::unlinkat, "/m/..", 0x200, 0), Err(Errno::ENOTEMPTY));
    assert_eq!(w.simple(Sysno::unlinkat, "/", 0x200, 0), Err(Errno::EBUSY));
    assert_eq!(w.simple(Sysno::unlinkat, "/m/f", 0x1, 0), Err(Errno::EINVAL));
    assert_eq!(w.simple(Sysno::unlinkat, "/m/f", 0, 0), Ok(0));
    assert_eq!(w.simple(Sysno::unlinkat, "/m/f", 0, 0), Err(Errno::ENOENT));
    assert_eq!(w.simple(Sysno::unlinkat, "/m", 0x200, 0), Ok(0));
    assert_eq!(w.stat("/m", 0), Err(Errno::ENOENT));
    // An open file outlives its name.
    let fd = w.open("/gone", O_CREAT | O_RDWR, 0o644).unwrap();
    w.simple(Sysno::unlinkat, "/gone", 0, 0).unwrap();
    assert_eq!(w.write_str(fd, b"still"), Ok(5));
    assert_eq!(w.sys(Sysno::fstat, [fd, MEM, 0, 0, 0, 0]), Ok(0));
    assert_eq!(u32_at(&w.mem.peek(MEM, 128), 20), 0, "nlink");
}

#[test]
fn rename_and_link() {
    let mut w = World::new();
    w.open("/a", O_CREAT | O_WRONLY, 0o644).unwrap();
    w.simple(Sysno::mkdirat, "/d", 0o755, 0).unwrap();
    let (a, b, d, dot) = (w.s("/a"), w.s("/b"), w.s("/d"), w.s("/d/."));
    assert_eq!(w.sys(Sysno::renameat, [AT_FDCWD, a, AT_FDCWD, b, 0, 0]), Ok(0));
    assert_eq!(w.stat("/a", 0), Err(Errno::ENOENT));
    assert_eq!(w.sys(Sysno::renameat2, [AT_FDCWD, b, AT_FDCWD, d, 0, 0]), Err(Errno::EISDIR));
    assert_eq!(w.sys(Sysno::renameat2, [AT_FDCWD, dot, AT_FDCWD, a, 0, 0]), Err(Errno::EBUSY));
    assert_eq!(w.sys(Sysno::renameat2, [AT_FDCWD, b, AT_FDCWD, a, 8, 0]), Err(Errno::EINVAL));
    let bslash = w.s("/b/");
    assert_eq!(w.sys(Sysno::renameat2, [AT_FDCWD, bslash, AT_FDCWD, a, 0, 0]), Err(Errno::ENOTDIR));
    w.open("/c", O_CREAT | O_WRONLY, 0o644).unwrap();
    let c = w.s("/c");
    assert_eq!(w.sys(Sysno::renameat2, [AT_FDCWD, b, AT_FDCWD, c, 1, 0]), Err(Errno::EEXIST));
    let ino_b = u64_at(&w.stat("/b", 0).unwrap(), 8);
    assert_eq!(w.sys(Sysno::renameat2, [AT_FDCWD, b, AT_FDCWD, c, 2, 0]), Ok(0));
    assert_eq!(u64_at(&w.stat("/c", 0).unwrap(), 8), ino_b);
    // Hard links.
    let l = w.s("/d/hard");
    assert_eq!(w.sys(Sysno::linkat, [AT_FDCWD, c, AT_FDCWD, l, 0, 0]), Ok(0));
    let st = w.stat("/d/hard", 0).unwrap();
    assert_eq!((u64_at(&st, 8), u32_at(&st, 20)), (ino_b, 2));
    assert_eq!(w.sys(Sysno::linkat, [AT_FDCWD, d, AT_FDCWD, a, 0, 0]), Err(Errno::EPERM));
    assert_eq!(w.sys(Sysno::linkat, [AT_FDCWD, c, AT_FDCWD, l, 0, 0]), Err(Errno::EEXIST));
    assert_eq!(w.sys(Sysno::linkat, [AT_FDCWD, c, AT_FDCWD, a, 0x1, 0]), Err(Errno::EINVAL));
    let s = w.s("/sym");
    w.sys(Sysno::symlinkat, [c, AT_FDCWD, s, 0, 0, 0]).unwrap();
    let l2 = w.s("/l2");
    let l3 = w.s("/l3");
    w.sys(Sysno::linkat, [AT_FDCWD, s, AT_FDCWD, l2, 0, 0]).unwrap();
    w.sys(Sysno::linkat, [AT_FDCWD, s, AT_FDCWD, l3, 0x400, 0]).unwrap();
    assert_eq!(u32_at(&w.stat("/l2", 0x100).unwrap(), 16) & 0o170000, 0o120000);
    assert_eq!(u64_at(&w.stat("/l3", 0x100).unwrap(), 8), ino_b);
}

#[test]
fn access_chmod_chown_utimens() {
    let mut w = World::new();
    let fd = w.open("/f", O_CREAT | O_WRONLY, 0o644).unwrap();
    assert_eq!(w.simple(Sysno::faccessat, "/f", 0, 0), Ok(0));
    assert_eq!(w.simple(Sysno::faccessat, "/f", 6, 0), Ok(0));
    assert_eq!(w.simple(Sysno::faccessat, "/f", 1, 0), Err(Errno::EACCES));
    assert_eq!(w.simple(Sysno::faccessat, "/f", 8, 0), Err(Errno::EINVAL));
    assert_eq!(w.simple(Sysno::faccessat, "/none", 0, 0), Err(Errno::ENOENT));
    assert_eq!(w.simple(Sysno::faccessat2, "/f", 0, 0x4), Err(Errno::EINVAL));
    assert_eq!(w.simple(Sysno::fchmodat, "/f", 0o755, 0), Ok(0));
    assert_eq!(w.simple(Sysno::faccessat2, "/f", 1, 0x200), Ok(0));
    assert_eq!(w.sys(Sysno::fchmod, [fd, 0o600, 0, 0, 0, 0]), Ok(0));
    assert_eq!(u32_at(&w.stat("/f", 0).unwrap(), 16), 0o100600);
    let f = w.s("/f");
    assert_eq!(w.sys(Sysno::fchownat, [AT_FDCWD, f, 1000, u64::from(u32::MAX), 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::fchown, [fd, u64::from(u32::MAX), 50, 0, 0, 0]), Ok(0));
    let st = w.stat("/f", 0).unwrap();
    assert_eq!((u32_at(&st, 24), u32_at(&st, 28)), (1000, 50));
    assert_eq!(w.sys(Sysno::fchownat, [AT_FDCWD, f, 1, 1, 0x2, 0]), Err(Errno::EINVAL));
    // As uid 1000 (the owner now), root-only changes fail.
    w.cred = Credentials::user(1000, 1000);
    assert_eq!(w.sys(Sysno::fchownat, [AT_FDCWD, f, 0, u64::from(u32::MAX), 0, 0]), Err(Errno::EPERM));
    assert_eq!(w.simple(Sysno::faccessat, "/f", 4, 0), Ok(0));
    w.cred = Credentials::user(2000, 2000);
    assert_eq!(w.simple(Sysno::faccessat, "/f", 4, 0), Err(Errno::EACCES));
    assert_eq!(w.simple(Sysno::fchmodat, "/f", 0o777, 0), Err(Errno::EPERM));
    assert_eq!(w.open("/f", O_RDONLY, 0), Err(Errno::EACCES));
    assert_eq!(w.open("/new", O_CREAT | O_WRONLY, 0o644), Err(Errno::EACCES));
    w.cred = Credentials::root();
    // utimensat: explicit, omit, now, and bad nanoseconds.
    let times = w.put(&[5i64.to_le_bytes(), 6u64.to_le_bytes(), 0i64.to_le_bytes(), ((1u64 << 30) - 2).to_le_bytes()].concat());
    assert_eq!(w.sys(Sysno::utimensat, [AT_FDCWD, f, times, 0, 0, 0]), Ok(0));
    let st = w.stat("/f", 0).unwrap();
    assert_eq!((u64_at(&st, 72), u64_at(&st, 80)), (5, 6));
    assert_ne!(u64_at(&st, 88), 0);
    let bad = w.put(&[0i64.to_le_bytes(), 2_000_000_000u64.to_le_bytes(), 0i64.to_le_bytes(), 0u64.to_le_bytes()].concat());
    assert_eq!(w.sys(Sysno::utimensat, [AT_FDCWD, f, bad, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::utimensat, [AT_FDCWD, f, BAD, 0, 0, 0]), Err(Errno::EFAULT));
    assert_eq!(w.sys(Sysno::utimensat, [fd, 0, 0, 0, 0, 0]), Ok(0));
    assert!(u64_at(&w.stat("/f", 0).unwrap(), 72) > 5);
    assert_eq!(w.sys(Sysno::utimensat, [AT_FDCWD, f, 0, 0x1, 0, 0]), Err(Errno::EINVAL));
}

#[test]
fn truncate_fallocate_sync() {
    let mut w = World::new();
    let fd = w.open("/t", O_CREAT | O_RDWR, 0o644).unwrap();
    w.write_str(fd, b"abcdef").unwrap();
    assert_eq!(w.sys(Sysno::ftruncate, [fd, 3, 0, 0, 0, 0]), Ok(0));
    assert_eq!(u64_at(&w.stat("/t", 0).unwrap(), 48), 3);
    assert_eq!(w.sys(Sysno::ftruncate, [fd, u64::MAX, 0, 0, 0, 0]), Err(Errno::EINVAL));
    let ro = w.open("/t", O_RDONLY, 0).unwrap();
    assert_eq!(w.sys(Sysno::ftruncate, [ro, 0, 0, 0, 0, 0]), Err(Errno::EINVAL));
    let t = w.s("/t");
    assert_eq!(w.sys(Sysno::truncate, [t, 10, 0, 0, 0, 0]), Ok(0));
    assert_eq!(u64_at(&w.stat("/t", 0).unwrap(), 48), 10);
    let d = w.s("/dev");
    assert_eq!(w.sys(Sysno::truncate, [d, 0, 0, 0, 0, 0]), Err(Errno::EISDIR));
    assert_eq!(w.sys(Sysno::fallocate, [fd, 0, 0, 8192, 0, 0]), Ok(0));
    let st = w.stat("/t", 0).unwrap();
    assert_eq!((u64_at(&st, 48), u64_at(&st, 64)), (8192, 16));
    assert_eq!(w.sys(Sysno::fallocate, [fd, 1, 8192, 4096, 0, 0]), Ok(0));
    assert_eq!(u64_at(&w.stat("/t", 0).unwrap(), 48), 8192);
    assert_eq!(w.sys(Sysno::fallocate, [fd, 3, 0, 4096, 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::fallocate, [fd, 2, 0, 4096, 0, 0]), Err(Errno::EOPNOTSUPP));
    assert_eq!(w.sys(Sysno::fallocate, [fd, 0, 0, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::fallocate, [ro, 0, 0, 1, 0, 0]), Err(Errno::EBADF));
    assert_eq!(w.sys(Sysno::fsync, [fd, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::fdatasync, [fd, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::fsync, [55, 0, 0, 0, 0, 0]), Err(Errno::EBADF));
    assert_eq!(w.sys(Sysno::sync, [0; 6]), Ok(0));
}

#[test]
fn sendfile_copies() {
    let mut w = World::new();
    let src = w.open("/src", O_CREAT | O_RDWR, 0o644).unwrap();
    w.write_str(src, b"0123456789").unwrap();
    w.sys(Sysno::lseek, [src, 2, 0, 0, 0, 0]).unwrap();
    let dst = w.open("/dst", O_CREAT | O_WRONLY, 0o644).unwrap();
    assert_eq!(w.sys(Sysno::sendfile, [dst, src, 0, 5, 0, 0]), Ok(5));
    assert_eq!(w.sys(Sysno::lseek, [src, 0, 1, 0, 0, 0]), Ok(7));
    let off = w.put(&1u64.to_le_bytes());
    assert_eq!(w.sys(Sysno::sendfile, [dst, src, off, 100, 0, 0]), Ok(9));
    assert_eq!(u64_at(&w.mem.peek(off, 8), 0), 10);
    assert_eq!(w.sys(Sysno::lseek, [src, 0, 1, 0, 0, 0]), Ok(7), "explicit offset leaves the file's");
    let r = w.open("/dst", O_RDONLY, 0).unwrap();
    assert_eq!(w.read_n(r, 100), Ok(b"23456123456789".to_vec()));
    let con = w.open("/dev/console", O_RDWR, 0).unwrap();
    assert_eq!(w.sys(Sysno::sendfile, [con, r, 0, 100, 0, 0]), Ok(0));
    w.sys(Sysno::lseek, [r, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(w.sys(Sysno::sendfile, [con, r, 0, 3, 0, 0]), Ok(3));
    assert_eq!(*w.console.output.borrow(), b"234");
    assert_eq!(w.sys(Sysno::sendfile, [r, con, 0, 3, 0, 0]), Err(Errno::EBADF));
    assert_eq!(w.sys(Sysno::sendfile, [src, con, 0, 3, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::sendfile, [dst, src, BAD, 3, 0, 0]), Err(Errno::EFAULT));
}

#[test]
fn fork_shares_descriptions_across_tables() {
    let mut w = World::new();
    let fd = w.open("/f", O_CREAT | O_RDWR | O_CLOEXEC, 0o644).unwrap();
    let mut child = w.fds.fork();
    w.write_str(fd, b"abc").unwrap();
    let shared = child.get(args::Fd::new(0).unwrap()).unwrap();
    assert_eq!(*shared.position(), 3);
    assert_eq!(child.close_on_exec().len(), 1);
    assert!(Arc::ptr_eq(&shared, &w.fds.get(args::Fd::new(0).unwrap()).unwrap()));
}

#[test]
fn extended_attributes_are_absent() {
    let mut w = World::new();
    let fd = w.open("/x", O_CREAT | O_WRONLY, 0o644).unwrap();
    let (file, name, missing) = (w.s("/x"), w.s("user.test"), w.s("/missing"));
    assert_eq!(w.sys(Sysno::getxattr, [file, name, 0, 0, 0, 0]), Err(Errno::ENODATA));
    assert_eq!(w.sys(Sysno::lgetxattr, [missing, name, 0, 0, 0, 0]), Err(Errno::ENOENT));
    assert_eq!(w.sys(Sysno::fgetxattr, [fd, name, 0, 0, 0, 0]), Err(Errno::ENODATA));
    assert_eq!(w.sys(Sysno::fgetxattr, [99, name, 0, 0, 0, 0]), Err(Errno::EBADF));
    assert_eq!(w.sys(Sysno::listxattr, [file, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(w.sys(Sysno::setxattr, [file, name, 0, 0, 0, 0]), Err(Errno::EOPNOTSUPP));
    let empty = w.s("");
    assert_eq!(w.sys(Sysno::getxattr, [file, empty, 0, 0, 0, 0]), Err(Errno::ERANGE));
}

fn proc_world() -> World {
    let w = World::new();
    crate::procfs::tests::mount_all(&w.vfs);
    w
}

#[test]
fn proc_files_through_syscalls() {
    let mut w = proc_world();
    let fd = w.open("/proc/self/stat", O_RDONLY, 0).unwrap();
    let first = w.read_n(fd, 4).unwrap();
    assert_eq!(first, b"42 (");
    let rest = w.read_n(fd, 4096).unwrap();
    assert!(rest.starts_with(b"redis-server-wi) R 1 "));
    assert_eq!(w.read_n(fd, 10).unwrap(), b"");
    // pread reads the snapshot at any offset; SEEK_END is refused as seq_lseek does.
    let got = w.sys(Sysno::pread64, [fd, MEM, 2, 1, 0, 0]).unwrap();
    assert_eq!(w.mem.peek(MEM, usize::try_from(got).unwrap()), b"2 ");
    assert_eq!(w.sys(Sysno::lseek, [fd, 0, 2, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(w.sys(Sysno::lseek, [fd, 0, 0, 0, 0, 0]), Ok(0));
    assert_eq!(w.read_n(fd, 2).unwrap(), b"42");
    // Writes: root may open, the write fails; others cannot open.
    let wfd = w.open("/proc/self/comm", O_WRONLY, 0).unwrap();
    assert_eq!(w.write_str(wfd, b"x"), Err(Errno::EINVAL));
    assert_eq!(w.open("/proc/new", O_CREAT | O_WRONLY, 0o644), Err(Errno::EACCES));
    assert_eq!(w.simple(Sysno::mkdirat, "/proc/d", 0o755, 0), Err(Errno::EPERM));
    w.cred = Credentials::user(1000, 1000);
    assert_eq!(w.open("/proc/cpuinfo", O_WRONLY, 0), Err(Errno::EACCES));
    assert!(w.open("/proc/cpuinfo", O_RDONLY, 0).is_ok());
    assert_eq!(w.open("/proc/7/stat", O_RDONLY, 0), Err(Errno::ENOENT));
}

#[test]
fn proc_stat_readlink_getdents_and_cwd() {
    let mut w = proc_world();
    let st = w.stat("/proc/cpuinfo", 0).unwrap();
    assert_eq!(u64_at(&st, 0), crate::procfs::PROC_DEV.encode());
    assert_eq!(u32_at(&st, 16), 0o100444);
    assert_eq!(u64_at(&st, 48), 0);
    let st = w.stat("/sys/devices/system/cpu", 0).unwrap();
    assert_eq!(u64_at(&st, 0), crate::procfs::SYSFS_DEV.encode());
    assert_eq!(u32_at(&st, 16), 0o040755);
    let st = w.stat("/proc/self", 0x100).unwrap();
    assert_eq!(u32_at(&st, 16), 0o120777);
    let st = w.stat("/tmp", 0).unwrap();
    assert_eq!(u64_at(&st, 0), TMPFS_DEV.encode());
    // readlinkat on /proc/self and an fd link.
    let p = w.s("/proc/self/fd/1");
    let n = w.sys(Sysno::readlinkat, [AT_FDCWD, p, MEM, 64, 0, 0]).unwrap();
    assert_eq!(w.mem.peek(MEM, usize::try_from(n).unwrap()), b"pipe:[77]");
    let p = w.s("/proc/self");
    let n = w.sys(Sysno::readlinkat, [AT_FDCWD, p, MEM, 64, 0, 0]).unwrap();
    assert_eq!(w.mem.peek(MEM, usize::try_from(n).unwrap()), b"42");
    // getdents64 of /proc/self/fd.
    let dir = w.open("/proc/self/fd", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let n = w.sys(Sysno::getdents64, [dir, MEM, 4096, 0, 0, 0]).unwrap();
    let buf = w.mem.peek(MEM, usize::try_from(n).unwrap());
    let mut names = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let reclen = usize::from(u16::from_le_bytes([buf[at + 16], buf[at + 17]]));
        let name: Vec<u8> = buf[at + 19..at + reclen].iter().copied().take_while(|&b| b != 0).collect();
        names.push((name, buf[at + 18]));
        at += reclen;
    }
    assert_eq!(names, [(b".".to_vec(), 4), (b"..".to_vec(), 4), (b"0".to_vec(), 10), (b"1".to_vec(), 10), (b"5".to_vec(), 10)]);
    assert_eq!(w.sys(Sysno::getdents64, [dir, MEM, 4096, 0, 0, 0]), Ok(0));
    // chdir into /proc, getcwd, and `..` back out.
    let p = w.s("/proc/self/fd");
    w.sys(Sysno::chdir, [p, 0, 0, 0, 0, 0]).unwrap();
    let n = w.sys(Sysno::getcwd, [MEM, 256, 0, 0, 0, 0]).unwrap();
    assert_eq!(w.mem.peek(MEM, usize::try_from(n).unwrap()), b"/proc/42/fd\0");
    let fd = w.open("../../../tmp/x", O_CREAT | O_WRONLY, 0o644).unwrap();
    assert_eq!(w.write_str(fd, b"ok"), Ok(2));
    // statfs reports procfs's magic.
    let p = w.s("/proc");
    w.sys(Sysno::statfs, [p, MEM, 0, 0, 0, 0]).unwrap();
    assert_eq!(u64_at(&w.mem.peek(MEM, 8), 0), crate::procfs::PROC_SUPER_MAGIC);
}
