//! Signals: sending (kill, SIGCHLD at a child's end, faults), the default
//! actions, and delivery to handlers through the Linux arm64 signal frame
//! (`struct rt_sigframe`: siginfo, ucontext with the general registers and
//! the FP/SIMD record), undone by rt_sigreturn.
//!
//! Signals sent to a μprocess that is not running wait in a global pending
//! table; the scheduler moves them into the μprocess before it runs.

use super::{Exit, Process};
use alloc::collections::BTreeMap;
use posix_shim::Errno;
use posix_shim::user::{UserAddr, UserMemory};
use spin::Mutex;

/// SIGKILL.
pub const SIGKILL: u8 = 9;
/// SIGCHLD.
pub const SIGCHLD: u8 = 17;
/// SIGSTOP.
pub const SIGSTOP: u8 = 19;

const SA_NODEFER: u64 = 0x4000_0000;
const SA_RESETHAND: u64 = 0x8000_0000;
const SA_RESTART: u64 = 0x1000_0000;
const SA_RESTORER: u64 = 0x0400_0000;
const SIG_IGN: u64 = 1;

/// Where the kernel's return trampoline (`mov x8, #139; svc #0`) sits in
/// every μprocess, for handlers installed without SA_RESTORER.
pub const TRAMPOLINE: u64 = 0x0000_ffff_f7ff_0000;
/// The trampoline's instructions.
pub const TRAMPOLINE_CODE: [u8; 8] = [0x68, 0x11, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4];

static PENDING: Mutex<BTreeMap<u32, u64>> = Mutex::new(BTreeMap::new());

fn bit(signal: u8) -> u64 {
    1 << (signal - 1)
}

/// Marks `signal` pending for `pid` (merged in before it next runs).
pub fn send(pid: u32, signal: u8) {
    if (1..=64).contains(&signal) {
        *PENDING.lock().entry(pid).or_default() |= bit(signal);
    }
}

/// Whether a signal was sent to `pid` since it last ran.
pub fn has_pending(pid: u32) -> bool {
    PENDING.lock().contains_key(&pid)
}

/// Moves signals sent to `p` while it was not running into it.
pub fn collect(p: &mut Process) {
    if let Some(bits) = PENDING.lock().remove(&p.pid) {
        p.pending_signals |= bits;
    }
}

/// What a signal does by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Default {
    Terminate,
    Ignore,
}

fn default_action(signal: u8) -> Default {
    match signal {
        // SIGCHLD, SIGCONT, SIGURG, SIGWINCH; stop signals until job control exists.
        17 | 18 | 23 | 28 | 19 | 20 | 21 | 22 => Default::Ignore,
        _ => Default::Terminate,
    }
}

/// What delivering the next signal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Nothing deliverable is pending.
    Nothing,
    /// A handler will run when the μprocess resumes; the number says
    /// whether it has SA_RESTART.
    Handler { restart: bool },
    /// The μprocess ends.
    Exit(Exit),
}

/// The lowest pending signal `p` does not block (SIGKILL always).
fn next_deliverable(p: &Process) -> Option<u8> {
    let deliverable = p.pending_signals & (!p.signal_mask | bit(SIGKILL) | bit(SIGSTOP));
    (deliverable != 0).then(|| deliverable.trailing_zeros() as u8 + 1)
}

/// The pending signal that interrupts a blocked call, if any: one with a
/// handler, or one whose default action ends the μprocess. Ignored signals
/// (SIG_IGN, or ignored by default like SIGCHLD) do not interrupt.
pub fn interrupting(p: &Process) -> Option<u8> {
    let signal = next_deliverable(p)?;
    let handler = p.signal_actions[usize::from(signal) - 1][0];
    let interrupts = handler > SIG_IGN || (handler == 0 && (signal == SIGKILL || default_action(signal) == Default::Terminate));
    interrupts.then_some(signal)
}

/// Delivers the next deliverable signal: ignores it, ends the μprocess, or
/// builds the frame that runs its handler. `saved_mask` is the mask the
/// handler's return restores (sigsuspend passes the one it replaced).
pub fn deliver(p: &mut Process, saved_mask: Option<u64>) -> Result<Delivery, Errno> {
    while let Some(signal) = next_deliverable(p) {
        p.pending_signals &= !bit(signal);
        let [handler, flags, restorer, mask] = p.signal_actions[usize::from(signal) - 1];
        match handler {
            0 if signal == SIGKILL || default_action(signal) == Default::Terminate => {
                return Ok(Delivery::Exit(Exit::Signal(signal)));
            }
            0 | SIG_IGN => continue,
            _ if signal == SIGKILL => return Ok(Delivery::Exit(Exit::Signal(signal))),
            _ => {
                build_frame(p, signal, handler, flags, restorer, saved_mask.unwrap_or(p.signal_mask))?;
                let mut blocked = p.signal_mask | mask;
                if flags & SA_NODEFER == 0 {
                    blocked |= bit(signal);
                }
                p.signal_mask = blocked & !(bit(SIGKILL) | bit(SIGSTOP));
                if flags & SA_RESETHAND != 0 {
                    p.signal_actions[usize::from(signal) - 1] = [0; 4];
                }
                return Ok(Delivery::Handler { restart: flags & SA_RESTART != 0 });
            }
        }
    }
    Ok(Delivery::Nothing)
}

// struct rt_sigframe layout (arm64): siginfo (128), ucontext: uc_flags,
// uc_link, uc_stack (24), uc_sigmask (8) + padding to 128 bytes of mask,
// sigcontext (aligned 16): fault_address, regs[31], sp, pc, pstate,
// __reserved[4096] holding the FP/SIMD record and a terminator; then the
// frame record {fp, lr}.
const UC: u64 = 128;
const UC_SIGMASK: u64 = UC + 40;
const MCONTEXT: u64 = UC + 176;
const MC_REGS: u64 = MCONTEXT + 8;
const MC_SP: u64 = MC_REGS + 31 * 8;
const MC_PC: u64 = MC_SP + 8;
const MC_PSTATE: u64 = MC_PC + 8;
const MC_RESERVED: u64 = MC_PSTATE + 16;
const FPSIMD_MAGIC: u32 = 0x4650_8001;
const FPSIMD_SIZE: u32 = 528;
const FRAME_SIZE: u64 = MC_RESERVED + 4096;
const FRAME_RECORD: u64 = FRAME_SIZE;

fn build_frame(p: &mut Process, signal: u8, handler: u64, flags: u64, restorer: u64, saved_mask: u64) -> Result<(), Errno> {
    let sp = (p.context.sp - FRAME_SIZE - 16) & !15;
    let mut frame = alloc::vec![0u8; (FRAME_SIZE + 16) as usize];
    let put = |frame: &mut [u8], at: u64, bytes: &[u8]| frame[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    // siginfo: si_signo, si_errno, si_code (SI_USER = 0 for kill, SI_KERNEL otherwise).
    put(&mut frame, 0, &i32::from(signal).to_le_bytes());
    put(&mut frame, UC_SIGMASK, &saved_mask.to_le_bytes());
    put(&mut frame, MCONTEXT, &p.context.far.to_le_bytes());
    for (i, x) in p.context.x.iter().enumerate() {
        put(&mut frame, MC_REGS + 8 * i as u64, &x.to_le_bytes());
    }
    put(&mut frame, MC_SP, &p.context.sp.to_le_bytes());
    put(&mut frame, MC_PC, &p.context.pc.to_le_bytes());
    put(&mut frame, MC_PSTATE, &p.context.pstate.to_le_bytes());
    put(&mut frame, MC_RESERVED, &FPSIMD_MAGIC.to_le_bytes());
    put(&mut frame, MC_RESERVED + 4, &FPSIMD_SIZE.to_le_bytes());
    put(&mut frame, MC_RESERVED + 8, &(p.context.fpsr as u32).to_le_bytes());
    put(&mut frame, MC_RESERVED + 12, &(p.context.fpcr as u32).to_le_bytes());
    for (i, v) in p.context.v.iter().enumerate() {
        put(&mut frame, MC_RESERVED + 16 + 16 * i as u64, &v.to_le_bytes());
    }
    put(&mut frame, FRAME_RECORD, &p.context.x[29].to_le_bytes());
    put(&mut frame, FRAME_RECORD + 8, &p.context.x[30].to_le_bytes());
    p.space.write_bytes(UserAddr::new(sp), &frame)?;
    p.context.x[0] = u64::from(signal);
    p.context.x[1] = sp;
    p.context.x[2] = sp + UC;
    p.context.x[29] = sp + FRAME_RECORD;
    p.context.x[30] = if flags & SA_RESTORER != 0 { restorer } else { TRAMPOLINE };
    p.context.sp = sp;
    p.context.pc = handler;
    Ok(())
}

/// rt_sigreturn: restores the registers, FP/SIMD state and signal mask the
/// frame at the stack pointer holds. A frame that cannot be read kills the
/// μprocess with SIGSEGV.
pub fn sigreturn(p: &mut Process) -> Result<(), Exit> {
    let sp = p.context.sp;
    let mut frame = alloc::vec![0u8; FRAME_SIZE as usize];
    p.space.read_bytes(UserAddr::new(sp), &mut frame).map_err(|_| Exit::Signal(11))?;
    let get = |at: u64| u64::from_le_bytes(frame[at as usize..at as usize + 8].try_into().unwrap_or([0; 8]));
    for i in 0..31 {
        p.context.x[i] = get(MC_REGS + 8 * i as u64);
    }
    p.context.sp = get(MC_SP);
    p.context.pc = get(MC_PC);
    // Only the condition flags come back: the μprocess stays at EL0 with
    // interrupts unmasked.
    p.context.pstate = get(MC_PSTATE) & 0xf000_0000;
    if get(MC_RESERVED) as u32 == FPSIMD_MAGIC {
        p.context.fpsr = get(MC_RESERVED + 8) & 0xffff_ffff;
        p.context.fpcr = get(MC_RESERVED + 8) >> 32;
        for i in 0..32 {
            let at = (MC_RESERVED + 16 + 16 * i) as usize;
            p.context.v[i as usize] = u128::from_le_bytes(frame[at..at + 16].try_into().unwrap_or([0; 16]));
        }
    }
    p.signal_mask = get(UC_SIGMASK) & !(bit(SIGKILL) | bit(SIGSTOP));
    Ok(())
}

/// kill(pid, signal): to one μprocess (pid > 0), the caller's group (0),
/// group -pid (< -1), or every μprocess but pid 1 and the caller (-1).
pub fn kill(p: &mut Process, pid: i32, signal: u8) -> Result<u64, Errno> {
    if signal > 64 {
        return Err(Errno::EINVAL);
    }
    let targets: alloc::vec::Vec<u32> = match pid {
        pid if pid > 0 => alloc::vec![pid as u32],
        0 => super::table::members(super::table::group_of(p.pid).unwrap_or(p.pid)),
        -1 => super::table::live().into_iter().filter(|&t| t != 1 && t != p.pid).collect(),
        _ => super::table::members(pid.unsigned_abs()),
    };
    let live = super::table::live();
    let targets: alloc::vec::Vec<u32> = targets.into_iter().filter(|t| live.contains(t) || *t == p.pid).collect();
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    if signal == 0 {
        return Ok(0);
    }
    for target in targets {
        if target == p.pid {
            p.pending_signals |= bit(signal);
        } else {
            send(target, signal);
        }
    }
    Ok(0)
}
