//! Opening and naming files: openat, close, mkdirat, unlinkat, renameat(2),
//! symlinkat, linkat, truncate, ftruncate, fallocate, fsync/fdatasync,
//! fchmod(at), fchown(at), utimensat, getcwd, chdir, fchdir, umask.
//!
//! Unsupported variants return what Linux returns for a filesystem without
//! them: `O_TMPFILE` gives `EOPNOTSUPP`, `RENAME_WHITEOUT` `EINVAL`, and
//! `fallocate` modes other than allocate, keep-size and punch-hole
//! `EOPNOTSUPP`.

use alloc::sync::Arc;

use super::args::{AtFlags, DirFd, Fd, Mode, OpenFlags};
use super::layout::{TimespecArg, decode_utime};
use super::FsContext;
use crate::Errno;
use crate::device::MemDevice;
use crate::fd::{FileObject, OpenFile};
use crate::user::{UserAddr, UserMemory, read_array};
use crate::vfs::{Access, Allocate, FileType, Inode, Last, MAX_SYMLINKS, NewNode, ParentPath, RenameFlags, TimeUpdate};

/// Resolves the target of an `O_CREAT` open, creating a regular file if the
/// last component is missing (also through a dangling symlink, as Linux
/// does). Returns the inode and whether it was created.
fn open_create(ctx: &FsContext<'_>, mut parent: ParentPath, flags: OpenFlags, mode: Mode) -> Result<(Arc<Inode>, bool), Errno> {
    let mut links = 0;
    loop {
        let name = match &parent.last {
            Last::Name(n) => n.clone(),
            _ => return Err(Errno::EISDIR),
        };
        match ctx.vfs.lookup_last(&parent, ctx.cred)? {
            Some(_) if flags.contains(OpenFlags::EXCL) => return Err(Errno::EEXIST),
            Some(inode) if inode.file_type() == FileType::Symlink => {
                if flags.contains(OpenFlags::NOFOLLOW) {
                    return Err(Errno::ELOOP);
                }
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                let target = inode.readlink()?;
                let mut budget = links;
                parent = ctx.vfs.walk_parent(&parent.dir, &target, ctx.cred, &mut budget)?;
                links = budget;
            }
            Some(inode) if inode.is_dir() => return Err(Errno::EISDIR),
            Some(_) if parent.trailing_slash => return Err(Errno::ENOTDIR),
            Some(inode) => return Ok((inode, false)),
            None if parent.trailing_slash => return Err(Errno::EISDIR),
            None => {
                let perm = mode.permissions() & !ctx.fs.umask;
                let inode = ctx.vfs.create(&parent.dir, &name, NewNode::Regular, perm, ctx.cred)?;
                return Ok((inode, true));
            }
        }
    }
}

/// `openat(dirfd, path, flags, mode)`.
pub fn openat(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, dirfd: DirFd, path: UserAddr, flags: OpenFlags, mode: Mode) -> Result<u64, Errno> {
    let path = mem.read_path(path)?;
    if flags.contains(OpenFlags::TMPFILE) {
        // As Linux checks it: O_TMPFILE needs O_DIRECTORY, excludes O_CREAT,
        // and must open for writing; then this tmpfs does not offer it.
        let well_formed = flags.contains(OpenFlags::DIRECTORY) && !flags.contains(OpenFlags::CREAT) && flags.writable();
        return Err(if well_formed { Errno::EOPNOTSUPP } else { Errno::EINVAL });
    }
    if flags.contains(OpenFlags::CREAT | OpenFlags::DIRECTORY) {
        return Err(Errno::EINVAL);
    }
    let start = ctx.start_dir(dirfd, &path)?;
    let o_path = flags.contains(OpenFlags::PATH);
    let (inode, created) = if flags.contains(OpenFlags::CREAT) && !o_path {
        let parent = ctx.vfs.lookup_parent(&start, &path, ctx.cred)?;
        open_create(ctx, parent, flags, mode)?
    } else {
        (ctx.vfs.lookup(&start, &path, !flags.contains(OpenFlags::NOFOLLOW), ctx.cred)?, false)
    };
    if flags.contains(OpenFlags::DIRECTORY) && !inode.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let object = if o_path {
        FileObject::Path(inode)
    } else {
        if inode.file_type() == FileType::Symlink {
            return Err(Errno::ELOOP);
        }
        let access = match flags.access_mode() {
            Ok(super::args::AccessMode::ReadOnly) => Access::READ,
            Ok(super::args::AccessMode::WriteOnly) => Access::WRITE,
            _ => Access::READ | Access::WRITE,
        };
        if inode.is_dir() && (access.contains(Access::WRITE) || flags.contains(OpenFlags::CREAT)) {
            return Err(Errno::EISDIR);
        }
        if !created {
            ctx.vfs.check_access(&inode, access, ctx.cred)?;
        }
        if flags.contains(OpenFlags::TRUNC) && inode.file_type() == FileType::Regular && !created && !inode.is_synthetic() {
            ctx.vfs.check_access(&inode, Access::WRITE, ctx.cred)?;
            inode.truncate(0, ctx.vfs.now())?;
        }
        match inode.device() {
            Some(dev) => match MemDevice::from_dev(dev) {
                Some(mem_dev) => FileObject::MemDevice(inode, mem_dev),
                None => {
                    ctx.devices.open(dev)?;
                    FileObject::Device(inode, dev)
                }
            },
            None if inode.is_synthetic() && inode.file_type() == FileType::Regular => {
                let data = inode.generate()?;
                FileObject::Generated(inode, data.into())
            }
            None => FileObject::Inode(inode),
        }
    };
    let keep = if o_path { flags & (OpenFlags::PATH | OpenFlags::DIRECTORY | OpenFlags::NOFOLLOW) } else { flags };
    let file = OpenFile::with_path(object, keep, ctx.vfs.canonical_path(&start, &path));
    ctx.fds.insert(file, flags.contains(OpenFlags::CLOEXEC)).map(Fd::as_return)
}

/// `close(fd)`.
pub fn close(ctx: &mut FsContext<'_>, fd: Fd) -> Result<u64, Errno> {
    ctx.fds.close(fd).map(|_| 0)
}

/// `mkdirat(dirfd, path, mode)`.
pub fn mkdirat(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, dirfd: DirFd, path: UserAddr, mode: Mode) -> Result<u64, Errno> {
    let path = mem.read_path(path)?;
    let parent = ctx.vfs.lookup_parent(&ctx.start_dir(dirfd, &path)?, &path, ctx.cred)?;
    let name = parent.name(Errno::EEXIST)?;
    let perm = mode.0 & (0o777 | Mode::STICKY) & !ctx.fs.umask;
    ctx.vfs.create(&parent.dir, name, NewNode::Directory, perm, ctx.cred).map(|_| 0)
}

/// `unlinkat(dirfd, path, flags)`: `AT_REMOVEDIR` for rmdir semantics.
pub fn unlinkat(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, dirfd: DirFd, path: UserAddr, flags: AtFlags) -> Result<u64, Errno> {
    let flags = flags.only(AtFlags::REMOVEDIR)?;
    let path = mem.read_path(path)?;
    let parent = ctx.vfs.lookup_parent(&ctx.start_dir(dirfd, &path)?, &path, ctx.cred)?;
    if flags.contains(AtFlags::REMOVEDIR) {
        let name = match &parent.last {
            Last::Name(n) => n,
            Last::Dot => return Err(Errno::EINVAL),
            Last::DotDot => return Err(Errno::ENOTEMPTY),
            Last::Root => return Err(Errno::EBUSY),
        };
        ctx.vfs.rmdir(&parent.dir, name, ctx.cred).map(|_| 0)
    } else {
        let name = parent.name(Errno::EISDIR)?;
        if parent.trailing_slash {
            let victim = parent.dir.child(name)?.ok_or(Errno::ENOENT)?;
            return Err(if victim.is_dir() { Errno::EISDIR } else { Errno::ENOTDIR });
        }
        ctx.vfs.unlink(&parent.dir, name, ctx.cred).map(|_| 0)
    }
}

/// `renameat2(olddirfd, oldpath, newdirfd, newpath, flags)` (and `renameat`
/// with flags 0). `.`, `..` and `/` as either name give `EBUSY`.
pub fn renameat2(
    ctx: &mut FsContext<'_>,
    mem: &mut dyn UserMemory,
    old_dirfd: DirFd,
    old_path: UserAddr,
    new_dirfd: DirFd,
    new_path: UserAddr,
    flags: u32,
) -> Result<u64, Errno> {
    let flags = RenameFlags::from_bits(flags).ok_or(Errno::EINVAL)?;
    let old_path = mem.read_path(old_path)?;
    let new_path = mem.read_path(new_path)?;
    let old = ctx.vfs.lookup_parent(&ctx.start_dir(old_dirfd, &old_path)?, &old_path, ctx.cred)?;
    let new = ctx.vfs.lookup_parent(&ctx.start_dir(new_dirfd, &new_path)?, &new_path, ctx.cred)?;
    let old_name = old.name(Errno::EBUSY)?;
    let new_name = new.name(Errno::EBUSY)?;
    if old.trailing_slash || new.trailing_slash {
        let moved = old.dir.child(old_name)?.ok_or(Errno::ENOENT)?;
        if !moved.is_dir() {
            return Err(Errno::ENOTDIR);
        }
    }
    ctx.vfs.rename(&old.dir, old_name, &new.dir, new_name, flags, ctx.cred).map(|_| 0)
}

/// Resolves the parent of a name to create (symlink, link): `EEXIST` if it
/// exists, `ENOENT` for a missing name with a trailing slash.
fn creation_parent(ctx: &FsContext<'_>, dirfd: DirFd, path: &[u8]) -> Result<ParentPath, Errno> {
    let parent = ctx.vfs.lookup_parent(&ctx.start_dir(dirfd, path)?, path, ctx.cred)?;
    let name = parent.name(Errno::EEXIST)?;
    if parent.dir.child(name)?.is_some() {
        return Err(Errno::EEXIST);
    }
    if parent.trailing_slash {
        return Err(Errno::ENOENT);
    }
    Ok(parent)
}

/// `symlinkat(target, newdirfd, linkpath)`: `ENOENT` for an empty target.
pub fn symlinkat(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, target: UserAddr, dirfd: DirFd, path: UserAddr) -> Result<u64, Errno> {
    let target = mem.read_path(target)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let path = mem.read_path(path)?;
    let parent = creation_parent(ctx, dirfd, &path)?;
    let name = parent.name(Errno::EEXIST)?;
    ctx.vfs.create(&parent.dir, name, NewNode::Symlink(target), 0o777, ctx.cred).map(|_| 0)
}

/// `linkat(olddirfd, oldpath, newdirfd, newpath, flags)`: `AT_SYMLINK_FOLLOW`
/// follows a final symlink in `oldpath`; `AT_EMPTY_PATH` links the file
/// `olddirfd` refers to. `EPERM` for directories.
pub fn linkat(
    ctx: &mut FsContext<'_>,
    mem: &mut dyn UserMemory,
    old_dirfd: DirFd,
    old_path: UserAddr,
    new_dirfd: DirFd,
    new_path: UserAddr,
    flags: AtFlags,
) -> Result<u64, Errno> {
    let flags = flags.only(AtFlags::SYMLINK_FOLLOW | AtFlags::EMPTY_PATH)?;
    let target = ctx.resolve_at(mem, old_dirfd, old_path, flags, flags.contains(AtFlags::SYMLINK_FOLLOW))?;
    if target.is_dir() {
        return Err(Errno::EPERM);
    }
    let path = mem.read_path(new_path)?;
    let parent = creation_parent(ctx, new_dirfd, &path)?;
    let name = parent.name(Errno::EEXIST)?;
    ctx.vfs.link(&parent.dir, name, &target, ctx.cred).map(|_| 0)
}

fn length(len: i64) -> Result<u64, Errno> {
    u64::try_from(len).map_err(|_| Errno::EINVAL)
}

/// `truncate(path, length)`: needs write permission; `EISDIR` for a directory.
pub fn truncate(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, path: UserAddr, len: i64) -> Result<u64, Errno> {
    let len = length(len)?;
    let inode = ctx.resolve_at(mem, DirFd::Cwd, path, AtFlags::empty(), true)?;
    if inode.is_dir() {
        return Err(Errno::EISDIR);
    }
    ctx.vfs.check_access(&inode, Access::WRITE, ctx.cred)?;
    inode.truncate(len, ctx.vfs.now()).map(|_| 0)
}

/// `ftruncate(fd, length)`: `EINVAL` unless `fd` is a regular file open for
/// writing.
pub fn ftruncate(ctx: &mut FsContext<'_>, fd: Fd, len: i64) -> Result<u64, Errno> {
    let len = length(len)?;
    let file = ctx.fds.get_for_io(fd)?;
    if file.inode().file_type() != FileType::Regular || !file.flags().writable() {
        return Err(Errno::EINVAL);
    }
    file.inode().truncate(len, ctx.vfs.now()).map(|_| 0)
}

/// `FALLOC_FL_KEEP_SIZE`.
pub const FALLOC_FL_KEEP_SIZE: u32 = 1;
/// `FALLOC_FL_PUNCH_HOLE`.
pub const FALLOC_FL_PUNCH_HOLE: u32 = 2;

/// `fallocate(fd, mode, offset, len)`.
pub fn fallocate(ctx: &mut FsContext<'_>, fd: Fd, mode: u32, offset: i64, len: i64) -> Result<u64, Errno> {
    let offset = length(offset)?;
    let len = length(len)?;
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let file = ctx.fds.get_for_io(fd)?;
    if !file.flags().writable() {
        return Err(Errno::EBADF);
    }
    let how = match mode {
        0 => Allocate::Reserve { keep_size: false },
        FALLOC_FL_KEEP_SIZE => Allocate::Reserve { keep_size: true },
        m if m == FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE => Allocate::PunchHole,
        _ => return Err(Errno::EOPNOTSUPP),
    };
    if file.flags().contains(OpenFlags::APPEND) && how == Allocate::PunchHole {
        return Err(Errno::EPERM);
    }
    file.inode().allocate(how, offset, len, ctx.vfs.now()).map(|_| 0)
}

/// `fsync(fd)` and `fdatasync(fd)`: tmpfs has nothing to write back.
pub fn fsync(ctx: &mut FsContext<'_>, fd: Fd) -> Result<u64, Errno> {
    ctx.fds.get_for_io(fd).map(|_| 0)
}

/// `fchmod(fd, mode)`.
pub fn fchmod(ctx: &mut FsContext<'_>, fd: Fd, mode: Mode) -> Result<u64, Errno> {
    let file = ctx.fds.get_for_io(fd)?;
    ctx.vfs.chmod(file.inode(), mode.permissions(), ctx.cred).map(|_| 0)
}

/// `fchmodat(dirfd, path, mode)` (the syscall has no flags).
pub fn fchmodat(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, dirfd: DirFd, path: UserAddr, mode: Mode) -> Result<u64, Errno> {
    let inode = ctx.resolve_at(mem, dirfd, path, AtFlags::empty(), true)?;
    ctx.vfs.chmod(&inode, mode.permissions(), ctx.cred).map(|_| 0)
}

fn id(raw: u32) -> Option<u32> {
    (raw != u32::MAX).then_some(raw)
}

/// `fchown(fd, uid, gid)`; `-1` leaves an id unchanged.
pub fn fchown(ctx: &mut FsContext<'_>, fd: Fd, uid: u32, gid: u32) -> Result<u64, Errno> {
    let file = ctx.fds.get_for_io(fd)?;
    ctx.vfs.chown(file.inode(), id(uid), id(gid), ctx.cred).map(|_| 0)
}

/// `fchownat(dirfd, path, uid, gid, flags)`.
pub fn fchownat(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, dirfd: DirFd, path: UserAddr, uid: u32, gid: u32, flags: AtFlags) -> Result<u64, Errno> {
    let flags = flags.only(AtFlags::SYMLINK_NOFOLLOW | AtFlags::EMPTY_PATH)?;
    let inode = ctx.resolve_at(mem, dirfd, path, flags, true)?;
    ctx.vfs.chown(&inode, id(uid), id(gid), ctx.cred).map(|_| 0)
}

fn time_update(t: TimespecArg) -> TimeUpdate {
    match t {
        TimespecArg::Now => TimeUpdate::Now,
        TimespecArg::Omit => TimeUpdate::Omit,
        TimespecArg::At(ts) => TimeUpdate::Set(ts),
    }
}

/// `utimensat(dirfd, path, times, flags)`: a null `times` sets both to now;
/// a null `path` changes the file `dirfd` refers to.
pub fn utimensat(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, dirfd: DirFd, path: UserAddr, times: UserAddr, flags: AtFlags) -> Result<u64, Errno> {
    let flags = flags.only(AtFlags::SYMLINK_NOFOLLOW | AtFlags::EMPTY_PATH)?;
    let (atime, mtime) = if times.is_null() {
        (TimeUpdate::Now, TimeUpdate::Now)
    } else {
        let a = read_array::<16, _>(mem, times)?;
        let m = read_array::<16, _>(mem, times.offset(16)?)?;
        (time_update(decode_utime(&a)?), time_update(decode_utime(&m)?))
    };
    let inode = if path.is_null() {
        match dirfd {
            DirFd::Cwd => return Err(Errno::EFAULT),
            DirFd::Fd(n) => ctx.fds.get(Fd::new(n)?)?.inode().clone(),
        }
    } else {
        ctx.resolve_at(mem, dirfd, path, flags, true)?
    };
    ctx.vfs.set_times(&inode, atime, mtime, ctx.cred).map(|_| 0)
}

/// `getcwd(buf, size)`: the length with the NUL; `ERANGE` if it does not
/// fit, `ENOENT` if the cwd was removed.
pub fn getcwd(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, buf: UserAddr, size: u64) -> Result<u64, Errno> {
    let mut path = ctx.vfs.path_of(&ctx.fs.cwd)?;
    path.push(0);
    let len = u64::try_from(path.len()).map_err(|_| Errno::ERANGE)?;
    if len > size {
        return Err(Errno::ERANGE);
    }
    mem.write_bytes(buf, &path)?;
    Ok(len)
}

fn enter(ctx: &mut FsContext<'_>, dir: Arc<Inode>) -> Result<u64, Errno> {
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    ctx.vfs.check_access(&dir, Access::EXEC, ctx.cred)?;
    ctx.fs.cwd = dir;
    Ok(0)
}

/// `chdir(path)`.
pub fn chdir(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, path: UserAddr) -> Result<u64, Errno> {
    let dir = ctx.resolve_at(mem, DirFd::Cwd, path, AtFlags::empty(), true)?;
    enter(ctx, dir)
}

/// `fchdir(fd)` (an `O_PATH` descriptor will do).
pub fn fchdir(ctx: &mut FsContext<'_>, fd: Fd) -> Result<u64, Errno> {
    let dir = ctx.fds.get(fd)?.inode().clone();
    enter(ctx, dir)
}

/// `umask(mask)`: sets the mask, returns the old one.
pub fn umask(ctx: &mut FsContext<'_>, mask: Mode) -> u64 {
    let old = ctx.fs.umask;
    ctx.fs.umask = mask.0 & 0o777;
    u64::from(old)
}
