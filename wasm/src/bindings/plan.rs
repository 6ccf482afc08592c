//! `StepPlan`: a DPM-Solver run planned one evaluation at a time, with the adaptive method's
//! error norm (the arrays it hands out: `plan_arrays`).

use super::error::Error;
use super::js::set;
use super::plan_arrays::{norm_js, ops_js};
use super::sampler::{report_js, Sampler};
use dpm_solver::plan::StepPlanner;
use js_sys::{Float32Array, Object};
use wasm_bindgen::prelude::*;

/// A DPM-Solver run planned one evaluation at a time (`dpm_solver::plan::StepPlanner`): any
/// method, including the adaptive one, whose trials end with an error norm the executor
/// computes and hands back with `tellError`. `new StepPlan(options)` takes `Sampler`'s
/// DPM-Solver options (diffusers schedulers have a plan ahead of time: `Sampler.plan()`).
#[wasm_bindgen]
pub struct StepPlan {
    /// The planner, with copies of the schedule's table and a custom spacing's times.
    planner: StepPlanner<'static, f32>,
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
        let sampler = Sampler::new(options, Float32Array::from(&vec![0.0; batch][..]).into())?;
        let s = sampler.dpm().ok_or_else(|| {
            Error::Option(
                "a diffusers scheduler has its plan ahead of time: use Sampler.plan()".into(),
            )
        })?;
        let (schedule, config) = (s.schedule(), s.config());
        let guide = !matches!(config.guidance, dpm_solver::Guidance::None);
        let planner = StepPlanner::new(schedule, config)?.into_owned_lists();
        Ok(StepPlan {
            planner,
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
