//! The kernel's random numbers (getrandom, AT_RANDOM, /dev/urandom): a
//! ChaCha20 CSPRNG (`rand_chacha`, a maintained implementation) seeded at
//! boot from the hardware: the firmware's `rng-seed` from the device tree,
//! RNDR where the CPU has it, and the counter's low bits.

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use spin::{Mutex, Once};

static RNG: Once<Mutex<ChaCha20Rng>> = Once::new();

/// Seeds the generator; `firmware_seed` is the device tree's entropy.
pub fn seed(firmware_seed: &[u8]) {
    let mut seed = [0u8; 32];
    for (i, byte) in firmware_seed.iter().enumerate() {
        seed[i % 32] ^= byte;
    }
    for (i, word) in arch_morello::cpu::hardware_random_words().into_iter().enumerate() {
        for (j, byte) in word.to_le_bytes().into_iter().enumerate() {
            seed[(i * 8 + j) % 32] ^= byte;
        }
    }
    for (j, byte) in arch_morello::timer::counter().to_le_bytes().into_iter().enumerate() {
        seed[24 + j] ^= byte;
    }
    RNG.call_once(|| Mutex::new(ChaCha20Rng::from_seed(seed)));
}

/// Fills `buffer` with random bytes.
pub fn fill(buffer: &mut [u8]) {
    let rng = RNG.call_once(|| Mutex::new(ChaCha20Rng::from_seed([0x5a; 32])));
    arch_morello::cpu::with_irqs_masked(|| rng.lock().fill_bytes(buffer));
}
