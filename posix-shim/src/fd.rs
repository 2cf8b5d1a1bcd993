//! Open file descriptions and descriptor tables.
//!
//! An [`OpenFile`] is Linux's `struct file`: the object opened, the file
//! offset and the status flags, shared (through `Arc`) by every descriptor
//! that `dup` or `fork` made from the same `open`. An [`FdTable`] maps
//! descriptor numbers to open files with the per-descriptor close-on-exec
//! flag; [`FdTable::fork`] gives a child a table whose descriptors share the
//! parent's open files, as fork does. [`FileObject`] grows a variant per
//! kind of object (pipes, sockets, eventfds come with the process layer).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use spin::{Mutex, MutexGuard};

use crate::Errno;
use crate::device::MemDevice;
use crate::syscall::args::{Fd, OpenFlags};
use crate::vfs::{DevNumber, Inode};

/// What an open file description refers to.
#[derive(Debug, Clone)]
pub enum FileObject {
    /// A regular file or a directory of the VFS.
    Inode(Arc<Inode>),
    /// A memory device node (`/dev/null`, `zero`, `full`, `random`, `urandom`).
    MemDevice(Arc<Inode>, MemDevice),
    /// A device node served by a kernel driver ([`crate::device::CharDevices`]).
    Device(Arc<Inode>, DevNumber),
    /// An `O_PATH` descriptor: the inode is named, not opened for I/O.
    Path(Arc<Inode>),
    /// One end of a pipe (its FIFO inode, for fstat).
    Pipe(Arc<Inode>, Arc<crate::pipe::PipeEnd>),
    /// A synthetic file (/proc, /sys) with the content generated when it
    /// was opened, read with offsets as a `seq_file`.
    Generated(Arc<Inode>, Arc<[u8]>),
    /// An eventfd (with an anonymous inode, for fstat).
    EventFd(Arc<Inode>, Arc<crate::eventfd::EventFd>),
}

impl FileObject {
    /// The inode behind the object.
    pub fn inode(&self) -> &Arc<Inode> {
        match self {
            FileObject::Inode(i)
            | FileObject::MemDevice(i, _)
            | FileObject::Device(i, _)
            | FileObject::Path(i)
            | FileObject::Pipe(i, _)
            | FileObject::Generated(i, _)
            | FileObject::EventFd(i, _) => i,
        }
    }
}

/// An open file description.
#[derive(Debug)]
pub struct OpenFile {
    object: FileObject,
    flags: AtomicU32,
    position: Mutex<u64>,
    /// The canonical path it was opened by, if it was opened by a path.
    path: Option<Vec<u8>>,
}

impl OpenFile {
    /// A new description of `object` opened with `flags` (creation flags are
    /// dropped; the status flags are kept).
    pub fn new(object: FileObject, flags: OpenFlags) -> Arc<OpenFile> {
        Arc::new(OpenFile { object, flags: AtomicU32::new(flags.status_flags().bits()), position: Mutex::new(0), path: None })
    }

    /// [`new`](Self::new) for a file opened by `path` (canonical), which
    /// /proc/PID/fd shows.
    pub fn with_path(object: FileObject, flags: OpenFlags, path: Vec<u8>) -> Arc<OpenFile> {
        let file = OpenFile { object, flags: AtomicU32::new(flags.status_flags().bits()), position: Mutex::new(0), path: Some(path) };
        Arc::new(file)
    }

    /// The canonical path it was opened by, if any.
    pub fn path(&self) -> Option<&[u8]> {
        self.path.as_deref()
    }

    /// The object.
    pub fn object(&self) -> &FileObject {
        &self.object
    }

    /// The inode behind the object.
    pub fn inode(&self) -> &Arc<Inode> {
        self.object.inode()
    }

    /// The status flags and access mode (`F_GETFL`).
    pub fn flags(&self) -> OpenFlags {
        OpenFlags::from_bits_retain(self.flags.load(Ordering::Acquire))
    }

    /// `F_SETFL`: replaces the flags Linux lets change ([`OpenFlags::SETFL_MASK`]).
    pub fn set_status_flags(&self, flags: OpenFlags) {
        let mask = OpenFlags::SETFL_MASK.bits();
        let _ = self.flags.fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| Some((old & !mask) | (flags.bits() & mask)));
    }

    /// Whether this is an `O_PATH` description.
    pub fn is_path(&self) -> bool {
        matches!(self.object, FileObject::Path(_))
    }

    /// The file offset, locked: holding the guard across a read or write
    /// makes it atomic with respect to the offset, as Linux's `f_pos_lock`.
    pub fn position(&self) -> MutexGuard<'_, u64> {
        self.position.lock()
    }
}

/// One slot of a descriptor table.
#[derive(Debug, Clone)]
pub struct FdEntry {
    /// The open file.
    pub file: Arc<OpenFile>,
    /// `FD_CLOEXEC`.
    pub cloexec: bool,
}

/// A process's descriptor table.
#[derive(Debug, Clone)]
pub struct FdTable {
    slots: Vec<Option<FdEntry>>,
    limit: usize,
}

impl Default for FdTable {
    fn default() -> Self {
        FdTable::new(FdTable::DEFAULT_LIMIT)
    }
}

impl FdTable {
    /// Linux's default soft `RLIMIT_NOFILE`.
    pub const DEFAULT_LIMIT: usize = 1024;
    /// The hard ceiling (`fs.nr_open`).
    pub const MAX_LIMIT: usize = 1 << 20;

    /// An empty table whose descriptors stay below `limit`.
    pub fn new(limit: usize) -> FdTable {
        FdTable { slots: Vec::new(), limit: limit.min(Self::MAX_LIMIT) }
    }

    /// `RLIMIT_NOFILE` (the soft limit).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Sets `RLIMIT_NOFILE`; descriptors already above it stay open, as on Linux.
    pub fn set_limit(&mut self, limit: usize) -> Result<(), Errno> {
        if limit > Self::MAX_LIMIT {
            return Err(Errno::EPERM);
        }
        self.limit = limit;
        Ok(())
    }

    /// The entry for `fd`; `EBADF` if it is not open.
    pub fn entry(&self, fd: Fd) -> Result<&FdEntry, Errno> {
        self.slots.get(fd.index()).and_then(Option::as_ref).ok_or(Errno::EBADF)
    }

    /// The open file behind `fd`; `EBADF` if it is not open.
    pub fn get(&self, fd: Fd) -> Result<Arc<OpenFile>, Errno> {
        self.entry(fd).map(|e| e.file.clone())
    }

    /// The open file behind `fd` for I/O: `EBADF` also for `O_PATH`.
    pub fn get_for_io(&self, fd: Fd) -> Result<Arc<OpenFile>, Errno> {
        let f = self.get(fd)?;
        if f.is_path() { Err(Errno::EBADF) } else { Ok(f) }
    }

    /// Installs `file` at the lowest free descriptor at or above `min`:
    /// `EMFILE` if none is below the limit.
    pub fn insert_from(&mut self, min: usize, file: Arc<OpenFile>, cloexec: bool) -> Result<Fd, Errno> {
        let free = (min..self.limit).find(|&i| self.slots.get(i).is_none_or(Option::is_none)).ok_or(Errno::EMFILE)?;
        self.put(free, FdEntry { file, cloexec });
        Fd::from_index(free)
    }

    /// Installs `file` at the lowest free descriptor.
    pub fn insert(&mut self, file: Arc<OpenFile>, cloexec: bool) -> Result<Fd, Errno> {
        self.insert_from(0, file, cloexec)
    }

    fn put(&mut self, index: usize, entry: FdEntry) -> Option<FdEntry> {
        if self.slots.len() <= index {
            self.slots.resize(index + 1, None);
        }
        self.slots[index].replace(entry)
    }

    /// Closes `fd`, returning its open file; `EBADF` if it was not open.
    pub fn close(&mut self, fd: Fd) -> Result<Arc<OpenFile>, Errno> {
        let entry = self.slots.get_mut(fd.index()).and_then(Option::take).ok_or(Errno::EBADF)?;
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        Ok(entry.file)
    }

    /// `dup`: the lowest free descriptor, sharing `fd`'s open file, without
    /// close-on-exec.
    pub fn dup(&mut self, fd: Fd) -> Result<Fd, Errno> {
        let file = self.get(fd)?;
        self.insert(file, false)
    }

    /// `fcntl(F_DUPFD / F_DUPFD_CLOEXEC)`: `EINVAL` if `min` is at or above the limit.
    pub fn dup_from(&mut self, fd: Fd, min: usize, cloexec: bool) -> Result<Fd, Errno> {
        let file = self.get(fd)?;
        if min >= self.limit {
            return Err(Errno::EINVAL);
        }
        self.insert_from(min, file, cloexec)
    }

    /// `dup3`: makes `new` refer to `old`'s open file, closing what `new` held
    /// (returned, so the caller drops it outside any lock). `EINVAL` if they
    /// are equal, `EBADF` if `new` is at or above the limit.
    pub fn dup3(&mut self, old: Fd, new: Fd, cloexec: bool) -> Result<Option<Arc<OpenFile>>, Errno> {
        let file = self.get(old)?;
        if old == new {
            return Err(Errno::EINVAL);
        }
        if new.index() >= self.limit {
            return Err(Errno::EBADF);
        }
        Ok(self.put(new.index(), FdEntry { file, cloexec }).map(|e| e.file))
    }

    /// Sets or clears `FD_CLOEXEC`.
    pub fn set_cloexec(&mut self, fd: Fd, cloexec: bool) -> Result<(), Errno> {
        let e = self.slots.get_mut(fd.index()).and_then(Option::as_mut).ok_or(Errno::EBADF)?;
        e.cloexec = cloexec;
        Ok(())
    }

    /// The table a forked child starts with: the same descriptors, sharing
    /// the same open files (offsets and status flags included).
    pub fn fork(&self) -> FdTable {
        self.clone()
    }

    /// Closes every close-on-exec descriptor (at `execve`); returns the open
    /// files closed.
    pub fn close_on_exec(&mut self) -> Vec<Arc<OpenFile>> {
        let mut closed = Vec::new();
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|e| e.cloexec)
                && let Some(e) = slot.take()
            {
                closed.push(e.file);
            }
        }
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        closed
    }

    /// The open descriptors in increasing order (for `/proc/self/fd`).
    pub fn iter(&self) -> impl Iterator<Item = (Fd, &FdEntry)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| Some((Fd::from_index(i).ok()?, s.as_ref()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::tests::new_vfs;

    fn file() -> Arc<OpenFile> {
        let v = new_vfs();
        OpenFile::new(FileObject::Inode(v.root()), OpenFlags::RDWR | OpenFlags::CLOEXEC | OpenFlags::APPEND)
    }

    fn fd(n: i32) -> Fd {
        Fd::new(n).unwrap()
    }

    #[test]
    fn lowest_free_descriptor() {
        let mut t = FdTable::default();
        let f = file();
        assert_eq!(t.insert(f.clone(), false), Ok(fd(0)));
        assert_eq!(t.insert(f.clone(), false), Ok(fd(1)));
        assert_eq!(t.insert(f.clone(), false), Ok(fd(2)));
        t.close(fd(1)).unwrap();
        assert_eq!(t.insert(f.clone(), false), Ok(fd(1)));
        assert_eq!(t.close(fd(7)).err(), Some(Errno::EBADF));
        assert_eq!(t.get(fd(9)).err(), Some(Errno::EBADF));
        assert_eq!(t.iter().map(|(f, _)| f.raw()).collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn limit_gives_emfile_and_einval() {
        let mut t = FdTable::new(2);
        let f = file();
        t.insert(f.clone(), false).unwrap();
        t.insert(f.clone(), false).unwrap();
        assert_eq!(t.insert(f.clone(), false), Err(Errno::EMFILE));
        assert_eq!(t.dup_from(fd(0), 2, false), Err(Errno::EINVAL));
        assert_eq!(t.dup3(fd(0), fd(2), false).err(), Some(Errno::EBADF));
        assert_eq!(t.set_limit(FdTable::MAX_LIMIT + 1), Err(Errno::EPERM));
    }

    #[test]
    fn dup_shares_the_description_and_cloexec_is_per_fd() {
        let mut t = FdTable::default();
        let f = file();
        assert_eq!(f.flags(), OpenFlags::RDWR | OpenFlags::APPEND);
        t.insert(f.clone(), true).unwrap();
        let d = t.dup(fd(0)).unwrap();
        assert_eq!(d, fd(1));
        assert!(t.entry(fd(0)).unwrap().cloexec);
        assert!(!t.entry(d).unwrap().cloexec);
        *t.get(fd(0)).unwrap().position() = 42;
        assert_eq!(*t.get(d).unwrap().position(), 42);
        t.get(d).unwrap().set_status_flags(OpenFlags::NONBLOCK | OpenFlags::WRONLY);
        assert_eq!(t.get(fd(0)).unwrap().flags(), OpenFlags::RDWR | OpenFlags::NONBLOCK);
        assert_eq!(t.dup_from(fd(0), 10, true), Ok(fd(10)));
        assert!(t.entry(fd(10)).unwrap().cloexec);
        assert_eq!(t.dup3(fd(0), fd(0), false).err(), Some(Errno::EINVAL));
        let replaced = t.dup3(fd(1), fd(10), false).unwrap();
        assert!(replaced.is_some());
        assert!(!t.entry(fd(10)).unwrap().cloexec);
    }

    #[test]
    fn fork_shares_and_exec_closes_cloexec() {
        let mut t = FdTable::default();
        let f = file();
        t.insert(f.clone(), false).unwrap();
        t.insert(f.clone(), true).unwrap();
        let mut child = t.fork();
        *child.get(fd(0)).unwrap().position() = 7;
        assert_eq!(*t.get(fd(0)).unwrap().position(), 7);
        child.close(fd(0)).unwrap();
        assert!(t.get(fd(0)).is_ok());
        assert_eq!(t.close_on_exec().len(), 1);
        assert_eq!(t.get(fd(1)).err(), Some(Errno::EBADF));
        assert!(t.get(fd(0)).is_ok());
        t.set_cloexec(fd(0), true).unwrap();
        assert_eq!(t.set_cloexec(fd(5), true), Err(Errno::EBADF));
    }
}
