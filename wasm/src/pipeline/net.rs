//! tract-onnx networks: loading from bytes, interface checks, one optimised plan per batch size.

use std::collections::HashMap;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

use super::error::{tract_msg, PipelineError, Result};
#[cfg(any(feature = "profile", not(target_arch = "wasm32")))]
use super::generate::initial_noise;
use super::info::{ImageShape, ModelInfo};
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

/// One graph input as the pipeline feeds it.
#[derive(Clone, Debug)]
struct InputSpec {
    /// Position among the graph's inputs.
    slot: usize,
    dt: DatumType,
    /// Dimensions after the batch.
    tail: Vec<usize>,
}

/// An ONNX graph with fixed-batch plans built on demand.
struct Net {
    model: InferenceModel,
    /// Inputs in the order the caller passes them (not necessarily the graph's).
    inputs: Vec<InputSpec>,
    /// Graph output positions the caller reads, in the caller's order.
    outputs: Vec<usize>,
    plans: HashMap<usize, Plan>,
}

/// Reads ONNX bytes into a tract model and its `metadata_props`.
fn read_onnx(bytes: &[u8]) -> Result<(InferenceModel, Vec<(String, String)>)> {
    if bytes.is_empty() {
        return Err(PipelineError::Onnx("the file is empty".into()));
    }
    let onnx = tract_onnx::onnx();
    let proto = onnx.proto_model_for_read(&mut &bytes[..]).map_err(|e| {
        PipelineError::Onnx(format!("not a valid ONNX protobuf ({})", tract_msg(&e)))
    })?;
    if proto.graph.is_none() {
        return Err(PipelineError::Onnx("the protobuf holds no graph".into()));
    }
    let metadata = proto
        .metadata_props
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    super::validate::onnx_model(&proto)?;
    let model = super::validate::no_panic("reading the graph", || {
        onnx.model_for_proto_model(&proto)
            .map_err(|e| PipelineError::Onnx(tract_msg(&e)))
    })?;
    Ok((model, metadata))
}

fn dims_of(fact: &InferenceFact) -> Option<Vec<Option<usize>>> {
    let dims: TVec<TDim> = fact.shape.concretize()?;
    Some(dims.iter().map(|d| d.to_usize().ok()).collect())
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
    /// dimension is free, the others must equal `tail`).
    fn new(
        model: InferenceModel,
        inputs: &[(&str, DatumType, Vec<usize>)],
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
                inputs.iter().map(|i| i.0).collect::<Vec<_>>().join(", ")
            )));
        }
        let mut specs = Vec::new();
        for (name, dt, tail) in inputs {
            let slot = in_names.iter().position(|n| n == name).ok_or_else(|| {
                PipelineError::Interface(format!(
                    "no graph input named \"{name}\" (inputs: {})",
                    in_names.join(", ")
                ))
            })?;
            let fact = model
                .input_fact(slot)
                .map_err(|e| PipelineError::Onnx(tract_msg(&e)))?;
            if let Some(found) = fact.datum_type.concretize() {
                if found != *dt {
                    return Err(PipelineError::Interface(format!(
                        "input \"{name}\" has element type {found:?}, expected {dt:?}"
                    )));
                }
            }
            check_shape(&format!("input \"{name}\""), fact, tail)?;
            specs.push(InputSpec {
                slot,
                dt: *dt,
                tail: tail.clone(),
            });
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
        }
        Ok(Net {
            model,
            inputs: specs,
            outputs: outs,
            plans: HashMap::new(),
        })
    }

    /// Optimises the graph for `batch` (once per batch size).
    fn prepare(&mut self, batch: usize) -> Result<&mut Plan> {
        if batch == 0 {
            return Err(PipelineError::InvalidInput(
                "batch must be at least 1".into(),
            ));
        }
        if !self.plans.contains_key(&batch) {
            let mut m = self.model.clone();
            for spec in &self.inputs {
                let mut shape = vec![batch];
                shape.extend_from_slice(&spec.tail);
                m = m
                    .with_input_fact(spec.slot, InferenceFact::dt_shape(spec.dt, shape))
                    .map_err(|e| PipelineError::Inference(tract_msg(&e)))?;
            }
            let typed = super::validate::no_panic("typing the graph", || {
                m.into_typed().map_err(|e| {
                    PipelineError::Inference(format!("typing for batch {batch}: {}", tract_msg(&e)))
                })
            })?;
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

impl DiffusionModel {
    /// Loads ONNX bytes, reads and checks the metadata against the graph.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_with_metadata(bytes, &[])
    }

    /// As [`from_bytes`](Self::from_bytes), with `overrides` added to (and replacing) the
    /// file's `metadata_props`, for models exported without them.
    pub fn from_bytes_with_metadata(bytes: &[u8], overrides: &[(&str, &str)]) -> Result<Self> {
        let (model, mut metadata) = read_onnx(bytes)?;
        for (k, v) in overrides {
            metadata.retain(|(key, _)| key != k);
            metadata.push((k.to_string(), v.to_string()));
        }
        let info = ModelInfo::from_metadata(&metadata)?;
        let s = info.shape;
        let mut inputs = vec![
            (
                info.input_names[0].as_str(),
                f32::datum_type(),
                vec![s.channels, s.height, s.width],
            ),
            (info.input_names[1].as_str(), f32::datum_type(), vec![]),
        ];
        if info.is_conditional() {
            inputs.push((info.input_names[2].as_str(), i64::datum_type(), vec![]));
        }
        let outputs = [(
            info.output_name.as_str(),
            vec![s.channels, s.height, s.width],
        )];
        let net = Net::new(model, &inputs, &outputs)?;
        Ok(DiffusionModel {
            info,
            net,
            plan_batch: PLAN_BATCH,
        })
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
    /// plan optimised for `n` (the same results; only the speed differs, see [`PLAN_BATCH`]).
    pub fn set_plan_batch(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(PipelineError::InvalidInput(
                "the plan batch must be at least 1".into(),
            ));
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
                tensor(&[b], &t[images.clone()])?,
            ];
            if conditional {
                inputs.push(tensor(&[b], &class[images])?);
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
            tensor(&[batch], &t)?,
        ];
        if self.info.is_conditional() {
            let class: Vec<i64> = (0..batch)
                .map(|i| (i % self.info.num_classes) as i64)
                .collect();
            inputs.push(tensor(&[batch], &class)?);
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
        let (model, mut metadata) = read_onnx(bytes)?;
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
        let num_classes = num("num_classes")
            .ok_or_else(|| PipelineError::MissingMetadata("num_classes".into()))?;
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
            &[(
                in_name.as_str(),
                f32::datum_type(),
                vec![shape.channels, shape.height, shape.width],
            )],
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
