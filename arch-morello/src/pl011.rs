//! The PL011 UART: polled transmit, interrupt-driven receive.

use crate::mmio::Mmio;

const DR: usize = 0x00;
const FR: usize = 0x18;
const LCR_H: usize = 0x2c;
const CR: usize = 0x30;
const IMSC: usize = 0x38;
const ICR: usize = 0x44;

const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
const LCR_H_WLEN8: u32 = 3 << 5;
const CR_UARTEN: u32 = 1 << 0;
const CR_TXE: u32 = 1 << 8;
const CR_RXE: u32 = 1 << 9;
const INT_RX: u32 = 1 << 4;
const INT_RT: u32 = 1 << 6;

/// One PL011.
#[derive(Debug)]
pub struct Pl011 {
    regs: Mmio,
}

impl Pl011 {
    /// Size of the register window.
    pub const WINDOW: usize = 0x1000;

    /// Drives the UART whose registers are at `regs`.
    pub fn new(regs: Mmio) -> Pl011 {
        Pl011 { regs }
    }

    /// 8N1, transmitter and receiver on, receive interrupts enabled. The
    /// FIFOs stay off, as at reset: turning them on empties them, which
    /// loses input that was already waiting (QEMU feeds piped input from
    /// power-on); without them the UART holds one byte and the sender
    /// waits for each to be read. Bytes received before go to `keep`.
    pub fn init(&self, keep: &mut dyn FnMut(u8)) {
        while let Some(byte) = self.read_byte() {
            keep(byte);
        }
        self.regs.write(CR, 0);
        self.regs.write(ICR, 0x7ff);
        self.regs.write(LCR_H, LCR_H_WLEN8);
        self.regs.write(IMSC, INT_RX | INT_RT);
        self.regs.write(CR, CR_UARTEN | CR_TXE | CR_RXE);
    }

    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn write_byte(&self, byte: u8) {
        while self.regs.read(FR) & FR_TXFF != 0 {
            core::hint::spin_loop();
        }
        self.regs.write(DR, u32::from(byte));
    }

    /// Sends bytes as they are.
    pub fn write_bytes(&self, bytes: &[u8]) {
        for &b in bytes {
            self.write_byte(b);
        }
    }

    /// A received byte, if one is waiting.
    pub fn read_byte(&self) -> Option<u8> {
        if self.regs.read(FR) & FR_RXFE != 0 {
            None
        } else {
            Some(self.regs.read(DR) as u8)
        }
    }

    /// Acknowledges the receive interrupts; drain the FIFO after, so that
    /// a byte arriving meanwhile raises them again.
    pub fn clear_receive_interrupts(&self) {
        self.regs.write(ICR, INT_RX | INT_RT);
    }

    /// Turns the receive interrupts on or off (off: received bytes wait in
    /// the FIFO, and the sender is held back).
    pub fn enable_receive_interrupts(&self, on: bool) {
        self.regs.write(IMSC, if on { INT_RX | INT_RT } else { 0 });
    }
}
