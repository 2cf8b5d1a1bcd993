//! Running many μprocesses on one core: a round-robin queue of runnable
//! μprocesses, each run for a time slice (the timer tick preempts it) or
//! until its system call would block. A blocked call is simply run again
//! later (every handler is restartable: the Fluke lesson); while nothing can
//! run the core waits for an interrupt.

use super::{Event, Exit, Process, info, table};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use arch_morello::cpu;

/// Runs `first` and everything it creates until `first` ends; returns how
/// it ended.
pub fn run(first: Process) -> Exit {
    let first_pid = first.pid;
    table::add(first_pid, 0);
    info::publish(&first);
    let mut processes: BTreeMap<u32, Box<Process>> = BTreeMap::new();
    processes.insert(first_pid, Box::new(first));
    let mut runnable: VecDeque<u32> = VecDeque::from([first_pid]);
    let mut blocked: Vec<u32> = Vec::new();
    let mut progress = true;
    loop {
        crate::files::console_poll();
        let Some(pid) = runnable.pop_front() else {
            if blocked.is_empty() {
                // Only zombies left, or nothing: the first process is gone.
                return Exit::Status(0);
            }
            if !progress {
                cpu::wait_for_interrupt();
            }
            progress = false;
            wake(&mut blocked, &mut runnable, &processes);
            continue;
        };
        let Some(process) = processes.get_mut(&pid) else { continue };
        info::set_current(pid);
        let retried = process.in_blocked_call;
        let event = process.run_slice();
        if !(retried && matches!(event, Event::Blocked)) {
            info::publish(process);
        }
        match event {
            Event::Blocked => blocked.push(pid),
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
            Event::Exit(exit) => {
                progress = true;
                // Dropping the μprocess frees its memory and closes its
                // files (a pipe's last writer gone means EOF for readers).
                processes.remove(&pid);
                info::remove(pid);
                let parent = table::parent_of(pid);
                table::exited(pid, exit);
                if parent != 0 {
                    super::signals::send(parent, super::signals::SIGCHLD);
                }
                if pid == first_pid {
                    return exit;
                }
                wake(&mut blocked, &mut runnable, &processes);
            }
        }
    }
}

/// Moves the blocked μprocesses whose calls may finish now to the run
/// queue; sleepers stay until their deadline or a signal.
fn wake(blocked: &mut Vec<u32>, runnable: &mut VecDeque<u32>, processes: &BTreeMap<u32, Box<Process>>) {
    let now = arch_morello::timer::uptime_ns();
    blocked.retain(|&pid| match processes.get(&pid) {
        Some(p) if !p.wakeup.may_wake(pid, now) => true,
        _ => {
            runnable.push_back(pid);
            false
        }
    });
}
