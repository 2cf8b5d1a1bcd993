//! Data transfer: read, write, readv, writev, pread64, pwrite64, lseek and
//! sendfile.
//!
//! Data moves between the object and user memory in chunks of at most
//! [`CHUNK`] bytes through a kernel buffer. A fault after some bytes were
//! transferred ends the call with the count so far, as Linux does; a fault
//! before any gives `EFAULT`. Regular files hold the description's offset
//! lock for the whole call, so that reads and writes through shared
//! descriptions are atomic with respect to the offset.

use alloc::vec;
use alloc::vec::Vec;

use super::FsContext;
use super::args::Fd;
use crate::Errno;
use crate::fd::{FileObject, OpenFile};
use crate::user::{IoVec, MAX_RW_COUNT, UserAddr, UserMemory};
use crate::vfs::MAX_FILE_SIZE;

/// The most bytes moved through the kernel buffer at once.
pub const CHUNK: usize = 64 * 1024;

/// `SEEK_SET`.
pub const SEEK_SET: u32 = 0;
/// `SEEK_CUR`.
pub const SEEK_CUR: u32 = 1;
/// `SEEK_END`.
pub const SEEK_END: u32 = 2;
/// `SEEK_DATA`.
pub const SEEK_DATA: u32 = 3;
/// `SEEK_HOLE`.
pub const SEEK_HOLE: u32 = 4;

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// How an object treats offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Positioning {
    /// Regular files and directories: the description's offset is used and moved.
    Offset,
    /// Memory devices: offsets are accepted and ignored.
    Ignored,
    /// Terminals and other driver devices: no offsets (`ESPIPE`).
    Stream,
}

fn positioning(file: &OpenFile) -> Positioning {
    match file.object() {
        FileObject::Inode(_) | FileObject::Path(_) | FileObject::Generated(..) => Positioning::Offset,
        FileObject::MemDevice(..) => Positioning::Ignored,
        FileObject::Device(..) | FileObject::Pipe(..) | FileObject::EventFd(..) => Positioning::Stream,
    }
}

/// Reads from `file` at `offset` into a kernel buffer.
pub(crate) fn read_object(ctx: &mut FsContext<'_>, file: &OpenFile, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    match file.object() {
        FileObject::Inode(inode) => inode.read_at(offset, buf, ctx.vfs.now()),
        FileObject::MemDevice(_, dev) => Ok(dev.read(buf, ctx.random)),
        FileObject::Device(_, dev) => {
            let nonblocking = file.flags().contains(super::args::OpenFlags::NONBLOCK);
            ctx.devices.read(*dev, buf, nonblocking)
        }
        FileObject::Pipe(_, end) => end.read(buf, file.flags().contains(super::args::OpenFlags::NONBLOCK)),
        FileObject::EventFd(_, counter) => counter.read(buf, file.flags().contains(super::args::OpenFlags::NONBLOCK)),
        FileObject::Generated(_, data) => {
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
            let n = buf.len().min(data.len() - start);
            buf[..n].copy_from_slice(&data[start..start + n]);
            Ok(n)
        }
        FileObject::Path(_) => Err(Errno::EBADF),
    }
}

/// Writes a kernel buffer to `file` at `offset` (`None`: at the end,
/// atomically); returns the bytes written and the offset after them.
pub(crate) fn write_object(ctx: &mut FsContext<'_>, file: &OpenFile, data: &[u8], offset: Option<u64>) -> Result<(usize, u64), Errno> {
    match file.object() {
        FileObject::Inode(inode) => inode.write_at(offset, data, ctx.vfs.now()),
        FileObject::MemDevice(_, dev) => dev.write(data.len()).map(|n| (n, 0)),
        FileObject::Device(_, dev) => ctx.devices.write(*dev, data).map(|n| (n, 0)),
        FileObject::Pipe(_, end) => end.write(data, file.flags().contains(super::args::OpenFlags::NONBLOCK)).map(|n| (n, 0)),
        FileObject::EventFd(_, counter) => counter.write(data, file.flags().contains(super::args::OpenFlags::NONBLOCK)).map(|n| (n, 0)),
        // Morsel's /proc and /sys files take no writes (Linux: EINVAL
        // without a write method).
        FileObject::Generated(..) => Err(Errno::EINVAL),
        FileObject::Path(_) => Err(Errno::EBADF),
    }
}

/// Ends a transfer after an error: the count so far if there is one.
fn partial(total: usize, e: Errno) -> Result<usize, Errno> {
    if total > 0 { Ok(total) } else { Err(e) }
}

/// The pieces a transfer through `iov` moves, in order: each at most
/// [`CHUNK`] bytes of one segment, all together at most `MAX_RW_COUNT`.
/// Each piece is its user address (`EFAULT` if it wraps) and its length.
fn chunks(iov: &[IoVec]) -> impl Iterator<Item = (Result<UserAddr, Errno>, usize)> + '_ {
    let mut budget = MAX_RW_COUNT;
    iov.iter().flat_map(move |seg| {
        let seg_len = seg.len.min(budget);
        budget -= seg_len;
        (0..seg_len).step_by(CHUNK).map(move |done| {
            let want = usize::try_from(seg_len - done).unwrap_or(CHUNK).min(CHUNK);
            (seg.base.offset(done), want)
        })
    })
}

/// Reads into the user segments `iov` starting at `offset`.
fn read_segments(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, file: &OpenFile, iov: &[IoVec], offset: u64) -> Result<usize, Errno> {
    let mut total = 0usize;
    let mut buf = Vec::new();
    for (at, want) in chunks(iov) {
        buf.resize(want, 0);
        let n = match read_object(ctx, file, &mut buf, offset + to_u64(total)) {
            Ok(n) => n,
            Err(e) => return partial(total, e),
        };
        if let Err(e) = at.and_then(|at| mem.write_bytes(at, &buf[..n])) {
            return partial(total, e);
        }
        total += n;
        if n < want {
            break;
        }
    }
    Ok(total)
}

/// Writes the user segments `iov` at `offset` (`None`: appending); returns
/// the count and the offset after the data.
fn write_segments(
    ctx: &mut FsContext<'_>,
    mem: &mut dyn UserMemory,
    file: &OpenFile,
    iov: &[IoVec],
    offset: Option<u64>,
) -> Result<(usize, u64), Errno> {
    let mut total = 0usize;
    let mut end = offset.unwrap_or(0);
    let mut buf = Vec::new();
    for (at, want) in chunks(iov) {
        buf.resize(want, 0);
        if let Err(e) = at.and_then(|at| mem.read_bytes(at, &mut buf)) {
            return partial(total, e).map(|n| (n, end));
        }
        let (n, after) = match write_object(ctx, file, &buf, offset.map(|o| o + to_u64(total))) {
            Ok(r) => r,
            Err(e) => return partial(total, e).map(|n| (n, end)),
        };
        total += n;
        end = after;
        if n < want {
            break;
        }
    }
    Ok((total, end))
}

fn readable_file(ctx: &FsContext<'_>, fd: Fd) -> Result<alloc::sync::Arc<OpenFile>, Errno> {
    let file = ctx.fds.get_for_io(fd)?;
    if !file.flags().readable() {
        return Err(Errno::EBADF);
    }
    if file.inode().is_dir() {
        return Err(Errno::EISDIR);
    }
    Ok(file)
}

fn writable_file(ctx: &FsContext<'_>, fd: Fd) -> Result<alloc::sync::Arc<OpenFile>, Errno> {
    let file = ctx.fds.get_for_io(fd)?;
    if !file.flags().writable() {
        return Err(Errno::EBADF);
    }
    Ok(file)
}

/// Reads at the description's offset (moving it), or at `explicit`.
fn do_read(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, fd: Fd, iov: &[IoVec], explicit: Option<u64>) -> Result<u64, Errno> {
    let file = readable_file(ctx, fd)?;
    let n = match (explicit, positioning(&file)) {
        (Some(_), Positioning::Stream) => return Err(Errno::ESPIPE),
        (Some(off), _) => read_segments(ctx, mem, &file, iov, off)?,
        (None, Positioning::Offset) => {
            let mut pos = file.position();
            let n = read_segments(ctx, mem, &file, iov, *pos)?;
            *pos += to_u64(n);
            n
        }
        (None, _) => read_segments(ctx, mem, &file, iov, 0)?,
    };
    Ok(to_u64(n))
}

/// Writes at the description's offset (moving it; at the end with
/// `O_APPEND`), or at `explicit` (still at the end with `O_APPEND`, as Linux
/// does for `pwrite`).
fn do_write(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, fd: Fd, iov: &[IoVec], explicit: Option<u64>) -> Result<u64, Errno> {
    let file = writable_file(ctx, fd)?;
    let append = file.flags().contains(super::args::OpenFlags::APPEND);
    let n = match (explicit, positioning(&file)) {
        (Some(_), Positioning::Stream) => return Err(Errno::ESPIPE),
        (Some(off), _) => write_segments(ctx, mem, &file, iov, (!append).then_some(off))?.0,
        (None, Positioning::Offset) => {
            let mut pos = file.position();
            let (n, end) = write_segments(ctx, mem, &file, iov, (!append).then_some(*pos))?;
            if n > 0 {
                *pos = end;
            }
            n
        }
        (None, _) => write_segments(ctx, mem, &file, iov, Some(0))?.0,
    };
    Ok(to_u64(n))
}

/// `read(fd, buf, count)`.
pub fn read(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, fd: Fd, buf: UserAddr, count: u64) -> Result<u64, Errno> {
    do_read(ctx, mem, fd, &[IoVec { base: buf, len: count }], None)
}

/// `write(fd, buf, count)`.
pub fn write(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, fd: Fd, buf: UserAddr, count: u64) -> Result<u64, Errno> {
    do_write(ctx, mem, fd, &[IoVec { base: buf, len: count }], None)
}

/// `readv(fd, iov, iovcnt)`.
pub fn readv(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, fd: Fd, iov: UserAddr, count: u64) -> Result<u64, Errno> {
    ctx.fds.get(fd)?;
    let iov = mem.read_iovec_array(iov, count)?;
    do_read(ctx, mem, fd, &iov, None)
}

/// `writev(fd, iov, iovcnt)`.
pub fn writev(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, fd: Fd, iov: UserAddr, count: u64) -> Result<u64, Errno> {
    ctx.fds.get(fd)?;
    let iov = mem.read_iovec_array(iov, count)?;
    do_write(ctx, mem, fd, &iov, None)
}

fn explicit_offset(offset: i64) -> Result<u64, Errno> {
    u64::try_from(offset).map_err(|_| Errno::EINVAL)
}

/// `pread64(fd, buf, count, offset)`: `EINVAL` for a negative offset,
/// `ESPIPE` for terminals.
pub fn pread64(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, fd: Fd, buf: UserAddr, count: u64, offset: i64) -> Result<u64, Errno> {
    readable_file(ctx, fd)?;
    do_read(ctx, mem, fd, &[IoVec { base: buf, len: count }], Some(explicit_offset(offset)?))
}

/// `pwrite64(fd, buf, count, offset)`.
pub fn pwrite64(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, fd: Fd, buf: UserAddr, count: u64, offset: i64) -> Result<u64, Errno> {
    writable_file(ctx, fd)?;
    do_write(ctx, mem, fd, &[IoVec { base: buf, len: count }], Some(explicit_offset(offset)?))
}

/// `lseek(fd, offset, whence)`. Regular files: `SEEK_SET`, `SEEK_CUR`,
/// `SEEK_END`, and `SEEK_DATA`/`SEEK_HOLE` (the whole file is data;
/// `ENXIO` at or past the end). Directories: `SEEK_SET` and `SEEK_CUR` to a
/// position `getdents64` gave. Memory devices: always 0. Terminals: `ESPIPE`.
pub fn lseek(ctx: &mut FsContext<'_>, fd: Fd, offset: i64, whence: u32) -> Result<u64, Errno> {
    let file = ctx.fds.get_for_io(fd)?;
    match positioning(&file) {
        Positioning::Stream => return Err(Errno::ESPIPE),
        Positioning::Ignored => return if whence <= SEEK_HOLE { Ok(0) } else { Err(Errno::EINVAL) },
        Positioning::Offset => {}
    }
    let is_dir = file.inode().is_dir();
    if matches!(file.object(), FileObject::Generated(..)) && whence > SEEK_CUR {
        // seq_lseek: only SEEK_SET and SEEK_CUR.
        return Err(Errno::EINVAL);
    }
    let size = file.inode().size();
    let mut pos = file.position();
    let base = match whence {
        SEEK_SET => 0,
        SEEK_CUR => *pos,
        SEEK_END if !is_dir => size,
        SEEK_DATA | SEEK_HOLE if !is_dir => {
            let at = u64::try_from(offset).map_err(|_| Errno::ENXIO)?;
            if at >= size {
                return Err(Errno::ENXIO);
            }
            *pos = if whence == SEEK_DATA { at } else { size };
            return Ok(*pos);
        }
        _ => return Err(Errno::EINVAL),
    };
    let base = i64::try_from(base).map_err(|_| Errno::EOVERFLOW)?;
    let new = base.checked_add(offset).ok_or(Errno::EOVERFLOW)?;
    let new = u64::try_from(new).map_err(|_| Errno::EINVAL)?;
    if new > MAX_FILE_SIZE {
        return Err(Errno::EINVAL);
    }
    *pos = new;
    Ok(new)
}

/// `sendfile(out_fd, in_fd, offset, count)`: copies from a regular file or
/// memory device to any writable descriptor. With a non-null `offset` the
/// input is read from `*offset`, which is updated, and `in_fd`'s offset is
/// untouched. `EINVAL` for a terminal as input, an `O_APPEND` output, or the same
/// description on both sides,
/// `EBADF` for wrong access modes.
pub fn sendfile(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, out_fd: Fd, in_fd: Fd, offset: UserAddr, count: u64) -> Result<u64, Errno> {
    let input = readable_file(ctx, in_fd).map_err(|e| if e == Errno::EISDIR { Errno::EINVAL } else { e })?;
    let output = writable_file(ctx, out_fd)?;
    if alloc::sync::Arc::ptr_eq(&input, &output) || positioning(&input) == Positioning::Stream || output.flags().contains(super::args::OpenFlags::APPEND) {
        return Err(Errno::EINVAL);
    }
    let explicit = if offset.is_null() {
        None
    } else {
        let at = mem.read_u64(offset)?;
        Some(u64::try_from(i64::from_le_bytes(at.to_le_bytes())).map_err(|_| Errno::EINVAL)?)
    };
    let mut guard = if explicit.is_none() && positioning(&input) == Positioning::Offset { Some(input.position()) } else { None };
    let start = explicit.or(guard.as_deref().copied()).unwrap_or(0);
    let count = count.min(MAX_RW_COUNT);
    let mut total: u64 = 0;
    while total < count {
        let want = usize::try_from(count - total).unwrap_or(CHUNK).min(CHUNK);
        let mut buf = vec![0u8; want];
        let n = match read_object(ctx, &input, &mut buf, start + total) {
            Ok(n) => n,
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        let written = write_to_output(ctx, &output, &buf[..n]);
        let written = match written {
            Ok(w) => w,
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        };
        total += to_u64(written);
        if written < n {
            break;
        }
    }
    if let Some(pos) = guard.as_deref_mut() {
        *pos = start + total;
    }
    if explicit.is_some() {
        mem.write_u64(offset, start + total)?;
    }
    Ok(total)
}

/// Writes to `sendfile`'s output at its own offset.
fn write_to_output(ctx: &mut FsContext<'_>, output: &OpenFile, data: &[u8]) -> Result<usize, Errno> {
    if positioning(output) == Positioning::Offset {
        let mut pos = output.position();
        let (n, end) = write_object(ctx, output, data, Some(*pos))?;
        *pos = end;
        Ok(n)
    } else {
        write_object(ctx, output, data, Some(0)).map(|r| r.0)
    }
}
