//! poll, ppoll and select: which descriptors are ready. Regular files, directories
//! and memory devices always are; pipes and driver devices as their state
//! says. When nothing is ready and the timeout allows waiting, the call
//! returns `ERESTART` and the kernel runs it again later (the kernel keeps
//! the deadline).

use super::FsContext;
use super::args::Fd;
use crate::Errno;
use crate::fd::FileObject;
use crate::user::{UserAddr, UserMemory};

const POLLIN: u16 = 0x001;
const POLLPRI: u16 = 0x002;
const POLLOUT: u16 = 0x004;
const POLLERR: u16 = 0x008;
const POLLHUP: u16 = 0x010;
const POLLNVAL: u16 = 0x020;
const POLLRDNORM: u16 = 0x040;
const POLLWRNORM: u16 = 0x100;

/// At most this many descriptors (RLIMIT_NOFILE's hard limit here).
const MAX_POLL_FDS: u64 = 1 << 20;

/// The events ready on `fd` among `wanted` (POLLERR, POLLHUP and POLLNVAL
/// are reported whether asked for or not).
fn ready(ctx: &FsContext<'_>, fd: i32, wanted: u16) -> u16 {
    if fd < 0 {
        return 0;
    }
    let Ok(file) = Fd::new(fd).and_then(|fd| ctx.fds.get(fd)) else {
        return POLLNVAL;
    };
    let input = POLLIN | POLLRDNORM;
    let output = POLLOUT | POLLWRNORM;
    let state = match file.object() {
        FileObject::Pipe(_, end) => {
            let (readable, writable, hangup, error) = end.poll();
            (if readable { input } else { 0 })
                | (if writable { output } else { 0 })
                | (if hangup { POLLHUP } else { 0 })
                | (if error { POLLERR } else { 0 })
        }
        FileObject::EventFd(_, counter) => {
            let (readable, writable) = counter.poll();
            (if readable { input } else { 0 }) | (if writable { output } else { 0 })
        }
        FileObject::Device(_, dev) => (if ctx.devices.readable(*dev) { input } else { 0 }) | output,
        FileObject::Path(_) => POLLNVAL,
        _ => input | output,
    };
    state & (wanted | POLLERR | POLLHUP | POLLNVAL) & !(if wanted & POLLPRI == 0 { POLLPRI } else { 0 })
}

/// poll's work on `count` `struct pollfd`s at `fds`: fills in revents and
/// returns how many are ready; `Err(ERESTART)` when none is and `may_wait`.
pub fn poll(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, fds: UserAddr, count: u64, may_wait: bool) -> Result<u64, Errno> {
    if count > MAX_POLL_FDS {
        return Err(Errno::EINVAL);
    }
    let len = usize::try_from(count * 8).map_err(|_| Errno::EINVAL)?;
    let mut raw = alloc::vec::Vec::new();
    raw.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
    raw.resize(len, 0u8);
    mem.read_bytes(fds, &mut raw)?;
    let mut ready_count = 0u64;
    for entry in raw.chunks_exact_mut(8) {
        let fd = i32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let wanted = u16::from_le_bytes([entry[4], entry[5]]);
        let revents = ready(ctx, fd, wanted);
        entry[6..8].copy_from_slice(&revents.to_le_bytes());
        if revents != 0 {
            ready_count += 1;
        }
    }
    if ready_count == 0 && may_wait {
        return Err(Errno::ERESTART);
    }
    mem.write_bytes(fds, &raw)?;
    Ok(ready_count)
}

/// The events select counts as readable, writable and exceptional.
const SELECT_EVENTS: [u16; 3] = [POLLIN | POLLRDNORM | POLLHUP | POLLERR, POLLOUT | POLLWRNORM | POLLERR, POLLPRI];

/// select's work on the `fd_set`s at `sets` (read, write, except; null
/// ones skipped) for descriptors below `nfds`: keeps the ready ones in the
/// sets and returns how many bits are set; EBADF for a descriptor that is
/// not open, `Err(ERESTART)` when none is ready and `may_wait` (the sets
/// are left as they were).
pub fn select(ctx: &mut FsContext<'_>, mem: &mut dyn UserMemory, nfds: i32, sets: [UserAddr; 3], may_wait: bool) -> Result<u64, Errno> {
    if nfds < 0 {
        return Err(Errno::EINVAL);
    }
    let nfds = (nfds as usize).min(MAX_POLL_FDS as usize);
    let words = nfds.div_ceil(64);
    let mut wanted = [alloc::vec![0u64; words], alloc::vec![0u64; words], alloc::vec![0u64; words]];
    for (set, at) in wanted.iter_mut().zip(sets) {
        if at.is_null() {
            continue;
        }
        let mut raw = alloc::vec![0u8; words * 8];
        mem.read_bytes(at, &mut raw)?;
        for (word, bytes) in set.iter_mut().zip(raw.chunks_exact(8)) {
            *word = u64::from_le_bytes(bytes.try_into().unwrap_or_default());
        }
        if let Some(last) = set.last_mut().filter(|_| !nfds.is_multiple_of(64)) {
            *last &= (1u64 << (nfds % 64)) - 1;
        }
    }
    let mut found = [alloc::vec![0u64; words], alloc::vec![0u64; words], alloc::vec![0u64; words]];
    let mut count = 0u64;
    for fd in 0..nfds {
        let (word, bit) = (fd / 64, 1u64 << (fd % 64));
        let asked: [bool; 3] = core::array::from_fn(|i| wanted[i][word] & bit != 0);
        if !asked.contains(&true) {
            continue;
        }
        let state = ready(ctx, fd as i32, POLLIN | POLLOUT | POLLPRI);
        if state & POLLNVAL != 0 {
            return Err(Errno::EBADF);
        }
        for i in 0..3 {
            if asked[i] && state & SELECT_EVENTS[i] != 0 {
                found[i][word] |= bit;
                count += 1;
            }
        }
    }
    if count == 0 && may_wait {
        return Err(Errno::ERESTART);
    }
    for (set, at) in found.iter().zip(sets) {
        if !at.is_null() {
            let raw: alloc::vec::Vec<u8> = set.iter().flat_map(|w| w.to_le_bytes()).collect();
            mem.write_bytes(at, &raw)?;
        }
    }
    Ok(count)
}
