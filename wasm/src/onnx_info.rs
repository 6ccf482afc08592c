//! What an ONNX file declares, read without tract: the graph's inputs and outputs (names,
//! element types, shapes), the opsets and `metadata_props`, for callers that run the network
//! with their own runtime (onnxruntime-web, ...). A small reader of the protobuf wire format
//! (ONNX's `onnx.proto`): it walks only the fields named below and skips everything else, so
//! weights are never copied.
//!
//! Also says what a file that is *not* ONNX looks like ([`sniff`]: an HTML page, JSON, an
//! empty file, ...), for load errors that point at the cause.

use std::fmt;

/// An ONNX tensor element type (`TensorProto.DataType`), by onnxruntime-web's name.
pub fn dtype_name(elem_type: i64) -> &'static str {
    match elem_type {
        1 => "float32",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "float64",
        12 => "uint32",
        13 => "uint64",
        16 => "bfloat16",
        _ => "unknown",
    }
}

/// One dimension of a declared shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(i64),
    /// A symbolic size (`"B"`, `"batch"`).
    Named(String),
    /// Neither (left open by the exporter).
    Unknown,
}

/// A graph input or output (`ValueInfoProto`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Its name (the key of an inference session's feeds / results).
    pub name: String,
    /// `TensorProto.DataType` (1 float32, 7 int64, ...; 0 when not a tensor).
    pub elem_type: i64,
    /// Its shape, `None` when the file declares none.
    pub shape: Option<Vec<Dim>>,
}

/// The interface and metadata of an ONNX model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OnnxInfo {
    /// `ModelProto.ir_version`.
    pub ir_version: i64,
    /// `producer_name` (e.g. "pytorch").
    pub producer: String,
    /// `(domain, version)` of each imported opset ("" is the default ONNX domain).
    pub opsets: Vec<(String, i64)>,
    /// The inputs a caller feeds (initializers listed as inputs by old exporters left out).
    pub inputs: Vec<TensorInfo>,
    /// The outputs.
    pub outputs: Vec<TensorInfo>,
    /// `metadata_props`, in file order.
    pub metadata: Vec<(String, String)>,
}

/// Why bytes could not be read as ONNX; `Display` says what they look like instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnnxReadError {
    /// The bytes are recognisably something else (an HTML page, JSON, empty, ...).
    NotOnnx(&'static str),
    /// Protobuf that breaks off or is malformed at byte `at`.
    Malformed {
        /// Byte offset of the problem.
        at: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// Well-formed protobuf without a graph.
    NoGraph,
}

impl fmt::Display for OnnxReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnnxReadError::NotOnnx(what) => write!(f, "not an ONNX file: {what}"),
            OnnxReadError::Malformed { at, what } => {
                write!(
                    f,
                    "not a valid ONNX file: {what} at byte {at} (truncated or not ONNX?)"
                )
            }
            OnnxReadError::NoGraph => write!(f, "not an ONNX model: the file has no graph"),
        }
    }
}

impl std::error::Error for OnnxReadError {}

/// What `bytes` look like when they are clearly not an ONNX model, with the likely cause.
/// `None` when they could be one (an ONNX file starts with protobuf field 1, `ir_version`).
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.is_empty() {
        return Some("the file is empty (0 bytes): check the URL or the file");
    }
    let head = &bytes[..bytes.len().min(512)];
    // Leading byte-order marks, then white space, skipped (as `trim_start_matches('\u{feff}')`
    // then `trim_start()`); by characters and bytes rather than `str` slices and substring
    // search, which would bring their panic messages and searcher into the wasm.
    let t: String = String::from_utf8_lossy(head)
        .chars()
        .skip_while(|&c| c == '\u{feff}')
        .skip_while(|c| c.is_whitespace())
        .collect();
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("<!doctype html")
        || lower.starts_with("<html")
        || lower.as_bytes().windows(5).any(|w| w == b"<head")
    {
        return Some(
            "got an HTML page (a server's 404 page or an app's index.html?): check the URL",
        );
    }
    if lower.starts_with("<?xml") || lower.starts_with('<') {
        return Some("got XML/markup (an error page?): check the URL");
    }
    if t.starts_with('{') || t.starts_with('[') {
        return Some("got JSON (an error response or a config file?): check the URL");
    }
    if bytes.starts_with(b"version https://git-lfs") {
        return Some("got a Git LFS pointer, not the file: fetch it with `git lfs pull`");
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Some("got a zip archive (a PyTorch .pt checkpoint?): export the model to ONNX");
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Some("got gzip-compressed data: decompress it first");
    }
    if bytes.starts_with(b"\x80\x02") || bytes.starts_with(b"\x80\x04") {
        return Some("got a Python pickle (a PyTorch checkpoint?): export the model to ONNX");
    }
    if bytes.len() >= 8 && &bytes[8..bytes.len().min(9)] == b"{" {
        return Some("got a safetensors file: export the model to ONNX");
    }
    None
}

/// Reads the interface and metadata of an ONNX model from its bytes.
pub fn read(bytes: &[u8]) -> Result<OnnxInfo, OnnxReadError> {
    if let Some(what) = sniff(bytes) {
        return Err(OnnxReadError::NotOnnx(what));
    }
    let mut info = OnnxInfo::default();
    let mut graph = None;
    for f in Fields::new(bytes, 0) {
        let f = f?;
        match (f.number, f.value) {
            (1, Value::Varint(v)) => info.ir_version = v as i64,
            (2, Value::Bytes(b)) => info.producer = string(b),
            (7, Value::Bytes(b)) => graph = Some((b, f.offset)),
            (8, Value::Bytes(b)) => info.opsets.push(opset(b, f.offset)?),
            (14, Value::Bytes(b)) => info.metadata.push(string_pair(b, f.offset)?),
            _ => {}
        }
    }
    let (g, base) = graph.ok_or(OnnxReadError::NoGraph)?;
    let mut initializers = Vec::new();
    let mut inputs = Vec::new();
    for f in Fields::new(g, base) {
        let f = f?;
        match (f.number, f.value) {
            (5, Value::Bytes(b)) => {
                // TensorProto.name = 8
                for t in Fields::new(b, f.offset) {
                    let t = t?;
                    if let (8, Value::Bytes(n)) = (t.number, t.value) {
                        initializers.push(string(n));
                    }
                }
            }
            (11, Value::Bytes(b)) => inputs.push(value_info(b, f.offset)?),
            (12, Value::Bytes(b)) => info.outputs.push(value_info(b, f.offset)?),
            _ => {}
        }
    }
    info.inputs = inputs
        .into_iter()
        .filter(|i| !initializers.contains(&i.name))
        .collect();
    Ok(info)
}

impl OnnxInfo {
    /// The value of a `metadata_props` key.
    pub fn prop(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `OperatorSetIdProto`: domain = 1, version = 2.
fn opset(b: &[u8], base: usize) -> Result<(String, i64), OnnxReadError> {
    let (mut domain, mut version) = (String::new(), 0);
    for f in Fields::new(b, base) {
        let f = f?;
        match (f.number, f.value) {
            (1, Value::Bytes(d)) => domain = string(d),
            (2, Value::Varint(v)) => version = v as i64,
            _ => {}
        }
    }
    Ok((domain, version))
}

/// `StringStringEntryProto`: key = 1, value = 2.
fn string_pair(b: &[u8], base: usize) -> Result<(String, String), OnnxReadError> {
    let (mut k, mut v) = (String::new(), String::new());
    for f in Fields::new(b, base) {
        let f = f?;
        match (f.number, f.value) {
            (1, Value::Bytes(s)) => k = string(s),
            (2, Value::Bytes(s)) => v = string(s),
            _ => {}
        }
    }
    Ok((k, v))
}

/// `ValueInfoProto` (name = 1, type = 2) > `TypeProto` (tensor_type = 1) > `Tensor`
/// (elem_type = 1, shape = 2) > `TensorShapeProto` (dim = 1) > `Dimension` (dim_value = 1,
/// dim_param = 2).
fn value_info(b: &[u8], base: usize) -> Result<TensorInfo, OnnxReadError> {
    let mut t = TensorInfo {
        name: String::new(),
        elem_type: 0,
        shape: None,
    };
    for f in Fields::new(b, base) {
        let f = f?;
        match (f.number, f.value) {
            (1, Value::Bytes(n)) => t.name = string(n),
            (2, Value::Bytes(ty)) => {
                for tf in Fields::new(ty, f.offset) {
                    let tf = tf?;
                    let (1, Value::Bytes(tensor)) = (tf.number, tf.value) else {
                        continue;
                    };
                    for x in Fields::new(tensor, tf.offset) {
                        let x = x?;
                        match (x.number, x.value) {
                            (1, Value::Varint(e)) => t.elem_type = e as i64,
                            (2, Value::Bytes(shape)) => t.shape = Some(dims(shape, x.offset)?),
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(t)
}

fn dims(b: &[u8], base: usize) -> Result<Vec<Dim>, OnnxReadError> {
    let mut out = Vec::new();
    for f in Fields::new(b, base) {
        let f = f?;
        let (1, Value::Bytes(d)) = (f.number, f.value) else {
            continue;
        };
        let mut dim = Dim::Unknown;
        for x in Fields::new(d, f.offset) {
            let x = x?;
            match (x.number, x.value) {
                (1, Value::Varint(v)) => dim = Dim::Fixed(v as i64),
                (2, Value::Bytes(p)) => dim = Dim::Named(string(p)),
                _ => {}
            }
        }
        out.push(dim);
    }
    Ok(out)
}

/// A protobuf field's payload.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// Fixed 32/64-bit values (not needed here).
    Fixed,
}

struct Field<'a> {
    number: u64,
    value: Value<'a>,
    /// Offset of the payload in the whole file (for error messages).
    offset: usize,
}

/// The fields of one protobuf message.
struct Fields<'a> {
    b: &'a [u8],
    pos: usize,
    base: usize,
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(b: &'a [u8], base: usize) -> Self {
        Fields {
            b,
            pos: 0,
            base,
            failed: false,
        }
    }

    fn err(&mut self, what: &'static str) -> Option<Result<Field<'a>, OnnxReadError>> {
        self.failed = true;
        Some(Err(OnnxReadError::Malformed {
            at: self.base + self.pos,
            what,
        }))
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, OnnxReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.b.len() {
            return None;
        }
        let Some(key) = self.varint() else {
            return self.err("a field key breaks off");
        };
        let number = key >> 3;
        if number == 0 {
            return self.err("field number 0");
        }
        let value = match key & 7 {
            0 => match self.varint() {
                Some(v) => Value::Varint(v),
                None => return self.err("a varint breaks off"),
            },
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                if self.b.len() - self.pos < n {
                    return self.err("a fixed-size value breaks off");
                }
                self.pos += n;
                Value::Fixed
            }
            2 => {
                let Some(len) = self.varint() else {
                    return self.err("a length breaks off");
                };
                if len > (self.b.len() - self.pos) as u64 {
                    return self.err("a field is longer than the file");
                }
                let start = self.pos;
                self.pos += len as usize;
                let offset = self.base + start;
                return Some(Ok(Field {
                    number,
                    value: Value::Bytes(&self.b[start..self.pos]),
                    offset,
                }));
            }
            _ => return self.err("an unknown protobuf wire type"),
        };
        let _ = &value;
        Some(Ok(Field {
            number,
            value,
            offset: self.base + self.pos,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../www/models/unet.onnx"
        ))
        .unwrap()
    }

    #[test]
    fn reads_the_demo_unet_interface() {
        let info = read(&demo()).unwrap();
        let names: Vec<_> = info.inputs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["x", "t", "class"]);
        let types: Vec<_> = info
            .inputs
            .iter()
            .map(|i| dtype_name(i.elem_type))
            .collect();
        assert_eq!(types, ["float32", "float32", "int64"]);
        assert_eq!(
            info.inputs[0].shape,
            Some(vec![
                Dim::Named("B".into()),
                Dim::Fixed(1),
                Dim::Fixed(28),
                Dim::Fixed(28)
            ])
        );
        assert_eq!(info.outputs.len(), 1);
        assert_eq!(info.outputs[0].name, "eps");
        assert_eq!(info.prop("null_class"), Some("10"));
        assert_eq!(info.prop("prediction_type"), Some("epsilon"));
        assert_eq!(info.producer, "pytorch");
        assert!(info.opsets.iter().any(|(d, v)| d.is_empty() && *v >= 7));
        assert!(info.ir_version >= 3);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let b = demo();
        // Every prefix up to the graph's inputs, then a sparse set through the weights.
        let cuts = (0..4096).chain((4096..b.len()).step_by(9973));
        for n in cuts {
            let _ = read(&b[..n]);
        }
        assert!(matches!(
            read(&b[..b.len() / 2]),
            Err(OnnxReadError::Malformed { .. })
        ));
    }

    #[test]
    fn says_what_other_files_are() {
        let msg = |b: &[u8]| read(b).unwrap_err().to_string();
        assert!(msg(b"").contains("empty"));
        assert!(msg(b"<!DOCTYPE html><html><head>").contains("HTML page"));
        assert!(msg(b"\n  <html lang=en>").contains("HTML page"));
        assert!(msg(b"{\"error\": \"not found\"}").contains("JSON"));
        assert!(msg(b"version https://git-lfs.github.com/spec/v1\n").contains("LFS"));
        assert!(msg(b"PK\x03\x04....").contains("zip"));
        assert!(msg(b"\x08\x08\x12").contains("not a valid ONNX"));
        // A protobuf message with an ir_version and nothing else.
        assert_eq!(read(b"\x08\x08"), Err(OnnxReadError::NoGraph));
    }
}
