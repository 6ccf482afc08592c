// dpm-solver patch: f32 GEMM tiles with 8 accumulators, for x86 hosts (wasm/PROFILE.md).
//
// V8 gives wasm 15 xmm registers on x86_64 (xmm15 is its scratch register). `wasm_f32_8x8`
// keeps 16 accumulators plus its A and B vectors live, so it spills on every k-step there;
// these tiles keep 8 accumulators, their B vectors and one broadcast A value in registers:
//
// - `wasm_f32_4x8`: 4 rows x 8 columns (XNNPACK's x86 wasm shape), 2 B vectors per k-step;
// - `wasm_f32_2x16`: 2 rows x 16 columns (onnxruntime MLAS's wasm shape), 4 B vectors.
//
// A values are broadcast with `v128.load32_splat` (one load-port instruction on x86, no
// shuffle), and the multiply-add is `madd_f32x4!`: fused under `+relaxed-simd`, mul+add
// otherwise, in `AddMatMul` and `AddRowColProducts` alike.
//
// The accumulators are named variables, not an array: at `opt-level = "s"` LLVM does not
// unroll an array loop, and an array then lives in linear memory. Each is listed once with
// its row and its column vector; `wasm_tile_kernel!` writes every arm from that list (the
// repeated loads and splats of one operand are merged by LLVM's value numbering).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use crate::Scaler;
use crate::mmm::FusedKerSpec;

macro_rules! wasm_tile_kernel {
    ($name:ident, $mr:expr, $nv:expr; $(($acc:ident, $r:expr, $c:expr)),+ $(,)?) => {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        unsafe fn $name(mut pnl: *const FusedKerSpec<f32>) -> isize {
            use std::arch::wasm32::*;
            const MR: usize = $mr;
            const NV: usize = $nv;
            unsafe {
                $(let mut $acc = f32x4_splat(0.0);)+
                while !pnl.is_null() {
                    match *pnl {
                        FusedKerSpec::Done => break,
                        FusedKerSpec::Clear => wasm_set!(f32x4_splat(0.0); $($acc),+),
                        FusedKerSpec::LoadTile(_cols, rows) => {
                            let p = rows as *const v128;
                            $($acc = *p.add($r * NV + $c);)+
                        }
                        FusedKerSpec::ScalarMin(a) => wasm_bin_sv!(f32x4_min, f32x4_splat(a); $($acc),+),
                        FusedKerSpec::ScalarMax(a) => wasm_bin_sv!(f32x4_max, f32x4_splat(a); $($acc),+),
                        FusedKerSpec::ScalarAdd(a) => wasm_bin_sv!(f32x4_add, f32x4_splat(a); $($acc),+),
                        FusedKerSpec::ScalarMul(a) => wasm_bin_sv!(f32x4_mul, f32x4_splat(a); $($acc),+),
                        FusedKerSpec::ScalarSub(a) => wasm_bin_sv!(f32x4_sub, f32x4_splat(a); $($acc),+),
                        FusedKerSpec::ScalarSubF(a) => wasm_bin_vs!(f32x4_sub, f32x4_splat(a); $($acc),+),
                        FusedKerSpec::LeakyRelu(a) => wasm_leaky_relu!(a; $($acc),+),
                        FusedKerSpec::PerRowMin(row) => { $($acc = f32x4_min(f32x4_splat(*row.add($r)), $acc);)+ }
                        FusedKerSpec::PerRowMax(row) => { $($acc = f32x4_max(f32x4_splat(*row.add($r)), $acc);)+ }
                        FusedKerSpec::PerRowAdd(row) => { $($acc = f32x4_add(f32x4_splat(*row.add($r)), $acc);)+ }
                        FusedKerSpec::PerRowMul(row) => { $($acc = f32x4_mul(f32x4_splat(*row.add($r)), $acc);)+ }
                        FusedKerSpec::PerRowSub(row) => { $($acc = f32x4_sub(f32x4_splat(*row.add($r)), $acc);)+ }
                        FusedKerSpec::PerRowSubF(row) => { $($acc = f32x4_sub($acc, f32x4_splat(*row.add($r)));)+ }
                        FusedKerSpec::PerColMin(cols) => { let p = cols as *const v128; $($acc = f32x4_min(v128_load(p.add($c)), $acc);)+ }
                        FusedKerSpec::PerColMax(cols) => { let p = cols as *const v128; $($acc = f32x4_max(v128_load(p.add($c)), $acc);)+ }
                        FusedKerSpec::PerColAdd(cols) => { let p = cols as *const v128; $($acc = f32x4_add(v128_load(p.add($c)), $acc);)+ }
                        FusedKerSpec::PerColMul(cols) => { let p = cols as *const v128; $($acc = f32x4_mul(v128_load(p.add($c)), $acc);)+ }
                        FusedKerSpec::PerColSub(cols) => { let p = cols as *const v128; $($acc = f32x4_sub(v128_load(p.add($c)), $acc);)+ }
                        FusedKerSpec::PerColSubF(cols) => { let p = cols as *const v128; $($acc = f32x4_sub($acc, v128_load(p.add($c)));)+ }
                        FusedKerSpec::QScale(shift, rp, mult) => {
                            wasm_bin_sv!(f32x4_mul, f32x4_splat(Scaler::from_fuse_params(shift, rp, mult).scale); $($acc),+)
                        }
                        FusedKerSpec::RoundingShiftRight(shift, _rp) => {
                            wasm_bin_sv!(f32x4_mul, f32x4_splat(2f32.powi(-(shift as i32))); $($acc),+)
                        }
                        FusedKerSpec::ShiftLeft(shift) => {
                            wasm_bin_sv!(f32x4_mul, f32x4_splat(2f32.powi(shift as i32)); $($acc),+)
                        }
                        FusedKerSpec::AddUnicast(tile) => {
                            let (rs, cs) = (tile.row_byte_stride, tile.col_byte_stride);
                            $(
                                let p = (tile.ptr as *const u8).offset(rs * $r as isize + cs * ($c * 4) as isize);
                                $acc = f32x4_add($acc, f32x4(
                                    *(p as *const f32),
                                    *(p.offset(cs) as *const f32),
                                    *(p.offset(cs * 2) as *const f32),
                                    *(p.offset(cs * 3) as *const f32),
                                ));
                            )+
                        }
                        FusedKerSpec::AddRowColProducts(rows, cols) => {
                            let p = cols as *const v128;
                            $(
                                let s = f32x4_splat(*rows.add($r));
                                let b = v128_load(p.add($c));
                                $acc = madd_f32x4!($acc, s, b);
                            )+
                        }
                        FusedKerSpec::Store(tile) => {
                            let (rs, cs) = (tile.row_byte_stride, tile.col_byte_stride);
                            $(
                                let p = tile.ptr.offset(rs * $r as isize + cs * ($c * 4) as isize);
                                *(p as *mut f32) = f32x4_extract_lane::<0>($acc);
                                *(p.offset(cs) as *mut f32) = f32x4_extract_lane::<1>($acc);
                                *(p.offset(cs * 2) as *mut f32) = f32x4_extract_lane::<2>($acc);
                                *(p.offset(cs * 3) as *mut f32) = f32x4_extract_lane::<3>($acc);
                            )+
                        }
                        FusedKerSpec::AddMatMul { k, pa, pb, packing: _ } => {
                            // A: packed [k][MR], one broadcast load per row; B: packed
                            // [k][NV * 4], NV vectors per k-step.
                            let mut a = pa as *const f32;
                            let mut b = pb as *const v128;
                            for _ in 0..k {
                                $(
                                    let s = v128_load32_splat(a.add($r) as *const u32);
                                    let bv = v128_load(b.add($c));
                                    $acc = madd_f32x4!($acc, s, bv);
                                )+
                                a = a.add(MR);
                                b = b.add(NV);
                            }
                        }
                    }
                    pnl = pnl.add(1);
                }
                0
            }
        }
    };
}

wasm_tile_kernel!(kernel_f32_4x8, 4, 2;
    (a0lo, 0, 0), (a0hi, 0, 1),
    (a1lo, 1, 0), (a1hi, 1, 1),
    (a2lo, 2, 0), (a2hi, 2, 1),
    (a3lo, 3, 0), (a3hi, 3, 1),
);

bail_stub!(wasm32; unsafe fn kernel_f32_4x8(*const FusedKerSpec<f32>) -> isize);

MMMRustKernel!(wasm32; kernel_f32_4x8 => wasm_f32_4x8<f32>(4,8)@(16,16));

wasm_tile_kernel!(kernel_f32_2x16, 2, 4;
    (a00, 0, 0), (a01, 0, 1), (a02, 0, 2), (a03, 0, 3),
    (a10, 1, 0), (a11, 1, 1), (a12, 1, 2), (a13, 1, 3),
);

bail_stub!(wasm32; unsafe fn kernel_f32_2x16(*const FusedKerSpec<f32>) -> isize);

MMMRustKernel!(wasm32; kernel_f32_2x16 => wasm_f32_2x16<f32>(2,16)@(16,16));
