//! The paged isolation context: a μprocess's view of its memory through its
//! own translation table (TTBR0), with demand-zero pages backed by frames of
//! the kernel's physical memory (or a file's own frames), reached by the
//! kernel through its linear map. Every copy between the kernel and the
//! μprocess goes through [`IsolationContext::read`] and
//! [`IsolationContext::write`], which check the areas and fault pages in: a
//! bad address gives EFAULT, never a kernel fault.

use crate::frames;
use uprocess::areas::{AreaKind, AreaMap, Backing, PAGE};
use uprocess::context::{Access, Fault, IsolationContext};
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use arch_morello::PhysAddr;
use arch_morello::mmu::{self, TranslationTables, UserAccess};
use core::ops::Range;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;
use loader::Protection;
use posix_shim::Errno;
use posix_shim::vfs::MappedPage;
use posix_shim::vfs::page::FilePage;

/// The user half of the address space: TTBR0 covers [0, 2^48).
pub const USER_TOP: u64 = 1 << 48;
/// Where top-down placement (mmap without a hint, the interpreter) starts.
pub const MMAP_TOP: u64 = 0x0000_ffff_f000_0000 - STACK_RESERVE;
/// The main stack's top.
pub const STACK_TOP: u64 = 0x0000_ffff_f000_0000;
/// Room kept below the stack top for the stack to grow (RLIMIT_STACK).
pub const STACK_RESERVE: u64 = 8 * 1024 * 1024;
/// The lowest address a mapping may use (mmap_min_addr).
pub const MMAP_MIN: u64 = 0x1_0000;

/// The address-space ids views are tagged with (1..=65535; 0 is never
/// used): a view's ASID is not reused while the view lives, and a retired
/// one only after one TLB invalidation of every ASID, taken when no fresh
/// ones are left (so a view's end costs no TLB invalidation of its own).
struct Asids {
    /// The next never-used ASID.
    next: u32,
    /// ASIDs whose TLB entries are gone, ready for use.
    free: Vec<u16>,
    /// ASIDs of ended views; their TLB entries may linger.
    retired: Vec<u16>,
}

static ASIDS: Mutex<Asids> = Mutex::new(Asids { next: 1, free: Vec::new(), retired: Vec::new() });

/// An ASID for a new view; `None` when 65535 views live.
fn allocate_asid() -> Option<u16> {
    let mut asids = ASIDS.lock();
    if let Some(asid) = asids.free.pop() {
        return Some(asid);
    }
    if let Ok(asid) = u16::try_from(asids.next) {
        asids.next += 1;
        return Some(asid);
    }
    if asids.retired.is_empty() {
        return None;
    }
    mmu::invalidate_all();
    let retired = core::mem::take(&mut asids.retired);
    asids.free = retired;
    asids.free.pop()
}

/// Gives back an ended view's ASID.
fn retire_asid(asid: u16) {
    ASIDS.lock().retired.push(asid);
}

/// One μprocess's view.
#[derive(Debug)]
pub struct PagedContext {
    tables: TranslationTables,
    areas: AreaMap,
    asid: u16,
    /// Frames holding this view's pages.
    pages: usize,
    /// Whether it was ever installed in TTBR0 (only then can the TLB hold
    /// entries of its ASID).
    activated: AtomicBool,
    /// The pages mapped straight from a file's own frames, by address: the
    /// reference keeps the file page alive while it is mapped.
    file_pages: BTreeMap<u64, Arc<dyn FilePage>>,
}

fn allocate_table_frame() -> Option<PhysAddr> {
    frames::allocate_zeroed()
}

fn access_for(protection: Protection) -> UserAccess {
    UserAccess { write: protection.contains(Protection::WRITE), execute: protection.contains(Protection::EXEC) }
}

impl PagedContext {
    /// The ASID its TLB entries carry.
    pub fn asid(&self) -> u16 {
        self.asid
    }

    /// Drops the TLB entries for the page at `va`, on every core, unless
    /// the view never ran (its ASID then has none: a fresh or flushed one).
    fn forget_translation(&self, va: u64) {
        if self.activated.load(Ordering::Relaxed) {
            mmu::invalidate_user_page(va, self.asid);
        }
    }

    /// Drops every TLB entry of this view, on every core, unless it never
    /// ran.
    fn forget_translations(&self) {
        if self.activated.load(Ordering::Relaxed) {
            mmu::invalidate_user_asid(self.asid);
        }
    }

    /// Makes the page holding `va` present for `access`, as a page fault
    /// from EL0 would; returns its frame.
    fn make_present(&mut self, va: u64, access: Access) -> Result<PhysAddr, Fault> {
        let page = va & !(PAGE - 1);
        let writes = matches!(access, Access::Write | Access::Load);
        let mut present = self.tables.user_page(page);
        if (writes || present.is_none()) && self.own_page_table(page)? {
            // The page table changes: it is this view's own now.
            present = self.tables.user_page(page);
        }
        let area = self.areas.find(va).ok_or(Fault::Unmapped)?;
        let (protection, shared_area) = (area.protection, area.is_shared());
        let allowed = match access {
            Access::Read => protection.contains(Protection::READ),
            Access::Write => protection.contains(Protection::WRITE),
            Access::Execute => protection.contains(Protection::EXEC),
            Access::Load => true,
        };
        if !allowed {
            return Err(Fault::Forbidden);
        }
        if let Some((frame, mapped)) = present {
            if writes && self.copy_before_write(page, frame, shared_area) {
                let own = if access == Access::Load { mapped } else { access_for(protection) };
                return self.break_copy_on_write(page, frame, own);
            }
            if access == Access::Write && !mapped.write {
                // The only view of an anonymous page left after the others
                // copied theirs: it may be written in place now.
                self.install(page, frame, access_for(protection))?;
            }
            return Ok(frame);
        }
        if protection.is_empty() {
            // Only a kernel load reaches here for PROT_NONE; the page stays
            // unmapped for EL0.
            return Err(Fault::Forbidden);
        }
        let access_rights = access_for(protection);
        // What a file mapping shows at this page (nothing for anonymous
        // memory).
        let shown = match &area.backing {
            None => None,
            Some(backing) => {
                let index = backing.page_index(area.start, page);
                Some(backing.file.inode.mapped_page(index, backing.shared).map_err(|_| Fault::OutOfMemory)?)
            }
        };
        let (frame, rights) = match shown {
            Some(MappedPage::PastEnd) => return Err(Fault::PastEndOfFile),
            Some(MappedPage::Page(file_page)) if shared_area || !writes => {
                // The file's own frame: writable for a shared mapping,
                // read-only (until written) for a private one.
                let frame = PhysAddr(file_page.frame());
                self.file_pages.insert(page, file_page);
                (frame, UserAccess { write: access_rights.write && shared_area, ..access_rights })
            }
            Some(MappedPage::Page(file_page)) => {
                // A private copy of the file's page, about to be written.
                let frame = frames::allocate_copy_of(PhysAddr(file_page.frame())).ok_or(Fault::OutOfMemory)?;
                (frame, access_rights)
            }
            // Anonymous memory, or a private view of a file's hole: zeros.
            None | Some(MappedPage::Hole) => (frames::allocate_zeroed().ok_or(Fault::OutOfMemory)?, access_rights),
        };
        self.pages += 1;
        self.install(page, frame, rights).map(|()| frame)
    }

    /// Stops mapping the page at `va`, whose frame is `frame`.
    fn release_page(&mut self, va: u64, frame: PhysAddr) {
        if self.file_pages.remove(&va).is_none() {
            frames::release(frame);
        }
        self.pages -= 1;
    }

    /// The caller owns the page tables first ([`Self::own_page_tables`]).
    fn drop_pages(&mut self, range: Range<u64>) {
        for va in (range.start..range.end).step_by(PAGE as usize) {
            if let Some(frame) = self.tables.unmap_user_page(va) {
                self.forget_translation(va);
                self.release_page(va, frame);
            }
        }
    }

    /// Makes the page table covering `va` this view's own if it shares it
    /// since a fork (see [`TranslationTables::own_page_table`]): when other
    /// views still hold it, this view gets a copy, and every anonymous page
    /// in it one holder more and copy-on-write in both (file pages stay as
    /// their areas map them: this view holds its own references to them
    /// since the fork).
    /// Returns whether the page table was shared (and changed).
    fn own_page_table(&mut self, va: u64) -> Result<bool, Fault> {
        let Some((table, true)) = self.tables.page_table(va) else { return Ok(false) };
        let others_hold_it = frames::is_shared(table);
        let file_pages = &self.file_pages;
        let mut visit = |page: u64, frame: PhysAddr, access: UserAccess| {
            if file_pages.contains_key(&page) {
                return access;
            }
            frames::share(frame);
            UserAccess { write: false, ..access }
        };
        let copied = self.tables.own_page_table(va, others_hold_it, &mut visit, &mut allocate_table_frame).map_err(|_| Fault::OutOfMemory)?;
        if let Some(shared) = copied
            && frames::release_shared(shared)
        {
            // The others let go meanwhile: this view was the last holder
            // of the shared table, whose pages its copy now holds.
            release_page_table_pages(shared, va & !(mmu::BLOCK_2M - 1), file_pages);
            frames::free(shared);
        }
        self.forget_translations();
        Ok(true)
    }

    /// [`Self::own_page_table`] for every shared page table `range`
    /// touches, before anything else changes (ENOMEM leaves all as it was).
    fn own_page_tables(&mut self, range: Range<u64>) -> Result<(), Errno> {
        for base in self.tables.shared_page_tables(range) {
            self.own_page_table(base)?;
        }
        Ok(())
    }

    /// Whether the page at `va` (frame `frame`, in a private area or not as
    /// `shared_area` says) must be copied before this view may write it:
    /// anonymous memory shared since a fork, or a file's page seen through a
    /// private mapping.
    fn copy_before_write(&self, va: u64, frame: PhysAddr, shared_area: bool) -> bool {
        if self.file_pages.contains_key(&va) { !shared_area } else { frames::is_shared(frame) }
    }

    /// Maps `page` to `frame` with `access` (replacing what was there).
    fn install(&mut self, page: u64, frame: PhysAddr, access: UserAccess) -> Result<(), Fault> {
        self.tables.map_user_page(page, frame, access, &mut allocate_table_frame).map_err(|_| Fault::OutOfMemory)?;
        self.forget_translation(page);
        Ok(())
    }

    /// Hands each page of `[address, address + len)` to `copy`, faulting
    /// pages in for `access`: `copy(page_bytes, offset_in_buffer)`.
    fn each_page(
        &mut self,
        address: u64,
        len: usize,
        access: Access,
        mut copy: impl FnMut(&mut [u8], usize),
    ) -> Result<(), Fault> {
        let mut done = 0usize;
        while done < len {
            let va = address.checked_add(done as u64).ok_or(Fault::Unmapped)?;
            if va >= USER_TOP {
                return Err(Fault::Unmapped);
            }
            let frame = self.make_present(va, access)?;
            let offset = (va % PAGE) as usize;
            let chunk = (PAGE as usize - offset).min(len - done);
            // SAFETY: the frame is mapped in this view, which holds it.
            let page = unsafe { frames::bytes_mut(frame) };
            copy(&mut page[offset..offset + chunk], done);
            done += chunk;
        }
        Ok(())
    }

    /// Gives the page at `page` its own writable frame: a copy of `frame`
    /// (anonymous memory shared since a fork, or a file's page under a
    /// private mapping), or `frame` itself once no other view maps it.
    fn break_copy_on_write(&mut self, page: u64, frame: PhysAddr, access: UserAccess) -> Result<PhysAddr, Fault> {
        let own = if self.file_pages.contains_key(&page) || frames::is_shared(frame) {
            let copy = frames::allocate_copy_of(frame).ok_or(Fault::OutOfMemory)?;
            self.release_page(page, frame);
            self.pages += 1;
            copy
        } else {
            frame
        };
        self.install(page, own, access)?;
        Ok(own)
    }

    fn read_checked(&self, address: u64, buffer: &mut [u8], need_read: bool) -> Result<(), Errno> {
        let mut done = 0usize;
        while done < buffer.len() {
            let va = address.checked_add(done as u64).filter(|&va| va < USER_TOP).ok_or(Errno::EFAULT)?;
            let area = self.areas.find(va).ok_or(Errno::EFAULT)?;
            if need_read && !area.protection.contains(Protection::READ) {
                return Err(Errno::EFAULT);
            }
            let offset = (va % PAGE) as usize;
            let chunk = (PAGE as usize - offset).min(buffer.len() - done);
            let target = &mut buffer[done..done + chunk];
            match (self.tables.user_page(va & !(PAGE - 1)), &area.backing) {
                (Some((frame, _)), _) => {
                    // SAFETY: the frame is mapped in this view, which holds it.
                    target.copy_from_slice(&unsafe { frames::bytes_mut(frame) }[offset..offset + chunk]);
                }
                (None, None) => target.fill(0),
                (None, Some(backing)) => match backing.file.inode.mapped_page(backing.page_index(area.start, va), false) {
                    Ok(MappedPage::Page(page)) => page.read(offset, target),
                    Ok(MappedPage::Hole) => target.fill(0),
                    Ok(MappedPage::PastEnd) | Err(_) => return Err(Errno::EFAULT),
                },
            }
            done += chunk;
        }
        Ok(())
    }

}

impl IsolationContext for PagedContext {
    /// An empty view.
    fn new() -> Result<PagedContext, Errno> {
        let tables = TranslationTables::new(&mut allocate_table_frame).map_err(|_| Errno::ENOMEM)?;
        let asid = allocate_asid().ok_or(Errno::ENOMEM)?;
        Ok(PagedContext { tables, areas: AreaMap::new(), asid, pages: 0, activated: AtomicBool::new(false), file_pages: BTreeMap::new() })
    }

    /// The areas.
    fn areas(&self) -> &AreaMap {
        &self.areas
    }

    /// Pages currently backed by frames.
    fn resident_pages(&self) -> usize {
        self.pages
    }

    /// Installs this view in TTBR0.
    fn activate(&self) {
        self.activated.store(true, Ordering::Relaxed);
        self.tables.activate_user(self.asid);
    }

    /// Adds an area showing `backing`, or demand-zero memory without one.
    fn map(
        &mut self,
        start: u64,
        len: u64,
        protection: Protection,
        kind: AreaKind,
        backing: Option<Backing>,
    ) -> Result<(), Errno> {
        if start < MMAP_MIN || start.checked_add(len).is_none_or(|end| end > USER_TOP) {
            return Err(Errno::ENOMEM);
        }
        self.areas.insert(start, len, protection, kind, backing)
    }

    /// Removes `[start, start + len)` and frees its pages.
    fn unmap(&mut self, start: u64, len: u64) -> Result<(), Errno> {
        self.own_page_tables(start..start.saturating_add(len))?;
        for range in self.areas.remove(start, len)? {
            self.drop_pages(range);
        }
        Ok(())
    }

    /// Drops the pages of `[start, start + len)`: anonymous memory reads as
    /// zero on next touch, a file mapping shows the file again
    /// (MADV_DONTNEED).
    fn discard(&mut self, start: u64, len: u64) -> Result<(), Errno> {
        let end = start.checked_add(len).ok_or(Errno::EINVAL)?.next_multiple_of(PAGE);
        self.own_page_tables(start..end)?;
        self.drop_pages(start..end);
        Ok(())
    }

    /// Changes the protection of `[start, start + len)`.
    fn protect(&mut self, start: u64, len: u64, protection: Protection) -> Result<(), Errno> {
        let end = start.saturating_add(len.next_multiple_of(PAGE));
        self.own_page_tables(start..end)?;
        self.areas.protect(start, len, protection)?;
        for va in (start..end).step_by(PAGE as usize) {
            if let Some((frame, _)) = self.tables.user_page(va) {
                if protection.is_empty() {
                    self.tables.unmap_user_page(va);
                    self.release_page(va, frame);
                } else {
                    // A page to be copied on write stays read-only until written.
                    let shared_area = self.areas.find(va).is_some_and(|a| a.is_shared());
                    let mut access = access_for(protection);
                    access.write &= !self.copy_before_write(va, frame, shared_area);
                    self.tables.map_user_page(va, frame, access, &mut allocate_table_frame).map_err(|_| Errno::ENOMEM)?;
                }
                self.forget_translation(va);
            }
        }
        Ok(())
    }

    /// Grows or shrinks the area starting at `start` to end at `new_end`,
    /// freeing the pages it loses.
    fn resize(&mut self, start: u64, old_end: u64, new_end: u64) -> Result<(), Errno> {
        self.own_page_tables(new_end..old_end)?;
        self.areas.resize(start, new_end)?;
        if new_end < old_end {
            self.drop_pages(new_end.next_multiple_of(PAGE)..old_end);
        }
        Ok(())
    }

    /// A free range of `len` bytes, top-down below `below`.
    fn find_free(&self, len: u64, below: u64) -> Option<u64> {
        self.areas.find_free_top_down(len, MMAP_MIN..below.min(MMAP_TOP))
    }

    fn fault_in(&mut self, address: u64, access: Access) -> Result<(), Fault> {
        self.make_present(address, access).map(|_| ())
    }

    /// The view of a forked child: the same areas, every present page
    /// shared with this view through shared page tables (see
    /// [`TranslationTables::fork_into`]): the first change to a page table
    /// gives the view its own copy, and from then its pages are
    /// copy-on-write (both map them read-only; the first write in either
    /// gets its own copy), except in shared file mappings, where both keep
    /// writing the file's page.
    fn fork(&mut self) -> Result<PagedContext, Errno> {
        if !frames::room_to_fork() {
            return Err(Errno::ENOMEM);
        }
        let mut child = PagedContext::new()?;
        child.areas = self.areas.clone();
        child.file_pages = self.file_pages.clone();
        child.pages = self.pages;
        let forked = self.tables.fork_into(&mut child.tables, &mut frames::share, &mut allocate_table_frame);
        // The parent's page tables became unwritable in place.
        self.forget_translations();
        forked.map_err(|_| Errno::ENOMEM)?;
        Ok(child)
    }

    /// Whether the page holding `va` has a frame.
    fn is_resident(&self, va: u64) -> bool {
        self.tables.user_page(va & !(PAGE - 1)).is_some()
    }

    /// Writes the μprocess's memory (it must be writable by EL0, unless
    /// `access` is [`Access::Load`]).
    fn write(&mut self, address: u64, data: &[u8], access: Access) -> Result<(), Errno> {
        self.each_page(address, data.len(), access, |page, at| page.copy_from_slice(&data[at..at + page.len()]))
            .map_err(Errno::from)
    }

    fn read(&self, address: u64, buffer: &mut [u8], any_protection: bool) -> Result<(), Errno> {
        self.read_checked(address, buffer, !any_protection)
    }

    fn update_u32(&mut self, address: u64, update: &mut dyn FnMut(u32) -> u32) -> Result<u32, Errno> {
        if address % 4 != 0 {
            return Err(Errno::EINVAL);
        }
        let frame = self.make_present(address, Access::Write)?;
        // SAFETY: the frame is mapped in this view, which holds it; the word
        // is aligned and inside it.
        let page = unsafe { frames::bytes_mut(frame) };
        let word = &mut page[(address % PAGE) as usize..(address % PAGE) as usize + 4];
        // SAFETY: `word` is 4 aligned bytes of RAM that live as long as the
        // borrow; the μprocess's own accesses to it are atomic instructions
        // or plain stores, which an atomic update tolerates.
        let atomic = unsafe { core::sync::atomic::AtomicU32::from_ptr(word.as_mut_ptr().cast::<u32>()) };
        let old = atomic.fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| Some(update(old)));
        Ok(old.unwrap_or_else(|old| old))
    }
}

impl Drop for PagedContext {
    fn drop(&mut self) {
        mmu::deactivate_user();
        let file_pages = &self.file_pages;
        let mut release_page_table = |base: u64, table: PhysAddr| {
            if frames::release_shared(table) {
                release_page_table_pages(table, base, file_pages);
                frames::free(table);
            }
        };
        // SAFETY: the view is no longer installed (deactivated above) and
        // this is its end.
        unsafe { self.tables.release(&mut release_page_table, &mut frames::free) };
        self.file_pages.clear();
        retire_asid(self.asid);
    }
}

/// Releases the anonymous pages of the page table at `table` (covering the
/// 2 MiB from `base`), whose last holder lets go; the file pages among
/// them (in `file_pages`) are references the holder drops itself.
fn release_page_table_pages(table: PhysAddr, base: u64, file_pages: &BTreeMap<u64, Arc<dyn FilePage>>) {
    TranslationTables::for_each_page_in(table, base, &mut |va, frame| {
        if !file_pages.contains_key(&va) {
            frames::release(frame);
        }
    });
}
