//! `Sampler.plan()`: a run's `dpm_solver::plan` as flat typed arrays, the form a GPU executor
//! uploads once (the package's `webgpu.js` applies it with a WGSL compute shader).

use super::js::set;
use dpm_solver::plan::{PlanInfo, Step, FIXED_BUFFERS};
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
"#;

/// A plan being flattened.
#[derive(Default)]
pub(crate) struct PlanArrays {
    inputs: Vec<u32>,
    t_model: Vec<f32>,
    step_ops: Vec<u32>,
    op_dst: Vec<u32>,
    op_clamp: Vec<f32>,
    op_terms: Vec<u32>,
    term_buf: Vec<u32>,
    term_weight: Vec<f32>,
}

impl PlanArrays {
    /// Appends one evaluation.
    pub fn push(&mut self, s: &Step<'_, f32>) {
        self.inputs.push(s.input.index() as u32);
        self.t_model.push(s.t_model);
        self.step_ops.push(self.op_dst.len() as u32);
        for op in s.ops {
            self.op_dst.push(op.dst.index() as u32);
            self.op_clamp.push(op.clamp.unwrap_or(0.0));
            self.op_terms.push(self.term_buf.len() as u32);
            for &(b, w) in op.terms() {
                self.term_buf.push(b.index() as u32);
                self.term_weight.push(w);
            }
        }
    }

    /// The `SamplerPlan` object.
    pub fn into_js(mut self, info: &PlanInfo, batch: usize, scheduler: bool) -> JsValue {
        self.step_ops.push(self.op_dst.len() as u32);
        self.op_terms.push(self.term_buf.len() as u32);
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
        set(&o, "opDst", Uint32Array::from(&self.op_dst[..]));
        set(&o, "opClamp", Float32Array::from(&self.op_clamp[..]));
        set(&o, "opTerms", Uint32Array::from(&self.op_terms[..]));
        set(&o, "termBuf", Uint32Array::from(&self.term_buf[..]));
        set(&o, "termWeight", Float32Array::from(&self.term_weight[..]));
        o.into()
    }
}
