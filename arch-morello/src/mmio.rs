//! Device register windows: the one place that turns a device address into
//! volatile accesses.

/// A window of device registers mapped as device memory.
#[derive(Debug, Clone, Copy)]
pub struct Mmio {
    base: usize,
    len: usize,
}

impl Mmio {
    /// A window of `len` bytes at virtual address `base`.
    ///
    /// # Safety
    /// `[base, base + len)` must be mapped as device memory for as long as the
    /// window is used, and belong to the device this window drives.
    pub const unsafe fn new(base: usize, len: usize) -> Mmio {
        Mmio { base, len }
    }

    fn register(&self, offset: usize) -> *mut u32 {
        assert!(offset % 4 == 0 && offset + 4 <= self.len, "register outside its device window");
        core::ptr::with_exposed_provenance_mut(self.base + offset)
    }

    /// Reads the 32-bit register at `offset`.
    pub fn read(&self, offset: usize) -> u32 {
        // SAFETY: `new` guarantees the window is mapped device memory; the
        // offset was checked to lie inside it and is 4-byte aligned.
        unsafe { self.register(offset).read_volatile() }
    }

    /// Writes the 32-bit register at `offset`.
    pub fn write(&self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { self.register(offset).write_volatile(value) }
    }

    /// Reads the 64-bit register at `offset` as two 32-bit halves.
    pub fn read64(&self, offset: usize) -> u64 {
        u64::from(self.read(offset)) | (u64::from(self.read(offset + 4)) << 32)
    }
}
