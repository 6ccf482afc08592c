//! `readOnnxInfo`: an ONNX model's inputs, outputs and metadata without tract
//! ([`crate::onnx_info`]), for callers that run the network with their own runtime; in the
//! sampler-only build too.

use super::error::Error;
use super::js::set;
use super::metadata::metadata_js;
use crate::onnx_info::{self, Dim, TensorInfo};
use crate::pipeline::ModelInfo;
use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_ONNX: &'static str = r#"
/** A graph input or output as the ONNX file declares it. */
export interface OnnxTensorInfo {
  name: string;
  /** onnxruntime-web's type name: "float32", "int64", "int32", "float16", ... ("unknown" if not a tensor). */
  dtype: string;
  /** ONNX TensorProto.DataType (1 float32, 7 int64, ...). */
  elemType: number;
  /** Fixed sizes as numbers, symbolic ones ("B") as strings, open ones as null; null when undeclared. */
  shape: (number | string | null)[] | null;
}

/** What `readOnnxInfo` finds in an ONNX file (no weights are read). */
export interface OnnxInfo {
  irVersion: number;
  producer: string;
  opsets: { domain: string; version: number }[];
  /** The inputs to feed (initializers listed as inputs by old exporters left out). */
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
  /** Every metadata_props entry. */
  props: Record<string, string>;
  /** The diffusion metadata as `Model.metadata` reads it, or null (then `metadataError` says why). */
  metadata: ModelMetadata | null;
  metadataError: string | null;
}
"#;

fn tensor_js(t: &TensorInfo) -> Object {
    let o = Object::new();
    set(&o, "name", t.name.as_str());
    set(&o, "dtype", onnx_info::dtype_name(t.elem_type));
    set(&o, "elemType", t.elem_type as f64);
    let shape = match &t.shape {
        None => JsValue::NULL,
        Some(dims) => dims
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => JsValue::from_f64(*n as f64),
                Dim::Named(s) => JsValue::from_str(s),
                Dim::Unknown => JsValue::NULL,
            })
            .collect::<Array>()
            .into(),
    };
    set(&o, "shape", shape);
    o
}

/// Reads an ONNX model's inputs, outputs, opsets and `metadata_props` (and the diffusion
/// metadata `Model.metadata` would give) without loading it; throws on bytes that are not
/// ONNX, saying what they look like.
#[wasm_bindgen(js_name = readOnnxInfo, unchecked_return_type = "OnnxInfo")]
pub fn read_onnx_info(
    #[wasm_bindgen(unchecked_param_type = "Uint8Array | ArrayBuffer | number[]")] bytes: JsValue,
) -> core::result::Result<Object, Error> {
    let bytes = super::limits::bytes(&bytes, "readOnnxInfo(bytes)")?;
    let info = onnx_info::read(&bytes).map_err(|e| Error::Pipeline(e.to_string()))?;
    let o = Object::new();
    set(&o, "irVersion", info.ir_version as f64);
    set(&o, "producer", info.producer.as_str());
    let opsets: Array = info
        .opsets
        .iter()
        .map(|(d, v)| {
            let x = Object::new();
            set(&x, "domain", d.as_str());
            set(&x, "version", *v as f64);
            JsValue::from(x)
        })
        .collect();
    set(&o, "opsets", opsets);
    set(
        &o,
        "inputs",
        info.inputs.iter().map(tensor_js).collect::<Array>(),
    );
    set(
        &o,
        "outputs",
        info.outputs.iter().map(tensor_js).collect::<Array>(),
    );
    let props = Object::new();
    for (k, v) in &info.metadata {
        set(&props, k, v.as_str());
    }
    set(&o, "props", props);
    match ModelInfo::from_metadata(&info.metadata) {
        Ok(m) => {
            set(&o, "metadata", metadata_js(&m));
            set(&o, "metadataError", JsValue::NULL);
        }
        Err(e) => {
            set(&o, "metadata", JsValue::NULL);
            set(&o, "metadataError", e.to_string().as_str());
        }
    }
    Ok(o)
}
