//! The initial stack of a μprocess: its mapping and its contents, laid out
//! exactly as Linux arm64's execve lays them out (the strings as `fs/exec.c`
//! copies them, the rest as `create_elf_tables` in `fs/binfmt_elf.c` builds
//! it, without address randomisation). From the top down:
//!
//! ```text
//! top - 8      8 zero bytes
//!              execfn string                       (AT_EXECFN)
//!              envp strings, envp[0] lowest
//!              argv strings, argv[0] lowest
//!              (down to a multiple of 16)
//!              "aarch64\0"                         (AT_PLATFORM)
//!              16 random bytes                     (AT_RANDOM)
//!              (padding: sp is a multiple of 16)
//!              auxv: (type, value) pairs, ending with AT_NULL
//!              envp pointers, NULL
//!              argv pointers, NULL
//! sp ->        argc
//! ```
//!
//! The registers at entry (pc, sp, the rest zero) are the kernel's.

use alloc::vec::Vec;

use posix_shim::Errno;

use crate::elf::{ADDRESS_LIMIT, align_down};
use crate::program::Program;
use crate::space::{AddressSpace, Protection};

/// The auxiliary vector's entry types (`include/uapi/linux/auxvec.h`,
/// `arch/arm64/include/uapi/asm/auxvec.h`) that Morsel passes.
pub mod auxv {
    /// End of the vector.
    pub const AT_NULL: u64 = 0;
    /// An entry to ignore (Linux's stand-in for an unknown AT_MINSIGSTKSZ).
    pub const AT_IGNORE: u64 = 1;
    /// Address of the executable's program headers.
    pub const AT_PHDR: u64 = 3;
    /// Size of one program header.
    pub const AT_PHENT: u64 = 4;
    /// Number of program headers.
    pub const AT_PHNUM: u64 = 5;
    /// Page size.
    pub const AT_PAGESZ: u64 = 6;
    /// Load bias of the interpreter (0 without one).
    pub const AT_BASE: u64 = 7;
    /// Flags (0).
    pub const AT_FLAGS: u64 = 8;
    /// The executable's entry point.
    pub const AT_ENTRY: u64 = 9;
    /// Real user id.
    pub const AT_UID: u64 = 11;
    /// Effective user id.
    pub const AT_EUID: u64 = 12;
    /// Real group id.
    pub const AT_GID: u64 = 13;
    /// Effective group id.
    pub const AT_EGID: u64 = 14;
    /// Address of the platform string.
    pub const AT_PLATFORM: u64 = 15;
    /// CPU capabilities (HWCAP_*).
    pub const AT_HWCAP: u64 = 16;
    /// Frequency of times().
    pub const AT_CLKTCK: u64 = 17;
    /// Secure mode (setuid-like exec).
    pub const AT_SECURE: u64 = 23;
    /// Address of 16 random bytes.
    pub const AT_RANDOM: u64 = 25;
    /// More CPU capabilities (HWCAP2_*).
    pub const AT_HWCAP2: u64 = 26;
    /// Address of the file name given to execve.
    pub const AT_EXECFN: u64 = 31;
    /// Address of the vDSO's ELF header.
    pub const AT_SYSINFO_EHDR: u64 = 33;
    /// The minimum signal stack size the kernel needs.
    pub const AT_MINSIGSTKSZ: u64 = 51;
}

/// The platform string (ELF_PLATFORM on arm64).
pub const PLATFORM: &[u8] = b"aarch64\0";

/// The longest argument or environment string, with its NUL (Linux's
/// MAX_ARG_STRLEN: 32 pages of 4 KiB).
pub const MAX_ARG_STRLEN: u64 = 32 * 4096;

/// The most bytes the strings and pointers of argv and envp may take (Linux:
/// 3/4 of its 8 MiB default stack limit, and never more than a quarter of the
/// stack).
pub const MAX_ARG_BYTES: u64 = 6 << 20;

/// Where the stack goes: `[top - size, top)`, both page-aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackPlacement {
    /// The address just above the stack.
    pub top: u64,
    /// Its size in bytes (RLIMIT_STACK on Linux).
    pub size: u64,
}

/// What execve tells the new program besides its own ELF headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartInfo {
    /// The arguments, without NULs (an empty argv gets one empty argument,
    /// as on Linux).
    pub argv: Vec<Vec<u8>>,
    /// The environment, `NAME=value` without NULs.
    pub envp: Vec<Vec<u8>>,
    /// The file name given to execve (AT_EXECFN).
    pub execfn: Vec<u8>,
    /// AT_RANDOM's bytes (glibc's stack protector and pointer guard).
    pub random: [u8; 16],
    /// AT_HWCAP.
    pub hwcap: u64,
    /// AT_HWCAP2.
    pub hwcap2: u64,
    /// AT_UID.
    pub uid: u32,
    /// AT_EUID.
    pub euid: u32,
    /// AT_GID.
    pub gid: u32,
    /// AT_EGID.
    pub egid: u32,
    /// AT_SECURE.
    pub secure: bool,
    /// AT_CLKTCK (100 on Linux).
    pub clock_ticks: u64,
    /// AT_MINSIGSTKSZ; 0 means unknown and gives AT_IGNORE, as on Linux.
    pub minsigstksz: u64,
    /// AT_SYSINFO_EHDR: the vDSO's address, if the μprocess has one.
    pub sysinfo_ehdr: Option<u64>,
}

/// Maps the stack of `placement` (read-write, demand-zero, executable too if
/// the executable's PT_GNU_STACK asks for it) and writes argc, argv, envp,
/// auxv and the strings they point to at its top. Returns the initial stack
/// pointer (a multiple of 16).
///
/// EINVAL if the placement is not page-aligned or not in the user address
/// space; E2BIG if a string is longer than [`MAX_ARG_STRLEN`] or argv and
/// envp take more than a quarter of the stack or [`MAX_ARG_BYTES`]; the
/// space's errors if the stack cannot be mapped. Nothing is mapped on EINVAL
/// or E2BIG.
pub fn build_initial_stack<F>(
    space: &mut dyn AddressSpace<File = F>,
    placement: StackPlacement,
    program: &Program,
    info: &StartInfo,
) -> Result<u64, Errno> {
    let page = space.page_size();
    let StackPlacement { top, size } = placement;
    if !page.is_power_of_two()
        || size == 0
        || !top.is_multiple_of(page)
        || !size.is_multiple_of(page)
        || top > ADDRESS_LIMIT
        || size > top
    {
        return Err(Errno::EINVAL);
    }
    let bottom = top - size;

    let empty_argument: [&[u8]; 1] = [b""];
    let argv: Vec<&[u8]> = if info.argv.is_empty() {
        empty_argument.to_vec()
    } else {
        info.argv.iter().map(Vec::as_slice).collect()
    };
    let envp: Vec<&[u8]> = info.envp.iter().map(Vec::as_slice).collect();
    check_argument_size(&argv, &envp, &info.execfn, size)?;

    // The strings take at most a quarter of `size` (<= `top`), and the
    // platform string, the random bytes and the alignment 39 bytes more: the
    // subtractions down to `random_addr` cannot underflow.
    let mut p = top - 8;
    p -= string_size(&info.execfn);
    let execfn_addr = p;
    let envp_addrs = place_strings(&mut p, &envp);
    let argv_addrs = place_strings(&mut p, &argv);
    p = align_down(p, 16);
    p -= u64_len(PLATFORM);
    let platform_addr = p;
    p -= u64_len(&info.random);
    let random_addr = p;

    let exe = &program.exe;
    let mut entries: Vec<(u64, u64)> = Vec::with_capacity(22);
    if let Some(vdso) = info.sysinfo_ehdr {
        entries.push((auxv::AT_SYSINFO_EHDR, vdso));
    }
    entries.push(if info.minsigstksz != 0 {
        (auxv::AT_MINSIGSTKSZ, info.minsigstksz)
    } else {
        (auxv::AT_IGNORE, 0)
    });
    entries.extend([
        (auxv::AT_HWCAP, info.hwcap),
        (auxv::AT_PAGESZ, page),
        (auxv::AT_CLKTCK, info.clock_ticks),
        (auxv::AT_PHDR, exe.phdr_addr),
        (auxv::AT_PHENT, u64::from(exe.phent)),
        (auxv::AT_PHNUM, u64::from(exe.phnum)),
        (auxv::AT_BASE, program.interpreter_base()),
        (auxv::AT_FLAGS, 0),
        (auxv::AT_ENTRY, exe.entry),
        (auxv::AT_UID, u64::from(info.uid)),
        (auxv::AT_EUID, u64::from(info.euid)),
        (auxv::AT_GID, u64::from(info.gid)),
        (auxv::AT_EGID, u64::from(info.egid)),
        (auxv::AT_SECURE, u64::from(info.secure)),
        (auxv::AT_RANDOM, random_addr),
        (auxv::AT_HWCAP2, info.hwcap2),
        (auxv::AT_EXECFN, execfn_addr),
        (auxv::AT_PLATFORM, platform_addr),
        (auxv::AT_NULL, 0),
    ]);

    let words = entries.len() * 2 + argv.len() + 1 + envp.len() + 1 + 1;
    let table_size = u64::try_from(words * 8).map_err(|_| Errno::E2BIG)?;
    let sp = p.checked_sub(table_size).map(|sp| align_down(sp, 16)).ok_or(Errno::E2BIG)?;
    if sp < bottom {
        return Err(Errno::E2BIG);
    }

    let mut frame = Frame::new(sp, top);
    frame.put_word(u64::try_from(argv.len()).map_err(|_| Errno::E2BIG)?);
    for &addr in &argv_addrs {
        frame.put_word(addr);
    }
    frame.put_word(0);
    for &addr in &envp_addrs {
        frame.put_word(addr);
    }
    frame.put_word(0);
    for &(kind, value) in &entries {
        frame.put_word(kind);
        frame.put_word(value);
    }
    frame.put(random_addr, &info.random);
    frame.put(platform_addr, PLATFORM);
    for (&addr, string) in argv_addrs.iter().chain(&envp_addrs).zip(argv.iter().chain(&envp)) {
        frame.put(addr, string);
    }
    frame.put(execfn_addr, &info.execfn);

    let mut prot = Protection::READ | Protection::WRITE;
    prot.set(Protection::EXEC, exe.executable_stack);
    space.map_stack(bottom, size, prot)?;
    space.write(sp, &frame.bytes)?;
    Ok(sp)
}

/// E2BIG unless every string fits MAX_ARG_STRLEN and the strings (with the
/// 8 bytes at the top) and argv and envp pointers fit a quarter of the stack
/// and MAX_ARG_BYTES (Linux's `bprm_stack_limits` and `copy_strings`).
fn check_argument_size(argv: &[&[u8]], envp: &[&[u8]], execfn: &[u8], stack_size: u64) -> Result<(), Errno> {
    let limit = MAX_ARG_BYTES.min(stack_size / 4);
    let mut total = 8u64;
    for string in argv.iter().chain(envp).chain([&execfn]) {
        let size = string_size(string);
        if size > MAX_ARG_STRLEN {
            return Err(Errno::E2BIG);
        }
        total = total.saturating_add(size);
    }
    let pointers = u64::try_from(argv.len().saturating_add(envp.len())).map_err(|_| Errno::E2BIG)?;
    total = total.saturating_add(pointers.saturating_mul(8));
    if total > limit { Err(Errno::E2BIG) } else { Ok(()) }
}

/// Places `strings` below `*p`, the last one highest (as Linux copies
/// them), and returns their addresses in order.
fn place_strings(p: &mut u64, strings: &[&[u8]]) -> Vec<u64> {
    let mut addrs: Vec<u64> = strings
        .iter()
        .rev()
        .map(|s| {
            *p -= string_size(s);
            *p
        })
        .collect();
    addrs.reverse();
    addrs
}

/// The bytes a string takes on the stack: itself and a NUL.
fn string_size(s: &[u8]) -> u64 {
    u64_len(s).saturating_add(1)
}

fn u64_len(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

/// The bytes of the stack from the initial sp to the top, built before being
/// written in one go.
#[derive(Debug)]
struct Frame {
    sp: u64,
    bytes: Vec<u8>,
    /// Where the next word of the argc/argv/envp/auxv table goes.
    cursor: usize,
}

impl Frame {
    /// A zeroed frame covering `[sp, top)` (less than MAX_ARG_BYTES plus a
    /// few pages).
    fn new(sp: u64, top: u64) -> Self {
        let len = usize::try_from(top - sp).unwrap_or(usize::MAX);
        Frame { sp, bytes: alloc::vec![0; len], cursor: 0 }
    }

    fn put_word(&mut self, word: u64) {
        self.bytes[self.cursor..self.cursor + 8].copy_from_slice(&word.to_le_bytes());
        self.cursor += 8;
    }

    /// `data` at `addr` (strings get their NUL from the zeroed frame).
    fn put(&mut self, addr: u64, data: &[u8]) {
        let offset = usize::try_from(addr - self.sp).unwrap_or(usize::MAX);
        self.bytes[offset..offset + data.len()].copy_from_slice(data);
    }
}
