//! One ELF file into an address space: recognising what can be loaded
//! ([`identify`]) and loading it ([`load_elf`]): the PT_LOAD segments at
//! their addresses (or at a chosen base, for position-independent files) with
//! their protections, and what the rest of exec needs from the program
//! headers (PT_INTERP, PT_GNU_STACK, where the program headers are in
//! memory). Relocation, PT_TLS and PT_GNU_RELRO are left to libc and ld.so,
//! as on Linux.
//!
//! Where ET_DYN files go (Linux arm64 without address randomisation, 48-bit
//! user addresses):
//! - the main program at the first free place at or above
//!   [`EXECUTABLE_DYN_BASE`] (Linux's `ELF_ET_DYN_BASE`, 2/3 of the user
//!   address space, aligned to the segments' alignment);
//! - the interpreter at the first free place at or above
//!   [`INTERPRETER_DYN_BASE`], 2 GiB below the top. Linux maps it top-down
//!   from its mmap base (128 MiB below the top, under the stack); searching
//!   upwards from a fixed address instead leaves the top 2 GiB to the stack
//!   and to the kernel's own top-down mmap, and keeps the interpreter far
//!   above the main program's heap.
//!
//! Every malformed file is refused with ENOEXEC (ENOMEM when it is well
//! formed but does not fit): stricter than Linux in three places, each where
//! Linux would run a program that cannot work or would fail later: PT_LOAD
//! segments must be in ascending order and must not share a page; the
//! program headers must be inside a PT_LOAD (Linux would pass a meaningless
//! AT_PHDR); PT_PHDR, when present, must agree with that.

use alloc::vec::Vec;

use goblin::container::Endian;
use goblin::elf::header;
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_PHDR};
use goblin::elf64::header::{Header, SIZEOF_EHDR};
use goblin::elf64::program_header::{ProgramHeader, SIZEOF_PHDR};
use posix_shim::Errno;

use crate::space::{AddressSpace, Protection};

/// The end of the user address space (48-bit virtual addresses): no segment
/// may reach beyond it.
pub const ADDRESS_LIMIT: u64 = 1 << 48;

/// Where the search for a place for a position-independent main program
/// starts (Linux arm64's `ELF_ET_DYN_BASE`, as it ends up after alignment to
/// 64 KiB).
pub const EXECUTABLE_DYN_BASE: u64 = 0xaaaa_aaaa_0000;

/// Where the search for a place for a position-independent interpreter
/// starts (2 GiB below the top of the user address space).
pub const INTERPRETER_DYN_BASE: u64 = 0xffff_8000_0000;

/// `e_flags` bit of a purecap Morello binary (EF_AARCH64_CHERI_PURECAP).
pub const EF_AARCH64_CHERI_PURECAP: u32 = 0x0001_0000;

/// The most program headers a file may have: 64 KiB of them, Linux's limit.
const MAX_PHNUM: usize = 65536 / SIZEOF_PHDR;

/// The longest PT_INTERP (with its NUL), Linux's PATH_MAX.
const PATH_MAX: u64 = 4096;

/// The kind of executable an ELF header describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutableKind {
    /// ET_EXEC: linked at fixed addresses.
    Static,
    /// ET_DYN: position-independent (static-PIE or dynamic; the program
    /// headers tell which).
    PositionIndependent,
}

/// What the ELF header of a loadable AArch64 program says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Static or position-independent.
    pub kind: ExecutableKind,
    /// A purecap Morello (CHERI) binary.
    pub purecap: bool,
    /// The entry point (relative to the load bias for PIE).
    pub entry: u64,
}

/// Which role an ELF file plays, which decides where an ET_DYN file goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The program named by execve: ET_DYN at or above
    /// [`EXECUTABLE_DYN_BASE`].
    Executable,
    /// The program interpreter named by PT_INTERP: ET_DYN at or above
    /// [`INTERPRETER_DYN_BASE`].
    Interpreter,
}

impl Placement {
    /// The address at which the search for a free range starts.
    pub const fn search_base(self) -> u64 {
        match self {
            Placement::Executable => EXECUTABLE_DYN_BASE,
            Placement::Interpreter => INTERPRETER_DYN_BASE,
        }
    }
}

/// An ELF file loaded into an address space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedElf {
    /// The entry point, in the loaded image.
    pub entry: u64,
    /// What was added to every `p_vaddr` (0 for ET_EXEC; modulo 2^64, as in
    /// Linux, for an ET_DYN file linked above its load address). AT_BASE
    /// for an interpreter.
    pub load_bias: u64,
    /// Where the program headers are in memory (AT_PHDR).
    pub phdr_addr: u64,
    /// The size of one program header (AT_PHENT).
    pub phent: u16,
    /// The number of program headers (AT_PHNUM).
    pub phnum: u16,
    /// The PT_INTERP path, without its NUL.
    pub interpreter: Option<Vec<u8>>,
    /// The page-aligned end of the highest segment: where the heap (brk)
    /// starts.
    pub brk_start: u64,
    /// PT_GNU_STACK asks for an executable stack. Without PT_GNU_STACK the
    /// stack is not executable (arm64 Linux for 64-bit programs).
    pub executable_stack: bool,
    /// A purecap Morello binary (EF_AARCH64_CHERI_PURECAP).
    pub purecap: bool,
}

/// Checks that `image` starts with the header of a 64-bit little-endian
/// AArch64 executable; anything else is ENOEXEC, as from Linux's execve.
pub fn identify(image: &[u8]) -> Result<Identity, Errno> {
    parse_header(image).map(|(_, identity)| identity)
}

/// Loads the PT_LOAD segments of `image` into `space` and reports what exec
/// needs to start it. ET_EXEC files go at their own addresses, ET_DYN files
/// at a base found with [`AddressSpace::find_free`] from
/// `placement.search_base()`, aligned to the largest PT_LOAD alignment.
///
/// Each segment is mapped demand-zero over the pages it spans, with the
/// protection of its `p_flags`, and filled the way Linux's mmap of the file
/// would show it: from the start of the file page holding `p_offset` to
/// `p_offset + p_filesz`. The rest (the bss tail of the last file page
/// included) stays zero.
///
/// On error, `space` may hold some of the segments: exec has then passed the
/// point of no return and the caller discards the space.
pub fn load_elf<F>(
    image: &[u8],
    file: &F,
    space: &mut dyn AddressSpace<File = F>,
    placement: Placement,
) -> Result<LoadedElf, Errno> {
    let page = space.page_size();
    if !page.is_power_of_two() {
        return Err(Errno::EINVAL);
    }
    let (header, identity) = parse_header(image)?;
    let phdrs = program_headers(image, &header)?;
    let layout = Layout::of(image, &header, &phdrs, page)?;

    let base = match identity.kind {
        ExecutableKind::Static => layout.start,
        ExecutableKind::PositionIndependent => find_base(space, &layout, placement)?,
    };
    let brk_start = base.checked_add(layout.end - layout.start).ok_or(Errno::ENOMEM)?;
    if brk_start > ADDRESS_LIMIT {
        return Err(Errno::ENOMEM);
    }
    // Every address between layout.start and layout.end now has its place
    // between base and brk_start, which is below ADDRESS_LIMIT.
    let place = |vaddr: u64| base + (vaddr - layout.start);
    let entry = relocate(identity.entry, base, layout.start)?;

    for segment in &layout.segments {
        let first_page = align_down(segment.vaddr, page);
        let end = align_up(segment.vaddr + segment.memsz, page).ok_or(Errno::ENOEXEC)?;
        space.map_zeroed(place(first_page), end - first_page, segment.prot)?;
        // A segment without file contents is all zero, as Linux maps it.
        if segment.filesz > 0 {
            let file_start = segment.offset - (segment.vaddr - first_page);
            let file_end = segment.offset + segment.filesz;
            space.map_file(place(first_page), file, image, file_start, file_end - file_start)?;
        }
    }

    Ok(LoadedElf {
        entry,
        load_bias: base.wrapping_sub(layout.start),
        phdr_addr: place(layout.phdr_vaddr),
        phent: header.e_phentsize,
        phnum: header.e_phnum,
        interpreter: layout.interpreter.map(<[u8]>::to_vec),
        brk_start,
        executable_stack: layout.executable_stack,
        purecap: identity.purecap,
    })
}

/// Parses and checks the ELF header.
fn parse_header(image: &[u8]) -> Result<(Header, Identity), Errno> {
    if image.len() < SIZEOF_EHDR {
        return Err(Errno::ENOEXEC);
    }
    let ident = &image[..header::SIZEOF_IDENT];
    if &ident[..header::SELFMAG] != header::ELFMAG
        || ident[header::EI_CLASS] != header::ELFCLASS64
        || ident[header::EI_DATA] != header::ELFDATA2LSB
    {
        return Err(Errno::ENOEXEC);
    }
    let hdr = Header::parse(image).map_err(|_| Errno::ENOEXEC)?;
    if hdr.e_machine != header::EM_AARCH64 {
        return Err(Errno::ENOEXEC);
    }
    let kind = match hdr.e_type {
        header::ET_EXEC => ExecutableKind::Static,
        header::ET_DYN => ExecutableKind::PositionIndependent,
        _ => return Err(Errno::ENOEXEC),
    };
    let phnum = usize::from(hdr.e_phnum);
    if usize::from(hdr.e_phentsize) != SIZEOF_PHDR || phnum == 0 || phnum > MAX_PHNUM {
        return Err(Errno::ENOEXEC);
    }
    let identity = Identity { kind, purecap: hdr.e_flags & EF_AARCH64_CHERI_PURECAP != 0, entry: hdr.e_entry };
    Ok((hdr, identity))
}

/// The program header table, which must lie inside the file.
fn program_headers(image: &[u8], hdr: &Header) -> Result<Vec<ProgramHeader>, Errno> {
    let offset = to_usize(hdr.e_phoff)?;
    let count = usize::from(hdr.e_phnum);
    let end = offset.checked_add(count * SIZEOF_PHDR).ok_or(Errno::ENOEXEC)?;
    if end > image.len() {
        return Err(Errno::ENOEXEC);
    }
    ProgramHeader::parse(image, offset, count, Endian::Little).map_err(|_| Errno::ENOEXEC)
}

/// A PT_LOAD segment that occupies memory (`p_memsz > 0`), checked.
#[derive(Debug)]
struct Segment {
    vaddr: u64,
    memsz: u64,
    offset: u64,
    filesz: u64,
    prot: Protection,
}

/// What the program headers say, checked against the file and each other.
#[derive(Debug)]
struct Layout<'a> {
    /// In ascending order, no two sharing a page.
    segments: Vec<Segment>,
    /// The first page of the lowest segment (unrelocated).
    start: u64,
    /// The page-aligned end of the highest segment (unrelocated).
    end: u64,
    /// The alignment of the load base: the largest power-of-two PT_LOAD
    /// `p_align`, at least a page (Linux's `maximum_alignment`).
    align: u64,
    interpreter: Option<&'a [u8]>,
    executable_stack: bool,
    /// The unrelocated address of the program header table.
    phdr_vaddr: u64,
}

impl<'a> Layout<'a> {
    fn of(image: &'a [u8], hdr: &Header, phdrs: &[ProgramHeader], page: u64) -> Result<Self, Errno> {
        let image_len = u64::try_from(image.len()).map_err(|_| Errno::ENOEXEC)?;
        let mut segments: Vec<Segment> = Vec::new();
        let mut align = page;
        let mut interpreter = None;
        let mut executable_stack = false;
        let mut pt_phdr = None;
        for phdr in phdrs {
            match phdr.p_type {
                PT_LOAD => {
                    let file_end = phdr.p_offset.checked_add(phdr.p_filesz).ok_or(Errno::ENOEXEC)?;
                    let mem_end = phdr.p_vaddr.checked_add(phdr.p_memsz).ok_or(Errno::ENOEXEC)?;
                    if phdr.p_filesz > phdr.p_memsz
                        || file_end > image_len
                        || mem_end > ADDRESS_LIMIT
                        || phdr.p_vaddr & (page - 1) != phdr.p_offset & (page - 1)
                    {
                        return Err(Errno::ENOEXEC);
                    }
                    if phdr.p_align.is_power_of_two() {
                        align = align.max(phdr.p_align);
                    }
                    if phdr.p_memsz == 0 {
                        continue;
                    }
                    if let Some(previous) = segments.last() {
                        // Both ends are below ADDRESS_LIMIT: no overflow.
                        let previous_end = align_up(previous.vaddr + previous.memsz, page).ok_or(Errno::ENOEXEC)?;
                        if align_down(phdr.p_vaddr, page) < previous_end {
                            return Err(Errno::ENOEXEC);
                        }
                    }
                    segments.push(Segment {
                        vaddr: phdr.p_vaddr,
                        memsz: phdr.p_memsz,
                        offset: phdr.p_offset,
                        filesz: phdr.p_filesz,
                        prot: protection(phdr.p_flags),
                    });
                }
                PT_INTERP if interpreter.is_none() => interpreter = Some(interpreter_path(image, phdr)?),
                PT_GNU_STACK => executable_stack = phdr.p_flags & PF_X != 0,
                PT_PHDR if pt_phdr.is_none() => pt_phdr = Some(phdr.p_vaddr),
                _ => {}
            }
        }
        if align > ADDRESS_LIMIT {
            return Err(Errno::ENOEXEC);
        }
        let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
            return Err(Errno::ENOEXEC);
        };
        let start = align_down(first.vaddr, page);
        let end = align_up(last.vaddr + last.memsz, page).ok_or(Errno::ENOEXEC)?;
        let phdr_vaddr = phdr_vaddr(&segments, hdr)?;
        if pt_phdr.is_some_and(|vaddr| vaddr != phdr_vaddr) {
            return Err(Errno::ENOEXEC);
        }
        Ok(Layout { segments, start, end, align, interpreter, executable_stack, phdr_vaddr })
    }
}

/// The PT_INTERP path: at most PATH_MAX bytes with its NUL, which must end
/// it (Linux's checks); the path is what precedes the first NUL.
fn interpreter_path<'a>(image: &'a [u8], phdr: &ProgramHeader) -> Result<&'a [u8], Errno> {
    if phdr.p_filesz < 2 || phdr.p_filesz > PATH_MAX {
        return Err(Errno::ENOEXEC);
    }
    let start = to_usize(phdr.p_offset)?;
    let end = start.checked_add(to_usize(phdr.p_filesz)?).ok_or(Errno::ENOEXEC)?;
    let bytes = image.get(start..end).ok_or(Errno::ENOEXEC)?;
    if bytes.last() != Some(&0) {
        return Err(Errno::ENOEXEC);
    }
    let path = bytes.split(|&b| b == 0).next().unwrap_or_default();
    if path.is_empty() {
        return Err(Errno::ENOEXEC);
    }
    Ok(path)
}

/// The unrelocated address of the program header table: where the PT_LOAD
/// whose file contents include the whole table puts it.
fn phdr_vaddr(segments: &[Segment], hdr: &Header) -> Result<u64, Errno> {
    let table_len = u64::from(hdr.e_phnum) * u64::from(hdr.e_phentsize);
    let table_end = hdr.e_phoff.checked_add(table_len).ok_or(Errno::ENOEXEC)?;
    segments
        .iter()
        .find(|s| s.offset <= hdr.e_phoff && table_end <= s.offset + s.filesz)
        .map(|s| s.vaddr + (hdr.e_phoff - s.offset))
        .ok_or(Errno::ENOEXEC)
}

/// Chooses the load base of an ET_DYN file: the first free range at or above
/// the placement's search base that holds the whole image at the required
/// alignment.
fn find_base<F>(space: &dyn AddressSpace<File = F>, layout: &Layout<'_>, placement: Placement) -> Result<u64, Errno> {
    let page = space.page_size();
    let span = layout.end - layout.start;
    // Room to slide the found range up to the alignment.
    let len = span.checked_add(layout.align - page).ok_or(Errno::ENOMEM)?;
    let hint = align_up(placement.search_base(), layout.align).ok_or(Errno::ENOMEM)?;
    let found = space.find_free(hint, len)?;
    align_up(found, layout.align).ok_or(Errno::ENOMEM)
}

/// `address` (unrelocated) moved with the image from `start` to `base`.
fn relocate(address: u64, base: u64, start: u64) -> Result<u64, Errno> {
    let relocated = if address >= start {
        base.checked_add(address - start)
    } else {
        base.checked_sub(start - address)
    };
    relocated.filter(|&a| a < ADDRESS_LIMIT).ok_or(Errno::ENOEXEC)
}

/// The protection a PT_LOAD's `p_flags` ask for.
fn protection(p_flags: u32) -> Protection {
    let mut prot = Protection::empty();
    prot.set(Protection::READ, p_flags & PF_R != 0);
    prot.set(Protection::WRITE, p_flags & PF_W != 0);
    prot.set(Protection::EXEC, p_flags & PF_X != 0);
    prot
}

fn to_usize(value: u64) -> Result<usize, Errno> {
    usize::try_from(value).map_err(|_| Errno::ENOEXEC)
}

/// `value` rounded down to a multiple of `align` (a power of two).
pub(crate) const fn align_down(value: u64, align: u64) -> u64 {
    value & !(align - 1)
}

/// `value` rounded up to a multiple of `align` (a power of two), or None on
/// overflow.
pub(crate) const fn align_up(value: u64, align: u64) -> Option<u64> {
    match value.checked_add(align - 1) {
        Some(v) => Some(align_down(v, align)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal AArch64 ELF64 header.
    fn header(e_type: u16, machine: u16, flags: u32) -> std::vec::Vec<u8> {
        let mut h = std::vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2; // ELFCLASS64
        h[5] = 1; // little-endian
        h[6] = 1; // EV_CURRENT
        h[16..18].copy_from_slice(&e_type.to_le_bytes());
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[24..32].copy_from_slice(&0x40_1000u64.to_le_bytes());
        h[32..40].copy_from_slice(&64u64.to_le_bytes());
        h[48..52].copy_from_slice(&flags.to_le_bytes());
        h[52..54].copy_from_slice(&64u16.to_le_bytes());
        h[54..56].copy_from_slice(&56u16.to_le_bytes());
        h[56..58].copy_from_slice(&1u16.to_le_bytes());
        h
    }

    #[test]
    fn accepts_aarch64_executables() {
        let id = identify(&header(2, 183, 0)).unwrap();
        assert_eq!(id, Identity { kind: ExecutableKind::Static, purecap: false, entry: 0x40_1000 });
        let id = identify(&header(3, 183, EF_AARCH64_CHERI_PURECAP)).unwrap();
        assert_eq!(id.kind, ExecutableKind::PositionIndependent);
        assert!(id.purecap);
    }

    #[test]
    fn rejects_everything_else_with_enoexec() {
        assert_eq!(identify(b"#!/bin/sh\n"), Err(Errno::ENOEXEC));
        assert_eq!(identify(&header(2, 62, 0)), Err(Errno::ENOEXEC)); // x86-64
        assert_eq!(identify(&header(1, 183, 0)), Err(Errno::ENOEXEC)); // ET_REL
        let mut big_endian = header(2, 183, 0);
        big_endian[5] = 2;
        assert_eq!(identify(&big_endian), Err(Errno::ENOEXEC));
        let mut elf32 = header(2, 183, 0);
        elf32[4] = 1;
        assert_eq!(identify(&elf32), Err(Errno::ENOEXEC));
        let mut huge_phnum = header(2, 183, 0);
        huge_phnum[56..58].copy_from_slice(&u16::try_from(MAX_PHNUM + 1).unwrap().to_le_bytes());
        assert_eq!(identify(&huge_phnum), Err(Errno::ENOEXEC));
        for len in 0..64 {
            assert_eq!(identify(&header(2, 183, 0)[..len]), Err(Errno::ENOEXEC));
        }
    }

    #[test]
    fn alignment_helpers_round_and_detect_overflow() {
        assert_eq!(align_down(0x1fff, 0x1000), 0x1000);
        assert_eq!(align_up(0x1001, 0x1000), Some(0x2000));
        assert_eq!(align_up(0x1000, 0x1000), Some(0x1000));
        assert_eq!(align_up(u64::MAX - 5, 0x1000), None);
    }

    #[test]
    fn relocation_moves_addresses_with_the_image_and_stays_in_user_space() {
        assert_eq!(relocate(0x1234, 0xaaaa_aaaa_0000, 0), Ok(0xaaaa_aaaa_1234));
        assert_eq!(relocate(0x0fff, 0x2000, 0x1000), Ok(0x1fff)); // below the first page
        assert_eq!(relocate(0, 0x1000, 0x2000), Err(Errno::ENOEXEC));
        assert_eq!(relocate(ADDRESS_LIMIT, 0, 0), Err(Errno::ENOEXEC));
    }

    #[test]
    fn protections_follow_p_flags() {
        assert_eq!(protection(PF_R | PF_X), Protection::READ | Protection::EXEC);
        assert_eq!(protection(PF_R | PF_W), Protection::READ | Protection::WRITE);
        assert_eq!(protection(0), Protection::empty());
    }
}
