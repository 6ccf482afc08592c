//! Instruction counting and stack high-water marks.
//!
//! QEMU does not emulate DWT CYCCNT, and its timing is not cycle-accurate. Under
//! `-icount shift=0` its virtual clock advances exactly 1 ns per executed instruction, and the
//! SysTick (clocked from the 25 MHz system clock of mps2-an386) then decrements once every
//! 40 instructions. [`calibrate`] checks that ratio on a loop of known length; every figure
//! derived from it is an **instruction count**, not cycles.

use core::ptr::{addr_of, read_volatile, write_volatile};

const SYST_CSR: *mut u32 = 0xE000_E010 as *mut u32;
const SYST_RVR: *mut u32 = 0xE000_E014 as *mut u32;
const SYST_CVR: *mut u32 = 0xE000_E018 as *mut u32;

/// Free-running 24-bit SysTick on the processor clock, no interrupt.
pub fn start_systick() {
    unsafe {
        write_volatile(SYST_RVR, 0x00FF_FFFF);
        write_volatile(SYST_CVR, 0);
        write_volatile(SYST_CSR, 0b101); // CLKSOURCE = processor clock, ENABLE
    }
}

/// The current SysTick value (counts down).
#[inline(always)]
pub fn now() -> u32 {
    unsafe { read_volatile(SYST_CVR) }
}

/// Ticks from `earlier` to `later` (each interval must stay under 2^24 ticks).
#[inline(always)]
pub fn ticks(earlier: u32, later: u32) -> u32 {
    earlier.wrapping_sub(later) & 0x00FF_FFFF
}

/// Runs `2 * iters` instructions (a `subs`/`bne` loop) and returns the SysTick ticks taken.
#[inline(never)]
pub fn calibrate(iters: u32) -> u32 {
    let a = now();
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {0}, {0}, #1",
            "bne 2b",
            inout(reg) iters => _,
            options(nomem, nostack),
        );
    }
    ticks(a, now())
}

const PAINT: u32 = 0x5A5A_A5A5;

extern "C" {
    static __sheap: u32;
    static _stack_start: u32;
}

fn stack_bottom() -> usize {
    addr_of!(__sheap) as usize
}

/// Top of the stack (initial SP).
pub fn stack_top() -> usize {
    addr_of!(_stack_start) as usize
}

/// Paints the free stack below the current SP; returns that SP.
#[inline(never)]
pub fn paint() -> usize {
    let sp = cortex_m::register::msp::read() as usize;
    let mut a = stack_bottom();
    while a + 64 < sp {
        unsafe { write_volatile(a as *mut u32, PAINT) };
        a += 4;
    }
    sp
}

/// Bytes of stack used below `sp` (from [`paint`]) since it painted.
#[inline(never)]
pub fn high_water(sp: usize) -> usize {
    let mut a = stack_bottom();
    while a < sp && unsafe { read_volatile(a as *const u32) } == PAINT {
        a += 4;
    }
    sp - a
}
