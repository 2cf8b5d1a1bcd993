//! Running many μprocesses on one core: a round-robin queue of runnable
//! μprocesses, each run for a time slice (the timer tick preempts it) or
//! until its system call would block. A blocked call is simply run again
//! later (every handler is restartable: the Fluke lesson); while nothing can
//! run the core waits for an interrupt.

use super::signal::SIGCONT;
use super::signals::{self, SigInfo, code};
use super::{Event, Exit, Process, info, table};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use arch_morello::cpu;

/// The μprocesses the scheduler holds, by pid.
type Processes = BTreeMap<u32, Box<Process>>;

/// Runs `first` and everything it creates until `first` ends; returns how
/// it ended.
pub fn run(first: Process) -> Exit {
    let first_pid = first.pid;
    table::add(first_pid, 0);
    info::publish(&first);
    let mut processes: Processes = BTreeMap::new();
    processes.insert(first_pid, Box::new(first));
    let mut runnable: VecDeque<u32> = VecDeque::from([first_pid]);
    let mut blocked: Vec<u32> = Vec::new();
    let mut stopped: Vec<u32> = Vec::new();
    let mut progress = true;
    loop {
        crate::files::console_poll();
        signals::fire_real_timers(arch_morello::timer::uptime_ns());
        let Some(pid) = runnable.pop_front() else {
            if blocked.is_empty() && stopped.is_empty() {
                // Only zombies left, or nothing: the first process is gone.
                return Exit::Status(0);
            }
            if !progress {
                cpu::wait_for_interrupt();
            }
            progress = false;
            wake(&mut blocked, &mut stopped, &mut runnable, &mut processes);
            continue;
        };
        let Some(process) = processes.get_mut(&pid) else { continue };
        info::set_current(pid);
        let event = process.run_slice();
        if !matches!(event, Event::StillBlocked) {
            info::publish(process);
        }
        match event {
            Event::StillBlocked => blocked.push(pid),
            Event::Blocked => {
                // A μprocess that ran before blocking (wrote to a pipe, sent
                // a signal...) may have made another runnable: look again
                // before waiting for an interrupt.
                progress = true;
                blocked.push(pid);
            }
            Event::Preempted => {
                progress = true;
                runnable.push_back(pid);
            }
            Event::Forked(child) => {
                progress = true;
                let child_pid = child.pid;
                table::add(child_pid, pid);
                info::publish(&child);
                processes.insert(child_pid, child);
                runnable.push_back(child_pid);
                runnable.push_front(pid);
            }
            Event::Stopped(signal) => {
                progress = true;
                process.stopped = true;
                info::publish(process);
                stopped.push(pid);
                table::stopped(pid, signal);
                let info = SigInfo::child(code::CLD_STOPPED, pid, process.credentials.uid[0], i32::from(signal));
                tell_parent(&processes, pid, info);
            }
            Event::Exit(exit) => {
                progress = true;
                // Dropping the μprocess frees its memory and closes its
                // files (a pipe's last writer gone means EOF for readers).
                let Some(process) = processes.remove(&pid) else { continue };
                info::remove(pid);
                signals::forget(pid);
                let parent = table::parent_of(pid);
                let cpu = process.cpu;
                let uid = process.credentials.uid[0];
                drop(process);
                let keep_zombie = processes.get(&parent).is_none_or(|p| !signals::reaps_automatically(p));
                let total = (cpu.user + cpu.children_user, cpu.system + cpu.children_system);
                let (code, status) = exit.child_code();
                tell_parent(&processes, pid, SigInfo::child(code, pid, uid, status));
                table::exited(pid, exit, total, keep_zombie);
                if pid == first_pid {
                    return exit;
                }
                wake(&mut blocked, &mut stopped, &mut runnable, &mut processes);
            }
        }
    }
}

/// Tells `child`'s parent (SIGCHLD with `info`, unless its SIGCHLD action
/// declines stops and continues) and wakes a wait it may be blocked in.
fn tell_parent(processes: &Processes, child: u32, info: SigInfo) {
    let parent = table::parent_of(child);
    if let Some(parent) = processes.get(&parent) {
        signals::notify_parent(parent, info);
    }
}

/// Moves the blocked μprocesses whose calls may finish now to the run
/// queue (sleepers stay until their deadline or a signal), and the stopped
/// ones that SIGCONT or SIGKILL reached.
fn wake(blocked: &mut Vec<u32>, stopped: &mut Vec<u32>, runnable: &mut VecDeque<u32>, processes: &mut Processes) {
    let now = arch_morello::timer::uptime_ns();
    blocked.retain(|&pid| match processes.get(&pid) {
        Some(p) if !p.may_wake(now) => true,
        _ => {
            runnable.push_back(pid);
            false
        }
    });
    stopped.retain(|&pid| {
        let Some(resumed) = signals::resumes(pid) else { return true };
        let uid = processes.get_mut(&pid).map_or(0, |p| {
            p.stopped = false;
            info::publish(p);
            p.credentials.uid[0]
        });
        if resumed == signals::Resume::Continued {
            table::continued(pid);
            tell_parent(processes, pid, SigInfo::child(code::CLD_CONTINUED, pid, uid, i32::from(SIGCONT)));
        }
        runnable.push_back(pid);
        false
    });
}
