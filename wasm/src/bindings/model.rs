//! `Model`: the tract-onnx pipeline for JavaScript: load an ONNX UNet from bytes, read its
//! metadata, evaluate it, or generate a batch with a per-step progress callback that can
//! cancel. A newtype over [`crate::pipeline::Pipeline`].

use super::diffusers::{scheduler_config, ConfigLists};
use super::error::{opt_err, Error, Result};
use super::js::{core_options, keep_in, list_slots, option_error, set, Opts};
use super::metadata::metadata_js;
use super::sampler::report_js;
use crate::pipeline::{
    Conditioning, ControlFlow, GenerateOptions, Generation, Pipeline, PipelineError, Progress,
};
use core::sync::atomic::{AtomicU32, Ordering};
use js_sys::{Array, Float32Array, Function, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(typescript_custom_section)]
const TS_MODEL: &'static str = r#"
/**
 * Options of `Model.generate`; all optional (DPM-Solver++(2M), 10 NFE, logSNR, batch 1,
 * unconditional, seed 0). The DPM-Solver options are read by the core's options module as
 * `Sampler` reads them (same names, the same case rule), except `prediction` and `direction`;
 * `guidance` and `batch` here are the pipeline's.
 */
export interface GenerateOptions {
  /** Image i starts from gaussianNoise(seed, imageLength, firstImage + i). */
  seed?: number;
  /**
   * Index of this batch's first image in a larger batch (default 0, at most 2^31): image i uses
   * noise stream firstImage + i (starting noise, and an SDE scheduler's step noise), so a batch
   * generated in parts (createWorker's `workers` pool) gives the same images as the whole.
   */
  firstImage?: number;
  batch?: number;
  /** One class for all images, one per image, or null/undefined for unconditional. */
  class?: number | number[] | null;
  /** Classifier-free guidance scale (1 = conditional model alone; not 1 on an unconditional model throws). */
  guidance?: number;
  algorithm?: "dpmsolver" | "dpmsolver++";
  method?: "singlestep" | "multistep" | "singlestep_fixed" | "adaptive";
  order?: number;
  steps?: number;
  /** On a flow-matching model logSNR and Karras start at t = 1 - 1/N; the others at t = 1 (pure noise). */
  spacing?: SpacingOption;
  tStart?: number;
  tEnd?: number;
  solverType?: "dpmsolver" | "taylor";
  thresholding?: null | { ratio?: number; maxVal?: number };
  lowerOrderFinal?: boolean;
  denoiseToZero?: boolean;
  multistepVariant?: "reference" | "full_order";
  adaptive?: { atol?: number; rtol?: number; theta?: number; tErr?: number; hInit?: number; maxNfe?: number; reuseRejectedEval?: boolean };
  /** Clamp the result to the value range (default true). */
  clip?: boolean;
  /** x_T for all images instead of the seeded noise. */
  noise?: Float32Array;
  /** An aborted signal cancels the run: `generate` checks it first and after every step, `generateAsync` before every evaluation. */
  signal?: AbortSignal;
  /**
   * A diffusers scheduler instead of the DPM-Solver options (algorithm ... adaptive), as for
   * `Sampler`: a class name with `schedulerConfig`, or a config object with `_class_name`. Its
   * training schedule and prediction_type come from the model; the SDE variant's step noise is
   * seeded by `seed`.
   */
  scheduler?: DiffusersSchedulerName | ({ _class_name: DiffusersSchedulerName } & Record<string, unknown>) | SchedulerConfigText;
  schedulerConfig?: Record<string, unknown> | SchedulerConfigText;
}

/** What the progress callback receives after each completed step. */
export interface GenerateProgress {
  step: number;
  nfe: number;
  /** null for the adaptive method. */
  expectedNfe: number | null;
  t: number;
  /** The x0 estimate of all images at this step (NCHW, not clipped). */
  x0: Float32Array;
  batch: number;
  report: StepReport;
}

/** Return false (or abort the signal) to cancel; the call then throws an Error named "AbortError". */
export type ProgressCallback = (p: GenerateProgress) => boolean | void;

export interface Generation {
  /** batch images, NCHW, in valueRange. */
  images: Float32Array;
  batch: number;
  channels: number;
  height: number;
  width: number;
  valueRange: [number, number];
  /** The label fed to the network for each image (the null class when unconditional). */
  labels: number[];
  nfe: number;
  stats: SamplerStats;
  /** Network passes in images (nfe x batch, doubled under guidance). */
  networkImages: number;
}
"#;

/// An ONNX diffusion model and the DPM-Solver pipeline around it.
///
/// What a model must be (its inputs and outputs, every metadata key and load option with its
/// accepted values and default, export recipes for torch and diffusers): MODEL.md in the
/// dpm-solver repository (`wasm/MODEL.md`). A model without the metadata loads with
/// `new Model(bytes, { metadata, schedulerConfig, externalData })`.
#[wasm_bindgen]
pub struct Model {
    pub(super) pipe: Pipeline,
    /// Tells this model's runs (`Model.begin`) from other models'.
    pub(super) id: u32,
}

static NEXT_MODEL_ID: AtomicU32 = AtomicU32::new(1);

/// A fresh id for a `Model` (runs remember which model they belong to).
fn next_model_id() -> u32 {
    NEXT_MODEL_ID.fetch_add(1, Ordering::Relaxed)
}

impl From<PipelineError> for Error {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Cancelled { .. } => Error::Cancelled(e.to_string()),
            PipelineError::Solver(s) => Error::Solver(s),
            e => Error::Pipeline(e.to_string()),
        }
    }
}

impl From<PipelineError> for Box<Error> {
    fn from(e: PipelineError) -> Self {
        Box::new(e.into())
    }
}

/// The `generate` options that are the pipeline's own; every other key is a DPM-Solver option
/// of the core's options module, except [`NOT_HERE`].
pub(super) const GENERATE_KEYS: &[&str] = &[
    "seed",
    "firstImage",
    "batch",
    "class",
    "guidance",
    "clip",
    "noise",
    "signal",
    "scheduler",
    "schedulerConfig",
];

/// Core options that the model decides (`prediction`) or that make no sense for drawing
/// images (`direction`).
const NOT_HERE: &[&str] = &["prediction", "direction"];

/// Where the lists of numbers of `generate` options live while the options borrow them (a
/// custom spacing's times, a diffusers scheduler config with its lists); the run started from
/// the options keeps copies.
pub(super) struct OptionLists {
    slots: Vec<Option<Vec<f32>>>,
    scheduler: ConfigLists,
}

impl OptionLists {
    /// Room for the lists of the options object `o` wraps.
    pub fn new(o: &Opts) -> Self {
        OptionLists {
            slots: list_slots(o.value().unwrap_or(&JsValue::UNDEFINED)),
            scheduler: ConfigLists::default(),
        }
    }
}

/// Parses `generate` options (`o` wraps the object, its keys unchecked); their lists are kept
/// in `lists`.
pub(super) fn generate_options<'b>(
    o: &Opts,
    lists: &'b mut OptionLists,
) -> Result<GenerateOptions<'b>> {
    let OptionLists { slots, scheduler } = lists;
    let mut free = slots.iter_mut();
    let mut g = GenerateOptions::default();
    let mut solver = dpm_solver::Options::from_config(g.solver);
    // The DPM-Solver options given (refused beside a diffusers scheduler, `steps` aside).
    let mut dpm_given: Vec<String> = Vec::new();
    let obj = o.value().cloned().unwrap_or(JsValue::UNDEFINED);
    if obj.is_object() {
        for e in js_sys::Object::entries(obj.unchecked_ref::<js_sys::Object>()).iter() {
            let e: Array = e.unchecked_into();
            let k = e.get(0).as_string().unwrap_or_default();
            if GENERATE_KEYS.contains(&k.as_str()) {
                continue;
            }
            if let Some(n) = NOT_HERE
                .iter()
                .find(|n| dpm_solver::options::same_name(&k, n))
            {
                return opt_err(format!(
                    "options.{k} does not apply to Model.generate ({})",
                    if *n == "prediction" {
                        "the model's metadata says what it predicts"
                    } else {
                        "it draws images from noise"
                    }
                ));
            }
            let v = e.get(1);
            if !(v.is_undefined() || v.is_null() || dpm_solver::options::same_name(&k, "steps")) {
                dpm_given.push(k);
            }
        }
    }
    core_options(&obj, &mut solver, GENERATE_KEYS, &mut |v| {
        keep_in(&mut free, v)
    })?;
    g.solver = solver.config().map_err(|e| option_error(&e, &[]))?;
    if let Some((cfg, _ignored)) = scheduler_config(o, scheduler)? {
        if !dpm_given.is_empty() {
            return opt_err(format!(
                "option(s) {} do not apply with options.scheduler: a diffusers scheduler takes \
                 its settings by diffusers' names in the scheduler config",
                dpm_given.join(", ")
            ));
        }
        g.scheduler = Some(cfg);
    }
    if let Some(s) = o.num("seed")? {
        g.seed = super::limits::safe_integer(s, "options.seed")?;
    }
    if let Some(f) = o.uint("firstImage", 1 << 31)? {
        g.first_image = f;
    }
    if let Some(b) = o.uint("batch", 4096)? {
        g.batch = b;
    }
    if let Some(c) = o.get("class")? {
        g.conditioning = if let Some(n) = c.as_f64() {
            if !(n >= 0.0 && n.fract() == 0.0) {
                return opt_err(format!(
                    "options.class must be a non-negative integer, got {n}"
                ));
            }
            Conditioning::Class(n as usize)
        } else {
            let v = super::js::numbers(&c, "options.class")?;
            if v.iter().any(|x| !(*x >= 0.0 && x.fract() == 0.0)) {
                return opt_err("options.class entries must be non-negative integers");
            }
            Conditioning::PerImage(v.into_iter().map(|x| x as usize).collect())
        };
    }
    if let Some(s) = o.num("guidance")? {
        g.guidance_scale = s as f32;
    }
    if let Some(b) = o.boolean("clip")? {
        g.clip = b;
    }
    Ok(g)
}

#[wasm_bindgen]
impl Model {
    /// Loads an ONNX diffusion model from its bytes, with what the file does not say as
    /// `options` (metadata, a diffusers scheduler config, the external-data side file); the
    /// model contract, every key and the export recipes: MODEL.md. Throws on malformed ONNX,
    /// a fact missing (one message naming them all) or an interface that does not fit.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | ArrayBuffer | number[]")]
        bytes: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ModelLoadOptions")] options: Option<
            JsValue,
        >,
    ) -> core::result::Result<Model, Error> {
        let _guard = super::limits::enter()?;
        let bytes = &super::limits::bytes(&bytes, "new Model(bytes)")?[..];
        // Bytes that are clearly something else (an HTML 404 page, JSON, empty) say so.
        if let Some(what) = crate::onnx_info::sniff(bytes) {
            return Err(PipelineError::Onnx(what.into()).into());
        }
        let opts = super::load::load_options(&options.unwrap_or(JsValue::UNDEFINED))?;
        Ok(Model {
            pipe: Pipeline::new(crate::pipeline::DiffusionModel::load(bytes, &opts)?),
            id: next_model_id(),
        })
    }

    /// The model's metadata.
    #[wasm_bindgen(getter, unchecked_return_type = "ModelMetadata")]
    pub fn metadata(&self) -> Object {
        let o = metadata_js(self.pipe.info());
        let (ty, per_image) = self.pipe.model().time_input();
        set(
            &o,
            "timeInput",
            if per_image {
                format!("{ty} [B]")
            } else {
                format!("{ty} (one for the batch)")
            },
        );
        o
    }

    /// Images per run of tract's optimised plan (default 1: tract 0.23.9 is fastest image by
    /// image on this kind of UNet, see wasm/PROFILE.md); larger batches run in chunks of it.
    #[wasm_bindgen(getter, js_name = planBatch)]
    pub fn plan_batch(&self) -> usize {
        self.pipe.model().plan_batch()
    }

    /// Sets the images per plan run (an integer >= 1). Results agree up to float rounding (tract
    /// sums in another order at another batch; bounded by wasm/tests/models.rs), not bit for bit.
    #[wasm_bindgen(setter, js_name = planBatch)]
    pub fn set_plan_batch(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "number")] n: JsValue,
    ) -> core::result::Result<(), Error> {
        let n = super::limits::number(&n);
        if !(n >= 1.0 && n.fract() == 0.0 && n <= 4096.0) {
            return Err(Error::Option(format!(
                "planBatch must be an integer in 1..=4096, got {n}"
            )));
        }
        Ok(self.pipe.model_mut().set_plan_batch(n as usize)?)
    }

    /// Elements of one image (`channels * height * width`).
    #[wasm_bindgen(getter, js_name = imageLength)]
    pub fn image_length(&self) -> usize {
        self.pipe.info().image_len()
    }

    /// One network evaluation: `x` holds B images (NCHW), `t` the network's time input (one
    /// number for all, or one per image; a discrete timestep 0..N-1, fractional allowed), and
    /// `classes` one label per image (one number for all; ignored by unconditional models).
    pub fn run(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array")] x: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number | Float32Array | number[]")] t: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number | Int32Array | number[] | null | undefined")]
        classes: JsValue,
    ) -> core::result::Result<Float32Array, Error> {
        let _guard = super::limits::enter()?;
        let x = &super::limits::floats(&x, "x", super::limits::MAX_SAMPLE_ELEMENTS)?[..];
        let n = self.pipe.info().image_len();
        #[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87, the MSRV is 1.80
        if x.is_empty() || x.len() % n != 0 {
            return Err(Error::Option(format!(
                "x has {} elements, not a whole number of {n}-element images",
                x.len()
            )));
        }
        let b = x.len() / n;
        let t: Vec<f32> = if let Some(v) = t.as_f64() {
            vec![v as f32; b]
        } else {
            super::js::numbers(&t, "t")?
        };
        if t.len() != b {
            return opt_err(format!("t has {} entries for a batch of {b}", t.len()));
        }
        let info = self.pipe.info();
        let classes: Vec<i64> = if classes.is_undefined() || classes.is_null() {
            match (info.num_classes, info.null_class) {
                (0, _) => Vec::new(),
                (_, Some(nc)) => vec![nc; b],
                _ => return opt_err("this model needs class labels"),
            }
        } else if let Some(c) = classes.as_f64() {
            vec![c as i64; b]
        } else {
            let v: Vec<i64> = if let Some(a) = classes.dyn_ref::<js_sys::Int32Array>() {
                a.to_vec().into_iter().map(i64::from).collect()
            } else {
                super::js::numbers(&classes, "classes")?
                    .into_iter()
                    .map(|c| c as i64)
                    .collect()
            };
            v
        };
        let out = self.pipe.model_mut().eval(x, &t, &classes)?;
        Ok(Float32Array::from(&out[..]))
    }

    /// Builds the optimised network for a batch size now (otherwise the first call does).
    pub fn prepare(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "number")] batch: JsValue,
    ) -> core::result::Result<(), Error> {
        let _guard = super::limits::enter()?;
        let batch = super::limits::count(super::limits::number(&batch), "prepare batch", 4096)?;
        Ok(self.pipe.model_mut().prepare(batch)?)
    }

    /// Generates a batch. `onProgress` runs after every step with the x0 estimate; returning
    /// `false` (or aborting `options.signal`) cancels with an `Error` named "AbortError".
    #[wasm_bindgen(unchecked_return_type = "Generation")]
    pub fn generate(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "GenerateOptions")] options: JsValue,
        #[wasm_bindgen(js_name = onProgress, unchecked_optional_param_type = "ProgressCallback")]
        on_progress: Option<Function>,
    ) -> core::result::Result<Object, Error> {
        let _guard = super::limits::enter()?;
        let o = Opts::any(&options, "options")?;
        let mut lists = OptionLists::new(&o);
        let opts = generate_options(&o, &mut lists)?;
        let noise = match o.get("noise")? {
            None => None,
            Some(v) => Some(super::js::numbers(&v, "options.noise")?),
        };
        let signal = o.get("signal")?;
        let aborted = |s: &Option<JsValue>| s.as_ref().is_some_and(is_aborted);
        // An already aborted signal runs nothing.
        if aborted(&signal) {
            return Err(Error::Cancelled(
                PipelineError::Cancelled { nfe: 0 }.to_string(),
            ));
        }
        let mut callback_error: Option<Error> = None;
        let progress = |p: &Progress<'_>| -> ControlFlow<()> {
            if let Some(f) = &on_progress {
                let po = progress_js(p);
                match super::limits::callback(|| f.call1(&JsValue::UNDEFINED, &po)) {
                    Ok(v) if v.as_bool() == Some(false) => return ControlFlow::Break(()),
                    Ok(_) => {}
                    Err(e) => {
                        callback_error = Some(Error::Js(format!(
                            "the progress callback threw: {}",
                            super::error::js_message(&e)
                        )));
                        return ControlFlow::Break(());
                    }
                }
            }
            if aborted(&signal) {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        };
        let res = match noise {
            None => self.pipe.generate(&opts, progress),
            Some(n) => self.pipe.generate_from_noise(n, &opts, progress),
        };
        match res {
            Ok(g) => Ok(generation_js(&g)),
            Err(e) => Err(callback_error.unwrap_or_else(|| e.into())),
        }
    }
}

/// Whether `signal` (an `AbortSignal`) is aborted.
pub(super) fn is_aborted(signal: &JsValue) -> bool {
    js_sys::Reflect::get(signal, &JsValue::from_str("aborted"))
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// A `GenerateProgress` object.
pub(super) fn progress_js(p: &Progress<'_>) -> Object {
    let po = Object::new();
    set(&po, "step", p.report.step as f64);
    set(&po, "nfe", p.nfe as f64);
    set(
        &po,
        "expectedNfe",
        p.expected_nfe.map_or(JsValue::NULL, |n| (n as f64).into()),
    );
    set(&po, "t", p.t as f64);
    set(&po, "x0", Float32Array::from(p.x0));
    set(&po, "batch", p.batch as f64);
    set(&po, "report", report_js(&p.report));
    po
}

/// A `Generation` object.
pub(super) fn generation_js(g: &Generation) -> Object {
    {
        let out = Object::new();
        set(&out, "images", Float32Array::from(&g.images[..]));
        set(&out, "batch", g.batch as f64);
        set(&out, "channels", g.shape.channels as f64);
        set(&out, "height", g.shape.height as f64);
        set(&out, "width", g.shape.width as f64);
        set(
            &out,
            "valueRange",
            Array::of2(
                &(g.value_range.0 as f64).into(),
                &(g.value_range.1 as f64).into(),
            ),
        );
        set(
            &out,
            "labels",
            g.labels
                .iter()
                .map(|&l| JsValue::from_f64(l as f64))
                .collect::<Array>(),
        );
        set(&out, "nfe", g.stats.nfe as f64);
        let st = Object::new();
        set(&st, "nfe", g.stats.nfe as f64);
        set(&st, "nAccept", g.stats.n_accept as f64);
        set(&st, "nReject", g.stats.n_reject as f64);
        set(&out, "stats", st);
        set(&out, "networkImages", g.network_images as f64);
        out
    }
}
