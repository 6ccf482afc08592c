//! The options of `new Model(bytes, options)`: JavaScript values into the pipeline's
//! [`LoadOptions`] (the facts and their checks are the pipeline's, `MODEL.md` the contract),
//! and a scheduler config given as text (Python's JSON) into a JS object.

use super::error::{opt_err, Result};
use super::js::{set, Opts};
use crate::pipeline::{Json, LoadOptions, SchedulerJson, KEYS};
use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// The keys of `new Model`'s options.
const LOAD_KEYS: &[&str] = &["metadata", "schedulerConfig", "externalData"];

#[wasm_bindgen::prelude::wasm_bindgen(typescript_custom_section)]
const TS_LOAD: &'static str = r#"
/**
 * What `new Model(bytes, options)` takes besides the ONNX bytes (MODEL.md lists every key).
 */
export interface ModelLoadOptions {
  /**
   * Metadata entries under the metadata_props keys (prediction_type, beta_schedule, beta_start,
   * beta_end, num_train_timesteps, image_channels, image_height, image_width, value_range,
   * num_classes, null_class, class_labels, input_names, output_names, description, ...): added to,
   * and replacing, the file's. Numbers and arrays are written as the file would hold them.
   */
  metadata?: Record<string, string | number | boolean | (string | number)[]>;
  /**
   * A diffusers scheduler_config.json, as an object or as the file's text (Python's JSON with
   * -Infinity / NaN is accepted): its prediction_type and training schedule replace the file's.
   */
  schedulerConfig?: string | Record<string, unknown>;
  /**
   * The side file of a model saved with external data (model.onnx.data): its bytes, or an
   * object of bytes by the location the graph names.
   */
  externalData?: Uint8Array | ArrayBuffer | Record<string, Uint8Array | ArrayBuffer>;
}
"#;

fn bytes_of(v: &JsValue, what: &str) -> Result<Vec<u8>> {
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Ok(a.to_vec());
    }
    if v.is_instance_of::<js_sys::ArrayBuffer>() {
        return Ok(Uint8Array::new(v).to_vec());
    }
    opt_err(format!("{what} must be a Uint8Array or an ArrayBuffer"))
}

/// A metadata value as the file would hold it: strings as they are, numbers in JS's
/// shortest form, arrays joined with commas.
fn meta_value(v: &JsValue, key: &str) -> Result<String> {
    if let Some(s) = v.as_string() {
        return Ok(s);
    }
    if let Some(b) = v.as_bool() {
        return Ok(b.to_string());
    }
    if v.as_f64().is_some() || Array::is_array(v) {
        if Array::is_array(v) {
            let a: &Array = v.unchecked_ref();
            let mut parts = String::new();
            for x in a.iter() {
                if !parts.is_empty() {
                    parts.push(',');
                }
                parts.push_str(&meta_value(&x, key)?);
            }
            return Ok(parts);
        }
        // Rust's shortest round-trip form, as JS writes it: 0.0001, 1000.
        return Ok(format!("{}", v.as_f64().unwrap_or(f64::NAN)));
    }
    opt_err(format!(
        "options.metadata.{key} must be a string, number, boolean or array"
    ))
}

/// `new Model`'s options into the pipeline's [`LoadOptions`].
pub(crate) fn load_options(v: &JsValue) -> Result<LoadOptions> {
    let o = Opts::new(v, "options", LOAD_KEYS)?;
    let mut out = LoadOptions::default();
    if let Some(m) = o.get("metadata")? {
        if !m.is_object() || Array::is_array(&m) {
            return opt_err("options.metadata must be an object of metadata_props keys");
        }
        for e in Object::entries(m.unchecked_ref::<Object>()).iter() {
            let e: Array = e.unchecked_into();
            let key = e.get(0).as_string().unwrap_or_default();
            if !KEYS.contains(&key.as_str()) {
                return opt_err(format!(
                    "unknown key '{key}' in options.metadata (expected one of: {}; see MODEL.md)",
                    KEYS.join(", ")
                ));
            }
            let val = e.get(1);
            if val.is_null() || val.is_undefined() {
                continue;
            }
            out.metadata.push((key.clone(), meta_value(&val, &key)?));
        }
    }
    if let Some(c) = o.get("schedulerConfig")? {
        out.scheduler_config = Some(if let Some(text) = c.as_string() {
            text
        } else if c.is_object() && !Array::is_array(&c) {
            // JSON.stringify writes -Infinity as null, which is the key's default: the same.
            String::from(js_sys::JSON::stringify(&c).map_err(|_| {
                super::error::Error::Option(
                    "options.schedulerConfig cannot be written as JSON".into(),
                )
            })?)
        } else {
            return opt_err(
                "options.schedulerConfig must be a scheduler_config.json object or its text",
            );
        });
    }
    if let Some(d) = o.get("externalData")? {
        if d.dyn_ref::<Uint8Array>().is_some() || d.is_instance_of::<js_sys::ArrayBuffer>() {
            out.external_data
                .push(("".into(), bytes_of(&d, "options.externalData")?));
        } else if d.is_object() && !Array::is_array(&d) {
            for e in Object::entries(d.unchecked_ref::<Object>()).iter() {
                let e: Array = e.unchecked_into();
                let key = e.get(0).as_string().unwrap_or_default();
                let what = format!("options.externalData[\"{key}\"]");
                out.external_data.push((key, bytes_of(&e.get(1), &what)?));
            }
        } else {
            return opt_err(
                "options.externalData must be the side file's bytes (Uint8Array) or an object \
                 of them by location",
            );
        }
    }
    Ok(out)
}

/// A scheduler config given as text (a `scheduler_config.json` as Python wrote it) as the JS
/// object `JSON.parse` would give if it took `-Infinity` / `NaN`.
pub(crate) fn config_object_from_text(text: &str) -> Result<JsValue> {
    let sj = SchedulerJson::parse(text).map_err(|e| super::error::Error::Option(e.to_string()))?;
    Ok(to_js(sj.json()))
}

fn to_js(j: &Json) -> JsValue {
    match j {
        Json::Null => JsValue::NULL,
        Json::Bool(b) => JsValue::from_bool(*b),
        Json::Number(x) => JsValue::from_f64(*x),
        Json::Str(s) => JsValue::from_str(s),
        Json::Array(a) => a.iter().map(to_js).collect::<Array>().into(),
        Json::Object(e) => {
            let o = Object::new();
            for (k, v) in e {
                set(&o, k, to_js(v));
            }
            o.into()
        }
    }
}
