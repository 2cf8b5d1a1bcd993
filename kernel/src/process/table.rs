//! Who is whose parent, and what happened to children that their parent
//! has not waited for yet (an end, a stop, a continue): the bookkeeping that
//! getppid, wait4 and waitid read, kept apart from the μprocesses themselves (which
//! the scheduler holds), so system calls can consult it while their caller
//! runs. Orphans go to pid 1; zombies stay until their parent reaps them.

use super::Exit;
use alloc::collections::BTreeMap;
use spin::Mutex;

/// One μprocess's entry.
#[derive(Debug, Clone, Copy)]
struct Entry {
    parent: u32,
    /// Process group id.
    group: u32,
    /// Session id.
    session: u32,
    /// Set once it has ended (a zombie until reaped), with the CPU time
    /// (user, system) it and its reaped children used.
    exit: Option<(Exit, (u64, u64))>,
    /// A stop not reported to a wait yet.
    stop: Option<u8>,
    /// A continue not reported to a wait yet.
    continued: bool,
    /// The nice value (-20..=19), inherited by children.
    nice: i8,
    /// The scheduling policy and real-time priority (sched_setscheduler),
    /// inherited by children.
    policy: (u32, u32),
}

/// Which children a wait accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// Any child.
    Any,
    /// This pid.
    Pid(u32),
    /// The children in this process group.
    Group(u32),
}

/// Which changes a wait reports (WEXITED, WUNTRACED/WSTOPPED, WCONTINUED)
/// and whether it leaves the child waitable (WNOWAIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitFor {
    /// Ends.
    pub exited: bool,
    /// Stops.
    pub stopped: bool,
    /// Continues.
    pub continued: bool,
    /// Report without consuming.
    pub keep: bool,
}

/// What happened to a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It ended (and used this CPU time, user and system, with its children).
    Exited(Exit, (u64, u64)),
    /// A signal stopped it.
    Stopped(u8),
    /// SIGCONT continued it.
    Continued,
}

/// What a wait found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// This child changed (and, if it ended, is reaped now unless kept).
    Found(u32, Change),
    /// Such children exist, none has changed.
    Running,
    /// No such child.
    NoChild,
}

static TABLE: Mutex<BTreeMap<u32, Entry>> = Mutex::new(BTreeMap::new());

/// Records a new μprocess, in its parent's group and session (the first
/// one leads its own).
pub fn add(pid: u32, parent: u32) {
    let mut table = TABLE.lock();
    let (group, session, nice, policy) = table.get(&parent).map_or((pid, pid, 0, (0, 0)), |p| (p.group, p.session, p.nice, p.policy));
    table.insert(pid, Entry { parent, group, session, exit: None, stop: None, continued: false, nice, policy });
}

/// getpgid(pid): ESRCH-worthy `None` when there is no such μprocess.
pub fn group_of(pid: u32) -> Option<u32> {
    TABLE.lock().get(&pid).map(|e| e.group)
}

/// getsid(pid).
pub fn session_of(pid: u32) -> Option<u32> {
    TABLE.lock().get(&pid).map(|e| e.session)
}

/// Why setpgid or setsid refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupError {
    /// No such process (or not the caller or its child): ESRCH.
    NoProcess,
    /// Not allowed (another session, a session leader, group elsewhere): EPERM.
    Refused,
}

/// setpgid(pid, pgid) by `caller`, with Linux's rules.
pub fn set_group(caller: u32, pid: u32, group: u32) -> Result<(), GroupError> {
    let mut table = TABLE.lock();
    let me = *table.get(&caller).ok_or(GroupError::NoProcess)?;
    let target = *table.get(&pid).ok_or(GroupError::NoProcess)?;
    if pid != caller && target.parent != caller {
        return Err(GroupError::NoProcess);
    }
    if target.session != me.session || target.session == pid {
        return Err(GroupError::Refused);
    }
    // A group exists while any member does, zombies included (as on Linux:
    // a pipeline's first command may have ended before the next joins).
    let exists = group == pid || table.values().any(|e| e.group == group && e.session == me.session);
    if !exists {
        return Err(GroupError::Refused);
    }
    if let Some(entry) = table.get_mut(&pid) {
        entry.group = group;
    }
    Ok(())
}

/// setsid(): a new session and group led by `pid`; refused for a group leader.
pub fn new_session(pid: u32) -> Result<u32, GroupError> {
    let mut table = TABLE.lock();
    let leads_group = table.iter().any(|(&other, e)| other != pid && e.group == pid && e.exit.is_none());
    let entry = table.get_mut(&pid).ok_or(GroupError::NoProcess)?;
    if entry.group == pid || leads_group {
        return Err(GroupError::Refused);
    }
    entry.group = pid;
    entry.session = pid;
    Ok(pid)
}

/// Whether process group `group` has members (zombies count).
pub fn group_exists(group: u32) -> bool {
    TABLE.lock().values().any(|e| e.group == group)
}

/// The live members of process group `group`.
pub fn members(group: u32) -> alloc::vec::Vec<u32> {
    TABLE.lock().iter().filter(|(_, e)| e.group == group && e.exit.is_none()).map(|(&pid, _)| pid).collect()
}

/// The parent of `pid` (0 for the first μprocess).
pub fn parent_of(pid: u32) -> u32 {
    TABLE.lock().get(&pid).map_or(0, |e| e.parent)
}

/// Records that `pid` ended after using `cpu` (user, system ns, its reaped
/// children's included); its children now belong to pid 1. A parent that
/// reaps automatically (SIGCHLD ignored) gets no zombie.
pub fn exited(pid: u32, exit: Exit, cpu: (u64, u64), keep_zombie: bool) {
    let mut table = TABLE.lock();
    if keep_zombie {
        if let Some(entry) = table.get_mut(&pid) {
            entry.exit = Some((exit, cpu));
            entry.stop = None;
            entry.continued = false;
        }
    } else {
        table.remove(&pid);
    }
    for entry in table.values_mut().filter(|e| e.parent == pid) {
        entry.parent = 1;
    }
    // Orphaned zombies of a finished subtree have nobody to reap them but
    // pid 1; they stay until it waits.
}

/// Records that a signal stopped `pid`.
pub fn stopped(pid: u32, signal: u8) {
    if let Some(entry) = TABLE.lock().get_mut(&pid) {
        entry.stop = Some(signal);
        entry.continued = false;
    }
}

/// Records that SIGCONT continued `pid`.
pub fn continued(pid: u32) {
    if let Some(entry) = TABLE.lock().get_mut(&pid) {
        entry.stop = None;
        entry.continued = true;
    }
}

/// Looks for a child of `parent` that `selector` accepts with a change
/// `what` asks for, and consumes it (reaping an ended child) unless
/// `what.keep`.
pub fn wait(parent: u32, selector: Selector, what: WaitFor) -> Waited {
    let mut table = TABLE.lock();
    let mut has_child = false;
    let mut found = None;
    for (&pid, entry) in table.iter() {
        let accepted = entry.parent == parent
            && match selector {
                Selector::Any => true,
                Selector::Pid(wanted) => wanted == pid,
                Selector::Group(group) => entry.group == group,
            };
        if !accepted {
            continue;
        }
        has_child = true;
        let change = match (entry.exit, entry.stop, entry.continued) {
            (Some((exit, cpu)), _, _) if what.exited => Some(Change::Exited(exit, cpu)),
            (None, Some(signal), _) if what.stopped => Some(Change::Stopped(signal)),
            (None, None, true) if what.continued => Some(Change::Continued),
            _ => None,
        };
        if let Some(change) = change {
            found = Some((pid, change));
            break;
        }
    }
    let Some((pid, change)) = found else {
        return if has_child { Waited::Running } else { Waited::NoChild };
    };
    if !what.keep {
        match change {
            Change::Exited(..) => {
                table.remove(&pid);
            }
            Change::Stopped(_) => {
                if let Some(entry) = table.get_mut(&pid) {
                    entry.stop = None;
                }
            }
            Change::Continued => {
                if let Some(entry) = table.get_mut(&pid) {
                    entry.continued = false;
                }
            }
        }
    }
    Waited::Found(pid, change)
}

/// The nice value of each live μprocess that `select` accepts (pid,
/// nice, its process group).
pub fn nice_values(select: impl Fn(u32, u32) -> bool) -> alloc::vec::Vec<(u32, i8)> {
    TABLE.lock().iter().filter(|&(&pid, e)| e.exit.is_none() && select(pid, e.group)).map(|(&pid, e)| (pid, e.nice)).collect()
}

/// Sets `pid`'s nice value.
pub fn set_nice(pid: u32, nice: i8) {
    if let Some(entry) = TABLE.lock().get_mut(&pid) {
        entry.nice = nice;
    }
}

/// `pid`'s scheduling policy and real-time priority.
pub fn policy_of(pid: u32) -> Option<(u32, u32)> {
    TABLE.lock().get(&pid).filter(|e| e.exit.is_none()).map(|e| e.policy)
}

/// Sets `pid`'s scheduling policy and real-time priority.
pub fn set_policy(pid: u32, policy: (u32, u32)) {
    if let Some(entry) = TABLE.lock().get_mut(&pid) {
        entry.policy = policy;
    }
}

/// Pids of every μprocess that has not ended.
pub fn live() -> alloc::vec::Vec<u32> {
    TABLE.lock().iter().filter(|(_, e)| e.exit.is_none()).map(|(&pid, _)| pid).collect()
}
