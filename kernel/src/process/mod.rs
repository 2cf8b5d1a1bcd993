//! μprocesses: creation from an ELF file, the loop that runs one at EL0 and
//! handles its traps (system calls, faults, interrupts), and how it ends.

pub mod futex;
pub mod group;
pub mod info;
pub mod scheduler;
pub mod signals;
pub mod space;
pub mod table;

use crate::files::ProgramImage;
use crate::platform;
use uprocess::areas::{AreaKind, Backing, NamedFile, PAGE};
use uprocess::context::{Access, Fault, IsolationContext};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use group::{Shared, ThreadGroup, shared};
use alloc::vec::Vec;
use arch_morello::cpu;
use arch_morello::user::{Trap, UserContext, exception_class, run_user};
use loader::{AddressSpace, Protection};
use posix_shim::Errno;
use posix_shim::user::{UserAddr, UserMemory};
use signals::{SigInfo, code};
use space::{STACK_RESERVE, STACK_TOP};

/// Linux's signal numbers (arm64).
pub mod signal {
    /// SIGHUP.
    pub const SIGHUP: u8 = 1;
    /// SIGINT.
    pub const SIGINT: u8 = 2;
    /// SIGQUIT.
    pub const SIGQUIT: u8 = 3;
    /// SIGILL.
    pub const SIGILL: u8 = 4;
    /// SIGTRAP.
    pub const SIGTRAP: u8 = 5;
    /// SIGABRT.
    pub const SIGABRT: u8 = 6;
    /// SIGBUS.
    pub const SIGBUS: u8 = 7;
    /// SIGFPE.
    pub const SIGFPE: u8 = 8;
    /// SIGKILL.
    pub const SIGKILL: u8 = 9;
    /// SIGUSR1.
    pub const SIGUSR1: u8 = 10;
    /// SIGSEGV.
    pub const SIGSEGV: u8 = 11;
    /// SIGUSR2.
    pub const SIGUSR2: u8 = 12;
    /// SIGPIPE.
    pub const SIGPIPE: u8 = 13;
    /// SIGALRM.
    pub const SIGALRM: u8 = 14;
    /// SIGTERM.
    pub const SIGTERM: u8 = 15;
    /// SIGSTKFLT.
    pub const SIGSTKFLT: u8 = 16;
    /// SIGCHLD.
    pub const SIGCHLD: u8 = 17;
    /// SIGCONT.
    pub const SIGCONT: u8 = 18;
    /// SIGSTOP.
    pub const SIGSTOP: u8 = 19;
    /// SIGTSTP.
    pub const SIGTSTP: u8 = 20;
    /// SIGTTIN.
    pub const SIGTTIN: u8 = 21;
    /// SIGTTOU.
    pub const SIGTTOU: u8 = 22;
    /// SIGURG.
    pub const SIGURG: u8 = 23;
    /// SIGXCPU.
    pub const SIGXCPU: u8 = 24;
    /// SIGXFSZ.
    pub const SIGXFSZ: u8 = 25;
    /// SIGVTALRM.
    pub const SIGVTALRM: u8 = 26;
    /// SIGPROF.
    pub const SIGPROF: u8 = 27;
    /// SIGWINCH.
    pub const SIGWINCH: u8 = 28;
    /// SIGIO.
    pub const SIGIO: u8 = 29;
    /// SIGPWR.
    pub const SIGPWR: u8 = 30;
    /// SIGSYS.
    pub const SIGSYS: u8 = 31;
}

/// How a μprocess ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// exit/exit_group with this status (the low 8 bits).
    Status(u8),
    /// Killed by this signal.
    Signal(u8),
    /// Killed by this signal, whose default action dumps core (no core
    /// file is written; wait reports the core bit).
    CoreDump(u8),
}

impl Exit {
    /// The status a shell reports: the exit status, or 128 + the signal.
    pub fn shell_status(self) -> u32 {
        match self {
            Exit::Status(code) => u32::from(code),
            Exit::Signal(signal) | Exit::CoreDump(signal) => 128 + u32::from(signal),
        }
    }

    /// The status wait4 reports (WEXITSTATUS, WTERMSIG, WCOREDUMP).
    pub fn wait_status(self) -> u32 {
        match self {
            Exit::Status(code) => u32::from(code) << 8,
            Exit::Signal(signal) => u32::from(signal),
            Exit::CoreDump(signal) => u32::from(signal) | 0x80,
        }
    }

    /// SIGCHLD's si_code and si_status for this end.
    pub fn child_code(self) -> (i32, i32) {
        use signals::code::{CLD_DUMPED, CLD_EXITED, CLD_KILLED};
        match self {
            Exit::Status(code) => (CLD_EXITED, i32::from(code)),
            Exit::Signal(signal) => (CLD_KILLED, i32::from(signal)),
            Exit::CoreDump(signal) => (CLD_DUMPED, i32::from(signal)),
        }
    }
}

/// What running a μprocess for a while led to.
#[derive(Debug)]
pub enum Event {
    /// It ended.
    Exit(Exit),
    /// Its system call would block; the call runs again when it is next
    /// scheduled.
    Blocked,
    /// The call it was blocked in ran again and would still block: nothing
    /// else happened.
    StillBlocked,
    /// Its time slice ran out.
    Preempted,
    /// It created this child (fork, vfork, clone for a process).
    Forked(Box<Process>),
    /// It created this thread (clone with CLONE_THREAD).
    NewThread(Box<Process>),
    /// This thread ended (exit, or another thread's execve); the group goes
    /// on unless it was its last thread (then it ends with this status).
    ThreadExit(u8),
    /// A signal stopped it (job control) until SIGCONT or SIGKILL.
    Stopped(u8),
}

/// The program break: the heap area that brk grows and shrinks.
#[derive(Debug, Clone, Copy)]
pub struct ProgramBreak {
    /// Where the heap starts (the page after the program's last segment).
    pub start: u64,
    /// The current break.
    pub current: u64,
}

/// One thread of a μprocess (a single-threaded μprocess is one of these).
#[derive(Debug)]
pub struct Process {
    /// Process id: the thread group's (getpid).
    pub pid: u32,
    /// Thread id (gettid): the pid for the group's first thread.
    pub tid: u32,
    /// What its group's threads share.
    pub group: Arc<ThreadGroup>,
    /// Its view of memory, shared by the group's threads.
    pub space: Shared<Space>,
    /// Its saved registers.
    pub context: UserContext,
    /// The command name (prctl PR_SET_NAME, /proc/PID/comm).
    pub name: Vec<u8>,
    /// set_tid_address's pointer, cleared (and woken as a futex) at exit.
    pub clear_child_tid: u64,
    /// set_robust_list's list head, walked at exit.
    pub robust_list: u64,
    /// Blocked signals (rt_sigprocmask).
    pub signal_mask: u64,
    /// The files it has open, its cwd and umask.
    pub files: Shared<crate::files::FileState>,
    /// Real, effective and saved user and group ids, and the groups.
    pub credentials: Credentials,
    /// PR_SET_DUMPABLE.
    pub dumpable: bool,
    /// The cores it may run on (sched_setaffinity), one bit per core.
    pub affinity: u64,
    /// The core it last ran on (meaningful once `ran`).
    pub core: usize,
    /// Whether it has run yet.
    pub ran: bool,
    /// When it started (monotonic ns), for its CPU-time clocks.
    pub started_ns: u64,
    /// Its system call is waiting to be run again (it would have blocked).
    pub in_blocked_call: bool,
    /// When a sleep in progress ends (monotonic ns).
    pub sleep_deadline: Option<u64>,
    /// What can end the blocked call, so that the scheduler need not run it
    /// again before.
    pub wakeup: Wakeup,
    /// A signal stopped it (job control) and SIGCONT has not come yet.
    pub stopped: bool,
    /// The program's absolute path (/proc/PID/exe).
    pub exe: Vec<u8>,
    /// argv, each argument NUL-terminated (/proc/PID/cmdline).
    pub cmdline: Vec<u8>,
    /// envp, each entry NUL-terminated (/proc/PID/environ).
    pub environ: Vec<u8>,
    /// Signals sent to this thread and not yet delivered.
    pub pending: signals::Pending,
    /// The signals rt_sigtimedwait waits for (not delivered meanwhile).
    pub waited_signals: u64,
    /// The alternate signal stack.
    pub altstack: signals::AltStack,
    /// ITIMER_VIRTUAL and ITIMER_PROF.
    pub cpu_timers: [signals::Timer; 2],
    /// CPU time used, its own and its reaped children's.
    pub cpu: CpuTime,
    /// The mask rt_sigsuspend replaced, restored when a handler returns.
    pub suspended_mask: Option<u64>,
}

/// CPU time a μprocess used (ns): at EL0 (user), in its system calls and
/// faults (system), and the same for the children it reaped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// At EL0.
    pub user: u64,
    /// In the kernel on its behalf.
    pub system: u64,
    /// Reaped children's (and their reaped children's) user time.
    pub children_user: u64,
    /// Reaped children's system time.
    pub children_system: u64,
}

impl Process {
    /// The CPU time of its whole process: its own thread's, its live
    /// siblings' (as of their last time slice), its ended threads', and
    /// the children they reaped.
    pub fn process_cpu(&self) -> CpuTime {
        let (user, system) = group::live_threads_cpu(self.pid, self.tid).unwrap_or_default();
        let mut total = self.group.lock().cpu;
        total.add(self.cpu);
        total.add(CpuTime { user, system, ..CpuTime::default() });
        total
    }
}

impl CpuTime {
    /// Adds another thread's or process's time.
    pub fn add(&mut self, other: CpuTime) {
        self.user += other.user;
        self.system += other.system;
        self.children_user += other.children_user;
        self.children_system += other.children_system;
    }
}

/// Strings joined with a NUL after each, as /proc shows argv and envp.
fn nul_joined(strings: &[Vec<u8>]) -> Vec<u8> {
    strings.iter().flat_map(|s| s.iter().copied().chain([0])).collect()
}

/// Who a μprocess acts as.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Real, effective, saved user id.
    pub uid: [u32; 3],
    /// Real, effective, saved group id.
    pub gid: [u32; 3],
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

impl Credentials {
    /// The identity file operations check: real and effective ids.
    pub fn for_files(&self) -> posix_shim::vfs::Credentials {
        posix_shim::vfs::Credentials {
            ruid: self.uid[0],
            rgid: self.gid[0],
            euid: self.uid[1],
            egid: self.gid[1],
            groups: self.groups.clone(),
        }
    }
}

/// Linux's default limits for init (RLIM_INFINITY is all ones).
const DEFAULT_LIMITS: [[u64; 2]; 16] = {
    const INF: u64 = u64::MAX;
    let mut limits = [[INF, INF]; 16];
    limits[3] = [8 * 1024 * 1024, INF]; // RLIMIT_STACK
    limits[4] = [0, INF]; // RLIMIT_CORE
    limits[6] = [4096, 4096]; // RLIMIT_NPROC
    limits[7] = [1024, 1024 * 1024]; // RLIMIT_NOFILE
    limits[8] = [8 * 1024 * 1024, 8 * 1024 * 1024]; // RLIMIT_MEMLOCK
    limits[11] = [4096, 4096]; // RLIMIT_SIGPENDING
    limits[12] = [819_200, 819_200]; // RLIMIT_MSGQUEUE
    limits[14] = [0, 0]; // RLIMIT_RTPRIO
    limits
};

/// The μprocess's memory as the syscall layer sees it.
impl UserMemory for Space {
    fn read_bytes(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        IsolationContext::read(self, addr.value(), buf, false)
    }

    fn write_bytes(&mut self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        IsolationContext::write(self, addr.value(), data, Access::Write)
    }
}

/// The loader's view of a fresh μprocess.
impl AddressSpace for Space {
    type File = NamedFile;

    fn map_zeroed(&mut self, start: u64, len: u64, prot: Protection) -> Result<(), Errno> {
        self.map(start, len, prot, AreaKind::Private, None)
    }

    fn map_stack(&mut self, start: u64, len: u64, prot: Protection) -> Result<(), Errno> {
        self.map(start, len, prot, AreaKind::Stack, None)
    }

    /// The file's pages are mapped copy-on-write (every μprocess running a
    /// program shares its pages with the file until it writes one); the
    /// tail of a last partial page is zeroed in a copy of its own.
    fn map_file(&mut self, start: u64, file: &Self::File, _image: &[u8], offset: u64, len: u64) -> Result<(), Errno> {
        let pages = len.next_multiple_of(PAGE);
        let area = self.areas().find(start).cloned().ok_or(Errno::EFAULT)?;
        if start + pages > area.end {
            return Err(Errno::EFAULT);
        }
        self.unmap(start, pages)?;
        let backing = Backing { file: file.clone(), offset, shared: false };
        self.map(start, pages, area.protection, area.kind, Some(backing))?;
        if len < pages {
            let tail = (pages - len) as usize;
            IsolationContext::write(self, start + len, &alloc::vec![0u8; tail], Access::Load)?;
        }
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        IsolationContext::write(self, addr, data, Access::Load)
    }

    fn find_free(&self, hint: u64, len: u64) -> Result<u64, Errno> {
        let len = len.next_multiple_of(PAGE);
        let free_at_hint = (hint..hint.saturating_add(len))
            .step_by(PAGE as usize)
            .all(|page| self.areas().find(page).is_none());
        if hint >= space::MMAP_MIN && free_at_hint && hint.saturating_add(len) <= space::MMAP_TOP {
            return Ok(hint);
        }
        IsolationContext::find_free(self, len, space::MMAP_TOP).ok_or(Errno::ENOMEM)
    }
}

/// The isolation context μprocesses run in: the paged one, for every
/// AArch64 program. The process layer uses it only through
/// [`IsolationContext`] (and the loader's and system calls' memory traits).
pub type Space = space::PagedContext;

/// What can end a blocked system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    /// A change of readiness (a pipe, an eventfd, the console: see
    /// [`posix_shim::readiness`]) since the call saw `seen` changes, a
    /// signal, or its sleep deadline (ppoll's, pselect's timeout).
    Readiness {
        /// The count of changes when the call last ran.
        seen: u64,
    },
    /// Only a signal, or the monotonic clock reaching the deadline if there
    /// is one (sleeps, sigsuspend, wait for a child, whose end sends
    /// SIGCHLD).
    SignalOr(Option<u64>),
    /// A futex wake, a signal, or the deadline if there is one.
    Futex(Option<u64>),
    /// The group's other threads ending (execve), or a signal.
    OtherThreadsEnded,
}

impl Process {
    /// Whether its blocked call may finish now (`now` in monotonic ns): a
    /// signal was sent to it, one it holds may interrupt the call or is
    /// one sigtimedwait waits for, the deadline passed, or (for a call
    /// waiting on files) something became ready.
    pub fn may_wake(&self, now: u64) -> bool {
        let signalled = signals::has_pending(self)
            || self.pending.bits() & self.waited_signals != 0
            || signals::interrupting(self).is_some();
        signalled
            || self.ending().is_some()
            || match self.wakeup {
                Wakeup::Readiness { seen } => {
                    posix_shim::readiness::changes() != seen || self.sleep_deadline.is_some_and(|d| now >= d)
                }
                Wakeup::SignalOr(deadline) => deadline.is_some_and(|d| now >= d),
                Wakeup::Futex(deadline) => futex::woken(self.tid) || deadline.is_some_and(|d| now >= d),
                Wakeup::OtherThreadsEnded => self.group.lock().threads.len() == 1,
            }
    }
}

/// Hardware capabilities reported in AT_HWCAP: FP, ASIMD, EVTSTRM, CPUID
/// (what Linux reports for a Cortex-A72 without crypto; the census lists
/// glibc's use of HWCAP_CPUID).
const HWCAP: u64 = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 11);

impl Process {
    /// Loads `exe` (the file at `path`) with `argv` and `envp` into a fresh
    /// view; the interpreter, if the program names one, is read with
    /// `read_interpreter`.
    pub fn spawn(
        pid: u32,
        path: &[u8],
        exe: &ProgramImage,
        argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
        files: crate::files::FileState,
        read_interpreter: &mut loader::ReadInterpreter<'_, NamedFile>,
    ) -> Result<Process, Errno> {
        let (cmdline, environ) = (nul_joined(&argv), nul_joined(&envp));
        let image = load_image(path, exe, argv, envp, &Credentials::default(), read_interpreter)?;
        let brk = ProgramBreak { start: image.brk_start, current: image.brk_start };
        let group = ThreadGroup::new(pid, [[0; 4]; 64], brk, DEFAULT_LIMITS);
        let context = UserContext::new(image.entry, image.sp);
        Ok(Process {
            name: command_name(path),
            exe: crate::files::absolute_path(&files_cwd_root(), path),
            cmdline,
            environ,
            ..Process::fresh(pid, pid, group, shared(image.space), shared(files), context)
        })
    }

    /// Thread `tid` of group `pid` (recorded as such), about to start at
    /// `context` with `space` and `files`, as root, nothing blocked,
    /// pending or used yet, no name or program.
    fn fresh(pid: u32, tid: u32, group: Arc<ThreadGroup>, space: Shared<Space>, files: Shared<crate::files::FileState>, context: UserContext) -> Process {
        group::add_thread(tid, pid);
        Process {
            pid,
            tid,
            group,
            space,
            context,
            name: Vec::new(),
            clear_child_tid: 0,
            robust_list: 0,
            signal_mask: 0,
            files,
            credentials: Credentials::default(),
            dumpable: true,
            affinity: u64::MAX,
            core: 0,
            ran: false,
            started_ns: arch_morello::timer::uptime_ns(),
            in_blocked_call: false,
            sleep_deadline: None,
            wakeup: Wakeup::SignalOr(None),
            stopped: false,
            exe: Vec::new(),
            cmdline: Vec::new(),
            environ: Vec::new(),
            pending: signals::Pending::default(),
            waited_signals: 0,
            altstack: signals::AltStack::default(),
            cpu_timers: [signals::Timer::default(); 2],
            cpu: CpuTime::default(),
            suspended_mask: None,
        }
    }

    /// Replaces the program (execve): a new view loaded from `exe`; the pid,
    /// files less the close-on-exec ones, cwd, credentials, signal mask and
    /// ignored signals stay; handled signals go back to their default. On
    /// error nothing has changed. The caller has ended the group's other
    /// threads ([`Process::end_other_threads`]); the thread takes over the
    /// group's id.
    pub fn exec(&mut self, found: crate::files::Executable, envp: Vec<Vec<u8>>) -> Result<(), Errno> {
        let crate::files::Executable { image: exe, argv, path, exe: exe_path } = found;
        let path = path.as_slice();
        let (cmdline, environ) = (nul_joined(&argv), nul_joined(&envp));
        let image = load_image(path, &exe, argv, envp, &self.credentials, &mut crate::files::read_interpreter)?;
        self.exe = exe_path;
        self.cmdline = cmdline;
        self.environ = environ;
        // The files were shared only with the threads that are gone now;
        // the view may have been shared with a vfork parent.
        self.space = shared(image.space);
        self.context = UserContext::new(image.entry, image.sp);
        self.name = command_name(path);
        self.clear_child_tid = 0;
        self.robust_list = 0;
        self.files.lock().fds.close_on_exec();
        self.suspended_mask = None;
        self.altstack = signals::AltStack::default();
        let mut group = self.group.lock();
        group.brk = ProgramBreak { start: image.brk_start, current: image.brk_start };
        group.ending = None;
        group.threads = alloc::vec![self.pid];
        for action in &mut group.actions {
            // SIG_DFL is 0 and SIG_IGN 1: handlers are addresses above them.
            if action[0] > 1 {
                *action = [0; 4];
            }
        }
        drop(group);
        if self.tid != self.pid {
            group::rename_thread(self.tid, self.pid);
            self.tid = self.pid;
        }
        Ok(())
    }

    /// A new thread `tid` of group `pid` (fork: a new group's first thread;
    /// clone: another thread of this one's), running where this one does
    /// with `space` and `files`, with this thread's signal mask, credentials
    /// and name; no pending signals, CPU time, timers or alternate stack.
    pub fn child(&self, pid: u32, tid: u32, group: Arc<ThreadGroup>, space: Shared<Space>, files: Shared<crate::files::FileState>) -> Process {
        Process {
            name: self.name.clone(),
            signal_mask: self.signal_mask,
            credentials: self.credentials.clone(),
            dumpable: self.dumpable,
            affinity: self.affinity,
            exe: self.exe.clone(),
            cmdline: self.cmdline.clone(),
            environ: self.environ.clone(),
            ..Process::fresh(pid, tid, group, space, files, self.context.clone())
        }
    }

    /// For execve: asks the group's other threads to end; true once they
    /// have (until then the call waits).
    pub fn end_other_threads(&mut self) -> bool {
        let mut group = self.group.lock();
        if group.threads.len() == 1 {
            if matches!(group.ending, Some(group::Ending::Exec(_))) {
                group.ending = None;
            }
            return true;
        }
        if group.ending.is_none() {
            group.ending = Some(group::Ending::Exec(self.tid));
            scheduler::kick_other_cores();
        }
        self.wakeup = Wakeup::OtherThreadsEnded;
        false
    }

    /// Whether its group is ending under it: exit_group or a fatal signal
    /// in another thread, or another thread's execve.
    fn ending(&self) -> Option<Event> {
        let group = self.group.lock();
        if let Some(signal) = group.stop {
            return Some(Event::Stopped(signal));
        }
        match group.ending? {
            group::Ending::Exit(exit) => Some(Event::Exit(exit)),
            group::Ending::Exec(tid) if tid != self.tid => Some(Event::ThreadExit(0)),
            group::Ending::Exec(_) => None,
        }
    }

    /// Runs the μprocess until its time slice ends, it blocks, forks or
    /// ends. A call that blocked before runs again first.
    pub fn run_slice(&mut self) -> Event {
        if let Some(end) = self.ending() {
            return end;
        }
        signals::collect(self);
        if self.in_blocked_call {
            if let Some(signal) = signals::take_stop(self) {
                return Event::Stopped(signal);
            }
            // A futex wait a wake already took returns 0; the signal is
            // delivered after it, as on Linux.
            if let Some(signal) = signals::interrupting(self)
                && !futex::woken(self.tid)
            {
                self.interrupt_blocked_call(signal);
            }
        }
        if self.in_blocked_call {
            cpu::enable_irqs();
            let started = arch_morello::timer::uptime_ns();
            let event = crate::syscall::handle(self);
            self.charge_system(started);
            match event {
                Some(Event::Blocked) => return Event::StillBlocked,
                Some(event) => {
                    self.in_blocked_call = false;
                    return event;
                }
                None => self.in_blocked_call = false,
            }
        }
        let core = cpu::core_id();
        let slice_start = platform::core_ticks(core);
        loop {
            signals::collect(self);
            let saved = self.suspended_mask.take();
            match signals::deliver(self, saved) {
                Ok(signals::Delivery::Exit(exit)) => return Event::Exit(exit),
                Ok(signals::Delivery::Stop(signal)) => {
                    self.suspended_mask = saved;
                    return Event::Stopped(signal);
                }
                Ok(signals::Delivery::Nothing) => self.suspended_mask = saved,
                Ok(signals::Delivery::Handler { .. }) => {}
                Err(_) => return Event::Exit(self.kill(signal::SIGSEGV, "cannot write a signal frame")),
            }
            cpu::disable_irqs();
            self.space.lock().activate();
            let entered = arch_morello::timer::uptime_ns();
            // SAFETY: TTBR0 holds this μprocess's view, which maps only its
            // own pages for EL0; IRQs are masked until the eret.
            let trap = unsafe { run_user(&mut self.context) };
            let trapped = arch_morello::timer::uptime_ns();
            self.charge_user(trapped - entered);
            match trap {
                Trap::Irq => {
                    platform::handle_irq();
                    if platform::core_ticks(core) != slice_start || self.ending().is_some() {
                        return Event::Preempted;
                    }
                }
                Trap::Other => return Event::Exit(self.kill(signal::SIGBUS, "SError or FIQ")),
                Trap::Synchronous => {
                    cpu::enable_irqs();
                    let event = self.synchronous_trap();
                    self.charge_system(trapped);
                    match event {
                        Some(Event::Blocked) => {
                            self.in_blocked_call = true;
                            return Event::Blocked;
                        }
                        Some(event) => return event,
                        None => {}
                    }
                }
            }
        }
    }

    /// Adds `ns` of EL0 time, which ITIMER_VIRTUAL and ITIMER_PROF count.
    fn charge_user(&mut self, ns: u64) {
        self.cpu.user += ns;
        for (timer, signal) in [(0, signal::SIGVTALRM), (1, signal::SIGPROF)] {
            if signals::charge(&mut self.cpu_timers[timer], ns) {
                self.pending.push(signals::SigInfo::kernel(signal));
            }
        }
    }

    /// Adds the kernel time since `since`, which ITIMER_PROF counts.
    fn charge_system(&mut self, since: u64) {
        let ns = arch_morello::timer::uptime_ns().saturating_sub(since);
        self.cpu.system += ns;
        if signals::charge(&mut self.cpu_timers[1], ns) {
            self.pending.push(signals::SigInfo::kernel(signal::SIGPROF));
        }
    }

    fn synchronous_trap(&mut self) -> Option<Event> {
        let esr = self.context.esr;
        let class = ((esr >> 26) & 0x3f) as u8;
        match class {
            exception_class::SVC64 => crate::syscall::handle(self),
            exception_class::DATA_ABORT_LOWER | exception_class::INSTRUCTION_ABORT_LOWER
                if !is_translation_fault(esr) && !is_copy_on_write_fault(class, esr) =>
            {
                let what = alloc::format!("{} at {:#x} (fault status {:#x})", fault_kind(esr), self.context.far, esr & 0x3f);
                self.fault(SigInfo::fault(signal::SIGSEGV, code::SEGV_ACCERR, self.context.far), &what)
            }
            exception_class::DATA_ABORT_LOWER | exception_class::INSTRUCTION_ABORT_LOWER => {
                let access = if class == exception_class::INSTRUCTION_ABORT_LOWER {
                    Access::Execute
                } else if esr & (1 << 6) != 0 {
                    Access::Write
                } else {
                    Access::Read
                };
                let address = self.context.far;
                let faulted = self.space.lock().fault_in(address, access);
                match faulted {
                    Ok(_) => None,
                    Err(Fault::OutOfMemory) if self.end_largest_instead() => Some(Event::Preempted),
                    Err(fault) => {
                        let reason = match fault {
                            Fault::Unmapped => "no mapping",
                            Fault::Forbidden => "access not permitted",
                            Fault::PastEndOfFile => "past the end of the mapped file",
                            Fault::OutOfMemory => "out of memory",
                        };
                        let what = alloc::format!("{reason} for {access:?} at {address:#x}");
                        let (signal, code) = match fault {
                            Fault::OutOfMemory | Fault::PastEndOfFile => (signal::SIGBUS, code::BUS_ADRERR),
                            Fault::Unmapped => (signal::SIGSEGV, code::SEGV_MAPERR),
                            Fault::Forbidden => (signal::SIGSEGV, code::SEGV_ACCERR),
                        };
                        self.fault(SigInfo::fault(signal, code, address), &what)
                    }
                }
            }
            exception_class::PC_ALIGNMENT | exception_class::SP_ALIGNMENT => {
                let address = if class == exception_class::PC_ALIGNMENT { self.context.far } else { self.context.sp };
                self.fault(SigInfo::fault(signal::SIGBUS, code::BUS_ADRALN, address), "misaligned PC or SP")
            }
            exception_class::BRK => self.fault(SigInfo::fault(signal::SIGTRAP, code::TRAP_BRKPT, self.context.pc), "breakpoint"),
            exception_class::UNKNOWN if self.emulate_id_register_read() => None,
            exception_class::FP => {
                self.fault(SigInfo::fault(signal::SIGFPE, code::FPE_FLTINV, self.context.pc), "floating-point exception")
            }
            _ => self.fault(SigInfo::fault(signal::SIGILL, code::ILL_ILLOPC, self.context.pc), "undefined instruction"),
        }
    }

    /// A handled or fatal `signal` arrived while a call waited: the call
    /// ends with EINTR, or runs again after the handler with SA_RESTART
    /// (never the waits Linux always interrupts: sigsuspend, ppoll, pselect,
    /// sigtimedwait, the sleeps).
    fn interrupt_blocked_call(&mut self, signal: u8) {
        let [handler, flags, _, _] = self.group.lock().actions[usize::from(signal) - 1];
        use posix_shim::syscall::numbers::Sysno;
        // Linux never restarts these after a handler (ERESTARTNOHAND).
        let never_restarted = [Sysno::rt_sigsuspend, Sysno::ppoll, Sysno::pselect6, Sysno::rt_sigtimedwait, Sysno::nanosleep, Sysno::clock_nanosleep]
            .iter()
            .any(|&call| self.context.x[8] == call as u64);
        if handler > 1 && flags & 0x1000_0000 != 0 && !never_restarted {
            self.context.pc -= 4;
        } else {
            self.context.x[0] = Errno::EINTR.as_return_value();
        }
        self.in_blocked_call = false;
        self.sleep_deadline = None;
        self.waited_signals = 0;
        futex::cancel(self.tid);
    }

    /// Emulates an EL0 `MRS Xt, <ID register>` (op0 = 3, op1 = 0, CRn = 0),
    /// which the hardware refuses at EL0 and Linux emulates (HWCAP_CPUID):
    /// glibc reads MIDR_EL1 this way. Returns whether it was one.
    fn emulate_id_register_read(&mut self) -> bool {
        let mut word = [0u8; 4];
        if self.space.lock().read(self.context.pc, &mut word, false).is_err() {
            return false;
        }
        let insn = u32::from_le_bytes(word);
        // MRS: 1101 0101 0011 op0<1> op1 CRn CRm op2 Rt, with op0 = 3.
        if insn & 0xffff_f000 != 0xd538_0000 {
            return false;
        }
        let (crm, op2, rt) = (((insn >> 8) & 0xf) as u8, ((insn >> 5) & 0x7) as u8, (insn & 0x1f) as usize);
        if rt != 31 {
            self.context.x[rt] = cpu::id_register_for_el0(crm, op2);
        }
        self.context.pc += 4;
        true
    }

    /// Out of memory on a page fault: as Linux's OOM killer, ends the
    /// μprocess that holds the most memory (SIGKILL) if that is another one,
    /// and returns true: the faulting access runs again once it is gone.
    fn end_largest_instead(&self) -> bool {
        match info::largest() {
            Some(victim) if victim != self.pid => {
                log::warn!("out of memory: pid {victim} killed so that pid {} can have a page", self.pid);
                signals::send(victim, SigInfo::kernel(signal::SIGKILL));
                true
            }
            _ => false,
        }
    }

    /// A fault raising `info`'s signal: delivered to its handler when there
    /// is one and the signal is not blocked, else the μprocess ends
    /// (reported).
    fn fault(&mut self, info: SigInfo, why: &str) -> Option<Event> {
        if signals::raise_fault(self, info) {
            return None;
        }
        Some(Event::Exit(self.kill(info.signo(), why)))
    }

    /// Ends the μprocess with `signal` (all of them dump core but
    /// SIGKILL), reporting why on the kernel console.
    pub fn kill(&mut self, signal: u8, why: &str) -> Exit {
        log::warn!(
            "pid {} ({}) killed by signal {signal}: {why}; pc {:#x}, sp {:#x}, ESR {:#x}",
            self.pid,
            String::from_utf8_lossy(&self.name),
            self.context.pc,
            self.context.sp,
            self.context.esr
        );
        if signal == signal::SIGKILL { Exit::Signal(signal) } else { Exit::CoreDump(signal) }
    }
}

/// Whether an abort's fault status (ESR bits 5:0) is a translation fault
/// (no page yet: demand paging handles it). Permission, access-flag and
/// Morello capability faults are not: pages are mapped with the access their
/// area allows, so those end the μprocess.
fn is_translation_fault(esr: u64) -> bool {
    (esr & 0x3c) == 0x04
}

/// A write permission fault from EL0: possibly a page shared copy-on-write
/// since a fork, which the fault handler gives its own copy (or ends the
/// μprocess if its area forbids writing).
fn is_copy_on_write_fault(class: u8, esr: u64) -> bool {
    class == exception_class::DATA_ABORT_LOWER && (esr & 0x3c) == 0x0c && esr & (1 << 6) != 0
}

fn fault_kind(esr: u64) -> &'static str {
    match esr & 0x3c {
        0x0c => "permission fault",
        0x08 => "access flag fault",
        0x28 => "capability fault",
        _ => "memory fault",
    }
}

/// The root directory, where the first μprocess's relative paths start.
fn files_cwd_root() -> alloc::sync::Arc<posix_shim::vfs::Inode> {
    crate::files::vfs().root()
}

/// A program loaded into a fresh view, ready to start.
struct LoadedImage {
    space: Space,
    entry: u64,
    sp: u64,
    brk_start: u64,
}

/// Loads `exe` and its interpreter into a new view with the initial stack
/// (argv, envp, auxv with the caller's ids) and an empty heap area.
fn load_image(
    path: &[u8],
    exe: &ProgramImage,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    credentials: &Credentials,
    read_interpreter: &mut loader::ReadInterpreter<'_, NamedFile>,
) -> Result<LoadedImage, Errno> {
    let mut space = Space::new()?;
    let program = loader::load_program(&exe.bytes, &exe.file, &mut space, read_interpreter)?;
    let mut random = [0u8; 16];
    crate::random::fill(&mut random);
    let info = loader::StartInfo {
        argv,
        envp,
        execfn: path.to_vec(),
        random,
        hwcap: HWCAP,
        hwcap2: 0,
        uid: credentials.uid[0],
        euid: credentials.uid[1],
        gid: credentials.gid[0],
        egid: credentials.gid[1],
        secure: false,
        clock_ticks: 100,
        minsigstksz: 5120,
        sysinfo_ehdr: Some(crate::vdso::map(&mut space)?),
    };
    let sp = loader::build_initial_stack(&mut space, loader::StackPlacement { top: STACK_TOP, size: STACK_RESERVE }, &program, &info)?;
    let brk_start = program.exe.brk_start;
    space.map(brk_start, PAGE, Protection::READ | Protection::WRITE, AreaKind::Heap, None)?;

    Ok(LoadedImage { space, entry: program.entry, sp, brk_start })
}

/// The command name (comm): the file name, at most 15 bytes.
fn command_name(path: &[u8]) -> Vec<u8> {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path).iter().copied().take(15).collect()
}

/// The μprocess ids handed out so far.
static NEXT_PID: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(1);

/// A fresh process id.
pub fn next_pid() -> u32 {
    NEXT_PID.fetch_add(1, core::sync::atomic::Ordering::Relaxed)
}

/// The platform's physical memory left, for diagnostics.
pub fn free_memory() -> u64 {
    crate::frames::free_bytes()
}
