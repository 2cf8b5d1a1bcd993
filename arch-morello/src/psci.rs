//! PSCI: power control through the firmware conduit the device tree names.

/// How PSCI calls reach the firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0`.
    Hvc,
    /// `smc #0`.
    Smc,
}

impl Conduit {
    /// The conduit named by the device tree's `/psci` `method` property.
    pub fn from_method(method: &str) -> Option<Conduit> {
        match method {
            "hvc" => Some(Conduit::Hvc),
            "smc" => Some(Conduit::Smc),
            _ => None,
        }
    }

    fn call(self, function: u32, a1: u64, a2: u64, a3: u64) -> i64 {
        let mut x0 = u64::from(function);
        // SAFETY: a PSCI call only changes the power state as requested; the
        // callee preserves the registers the SMC Calling Convention says it does.
        unsafe {
            match self {
                Conduit::Hvc => core::arch::asm!("hvc #0", inout("x0") x0, in("x1") a1, in("x2") a2, in("x3") a3, options(nostack)),
                Conduit::Smc => core::arch::asm!("smc #0", inout("x0") x0, in("x1") a1, in("x2") a2, in("x3") a3, options(nostack)),
            }
        }
        x0 as i64
    }

    /// PSCI_VERSION: (major, minor).
    pub fn version(self) -> (u16, u16) {
        let v = self.call(0x8400_0000, 0, 0, 0) as u64;
        ((v >> 16) as u16, v as u16)
    }

    /// SYSTEM_OFF.
    pub fn system_off(self) -> ! {
        self.call(0x8400_0008, 0, 0, 0);
        loop {
            aarch64_cpu::asm::wfe();
        }
    }

    /// CPU_ON (64-bit): start the core `target` at physical `entry` with `context` in x0.
    pub fn cpu_on(self, target: u64, entry: u64, context: u64) -> i64 {
        self.call(0xc400_0003, target, entry, context)
    }
}
