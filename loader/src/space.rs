//! The loader's view of a μprocess's address space: the [`AddressSpace`]
//! trait the kernel implements (for the paged isolation context, a
//! translation table over the μprocess's region) and the [`Protection`] of a
//! mapping.

use posix_shim::Errno;

bitflags::bitflags! {
    /// Access rights of a mapping. The bits are Linux's `PROT_*` values, so
    /// that mmap and mprotect can pass theirs through unchanged.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Protection: u32 {
        /// PROT_READ.
        const READ = 1;
        /// PROT_WRITE.
        const WRITE = 2;
        /// PROT_EXEC.
        const EXEC = 4;
    }
}

/// The address space of the μprocess being loaded. Addresses are the
/// μprocess's own (what its code will use), as `u64`.
pub trait AddressSpace {
    /// What the space knows a file by, to map it (the kernel: a tmpfs
    /// inode; `()` for a space that only copies).
    type File;

    /// Reserves `[start, start + len)` (page-aligned) as demand-zero memory
    /// with `prot`. `Err(EEXIST)` if it overlaps an existing mapping,
    /// `Err(ENOMEM)` if it does not fit in the address space.
    fn map_zeroed(&mut self, start: u64, len: u64, prot: Protection) -> Result<(), Errno>;

    /// Copies `data` into mapped memory at `addr`, whatever the protection of
    /// that memory (the loader fills segments after giving them their final
    /// protection). `Err(EFAULT)` if any byte is not mapped.
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), Errno>;

    /// Reserves `[start, start + len)` as the main thread's stack: demand-zero
    /// memory as [`map_zeroed`](Self::map_zeroed) reserves it, which a space
    /// may also mark as the stack (Linux's `[stack]`).
    fn map_stack(&mut self, start: u64, len: u64, prot: Protection) -> Result<(), Errno> {
        self.map_zeroed(start, len, prot)
    }

    /// Shows bytes `[offset, offset + len)` of `file`, whose contents are
    /// `image`, at `start` (`start` and `offset` page-aligned, all of it
    /// inside memory [`map_zeroed`](Self::map_zeroed) reserved), privately:
    /// the μprocess's writes never reach the file. The rest of the last page
    /// stays zero. A space without file mappings copies the bytes, as this
    /// default does.
    fn map_file(&mut self, start: u64, file: &Self::File, image: &[u8], offset: u64, len: u64) -> Result<(), Errno> {
        let _ = file;
        let bytes = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(offset, len)| image.get(offset..offset.checked_add(len)?))
            .ok_or(Errno::EFAULT)?;
        self.write(start, bytes)
    }

    /// Finds a free page-aligned range of `len` bytes at or above `hint`
    /// (for position-independent programs and the interpreter), without
    /// reserving it. `Err(ENOMEM)` if there is none.
    fn find_free(&self, hint: u64, len: u64) -> Result<u64, Errno>;

    /// The page size: the granule of mappings and protections (a power of
    /// two).
    fn page_size(&self) -> u64 {
        4096
    }
}
