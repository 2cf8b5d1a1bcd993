//! Memory system calls: brk, mmap, munmap, mprotect, madvise.

use crate::process::Process;
use uprocess::areas::{AreaKind, Backing, NamedFile, PAGE};
use uprocess::context::{Access, IsolationContext};
use alloc::vec;
use loader::Protection;
use posix_shim::Errno;
use posix_shim::syscall::args::SyscallArgs;

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_SHARED_VALIDATE: u64 = 0x03;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
const MADV_DONTNEED: u64 = 4;
const MADV_FREE: u64 = 8;

fn protection(bits: u64) -> Result<Protection, Errno> {
    Protection::from_bits(bits as u32).ok_or(Errno::EINVAL)
}

fn pages(len: u64) -> Result<u64, Errno> {
    len.checked_next_multiple_of(PAGE).filter(|&l| l != 0).ok_or(Errno::ENOMEM)
}

/// brk(addr): moves the program break; returns the (possibly unchanged) break.
pub fn brk(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let requested = a.u64(0);
    let mut group = p.group.lock();
    let brk = &mut group.brk;
    if requested < brk.start {
        return Ok(brk.current);
    }
    let old_end = brk.current.next_multiple_of(PAGE).max(brk.start + PAGE);
    let new_end = requested.next_multiple_of(PAGE).max(brk.start + PAGE);
    let mut space = p.space.lock();
    if space.resize(brk.start, old_end, new_end).is_ok() {
        if requested < brk.current {
            // The bytes between the new and old break that stay mapped read
            // as zero if the break grows again, as on Linux.
            let tail = requested..brk.current.min(new_end);
            if tail.start < tail.end {
                let _ = space.write(tail.start, &vec![0u8; (tail.end - tail.start) as usize], Access::Load);
            }
        }
        brk.current = requested;
    }
    Ok(brk.current)
}

/// mmap(addr, length, prot, flags, fd, offset).
pub fn mmap(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let (hint, len, prot, flags, offset) = (a.u64(0), a.u64(1), protection(a.u64(2))?, a.u64(3), a.u64(5));
    let sharing = flags & MAP_SHARED_VALIDATE;
    if sharing != MAP_SHARED && sharing != MAP_PRIVATE && sharing != MAP_SHARED_VALIDATE {
        return Err(Errno::EINVAL);
    }
    if len == 0 || offset % PAGE != 0 {
        return Err(Errno::EINVAL);
    }
    let len = pages(len)?;
    let shared = sharing != MAP_PRIVATE;
    let file = if flags & MAP_ANONYMOUS == 0 {
        crate::files::file_for_mmap(p, a.i32(4), shared && prot.contains(Protection::WRITE))?
    } else {
        None
    };
    let backing = match file {
        Some(file) => Some(Backing { file, offset, shared }),
        // Shared anonymous memory is a file of its own that forks share.
        None if shared => {
            let file = crate::files::vfs().anonymous_file(len, &p.credentials.for_files()).map_err(|_| Errno::ENOMEM)?;
            Some(Backing { file: NamedFile::unnamed(file), offset: 0, shared })
        }
        None => None,
    };
    let start = if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
        if hint % PAGE != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MAP_FIXED_NOREPLACE == 0 {
            p.space.lock().unmap(hint, len)?;
        }
        hint
    } else {
        let hint = hint.next_multiple_of(PAGE);
        let free = hint >= crate::process::space::MMAP_MIN
            && (hint..hint.saturating_add(len)).step_by(PAGE as usize).all(|page| p.space.lock().areas().find(page).is_none());
        if free { hint } else { p.space.lock().find_free(len, crate::process::space::MMAP_TOP).ok_or(Errno::ENOMEM)? }
    };
    p.space.lock().map(start, len, prot, AreaKind::Private, backing)?;
    Ok(start)
}

/// munmap(addr, length).
pub fn munmap(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let (start, len) = (a.u64(0), a.u64(1));
    let top = crate::process::space::USER_TOP;
    if start % PAGE != 0 || len == 0 || start >= top || len > top - start {
        return Err(Errno::EINVAL);
    }
    p.space.lock().unmap(start, pages(len)?).map(|()| 0)
}

/// mprotect(addr, length, prot).
pub fn mprotect(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let (start, len, prot) = (a.u64(0), a.u64(1), protection(a.u64(2))?);
    if start % PAGE != 0 {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    p.space.lock().protect(start, pages(len)?, prot).map(|()| 0)
}

const MREMAP_MAYMOVE: u64 = 1;
const MREMAP_FIXED: u64 = 2;

/// mremap(old, old_size, new_size, flags, new_address): shrinks in place,
/// grows in place where the pages after it are free, otherwise moves the
/// contents to a new place with MREMAP_MAYMOVE (or to `new_address` with
/// MREMAP_FIXED).
pub fn mremap(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let (old, old_size, new_size, flags, fixed_at) = (a.u64(0), a.u64(1), a.u64(2), a.u64(3), a.u64(4));
    if old % PAGE != 0 || new_size == 0 || flags & !(MREMAP_MAYMOVE | MREMAP_FIXED) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MREMAP_FIXED != 0 && (flags & MREMAP_MAYMOVE == 0 || fixed_at % PAGE != 0) {
        return Err(Errno::EINVAL);
    }
    let (old_size, new_size) = (old_size.next_multiple_of(PAGE), pages(new_size)?);
    let area = p.space.lock().areas().find(old).cloned().ok_or(Errno::EFAULT)?;
    let old_end = old.checked_add(old_size).ok_or(Errno::EFAULT)?;
    if old_end > area.end {
        return Err(Errno::EFAULT);
    }
    if flags & MREMAP_FIXED == 0 {
        if new_size <= old_size {
            if new_size < old_size {
                p.space.lock().unmap(old + new_size, old_size - new_size)?;
            }
            return Ok(old);
        }
        let grow = old_end..old + new_size;
        let free = grow.clone().step_by(PAGE as usize).all(|page| p.space.lock().areas().find(page).is_none());
        if free && old_end == area.end {
            let backing = area.backing.clone().map(|b| Backing { offset: b.offset + (old_end - area.start), ..b });
            p.space.lock().map(grow.start, grow.end - grow.start, area.protection, area.kind, backing)?;
            return Ok(old);
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
    }
    let target = if flags & MREMAP_FIXED != 0 {
        p.space.lock().unmap(fixed_at, new_size)?;
        fixed_at
    } else {
        p.space.lock().find_free(new_size, crate::process::space::MMAP_TOP).ok_or(Errno::ENOMEM)?
    };
    let backing = area.backing.clone().map(|b| Backing { offset: b.offset + (old - area.start), ..b });
    p.space.lock().map(target, new_size, area.protection, area.kind, backing)?;
    let mut page = alloc::vec![0u8; PAGE as usize];
    for offset in (0..old_size.min(new_size)).step_by(PAGE as usize) {
        // A shared mapping's pages are the file's: the new place shows them
        // already. Private pages move (copies of file pages included).
        if !area.is_shared() && p.space.lock().is_resident(old + offset) {
            p.space.lock().read(old + offset, &mut page, true)?;
            p.space.lock().write(target + offset, &page, Access::Load)?;
        }
    }
    p.space.lock().unmap(old, old_size)?;
    Ok(target)
}

/// mincore(addr, length, vec): one byte per page, 1 where a page is
/// present; ENOMEM where the range is not mapped.
pub fn mincore(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let (start, len) = (a.u64(0), a.u64(1));
    if start % PAGE != 0 {
        return Err(Errno::EINVAL);
    }
    let end = start.checked_add(len.next_multiple_of(PAGE)).ok_or(Errno::ENOMEM)?;
    let mut residency = alloc::vec::Vec::new();
    for page in (start..end).step_by(PAGE as usize) {
        p.space.lock().areas().find(page).ok_or(Errno::ENOMEM)?;
        residency.push(u8::from(p.space.lock().is_resident(page)));
    }
    posix_shim::user::UserMemory::write_bytes(&mut *p.space.lock(), a.addr(2), &residency)?;
    Ok(0)
}

const MS_ASYNC: u64 = 1;
const MS_INVALIDATE: u64 = 2;
const MS_SYNC: u64 = 4;

/// msync(addr, length, flags): a file mapping's pages are the file's own,
/// so there is nothing to write back; the arguments are checked as Linux
/// checks them (ENOMEM where the range is not mapped).
pub fn msync(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let (start, len, flags) = (a.u64(0), a.u64(1), a.u64(2));
    if start % PAGE != 0 || flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 || flags & (MS_ASYNC | MS_SYNC) == MS_ASYNC | MS_SYNC {
        return Err(Errno::EINVAL);
    }
    let end = start.checked_add(len.next_multiple_of(PAGE)).ok_or(Errno::ENOMEM)?;
    all_mapped(p, start, end).map(|()| 0)
}

/// ENOMEM unless every page of `[start, end)` is mapped.
fn all_mapped(p: &Process, start: u64, end: u64) -> Result<(), Errno> {
    let mut at = start;
    while at < end {
        at = p.space.lock().areas().find(at).ok_or(Errno::ENOMEM)?.end;
    }
    Ok(())
}

/// madvise(addr, length, advice): DONTNEED and FREE drop the pages (they
/// read as zero again); the other advice is accepted and has no effect.
pub fn madvise(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let (start, len, advice) = (a.u64(0), a.u64(1), a.u64(2));
    if start % PAGE != 0 {
        return Err(Errno::EINVAL);
    }
    let end = start.checked_add(len.next_multiple_of(PAGE)).ok_or(Errno::EINVAL)?;
    all_mapped(p, start, end)?;
    match advice {
        MADV_DONTNEED | MADV_FREE => p.space.lock().discard(start, len).map(|()| 0),
        0..=3 | 9..=25 | 100 | 101 => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}
