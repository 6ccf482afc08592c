//! The fuzz harnesses (issue 15), one per target in `fuzz_targets/`: each decodes the fuzzer's
//! bytes into a call sequence and asserts the contract: no panic (a trap in wasm), and a run
//! that ends `Ok` has a finite result. Kept in a library so the targets stay one line.

use arbitrary::{Result, Unstructured};

pub mod diffusers;
#[cfg(feature = "pipeline")]
pub mod onnx;
#[cfg(feature = "pipeline")]
pub mod options;
pub mod sampler;

/// A float that is usually moderate and sometimes one of the values that break things.
pub fn any_f32(u: &mut Unstructured<'_>) -> Result<f32> {
    const SPECIAL: [f32; 16] = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        1e-45,
        1e-38,
        1e-7,
        0.5,
        0.999_999_9,
        7.0,
        1e4,
        3e38,
        -3e38,
        f32::INFINITY,
        f32::NAN,
        f32::MAX,
    ];
    Ok(match u.int_in_range(0..=3u8)? {
        0 => SPECIAL[u.int_in_range(0..=15usize)?],
        1 => f32::from_bits(u.arbitrary::<u32>()?),
        _ => u.int_in_range(-2000..=2000i32)? as f32 / 100.0,
    })
}

/// A moderate, finite float in [-4, 4] (model outputs and samples).
pub fn moderate(u: &mut Unstructured<'_>) -> Result<f32> {
    Ok(u.int_in_range(-400..=400i32)? as f32 / 100.0)
}

/// Whether every value is finite.
pub fn finite(v: &[f32]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// Up to `range.end()` bytes, as many as the input says.
pub fn bytes<'a>(
    u: &mut Unstructured<'a>,
    range: core::ops::RangeInclusive<usize>,
) -> Result<&'a [u8]> {
    let n = u.int_in_range(range)?;
    u.bytes(n)
}
