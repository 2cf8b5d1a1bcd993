//! Running many threads on one core: a round-robin queue of runnable
//! threads (of every μprocess), each run for a time slice (the timer tick
//! preempts it) or until its system call would block. A blocked call is simply run again
//! later (every handler is restartable: the Fluke lesson); while nothing can
//! run the core waits for an interrupt.

use super::group::{self, Ending, ThreadGroup};
use super::signal::SIGCONT;
use super::signals::{self, SigInfo, code};
use super::{Event, Exit, Process, futex, info, table};
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use arch_morello::cpu;

/// The threads the scheduler holds, by tid.
type Threads = BTreeMap<u32, Box<Process>>;
/// The live μprocesses' thread groups, by pid.
type Groups = BTreeMap<u32, Arc<ThreadGroup>>;

/// What the scheduler keeps.
struct State {
    threads: Threads,
    groups: Groups,
    runnable: VecDeque<u32>,
    blocked: Vec<u32>,
    stopped: Vec<u32>,
}

/// Runs `first` and everything it creates until `first` ends; returns how
/// it ended.
pub fn run(first: Process) -> Exit {
    let first_pid = first.pid;
    table::add(first_pid, 0);
    info::publish(&first);
    let mut state = State {
        threads: BTreeMap::new(),
        groups: BTreeMap::from([(first_pid, first.group.clone())]),
        runnable: VecDeque::from([first.tid]),
        blocked: Vec::new(),
        stopped: Vec::new(),
    };
    state.threads.insert(first.tid, Box::new(first));
    let mut progress = true;
    loop {
        crate::files::console_poll();
        signals::fire_real_timers(arch_morello::timer::uptime_ns());
        let Some(tid) = state.runnable.pop_front() else {
            if state.blocked.is_empty() && state.stopped.is_empty() {
                // Only zombies left, or nothing: the first process is gone.
                return Exit::Status(0);
            }
            if !progress {
                cpu::wait_for_interrupt();
            }
            progress = false;
            state.wake();
            continue;
        };
        let Some(thread) = state.threads.get_mut(&tid) else { continue };
        info::set_current(thread.pid);
        let event = thread.run_slice();
        if !matches!(event, Event::StillBlocked) {
            info::publish(thread);
        }
        let pid = thread.pid;
        group::publish_cpu(thread.tid, pid, thread.cpu.user + thread.cpu.system);
        // execve in another thread gave this one its process's id.
        let tid = if thread.tid != tid { state.rename(tid) } else { tid };
        match event {
            Event::StillBlocked => state.blocked.push(tid),
            Event::Blocked => {
                // A thread that ran before blocking (wrote to a pipe, sent
                // a signal...) may have made another runnable: look again
                // before waiting for an interrupt.
                progress = true;
                state.blocked.push(tid);
            }
            Event::Preempted => {
                progress = true;
                state.runnable.push_back(tid);
            }
            Event::Forked(child) => {
                progress = true;
                table::add(child.pid, pid);
                info::publish(&child);
                state.groups.insert(child.pid, child.group.clone());
                state.runnable.push_back(child.tid);
                state.threads.insert(child.tid, child);
                state.runnable.push_front(tid);
            }
            Event::NewThread(child) => {
                progress = true;
                state.runnable.push_back(child.tid);
                state.threads.insert(child.tid, child);
                state.runnable.push_front(tid);
            }
            Event::Stopped(signal) => {
                progress = true;
                state.stop(tid, signal);
            }
            Event::Exit(exit) => {
                progress = true;
                if let Some((pid, exit)) = state.end_thread(tid, Some(exit), 0)
                    && pid == first_pid
                {
                    return exit;
                }
                state.wake();
            }
            Event::ThreadExit(status) => {
                progress = true;
                if let Some((pid, exit)) = state.end_thread(tid, None, status)
                    && pid == first_pid
                {
                    return exit;
                }
                state.wake();
            }
        }
    }
}

impl State {
    /// Files thread `old` under the id it has now (execve made it its
    /// process's first thread); returns that id.
    fn rename(&mut self, old: u32) -> u32 {
        let Some(thread) = self.threads.remove(&old) else { return old };
        let new = thread.tid;
        self.threads.insert(new, thread);
        for list in [&mut self.blocked, &mut self.stopped] {
            for tid in list.iter_mut().filter(|tid| **tid == old) {
                *tid = new;
            }
        }
        new
    }

    /// A signal stopped thread `tid`: it waits off the run queue; the first
    /// of its process's threads to stop stops the others and tells the
    /// parent.
    fn stop(&mut self, tid: u32, signal: u8) {
        let Some(thread) = self.threads.get_mut(&tid) else { return };
        thread.stopped = true;
        info::publish(thread);
        self.stopped.push(tid);
        let (pid, uid) = (thread.pid, thread.credentials.uid[0]);
        let first = {
            let mut group = thread.group.lock();
            let first = group.stop.is_none();
            group.stop = Some(signal);
            first
        };
        if first {
            table::stopped(pid, signal);
            self.tell_parent(pid, SigInfo::child(code::CLD_STOPPED, pid, uid, i32::from(signal)));
        }
    }

    /// Thread `tid` ended: `group_exit` ends its whole process (exit_group,
    /// a fatal signal), otherwise only the thread ends with `status`. The
    /// thread's futex duties are done and its memory and files released
    /// when nobody else holds them. When it was the process's last thread,
    /// the process ends: returns its pid and how it ended.
    fn end_thread(&mut self, tid: u32, group_exit: Option<Exit>, status: u8) -> Option<(u32, Exit)> {
        let mut thread = self.threads.remove(&tid)?;
        crate::syscall::thread_ended(&mut thread);
        futex::cancel(tid);
        signals::forget_thread(tid);
        group::remove_thread(tid);
        let pid = thread.pid;
        let (uid, cpu) = (thread.credentials.uid[0], thread.cpu);
        let ended = {
            let mut group = thread.group.lock();
            if let Some(exit) = group_exit
                && !matches!(group.ending, Some(Ending::Exit(_)))
            {
                group.ending = Some(Ending::Exit(exit));
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
        let (exit, cpu) = ended?;
        self.groups.remove(&pid);
        info::remove(pid);
        signals::forget(pid);
        let parent = table::parent_of(pid);
        let keep_zombie = self.groups.get(&parent).is_none_or(|g| !signals::reaps_automatically(g));
        let total = (cpu.user + cpu.children_user, cpu.system + cpu.children_system);
        let (code, status) = exit.child_code();
        self.tell_parent(pid, SigInfo::child(code, pid, uid, status));
        table::exited(pid, exit, total, keep_zombie);
        Some((pid, exit))
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
        let runnable = &mut self.runnable;
        self.blocked.retain(|&tid| match threads.get(&tid) {
            Some(t) if !t.may_wake(now) => true,
            _ => {
                runnable.push_back(tid);
                false
            }
        });
        let mut continued = Vec::new();
        let mut resumed_threads = Vec::new();
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
            if let Some(thread) = self.threads.get_mut(&tid) {
                thread.stopped = false;
                info::publish(thread);
            }
            self.runnable.push_back(tid);
        }
        for (pid, uid) in continued {
            table::continued(pid);
            self.tell_parent(pid, SigInfo::child(code::CLD_CONTINUED, pid, uid, i32::from(SIGCONT)));
        }
    }
}
