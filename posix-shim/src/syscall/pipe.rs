//! pipe2 and eventfd2: new pipes and eventfds.

use alloc::sync::Arc;

use super::FsContext;
use super::args::OpenFlags;
use crate::Errno;
use crate::fd::{FileObject, OpenFile};
use crate::pipe::new_pipe;
use crate::user::{UserAddr, UserMemory};

/// `pipe2(fds, flags)`: flags O_CLOEXEC, O_NONBLOCK, O_DIRECT (accepted;
/// packet mode is not offered, so it behaves as a byte pipe).
pub fn pipe2(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, fds: UserAddr, flags: OpenFlags) -> Result<u64, Errno> {
    if !(OpenFlags::CLOEXEC | OpenFlags::NONBLOCK | OpenFlags::DIRECT).contains(flags) {
        return Err(Errno::EINVAL);
    }
    let inode = ctx.vfs.anonymous_fifo(ctx.cred);
    let (read_end, write_end) = new_pipe();
    let status = flags & OpenFlags::NONBLOCK;
    let reader = OpenFile::new(FileObject::Pipe(inode.clone(), Arc::new(read_end)), status);
    let writer = OpenFile::new(FileObject::Pipe(inode, Arc::new(write_end)), status | OpenFlags::WRONLY);
    let cloexec = flags.contains(OpenFlags::CLOEXEC);
    let read_fd = ctx.fds.insert(reader, cloexec)?;
    let write_fd = match ctx.fds.insert(writer, cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = ctx.fds.close(read_fd);
            return Err(e);
        }
    };
    let mut pair = [0u8; 8];
    pair[..4].copy_from_slice(&read_fd.raw().to_le_bytes());
    pair[4..].copy_from_slice(&write_fd.raw().to_le_bytes());
    if let Err(e) = mem.write_bytes(fds, &pair) {
        let _ = ctx.fds.close(read_fd);
        let _ = ctx.fds.close(write_fd);
        return Err(e);
    }
    Ok(0)
}

/// EFD_SEMAPHORE.
const EFD_SEMAPHORE: u32 = 1;

/// `eventfd2(initval, flags)`: flags EFD_CLOEXEC, EFD_NONBLOCK (the
/// O_ values) and EFD_SEMAPHORE.
pub fn eventfd2(ctx: &mut FsContext<'_>, initial: u32, flags: u32) -> Result<u64, Errno> {
    let open_flags = OpenFlags::from_bits_retain(flags & !EFD_SEMAPHORE);
    if !(OpenFlags::CLOEXEC | OpenFlags::NONBLOCK).contains(open_flags) {
        return Err(Errno::EINVAL);
    }
    let counter = crate::eventfd::EventFd::new(initial, flags & EFD_SEMAPHORE != 0);
    let object = FileObject::EventFd(ctx.vfs.anonymous_fifo(ctx.cred), Arc::new(counter));
    let file = OpenFile::new(object, (open_flags & OpenFlags::NONBLOCK) | OpenFlags::RDWR);
    ctx.fds.insert(file, open_flags.contains(OpenFlags::CLOEXEC)).map(|fd| u64::from(fd.raw() as u32))
}
