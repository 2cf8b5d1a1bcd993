//! The 18-bit Morello permission field (capability bits 127..110), named as
//! in the Arm Morello architecture. Bit `n` of [`Permissions`] is capability
//! bit `110 + n`; the four user permissions sit in the middle of the
//! architectural ones (field bits 5..2, capability bits 115..112).

use bitflags::bitflags;

bitflags! {
    /// The permissions of a capability, in the order of the Morello
    /// permission field (field bit 17 = Load ... field bit 0 = Global).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Permissions: u32 {
        /// The capability may be stored through non-local capabilities.
        const GLOBAL = 1 << 0;
        /// Executive (as opposed to restricted) execution.
        const EXECUTIVE = 1 << 1;
        /// Software-defined permission 0 (capability bit 112).
        const USER0 = 1 << 2;
        /// Software-defined permission 1 (capability bit 113).
        const USER1 = 1 << 3;
        /// Software-defined permission 2 (capability bit 114).
        const USER2 = 1 << 4;
        /// Software-defined permission 3 (capability bit 115).
        const USER3 = 1 << 5;
        /// Capabilities loaded through this one keep their Store/StoreCap.
        const MUTABLE_LOAD = 1 << 6;
        /// May set the compartment identifier.
        const COMPARTMENT_ID = 1 << 7;
        /// May be used by BRS/BLRS (branch to sealed pair).
        const BRANCH_SEALED_PAIR = 1 << 8;
        /// Access to system registers and system instructions.
        const SYSTEM = 1 << 9;
        /// May unseal capabilities whose object type it covers.
        const UNSEAL = 1 << 10;
        /// May seal capabilities with the object types it covers.
        const SEAL = 1 << 11;
        /// May store local (non-Global) capabilities.
        const STORE_LOCAL_CAP = 1 << 12;
        /// May store capabilities.
        const STORE_CAP = 1 << 13;
        /// May load capabilities.
        const LOAD_CAP = 1 << 14;
        /// May fetch instructions.
        const EXECUTE = 1 << 15;
        /// May store data.
        const STORE = 1 << 16;
        /// May load data.
        const LOAD = 1 << 17;
    }
}

impl Permissions {
    /// The four user permissions as the 4-bit value of capability bits
    /// 115..112 (what the vectors call `uperms`).
    pub fn user_bits(self) -> u8 {
        // The mask keeps 4 bits, so the narrowing is lossless.
        ((self.bits() >> 2) & 0xf) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_layout_matches_morello() {
        assert_eq!(Permissions::all().bits(), 0x3ffff);
        assert_eq!(Permissions::LOAD.bits(), 1 << 17);
        assert_eq!(Permissions::GLOBAL.bits(), 1);
        assert_eq!(
            (Permissions::USER0 | Permissions::USER3).user_bits(),
            0b1001
        );
        assert_eq!(Permissions::from_bits_truncate(0x11f91).user_bits(), 0x4);
    }
}
