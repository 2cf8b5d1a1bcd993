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

/// Records a new μprocess.
pub fn add(pid: u32, parent: u32) {
    TABLE.lock().insert(pid, Entry { parent, exit: None });
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
