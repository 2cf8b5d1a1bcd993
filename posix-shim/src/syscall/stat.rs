//! Looking at files: newfstatat, fstat, statx, statfs, fstatfs,
//! getdents64, readlinkat, faccessat and faccessat2.

use alloc::vec::Vec;

use super::args::{AtFlags, DirFd, Fd};
use super::layout::{STATX_RESERVED, dirent64_len, encode_stat, encode_statfs, encode_statx, push_dirent64};
use super::{FsContext, TMPFS_DEV};
use crate::Errno;
use crate::user::{UserAddr, UserMemory};
use crate::vfs::{Access, FileType, Inode};

/// `st_dev` of the filesystem `inode` is on.
fn dev_of(inode: &Inode) -> crate::vfs::DevNumber {
    inode.fs_dev().unwrap_or(TMPFS_DEV)
}

/// `newfstatat(dirfd, path, statbuf, flags)`.
pub fn newfstatat(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, dirfd: DirFd, path: UserAddr, buf: UserAddr, flags: AtFlags) -> Result<u64, Errno> {
    let flags = flags.only(AtFlags::SYMLINK_NOFOLLOW | AtFlags::EMPTY_PATH | AtFlags::NO_AUTOMOUNT)?;
    let inode = ctx.resolve_at(mem, dirfd, path, flags, true)?;
    mem.write_bytes(buf, &encode_stat(&inode.metadata(), dev_of(&inode))).map(|_| 0)
}

/// `fstat(fd, statbuf)` (an `O_PATH` descriptor will do).
pub fn fstat(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, fd: Fd, buf: UserAddr) -> Result<u64, Errno> {
    let file = ctx.fds.get(fd)?;
    mem.write_bytes(buf, &encode_stat(&file.inode().metadata(), dev_of(file.inode()))).map(|_| 0)
}

/// `statx(dirfd, path, flags, mask, statxbuf)`: `EINVAL` for unknown flags,
/// both sync flags at once, or `STATX__RESERVED` in the mask.
pub fn statx(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, dirfd: DirFd, path: UserAddr, flags: AtFlags, mask: u32, buf: UserAddr) -> Result<u64, Errno> {
    let flags = flags.only(AtFlags::all())?;
    if flags.contains(AtFlags::STATX_FORCE_SYNC | AtFlags::STATX_DONT_SYNC) || mask & STATX_RESERVED != 0 || flags.contains(AtFlags::REMOVEDIR | AtFlags::SYMLINK_FOLLOW) {
        return Err(Errno::EINVAL);
    }
    let inode = ctx.resolve_at(mem, dirfd, path, flags, true)?;
    mem.write_bytes(buf, &encode_statx(&inode.metadata(), dev_of(&inode))).map(|_| 0)
}

/// `statfs(path, buf)`.
pub fn statfs(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, path: UserAddr, buf: UserAddr) -> Result<u64, Errno> {
    let inode = ctx.resolve_at(mem, DirFd::Cwd, path, AtFlags::empty(), true)?;
    mem.write_bytes(buf, &encode_statfs(&ctx.vfs.stats_of(&inode))).map(|_| 0)
}

/// `fstatfs(fd, buf)`.
pub fn fstatfs(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, fd: Fd, buf: UserAddr) -> Result<u64, Errno> {
    let file = ctx.fds.get(fd)?;
    mem.write_bytes(buf, &encode_statfs(&ctx.vfs.stats_of(file.inode()))).map(|_| 0)
}

/// `getdents64(fd, dirp, count)`: as many `linux_dirent64` records as fit;
/// 0 at the end; `EINVAL` if not even one fits; `ENOTDIR` for a non-directory.
pub fn getdents64(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, fd: Fd, dirp: UserAddr, count: u64) -> Result<u64, Errno> {
    let file = ctx.fds.get_for_io(fd)?;
    let dir = file.inode().clone();
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let room = usize::try_from(count.min(super::super::user::MAX_RW_COUNT)).unwrap_or(usize::MAX);
    let mut pos = file.position();
    let mut out = Vec::new();
    let mut at = *pos;
    while let Some(entry) = dir.dir_entry_at(at)? {
        if out.len() + dirent64_len(entry.name.len()) > room {
            if out.is_empty() {
                return Err(Errno::EINVAL);
            }
            break;
        }
        push_dirent64(&mut out, entry.ino, entry.next, entry.file_type.dirent_type(), &entry.name);
        at = entry.next;
    }
    mem.write_bytes(dirp, &out)?;
    *pos = at;
    Ok(u64::try_from(out.len()).unwrap_or(0))
}

/// `readlinkat(dirfd, path, buf, bufsiz)`: the target, truncated to `bufsiz`,
/// without a NUL. `EINVAL` for a non-symlink or `bufsiz <= 0`; an empty path
/// reads the symlink `dirfd` refers to (opened `O_PATH|O_NOFOLLOW`).
pub fn readlinkat(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, dirfd: DirFd, path: UserAddr, buf: UserAddr, size: i32) -> Result<u64, Errno> {
    let size = usize::try_from(size).ok().filter(|&s| s > 0).ok_or(Errno::EINVAL)?;
    let inode = ctx.resolve_at(mem, dirfd, path, AtFlags::EMPTY_PATH, false)?;
    if inode.file_type() != FileType::Symlink {
        let empty = mem.read_path(path)?.is_empty();
        return Err(if empty { Errno::ENOENT } else { Errno::EINVAL });
    }
    let target = inode.readlink()?;
    let n = target.len().min(size);
    mem.write_bytes(buf, &target[..n])?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// `faccessat(dirfd, path, mode)` and `faccessat2(dirfd, path, mode, flags)`:
/// `mode` is `F_OK` (0) or a mix of `R_OK`, `W_OK`, `X_OK`; checked with the
/// real ids unless `AT_EACCESS`.
pub fn faccessat(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, dirfd: DirFd, path: UserAddr, mode: u32, flags: AtFlags) -> Result<u64, Errno> {
    let flags = flags.only(AtFlags::EACCESS | AtFlags::SYMLINK_NOFOLLOW | AtFlags::EMPTY_PATH)?;
    let want = Access::from_bits(mode).ok_or(Errno::EINVAL)?;
    let real = ctx.cred.as_real();
    let cred = if flags.contains(AtFlags::EACCESS) { ctx.cred.clone() } else { real };
    let path_bytes = mem.read_path(path)?;
    let inode = if path_bytes.is_empty() {
        ctx.resolve_at(mem, dirfd, path, flags, true)?
    } else {
        let start = ctx.start_dir(dirfd, &path_bytes)?;
        ctx.vfs.lookup(&start, &path_bytes, !flags.contains(AtFlags::SYMLINK_NOFOLLOW), &cred)?
    };
    ctx.vfs.check_access(&inode, want, &cred).map(|_| 0)
}
