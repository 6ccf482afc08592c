//! `Sampler.plan()`: a run's `dpm_solver::plan` as flat typed arrays, the form a GPU executor
//! uploads once (the package's `webgpu.js` applies it with a WGSL compute shader); `StepPlan`:
//! the same one evaluation at a time, with the adaptive method's error norm.

use super::error::Error;
use super::js::set;
use super::sampler::{report_js, Sampler};
use dpm_solver::plan::{Buf, ErrorNorm, Op, PlanInfo, Step, StepPlanner, FIXED_BUFFERS};
use js_sys::{Float32Array, Object, Uint32Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_PLAN: &'static str = r#"
/**
 * A sampling run as coefficients (`Sampler.plan()`): for evaluation `k`, run the network on
 * buffer `inputs[k]` at time `tModel[k]` (a diffusers scheduler: the integer timestep) into
 * buffer 1 (with classifier-free guidance: the conditional output in 1, the unconditional in 2),
 * then apply operations `stepOps[k] .. stepOps[k+1]-1` in order. Operation `j` writes buffer
 * `opDst[j]` with, elementwise, `sum_t termWeight[t] * buffer[termBuf[t]]` over terms
 * `opTerms[j] .. opTerms[j+1]-1`, clamped to `[-opClamp[j], opClamp[j]]` when `opClamp[j] > 0`.
 * Buffers (each `n` floats, the whole batch): 0 the sample `x` (start: `x_T`; end: the result),
 * 1 the network output, 2 the second guidance output, 3 this step's standard normal noise
 * (SDE schedulers only), `4 + j` the solver's slot `j`.
 */
export interface SamplerPlan {
  nfe: number;
  numBuffers: number;
  slots: number;
  guide: boolean;
  noise: boolean;
  batch: number;
  scheduler: boolean;
  inputs: Uint32Array;
  tModel: Float32Array;
  stepOps: Uint32Array;
  opDst: Uint32Array;
  opClamp: Float32Array;
  opTerms: Uint32Array;
  termBuf: Uint32Array;
  termWeight: Float32Array;
}

/**
 * Elementwise operations in `SamplerPlan`'s format: operation `j` writes buffer `opDst[j]` with
 * `sum_t termWeight[t] * buffer[termBuf[t]]` over `t` in `opTerms[j] .. opTerms[j+1]-1`,
 * clamped to `[-opClamp[j], opClamp[j]]` when `opClamp[j] > 0`.
 */
export interface PlanOps {
  opDst: Uint32Array;
  opClamp: Float32Array;
  opTerms: Uint32Array;
  termBuf: Uint32Array;
  termWeight: Float32Array;
}

/**
 * The adaptive error norm `E` (computed after the evaluation's operations): per element,
 * `x_lo = sum lowerWeight[k] * buffer[lowerBuf[k]]`,
 * `d = sum diffWeight[k] * (buffer[diffBuf[k]] - buffer[base])`,
 * `delta = max(atol, rtol * max(|x_lo|, |buffer[prev]|))`; per sample (`n / batch` elements)
 * `sqrt(mean((d / delta)^2))`; `E` the largest (NaN if any is NaN).
 */
export interface PlanNorm {
  lowerBuf: Uint32Array;
  lowerWeight: Float32Array;
  diffBuf: Uint32Array;
  diffWeight: Float32Array;
  base: number;
  prev: number;
  atol: number;
  rtol: number;
  batch: number;
}

/** One evaluation of a `StepPlan`: run the network on `input` at `tModel`, apply `ops`, then
 * (when `norm` is set) compute `E` and call `tellError(E)`. */
export interface PlanEval {
  index: number;
  input: number;
  tModel: number;
  ops: PlanOps;
  norm: PlanNorm | null;
}

/** The decision on an adaptive trial: operations to apply now, and the step's report. */
export interface PlanDecision {
  ops: PlanOps;
  report: StepReport;
}
"#;

/// A plan being flattened.
#[derive(Default)]
pub(crate) struct PlanArrays {
    inputs: Vec<u32>,
    t_model: Vec<f32>,
    step_ops: Vec<u32>,
    ops: OpArrays,
}

/// Operations being flattened (`PlanOps`).
#[derive(Default)]
struct OpArrays {
    op_dst: Vec<u32>,
    op_clamp: Vec<f32>,
    op_terms: Vec<u32>,
    term_buf: Vec<u32>,
    term_weight: Vec<f32>,
}

impl OpArrays {
    /// Appends operations.
    fn push(&mut self, ops: &[Op<f32>]) {
        for op in ops {
            self.op_dst.push(op.dst.index() as u32);
            self.op_clamp.push(op.clamp.unwrap_or(0.0));
            self.op_terms.push(self.term_buf.len() as u32);
            for &(b, w) in op.terms() {
                self.term_buf.push(b.index() as u32);
                self.term_weight.push(w);
            }
        }
    }

    /// Closes the term offsets and sets the `PlanOps` fields on `o`.
    fn set_on(mut self, o: &Object) {
        self.op_terms.push(self.term_buf.len() as u32);
        set(o, "opDst", Uint32Array::from(&self.op_dst[..]));
        set(o, "opClamp", Float32Array::from(&self.op_clamp[..]));
        set(o, "opTerms", Uint32Array::from(&self.op_terms[..]));
        set(o, "termBuf", Uint32Array::from(&self.term_buf[..]));
        set(o, "termWeight", Float32Array::from(&self.term_weight[..]));
    }
}

impl PlanArrays {
    /// Appends one evaluation.
    pub fn push(&mut self, s: &Step<'_, f32>) {
        self.inputs.push(s.input.index() as u32);
        self.t_model.push(s.t_model);
        self.step_ops.push(self.ops.op_dst.len() as u32);
        self.ops.push(s.ops);
    }

    /// The `SamplerPlan` object.
    pub fn into_js(mut self, info: &PlanInfo, batch: usize, scheduler: bool) -> JsValue {
        self.step_ops.push(self.ops.op_dst.len() as u32);
        let o = Object::new();
        set(&o, "nfe", info.nfe as f64);
        set(&o, "numBuffers", (FIXED_BUFFERS + info.slots) as f64);
        set(&o, "slots", info.slots as f64);
        set(&o, "guide", info.guide);
        set(&o, "noise", info.noise);
        set(&o, "batch", batch as f64);
        set(&o, "scheduler", scheduler);
        set(&o, "inputs", Uint32Array::from(&self.inputs[..]));
        set(&o, "tModel", Float32Array::from(&self.t_model[..]));
        set(&o, "stepOps", Uint32Array::from(&self.step_ops[..]));
        self.ops.set_on(&o);
        o.into()
    }
}

/// Operations as a `PlanOps` object.
fn ops_js(ops: &[Op<f32>]) -> Object {
    let mut a = OpArrays::default();
    a.push(ops);
    let o = Object::new();
    a.set_on(&o);
    o
}

/// Terms as the `Uint32Array` of their buffers and the `Float32Array` of their weights, set
/// on `o` as `buf_key` and `weight_key`.
fn set_terms(o: &Object, terms: &[(Buf, f32)], buf_key: &str, weight_key: &str) {
    let mut bufs = Vec::new();
    let mut weights = Vec::new();
    for &(b, w) in terms {
        bufs.push(b.index() as u32);
        weights.push(w);
    }
    set(o, buf_key, Uint32Array::from(&bufs[..]));
    set(o, weight_key, Float32Array::from(&weights[..]));
}

/// An error norm as a `PlanNorm` object.
fn norm_js(n: &ErrorNorm<f32>) -> Object {
    let o = Object::new();
    set_terms(&o, n.lower.terms(), "lowerBuf", "lowerWeight");
    set_terms(&o, n.diff_terms(), "diffBuf", "diffWeight");
    set(&o, "base", n.base.index() as f64);
    set(&o, "prev", n.prev.index() as f64);
    set(&o, "atol", n.atol as f64);
    set(&o, "rtol", n.rtol as f64);
    set(&o, "batch", n.batch as f64);
    o
}

/// A DPM-Solver run planned one evaluation at a time (`dpm_solver::plan::StepPlanner`): any
/// method, including the adaptive one, whose trials end with an error norm the executor
/// computes and hands back with `tellError`. `new StepPlan(options)` takes `Sampler`'s
/// DPM-Solver options (diffusers schedulers have a plan ahead of time: `Sampler.plan()`).
#[wasm_bindgen]
pub struct StepPlan {
    // Declared first: dropped before the sampler whose schedule table and custom times (in
    // its `Leaked`) the planner's configuration borrows.
    planner: StepPlanner<'static, f32>,
    _sampler: Box<Sampler>,
    batch: usize,
    guide: bool,
}

#[wasm_bindgen]
impl StepPlan {
    /// Validates `options` as `new Sampler` does; throws for dynamic thresholding (no plan).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "SamplerOptions")] options: JsValue,
    ) -> core::result::Result<StepPlan, Error> {
        let batch = if options.is_object() {
            js_sys::Reflect::get(&options, &JsValue::from_str("batch"))
                .ok()
                .and_then(|v| v.as_f64())
                .unwrap_or(1.0)
        } else {
            1.0
        };
        // At most 65535 samples: the GPU norm runs one workgroup per sample.
        // Two comparisons, not `RangeInclusive::contains`, which opt-level "z" keeps as a
        // function of its own (wasm/BENCHMARKS.md, "Package sizes").
        #[allow(clippy::manual_range_contains)]
        let in_range = batch >= 1.0 && batch <= 65535.0;
        if !(in_range && batch.fract() == 0.0) {
            return Err(Error::Option(format!(
                "batch must be an integer from 1 to 65535, got {}",
                crate::decimal::f64_text(batch)
            )));
        }
        let batch = batch as usize;
        // The planner's own sampler state runs on one element per sample: the options are
        // validated by `Sampler` against that.
        let sampler = Box::new(Sampler::new(
            options,
            Float32Array::from(&vec![0.0; batch][..]).into(),
        )?);
        let s = sampler.dpm().ok_or_else(|| {
            Error::Option(
                "a diffusers scheduler has its plan ahead of time: use Sampler.plan()".into(),
            )
        })?;
        let (schedule, config) = (*s.schedule(), *s.config());
        let guide = !matches!(config.guidance, dpm_solver::Guidance::None);
        let planner = StepPlanner::new(schedule, config)?;
        Ok(StepPlan {
            planner,
            _sampler: sampler,
            batch,
            guide,
        })
    }

    /// Buffers the plan may name (`x`, output, guide, noise, then the solver's slots).
    #[wasm_bindgen(getter, js_name = numBuffers)]
    pub fn num_buffers(&self) -> usize {
        self.planner.buffers()
    }

    /// Samples in `x` (the norm is per sample).
    #[wasm_bindgen(getter)]
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Whether the operations read buffer 2 (guidance: the unconditional output, or the
    /// classifier gradient).
    #[wasm_bindgen(getter)]
    pub fn guide(&self) -> bool {
        self.guide
    }

    /// Evaluations planned so far.
    #[wasm_bindgen(getter)]
    pub fn nfe(&self) -> usize {
        self.planner.nfe()
    }

    /// The next evaluation, or `null` when the run is finished (the result is buffer 0).
    /// Throws while a trial waits for `tellError`.
    #[wasm_bindgen(unchecked_return_type = "PlanEval | null")]
    pub fn next(&mut self) -> core::result::Result<JsValue, Error> {
        let Some(s) = self.planner.next()? else {
            return Ok(JsValue::NULL);
        };
        let o = Object::new();
        set(&o, "index", s.step.index as f64);
        set(&o, "input", s.step.input.index() as f64);
        set(&o, "tModel", s.step.t_model as f64);
        set(&o, "ops", ops_js(s.step.ops));
        set(
            &o,
            "norm",
            s.norm.map_or(JsValue::NULL, |n| norm_js(n).into()),
        );
        Ok(o.into())
    }

    /// The error norm `E` the executor computed for the trial the last evaluation completed:
    /// accepts (`E <= 1`) or rejects it and sizes the next step as the CPU `Sampler` does.
    #[wasm_bindgen(js_name = tellError, unchecked_return_type = "PlanDecision")]
    pub fn tell_error(&mut self, e: f32) -> core::result::Result<JsValue, Error> {
        let d = self.planner.tell_error(e)?;
        let o = Object::new();
        set(&o, "ops", ops_js(d.ops));
        set(&o, "report", report_js(&d.report));
        Ok(o.into())
    }
}
