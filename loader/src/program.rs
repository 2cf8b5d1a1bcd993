//! A whole program for execve: the executable and, when it names one with
//! PT_INTERP, its interpreter (the dynamic linker), both loaded into one
//! address space.

use alloc::vec::Vec;

use posix_shim::Errno;

use crate::elf::{LoadedElf, Placement, load_elf};
use crate::space::AddressSpace;

/// Reads the interpreter named by PT_INTERP: its path in, its bytes and
/// its file (or execve's error, such as ENOENT) out.
pub type ReadInterpreter<'a, F> = dyn FnMut(&[u8]) -> Result<(Vec<u8>, F), Errno> + 'a;

/// A loaded program, ready for its initial stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The executable itself (AT_PHDR, AT_PHNUM, AT_ENTRY come from it).
    pub exe: LoadedElf,
    /// The interpreter, if the executable has PT_INTERP (AT_BASE is its load
    /// bias).
    pub interpreter: Option<LoadedElf>,
    /// Where the μprocess starts: the interpreter's entry if there is one,
    /// the executable's otherwise.
    pub entry: u64,
}

impl Program {
    /// AT_BASE: the interpreter's load bias, 0 without an interpreter.
    pub fn interpreter_base(&self) -> u64 {
        self.interpreter.as_ref().map_or(0, |interp| interp.load_bias)
    }
}

/// Loads `exe` (the contents of `exe_file`) into `space` and, if it has
/// PT_INTERP, the interpreter whose bytes and file `read_interpreter`
/// returns for that path (its errors, such as
/// ENOENT, are execve's). As on Linux, the interpreter's own PT_INTERP and
/// PT_GNU_STACK are ignored. Both run in one ABI, so a purecap executable
/// needs a purecap interpreter and a plain one a plain one: a mismatch is
/// ENOEXEC.
pub fn load_program<F>(
    exe: &[u8],
    exe_file: &F,
    space: &mut dyn AddressSpace<File = F>,
    read_interpreter: &mut ReadInterpreter<'_, F>,
) -> Result<Program, Errno> {
    let exe = load_elf(exe, exe_file, space, Placement::Executable)?;
    let interpreter = match &exe.interpreter {
        None => None,
        Some(path) => {
            let (image, file) = read_interpreter(path)?;
            let interpreter = load_elf(&image, &file, space, Placement::Interpreter)?;
            if interpreter.purecap != exe.purecap {
                return Err(Errno::ENOEXEC);
            }
            Some(interpreter)
        }
    };
    let entry = interpreter.as_ref().map_or(exe.entry, |interp| interp.entry);
    Ok(Program { exe, interpreter, entry })
}
