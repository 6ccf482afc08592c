//! The metadata entries of a model: the caller's [`LoadOptions`] merged over the file's
//! `metadata_props`, and the entries sorted for [`ModelInfo::metadata`](super::ModelInfo).

use crate::pipeline::error::Result;

/// What the caller knows about a model besides its ONNX file (MODEL.md).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadOptions {
    /// Metadata entries under the `metadata_props` keys, added to (and replacing) the file's.
    pub metadata: Vec<(String, String)>,
    /// A diffusers `scheduler_config.json` text (Python's `-Infinity`/`NaN` accepted): its
    /// `prediction_type`, `num_train_timesteps`, `beta_schedule`, `beta_start`, `beta_end`
    /// (diffusers' defaults for the ones it leaves out) replace the file's; `metadata` still
    /// wins over it.
    pub scheduler_config: Option<String>,
    /// The side files of a model saved with external data (`model.onnx.data`), by the
    /// `location` the graph names; a single file is used for every location.
    pub external_data: Vec<(String, Vec<u8>)>,
}

impl LoadOptions {
    /// The metadata entries of `file` with the scheduler config's and then `metadata`
    /// applied, later entries winning.
    pub fn merged(&self, file: &[(String, String)]) -> Result<Vec<(String, String)>> {
        let mut out = file.to_vec();
        if let Some(text) = &self.scheduler_config {
            let sj = crate::pipeline::json::SchedulerJson::parse(text)?;
            out.extend(sj.model_metadata()?);
        }
        out.extend(self.metadata.iter().cloned());
        // Last entry of each key wins; keep one entry per key.
        let mut seen = std::collections::HashSet::new();
        let mut dedup: Vec<(String, String)> = Vec::new();
        for (k, v) in out.into_iter().rev() {
            if seen.insert(k.clone()) {
                dedup.push((k, v));
            }
        }
        dedup.reverse();
        Ok(dedup)
    }
}

/// Sorts metadata entries by key, then value. A heapsort: `slice::sort` would add 10 kB to the
/// sampler-only wasm (wasm/BENCHMARKS.md); equal entries are identical, so the order among
/// them (stability) cannot show.
pub(super) fn sort_entries(v: &mut [(String, String)]) {
    fn sift(v: &mut [(String, String)], mut i: usize, n: usize) {
        loop {
            let mut c = 2 * i + 1;
            if c >= n {
                return;
            }
            if c + 1 < n && v[c] < v[c + 1] {
                c += 1;
            }
            if v[i] >= v[c] {
                return;
            }
            v.swap(i, c);
            i = c;
        }
    }
    let n = v.len();
    for i in (0..n / 2).rev() {
        sift(v, i, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift(v, 0, end);
    }
}

#[cfg(test)]
mod tests {
    use super::sort_entries;

    #[test]
    fn heapsort_matches_slice_sort() {
        // Pseudo-random keys and values with repeats, lengths 0..40.
        let mut state = 12345u32;
        let mut next = || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) % 7
        };
        for len in 0..40 {
            let v: Vec<(String, String)> = (0..len)
                .map(|_| (format!("k{}", next()), format!("v{}", next())))
                .collect();
            let (mut a, mut b) = (v.clone(), v);
            sort_entries(&mut a);
            b.sort();
            assert_eq!(a, b, "length {len}");
        }
    }
}
