//! What the graph itself says (its inputs and outputs), and the conventional names by which
//! the image, time and class inputs and the prediction output are found in it.

use crate::pipeline::error::{PipelineError, Result};

/// What the graph itself says: its inputs and outputs with their dimensions (`None`: not
/// known; a dimension `None`: symbolic). Used to find the inputs by name and to take the
/// image shape from the graph when the metadata does not give it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphSummary {
    /// Graph inputs (name, dimensions).
    pub inputs: Vec<(String, Option<Vec<Option<usize>>>)>,
    /// Graph outputs (name, dimensions).
    pub outputs: Vec<(String, Option<Vec<Option<usize>>>)>,
}

/// Conventional names of the image input (ours, then diffusers').
pub const IMAGE_NAMES: &[&str] = &["x", "sample", "x_t", "noisy", "latent", "latents"];
/// Conventional names of the time input.
pub const TIME_NAMES: &[&str] = &["t", "timestep", "timesteps", "time", "noise_level"];
/// Conventional names of the class input.
pub const CLASS_NAMES: &[&str] = &["class", "class_labels", "y", "label", "labels"];
/// Conventional names of the prediction output (when the graph has several outputs).
pub const OUTPUT_NAMES: &[&str] = &["eps", "out_sample", "noise_pred", "out", "output", "sample"];

/// The image, time[, class] inputs of `g` found by their conventional names (a graph with
/// two inputs, one of them 4-D, needs no names); the error is the missing fact's description.
pub(super) fn by_convention(g: &GraphSummary) -> core::result::Result<Vec<String>, String> {
    let names: Vec<&str> = g.inputs.iter().map(|(n, _)| n.as_str()).collect();
    let find = |conv: &[&str]| {
        conv.iter()
            .find(|c| names.contains(c))
            .map(|c| c.to_string())
    };
    let (image, time, class) = (find(IMAGE_NAMES), find(TIME_NAMES), find(CLASS_NAMES));
    // Two inputs, one 4-D: image and time whatever their names.
    if names.len() == 2 && (image.is_none() || time.is_none()) {
        let rank4 = |(_, d): &(String, Option<Vec<Option<usize>>>)| {
            d.as_ref().is_some_and(|d| d.len() == 4)
        };
        if let Some(i) = g.inputs.iter().position(rank4) {
            return Ok(vec![names[i].to_string(), names[1 - i].to_string()]);
        }
    }
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    if let (Some(i), Some(t)) = (&image, &time) {
        out.push(i.clone());
        out.push(t.clone());
    }
    if let Some(c) = &class {
        out.push(c.clone());
    }
    for n in &names {
        if !out.iter().any(|o| o == n) {
            unknown.push(*n);
        }
    }
    if image.is_none() || time.is_none() || !unknown.is_empty() {
        return Err(format!(
            "input_names = \"image,time[,class]\" (the graph's inputs {} do not follow the \
             conventions: image {}, time {}, class {})",
            crate::text::join(&names, ", "),
            crate::text::join(IMAGE_NAMES, "/"),
            crate::text::join(TIME_NAMES, "/"),
            crate::text::join(CLASS_NAMES, "/")
        ));
    }
    Ok(out)
}

/// The prediction output: the only one, or the first conventional name.
pub(super) fn output_by_convention(g: &GraphSummary) -> Result<String> {
    if g.outputs.len() == 1 {
        return Ok(g.outputs[0].0.clone());
    }
    let names: Vec<&str> = g.outputs.iter().map(|(n, _)| n.as_str()).collect();
    OUTPUT_NAMES
        .iter()
        .find(|c| names.contains(c))
        .map(|c| c.to_string())
        .ok_or_else(|| {
            PipelineError::Interface(format!(
                "the graph has {} outputs ({}): name the prediction with output_names (MODEL.md)",
                names.len(),
                crate::text::join(&names, ", ")
            ))
        })
}
