//! The syscall layer: numbers, typed arguments, structure layouts and the
//! handlers, one module per family.

pub mod args;
pub mod numbers;
