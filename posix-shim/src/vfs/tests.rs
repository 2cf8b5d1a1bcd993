use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI64, Ordering};

use super::page::HeapPages;
use super::*;

/// A clock that ticks one second per reading.
#[derive(Debug, Default)]
pub(crate) struct TickClock(AtomicI64);

impl Clock for TickClock {
    fn now(&self) -> Timespec {
        Timespec::new(1_700_000_000 + self.0.fetch_add(1, Ordering::Relaxed), 0)
    }
}

pub(crate) fn new_vfs() -> Vfs {
    Vfs::new(Arc::new(TickClock::default()), 64 << 20, Arc::new(HeapPages::default()))
}

fn root() -> Credentials {
    Credentials::root()
}

fn mkdir(v: &Vfs, path: &[u8]) -> Arc<Inode> {
    let p = v.lookup_parent(&v.root(), path, &root()).unwrap();
    v.create(&p.dir, p.name(Errno::EEXIST).unwrap(), NewNode::Directory, 0o755, &root()).unwrap()
}

fn mkfile(v: &Vfs, path: &[u8], data: &[u8]) -> Arc<Inode> {
    let p = v.lookup_parent(&v.root(), path, &root()).unwrap();
    let f = v.create(&p.dir, p.name(Errno::EEXIST).unwrap(), NewNode::Regular, 0o644, &root()).unwrap();
    f.write_at(Some(0), data, v.now()).unwrap();
    f
}

fn symlink(v: &Vfs, path: &[u8], target: &[u8]) {
    let p = v.lookup_parent(&v.root(), path, &root()).unwrap();
    v.create(&p.dir, p.name(Errno::EEXIST).unwrap(), NewNode::Symlink(target.to_vec()), 0o777, &root()).unwrap();
}

fn look(v: &Vfs, path: &[u8], follow: bool) -> Result<u64, Errno> {
    v.lookup(&v.root(), path, follow, &root()).map(|i| i.ino())
}

#[test]
fn resolution_handles_dots_and_slashes() {
    let v = new_vfs();
    let a = mkdir(&v, b"/a");
    let b = mkdir(&v, b"/a/b");
    let f = mkfile(&v, b"/a/b/f", b"x");
    assert_eq!(look(&v, b"/a/b/f", true), Ok(f.ino()));
    assert_eq!(look(&v, b"//a///b/./f", true), Ok(f.ino()));
    assert_eq!(look(&v, b"/a/b/../b/f", true), Ok(f.ino()));
    assert_eq!(look(&v, b"/../../a", true), Ok(a.ino()));
    assert_eq!(look(&v, b"/a/b/", true), Ok(b.ino()));
    assert_eq!(look(&v, b"/", true), Ok(1));
    assert_eq!(v.lookup(&b, b"f", true, &root()).map(|i| i.ino()), Ok(f.ino()));
    assert_eq!(v.lookup(&b, b"..", true, &root()).map(|i| i.ino()), Ok(a.ino()));
    assert_eq!(look(&v, b"/a/b/f/", true), Err(Errno::ENOTDIR));
    assert_eq!(look(&v, b"/a/b/f/x", true), Err(Errno::ENOTDIR));
    assert_eq!(look(&v, b"/a/b/f/.", true), Err(Errno::ENOTDIR));
    assert_eq!(look(&v, b"/a/nope/f", true), Err(Errno::ENOENT));
    assert_eq!(look(&v, b"", true), Err(Errno::ENOENT));
    assert_eq!(v.path_of(&b), Ok(b"/a/b".to_vec()));
    assert_eq!(v.path_of(&v.root()), Ok(b"/".to_vec()));
}

#[test]
fn name_and_path_limits() {
    let v = new_vfs();
    let long = [b'n'; 256];
    assert_eq!(look(&v, &long, true), Err(Errno::ENAMETOOLONG));
    let ok = [b'n'; 255];
    assert_eq!(look(&v, &ok, true), Err(Errno::ENOENT));
    let path: Vec<u8> = b"/a".iter().copied().cycle().take(4096).collect();
    assert_eq!(look(&v, &path, true), Err(Errno::ENAMETOOLONG));
    assert_eq!(v.lookup_parent(&v.root(), &long, &root()).err(), Some(Errno::ENAMETOOLONG));
}

#[test]
fn symlinks_are_followed_and_loops_stop() {
    let v = new_vfs();
    mkdir(&v, b"/d");
    let f = mkfile(&v, b"/d/f", b"data");
    symlink(&v, b"/abs", b"/d/f");
    symlink(&v, b"/d/rel", b"f");
    symlink(&v, b"/dl", b"d");
    symlink(&v, b"/loop", b"loop");
    symlink(&v, b"/dangling", b"/nowhere");
    assert_eq!(look(&v, b"/abs", true), Ok(f.ino()));
    assert_ne!(look(&v, b"/abs", false), Ok(f.ino()));
    assert_eq!(look(&v, b"/d/rel", true), Ok(f.ino()));
    assert_eq!(look(&v, b"/dl/rel", true), Ok(f.ino()));
    assert!(look(&v, b"/dl/", false).is_ok());
    assert_eq!(v.lookup(&v.root(), b"/dl/", false, &root()).unwrap().file_type(), FileType::Directory);
    assert_eq!(look(&v, b"/loop", true), Err(Errno::ELOOP));
    assert!(look(&v, b"/loop", false).is_ok());
    assert_eq!(look(&v, b"/dangling", true), Err(Errno::ENOENT));
    assert_eq!(look(&v, b"/abs/", true), Err(Errno::ENOTDIR));
    // A chain of 40 links resolves; 41 does not.
    symlink(&v, b"/l0", b"/d/f");
    for i in 1..=40 {
        symlink(&v, std::format!("/l{i}").as_bytes(), std::format!("/l{}", i - 1).as_bytes());
    }
    assert_eq!(look(&v, b"/l39", true), Ok(f.ino()));
    assert_eq!(look(&v, b"/l40", true), Err(Errno::ELOOP));
}

#[test]
fn create_unlink_rmdir_errors() {
    let v = new_vfs();
    let d = mkdir(&v, b"/d");
    let f = mkfile(&v, b"/d/f", b"");
    let r = root();
    assert_eq!(v.create(&d, b"f", NewNode::Regular, 0o644, &r).err(), Some(Errno::EEXIST));
    assert_eq!(v.create(&f, b"x", NewNode::Regular, 0o644, &r).err(), Some(Errno::ENOTDIR));
    assert_eq!(v.unlink(&v.root(), b"d", &r), Err(Errno::EISDIR));
    assert_eq!(v.rmdir(&d, b"f", &r), Err(Errno::ENOTDIR));
    assert_eq!(v.rmdir(&v.root(), b"d", &r), Err(Errno::ENOTEMPTY));
    assert_eq!(v.unlink(&d, b"nope", &r), Err(Errno::ENOENT));
    assert_eq!(d.metadata().nlink, 2);
    assert_eq!(v.root().metadata().nlink, 3);
    v.unlink(&d, b"f", &r).unwrap();
    assert_eq!(f.metadata().nlink, 0);
    v.rmdir(&v.root(), b"d", &r).unwrap();
    assert_eq!(v.root().metadata().nlink, 2);
    assert_eq!(v.create(&d, b"g", NewNode::Regular, 0o644, &r).err(), Some(Errno::ENOENT));
    assert_eq!(v.path_of(&d), Err(Errno::ENOENT));
}

#[test]
fn hard_links_count() {
    let v = new_vfs();
    let f = mkfile(&v, b"/f", b"abc");
    let d = mkdir(&v, b"/d");
    let r = root();
    v.link(&v.root(), b"g", &f, &r).unwrap();
    assert_eq!(f.metadata().nlink, 2);
    assert_eq!(look(&v, b"/g", true), Ok(f.ino()));
    assert_eq!(v.link(&v.root(), b"e", &d, &r), Err(Errno::EPERM));
    assert_eq!(v.link(&v.root(), b"d", &f, &r), Err(Errno::EEXIST));
    v.unlink(&v.root(), b"f", &r).unwrap();
    assert_eq!(f.metadata().nlink, 1);
}

#[test]
fn rename_semantics() {
    let v = new_vfs();
    let r = root();
    let rt = v.root();
    let a = mkdir(&v, b"/a");
    let b = mkdir(&v, b"/a/b");
    let f = mkfile(&v, b"/f", b"1");
    let g = mkfile(&v, b"/g", b"2");
    mkfile(&v, b"/a/b/x", b"");
    assert_eq!(v.rename(&rt, b"a", &b, b"c", RenameFlags::empty(), &r), Err(Errno::EINVAL));
    assert_eq!(v.rename(&rt, b"f", &rt, b"a", RenameFlags::empty(), &r), Err(Errno::EISDIR));
    assert_eq!(v.rename(&a, b"b", &rt, b"f", RenameFlags::empty(), &r), Err(Errno::ENOTDIR));
    let e = mkdir(&v, b"/e");
    assert_eq!(v.rename(&e.clone(), b"..", &rt, b"q", RenameFlags::empty(), &r), Err(Errno::ENOENT));
    assert_eq!(v.rename(&rt, b"e", &rt, b"a", RenameFlags::empty(), &r), Err(Errno::ENOTEMPTY));
    assert_eq!(v.rename(&rt, b"f", &rt, b"g", RenameFlags::NOREPLACE, &r), Err(Errno::EEXIST));
    assert_eq!(v.rename(&rt, b"f", &rt, b"g", RenameFlags::NOREPLACE | RenameFlags::EXCHANGE, &r), Err(Errno::EINVAL));
    assert_eq!(v.rename(&rt, b"f", &rt, b"g", RenameFlags::WHITEOUT, &r), Err(Errno::EINVAL));
    assert_eq!(v.rename(&rt, b"f", &rt, b"zz", RenameFlags::EXCHANGE, &r), Err(Errno::ENOENT));
    v.rename(&rt, b"f", &rt, b"g", RenameFlags::empty(), &r).unwrap();
    assert_eq!(look(&v, b"/g", true), Ok(f.ino()));
    assert_eq!(g.metadata().nlink, 0);
    assert_eq!(look(&v, b"/f", true), Err(Errno::ENOENT));
    // Moving a directory fixes `..` and link counts.
    v.rename(&a, b"b", &e, b"b2", RenameFlags::empty(), &r).unwrap();
    assert_eq!(a.metadata().nlink, 2);
    assert_eq!(e.metadata().nlink, 3);
    assert_eq!(v.lookup(&b, b"..", true, &r).map(|i| i.ino()), Ok(e.ino()));
    assert_eq!(v.path_of(&b), Ok(b"/e/b2".to_vec()));
    // Exchange swaps a file and a directory.
    v.rename(&rt, b"g", &e, b"b2", RenameFlags::EXCHANGE, &r).unwrap();
    assert_eq!(look(&v, b"/g", true), Ok(b.ino()));
    assert_eq!(look(&v, b"/e/b2", true), Ok(f.ino()));
    assert_eq!(v.path_of(&b), Ok(b"/g".to_vec()));
    assert_eq!(e.metadata().nlink, 2);
    // Renaming onto an empty directory replaces it.
    let empty = mkdir(&v, b"/empty");
    v.rename(&rt, b"a", &rt, b"empty", RenameFlags::empty(), &r).unwrap();
    assert_eq!(empty.metadata().nlink, 0);
    assert_eq!(look(&v, b"/empty", true), Ok(a.ino()));
}

#[test]
fn permissions_for_ordinary_users() {
    let v = new_vfs();
    let r = root();
    let user = Credentials::user(1000, 1000);
    let d = mkdir(&v, b"/priv");
    v.chmod(&d, 0o700, &r).unwrap();
    mkfile(&v, b"/priv/f", b"");
    assert_eq!(v.lookup(&v.root(), b"/priv/f", true, &user).err(), Some(Errno::EACCES));
    assert_eq!(v.create(&d, b"g", NewNode::Regular, 0o644, &user).err(), Some(Errno::EACCES));
    assert_eq!(v.chmod(&d, 0o777, &user), Err(Errno::EPERM));
    assert_eq!(v.chown(&d, Some(1000), None, &user), Err(Errno::EPERM));
    v.chown(&d, Some(1000), Some(1000), &r).unwrap();
    v.chmod(&d, 0o1777, &user).unwrap();
    let f = v.create(&d, b"mine", NewNode::Regular, 0o600, &user).unwrap();
    assert_eq!((f.metadata().uid, f.metadata().gid), (1000, 1000));
    let other = Credentials::user(1001, 1001);
    assert_eq!(v.unlink(&d, b"mine", &other), Err(Errno::EPERM));
    assert_eq!(v.check_access(&f, Access::READ, &other), Err(Errno::EACCES));
    assert_eq!(v.check_access(&f, Access::READ | Access::WRITE, &user), Ok(()));
    assert_eq!(v.check_access(&f, Access::EXEC, &r), Err(Errno::EACCES));
    assert_eq!(v.set_times(&f, TimeUpdate::Set(Timespec::new(5, 0)), TimeUpdate::Omit, &other), Err(Errno::EPERM));
    v.unlink(&d, b"mine", &user).unwrap();
}

#[test]
fn mapped_pages_are_the_files_own() {
    let v = new_vfs();
    let f = mkfile(&v, b"/f", b"");
    let now = v.now();
    f.write_at(Some(8192), b"third page", now).unwrap();
    let MappedPage::Page(page) = f.mapped_page(2, false).unwrap() else { panic!("page 2 was written") };
    // A write through the page (as through a shared mapping) is the file's.
    page.write(0, b"T");
    let mut buf = [0u8; 10];
    f.read_at(8192, &mut buf, now).unwrap();
    assert_eq!(&buf, b"Third page");
    // A hole stays one unless the mapping needs a page to write.
    assert!(matches!(f.mapped_page(0, false), Ok(MappedPage::Hole)));
    assert_eq!(f.metadata().blocks, 8);
    assert!(matches!(f.mapped_page(0, true), Ok(MappedPage::Page(_))));
    assert_eq!(f.metadata().blocks, 16);
    assert!(matches!(f.mapped_page(3, true), Ok(MappedPage::PastEnd)));
    // Truncation zeroes the tail of a page a mapping may still hold.
    f.truncate(8193, now).unwrap();
    let mut tail = [1u8; 4];
    page.read(0, &mut tail);
    assert_eq!(tail, *b"T\0\0\0");
    let dir = v.lookup(&v.root(), b"/", true, &Credentials::root()).unwrap();
    assert_eq!(dir.mapped_page(0, false).err(), Some(Errno::ENODEV));
}

#[test]
fn anonymous_files_are_in_no_directory() {
    let v = new_vfs();
    let before = v.stats().blocks_free;
    let f = v.anonymous_file(3 * PAGE_SIZE, &Credentials::root()).unwrap();
    assert_eq!((f.size(), f.metadata().nlink), (3 * PAGE_SIZE, 0));
    assert!(matches!(f.mapped_page(2, true), Ok(MappedPage::Page(_))));
    assert_eq!(v.stats().blocks_free, before - 1);
    drop(f);
    assert_eq!(v.stats().blocks_free, before);
}

#[test]
fn sparse_files_read_zeros_and_truncate() {
    let v = new_vfs();
    let f = mkfile(&v, b"/f", b"");
    let now = v.now();
    assert_eq!(f.write_at(Some(10_000), b"end", now), Ok((3, 10_003)));
    assert_eq!(f.metadata().size, 10_003);
    assert_eq!(f.metadata().blocks, 8);
    let mut buf = [1u8; 16];
    assert_eq!(f.read_at(0, &mut buf, now), Ok(16));
    assert_eq!(buf, [0; 16]);
    assert_eq!(f.read_at(9_999, &mut buf, now), Ok(4));
    assert_eq!(&buf[..4], b"\0end");
    f.truncate(10_001, now).unwrap();
    f.truncate(20_000, now).unwrap();
    assert_eq!(f.read_at(10_000, &mut buf[..3], now), Ok(3));
    assert_eq!(&buf[..3], b"e\0\0");
    assert_eq!(f.write_at(None, b"!", now), Ok((1, 20_001)));
    assert_eq!(f.write_at(Some(MAX_FILE_SIZE), b"x", now), Err(Errno::EFBIG));
    f.allocate(Allocate::PunchHole, 8192, 4096, now).unwrap();
    assert_eq!(f.metadata().blocks, 8);
    assert_eq!(f.truncate(0, now), Ok(()));
    assert_eq!(f.metadata().blocks, 0);
    assert_eq!(v.stats().blocks_free, v.stats().blocks);
}

#[test]
fn full_filesystem_gives_enospc() {
    let v = Vfs::new(Arc::new(TickClock::default()), 2 * PAGE_SIZE, Arc::new(HeapPages::default()));
    let f = mkfile(&v, b"/f", b"");
    let now = v.now();
    let big = alloc::vec![7u8; 3 * 4096];
    assert_eq!(f.write_at(Some(0), &big, now), Ok((8192, 8192)));
    assert_eq!(f.write_at(Some(8192), b"x", now), Err(Errno::ENOSPC));
    assert_eq!(v.stats().blocks_free, 0);
    drop(f);
    v.unlink(&v.root(), b"f", &root()).unwrap();
    assert_eq!(v.stats().blocks_free, 2);
}

#[test]
fn directory_positions_are_stable() {
    let v = new_vfs();
    let d = mkdir(&v, b"/d");
    for n in [b"a", b"b", b"c"] {
        v.create(&d, n, NewNode::Regular, 0o644, &root()).unwrap();
    }
    let names = |from: u64| {
        let mut out = Vec::new();
        let mut pos = from;
        while let Some(e) = d.dir_entry_at(pos).unwrap() {
            pos = e.next;
            out.push(e.name);
        }
        out
    };
    assert_eq!(names(0), [&b"."[..], b"..", b"a", b"b", b"c"].map(<[u8]>::to_vec));
    let after_a = d.dir_entry_at(2).unwrap().unwrap().next;
    v.unlink(&d, b"a", &root()).unwrap();
    v.create(&d, b"z", NewNode::Regular, 0o644, &root()).unwrap();
    assert_eq!(names(after_a), [&b"b"[..], b"c", b"z"].map(<[u8]>::to_vec));
    assert_eq!(d.dir_entry_at(1).unwrap().unwrap().ino, 1);
    let f = d.child(b"b").unwrap().unwrap();
    assert_eq!(f.dir_entry_at(0), Err(Errno::ENOTDIR));
}

#[test]
fn times_and_modes() {
    let v = new_vfs();
    let f = mkfile(&v, b"/f", b"");
    let before = f.metadata();
    f.write_at(Some(0), b"x", v.now()).unwrap();
    assert!(f.metadata().mtime > before.mtime);
    v.set_times(&f, TimeUpdate::Set(Timespec::new(5, 6)), TimeUpdate::Omit, &root()).unwrap();
    let m = f.metadata();
    assert_eq!(m.atime, Timespec::new(5, 6));
    assert_eq!(m.mode(), 0o100644);
    v.chmod(&f, 0o6755, &root()).unwrap();
    v.chown(&f, Some(3), None, &root()).unwrap();
    assert_eq!(f.metadata().perm, 0o755);
    assert_eq!(DevNumber::new(1, 3).encode(), 0x103);
    assert_eq!(DevNumber::new(0x1234, 0x56789).encode(), (0x1000u64 << 32) | (0x234 << 8) | (0x56700 << 12) | 0x89);
    assert_eq!(f.readlink(), Err(Errno::EINVAL));
}
