//! The pipeline's ONNX loader: raw bytes, or the tiny seed model decoded and mutated field by
//! field (names, dims, data types, raw data, op types, attributes, subgraphs, input types,
//! metadata), loaded with `DiffusionModel::from_bytes` and, when it loads, evaluated.
//!
//! Natively the pipeline turns a tract panic into an error ("tract panicked ..."); in wasm that
//! panic would be a trap, so this harness treats such an error as a crash.

use arbitrary::{Result, Unstructured};
use dpm_solver_wasm::pipeline::{DiffusionModel, PipelineError};
use prost::Message;
use tract_onnx::pb::{
    tensor_shape_proto::dimension::Value as Dim, type_proto::Value as Ty, AttributeProto,
    GraphProto, ModelProto, NodeProto, TensorProto,
};

use crate::{finite, moderate};

/// The tiny class-conditional model of `fuzz/make_seeds.py`.
pub const SEED: &[u8] = include_bytes!("../seeds/tiny_unet.onnx");

const OPS: [&str; 24] = [
    "Conv",
    "Add",
    "Mul",
    "Gather",
    "Reshape",
    "Unsqueeze",
    "Squeeze",
    "MatMul",
    "Gemm",
    "Concat",
    "Slice",
    "Transpose",
    "Softmax",
    "Resize",
    "Constant",
    "ConstantOfShape",
    "Expand",
    "Einsum",
    "If",
    "Loop",
    "Scan",
    "Split",
    "ReduceMean",
    "NotAnOp",
];
const ATTRS: [&str; 16] = [
    "axis",
    "axes",
    "pads",
    "strides",
    "kernel_shape",
    "dilations",
    "group",
    "perm",
    "keepdims",
    "to",
    "mode",
    "value",
    "then_branch",
    "body",
    "split",
    "equation",
];
const META: [&str; 12] = [
    "prediction_type",
    "beta_schedule",
    "num_train_timesteps",
    "image_channels",
    "image_height",
    "image_width",
    "num_classes",
    "null_class",
    "input_names",
    "output_names",
    "value_range",
    "class_labels",
];

fn name(u: &mut Unstructured<'_>, g: &GraphProto) -> Result<String> {
    let mut pool: Vec<&str> = g.input.iter().map(|i| i.name.as_str()).collect();
    pool.extend(g.initializer.iter().map(|t| t.name.as_str()));
    pool.extend(
        g.node
            .iter()
            .flat_map(|n| n.output.iter().map(String::as_str)),
    );
    Ok(if !pool.is_empty() && u.int_in_range(0..=3u8)? > 0 {
        pool[u.choose_index(pool.len())?].to_string()
    } else {
        ["", "ghost", "x", "eps", "t4"][u.int_in_range(0..=4usize)?].to_string()
    })
}

fn int(u: &mut Unstructured<'_>) -> Result<i64> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => u.arbitrary()?,
        1 => [-1, 0, i64::MAX, i64::MIN, 1 << 40, 4096, -4096][u.int_in_range(0..=6usize)?],
        _ => u.int_in_range(-4..=16i64)?,
    })
}

fn mutate_tensor(u: &mut Unstructured<'_>, t: &mut TensorProto) -> Result<()> {
    match u.int_in_range(0..=4u8)? {
        0 => {
            let n = u.int_in_range(0..=5usize)?;
            t.dims = (0..n).map(|_| int(u)).collect::<Result<_>>()?;
        }
        1 => t.data_type = u.int_in_range(-1..=24i32)?,
        2 => {
            let n = u.int_in_range(0..=t.raw_data.len() + 8)?;
            t.raw_data.resize(n, 0x3f);
        }
        3 => {
            t.float_data = (0..u.int_in_range(0..=20usize)?)
                .map(|_| moderate(u))
                .collect::<Result<_>>()?;
            t.raw_data.clear();
        }
        _ => {
            t.int64_data = (0..u.int_in_range(0..=8usize)?)
                .map(|_| int(u))
                .collect::<Result<_>>()?;
            t.raw_data.clear();
        }
    }
    Ok(())
}

fn mutate_node(
    u: &mut Unstructured<'_>,
    n: &mut NodeProto,
    g: &GraphProto,
    depth: usize,
) -> Result<()> {
    match u.int_in_range(0..=6u8)? {
        0 => n.op_type = OPS[u.choose_index(OPS.len())?].to_string(),
        1 if !n.input.is_empty() => {
            let i = u.choose_index(n.input.len())?;
            n.input[i] = name(u, g)?;
        }
        2 => n.input.push(name(u, g)?),
        3 if !n.output.is_empty() => {
            let i = u.choose_index(n.output.len())?;
            n.output[i] = name(u, g)?;
        }
        4 => {
            let mut a = AttributeProto {
                name: ATTRS[u.choose_index(ATTRS.len())?].to_string(),
                r#type: u.int_in_range(0..=14i32)?,
                i: int(u)?,
                ints: (0..u.int_in_range(0..=6usize)?)
                    .map(|_| int(u))
                    .collect::<Result<_>>()?,
                f: moderate(u)?,
                s: crate::bytes(u, 0..=6usize)?.to_vec(),
                ..Default::default()
            };
            if u.arbitrary()? {
                let mut t = g.initializer.first().cloned().unwrap_or_default();
                mutate_tensor(u, &mut t)?;
                a.t = Some(t);
            }
            if depth < 2 && u.int_in_range(0..=3u8)? == 0 {
                let mut sub = g.clone();
                mutate_graph(u, &mut sub, depth + 1)?;
                a.g = Some(sub);
            }
            n.attribute.push(a);
        }
        5 if !n.attribute.is_empty() => {
            let i = u.choose_index(n.attribute.len())?;
            let a = &mut n.attribute[i];
            a.i = int(u)?;
            a.ints = (0..u.int_in_range(0..=6usize)?)
                .map(|_| int(u))
                .collect::<Result<_>>()?;
            a.r#type = u.int_in_range(0..=14i32)?;
        }
        _ => n.output.push(name(u, g)?),
    }
    Ok(())
}

fn mutate_graph(u: &mut Unstructured<'_>, g: &mut GraphProto, depth: usize) -> Result<()> {
    for _ in 0..u.int_in_range(1..=6usize)? {
        match u.int_in_range(0..=7u8)? {
            0 if !g.output.is_empty() => {
                let i = u.choose_index(g.output.len())?;
                g.output[i].name = name(u, g)?;
            }
            1 if !g.node.is_empty() => {
                let i = u.choose_index(g.node.len())?;
                let snapshot = g.clone();
                mutate_node(u, &mut g.node[i], &snapshot, depth)?;
            }
            2 if !g.node.is_empty() => {
                let i = u.choose_index(g.node.len())?;
                if u.arbitrary()? {
                    g.node.remove(i);
                } else {
                    let n = g.node[i].clone();
                    g.node.push(n);
                }
            }
            3 if !g.initializer.is_empty() => {
                let i = u.choose_index(g.initializer.len())?;
                mutate_tensor(u, &mut g.initializer[i])?;
            }
            4 if !g.input.is_empty() => {
                let i = u.choose_index(g.input.len())?;
                if let Some(Ty::TensorType(t)) =
                    g.input[i].r#type.as_mut().and_then(|t| t.value.as_mut())
                {
                    if u.arbitrary()? {
                        t.elem_type = u.int_in_range(-1..=24i32)?;
                    } else if let Some(s) = t.shape.as_mut() {
                        if !s.dim.is_empty() {
                            let k = u.choose_index(s.dim.len())?;
                            s.dim[k].value = Some(Dim::DimValue(int(u)?));
                        }
                        if u.arbitrary()? {
                            s.dim.push(s.dim.first().cloned().unwrap_or_default());
                        }
                    }
                } else {
                    g.input[i].r#type = None;
                }
            }
            5 if !g.input.is_empty() => {
                let i = u.choose_index(g.input.len())?;
                g.input[i].name = name(u, g)?;
            }
            6 => {
                let mut n = g.node.first().cloned().unwrap_or_default();
                let snapshot = g.clone();
                mutate_node(u, &mut n, &snapshot, depth)?;
                let at = u.int_in_range(0..=g.node.len())?;
                g.node.insert(at, n);
            }
            _ => {
                if !g.output.is_empty() && u.arbitrary()? {
                    let o = g.output[0].clone();
                    g.output.push(o);
                } else {
                    g.output.clear();
                }
            }
        }
    }
    Ok(())
}

fn mutate_model(u: &mut Unstructured<'_>, m: &mut ModelProto) -> Result<()> {
    if let Some(g) = m.graph.as_mut() {
        mutate_graph(u, g, 0)?;
    }
    if u.int_in_range(0..=3u8)? == 0 && !m.metadata_props.is_empty() {
        let key = META[u.choose_index(META.len())?];
        let value = [
            "0",
            "1",
            "4096",
            "1000000000",
            "-1",
            "1e9",
            "a,b",
            "x,t",
            "",
            "nan",
        ][u.int_in_range(0..=9usize)?];
        for p in m.metadata_props.iter_mut().filter(|p| p.key == key) {
            p.value = value.to_string();
        }
    }
    if u.int_in_range(0..=7u8)? == 0 {
        for o in m.opset_import.iter_mut() {
            o.version = u.int_in_range(0..=30i64)?;
        }
    }
    Ok(())
}

/// Fails on an error that says tract panicked: natively the pipeline catches tract's panics
/// (`pipeline/validate.rs`), but in wasm a panic is a trap, so every one is a crash here.
pub(crate) fn check(r: &std::result::Result<impl Sized, PipelineError>) {
    if let Err(e) = r {
        let msg = e.to_string();
        assert!(
            !msg.contains("tract panicked"),
            "a malformed model made tract panic (a trap in wasm): {msg}"
        );
    }
}

pub fn run(data: &[u8]) {
    let _ = go(&mut Unstructured::new(data));
}

/// One evaluation of a loaded model: `x`, `t`, class labels (empty: unconditional).
pub type Eval = (Vec<f32>, Vec<f32>, Vec<i64>);

/// What an input makes of the loader: the ONNX bytes and, when they load, the evaluation run
/// on them (the regression files of `fuzz/tract-panics/`, which the wasm tests replay).
pub fn case(data: &[u8]) -> Option<(Vec<u8>, Option<Eval>)> {
    go(&mut Unstructured::new(data)).ok()
}

fn go(u: &mut Unstructured<'_>) -> Result<(Vec<u8>, Option<Eval>)> {
    let bytes = if u.int_in_range(0..=7u8)? == 0 {
        u.bytes(u.len())?.to_vec()
    } else {
        let mut m = ModelProto::decode(SEED).expect("the seed model decodes");
        mutate_model(u, &mut m)?;
        m.encode_to_vec()
    };
    let model = DiffusionModel::from_bytes(&bytes);
    check(&model);
    let Ok(mut model) = model else {
        return Ok((bytes, None));
    };
    let len = model.info().image_len();
    if len > 1 << 12 {
        return Ok((bytes, None));
    }
    let batch = u.int_in_range(1..=2usize)?;
    let x: Vec<f32> = (0..batch * len)
        .map(|_| moderate(u))
        .collect::<Result<_>>()?;
    let t = vec![500.0f32; batch];
    let classes = vec![u.int_in_range(-1..=11i64)?; batch];
    let cls: &[i64] = if model.info().is_conditional() {
        &classes
    } else {
        &[]
    };
    let r = model.eval(&x, &t, cls);
    check(&r);
    if let Ok(out) = r {
        let _ = finite(&out);
    }
    let cls = cls.to_vec();
    Ok((bytes, Some((x, t, cls))))
}
