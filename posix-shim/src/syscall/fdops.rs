//! Descriptor operations: dup, dup3, fcntl, ioctl.
//!
//! `fcntl` implements `F_DUPFD`, `F_DUPFD_CLOEXEC`, `F_GETFD`, `F_SETFD`,
//! `F_GETFL` and `F_SETFL`; other commands (record locks, owners, leases,
//! pipe sizes) give `EINVAL` until their objects exist. `ioctl` handles
//! `FIOCLEX`, `FIONCLEX`, `FIONBIO` and `FIONREAD` itself, passes the
//! terminal requests to the device's driver, and gives `ENOTTY` otherwise.

use super::args::{Fd, OpenFlags};
use super::FsContext;
use crate::Errno;
use crate::device::{SetWhen, Termios, TtyReply, TtyRequest, Winsize};
use crate::fd::FileObject;
use crate::user::{UserAddr, UserMemory, read_array};
use crate::vfs::FileType;

/// `F_DUPFD`.
pub const F_DUPFD: u32 = 0;
/// `F_GETFD`.
pub const F_GETFD: u32 = 1;
/// `F_SETFD`.
pub const F_SETFD: u32 = 2;
/// `F_GETFL`.
pub const F_GETFL: u32 = 3;
/// `F_SETFL`.
pub const F_SETFL: u32 = 4;
/// `F_DUPFD_CLOEXEC`.
pub const F_DUPFD_CLOEXEC: u32 = 1030;
/// `FD_CLOEXEC`.
pub const FD_CLOEXEC: u64 = 1;

/// `TCGETS`.
pub const TCGETS: u32 = 0x5401;
/// `TCSETS`.
pub const TCSETS: u32 = 0x5402;
/// `TCSETSW`.
pub const TCSETSW: u32 = 0x5403;
/// `TCSETSF`.
pub const TCSETSF: u32 = 0x5404;
/// `TIOCGPGRP`.
pub const TIOCGPGRP: u32 = 0x540f;
/// `TIOCSPGRP`.
pub const TIOCSPGRP: u32 = 0x5410;
/// `TIOCSCTTY`: make the terminal the caller's controlling terminal.
pub const TIOCSCTTY: u32 = 0x540e;
/// `TIOCNOTTY`: give up the controlling terminal.
pub const TIOCNOTTY: u32 = 0x5422;
/// `TIOCGWINSZ`.
pub const TIOCGWINSZ: u32 = 0x5413;
/// `TIOCSWINSZ`.
pub const TIOCSWINSZ: u32 = 0x5414;
/// `FIONREAD`.
pub const FIONREAD: u32 = 0x541b;
/// `FIONBIO`.
pub const FIONBIO: u32 = 0x5421;
/// `FIONCLEX`.
pub const FIONCLEX: u32 = 0x5450;
/// `FIOCLEX`.
pub const FIOCLEX: u32 = 0x5451;

/// `dup(fd)`.
pub fn dup(ctx: &mut FsContext<'_>, fd: Fd) -> Result<u64, Errno> {
    ctx.fds.dup(fd).map(Fd::as_return)
}

/// `dup3(old, new, flags)`: `flags` is 0 or `O_CLOEXEC`.
pub fn dup3(ctx: &mut FsContext<'_>, old: Fd, new: Fd, flags: OpenFlags) -> Result<u64, Errno> {
    if flags.bits() & !OpenFlags::CLOEXEC.bits() != 0 {
        return Err(Errno::EINVAL);
    }
    ctx.fds.dup3(old, new, flags.contains(OpenFlags::CLOEXEC))?;
    Ok(new.as_return())
}

/// `fcntl(fd, cmd, arg)`.
pub fn fcntl(ctx: &mut FsContext<'_>, fd: Fd, cmd: u32, arg: u64) -> Result<u64, Errno> {
    let min = || usize::try_from(arg & 0xffff_ffff).map_err(|_| Errno::EINVAL);
    match cmd {
        F_DUPFD => ctx.fds.dup_from(fd, min()?, false).map(Fd::as_return),
        F_DUPFD_CLOEXEC => ctx.fds.dup_from(fd, min()?, true).map(Fd::as_return),
        F_GETFD => Ok(u64::from(ctx.fds.entry(fd)?.cloexec)),
        F_SETFD => ctx.fds.set_cloexec(fd, arg & FD_CLOEXEC != 0).map(|_| 0),
        F_GETFL => Ok(u64::from(ctx.fds.get(fd)?.flags().bits())),
        F_SETFL => {
            let file = ctx.fds.get_for_io(fd)?;
            file.set_status_flags(OpenFlags::from_bits_retain(u32::try_from(arg & 0xffff_ffff).unwrap_or(0)));
            Ok(0)
        }
        F_GETPIPE_SZ | F_SETPIPE_SZ => match ctx.fds.get(fd)?.object() {
            FileObject::Pipe(_, end) if cmd == F_GETPIPE_SZ => Ok(end.capacity() as u64),
            FileObject::Pipe(_, end) => end.set_capacity(usize::try_from(arg & 0xffff_ffff).unwrap_or(usize::MAX)).map(|n| n as u64),
            _ => Err(Errno::EBADF),
        },
        _ => {
            ctx.fds.get(fd)?;
            Err(Errno::EINVAL)
        }
    }
}

/// F_SETPIPE_SZ.
const F_SETPIPE_SZ: u32 = 1031;
/// F_GETPIPE_SZ.
const F_GETPIPE_SZ: u32 = 1032;

fn read_i32(mem: &dyn UserMemory, addr: UserAddr) -> Result<i32, Errno> {
    read_array::<4, _>(mem, addr).map(i32::from_le_bytes)
}

/// `ioctl(fd, request, arg)`.
pub fn ioctl(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, fd: Fd, request: u32, arg: UserAddr) -> Result<u64, Errno> {
    let file = ctx.fds.get_for_io(fd)?;
    match request {
        FIOCLEX => return ctx.fds.set_cloexec(fd, true).map(|_| 0),
        FIONCLEX => return ctx.fds.set_cloexec(fd, false).map(|_| 0),
        FIONBIO => {
            let on = read_i32(mem, arg)? != 0;
            let flags = file.flags().difference(OpenFlags::NONBLOCK);
            file.set_status_flags(if on { flags | OpenFlags::NONBLOCK } else { flags });
            return Ok(0);
        }
        _ => {}
    }
    let dev = match file.object() {
        FileObject::Device(_, dev) => *dev,
        FileObject::Pipe(_, end) if request == FIONREAD => {
            let avail = i32::try_from(end.available()).unwrap_or(i32::MAX);
            return mem.write_bytes(arg, &avail.to_le_bytes()).map(|_| 0);
        }
        FileObject::Inode(inode) if request == FIONREAD && inode.file_type() == FileType::Regular => {
            let avail = inode.size().saturating_sub(*file.position());
            let avail = i32::try_from(avail).unwrap_or(i32::MAX);
            return mem.write_bytes(arg, &avail.to_le_bytes()).map(|_| 0);
        }
        _ => return Err(Errno::ENOTTY),
    };
    let set_termios = |when| -> Result<TtyRequest, Errno> {
        let raw = read_array::<{ Termios::SIZE }, _>(mem, arg)?;
        Ok(TtyRequest::SetTermios(Termios::decode(&raw), when))
    };
    let req = match request {
        TCGETS => TtyRequest::GetTermios,
        TCSETS => set_termios(SetWhen::Now)?,
        TCSETSW => set_termios(SetWhen::Drain)?,
        TCSETSF => set_termios(SetWhen::Flush)?,
        TIOCGWINSZ => TtyRequest::GetWinsize,
        TIOCSWINSZ => TtyRequest::SetWinsize(Winsize::decode(&read_array::<{ Winsize::SIZE }, _>(mem, arg)?)),
        TIOCGPGRP => TtyRequest::GetForegroundGroup,
        TIOCSPGRP => TtyRequest::SetForegroundGroup(read_i32(mem, arg)?),
        _ => return Err(Errno::ENOTTY),
    };
    match ctx.devices.tty_request(dev, req)? {
        TtyReply::Done => Ok(0),
        TtyReply::Termios(t) => mem.write_bytes(arg, &t.encode()).map(|_| 0),
        TtyReply::Winsize(w) => mem.write_bytes(arg, &w.encode()).map(|_| 0),
        TtyReply::Group(g) => mem.write_bytes(arg, &g.to_le_bytes()).map(|_| 0),
    }
}
