//! A two-component Gaussian mixture in two dimensions with its exact noised score: the model of
//! the statistical test (`sde`) and of the convergence test.

/// A Gaussian mixture with diagonal covariances and its exact score.
pub(super) struct Mixture {
    pub(super) w: [f64; 2],
    pub(super) mu: [[f64; 2]; 2],
    pub(super) var: [[f64; 2]; 2],
}

impl Mixture {
    /// `eps = -sigma score` of the noised mixture at `(alpha, sigma)`.
    pub(super) fn eps(&self, x: &[f64], alpha: f64, sigma: f64, out: &mut [f64]) {
        let mut logr = [0.0f64; 2];
        for k in 0..2 {
            let mut l = self.w[k].ln();
            for d in 0..2 {
                let c = alpha * alpha * self.var[k][d] + sigma * sigma;
                let diff = x[d] - alpha * self.mu[k][d];
                l -= 0.5 * ((2.0 * core::f64::consts::PI * c).ln() + diff * diff / c);
            }
            logr[k] = l;
        }
        let m = logr[0].max(logr[1]);
        let z: f64 = logr.iter().map(|l| (l - m).exp()).sum();
        for d in 0..2 {
            let mut s = 0.0;
            for k in 0..2 {
                let c = alpha * alpha * self.var[k][d] + sigma * sigma;
                s += (logr[k] - m).exp() / z * (-(x[d] - alpha * self.mu[k][d]) / c);
            }
            out[d] = -sigma * s;
        }
    }

    #[cfg(feature = "rng")]
    pub(super) fn mean(&self) -> [f64; 2] {
        let mut m = [0.0; 2];
        for k in 0..2 {
            for d in 0..2 {
                m[d] += self.w[k] * self.mu[k][d];
            }
        }
        m
    }

    /// `sum_k w_k (diag(var_k) + mu_k mu_k^T) - mu mu^T`.
    #[cfg(feature = "rng")]
    pub(super) fn cov(&self) -> [[f64; 2]; 2] {
        let m = self.mean();
        let mut c = [[0.0; 2]; 2];
        for i in 0..2 {
            for j in 0..2 {
                for k in 0..2 {
                    let v = if i == j { self.var[k][i] } else { 0.0 };
                    c[i][j] += self.w[k] * (v + self.mu[k][i] * self.mu[k][j]);
                }
                c[i][j] -= m[i] * m[j];
            }
        }
        c
    }
}
