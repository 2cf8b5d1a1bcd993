//! The flat kernel image QEMU boots as an arm64 Linux `Image`: the ELF's
//! loadable segments laid out at their physical addresses, from the lowest.
//! Booted this way QEMU passes the device tree in x0 and loads the initrd.

use goblin::elf::Elf;
use goblin::elf::program_header::PT_LOAD;
use std::path::{Path, PathBuf};

/// Writes `KERNEL.bin` beside the ELF and returns its path.
pub fn flat_image(elf_path: &Path) -> Result<PathBuf, String> {
    let bytes = std::fs::read(elf_path).map_err(|e| format!("cannot read {}: {e}", elf_path.display()))?;
    let image = flatten(&bytes)?;
    let out = elf_path.with_extension("bin");
    std::fs::write(&out, image).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(out)
}

/// The file contents of every PT_LOAD segment at `p_paddr - lowest p_paddr`.
fn flatten(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let elf = Elf::parse(bytes).map_err(|e| format!("not an ELF kernel: {e}"))?;
    let segments: Vec<_> = elf.program_headers.iter().filter(|p| p.p_type == PT_LOAD && p.p_filesz > 0).collect();
    let base = segments.iter().map(|p| p.p_paddr).min().ok_or("the kernel ELF has no loadable segment")?;
    let end = segments.iter().map(|p| p.p_paddr + p.p_filesz).max().unwrap_or(base);
    let mut image = vec![0u8; usize::try_from(end - base).map_err(|_| "kernel too large")?];
    for p in segments {
        let from = bytes
            .get(p.p_offset as usize..(p.p_offset + p.p_filesz) as usize)
            .ok_or("a segment lies outside the ELF file")?;
        let at = (p.p_paddr - base) as usize;
        image[at..at + from.len()].copy_from_slice(from);
    }
    if image.get(56..60) != Some(b"ARM\x64") {
        return Err("the kernel image does not start with an arm64 Image header".to_string());
    }
    Ok(image)
}
