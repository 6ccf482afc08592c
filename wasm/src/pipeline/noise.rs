//! Seeded noise, bit-identical on every target: the starting noise of a generation and the
//! seed of the SDE variants' per-step noise.

use dpm_solver::rng::NoiseRng;

/// Seeded starting noise for images `first .. first + count`: image `i` is
/// `NoiseRng::with_stream(seed, i)` filled with `image_len` standard normals, bit-identical on
/// every target.
pub fn initial_noise(seed: u64, first: usize, count: usize, image_len: usize) -> Vec<f32> {
    let mut x = vec![0.0f32; count * image_len];
    for (k, chunk) in x.chunks_mut(image_len.max(1)).enumerate() {
        NoiseRng::with_stream(seed, (first + k) as u64).fill_gaussian(chunk);
    }
    x
}

/// The seed of the SDE variants' per-step noise for a generation seed (kept apart from the
/// starting noise, which uses `seed` itself).
#[cfg_attr(not(feature = "pipeline"), allow(dead_code))]
pub(crate) fn sde_seed(seed: u64) -> u64 {
    seed ^ 0x5DE0_5DE0_5DE0_5DE0
}
