//! A run's `dpm_solver::plan` as flat typed arrays (`Sampler.plan()`, `StepPlan`'s decisions),
//! the form a GPU executor uploads (the package's `webgpu.js` applies it with a WGSL compute
//! shader), and the TypeScript shapes of those objects.

use super::js::set;
use dpm_solver::plan::{Buf, ErrorNorm, Op, PlanInfo, Step, FIXED_BUFFERS};
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
pub(super) fn ops_js(ops: &[Op<f32>]) -> Object {
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
pub(super) fn norm_js(n: &ErrorNorm<f32>) -> Object {
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
