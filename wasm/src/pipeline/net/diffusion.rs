//! [`DiffusionModel`]: the UNet loaded from ONNX bytes with its [`ModelInfo`], evaluated in
//! batches (chunks of [`PLAN_BATCH`] images through one plan), the time and class inputs cast
//! to the graph's types.

use tract_onnx::prelude::*;

use super::onnx::{read_onnx, type_name};
use super::runner::{copy_out, tensor, Feed, InputReq, Net};
use crate::pipeline::error::{PipelineError, Result};
use crate::pipeline::info::{LoadOptions, ModelInfo};
#[cfg(any(feature = "profile", not(target_arch = "wasm32")))]
use crate::pipeline::noise::initial_noise;
#[cfg(any(feature = "profile", not(target_arch = "wasm32")))]
use crate::pipeline::profile::Profile;

/// Default images per run of the UNet's optimised plan ([`DiffusionModel::set_plan_batch`]): a
/// batch is evaluated in chunks of this many.
/// tract 0.23.9 folds im2col into its matrix products only at batch 1; at larger batches every
/// 3x3 convolution first writes its whole im2col buffer. Measured on the demo UNet
/// (`wasm/PROFILE.md`): 16 images as 16 batch-1 runs take 2.2x less time natively and 1.25x
/// less in wasm than one batch-16 run, with the same outputs.
pub const PLAN_BATCH: usize = 1;

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
