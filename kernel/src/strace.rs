//! `--strace`: one line per system call with its arguments decoded as strace
//! prints them (descriptors, paths and strings read from the μprocess,
//! flags by name) and its result (`= 3`, `= 0x5da000`, `= -1 ENOENT (...)`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use posix_shim::Errno;
use posix_shim::syscall::numbers::Sysno;
use posix_shim::user::{UserAddr, UserMemory};

/// How one argument is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    /// A file descriptor; AT_FDCWD by name.
    Fd,
    /// A NUL-terminated path.
    Path,
    /// A buffer whose length is argument `n`, shown as a string.
    Bytes(usize),
    /// A signed number.
    Int,
    /// A number in hexadecimal (addresses, sizes of mappings).
    Hex,
    /// Octal (modes).
    Octal,
    /// open(2) flags.
    OpenFlags,
    /// PROT_* flags.
    Prot,
    /// MAP_* flags.
    MapFlags,
}

fn signature(sysno: Sysno) -> &'static [Arg] {
    use Arg::*;
    use Sysno as S;
    match sysno {
        S::openat => &[Fd, Path, OpenFlags, Octal],
        S::close | S::fsync | S::fdatasync | S::fchdir | S::dup => &[Fd],
        S::read | S::pread64 | S::getdents64 => &[Fd, Hex, Int],
        S::write | S::pwrite64 => &[Fd, Bytes(2), Int],
        S::readv | S::writev => &[Fd, Hex, Int],
        S::lseek => &[Fd, Int, Int],
        S::fstat => &[Fd, Hex],
        S::newfstatat => &[Fd, Path, Hex, Hex],
        S::statx => &[Fd, Path, Hex, Hex, Hex],
        S::readlinkat => &[Fd, Path, Hex, Int],
        S::faccessat | S::faccessat2 => &[Fd, Path, Octal, Hex],
        S::mkdirat => &[Fd, Path, Octal],
        S::unlinkat => &[Fd, Path, Hex],
        S::symlinkat => &[Path, Fd, Path],
        S::linkat | S::renameat | S::renameat2 => &[Fd, Path, Fd, Path, Hex],
        S::chdir => &[Path],
        S::fchmodat => &[Fd, Path, Octal],
        S::fchownat => &[Fd, Path, Int, Int, Hex],
        S::utimensat => &[Fd, Path, Hex, Hex],
        S::dup3 => &[Fd, Fd, OpenFlags],
        S::fcntl | S::ioctl => &[Fd, Hex, Hex],
        S::ftruncate => &[Fd, Int],
        S::getcwd => &[Hex, Int],
        S::execve => &[Path, Hex, Hex],
        S::mmap => &[Hex, Hex, Prot, MapFlags, Fd, Hex],
        S::munmap => &[Hex, Hex],
        S::mprotect => &[Hex, Hex, Prot],
        S::madvise => &[Hex, Hex, Int],
        S::brk => &[Hex],
        S::exit | S::exit_group => &[Int],
        S::getpid | S::getppid | S::gettid | S::getuid | S::geteuid | S::getgid | S::getegid | S::sched_yield => &[],
        _ => &[Hex, Hex, Hex, Hex, Hex, Hex],
    }
}

/// Calls whose successful result is an address.
fn returns_address(sysno: Sysno) -> bool {
    matches!(sysno, Sysno::mmap | Sysno::brk | Sysno::mremap)
}

fn flags(value: u64, names: &[(u64, &str)], zero: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut rest = value;
    for &(bit, name) in names {
        if bit != 0 && rest & bit == bit {
            parts.push(name.into());
            rest &= !bit;
        }
    }
    if rest != 0 || parts.is_empty() && value != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() { zero.into() } else { parts.join("|") }
}

fn open_flags(value: u64) -> String {
    let access = match value & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    };
    let rest = flags(
        value & !3,
        &[
            (0o100, "O_CREAT"),
            (0o200, "O_EXCL"),
            (0o400, "O_NOCTTY"),
            (0o1000, "O_TRUNC"),
            (0o2000, "O_APPEND"),
            (0o4000, "O_NONBLOCK"),
            (0o10000, "O_DSYNC"),
            (0o40000, "O_DIRECTORY"),
            (0o100000, "O_NOFOLLOW"),
            (0o400000, "O_LARGEFILE"),
            (0o2000000, "O_CLOEXEC"),
            (0o10000000, "O_PATH"),
        ],
        "",
    );
    if rest.is_empty() { access.into() } else { format!("{access}|{rest}") }
}

/// `"text"` with C escapes, cut after `limit` bytes with `...`.
fn quoted(bytes: &[u8], limit: usize) -> String {
    let mut out = String::from("\"");
    for &b in bytes.iter().take(limit) {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:o}")),
        }
    }
    out.push('"');
    if bytes.len() > limit {
        out.push_str("...");
    }
    out
}

fn argument(kind: Arg, regs: &[u64; 6], i: usize, memory: &dyn UserMemory) -> String {
    let value = regs[i];
    match kind {
        Arg::Fd if value as i32 == -100 => "AT_FDCWD".into(),
        Arg::Fd | Arg::Int => format!("{}", value as i64),
        Arg::Hex if value == 0 => "0".into(),
        Arg::Hex => format!("{value:#x}"),
        Arg::Octal if value == 0 => "0".into(),
        Arg::Octal => format!("0{value:o}"),
        Arg::Path => match memory.read_c_string(UserAddr::new(value), 4096) {
            Ok(path) => quoted(&path, 256),
            Err(_) => format!("{value:#x}"),
        },
        Arg::Bytes(len_index) => {
            let len = regs[len_index].min(32) as usize;
            let mut buffer = alloc::vec![0u8; len];
            match memory.read_bytes(UserAddr::new(value), &mut buffer) {
                Ok(()) if regs[len_index] > 32 => format!("{}...", quoted(&buffer, 32)),
                Ok(()) => quoted(&buffer, 32),
                Err(_) => format!("{value:#x}"),
            }
        }
        Arg::OpenFlags => open_flags(value),
        Arg::Prot => flags(value, &[(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC")], "PROT_NONE"),
        Arg::MapFlags => flags(
            value,
            &[
                (0x01, "MAP_SHARED"),
                (0x02, "MAP_PRIVATE"),
                (0x10, "MAP_FIXED"),
                (0x20, "MAP_ANONYMOUS"),
                (0x100, "MAP_GROWSDOWN"),
                (0x4000, "MAP_NORESERVE"),
                (0x8000, "MAP_POPULATE"),
                (0x20000, "MAP_STACK"),
                (0x100000, "MAP_FIXED_NOREPLACE"),
            ],
            "0",
        ),
    }
}

/// The call as strace shows it before it runs: `openat(AT_FDCWD, "/", O_RDONLY)`.
pub fn describe_call(sysno: Option<Sysno>, number: u64, regs: &[u64; 6], memory: &dyn UserMemory) -> String {
    let Some(sysno) = sysno else {
        return format!("syscall_{number:#x}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x})", regs[0], regs[1], regs[2], regs[3], regs[4], regs[5]);
    };
    let args: Vec<String> = signature(sysno).iter().enumerate().map(|(i, &kind)| argument(kind, regs, i, memory)).collect();
    format!("{}({})", sysno.name(), args.join(", "))
}

/// The result as strace shows it: ` = 3`, ` = 0x5da000`, ` = -1 ENOENT (...)`.
pub fn describe_result(sysno: Option<Sysno>, result: &Result<u64, Errno>) -> String {
    match result {
        Ok(value) if sysno.is_some_and(returns_address) => format!(" = {value:#x}"),
        Ok(value) => format!(" = {}", *value as i64),
        Err(e) => format!(" = -1 {} ({})", e.name(), e.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use posix_shim::user::FakeUserMemory;

    #[test]
    fn decodes_paths_flags_and_results() {
        let mut memory = FakeUserMemory::new();
        memory.map(0x1000, 4096);
        memory.poke(0x1000, b"/etc/passwd\0");
        let regs = [(-100i64) as u64, 0x1000, 0o2000000, 0, 0, 0];
        let call = describe_call(Some(Sysno::openat), 56, &regs, &memory);
        assert_eq!(call, "openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC, 0)");
        assert_eq!(describe_result(Some(Sysno::openat), &Ok(3)), " = 3");
        assert_eq!(
            describe_result(Some(Sysno::openat), &Err(Errno::ENOENT)),
            " = -1 ENOENT (No such file or directory)"
        );
        assert_eq!(describe_result(Some(Sysno::brk), &Ok(0x5da000)), " = 0x5da000");
    }

    #[test]
    fn shows_written_bytes_and_bad_pointers() {
        let mut memory = FakeUserMemory::new();
        memory.map(0x2000, 4096);
        memory.poke(0x2000, b"hi\n");
        let call = describe_call(Some(Sysno::write), 64, &[1, 0x2000, 3, 0, 0, 0], &memory);
        assert_eq!(call, "write(1, \"hi\\n\", 3)");
        let call = describe_call(Some(Sysno::openat), 56, &[3, 0xdead_0000, 0, 0, 0, 0], &memory);
        assert_eq!(call, "openat(3, 0xdead0000, O_RDONLY, 0)");
        let call = describe_call(Some(Sysno::mmap), 222, &[0, 0x1000, 3, 0x22, u64::MAX, 0], &memory);
        assert_eq!(call, "mmap(0, 0x1000, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)");
    }
}
