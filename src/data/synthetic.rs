//! Small generated data sets, deterministic for a given seed, for tests and demos.
//!
//! * [`blobs`]: Gaussian class clusters in any dimension; nearly linearly separable when `spread`
//!   is small, so a softmax layer alone learns them.
//! * [`xor_like`]: four 2-D clusters labelled like XOR; no straight line separates the classes, so a
//!   network needs a hidden layer.
//! * [`stripes`]: points of the square labelled by alternating vertical stripes; needs one hidden
//!   unit per boundary, a toy for counting linear regions.
//! * [`sinusoid`]: points of the square split by a sine curve; the two-class set of paper E's
//!   Figure 1 (appendix F), where a deep net follows the curve with more linear pieces than a
//!   shallow one.
//!
//! Every generator draws from `ChaCha8Rng::seed_from_u64(seed)`, so the same arguments give the same
//! data on every platform. Labels are balanced: example `i` has class `i % classes`.
//!
//! ```
//! use compete::data::synthetic::blobs;
//!
//! let ds = blobs(100, 5, 4, 0.1, 7).unwrap();
//! assert_eq!((ds.len(), ds.dim, ds.classes), (100, 5, 4));
//! assert_eq!(ds.class_counts(), vec![25; 4]);
//! assert_eq!(ds.x, blobs(100, 5, 4, 0.1, 7).unwrap().x);
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Dataset;
use crate::error::{Error, Result};

/// One draw from the standard normal distribution (Box-Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // 1 - u is in (0, 1], so the logarithm is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn check_n(n: usize) -> Result<()> {
    if n == 0 { Err(Error::param("n", n, "at least 1 example")) } else { Ok(()) }
}

fn check_spread(spread: f32) -> Result<()> {
    if spread.is_finite() && spread >= 0.0 { Ok(()) } else { Err(Error::param("spread", spread, "a finite standard deviation >= 0")) }
}

/// `n` points in `dim` dimensions, in `classes` Gaussian clusters.
///
/// Centre `c` of class `c` is drawn uniformly from `[-1, 1]^dim`; example `i` has class `i % classes`
/// and is its centre plus isotropic Gaussian noise of standard deviation `spread`.
pub fn blobs(n: usize, dim: usize, classes: usize, spread: f32, seed: u64) -> Result<Dataset> {
    check_n(n)?;
    if dim == 0 {
        return Err(Error::param("dim", dim, "at least 1"));
    }
    if !(1..=256).contains(&classes) {
        return Err(Error::param("classes", classes, "between 1 and 256 (labels are u8)"));
    }
    check_spread(spread)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<f64> = (0..classes * dim).map(|_| rng.random_range(-1.0..=1.0)).collect();
    let mut x = Vec::with_capacity(n * dim);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % classes;
        labels.push(c as u8);
        for &m in &centres[c * dim..(c + 1) * dim] {
            x.push((m + f64::from(spread) * normal(&mut rng)) as f32);
        }
    }
    Dataset::from_parts(x, labels, dim, None, classes)
}

/// `n` 2-D points in four clusters centred at `(±0.5, ±0.5)` with Gaussian noise of standard
/// deviation `spread`; the label is 1 when the signs of the two centre coordinates differ (XOR), else 0.
///
/// Example `i` belongs to cluster `i % 4`, in the order `(+,+), (+,-), (-,+), (-,-)`, so labels go
/// 0, 1, 1, 0, 0, 1, 1, 0, ...
pub fn xor_like(n: usize, spread: f32, seed: u64) -> Result<Dataset> {
    check_n(n)?;
    check_spread(spread)?;
    const CENTRES: [(f64, f64, u8); 4] = [(0.5, 0.5, 0), (0.5, -0.5, 1), (-0.5, 0.5, 1), (-0.5, -0.5, 0)];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let (a, b, label) = CENTRES[i % 4];
        x.push((a + f64::from(spread) * normal(&mut rng)) as f32);
        x.push((b + f64::from(spread) * normal(&mut rng)) as f32);
        labels.push(label);
    }
    Dataset::from_parts(x, labels, 2, None, 2)
}

/// `n` 2-D points drawn uniformly from `[-1, 1]^2`, labelled by which of `n_stripes` vertical stripes
/// of equal width holds them: stripe `s` (counted from the left) has label `s % 2`.
///
/// The class boundaries are the `n_stripes - 1` lines `x0 = -1 + 2 s / n_stripes`.
pub fn stripes(n: usize, n_stripes: usize, seed: u64) -> Result<Dataset> {
    check_n(n)?;
    if n_stripes < 2 {
        return Err(Error::param("stripes", n_stripes, "at least 2 (one stripe has a single class)"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let a: f64 = rng.random_range(-1.0..1.0);
        let b: f64 = rng.random_range(-1.0..1.0);
        let s = (((a + 1.0) / 2.0 * n_stripes as f64) as usize).min(n_stripes - 1);
        x.push(a as f32);
        x.push(b as f32);
        labels.push((s % 2) as u8);
    }
    Dataset::from_parts(x, labels, 2, None, 2)
}

/// The parameters of [`sinusoid`] (paper E, appendix F gives none; these are ours).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinusoidParams {
    /// Number of points.
    pub n: usize,
    /// Amplitude `A` of the boundary, in `(0, 1)` so that the curve stays inside the square.
    pub amplitude: f64,
    /// Full periods `k` of the sine across the square (`> 0`).
    pub periods: f64,
    /// Seed of the generator.
    pub seed: u64,
}

impl Default for SinusoidParams {
    /// 2000 points, amplitude 0.5, 2 periods, seed 0.
    fn default() -> Self {
        SinusoidParams { n: 2000, amplitude: 0.5, periods: 2.0, seed: 0 }
    }
}

impl SinusoidParams {
    /// The boundary's height at `x0`: `A sin(pi k (x0 + 1))`.
    pub fn boundary(&self, x0: f64) -> f64 {
        self.amplitude * (std::f64::consts::PI * self.periods * (x0 + 1.0)).sin()
    }

    /// The class of the point `(x0, x1)`: 1 above the curve, 0 on or below it.
    pub fn label(&self, x0: f64, x1: f64) -> u8 {
        u8::from(x1 > self.boundary(x0))
    }

    /// Checks every parameter; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        check_n(self.n)?;
        if !(self.amplitude > 0.0 && self.amplitude < 1.0) {
            return Err(Error::param("amplitude", self.amplitude, "a number in (0, 1), so that the curve stays inside [-1, 1]^2"));
        }
        if !(self.periods > 0.0 && self.periods <= 100.0) {
            return Err(Error::param("periods", self.periods, "a number of periods in (0, 100]"));
        }
        Ok(())
    }
}

/// `n` 2-D points drawn uniformly from `[-1, 1]^2`, labelled by a sinusoidal decision boundary: class
/// 1 when `x1 > A sin(pi k (x0 + 1))`, else 0 (`A` = `amplitude`, `k` = `periods`, full periods across
/// the square). No label noise: the boundary is exact, so every error of a classifier is its own.
///
/// Paper E (appendix F, Figure 1) trains a shallow and a deep MLP on "a synthetic dataset" with a
/// sinusoidal boundary without giving its generator; this is ours. Both coordinates are drawn with
/// `ChaCha8Rng::seed_from_u64(seed)`, first `x0` then `x1` for each point.
pub fn sinusoid(params: &SinusoidParams) -> Result<Dataset> {
    params.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut x = Vec::with_capacity(2 * params.n);
    let mut labels = Vec::with_capacity(params.n);
    for _ in 0..params.n {
        let a: f64 = rng.random_range(-1.0..1.0);
        let b: f64 = rng.random_range(-1.0..1.0);
        // Label the stored (f32) point, so that the rule holds exactly on the data as given.
        let (a, b) = (f64::from(a as f32), f64::from(b as f32));
        x.push(a as f32);
        x.push(b as f32);
        labels.push(params.label(a, b));
    }
    Dataset::from_parts(x, labels, 2, None, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_of_class(ds: &Dataset, c: u8) -> Vec<f32> {
        let mut m = vec![0.0; ds.dim];
        let mut k = 0;
        for i in (0..ds.len()).filter(|&i| ds.labels[i] == c) {
            for (a, b) in m.iter_mut().zip(ds.row(i)) {
                *a += b;
            }
            k += 1;
        }
        m.iter().map(|v| v / k as f32).collect()
    }

    #[test]
    fn blobs_deterministic_and_seed_dependent() {
        let a = blobs(60, 3, 3, 0.2, 1).unwrap();
        let b = blobs(60, 3, 3, 0.2, 1).unwrap();
        let c = blobs(60, 3, 3, 0.2, 2).unwrap();
        assert_eq!(a.x, b.x);
        assert_eq!(a.labels, b.labels);
        assert_ne!(a.x, c.x);
        assert_eq!(a.class_counts(), vec![20, 20, 20]);
        assert_eq!(&a.labels[..4], &[0, 1, 2, 0]);
    }

    #[test]
    fn blobs_cluster_around_centres() {
        // With spread 0 every point of a class is its centre, inside [-1, 1]^dim.
        let ds = blobs(12, 4, 3, 0.0, 5).unwrap();
        for i in 3..12 {
            assert_eq!(ds.row(i), ds.row(i % 3));
        }
        assert!(ds.x.iter().all(|v| (-1.0..=1.0).contains(v)));
        // With noise, the class means stay near the centres and the spread is about right.
        let ds = blobs(3000, 2, 3, 0.1, 5).unwrap();
        let centres = blobs(3, 2, 3, 0.0, 5).unwrap();
        for c in 0..3u8 {
            let m = mean_of_class(&ds, c);
            for (a, b) in m.iter().zip(centres.row(c as usize)) {
                assert!((a - b).abs() < 0.02, "class {c}: mean {a} vs centre {b}");
            }
        }
        let var: f32 = (0..ds.len()).map(|i| (ds.row(i)[0] - centres.row(i % 3)[0]).powi(2)).sum::<f32>() / ds.len() as f32;
        assert!((var.sqrt() - 0.1).abs() < 0.01, "std {}", var.sqrt());
    }

    #[test]
    fn xor_labels_follow_quadrants() {
        let ds = xor_like(400, 0.1, 3).unwrap();
        assert_eq!(ds.dim, 2);
        assert_eq!(ds.class_counts(), vec![200, 200]);
        let agree = (0..ds.len()).filter(|&i| u8::from((ds.row(i)[0] > 0.0) != (ds.row(i)[1] > 0.0)) == ds.labels[i]).count();
        assert!(agree >= 396, "{agree} of 400 in their XOR quadrant");
    }

    #[test]
    fn stripes_labels_follow_x0() {
        let ds = stripes(500, 4, 9).unwrap();
        for i in 0..ds.len() {
            let [a, b] = [ds.row(i)[0], ds.row(i)[1]];
            assert!((-1.0..1.0).contains(&a) && (-1.0..1.0).contains(&b));
            let expected = if (-0.5..0.0).contains(&a) || a >= 0.5 { 1 } else { 0 };
            assert_eq!(ds.labels[i], expected, "point {a}");
        }
        let counts = ds.class_counts();
        assert!(counts[0] > 200 && counts[1] > 200, "{counts:?}");
    }

    #[test]
    fn bad_parameters_rejected() {
        assert!(matches!(blobs(0, 2, 2, 0.1, 0), Err(Error::Param { .. })));
        assert!(matches!(blobs(5, 0, 2, 0.1, 0), Err(Error::Param { .. })));
        assert!(matches!(blobs(5, 2, 0, 0.1, 0), Err(Error::Param { .. })));
        assert!(matches!(blobs(5, 2, 257, 0.1, 0), Err(Error::Param { .. })));
        assert!(matches!(blobs(5, 2, 2, f32::NAN, 0), Err(Error::Param { .. })));
        assert!(matches!(xor_like(4, -1.0, 0), Err(Error::Param { .. })));
        assert!(matches!(stripes(4, 1, 0), Err(Error::Param { .. })));
    }

    #[test]
    fn sinusoid_labels_follow_the_curve_and_the_seed() {
        let p = SinusoidParams { n: 3000, amplitude: 0.4, periods: 3.0, seed: 11 };
        let ds = sinusoid(&p).unwrap();
        assert_eq!((ds.len(), ds.dim, ds.classes), (3000, 2, 2));
        for i in 0..ds.len() {
            let [a, b] = [f64::from(ds.row(i)[0]), f64::from(ds.row(i)[1])];
            assert!((-1.0..1.0).contains(&a) && (-1.0..1.0).contains(&b));
            let curve = 0.4 * (std::f64::consts::PI * 3.0 * (a + 1.0)).sin();
            assert_eq!(ds.labels[i], u8::from(b > curve), "point ({a}, {b})");
        }
        // Half of the square lies above the curve (whole periods): both classes near 1500.
        let counts = ds.class_counts();
        assert!(counts[0].abs_diff(1500) < 120, "{counts:?}");
        // Near x0 = -1 + 1/6 (the first crest) the curve is at 0.4: points at x1 = 0.3 are class 0 there,
        // class 1 at the first trough x0 = -1 + 1/2.
        assert_eq!((p.label(-1.0 + 1.0 / 6.0, 0.3), p.label(-0.5, 0.3)), (0, 1));
        assert_eq!(sinusoid(&p).unwrap(), ds);
        assert_ne!(sinusoid(&SinusoidParams { seed: 12, ..p }).unwrap().x, ds.x);
    }

    #[test]
    fn sinusoid_refuses_bad_parameters_by_name() {
        let p = SinusoidParams::default();
        for (bad, name) in [
            (SinusoidParams { n: 0, ..p }, "n"),
            (SinusoidParams { amplitude: 1.0, ..p }, "amplitude"),
            (SinusoidParams { amplitude: f64::NAN, ..p }, "amplitude"),
            (SinusoidParams { periods: 0.0, ..p }, "periods"),
            (SinusoidParams { periods: f64::INFINITY, ..p }, "periods"),
        ] {
            let e = sinusoid(&bad).unwrap_err().to_string();
            assert!(e.contains(name), "{bad:?}: {e}");
        }
    }
}
