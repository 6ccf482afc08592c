//! Issue 17, vendored tract-core's lazy im2col reading a convolution's zero padding itself
//! (knob `TRACT_LAZY_IM2COL_FOLD_PAD`, off by default: measured slower; vendor/PATCHES.md). The reference is
//! tract's own path with the knob off: an explicit `Pad` node, then the gather over the padded
//! copy. The gathered values are the same (zeros where the patch leaves the input), so the
//! outputs must be equal bit for bit, and with the knob on no `Pad` node may be left.

use std::path::PathBuf;

use dpm_solver_wasm::pipeline::*;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::knobs::KnobScope;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

const KNOB: &str = "TRACT_LAZY_IM2COL_FOLD_PAD";

fn with_fold<R>(fold: bool, f: impl FnOnce() -> R) -> R {
    KnobScope::new([(KNOB, if fold { "true" } else { "false" })])
        .unwrap()
        .enter(f)
}

/// Deterministic values that are never zero (a zero read would hide a wrong tap).
fn filled(shape: &[usize], seed: u32) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((s >> 8) as f32 / (1u32 << 24) as f32) * 2.0 - 1.0 + 1.0 / 1024.0
        })
        .collect();
    Tensor::from_shape(shape, &v).unwrap()
}

struct Case {
    ic: usize,
    oc: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    padding: PaddingSpec,
    strides: [usize; 2],
    dilations: [usize; 2],
    group: usize,
}

/// One case, as a table row.
#[allow(clippy::too_many_arguments)]
fn case(
    ic: usize,
    oc: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    padding: PaddingSpec,
    strides: [usize; 2],
    dilations: [usize; 2],
    group: usize,
) -> Case {
    Case {
        ic,
        oc,
        hw,
        kernel,
        padding,
        strides,
        dilations,
        group,
    }
}

/// The optimised plan of one convolution and its output, with the knob on or off.
fn run(case: &Case, fold: bool) -> (Vec<String>, Tensor) {
    let input = filled(&[1, case.ic, case.hw[0], case.hw[1]], 1);
    let kernel = filled(
        &[
            case.oc,
            case.ic / case.group,
            case.kernel[0],
            case.kernel[1],
        ],
        2,
    );
    let mut model = TypedModel::default();
    let x = model
        .add_source("input", f32::fact(input.shape().to_vec()))
        .unwrap();
    let k = model.add_const("kernel", kernel.into_arc_tensor()).unwrap();
    let bias = model
        .add_const("bias", filled(&[case.oc], 3).into_arc_tensor())
        .unwrap();
    let op = Conv {
        pool_spec: PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: case.kernel.iter().copied().collect(),
            padding: case.padding.clone(),
            dilations: Some(case.dilations.iter().copied().collect()),
            strides: Some(case.strides.iter().copied().collect()),
            input_channels: case.ic,
            output_channels: case.oc,
        },
        kernel_fmt: KernelFormat::OIHW,
        group: case.group,
        q_params: None,
    };
    let y = model.wire_node("conv", op, &[x, k, bias]).unwrap();
    model.select_output_outlets(&y).unwrap();
    let model = with_fold(fold, || model.into_optimized()).unwrap();
    let ops = model
        .nodes()
        .iter()
        .map(|n| n.op().name().to_string())
        .collect();
    let out = model
        .into_runnable()
        .unwrap()
        .run(tvec!(input.into_tvalue()))
        .unwrap();
    (ops, (*out[0]).clone())
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.try_as_plain_ram()
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn padded_convolutions_fold_their_pad_with_the_same_outputs() {
    let e = |b: [usize; 2], a: [usize; 2]| PaddingSpec::Explicit(b[..].into(), a[..].into());
    // (in, out channels, map, kernel, padding, strides, dilations, groups)
    let (upper, lower) = (PaddingSpec::SameUpper, PaddingSpec::SameLower);
    let cases = [
        // The UNet's convolutions: 3x3, padding 1, stride 1 (28x28, 14x14, 7x7 maps).
        case(3, 5, [7, 7], [3, 3], e([1, 1], [1, 1]), [1, 1], [1, 1], 1),
        case(4, 9, [14, 14], [3, 3], e([1, 1], [1, 1]), [1, 1], [1, 1], 1),
        // Asymmetric padding, a rectangular kernel and map, strides, dilations, groups.
        case(2, 3, [9, 11], [3, 2], e([2, 0], [1, 1]), [1, 1], [1, 1], 1),
        case(3, 4, [10, 13], [3, 3], e([1, 1], [1, 1]), [2, 2], [1, 1], 1),
        case(2, 2, [12, 9], [3, 3], e([2, 2], [2, 2]), [1, 1], [2, 2], 1),
        case(4, 6, [8, 8], [3, 3], e([1, 1], [1, 1]), [1, 1], [1, 1], 2),
        case(1, 8, [6, 5], [5, 5], upper, [1, 1], [1, 1], 1),
        case(3, 2, [5, 8], [3, 3], lower, [2, 1], [1, 1], 1),
        // Padding wider than the map: some positions read no input at all.
        case(2, 3, [2, 3], [3, 3], e([3, 3], [3, 3]), [1, 1], [1, 1], 1),
    ];
    for (i, case) in cases.iter().enumerate() {
        let (ops_off, off) = run(case, false);
        let (ops_on, on) = run(case, true);
        assert!(
            ops_off.iter().any(|o| o == "LazyIm2col"),
            "case {i}: no lazy im2col: {ops_off:?}"
        );
        assert!(
            ops_off.iter().any(|o| o == "Pad"),
            "case {i}: knob off, no Pad: {ops_off:?}"
        );
        assert!(
            ops_on.iter().any(|o| o == "LazyIm2col"),
            "case {i}: no lazy im2col: {ops_on:?}"
        );
        assert!(
            !ops_on.iter().any(|o| o == "Pad"),
            "case {i}: knob on, a Pad left: {ops_on:?}"
        );
        assert_eq!(off.shape(), on.shape(), "case {i}");
        assert_eq!(bits(&off), bits(&on), "case {i}: outputs differ");
    }
}

#[test]
fn the_unet_evaluates_the_same_with_its_pads_folded() {
    let bytes =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../www/models/unet.onnx"))
            .unwrap();
    let x: Vec<f32> = (0..2 * 784)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let eval = |fold: bool| {
        with_fold(fold, || {
            let mut m = DiffusionModel::from_bytes(&bytes).unwrap();
            m.prepare(1).unwrap();
            m.eval(&x, &[500.0, 120.0], &[3, 7]).unwrap()
        })
    };
    let (off, on) = (eval(false), eval(true));
    assert_eq!(off.len(), on.len());
    assert!(off.iter().all(|v| v.is_finite()));
    let same = off.iter().zip(&on).all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(same, "the UNet's outputs differ with the pads folded");
}
