//! Path resolution: `.` and `..`, repeated and trailing slashes, symlinks
//! (at most [`MAX_SYMLINKS`] per resolution), search permission on every
//! directory crossed, `NAME_MAX` and `PATH_MAX`.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::{Access, Credentials, Inode, Vfs};
use crate::Errno;
use crate::user::PATH_MAX;

/// `NAME_MAX`: the longest file name.
pub const NAME_MAX: usize = 255;
/// The most symlinks one resolution follows (`MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;

/// The last component of a path whose parent was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Last {
    /// An ordinary name.
    Name(Vec<u8>),
    /// `.`.
    Dot,
    /// `..`.
    DotDot,
    /// The path is `/` (or only slashes).
    Root,
}

/// A resolved parent directory and the last component of a path.
#[derive(Debug, Clone)]
pub struct ParentPath {
    /// The directory the last component is in.
    pub dir: Arc<Inode>,
    /// The last component.
    pub last: Last,
    /// Whether the path ended in `/` (then the target must be a directory).
    pub trailing_slash: bool,
}

impl ParentPath {
    /// The ordinary name, or `err` for `.`, `..` and `/`.
    pub fn name(&self, err: Errno) -> Result<&[u8], Errno> {
        match &self.last {
            Last::Name(n) => Ok(n),
            _ => Err(err),
        }
    }
}

fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.len() > NAME_MAX { Err(Errno::ENAMETOOLONG) } else { Ok(()) }
}

impl Vfs {
    /// Resolves `path` from `start` (used when it is relative); follows a
    /// symlink in the last component if `follow_last` (or if the path ends in
    /// `/`). An empty path is `ENOENT`.
    pub fn lookup(&self, start: &Arc<Inode>, path: &[u8], follow_last: bool, cred: &Credentials) -> Result<Arc<Inode>, Errno> {
        let mut budget = 0;
        self.walk(start, path, follow_last, cred, &mut budget)
    }

    fn walk(&self, start: &Arc<Inode>, path: &[u8], follow_last: bool, cred: &Credentials, budget: &mut u32) -> Result<Arc<Inode>, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let trailing = path.ends_with(b"/");
        let mut cur = if path.starts_with(b"/") { self.root() } else { start.clone() };
        let components: Vec<&[u8]> = path.split(|&b| b == b'/').filter(|c| !c.is_empty()).collect();
        let count = components.len();
        for (i, comp) in components.into_iter().enumerate() {
            let is_last = i + 1 == count;
            if !cur.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            self.check_access(&cur, Access::EXEC, cred)?;
            cur = match comp {
                b"." => cur,
                b".." => cur.parent()?,
                name => {
                    check_name(name)?;
                    let child = cur.child(name)?.ok_or(Errno::ENOENT)?;
                    if child.file_type() == super::FileType::Symlink && (!is_last || follow_last || trailing) {
                        *budget += 1;
                        if *budget > MAX_SYMLINKS {
                            return Err(Errno::ELOOP);
                        }
                        let target = child.readlink()?;
                        self.walk(&cur, &target, true, cred, budget)?
                    } else {
                        self.cross_mount(child)
                    }
                }
            };
        }
        if trailing && !cur.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(cur)
    }

    /// Resolves every component of `path` but the last, which is returned
    /// unresolved (for create, unlink, rename, link). `ENOENT` for an empty
    /// path; `ENOTDIR` if the parent is not a directory.
    pub fn lookup_parent(&self, start: &Arc<Inode>, path: &[u8], cred: &Credentials) -> Result<ParentPath, Errno> {
        let mut budget = 0;
        self.walk_parent(start, path, cred, &mut budget)
    }

    pub(crate) fn walk_parent(&self, start: &Arc<Inode>, path: &[u8], cred: &Credentials, budget: &mut u32) -> Result<ParentPath, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let trimmed_len = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
        let trailing_slash = trimmed_len < path.len();
        let trimmed = &path[..trimmed_len];
        if trimmed.is_empty() {
            return Ok(ParentPath { dir: self.root(), last: Last::Root, trailing_slash: false });
        }
        let (dir, last) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(slash) => (self.walk(start, &path[..=slash], true, cred, budget)?, &trimmed[slash + 1..]),
            None => (start.clone(), trimmed),
        };
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let last = match last {
            b"." => Last::Dot,
            b".." => Last::DotDot,
            name => {
                check_name(name)?;
                Last::Name(name.to_vec())
            }
        };
        Ok(ParentPath { dir, last, trailing_slash })
    }

    /// Resolves the last component of a [`ParentPath`] without following a
    /// final symlink. `None` if the name does not exist.
    pub fn lookup_last(&self, parent: &ParentPath, cred: &Credentials) -> Result<Option<Arc<Inode>>, Errno> {
        self.check_access(&parent.dir, Access::EXEC, cred)?;
        match &parent.last {
            Last::Name(n) => Ok(parent.dir.child(n)?.map(|c| self.cross_mount(c))),
            Last::Dot | Last::Root => Ok(Some(parent.dir.clone())),
            Last::DotDot => parent.dir.parent().map(Some),
        }
    }

    /// The absolute path of a directory (for `getcwd`); `ENOENT` if it was
    /// removed.
    pub fn path_of(&self, dir: &Arc<Inode>) -> Result<Vec<u8>, Errno> {
        let root = self.root();
        let mut names: Vec<Vec<u8>> = Vec::new();
        let mut cur = dir.clone();
        while !Arc::ptr_eq(&cur, &root) {
            let parent = cur.parent()?;
            names.push(parent.name_of(&cur).ok_or(Errno::ENOENT)?);
            cur = parent;
        }
        let mut out = Vec::new();
        for name in names.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(name);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        Ok(out)
    }

    /// The canonical absolute path of what `path` names from `start`, every
    /// symlink resolved (as Linux shows /proc/PID/exe and the links in
    /// /proc/PID/fd). Looked up as root; what cannot be resolved is joined
    /// as it stands.
    pub fn canonical_path(&self, start: &Arc<Inode>, path: &[u8]) -> Vec<u8> {
        let root = Credentials::root();
        if let Ok(inode) = self.lookup(start, path, true, &root)
            && inode.is_dir()
            && let Ok(dir_path) = self.path_of(&inode)
        {
            return dir_path;
        }
        let mut start = if path.starts_with(b"/") { self.root() } else { start.clone() };
        let mut path = path.to_vec();
        for _ in 0..super::MAX_SYMLINKS {
            let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
                Some(0) => (&b"/"[..], &path[1..]),
                Some(i) => (&path[..i], &path[i + 1..]),
                None => (&b"."[..], &path[..]),
            };
            let Ok(dir) = self.lookup(&start, parent, true, &root) else { break };
            let dir_path = self.path_of(&dir).unwrap_or_default();
            let target = self.lookup(&dir, name, false, &root).ok().and_then(|inode| inode.readlink().ok());
            match target {
                Some(target) if target.starts_with(b"/") => {
                    start = self.root();
                    path = target;
                }
                Some(target) => {
                    start = self.root();
                    path = [dir_path.as_slice(), b"/", target.as_slice()].concat();
                }
                None => {
                    let separator: &[u8] = if dir_path.ends_with(b"/") { b"" } else { b"/" };
                    return [dir_path.as_slice(), separator, name].concat();
                }
            }
        }
        path
    }
}
