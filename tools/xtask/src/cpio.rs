//! The cpio "newc" (SVR4, magic `070701`, no checksum) archive writer that
//! makes Morsel's initramfs, and the walk that archives a staging directory.
//!
//! Each entry is a 110-byte ASCII header of thirteen 8-digit hex fields, the
//! name with its NUL padded so that header + name end on a 4-byte boundary,
//! then the data padded to 4 bytes. Owners are always 0 (root), every
//! regular file carries its own data with `nlink` 1 (host hard links become
//! independent files), and the archive ends with the `TRAILER!!!` entry.

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// The newc magic.
const MAGIC: &str = "070701";
/// The name of the closing entry.
const TRAILER: &[u8] = b"TRAILER!!!";
/// The longest name Linux's initramfs unpacker accepts (PATH_MAX with NUL).
const MAX_NAME: usize = 4095;
/// File type bits of `st_mode`.
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// Padding after `len` bytes to the next multiple of 4.
fn pad4(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// Writes a newc archive entry by entry; `finish` writes the trailer.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    next_ino: u32,
}

impl<W: Write> Writer<W> {
    /// A writer that appends to `out`.
    pub fn new(out: W) -> Self {
        Writer { out, next_ino: 1 }
    }

    /// A directory; `perm` holds the permission bits (at most 0o7777).
    pub fn directory(&mut self, name: &[u8], perm: u32, mtime: u32) -> io::Result<()> {
        self.entry(name, S_IFDIR | check_perm(perm)?, 2, mtime, &[])
    }

    /// A regular file with its contents.
    pub fn file(&mut self, name: &[u8], perm: u32, mtime: u32, data: &[u8]) -> io::Result<()> {
        self.entry(name, S_IFREG | check_perm(perm)?, 1, mtime, data)
    }

    /// A symbolic link; its data is the target, without a NUL.
    pub fn symlink(&mut self, name: &[u8], target: &[u8], mtime: u32) -> io::Result<()> {
        self.entry(name, S_IFLNK | 0o777, 1, mtime, target)
    }

    /// Writes the trailer and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.next_ino = 0;
        self.entry(TRAILER, 0, 1, 0, &[])?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn entry(&mut self, name: &[u8], mode: u32, nlink: u32, mtime: u32, data: &[u8]) -> io::Result<()> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        if name.is_empty() || name.len() > MAX_NAME || name.contains(&0) || name.starts_with(b"/") {
            return Err(invalid(format!("cpio: bad entry name {:?}", String::from_utf8_lossy(name))));
        }
        let size = u32::try_from(data.len())
            .map_err(|_| invalid(format!("cpio: {} is 4 GiB or larger", String::from_utf8_lossy(name))))?;
        let ino = self.next_ino;
        self.next_ino += 1;
        let namesize = name.len() + 1;
        // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
        let fields = [ino, mode, 0, 0, nlink, mtime, size, 0, 0, 0, 0, namesize as u32, 0];
        let mut header = String::with_capacity(110);
        header.push_str(MAGIC);
        for field in fields {
            header.push_str(&format!("{field:08x}"));
        }
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(name)?;
        self.out.write_all(&[0; 4][..1 + pad4(header.len() + namesize)])?;
        self.out.write_all(data)?;
        self.out.write_all(&[0; 3][..pad4(data.len())])
    }
}

fn check_perm(perm: u32) -> io::Result<u32> {
    if perm & !0o7777 == 0 {
        Ok(perm)
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("cpio: {perm:#o} is not a permission mode")))
    }
}

/// Archives everything under `root` (not `root` itself) into `out`, names
/// relative to `root`, each directory before its contents, names sorted.
/// Regular files, directories and symlinks only: anything else is an error.
pub fn write_tree<W: Write>(root: &Path, out: W) -> Result<W, String> {
    let mut writer = Writer::new(out);
    add_directory(&mut writer, root, Path::new(""))?;
    writer.finish().map_err(|e| format!("writing the archive: {e}"))
}

fn add_directory<W: Write>(writer: &mut Writer<W>, root: &Path, dir: &Path) -> Result<(), String> {
    let host_dir = root.join(dir);
    let mut names = std::fs::read_dir(&host_dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.file_name())).collect::<io::Result<Vec<_>>>())
        .map_err(|e| format!("reading {}: {e}", host_dir.display()))?;
    names.sort();
    for name in names {
        let rel = dir.join(&name);
        let host = root.join(&rel);
        let context = |e: io::Error| format!("{}: {e}", host.display());
        let meta = std::fs::symlink_metadata(&host).map_err(context)?;
        let mtime = u32::try_from(meta.mtime().max(0)).unwrap_or(u32::MAX);
        let perm = meta.permissions().mode() & 0o7777;
        let name = rel.as_os_str().as_bytes();
        let kind = meta.file_type();
        if kind.is_dir() {
            writer.directory(name, perm, mtime).map_err(context)?;
            add_directory(writer, root, &rel)?;
        } else if kind.is_file() {
            let data = std::fs::read(&host).map_err(context)?;
            writer.file(name, perm, mtime, &data).map_err(context)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&host).map_err(context)?;
            writer.symlink(name, target.as_os_str().as_bytes(), mtime).map_err(context)?;
        } else {
            return Err(format!("{}: only files, directories and symlinks go into an image", host.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// One entry as read back by the independent parser below.
    #[derive(Debug, PartialEq)]
    struct Parsed {
        name: String,
        mode: u32,
        uid: u32,
        gid: u32,
        nlink: u32,
        mtime: u32,
        data: Vec<u8>,
    }

    fn hex_field(header: &[u8], index: usize) -> u32 {
        let text = std::str::from_utf8(&header[6 + 8 * index..14 + 8 * index]).expect("ASCII field");
        u32::from_str_radix(text, 16).expect("hex field")
    }

    /// Parses a newc archive, asserting the layout rules on the way: the
    /// magic, the NUL-terminated name counted in namesize, zero padding to
    /// 4 bytes after the name and after the data, and the trailer last.
    fn parse(archive: &[u8]) -> Vec<Parsed> {
        let mut entries = Vec::new();
        let mut at = 0;
        loop {
            assert_eq!(at % 4, 0, "header at {at} is not 4-byte aligned");
            let header = &archive[at..at + 110];
            assert_eq!(&header[..6], b"070701", "magic at {at}");
            assert_eq!(hex_field(header, 12), 0, "check field");
            let namesize = hex_field(header, 11) as usize;
            let filesize = hex_field(header, 6) as usize;
            let name_end = at + 110 + namesize;
            assert_eq!(archive[name_end - 1], 0, "namesize counts the NUL");
            let name = String::from_utf8(archive[at + 110..name_end - 1].to_vec()).expect("UTF-8 name");
            assert!(!name.contains('\0'));
            let data_start = name_end + pad4(name_end);
            assert!(archive[name_end..data_start].iter().all(|&b| b == 0), "name padding");
            assert_eq!(data_start % 4, 0);
            let data_end = data_start + filesize;
            let next = data_end + pad4(data_end);
            assert!(archive[data_end..next].iter().all(|&b| b == 0), "data padding");
            let entry = Parsed {
                name,
                mode: hex_field(header, 1),
                uid: hex_field(header, 2),
                gid: hex_field(header, 3),
                nlink: hex_field(header, 4),
                mtime: hex_field(header, 5),
                data: archive[data_start..data_end].to_vec(),
            };
            at = next;
            if entry.name == "TRAILER!!!" {
                assert_eq!(at, archive.len(), "nothing follows the trailer");
                return entries;
            }
            entries.push(entry);
        }
    }

    #[test]
    fn entries_read_back_with_their_fields() {
        let mut w = Writer::new(Vec::new());
        w.directory(b"etc", 0o755, 100).unwrap();
        w.file(b"etc/hosts", 0o644, 200, b"127.0.0.1 localhost\n").unwrap();
        w.file(b"etc/empty", 0o4755, 300, b"").unwrap();
        w.symlink(b"bin", b"usr/bin", 400).unwrap();
        let archive = w.finish().unwrap();
        let entries = parse(&archive);
        let expect = |name: &str, mode, nlink, mtime, data: &[u8]| Parsed {
            name: name.to_string(),
            mode,
            uid: 0,
            gid: 0,
            nlink,
            mtime,
            data: data.to_vec(),
        };
        assert_eq!(
            entries,
            vec![
                expect("etc", 0o040_755, 2, 100, b""),
                expect("etc/hosts", 0o100_644, 1, 200, b"127.0.0.1 localhost\n"),
                expect("etc/empty", 0o104_755, 1, 300, b""),
                expect("bin", 0o120_777, 1, 400, b"usr/bin"),
            ]
        );
    }

    #[test]
    fn every_name_and_data_length_is_padded() {
        // Names of 1..=8 bytes and data of 0..=5 bytes cover every remainder mod 4.
        let mut w = Writer::new(Vec::new());
        let mut expected = Vec::new();
        for name_len in 1..=8 {
            for data_len in 0..=5 {
                let name = format!("{}{data_len}", "n".repeat(name_len));
                let data = vec![b'x'; data_len];
                w.file(name.as_bytes(), 0o600, 0, &data).unwrap();
                expected.push((name, data));
            }
        }
        let entries = parse(&w.finish().unwrap());
        let got: Vec<_> = entries.into_iter().map(|e| (e.name, e.data)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn bad_names_and_modes_are_refused() {
        let mut w = Writer::new(Vec::new());
        assert!(w.file(b"/abs", 0o644, 0, b"").is_err());
        assert!(w.file(b"", 0o644, 0, b"").is_err());
        assert!(w.file(b"a\0b", 0o644, 0, b"").is_err());
        assert!(w.file(&[b'a'; MAX_NAME + 1], 0o644, 0, b"").is_err());
        assert!(w.file(b"ok", 0o100_644, 0, b"").is_err());
    }

    fn sample_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/tool"), b"#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(root.join("usr/bin/tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(root.join("usr/odd"), b"abc").unwrap();
        std::fs::set_permissions(root.join("usr/odd"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::hard_link(root.join("usr/odd"), root.join("usr/odd-link")).unwrap();
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        dir
    }

    #[test]
    fn a_tree_is_archived_parents_first_and_sorted() {
        let tree = sample_tree();
        let entries = parse(&write_tree(tree.path(), Vec::new()).unwrap());
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["bin", "usr", "usr/bin", "usr/bin/tool", "usr/odd", "usr/odd-link"]);
        assert_eq!(entries[0].data, b"usr/bin");
        assert_eq!(entries[3].mode, 0o100_755);
        assert_eq!(entries[4].mode, 0o100_640);
        // A host hard link becomes an independent copy.
        assert_eq!((entries[5].nlink, entries[5].data.as_slice()), (1, &b"abc"[..]));
    }

    #[test]
    fn sockets_are_refused() {
        let tree = tempfile::tempdir().unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(tree.path().join("sock")).unwrap();
        let err = write_tree(tree.path(), Vec::new()).unwrap_err();
        assert!(err.contains("sock"), "{err}");
    }

    /// Whether the system `cpio` is there, installing it with apt when root.
    fn system_cpio() -> bool {
        let present = || Command::new("cpio").arg("--version").stdout(Stdio::null()).status().is_ok();
        if !present() && is_root() {
            let _ = Command::new("apt-get")
                .args(["-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q", "cpio"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        present()
    }

    fn is_root() -> bool {
        Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
    }

    #[test]
    fn gnu_cpio_extracts_the_same_tree() {
        if !system_cpio() {
            eprintln!("SKIPPED gnu_cpio_extracts_the_same_tree: no `cpio` program (apt-get install cpio)");
            return;
        }
        let tree = sample_tree();
        let archive = write_tree(tree.path(), Vec::new()).unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut child = Command::new("cpio")
            .args(["-i", "--make-directories", "--preserve-modification-time", "--quiet"])
            .current_dir(out.path())
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&archive).unwrap();
        assert!(child.wait().unwrap().success(), "cpio -i failed");
        let got = out.path();
        assert_eq!(std::fs::read_link(got.join("bin")).unwrap(), Path::new("usr/bin"));
        for (file, mode) in [("usr/bin/tool", 0o755), ("usr/odd", 0o640), ("usr/odd-link", 0o640)] {
            assert_eq!(std::fs::read(got.join(file)).unwrap(), std::fs::read(tree.path().join(file)).unwrap());
            let meta = std::fs::metadata(got.join(file)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, mode, "{file}");
            let original = std::fs::metadata(tree.path().join(file)).unwrap();
            assert_eq!(meta.mtime(), original.mtime(), "{file} mtime");
        }
    }
}
