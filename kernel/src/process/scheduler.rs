//! Running threads on every core: a queue of runnable threads per core,
//! each thread run for a time slice (the timer tick preempts it) or until
//! its system call would block. A blocked call is simply run again later
//! (every handler is restartable: the Fluke lesson). A thread goes back to
//! the queue of the core it last ran on; new threads go to the shortest
//! queue; a core whose queue is empty takes from the back of the longest
//! (load balancing), and a core with nothing to run waits for an interrupt
//! (a wake-up IPI when work is queued for it or there is work to take).
//!
//! The scheduler's state is one lock ([`SCHEDULER`]), held only to pick a
//! thread and to file what its slice led to, never while a thread runs.
//! Locking order: the scheduler, then a thread group's state, the futex
//! queues, the pending-signal tables ([`super::group`] continues the order);
//! a thread's files and memory view are only ever tried under the
//! scheduler's lock, never waited for.
//! A running thread is out of the state (a core holds it) and comes back
//! after its slice.

use super::group::{self, Ending, ThreadGroup};
use super::signal::SIGCONT;
use super::signals::{self, SigInfo, code};
use super::{Event, Exit, Process, futex, info, table};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use arch_morello::cpu;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;

/// The threads the scheduler holds (not running), by tid.
type Threads = BTreeMap<u32, Box<Process>>;
/// The live μprocesses' thread groups, by pid.
type Groups = BTreeMap<u32, Arc<ThreadGroup>>;

/// What the scheduler keeps while a first μprocess and its descendants run.
struct State {
    threads: Threads,
    groups: Groups,
    /// Runnable threads, per core.
    runnable: Vec<VecDeque<u32>>,
    /// Cores waiting for an interrupt with nothing to run, one bit each.
    idle: u64,
    blocked: Vec<u32>,
    stopped: Vec<u32>,
    /// How many threads cores run now.
    running: usize,
    /// The first μprocess: when it ends, the run ends.
    first_pid: u32,
    /// How the first μprocess ended, once it has.
    finished: Option<Exit>,
    /// [`changes`] when the blocked threads were last looked at.
    seen_changes: u64,
}

/// The scheduler's state: `Some` during [`run`].
static SCHEDULER: Mutex<Option<State>> = Mutex::new(None);

/// Counts events that may end a blocked call: futex wakes, signals sent,
/// threads ending. (Readiness changes and timer ticks are counted
/// elsewhere; [`changes`] adds them in.)
static WAKEUPS: AtomicU64 = AtomicU64::new(0);

/// Notes that a blocked thread may be able to go on (a futex wake, a
/// signal): the scheduler looks at the blocked threads again.
pub fn notify() {
    WAKEUPS.fetch_add(1, Ordering::Release);
}

/// Everything that may end a blocked call, as one count that only grows.
fn changes() -> u64 {
    WAKEUPS.load(Ordering::Acquire) + posix_shim::readiness::changes() + crate::platform::ticks()
}

/// Runs `first` and everything it creates until `first` ends, on this core
/// and on the other cores that take part; returns how `first` ended.
pub fn run(first: Process) -> Exit {
    let first_pid = first.pid;
    table::add(first_pid, 0);
    info::publish(&first);
    let mut state = State {
        threads: BTreeMap::new(),
        groups: BTreeMap::from([(first_pid, first.group.clone())]),
        runnable: (0..cores()).map(|_| VecDeque::new()).collect(),
        idle: 0,
        blocked: Vec::new(),
        stopped: Vec::new(),
        running: 0,
        first_pid,
        finished: None,
        seen_changes: changes(),
    };
    state.enqueue(Box::new(first), Place::Back);
    *SCHEDULER.lock() = Some(state);
    loop {
        if let Some(exit) = step(0) {
            // Threads still held or running elsewhere end with the state.
            let ended = SCHEDULER.lock().take();
            drop(ended);
            return exit;
        }
    }
}

/// The cores threads run on (affinity masks are one word: at most 64).
fn cores() -> usize {
    crate::platform::platform().machine.cpus.clamp(1, cpu::MAX_CORES)
}

/// Publishes a fresh /proc snapshot of process `pid` if its oldest thread
/// is not running now (see [`info::try_publish`]).
pub fn refresh(pid: u32) {
    // Only tried: the caller may hold its own memory and files, which the
    // scheduler's holder may be waiting for.
    let Some(guard) = SCHEDULER.try_lock() else { return };
    let Some(state) = guard.as_ref() else { return };
    let Some(oldest) = state.groups.get(&pid).and_then(|g| g.try_lock().and_then(|g| g.threads.first().copied())) else { return };
    if let Some(thread) = state.threads.get(&oldest) {
        info::try_publish(thread);
    }
}

/// Interrupts what the other cores run, so that a thread there looks at
/// its process's state (a stop, an exit_group, an execve elsewhere) now
/// rather than at its next tick.
pub fn kick_other_cores() {
    let me = cpu::core_id();
    for core in (0..cores()).filter(|&core| core != me) {
        crate::platform::send_wakeup_ipi(core);
    }
}

/// What a secondary core does: runs threads whenever a run is under way.
pub fn secondary_core(core: usize) -> ! {
    loop {
        step(core);
    }
}

/// One scheduling step on `core`: runs a runnable thread for a slice and
/// files what came of it, or, with nothing to run, looks at the blocked
/// threads and waits for an interrupt. Returns how the first μprocess
/// ended once it has.
fn step(core: usize) -> Option<Exit> {
    if core == 0 {
        crate::files::console_poll();
    }
    signals::fire_real_timers(arch_morello::timer::uptime_ns());
    let taken = {
        let mut guard = SCHEDULER.lock();
        match guard.as_mut() {
            None => None,
            Some(state) if state.finished.is_some() => return state.finished,
            Some(state) => {
                let now = changes();
                if now != state.seen_changes || state.runnable.iter().all(VecDeque::is_empty) {
                    state.seen_changes = now;
                    state.wake();
                }
                let taken = state.take_runnable(core);
                if taken.is_none() && state.running == 0 && state.blocked.is_empty() && state.stopped.is_empty() {
                    // Only zombies left, or nothing: the first process is gone.
                    state.finished = Some(Exit::Status(0));
                    return state.finished;
                }
                if taken.is_none() {
                    state.idle |= 1 << core;
                }
                taken
            }
        }
    };
    let Some(mut thread) = taken else {
        cpu::wait_for_interrupt();
        if let Some(state) = SCHEDULER.lock().as_mut() {
            state.idle &= !(1 << core);
        }
        return None;
    };
    thread.core = core;
    thread.ran = true;
    info::set_current(thread.pid);
    let event = thread.run_slice();
    match event {
        Event::Preempted => info::publish(&thread),
        // What the thread's end does to futexes touches its memory: done
        // before the scheduler's lock is taken.
        Event::Exit(_) | Event::ThreadExit(_) => crate::syscall::thread_ended(&mut thread),
        _ => {}
    }
    group::publish_cpu(thread.tid, thread.pid, &thread.cpu);
    let mut guard = SCHEDULER.lock();
    let state = guard.as_mut()?;
    state.running -= 1;
    state.file(thread, event);
    state.finished
}

impl State {
    /// Takes the next thread for `core`: the first of its own queue that
    /// may run there, else the last such one of the longest other queue.
    fn take_runnable(&mut self, core: usize) -> Option<Box<Process>> {
        let threads = &self.threads;
        let allowed = |tid: &u32| threads.get(tid).is_some_and(|t| t.affinity & (1 << core) != 0);
        let own = core % self.runnable.len();
        let (queue, at) = match self.runnable[own].iter().position(allowed) {
            Some(at) => (own, at),
            None => {
                let mut others: Vec<usize> = (0..self.runnable.len()).filter(|&q| q != own).collect();
                others.sort_by_key(|&q| core::cmp::Reverse(self.runnable[q].len()));
                others.into_iter().find_map(|q| self.runnable[q].iter().rposition(allowed).map(|at| (q, at)))?
            }
        };
        let tid = self.runnable[queue].remove(at)?;
        let thread = self.threads.remove(&tid)?;
        self.running += 1;
        Some(thread)
    }

    /// Queues a runnable thread: on the core it last ran on if it may run
    /// there, else on the allowed core with the shortest queue; wakes that
    /// core, or an idle one that can take the thread, with an IPI.
    fn enqueue(&mut self, thread: Box<Process>, place: Place) {
        let tid = thread.tid;
        let cores = self.runnable.len();
        let allowed = |core: usize| thread.affinity & (1 << core) != 0;
        let core = match place {
            Place::Back | Place::Front if thread.ran && allowed(thread.core % cores) => thread.core % cores,
            _ => (0..cores).filter(|&c| allowed(c)).min_by_key(|&c| self.runnable[c].len()).unwrap_or(0),
        };
        let affinity = thread.affinity;
        self.threads.insert(tid, thread);
        match place {
            Place::Front => self.runnable[core].push_front(tid),
            Place::Back | Place::Shortest => self.runnable[core].push_back(tid),
        }
        let idle_allowed = self.idle & affinity;
        let target = if self.idle & (1 << core) != 0 { Some(core) } else { (idle_allowed != 0).then(|| idle_allowed.trailing_zeros() as usize) };
        if let Some(target) = target {
            self.idle &= !(1 << target);
            crate::platform::send_wakeup_ipi(target);
        }
    }

    /// Files what a thread's slice led to.
    fn file(&mut self, thread: Box<Process>, event: Event) {
        let (tid, pid) = (thread.tid, thread.pid);
        match event {
            Event::StillBlocked | Event::Blocked => {
                self.threads.insert(tid, thread);
                self.blocked.push(tid);
            }
            Event::Preempted => self.enqueue(thread, Place::Back),
            Event::Forked(child) => {
                table::add(child.pid, pid);
                info::try_publish(&child);
                self.groups.insert(child.pid, child.group.clone());
                self.enqueue(child, Place::Shortest);
                self.enqueue(thread, Place::Front);
            }
            Event::NewThread(child) => {
                self.enqueue(child, Place::Shortest);
                self.enqueue(thread, Place::Front);
            }
            Event::Stopped(signal) => self.stop(thread, signal),
            Event::Exit(exit) => self.end_thread(thread, Some(exit), 0),
            Event::ThreadExit(status) => self.end_thread(thread, None, status),
        }
    }

    /// A signal stopped `thread`: it waits off the run queue. The first of
    /// its process's threads to stop stops the others (those running on
    /// other cores are interrupted at once, blocked ones woken to stop);
    /// the last to stop tells the parent, as Linux's group stop does.
    fn stop(&mut self, mut thread: Box<Process>, signal: u8) {
        thread.stopped = true;
        info::try_publish(&thread);
        let (tid, pid, uid) = (thread.tid, thread.pid, thread.credentials.uid[0]);
        let (first, all) = {
            let mut group = thread.group.lock();
            let first = group.stop.is_none();
            if first {
                group.stopped_threads = 0;
            }
            group.stop = Some(signal);
            group.stopped_threads += 1;
            (first, group.stopped_threads >= group.threads.len())
        };
        self.threads.insert(tid, thread);
        self.stopped.push(tid);
        if first {
            notify();
            kick_other_cores();
        }
        if all {
            table::stopped(pid, signal);
            self.tell_parent(pid, SigInfo::child(code::CLD_STOPPED, pid, uid, i32::from(signal)));
        }
    }



    /// `thread` ended: `group_exit` ends its whole process (exit_group, a
    /// fatal signal), otherwise only the thread ends with `status`. Its
    /// memory and files are released when nobody else holds them (its
    /// futex duties were done before: [`crate::syscall::thread_ended`]). When it was the process's last thread,
    /// the process ends (and the run, if it was the first μprocess).
    fn end_thread(&mut self, thread: Box<Process>, group_exit: Option<Exit>, status: u8) {
        let tid = thread.tid;
        futex::cancel(tid);
        signals::forget_thread(tid);
        group::remove_thread(tid);
        notify();
        let pid = thread.pid;
        let (uid, cpu) = (thread.credentials.uid[0], thread.cpu);
        let ended = {
            let mut group = thread.group.lock();
            if let Some(exit) = group_exit
                && !matches!(group.ending, Some(Ending::Exit(_)))
            {
                group.ending = Some(Ending::Exit(exit));
                if group.threads.len() > 1 {
                    kick_other_cores();
                }
            }
            group.threads.retain(|&t| t != tid);
            group.cpu.add(cpu);
            group.threads.is_empty().then(|| {
                let exit = match group.ending {
                    Some(Ending::Exit(exit)) => exit,
                    _ => Exit::Status(status),
                };
                (exit, group.cpu)
            })
        };
        // Dropping the thread drops its hold on the memory and the files
        // (a pipe's last writer gone means EOF for readers).
        drop(thread);
        let Some((exit, cpu)) = ended else { return };
        self.groups.remove(&pid);
        info::remove(pid);
        signals::forget(pid);
        let parent = table::parent_of(pid);
        let keep_zombie = self.groups.get(&parent).is_none_or(|g| !signals::reaps_automatically(g));
        let total = (cpu.user + cpu.children_user, cpu.system + cpu.children_system);
        let (code, status) = exit.child_code();
        self.tell_parent(pid, SigInfo::child(code, pid, uid, status));
        table::exited(pid, exit, total, keep_zombie);
        if pid == self.first_pid {
            self.finished = Some(exit);
        }
    }

    /// Tells `child`'s parent (SIGCHLD with `info`, unless its SIGCHLD
    /// action declines stops and continues) and wakes a wait it may be
    /// blocked in.
    fn tell_parent(&self, child: u32, info: SigInfo) {
        let parent = table::parent_of(child);
        if let Some(group) = self.groups.get(&parent) {
            signals::notify_parent(parent, group, info);
        }
    }

    /// Moves the blocked threads whose calls may finish now to the run
    /// queue (sleepers stay until their deadline or a signal), and the
    /// stopped ones that SIGCONT or SIGKILL reached.
    fn wake(&mut self) {
        let now = arch_morello::timer::uptime_ns();
        let threads = &self.threads;
        let mut woken = Vec::new();
        self.blocked.retain(|&tid| match threads.get(&tid) {
            Some(t) if !t.may_wake(now) => true,
            _ => {
                woken.push(tid);
                false
            }
        });
        for tid in woken {
            if let Some(thread) = self.threads.remove(&tid) {
                self.enqueue(thread, Place::Back);
            }
        }
        let mut continued = Vec::new();
        let mut resumed_threads = Vec::new();
        let threads = &self.threads;
        self.stopped.retain(|&tid| {
            let Some(thread) = threads.get(&tid) else { return false };
            let Some(resumed) = signals::resumes(thread.pid) else { return true };
            let was_stopped = thread.group.lock().stop.take().is_some();
            if resumed == signals::Resume::Continued && was_stopped {
                continued.push((thread.pid, thread.credentials.uid[0]));
            }
            resumed_threads.push(tid);
            false
        });
        for tid in resumed_threads {
            if let Some(mut thread) = self.threads.remove(&tid) {
                thread.stopped = false;
                info::try_publish(&thread);
                self.enqueue(thread, Place::Back);
            }
        }
        for (pid, uid) in continued {
            table::continued(pid);
            self.tell_parent(pid, SigInfo::child(code::CLD_CONTINUED, pid, uid, i32::from(SIGCONT)));
        }
    }
}

/// Where [`State::enqueue`] puts a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// At the back of its core's queue.
    Back,
    /// At the front of its core's queue (a parent after fork or clone runs
    /// on before its child, as Linux does by default).
    Front,
    /// At the back of the shortest queue (a new thread).
    Shortest,
}
