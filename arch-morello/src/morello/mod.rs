//! The Morello capability layer: used only when [`crate::cpu::Features`]
//! reports capabilities.
//!
//! Every instruction the assembler lacks is emitted by [`insn`], the one
//! module of `.inst` words; [`engine`] runs the capability reference vectors
//! through those instructions.

pub mod engine;
pub mod insn;
pub mod tagged;

/// Points CVBAR_EL1 at `vectors`, as a capability derived from DDC (a plain
/// `msr vbar_el1` would write an untagged capability and every exception
/// would loop on an instruction abort).
pub fn set_vector_base(vectors: u64) {
    insn::write_cvbar_from_ddc(vectors);
}
