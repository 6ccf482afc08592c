//! Sample-quality statistics over feature vectors: mean and covariance, and the Frechet
//! distance between two Gaussians fitted to them (FID when the features are a classifier's).
//!
//! Plain `f64` linear algebra for the small feature sizes of a [`Classifier`](super::Classifier)
//! (128 for the demo's): a cyclic Jacobi eigen-solver, no BLAS.

/// Mean (`d`) and unbiased covariance (`d x d`, row-major) of the rows of `x` (`n x d`).
pub fn mean_cov(x: &[f32], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len() / d.max(1);
    let mut mu = vec![0.0f64; d];
    for row in x.chunks_exact(d.max(1)) {
        for (m, &v) in mu.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    for m in mu.iter_mut() {
        *m /= n.max(1) as f64;
    }
    let mut cov = vec![0.0f64; d * d];
    let mut c = vec![0.0f64; d];
    for row in x.chunks_exact(d.max(1)) {
        for i in 0..d {
            c[i] = row[i] as f64 - mu[i];
        }
        for i in 0..d {
            let ci = c[i];
            if ci == 0.0 {
                continue;
            }
            for j in i..d {
                cov[i * d + j] += ci * c[j];
            }
        }
    }
    let denom = (n.max(2) - 1) as f64;
    for i in 0..d {
        for j in i..d {
            let v = cov[i * d + j] / denom;
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    (mu, cov)
}

/// Eigenvalues and eigenvectors (the columns of the second result) of a symmetric `n x n`
/// matrix, by cyclic Jacobi rotations (to a relative off-diagonal mass of 1e-30).
pub fn sym_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..60 {
        let mut off = 0.0;
        let mut diag = 0.0;
        for i in 0..n {
            diag += a[i * n + i] * a[i * n + i];
            for j in i + 1..n {
                off += a[i * n + j] * a[i * n + j];
            }
        }
        if off <= 1e-30 * diag.max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// Frechet distance between the Gaussian fitted to the rows of `x` (`n x d`) and
/// `N(mu2, s2)`: `|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)`. NaN for fewer than two
/// rows.
pub fn frechet(x: &[f32], d: usize, mu2: &[f64], s2: &[f64]) -> f64 {
    if d == 0 || x.len() < 2 * d {
        return f64::NAN;
    }
    let (mu1, s1) = mean_cov(x, d);
    let (w, v) = sym_eigen(&s1, d);
    // sqrt(S1) = V diag(sqrt w) V^T
    let mut r = vec![0.0f64; d * d];
    for i in 0..d {
        for j in 0..d {
            let mut acc = 0.0;
            for k in 0..d {
                acc += v[i * d + k] * w[k].max(0.0).sqrt() * v[j * d + k];
            }
            r[i * d + j] = acc;
        }
    }
    let m = matmul(&matmul(&r, s2, d), &r, d);
    let mut msym = m.clone();
    for i in 0..d {
        for j in 0..d {
            msym[i * d + j] = 0.5 * (m[i * d + j] + m[j * d + i]);
        }
    }
    let (wm, _) = sym_eigen(&msym, d);
    let tr_sqrt: f64 = wm.iter().map(|&e| e.max(0.0).sqrt()).sum();
    let dmu: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b) * (a - b)).sum();
    let tr1: f64 = (0..d).map(|i| s1[i * d + i]).sum();
    let tr2: f64 = (0..d).map(|i| s2[i * d + i]).sum();
    dmu + tr1 + tr2 - 2.0 * tr_sqrt
}

/// `a b` for `n x n` row-major matrices.
fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0f64; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            if aik == 0.0 {
                continue;
            }
            for j in 0..n {
                c[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_covariance_of_known_rows() {
        // Rows (1, 2), (3, 6): mean (2, 4), covariance [[2, 4], [4, 8]].
        let (mu, cov) = mean_cov(&[1.0, 2.0, 3.0, 6.0], 2);
        assert_eq!(mu, vec![2.0, 4.0]);
        assert_eq!(cov, vec![2.0, 4.0, 4.0, 8.0]);
    }

    #[test]
    fn eigen_decomposition_reconstructs_the_matrix() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, 0.25, 0.5, 0.25, 2.0];
        let (w, v) = sym_eigen(&a, 3);
        for i in 0..3 {
            for j in 0..3 {
                let r: f64 = (0..3).map(|k| v[i * 3 + k] * w[k] * v[j * 3 + k]).sum();
                assert!((r - a[i * 3 + j]).abs() < 1e-12, "({i},{j}): {r}");
            }
        }
        let trace: f64 = w.iter().sum();
        assert!((trace - 9.0).abs() < 1e-12);
    }

    #[test]
    fn frechet_of_gaussians() {
        // Same rows as the reference statistics: distance 0.
        let x = [1.0f32, 2.0, 3.0, 6.0, -1.0, 0.5, 2.5, -3.0];
        let (mu, cov) = mean_cov(&x, 2);
        assert!(frechet(&x, 2, &mu, &cov).abs() < 1e-9);
        // 1-D: (mu1 - mu2)^2 + (s1 - s2)^2 for standard deviations s1, s2.
        let y = [0.0f32, 2.0]; // mean 1, variance 2
        let d = frechet(&y, 1, &[4.0], &[8.0]); // s2 = 2 sqrt 2
        let expect = 9.0 + (2f64.sqrt() - 8f64.sqrt()).powi(2);
        assert!((d - expect).abs() < 1e-12, "{d} vs {expect}");
        assert!(frechet(&y[..1], 1, &[0.0], &[1.0]).is_nan());
    }
}
