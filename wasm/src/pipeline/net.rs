//! tract-onnx networks: loading from bytes, interface checks, one optimised plan per batch size.

use std::collections::HashMap;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

use super::error::{tract_msg, PipelineError, Result};
use super::info::{GraphSummary, ImageShape, LoadOptions, ModelInfo};
#[cfg(any(feature = "profile", not(target_arch = "wasm32")))]
use super::noise::initial_noise;
#[cfg(any(feature = "profile", not(target_arch = "wasm32")))]
use super::profile::{profile_state, Profile};

/// Default images per run of the UNet's optimised plan ([`DiffusionModel::set_plan_batch`]): a
/// batch is evaluated in chunks of this many.
/// tract 0.23.9 folds im2col into its matrix products only at batch 1; at larger batches every
/// 3x3 convolution first writes its whole im2col buffer. Measured on the demo UNet
/// (`wasm/PROFILE.md`): 16 images as 16 batch-1 runs take 2.2x less time natively and 1.25x
/// less in wasm than one batch-16 run, with the same outputs.
pub const PLAN_BATCH: usize = 1;

type Plan = Box<dyn State>;

/// How a graph input takes its tensor.
#[derive(Clone, Debug, PartialEq)]
enum Feed {
    /// One entry per image: `[batch, tail...]`.
    Batched(Vec<usize>),
    /// One tensor for the whole batch, of this fixed shape (a time input of shape `[]` or
    /// `[1]`): every image of a run must share the value.
    Shared(Vec<usize>),
}

/// One graph input as the pipeline feeds it.
#[derive(Clone, Debug)]
struct InputSpec {
    /// Position among the graph's inputs.
    slot: usize,
    dt: DatumType,
    feed: Feed,
}

/// What the pipeline needs of one graph input: its name, the element types it can feed
/// (cast as needed; the first is used when the graph does not say), the dimensions after the
/// batch, and whether one tensor for the whole batch (`[]` or `[1]`) will do.
struct InputReq<'a> {
    name: &'a str,
    types: &'a [DatumType],
    tail: Vec<usize>,
    may_share: bool,
}

/// An ONNX graph with fixed-batch plans built on demand.
struct Net {
    model: InferenceModel,
    /// Inputs in the order the caller passes them (not necessarily the graph's).
    inputs: Vec<InputSpec>,
    /// Graph output positions the caller reads, in the caller's order.
    outputs: Vec<usize>,
    /// The dimensions after the batch each read output must have (checked when a plan is built).
    out_tails: Vec<Vec<usize>>,
    /// Names of the read outputs, for messages.
    out_names: Vec<String>,
    /// The batch size the graph fixes (`Some(1)`: exported without a dynamic batch axis).
    fixed_batch: Option<usize>,
    plans: HashMap<usize, Plan>,
}

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
type OnnxFile = (InferenceModel, Vec<(String, String)>, GraphSummary);

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
fn read_onnx(bytes: &[u8], external: &[(String, Vec<u8>)]) -> Result<OnnxFile> {
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
    super::validate::onnx_model(&proto)?;
    let model = super::validate::no_panic("reading the graph", || {
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

fn dims_of(fact: &InferenceFact) -> Option<Vec<Option<usize>>> {
    let dims: TVec<TDim> = fact.shape.concretize()?;
    Some(dims.iter().map(|d| d.to_usize().ok()).collect())
}

fn type_name(dt: DatumType) -> &'static str {
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

fn fmt_dims(d: &[Option<usize>]) -> String {
    let v: Vec<String> = d
        .iter()
        .map(|x| x.map_or("?".to_string(), |x| x.to_string()))
        .collect();
    format!("[{}]", v.join(","))
}

impl Net {
    /// Finds the named inputs and outputs and checks element types and shapes (the batch
    /// dimension is free, the others must equal the tails).
    fn new(
        model: InferenceModel,
        inputs: &[InputReq<'_>],
        outputs: &[(&str, Vec<usize>)],
    ) -> Result<Self> {
        let in_names: Vec<String> = model
            .input_outlets()
            .map_err(|e| PipelineError::Onnx(tract_msg(&e)))?
            .iter()
            .map(|o| model.node(o.node).name.clone())
            .collect();
        if in_names.len() != inputs.len() {
            return Err(PipelineError::Interface(format!(
                "the graph has {} inputs ({}), expected {} ({})",
                in_names.len(),
                in_names.join(", "),
                inputs.len(),
                inputs.iter().map(|i| i.name).collect::<Vec<_>>().join(", ")
            )));
        }
        let mut specs = Vec::new();
        let mut fixed_batch = None;
        for req in inputs {
            let name = req.name;
            let slot = in_names.iter().position(|n| n == name).ok_or_else(|| {
                PipelineError::Interface(format!(
                    "no graph input named \"{name}\" (inputs: {})",
                    in_names.join(", ")
                ))
            })?;
            let fact = model
                .input_fact(slot)
                .map_err(|e| PipelineError::Onnx(tract_msg(&e)))?;
            let dt = match fact.datum_type.concretize() {
                Some(found) if req.types.contains(&found) => found,
                Some(found) => {
                    return Err(PipelineError::Interface(format!(
                        "input \"{name}\" has element type {}, expected {}",
                        type_name(found),
                        req.types
                            .iter()
                            .map(|t| type_name(*t))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    )))
                }
                None => req.types[0],
            };
            let dims = dims_of(fact);
            let feed = match dims.as_deref() {
                Some([]) if req.may_share => Feed::Shared(vec![]),
                Some([Some(1)]) if req.may_share && req.tail.is_empty() => Feed::Shared(vec![1]),
                _ => {
                    check_shape(&format!("input \"{name}\""), fact, &req.tail)?;
                    if let Some(Some(b)) = dims.as_ref().and_then(|d| d.first()) {
                        fixed_batch = Some(*b);
                    }
                    Feed::Batched(req.tail.clone())
                }
            };
            specs.push(InputSpec { slot, dt, feed });
        }
        if let Some(b) = fixed_batch.filter(|&b| b != 1) {
            return Err(PipelineError::Interface(format!(
                "the graph fixes the batch at {b}: export it with a dynamic batch axis \
                 (torch.onnx.export(..., dynamic_axes={{\"x\": {{0: \"B\"}}, ...}}) or \
                 dynamic_shapes) or with batch 1"
            )));
        }
        let out_outlets = model
            .output_outlets()
            .map_err(|e| PipelineError::Onnx(tract_msg(&e)))?
            .to_vec();
        let out_names: Vec<String> = out_outlets
            .iter()
            .map(|o| {
                model
                    .outlet_label(*o)
                    .map(str::to_string)
                    .unwrap_or_else(|| model.node(o.node).name.clone())
            })
            .collect();
        let mut outs = Vec::new();
        let mut out_tails = Vec::new();
        let mut read_names = Vec::new();
        for (name, tail) in outputs {
            let pos = out_names.iter().position(|n| n == name).ok_or_else(|| {
                PipelineError::Interface(format!(
                    "no graph output named \"{name}\" (outputs: {})",
                    out_names.join(", ")
                ))
            })?;
            let fact = model
                .output_fact(pos)
                .map_err(|e| PipelineError::Onnx(tract_msg(&e)))?;
            check_shape(&format!("output \"{name}\""), fact, tail)?;
            outs.push(pos);
            out_tails.push(tail.clone());
            read_names.push(name.to_string());
        }
        Ok(Net {
            model,
            inputs: specs,
            outputs: outs,
            out_tails,
            out_names: read_names,
            fixed_batch,
            plans: HashMap::new(),
        })
    }

    /// Optimises the graph for `batch` (once per batch size); checks the shapes of the read
    /// outputs on the way.
    fn prepare(&mut self, batch: usize) -> Result<&mut Plan> {
        if batch == 0 {
            return Err(PipelineError::InvalidInput(
                "batch must be at least 1".into(),
            ));
        }
        if !self.plans.contains_key(&batch) {
            let mut m = self.model.clone();
            for spec in &self.inputs {
                let shape = match &spec.feed {
                    Feed::Batched(tail) => {
                        let mut s = vec![batch];
                        s.extend_from_slice(tail);
                        s
                    }
                    Feed::Shared(s) => s.clone(),
                };
                m = m
                    .with_input_fact(spec.slot, InferenceFact::dt_shape(spec.dt, shape))
                    .map_err(|e| PipelineError::Inference(tract_msg(&e)))?;
            }
            let typed = super::validate::no_panic("typing the graph", || {
                m.into_typed().map_err(|e| {
                    PipelineError::Inference(format!("typing for batch {batch}: {}", tract_msg(&e)))
                })
            })?;
            for ((pos, tail), name) in self
                .outputs
                .iter()
                .zip(&self.out_tails)
                .zip(&self.out_names)
            {
                let fact = typed.output_fact(*pos).map_err(|e| {
                    PipelineError::Inference(format!("typing for batch {batch}: {}", tract_msg(&e)))
                })?;
                if let Some(found) = fact.shape.as_concrete() {
                    let mut want = vec![batch];
                    want.extend_from_slice(tail);
                    if found != want.as_slice() {
                        return Err(PipelineError::Interface(format!(
                            "output \"{name}\" has shape {found:?} for a batch of {batch}, \
                             expected {want:?}: the prediction must have the shape of the input \
                             image"
                        )));
                    }
                }
            }
            super::validate::plan_memory(&typed, batch)?;
            let plan = super::validate::no_panic("optimising the graph", || {
                typed
                    .into_optimized()
                    .and_then(|m| m.into_runnable())
                    .and_then(|p| Runnable::spawn(&p))
                    .map_err(|e| {
                        PipelineError::Inference(format!(
                            "optimising for batch {batch}: {}",
                            tract_msg(&e)
                        ))
                    })
            })?;
            self.plans.insert(batch, plan);
        }
        Ok(self.plans.get_mut(&batch).expect("inserted above"))
    }

    /// Runs the graph on `inputs` (caller order, already shaped) for `batch`.
    fn run(&mut self, batch: usize, inputs: Vec<Tensor>) -> Result<Vec<TValue>> {
        let mut ordered: Vec<Option<TValue>> = vec![None; inputs.len()];
        for (spec, t) in self.inputs.clone().iter().zip(inputs) {
            ordered[spec.slot] = Some(t.into_tvalue());
        }
        let outputs = self.outputs.clone();
        let plan = self.prepare(batch)?;
        let inputs: TVec<TValue> = ordered
            .into_iter()
            .map(|t| t.expect("one tensor per input"))
            .collect();
        let mut result = super::validate::no_panic("running the graph", || {
            plan.run(inputs)
                .map_err(|e| PipelineError::Inference(tract_msg(&e)))
        })?;
        let mut out = Vec::with_capacity(outputs.len());
        for pos in outputs {
            out.push(core::mem::replace(
                &mut result[pos],
                Tensor::from(0f32).into_tvalue(),
            ));
        }
        Ok(out)
    }

    #[cfg(any(feature = "profile", not(target_arch = "wasm32")))]
    /// Profiles the plan for `batch` (the one [`run`](Self::run) uses) on `inputs` (caller
    /// order, already shaped); see [`super::profile`].
    fn profile(
        &mut self,
        batch: usize,
        inputs: Vec<Tensor>,
        repeats: usize,
        clock: impl FnMut() -> f64,
    ) -> Result<Profile> {
        let mut ordered: Vec<Option<TValue>> = vec![None; inputs.len()];
        for (spec, t) in self.inputs.clone().iter().zip(inputs) {
            ordered[spec.slot] = Some(t.into_tvalue());
        }
        let inputs: TVec<TValue> = ordered
            .into_iter()
            .map(|t| t.expect("one tensor per input"))
            .collect();
        let state = self
            .prepare(batch)?
            .downcast_mut::<TypedSimpleState>()
            .ok_or_else(|| {
                PipelineError::Inference("the plan is not tract's SimpleState".into())
            })?;
        profile_state(state, batch, inputs, repeats, clock)
    }

    /// Forgets the optimised plans (memory).
    fn clear(&mut self) {
        self.plans.clear();
    }
}

fn check_shape(what: &str, fact: &InferenceFact, tail: &[usize]) -> Result<()> {
    if let Some(dims) = dims_of(fact) {
        let mut want: Vec<Option<usize>> = vec![None];
        want.extend(tail.iter().map(|&d| Some(d)));
        let ok = dims.len() == want.len()
            && dims
                .iter()
                .skip(1)
                .zip(tail)
                .all(|(d, &w)| d.is_none() || *d == Some(w));
        if !ok {
            return Err(PipelineError::Interface(format!(
                "{what} has shape {}, expected {} (? = batch)",
                fmt_dims(&dims),
                fmt_dims(&want)
            )));
        }
    }
    Ok(())
}

fn tensor<T: Datum + Copy>(shape: &[usize], data: &[T]) -> Result<Tensor> {
    Tensor::from_shape(shape, data).map_err(|e| PipelineError::Inference(tract_msg(&e)))
}

fn copy_out(v: &TValue, out: &mut [f32], what: &str) -> Result<()> {
    let view = v
        .try_as_plain_ram()
        .map_err(|e| PipelineError::Inference(format!("{what}: {}", tract_msg(&e))))?;
    let s = view
        .as_slice::<f32>()
        .map_err(|e| PipelineError::Inference(format!("{what}: {}", tract_msg(&e))))?;
    if s.len() != out.len() {
        return Err(PipelineError::Interface(format!(
            "{what} has {} elements, expected {}",
            s.len(),
            out.len()
        )));
    }
    out.copy_from_slice(s);
    Ok(())
}

/// A diffusion network (the UNet) loaded from ONNX bytes: its [`ModelInfo`] and batched
/// evaluation `eps = net(x, t, class)`.
pub struct DiffusionModel {
    info: ModelInfo,
    net: Net,
    plan_batch: usize,
}

/// Element types a time input may have (the pipeline casts its times; integer inputs get the
/// nearest integer timestep).
const TIME_TYPES: &[DatumType] = &[
    DatumType::F32,
    DatumType::F64,
    DatumType::I64,
    DatumType::I32,
];
/// Element types a class input may have.
const CLASS_TYPES: &[DatumType] = &[DatumType::I64, DatumType::I32];

/// Reads the side files of a model saved with external data from the folder of `model_path`
/// (the `location`s its bytes name; only relative paths inside that folder). Native only: in
/// a browser, pass the bytes as [`LoadOptions::external_data`].
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

impl DiffusionModel {
    /// Loads ONNX bytes, reads and checks the metadata against the graph.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::load(bytes, &LoadOptions::default())
    }

    /// As [`from_bytes`](Self::from_bytes), with `overrides` added to (and replacing) the
    /// file's `metadata_props`, for models exported without them.
    pub fn from_bytes_with_metadata(bytes: &[u8], overrides: &[(&str, &str)]) -> Result<Self> {
        let opts = LoadOptions {
            metadata: overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..LoadOptions::default()
        };
        Self::load(bytes, &opts)
    }

    /// Loads ONNX bytes with what the caller knows besides them (`MODEL.md`): metadata
    /// entries, a diffusers scheduler config, the side files of external data. Every fact is
    /// checked against the graph, and the plan for one image is built (so a prediction whose
    /// shape is not the image's is refused here, before any evaluation).
    pub fn load(bytes: &[u8], opts: &LoadOptions) -> Result<Self> {
        let (model, metadata, summary) = read_onnx(bytes, &opts.external_data)?;
        let merged = opts.merged(&metadata)?;
        let info = ModelInfo::from_facts(&merged, Some(&summary))?;
        let s = info.shape;
        let mut inputs = vec![
            InputReq {
                name: &info.input_names[0],
                types: &[DatumType::F32],
                tail: vec![s.channels, s.height, s.width],
                may_share: false,
            },
            InputReq {
                name: &info.input_names[1],
                types: TIME_TYPES,
                tail: vec![],
                may_share: true,
            },
        ];
        if info.is_conditional() {
            inputs.push(InputReq {
                name: &info.input_names[2],
                types: CLASS_TYPES,
                tail: vec![],
                may_share: false,
            });
        }
        let outputs = [(
            info.output_name.as_str(),
            vec![s.channels, s.height, s.width],
        )];
        let net = Net::new(model, &inputs, &outputs)?;
        let mut m = DiffusionModel {
            info,
            net,
            plan_batch: PLAN_BATCH,
        };
        m.prepare(1)?;
        Ok(m)
    }

    /// The element type of the time input (`float32`, `float64`, `int32`, `int64`) and
    /// whether it takes one time per image (`[B]`) or one for the batch (`[]`, `[1]`).
    pub fn time_input(&self) -> (&'static str, bool) {
        let spec = &self.net.inputs[1];
        (type_name(spec.dt), matches!(spec.feed, Feed::Batched(_)))
    }

    /// What the model says about itself.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Optimises the network for evaluating `batch` images now (otherwise the first
    /// evaluation does it); batches run in chunks of at most [`plan_batch`](Self::plan_batch).
    pub fn prepare(&mut self, batch: usize) -> Result<()> {
        self.net.prepare(batch.min(self.plan_batch)).map(|_| ())
    }

    /// Images per run of the optimised plan (default [`PLAN_BATCH`]).
    pub fn plan_batch(&self) -> usize {
        self.plan_batch
    }

    /// Sets the images per plan run: larger batches are evaluated in chunks of `n` through a
    /// plan optimised for `n`. The results are the same up to float rounding, not bit for bit:
    /// tract's batched kernels sum in another order. `wasm/tests/models.rs`
    /// (`plan_batch_changes_only_rounding`, `--nocapture`) measures and bounds it: 3.4e-4 on
    /// x_0 of magnitude ~450 (8 guided images, 10 NFE), under `1e-5 (1 + max |x_0|)`. Only the speed differs otherwise, see
    /// [`PLAN_BATCH`]. A graph exported with a fixed batch of 1 takes only `n` = 1.
    pub fn set_plan_batch(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(PipelineError::InvalidInput(
                "the plan batch must be at least 1".into(),
            ));
        }
        if self.net.fixed_batch.is_some_and(|b| b != n) {
            return Err(PipelineError::InvalidInput(format!(
                "the graph fixes the batch at {}: the plan batch cannot be {n}",
                self.net.fixed_batch.unwrap_or(1)
            )));
        }
        self.plan_batch = n;
        Ok(())
    }

    /// Drops the optimised plans.
    pub fn clear_plans(&mut self) {
        self.net.clear()
    }

    /// Evaluates a batch: `x` holds `t.len()` images, `t` the network's time input (discrete
    /// timesteps, `0..N-1`), `class` one label per image (ignored, and may be empty, for an
    /// unconditional model). Writes the prediction into `out` (`x.len()` elements).
    pub fn eval_into(
        &mut self,
        x: &[f32],
        t: &[f32],
        class: &[i64],
        out: &mut [f32],
    ) -> Result<()> {
        let batch = t.len();
        let s = self.info.shape;
        if batch == 0 {
            return Err(PipelineError::InvalidInput(
                "empty batch (t has no elements)".into(),
            ));
        }
        if x.len() != batch * s.len() || out.len() != x.len() {
            return Err(PipelineError::InvalidInput(format!(
                "batch of {batch}: x and out need {} elements, got {} and {}",
                batch * s.len(),
                x.len(),
                out.len()
            )));
        }
        if let Some(i) = x.iter().chain(t).position(|v| !v.is_finite()) {
            return Err(PipelineError::InvalidInput(format!(
                "non-finite network input at element {i}"
            )));
        }
        let conditional = self.info.is_conditional();
        if conditional {
            if class.len() != batch {
                return Err(PipelineError::InvalidInput(format!(
                    "batch of {batch}: class needs {batch} labels, got {}",
                    class.len()
                )));
            }
            let max = self.info.num_classes as i64;
            if let Some(&c) = class
                .iter()
                .find(|&&c| !((0..max).contains(&c) || Some(c) == self.info.null_class))
            {
                return Err(PipelineError::InvalidInput(format!(
                    "class {c} out of range (0..{}{})",
                    max - 1,
                    self.info
                        .null_class
                        .map_or(String::new(), |n| format!(", or {n} for none"))
                )));
            }
        }
        // In chunks of `plan_batch` images through one plan (see PLAN_BATCH).
        let n = s.len();
        for first in (0..batch).step_by(self.plan_batch) {
            let b = self.plan_batch.min(batch - first);
            let images = first..first + b;
            let mut inputs = vec![
                tensor(
                    &[b, s.channels, s.height, s.width],
                    &x[first * n..(first + b) * n],
                )?,
                self.time_tensor(&t[images.clone()])?,
            ];
            if conditional {
                let c = &class[images];
                inputs.push(if self.net.inputs[2].dt == DatumType::I32 {
                    let v: Vec<i32> = c.iter().map(|&v| v as i32).collect();
                    tensor(&[b], &v)?
                } else {
                    tensor(&[b], c)?
                });
            }
            let res = self.net.run(b, inputs)?;
            copy_out(
                &res[0],
                &mut out[first * n..(first + b) * n],
                "the network output",
            )?;
        }
        Ok(())
    }

    /// The time input for one plan run: `t` cast to the graph's type, one per image or one
    /// for all (then all of `t` must agree).
    fn time_tensor(&self, t: &[f32]) -> Result<Tensor> {
        let spec = &self.net.inputs[1];
        let (shape, vals): (Vec<usize>, &[f32]) = match &spec.feed {
            Feed::Batched(_) => (vec![t.len()], t),
            Feed::Shared(shape) => {
                if t.iter().any(|&v| v != t[0]) {
                    return Err(PipelineError::InvalidInput(format!(
                        "the model takes one time for the whole batch (its time input \"{}\" \
                         has shape {shape:?}), but the times of this batch differ",
                        self.info.input_names[1]
                    )));
                }
                (shape.clone(), &t[..1])
            }
        };
        match spec.dt {
            DatumType::F64 => {
                let v: Vec<f64> = vals.iter().map(|&v| v as f64).collect();
                tensor(&shape, &v)
            }
            DatumType::I64 => {
                let v: Vec<i64> = vals.iter().map(|&v| v.round() as i64).collect();
                tensor(&shape, &v)
            }
            DatumType::I32 => {
                let v: Vec<i32> = vals.iter().map(|&v| v.round() as i32).collect();
                tensor(&shape, &v)
            }
            _ => tensor(&shape, vals),
        }
    }

    /// [`eval_into`](Self::eval_into) into a new vector.
    pub fn eval(&mut self, x: &[f32], t: &[f32], class: &[i64]) -> Result<Vec<f32>> {
        let mut out = vec![0.0; x.len()];
        self.eval_into(x, t, class, &mut out)?;
        Ok(out)
    }

    #[cfg(any(feature = "profile", not(target_arch = "wasm32")))]
    /// Where the time of one evaluation goes: times every node of the plan for `batch` (the
    /// plan [`eval`](Self::eval) runs) over `repeats` evaluations after one warm-up, on seeded
    /// noise (`initial_noise(0, 0, batch, ..)`), `t = N/2` and classes `0, 1, 2, ...`.
    /// `clock` returns milliseconds (`Instant` natively, `performance.now()` in JavaScript).
    pub fn profile(
        &mut self,
        batch: usize,
        repeats: usize,
        clock: impl FnMut() -> f64,
    ) -> Result<Profile> {
        if batch == 0 {
            return Err(PipelineError::InvalidInput(
                "batch must be at least 1".into(),
            ));
        }
        let s = self.info.shape;
        let x = initial_noise(0, 0, batch, s.len());
        let t = vec![(self.info.schedule.num_train_timesteps() / 2) as f32; batch];
        let mut inputs = vec![
            tensor(&[batch, s.channels, s.height, s.width], &x)?,
            self.time_tensor(&t)?,
        ];
        if self.info.is_conditional() {
            let class: Vec<i64> = (0..batch)
                .map(|i| (i % self.info.num_classes) as i64)
                .collect();
            inputs.push(if self.net.inputs[2].dt == DatumType::I32 {
                let v: Vec<i32> = class.iter().map(|&v| v as i32).collect();
                tensor(&[batch], &v)?
            } else {
                tensor(&[batch], &class)?
            });
        }
        self.net.profile(batch, inputs, repeats, clock)
    }
}

/// What a classifier ONNX model looks like.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierInfo {
    /// Input image shape.
    pub shape: ImageShape,
    /// Input value range (`value_range`, default `-1,1`).
    pub value_range: (f32, f32),
    /// Number of classes (`num_classes`, or the `logits` width).
    pub num_classes: usize,
    /// Width of the `features` output (`feature_dim`), 0 if the model has none.
    pub feature_dim: usize,
    /// All `metadata_props` entries, sorted by key.
    pub metadata: Vec<(String, String)>,
}

/// Logits and features of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    /// Number of images.
    pub batch: usize,
    /// Classes per image.
    pub num_classes: usize,
    /// Feature width per image (0 without features).
    pub feature_dim: usize,
    /// `batch x num_classes` logits.
    pub logits: Vec<f32>,
    /// `batch x feature_dim` features (penultimate layer).
    pub features: Vec<f32>,
}

impl Classification {
    /// The arg-max class of each image.
    pub fn predicted(&self) -> Vec<usize> {
        self.logits
            .chunks(self.num_classes.max(1))
            .map(|row| {
                let mut best = 0;
                for (i, v) in row.iter().enumerate() {
                    if *v > row[best] {
                        best = i;
                    }
                }
                best
            })
            .collect()
    }

    /// Softmax probabilities, `batch x num_classes`.
    pub fn probabilities(&self) -> Vec<f32> {
        let mut p = self.logits.clone();
        for row in p.chunks_mut(self.num_classes.max(1)) {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for v in row.iter_mut() {
                *v = (*v - m).exp();
                sum += *v;
            }
            for v in row.iter_mut() {
                *v /= sum;
            }
        }
        p
    }
}

/// An image classifier (input `x` `[B,C,H,W]`, outputs `logits` `[B,K]` and optionally
/// `features` `[B,F]`), e.g. `www/models/classifier.onnx`, to score generated images.
pub struct Classifier {
    info: ClassifierInfo,
    net: Net,
}

/// Largest batch the classifier runs at once; longer inputs are split into such chunks.
pub const CLASSIFIER_CHUNK: usize = 100;

impl Classifier {
    /// Loads a classifier; the shape comes from the graph's input `x` (or `image_*` metadata).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (model, mut metadata, _) = read_onnx(bytes, &[])?;
        metadata.sort();
        let get = |k: &str| {
            metadata
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.trim().to_string())
        };
        let in_name = get("input_names")
            .and_then(|s| s.split(',').next().map(|s| s.trim().to_string()))
            .unwrap_or_else(|| "x".into());
        let slot = model
            .input_outlets()
            .map_err(|e| PipelineError::Onnx(tract_msg(&e)))?
            .iter()
            .position(|o| model.node(o.node).name == in_name)
            .ok_or_else(|| {
                PipelineError::Interface(format!("no graph input named \"{in_name}\""))
            })?;
        let fact = model
            .input_fact(slot)
            .map_err(|e| PipelineError::Onnx(tract_msg(&e)))?;
        let dims = dims_of(fact).unwrap_or_default();
        let shape = match dims.as_slice() {
            [_, Some(c), Some(h), Some(w)] => ImageShape {
                channels: *c,
                height: *h,
                width: *w,
            },
            _ => {
                return Err(PipelineError::Interface(format!(
                    "classifier input \"{in_name}\" has shape {}, expected [B,C,H,W]",
                    fmt_dims(&dims)
                )))
            }
        };
        let num = |k: &str| get(k).and_then(|s| s.parse::<usize>().ok());
        let value_range = match get("value_range") {
            Some(s) => {
                let p: Vec<f32> = s.split(',').filter_map(|v| v.trim().parse().ok()).collect();
                if p.len() != 2 || p[0].partial_cmp(&p[1]) != Some(core::cmp::Ordering::Less) {
                    return Err(PipelineError::InvalidMetadata {
                        key: "value_range".into(),
                        value: s,
                        reason: "expected \"low,high\" with low < high".into(),
                    });
                }
                (p[0], p[1])
            }
            None => (-1.0, 1.0),
        };
        let out_names: Vec<String> = get("output_names")
            .unwrap_or_else(|| "logits,features".into())
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        let num_classes = num("num_classes").ok_or_else(|| {
            PipelineError::MissingMetadata(vec!["num_classes (classifier)".into()])
        })?;
        let feature_dim = if out_names.len() > 1 {
            num("feature_dim").unwrap_or(0)
        } else {
            0
        };
        let mut outputs = vec![(out_names[0].as_str(), vec![num_classes])];
        if feature_dim > 0 {
            outputs.push((out_names[1].as_str(), vec![feature_dim]));
        }
        let net = Net::new(
            model,
            &[InputReq {
                name: &in_name,
                types: &[DatumType::F32],
                tail: vec![shape.channels, shape.height, shape.width],
                may_share: false,
            }],
            &outputs,
        )?;
        Ok(Classifier {
            info: ClassifierInfo {
                shape,
                value_range,
                num_classes,
                feature_dim,
                metadata,
            },
            net,
        })
    }

    /// What the classifier expects.
    pub fn info(&self) -> &ClassifierInfo {
        &self.info
    }

    /// Classifies `images` (a whole number of images in the classifier's value range), in
    /// chunks of at most [`CLASSIFIER_CHUNK`].
    pub fn classify(&mut self, images: &[f32]) -> Result<Classification> {
        let len = self.info.shape.len();
        if images.is_empty() || images.len() / len * len != images.len() {
            return Err(PipelineError::InvalidInput(format!(
                "the classifier needs a whole number of {len}-element images, got {} elements",
                images.len()
            )));
        }
        let batch = images.len() / len;
        let (k, f) = (self.info.num_classes, self.info.feature_dim);
        let mut logits = vec![0.0; batch * k];
        let mut features = vec![0.0; batch * f];
        let s = self.info.shape;
        let mut start = 0;
        while start < batch {
            let n = CLASSIFIER_CHUNK.min(batch - start);
            let x = tensor(
                &[n, s.channels, s.height, s.width],
                &images[start * len..(start + n) * len],
            )?;
            let res = self.net.run(n, vec![x])?;
            copy_out(&res[0], &mut logits[start * k..(start + n) * k], "logits")?;
            if f > 0 {
                copy_out(
                    &res[1],
                    &mut features[start * f..(start + n) * f],
                    "features",
                )?;
            }
            start += n;
        }
        Ok(Classification {
            batch,
            num_classes: k,
            feature_dim: f,
            logits,
            features,
        })
    }
}
