//! Synthetic filesystems (/proc, /sys) mounted on directories of the tmpfs.
//!
//! A [`SyntheticFs`] describes its tree by paths: given the components of a
//! path below its root, it says what the node is, lists a directory, produces
//! a file's content or a symlink's target. Nothing is stored: the VFS makes
//! an [`Inode`] for a node when a lookup reaches it, and the content is
//! generated when the file is opened (a snapshot per open file description)
//! or read directly. Inode numbers are a hash of the path, so they are stable
//! for as long as the path names the same thing.
//!
//! [`Vfs::mount`](super::Vfs::mount) puts a filesystem on a directory: path
//! resolution entering that directory continues at the filesystem's root, and
//! `..` from the root returns to the directory's parent.

use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use super::inode::{Content, Inode, InodeState, Usage};
use super::{DevNumber, FileType, Timespec};
use crate::Errno;

/// What a synthetic filesystem says about one of its nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthStat {
    /// Directory, regular file or symlink.
    pub file_type: FileType,
    /// Permission bits (`0o555` for a /proc directory, `0o444` for a file).
    pub perm: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl SynthStat {
    /// A root-owned node.
    pub const fn root_owned(file_type: FileType, perm: u32) -> SynthStat {
        SynthStat { file_type, perm, uid: 0, gid: 0 }
    }

    /// `dr-xr-xr-x`, owned by root.
    pub const DIR: SynthStat = SynthStat::root_owned(FileType::Directory, 0o555);
    /// `-r--r--r--`, owned by root.
    pub const FILE: SynthStat = SynthStat::root_owned(FileType::Regular, 0o444);
    /// `-rw-r--r--`, owned by root (a tunable; Morsel's are read-only).
    pub const TUNABLE: SynthStat = SynthStat::root_owned(FileType::Regular, 0o644);
    /// `lrwxrwxrwx`, owned by root.
    pub const LINK: SynthStat = SynthStat::root_owned(FileType::Symlink, 0o777);
}

/// One line of `/proc/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// What is mounted (`proc`, `sysfs`, `rootfs`).
    pub source: Vec<u8>,
    /// Where (absolute path).
    pub path: Vec<u8>,
    /// Filesystem type.
    pub fs_type: Vec<u8>,
    /// Mount options (`rw,nosuid,nodev,noexec,relatime`).
    pub options: Vec<u8>,
}

/// A filesystem whose nodes are computed, not stored. Paths are the
/// components below the filesystem's root (`[]` is the root); none is `.`,
/// `..` or empty.
pub trait SyntheticFs: Send + Sync {
    /// The type name (`proc`, `sysfs`), for `/proc/mounts`.
    fn fs_type(&self) -> &'static str;
    /// Mount options as `/proc/mounts` shows them.
    fn mount_options(&self) -> &'static str {
        "rw,nosuid,nodev,noexec,relatime"
    }
    /// `f_type` for `statfs` (`PROC_SUPER_MAGIC`, `SYSFS_MAGIC`).
    fn magic(&self) -> u64;
    /// `st_dev` of every node.
    fn dev(&self) -> DevNumber;
    /// The node at `path`, or `None` if there is none.
    fn node(&self, path: &[Vec<u8>]) -> Option<SynthStat>;
    /// The entries of the directory at `path` (without `.` and `..`), in
    /// `getdents64` order.
    fn entries(&self, path: &[Vec<u8>]) -> Vec<(Vec<u8>, FileType)>;
    /// The content of the regular file at `path`; `mounts` is the mount
    /// table, for `/proc/mounts`.
    fn read(&self, path: &[Vec<u8>], mounts: &[MountEntry]) -> Result<Vec<u8>, Errno>;
    /// The target of the symlink at `path`.
    fn readlink(&self, path: &[Vec<u8>]) -> Result<Vec<u8>, Errno>;
}

/// One mounted synthetic filesystem.
pub(crate) struct Mount {
    pub fs: Arc<dyn SyntheticFs>,
    /// The tmpfs directory it is mounted on.
    pub mountpoint: Arc<Inode>,
    /// Inode accounting of its own (never counts against the tmpfs).
    pub usage: Arc<Usage>,
    /// Times every node reports.
    pub time: Timespec,
    /// The VFS's mount table.
    pub table: Arc<Mutex<Vec<MountEntry>>>,
}

impl core::fmt::Debug for Mount {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mount").field("fs_type", &self.fs.fs_type()).field("mountpoint", &self.mountpoint.ino()).finish()
    }
}

/// Where a synthetic inode is: its filesystem and its path in it.
#[derive(Debug, Clone)]
pub(crate) struct SynthNode {
    pub mount: Arc<Mount>,
    pub path: Vec<Vec<u8>>,
}

/// The root's inode number (Linux's `PROC_ROOT_INO`).
const ROOT_INO: u64 = 1;

/// A stable inode number for `path` (FNV-1a), never the root's.
pub(crate) fn ino_of(path: &[Vec<u8>]) -> u64 {
    if path.is_empty() {
        return ROOT_INO;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for comp in path {
        for &b in comp.iter().chain(core::iter::once(&b'/')) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    // Keep it in 32 bits (like Linux's proc inode numbers) and above the root.
    (h & 0xffff_ffff) | 0x1000
}

impl SynthNode {
    /// The inode for `path` in `mount`, if the node exists.
    pub fn make(mount: &Arc<Mount>, path: Vec<Vec<u8>>) -> Option<Arc<Inode>> {
        let st = mount.fs.node(&path)?;
        let nlink = if st.file_type == FileType::Directory { 2 } else { 1 };
        let t = mount.time;
        let state = InodeState {
            perm: st.perm,
            uid: st.uid,
            gid: st.gid,
            nlink,
            atime: t,
            mtime: t,
            ctime: t,
            btime: t,
            content: Content::Synthetic,
        };
        let ino = ino_of(&path);
        Some(Arc::new(Inode::new_synthetic(ino, st.file_type, &mount.usage, state, SynthNode { mount: mount.clone(), path })))
    }

    pub fn child(&self, name: &[u8]) -> Option<Arc<Inode>> {
        let mut path = self.path.clone();
        path.push(name.to_vec());
        Self::make(&self.mount, path)
    }

    /// The parent directory: the mountpoint's parent for the root.
    pub fn parent(&self) -> Result<Arc<Inode>, Errno> {
        match self.path.split_last() {
            None => self.mount.mountpoint.parent(),
            Some((_, up)) => Self::make(&self.mount, up.to_vec()).ok_or(Errno::ENOENT),
        }
    }

    pub fn parent_ino(&self) -> u64 {
        match self.path.split_last() {
            None => self.mount.mountpoint.parent().map_or(ROOT_INO, |p| p.ino()),
            Some((_, up)) => ino_of(up),
        }
    }

    pub fn read(&self) -> Result<Vec<u8>, Errno> {
        let mounts = self.mount.table.lock().clone();
        self.mount.fs.read(&self.path, &mounts)
    }
}
