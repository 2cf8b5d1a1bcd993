//! Who is whose parent and how ended μprocesses ended: the bookkeeping that
//! getppid and wait4 read, kept apart from the μprocesses themselves (which
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
    /// Set once it has ended (a zombie until reaped).
    exit: Option<Exit>,
}

/// Which children a wait4 accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// Any child (pid -1; process groups count as any until they exist).
    Any,
    /// This pid.
    Pid(u32),
}

/// What a wait found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// This child ended and is reaped now.
    Reaped(u32, Exit),
    /// Children exist, none has ended yet.
    Running,
    /// No such child.
    NoChild,
}

static TABLE: Mutex<BTreeMap<u32, Entry>> = Mutex::new(BTreeMap::new());

/// Records a new μprocess, in its parent's group and session (the first
/// one leads its own).
pub fn add(pid: u32, parent: u32) {
    let mut table = TABLE.lock();
    let (group, session) = table.get(&parent).map_or((pid, pid), |p| (p.group, p.session));
    table.insert(pid, Entry { parent, group, session, exit: None });
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

/// Records that `pid` ended; its children now belong to pid 1.
pub fn exited(pid: u32, exit: Exit) {
    let mut table = TABLE.lock();
    if let Some(entry) = table.get_mut(&pid) {
        entry.exit = Some(exit);
    }
    for entry in table.values_mut().filter(|e| e.parent == pid) {
        entry.parent = 1;
    }
    // Orphaned zombies of a finished subtree have nobody to reap them but
    // pid 1; they stay until it waits.
}

/// Looks for a child of `parent` that `selector` accepts and has ended,
/// and reaps it.
pub fn wait(parent: u32, selector: Selector) -> Waited {
    let mut table = TABLE.lock();
    let mut has_child = false;
    let mut found = None;
    for (&pid, entry) in table.iter() {
        let accepted = entry.parent == parent && (selector == Selector::Any || selector == Selector::Pid(pid));
        if accepted {
            has_child = true;
            if let Some(exit) = entry.exit {
                found = Some((pid, exit));
                break;
            }
        }
    }
    match found {
        Some((pid, exit)) => {
            table.remove(&pid);
            Waited::Reaped(pid, exit)
        }
        None if has_child => Waited::Running,
        None => Waited::NoChild,
    }
}

/// Pids of every μprocess that has not ended.
pub fn live() -> alloc::vec::Vec<u32> {
    TABLE.lock().iter().filter(|(_, e)| e.exit.is_none()).map(|(&pid, _)| pid).collect()
}
