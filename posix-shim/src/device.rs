//! Character devices: the memory devices posix-shim implements itself
//! (`/dev/null`, `zero`, `full`, `random`, `urandom`) and the interface to
//! the kernel's drivers ([`CharDevices`]: the console and `/dev/tty`),
//! including the typed terminal requests behind `ioctl`.

use crate::Errno;
use crate::vfs::DevNumber;

/// A source of random bytes (the kernel's CSPRNG).
pub trait Random {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

/// The `struct termios` flag bits and `c_cc` indices Morsel uses
/// (asm-generic `termbits.h`).
pub mod termios {
    /// `c_iflag`: translate CR to NL on input.
    pub const ICRNL: u32 = 0o400;
    /// `c_iflag`: XON/XOFF flow control on output.
    pub const IXON: u32 = 0o2000;
    /// `c_oflag`: post-process output.
    pub const OPOST: u32 = 0o1;
    /// `c_oflag`: map NL to CR-NL on output.
    pub const ONLCR: u32 = 0o4;
    /// `c_cflag`: 38400 baud.
    pub const B38400: u32 = 0o17;
    /// `c_cflag`: 8-bit characters.
    pub const CS8: u32 = 0o60;
    /// `c_cflag`: enable the receiver.
    pub const CREAD: u32 = 0o200;
    /// `c_cflag`: hang up on last close.
    pub const HUPCL: u32 = 0o2000;
    /// `c_lflag`: generate signals for VINTR, VQUIT and VSUSP.
    pub const ISIG: u32 = 0o1;
    /// `c_lflag`: canonical (line) input.
    pub const ICANON: u32 = 0o2;
    /// `c_lflag`: echo input.
    pub const ECHO: u32 = 0o10;
    /// `c_lflag`: VERASE erases the previous character.
    pub const ECHOE: u32 = 0o20;
    /// `c_lflag`: VKILL erases the line.
    pub const ECHOK: u32 = 0o40;
    /// `c_lflag`: echo control characters as `^X`.
    pub const ECHOCTL: u32 = 0o1000;
    /// `c_lflag`: VKILL erases the line character by character.
    pub const ECHOKE: u32 = 0o4000;
    /// `c_lflag`: extended input processing.
    pub const IEXTEN: u32 = 0o100000;
    /// `c_lflag`: background writes raise SIGTTOU.
    pub const TOSTOP: u32 = 0o400;
    /// `c_cc` index: the interrupt character (SIGINT).
    pub const VINTR: usize = 0;
    /// `c_cc` index: the quit character (SIGQUIT).
    pub const VQUIT: usize = 1;
    /// `c_cc` index: the erase character.
    pub const VERASE: usize = 2;
    /// `c_cc` index: the end-of-file character.
    pub const VEOF: usize = 4;
    /// `c_cc` index: the suspend character (SIGTSTP).
    pub const VSUSP: usize = 10;
}

/// `struct termios` as the asm-generic `TCGETS` passes it (36 bytes: four
/// flag words, `c_line`, `c_cc[19]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Termios {
    /// `c_iflag`.
    pub iflag: u32,
    /// `c_oflag`.
    pub oflag: u32,
    /// `c_cflag`.
    pub cflag: u32,
    /// `c_lflag`.
    pub lflag: u32,
    /// `c_line`.
    pub line: u8,
    /// `c_cc`.
    pub cc: [u8; 19],
}

impl Termios {
    /// Size of the structure `TCGETS` writes.
    pub const SIZE: usize = 36;

    /// Linux's defaults for a new terminal (`tty_std_termios`: `ICRNL|IXON`,
    /// `OPOST|ONLCR`, `B38400|CS8|CREAD|HUPCL`,
    /// `ISIG|ICANON|ECHO|ECHOE|ECHOK|ECHOCTL|ECHOKE|IEXTEN`, `INIT_C_CC`).
    pub const DEFAULT: Termios = Termios {
        iflag: termios::ICRNL | termios::IXON,
        oflag: termios::OPOST | termios::ONLCR,
        cflag: termios::B38400 | termios::CS8 | termios::CREAD | termios::HUPCL,
        lflag: termios::ISIG
            | termios::ICANON
            | termios::ECHO
            | termios::ECHOE
            | termios::ECHOK
            | termios::ECHOCTL
            | termios::ECHOKE
            | termios::IEXTEN,
        line: 0,
        cc: [3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0],
    };

    /// The little-endian bytes of the structure.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.iflag.to_le_bytes());
        b[4..8].copy_from_slice(&self.oflag.to_le_bytes());
        b[8..12].copy_from_slice(&self.cflag.to_le_bytes());
        b[12..16].copy_from_slice(&self.lflag.to_le_bytes());
        b[16] = self.line;
        b[17..36].copy_from_slice(&self.cc);
        b
    }

    /// Decodes the structure.
    pub fn decode(b: &[u8; Self::SIZE]) -> Termios {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut cc = [0u8; 19];
        cc.copy_from_slice(&b[17..36]);
        Termios { iflag: word(0), oflag: word(4), cflag: word(8), lflag: word(12), line: b[16], cc }
    }
}

/// `struct winsize` (8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Winsize {
    /// `ws_row`.
    pub rows: u16,
    /// `ws_col`.
    pub cols: u16,
    /// `ws_xpixel`.
    pub xpixel: u16,
    /// `ws_ypixel`.
    pub ypixel: u16,
}

impl Winsize {
    /// Size of the structure.
    pub const SIZE: usize = 8;

    /// The little-endian bytes of the structure.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        for (i, v) in [self.rows, self.cols, self.xpixel, self.ypixel].into_iter().enumerate() {
            b[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// Decodes the structure.
    pub fn decode(b: &[u8; Self::SIZE]) -> Winsize {
        let half = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Winsize { rows: half(0), cols: half(2), xpixel: half(4), ypixel: half(6) }
    }
}

/// When a `TCSETS*` request takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetWhen {
    /// `TCSETS`: now.
    Now,
    /// `TCSETSW`: after output drains.
    Drain,
    /// `TCSETSF`: after output drains, discarding pending input.
    Flush,
}

/// A terminal request, decoded from `ioctl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtyRequest {
    /// `TCGETS`.
    GetTermios,
    /// `TCSETS`, `TCSETSW`, `TCSETSF`.
    SetTermios(Termios, SetWhen),
    /// `TIOCGWINSZ`.
    GetWinsize,
    /// `TIOCSWINSZ`.
    SetWinsize(Winsize),
    /// `TIOCGPGRP`: the foreground process group.
    GetForegroundGroup,
    /// `TIOCSPGRP`.
    SetForegroundGroup(i32),
}

/// A driver's answer to a [`TtyRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtyReply {
    /// Nothing to copy out.
    Done,
    /// For `GetTermios`.
    Termios(Termios),
    /// For `GetWinsize`.
    Winsize(Winsize),
    /// For `GetForegroundGroup`.
    Group(i32),
}

/// The kernel's character device drivers (console, `/dev/tty`). Devices
/// posix-shim implements itself ([`MemDevice`]) never reach this trait.
pub trait CharDevices {
    /// Called when a node for `dev` is opened: `ENXIO` if no driver is bound.
    fn open(&self, dev: DevNumber) -> Result<(), Errno>;

    /// Reads into `buf`. With `nonblocking` and nothing to read: `EAGAIN`.
    /// Blocking waits until there is input (a line in canonical mode).
    fn read(&self, dev: DevNumber, buf: &mut [u8], nonblocking: bool) -> Result<usize, Errno>;

    /// Writes `data`; returns how much was taken.
    fn write(&self, dev: DevNumber, data: &[u8]) -> Result<usize, Errno>;

    /// Whether a read would return without blocking (poll's POLLIN).
    fn readable(&self, dev: DevNumber) -> bool;

    /// A terminal request: `ENOTTY` if the device is not a terminal.
    fn tty_request(&self, dev: DevNumber, request: TtyRequest) -> Result<TtyReply, Errno>;
}

/// The memory devices (major 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemDevice {
    /// `/dev/null`: reads end, writes vanish.
    Null,
    /// `/dev/zero`: reads zeros, writes vanish.
    Zero,
    /// `/dev/full`: reads zeros, writes fail with `ENOSPC`.
    Full,
    /// `/dev/random` and `/dev/urandom` (the same since Linux 5.6): reads
    /// random bytes; writes are accepted (and add nothing here).
    Random,
}

impl MemDevice {
    /// The memory device with this number, if it is one.
    pub fn from_dev(dev: DevNumber) -> Option<MemDevice> {
        match dev {
            DevNumber::NULL => Some(MemDevice::Null),
            DevNumber::ZERO => Some(MemDevice::Zero),
            DevNumber::FULL => Some(MemDevice::Full),
            DevNumber::RANDOM | DevNumber::URANDOM => Some(MemDevice::Random),
            _ => None,
        }
    }

    /// Reads into `buf`.
    pub fn read(self, buf: &mut [u8], random: &mut dyn Random) -> usize {
        match self {
            MemDevice::Null => 0,
            MemDevice::Zero | MemDevice::Full => {
                buf.fill(0);
                buf.len()
            }
            MemDevice::Random => {
                random.fill(buf);
                buf.len()
            }
        }
    }

    /// Writes `len` bytes.
    pub fn write(self, len: usize) -> Result<usize, Errno> {
        match self {
            MemDevice::Full => Err(Errno::ENOSPC),
            _ => Ok(len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u8);
    impl Random for Counter {
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
        }
    }

    #[test]
    fn termios_layout() {
        let t = Termios::DEFAULT;
        let b = t.encode();
        assert_eq!(&b[0..4], &0x0500u32.to_le_bytes());
        assert_eq!(&b[4..8], &5u32.to_le_bytes());
        assert_eq!(&b[8..12], &0x04bfu32.to_le_bytes());
        assert_eq!(&b[12..16], &0x8a3bu32.to_le_bytes());
        assert_eq!(b[17], 3, "VINTR is ^C");
        assert_eq!(b[17 + 4], 4, "VEOF is ^D");
        assert_eq!(b[17 + 6], 1, "VMIN");
        assert_eq!(Termios::decode(&b), t);
        let w = Winsize { rows: 24, cols: 80, xpixel: 1, ypixel: 2 };
        assert_eq!(w.encode(), [24, 0, 80, 0, 1, 0, 2, 0]);
        assert_eq!(Winsize::decode(&w.encode()), w);
    }

    #[test]
    fn memory_devices() {
        let mut r = Counter(0);
        let mut buf = [9u8; 4];
        assert_eq!(MemDevice::Null.read(&mut buf, &mut r), 0);
        assert_eq!(MemDevice::Zero.read(&mut buf, &mut r), 4);
        assert_eq!(buf, [0; 4]);
        assert_eq!(MemDevice::Random.read(&mut buf, &mut r), 4);
        assert_eq!(buf, [1, 2, 3, 4]);
        assert_eq!(MemDevice::Full.write(3), Err(Errno::ENOSPC));
        assert_eq!(MemDevice::Null.write(3), Ok(3));
        assert_eq!(MemDevice::from_dev(DevNumber::URANDOM), Some(MemDevice::Random));
        assert_eq!(MemDevice::from_dev(DevNumber::CONSOLE), None);
    }
}
