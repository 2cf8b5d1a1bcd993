//! The simulator against a naive model of tagged memory (a byte vector and a
//! vector of tags), under random sequences of capability stores, data
//! stores and tag-preserving copies; and the word-at-a-time scan against a
//! granule-by-granule one.

use proptest::prelude::*;
use uprocess::Capability;
use uprocess::tagged::{GRANULE_SIZE, SimulatedMemory, TaggedMemory};

#[derive(Clone, Debug)]
enum Op {
    StoreCapability {
        granule: usize,
        bits: u128,
        tag: bool,
    },
    StoreData {
        offset: usize,
        length: usize,
        byte: u8,
    },
    Copy {
        from: usize,
        to: usize,
        granules: usize,
    },
}

/// The obvious implementation: one bool per granule.
struct Naive {
    bytes: Vec<u8>,
    tags: Vec<bool>,
}

impl Naive {
    fn apply(&mut self, op: &Op) {
        let g = GRANULE_SIZE as usize;
        match *op {
            Op::StoreCapability { granule, bits, tag } => {
                self.bytes[granule * g..(granule + 1) * g].copy_from_slice(&bits.to_le_bytes());
                self.tags[granule] = tag;
            }
            Op::StoreData {
                offset,
                length,
                byte,
            } => {
                for index in offset..offset + length {
                    self.bytes[index] = byte;
                    self.tags[index / g] = false;
                }
            }
            Op::Copy { from, to, granules } => {
                let bytes = self.bytes[from * g..(from + granules) * g].to_vec();
                let tags = self.tags[from..from + granules].to_vec();
                self.bytes[to * g..(to + granules) * g].copy_from_slice(&bytes);
                self.tags[to..to + granules].copy_from_slice(&tags);
            }
        }
    }
}

/// A memory size (in granules) and operations inside it. Tags are sparse
/// or dense depending on `density`, so whole zero words and full words
/// both occur.
fn memory_and_ops() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (1usize..=600, 1u32..=8).prop_flat_map(|(granules, density)| {
        let bytes = granules * GRANULE_SIZE as usize;
        let op = prop_oneof![
            density => (0..granules, any::<u128>(), any::<bool>())
                .prop_map(|(granule, bits, tag)| Op::StoreCapability { granule, bits, tag }),
            2 => (0..bytes, 0usize..80, any::<u8>()).prop_map(move |(offset, length, byte)| {
                Op::StoreData { offset, length: length.min(bytes - offset), byte }
            }),
            2 => (0..granules, 0..granules, 0..granules).prop_map(move |(from, to, n)| {
                let granules = n.min(granules - from).min(granules - to);
                Op::Copy { from, to, granules }
            }),
        ];
        (
            Just(granules),
            proptest::collection::vec(op, 0..(density as usize * 40)),
        )
    })
}

const BASE: u64 = 0x7f00_0000_0000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn simulator_matches_the_naive_model((granules, ops) in memory_and_ops()) {
        let size = granules as u64 * GRANULE_SIZE;
        let mut memory = SimulatedMemory::new(BASE, size).unwrap();
        let mut naive = Naive { bytes: vec![0; size as usize], tags: vec![false; granules] };
        let at = |index: usize| BASE + index as u64;
        for op in &ops {
            naive.apply(op);
            match *op {
                Op::StoreCapability { granule, bits, tag } => memory
                    .store_capability(at(granule * 16), &Capability::from_bits(bits, tag)),
                Op::StoreData { offset, length, byte } => {
                    memory.store_data(at(offset), &vec![byte; length])
                }
                Op::Copy { from, to, granules } => {
                    memory.copy_with_tags(at(from * 16), at(to * 16), granules as u64 * 16)
                }
            }
            .unwrap();
        }
        let mut bytes = vec![0; size as usize];
        memory.load_data(BASE, &mut bytes).unwrap();
        prop_assert_eq!(bytes, naive.bytes);
        for (granule, &tag) in naive.tags.iter().enumerate() {
            prop_assert_eq!(memory.read_tag(at(granule * 16)), Ok(tag));
            let loaded = memory.load_capability(at(granule * 16)).unwrap();
            prop_assert_eq!(loaded.tag(), tag);
        }
    }

    #[test]
    fn scan_returns_exactly_the_tagged_granules(
        (granules, ops) in memory_and_ops(),
        start in any::<prop::sample::Index>(),
        end in any::<prop::sample::Index>(),
    ) {
        let size = granules as u64 * GRANULE_SIZE;
        let mut memory = SimulatedMemory::new(BASE, size).unwrap();
        for op in &ops {
            if let Op::StoreCapability { granule, bits, tag } = *op {
                let address = BASE + granule as u64 * 16;
                memory.store_capability(address, &Capability::from_bits(bits, tag)).unwrap();
            }
        }
        let (first, last) = {
            let (a, b) = (start.index(granules + 1), end.index(granules + 1));
            (a.min(b) as u64, a.max(b) as u64)
        };
        let range = BASE + first * 16..BASE + last * 16;
        let naive: Vec<u64> = range
            .clone()
            .step_by(16)
            .filter(|&address| memory.read_tag(address).unwrap())
            .collect();
        let fast: Vec<u64> = memory.tagged_granules(range).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(fast, naive);
    }
}
