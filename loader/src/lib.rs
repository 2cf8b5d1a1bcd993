//! ELF loading into a μprocess region. So far: recognising what can be
//! loaded, with ENOEXEC for everything else; the loader proper (segments, the
//! initial stack, auxv) grows on this.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

use goblin::elf::header;
use goblin::elf64::header::{Header, SIZEOF_EHDR};
use posix_shim::Errno;

/// The kind of executable an ELF header describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutableKind {
    /// ET_EXEC: linked at fixed addresses.
    Static,
    /// ET_DYN: position-independent (static-PIE or dynamic; the program
    /// headers tell which).
    PositionIndependent,
}

/// `e_flags` bit of a purecap Morello binary (EF_AARCH64_CHERI_PURECAP).
pub const EF_AARCH64_CHERI_PURECAP: u32 = 0x0001_0000;

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

/// Checks that `image` starts with the header of a 64-bit little-endian
/// AArch64 executable; anything else is ENOEXEC, as from Linux's execve.
pub fn identify(image: &[u8]) -> Result<Identity, Errno> {
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
    if usize::from(hdr.e_phentsize) != goblin::elf64::program_header::SIZEOF_PHDR || hdr.e_phnum == 0 {
        return Err(Errno::ENOEXEC);
    }
    Ok(Identity { kind, purecap: hdr.e_flags & EF_AARCH64_CHERI_PURECAP != 0, entry: hdr.e_entry })
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
        for len in 0..64 {
            assert_eq!(identify(&header(2, 183, 0)[..len]), Err(Errno::ENOEXEC));
        }
    }
}
