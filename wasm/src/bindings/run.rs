//! `GenerationRun`: a `Model` generation made one network evaluation at a time
//! (`model.begin(options)`, then `run.step(model)` until it reports `done`, then
//! `run.finish()`), so JavaScript can give its event loop back between evaluations: progress
//! messages go out and an `AbortSignal` is seen while the run is on (the package's
//! `generateAsync` is this loop). A newtype over [`crate::pipeline::Run`].

use super::error::Error;
use super::js::{set, Opts};
use super::model::{generate_options, generation_js, progress_js, Model, OptionLists};
use crate::pipeline::{Run, Step};
use js_sys::Object;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_RUN: &'static str = r#"
/** What `GenerationRun.step` did: one network evaluation, or nothing when `done`. */
export interface GenerationStep {
  /** The run is over (no evaluation was made): call `finish()`. */
  done: boolean;
  /** Network evaluations so far (a guided pair counts once). */
  nfe: number;
  /** Evaluations the run will make (null for the adaptive method). */
  expectedNfe: number | null;
  /** Set when this evaluation completed a solver step: the x0 preview and the step report. */
  progress: GenerateProgress | null;
}
"#;

/// A generation in progress on a `Model` (from `model.begin(options)`).
#[wasm_bindgen]
pub struct GenerationRun {
    /// The pipeline's run, which owns its solver and buffers (`None` once finished).
    run: Option<Run>,
    model_id: u32,
}

#[wasm_bindgen]
impl Model {
    /// Starts a generation with `generate`'s options (the `signal` key is accepted and left
    /// to the caller) and prepares the network; nothing is evaluated yet.
    pub fn begin(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "GenerateOptions")] options: JsValue,
    ) -> core::result::Result<GenerationRun, Error> {
        let _guard = super::limits::enter()?;
        let o = Opts::any(&options, "options")?;
        let mut lists = OptionLists::new(&o);
        let opts = generate_options(&o, &mut lists)?;
        let noise = match o.get("noise")? {
            None => self.pipe.seeded_noise(&opts),
            Some(v) => super::js::numbers(&v, "options.noise")?,
        };
        // The run keeps copies of what it needs of the options.
        let run = self.pipe.start(noise, &opts)?;
        Ok(GenerationRun {
            run: Some(run),
            model_id: self.id,
        })
    }
}

#[wasm_bindgen]
impl GenerationRun {
    /// Makes the next network evaluation on `model` (the one that began the run).
    #[wasm_bindgen(unchecked_return_type = "GenerationStep")]
    pub fn step(&mut self, model: &mut Model) -> core::result::Result<Object, Error> {
        let _guard = super::limits::enter()?;
        if model.id != self.model_id {
            return Err(Error::Option("this run belongs to another Model".into()));
        }
        let run = self
            .run
            .as_mut()
            .ok_or_else(|| Error::Option("the run is finished".into()))?;
        let o = Object::new();
        let expected = run.expected_nfe();
        let progress = match run.step(model.pipe.model_mut())? {
            Step::Done => {
                set(&o, "done", true);
                JsValue::NULL
            }
            Step::Evaluated => {
                set(&o, "done", false);
                JsValue::NULL
            }
            Step::Completed(p) => {
                set(&o, "done", false);
                progress_js(&p).into()
            }
        };
        set(&o, "nfe", run.nfe() as f64);
        set(
            &o,
            "expectedNfe",
            expected.map_or(JsValue::NULL, |n| (n as f64).into()),
        );
        set(&o, "progress", progress);
        Ok(o)
    }

    /// Network evaluations so far.
    #[wasm_bindgen(getter)]
    pub fn nfe(&self) -> usize {
        self.run.as_ref().map_or(0, |r| r.nfe())
    }

    /// The result (`Generation`, as `Model.generate` returns) once `step` reported `done`;
    /// the run is over after this.
    #[wasm_bindgen(unchecked_return_type = "Generation")]
    pub fn finish(&mut self) -> core::result::Result<Object, Error> {
        let _guard = super::limits::enter()?;
        match &self.run {
            None => return Err(Error::Option("the run is finished".into())),
            Some(r) if !r.is_done() => {
                return Err(Error::Option(format!(
                    "the run is not done ({} evaluations made): step() until done",
                    r.nfe()
                )))
            }
            Some(_) => {}
        }
        let Some(run) = self.run.take() else {
            return Err(Error::Option("the run is finished".into()));
        };
        Ok(generation_js(&run.finish()?))
    }
}
