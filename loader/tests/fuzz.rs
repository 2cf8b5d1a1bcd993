//! Malformed ELF files never make the loader panic (issue 5, acceptance 5):
//! the real test programs, mutated byte by byte, field by field and at
//! random, are loaded with their interpreter into a fake address space and
//! given an initial stack. Every outcome must be a success that holds up
//! (the program headers are where AT_PHDR says, addresses in user space) or
//! one of the errors a bad or oversized file may give.

mod common;

use common::*;
use loader::testing::FakeAddressSpace;
use loader::{ADDRESS_LIMIT, Errno, LoadedElf, StackPlacement, build_initial_stack, load_program};
use proptest::prelude::*;

const STACK: StackPlacement = StackPlacement { top: 0xffff_f000_0000, size: 8 << 20 };

/// Loads `exe` with `interp` as its interpreter and builds its stack;
/// returns whether that worked. Panics (failing the test) on a panic inside
/// the loader, on an unexpected error, or on a success that is not sound.
fn load_checked(exe: &[u8], interp: &[u8]) -> bool {
    let mut space = FakeAddressSpace::new();
    let program = match load_program(exe, &(), &mut space, &mut |_| Ok((interp.to_vec(), ()))) {
        Ok(program) => program,
        Err(e) => {
            // EEXIST: a mutated ET_EXEC interpreter over the executable.
            assert!(matches!(e, Errno::ENOEXEC | Errno::ENOMEM | Errno::EEXIST), "unexpected {e:?}");
            return false;
        }
    };
    assert_sound(&program.exe, exe, &space);
    if let Some(interpreter) = &program.interpreter {
        assert_sound(interpreter, interp, &space);
    }
    match build_initial_stack(&mut space, STACK, &program, &start_info()) {
        Ok(sp) => assert!(sp.is_multiple_of(16)),
        // A mutated ET_EXEC may sit where the stack goes.
        Err(e) => assert_eq!(e, Errno::EEXIST),
    }
    true
}

/// What a successful load promises, checked against the raw file.
fn assert_sound(elf: &LoadedElf, image: &[u8], space: &FakeAddressSpace) {
    assert!(elf.entry < ADDRESS_LIMIT);
    assert!(elf.brk_start <= ADDRESS_LIMIT && elf.brk_start.is_multiple_of(PAGE));
    assert_eq!(elf.phent, 56);
    let phoff = usize::try_from(get_u64(image, eh::PHOFF)).unwrap();
    let table_len = usize::from(elf.phnum) * 56;
    assert_eq!(space.read(elf.phdr_addr, table_len).unwrap(), &image[phoff..phoff + table_len]);
}

/// Each test file as (executable, interpreter) with the one to mutate first.
fn mutable_pairs() -> [(&'static [u8], Option<&'static [u8]>); 4] {
    [(STATIC, None), (STATIC_PIE, None), (DYNAMIC_PIE, Some(INTERP)), (INTERP, Some(DYNAMIC_PIE))]
}

/// Loads `mutated` in the role of `pair`: as the executable, or as the
/// interpreter of dynamic-pie-hello.
fn load_in_role(original: &[u8], mutated: &[u8]) -> bool {
    if original == INTERP { load_checked(DYNAMIC_PIE, mutated) } else { load_checked(mutated, INTERP) }
}

#[test]
fn every_header_byte_set_to_telling_values() {
    let (mut loaded, mut refused) = (0, 0);
    for (image, _) in mutable_pairs() {
        let (header, _) = headers(image);
        let headers_end = usize::try_from(header.e_phoff).unwrap() + usize::from(header.e_phnum) * 56;
        // The headers, and the PT_INTERP path that follows them.
        for at in 0..(headers_end + 32).min(image.len()) {
            let old = image[at];
            for value in [0x00, 0xff, 0x7f, 0x80, old ^ 0x01, old ^ 0x10, old.wrapping_add(0x40)] {
                let mut mutated = image.to_vec();
                mutated[at] = value;
                if load_in_role(image, &mutated) {
                    loaded += 1;
                } else {
                    refused += 1;
                }
            }
        }
    }
    // Both outcomes happen: the mutations reach past the first check.
    assert!(loaded > 1000 && refused > 1000, "{loaded} loaded, {refused} refused");
}

/// One change to a file.
#[derive(Debug, Clone)]
enum Mutation {
    /// A byte set (its position taken modulo the length).
    Byte { at: usize, value: u8 },
    /// An ELF header field (from `HEADER_FIELDS`) set.
    Header { field: usize, value: u64 },
    /// A program header field (from `PHDR_FIELDS`) set, in header `index`
    /// (modulo their number).
    Phdr { index: usize, field: usize, value: u64 },
    /// The file cut (to this length modulo its own).
    Truncate { len: usize },
}

/// (offset, size) of the ELF header fields worth randomising.
const HEADER_FIELDS: [(usize, usize); 9] = [(4, 1), (5, 1), (16, 2), (18, 2), (24, 8), (32, 8), (48, 4), (54, 2), (56, 2)];
/// (offset, size) of the program header fields.
const PHDR_FIELDS: [(usize, usize); 8] = [(0, 4), (4, 4), (8, 8), (16, 8), (24, 8), (32, 8), (40, 8), (48, 8)];

fn field_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(u64::MAX),
        Just(1 << 63),
        Just(ADDRESS_LIMIT),
        Just(ADDRESS_LIMIT - 1),
        Just(0x1000),
        Just(0x10000),
        0u64..0x2_0000,
        any::<u64>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (prop_oneof![0usize..0x300, any::<usize>()], any::<u8>()).prop_map(|(at, value)| Mutation::Byte { at, value }),
        3 => (0..HEADER_FIELDS.len(), field_value()).prop_map(|(field, value)| Mutation::Header { field, value }),
        4 => (0usize..16, 0..PHDR_FIELDS.len(), field_value())
            .prop_map(|(index, field, value)| Mutation::Phdr { index, field, value }),
        1 => any::<usize>().prop_map(|len| Mutation::Truncate { len }),
    ]
}

fn apply(image: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let (header, _) = headers(image);
    let phoff = usize::try_from(header.e_phoff).unwrap();
    let phnum = usize::from(header.e_phnum);
    let mut out = image.to_vec();
    let set = |out: &mut Vec<u8>, at: usize, size: usize, value: u64| {
        if at + size <= out.len() {
            out[at..at + size].copy_from_slice(&value.to_le_bytes()[..size]);
        }
    };
    for m in mutations {
        match *m {
            Mutation::Byte { at, value } => {
                let len = out.len();
                if len > 0 {
                    out[at % len] = value;
                }
            }
            Mutation::Header { field, value } => {
                let (at, size) = HEADER_FIELDS[field];
                set(&mut out, at, size, value);
            }
            Mutation::Phdr { index, field, value } => {
                let (offset, size) = PHDR_FIELDS[field];
                set(&mut out, phoff + (index % phnum) * 56 + offset, size, value);
            }
            Mutation::Truncate { len } => {
                let keep = len % (out.len() + 1);
                out.truncate(keep);
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn randomly_mutated_files_load_or_fail_cleanly(
        which in 0..4usize,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let (image, _) = mutable_pairs()[which];
        let mutated = apply(image, &mutations);
        load_in_role(image, &mutated);
    }
}

#[test]
fn unmutated_files_load() {
    for (image, _) in mutable_pairs() {
        assert!(load_in_role(image, image));
    }
}
