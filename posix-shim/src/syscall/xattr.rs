//! Extended attributes: this tmpfs stores none. Reads find nothing
//! (`ENODATA`, an empty list), as for a Linux file without attributes;
//! setting one is not supported (`EOPNOTSUPP`). The path or descriptor is
//! still checked, so a missing file is `ENOENT` and a bad descriptor `EBADF`.

use super::FsContext;
use super::args::{AtFlags, DirFd, Fd};
use crate::Errno;
use crate::user::{UserAddr, UserMemory};

/// Which file an xattr call names.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// A path, symlinks followed (`getxattr`).
    Path(UserAddr),
    /// A path, a final symlink not followed (`lgetxattr`).
    LinkPath(UserAddr),
    /// A descriptor (`fgetxattr`).
    Fd(Fd),
}

fn check_target(ctx: &FsContext<'_>, mem: &dyn UserMemory, target: Target) -> Result<(), Errno> {
    match target {
        Target::Path(path) => ctx.resolve_at(mem, DirFd::Cwd, path, AtFlags::empty(), true).map(drop),
        Target::LinkPath(path) => ctx.resolve_at(mem, DirFd::Cwd, path, AtFlags::empty(), false).map(drop),
        Target::Fd(fd) => ctx.fds.get(fd).map(drop),
    }
}

fn check_name(mem: &dyn UserMemory, name: UserAddr) -> Result<(), Errno> {
    // XATTR_NAME_MAX is 255; longer names are ERANGE.
    match mem.read_c_string(name, 256) {
        Ok(n) if n.is_empty() => Err(Errno::ERANGE),
        Ok(_) => Ok(()),
        Err(Errno::ENAMETOOLONG) => Err(Errno::ERANGE),
        Err(e) => Err(e),
    }
}

/// getxattr, lgetxattr, fgetxattr: no attribute exists.
pub fn get(ctx: &FsContext<'_>, mem: &dyn UserMemory, target: Target, name: UserAddr) -> Result<u64, Errno> {
    check_target(ctx, mem, target)?;
    check_name(mem, name)?;
    Err(Errno::ENODATA)
}

/// listxattr, llistxattr, flistxattr: the list is empty.
pub fn list(ctx: &FsContext<'_>, mem: &dyn UserMemory, target: Target) -> Result<u64, Errno> {
    check_target(ctx, mem, target)?;
    Ok(0)
}

/// setxattr, lsetxattr, fsetxattr: not supported by this filesystem.
pub fn set(ctx: &FsContext<'_>, mem: &dyn UserMemory, target: Target, name: UserAddr) -> Result<u64, Errno> {
    check_target(ctx, mem, target)?;
    check_name(mem, name)?;
    Err(Errno::EOPNOTSUPP)
}

/// removexattr, lremovexattr, fremovexattr: nothing to remove.
pub fn remove(ctx: &FsContext<'_>, mem: &dyn UserMemory, target: Target, name: UserAddr) -> Result<u64, Errno> {
    check_target(ctx, mem, target)?;
    check_name(mem, name)?;
    Err(Errno::ENODATA)
}
