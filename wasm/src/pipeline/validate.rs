//! Limits on what a caller or a model may ask for (image size, classes, batch, guidance), and
//! what tract-onnx 0.23.9 assumes of a model and would otherwise panic on (a panic is a trap
//! in wasm, where it cannot be caught), checked on the parsed protobuf before tract builds a
//! model from it; and, natively, `catch_unwind` around tract as a second line.
//!
//! Checked (each found by the ONNX-loader fuzz target, `fuzz/fuzz_targets/onnx_load.rs`):
//! - every graph output names a graph input, an initializer or a node output (tract indexes
//!   its name map with it);
//! - every tensor (initializers, `Constant`-style attribute tensors, in subgraphs too) has
//!   non-negative dims whose element count fits, and raw data of exactly that many elements of
//!   a type tract can read raw (tract has `unimplemented!` for the others);
//! - subgraphs nest at most [`MAX_GRAPH_DEPTH`] deep.
//!
//! What tract assumes of shapes and values it infers (an `axes` input's values against the
//! rank, `Conv` attribute lengths against the spatial rank, `Gather` indices computed at run
//! time) cannot be seen on the protobuf: those panics are fixed inside the vendored tract
//! crates instead (`vendor/PATCHES.md`).
//!
//! Also here: the limits on sizes a model's metadata can ask for (image shape, classes), so
//! that nothing is allocated from an unchecked product.

#[cfg(feature = "pipeline")]
use std::collections::HashSet;

#[cfg(feature = "pipeline")]
use tract_onnx::pb::{tensor_proto::DataType, GraphProto, ModelProto, TensorProto};

use super::error::{PipelineError, Result};

/// Deepest nesting of subgraphs (`If`/`Loop`/`Scan` bodies) accepted.
pub const MAX_GRAPH_DEPTH: usize = 32;
/// Most elements of one tensor stored in a model (2^31: 8 GiB of `f32`, beyond any file the
/// pipeline can hold in memory).
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 31;
/// Most elements of one image (`channels * height * width`): 2^24, 64 MiB of `f32`.
pub const MAX_IMAGE_ELEMENTS: usize = 1 << 24;
/// Most classes a conditional model may declare (`num_classes`).
pub const MAX_CLASSES: usize = 1 << 16;

/// Checks a parsed ONNX model before tract sees it.
#[cfg(feature = "pipeline")]
pub(crate) fn onnx_model(proto: &ModelProto) -> Result<()> {
    match &proto.graph {
        None => Err(PipelineError::Onnx("the protobuf holds no graph".into())),
        Some(g) => graph(g, 0).map_err(|m| PipelineError::Onnx(format!("malformed graph: {m}"))),
    }
}

#[cfg(feature = "pipeline")]
fn graph(g: &GraphProto, depth: usize) -> core::result::Result<(), String> {
    if depth > MAX_GRAPH_DEPTH {
        return Err(format!("subgraphs nested deeper than {MAX_GRAPH_DEPTH}"));
    }
    let mut names: HashSet<&str> = HashSet::new();
    names.extend(g.input.iter().map(|i| i.name.as_str()));
    names.extend(g.initializer.iter().map(|t| t.name.as_str()));
    for n in &g.node {
        names.extend(
            n.output
                .iter()
                .filter(|s| !s.is_empty())
                .map(String::as_str),
        );
    }
    for o in &g.output {
        if !names.contains(o.name.as_str()) {
            return Err(format!(
                "graph output \"{}\" is not produced by any node, input or initializer",
                o.name
            ));
        }
    }
    for t in &g.initializer {
        tensor(t).map_err(|m| format!("initializer \"{}\": {m}", t.name))?;
    }
    for n in &g.node {
        for a in &n.attribute {
            let what = |m: String| format!("node \"{}\" attribute \"{}\": {m}", n.name, a.name);
            if let Some(t) = &a.t {
                tensor(t).map_err(what)?;
            }
            for t in &a.tensors {
                tensor(t).map_err(what)?;
            }
            if let Some(sg) = &a.g {
                graph(sg, depth + 1)?;
            }
            for sg in &a.graphs {
                graph(sg, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// Bytes per element of the types tract reads from `raw_data` (`None`: it cannot).
#[cfg(feature = "pipeline")]
fn raw_size(dt: DataType) -> Option<usize> {
    Some(match dt {
        DataType::Bool | DataType::Uint8 | DataType::Int8 => 1,
        DataType::Uint16 | DataType::Int16 | DataType::Float16 => 2,
        DataType::Uint32 | DataType::Int32 | DataType::Float => 4,
        DataType::Uint64 | DataType::Int64 | DataType::Double => 8,
        _ => return None,
    })
}

#[cfg(feature = "pipeline")]
fn tensor(t: &TensorProto) -> core::result::Result<(), String> {
    let mut count: u64 = 1;
    for &d in &t.dims {
        if d < 0 {
            return Err(format!("negative dimension {d}"));
        }
        count = count
            .checked_mul(d as u64)
            .filter(|&c| c <= MAX_TENSOR_ELEMENTS)
            .ok_or_else(|| format!("dims {:?} exceed {MAX_TENSOR_ELEMENTS} elements", t.dims))?;
    }
    let Ok(dt) = DataType::try_from(t.data_type) else {
        return Err(format!("unknown data type {}", t.data_type));
    };
    if !t.raw_data.is_empty() {
        let Some(size) = raw_size(dt) else {
            return Err(format!("raw data of type {dt:?} cannot be read"));
        };
        if t.raw_data.len() as u64 != count * size as u64 {
            return Err(format!(
                "{} bytes of raw data for dims {:?} of {size}-byte elements",
                t.raw_data.len(),
                t.dims
            ));
        }
    }
    Ok(())
}

/// Image shape limits: every dimension at least 1, the product at most
/// [`MAX_IMAGE_ELEMENTS`] (computed without overflow, also on 32-bit `usize`).
pub(crate) fn image_elements(channels: usize, height: usize, width: usize) -> Result<usize> {
    channels
        .checked_mul(height)
        .and_then(|v| v.checked_mul(width))
        .filter(|v| (1..=MAX_IMAGE_ELEMENTS).contains(v))
        .ok_or_else(|| PipelineError::InvalidMetadata {
            key: "image_channels, image_height, image_width".into(),
            value: format!("{channels}, {height}, {width}"),
            reason: format!("the image must hold 1..={MAX_IMAGE_ELEMENTS} elements"),
        })
}

/// `num_classes` limit.
pub(crate) fn num_classes(n: usize) -> Result<usize> {
    if n <= MAX_CLASSES {
        Ok(n)
    } else {
        Err(PipelineError::InvalidMetadata {
            key: "num_classes".into(),
            value: n.to_string(),
            reason: format!("expected at most {MAX_CLASSES}"),
        })
    }
}

/// Largest single intermediate tensor a plan may hold, in bytes (128 MiB): a plan batch whose
/// activations would exceed it is refused before tract allocates them (in wasm an allocation
/// failure is a trap, and the 32-bit address space ends at 4 GiB). The optimised plan's peak
/// is a multiple of its largest typed tensor (a 3x3 convolution's im2col buffer alone is 9x
/// its input), so the budget is 4 GiB / 32.
pub const MAX_ACTIVATION_BYTES: u64 = 1 << 27;
/// Most elements of a batch of samples (`batch x image elements`, doubled under guidance):
/// 2^26, 256 MiB of `f32`.
pub const MAX_BATCH_ELEMENTS: usize = 1 << 26;

/// Refuses a typed plan for `batch` whose largest intermediate tensor exceeds
/// [`MAX_ACTIVATION_BYTES`].
#[cfg(feature = "pipeline")]
pub(crate) fn plan_memory(model: &tract_onnx::prelude::TypedModel, batch: usize) -> Result<()> {
    let mut largest: u64 = 0;
    for node in model.nodes() {
        for o in &node.outputs {
            if let Some(dims) = o.fact.shape.as_concrete() {
                let elems = dims
                    .iter()
                    .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
                    .unwrap_or(u64::MAX);
                let bytes = elems.saturating_mul(o.fact.datum_type.size_of() as u64);
                largest = largest.max(bytes);
            }
        }
    }
    if largest > MAX_ACTIVATION_BYTES {
        return Err(PipelineError::InvalidInput(format!(
            "a plan batch of {batch} images needs an intermediate tensor of {} MiB (at most {} \
             MiB): use a smaller planBatch or batch",
            largest >> 20,
            MAX_ACTIVATION_BYTES >> 20
        )));
    }
    Ok(())
}

/// The elements of a generation's sample (`batch x image`), refused above
/// [`MAX_BATCH_ELEMENTS`] (`guided`: the network batch is twice that).
#[cfg(feature = "pipeline")]
pub(crate) fn batch_elements(batch: usize, image: usize, guided: bool) -> Result<usize> {
    let per = if guided { 2 } else { 1 };
    match batch.checked_mul(image) {
        Some(n) if n.saturating_mul(per) <= MAX_BATCH_ELEMENTS => Ok(n),
        _ => Err(PipelineError::InvalidInput(format!(
            "a batch of {batch} images of {image} elements{} exceeds {MAX_BATCH_ELEMENTS} \
             elements: use a smaller batch",
            if guided { " (doubled by guidance)" } else { "" }
        ))),
    }
}

/// Largest classifier-free guidance scale accepted (beyond it `uncond + s (cond - uncond)`
/// overflows `f32` for ordinary network outputs).
pub const MAX_GUIDANCE: f32 = 1e4;

/// Runs a tract call; natively a panic inside it becomes an error (unwinding is possible
/// there), in wasm it is left to the checks above (a panic aborts).
#[cfg(feature = "pipeline")]
pub(crate) fn no_panic<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(r) => r,
            Err(p) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(PipelineError::Onnx(format!(
                    "tract panicked while {what} (a malformed model): {msg}"
                )))
            }
        }
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = what;
        f()
    }
}
