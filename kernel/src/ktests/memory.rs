//! Memory: the frame allocator, the heap and the kernel map.

use crate::memory::PhysRange;
use crate::platform::platform;
use crate::{check, check_eq, ktest};
use alloc::vec::Vec;
use arch_morello::PhysAddr;

ktest!(fn frames_round_trip() {
    let mut frames = platform().frames.lock();
    let before = frames.free_bytes();
    let a = frames.allocate(4096, 4096).map_err(|e| crate::ktest::TestError::Failed(alloc::format!("{e:?}")))?;
    let b = frames.allocate(2 << 20, 2 << 20).map_err(|e| crate::ktest::TestError::Failed(alloc::format!("{e:?}")))?;
    check!(a.end <= b.start || b.end <= a.start);
    check_eq!(b.start % (2 << 20), 0);
    check!(!platform().machine.memory.iter().all(|bank| a.start < bank.start || a.end > bank.end));
    let _ = frames.free(a);
    let _ = frames.free(b);
    check_eq!(frames.free_bytes(), before);
    Ok(())
});

ktest!(fn frames_exclude_what_is_in_use() {
    let p = platform();
    let frames = p.frames.lock();
    let in_use = [Some(p.image), Some(p.device_tree), Some(p.heap), p.machine.initrd];
    for range in in_use.into_iter().flatten() {
        check!(
            frames.free_ranges().all(|r: PhysRange| r.end <= range.start || r.start >= range.end),
            "{range:x?} is in use but free"
        );
    }
    Ok(())
});

ktest!(fn free_ram_is_writable_through_the_linear_map() {
    let frame = platform().frames.lock().allocate(4096, 4096).map_err(|e| crate::ktest::TestError::Failed(alloc::format!("{e:?}")))?;
    let va: *mut u64 = core::ptr::with_exposed_provenance_mut(PhysAddr(frame.start).to_virt() as usize);
    for i in 0..512 {
        // SAFETY: the frame was just allocated to this test and is mapped RW.
        unsafe { va.add(i).write_volatile(i as u64 * 3) };
    }
    // SAFETY: as above.
    let sum: u64 = (0..512).map(|i| unsafe { va.add(i).read_volatile() }).sum();
    let _ = platform().frames.lock().free(frame);
    check_eq!(sum, 3 * 511 * 512 / 2);
    Ok(())
});

ktest!(fn heap_holds_large_collections() {
    let v: Vec<u64> = (0..(1u64 << 17)).collect();
    check_eq!(v.iter().sum::<u64>(), (1u64 << 17) * ((1u64 << 17) - 1) / 2);
    Ok(())
});
