//! `ModelMetadata`: what an ONNX diffusion model says about itself (its `metadata_props` read
//! into a [`ModelInfo`]), as a JavaScript object; shared by `Model.metadata` and the
//! tract-free `readOnnxInfo`.

use super::js::set;
use crate::pipeline::{ModelInfo, ScheduleInfo};
use dpm_solver::Prediction;
use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_METADATA: &'static str = r#"
/** What an ONNX diffusion model says about itself (its metadata_props, checked against the graph). */
export interface ModelMetadata {
  /** "noise", "x_start", "v" or flow matching's velocity "flow" (SamplerOptions.prediction). */
  prediction: "noise" | "x_start" | "v" | "score" | "flow";
  /** The training schedule as SamplerOptions.schedule. */
  schedule: ScheduleOptions;
  /** N: the network's time input is a discrete timestep 0..N-1 (= Sampler's tModel * N / 1000). */
  numTrainTimesteps: number;
  channels: number;
  height: number;
  width: number;
  valueRange: [number, number];
  /** 0 for an unconditional model. */
  numClasses: number;
  /** The "no class" label for classifier-free guidance, or null. */
  nullClass: number | null;
  classLabels: string[];
  description: string;
  trainingSteps: number | null;
  /** Every metadata_props entry, with the load options applied. */
  props: Record<string, string>;
  /** The graph inputs fed: image, time[, class] (MODEL.md: names by convention or input_names). */
  inputNames: string[];
  /** The graph output read as the prediction. */
  outputName: string;
  /**
   * The time input's element type and whether it takes one time per image, e.g. "int64 [B]"
   * (`Model.metadata` only: it comes from the graph, which `readOnnxInfo` does not analyse).
   */
  timeInput?: string;
}

"#;

fn prediction_name(p: Prediction) -> &'static str {
    match p {
        Prediction::Noise => "noise",
        Prediction::Data => "x_start",
        Prediction::V => "v",
        Prediction::Score => "score",
        Prediction::Flow => "flow",
    }
}

use crate::decimal::f32_shortest as short;

fn schedule_js(s: &ScheduleInfo) -> Object {
    let betas = Object::new();
    match *s {
        ScheduleInfo::Linear {
            beta_start,
            beta_end,
            n,
        }
        | ScheduleInfo::ScaledLinear {
            beta_start,
            beta_end,
            n,
        } => {
            let kind = if matches!(s, ScheduleInfo::Linear { .. }) {
                "linear"
            } else {
                "scaled_linear"
            };
            set(&betas, "kind", kind);
            set(&betas, "start", short(beta_start));
            set(&betas, "end", short(beta_end));
            set(&betas, "n", n as f64);
        }
        ScheduleInfo::Cosine { n } => {
            set(&betas, "kind", "cosine");
            set(&betas, "n", n as f64);
        }
        ScheduleInfo::Flow { n } => {
            let o = Object::new();
            set(&o, "type", "flow");
            set(&o, "n", n as f64);
            return o;
        }
    }
    let o = Object::new();
    set(&o, "type", "discrete");
    set(&o, "betas", betas);
    o
}

/// The `ModelMetadata` object of `info`.
pub(super) fn metadata_js(info: &ModelInfo) -> Object {
    let i = info;
    let o = Object::new();
    set(&o, "prediction", prediction_name(i.prediction));
    set(&o, "schedule", schedule_js(&i.schedule));
    set(
        &o,
        "numTrainTimesteps",
        i.schedule.num_train_timesteps() as f64,
    );
    set(&o, "channels", i.shape.channels as f64);
    set(&o, "height", i.shape.height as f64);
    set(&o, "width", i.shape.width as f64);
    set(
        &o,
        "valueRange",
        Array::of2(
            &short(i.value_range.0).into(),
            &short(i.value_range.1).into(),
        ),
    );
    set(&o, "numClasses", i.num_classes as f64);
    set(
        &o,
        "nullClass",
        i.null_class.map_or(JsValue::NULL, |c| (c as f64).into()),
    );
    set(
        &o,
        "classLabels",
        i.class_labels
            .iter()
            .map(|s| JsValue::from_str(s))
            .collect::<Array>(),
    );
    set(&o, "description", i.description.as_str());
    set(
        &o,
        "trainingSteps",
        i.training_steps
            .map_or(JsValue::NULL, |s| (s as f64).into()),
    );
    let props = Object::new();
    for (k, v) in &i.metadata {
        set(&props, k, v.as_str());
    }
    set(&o, "props", props);
    set(
        &o,
        "inputNames",
        i.input_names
            .iter()
            .map(|s| JsValue::from_str(s))
            .collect::<Array>(),
    );
    set(&o, "outputName", i.output_name.as_str());
    o
}
