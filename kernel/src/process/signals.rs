//! Signals: what a signal carries ([`SigInfo`]), the pending queues
//! (standard signals coalesce, real-time ones queue), sending (kill,
//! sigqueue, SIGCHLD, faults, timers), the default actions (terminate, core,
//! ignore, stop, continue), and delivery to handlers through the Linux
//! arm64 signal frame (`struct rt_sigframe`: siginfo, ucontext with the
//! alternate stack, the general registers and the FP/SIMD record), undone by
//! rt_sigreturn. ITIMER_REAL timers live here too: they fire whether or not
//! their μprocess runs.
//!
//! A signal goes to a process (kill: any of its threads that does not block
//! it takes it) or to one thread (tgkill, faults). Signals sent while the
//! receiver does not run wait in global pending tables (by pid and by tid);
//! a thread moves them into its group's queue and its own before it runs.

use super::signal::*;
use super::group::ThreadGroup;
use super::{Exit, Process};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use posix_shim::Errno;
use posix_shim::user::{UserAddr, UserMemory};
use spin::Mutex;

const SA_NOCLDSTOP: u64 = 0x0000_0001;
const SA_NOCLDWAIT: u64 = 0x0000_0002;
const SA_ONSTACK: u64 = 0x0800_0000;
const SA_NODEFER: u64 = 0x4000_0000;
const SA_RESETHAND: u64 = 0x8000_0000;
const SA_RESTART: u64 = 0x1000_0000;
const SA_RESTORER: u64 = 0x0400_0000;
/// SIG_IGN as a handler.
pub const SIG_IGN: u64 = 1;

/// si_code values.
pub mod code {
    /// kill, raise.
    pub const SI_USER: i32 = 0;
    /// Sent by the kernel.
    pub const SI_KERNEL: i32 = 0x80;
    /// sigqueue.
    pub const SI_QUEUE: i32 = -1;
    /// A POSIX timer (and ITIMER_* on Linux: SI_KERNEL... see `timer`).
    pub const SI_TIMER: i32 = -2;
    /// tkill, tgkill.
    pub const SI_TKILL: i32 = -6;
    /// SIGCHLD: exited.
    pub const CLD_EXITED: i32 = 1;
    /// SIGCHLD: killed.
    pub const CLD_KILLED: i32 = 2;
    /// SIGCHLD: killed, with a core dump.
    pub const CLD_DUMPED: i32 = 3;
    /// SIGCHLD: stopped.
    pub const CLD_STOPPED: i32 = 5;
    /// SIGCHLD: continued.
    pub const CLD_CONTINUED: i32 = 6;
    /// SIGSEGV: no mapping.
    pub const SEGV_MAPERR: i32 = 1;
    /// SIGSEGV: not allowed.
    pub const SEGV_ACCERR: i32 = 2;
    /// SIGBUS: misaligned.
    pub const BUS_ADRALN: i32 = 1;
    /// SIGBUS: no such physical address (past a file's end, no memory).
    pub const BUS_ADRERR: i32 = 2;
    /// SIGILL: illegal opcode.
    pub const ILL_ILLOPC: i32 = 1;
    /// SIGTRAP: breakpoint.
    pub const TRAP_BRKPT: i32 = 1;
    /// SIGFPE: floating-point exception (the kind is not known).
    pub const FPE_FLTINV: i32 = 7;
}

/// A `siginfo_t` (128 bytes), as the handler and sigtimedwait receive it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SigInfo([u8; 128]);

impl core::fmt::Debug for SigInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigInfo").field("signo", &self.signo()).field("code", &self.code()).finish()
    }
}

impl SigInfo {
    fn new(signo: u8, code: i32) -> SigInfo {
        let mut info = SigInfo([0; 128]);
        info.put(0, &i32::from(signo).to_le_bytes());
        info.put(8, &code.to_le_bytes());
        info
    }

    fn put(&mut self, at: usize, bytes: &[u8]) {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }

    /// From a process: `pid` and `uid` sent it (kill, tgkill, sigqueue).
    pub fn from_process(signo: u8, code: i32, pid: u32, uid: u32) -> SigInfo {
        let mut info = SigInfo::new(signo, code);
        info.put(16, &pid.to_le_bytes());
        info.put(20, &uid.to_le_bytes());
        info
    }

    /// Raised by the kernel with nothing more to say (SIGPIPE, SIGALRM...).
    pub fn kernel(signo: u8) -> SigInfo {
        SigInfo::new(signo, code::SI_KERNEL)
    }

    /// A fault at `address`.
    pub fn fault(signo: u8, code: i32, address: u64) -> SigInfo {
        let mut info = SigInfo::new(signo, code);
        info.put(16, &address.to_le_bytes());
        info
    }

    /// SIGCHLD about child `pid` (owned by `uid`): `code` CLD_*, `status`
    /// the exit status or the signal.
    pub fn child(code: i32, pid: u32, uid: u32, status: i32) -> SigInfo {
        let mut info = SigInfo::from_process(SIGCHLD, code, pid, uid);
        info.put(24, &status.to_le_bytes());
        info
    }

    /// What rt_sigqueueinfo passed, with its signal number set to `signo`.
    pub fn from_bytes(signo: u8, bytes: [u8; 128]) -> SigInfo {
        let mut info = SigInfo(bytes);
        info.put(0, &i32::from(signo).to_le_bytes());
        info
    }

    /// The signal number.
    pub fn signo(&self) -> u8 {
        self.0[0]
    }

    /// si_code.
    pub fn code(&self) -> i32 {
        i32::from_le_bytes([self.0[8], self.0[9], self.0[10], self.0[11]])
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8; 128] {
        &self.0
    }
}

/// Signals sent and not yet delivered: one of each standard signal (more
/// are merged into the first), every real-time signal in order.
#[derive(Debug, Clone, Default)]
pub struct Pending {
    queue: Vec<SigInfo>,
}

fn bit(signal: u8) -> u64 {
    1 << (signal - 1)
}

/// The first real-time signal.
const SIGRTMIN: u8 = 32;

impl Pending {
    /// Adds `info` (a standard signal already pending is not added twice).
    /// A stop signal cancels a pending SIGCONT and SIGCONT cancels pending
    /// stop signals, as POSIX says.
    pub fn push(&mut self, info: SigInfo) {
        let signo = info.signo();
        if signo == SIGCONT {
            self.discard(STOP_SIGNALS);
        } else if STOP_SIGNALS & bit(signo) != 0 {
            self.discard(bit(SIGCONT));
        }
        if signo >= SIGRTMIN || self.bits() & bit(signo) == 0 {
            self.queue.push(info);
        }
    }

    /// The pending signals as a set (bit n-1 for signal n).
    pub fn bits(&self) -> u64 {
        self.queue.iter().fold(0, |bits, info| bits | bit(info.signo()))
    }

    /// Takes the lowest-numbered pending signal in `set` (the oldest of its
    /// kind).
    pub fn take(&mut self, set: u64) -> Option<SigInfo> {
        let candidates = self.bits() & set;
        if candidates == 0 {
            return None;
        }
        let signo = candidates.trailing_zeros() as u8 + 1;
        let at = self.queue.iter().position(|info| info.signo() == signo)?;
        Some(self.queue.remove(at))
    }

    /// Drops every pending signal in `set`.
    pub fn discard(&mut self, set: u64) {
        self.queue.retain(|info| set & bit(info.signo()) == 0);
    }

    fn append(&mut self, other: Pending) {
        for info in other.queue {
            self.push(info);
        }
    }
}

/// The stop signals whose default action stops a μprocess.
pub const STOP_SIGNALS: u64 = (1 << (SIGSTOP - 1)) | (1 << (SIGTSTP - 1)) | (1 << (SIGTTIN - 1)) | (1 << (SIGTTOU - 1));
/// Signals no mask blocks.
pub const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));

/// Signals sent to processes, by pid.
static PENDING: Mutex<BTreeMap<u32, Pending>> = Mutex::new(BTreeMap::new());
/// Signals sent to single threads, by tid.
static THREAD_PENDING: Mutex<BTreeMap<u32, Pending>> = Mutex::new(BTreeMap::new());

/// Queues `info` for process `pid` (merged in before one of its threads
/// next runs).
pub fn send(pid: u32, info: SigInfo) {
    if (1..=64).contains(&info.signo()) {
        PENDING.lock().entry(pid).or_default().push(info);
        super::scheduler::notify();
    }
}

/// Queues `info` for thread `tid` alone.
pub fn send_to_thread(tid: u32, info: SigInfo) {
    if (1..=64).contains(&info.signo()) {
        THREAD_PENDING.lock().entry(tid).or_default().push(info);
        super::scheduler::notify();
    }
}

/// Whether a signal was sent to `p`'s process or to `p` since it last ran.
pub fn has_pending(p: &Process) -> bool {
    PENDING.lock().contains_key(&p.pid) || THREAD_PENDING.lock().contains_key(&p.tid)
}

/// What ends a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// SIGCONT.
    Continued,
    /// SIGKILL (the μprocess runs only to die).
    Killed,
}

/// Whether a signal that ends a stop was sent to the stopped `pid`.
pub fn resumes(pid: u32) -> Option<Resume> {
    let pending = PENDING.lock().get(&pid).map_or(0, Pending::bits);
    if pending & bit(SIGKILL) != 0 {
        Some(Resume::Killed)
    } else if pending & bit(SIGCONT) != 0 {
        Some(Resume::Continued)
    } else {
        None
    }
}

/// Wakes a wait `pid` may be blocked in, without a signal (a child changed
/// while SIGCHLD is not wanted).
pub fn nudge(pid: u32) {
    PENDING.lock().entry(pid).or_default();
    super::scheduler::notify();
}

/// If the signal that would interrupt `p`'s blocked call only stops it
/// (job control), takes that signal: the call resumes after SIGCONT.
pub fn take_stop(p: &mut Process) -> Option<u8> {
    let signal = interrupting(p)?;
    let handler = p.group.lock().actions[usize::from(signal) - 1][0];
    let stops = signal == SIGSTOP || (handler == 0 && default_action(signal) == Default::Stop);
    if !stops {
        return None;
    }
    take(p, bit(signal));
    Some(signal)
}

/// Moves signals sent to `p`'s process and to `p` while it was not running
/// into its group's queue and its own.
pub fn collect(p: &mut Process) {
    let sent = PENDING.lock().remove(&p.pid);
    if let Some(sent) = sent {
        p.group.lock().pending.append(sent);
    }
    let sent = THREAD_PENDING.lock().remove(&p.tid);
    if let Some(sent) = sent {
        p.pending.append(sent);
    }
}

/// The signals pending for `p`: its own and its process's.
pub fn pending_bits(p: &Process) -> u64 {
    p.pending.bits() | p.group.lock().pending.bits()
}

/// Takes the lowest pending signal in `set`, the thread's own first.
pub fn take(p: &mut Process, set: u64) -> Option<SigInfo> {
    p.pending.take(set).or_else(|| p.group.lock().pending.take(set))
}

/// Drops the pending signals in `set`, the thread's and its process's.
pub fn discard(p: &mut Process, set: u64) {
    p.pending.discard(set);
    p.group.lock().pending.discard(set);
}

/// Forgets signals sent to an ended μprocess.
pub fn forget(pid: u32) {
    PENDING.lock().remove(&pid);
    TIMERS.lock().remove(&pid);
}

/// Forgets signals sent to an ended thread.
pub fn forget_thread(tid: u32) {
    THREAD_PENDING.lock().remove(&tid);
}

/// What a signal does by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Default {
    Terminate,
    Core,
    Ignore,
    Stop,
    Continue,
}

fn default_action(signal: u8) -> Default {
    match signal {
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ | SIGSYS => Default::Core,
        SIGCHLD | SIGURG | SIGWINCH => Default::Ignore,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => Default::Stop,
        SIGCONT => Default::Continue,
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
    /// The μprocess stops (job control) because of this signal.
    Stop(u8),
    /// The μprocess ends.
    Exit(Exit),
}

/// The signals `p` may receive now: those it does not block, and the ones
/// nothing blocks.
fn deliverable(p: &Process) -> u64 {
    pending_bits(p) & (!p.signal_mask | UNBLOCKABLE) & !p.waited_signals
}

/// The pending signal that interrupts a blocked call, if any: one with a
/// handler, or one whose default action ends or stops the μprocess.
/// Ignored signals (SIG_IGN, or ignored by default like SIGCHLD) do not
/// interrupt; signals sigtimedwait waits for are its to take.
pub fn interrupting(p: &Process) -> Option<u8> {
    let set = deliverable(p);
    if set == 0 {
        return None;
    }
    let actions = p.group.lock().actions;
    (1..=64u8).filter(|&s| set & bit(s) != 0).find(|&signal| {
        let handler = actions[usize::from(signal) - 1][0];
        signal == SIGKILL
            || signal == SIGSTOP
            || handler > SIG_IGN
            || (handler == 0 && matches!(default_action(signal), Default::Terminate | Default::Core | Default::Stop))
    })
}

/// Delivers the next deliverable signal: ignores it, stops or ends the
/// μprocess, or builds the frame that runs its handler. `saved_mask` is the
/// mask the handler's return restores (sigsuspend passes the one it
/// replaced).
pub fn deliver(p: &mut Process, saved_mask: Option<u64>) -> Result<Delivery, Errno> {
    loop {
        let set = deliverable(p);
        let Some(info) = take(p, set) else { break };
        let signal = info.signo();
        let [handler, flags, restorer, mask] = p.group.lock().actions[usize::from(signal) - 1];
        if signal == SIGKILL {
            return Ok(Delivery::Exit(Exit::Signal(signal)));
        }
        if signal == SIGSTOP {
            return Ok(Delivery::Stop(signal));
        }
        match handler {
            SIG_IGN => continue,
            0 => match default_action(signal) {
                Default::Terminate => return Ok(Delivery::Exit(Exit::Signal(signal))),
                Default::Core => return Ok(Delivery::Exit(Exit::CoreDump(signal))),
                Default::Stop => return Ok(Delivery::Stop(signal)),
                Default::Ignore | Default::Continue => continue,
            },
            _ => {
                build_frame(p, &info, handler, flags, restorer, saved_mask.unwrap_or(p.signal_mask))?;
                let mut blocked = p.signal_mask | mask;
                if flags & SA_NODEFER == 0 {
                    blocked |= bit(signal);
                }
                p.signal_mask = blocked & !UNBLOCKABLE;
                if flags & SA_RESETHAND != 0 {
                    p.group.lock().actions[usize::from(signal) - 1] = [0; 4];
                }
                return Ok(Delivery::Handler { restart: flags & SA_RESTART != 0 });
            }
        }
    }
    Ok(Delivery::Nothing)
}

/// Whether `signal`, raised by a fault, reaches a handler (else the fault
/// ends the μprocess, as Linux's force_sig does for blocked or ignored
/// fault signals). Queues it when it does.
pub fn raise_fault(p: &mut Process, info: SigInfo) -> bool {
    let signal = info.signo();
    let handled = p.group.lock().actions[usize::from(signal) - 1][0] > SIG_IGN && p.signal_mask & bit(signal) == 0;
    if handled {
        p.pending.push(info);
    }
    handled
}

/// Tells `parent` that its child stopped, continued or ended: SIGCHLD with
/// `info`, unless its SIGCHLD action declines stops and continues
/// (SA_NOCLDSTOP); a wait it is blocked in wakes either way.
pub fn notify_parent(parent: u32, parent_group: &ThreadGroup, info: SigInfo) {
    let [_, flags, _, _] = parent_group.lock().actions[usize::from(SIGCHLD) - 1];
    let stop_or_continue = matches!(info.code(), code::CLD_STOPPED | code::CLD_CONTINUED);
    if stop_or_continue && flags & SA_NOCLDSTOP != 0 {
        nudge(parent);
    } else {
        send(parent, info);
    }
}

/// Whether the children of the process whose group is `parent_group` are
/// reaped as they end (SIGCHLD set to SIG_IGN, or SA_NOCLDWAIT): they leave
/// no zombie.
pub fn reaps_automatically(parent_group: &ThreadGroup) -> bool {
    let [handler, flags, _, _] = parent_group.lock().actions[usize::from(SIGCHLD) - 1];
    handler == SIG_IGN || flags & SA_NOCLDWAIT != 0
}

/// The alternate signal stack (sigaltstack).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AltStack {
    /// Its lowest address.
    pub base: u64,
    /// Its size in bytes (0: none).
    pub size: u64,
    /// SS_AUTODISARM: cleared while a handler runs on it.
    pub auto_disarm: bool,
}

const SS_ONSTACK: i32 = 1;
const SS_DISABLE: i32 = 2;
const SS_AUTODISARM: u32 = 1 << 31;
/// The smallest alternate stack (MINSIGSTKSZ on arm64).
const MINSIGSTKSZ: u64 = 5120;

impl AltStack {
    /// Whether `sp` lies on it.
    pub fn holds(&self, sp: u64) -> bool {
        self.size != 0 && sp > self.base && sp - self.base <= self.size
    }

    /// `stack_t` as sigaltstack and uc_stack report it for a μprocess at `sp`.
    fn encode(&self, sp: u64) -> [u8; 24] {
        let flags = if self.holds(sp) {
            SS_ONSTACK
        } else if self.size == 0 {
            SS_DISABLE
        } else {
            0
        };
        let flags = flags as u32 | if self.auto_disarm { SS_AUTODISARM } else { 0 };
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&self.base.to_le_bytes());
        out[8..12].copy_from_slice(&flags.to_le_bytes());
        out[16..].copy_from_slice(&self.size.to_le_bytes());
        out
    }

    /// A `stack_t` as sigaltstack takes it.
    fn decode(bytes: &[u8; 24]) -> Result<AltStack, Errno> {
        let base = u64::from_le_bytes(bytes[..8].try_into().unwrap_or_default());
        let flags = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default());
        let size = u64::from_le_bytes(bytes[16..].try_into().unwrap_or_default());
        let auto_disarm = flags & SS_AUTODISARM != 0;
        match (flags & !SS_AUTODISARM) as i32 {
            SS_DISABLE => Ok(AltStack::default()),
            0 | SS_ONSTACK if size < MINSIGSTKSZ => Err(Errno::ENOMEM),
            0 | SS_ONSTACK => Ok(AltStack { base, size, auto_disarm }),
            _ => Err(Errno::EINVAL),
        }
    }
}

/// sigaltstack(ss, old_ss): EPERM while running on it.
pub fn sigaltstack(p: &mut Process, new: UserAddr, old: UserAddr) -> Result<u64, Errno> {
    let requested = if new.is_null() {
        None
    } else {
        let mut bytes = [0u8; 24];
        p.space.lock().read_bytes(new, &mut bytes)?;
        Some(bytes)
    };
    if !old.is_null() {
        let current = p.altstack.encode(p.context.sp);
        p.space.lock().write_bytes(old, &current)?;
    }
    if let Some(bytes) = requested {
        if p.altstack.holds(p.context.sp) {
            return Err(Errno::EPERM);
        }
        p.altstack = AltStack::decode(&bytes)?;
    }
    Ok(0)
}

// struct rt_sigframe layout (arm64): siginfo (128), ucontext: uc_flags,
// uc_link, uc_stack (24), uc_sigmask (8) + padding to 128 bytes of mask,
// sigcontext (aligned 16): fault_address, regs[31], sp, pc, pstate,
// __reserved[4096] holding the FP/SIMD record and a terminator; then the
// frame record {fp, lr}.
const UC: u64 = 128;
const UC_STACK: u64 = UC + 16;
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

fn build_frame(p: &mut Process, info: &SigInfo, handler: u64, flags: u64, restorer: u64, saved_mask: u64) -> Result<(), Errno> {
    let on_alternate = flags & SA_ONSTACK != 0 && p.altstack.size != 0 && !p.altstack.holds(p.context.sp);
    let top = if on_alternate { p.altstack.base + p.altstack.size } else { p.context.sp };
    let sp = (top - FRAME_SIZE - 16) & !15;
    let mut frame = alloc::vec![0u8; (FRAME_SIZE + 16) as usize];
    let put = |frame: &mut [u8], at: u64, bytes: &[u8]| frame[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    put(&mut frame, 0, info.bytes());
    put(&mut frame, UC_STACK, &p.altstack.encode(p.context.sp));
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
    p.space.lock().write_bytes(UserAddr::new(sp), &frame)?;
    if on_alternate && p.altstack.auto_disarm {
        p.altstack = AltStack::default();
    }
    p.context.x[0] = u64::from(info.signo());
    p.context.x[1] = sp;
    p.context.x[2] = sp + UC;
    p.context.x[29] = sp + FRAME_RECORD;
    p.context.x[30] = if flags & SA_RESTORER != 0 { restorer } else { crate::vdso::sigreturn() };
    p.context.sp = sp;
    p.context.pc = handler;
    Ok(())
}

/// rt_sigreturn: restores the registers, FP/SIMD state, signal mask and
/// alternate stack the frame at the stack pointer holds. A frame that
/// cannot be read kills the μprocess with SIGSEGV.
pub fn sigreturn(p: &mut Process) -> Result<(), Exit> {
    let sp = p.context.sp;
    let mut frame = alloc::vec![0u8; FRAME_SIZE as usize];
    p.space.lock().read_bytes(UserAddr::new(sp), &mut frame).map_err(|_| Exit::CoreDump(SIGSEGV))?;
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
    p.signal_mask = get(UC_SIGMASK) & !UNBLOCKABLE;
    let stack: [u8; 24] = frame[UC_STACK as usize..UC_STACK as usize + 24].try_into().unwrap_or([0; 24]);
    // As Linux's restore_altstack: a stack the frame cannot give back
    // (running on it, or invalid) leaves the current one.
    if !p.altstack.holds(p.context.sp)
        && let Ok(altstack) = AltStack::decode(&stack)
    {
        p.altstack = altstack;
    }
    Ok(())
}

/// Who may receive a signal from kill(2).
pub fn targets_of_kill(p: &Process, pid: i32) -> Vec<u32> {
    let targets: Vec<u32> = match pid {
        pid if pid > 0 => alloc::vec![pid as u32],
        0 => super::table::members(super::table::group_of(p.pid).unwrap_or(p.pid)),
        -1 => super::table::live().into_iter().filter(|&t| t != 1 && t != p.pid).collect(),
        _ => super::table::members(pid.unsigned_abs()),
    };
    let live = super::table::live();
    targets.into_iter().filter(|t| live.contains(t) || *t == p.pid).collect()
}

/// Sends `info` to each of `targets` (0 as a signal number only checks
/// they exist): ESRCH if there is none.
pub fn send_to(p: &mut Process, targets: &[u32], info: SigInfo) -> Result<u64, Errno> {
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    if info.signo() == 0 {
        return Ok(0);
    }
    for &target in targets {
        if target == p.pid {
            p.group.lock().pending.push(info);
        } else {
            send(target, info);
        }
    }
    Ok(0)
}

/// Sends `info` to thread `tid` (tkill, tgkill, rt_tgsigqueueinfo; 0 as a
/// signal number only checks it exists).
pub fn send_to_thread_of(p: &mut Process, tid: u32, info: SigInfo) -> Result<u64, Errno> {
    if info.signo() == 0 {
        return Ok(0);
    }
    if tid == p.tid {
        p.pending.push(info);
    } else {
        send_to_thread(tid, info);
    }
    Ok(0)
}

/// kill(pid, signal): to one μprocess (pid > 0), the caller's group (0),
/// group -pid (< -1), or every μprocess but pid 1 and the caller (-1).
pub fn kill(p: &mut Process, pid: i32, signal: u64, code: i32) -> Result<u64, Errno> {
    let signal = u8::try_from(signal).ok().filter(|&s| s <= 64).ok_or(Errno::EINVAL)?;
    if pid == i32::MIN {
        return Err(Errno::ESRCH);
    }
    let targets = targets_of_kill(p, pid);
    let info = SigInfo::from_process(signal, code, p.pid, p.credentials.uid[0]);
    send_to(p, &targets, info)
}

/// Who a signal goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A process, or the processes kill(2)'s pid argument names.
    Process(i32),
    /// One thread (tkill, tgkill, rt_tgsigqueueinfo), known to live.
    Thread(u32),
}

/// tkill and tgkill: `signal` (0 only checks) to thread `tid`, SI_TKILL.
pub fn kill_thread(p: &mut Process, tid: u32, signal: u64) -> Result<u64, Errno> {
    let signal = u8::try_from(signal).ok().filter(|&s| s <= 64).ok_or(Errno::EINVAL)?;
    let info = SigInfo::from_process(signal, code::SI_TKILL, p.pid, p.credentials.uid[0]);
    send_to_thread_of(p, tid, info)
}

/// rt_sigqueueinfo(pid, signal, info) and rt_tgsigqueueinfo: `info` as the
/// caller wrote it; to another μprocess only with a negative si_code (not
/// SI_TKILL), so that nobody poses as the kernel.
pub fn queue_info(p: &mut Process, target: Target, signal: u64, at: UserAddr) -> Result<u64, Errno> {
    let signal = u8::try_from(signal).ok().filter(|&s| (1..=64).contains(&s)).ok_or(Errno::EINVAL)?;
    let mut bytes = [0u8; 128];
    p.space.lock().read_bytes(at, &mut bytes)?;
    let info = SigInfo::from_bytes(signal, bytes);
    let pid = match target {
        Target::Process(pid) if pid <= 0 => return Err(Errno::ESRCH),
        Target::Process(pid) => pid as u32,
        Target::Thread(tid) => super::group::group_of_thread(tid).ok_or(Errno::ESRCH)?,
    };
    if pid != p.pid && (info.code() >= 0 || info.code() == code::SI_TKILL) {
        return Err(Errno::EPERM);
    }
    match target {
        Target::Process(pid) => send_to(p, &targets_of_kill(p, pid), info),
        Target::Thread(tid) => send_to_thread_of(p, tid, info),
    }
}

/// An interval timer: when it next fires and how often after that (ns; 0:
/// once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timer {
    /// ITIMER_REAL: the monotonic time it fires at; ITIMER_VIRTUAL and
    /// ITIMER_PROF: the CPU time left until it fires. 0: disarmed.
    pub value: u64,
    /// The reload value.
    pub interval: u64,
}

/// Armed ITIMER_REAL timers by pid.
static TIMERS: Mutex<BTreeMap<u32, Timer>> = Mutex::new(BTreeMap::new());

/// `pid`'s ITIMER_REAL.
pub fn real_timer(pid: u32) -> Timer {
    TIMERS.lock().get(&pid).copied().unwrap_or_default()
}

/// Sets `pid`'s ITIMER_REAL (disarms it when `timer.value` is 0).
pub fn set_real_timer(pid: u32, timer: Timer) {
    let mut timers = TIMERS.lock();
    if timer.value == 0 {
        timers.remove(&pid);
    } else {
        timers.insert(pid, timer);
    }
}

/// Sends SIGALRM for every ITIMER_REAL that is due at `now`.
pub fn fire_real_timers(now: u64) {
    let mut timers = TIMERS.lock();
    let due: Vec<u32> = timers.iter().filter(|(_, t)| t.value <= now).map(|(&pid, _)| pid).collect();
    for pid in due {
        send(pid, SigInfo::kernel(SIGALRM));
        match timers.get_mut(&pid) {
            Some(timer) if timer.interval != 0 => timer.value = now + timer.interval,
            _ => {
                timers.remove(&pid);
            }
        }
    }
}

/// Charges `ns` of CPU time to `timer` (ITIMER_VIRTUAL or ITIMER_PROF);
/// whether it fired.
pub fn charge(timer: &mut Timer, ns: u64) -> bool {
    if timer.value == 0 {
        return false;
    }
    if timer.value > ns {
        timer.value -= ns;
        return false;
    }
    timer.value = timer.interval;
    true
}
