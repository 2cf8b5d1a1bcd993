//! The pages file data lives in. A regular file's bytes are kept in
//! [`FilePage`]s that the filesystem asks a [`PageSource`] for; the kernel's
//! source hands out physical frames, so that the very page a file holds can
//! be mapped into μprocesses (MAP_SHARED writes reach the file, private
//! mappings and ELF segments share it until written). [`HeapPages`] keeps
//! pages in the heap, for host tests and filesystems nothing maps.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::fmt::Debug;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

/// The size of a page of file data.
pub const PAGE_BYTES: usize = 4096;

/// One page of file data. Offsets are within the page; callers keep them
/// (and the lengths) inside [`PAGE_BYTES`].
pub trait FilePage: Send + Sync + Debug {
    /// Copies `buf.len()` bytes from `offset` into `buf`.
    fn read(&self, offset: usize, buf: &mut [u8]);
    /// Copies `data` to `offset`.
    fn write(&self, offset: usize, data: &[u8]);
    /// Sets the bytes from `offset` to the end of the page to zero.
    fn zero_from(&self, offset: usize);
    /// The page's frame number, as the page source numbers them: the
    /// physical address for the kernel's frames, so the kernel can map it.
    fn frame(&self) -> u64;
}

/// Where a filesystem gets zeroed pages.
pub trait PageSource: Send + Sync + Debug {
    /// A zeroed page, or `None` when memory has run out.
    fn allocate(&self) -> Option<Arc<dyn FilePage>>;
}

/// Pages in the kernel heap, numbered in allocation order.
#[derive(Debug, Default)]
pub struct HeapPages {
    next: AtomicU64,
}

#[derive(Debug)]
struct HeapPage {
    bytes: Mutex<Box<[u8; PAGE_BYTES]>>,
    number: u64,
}

impl FilePage for HeapPage {
    fn read(&self, offset: usize, buf: &mut [u8]) {
        buf.copy_from_slice(&self.bytes.lock()[offset..offset + buf.len()]);
    }

    fn write(&self, offset: usize, data: &[u8]) {
        self.bytes.lock()[offset..offset + data.len()].copy_from_slice(data);
    }

    fn zero_from(&self, offset: usize) {
        self.bytes.lock()[offset..].fill(0);
    }

    fn frame(&self) -> u64 {
        self.number
    }
}

impl PageSource for HeapPages {
    fn allocate(&self) -> Option<Arc<dyn FilePage>> {
        let mut bytes = alloc::vec::Vec::new();
        bytes.try_reserve_exact(PAGE_BYTES).ok()?;
        bytes.resize(PAGE_BYTES, 0u8);
        let bytes: Box<[u8; PAGE_BYTES]> = bytes.into_boxed_slice().try_into().ok()?;
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        Some(Arc::new(HeapPage { bytes: Mutex::new(bytes), number }))
    }
}
