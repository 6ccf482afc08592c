//! [`Classifier`]: an image classifier loaded from ONNX bytes (logits and, optionally,
//! penultimate features), to score generated images.

use tract_onnx::prelude::*;

use super::onnx::{dims_of, fmt_dims, read_onnx};
use super::runner::{copy_out, tensor, InputReq, Net};
use crate::pipeline::error::{tract_msg, PipelineError, Result};
use crate::pipeline::info::ImageShape;

/// What a classifier ONNX model looks like.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierInfo {
    /// Input image shape.
    pub shape: ImageShape,
    /// Input value range (`value_range`, default `-1,1`).
    pub value_range: (f32, f32),
    /// Number of classes (`num_classes`, or the `logits` width).
    pub num_classes: usize,
    /// Width of the `features` output (`feature_dim`), 0 if the model has none.
    pub feature_dim: usize,
    /// All `metadata_props` entries, sorted by key.
    pub metadata: Vec<(String, String)>,
}

/// Logits and features of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    /// Number of images.
    pub batch: usize,
    /// Classes per image.
    pub num_classes: usize,
    /// Feature width per image (0 without features).
    pub feature_dim: usize,
    /// `batch x num_classes` logits.
    pub logits: Vec<f32>,
    /// `batch x feature_dim` features (penultimate layer).
    pub features: Vec<f32>,
}

impl Classification {
    /// The arg-max class of each image.
    pub fn predicted(&self) -> Vec<usize> {
        self.logits
            .chunks(self.num_classes.max(1))
            .map(|row| {
                let mut best = 0;
                for (i, v) in row.iter().enumerate() {
                    if *v > row[best] {
                        best = i;
                    }
                }
                best
            })
            .collect()
    }

    /// Softmax probabilities, `batch x num_classes`.
    pub fn probabilities(&self) -> Vec<f32> {
        let mut p = self.logits.clone();
        for row in p.chunks_mut(self.num_classes.max(1)) {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for v in row.iter_mut() {
                *v = (*v - m).exp();
                sum += *v;
            }
            for v in row.iter_mut() {
                *v /= sum;
            }
        }
        p
    }
}

/// An image classifier (input `x` `[B,C,H,W]`, outputs `logits` `[B,K]` and optionally
/// `features` `[B,F]`), e.g. `www/models/classifier.onnx`, to score generated images.
pub struct Classifier {
    info: ClassifierInfo,
    net: Net,
}

/// Largest batch the classifier runs at once; longer inputs are split into such chunks.
pub const CLASSIFIER_CHUNK: usize = 100;

impl Classifier {
    /// Loads a classifier; the shape comes from the graph's input `x` (or `image_*` metadata).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (model, mut metadata, _) = read_onnx(bytes, &[])?;
        metadata.sort();
        let get = |k: &str| {
            metadata
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.trim().to_string())
        };
        let in_name = get("input_names")
            .and_then(|s| s.split(',').next().map(|s| s.trim().to_string()))
            .unwrap_or_else(|| "x".into());
        let slot = model
            .input_outlets()
            .map_err(|e| PipelineError::Onnx(tract_msg(&e)))?
            .iter()
            .position(|o| model.node(o.node).name == in_name)
            .ok_or_else(|| {
                PipelineError::Interface(format!("no graph input named \"{in_name}\""))
            })?;
        let fact = model
            .input_fact(slot)
            .map_err(|e| PipelineError::Onnx(tract_msg(&e)))?;
        let dims = dims_of(fact).unwrap_or_default();
        let shape = match dims.as_slice() {
            [_, Some(c), Some(h), Some(w)] => ImageShape {
                channels: *c,
                height: *h,
                width: *w,
            },
            _ => {
                return Err(PipelineError::Interface(format!(
                    "classifier input \"{in_name}\" has shape {}, expected [B,C,H,W]",
                    fmt_dims(&dims)
                )))
            }
        };
        let num = |k: &str| get(k).and_then(|s| s.parse::<usize>().ok());
        let value_range = match get("value_range") {
            Some(s) => {
                let p: Vec<f32> = s.split(',').filter_map(|v| v.trim().parse().ok()).collect();
                if p.len() != 2 || p[0].partial_cmp(&p[1]) != Some(core::cmp::Ordering::Less) {
                    return Err(PipelineError::InvalidMetadata {
                        key: "value_range".into(),
                        value: s,
                        reason: "expected \"low,high\" with low < high".into(),
                    });
                }
                (p[0], p[1])
            }
            None => (-1.0, 1.0),
        };
        let out_names: Vec<String> = get("output_names")
            .unwrap_or_else(|| "logits,features".into())
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        let num_classes = num("num_classes").ok_or_else(|| {
            PipelineError::MissingMetadata(vec!["num_classes (classifier)".into()])
        })?;
        let feature_dim = if out_names.len() > 1 {
            num("feature_dim").unwrap_or(0)
        } else {
            0
        };
        let mut outputs = vec![(out_names[0].as_str(), vec![num_classes])];
        if feature_dim > 0 {
            outputs.push((out_names[1].as_str(), vec![feature_dim]));
        }
        let net = Net::new(
            model,
            &[InputReq {
                name: &in_name,
                types: &[DatumType::F32],
                tail: vec![shape.channels, shape.height, shape.width],
                may_share: false,
            }],
            &outputs,
        )?;
        Ok(Classifier {
            info: ClassifierInfo {
                shape,
                value_range,
                num_classes,
                feature_dim,
                metadata,
            },
            net,
        })
    }

    /// What the classifier expects.
    pub fn info(&self) -> &ClassifierInfo {
        &self.info
    }

    /// Classifies `images` (a whole number of images in the classifier's value range), in
    /// chunks of at most [`CLASSIFIER_CHUNK`].
    pub fn classify(&mut self, images: &[f32]) -> Result<Classification> {
        let len = self.info.shape.len();
        if images.is_empty() || images.len() / len * len != images.len() {
            return Err(PipelineError::InvalidInput(format!(
                "the classifier needs a whole number of {len}-element images, got {} elements",
                images.len()
            )));
        }
        let batch = images.len() / len;
        let (k, f) = (self.info.num_classes, self.info.feature_dim);
        let mut logits = vec![0.0; batch * k];
        let mut features = vec![0.0; batch * f];
        let s = self.info.shape;
        let mut start = 0;
        while start < batch {
            let n = CLASSIFIER_CHUNK.min(batch - start);
            let x = tensor(
                &[n, s.channels, s.height, s.width],
                &images[start * len..(start + n) * len],
            )?;
            let res = self.net.run(n, vec![x])?;
            copy_out(&res[0], &mut logits[start * k..(start + n) * k], "logits")?;
            if f > 0 {
                copy_out(
                    &res[1],
                    &mut features[start * f..(start + n) * f],
                    "features",
                )?;
            }
            start += n;
        }
        Ok(Classification {
            batch,
            num_classes: k,
            feature_dim: f,
            logits,
            features,
        })
    }
}
