//! Loading the real ELF files under `tests/data/` into a fake address space:
//! where the segments land, with which protections and contents, and what
//! the loader reports; and the malformed variants it must refuse.

mod common;

use common::*;
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_LOAD};
use loader::testing::FakeAddressSpace;
use loader::{
    ADDRESS_LIMIT, AddressSpace, EF_AARCH64_CHERI_PURECAP, EXECUTABLE_DYN_BASE, Errno, INTERPRETER_DYN_BASE,
    Placement, Protection, load_elf, load_program,
};

const RX: Protection = Protection::READ.union(Protection::EXEC);
const RW: Protection = Protection::READ.union(Protection::WRITE);

/// Checks, independently of the loader, that every PT_LOAD of `image` is in
/// `space` at `p_vaddr + bias` as Linux's mmap would show it: the file page
/// from its start up to `p_offset + p_filesz`, zeros after that to the end of
/// the last page (the bss), with the protection of `p_flags`.
fn assert_segments_loaded(image: &[u8], space: &FakeAddressSpace, bias: u64) {
    let (_, phdrs) = headers(image);
    for phdr in phdrs.iter().filter(|p| p.p_type == PT_LOAD) {
        let in_page = phdr.p_vaddr % PAGE;
        let first_page = phdr.p_vaddr - in_page + bias;
        let end = (phdr.p_vaddr + phdr.p_memsz + bias).next_multiple_of(PAGE);
        let mapping = space.mapping_at(first_page).expect("segment not mapped");
        assert_eq!((mapping.start, mapping.end), (first_page, end), "segment at {:#x}", phdr.p_vaddr);
        let mut prot = Protection::empty();
        prot.set(Protection::READ, phdr.p_flags & PF_R != 0);
        prot.set(Protection::WRITE, phdr.p_flags & PF_W != 0);
        prot.set(Protection::EXEC, phdr.p_flags & PF_X != 0);
        assert_eq!(mapping.prot, prot, "protection of the segment at {:#x}", phdr.p_vaddr);

        let file = usize::try_from(phdr.p_offset - in_page).unwrap()..usize::try_from(phdr.p_offset + phdr.p_filesz).unwrap();
        let file_len = file.len();
        let memory = space.read(first_page, usize::try_from(end - first_page).unwrap()).unwrap();
        assert_eq!(&memory[..file_len], &image[file], "contents of the segment at {:#x}", phdr.p_vaddr);
        assert!(memory[file_len..].iter().all(|&b| b == 0), "bss of the segment at {:#x} is not zero", phdr.p_vaddr);
    }
}

/// Where `marker`, found in the file, is in memory: through the PT_LOAD
/// holding it, with `bias`.
fn data_address(image: &[u8], marker: &[u8], bias: u64) -> u64 {
    let offset = u64::try_from(image.windows(marker.len()).position(|w| w == marker).unwrap()).unwrap();
    let (_, phdrs) = headers(image);
    let segment = phdrs
        .iter()
        .find(|p| p.p_type == PT_LOAD && (p.p_offset..p.p_offset + p.p_filesz).contains(&offset))
        .unwrap();
    segment.p_vaddr + (offset - segment.p_offset) + bias
}

/// The program headers are where AT_PHDR says, byte for byte.
fn assert_phdrs_at(image: &[u8], space: &FakeAddressSpace, phdr_addr: u64) {
    let (header, _) = headers(image);
    let start = usize::try_from(header.e_phoff).unwrap();
    let len = usize::from(header.e_phnum) * 56;
    assert_eq!(space.read(phdr_addr, len).unwrap(), &image[start..start + len]);
}

#[test]
fn static_executable_lands_at_its_link_addresses() {
    let mut space = FakeAddressSpace::new();
    let elf = load_elf(STATIC, &(), &mut space, Placement::Executable).unwrap();
    assert_eq!(elf.entry, 0x4000e8);
    assert_eq!(elf.load_bias, 0);
    assert_eq!(elf.phdr_addr, 0x400040);
    assert_eq!((elf.phent, elf.phnum), (56, 3));
    assert_eq!(elf.interpreter, None);
    // The data segment: 0x410190 + 0x3020 bytes.
    assert_eq!(elf.brk_start, 0x414000);
    assert!(!elf.executable_stack);
    assert!(!elf.purecap);

    let regions: Vec<_> = space.mappings().iter().map(|m| (m.start, m.end, m.prot)).collect();
    assert_eq!(regions, [(0x400000, 0x401000, RX), (0x410000, 0x414000, RW)]);
    assert_segments_loaded(STATIC, &space, 0);
    assert_phdrs_at(STATIC, &space, elf.phdr_addr);
    // The initialised data is where the program's code expects it.
    assert_eq!(space.read_c_string(0x410190).unwrap(), b"MORSEL-DATA-SEGMENT");
    // The bss (0x4101b0 on) reads as zero although the file goes on with
    // other bytes there.
    assert_ne!(STATIC[0x1b0..0x1c0], [0; 16]);
    assert_eq!(space.read(0x4101b0, 0x3000).unwrap(), vec![0; 0x3000]);
}

#[test]
fn static_pie_goes_to_the_executable_base_with_an_executable_stack() {
    let mut space = FakeAddressSpace::new();
    let elf = load_elf(STATIC_PIE, &(), &mut space, Placement::Executable).unwrap();
    assert_eq!(elf.load_bias, EXECUTABLE_DYN_BASE);
    assert_eq!(elf.entry, EXECUTABLE_DYN_BASE + 0x194);
    assert_eq!(elf.phdr_addr, EXECUTABLE_DYN_BASE + 0x40);
    assert_eq!(elf.brk_start, EXECUTABLE_DYN_BASE + 0x14000);
    assert_eq!(elf.interpreter, None);
    assert!(elf.executable_stack, "built with -z execstack");
    assert_segments_loaded(STATIC_PIE, &space, elf.load_bias);
    assert_phdrs_at(STATIC_PIE, &space, elf.phdr_addr);
    assert_eq!(space.read_c_string(data_address(STATIC_PIE, b"MORSEL-DATA", elf.load_bias)).unwrap(), b"MORSEL-DATA-SEGMENT");
}

#[test]
fn pie_base_keeps_the_segment_alignment_when_the_base_is_taken() {
    let mut space = FakeAddressSpace::new();
    space.map_zeroed(EXECUTABLE_DYN_BASE, PAGE, RW).unwrap();
    // static-pie-hello's PT_LOADs are aligned to 64 KiB.
    let elf = load_elf(STATIC_PIE, &(), &mut space, Placement::Executable).unwrap();
    assert_eq!(elf.load_bias, EXECUTABLE_DYN_BASE + 0x10000);
    assert_segments_loaded(STATIC_PIE, &space, elf.load_bias);
    // dynamic-pie-hello's are aligned to 4 KiB: it fits in the gap left
    // below static-pie-hello.
    let second = load_elf(DYNAMIC_PIE, &(), &mut space, Placement::Executable).unwrap();
    assert_eq!(second.load_bias, EXECUTABLE_DYN_BASE + PAGE);
    assert_segments_loaded(DYNAMIC_PIE, &space, second.load_bias);
}

#[test]
fn dynamic_pie_names_its_interpreter_and_phdr_agrees_with_pt_phdr() {
    let mut space = FakeAddressSpace::new();
    let elf = load_elf(DYNAMIC_PIE, &(), &mut space, Placement::Executable).unwrap();
    assert_eq!(elf.interpreter.as_deref(), Some(&b"/lib/ld-linux-aarch64.so.1"[..]));
    assert_eq!(elf.load_bias, EXECUTABLE_DYN_BASE);
    assert_eq!(elf.entry, EXECUTABLE_DYN_BASE + 0x25c);
    assert_eq!(elf.phdr_addr, EXECUTABLE_DYN_BASE + 0x40); // PT_PHDR's p_vaddr
    assert_eq!((elf.phent, elf.phnum), (56, 8));
    // The data segment: 0x1f10 + 0x3110 bytes.
    assert_eq!(elf.brk_start, EXECUTABLE_DYN_BASE + 0x6000);
    assert!(!elf.executable_stack);
    assert_segments_loaded(DYNAMIC_PIE, &space, elf.load_bias);
    assert_phdrs_at(DYNAMIC_PIE, &space, elf.phdr_addr);
}

#[test]
fn load_program_loads_the_interpreter_and_starts_there() {
    let mut space = FakeAddressSpace::new();
    let mut asked = Vec::new();
    let program = load_program(DYNAMIC_PIE, &(), &mut space, &mut |path| {
        asked.push(path.to_vec());
        Ok((INTERP.to_vec(), ()))
    })
    .unwrap();
    assert_eq!(asked, [b"/lib/ld-linux-aarch64.so.1".to_vec()]);
    let interp = program.interpreter.as_ref().unwrap();
    assert_eq!(interp.load_bias, INTERPRETER_DYN_BASE);
    assert_eq!(interp.entry, INTERPRETER_DYN_BASE + 0x270);
    assert_eq!(program.entry, interp.entry);
    assert_eq!(program.interpreter_base(), INTERPRETER_DYN_BASE);
    assert_eq!(program.exe.entry, EXECUTABLE_DYN_BASE + 0x25c);
    assert_segments_loaded(DYNAMIC_PIE, &space, EXECUTABLE_DYN_BASE);
    assert_segments_loaded(INTERP, &space, INTERPRETER_DYN_BASE);
    let marker = data_address(INTERP, b"MORSEL-INTERPRETER", INTERPRETER_DYN_BASE);
    assert_eq!(space.read_c_string(marker).unwrap(), b"MORSEL-INTERPRETER");
}

#[test]
fn load_program_without_interpreter_starts_at_the_executable() {
    let mut space = FakeAddressSpace::new();
    let program = load_program(STATIC, &(), &mut space, &mut |_| panic!("no interpreter to read")).unwrap();
    assert_eq!(program.interpreter, None);
    assert_eq!(program.entry, 0x4000e8);
    assert_eq!(program.interpreter_base(), 0);
}

#[test]
fn load_program_passes_on_the_interpreter_read_error() {
    let mut space = FakeAddressSpace::new();
    assert_eq!(load_program(DYNAMIC_PIE, &(), &mut space, &mut |_| Err(Errno::ENOENT)), Err(Errno::ENOENT));
    let mut space = FakeAddressSpace::new();
    assert_eq!(load_program(DYNAMIC_PIE, &(), &mut space, &mut |_| Ok((b"#!/bin/sh\n".to_vec(), ()))), Err(Errno::ENOEXEC));
}

#[test]
fn purecap_is_reported_and_must_match_between_executable_and_interpreter() {
    let mut purecap_exe = DYNAMIC_PIE.to_vec();
    set_u32(&mut purecap_exe, eh::FLAGS, EF_AARCH64_CHERI_PURECAP);
    let mut purecap_interp = INTERP.to_vec();
    set_u32(&mut purecap_interp, eh::FLAGS, EF_AARCH64_CHERI_PURECAP);

    let mut space = FakeAddressSpace::new();
    let program = load_program(&purecap_exe, &(), &mut space, &mut |_| Ok((purecap_interp.clone(), ()))).unwrap();
    assert!(program.exe.purecap && program.interpreter.unwrap().purecap);

    let mut space = FakeAddressSpace::new();
    assert_eq!(load_program(&purecap_exe, &(), &mut space, &mut |_| Ok((INTERP.to_vec(), ()))), Err(Errno::ENOEXEC));
    let mut space = FakeAddressSpace::new();
    assert_eq!(load_program(DYNAMIC_PIE, &(), &mut space, &mut |_| Ok((purecap_interp.clone(), ()))), Err(Errno::ENOEXEC));
}

#[test]
fn fixed_addresses_already_taken_give_eexist() {
    let mut space = FakeAddressSpace::new();
    load_elf(STATIC, &(), &mut space, Placement::Executable).unwrap();
    assert_eq!(load_elf(STATIC, &(), &mut space, Placement::Executable), Err(Errno::EEXIST));
}

#[test]
fn a_program_too_large_for_the_space_gives_enomem() {
    // A bss of 1 TiB: well formed, but the space ends at 4 GiB.
    let mut huge = STATIC.to_vec();
    set_u64(&mut huge, phdr_field(STATIC, 1, ph::MEMSZ), 1 << 40);
    let mut small = FakeAddressSpace::with_layout(PAGE, 1 << 32);
    assert_eq!(load_elf(&huge, &(), &mut small, Placement::Executable), Err(Errno::ENOMEM));
    // In a 256 TiB space it fits, as demand-zero memory.
    let mut space = FakeAddressSpace::new();
    let elf = load_elf(&huge, &(), &mut space, Placement::Executable).unwrap();
    assert_eq!(elf.brk_start, (0x410190 + (1u64 << 40)).next_multiple_of(PAGE));
    let mut small = FakeAddressSpace::with_layout(PAGE, 1 << 32);
    assert_eq!(load_elf(STATIC_PIE, &(), &mut small, Placement::Executable), Err(Errno::ENOMEM));
}

#[test]
fn every_truncation_short_of_the_contents_is_enoexec() {
    for (name, image) in ALL {
        let needed = needed_len(image);
        for len in 0..image.len() {
            let result = load_elf(&image[..len], &(), &mut FakeAddressSpace::new(), Placement::Executable);
            if len < needed {
                assert_eq!(result, Err(Errno::ENOEXEC), "{name} truncated to {len} bytes");
            } else {
                assert!(result.is_ok(), "{name} truncated to {len} bytes (needs {needed}): {result:?}");
            }
        }
    }
}

/// `image` with one change, which must make it ENOEXEC.
fn assert_enoexec(what: &str, image: &[u8], change: impl FnOnce(&mut Vec<u8>)) {
    let mut bad = image.to_vec();
    change(&mut bad);
    assert_eq!(load_elf(&bad, &(), &mut FakeAddressSpace::new(), Placement::Executable), Err(Errno::ENOEXEC), "{what}");
}

#[test]
fn malformed_headers_are_enoexec() {
    assert_enoexec("x86-64", STATIC, |f| set_u16(f, 18, 62));
    assert_enoexec("ELFCLASS32", STATIC, |f| f[4] = 1);
    assert_enoexec("big-endian", STATIC, |f| f[5] = 2);
    assert_enoexec("ET_REL", STATIC, |f| set_u16(f, 16, 1));
    assert_enoexec("ET_CORE", STATIC, |f| set_u16(f, 16, 4));
    assert_enoexec("e_phentsize 32", STATIC, |f| set_u16(f, 54, 32));
    assert_enoexec("no program headers", STATIC, |f| set_u16(f, eh::PHNUM, 0));
    assert_enoexec("PN_XNUM program headers", STATIC, |f| set_u16(f, eh::PHNUM, 0xffff));
    assert_enoexec("phnum beyond the file", STATIC, |f| set_u16(f, eh::PHNUM, 100));
    assert_enoexec("e_phoff beyond the file", STATIC, |f| set_u64(f, eh::PHOFF, 0x10_0000));
    assert_enoexec("e_phoff overflowing", STATIC, |f| set_u64(f, eh::PHOFF, u64::MAX - 8));
    assert_enoexec("entry outside user space", STATIC, |f| set_u64(f, eh::ENTRY, ADDRESS_LIMIT));
}

#[test]
fn malformed_segments_are_enoexec() {
    let data = |field| phdr_field(STATIC, 1, field);
    let text = |field| phdr_field(STATIC, 0, field);
    assert_enoexec("filesz > memsz", STATIC, |f| set_u64(f, data(ph::FILESZ), 0x4000));
    assert_enoexec("contents beyond the file", STATIC, |f| set_u64(f, data(ph::OFFSET), 0x10_0190));
    assert_enoexec("offset + filesz overflowing", STATIC, |f| set_u64(f, data(ph::OFFSET), u64::MAX - 0x10));
    assert_enoexec("vaddr and offset not congruent", STATIC, |f| set_u64(f, data(ph::VADDR), 0x410198));
    assert_enoexec("vaddr + memsz overflowing", STATIC, |f| set_u64(f, data(ph::MEMSZ), u64::MAX - 0x1000));
    assert_enoexec("beyond user space", STATIC, |f| set_u64(f, data(ph::MEMSZ), ADDRESS_LIMIT));
    assert_enoexec("overlapping segments", STATIC, |f| set_u64(f, text(ph::MEMSZ), 0x10200));
    // The text ends at 0x400190: data right after it would share its page.
    assert_enoexec("segments sharing a page", STATIC, |f| set_u64(f, data(ph::VADDR), 0x400190));
    assert_enoexec("misordered segments", STATIC, |f| {
        let (a, b) = (phdr_field(STATIC, 0, 0), phdr_field(STATIC, 1, 0));
        let first: Vec<u8> = f[a..a + 56].to_vec();
        f.copy_within(b..b + 56, a);
        f[b..b + 56].copy_from_slice(&first);
    });
    assert_enoexec("no PT_LOAD", STATIC, |f| {
        set_u32(f, text(ph::TYPE), 0);
        set_u32(f, data(ph::TYPE), 0);
    });
    assert_enoexec("alignment beyond the address space", STATIC_PIE, |f| {
        set_u64(f, phdr_field(STATIC_PIE, 0, ph::ALIGN), 1 << 63)
    });
}

#[test]
fn program_headers_must_be_loaded_where_pt_phdr_says() {
    // The table moved to the end of the file, outside every PT_LOAD.
    assert_enoexec("program headers not loaded", STATIC, |f| {
        let table = f[64..64 + 3 * 56].to_vec();
        let at = u64::try_from(f.len()).unwrap();
        f.extend_from_slice(&table);
        set_u64(f, eh::PHOFF, at);
    });
    // PT_PHDR (the first header of dynamic-pie-hello) somewhere else.
    assert_enoexec("PT_PHDR disagrees", DYNAMIC_PIE, |f| set_u64(f, phdr_field(DYNAMIC_PIE, 0, ph::VADDR), 0x48));
}

#[test]
fn malformed_interpreter_paths_are_enoexec() {
    let interp = |field| phdr_field(DYNAMIC_PIE, 1, field);
    let path_at = usize::try_from(get_u64(DYNAMIC_PIE, interp(ph::OFFSET))).unwrap();
    assert_enoexec("not NUL-terminated", DYNAMIC_PIE, |f| f[path_at + 26] = b'x');
    assert_enoexec("empty", DYNAMIC_PIE, |f| f[path_at] = 0);
    assert_enoexec("one byte", DYNAMIC_PIE, |f| set_u64(f, interp(ph::FILESZ), 1));
    assert_enoexec("longer than PATH_MAX", DYNAMIC_PIE, |f| set_u64(f, interp(ph::FILESZ), 4097));
    assert_enoexec("beyond the file", DYNAMIC_PIE, |f| set_u64(f, interp(ph::OFFSET), 0x10_0000));
    // A NUL inside the path ends it, as for any C string.
    let mut short = DYNAMIC_PIE.to_vec();
    short[path_at + 4] = 0;
    let elf = load_elf(&short, &(), &mut FakeAddressSpace::new(), Placement::Executable).unwrap();
    assert_eq!(elf.interpreter.as_deref(), Some(&b"/lib"[..]));
}

#[test]
fn a_segment_without_file_contents_is_all_zero() {
    // static-hello's data segment (file offset 0x190, in the file page of the
    // text) with p_filesz 0: the text bytes before it must not show.
    let mut bss_only = STATIC.to_vec();
    set_u64(&mut bss_only, phdr_field(STATIC, 1, ph::FILESZ), 0);
    let mut space = FakeAddressSpace::new();
    load_elf(&bss_only, &(), &mut space, Placement::Executable).unwrap();
    assert_eq!(space.read(0x410000, 0x4000).unwrap(), vec![0; 0x4000]);
    // With its contents, the page shows the file from its start, as mmap
    // would.
    let mut space = FakeAddressSpace::new();
    load_elf(STATIC, &(), &mut space, Placement::Executable).unwrap();
    assert_eq!(space.read(0x410000, 0x190).unwrap(), &STATIC[..0x190]);
}

#[test]
fn pt_gnu_stack_decides_the_stack_permission() {
    // static-hello's third header is PT_GNU_STACK RW: make it RWX.
    let mut exec = STATIC.to_vec();
    set_u32(&mut exec, phdr_field(STATIC, 2, ph::FLAGS), 7);
    assert!(load_elf(&exec, &(), &mut FakeAddressSpace::new(), Placement::Executable).unwrap().executable_stack);
    // Without PT_GNU_STACK the stack is not executable (arm64).
    let mut absent = STATIC.to_vec();
    set_u32(&mut absent, phdr_field(STATIC, 2, ph::TYPE), 0);
    assert!(!load_elf(&absent, &(), &mut FakeAddressSpace::new(), Placement::Executable).unwrap().executable_stack);
}

#[test]
fn an_interpreter_goes_to_the_interpreter_base() {
    let mut space = FakeAddressSpace::new();
    let elf = load_elf(INTERP, &(), &mut space, Placement::Interpreter).unwrap();
    assert_eq!(elf.load_bias, INTERPRETER_DYN_BASE);
    assert_segments_loaded(INTERP, &space, INTERPRETER_DYN_BASE);
    assert_eq!(space.page_size(), PAGE);
}
