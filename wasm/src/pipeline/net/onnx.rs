//! ONNX bytes into a tract model: the protobuf decoded and checked, external data (side
//! files) inlined, the optional shape facts dropped, the `metadata_props` and a summary of the
//! inputs and outputs read; and the names of element types and shapes for messages.

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

use crate::pipeline::error::{tract_msg, PipelineError, Result};
use crate::pipeline::info::GraphSummary;

/// The `location` of an external-data tensor.
fn external_location(t: &tract_onnx::pb::TensorProto) -> Option<&str> {
    if t.data_location != Some(tract_onnx::pb::tensor_proto::DataLocation::External as i32) {
        return None;
    }
    t.external_data
        .iter()
        .find(|e| e.key == "location")
        .map(|e| e.value.as_str())
}

/// Every tensor of a graph (initializers, `Constant` attributes, sub-graphs), mutably.
fn for_each_tensor(
    g: &mut tract_onnx::pb::GraphProto,
    f: &mut dyn FnMut(&mut tract_onnx::pb::TensorProto) -> Result<()>,
) -> Result<()> {
    for t in g.initializer.iter_mut() {
        f(t)?;
    }
    for node in g.node.iter_mut() {
        for a in node.attribute.iter_mut() {
            if let Some(t) = a.t.as_mut() {
                f(t)?;
            }
            for t in a.tensors.iter_mut() {
                f(t)?;
            }
            if let Some(sub) = a.g.as_mut() {
                for_each_tensor(sub, f)?;
            }
            for sub in a.graphs.iter_mut() {
                for_each_tensor(sub, f)?;
            }
        }
    }
    Ok(())
}

/// The side files (ONNX external data) a model's bytes refer to, by `location`, in order of
/// first use: a native caller reads these next to the `.onnx` file, a browser asks for them.
pub fn external_data_locations(bytes: &[u8]) -> Result<Vec<String>> {
    let mut proto = decode(bytes)?;
    let mut out: Vec<String> = Vec::new();
    if let Some(g) = proto.graph.as_mut() {
        for_each_tensor(g, &mut |t| {
            if let Some(l) = external_location(t) {
                if !out.iter().any(|o| o == l) {
                    out.push(l.to_string());
                }
            }
            Ok(())
        })?;
    }
    Ok(out)
}

fn decode(bytes: &[u8]) -> Result<tract_onnx::pb::ModelProto> {
    if bytes.is_empty() {
        return Err(PipelineError::Onnx("the file is empty".into()));
    }
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| {
            PipelineError::Onnx(format!("not a valid ONNX protobuf ({})", tract_msg(&e)))
        })?;
    if proto.graph.is_none() {
        return Err(PipelineError::Onnx("the protobuf holds no graph".into()));
    }
    Ok(proto)
}

/// Copies external data into the tensors (`raw_data`), from `files` by location (a single
/// file serves every location, whatever its name).
fn inline_external_data(
    g: &mut tract_onnx::pb::GraphProto,
    files: &[(String, Vec<u8>)],
) -> Result<()> {
    for_each_tensor(g, &mut |t| {
        let Some(loc) = external_location(t).map(str::to_string) else {
            return Ok(());
        };
        let base = |p: &str| p.rsplit(['/', '\\']).next().unwrap_or(p).to_string();
        let file = files
            .iter()
            .find(|(name, _)| *name == loc || base(name) == base(&loc))
            .or(if files.len() == 1 {
                files.first()
            } else {
                None
            });
        let Some((_, data)) = file else {
            return Err(PipelineError::Onnx(format!(
                "the model keeps its weights in a side file \"{loc}\" (ONNX external data) that \
                 was not given: pass its bytes as the externalData load option (natively, keep \
                 it next to the .onnx file), or export a single file (torch.onnx.export(..., \
                 external_data=False), or onnx.save(model, path, save_as_external_data=False))"
            )));
        };
        let num = |k: &str| -> Result<Option<usize>> {
            match t.external_data.iter().find(|e| e.key == k) {
                None => Ok(None),
                Some(e) => e.value.trim().parse().map(Some).map_err(|_| {
                    PipelineError::Onnx(format!(
                        "external data {k} \"{}\" is not a number",
                        e.value
                    ))
                }),
            }
        };
        let offset = num("offset")?.unwrap_or(0);
        let length = match num("length")? {
            Some(l) => l,
            None => data.len().saturating_sub(offset),
        };
        let end = offset.checked_add(length).filter(|&e| e <= data.len());
        let Some(end) = end else {
            return Err(PipelineError::Onnx(format!(
                "external data of tensor \"{}\" ({offset}..+{length}) lies outside \"{loc}\" ({} \
                 bytes): is it the side file of this model?",
                t.name,
                data.len()
            )));
        };
        t.raw_data = data[offset..end].to_vec();
        t.external_data.clear();
        t.data_location = Some(tract_onnx::pb::tensor_proto::DataLocation::Default as i32);
        Ok(())
    })
}

/// A read model: the tract graph, its `metadata_props`, a summary of its inputs and outputs.
pub(super) type OnnxFile = (InferenceModel, Vec<(String, String)>, GraphSummary);

/// Drops the optional shape facts of a graph and its sub-graphs (`If`, `Loop`, `Scan` bodies).
fn clear_value_info(g: &mut tract_onnx::pb::GraphProto) {
    g.value_info.clear();
    for node in g.node.iter_mut() {
        for a in node.attribute.iter_mut() {
            if let Some(sub) = a.g.as_mut() {
                clear_value_info(sub);
            }
            for sub in a.graphs.iter_mut() {
                clear_value_info(sub);
            }
        }
    }
}

/// Reads ONNX bytes (and the side files of external data) into a tract model, its
/// `metadata_props` and a summary of its inputs and outputs. The graph's `value_info` is
/// dropped: it is optional shape information, and torch's dynamo exporter writes it with a
/// symbolic batch that contradicts the fixed batch each plan is optimised for; tract infers
/// the same facts from the inputs.
pub(super) fn read_onnx(bytes: &[u8], external: &[(String, Vec<u8>)]) -> Result<OnnxFile> {
    let mut proto = decode(bytes)?;
    let g = proto.graph.as_mut().expect("checked by decode");
    clear_value_info(g);
    inline_external_data(g, external)?;
    let metadata = proto
        .metadata_props
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    // What tract would panic on is refused first; natively a panic left is an error too.
    crate::pipeline::validate::onnx_model(&proto)?;
    let model = crate::pipeline::validate::no_panic("reading the graph", || {
        tract_onnx::onnx()
            .model_for_proto_model(&proto)
            .map_err(|e| PipelineError::Onnx(tract_msg(&e)))
    })?;
    let summary = summarise(&model)?;
    Ok((model, metadata, summary))
}

fn summarise(model: &InferenceModel) -> Result<GraphSummary> {
    let onnx_err = |e: TractError| PipelineError::Onnx(tract_msg(&e));
    let mut s = GraphSummary::default();
    for (i, o) in model.input_outlets().map_err(onnx_err)?.iter().enumerate() {
        let fact = model.input_fact(i).map_err(onnx_err)?;
        s.inputs
            .push((model.node(o.node).name.clone(), dims_of(fact)));
    }
    for (i, o) in model.output_outlets().map_err(onnx_err)?.iter().enumerate() {
        let name = model
            .outlet_label(*o)
            .map(str::to_string)
            .unwrap_or_else(|| model.node(o.node).name.clone());
        let fact = model.output_fact(i).map_err(onnx_err)?;
        s.outputs.push((name, dims_of(fact)));
    }
    Ok(s)
}

pub(super) fn dims_of(fact: &InferenceFact) -> Option<Vec<Option<usize>>> {
    let dims: TVec<TDim> = fact.shape.concretize()?;
    Some(dims.iter().map(|d| d.to_usize().ok()).collect())
}

pub(super) fn type_name(dt: DatumType) -> &'static str {
    match dt {
        DatumType::F32 => "float32",
        DatumType::F64 => "float64",
        DatumType::F16 => "float16",
        DatumType::I32 => "int32",
        DatumType::I64 => "int64",
        DatumType::I8 => "int8",
        DatumType::U8 => "uint8",
        DatumType::Bool => "bool",
        _ => "another type",
    }
}

pub(super) fn fmt_dims(d: &[Option<usize>]) -> String {
    let v: Vec<String> = d
        .iter()
        .map(|x| x.map_or("?".to_string(), |x| x.to_string()))
        .collect();
    format!("[{}]", v.join(","))
}

/// Reads the side files of a model saved with external data from the folder of `model_path`
/// (the `location`s its bytes name; only relative paths inside that folder). Native only: in
/// a browser, pass the bytes as [`LoadOptions::external_data`](crate::pipeline::LoadOptions::external_data).
#[cfg(not(target_arch = "wasm32"))]
pub fn read_external_data(
    model_path: &std::path::Path,
    bytes: &[u8],
) -> Result<Vec<(String, Vec<u8>)>> {
    let dir = model_path
        .parent()
        .unwrap_or_else(|| std::path::Path::new("."));
    let mut out = Vec::new();
    for loc in external_data_locations(bytes)? {
        let rel = std::path::Path::new(&loc);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(PipelineError::Onnx(format!(
                "external data location \"{loc}\" is not a plain path inside the model's folder"
            )));
        }
        let path = dir.join(rel);
        let data = std::fs::read(&path).map_err(|e| {
            PipelineError::Onnx(format!(
                "the model keeps its weights in a side file {} (ONNX external data): {e}; keep \
                 it next to the .onnx file or export a single file",
                path.display()
            ))
        })?;
        out.push((loc, data));
    }
    Ok(out)
}
