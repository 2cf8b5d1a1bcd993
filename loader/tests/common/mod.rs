//! What the loader's integration tests share: the real ELF files under
//! `tests/data/`, an independent reading of their program headers, and a
//! decoder for the initial stack.
#![allow(dead_code, reason = "each test binary uses its own part of this module")]

use goblin::elf64::header::Header;
use goblin::elf64::program_header::{ProgramHeader, SIZEOF_PHDR};
use loader::testing::FakeAddressSpace;
use loader::{Program, StartInfo, auxv};

/// `-static -nostdlib` (ET_EXEC, 64 KiB-aligned segments).
pub const STATIC: &[u8] = include_bytes!("../data/static-hello");
/// `-static-pie -nostdlib -z execstack` (ET_DYN, no PT_INTERP).
pub const STATIC_PIE: &[u8] = include_bytes!("../data/static-pie-hello");
/// `-pie` with PT_INTERP /lib/ld-linux-aarch64.so.1, PT_PHDR, 4 KiB-aligned.
pub const DYNAMIC_PIE: &[u8] = include_bytes!("../data/dynamic-pie-hello");
/// `-shared -nostdlib`: the stand-in interpreter.
pub const INTERP: &[u8] = include_bytes!("../data/interp.so");

/// Every test file, with its name.
pub const ALL: [(&str, &[u8]); 4] =
    [("static-hello", STATIC), ("static-pie-hello", STATIC_PIE), ("dynamic-pie-hello", DYNAMIC_PIE), ("interp.so", INTERP)];

pub const PAGE: u64 = 4096;

/// The ELF header and program headers of a well-formed test file, read with
/// goblin independently of the loader.
pub fn headers(image: &[u8]) -> (Header, Vec<ProgramHeader>) {
    let header = Header::parse(image).unwrap();
    let phoff = usize::try_from(header.e_phoff).unwrap();
    let phdrs =
        ProgramHeader::parse(image, phoff, usize::from(header.e_phnum), goblin::container::Endian::Little).unwrap();
    (header, phdrs)
}

/// Offset of field `field_offset` of program header `index`.
pub fn phdr_field(image: &[u8], index: usize, field_offset: usize) -> usize {
    let (header, _) = headers(image);
    usize::try_from(header.e_phoff).unwrap() + index * SIZEOF_PHDR + field_offset
}

/// Offsets of the fields of an ELF64 program header.
pub mod ph {
    pub const TYPE: usize = 0;
    pub const FLAGS: usize = 4;
    pub const OFFSET: usize = 8;
    pub const VADDR: usize = 16;
    pub const FILESZ: usize = 32;
    pub const MEMSZ: usize = 40;
    pub const ALIGN: usize = 48;
}

/// Offsets of ELF header fields.
pub mod eh {
    pub const ENTRY: usize = 24;
    pub const PHOFF: usize = 32;
    pub const FLAGS: usize = 48;
    pub const PHNUM: usize = 56;
}

pub fn set_u16(image: &mut [u8], at: usize, value: u16) {
    image[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

pub fn set_u32(image: &mut [u8], at: usize, value: u32) {
    image[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

pub fn set_u64(image: &mut [u8], at: usize, value: u64) {
    image[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

pub fn get_u64(image: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(image[at..at + 8].try_into().unwrap())
}

/// The smallest prefix of a well-formed file that still loads: it must hold
/// the program headers and every PT_LOAD's file contents.
pub fn needed_len(image: &[u8]) -> usize {
    let (header, phdrs) = headers(image);
    let table_end = header.e_phoff + u64::from(header.e_phnum) * 56;
    let contents_end = phdrs.iter().filter(|p| p.p_type == 1).map(|p| p.p_offset + p.p_filesz).max().unwrap();
    usize::try_from(table_end.max(contents_end)).unwrap()
}

/// A StartInfo like the one a shell gives.
pub fn start_info() -> StartInfo {
    StartInfo {
        argv: vec![b"/bin/hello".to_vec(), b"first".to_vec(), b"".to_vec(), b"third arg".to_vec()],
        envp: vec![b"PATH=/bin:/usr/bin".to_vec(), b"HOME=/root".to_vec(), b"LANG=C.UTF-8".to_vec()],
        execfn: b"/bin/hello".to_vec(),
        random: *b"0123456789abcdef",
        hwcap: 0x0000_0000_0000_0803,
        hwcap2: 0x0000_0000_0000_0002,
        uid: 1000,
        euid: 1001,
        gid: 100,
        egid: 101,
        secure: true,
        clock_ticks: 100,
        minsigstksz: 5120,
        sysinfo_ehdr: Some(0xffff_f7ff_0000),
    }
}

/// The initial stack as the program sees it.
#[derive(Debug)]
pub struct DecodedStack {
    pub argc: u64,
    pub argv_addrs: Vec<u64>,
    pub argv: Vec<Vec<u8>>,
    pub envp_addrs: Vec<u64>,
    pub envp: Vec<Vec<u8>>,
    /// (type, value) pairs, AT_NULL included.
    pub auxv: Vec<(u64, u64)>,
    /// The address just past AT_NULL.
    pub auxv_end: u64,
}

impl DecodedStack {
    /// The value of the one auxv entry of `kind`; panics if there is not
    /// exactly one.
    pub fn aux(&self, kind: u64) -> u64 {
        let values: Vec<u64> = self.auxv.iter().filter(|(k, _)| *k == kind).map(|(_, v)| *v).collect();
        assert_eq!(values.len(), 1, "auxv entry {kind} appears {} times", values.len());
        values[0]
    }
}

/// Reads argc, argv, envp and auxv from `sp` as a libc's _start does.
pub fn decode_stack(space: &FakeAddressSpace, sp: u64) -> DecodedStack {
    let argc = space.read_u64(sp).unwrap();
    let mut at = sp + 8;
    let mut argv_addrs = Vec::new();
    for _ in 0..argc {
        argv_addrs.push(space.read_u64(at).unwrap());
        at += 8;
    }
    assert_eq!(space.read_u64(at).unwrap(), 0, "argv is not NULL-terminated");
    at += 8;
    let mut envp_addrs = Vec::new();
    loop {
        let p = space.read_u64(at).unwrap();
        at += 8;
        if p == 0 {
            break;
        }
        envp_addrs.push(p);
    }
    let mut auxv = Vec::new();
    loop {
        let kind = space.read_u64(at).unwrap();
        let value = space.read_u64(at + 8).unwrap();
        at += 16;
        auxv.push((kind, value));
        if kind == auxv::AT_NULL {
            break;
        }
    }
    let read_all = |addrs: &[u64]| addrs.iter().map(|&a| space.read_c_string(a).unwrap()).collect();
    DecodedStack {
        argc,
        argv: read_all(&argv_addrs),
        argv_addrs,
        envp: read_all(&envp_addrs),
        envp_addrs,
        auxv,
        auxv_end: at,
    }
}

/// Loads a program whose interpreter, if any, is `interp.so`.
pub fn load_with_test_interpreter(image: &[u8], space: &mut FakeAddressSpace) -> Result<Program, loader::Errno> {
    loader::load_program(image, &(), space, &mut |_| Ok((INTERP.to_vec(), ())))
}
