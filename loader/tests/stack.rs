//! The initial stack: built for the real test programs, then read back as a
//! libc's _start reads it and checked field by field against Linux arm64's
//! layout.

mod common;

use common::*;
use loader::auxv::*;
use loader::stack::{MAX_ARG_STRLEN, PLATFORM};
use loader::testing::FakeAddressSpace;
use loader::{
    ADDRESS_LIMIT, AddressSpace, EXECUTABLE_DYN_BASE, Errno, INTERPRETER_DYN_BASE, Program, Protection,
    StackPlacement, StartInfo, build_initial_stack,
};

const TOP: u64 = 0xffff_f000_0000;
const SIZE: u64 = 8 << 20;
const PLACEMENT: StackPlacement = StackPlacement { top: TOP, size: SIZE };

fn loaded(image: &[u8]) -> (FakeAddressSpace, Program) {
    let mut space = FakeAddressSpace::new();
    let program = load_with_test_interpreter(image, &mut space).unwrap();
    (space, program)
}

#[test]
fn layout_is_linuxs_byte_for_byte() {
    let (mut space, program) = loaded(STATIC);
    let info = start_info();
    let sp = build_initial_stack(&mut space, PLACEMENT, &program, &info).unwrap();
    let stack = decode_stack(&space, sp);

    // From the top: 8 zero bytes, "/bin/hello\0" (11), the environment
    // strings (19 + 11 + 13 bytes, the last highest), the arguments (11 + 6 +
    // 1 + 10), down to a multiple of 16 (TOP - 96), "aarch64\0", 16 random
    // bytes at TOP - 120, then 21 auxv pairs and 10 words down to a multiple
    // of 16.
    assert_eq!(space.read(TOP - 8, 8).unwrap(), [0; 8]);
    assert_eq!(stack.aux(AT_EXECFN), TOP - 19);
    assert_eq!(stack.envp_addrs, [TOP - 62, TOP - 43, TOP - 32]);
    assert_eq!(stack.argv_addrs, [TOP - 90, TOP - 79, TOP - 73, TOP - 72]);
    assert_eq!(stack.aux(AT_PLATFORM), TOP - 104);
    assert_eq!(stack.aux(AT_RANDOM), TOP - 120);
    assert_eq!(stack.auxv.len(), 21);
    assert_eq!(sp, TOP - 544);
    assert_eq!(stack.auxv_end, TOP - 544 + 8 * 10 + 16 * 21);

    assert_eq!(stack.argc, 4);
    assert_eq!(stack.argv, info.argv);
    assert_eq!(stack.envp, info.envp);
    assert_eq!(space.read_c_string(stack.aux(AT_EXECFN)).unwrap(), b"/bin/hello");
    assert_eq!(space.read(stack.aux(AT_PLATFORM), 8).unwrap(), PLATFORM);
    assert_eq!(space.read(stack.aux(AT_RANDOM), 16).unwrap(), info.random);
}

#[test]
fn auxv_has_linuxs_entries_in_linuxs_order() {
    let (mut space, program) = loaded(STATIC);
    let info = start_info();
    let sp = build_initial_stack(&mut space, PLACEMENT, &program, &info).unwrap();
    let stack = decode_stack(&space, sp);
    let values = |kind| stack.aux(kind);
    let expected = [
        (AT_SYSINFO_EHDR, 0xffff_f7ff_0000),
        (AT_MINSIGSTKSZ, 5120),
        (AT_HWCAP, 0x803),
        (AT_PAGESZ, 4096),
        (AT_CLKTCK, 100),
        (AT_PHDR, 0x400040),
        (AT_PHENT, 56),
        (AT_PHNUM, 3),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, 0x4000e8),
        (AT_UID, 1000),
        (AT_EUID, 1001),
        (AT_GID, 100),
        (AT_EGID, 101),
        (AT_SECURE, 1),
        (AT_RANDOM, values(AT_RANDOM)),
        (AT_HWCAP2, 2),
        (AT_EXECFN, values(AT_EXECFN)),
        (AT_PLATFORM, values(AT_PLATFORM)),
        (AT_NULL, 0),
    ];
    assert_eq!(stack.auxv, expected);
}

#[test]
fn dynamic_program_gets_the_interpreter_base_and_its_own_entry() {
    let (mut space, program) = loaded(DYNAMIC_PIE);
    let sp = build_initial_stack(&mut space, PLACEMENT, &program, &start_info()).unwrap();
    let stack = decode_stack(&space, sp);
    assert_eq!(stack.aux(AT_BASE), INTERPRETER_DYN_BASE);
    assert_eq!(stack.aux(AT_ENTRY), EXECUTABLE_DYN_BASE + 0x25c);
    assert_ne!(stack.aux(AT_ENTRY), program.entry);
    assert_eq!(stack.aux(AT_PHDR), EXECUTABLE_DYN_BASE + 0x40);
    assert_eq!(stack.aux(AT_PHNUM), 8);
    // AT_PHDR points at the executable's real program headers.
    let phdrs = space.read(stack.aux(AT_PHDR), 8 * 56).unwrap();
    assert_eq!(phdrs, &DYNAMIC_PIE[64..64 + 8 * 56]);
}

#[test]
fn stack_is_mapped_read_write_and_executable_only_on_request() {
    let (mut space, program) = loaded(STATIC);
    build_initial_stack(&mut space, PLACEMENT, &program, &start_info()).unwrap();
    let mapping = space.mapping_at(TOP - 1).unwrap();
    assert_eq!((mapping.start, mapping.end), (TOP - SIZE, TOP));
    assert_eq!(mapping.prot, Protection::READ | Protection::WRITE);

    let (mut space, program) = loaded(STATIC_PIE);
    build_initial_stack(&mut space, PLACEMENT, &program, &start_info()).unwrap();
    assert_eq!(space.mapping_at(TOP - SIZE).unwrap().prot, Protection::all());
}

#[test]
fn sp_is_16_byte_aligned_just_below_auxv_and_random_bytes() {
    for extra in 0..48 {
        let (mut space, program) = loaded(STATIC);
        let mut info = start_info();
        info.argv.push(vec![b'a'; extra]);
        info.envp.truncate(extra % 4);
        info.sysinfo_ehdr = (extra % 2 == 0).then_some(0xffff_f7ff_0000);
        let sp = build_initial_stack(&mut space, PLACEMENT, &program, &info).unwrap();
        assert_eq!(sp % 16, 0);
        let stack = decode_stack(&space, sp);
        assert_eq!(stack.argv, info.argv);
        assert_eq!(stack.envp, info.envp);
        let random = stack.aux(AT_RANDOM);
        assert!(stack.auxv_end <= random && random - stack.auxv_end < 16, "gap below AT_RANDOM for {extra}");
        assert_eq!(stack.aux(AT_PLATFORM), random + 16);
        assert_eq!(stack.aux(AT_PLATFORM) % 8, 0);
        // The strings start right above the 16-byte boundary below them.
        assert_eq!(stack.argv_addrs[0] & !15, stack.aux(AT_PLATFORM) + 8);
    }
}

#[test]
fn empty_argv_gets_one_empty_argument() {
    let (mut space, program) = loaded(STATIC);
    let info = StartInfo { argv: Vec::new(), ..start_info() };
    let sp = build_initial_stack(&mut space, PLACEMENT, &program, &info).unwrap();
    let stack = decode_stack(&space, sp);
    assert_eq!(stack.argc, 1);
    assert_eq!(stack.argv, [Vec::<u8>::new()]);
}

#[test]
fn optional_entries_follow_linux() {
    let (mut space, program) = loaded(STATIC);
    let info = StartInfo { minsigstksz: 0, sysinfo_ehdr: None, secure: false, ..start_info() };
    let sp = build_initial_stack(&mut space, PLACEMENT, &program, &info).unwrap();
    let stack = decode_stack(&space, sp);
    assert_eq!(stack.auxv[0], (AT_IGNORE, 0));
    assert!(!stack.auxv.iter().any(|(k, _)| *k == AT_MINSIGSTKSZ || *k == AT_SYSINFO_EHDR));
    assert_eq!(stack.aux(AT_SECURE), 0);
    assert_eq!(stack.auxv.len(), 20);
}

#[test]
fn arguments_beyond_a_quarter_of_the_stack_are_e2big() {
    // 64 KiB of stack: the strings, the 8 bytes at the top and the pointers
    // may take 16 KiB. With one argument of length L and execfn "e":
    // 8 + (L + 1) + 2 + 8 bytes.
    let placement = StackPlacement { top: TOP, size: 64 << 10 };
    let info = |len| StartInfo { argv: vec![vec![b'x'; len]], envp: Vec::new(), execfn: b"e".to_vec(), ..start_info() };
    let (mut space, program) = loaded(STATIC);
    let sp = build_initial_stack(&mut space, placement, &program, &info(16384 - 19)).unwrap();
    assert_eq!(decode_stack(&space, sp).argv[0].len(), 16384 - 19);

    let (mut space, program) = loaded(STATIC);
    let before = space.mappings();
    assert_eq!(build_initial_stack(&mut space, placement, &program, &info(16384 - 18)), Err(Errno::E2BIG));
    assert_eq!(space.mappings(), before, "nothing is mapped on E2BIG");
}

#[test]
fn strings_longer_than_max_arg_strlen_are_e2big() {
    let len = usize::try_from(MAX_ARG_STRLEN).unwrap();
    let (mut space, program) = loaded(STATIC);
    let info = StartInfo { envp: vec![vec![b'v'; len - 1]], ..start_info() };
    build_initial_stack(&mut space, PLACEMENT, &program, &info).unwrap();
    let (mut space, program) = loaded(STATIC);
    let info = StartInfo { envp: vec![vec![b'v'; len]], ..start_info() };
    assert_eq!(build_initial_stack(&mut space, PLACEMENT, &program, &info), Err(Errno::E2BIG));
    let (mut space, program) = loaded(STATIC);
    let info = StartInfo { execfn: vec![b'/'; len], ..start_info() };
    assert_eq!(build_initial_stack(&mut space, PLACEMENT, &program, &info), Err(Errno::E2BIG));
}

#[test]
fn bad_placements_are_einval_and_taken_ones_eexist() {
    let (mut space, program) = loaded(STATIC);
    let info = start_info();
    for placement in [
        StackPlacement { top: TOP + 8, size: SIZE },
        StackPlacement { top: TOP, size: SIZE + 1 },
        StackPlacement { top: TOP, size: 0 },
        StackPlacement { top: 0x1000, size: 0x2000 },
        StackPlacement { top: ADDRESS_LIMIT + 0x1000, size: SIZE },
    ] {
        assert_eq!(build_initial_stack(&mut space, placement, &program, &info), Err(Errno::EINVAL), "{placement:?}");
    }
    space.map_zeroed(TOP - 0x1000, 0x1000, Protection::READ).unwrap();
    assert_eq!(build_initial_stack(&mut space, PLACEMENT, &program, &info), Err(Errno::EEXIST));
}

#[test]
fn a_tiny_stack_is_e2big_not_a_panic() {
    let (_, program) = loaded(STATIC);
    let info = StartInfo { argv: vec![b"a".to_vec()], envp: Vec::new(), execfn: b"a".to_vec(), ..start_info() };
    // 16-byte pages, so that stacks of a few bytes are well placed. The
    // strings need 20 bytes (at most a quarter of the stack), the whole
    // frame 416.
    let mut space = FakeAddressSpace::with_layout(16, ADDRESS_LIMIT);
    for size in [16, 32, 64, 128, 256] {
        let placement = StackPlacement { top: 0x10000, size };
        assert_eq!(build_initial_stack(&mut space, placement, &program, &info), Err(Errno::E2BIG), "{size}");
    }
    assert!(space.mappings().is_empty());
    let sp = build_initial_stack(&mut space, StackPlacement { top: 0x10000, size: 512 }, &program, &info).unwrap();
    assert_eq!(sp, 0x10000 - 416);
    assert_eq!(decode_stack(&space, sp).argv, [b"a".to_vec()]);
}
