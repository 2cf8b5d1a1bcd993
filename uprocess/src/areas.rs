//! A μprocess's memory areas: which page ranges of its memory are mapped,
//! with what protection, for what, and showing which file. Pure
//! bookkeeping, tested on the host: an isolation context keeps its areas
//! here and makes pages present from them; mmap, munmap, mprotect and brk
//! change them.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::Range;
use loader::Protection;
use posix_shim::Errno;
use posix_shim::vfs::Inode;

/// The page size of μprocess views.
pub const PAGE: u64 = 4096;

/// What an area is for (shown in /proc/PID/maps, and it decides growth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaKind {
    /// Anonymous or private memory (ELF segments, mmap).
    Private,
    /// The program break's heap.
    Heap,
    /// The main thread's stack.
    Stack,
    /// The vDSO's code and symbols.
    Vdso,
    /// The vDSO's data.
    Vvar,
}

/// A file as a mapping knows it: the inode, and the path it was reached
/// by when there is one (/proc/PID/maps shows it).
#[derive(Debug, Clone)]
pub struct NamedFile {
    /// The file (a tmpfs inode, or the anonymous file of a shared
    /// anonymous mapping).
    pub inode: Arc<Inode>,
    /// Its canonical path, if it was opened by one.
    pub path: Option<Arc<[u8]>>,
}

impl NamedFile {
    /// `inode`, reached by no path.
    pub fn unnamed(inode: Arc<Inode>) -> NamedFile {
        NamedFile { inode, path: None }
    }
}

/// The file an area shows.
#[derive(Debug, Clone)]
pub struct Backing {
    /// The file.
    pub file: NamedFile,
    /// The file offset shown at the area's start (page-aligned).
    pub offset: u64,
    /// MAP_SHARED: writes reach the file. Otherwise the area sees the file
    /// until it writes a page, which then becomes its own copy.
    pub shared: bool,
}

impl PartialEq for Backing {
    fn eq(&self, other: &Backing) -> bool {
        Arc::ptr_eq(&self.file.inode, &other.file.inode) && self.offset == other.offset && self.shared == other.shared
    }
}

impl Eq for Backing {}

impl Backing {
    /// The file page shown at `address` of an area starting at `start`.
    pub fn page_index(&self, start: u64, address: u64) -> u64 {
        (self.offset + (address - start)) / PAGE
    }
}

/// One mapped range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Area {
    /// First address (page-aligned).
    pub start: u64,
    /// One past the last address (page-aligned).
    pub end: u64,
    /// What EL0 may do.
    pub protection: Protection,
    /// What it is for.
    pub kind: AreaKind,
    /// The file shown, if any (demand-zero memory otherwise).
    pub backing: Option<Backing>,
}

impl Area {
    /// Whether writes reach a file that others may map (MAP_SHARED).
    pub fn is_shared(&self) -> bool {
        self.backing.as_ref().is_some_and(|b| b.shared)
    }

    /// The part of this area from `address` on.
    fn from(&self, address: u64) -> Area {
        let backing = self.backing.clone().map(|b| Backing { offset: b.offset + (address - self.start), ..b });
        Area { start: address, backing, ..self.clone() }
    }

    /// Whether `next`, which starts where this area ends, continues it.
    fn continued_by(&self, next: &Area) -> bool {
        next.protection == self.protection
            && next.kind == self.kind
            && match (&self.backing, &next.backing) {
                (None, None) => true,
                (Some(b), Some(n)) => *n == Backing { offset: b.offset + (self.end - self.start), ..b.clone() },
                _ => false,
            }
    }
}

/// The areas of one view, disjoint and sorted.
#[derive(Debug, Default, Clone)]
pub struct AreaMap {
    areas: BTreeMap<u64, Area>,
}

fn page_range(start: u64, len: u64) -> Result<Range<u64>, Errno> {
    if !start.is_multiple_of(PAGE) || len == 0 {
        return Err(Errno::EINVAL);
    }
    let end = start.checked_add(len).and_then(|e| e.checked_next_multiple_of(PAGE)).ok_or(Errno::ENOMEM)?;
    Ok(start..end)
}

impl AreaMap {
    /// No areas.
    pub const fn new() -> AreaMap {
        AreaMap { areas: BTreeMap::new() }
    }

    /// The area containing `address`.
    pub fn find(&self, address: u64) -> Option<&Area> {
        self.areas.range(..=address).next_back().map(|(_, a)| a).filter(|a| address < a.end)
    }

    /// Every area, in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Area> {
        self.areas.values()
    }

    fn overlaps(&self, range: &Range<u64>) -> bool {
        self.areas.range(..range.end).next_back().is_some_and(|(_, a)| a.end > range.start)
    }

    /// Adds `[start, start + len)` (rounded up to pages) showing `backing`
    /// (demand-zero memory if `None`); EEXIST if any of it is mapped.
    pub fn insert(
        &mut self,
        start: u64,
        len: u64,
        protection: Protection,
        kind: AreaKind,
        backing: Option<Backing>,
    ) -> Result<(), Errno> {
        let range = page_range(start, len)?;
        if self.overlaps(&range) {
            return Err(Errno::EEXIST);
        }
        self.areas.insert(range.start, Area { start: range.start, end: range.end, protection, kind, backing });
        Ok(())
    }

    /// Cuts the areas at `address` so that no area straddles it.
    fn split_at(&mut self, address: u64) {
        let Some(area) = self.find(address).cloned() else { return };
        if area.start < address {
            self.areas.insert(address, area.from(address));
            self.areas.insert(area.start, Area { end: address, ..area });
        }
    }

    /// Removes whatever is mapped in `[start, start + len)` and returns the
    /// ranges that were mapped (their pages are the caller's to free).
    pub fn remove(&mut self, start: u64, len: u64) -> Result<Vec<Range<u64>>, Errno> {
        let range = page_range(start, len)?;
        self.split_at(range.start);
        self.split_at(range.end);
        let starts: Vec<u64> = self.areas.range(range.start..range.end).map(|(&s, _)| s).collect();
        Ok(starts
            .into_iter()
            .filter_map(|s| self.areas.remove(&s))
            .map(|a| a.start..a.end)
            .collect())
    }

    /// Changes the protection of `[start, start + len)`; ENOMEM if any page
    /// of it is unmapped (nothing changes then).
    pub fn protect(&mut self, start: u64, len: u64, protection: Protection) -> Result<(), Errno> {
        let range = page_range(start, len)?;
        let mut at = range.start;
        while at < range.end {
            at = self.find(at).ok_or(Errno::ENOMEM)?.end;
        }
        self.split_at(range.start);
        self.split_at(range.end);
        for (_, area) in self.areas.range_mut(range.start..range.end) {
            area.protection = protection;
        }
        self.merge_around(range);
        Ok(())
    }

    /// Joins neighbouring areas of the same kind and protection in and
    /// around `range`.
    fn merge_around(&mut self, range: Range<u64>) {
        let mut cursor = self.areas.range(..range.start).next_back().map_or(range.start, |(&s, _)| s);
        while let Some(area) = self.areas.range(cursor..).next().map(|(_, a)| a.clone()) {
            if area.start > range.end {
                break;
            }
            match self.areas.get(&area.end).cloned() {
                Some(next) if area.continued_by(&next) => {
                    self.areas.remove(&next.start);
                    self.areas.insert(area.start, Area { end: next.end, ..area });
                }
                _ => cursor = area.end,
            }
        }
    }

    /// Grows or shrinks the area that ends at `old_end` to end at `new_end`.
    pub fn resize(&mut self, start: u64, new_end: u64) -> Result<(), Errno> {
        let area = self.areas.get(&start).cloned().ok_or(Errno::EINVAL)?;
        let new_end = new_end.checked_next_multiple_of(PAGE).ok_or(Errno::ENOMEM)?;
        if new_end > area.end && self.overlaps(&(area.end..new_end)) {
            return Err(Errno::ENOMEM);
        }
        self.areas.insert(start, Area { end: new_end.max(start), ..area });
        Ok(())
    }

    /// The highest free range of `len` bytes that lies in `window`.
    pub fn find_free_top_down(&self, len: u64, window: Range<u64>) -> Option<u64> {
        let len = len.checked_next_multiple_of(PAGE)?;
        let mut top = window.end;
        for area in self.areas.range(..window.end).rev().map(|(_, a)| a) {
            if area.end <= top && top - area.end >= len && top - len >= window.start {
                return Some(top - len);
            }
            top = top.min(area.start);
            if top < window.start {
                return None;
            }
        }
        (top.checked_sub(len)? >= window.start).then(|| top - len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RW: Protection = Protection::READ.union(Protection::WRITE);

    #[test]
    fn insert_refuses_overlaps_and_rounds_to_pages() {
        let mut m = AreaMap::new();
        m.insert(0x1000, 0x1800, RW, AreaKind::Private, None).unwrap();
        assert_eq!(m.find(0x2fff).map(|a| a.end), Some(0x3000));
        assert_eq!(m.insert(0x2000, 0x1000, RW, AreaKind::Private, None), Err(Errno::EEXIST));
        assert_eq!(m.insert(0x1001, 0x1000, RW, AreaKind::Private, None), Err(Errno::EINVAL));
        assert_eq!(m.insert(0x4000, 0, RW, AreaKind::Private, None), Err(Errno::EINVAL));
        assert_eq!(m.insert(!0xfff, 0x2000, RW, AreaKind::Private, None), Err(Errno::ENOMEM));
    }

    #[test]
    fn remove_splits_areas() {
        let mut m = AreaMap::new();
        m.insert(0x10000, 0x10000, RW, AreaKind::Private, None).unwrap();
        let removed = m.remove(0x14000, 0x2000).unwrap();
        assert_eq!(removed, alloc::vec![0x14000..0x16000]);
        assert_eq!(m.iter().map(|a| (a.start, a.end)).collect::<Vec<_>>(), [(0x10000, 0x14000), (0x16000, 0x20000)]);
        assert_eq!(m.find(0x15000), None);
    }

    #[test]
    fn protect_needs_every_page_mapped_and_merges_back() {
        let mut m = AreaMap::new();
        m.insert(0x10000, 0x4000, RW, AreaKind::Private, None).unwrap();
        assert_eq!(m.protect(0x13000, 0x2000, Protection::READ), Err(Errno::ENOMEM));
        m.protect(0x11000, 0x1000, Protection::READ).unwrap();
        assert_eq!(m.iter().count(), 3);
        assert_eq!(m.find(0x11000).map(|a| a.protection), Some(Protection::READ));
        m.protect(0x11000, 0x1000, RW).unwrap();
        assert_eq!(m.iter().count(), 1);
    }

    #[test]
    fn finds_free_space_from_the_top() {
        let mut m = AreaMap::new();
        m.insert(0x7000, 0x1000, RW, AreaKind::Private, None).unwrap();
        assert_eq!(m.find_free_top_down(0x1000, 0x1000..0x8000), Some(0x6000));
        assert_eq!(m.find_free_top_down(0x1000, 0x1000..0x9000), Some(0x8000));
        assert_eq!(m.find_free_top_down(0x7000, 0x0..0x8000), Some(0x0));
        assert_eq!(m.find_free_top_down(0x8000, 0x0..0x8000), None);
    }

    #[test]
    fn resize_grows_into_free_space_only() {
        let mut m = AreaMap::new();
        m.insert(0x10000, 0x1000, RW, AreaKind::Heap, None).unwrap();
        m.insert(0x14000, 0x1000, RW, AreaKind::Private, None).unwrap();
        m.resize(0x10000, 0x12001).unwrap();
        assert_eq!(m.find(0x12fff).map(|a| a.end), Some(0x13000));
        assert_eq!(m.resize(0x10000, 0x15000), Err(Errno::ENOMEM));
    }

    #[derive(Debug)]
    struct FixedClock;

    impl posix_shim::vfs::Clock for FixedClock {
        fn now(&self) -> posix_shim::vfs::Timespec {
            posix_shim::vfs::Timespec::new(0, 0)
        }
    }

    #[test]
    fn file_areas_keep_their_offsets_when_split_and_merge_back() {
        let vfs = posix_shim::vfs::Vfs::new(
            Arc::new(FixedClock),
            1 << 20,
            Arc::new(posix_shim::vfs::page::HeapPages::default()),
        );
        let file = vfs.anonymous_file(0x10000, &posix_shim::vfs::Credentials::root()).unwrap();
        let backing = Backing { file: NamedFile::unnamed(file.clone()), offset: 0x2000, shared: true };
        let mut m = AreaMap::new();
        m.insert(0x10000, 0x4000, RW, AreaKind::Private, Some(backing.clone())).unwrap();
        m.protect(0x11000, 0x1000, Protection::READ).unwrap();
        let offsets: Vec<_> = m.iter().map(|a| a.backing.as_ref().map(|b| b.offset)).collect();
        assert_eq!(offsets, [Some(0x2000), Some(0x3000), Some(0x4000)]);
        let second = m.find(0x11000).unwrap();
        assert_eq!(second.backing.as_ref().unwrap().page_index(second.start, 0x11fff), 3);
        m.protect(0x11000, 0x1000, RW).unwrap();
        assert_eq!(m.iter().count(), 1);
        // Next to anonymous memory or another part of the file, it stays apart.
        m.insert(0x14000, 0x1000, RW, AreaKind::Private, None).unwrap();
        m.insert(0x15000, 0x1000, RW, AreaKind::Private, Some(Backing { offset: 0x2000, ..backing })).unwrap();
        m.protect(0x13000, 0x3000, RW).unwrap();
        assert_eq!(m.iter().count(), 3);
        assert!(m.find(0x10000).unwrap().is_shared());
    }

    proptest! {
        /// After any sequence of operations the areas stay sorted, disjoint
        /// and page-aligned, and a page is mapped exactly when a model of
        /// the same operations says so.
        #[test]
        fn matches_a_page_model(ops in proptest::collection::vec((0u8..3, 0u64..32, 1u64..8), 1..40)) {
            let mut m = AreaMap::new();
            let mut model = [false; 40];
            for (op, page, pages) in ops {
                let (start, len) = (page * PAGE, pages * PAGE);
                let range = page as usize..(page + pages) as usize;
                match op {
                    0 => {
                        let free = model[range.clone()].iter().all(|&p| !p);
                        prop_assert_eq!(m.insert(start, len, RW, AreaKind::Private, None).is_ok(), free);
                        if free { model[range].iter_mut().for_each(|p| *p = true); }
                    }
                    1 => {
                        m.remove(start, len).unwrap();
                        model[range].iter_mut().for_each(|p| *p = false);
                    }
                    _ => {
                        let all = model[range].iter().all(|&p| p);
                        prop_assert_eq!(m.protect(start, len, Protection::READ).is_ok(), all);
                    }
                }
                let areas: Vec<_> = m.iter().cloned().collect();
                for w in areas.windows(2) {
                    prop_assert!(w[0].end <= w[1].start);
                }
                for (i, &mapped) in model.iter().enumerate() {
                    prop_assert_eq!(m.find(i as u64 * PAGE).is_some(), mapped);
                }
            }
        }
    }
}
