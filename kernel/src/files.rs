//! Files of μprocesses: the one VFS (a tmpfs filled from the initramfs),
//! each μprocess's open files, and the glue between the process layer and
//! posix-shim's file system calls.

use crate::process::Process;
use crate::syscall::Outcome;
use alloc::sync::Arc;
use alloc::vec::Vec;
use posix_shim::Errno;
use posix_shim::syscall::args::SyscallArgs;
use posix_shim::syscall::numbers::Sysno;
use posix_shim::vfs::{Clock, Credentials, Timespec, Vfs};
use spin::Once;

/// File times come from the real-time clock.
struct KernelClock;

impl Clock for KernelClock {
    fn now(&self) -> Timespec {
        let ns = crate::platform::platform().realtime_at_boot_ns + arch_morello::timer::uptime_ns();
        Timespec::new((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
    }
}

static VFS: Once<Vfs> = Once::new();

/// The filesystem, created empty on first use.
pub fn vfs() -> &'static Vfs {
    VFS.call_once(|| {
        let free = crate::platform::platform().frames.lock().free_bytes();
        Vfs::new(Arc::new(KernelClock), free / 2)
    })
}

/// Fills the filesystem from an initramfs (cpio newc).
pub fn unpack_initramfs(archive: &[u8]) -> Result<(), Errno> {
    let stats = posix_shim::cpio::populate(vfs(), archive).map_err(|e| {
        log::error!("initramfs: {e:?}");
        Errno::EINVAL
    })?;
    log::info!("initramfs: {stats:?}");
    Ok(())
}

/// The whole contents of the file at `path` (from the root, following
/// symlinks), as root reads it.
pub fn read_file(path: &[u8]) -> Result<Vec<u8>, Errno> {
    let vfs = vfs();
    let inode = vfs.lookup(&vfs.root(), path, true, &Credentials::root())?;
    if inode.is_dir() {
        return Err(Errno::EISDIR);
    }
    let mut contents = alloc::vec![0u8; inode.size() as usize];
    let mut done = 0;
    while done < contents.len() {
        let n = inode.read_at(done as u64, &mut contents[done..], vfs.now())?;
        if n == 0 {
            break;
        }
        done += n;
    }
    contents.truncate(done);
    Ok(contents)
}

/// A μprocess's files: descriptor table, working directory, umask.
#[derive(Debug, Default)]
pub struct FileState {}

/// File system calls, handled by posix-shim.
pub fn dispatch(_p: &mut Process, _sysno: Sysno, _a: &SyscallArgs) -> Outcome {
    Outcome::Return(Err(Errno::ENOSYS))
}

/// The bytes a file mapping of `len` bytes at `offset` of `fd` shows.
pub fn read_for_mmap(_p: &mut Process, _fd: i32, _offset: u64, _len: u64) -> Result<Vec<u8>, Errno> {
    Err(Errno::ENODEV)
}
