//! Physical frames for μprocess memory and file data: taking a zeroed frame
//! from the platform's allocator, giving it back, reaching its bytes through
//! the linear map, counting the views that share an anonymous frame
//! copy-on-write since a fork, and [`FramePages`], the page source of the
//! filesystem, so that a file's pages are frames the paged isolation context
//! can map.

use crate::memory::PhysRange;
use crate::platform::platform;
use uprocess::areas::PAGE;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};
use spin::Mutex;
use arch_morello::PhysAddr;
use posix_shim::vfs::page::{FilePage, PAGE_BYTES, PageSource};

/// Memory kept back from fork: a fork fails with ENOMEM when less than
/// this is free, so that the μprocesses already running can still get the
/// pages they fault in (a fork bomb stops at fork, not by starving others).
pub const FORK_RESERVE_BYTES: u64 = 4 << 20;

/// Whether there is room for a new μprocess (see [`FORK_RESERVE_BYTES`]).
pub fn room_to_fork() -> bool {
    free_bytes() >= FORK_RESERVE_BYTES
}

/// Frames given back lately, handed out again first: a stack of single
/// frames in front of the platform's range allocator, whose coalescing
/// frees and first-fit allocations cost far more than a push or a pop (a
/// fork and an exit free and take a dozen frames).
static RECYCLED: Mutex<Vec<PhysAddr>> = Mutex::new(Vec::new());
/// At most this many frames (16 MiB) wait in [`RECYCLED`].
const RECYCLED_MAX: usize = 4096;

/// Free RAM for frames, the recycled ones included.
pub fn free_bytes() -> u64 {
    let recycled = RECYCLED.lock().len() as u64 * PAGE;
    platform().frames.lock().free_bytes() + recycled
}

/// A zeroed frame.
pub fn allocate_zeroed() -> Option<PhysAddr> {
    let frame = take()?;
    // SAFETY: a frame just taken from the allocator is ours alone.
    unsafe { bytes_mut(frame) }.fill(0);
    Some(frame)
}

/// A frame holding a copy of frame `from`'s bytes (not zeroed first).
pub fn allocate_copy_of(from: PhysAddr) -> Option<PhysAddr> {
    let frame = take()?;
    copy(from, frame);
    Some(frame)
}

/// A frame as it was left: a recycled one, or one from the platform's
/// allocator.
fn take() -> Option<PhysAddr> {
    let recycled = RECYCLED.lock().pop();
    match recycled {
        Some(frame) => Some(frame),
        None => Some(PhysAddr(platform().frames.lock().allocate(PAGE, PAGE).ok()?.start)),
    }
}

/// Gives `frame` back: to [`RECYCLED`] while it has room, else to the
/// platform's allocator.
pub fn free(frame: PhysAddr) {
    {
        let mut recycled = RECYCLED.lock();
        if recycled.capacity() == 0 {
            recycled.reserve_exact(RECYCLED_MAX);
        }
        if recycled.len() < recycled.capacity().min(RECYCLED_MAX) {
            recycled.push(frame);
            return;
        }
    }
    // Frames come from the allocator page by page, so returning one cannot
    // overlap free memory.
    let _ = platform().frames.lock().free(PhysRange::new(frame.0, PAGE));
}

/// Copies the whole of frame `from` to frame `to`.
fn copy(from: PhysAddr, to: PhysAddr) {
    let source: *const u8 = core::ptr::with_exposed_provenance(from.to_virt() as usize);
    let target: *mut u8 = core::ptr::with_exposed_provenance_mut(to.to_virt() as usize);
    // SAFETY: both are whole frames reached through the linear map, and
    // distinct (a copy is always made into a frame just allocated).
    unsafe { core::ptr::copy_nonoverlapping(source, target, PAGE_BYTES) };
}

/// The bytes of `frame` through the linear map.
///
/// # Safety
/// `frame` is a frame the caller holds (allocated and not freed), and
/// nothing else writes the returned bytes while the slice is alive except
/// μprocesses mapping the frame (whose stores the kernel tolerates as racing
/// data, as any kernel does with user memory).
pub unsafe fn bytes_mut<'a>(frame: PhysAddr) -> &'a mut [u8] {
    let base: *mut u8 = core::ptr::with_exposed_provenance_mut(frame.to_virt() as usize);
    // SAFETY: the linear map covers every frame, a frame is PAGE_BYTES long,
    // and the caller holds it.
    unsafe { core::slice::from_raw_parts_mut(base, PAGE_BYTES) }
}

/// A file page in a frame of its own, freed with the last reference.
#[derive(Debug)]
struct FramePage(PhysAddr);

impl FilePage for FramePage {
    fn read(&self, offset: usize, buf: &mut [u8]) {
        // SAFETY: this page owns its frame until dropped.
        let bytes = unsafe { bytes_mut(self.0) };
        buf.copy_from_slice(&bytes[offset..offset + buf.len()]);
    }

    fn write(&self, offset: usize, data: &[u8]) {
        // SAFETY: this page owns its frame until dropped.
        let bytes = unsafe { bytes_mut(self.0) };
        bytes[offset..offset + data.len()].copy_from_slice(data);
    }

    fn zero_from(&self, offset: usize) {
        // SAFETY: this page owns its frame until dropped.
        let bytes = unsafe { bytes_mut(self.0) };
        bytes[offset..].fill(0);
    }

    fn frame(&self) -> u64 {
        self.0.0
    }
}

impl Drop for FramePage {
    fn drop(&mut self) {
        free(self.0);
    }
}

/// The filesystem's page source: frames from the platform's allocator.
#[derive(Debug)]
pub struct FramePages;

impl PageSource for FramePages {
    fn allocate(&self) -> Option<Arc<dyn FilePage>> {
        Some(Arc::new(FramePage(allocate_zeroed()?)))
    }
}

/// Per frame of RAM: how many views besides one map it copy-on-write, or
/// hold it as a page table shared since a fork (0: it has one owner). A
/// flat table, so that fork and exit count a page in constant time.
struct Sharers {
    first_frame: u64,
    counts: Vec<AtomicU32>,
}

fn sharers() -> &'static Sharers {
    static SHARERS: spin::Once<Sharers> = spin::Once::new();
    SHARERS.call_once(|| {
        let banks = &platform().machine.memory;
        let first = banks.iter().map(|b| b.start).min().unwrap_or(0) / PAGE;
        let last = banks.iter().map(|b| b.end).max().unwrap_or(0).div_ceil(PAGE);
        Sharers { first_frame: first, counts: (first..last).map(|_| AtomicU32::new(0)).collect() }
    })
}

fn sharing_count(frame: PhysAddr) -> Option<&'static AtomicU32> {
    let table = sharers();
    let index = (frame.0 / PAGE).checked_sub(table.first_frame)?;
    table.counts.get(usize::try_from(index).ok()?)
}

/// One more view maps `frame` copy-on-write.
pub fn share(frame: PhysAddr) {
    if let Some(count) = sharing_count(frame) {
        count.fetch_add(1, Ordering::AcqRel);
    }
}

/// Whether another view maps `frame` too.
pub fn is_shared(frame: PhysAddr) -> bool {
    sharing_count(frame).is_some_and(|count| count.load(Ordering::Acquire) != 0)
}

/// A view stops mapping the anonymous frame `frame`: freed when no view is
/// left.
pub fn release(frame: PhysAddr) {
    if release_shared(frame) {
        free(frame);
    }
}

/// A view stops holding `frame`: true when it was the last holder (the
/// caller then frees it, after releasing what it holds), false when
/// others still hold it (one holder fewer now). One atomic step, so that
/// of views letting go at once exactly one is the last.
pub fn release_shared(frame: PhysAddr) -> bool {
    sharing_count(frame).is_none_or(|count| {
        count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_err()
    })
}
