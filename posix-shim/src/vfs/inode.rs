//! Inodes of the in-memory filesystem: their metadata and their content
//! (directory entries, sparse file pages, symlink targets, device numbers).
//!
//! An inode is an `Arc<Inode>` with its mutable state behind a spin lock.
//! Operations that change one inode only (read, write, truncate, metadata)
//! live here; operations on the namespace (create, unlink, rename) are in
//! [`super::Vfs`], which serialises them.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::{Mutex, MutexGuard};

use super::page::{FilePage, PageSource};
use super::synthetic::SynthNode;
use super::{DevNumber, FileType, Timespec};
use crate::Errno;

/// The page size file contents are stored in; also `st_blksize`.
pub const PAGE_SIZE: u64 = 4096;
/// The largest file size (`MAX_LFS_FILESIZE` on 64-bit).
pub const MAX_FILE_SIZE: u64 = i64::MAX.unsigned_abs();

/// Space and inode accounting shared by every inode of one filesystem.
#[derive(Debug)]
pub(crate) struct Usage {
    /// Capacity in pages.
    pub capacity_pages: u64,
    /// Pages holding file data now.
    pub used_pages: AtomicU64,
    /// Inodes alive now.
    pub inodes: AtomicU64,
    /// Where file pages come from.
    pub pages: Arc<dyn PageSource>,
}

impl Usage {
    fn take_page(&self) -> Result<(), Errno> {
        self.used_pages
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < self.capacity_pages).then_some(used + 1)
            })
            .map(|_| ())
            .map_err(|_| Errno::ENOSPC)
    }

    fn release_pages(&self, n: u64) {
        self.used_pages.fetch_sub(n, Ordering::AcqRel);
    }
}

/// A regular file's bytes: a size and the pages that were written. Pages
/// never written (holes) read as zeros and take no memory.
#[derive(Debug)]
pub(crate) struct FileData {
    size: u64,
    pages: BTreeMap<u64, Arc<dyn FilePage>>,
    usage: Arc<Usage>,
}

impl FileData {
    fn new(usage: Arc<Usage>) -> FileData {
        FileData { size: 0, pages: BTreeMap::new(), usage }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        if offset >= self.size {
            return 0;
        }
        let avail = self.size - offset;
        let n = usize::try_from(avail).map_or(buf.len(), |a| a.min(buf.len()));
        let mut done = 0;
        while done < n {
            let pos = offset + to_u64(done);
            let (page, in_page) = (pos / PAGE_SIZE, to_usize(pos % PAGE_SIZE));
            let step = (n - done).min(to_usize(PAGE_SIZE) - in_page);
            let dst = &mut buf[done..done + step];
            match self.pages.get(&page) {
                Some(p) => p.read(in_page, dst),
                None => dst.fill(0),
            }
            done += step;
        }
        n
    }

    /// The page `page`, allocated (zeroed) if it was a hole.
    fn page_mut(&mut self, page: u64) -> Result<&Arc<dyn FilePage>, Errno> {
        if !self.pages.contains_key(&page) {
            self.usage.take_page()?;
            let Some(p) = self.usage.pages.allocate() else {
                self.usage.release_pages(1);
                return Err(Errno::ENOSPC);
            };
            self.pages.insert(page, p);
        }
        self.pages.get(&page).ok_or(Errno::EIO)
    }

    /// Writes `data` at `offset`; returns how much was written (short only if
    /// space ran out after some bytes).
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        let end = offset.checked_add(to_u64(data.len())).ok_or(Errno::EFBIG)?;
        if end > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let mut done = 0;
        while done < data.len() {
            let pos = offset + to_u64(done);
            let (page, in_page) = (pos / PAGE_SIZE, to_usize(pos % PAGE_SIZE));
            let step = (data.len() - done).min(to_usize(PAGE_SIZE) - in_page);
            match self.page_mut(page) {
                Ok(p) => p.write(in_page, &data[done..done + step]),
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
            done += step;
        }
        self.size = self.size.max(offset + to_u64(done));
        Ok(done)
    }

    fn truncate(&mut self, len: u64) -> Result<(), Errno> {
        if len > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        if len < self.size {
            let first_dropped = len.div_ceil(PAGE_SIZE);
            let dropped = self.pages.split_off(&first_dropped);
            self.usage.release_pages(to_u64(dropped.len()));
            if !len.is_multiple_of(PAGE_SIZE)
                && let Some(p) = self.pages.get(&(len / PAGE_SIZE))
            {
                p.zero_from(to_usize(len % PAGE_SIZE));
            }
        }
        self.size = len;
        Ok(())
    }

    /// Allocates the pages of `[offset, offset + len)`; grows the size unless
    /// `keep_size`.
    fn allocate(&mut self, offset: u64, len: u64, keep_size: bool) -> Result<(), Errno> {
        let end = offset.checked_add(len).filter(|&e| e <= MAX_FILE_SIZE).ok_or(Errno::EFBIG)?;
        for page in offset / PAGE_SIZE..end.div_ceil(PAGE_SIZE) {
            self.page_mut(page)?;
        }
        if !keep_size {
            self.size = self.size.max(end);
        }
        Ok(())
    }

    /// Zeroes `[offset, offset + len)` and frees the whole pages in it.
    fn punch_hole(&mut self, offset: u64, len: u64) {
        let end = offset.saturating_add(len).min(self.size);
        let mut pos = offset;
        while pos < end {
            let page = pos / PAGE_SIZE;
            let page_end = (page + 1) * PAGE_SIZE;
            let stop = end.min(page_end);
            if pos.is_multiple_of(PAGE_SIZE) && stop == page_end {
                if self.pages.remove(&page).is_some() {
                    self.usage.release_pages(1);
                }
            } else if let Some(p) = self.pages.get(&page) {
                let zeros = [0u8; PAGE_SIZE as usize];
                p.write(to_usize(pos % PAGE_SIZE), &zeros[..to_usize(stop - pos)]);
            }
            pos = stop;
        }
    }

    fn blocks(&self) -> u64 {
        to_u64(self.pages.len()) * (PAGE_SIZE / 512)
    }
}

impl Drop for FileData {
    fn drop(&mut self) {
        self.usage.release_pages(to_u64(self.pages.len()));
    }
}

/// What a mapping of a file shows at one page: see [`Inode::mapped_page`].
#[derive(Debug, Clone)]
pub enum MappedPage {
    /// The file's page.
    Page(Arc<dyn FilePage>),
    /// A hole: zeros, with no page behind them yet.
    Hole,
    /// Past the end of the file.
    PastEnd,
}

/// One directory entry.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub name: Vec<u8>,
    pub inode: Arc<Inode>,
}

/// A directory's entries, in creation order. Each entry has a cookie that
/// never changes while it exists, so `getdents64` offsets stay valid across
/// creations and removals (as tmpfs's stable offsets are).
#[derive(Debug)]
pub(crate) struct Directory {
    pub parent: Weak<Inode>,
    pub by_cookie: BTreeMap<u64, Entry>,
    pub by_name: BTreeMap<Vec<u8>, u64>,
    pub next_cookie: u64,
}

/// Cookies 0 and 1 are `.` and `..`; entries start here.
pub(crate) const FIRST_COOKIE: u64 = 2;

impl Directory {
    pub fn new(parent: Weak<Inode>) -> Directory {
        Directory { parent, by_cookie: BTreeMap::new(), by_name: BTreeMap::new(), next_cookie: FIRST_COOKIE }
    }

    pub fn get(&self, name: &[u8]) -> Option<&Arc<Inode>> {
        self.by_name.get(name).and_then(|c| self.by_cookie.get(c)).map(|e| &e.inode)
    }

    pub fn insert(&mut self, name: &[u8], inode: Arc<Inode>) {
        let cookie = self.next_cookie;
        self.next_cookie += 1;
        self.by_name.insert(name.to_vec(), cookie);
        self.by_cookie.insert(cookie, Entry { name: name.to_vec(), inode });
    }

    pub fn remove(&mut self, name: &[u8]) -> Option<Arc<Inode>> {
        let cookie = self.by_name.remove(name)?;
        self.by_cookie.remove(&cookie).map(|e| e.inode)
    }

    /// Replaces the inode under an existing name, keeping its cookie.
    pub fn replace(&mut self, name: &[u8], inode: Arc<Inode>) {
        if let Some(e) = self.by_name.get(name).and_then(|c| self.by_cookie.get_mut(c)) {
            e.inode = inode;
        }
    }
}

/// What an inode holds.
#[derive(Debug)]
pub(crate) enum Content {
    Directory(Directory),
    Regular(FileData),
    Symlink(Vec<u8>),
    CharDevice(DevNumber),
    Fifo,
    /// A node of a synthetic filesystem (its identity is [`Inode::synth`]).
    Synthetic,
}

/// An inode's mutable state.
#[derive(Debug)]
pub(crate) struct InodeState {
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
    pub btime: Timespec,
    pub content: Content,
}

/// A file, directory, symlink or device node.
#[derive(Debug)]
pub struct Inode {
    ino: u64,
    file_type: FileType,
    usage: Arc<Usage>,
    state: Mutex<InodeState>,
    /// For a node of a synthetic filesystem: which one.
    synth: Option<SynthNode>,
}

impl Drop for Inode {
    fn drop(&mut self) {
        self.usage.inodes.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A snapshot of an inode's metadata, as `stat` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    /// Inode number.
    pub ino: u64,
    /// File type.
    pub file_type: FileType,
    /// Permission, set-id and sticky bits.
    pub perm: u32,
    /// Hard link count.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (a symlink's target length; 0 for devices).
    pub size: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// The device a device node stands for.
    pub rdev: DevNumber,
    /// Last access.
    pub atime: Timespec,
    /// Last modification of the content.
    pub mtime: Timespec,
    /// Last change of the inode.
    pub ctime: Timespec,
    /// Creation.
    pub btime: Timespec,
}

impl Metadata {
    /// `st_mode`: type and permission bits.
    pub fn mode(&self) -> u32 {
        self.file_type.mode_bits() | self.perm
    }
}

/// A directory entry as `getdents64` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The position after this entry (`d_off`).
    pub next: u64,
    /// Inode number.
    pub ino: u64,
    /// File type.
    pub file_type: FileType,
    /// Name.
    pub name: Vec<u8>,
}

/// `fallocate` modes Morsel's tmpfs implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocate {
    /// Mode 0, or `FALLOC_FL_KEEP_SIZE` when `keep_size`.
    Reserve {
        /// `FALLOC_FL_KEEP_SIZE`.
        keep_size: bool,
    },
    /// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`.
    PunchHole,
}

impl Inode {
    pub(crate) fn new(ino: u64, usage: &Arc<Usage>, state: InodeState) -> Inode {
        usage.inodes.fetch_add(1, Ordering::AcqRel);
        let file_type = match &state.content {
            Content::Directory(_) => FileType::Directory,
            Content::Regular(_) => FileType::Regular,
            Content::Symlink(_) => FileType::Symlink,
            Content::CharDevice(_) => FileType::CharDevice,
            Content::Fifo => FileType::Fifo,
            Content::Synthetic => FileType::Regular,
        };
        Inode { ino, file_type, usage: usage.clone(), state: Mutex::new(state), synth: None }
    }

    pub(crate) fn new_synthetic(ino: u64, file_type: FileType, usage: &Arc<Usage>, state: InodeState, node: SynthNode) -> Inode {
        usage.inodes.fetch_add(1, Ordering::AcqRel);
        Inode { ino, file_type, usage: usage.clone(), state: Mutex::new(state), synth: Some(node) }
    }

    pub(crate) fn synth(&self) -> Option<&SynthNode> {
        self.synth.as_ref()
    }

    /// Whether this is a node of a synthetic filesystem (/proc, /sys).
    pub fn is_synthetic(&self) -> bool {
        self.synth.is_some()
    }

    /// The device number of the filesystem the inode is on, for a synthetic
    /// one (`None`: the tmpfs).
    pub fn fs_dev(&self) -> Option<DevNumber> {
        self.synth.as_ref().map(|s| s.mount.fs.dev())
    }

    /// A synthetic regular file's content now (what an open snapshots);
    /// `EINVAL` for anything else.
    pub fn generate(&self) -> Result<Vec<u8>, Errno> {
        match &self.synth {
            Some(s) if self.file_type == FileType::Regular => s.read(),
            _ => Err(Errno::EINVAL),
        }
    }

    pub(crate) fn new_file_data(usage: &Arc<Usage>) -> Content {
        Content::Regular(FileData::new(usage.clone()))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, InodeState> {
        self.state.lock()
    }

    /// The inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// The file type, fixed for the inode's life.
    pub fn file_type(&self) -> FileType {
        self.file_type
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Directory
    }

    /// The device number of a character device node.
    pub fn device(&self) -> Option<DevNumber> {
        match self.lock().content {
            Content::CharDevice(d) => Some(d),
            _ => None,
        }
    }

    /// The metadata now.
    pub fn metadata(&self) -> Metadata {
        let s = self.lock();
        let (size, blocks, rdev) = match &s.content {
            Content::Regular(f) => (f.size, f.blocks(), DevNumber::NONE),
            Content::Symlink(t) => (to_u64(t.len()), 0, DevNumber::NONE),
            Content::Directory(_) => (PAGE_SIZE, 0, DevNumber::NONE),
            Content::CharDevice(d) => (0, 0, *d),
            Content::Fifo | Content::Synthetic => (0, 0, DevNumber::NONE),
        };
        Metadata {
            ino: self.ino,
            file_type: self.file_type,
            perm: s.perm,
            nlink: s.nlink,
            uid: s.uid,
            gid: s.gid,
            size,
            blocks,
            rdev,
            atime: s.atime,
            mtime: s.mtime,
            ctime: s.ctime,
            btime: s.btime,
        }
    }

    /// The size of a regular file (0 for others).
    pub fn size(&self) -> u64 {
        match &self.lock().content {
            Content::Regular(f) => f.size,
            _ => 0,
        }
    }

    /// Reads at `offset`; `EISDIR` for a directory, `EINVAL` for other
    /// non-regular inodes. Updates the access time as `relatime` does.
    pub fn read_at(&self, offset: u64, buf: &mut [u8], now: Timespec) -> Result<usize, Errno> {
        if self.synth.is_some() {
            if self.is_dir() {
                return Err(Errno::EISDIR);
            }
            let data = self.generate()?;
            let start = to_usize(offset).min(data.len());
            let n = buf.len().min(data.len() - start);
            buf[..n].copy_from_slice(&data[start..start + n]);
            return Ok(n);
        }
        let mut s = self.lock();
        let n = match &s.content {
            Content::Regular(f) => f.read_at(offset, buf),
            Content::Directory(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        };
        if s.atime <= s.mtime || s.atime <= s.ctime || now.sec - s.atime.sec >= 24 * 3600 {
            s.atime = now;
        }
        Ok(n)
    }

    /// Writes at `offset` (or at the end, if `offset` is `None`, atomically
    /// with finding the end); returns the bytes written and the offset after
    /// them.
    pub fn write_at(&self, offset: Option<u64>, data: &[u8], now: Timespec) -> Result<(usize, u64), Errno> {
        let mut s = self.lock();
        let Content::Regular(f) = &mut s.content else {
            return Err(if self.is_dir() { Errno::EISDIR } else { Errno::EINVAL });
        };
        let at = offset.unwrap_or(f.size);
        let n = f.write_at(at, data)?;
        if n > 0 {
            s.mtime = now;
            s.ctime = now;
            // A write by anyone clears set-user-ID (and set-group-ID with group exec).
            s.perm &= !0o4000;
            if s.perm & 0o010 != 0 {
                s.perm &= !0o2000;
            }
        }
        Ok((n, at + to_u64(n)))
    }

    /// What a mapping shows at page `index` of a regular file: the file's
    /// own page (allocated first if it is a hole and `allocate`), a hole, or
    /// nothing because the page lies wholly past the end (SIGBUS on Linux).
    /// `ENODEV` for inodes other than regular files, `ENOSPC` if a page
    /// cannot be allocated.
    pub fn mapped_page(&self, index: u64, allocate: bool) -> Result<MappedPage, Errno> {
        if self.synth.is_some() {
            return Err(Errno::ENODEV);
        }
        let mut s = self.lock();
        let Content::Regular(f) = &mut s.content else {
            return Err(Errno::ENODEV);
        };
        if index >= f.size.div_ceil(PAGE_SIZE) {
            return Ok(MappedPage::PastEnd);
        }
        if let Some(page) = f.pages.get(&index) {
            return Ok(MappedPage::Page(page.clone()));
        }
        if !allocate {
            return Ok(MappedPage::Hole);
        }
        f.page_mut(index).map(|page| MappedPage::Page(page.clone()))
    }

    /// Sets the size of a regular file: `EISDIR` for a directory, `EINVAL`
    /// for other types.
    pub fn truncate(&self, len: u64, now: Timespec) -> Result<(), Errno> {
        let mut s = self.lock();
        let Content::Regular(f) = &mut s.content else {
            return Err(if self.is_dir() { Errno::EISDIR } else { Errno::EINVAL });
        };
        f.truncate(len)?;
        s.mtime = now;
        s.ctime = now;
        Ok(())
    }

    /// `fallocate` on a regular file (`ENODEV` for others, as Linux gives for
    /// non-regular files).
    pub fn allocate(&self, mode: Allocate, offset: u64, len: u64, now: Timespec) -> Result<(), Errno> {
        let mut s = self.lock();
        let Content::Regular(f) = &mut s.content else {
            return Err(if self.is_dir() { Errno::EISDIR } else { Errno::ENODEV });
        };
        match mode {
            Allocate::Reserve { keep_size } => f.allocate(offset, len, keep_size)?,
            Allocate::PunchHole => f.punch_hole(offset, len),
        }
        s.mtime = now;
        s.ctime = now;
        Ok(())
    }

    /// A symlink's target; `EINVAL` for anything else.
    pub fn readlink(&self) -> Result<Vec<u8>, Errno> {
        if let Some(s) = &self.synth {
            return if self.file_type == FileType::Symlink { s.mount.fs.readlink(&s.path) } else { Err(Errno::EINVAL) };
        }
        match &self.lock().content {
            Content::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The entry at directory position `pos` (0 is `.`, 1 is `..`, then
    /// entries by cookie), or `None` at the end; `ENOTDIR` for non-directories.
    pub fn dir_entry_at(&self, pos: u64) -> Result<Option<DirEntry>, Errno> {
        if let Some(sn) = &self.synth {
            return self.synthetic_entry_at(sn, pos);
        }
        let s = self.lock();
        let Content::Directory(d) = &s.content else { return Err(Errno::ENOTDIR) };
        let entry = match pos {
            0 => Some(DirEntry { next: 1, ino: self.ino, file_type: FileType::Directory, name: b".".to_vec() }),
            1 => {
                let parent_ino = d.parent.upgrade().map_or(self.ino, |p| p.ino);
                Some(DirEntry { next: FIRST_COOKIE, ino: parent_ino, file_type: FileType::Directory, name: b"..".to_vec() })
            }
            _ => d.by_cookie.range(pos..).next().map(|(&cookie, e)| DirEntry {
                next: cookie + 1,
                ino: e.inode.ino,
                file_type: e.inode.file_type,
                name: e.name.clone(),
            }),
        };
        Ok(entry)
    }

    fn synthetic_entry_at(&self, sn: &SynthNode, pos: u64) -> Result<Option<DirEntry>, Errno> {
        if !self.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let entry = match pos {
            0 => Some(DirEntry { next: 1, ino: self.ino, file_type: FileType::Directory, name: b".".to_vec() }),
            1 => Some(DirEntry { next: 2, ino: sn.parent_ino(), file_type: FileType::Directory, name: b"..".to_vec() }),
            _ => {
                let entries = sn.mount.fs.entries(&sn.path);
                entries.into_iter().nth(to_usize(pos - 2)).map(|(name, file_type)| {
                    let mut path = sn.path.clone();
                    path.push(name.clone());
                    DirEntry { next: pos + 1, ino: super::synthetic::ino_of(&path), file_type, name }
                })
            }
        };
        Ok(entry)
    }

    /// Whether a directory has no entries besides `.` and `..`.
    pub fn is_empty_dir(&self) -> bool {
        matches!(&self.lock().content, Content::Directory(d) if d.by_cookie.is_empty())
    }

    /// The child `name` of a directory.
    pub(crate) fn child(&self, name: &[u8]) -> Result<Option<Arc<Inode>>, Errno> {
        if let Some(s) = &self.synth {
            return if self.is_dir() { Ok(s.child(name)) } else { Err(Errno::ENOTDIR) };
        }
        match &self.lock().content {
            Content::Directory(d) => Ok(d.get(name).cloned()),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// A directory's parent (itself for the root; `ENOENT` once removed).
    pub(crate) fn parent(&self) -> Result<Arc<Inode>, Errno> {
        if let Some(s) = &self.synth {
            return if self.is_dir() { s.parent() } else { Err(Errno::ENOTDIR) };
        }
        match &self.lock().content {
            Content::Directory(d) => d.parent.upgrade().ok_or(Errno::ENOENT),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// The name under which `child` appears in this directory.
    pub(crate) fn name_of(&self, child: &Arc<Inode>) -> Option<Vec<u8>> {
        // A synthetic node is named by its path; a synthetic root by its mountpoint.
        let child = match child.synth() {
            Some(s) if !s.path.is_empty() => return s.path.last().cloned(),
            Some(s) => &s.mount.mountpoint,
            None => child,
        };
        match &self.lock().content {
            Content::Directory(d) => {
                d.by_cookie.values().find(|e| Arc::ptr_eq(&e.inode, child)).map(|e| e.name.clone())
            }
            _ => None,
        }
    }
}

pub(crate) fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

pub(crate) fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
