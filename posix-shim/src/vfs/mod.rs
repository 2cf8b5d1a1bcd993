//! The in-memory filesystem (tmpfs) that holds the initramfs and everything
//! μprocesses create: inodes, path resolution, permission checks, and the
//! namespace operations (create, link, unlink, rmdir, rename) with Linux's
//! errors.
//!
//! Namespace changes are serialised by one lock on the [`Vfs`]; each inode
//! has its own lock for its content and metadata, and no code holds two
//! inode locks at once. Synthetic filesystems (/proc, /sys) are mounted on
//! tmpfs directories ([`Vfs::mount`], [`SyntheticFs`]); device nodes are
//! inodes here whose I/O the descriptor layer routes.

mod inode;
pub mod page;
mod path;
mod synthetic;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use bitflags::bitflags;
use spin::Mutex;

use crate::Errno;
pub use inode::{Allocate, DirEntry, Inode, MAX_FILE_SIZE, MappedPage, Metadata, PAGE_SIZE};
use inode::{Content, Directory, InodeState, Usage};
pub use path::{Last, MAX_SYMLINKS, NAME_MAX, ParentPath};
pub use synthetic::{MountEntry, SynthStat, SyntheticFs};
use page::PageSource;
use synthetic::{Mount, SynthNode};

/// A point in time: seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Timespec {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds, below 1_000_000_000.
    pub nsec: u32,
}

impl Timespec {
    /// `sec` seconds and `nsec` nanoseconds.
    pub const fn new(sec: i64, nsec: u32) -> Timespec {
        Timespec { sec, nsec }
    }
}

/// The wall clock file times are taken from (`CLOCK_REALTIME`).
pub trait Clock: Send + Sync {
    /// The time now.
    fn now(&self) -> Timespec;
}

/// A file's type, as `S_IFMT` and `d_type` encode it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// `S_IFREG`.
    Regular,
    /// `S_IFDIR`.
    Directory,
    /// `S_IFLNK`.
    Symlink,
    /// `S_IFCHR`.
    CharDevice,
    /// `S_IFIFO` (pipes).
    Fifo,
}

impl FileType {
    /// The `S_IFMT` bits.
    pub const fn mode_bits(self) -> u32 {
        match self {
            FileType::Regular => 0o100000,
            FileType::Directory => 0o040000,
            FileType::Symlink => 0o120000,
            FileType::CharDevice => 0o020000,
            FileType::Fifo => 0o010000,
        }
    }

    /// `d_type` (`DT_REG` 8, `DT_DIR` 4, `DT_LNK` 10, `DT_CHR` 2).
    pub const fn dirent_type(self) -> u8 {
        match self {
            FileType::Regular => 8,
            FileType::Directory => 4,
            FileType::Symlink => 10,
            FileType::CharDevice => 2,
            FileType::Fifo => 1,
        }
    }
}

/// A device number (major, minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DevNumber {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl DevNumber {
    /// No device (0:0).
    pub const NONE: DevNumber = DevNumber::new(0, 0);
    /// `/dev/null`.
    pub const NULL: DevNumber = DevNumber::new(1, 3);
    /// `/dev/zero`.
    pub const ZERO: DevNumber = DevNumber::new(1, 5);
    /// `/dev/full`.
    pub const FULL: DevNumber = DevNumber::new(1, 7);
    /// `/dev/random`.
    pub const RANDOM: DevNumber = DevNumber::new(1, 8);
    /// `/dev/urandom`.
    pub const URANDOM: DevNumber = DevNumber::new(1, 9);
    /// `/dev/tty`: the caller's controlling terminal.
    pub const TTY: DevNumber = DevNumber::new(5, 0);
    /// `/dev/console`.
    pub const CONSOLE: DevNumber = DevNumber::new(5, 1);

    /// `major:minor`.
    pub const fn new(major: u32, minor: u32) -> DevNumber {
        DevNumber { major, minor }
    }

    /// The 64-bit encoding `stat` reports (`huge_encode_dev`).
    pub const fn encode(self) -> u64 {
        let (major, minor) = (self.major as u64, self.minor as u64);
        (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
    }

    /// The inverse of [`DevNumber::encode`] for 32-bit values (cpio's fields).
    pub const fn from_parts(major: u64, minor: u64) -> Option<DevNumber> {
        if major > u32::MAX as u64 || minor > u32::MAX as u64 {
            return None;
        }
        Some(DevNumber::new(major as u32, minor as u32))
    }
}

/// The identity a filesystem operation runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Real user id (`access`/`faccessat` without `AT_EACCESS` checks with it).
    pub ruid: u32,
    /// Real group id.
    pub rgid: u32,
    /// Effective (and filesystem) user id.
    pub euid: u32,
    /// Effective (and filesystem) group id.
    pub egid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

impl Credentials {
    /// uid 0, gid 0.
    pub fn root() -> Credentials {
        Credentials::user(0, 0)
    }

    /// Real and effective `uid` and `gid`, no supplementary groups.
    pub fn user(uid: u32, gid: u32) -> Credentials {
        Credentials { ruid: uid, rgid: gid, euid: uid, egid: gid, groups: Vec::new() }
    }

    /// The same, with the real ids as effective ids (for `access`).
    pub fn as_real(&self) -> Credentials {
        Credentials { euid: self.ruid, egid: self.rgid, ..self.clone() }
    }

    fn is_root(&self) -> bool {
        self.euid == 0
    }

    fn in_group(&self, gid: u32) -> bool {
        self.egid == gid || self.groups.contains(&gid)
    }
}

bitflags! {
    /// Access an operation needs (`MAY_READ`, `MAY_WRITE`, `MAY_EXEC`; the
    /// `R_OK`/`W_OK`/`X_OK` values).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Access: u32 {
        /// Execute, or search a directory.
        const EXEC = 1;
        /// Write.
        const WRITE = 2;
        /// Read.
        const READ = 4;
    }
}

/// `statfs` figures for the filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    /// `f_type`: `TMPFS_MAGIC`.
    pub fs_type: u64,
    /// `f_bsize` and `f_frsize`.
    pub block_size: u64,
    /// `f_blocks`.
    pub blocks: u64,
    /// `f_bfree` and `f_bavail`.
    pub blocks_free: u64,
    /// `f_files`.
    pub files: u64,
    /// `f_ffree`.
    pub files_free: u64,
    /// `f_namelen`.
    pub name_max: u64,
}

/// `TMPFS_MAGIC`.
pub const TMPFS_MAGIC: u64 = 0x0102_1994;

/// What a new inode is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewNode {
    /// An empty regular file.
    Regular,
    /// An empty directory.
    Directory,
    /// A symlink with this target.
    Symlink(Vec<u8>),
    /// A character device node.
    CharDevice(DevNumber),
}

bitflags! {
    /// `renameat2` flags.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RenameFlags: u32 {
        /// `RENAME_NOREPLACE`.
        const NOREPLACE = 1;
        /// `RENAME_EXCHANGE`.
        const EXCHANGE = 2;
        /// `RENAME_WHITEOUT` (not supported: `EINVAL`).
        const WHITEOUT = 4;
    }
}

/// A new value for a file time (`utimensat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUpdate {
    /// `UTIME_OMIT`: leave it.
    Omit,
    /// `UTIME_NOW`: the current time.
    Now,
    /// This time.
    Set(Timespec),
}

/// The filesystem: its root, its clock and its accounting.
pub struct Vfs {
    root: Arc<Inode>,
    next_ino: AtomicU64,
    clock: Arc<dyn Clock>,
    usage: Arc<Usage>,
    namespace: Mutex<()>,
    /// Mounted synthetic filesystems: (mountpoint, root of what is mounted).
    mounts: Mutex<Vec<(Arc<Inode>, Arc<Inode>)>>,
    /// What `/proc/mounts` lists, the tmpfs root first.
    table: Arc<Mutex<Vec<MountEntry>>>,
}

impl core::fmt::Debug for Vfs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vfs").field("root", &self.root.ino()).field("usage", &self.usage).finish()
    }
}

impl Vfs {
    /// An empty filesystem of at most `capacity_bytes` of file data kept
    /// in pages from `pages`, whose root is a directory `0755` owned by root.
    pub fn new(clock: Arc<dyn Clock>, capacity_bytes: u64, pages: Arc<dyn PageSource>) -> Vfs {
        let usage = Arc::new(Usage {
            capacity_pages: capacity_bytes / PAGE_SIZE,
            used_pages: AtomicU64::new(0),
            inodes: AtomicU64::new(0),
            pages,
        });
        let now = clock.now();
        let root = Arc::new_cyclic(|weak| {
            Inode::new(1, &usage, InodeState {
                perm: 0o755,
                uid: 0,
                gid: 0,
                nlink: 2,
                atime: now,
                mtime: now,
                ctime: now,
                btime: now,
                content: Content::Directory(Directory::new(weak.clone())),
            })
        });
        let rootfs = MountEntry { source: b"tmpfs".to_vec(), path: b"/".to_vec(), fs_type: b"tmpfs".to_vec(), options: b"rw,relatime".to_vec() };
        Vfs {
            root,
            next_ino: AtomicU64::new(2),
            clock,
            usage,
            namespace: Mutex::new(()),
            mounts: Mutex::new(Vec::new()),
            table: Arc::new(Mutex::new(alloc::vec![rootfs])),
        }
    }

    /// Mounts the synthetic filesystem `fs` on the tmpfs directory `dir`:
    /// resolution entering `dir` continues at `fs`'s root, and `..` from
    /// there returns to `dir`'s parent. `ENOTDIR` if `dir` is not a
    /// directory, `EBUSY` if something is mounted there already, `EINVAL` for
    /// the root or a directory of a synthetic filesystem.
    pub fn mount(&self, dir: &Arc<Inode>, fs: Arc<dyn SyntheticFs>) -> Result<(), Errno> {
        let path = self.path_of(dir)?;
        let _ns = self.namespace.lock();
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if dir.is_synthetic() || Arc::ptr_eq(dir, &self.root) {
            return Err(Errno::EINVAL);
        }
        if self.is_mountpoint(dir) {
            return Err(Errno::EBUSY);
        }
        let usage = Arc::new(Usage {
            capacity_pages: 0,
            used_pages: AtomicU64::new(0),
            inodes: AtomicU64::new(0),
            pages: Arc::new(page::HeapPages::default()),
        });
        let entry = MountEntry {
            source: fs.fs_type().as_bytes().to_vec(),
            path,
            fs_type: fs.fs_type().as_bytes().to_vec(),
            options: fs.mount_options().as_bytes().to_vec(),
        };
        let mount = Arc::new(Mount { fs, mountpoint: dir.clone(), usage, time: self.now(), table: self.table.clone() });
        let root = SynthNode::make(&mount, Vec::new()).ok_or(Errno::ENOENT)?;
        if !root.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        self.mounts.lock().push((dir.clone(), root));
        self.table.lock().push(entry);
        Ok(())
    }

    /// The mount table, as `/proc/mounts` lists it.
    pub fn mount_table(&self) -> Vec<MountEntry> {
        self.table.lock().clone()
    }

    /// Whether something is mounted on `dir`.
    fn is_mountpoint(&self, dir: &Arc<Inode>) -> bool {
        self.mounts.lock().iter().any(|(m, _)| Arc::ptr_eq(m, dir))
    }

    /// `inode`, or the root of what is mounted on it.
    pub(crate) fn cross_mount(&self, inode: Arc<Inode>) -> Arc<Inode> {
        if !inode.is_dir() {
            return inode;
        }
        let mounts = self.mounts.lock();
        match mounts.iter().find(|(m, _)| Arc::ptr_eq(m, &inode)) {
            Some((_, root)) => root.clone(),
            None => inode,
        }
    }

    /// Whether two inodes are on the same filesystem.
    fn same_fs(a: &Inode, b: &Inode) -> bool {
        match (a.synth(), b.synth()) {
            (None, None) => true,
            (Some(x), Some(y)) => Arc::ptr_eq(&x.mount, &y.mount),
            _ => false,
        }
    }

    /// A FIFO inode linked nowhere, for a pipe, owned by `cred`.
    pub fn anonymous_fifo(&self, cred: &Credentials) -> Arc<Inode> {
        let now = self.now();
        Arc::new(Inode::new(self.alloc_ino(), &self.usage, InodeState {
            perm: 0o600,
            uid: cred.euid,
            gid: cred.egid,
            nlink: 1,
            atime: now,
            mtime: now,
            ctime: now,
            btime: now,
            content: Content::Fifo,
        }))
    }

    /// A regular file of `size` zero bytes in no directory: the memory
    /// behind a shared anonymous mapping (Linux's shmem object).
    pub fn anonymous_file(&self, size: u64, cred: &Credentials) -> Result<Arc<Inode>, Errno> {
        let now = self.now();
        let inode = Arc::new(Inode::new(self.alloc_ino(), &self.usage, InodeState {
            perm: 0o600,
            uid: cred.euid,
            gid: cred.egid,
            nlink: 0,
            atime: now,
            mtime: now,
            ctime: now,
            btime: now,
            content: Inode::new_file_data(&self.usage),
        }));
        inode.truncate(size, now)?;
        Ok(inode)
    }

    /// The root directory.
    pub fn root(&self) -> Arc<Inode> {
        self.root.clone()
    }

    /// The time now, from the filesystem's clock.
    pub fn now(&self) -> Timespec {
        self.clock.now()
    }

    /// `statfs` figures for the filesystem `inode` is on.
    pub fn stats_of(&self, inode: &Inode) -> FsStats {
        match inode.synth() {
            Some(s) => FsStats { fs_type: s.mount.fs.magic(), block_size: PAGE_SIZE, blocks: 0, blocks_free: 0, files: 0, files_free: 0, name_max: 255 },
            None => self.stats(),
        }
    }

    /// `statfs` figures of the tmpfs.
    pub fn stats(&self) -> FsStats {
        let used = self.usage.used_pages.load(Ordering::Acquire);
        let cap = self.usage.capacity_pages;
        let inodes = self.usage.inodes.load(Ordering::Acquire);
        FsStats {
            fs_type: TMPFS_MAGIC,
            block_size: PAGE_SIZE,
            blocks: cap,
            blocks_free: cap.saturating_sub(used),
            files: cap.max(inodes),
            files_free: cap.saturating_sub(inodes),
            name_max: 255,
        }
    }

    /// Checks `want` access to `inode` as Linux's `generic_permission` does:
    /// root may read and write anything and execute what has an execute bit.
    pub fn check_access(&self, inode: &Inode, want: Access, cred: &Credentials) -> Result<(), Errno> {
        let s = inode.lock();
        let (perm, uid, gid) = (s.perm, s.uid, s.gid);
        drop(s);
        if cred.is_root() {
            if !want.contains(Access::EXEC) || inode.is_dir() || perm & 0o111 != 0 {
                return Ok(());
            }
            return Err(Errno::EACCES);
        }
        let bits = if cred.euid == uid {
            perm >> 6
        } else if cred.in_group(gid) {
            perm >> 3
        } else {
            perm
        } & 7;
        if want.bits() & !bits == 0 { Ok(()) } else { Err(Errno::EACCES) }
    }

    /// The sticky-directory rule: in a sticky directory only the owner of the
    /// entry, the owner of the directory, or root may remove or rename it.
    fn check_sticky(dir: &Inode, victim: &Inode, cred: &Credentials) -> Result<(), Errno> {
        let (dperm, duid) = {
            let s = dir.lock();
            (s.perm, s.uid)
        };
        if dperm & 0o1000 == 0 || cred.is_root() || cred.euid == duid || cred.euid == victim.lock().uid {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    fn alloc_ino(&self) -> u64 {
        self.next_ino.fetch_add(1, Ordering::Relaxed)
    }

    fn touch_dir(dir: &Inode, now: Timespec) {
        let mut s = dir.lock();
        s.mtime = now;
        s.ctime = now;
    }

    /// Creates `name` in `dir` with permission bits `perm` (umask already
    /// applied) owned by the caller. `EEXIST` if the name exists, `ENOENT` if
    /// `dir` was removed, `EACCES` without write and search permission.
    pub fn create(&self, dir: &Arc<Inode>, name: &[u8], node: NewNode, perm: u32, cred: &Credentials) -> Result<Arc<Inode>, Errno> {
        let _ns = self.namespace.lock();
        if dir.child(name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        if dir.is_synthetic() {
            // Linux: no ->create (open O_CREAT: EACCES), no ->mkdir/->symlink/->mknod (EPERM).
            return Err(if node == NewNode::Regular { Errno::EACCES } else { Errno::EPERM });
        }
        self.check_access(dir, Access::WRITE | Access::EXEC, cred)?;
        let (dir_gid, dir_setgid, dir_alive) = {
            let s = dir.lock();
            (s.gid, s.perm & 0o2000 != 0, s.nlink > 0)
        };
        if !dir_alive {
            return Err(Errno::ENOENT);
        }
        let now = self.now();
        let is_dir = node == NewNode::Directory;
        let content = match node {
            NewNode::Regular => Inode::new_file_data(&self.usage),
            NewNode::Directory => Content::Directory(Directory::new(Arc::downgrade(dir))),
            NewNode::Symlink(target) => Content::Symlink(target),
            NewNode::CharDevice(dev) => Content::CharDevice(dev),
        };
        // A set-group-ID directory passes its group on, and the bit to subdirectories.
        let gid = if dir_setgid { dir_gid } else { cred.egid };
        let perm = if dir_setgid && is_dir { perm | 0o2000 } else { perm };
        let inode = Arc::new(Inode::new(self.alloc_ino(), &self.usage, InodeState {
            perm: perm & 0o7777,
            uid: cred.euid,
            gid,
            nlink: if is_dir { 2 } else { 1 },
            atime: now,
            mtime: now,
            ctime: now,
            btime: now,
            content,
        }));
        {
            let mut s = dir.lock();
            if let Content::Directory(d) = &mut s.content {
                d.insert(name, inode.clone());
            }
            if is_dir {
                s.nlink += 1;
            }
            s.mtime = now;
            s.ctime = now;
        }
        Ok(inode)
    }

    /// Adds the name `name` in `dir` for `target` (a hard link). `EPERM` for a
    /// directory, `EEXIST` if the name exists.
    pub fn link(&self, dir: &Arc<Inode>, name: &[u8], target: &Arc<Inode>, cred: &Credentials) -> Result<(), Errno> {
        let _ns = self.namespace.lock();
        if !Self::same_fs(dir, target) {
            return Err(Errno::EXDEV);
        }
        if target.is_dir() || dir.is_synthetic() {
            return Err(Errno::EPERM);
        }
        if dir.child(name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        self.check_access(dir, Access::WRITE | Access::EXEC, cred)?;
        if dir.lock().nlink == 0 || target.lock().nlink == 0 {
            return Err(Errno::ENOENT);
        }
        let now = self.now();
        {
            let mut t = target.lock();
            t.nlink += 1;
            t.ctime = now;
        }
        if let Content::Directory(d) = &mut dir.lock().content {
            d.insert(name, target.clone());
        }
        Self::touch_dir(dir, now);
        Ok(())
    }

    /// Removes the non-directory `name` from `dir` (`unlink`): `EISDIR` for a
    /// directory, `ENOENT` if missing.
    pub fn unlink(&self, dir: &Arc<Inode>, name: &[u8], cred: &Credentials) -> Result<(), Errno> {
        let _ns = self.namespace.lock();
        let victim = dir.child(name)?.ok_or(Errno::ENOENT)?;
        if dir.is_synthetic() {
            return Err(Errno::EPERM);
        }
        self.check_access(dir, Access::WRITE | Access::EXEC, cred)?;
        if victim.is_dir() {
            return Err(Errno::EISDIR);
        }
        Self::check_sticky(dir, &victim, cred)?;
        let now = self.now();
        if let Content::Directory(d) = &mut dir.lock().content {
            d.remove(name);
        }
        Self::touch_dir(dir, now);
        let mut v = victim.lock();
        v.nlink = v.nlink.saturating_sub(1);
        v.ctime = now;
        Ok(())
    }

    /// Removes the empty directory `name` from `dir` (`rmdir`): `ENOTDIR` for a
    /// non-directory, `ENOTEMPTY` if it has entries.
    pub fn rmdir(&self, dir: &Arc<Inode>, name: &[u8], cred: &Credentials) -> Result<(), Errno> {
        let _ns = self.namespace.lock();
        let victim = dir.child(name)?.ok_or(Errno::ENOENT)?;
        if dir.is_synthetic() {
            return Err(Errno::EPERM);
        }
        self.check_access(dir, Access::WRITE | Access::EXEC, cred)?;
        if !victim.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if self.is_mountpoint(&victim) {
            return Err(Errno::EBUSY);
        }
        if !victim.is_empty_dir() {
            return Err(Errno::ENOTEMPTY);
        }
        Self::check_sticky(dir, &victim, cred)?;
        let now = self.now();
        {
            let mut s = dir.lock();
            if let Content::Directory(d) = &mut s.content {
                d.remove(name);
            }
            s.nlink -= 1;
            s.mtime = now;
            s.ctime = now;
        }
        let mut v = victim.lock();
        v.nlink = 0;
        v.ctime = now;
        if let Content::Directory(d) = &mut v.content {
            d.parent = alloc::sync::Weak::new();
        }
        Ok(())
    }

    /// Whether `dir` is `ancestor` or lies below it.
    fn is_within(dir: &Arc<Inode>, ancestor: &Arc<Inode>) -> bool {
        let mut cur = dir.clone();
        loop {
            if Arc::ptr_eq(&cur, ancestor) {
                return true;
            }
            match cur.parent() {
                Ok(p) if !Arc::ptr_eq(&p, &cur) => cur = p,
                _ => return false,
            }
        }
    }

    /// `renameat2`: moves `old_name` in `old_dir` to `new_name` in `new_dir`,
    /// replacing a compatible target (or swapping with it for
    /// `RENAME_EXCHANGE`), with Linux's checks: `EINVAL` for moving a
    /// directory below itself or for `RENAME_WHITEOUT`, `EISDIR`/`ENOTDIR`
    /// for type mismatches, `ENOTEMPTY` for a non-empty target directory,
    /// `EEXIST` with `RENAME_NOREPLACE`.
    pub fn rename(
        &self,
        old_dir: &Arc<Inode>,
        old_name: &[u8],
        new_dir: &Arc<Inode>,
        new_name: &[u8],
        flags: RenameFlags,
        cred: &Credentials,
    ) -> Result<(), Errno> {
        if flags.contains(RenameFlags::WHITEOUT)
            || flags.bits() & !RenameFlags::all().bits() != 0
            || flags.contains(RenameFlags::NOREPLACE | RenameFlags::EXCHANGE)
        {
            return Err(Errno::EINVAL);
        }
        let _ns = self.namespace.lock();
        let old = old_dir.child(old_name)?.ok_or(Errno::ENOENT)?;
        let target = new_dir.child(new_name)?;
        if !Self::same_fs(old_dir, new_dir) {
            return Err(Errno::EXDEV);
        }
        if old_dir.is_synthetic() {
            return Err(Errno::EPERM);
        }
        if self.is_mountpoint(&old) || target.as_ref().is_some_and(|t| self.is_mountpoint(t)) {
            return Err(Errno::EBUSY);
        }
        self.check_access(old_dir, Access::WRITE | Access::EXEC, cred)?;
        self.check_access(new_dir, Access::WRITE | Access::EXEC, cred)?;
        if flags.contains(RenameFlags::EXCHANGE) {
            let target = target.ok_or(Errno::ENOENT)?;
            return self.exchange(old_dir, old_name, old, new_dir, new_name, target, cred);
        }
        if let Some(t) = &target {
            if flags.contains(RenameFlags::NOREPLACE) {
                return Err(Errno::EEXIST);
            }
            if Arc::ptr_eq(t, &old) {
                return Ok(());
            }
        }
        if old.is_dir() && Self::is_within(new_dir, &old) {
            return Err(Errno::EINVAL);
        }
        if let Some(t) = &target {
            match (old.is_dir(), t.is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !t.is_empty_dir() => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
            Self::check_sticky(new_dir, t, cred)?;
        }
        Self::check_sticky(old_dir, &old, cred)?;
        if old.is_dir() && !Arc::ptr_eq(old_dir, new_dir) {
            self.check_access(&old, Access::WRITE, cred)?;
        }
        let now = self.now();
        if let Content::Directory(d) = &mut old_dir.lock().content {
            d.remove(old_name);
        }
        if let Some(t) = &target {
            if let Content::Directory(d) = &mut new_dir.lock().content {
                d.remove(new_name);
            }
            let mut ts = t.lock();
            if t.is_dir() {
                ts.nlink = 0;
                if let Content::Directory(d) = &mut ts.content {
                    d.parent = alloc::sync::Weak::new();
                }
                drop(ts);
                new_dir.lock().nlink -= 1;
            } else {
                ts.nlink = ts.nlink.saturating_sub(1);
                ts.ctime = now;
            }
        }
        if let Content::Directory(d) = &mut new_dir.lock().content {
            d.insert(new_name, old.clone());
        }
        if old.is_dir() {
            if let Content::Directory(d) = &mut old.lock().content {
                d.parent = Arc::downgrade(new_dir);
            }
            old_dir.lock().nlink -= 1;
            new_dir.lock().nlink += 1;
        }
        old.lock().ctime = now;
        Self::touch_dir(old_dir, now);
        Self::touch_dir(new_dir, now);
        Ok(())
    }

    #[expect(clippy::too_many_arguments, reason = "both sides of the exchange, as renameat2 passes them")]
    fn exchange(
        &self,
        old_dir: &Arc<Inode>,
        old_name: &[u8],
        old: Arc<Inode>,
        new_dir: &Arc<Inode>,
        new_name: &[u8],
        target: Arc<Inode>,
        cred: &Credentials,
    ) -> Result<(), Errno> {
        if Arc::ptr_eq(&old, &target) {
            return Ok(());
        }
        if (old.is_dir() && Self::is_within(new_dir, &old)) || (target.is_dir() && Self::is_within(old_dir, &target)) {
            return Err(Errno::EINVAL);
        }
        Self::check_sticky(old_dir, &old, cred)?;
        Self::check_sticky(new_dir, &target, cred)?;
        let now = self.now();
        if let Content::Directory(d) = &mut old_dir.lock().content {
            d.replace(old_name, target.clone());
        }
        if let Content::Directory(d) = &mut new_dir.lock().content {
            d.replace(new_name, old.clone());
        }
        for (node, parent) in [(&old, new_dir), (&target, old_dir)] {
            if let Content::Directory(d) = &mut node.lock().content {
                d.parent = Arc::downgrade(parent);
            }
            node.lock().ctime = now;
        }
        if old.is_dir() != target.is_dir() && !Arc::ptr_eq(old_dir, new_dir) {
            let (gains, loses) = if old.is_dir() { (new_dir, old_dir) } else { (old_dir, new_dir) };
            gains.lock().nlink += 1;
            loses.lock().nlink -= 1;
        }
        Self::touch_dir(old_dir, now);
        Self::touch_dir(new_dir, now);
        Ok(())
    }

    /// `chmod`: only the owner or root; a non-root caller outside the file's
    /// group loses the set-group-ID bit.
    pub fn chmod(&self, inode: &Inode, perm: u32, cred: &Credentials) -> Result<(), Errno> {
        if inode.is_synthetic() {
            return Err(Errno::EPERM);
        }
        let now = self.now();
        let mut s = inode.lock();
        if !cred.is_root() && cred.euid != s.uid {
            return Err(Errno::EPERM);
        }
        let mut perm = perm & 0o7777;
        if !cred.is_root() && !cred.in_group(s.gid) {
            perm &= !0o2000;
        }
        s.perm = perm;
        s.ctime = now;
        Ok(())
    }

    /// `chown` (`None` leaves an id): root may set anything; the owner may
    /// only set the group to one of its groups. Clears set-user-ID and
    /// set-group-ID on non-directories, as Linux does.
    pub fn chown(&self, inode: &Inode, uid: Option<u32>, gid: Option<u32>, cred: &Credentials) -> Result<(), Errno> {
        if inode.is_synthetic() {
            return Err(Errno::EPERM);
        }
        let now = self.now();
        let mut s = inode.lock();
        if !cred.is_root() {
            let uid_ok = uid.is_none_or(|u| u == s.uid);
            let gid_ok = gid.is_none_or(|g| g == s.gid || cred.in_group(g));
            if cred.euid != s.uid || !uid_ok || !gid_ok {
                return Err(Errno::EPERM);
            }
        }
        if uid.is_some() || gid.is_some() {
            if !inode.is_dir() {
                s.perm &= !0o4000;
                if s.perm & 0o010 != 0 {
                    s.perm &= !0o2000;
                }
            }
            s.ctime = now;
        }
        if let Some(u) = uid {
            s.uid = u;
        }
        if let Some(g) = gid {
            s.gid = g;
        }
        Ok(())
    }

    /// `utimensat`: setting both times to now needs ownership or write
    /// permission; setting explicit times needs ownership (or root).
    pub fn set_times(&self, inode: &Inode, atime: TimeUpdate, mtime: TimeUpdate, cred: &Credentials) -> Result<(), Errno> {
        if atime == TimeUpdate::Omit && mtime == TimeUpdate::Omit {
            return Ok(());
        }
        if inode.is_synthetic() {
            // Synthetic nodes keep no times of their own.
            return if cred.is_root() { Ok(()) } else { Err(Errno::EPERM) };
        }
        let owner = inode.lock().uid;
        let explicit = matches!(atime, TimeUpdate::Set(_)) || matches!(mtime, TimeUpdate::Set(_));
        if !cred.is_root() && cred.euid != owner {
            if explicit {
                return Err(Errno::EPERM);
            }
            self.check_access(inode, Access::WRITE, cred)?;
        }
        let now = self.now();
        let mut s = inode.lock();
        match atime {
            TimeUpdate::Omit => {}
            TimeUpdate::Now => s.atime = now,
            TimeUpdate::Set(t) => s.atime = t,
        }
        match mtime {
            TimeUpdate::Omit => {}
            TimeUpdate::Now => s.mtime = now,
            TimeUpdate::Set(t) => s.mtime = t,
        }
        s.ctime = now;
        Ok(())
    }

    /// Sets owner, group, permissions and times as an archive records them
    /// (no permission checks: the initramfs is unpacked by the kernel).
    pub fn restore_metadata(&self, inode: &Inode, perm: u32, uid: u32, gid: u32, mtime: Timespec) {
        let mut s = inode.lock();
        s.perm = perm & 0o7777;
        s.uid = uid;
        s.gid = gid;
        s.mtime = mtime;
        s.atime = mtime;
    }
}

#[cfg(test)]
pub(crate) mod tests;
