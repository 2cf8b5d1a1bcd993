//! System information: uname, sysinfo, getrandom.

use crate::process::Process;
use posix_shim::Errno;
use posix_shim::syscall::args::SyscallArgs;
use posix_shim::user::UserMemory;

/// The kernel release glibc sees: a Linux version it accepts.
pub const RELEASE: &str = "6.1.0-morsel";
/// The host name (sethostname is not offered yet).
pub const NODENAME: &str = "morsel";

/// uname(buf): six 65-byte fields.
pub fn uname(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let fields = ["Linux", NODENAME, RELEASE, concat!("#1 SMP Morsel ", env!("CARGO_PKG_VERSION")), "aarch64", "(none)"];
    let mut buf = [0u8; 65 * 6];
    for (i, field) in fields.iter().enumerate() {
        buf[i * 65..i * 65 + field.len()].copy_from_slice(field.as_bytes());
    }
    p.space.lock().write_bytes(a.addr(0), &buf)?;
    Ok(0)
}

/// sysinfo(info): uptime (rounded up, as Linux does), memory, processes.
pub fn sysinfo(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let platform = crate::platform::platform();
    let uptime = arch_morello::timer::uptime_ns().div_ceil(1_000_000_000);
    let total: u64 = platform.machine.memory.iter().map(|b| b.len()).sum();
    let free = crate::frames::free_bytes();
    let mut buf = [0u8; 112];
    buf[0..8].copy_from_slice(&uptime.to_le_bytes());
    // loads[3] at 8..32 stay zero.
    buf[32..40].copy_from_slice(&total.to_le_bytes());
    buf[40..48].copy_from_slice(&free.to_le_bytes());
    // sharedram, bufferram, totalswap, freeswap zero.
    buf[80..82].copy_from_slice(&1u16.to_le_bytes());
    // totalhigh, freehigh zero; mem_unit:
    buf[104..108].copy_from_slice(&1u32.to_le_bytes());
    p.space.lock().write_bytes(a.addr(0), &buf)?;
    Ok(0)
}

const GRND_NONBLOCK: u64 = 1;
const GRND_RANDOM: u64 = 2;
const GRND_INSECURE: u64 = 4;

/// getrandom(buf, count, flags).
pub fn getrandom(p: &mut Process, a: &SyscallArgs) -> Result<u64, Errno> {
    let flags = a.u64(2);
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0 || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE) {
        return Err(Errno::EINVAL);
    }
    let count = a.u64(1).min(posix_shim::user::MAX_RW_COUNT) as usize;
    let mut done = 0;
    let mut chunk = [0u8; 256];
    while done < count {
        let n = chunk.len().min(count - done);
        crate::random::fill(&mut chunk[..n]);
        p.space.lock().write_bytes(a.addr(0).add_usize(done)?, &chunk[..n])?;
        done += n;
    }
    Ok(count as u64)
}
