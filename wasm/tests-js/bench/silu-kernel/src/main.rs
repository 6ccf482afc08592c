//! tract-linalg 0.23.9's wasm SiLU kernel (`WasmSilu4`, src/wasm/act_f32.rs) as published and as
//! patched in vendor/ (its clamps by `f32x4_pmin`/`f32x4_pmax` instead of `f32x4_min`/`max`),
//! and an exp-based SiLU tried and not kept: accuracy against f64, the two tract kernels
//! compared bit for bit, and ns per element on a [96, 28, 28] activation (the UNet's widest),
//! rounds interleaved. The kernels are copies (the crate's kernels need its frame); the patched
//! one must stay the same as vendor/tract-linalg/src/wasm/act_f32.rs.
use std::arch::wasm32::*;
use std::time::Instant;

macro_rules! rational_silu {
    ($name:ident, $min:ident, $max:ident) => {
        #[inline(never)]
        fn $name(buf: &mut [f32]) {
            unsafe {
                let lo = f32x4_splat(-18.6);
                let hi = f32x4_splat(18.6);
                let a13 = f32x4_splat(-4.433153405e-18);
                let a11 = f32x4_splat(1.169974371e-14);
                let a9 = f32x4_splat(-1.875289645e-11);
                let a7 = f32x4_splat(4.257889523e-8);
                let a5 = f32x4_splat(0.00004811817576);
                let a3 = f32x4_splat(0.008163842030);
                let a1 = f32x4_splat(0.2499999971);
                let b6 = f32x4_splat(3.922935744e-6);
                let b4 = f32x4_splat(0.001524872358);
                let b2 = f32x4_splat(0.1159886749);
                let b0 = f32x4_splat(1.0);
                let mut p = buf.as_mut_ptr();
                let end = p.add(buf.len());
                while p < end {
                    let v = v128_load(p as *const v128);
                    let orig = v;
                    let x = $min(hi, $max(lo, v));
                    let x2 = f32x4_mul(x, x);
                    let mut pn = a13;
                    pn = f32x4_add(f32x4_mul(x2, pn), a11);
                    pn = f32x4_add(f32x4_mul(x2, pn), a9);
                    pn = f32x4_add(f32x4_mul(x2, pn), a7);
                    pn = f32x4_add(f32x4_mul(x2, pn), a5);
                    pn = f32x4_add(f32x4_mul(x2, pn), a3);
                    pn = f32x4_add(f32x4_mul(x2, pn), a1);
                    let pn = f32x4_mul(pn, x);
                    let mut qn = b6;
                    qn = f32x4_add(f32x4_mul(x2, qn), b4);
                    qn = f32x4_add(f32x4_mul(x2, qn), b2);
                    qn = f32x4_add(f32x4_mul(x2, qn), b0);
                    let sig = f32x4_add(f32x4_div(pn, qn), f32x4_splat(0.5));
                    let sig = $min(f32x4_splat(1.0), $max(f32x4_splat(0.0), sig));
                    v128_store(p as *mut v128, f32x4_mul(orig, sig));
                    p = p.add(4);
                }
            }
        }
    };
}
rational_silu!(silu_published, f32x4_min, f32x4_max);
rational_silu!(silu_patched, f32x4_pmin, f32x4_pmax);

/// Tried, not kept: x / (1 + exp(-x)), exp by a Cody-Waite reduction, a degree-5 polynomial and
/// the exponent added to the bits (rounding by the 1.5 * 2^23 trick); pmin/pmax clamps.
#[inline(never)]
fn silu_exp(buf: &mut [f32]) {
    unsafe {
        let lo = f32x4_splat(-88.3);
        let hi = f32x4_splat(87.3);
        let log2e = f32x4_splat(std::f32::consts::LOG2_E);
        let magic = f32x4_splat(12582912.0);
        let ln2_hi = f32x4_splat(0.693359375);
        let ln2_lo = f32x4_splat(-2.12194440e-4);
        let c5 = f32x4_splat(1.9875691500e-4);
        let c4 = f32x4_splat(1.3981999507e-3);
        let c3 = f32x4_splat(8.3334519073e-3);
        let c2 = f32x4_splat(4.1665795894e-2);
        let c1 = f32x4_splat(1.6666665459e-1);
        let c0 = f32x4_splat(5.0000001201e-1);
        let one = f32x4_splat(1.0);
        let mut p = buf.as_mut_ptr();
        let end = p.add(buf.len());
        while p < end {
            let x = v128_load(p as *const v128);
            let y = f32x4_neg(f32x4_pmax(lo, f32x4_pmin(hi, x)));
            let t = f32x4_add(f32x4_mul(y, log2e), magic);
            let n = f32x4_sub(t, magic);
            let r = f32x4_sub(f32x4_sub(y, f32x4_mul(n, ln2_hi)), f32x4_mul(n, ln2_lo));
            let r2 = f32x4_mul(r, r);
            let mut q = c5;
            q = f32x4_add(f32x4_mul(q, r), c4);
            q = f32x4_add(f32x4_mul(q, r), c3);
            q = f32x4_add(f32x4_mul(q, r), c2);
            q = f32x4_add(f32x4_mul(q, r), c1);
            q = f32x4_add(f32x4_mul(q, r), c0);
            let e = f32x4_add(f32x4_add(f32x4_mul(q, r2), r), one);
            let e = i32x4_add(e, i32x4_shl(t, 23));
            v128_store(p as *mut v128, f32x4_div(f32x4_pmax(lo, x), f32x4_add(one, e)));
            p = p.add(4);
        }
    }
}

const KERNELS: [(&str, fn(&mut [f32])); 3] =
    [("published", silu_published), ("patched", silu_patched), ("exp (not kept)", silu_exp)];

fn main() {
    // Every 257th f32 bit pattern that is finite with |x| <= 100, the edges, then NaN and infinities.
    let mut xs: Vec<f32> = (0..u32::MAX / 257)
        .map(|i| f32::from_bits(i * 257))
        .filter(|x| x.is_finite() && x.abs() <= 100.0)
        .collect();
    xs.extend([0.0, -0.0, 1e-30, -1e-30, 88.0, -88.0, 89.0, -89.0, 1e30, -1e30, f32::MAX, f32::MIN]);
    let finite = xs.len();
    xs.extend([f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
    while xs.len() % 4 != 0 {
        xs.push(0.0);
    }
    let outs: Vec<Vec<f32>> = KERNELS
        .iter()
        .map(|(_, k)| {
            let mut y = xs.clone();
            k(&mut y);
            y
        })
        .collect();
    for ((name, _), y) in KERNELS.iter().zip(&outs) {
        let mut max_abs = 0f64;
        for (x, y) in xs[..finite].iter().zip(y) {
            let r = *x as f64 / (1.0 + (-*x as f64).exp());
            max_abs = max_abs.max((*y as f64 - r).abs());
        }
        println!("{name}: {finite} finite inputs, max abs error vs f64 {max_abs:.3e}");
    }
    let same = outs[0]
        .iter()
        .zip(&outs[1])
        .filter(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()))
        .count();
    println!("published vs patched: {same} of {} outputs equal bit for bit (NaN as NaN)", xs.len());
    assert_eq!(same, xs.len(), "the patch changed a value");

    let n = 96 * 28 * 28;
    let src: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1000) as f32 / 100.0) - 5.0).collect();
    let mut buf = src.clone();
    let (reps, rounds) = (200, 9);
    let mut t = vec![vec![0f64; rounds]; KERNELS.len()];
    for r in 0..rounds {
        for (ki, (_, k)) in KERNELS.iter().enumerate() {
            let t0 = Instant::now();
            for _ in 0..reps {
                buf.copy_from_slice(&src);
                k(&mut buf);
            }
            t[ki][r] = t0.elapsed().as_secs_f64() * 1e9 / (reps * n) as f64;
        }
    }
    let med = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    for (ki, (name, _)) in KERNELS.iter().enumerate() {
        let runs: Vec<String> = t[ki].iter().map(|x| format!("{x:.2}")).collect();
        println!(
            "{name}: median {:.3} ns per element, {:.2}x published (runs {})",
            med(&t[ki]),
            med(&t[0]) / med(&t[ki]),
            runs.join(" ")
        );
    }
}
