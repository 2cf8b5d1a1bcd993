//! Translation tables (4 KiB granule, 48-bit virtual addresses) and the
//! kernel's exact upper-half map.
//!
//! The boot code ([`crate::boot`]) maps RAM with 1 GiB blocks; the kernel then
//! builds a map where the image's text is read-only and executable, its
//! read-only data read-only, everything else non-executable, and devices are
//! device memory, and switches TTBR1 to it. TTBR0 walks stay disabled until a
//! μprocess view is installed.

use crate::PhysAddr;
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ReadWriteable, Readable, TCR_EL1, TTBR0_EL1, TTBR1_EL1, Writeable};

/// MAIR_EL1: attribute 0 Device-nGnRE, 1 Normal write-back, 2 Normal non-cacheable.
pub const MAIR_VALUE: u64 = 0x44_ff_04;
/// TCR_EL1 without IPS: T0SZ = T1SZ = 16, 4 KiB granules, inner-shareable
/// write-back walks for both halves.
pub const TCR_VALUE: u64 = 16 | (1 << 8) | (1 << 10) | (3 << 12) // TTBR0 half
    | (16 << 16) | (1 << 24) | (1 << 26) | (3 << 28) | (2 << 30); // TTBR1 half
/// SCTLR_EL1: MMU, data and instruction caches, stack alignment checks, RES1 bits.
pub const SCTLR_VALUE: u64 = 0x30d0_0800 | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 12);

/// TCR_EL1.HPD1: no hierarchical permissions in the upper half, which is
/// what lets the hardware-use bits below be used.
const TCR_HPD1: u64 = 1 << 42;
/// TCR_EL1.HWU159..HWU162 (bits 50:47): descriptor bits 59..62 of the upper
/// half are hardware-interpreted (on Morello: CDBM, SC, LC).
const TCR_HWU1_ALL: u64 = 0xf << 47;

/// Size of a translation granule (a page).
pub const PAGE_SIZE: u64 = 4096;
/// Size of a level-2 block.
pub const BLOCK_2M: u64 = 2 * 1024 * 1024;

const DESC_VALID: u64 = 1 << 0;
const DESC_TABLE_OR_PAGE: u64 = 1 << 1;
const DESC_ATTR_SHIFT: u64 = 2;
const DESC_AP_RO: u64 = 1 << 7;
const DESC_SH_INNER: u64 = 3 << 8;
const DESC_AF: u64 = 1 << 10;
const DESC_PXN: u64 = 1 << 53;
/// Morello: tagged capability stores allowed (SC, descriptor bit 60; read
/// only where TCR_EL1.HWU enables it, ignored elsewhere).
const DESC_MORELLO_SC: u64 = 1 << 60;
/// Morello: capability loads keep their tags (LC = 0b01, bits 62:61).
const DESC_MORELLO_LC: u64 = 1 << 61;
const DESC_UXN: u64 = 1 << 54;
const DESC_ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;
/// APTable[1] in a table descriptor: nothing below it is writable, at any
/// EL, whatever its own descriptor says (hierarchical permissions, on for
/// the lower half: TCR_EL1.HPD0 is 0). Marks a page table that views
/// share since a fork.
const DESC_TABLE_NO_WRITE: u64 = 1 << 62;

/// What a kernel mapping allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelMapping {
    /// Kernel code: read-only, executable at EL1.
    Text,
    /// Read-only data.
    ReadOnly,
    /// Read-write data, never executable.
    ReadWrite,
    /// Device registers: Device-nGnRE, never executable.
    Device,
}

impl KernelMapping {
    fn descriptor_bits(self) -> u64 {
        let normal = (1 << DESC_ATTR_SHIFT) | DESC_SH_INNER | DESC_AF | DESC_UXN;
        match self {
            KernelMapping::Text => normal | DESC_AP_RO,
            KernelMapping::ReadOnly => normal | DESC_AP_RO | DESC_PXN,
            KernelMapping::ReadWrite => normal | DESC_PXN | DESC_MORELLO_SC | DESC_MORELLO_LC,
            KernelMapping::Device => DESC_AF | DESC_PXN | DESC_UXN,
        }
    }
}

/// What EL0 may do with a user page (EL1 never executes user pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserAccess {
    /// Readable (every mapped user page is; PROT_NONE pages are not mapped).
    pub write: bool,
    /// Executable at EL0.
    pub execute: bool,
}

const DESC_AP_EL0: u64 = 1 << 6;
const DESC_NOT_GLOBAL: u64 = 1 << 11;

impl UserAccess {
    fn descriptor_bits(self) -> u64 {
        let mut bits = (1 << DESC_ATTR_SHIFT) | DESC_SH_INNER | DESC_AF | DESC_NOT_GLOBAL | DESC_AP_EL0 | DESC_PXN;
        if !self.write {
            bits |= DESC_AP_RO;
        }
        if !self.execute {
            bits |= DESC_UXN;
        }
        bits
    }

    fn from_descriptor(desc: u64) -> UserAccess {
        UserAccess { write: desc & DESC_AP_RO == 0, execute: desc & DESC_UXN == 0 }
    }
}

/// Errors building a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// No frame was left for a translation table.
    OutOfFrames,
    /// The range is already mapped differently.
    AlreadyMapped,
    /// Addresses not aligned to a page.
    Misaligned,
}

/// A set of translation tables rooted at a level-0 table, written through the
/// linear map.
#[derive(Debug)]
pub struct TranslationTables {
    root: PhysAddr,
    /// The level-1 and level-2 tables below the root, as allocated.
    tables: alloc::vec::Vec<PhysAddr>,
    /// Where each page table (last level) hangs: the 2 MiB it covers and
    /// its level-2 table and index. Fork and exit go through these instead
    /// of scanning every table for them.
    page_table_slots: alloc::vec::Vec<PageTableSlot>,
}

/// The level-2 entry that points at a page table.
#[derive(Debug, Clone, Copy)]
struct PageTableSlot {
    base: u64,
    level2: PhysAddr,
    index: usize,
}

/// One 4 KiB translation table seen through the linear map.
struct Table(*mut u64);

impl Table {
    /// # Safety
    /// `frame` must be a page-aligned RAM frame reachable through the linear
    /// map and owned by these translation tables.
    unsafe fn at(frame: PhysAddr) -> Table {
        Table(frame.to_virt() as *mut u64)
    }

    fn read(&self, index: usize) -> u64 {
        assert!(index < 512);
        // SAFETY: `at` guarantees a mapped, owned 512-entry table; index is in range.
        unsafe { self.0.add(index).read_volatile() }
    }

    fn write(&self, index: usize, value: u64) {
        assert!(index < 512);
        // SAFETY: as in `read`.
        unsafe { self.0.add(index).write_volatile(value) }
    }
}

impl TranslationTables {
    /// Starts empty tables with a root frame from `alloc_frame`, which must
    /// hand out zeroed, page-aligned RAM frames reachable through the linear map.
    pub fn new(alloc_frame: &mut dyn FnMut() -> Option<PhysAddr>) -> Result<Self, MapError> {
        let root = alloc_frame().ok_or(MapError::OutOfFrames)?;
        Ok(TranslationTables { root, tables: alloc::vec::Vec::new(), page_table_slots: alloc::vec::Vec::new() })
    }

    /// The physical address of the level-0 table (for TTBRn_EL1).
    pub fn root(&self) -> PhysAddr {
        self.root
    }

    /// Maps `[va, va + size)` to `[pa, pa + size)`, with 2 MiB blocks where
    /// both addresses allow it and pages elsewhere.
    pub fn map(
        &mut self,
        va: u64,
        pa: PhysAddr,
        size: u64,
        kind: KernelMapping,
        alloc_frame: &mut dyn FnMut() -> Option<PhysAddr>,
    ) -> Result<(), MapError> {
        if va % PAGE_SIZE != 0 || pa.0 % PAGE_SIZE != 0 || size % PAGE_SIZE != 0 {
            return Err(MapError::Misaligned);
        }
        let mut offset = 0;
        while offset < size {
            let (v, p) = (va + offset, pa.0 + offset);
            let block = v % BLOCK_2M == 0 && p % BLOCK_2M == 0 && size - offset >= BLOCK_2M;
            let level = if block { 2 } else { 3 };
            let table = self.walk_to(v, level, alloc_frame)?;
            let index = Self::index(v, level);
            let desc = (p & DESC_ADDR_MASK)
                | kind.descriptor_bits()
                | DESC_VALID
                | if level == 3 { DESC_TABLE_OR_PAGE } else { 0 };
            let old = table.read(index);
            if old & DESC_VALID != 0 && old != desc {
                return Err(MapError::AlreadyMapped);
            }
            table.write(index, desc);
            offset += if block { BLOCK_2M } else { PAGE_SIZE };
        }
        Ok(())
    }

    fn index(va: u64, level: u32) -> usize {
        ((va >> (39 - 9 * level)) & 0x1ff) as usize
    }

    /// The table at `level` covering `va`, creating intermediate tables.
    fn walk_to(
        &mut self,
        va: u64,
        level: u32,
        alloc_frame: &mut dyn FnMut() -> Option<PhysAddr>,
    ) -> Result<Table, MapError> {
        self.walk_to_frame(va, level, alloc_frame).map(|(table, _)| table)
    }

    /// [`Self::walk_to`], with the table's frame.
    fn walk_to_frame(
        &mut self,
        va: u64,
        level: u32,
        alloc_frame: &mut dyn FnMut() -> Option<PhysAddr>,
    ) -> Result<(Table, PhysAddr), MapError> {
        let mut frame = self.root;
        // SAFETY: the root is a frame these tables own (from `new`).
        let mut table = unsafe { Table::at(frame) };
        for current in 0..level {
            let index = Self::index(va, current);
            let entry = table.read(index);
            let next = if entry & DESC_VALID == 0 {
                let next = alloc_frame().ok_or(MapError::OutOfFrames)?;
                table.write(index, next.0 | DESC_VALID | DESC_TABLE_OR_PAGE);
                if current == 2 {
                    self.page_table_slots.push(PageTableSlot { base: va & !(BLOCK_2M - 1), level2: frame, index });
                } else {
                    self.tables.push(next);
                }
                next
            } else if entry & DESC_TABLE_OR_PAGE == 0 {
                return Err(MapError::AlreadyMapped);
            } else {
                PhysAddr(entry & DESC_ADDR_MASK)
            };
            frame = next;
            // SAFETY: `next` is a table frame these tables allocated.
            table = unsafe { Table::at(next) };
        }
        Ok((table, frame))
    }

    /// Maps one 4 KiB user page at `va` to `frame` (replacing any mapping).
    pub fn map_user_page(
        &mut self,
        va: u64,
        frame: PhysAddr,
        access: UserAccess,
        alloc_frame: &mut dyn FnMut() -> Option<PhysAddr>,
    ) -> Result<(), MapError> {
        if va % PAGE_SIZE != 0 || frame.0 % PAGE_SIZE != 0 {
            return Err(MapError::Misaligned);
        }
        let table = self.walk_to(va, 3, alloc_frame)?;
        table.write(Self::index(va, 3), (frame.0 & DESC_ADDR_MASK) | access.descriptor_bits() | DESC_VALID | DESC_TABLE_OR_PAGE);
        Ok(())
    }

    /// The table at `level` covering `va`, if the walk to it exists.
    fn existing_table(&self, va: u64, level: u32) -> Option<Table> {
        // SAFETY: the root is a frame these tables own.
        let mut table = unsafe { Table::at(self.root) };
        for level in 0..level {
            let entry = table.read(Self::index(va, level));
            if entry & (DESC_VALID | DESC_TABLE_OR_PAGE) != (DESC_VALID | DESC_TABLE_OR_PAGE) {
                return None;
            }
            // SAFETY: a table descriptor these tables wrote.
            table = unsafe { Table::at(PhysAddr(entry & DESC_ADDR_MASK)) };
        }
        Some(table)
    }

    /// The frame and access of the user page at `va` (page-aligned), if mapped.
    pub fn user_page(&self, va: u64) -> Option<(PhysAddr, UserAccess)> {
        let entry = self.existing_table(va, 3)?.read(Self::index(va, 3));
        (entry & DESC_VALID != 0).then(|| (PhysAddr(entry & DESC_ADDR_MASK), UserAccess::from_descriptor(entry)))
    }

    /// Removes the user page at `va`, returning its frame. The caller
    /// invalidates the TLB ([`invalidate_user_page`]).
    pub fn unmap_user_page(&mut self, va: u64) -> Option<PhysAddr> {
        let table = self.existing_table(va, 3)?;
        let index = Self::index(va, 3);
        let entry = table.read(index);
        table.write(index, 0);
        (entry & DESC_VALID != 0).then_some(PhysAddr(entry & DESC_ADDR_MASK))
    }

    /// Gives `child` (empty tables) every page table these tables hold:
    /// both views point at the same page tables, marked unwritable
    /// ([`DESC_TABLE_NO_WRITE`]) in both, so that fork costs one entry per
    /// 2 MiB of mapped memory, not one per page. `share_table(frame)` counts
    /// each page table's new holder. The first change to a shared page
    /// table in either view goes through [`Self::own_page_table`]. The
    /// caller invalidates this view's TLB entries afterwards, once for its
    /// whole ASID.
    pub fn fork_into(
        &mut self,
        child: &mut TranslationTables,
        share_table: &mut dyn FnMut(PhysAddr),
        alloc_frame: &mut dyn FnMut() -> Option<PhysAddr>,
    ) -> Result<(), MapError> {
        for (slot, entry) in self.page_table_entries() {
            let shared = entry | DESC_TABLE_NO_WRITE;
            // SAFETY: the slot's level-2 table is one these tables own.
            unsafe { Table::at(slot.level2) }.write(slot.index, shared);
            let (level2, level2_frame) = child.walk_to_frame(slot.base, 2, alloc_frame)?;
            level2.write(slot.index, shared);
            child.page_table_slots.push(PageTableSlot { level2: level2_frame, ..slot });
            share_table(PhysAddr(entry & DESC_ADDR_MASK));
        }
        Ok(())
    }

    /// Every level-2 entry that points at a page table, with its slot.
    fn page_table_entries(&self) -> impl Iterator<Item = (PageTableSlot, u64)> + '_ {
        self.page_table_slots.iter().filter_map(|&slot| {
            // SAFETY: the slot's level-2 table is one these tables own.
            let entry = unsafe { Table::at(slot.level2) }.read(slot.index);
            let is_table = entry & (DESC_VALID | DESC_TABLE_OR_PAGE) == (DESC_VALID | DESC_TABLE_OR_PAGE);
            is_table.then_some((slot, entry))
        })
    }

    /// The bases of the page tables shared since a fork (marked
    /// [`DESC_TABLE_NO_WRITE`] here) that cover part of `range`.
    pub fn shared_page_tables(&self, range: core::ops::Range<u64>) -> alloc::vec::Vec<u64> {
        self.page_table_entries()
            .filter(|&(slot, entry)| entry & DESC_TABLE_NO_WRITE != 0 && slot.base < range.end && slot.base + BLOCK_2M > range.start)
            .map(|(slot, _)| slot.base)
            .collect()
    }

    /// The page table (last level) covering `va`, and whether views share
    /// it since a fork.
    pub fn page_table(&self, va: u64) -> Option<(PhysAddr, bool)> {
        let entry = self.existing_table(va, 2)?.read(Self::index(va, 2));
        let is_table = entry & (DESC_VALID | DESC_TABLE_OR_PAGE) == (DESC_VALID | DESC_TABLE_OR_PAGE);
        is_table.then(|| (PhysAddr(entry & DESC_ADDR_MASK), entry & DESC_TABLE_NO_WRITE != 0))
    }

    /// Makes the shared page table covering `va` this view's own before it
    /// changes. With `others_hold_it`, a copy: `visit(va, frame, access)`
    /// says the access each page gets, written into the shared table and
    /// the copy alike (the caller counts the page's new holder and makes
    /// copy-on-write pages read-only); this view then points at the copy.
    /// Otherwise (no other view holds it any more) the table is simply
    /// writable again. Returns the shared table's frame when a copy was
    /// made. The caller invalidates this view's TLB entries.
    pub fn own_page_table(
        &mut self,
        va: u64,
        others_hold_it: bool,
        visit: &mut dyn FnMut(u64, PhysAddr, UserAccess) -> UserAccess,
        alloc_frame: &mut dyn FnMut() -> Option<PhysAddr>,
    ) -> Result<Option<PhysAddr>, MapError> {
        let l2_table = self.walk_to(va, 2, alloc_frame)?;
        let index = Self::index(va, 2);
        let entry = l2_table.read(index);
        let shared = PhysAddr(entry & DESC_ADDR_MASK);
        if !others_hold_it {
            l2_table.write(index, entry & !DESC_TABLE_NO_WRITE);
            return Ok(None);
        }
        let copy = alloc_frame().ok_or(MapError::OutOfFrames)?;
        // SAFETY: the shared table is a page table this view holds; the
        // copy a frame just allocated for these tables.
        let (from, to) = unsafe { (Table::at(shared), Table::at(copy)) };
        let base = va & !(BLOCK_2M - 1);
        for i3 in 0..512 {
            let page = from.read(i3);
            if page & DESC_VALID == 0 {
                continue;
            }
            let frame = PhysAddr(page & DESC_ADDR_MASK);
            let access = visit(base | ((i3 as u64) << 12), frame, UserAccess::from_descriptor(page));
            let desc = frame.0 | access.descriptor_bits() | DESC_VALID | DESC_TABLE_OR_PAGE;
            from.write(i3, desc);
            to.write(i3, desc);
        }
        l2_table.write(index, copy.0 | DESC_VALID | DESC_TABLE_OR_PAGE);
        Ok(Some(shared))
    }

    /// Calls `visit(va, frame)` for every page the page table at `frame`
    /// (covering the 2 MiB from `base`) maps.
    pub fn for_each_page_in(frame: PhysAddr, base: u64, visit: &mut dyn FnMut(u64, PhysAddr)) {
        // SAFETY: the caller names a page table it holds.
        let leaf = unsafe { Table::at(frame) };
        for index in 0..512 {
            let entry = leaf.read(index);
            if entry & DESC_VALID != 0 {
                visit(base | ((index as u64) << 12), PhysAddr(entry & DESC_ADDR_MASK));
            }
        }
    }

    /// Takes these tables apart: each page table goes to
    /// `release_page_table(base, frame)` (which releases its pages and
    /// frees it, or only gives up this view's hold if others share it),
    /// every other table frame, the root included, to `free`. User pages
    /// are the caller's to free.
    ///
    /// # Safety
    /// The tables are not installed anywhere and are not used afterwards.
    pub unsafe fn release(&self, release_page_table: &mut dyn FnMut(u64, PhysAddr), free: &mut dyn FnMut(PhysAddr)) {
        for (slot, entry) in self.page_table_entries() {
            release_page_table(slot.base, PhysAddr(entry & DESC_ADDR_MASK));
        }
        for &frame in self.tables.iter().chain([&self.root]) {
            free(frame);
        }
    }

    /// Makes these tables the user (TTBR0) view, tagged with `asid`. Runs on
    /// every return to EL0, so an installed view is left as it is: table
    /// writes are published, nothing is switched.
    pub fn activate_user(&self, asid: u16) {
        barrier::dsb(barrier::ISHST);
        let ttbr0 = self.root.0 | (u64::from(asid) << 48);
        if TTBR0_EL1.get() == ttbr0 && TCR_EL1.matches_all(TCR_EL1::EPD0::EnableTTBR0Walks) {
            return;
        }
        TTBR0_EL1.set(ttbr0);
        TCR_EL1.modify(TCR_EL1::EPD0::EnableTTBR0Walks);
        barrier::isb(barrier::SY);
    }

    /// Makes these tables the kernel's upper-half map and turns off TTBR0
    /// walks (no μprocess view is installed yet). With `capabilities`, the
    /// Morello descriptor bits of the upper half take effect
    /// (TCR_EL1.HPD1 and HWU159..HWU162), so kernel data pages hold tags.
    ///
    /// # Safety
    /// The tables must map the running kernel image, its stacks and every
    /// address the kernel uses afterwards, at the addresses it uses now.
    pub unsafe fn activate_kernel(&self, capabilities: bool) {
        barrier::dsb(barrier::ISHST);
        TTBR1_EL1.set_baddr(self.root.0);
        TCR_EL1.modify(TCR_EL1::EPD0::DisableTTBR0Walks);
        if capabilities {
            TCR_EL1.set(TCR_EL1.get() | TCR_HPD1 | TCR_HWU1_ALL);
        }
        barrier::isb(barrier::SY);
        // SAFETY: TLB maintenance has no memory-safety preconditions.
        unsafe { core::arch::asm!("tlbi vmalle1", "dsb ish", "isb", options(nostack)) };
    }
}

/// Removes any μprocess view: TTBR0 walks off, so EL0 addresses fault.
/// Call before freeing the tables of the view that was installed.
pub fn deactivate_user() {
    TCR_EL1.modify(TCR_EL1::EPD0::DisableTTBR0Walks);
    TTBR0_EL1.set(0);
    barrier::isb(barrier::SY);
}

/// Drops any cached translation of the user page `va` under `asid`, on
/// every core.
pub fn invalidate_user_page(va: u64, asid: u16) {
    let operand = (va >> 12) & ((1 << 44) - 1) | (u64::from(asid) << 48);
    barrier::dsb(barrier::ISHST);
    // SAFETY: TLB maintenance has no memory-safety preconditions.
    unsafe { core::arch::asm!("tlbi vae1is, {}", "dsb ish", "isb", in(reg) operand, options(nostack)) };
}

/// Drops every cached translation of EL1&0 (every ASID, and the kernel's),
/// on every core.
pub fn invalidate_all() {
    barrier::dsb(barrier::ISHST);
    // SAFETY: TLB maintenance has no memory-safety preconditions.
    unsafe { core::arch::asm!("tlbi vmalle1is", "dsb ish", "isb", options(nostack)) };
}

/// Drops every cached translation tagged with `asid`, on every core.
pub fn invalidate_user_asid(asid: u16) {
    barrier::dsb(barrier::ISHST);
    // SAFETY: TLB maintenance has no memory-safety preconditions.
    unsafe { core::arch::asm!("tlbi aside1is, {}", "dsb ish", "isb", in(reg) u64::from(asid) << 48, options(nostack)) };
}
