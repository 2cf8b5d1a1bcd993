//! Files of μprocesses: the glue between the process layer and posix-shim's
//! VFS, file descriptor tables and file system calls.

use crate::process::Process;
use crate::syscall::Outcome;
use posix_shim::Errno;
use posix_shim::syscall::args::SyscallArgs;
use posix_shim::syscall::numbers::Sysno;

/// A μprocess's files: descriptor table, working directory, umask.
#[derive(Debug, Default)]
pub struct FileState {}

/// File system calls, handled by posix-shim.
pub fn dispatch(_p: &mut Process, _sysno: Sysno, _a: &SyscallArgs) -> Outcome {
    Outcome::Return(Err(Errno::ENOSYS))
}

/// The bytes a file mapping of `len` bytes at `offset` of `fd` shows.
pub fn read_for_mmap(_p: &mut Process, _fd: i32, _offset: u64, _len: u64) -> Result<alloc::vec::Vec<u8>, Errno> {
    Err(Errno::ENODEV)
}
