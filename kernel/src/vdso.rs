//! The vDSO: a small ELF shared object every μprocess maps, so that glibc
//! reads the clocks without a system call (`__kernel_clock_gettime`,
//! `__kernel_gettimeofday`, `__kernel_clock_getres`) and returns from
//! signal handlers through `__kernel_rt_sigreturn`. The code is
//! arch-morello's ([`arch_morello::vdso`]); this module builds the image
//! around it once, as an anonymous file of three pages (the `[vvar]` data,
//! the ELF header with its dynamic symbols, the code), and maps it into
//! each new view: `[vvar]` read-only, `[vdso]` readable and executable,
//! shared by every μprocess until one writes it (it cannot: no write
//! permission).

use alloc::sync::Arc;
use alloc::vec::Vec;
use loader::Protection;
use posix_shim::Errno;
use posix_shim::vfs::Inode;
use spin::Once;
use uprocess::areas::{AreaKind, Backing, NamedFile, PAGE};
use uprocess::context::IsolationContext;

/// Where `[vvar]` goes in every μprocess (above the stack, below 2^48).
const VVAR: u64 = 0x0000_ffff_f7ff_0000;
/// Where the vDSO's ELF header goes (AT_SYSINFO_EHDR).
pub const BASE: u64 = VVAR + PAGE;
/// The code's offset in the vDSO image.
const CODE: u64 = PAGE;

const _: () = assert!(arch_morello::vdso::DATA_BEFORE_CODE == CODE + PAGE);

/// The image's file: data page, ELF page, code page.
fn image() -> Result<&'static Arc<Inode>, Errno> {
    static IMAGE: Once<Result<Arc<Inode>, Errno>> = Once::new();
    IMAGE
        .call_once(|| {
            let vfs = crate::files::vfs();
            let file = vfs.anonymous_file(3 * PAGE, &posix_shim::vfs::Credentials::root())?;
            let mut data = Vec::new();
            data.extend_from_slice(&arch_morello::timer::ns_mult().to_le_bytes());
            data.extend_from_slice(&crate::platform::platform().realtime_at_boot_ns.to_le_bytes());
            file.write_at(Some(0), &data, vfs.now())?;
            file.write_at(Some(PAGE), &elf_page(), vfs.now())?;
            file.write_at(Some(PAGE + CODE), arch_morello::vdso::code(), vfs.now())?;
            Ok(file)
        })
        .as_ref()
        .map_err(|e| *e)
}

/// Maps `[vvar]` and `[vdso]` into `space`; returns the vDSO's address
/// (AT_SYSINFO_EHDR).
pub fn map(space: &mut crate::process::Space) -> Result<u64, Errno> {
    let file = image()?;
    let backing = |offset| Some(Backing { file: NamedFile::unnamed(file.clone()), offset, shared: false });
    space.map(VVAR, PAGE, Protection::READ, AreaKind::Vvar, backing(0))?;
    space.map(BASE, 2 * PAGE, Protection::READ | Protection::EXEC, AreaKind::Vdso, backing(PAGE))?;
    Ok(BASE)
}

/// Where a handler installed without SA_RESTORER returns to.
pub fn sigreturn() -> u64 {
    let (_, offset) = arch_morello::vdso::functions()[3];
    BASE + CODE + offset
}

const SONAME: &[u8] = b"linux-vdso.so.1";

/// The ELF header page: one PT_LOAD over this page and the code, a
/// PT_DYNAMIC with a symbol table, a string table and a SysV hash table.
/// No symbol versions: glibc then accepts the symbols for the version it
/// asks (LINUX_2.6.39).
fn elf_page() -> Vec<u8> {
    const PHDRS: usize = 0x40;
    const DYNSYM: usize = 0x100;
    const DYNSTR: usize = 0x200;
    const HASH: usize = 0x300;
    const DYNAMIC: usize = 0x400;
    let functions = arch_morello::vdso::functions();
    let mut page = alloc::vec![0u8; PAGE as usize];
    let mut put = |at: usize, bytes: &[u8]| page[at..at + bytes.len()].copy_from_slice(bytes);
    // Elf64_Ehdr: ELF64, little-endian, version 1, System V; ET_DYN for
    // AArch64 (183); program headers at PHDRS.
    put(0, &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    put(16, &3u16.to_le_bytes());
    put(18, &183u16.to_le_bytes());
    put(20, &1u32.to_le_bytes());
    put(32, &(PHDRS as u64).to_le_bytes());
    put(52, &64u16.to_le_bytes());
    put(54, &56u16.to_le_bytes());
    put(56, &2u16.to_le_bytes());
    put(58, &64u16.to_le_bytes());
    // PT_LOAD (1), R+X, over the ELF page and the code page.
    let phdr = |p_type: u32, flags: u32, offset: u64, size: u64, align: u64| {
        let mut h = [0u8; 56];
        h[0..4].copy_from_slice(&p_type.to_le_bytes());
        h[4..8].copy_from_slice(&flags.to_le_bytes());
        for (at, value) in [(8, offset), (16, offset), (24, offset), (32, size), (40, size), (48, align)] {
            h[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
        h
    };
    put(PHDRS, &phdr(1, 5, 0, 2 * PAGE, PAGE));
    let dynamic_entries = 7;
    put(PHDRS + 56, &phdr(2, 4, DYNAMIC as u64, 16 * dynamic_entries, 8));
    // .dynstr: "\0" then each name, then the soname.
    let mut strings = alloc::vec![0u8];
    let mut name_at = Vec::new();
    for (name, _) in functions {
        name_at.push(strings.len() as u32);
        strings.extend_from_slice(name.as_bytes());
        strings.push(0);
    }
    let soname_at = strings.len() as u64;
    strings.extend_from_slice(SONAME);
    strings.push(0);
    put(DYNSTR, &strings);
    // .dynsym: the null symbol, then the functions (STB_GLOBAL, STT_FUNC,
    // a defined section), at their addresses in the image.
    for (i, ((_, offset), name)) in functions.iter().zip(&name_at).enumerate() {
        let mut sym = [0u8; 24];
        sym[0..4].copy_from_slice(&name.to_le_bytes());
        sym[4] = 0x12;
        sym[6..8].copy_from_slice(&1u16.to_le_bytes());
        sym[8..16].copy_from_slice(&(CODE + offset).to_le_bytes());
        put(DYNSYM + 24 * (i + 1), &sym);
    }
    // .hash: one bucket chaining every symbol.
    let symbols = functions.len() as u32 + 1;
    let mut hash = Vec::new();
    for word in [1, symbols, symbols - 1] {
        hash.extend_from_slice(&word.to_le_bytes());
    }
    for index in 0..symbols {
        hash.extend_from_slice(&index.saturating_sub(1).to_le_bytes());
    }
    put(HASH, &hash);
    // .dynamic: DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT,
    // DT_SONAME, DT_NULL.
    let entries: [(u64, u64); 7] = [
        (4, HASH as u64),
        (5, DYNSTR as u64),
        (6, DYNSYM as u64),
        (10, strings.len() as u64),
        (11, 24),
        (14, soname_at),
        (0, 0),
    ];
    for (i, (tag, value)) in entries.into_iter().enumerate() {
        put(DYNAMIC + 16 * i, &tag.to_le_bytes());
        put(DYNAMIC + 16 * i + 8, &value.to_le_bytes());
    }
    page
}
