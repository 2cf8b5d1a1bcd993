//! The syscall layer: numbers, typed arguments, structure layouts, and the
//! handlers, one module per family. Handlers take a [`FsContext`] (the
//! calling μprocess's filesystem view and descriptors, and the kernel's
//! services) and the caller's [`UserMemory`], and return `Result<u64, Errno>`;
//! [`dispatch_fs`] decodes the registers for every filesystem syscall.

pub mod args;
pub mod fdops;
pub mod fs;
pub mod io;
pub mod layout;
pub mod numbers;
pub mod pipe;
pub mod poll;
pub mod stat;
pub mod xattr;

#[cfg(test)]
mod tests;

use alloc::sync::Arc;

use crate::Errno;
use crate::device::{CharDevices, Random};
use crate::fd::FdTable;
use crate::user::{UserAddr, UserMemory};
use crate::vfs::{Credentials, DevNumber, Inode, Vfs};
use args::{AtFlags, DirFd, Fd, SyscallArgs};
use numbers::Sysno;

/// The device number `stat` reports as `st_dev` for the tmpfs.
pub const TMPFS_DEV: DevNumber = DevNumber::new(0, 1);

/// A process's filesystem state (Linux's `fs_struct`): shared by threads
/// made with `CLONE_FS`, copied by fork.
#[derive(Debug, Clone)]
pub struct FsState {
    /// The current working directory.
    pub cwd: Arc<Inode>,
    /// The file mode creation mask (`0o777` bits).
    pub umask: u32,
}

impl FsState {
    /// The root as cwd and the usual umask `022`.
    pub fn new(vfs: &Vfs) -> FsState {
        FsState { cwd: vfs.root(), umask: 0o022 }
    }
}

/// What a filesystem syscall runs against.
pub struct FsContext<'a> {
    /// The filesystem.
    pub vfs: &'a Vfs,
    /// The caller's descriptor table.
    pub fds: &'a mut FdTable,
    /// The caller's cwd and umask.
    pub fs: &'a mut FsState,
    /// The caller's identity.
    pub cred: &'a Credentials,
    /// The kernel's character device drivers.
    pub devices: &'a dyn CharDevices,
    /// The kernel's random source (for `/dev/random` and `/dev/urandom`).
    pub random: &'a mut dyn Random,
}

impl core::fmt::Debug for FsContext<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FsContext").field("fds", &self.fds).field("fs", &self.fs).field("cred", &self.cred).finish()
    }
}

impl FsContext<'_> {
    /// The inode a `dirfd` names (`AT_FDCWD`: the cwd); `EBADF` if not open.
    fn dirfd_inode(&self, dirfd: DirFd) -> Result<Arc<Inode>, Errno> {
        match dirfd {
            DirFd::Cwd => Ok(self.fs.cwd.clone()),
            DirFd::Fd(n) => Ok(self.fds.get(Fd::new(n)?)?.inode().clone()),
        }
    }

    /// Where a relative `path` starts: the root for absolute paths (then
    /// `dirfd` is not looked at), else the `dirfd` directory (`ENOTDIR` if it
    /// is not one).
    fn start_dir(&self, dirfd: DirFd, path: &[u8]) -> Result<Arc<Inode>, Errno> {
        if path.starts_with(b"/") {
            return Ok(self.vfs.root());
        }
        let dir = self.dirfd_inode(dirfd)?;
        if dir.is_dir() { Ok(dir) } else { Err(Errno::ENOTDIR) }
    }

    /// Resolves an `*at` path argument: `AT_EMPTY_PATH` with an empty path
    /// names `dirfd` itself; `AT_SYMLINK_NOFOLLOW` (or `follow == false`)
    /// leaves a final symlink unfollowed.
    pub fn resolve_at(&self, mem: &dyn UserMemory, dirfd: DirFd, path: UserAddr, flags: AtFlags, follow: bool) -> Result<Arc<Inode>, Errno> {
        let path = mem.read_path(path)?;
        if path.is_empty() {
            return if flags.contains(AtFlags::EMPTY_PATH) { self.dirfd_inode(dirfd) } else { Err(Errno::ENOENT) };
        }
        let start = self.start_dir(dirfd, &path)?;
        self.vfs.lookup(&start, &path, follow && !flags.contains(AtFlags::SYMLINK_NOFOLLOW), self.cred)
    }
}

/// Runs the filesystem syscall `sysno` with the registers `a`, or returns
/// `None` if `sysno` is not a filesystem syscall.
pub fn dispatch_fs(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, sysno: Sysno, a: &SyscallArgs) -> Option<Result<u64, Errno>> {
    let result = match sysno {
        Sysno::openat => fs::openat(ctx, mem, a.dirfd(0), a.addr(1), a.open_flags(2), a.mode(3)),
        Sysno::close => a.fd(0).and_then(|fd| fs::close(ctx, fd)),
        Sysno::read => a.fd(0).and_then(|fd| io::read(ctx, mem, fd, a.addr(1), a.u64(2))),
        Sysno::write => a.fd(0).and_then(|fd| io::write(ctx, mem, fd, a.addr(1), a.u64(2))),
        Sysno::readv => a.fd(0).and_then(|fd| io::readv(ctx, mem, fd, a.addr(1), a.u64(2))),
        Sysno::writev => a.fd(0).and_then(|fd| io::writev(ctx, mem, fd, a.addr(1), a.u64(2))),
        Sysno::pread64 => a.fd(0).and_then(|fd| io::pread64(ctx, mem, fd, a.addr(1), a.u64(2), a.i64(3))),
        Sysno::pwrite64 => a.fd(0).and_then(|fd| io::pwrite64(ctx, mem, fd, a.addr(1), a.u64(2), a.i64(3))),
        Sysno::lseek => a.fd(0).and_then(|fd| io::lseek(ctx, fd, a.i64(1), a.u32(2))),
        Sysno::sendfile => a.fd(0).and_then(|out| a.fd(1).and_then(|inp| io::sendfile(ctx, mem, out, inp, a.addr(2), a.u64(3)))),
        Sysno::newfstatat => stat::newfstatat(ctx, mem, a.dirfd(0), a.addr(1), a.addr(2), a.at_flags(3)),
        Sysno::fstat => a.fd(0).and_then(|fd| stat::fstat(ctx, mem, fd, a.addr(1))),
        Sysno::statx => stat::statx(ctx, mem, a.dirfd(0), a.addr(1), a.at_flags(2), a.u32(3), a.addr(4)),
        Sysno::statfs => stat::statfs(ctx, mem, a.addr(0), a.addr(1)),
        Sysno::fstatfs => a.fd(0).and_then(|fd| stat::fstatfs(ctx, mem, fd, a.addr(1))),
        Sysno::getdents64 => a.fd(0).and_then(|fd| stat::getdents64(ctx, mem, fd, a.addr(1), a.u64(2))),
        Sysno::readlinkat => stat::readlinkat(ctx, mem, a.dirfd(0), a.addr(1), a.addr(2), a.i32(3)),
        Sysno::faccessat => stat::faccessat(ctx, mem, a.dirfd(0), a.addr(1), a.u32(2), AtFlags::empty()),
        Sysno::faccessat2 => stat::faccessat(ctx, mem, a.dirfd(0), a.addr(1), a.u32(2), a.at_flags(3)),
        Sysno::mkdirat => fs::mkdirat(ctx, mem, a.dirfd(0), a.addr(1), a.mode(2)),
        Sysno::unlinkat => fs::unlinkat(ctx, mem, a.dirfd(0), a.addr(1), a.at_flags(2)),
        Sysno::renameat => fs::renameat2(ctx, mem, a.dirfd(0), a.addr(1), a.dirfd(2), a.addr(3), 0),
        Sysno::renameat2 => fs::renameat2(ctx, mem, a.dirfd(0), a.addr(1), a.dirfd(2), a.addr(3), a.u32(4)),
        Sysno::symlinkat => fs::symlinkat(ctx, mem, a.addr(0), a.dirfd(1), a.addr(2)),
        Sysno::linkat => fs::linkat(ctx, mem, a.dirfd(0), a.addr(1), a.dirfd(2), a.addr(3), a.at_flags(4)),
        Sysno::truncate => fs::truncate(ctx, mem, a.addr(0), a.i64(1)),
        Sysno::ftruncate => a.fd(0).and_then(|fd| fs::ftruncate(ctx, fd, a.i64(1))),
        Sysno::fallocate => a.fd(0).and_then(|fd| fs::fallocate(ctx, fd, a.u32(1), a.i64(2), a.i64(3))),
        Sysno::fsync | Sysno::fdatasync => a.fd(0).and_then(|fd| fs::fsync(ctx, fd)),
        Sysno::sync => Ok(0),
        Sysno::fchmod => a.fd(0).and_then(|fd| fs::fchmod(ctx, fd, a.mode(1))),
        Sysno::fchmodat => fs::fchmodat(ctx, mem, a.dirfd(0), a.addr(1), a.mode(2)),
        Sysno::fchown => a.fd(0).and_then(|fd| fs::fchown(ctx, fd, a.u32(1), a.u32(2))),
        Sysno::fchownat => fs::fchownat(ctx, mem, a.dirfd(0), a.addr(1), a.u32(2), a.u32(3), a.at_flags(4)),
        Sysno::pipe2 => pipe::pipe2(ctx, mem, a.addr(0), a.open_flags(1)),
        Sysno::eventfd2 => pipe::eventfd2(ctx, a.u32(0), a.u32(1)),
        Sysno::getxattr => xattr::get(ctx, mem, xattr::Target::Path(a.addr(0)), a.addr(1)),
        Sysno::lgetxattr => xattr::get(ctx, mem, xattr::Target::LinkPath(a.addr(0)), a.addr(1)),
        Sysno::fgetxattr => a.fd(0).and_then(|fd| xattr::get(ctx, mem, xattr::Target::Fd(fd), a.addr(1))),
        Sysno::listxattr => xattr::list(ctx, mem, xattr::Target::Path(a.addr(0))),
        Sysno::llistxattr => xattr::list(ctx, mem, xattr::Target::LinkPath(a.addr(0))),
        Sysno::flistxattr => a.fd(0).and_then(|fd| xattr::list(ctx, mem, xattr::Target::Fd(fd))),
        Sysno::setxattr => xattr::set(ctx, mem, xattr::Target::Path(a.addr(0)), a.addr(1)),
        Sysno::lsetxattr => xattr::set(ctx, mem, xattr::Target::LinkPath(a.addr(0)), a.addr(1)),
        Sysno::fsetxattr => a.fd(0).and_then(|fd| xattr::set(ctx, mem, xattr::Target::Fd(fd), a.addr(1))),
        Sysno::removexattr => xattr::remove(ctx, mem, xattr::Target::Path(a.addr(0)), a.addr(1)),
        Sysno::lremovexattr => xattr::remove(ctx, mem, xattr::Target::LinkPath(a.addr(0)), a.addr(1)),
        Sysno::fremovexattr => a.fd(0).and_then(|fd| xattr::remove(ctx, mem, xattr::Target::Fd(fd), a.addr(1))),
        Sysno::utimensat => fs::utimensat(ctx, mem, a.dirfd(0), a.addr(1), a.addr(2), a.at_flags(3)),
        Sysno::getcwd => fs::getcwd(ctx, mem, a.addr(0), a.u64(1)),
        Sysno::chdir => fs::chdir(ctx, mem, a.addr(0)),
        Sysno::fchdir => a.fd(0).and_then(|fd| fs::fchdir(ctx, fd)),
        Sysno::umask => Ok(fs::umask(ctx, a.mode(0))),
        Sysno::dup => a.fd(0).and_then(|fd| fdops::dup(ctx, fd)),
        Sysno::dup3 => a.fd(0).and_then(|old| a.fd(1).and_then(|new| fdops::dup3(ctx, old, new, a.open_flags(2)))),
        Sysno::fcntl => a.fd(0).and_then(|fd| fdops::fcntl(ctx, fd, a.u32(1), a.u64(2))),
        Sysno::ioctl => a.fd(0).and_then(|fd| fdops::ioctl(ctx, mem, fd, a.u32(1), a.addr(2))),
        _ => return None,
    };
    Some(result)
}
