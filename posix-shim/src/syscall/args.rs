//! Typed syscall arguments: the six saved argument registers and the
//! decoders handlers use, so that no handler reads a raw register.
//!
//! Flag values are Linux's for arm64: `fcntl.h` from asm-generic except
//! `O_DIRECTORY`, `O_NOFOLLOW`, `O_DIRECT` and `O_LARGEFILE`, which arm64
//! overrides (`arch/arm64/include/uapi/asm/fcntl.h`, as 32-bit Arm does).

use bitflags::bitflags;

use crate::Errno;
use crate::user::UserAddr;

/// The argument registers x0..x5 of a syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyscallArgs {
    /// x0..x5 as the μprocess left them.
    pub regs: [u64; 6],
}

/// The low 32 bits of a register as a C `int`: Linux ignores the upper half
/// of `int` arguments.
fn low_i32(reg: u64) -> i32 {
    i32::from_le_bytes(low_u32(reg).to_le_bytes())
}

/// The low 32 bits of a register as a C `unsigned int`.
fn low_u32(reg: u64) -> u32 {
    let b = reg.to_le_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl SyscallArgs {
    /// The arguments `regs`.
    pub const fn new(regs: [u64; 6]) -> SyscallArgs {
        SyscallArgs { regs }
    }

    /// Argument `i` as a full 64-bit value (`size_t`, `unsigned long`).
    pub fn u64(&self, i: usize) -> u64 {
        self.regs[i]
    }

    /// Argument `i` as a signed 64-bit value (`off_t`, `loff_t`, `ssize_t`).
    pub fn i64(&self, i: usize) -> i64 {
        i64::from_le_bytes(self.regs[i].to_le_bytes())
    }

    /// Argument `i` as a C `int`.
    pub fn i32(&self, i: usize) -> i32 {
        low_i32(self.regs[i])
    }

    /// Argument `i` as a C `unsigned int`.
    pub fn u32(&self, i: usize) -> u32 {
        low_u32(self.regs[i])
    }

    /// Argument `i` as a user address.
    pub fn addr(&self, i: usize) -> UserAddr {
        UserAddr::new(self.regs[i])
    }

    /// Argument `i` as a file descriptor; `EBADF` if negative.
    pub fn fd(&self, i: usize) -> Result<Fd, Errno> {
        Fd::new(self.i32(i))
    }

    /// Argument `i` as the directory of an `*at` call.
    pub fn dirfd(&self, i: usize) -> DirFd {
        DirFd::from_raw(self.i32(i))
    }

    /// Argument `i` as `open` flags (unknown bits kept; Linux ignores them).
    pub fn open_flags(&self, i: usize) -> OpenFlags {
        OpenFlags::from_bits_retain(self.u32(i))
    }

    /// Argument `i` as `AT_*` flags (unknown bits kept for the handler to reject).
    pub fn at_flags(&self, i: usize) -> AtFlags {
        AtFlags::from_bits_retain(self.u32(i))
    }

    /// Argument `i` as a `mode_t`.
    pub fn mode(&self, i: usize) -> Mode {
        Mode(self.u32(i))
    }
}

/// A file descriptor number, known not to be negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fd(i32);

impl Fd {
    /// `fd`, or `EBADF` if it is negative.
    pub const fn new(fd: i32) -> Result<Fd, Errno> {
        if fd < 0 { Err(Errno::EBADF) } else { Ok(Fd(fd)) }
    }

    /// The number.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// The number as a table index.
    pub fn index(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }

    /// The fd at table index `index` (`EMFILE` past `i32::MAX`).
    pub fn from_index(index: usize) -> Result<Fd, Errno> {
        i32::try_from(index).map(Fd).map_err(|_| Errno::EMFILE)
    }

    /// The value a syscall returns for this fd.
    pub fn as_return(self) -> u64 {
        u64::from(self.0.unsigned_abs())
    }
}

/// `AT_FDCWD`.
pub const AT_FDCWD: i32 = -100;

/// The directory argument of an `*at` call. It is only looked at for relative
/// paths, so a bad value is kept (and gives `EBADF` then) rather than refused
/// at decode time, as Linux does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirFd {
    /// `AT_FDCWD`: the current working directory.
    Cwd,
    /// A descriptor, or a negative number other than `AT_FDCWD` (`EBADF` on use).
    Fd(i32),
}

impl DirFd {
    /// Decodes the `int` argument.
    pub const fn from_raw(raw: i32) -> DirFd {
        if raw == AT_FDCWD { DirFd::Cwd } else { DirFd::Fd(raw) }
    }
}

bitflags! {
    /// `open` flags (`O_*`), arm64 values.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct OpenFlags: u32 {
        /// `O_WRONLY`.
        const WRONLY = 0o1;
        /// `O_RDWR`.
        const RDWR = 0o2;
        /// `O_CREAT`.
        const CREAT = 0o100;
        /// `O_EXCL`.
        const EXCL = 0o200;
        /// `O_NOCTTY`.
        const NOCTTY = 0o400;
        /// `O_TRUNC`.
        const TRUNC = 0o1000;
        /// `O_APPEND`.
        const APPEND = 0o2000;
        /// `O_NONBLOCK`.
        const NONBLOCK = 0o4000;
        /// `O_DSYNC`.
        const DSYNC = 0o10000;
        /// `FASYNC` (`O_ASYNC`).
        const ASYNC = 0o20000;
        /// `O_DIRECTORY` (arm64).
        const DIRECTORY = 0o40000;
        /// `O_NOFOLLOW` (arm64).
        const NOFOLLOW = 0o100000;
        /// `O_DIRECT` (arm64).
        const DIRECT = 0o200000;
        /// `O_LARGEFILE` (arm64; implied on 64-bit).
        const LARGEFILE = 0o400000;
        /// `O_NOATIME`.
        const NOATIME = 0o1000000;
        /// `O_CLOEXEC`.
        const CLOEXEC = 0o2000000;
        /// `__O_SYNC` (with `O_DSYNC` it makes `O_SYNC`).
        const SYNC = 0o4000000;
        /// `O_PATH`.
        const PATH = 0o10000000;
        /// `__O_TMPFILE` (with `O_DIRECTORY` it makes `O_TMPFILE`).
        const TMPFILE = 0o20000000;
    }
}

/// The access mode of an open file (`flags & O_ACCMODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessMode {
    /// `O_RDONLY`.
    ReadOnly,
    /// `O_WRONLY`.
    WriteOnly,
    /// `O_RDWR`.
    ReadWrite,
}

impl OpenFlags {
    /// `O_ACCMODE`.
    pub const ACCMODE: u32 = 0o3;

    /// The access mode; `EINVAL` for the value 3, which Linux reserves.
    pub fn access_mode(self) -> Result<AccessMode, Errno> {
        match self.bits() & Self::ACCMODE {
            0 => Ok(AccessMode::ReadOnly),
            1 => Ok(AccessMode::WriteOnly),
            2 => Ok(AccessMode::ReadWrite),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Whether the mode allows reading.
    pub fn readable(self) -> bool {
        matches!(self.access_mode(), Ok(AccessMode::ReadOnly | AccessMode::ReadWrite))
    }

    /// Whether the mode allows writing.
    pub fn writable(self) -> bool {
        matches!(self.access_mode(), Ok(AccessMode::WriteOnly | AccessMode::ReadWrite))
    }

    /// The flags `fcntl(F_SETFL)` may change on Linux.
    pub const SETFL_MASK: OpenFlags = OpenFlags::APPEND
        .union(OpenFlags::NONBLOCK)
        .union(OpenFlags::ASYNC)
        .union(OpenFlags::DIRECT)
        .union(OpenFlags::NOATIME);

    /// The flags an open file description keeps and `F_GETFL` reports
    /// (creation-only flags dropped).
    pub fn status_flags(self) -> OpenFlags {
        let dropped = OpenFlags::CREAT | OpenFlags::EXCL | OpenFlags::NOCTTY | OpenFlags::TRUNC | OpenFlags::CLOEXEC;
        self.difference(dropped)
    }
}

bitflags! {
    /// `AT_*` flags of the `*at` calls.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct AtFlags: u32 {
        /// `AT_SYMLINK_NOFOLLOW`.
        const SYMLINK_NOFOLLOW = 0x100;
        /// `AT_REMOVEDIR` (unlinkat) and `AT_EACCESS` (faccessat) share this bit.
        const REMOVEDIR = 0x200;
        /// `AT_SYMLINK_FOLLOW` (linkat).
        const SYMLINK_FOLLOW = 0x400;
        /// `AT_NO_AUTOMOUNT`.
        const NO_AUTOMOUNT = 0x800;
        /// `AT_EMPTY_PATH`.
        const EMPTY_PATH = 0x1000;
        /// `AT_STATX_FORCE_SYNC`.
        const STATX_FORCE_SYNC = 0x2000;
        /// `AT_STATX_DONT_SYNC`.
        const STATX_DONT_SYNC = 0x4000;
    }
}

impl AtFlags {
    /// `AT_EACCESS` (faccessat2): check with the effective ids.
    pub const EACCESS: AtFlags = AtFlags::REMOVEDIR;

    /// `EINVAL` if any flag outside `allowed` is set.
    pub fn only(self, allowed: AtFlags) -> Result<AtFlags, Errno> {
        if self.bits() & !allowed.bits() != 0 { Err(Errno::EINVAL) } else { Ok(self) }
    }
}

/// A `mode_t`: file type bits (`S_IFMT`) and permission bits (`07777`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mode(pub u32);

impl Mode {
    /// `S_IFMT`.
    pub const TYPE_MASK: u32 = 0o170000;
    /// Permission, set-id and sticky bits.
    pub const PERM_MASK: u32 = 0o7777;
    /// `S_ISUID`.
    pub const SET_UID: u32 = 0o4000;
    /// `S_ISGID`.
    pub const SET_GID: u32 = 0o2000;
    /// `S_ISVTX`.
    pub const STICKY: u32 = 0o1000;

    /// The permission bits (`mode & 07777`).
    pub const fn permissions(self) -> u32 {
        self.0 & Self::PERM_MASK
    }

    /// The type bits (`mode & S_IFMT`).
    pub const fn type_bits(self) -> u32 {
        self.0 & Self::TYPE_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm64_open_flag_values() {
        assert_eq!(OpenFlags::DIRECTORY.bits(), 0o40000);
        assert_eq!(OpenFlags::NOFOLLOW.bits(), 0o100000);
        assert_eq!(OpenFlags::DIRECT.bits(), 0o200000);
        assert_eq!(OpenFlags::LARGEFILE.bits(), 0o400000);
        assert_eq!(OpenFlags::CLOEXEC.bits(), 0x80000);
        assert_eq!(OpenFlags::PATH.bits(), 0x200000);
        assert_eq!(OpenFlags::NONBLOCK.bits(), 0x800);
        assert_eq!((OpenFlags::TMPFILE | OpenFlags::DIRECTORY).bits(), 0o20040000);
    }

    #[test]
    fn access_modes() {
        assert_eq!(OpenFlags::empty().access_mode(), Ok(AccessMode::ReadOnly));
        assert!(OpenFlags::RDWR.readable() && OpenFlags::RDWR.writable());
        assert!(!OpenFlags::WRONLY.readable());
        assert_eq!((OpenFlags::WRONLY | OpenFlags::RDWR).access_mode(), Err(Errno::EINVAL));
        assert_eq!(
            (OpenFlags::CREAT | OpenFlags::APPEND | OpenFlags::CLOEXEC).status_flags(),
            OpenFlags::APPEND
        );
    }

    #[test]
    fn registers_decode_as_linux_does() {
        let a = SyscallArgs::new([u64::MAX, 0xffff_ffff_0000_0003, (-100i64).cast_unsigned(), 0x1_0000_0100, 0o644, 7]);
        assert_eq!(a.fd(0), Err(Errno::EBADF));
        assert_eq!(a.fd(1), Ok(Fd::new(3).unwrap()));
        assert_eq!(a.dirfd(2), DirFd::Cwd);
        assert_eq!(a.dirfd(0), DirFd::Fd(-1));
        assert_eq!(a.at_flags(3), AtFlags::SYMLINK_NOFOLLOW);
        assert_eq!(a.mode(4).permissions(), 0o644);
        assert_eq!(a.i64(0), -1);
        assert_eq!(a.addr(5), UserAddr::new(7));
        assert_eq!(AT_FDCWD, -100);
        assert_eq!(AtFlags::EMPTY_PATH.bits(), 0x1000);
        assert_eq!(AtFlags::SYMLINK_FOLLOW.bits(), 0x400);
        assert_eq!(AtFlags::REMOVEDIR.only(AtFlags::SYMLINK_NOFOLLOW), Err(Errno::EINVAL));
    }
}
