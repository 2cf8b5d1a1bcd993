//! Futex wait queues: threads waiting on a 32-bit word, by the word's
//! identity ([`Key`]), woken in the order they came (FIFO, as Linux for
//! threads of equal priority). A waiter stays queued until a wake takes it
//! (then it is marked woken, and its call returns 0 when it runs again), or
//! its call ends otherwise (a signal, its timeout, its thread's end:
//! [`cancel`]).
//!
//! The queues are one table behind one lock, taken only briefly; user
//! memory is read under it only by [`enqueue_if`].

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use spin::Mutex;

/// Which word a futex is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// A word in memory only one μprocess's threads see (any private
    /// mapping, and every FUTEX_PRIVATE_FLAG futex): by process and address.
    Private {
        /// The thread group's id.
        pid: u32,
        /// The word's address.
        address: u64,
    },
    /// A word in a shared mapping (MAP_SHARED of a file, or shared
    /// anonymous memory): by file and offset, the same in every μprocess
    /// that maps it.
    Shared {
        /// The file's inode number.
        ino: u64,
        /// The word's offset in the file.
        offset: u64,
    },
}

/// A queued thread and the bits it waits for (FUTEX_WAIT_BITSET).
#[derive(Debug, Clone, Copy)]
struct Waiter {
    tid: u32,
    bitset: u32,
}

#[derive(Debug)]
struct Queues {
    waiting: BTreeMap<Key, VecDeque<Waiter>>,
    /// Where each queued thread waits.
    queued_on: BTreeMap<u32, Key>,
    /// Threads a wake took off their queue whose call has not returned yet.
    woken: BTreeSet<u32>,
}

static QUEUES: Mutex<Queues> = Mutex::new(Queues { waiting: BTreeMap::new(), queued_on: BTreeMap::new(), woken: BTreeSet::new() });

/// Queues thread `tid` on `key` for the bits in `bitset` if `still_waits`
/// (which reads the futex word) says so, with the queues locked: a wake on
/// another core cannot slip between the look at the word and the queueing.
/// Returns what `still_waits` returned. The one place the queues' lock is
/// held while user memory is read (futex queues, then the memory view).
pub fn enqueue_if<E>(tid: u32, key: Key, bitset: u32, still_waits: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
    let mut queues = QUEUES.lock();
    still_waits()?;
    queues.woken.remove(&tid);
    queues.waiting.entry(key).or_default().push_back(Waiter { tid, bitset });
    queues.queued_on.insert(tid, key);
    Ok(())
}

/// Whether a wake took thread `tid` off its queue.
pub fn woken(tid: u32) -> bool {
    QUEUES.lock().woken.contains(&tid)
}

/// What became of a waiting thread's wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitState {
    /// A wake took it (the mark is consumed).
    Woken,
    /// Still queued.
    Queued,
    /// Neither: its wait was cancelled.
    Gone,
}

/// Consumes `tid`'s woken mark if it has one.
pub fn take_wake(tid: u32) -> WaitState {
    let mut queues = QUEUES.lock();
    if queues.woken.remove(&tid) {
        WaitState::Woken
    } else if queues.queued_on.contains_key(&tid) {
        WaitState::Queued
    } else {
        WaitState::Gone
    }
}

/// Ends thread `tid`'s wait, whatever its state: off its queue, no mark.
pub fn cancel(tid: u32) {
    let mut queues = QUEUES.lock();
    queues.woken.remove(&tid);
    if let Some(key) = queues.queued_on.remove(&tid) {
        remove_from(&mut queues.waiting, key, tid);
    }
}

fn remove_from(waiting: &mut BTreeMap<Key, VecDeque<Waiter>>, key: Key, tid: u32) {
    if let Some(queue) = waiting.get_mut(&key) {
        queue.retain(|w| w.tid != tid);
        if queue.is_empty() {
            waiting.remove(&key);
        }
    }
}

/// Wakes up to `count` threads waiting on `key` for any of `bitset`'s bits;
/// returns how many.
pub fn wake(key: Key, count: u32, bitset: u32) -> u32 {
    let mut queues = QUEUES.lock();
    wake_locked(&mut queues, key, count, bitset)
}

fn wake_locked(queues: &mut Queues, key: Key, count: u32, bitset: u32) -> u32 {
    let Some(queue) = queues.waiting.get_mut(&key) else { return 0 };
    let mut taken = alloc::vec::Vec::new();
    queue.retain(|waiter| {
        if taken.len() < count as usize && waiter.bitset & bitset != 0 {
            taken.push(waiter.tid);
            false
        } else {
            true
        }
    });
    if queue.is_empty() {
        queues.waiting.remove(&key);
    }
    for &tid in &taken {
        queues.queued_on.remove(&tid);
        queues.woken.insert(tid);
    }
    if !taken.is_empty() {
        super::scheduler::notify();
    }
    taken.len() as u32
}

/// Wakes up to `wake_count` waiters on `from` and moves up to
/// `requeue_count` of the rest to `to`; returns how many were woken plus
/// how many moved.
pub fn requeue(from: Key, to: Key, wake_count: u32, requeue_count: u32) -> u32 {
    let mut queues = QUEUES.lock();
    let woken = wake_locked(&mut queues, from, wake_count, u32::MAX);
    let Some(mut queue) = queues.waiting.remove(&from) else { return woken };
    let moving = queue.len().min(requeue_count as usize);
    let moved: VecDeque<Waiter> = queue.drain(..moving).collect();
    if !queue.is_empty() {
        queues.waiting.insert(from, queue);
    }
    for waiter in &moved {
        queues.queued_on.insert(waiter.tid, to);
    }
    queues.waiting.entry(to).or_default().extend(moved);
    woken + moving as u32
}
