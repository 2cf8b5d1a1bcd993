//! poll and ppoll: which descriptors are ready. Regular files, directories
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
    let mut raw = alloc::vec![0u8; len];
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
