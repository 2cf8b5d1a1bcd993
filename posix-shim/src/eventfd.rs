//! eventfd objects: a 64-bit counter that writes add to and reads take
//! (all of it, or one at a time in semaphore mode), with blocking as Linux
//! has it: reads wait for a non-zero count, writes for room below
//! 0xffff_ffff_ffff_fffe. A call that would block returns `ERESTART`, and
//! the kernel runs it again later.

use spin::Mutex;

use crate::Errno;

/// The largest count an eventfd holds.
pub const MAX_COUNT: u64 = u64::MAX - 1;

/// One eventfd.
#[derive(Debug)]
pub struct EventFd {
    count: Mutex<u64>,
    semaphore: bool,
}

impl EventFd {
    /// An eventfd starting at `initial`; `semaphore` makes reads take 1.
    pub fn new(initial: u32, semaphore: bool) -> EventFd {
        EventFd { count: Mutex::new(u64::from(initial)), semaphore }
    }

    /// Reads the count into `buf` (8 bytes at least: EINVAL otherwise).
    pub fn read(&self, buf: &mut [u8], nonblocking: bool) -> Result<usize, Errno> {
        let out = buf.get_mut(..8).ok_or(Errno::EINVAL)?;
        let mut count = self.count.lock();
        if *count == 0 {
            return Err(if nonblocking { Errno::EAGAIN } else { Errno::ERESTART });
        }
        let taken = if self.semaphore { 1 } else { *count };
        *count -= taken;
        crate::readiness::changed();
        out.copy_from_slice(&taken.to_ne_bytes());
        Ok(8)
    }

    /// Adds the 8-byte value at the start of `data` (EINVAL if shorter, or
    /// for 0xffff_ffff_ffff_ffff).
    pub fn write(&self, data: &[u8], nonblocking: bool) -> Result<usize, Errno> {
        let bytes: [u8; 8] = data.get(..8).and_then(|b| b.try_into().ok()).ok_or(Errno::EINVAL)?;
        let value = u64::from_ne_bytes(bytes);
        if value == u64::MAX {
            return Err(Errno::EINVAL);
        }
        let mut count = self.count.lock();
        if MAX_COUNT - *count < value {
            return Err(if nonblocking { Errno::EAGAIN } else { Errno::ERESTART });
        }
        *count += value;
        crate::readiness::changed();
        Ok(8)
    }

    /// (readable, writable) for poll.
    pub fn poll(&self) -> (bool, bool) {
        let count = *self.count.lock();
        (count > 0, count < MAX_COUNT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_as_linux() {
        let e = EventFd::new(3, false);
        let mut buf = [0u8; 8];
        assert_eq!(e.read(&mut buf, true), Ok(8));
        assert_eq!(u64::from_ne_bytes(buf), 3);
        assert_eq!(e.read(&mut buf, true), Err(Errno::EAGAIN));
        assert_eq!(e.read(&mut buf, false), Err(Errno::ERESTART));
        assert_eq!(e.read(&mut buf[..4], true), Err(Errno::EINVAL));
        assert_eq!(e.write(&u64::MAX.to_ne_bytes(), true), Err(Errno::EINVAL));
        assert_eq!(e.write(&MAX_COUNT.to_ne_bytes(), true), Ok(8));
        assert_eq!(e.poll(), (true, false));
        assert_eq!(e.write(&1u64.to_ne_bytes(), true), Err(Errno::EAGAIN));
        let s = EventFd::new(2, true);
        for _ in 0..2 {
            assert_eq!(s.read(&mut buf, true), Ok(8));
            assert_eq!(u64::from_ne_bytes(buf), 1);
        }
        assert_eq!(s.read(&mut buf, true), Err(Errno::EAGAIN));
    }
}
