//! The figures of one evaluation cell (a solver at an NFE), accumulated batch by batch: pixel
//! RMSE to the reference images, class accuracy, mean NFE, and the classifier features whose
//! Frechet distance to the training digits (`pipeline::metrics`) is the cell's FID.

use dpm_solver_wasm::pipeline::{Classifier, Generation, PipelineError};

use crate::presets::Solver;

/// Running totals of one (solver, NFE) cell.
#[derive(Default, Clone)]
pub struct Acc {
    sq: f64,
    px: usize,
    /// The classifier's features of every clipped sample (`feature_dim` per sample).
    pub features: Vec<f32>,
    correct: usize,
    n: usize,
    nfe_sum: usize,
    runs: usize,
}

impl Acc {
    /// Pixel RMSE to the reference images.
    pub fn rmse(&self) -> f64 {
        (self.sq / self.px.max(1) as f64).sqrt()
    }
    /// Fraction of samples classified as their requested class.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.n.max(1) as f64
    }
    /// Mean NFE per generation.
    pub fn mean_nfe(&self) -> f64 {
        self.nfe_sum as f64 / self.runs.max(1) as f64
    }

    /// Adds one generation: its squared distance to `reference` (unclipped), and the
    /// classifier's verdict and features on its samples clipped to the model's range.
    pub fn add(
        &mut self,
        g: &Generation,
        reference: &[f32],
        labels: &[usize],
        clf: &mut Classifier,
    ) -> Result<(), PipelineError> {
        self.sq += squared_distance(&g.images, reference);
        self.px += g.images.len();
        let (lo, hi) = g.value_range;
        let clipped: Vec<f32> = g.images.iter().map(|v| v.clamp(lo, hi)).collect();
        let c = clf.classify(&clipped)?;
        self.correct += c
            .predicted()
            .iter()
            .zip(labels)
            .filter(|(p, l)| p == l)
            .count();
        self.features.extend_from_slice(&c.features);
        self.n += labels.len();
        self.nfe_sum += g.nfe();
        self.runs += 1;
        Ok(())
    }
}

/// `sum (a_i - b_i)^2` in `f64`.
fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(a, b)| ((a - b) as f64).powi(2)).sum()
}

/// One cell of the evaluation: a solver at an NFE, and its figures.
pub struct Cell {
    pub solver: Solver,
    /// Steps asked for (`None`: adaptive).
    pub nfe: Option<usize>,
    pub acc: Acc,
    /// Frechet distance of `acc.features` to the training digits' (set after the last batch).
    pub fid: f64,
}

impl Cell {
    pub fn new(solver: &Solver, nfe: Option<usize>) -> Self {
        Cell {
            solver: solver.clone(),
            nfe,
            acc: Acc::default(),
            fid: 0.0,
        }
    }
}

/// The training digits (`<dir>/digits/<d>.json`: `{"data": [784 floats in [0,1] per image]}`)
/// in `[-1, 1]`.
pub fn load_digits(dir: &str) -> Result<Vec<f32>, String> {
    let mut images = Vec::new();
    for d in 0..10 {
        let path = format!("{dir}/digits/{d}.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{path}: {e} (run `bash train/fetch_data.sh` first)"))?;
        let start = text.find('[').ok_or_else(|| format!("{path}: no array"))?;
        let end = text.rfind(']').ok_or_else(|| format!("{path}: no array"))?;
        let mut n = 0;
        for tok in text[start + 1..end].split(',') {
            let v: f64 = tok
                .trim()
                .parse()
                .map_err(|_| format!("{path}: bad number {tok:?}"))?;
            // As train/data.py: round(v * 255) is the original byte; the model range is [-1, 1].
            let byte = (v * 255.0).round().clamp(0.0, 255.0);
            images.push((byte / 127.5 - 1.0) as f32);
            n += 1;
        }
        if n % 784 != 0 {
            return Err(format!("{path}: {n} values is not a multiple of 784"));
        }
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squared_distance_is_in_f64() {
        assert_eq!(squared_distance(&[1.0, -1.0, 0.5], &[0.0, 1.0, 0.5]), 5.0);
        // 2^70 squared overflows f32 but not f64.
        assert_eq!(squared_distance(&[2f32.powi(70)], &[0.0]), 2f64.powi(140));
    }

    #[test]
    fn empty_totals_are_zero_not_nan() {
        let a = Acc::default();
        assert_eq!((a.rmse(), a.accuracy(), a.mean_nfe()), (0.0, 0.0, 0.0));
    }
}
