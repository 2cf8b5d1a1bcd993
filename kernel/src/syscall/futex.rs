//! futex(uaddr, op, val, timeout/val2, uaddr2, val3): WAIT, WAKE, REQUEUE,
//! CMP_REQUEUE, WAKE_OP, WAIT_BITSET, WAKE_BITSET, private or shared, with
//! relative or absolute timeouts on CLOCK_MONOTONIC or CLOCK_REALTIME; and
//! what a thread's end does to futexes (CLONE_CHILD_CLEARTID's word, the
//! robust list). The priority-inheritance operations are ENOSYS (glibc
//! uses them only for PTHREAD_PRIO_INHERIT mutexes).

use crate::process::futex::{self, Key, WaitState};
use crate::process::{Process, Wakeup};
use uprocess::context::IsolationContext;
use posix_shim::Errno;
use posix_shim::syscall::args::SyscallArgs;
use posix_shim::user::{UserAddr, UserMemory};

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_WAKE_OP: u64 = 5;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_PRIVATE_FLAG: u64 = 128;
const FUTEX_CLOCK_REALTIME: u64 = 256;
/// Every waiter's bits (FUTEX_BITSET_MATCH_ANY).
const MATCH_ANY: u32 = u32::MAX;

/// The futex word's identity: shared mappings by file and offset, the rest
/// by process and address. EINVAL for a misaligned word, EFAULT for an
/// unmapped one.
fn key_of(p: &Process, address: UserAddr, private: bool) -> Result<Key, Errno> {
    let address = address.value();
    if address % 4 != 0 {
        return Err(Errno::EINVAL);
    }
    let private_key = Key::Private { pid: p.pid, address };
    if private {
        return Ok(private_key);
    }
    let space = p.space.lock();
    let area = space.areas().find(address).ok_or(Errno::EFAULT)?;
    Ok(match &area.backing {
        Some(backing) if backing.shared => {
            Key::Shared { ino: backing.file.inode.ino(), offset: backing.offset + (address - area.start) }
        }
        _ => private_key,
    })
}

/// futex(2).
pub fn futex(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let (address, op, value) = (a.addr(0), a.u64(1), a.u64(2) as u32);
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    let command = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if realtime && !matches!(command, FUTEX_WAIT | FUTEX_WAIT_BITSET) {
        return Err(Errno::ENOSYS);
    }
    // The fourth argument is a count for the requeueing operations.
    let count2 = a.u64(3) as u32;
    let bitset = a.u64(5) as u32;
    match command {
        FUTEX_WAIT => wait(p, address, private, value, a.addr(3), Deadline::Relative, MATCH_ANY),
        FUTEX_WAIT_BITSET => {
            let clock = if realtime { Deadline::AbsoluteRealtime } else { Deadline::AbsoluteMonotonic };
            wait(p, address, private, value, a.addr(3), clock, bitset)
        }
        FUTEX_WAKE => Ok(u64::from(futex::wake(key_of(p, address, private)?, value, MATCH_ANY))),
        FUTEX_WAKE_BITSET => {
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            Ok(u64::from(futex::wake(key_of(p, address, private)?, value, bitset)))
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            let (from, to) = (key_of(p, address, private)?, key_of(p, a.addr(4), private)?);
            if (value as i32) < 0 || (count2 as i32) < 0 {
                return Err(Errno::EINVAL);
            }
            if command == FUTEX_CMP_REQUEUE && p.space.lock().read_u32(address)? != bitset {
                return Err(Errno::EAGAIN);
            }
            Ok(u64::from(futex::requeue(from, to, value, count2)))
        }
        FUTEX_WAKE_OP => wake_op(p, a, private, value, count2),
        _ => Err(Errno::ENOSYS),
    }
}

/// How a wait's timeout reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    /// A duration (FUTEX_WAIT).
    Relative,
    /// A CLOCK_MONOTONIC time (FUTEX_WAIT_BITSET).
    AbsoluteMonotonic,
    /// A CLOCK_REALTIME time (FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME).
    AbsoluteRealtime,
}

/// FUTEX_WAIT and FUTEX_WAIT_BITSET: EAGAIN unless the word holds `value`;
/// otherwise the thread waits until a wake takes it (0), its timeout
/// (ETIMEDOUT) or a signal (EINTR, or a restart with SA_RESTART). The first
/// run queues the thread; later runs only look whether a wake came.
fn wait(p: &mut Process, address: UserAddr, private: bool, value: u32, timeout: UserAddr, deadline: Deadline, bitset: u32) -> Result<u64, Errno> {
    if p.in_blocked_call {
        match futex::take_wake(p.tid) {
            WaitState::Woken => {
                p.sleep_deadline = None;
                return Ok(0);
            }
            WaitState::Queued if p.sleep_deadline.is_none_or(|d| arch_morello::timer::uptime_ns() < d) => {
                p.wakeup = Wakeup::Futex(p.sleep_deadline);
                return Err(Errno::ERESTART);
            }
            WaitState::Queued | WaitState::Gone => {
                futex::cancel(p.tid);
                p.sleep_deadline = None;
                return Err(Errno::ETIMEDOUT);
            }
        }
    }
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let key = key_of(p, address, private)?;
    let monotonic_deadline = if timeout.is_null() {
        None
    } else {
        let ns = crate::syscall::read_timespec(p, timeout)?;
        let now = arch_morello::timer::uptime_ns();
        Some(match deadline {
            Deadline::Relative => now.saturating_add(ns),
            Deadline::AbsoluteMonotonic => ns,
            Deadline::AbsoluteRealtime => ns.saturating_sub(crate::platform::platform().realtime_at_boot_ns),
        })
    };
    let space = &p.space;
    futex::enqueue_if(p.tid, key, bitset, || match space.lock().read_u32(address)? {
        word if word != value => Err(Errno::EAGAIN),
        _ if monotonic_deadline.is_some_and(|d| arch_morello::timer::uptime_ns() >= d) => Err(Errno::ETIMEDOUT),
        _ => Ok(()),
    })?;
    p.sleep_deadline = monotonic_deadline;
    p.wakeup = Wakeup::Futex(monotonic_deadline);
    Err(Errno::ERESTART)
}

/// FUTEX_WAKE_OP: changes the word at uaddr2 as val3 says, wakes up to
/// `count` waiters on uaddr and, if the word's old value passes val3's
/// comparison, up to `count2` on uaddr2.
fn wake_op(p: &mut Process, a: &SyscallArgs, private: bool, count: u32, count2: u32) -> Result<u64, Errno> {
    let encoded = a.u64(5) as u32;
    let sign_extend_12 = |v: u32| ((v << 20) as i32) >> 20;
    let (op, compare) = ((encoded >> 28) & 0xf, (encoded >> 24) & 0xf);
    let mut operand = sign_extend_12((encoded >> 12) & 0xfff);
    let compare_with = sign_extend_12(encoded & 0xfff);
    const FUTEX_OP_OPARG_SHIFT: u32 = 8;
    if op & FUTEX_OP_OPARG_SHIFT != 0 {
        operand = 1i32.wrapping_shl(operand as u32 & 31);
    }
    let (from, to) = (key_of(p, a.addr(0), private)?, key_of(p, a.addr(4), private)?);
    if op & 7 > 4 {
        return Err(Errno::ENOSYS);
    }
    let mut change = |old: u32| {
        let old = old as i32;
        (match op & 7 {
            0 => operand,
            1 => old.wrapping_add(operand),
            2 => old | operand,
            3 => old & !operand,
            _ => old ^ operand,
        }) as u32
    };
    let old = p.space.lock().update_u32(a.addr(4).value(), &mut change)? as i32;
    let passes = match compare {
        0 => old == compare_with,
        1 => old != compare_with,
        2 => old < compare_with,
        3 => old <= compare_with,
        4 => old > compare_with,
        5 => old >= compare_with,
        _ => return Err(Errno::ENOSYS),
    };
    let mut woken = futex::wake(from, count, MATCH_ANY);
    if passes {
        woken += futex::wake(to, count2, MATCH_ANY);
    }
    Ok(u64::from(woken))
}

/// The robust list's length: `struct robust_list_head` (next, futex_offset,
/// list_op_pending).
const ROBUST_LIST_HEAD_LEN: u64 = 24;

/// set_robust_list(head, len).
pub fn set_robust_list(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    if a.u64(1) != ROBUST_LIST_HEAD_LEN {
        return Err(Errno::EINVAL);
    }
    p.robust_list = a.u64(0);
    Ok(0)
}

/// get_robust_list(tid, head_ptr, len_ptr): the caller's or another thread
/// of its group (0: the caller).
pub fn get_robust_list(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let tid = a.i32(0);
    if tid != 0 && tid as u32 != p.tid {
        // Other threads' heads live in their own threads, which the caller
        // cannot reach while it runs; only the caller's own is answered.
        return if crate::process::group::group_of_thread(tid as u32).is_some() { Err(Errno::EPERM) } else { Err(Errno::ESRCH) };
    }
    let mut space = p.space.lock();
    space.write_u64(a.addr(1), p.robust_list)?;
    space.write_u64(a.addr(2), ROBUST_LIST_HEAD_LEN)?;
    Ok(0)
}

/// The futex word's bits (`FUTEX_WAITERS`, `FUTEX_OWNER_DIED`, the owner's
/// tid).
const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
/// At most this many robust list entries are followed (ROBUST_LIST_LIMIT).
const ROBUST_LIST_LIMIT: usize = 2048;

/// What a thread's end does to futexes: the robust mutexes it holds are
/// marked FUTEX_OWNER_DIED and one waiter of each woken; the
/// CLONE_CHILD_CLEARTID word is zeroed and one waiter woken (pthread_join).
/// Memory the thread broke is skipped, as Linux does.
pub fn thread_ended(p: &mut Process) {
    if p.robust_list != 0 {
        release_robust_list(p);
    }
    if p.clear_child_tid != 0 {
        let at = UserAddr::new(p.clear_child_tid);
        if p.space.lock().write_u32(at, 0).is_ok()
            && let Ok(key) = key_of(p, at, false)
        {
            futex::wake(key, 1, MATCH_ANY);
        }
    }
}

fn release_robust_list(p: &mut Process) {
    let head = p.robust_list;
    let read = |p: &Process, at: u64| p.space.lock().read_u64(UserAddr::new(at)).ok();
    let (Some(mut entry), Some(offset), Some(pending)) = (read(p, head), read(p, head + 8), read(p, head + 16)) else { return };
    let offset = offset as i64;
    let mut seen = 0;
    while entry != head && seen < ROBUST_LIST_LIMIT {
        // The next pointer is read before the entry is released: a woken
        // waiter may change it.
        let next = read(p, entry & !1);
        if entry & !1 != pending & !1 {
            release_robust_futex(p, (entry & !1).wrapping_add_signed(offset));
        }
        let Some(next) = next else { return };
        entry = next;
        seen += 1;
    }
    if pending != 0 {
        release_robust_futex(p, (pending & !1).wrapping_add_signed(offset));
    }
}

/// Marks the futex at `at` owned by the dying thread as FUTEX_OWNER_DIED
/// and wakes one waiter.
fn release_robust_futex(p: &mut Process, at: u64) {
    let at = UserAddr::new(at);
    // As Linux's handle_futex_death: only a word the dying thread owns
    // changes, in one atomic step against its waiters' compare-and-swaps.
    let tid = p.tid;
    let mut mark = |word: u32| if word & FUTEX_TID_MASK == tid { (word & FUTEX_WAITERS) | FUTEX_OWNER_DIED } else { word };
    let Ok(word) = p.space.lock().update_u32(at.value(), &mut mark) else { return };
    if word & FUTEX_TID_MASK != tid {
        return;
    }
    if word & FUTEX_WAITERS != 0
        && let Ok(key) = key_of(p, at, false)
    {
        futex::wake(key, 1, MATCH_ANY);
    }
}
