//! Clocks and sleeping: clock_gettime, clock_getres, gettimeofday,
//! nanosleep, clock_nanosleep, times. Monotonic time is the generic timer;
//! real time is the PL031 RTC read at boot plus the timer since then.

use crate::process::{Process, group};
use arch_morello::timer;
use posix_shim::Errno;
use posix_shim::syscall::args::SyscallArgs;
use posix_shim::user::{UserAddr, UserMemory};

const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
const CLOCK_MONOTONIC_RAW: u64 = 4;
const CLOCK_REALTIME_COARSE: u64 = 5;
const CLOCK_MONOTONIC_COARSE: u64 = 6;
const CLOCK_BOOTTIME: u64 = 7;
const CLOCK_REALTIME_ALARM: u64 = 8;
const CLOCK_BOOTTIME_ALARM: u64 = 9;
const TIMER_ABSTIME: u64 = 1;
const NANOS: u64 = 1_000_000_000;
/// The coarse clocks' resolution: the tick.
const COARSE_NS: u64 = NANOS / crate::platform::TICK_HZ;

/// The time of a clock that does not depend on the μprocess, in
/// nanoseconds (EINVAL for the CPU-time clocks: [`cpu_clock_ns`]).
fn now_ns(clock: u64) -> Result<u64, Errno> {
    let uptime = timer::uptime_ns();
    let realtime = crate::platform::platform().realtime_at_boot_ns + uptime;
    Ok(match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_ALARM => realtime,
        CLOCK_REALTIME_COARSE => realtime - realtime % COARSE_NS,
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => uptime,
        CLOCK_MONOTONIC_COARSE => uptime - uptime % COARSE_NS,
        _ => return Err(Errno::EINVAL),
    })
}

fn resolution_ns(clock: u64) -> Result<u64, Errno> {
    now_ns(clock)?;
    Ok(match clock {
        CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => COARSE_NS,
        _ => 1,
    })
}

/// `ns` as a `struct timespec` (seconds, nanoseconds).
pub fn timespec(ns: u64) -> [u8; 16] {
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&(ns / NANOS).to_le_bytes());
    buf[8..].copy_from_slice(&(ns % NANOS).to_le_bytes());
    buf
}

/// `ns` as a `struct timeval` (seconds, microseconds).
pub fn timeval(ns: u64) -> [u8; 16] {
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&(ns / NANOS).to_le_bytes());
    buf[8..].copy_from_slice(&(ns % NANOS / 1000).to_le_bytes());
    buf
}

fn write_timespec(p: &mut Process, addr: UserAddr, ns: u64) -> Result<(), Errno> {
    p.space.lock().write_bytes(addr, &timespec(ns))
}

/// Reads a `struct timespec` as nanoseconds; EINVAL when out of range.
pub fn read_timespec(p: &Process, addr: UserAddr) -> Result<u64, Errno> {
    let seconds = p.space.lock().read_u64(addr)? as i64;
    let nanos = p.space.lock().read_u64(addr.offset(8)?)? as i64;
    if seconds < 0 || !(0..NANOS as i64).contains(&nanos) {
        return Err(Errno::EINVAL);
    }
    Ok((seconds as u64).saturating_mul(NANOS).saturating_add(nanos as u64))
}

/// The time a CPU-time clock shows `p`: its thread's, its process's, or
/// another thread's or process's (the negative clock ids
/// pthread_getcpuclockid and clock_getcpuclockid make: !id << 3, bit 2 for
/// a thread, the low bits the kind, 3 being invalid). `None` for the other
/// clocks.
fn cpu_clock_ns(p: &Process, clock: u64) -> Result<Option<u64>, Errno> {
    let own = p.cpu.user + p.cpu.system;
    let process = |pid: u32| -> Option<u64> {
        if pid == p.pid {
            let total = p.process_cpu();
            return Some(total.user + total.system);
        }
        group::live_threads_cpu(pid, p.tid).map(|(user, system)| user + system)
    };
    let clock = clock as u32 as i32;
    match clock {
        CLOCK_THREAD_CPUTIME_ID_ID => return Ok(Some(own)),
        CLOCK_PROCESS_CPUTIME_ID_ID => return Ok(Some(process(p.pid).unwrap_or(own))),
        clock if clock >= 0 => return Ok(None),
        _ => {}
    }
    const PER_THREAD: i32 = 4;
    if clock & 3 == 3 {
        return Err(Errno::EINVAL);
    }
    let id = !(clock >> 3) as u32;
    let ns = match (clock & PER_THREAD != 0, id) {
        (true, 0) => Some(own),
        (true, tid) if tid == p.tid => Some(own),
        (true, tid) => group::thread_cpu_ns(tid),
        (false, 0) => process(p.pid),
        (false, pid) => process(pid),
    };
    ns.map(Some).ok_or(Errno::EINVAL)
}

/// The CPU-time clocks' ids as clockid_t.
const CLOCK_THREAD_CPUTIME_ID_ID: i32 = CLOCK_THREAD_CPUTIME_ID as i32;
const CLOCK_PROCESS_CPUTIME_ID_ID: i32 = CLOCK_PROCESS_CPUTIME_ID as i32;

/// clock_gettime(clock, tp).
pub fn clock_gettime(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let ns = match cpu_clock_ns(p, a.u64(0))? {
        Some(ns) => ns,
        None => now_ns(a.u64(0))?,
    };
    write_timespec(p, a.addr(1), ns).map(|()| 0)
}

/// clock_getres(clock, res); res may be NULL.
pub fn clock_getres(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let ns = match cpu_clock_ns(p, a.u64(0))? {
        Some(_) => 1,
        None => resolution_ns(a.u64(0))?,
    };
    if !a.addr(1).is_null() {
        write_timespec(p, a.addr(1), ns)?;
    }
    Ok(0)
}

/// gettimeofday(tv, tz).
pub fn gettimeofday(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let ns = now_ns(CLOCK_REALTIME)?;
    if !a.addr(0).is_null() {
        p.space.lock().write_bytes(a.addr(0), &timeval(ns))?;
    }
    if !a.addr(1).is_null() {
        p.space.lock().write_bytes(a.addr(1), &[0u8; 8])?;
    }
    Ok(0)
}

/// Sleeps until `clock` reads `deadline_ns`: the call blocks (ERESTART)
/// until then and the scheduler runs it again; the deadline is kept in the
/// μprocess across the retries.
fn sleep_until(p: &mut Process, clock: u64, deadline_ns: u64) -> Result<u64, Errno> {
    let deadline = *p.sleep_deadline.get_or_insert(deadline_ns);
    let now = now_ns(clock)?;
    if now < deadline {
        let monotonic_deadline = arch_morello::timer::uptime_ns().saturating_add(deadline - now);
        p.wakeup = crate::process::Wakeup::SignalOr(Some(monotonic_deadline));
        return Err(Errno::ERESTART);
    }
    p.sleep_deadline = None;
    Ok(0)
}

/// nanosleep(req, rem).
pub fn nanosleep(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let duration = read_timespec(p, a.addr(0))?;
    let deadline = now_ns(CLOCK_MONOTONIC)?.saturating_add(duration);
    sleep_until(p, CLOCK_MONOTONIC, deadline)
}

/// clock_nanosleep(clock, flags, req, rem).
pub fn clock_nanosleep(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let clock = a.u64(0);
    if matches!(clock, CLOCK_THREAD_CPUTIME_ID) {
        return Err(Errno::EINVAL);
    }
    let request = read_timespec(p, a.addr(2))?;
    let deadline = if a.u64(1) & TIMER_ABSTIME != 0 { request } else { now_ns(clock)?.saturating_add(request) };
    sleep_until(p, clock, deadline)
}

/// times(buf): clock ticks since boot; the caller's process's user and
/// system time and its reaped children's.
pub fn times(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let tick = NANOS / posix_shim::procfs::USER_HZ;
    let ticks = timer::uptime_ns() / tick;
    if !a.addr(0).is_null() {
        let mut buf = [0u8; 32];
        let cpu = p.process_cpu();
        for (i, ns) in [cpu.user, cpu.system, cpu.children_user, cpu.children_system].into_iter().enumerate() {
            buf[8 * i..8 * i + 8].copy_from_slice(&(ns / tick).to_le_bytes());
        }
        p.space.lock().write_bytes(a.addr(0), &buf)?;
    }
    Ok(ticks)
}
