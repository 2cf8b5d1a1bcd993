//! Pipes: a bounded byte queue with read and write ends. Reads take what is
//! there, or see end of file once every write end is closed; writes of at
//! most `PIPE_BUF` bytes go in whole or not at all; a write with no read end
//! left fails with `EPIPE`. Where Linux would block, the ends return
//! `ERESTART`: the kernel waits and runs the call again.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::Mutex;

use crate::Errno;

/// Writes up to this many bytes are atomic.
pub const PIPE_BUF: usize = 4096;
/// A new pipe's capacity (Linux: 16 pages).
pub const DEFAULT_CAPACITY: usize = 65536;
/// The largest capacity F_SETPIPE_SZ grants (/proc/sys/fs/pipe-max-size).
pub const MAX_CAPACITY: usize = 1024 * 1024;

/// The shared queue.
#[derive(Debug)]
pub struct Pipe {
    queue: Mutex<VecDeque<u8>>,
    capacity: AtomicUsize,
    readers: AtomicUsize,
    writers: AtomicUsize,
}

/// One end, held by an open file description; dropping it closes the end.
#[derive(Debug)]
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    writes: bool,
}

/// A new pipe's read and write ends.
pub fn new_pipe() -> (PipeEnd, PipeEnd) {
    let pipe = Arc::new(Pipe {
        queue: Mutex::new(VecDeque::new()),
        capacity: AtomicUsize::new(DEFAULT_CAPACITY),
        readers: AtomicUsize::new(1),
        writers: AtomicUsize::new(1),
    });
    (PipeEnd { pipe: pipe.clone(), writes: false }, PipeEnd { pipe, writes: true })
}

impl PipeEnd {
    /// Whether this is the write end.
    pub fn is_write_end(&self) -> bool {
        self.writes
    }

    /// Reads what is queued (up to `buf.len()`); 0 at end of file.
    pub fn read(&self, buf: &mut [u8], nonblocking: bool) -> Result<usize, Errno> {
        if self.writes {
            return Err(Errno::EBADF);
        }
        let mut queue = self.pipe.queue.lock();
        if queue.is_empty() {
            return if self.pipe.writers.load(Ordering::Acquire) == 0 {
                Ok(0)
            } else if nonblocking {
                Err(Errno::EAGAIN)
            } else {
                Err(Errno::ERESTART)
            };
        }
        let n = buf.len().min(queue.len());
        for (slot, byte) in buf.iter_mut().zip(queue.drain(..n)) {
            *slot = byte;
        }
        crate::readiness::changed();
        Ok(n)
    }

    /// Queues `data`: all of it if it fits, or (beyond PIPE_BUF) as much as
    /// fits.
    pub fn write(&self, data: &[u8], nonblocking: bool) -> Result<usize, Errno> {
        if !self.writes {
            return Err(Errno::EBADF);
        }
        if self.pipe.readers.load(Ordering::Acquire) == 0 {
            return Err(Errno::EPIPE);
        }
        let mut queue = self.pipe.queue.lock();
        let room = self.pipe.capacity.load(Ordering::Acquire).saturating_sub(queue.len());
        let n = if data.len() <= PIPE_BUF && data.len() > room { 0 } else { data.len().min(room) };
        if n == 0 && !data.is_empty() {
            return Err(if nonblocking { Errno::EAGAIN } else { Errno::ERESTART });
        }
        // The queue lives in the kernel heap: a full heap is ENOMEM for the
        // writer, never a failed allocation.
        queue.try_reserve(n).map_err(|_| Errno::ENOMEM)?;
        queue.extend(&data[..n]);
        crate::readiness::changed();
        Ok(n)
    }

    /// What poll reports for this end: (readable, writable, hang-up, error).
    /// A read end is readable with data queued or once every writer is gone
    /// (hang-up); a write end is writable with room left, in error once
    /// every reader is gone.
    pub fn poll(&self) -> (bool, bool, bool, bool) {
        let queued = self.pipe.queue.lock().len();
        if self.writes {
            let no_readers = self.pipe.readers.load(Ordering::Acquire) == 0;
            let room = queued < self.pipe.capacity.load(Ordering::Acquire);
            (false, room && !no_readers, false, no_readers)
        } else {
            let no_writers = self.pipe.writers.load(Ordering::Acquire) == 0;
            (queued > 0, false, no_writers, false)
        }
    }

    /// Bytes waiting to be read (FIONREAD).
    pub fn available(&self) -> usize {
        self.pipe.queue.lock().len()
    }

    /// F_GETPIPE_SZ.
    pub fn capacity(&self) -> usize {
        self.pipe.capacity.load(Ordering::Acquire)
    }

    /// F_SETPIPE_SZ: rounds up to a power-of-two number of pages; EBUSY if
    /// more is queued than would fit.
    pub fn set_capacity(&self, requested: usize) -> Result<usize, Errno> {
        if requested > MAX_CAPACITY {
            return Err(Errno::EPERM);
        }
        let size = requested.max(4096).next_power_of_two();
        let queue = self.pipe.queue.lock();
        if queue.len() > size {
            return Err(Errno::EBUSY);
        }
        self.pipe.capacity.store(size, Ordering::Release);
        crate::readiness::changed();
        Ok(size)
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let count = if self.writes { &self.pipe.writers } else { &self.pipe.readers };
        count.fetch_sub(1, Ordering::AcqRel);
        crate::readiness::changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_flows_and_end_of_file_follows_the_last_writer() {
        let (r, w) = new_pipe();
        assert_eq!(w.write(b"hello", false), Ok(5));
        let mut buf = [0u8; 3];
        assert_eq!(r.read(&mut buf, false), Ok(3));
        assert_eq!(&buf, b"hel");
        assert_eq!(r.available(), 2);
        assert_eq!(r.read(&mut buf, false), Ok(2));
        assert_eq!(r.read(&mut buf, true), Err(Errno::EAGAIN));
        assert_eq!(r.read(&mut buf, false), Err(Errno::ERESTART));
        drop(w);
        assert_eq!(r.read(&mut buf, false), Ok(0));
    }

    #[test]
    fn writes_fail_without_readers_and_small_writes_are_atomic() {
        let (r, w) = new_pipe();
        assert_eq!(w.set_capacity(4096), Ok(4096));
        assert_eq!(w.write(&[1; 4000], false), Ok(4000));
        assert_eq!(w.write(&[2; 200], true), Err(Errno::EAGAIN));
        assert_eq!(w.write(&[3; 5000], true), Ok(96));
        assert_eq!(w.set_capacity(10), Ok(4096));
        assert_eq!(w.set_capacity(5000), Ok(8192));
        assert_eq!(w.write(&[4; 1000], false), Ok(1000));
        assert_eq!(w.set_capacity(4096), Err(Errno::EBUSY));
        assert_eq!(w.set_capacity(MAX_CAPACITY + 1), Err(Errno::EPERM));
        assert_eq!(r.read(&mut [0u8; 1], false), Ok(1));
        assert_eq!(w.read(&mut [0u8; 1], false), Err(Errno::EBADF));
        assert_eq!(r.write(b"x", false), Err(Errno::EBADF));
        drop(r);
        assert_eq!(w.write(b"x", false), Err(Errno::EPIPE));
    }
}
