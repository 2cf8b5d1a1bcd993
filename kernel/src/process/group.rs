//! Thread groups: what the threads of one μprocess share (signal
//! dispositions, process-directed pending signals, the program break,
//! resource limits, the CPU time of threads that ended) and which threads
//! it has. A [`Process`](super::Process) is one thread; its `pid` is the
//! group's id and its `tid` its own. The memory view and the open files are
//! shared through [`Shared`] handles of their own (clone shares them with
//! CLONE_VM and CLONE_FILES/CLONE_FS).
//!
//! Locking order: the scheduler, a thread group's state, the open files, a
//! memory view, the frame allocator. Locks taken against that order are
//! only tried (/proc asks the scheduler for a fresh snapshot while its
//! caller holds its own files and memory). No lock is held while a call
//! blocks (a blocked call returns and runs again later).

use super::signals::Pending;
use super::{CpuTime, Exit, ProgramBreak};
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use spin::{Mutex, MutexGuard};

/// State several threads use: one lock around it.
pub type Shared<T> = Arc<Mutex<T>>;

/// Wraps `value` for sharing.
pub fn shared<T>(value: T) -> Shared<T> {
    Arc::new(Mutex::new(value))
}

/// Why every thread of a group but one (or all) must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// exit_group or a fatal signal: all threads end, the group with this.
    Exit(Exit),
    /// execve in this thread: the others end, the group goes on.
    Exec(u32),
}

/// The state the threads of one μprocess share.
#[derive(Debug)]
pub struct GroupState {
    /// Signal dispositions as rt_sigaction set them: (handler, flags,
    /// restorer, mask) per signal 1..=64.
    pub actions: [[u64; 4]; 64],
    /// Signals sent to the process (kill), taken by whichever thread does
    /// not block them.
    pub pending: Pending,
    /// The program break.
    pub brk: ProgramBreak,
    /// Resource limits (soft, hard) by RLIMIT_* number.
    pub limits: [[u64; 2]; 16],
    /// The live threads' ids, the first the oldest.
    pub threads: Vec<u32>,
    /// Set when the threads must end.
    pub ending: Option<Ending>,
    /// Set while a signal stops the process (job control): every thread
    /// stops.
    pub stop: Option<u8>,
    /// How many of its threads have stopped since `stop` was set.
    pub stopped_threads: usize,
    /// CPU time of threads that ended, and of reaped children.
    pub cpu: CpuTime,
}

/// One μprocess's threads and what they share.
#[derive(Debug)]
pub struct ThreadGroup {
    state: Mutex<GroupState>,
}

impl ThreadGroup {
    /// A group of one thread, `tid`.
    pub fn new(tid: u32, actions: [[u64; 4]; 64], brk: ProgramBreak, limits: [[u64; 2]; 16]) -> Arc<ThreadGroup> {
        let state = GroupState {
            actions,
            pending: Pending::default(),
            brk,
            limits,
            threads: alloc::vec![tid],
            ending: None,
            stop: None,
            stopped_threads: 0,
            cpu: CpuTime::default(),
        };
        Arc::new(ThreadGroup { state: Mutex::new(state) })
    }

    /// Its state, locked.
    pub fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock()
    }

    /// Its state, if nobody holds it now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, GroupState>> {
        self.state.try_lock()
    }
}

/// Thread ids to their group's id, for tkill and tgkill.
static THREADS: Mutex<BTreeMap<u32, u32>> = Mutex::new(BTreeMap::new());
/// The CPU time (user, system ns) each live thread had used at the end of
/// its last time slice, with its group's id: what other threads' CPU-time
/// clocks and their process's totals read.
static THREAD_CPU: Mutex<BTreeMap<u32, (u32, u64, u64)>> = Mutex::new(BTreeMap::new());

/// Records the CPU time thread `tid` of group `pid` has used.
pub fn publish_cpu(tid: u32, pid: u32, used: &CpuTime) {
    THREAD_CPU.lock().insert(tid, (pid, used.user, used.system));
}

/// The CPU time thread `tid` had used when it last stopped running.
pub fn thread_cpu_ns(tid: u32) -> Option<u64> {
    THREAD_CPU.lock().get(&tid).map(|&(_, user, system)| user + system)
}

/// The CPU time (user, system) process `pid`'s live threads had used when
/// they last stopped running, other than `except` (None if it has no
/// thread).
pub fn live_threads_cpu(pid: u32, except: u32) -> Option<(u64, u64)> {
    let threads = THREAD_CPU.lock();
    let mut found = false;
    let total = threads
        .iter()
        .filter(|&(_, &(group, _, _))| group == pid)
        .inspect(|_| found = true)
        .filter(|&(&tid, _)| tid != except)
        .fold((0, 0), |(u, s), (_, &(_, user, system))| (u + user, s + system));
    found.then_some(total)
}

/// Records thread `tid` of group `pid`.
pub fn add_thread(tid: u32, pid: u32) {
    THREADS.lock().insert(tid, pid);
    publish_cpu(tid, pid, &CpuTime::default());
}

/// Forgets an ended thread.
pub fn remove_thread(tid: u32) {
    THREADS.lock().remove(&tid);
    THREAD_CPU.lock().remove(&tid);
}

/// The group thread `tid` belongs to, if it lives.
pub fn group_of_thread(tid: u32) -> Option<u32> {
    THREADS.lock().get(&tid).copied()
}

/// Renames thread `tid` (which took over its group's id in execve) to `pid`.
pub fn rename_thread(tid: u32, pid: u32) {
    let mut threads = THREADS.lock();
    threads.remove(&tid);
    threads.insert(pid, pid);
    let mut cpu = THREAD_CPU.lock();
    if let Some(used) = cpu.remove(&tid) {
        cpu.insert(pid, used);
    }
}
