//! `Sampler`: the core's ask/tell solver family (`dpm_solver::family::Solver`: DPM-Solver, or
//! a diffusers scheduler) for JavaScript callers that run the network themselves
//! (onnxruntime-web, TensorFlow.js, WebGPU, ...). A newtype over the core's owned solver that
//! forwards; no solver maths lives here.

use super::diffusers::DiffusersSampler;
use super::error::{opt_err, Error, Result};
use super::js::{core_options, keep_in, list_slots, option_error, set, Opts};
use super::limits;
use dpm_solver::family::Solver;
use dpm_solver::model::{convert, Target};
use dpm_solver::{Betas, Config, DiscreteVp, NoiseSchedule, Options, StepKind, StepReport};
use js_sys::{Array, Float32Array, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(typescript_custom_section)]
const TS_SAMPLER: &'static str = r#"
/** A noise schedule. Default: DDPM's `{ type: "discrete", betas: { kind: "linear", start: 1e-4, end: 0.02, n: 1000 } }`. */
export type ScheduleOptions =
  | { type: "discrete"; betas: { kind: "linear" | "scaled_linear"; start: number; end: number; n: number } | { kind: "cosine"; n: number } }
  | { type: "discrete"; betas: Float32Array | Float64Array | number[] }
  | { type: "discrete"; alphasCumprod: Float32Array | Float64Array | number[] }
  | { type: "linear"; beta0?: number; beta1?: number }
  /** Flow matching (rectified flow): alpha = 1 - t, sigma = t; the network's time is n t (default n 1000). */
  | { type: "flow"; n?: number };

/** Time-step spacing: the reference's skip types, Karras, flow matching's shifted times (static `flowShift`, or dynamic from `mu`), or caller-given times (steps + 1 of them, t_start to t_end). */
export type SpacingOption =
  | "logSNR" | "exponential" | "time_uniform" | "time_quadratic" | "karras"
  | { karras: number }
  | { flowShift: number }
  | { mu: number; timeShiftType?: "exponential" | "linear" }
  | Float32Array | Float64Array | number[];

/** Options of `new Sampler(options, xT)`: the DPM-Solver options, or a diffusers scheduler. */
export type SamplerOptions = DpmSolverOptions | DiffusersSchedulerOptions;

/** The text of a diffusers scheduler_config.json (a string starting with "{"), as Python's `json` wrote it: `-Infinity`, `Infinity` and `NaN` are read, which `JSON.parse` rejects. */
export type SchedulerConfigText = string & {};

/** A diffusers class this package reproduces (see core/DIFFUSERS.md). */
export type DiffusersSchedulerName =
  | "DPMSolverMultistepScheduler" | "DPMSolverSinglestepScheduler"
  | "UniPCMultistepScheduler" | "DDIMScheduler" | "FlowMatchEulerDiscreteScheduler";

/**
 * One of diffusers' schedulers, configured by a `scheduler_config.json` passed as-is (diffusers'
 * key names and defaults; keys the class does not take are ignored, as `from_config` ignores
 * them, and listed in `sampler.ignoredKeys`; options not implemented here are refused unless at
 * their defaults). `new Sampler({ scheduler: await (await fetch("scheduler_config.json")).json() }, xT)`
 * uses its `_class_name`; `{ scheduler: "UniPCMultistepScheduler", schedulerConfig: cfg }` loads
 * any class's config into the named one. Requests carry diffusers' integer `timestep`.
 */
export interface DiffusersSchedulerOptions {
  /** A class name, a config object with `_class_name`, or a scheduler_config.json's text as Python wrote it (`-Infinity`, `NaN` accepted). */
  scheduler: DiffusersSchedulerName | ({ _class_name: DiffusersSchedulerName } & Record<string, unknown>) | SchedulerConfigText;
  /** A config object, or its text (Python's JSON). */
  schedulerConfig?: Record<string, unknown> | SchedulerConfigText;
  /** num_inference_steps (default 20). */
  steps?: number;
  /** Number of samples in `xT` (default 1; must divide its length). */
  batch?: number;
  /** Classifier-free guidance, combined as diffusers' pipelines do (answer with `tellCfg`). */
  guidance?: null | { type: "classifier-free"; scale: number };
  /** Seed of the noise the SDE variants (`sde-dpmsolver++`, FlowMatchEuler's `stochastic_sampling`) draw each step (default 0). */
  seed?: number;
  /** `set_timesteps(mu=...)` for `use_dynamic_shifting` (flow-matching models). */
  mu?: number;
}

/**
 * The DPM-Solver options; every field is optional (the reference's `sample()` defaults). Read
 * by the core's options module, as `Model.generate` reads them: names and string values
 * compare ignoring case, `_` and `-` (`lower_order_final` = `lowerOrderFinal`), and diffusers'
 * names are aliases (`num_inference_steps`, `solver_order`, `algorithm_type`,
 * `use_karras_sigmas`, `prediction_type`; see dpm_solver::options).
 */
export interface DpmSolverOptions {
  schedule?: ScheduleOptions;
  /** "dpmsolver++" (default) or "dpmsolver". */
  algorithm?: "dpmsolver" | "dpmsolver++";
  /** "multistep" (default), "singlestep" (DPM-Solver-fast), "singlestep_fixed", "adaptive". */
  method?: "singlestep" | "multistep" | "singlestep_fixed" | "adaptive";
  /** 1..3 (adaptive: 2 or 3); default 2. */
  order?: number;
  /** Number of function evaluations (default 20; ignored by "adaptive"). */
  steps?: number;
  /** Default "time_uniform". */
  spacing?: SpacingOption;
  tStart?: number;
  tEnd?: number;
  /** Default true. */
  lowerOrderFinal?: boolean;
  /** Default false. */
  denoiseToZero?: boolean;
  solverType?: "dpmsolver" | "taylor";
  /** What the network predicts: "noise" (= "epsilon", default), "x_start" (= "sample", "data"), "v" (= "v_prediction"), "score", or flow matching's velocity "flow" (= "flow_prediction": v = eps - x_0). */
  prediction?: "noise" | "epsilon" | "x_start" | "sample" | "data" | "v" | "v_prediction" | "score" | "flow" | "flow_prediction";
  /** Classifier-free guidance (answer with `tellCfg`) or classifier guidance (`tellClassifier`). */
  guidance?: null | { type: "classifier-free"; scale: number } | { type: "classifier"; scale: number };
  /** Dynamic thresholding (DPM-Solver++): defaults ratio 0.995, maxVal 1. */
  thresholding?: null | { ratio?: number; maxVal?: number };
  /** Adaptive method tolerances (defaults atol 0.0078, rtol 0.05, theta 0.9, tErr 1e-5, hInit 0.05, maxNfe 10000). */
  adaptive?: { atol?: number; rtol?: number; theta?: number; tErr?: number; hInit?: number; maxNfe?: number; reuseRejectedEval?: boolean };
  /** "reference" (default, as dpm_solver_pytorch / diffusers) or "full_order" (order-3 multistep at full order). */
  multistepVariant?: "reference" | "full_order";
  /** Number of samples in `xT` (default 1; must divide its length). */
  batch?: number;
  /** "sample" (default: noise to data) or "invert" (data to noise). */
  direction?: "sample" | "invert";
}

/** A pending network evaluation: run the model at (x, tModel) and answer with `tell`. */
export interface EvalRequest {
  /** The point to evaluate at (a copy; length = xT.length). */
  x: Float32Array;
  /** The network's time input: 1000 (t - 1/N) for discrete schedules (0..999), t for continuous ones. */
  tModel: number;
  /** Solver time t in (0, 1]. */
  t: number;
  alpha: number;
  sigma: number;
  /** 0-based index of this evaluation. */
  index: number;
  /** diffusers' timestep (diffusers schedulers only; an integer except for FlowMatchEuler; tModel = 1000 timestep / num_train_timesteps). */
  timestep?: number;
}

/** What a completed (or rejected adaptive) step was. */
export interface StepReport {
  step: number;
  kind: "solver" | "denoise_to_zero";
  tFrom: number;
  tTo: number;
  h: number;
  order: number;
  accepted: boolean;
  /** Adaptive error estimate, or null. */
  error: number | null;
  nfe: number;
}

export interface SamplerStats {
  nfe: number;
  nAccept: number;
  nReject: number;
}
"#;

/// DPM-Solver / DPM-Solver++ as an ask/tell state machine, or (with `scheduler`) one of
/// diffusers' schedulers. The network is yours:
/// `while ((req = s.ask())) s.tell(model(req.x, req.tModel));` then read `s.x`.
#[wasm_bindgen]
pub struct Sampler {
    /// The core's solver, owning `x`, its buffers and copies of the lists of the options.
    solver: Solver<f32>,
    /// A diffusers scheduler's class, ignored keys and configuration (`None`: DPM-Solver).
    diffusers: Option<Box<DiffusersSampler>>,
    reports: Vec<StepReport<f32>>,
    batch: usize,
}

/// Parses `options.schedule` into a schedule whose table is computed into `table`.
fn schedule(v: Option<JsValue>, table: &mut Vec<f32>) -> Result<NoiseSchedule<'_, f32>> {
    // No schedule: DDPM's linear betas, read as `{ type: "discrete", betas: {} }` is.
    let default = v.is_none();
    let v = v.unwrap_or_else(|| Object::new().into());
    let o = Opts::new(
        &v,
        "schedule",
        &[
            "type",
            "betas",
            "alphasCumprod",
            "beta0",
            "beta1",
            "beta_0",
            "beta_1",
            "n",
        ],
    )?;
    const MAX_N: usize = 1 << 20;
    match o.pick("type", &["discrete", "linear", "flow"])? {
        Some(2) => Ok(NoiseSchedule::flow(o.uint("n", 1 << 24)?.unwrap_or(1000))?),
        Some(1) => {
            let b0 = o.num("beta0")?.or(o.num("beta_0")?).unwrap_or(0.1) as f32;
            let b1 = o.num("beta1")?.or(o.num("beta_1")?).unwrap_or(20.0) as f32;
            Ok(NoiseSchedule::linear_vp(b0, b1)?)
        }
        None if !default => opt_err("schedule.type is required ('discrete', 'linear' or 'flow')"),
        _ => {
            if let Some(ac) = o.get("alphasCumprod")? {
                let ac = super::js::numbers(&ac, "schedule.alphasCumprod")?;
                *table = vec![0.0; ac.len()];
                let storage = &mut table[..];
                return Ok(NoiseSchedule::Discrete(DiscreteVp::from_alphas_cumprod(
                    &ac, storage,
                )?));
            }
            let b = match o.get("betas")? {
                Some(b) => b,
                None if default => Object::new().into(),
                None => return opt_err("a discrete schedule needs 'betas' or 'alphasCumprod'"),
            };
            if js_sys::Array::is_array(&b)
                || b.is_instance_of::<js_sys::Float32Array>()
                || b.is_instance_of::<js_sys::Float64Array>()
            {
                let betas = super::js::numbers(&b, "schedule.betas")?;
                *table = vec![0.0; betas.len()];
                return Ok(NoiseSchedule::Discrete(DiscreteVp::from_beta_table(
                    &betas, table,
                )?));
            }
            let bo = Opts::new(&b, "schedule.betas", &["kind", "start", "end", "n"])?;
            let n = bo.uint("n", MAX_N)?.unwrap_or(1000);
            let betas = match bo.pick("kind", &["linear", "scaled_linear", "cosine"])? {
                Some(2) => Betas::Cosine { n },
                Some(1) => Betas::ScaledLinear {
                    start: bo.num("start")?.unwrap_or(0.00085) as f32,
                    end: bo.num("end")?.unwrap_or(0.012) as f32,
                    n,
                },
                _ => Betas::Linear {
                    start: bo.num("start")?.unwrap_or(1e-4) as f32,
                    end: bo.num("end")?.unwrap_or(0.02) as f32,
                    n,
                },
            };
            *table = vec![0.0; n];
            Ok(NoiseSchedule::Discrete(DiscreteVp::from_betas(
                &betas, table,
            )?))
        }
    }
}

/// Parses the options object: `schedule` here (its table computed into `table`), every other
/// key through the core's options module (its lists of numbers kept in `slots`).
fn parse_options<'b>(
    options: &JsValue,
    slots: &'b mut [Option<Vec<f32>>],
    table: &'b mut Vec<f32>,
) -> Result<(NoiseSchedule<'b, f32>, Config<'b, f32>)> {
    let mut o = Options::<f32>::new();
    let mut free = slots.iter_mut();
    core_options(options, &mut o, &["schedule"], &mut |v| {
        keep_in(&mut free, v)
    })?;
    let sched = if options.is_object() {
        js_sys::Reflect::get(options, &JsValue::from_str("schedule"))
            .ok()
            .filter(|v| !(v.is_undefined() || v.is_null()))
    } else {
        None
    };
    let config = o.config().map_err(|e| option_error(&e, &[]))?;
    Ok((schedule(sched, table)?, config))
}

/// A step report as a plain JS object.
pub(crate) fn report_js(r: &StepReport<f32>) -> Object {
    let o = Object::new();
    set(&o, "step", r.step as f64);
    set(
        &o,
        "kind",
        match r.kind {
            StepKind::Solver => "solver",
            StepKind::DenoiseToZero => "denoise_to_zero",
        },
    );
    set(&o, "tFrom", r.t_from as f64);
    set(&o, "tTo", r.t_to as f64);
    set(&o, "h", r.h as f64);
    set(&o, "order", r.order as f64);
    set(&o, "accepted", r.accepted);
    set(
        &o,
        "error",
        r.error
            .map_or(JsValue::NULL, |e| JsValue::from_f64(e as f64)),
    );
    set(&o, "nfe", r.nfe as f64);
    o
}

impl Sampler {
    fn record(&mut self, r: Option<StepReport<f32>>) -> JsValue {
        match r {
            Some(r) => {
                self.reports.push(r);
                report_js(&r).into()
            }
            None => JsValue::NULL,
        }
    }

    /// The DPM-Solver sampler, or `None` for a diffusers scheduler (`StepPlan` plans it).
    pub(crate) fn dpm(&self) -> Option<&dpm_solver::OwnedSampler<f32>> {
        self.solver.sampler()
    }
}

#[wasm_bindgen]
impl Sampler {
    /// Validates `options` and starts from `xT` (the noise, `batch` samples concatenated).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "SamplerOptions")] options: JsValue,
        #[wasm_bindgen(js_name = "xT", unchecked_param_type = "Float32Array")] x_t: JsValue,
    ) -> core::result::Result<Sampler, Error> {
        let _guard = limits::enter()?;
        let n = limits::length(&x_t, "xT", limits::MAX_SAMPLE_ELEMENTS)?;
        let scheduler = if options.is_object() {
            js_sys::Reflect::get(&options, &JsValue::from_str("scheduler")).unwrap_or_default()
        } else {
            JsValue::UNDEFINED
        };
        if !(scheduler.is_undefined() || scheduler.is_null()) {
            let x_t = limits::floats(&x_t, "xT", limits::MAX_SAMPLE_ELEMENTS)?;
            return Sampler::new_diffusers(&options, &x_t);
        }
        let (mut slots, mut table) = (list_slots(&options), Vec::new());
        let (sched, cfg) = parse_options(&options, &mut slots, &mut table)?;
        let batch = cfg.batch;
        let need = cfg.checked_scratch_len(n)?;
        limits::check_bytes(&[n, need], "new Sampler")?;
        // Copied into wasm memory only now that the sizes are known to be acceptable.
        let x_t = limits::floats(&x_t, "xT", limits::MAX_SAMPLE_ELEMENTS)?;
        // The solver owns `x`, its scratch and copies of the schedule's table and a custom
        // spacing's times.
        Ok(Sampler {
            solver: Solver::dpm(sched, cfg, x_t)?,
            diffusers: None,
            reports: Vec::new(),
            batch,
        })
    }

    /// The whole run as coefficients for another executor (the package's `webgpu.js`): every
    /// evaluation's input buffer, model time and the elementwise operations
    /// `dst = sum w src` to apply to its output (see `dpm_solver::plan` for the buffers).
    /// Independent of the sampler's progress. Throws for the adaptive method (plan it with
    /// `StepPlan`) and dynamic thresholding, which have no plan ahead of time.
    #[wasm_bindgen(unchecked_return_type = "SamplerPlan")]
    pub fn plan(&self) -> core::result::Result<JsValue, Error> {
        let mut p = super::plan_arrays::PlanArrays::default();
        let info = match (&self.diffusers, self.solver.sampler()) {
            (Some(d), _) => d.plan(|st| p.push(st))?,
            (None, Some(s)) => {
                let config = s.config();
                if config.method == dpm_solver::Method::Adaptive {
                    return Err(Error::Option(
                        "the adaptive method has no plan ahead of time (its steps depend on the error norm): plan it step by step with new StepPlan(options)".into(),
                    ));
                }
                dpm_solver::plan::sampler_plan(s.schedule(), config, |st| p.push(st))?
            }
            (None, None) => return Err(dpm_solver::Error::Finished.into()),
        };
        Ok(p.into_js(&info, self.batch, self.scheduler().is_some()))
    }

    /// The pending evaluation, or `null` when sampling is finished (read `x`).
    #[wasm_bindgen(unchecked_return_type = "EvalRequest | null")]
    pub fn ask(&self) -> JsValue {
        match self.solver.ask() {
            None => JsValue::NULL,
            Some(r) => {
                let o = Object::new();
                set(&o, "x", Float32Array::from(r.x));
                set(&o, "tModel", r.t_model as f64);
                set(&o, "t", r.t as f64);
                set(&o, "alpha", r.alpha as f64);
                set(&o, "sigma", r.sigma as f64);
                set(&o, "index", r.index as f64);
                if let Some(ts) = r.timestep {
                    set(&o, "timestep", ts as f64);
                }
                o.into()
            }
        }
    }

    /// The network output at the pending request (unguided). Returns the report of the step it
    /// completed, or `null` (an intermediate stage).
    #[wasm_bindgen(unchecked_return_type = "StepReport | null")]
    pub fn tell(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array")] output: JsValue,
    ) -> core::result::Result<JsValue, Error> {
        let _guard = limits::enter()?;
        let output = &self.output_arg(&output, "output")?[..];
        let r = self.solver.tell(output)?;
        Ok(self.record(r))
    }

    /// Classifier-free guidance: the conditional and unconditional outputs.
    #[wasm_bindgen(js_name = tellCfg, unchecked_return_type = "StepReport | null")]
    pub fn tell_cfg(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array")] cond: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Float32Array")] uncond: JsValue,
    ) -> core::result::Result<JsValue, Error> {
        let _guard = limits::enter()?;
        let cond = &self.output_arg(&cond, "cond")?[..];
        let uncond = &self.output_arg(&uncond, "uncond")?[..];
        let r = self.solver.tell_cfg(cond, uncond)?;
        Ok(self.record(r))
    }

    /// Classifier guidance: the output and `grad_x log p(class | x_t)` (DPM-Solver options
    /// only).
    #[wasm_bindgen(js_name = tellClassifier, unchecked_return_type = "StepReport | null")]
    pub fn tell_classifier(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array")] output: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Float32Array")] grad: JsValue,
    ) -> core::result::Result<JsValue, Error> {
        let _guard = limits::enter()?;
        let output = &self.output_arg(&output, "output")?[..];
        let grad = &self.output_arg(&grad, "grad")?[..];
        let r = self.solver.tell_classifier(output, grad)?;
        Ok(self.record(r))
    }

    /// The data prediction `x_0` implied by `output` at the pending request (a preview of the
    /// final sample); call it before `tell`.
    #[wasm_bindgen(js_name = predictX0)]
    pub fn predict_x0(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array")] output: JsValue,
    ) -> core::result::Result<Float32Array, Error> {
        let _guard = limits::enter()?;
        let output = &self.output_arg(&output, "output")?[..];
        let Some(r) = self.solver.ask() else {
            return Err(dpm_solver::Error::Finished.into());
        };
        let prediction = self.solver.prediction();
        let mut dst = vec![0.0f32; r.x.len()];
        convert(
            prediction,
            Target::Data,
            r.alpha,
            r.sigma,
            r.x,
            output,
            &mut dst,
        )?;
        Ok(Float32Array::from(&dst[..]))
    }

    /// The sample: the start before the run, the result after it (a copy).
    #[wasm_bindgen(getter)]
    pub fn x(&self) -> Float32Array {
        Float32Array::from(self.solver.x())
    }

    /// Network evaluations so far (a classifier-free pair counts once).
    #[wasm_bindgen(getter)]
    pub fn nfe(&self) -> usize {
        self.solver.nfe()
    }

    /// Whether sampling is finished.
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.solver.is_done()
    }

    /// Number of samples in `x`.
    #[wasm_bindgen(getter)]
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// `{ nfe, nAccept, nReject }`.
    #[wasm_bindgen(getter, unchecked_return_type = "SamplerStats")]
    pub fn stats(&self) -> JsValue {
        let s = self.solver.stats();
        let o = Object::new();
        set(&o, "nfe", s.nfe as f64);
        set(&o, "nAccept", s.n_accept as f64);
        set(&o, "nReject", s.n_reject as f64);
        o.into()
    }

    /// Every step report so far, in order.
    #[wasm_bindgen(getter, unchecked_return_type = "StepReport[]")]
    pub fn reports(&self) -> Array {
        self.reports.iter().map(report_js).collect()
    }

    /// `[tStart, tEnd]` with the defaults resolved.
    #[wasm_bindgen(getter, js_name = timeRange, unchecked_return_type = "[number, number]")]
    pub fn time_range(&self) -> Array {
        let (a, b) = self.solver.time_range();
        Array::of2(&JsValue::from_f64(a as f64), &JsValue::from_f64(b as f64))
    }

    /// The diffusers class in use (`"DPMSolverMultistepScheduler"`, ...), or `null` for the
    /// DPM-Solver options.
    #[wasm_bindgen(getter)]
    pub fn scheduler(&self) -> Option<String> {
        self.diffusers.as_ref().map(|d| d.class_name().to_string())
    }

    /// diffusers' `scheduler.timesteps` (integers, floats for FlowMatchEuler), or `null` for
    /// the DPM-Solver options.
    #[wasm_bindgen(getter, unchecked_return_type = "number[] | null")]
    pub fn timesteps(&self) -> JsValue {
        match self.solver.scheduler() {
            None => JsValue::NULL,
            Some(s) => number_array(s.times()).into(),
        }
    }

    /// diffusers' whole `scheduler.sigmas` (float32 values, the final sigma included), or
    /// `null` for the DPM-Solver options.
    #[wasm_bindgen(getter, unchecked_return_type = "number[] | null")]
    pub fn sigmas(&self) -> JsValue {
        match self.solver.scheduler() {
            None => JsValue::NULL,
            Some(s) => number_array(&s.sigmas_with_final().collect::<Vec<_>>()).into(),
        }
    }

    /// Keys of the scheduler config that the class does not take and were ignored, as
    /// diffusers' `from_config` ignores them (another scheduler's options, `_class_name`, ...).
    #[wasm_bindgen(getter, js_name = ignoredKeys, unchecked_return_type = "string[]")]
    pub fn ignored_keys(&self) -> Array {
        match &self.diffusers {
            None => Array::new(),
            Some(d) => d
                .ignored_keys()
                .iter()
                .map(|k| JsValue::from_str(k))
                .collect(),
        }
    }
}

impl Sampler {
    /// A model output argument: required, at most as long as `x` (a longer one is a length
    /// error the core reports; refusing it here avoids copying an arbitrary array).
    fn output_arg(&self, v: &JsValue, what: &str) -> Result<Vec<f32>> {
        limits::floats(v, what, self.solver.x().len().max(1))
    }

    fn new_diffusers(options: &JsValue, x_t: &[f32]) -> core::result::Result<Sampler, Error> {
        let o = Opts::new(options, "options", super::diffusers::KEYS).map_err(|_| {
            // The keys not allowed beside `scheduler`, joined as they are found (no list).
            let mut extra = String::new();
            for k in js_sys::Object::keys(options.unchecked_ref::<Object>()).iter() {
                let k = k.as_string().unwrap_or_default();
                if !super::diffusers::KEYS.contains(&k.as_str()) {
                    if !extra.is_empty() {
                        extra.push_str(", ");
                    }
                    extra.push_str(&k);
                }
            }
            Error::Option(format!(
                "option(s) {extra} do not apply with options.scheduler: a diffusers scheduler \
                 takes its settings by diffusers' names in the scheduler config (allowed beside \
                 it: {})",
                crate::text::join(super::diffusers::KEYS, ", ")
            ))
        })?;
        let batch = o.uint("batch", x_t.len().max(1))?.unwrap_or(1);
        let (solver, d) = DiffusersSampler::new(&o, x_t, batch)?;
        Ok(Sampler {
            solver,
            diffusers: Some(Box::new(d)),
            reports: Vec::new(),
            batch,
        })
    }
}

/// A JS array of numbers (one copy of the loop for `timesteps` and `sigmas`).
fn number_array(v: &[f32]) -> Array {
    let a = Array::new();
    for &x in v {
        a.push(&JsValue::from_f64(x as f64));
    }
    a
}

/// `length` standard normals from the core's seeded generator (PCG32 + Box-Muller; the same
/// seed gives the same noise on every platform). `stream` selects an independent sequence.
#[wasm_bindgen(js_name = gaussianNoise)]
pub fn gaussian_noise(
    #[wasm_bindgen(unchecked_param_type = "number")] seed: JsValue,
    #[wasm_bindgen(unchecked_param_type = "number")] length: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "number")] stream: Option<JsValue>,
) -> core::result::Result<Float32Array, Error> {
    let _guard = limits::enter()?;
    let (seed, length) = (limits::number(&seed), limits::number(&length));
    let stream = stream.filter(|s| !s.is_undefined() && !s.is_null());
    let stream = stream.map(|s| limits::number(&s));
    let length = limits::count(length, "gaussianNoise length", limits::MAX_NOISE_LENGTH)?;
    let mut rng = dpm_solver::rng::NoiseRng::with_stream(
        limits::safe_integer(seed, "seed")?,
        limits::safe_integer(stream.unwrap_or(0.0), "stream")?,
    );
    let mut out = vec![0.0f32; length];
    rng.fill_gaussian(&mut out);
    Ok(Float32Array::from(&out[..]))
}
