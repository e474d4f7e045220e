//! An unsupervised binary-code baseline for retrieval: random-hyperplane locality-sensitive hashing
//! (sign random projections, Charikar 2002) of real-valued features.
//!
//! Paper A (section 4.2) compares submasks with a supervised hash (DiffHash) trained on the
//! network's features. This baseline needs no training and no labels: it tells how much of the
//! retrieval quality of submasks a generic binary code of the same length, computed from the same
//! layer's real-valued activations, already has.
//!
//! Bit `j` of the code of a feature vector `x` is `1` when `w_j . (x - mean) > 0` (a projection of
//! exactly 0 gives 0), with
//!
//! - `mean` the per-feature mean of the features given to [`Lsh::fit`] (the database / training
//!   features), applied unchanged to queries;
//! - `w_j` a direction with independent standard normal entries, drawn from a ChaCha8 generator
//!   seeded with `seed`: direction 0 first, entry 0 first, so the first `b` directions do not depend
//!   on the total number of bits.
//!
//! For two centred vectors at angle `theta`, each bit differs with probability `theta / pi`, so the
//! expected Hamming distance is `bits * theta / pi`.
//!
//! ```
//! use compete::retrieval::baseline::Lsh;
//! use compete::tensor::Matrix;
//!
//! let features = Matrix::from_vec(3, 2, vec![1.0, 0.0, 0.0, 1.0, -1.0, -1.0]).unwrap();
//! let lsh = Lsh::fit(&features, 16, 7).unwrap();
//! let codes = lsh.encode(&features).unwrap();
//! assert_eq!((codes.len(), codes.bits()), (3, 16));
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::codes::BinaryCodes;
use crate::error::{Error, Result};
use crate::tensor::{Matrix, Op, matmul};

/// Rows projected at once by [`Lsh::encode`] (bounds the temporary memory).
const CHUNK: usize = 512;

/// One draw from the standard normal distribution (Box-Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // 1 - u is in (0, 1], so the logarithm is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Checks that every value of `m` is finite, naming the row and column otherwise.
fn check_finite(m: &Matrix, what: &str) -> Result<()> {
    match m.data.iter().position(|v| !v.is_finite()) {
        Some(k) => {
            Err(Error::Data(format!("{what}: feature {} of row {} is {}; expected finite values", k % m.cols, k / m.cols, m.data[k])))
        }
        None => Ok(()),
    }
}

/// Random-hyperplane LSH fitted on a set of features (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Lsh {
    mean: Vec<f32>,
    /// `bits x dim`: one direction per row.
    directions: Matrix,
    seed: u64,
}

impl Lsh {
    /// Estimates the mean of `features` (`[n, dim]`, `n >= 1`, finite) and draws `bits` random
    /// directions from `seed`.
    pub fn fit(features: &Matrix, bits: usize, seed: u64) -> Result<Lsh> {
        if bits == 0 {
            return Err(Error::param("LSH code length (bits)", 0, "at least 1 bit"));
        }
        if features.rows == 0 || features.cols == 0 || features.data.len() != features.rows * features.cols {
            return Err(Error::shape(
                "LSH training features",
                format!("{} x {} ({} values)", features.rows, features.cols, features.data.len()),
                "at least one row of at least one feature",
            ));
        }
        check_finite(features, "LSH training features")?;
        let dim = features.cols;
        let mut sum = vec![0f64; dim];
        for r in 0..features.rows {
            for (s, &v) in sum.iter_mut().zip(features.row(r)) {
                *s += v as f64;
            }
        }
        let mean = sum.iter().map(|s| (s / features.rows as f64) as f32).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let dirs = (0..bits * dim).map(|_| normal(&mut rng) as f32).collect();
        Ok(Lsh { mean, directions: Matrix::from_vec(bits, dim, dirs)?, seed })
    }

    /// Code length.
    pub fn bits(&self) -> usize {
        self.directions.rows
    }

    /// Features per input vector.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// The seed the directions were drawn from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The mean subtracted before projecting.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The directions, `bits x dim`, one per row.
    pub fn directions(&self) -> &Matrix {
        &self.directions
    }

    /// The codes of `features` (`[n, dim]`, finite): bit `j` is `w_j . (x - mean) > 0`.
    pub fn encode(&self, features: &Matrix) -> Result<BinaryCodes> {
        let dim = self.dim();
        if features.cols != dim || features.data.len() != features.rows * features.cols {
            return Err(Error::shape(
                "features to hash",
                format!("{} x {}", features.rows, features.cols),
                format!("{dim} features per row, as the features the LSH was fitted on"),
            ));
        }
        check_finite(features, "features to hash")?;
        let bits = self.bits();
        let mut codes = BinaryCodes::zeros(features.rows, bits)?;
        let mut centred = Matrix::zeros(0, dim);
        let mut proj = Matrix::zeros(0, bits);
        let mut flags = vec![false; bits];
        for r0 in (0..features.rows).step_by(CHUNK) {
            let m = CHUNK.min(features.rows - r0);
            centred.resize(m, dim);
            centred.data.copy_from_slice(&features.data[r0 * dim..(r0 + m) * dim]);
            for row in centred.data.chunks_exact_mut(dim) {
                for (v, mu) in row.iter_mut().zip(&self.mean) {
                    *v -= mu;
                }
            }
            proj.resize(m, bits);
            matmul(&mut proj, &centred, Op::N, &self.directions, Op::T, false)?;
            for r in 0..m {
                for (f, &p) in flags.iter_mut().zip(proj.row(r)) {
                    *f = p > 0.0;
                }
                codes.set_row_from_bools(r0 + r, &flags);
            }
        }
        Ok(codes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(n: usize, dim: usize, seed: u64) -> Matrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Matrix::from_vec(n, dim, (0..n * dim).map(|_| normal(&mut rng) as f32 + 0.5).collect()).unwrap()
    }

    #[test]
    fn codes_are_deterministic_and_have_the_asked_length() {
        let x = features(600, 12, 1);
        let a = Lsh::fit(&x, 70, 5).unwrap().encode(&x).unwrap();
        let b = Lsh::fit(&x, 70, 5).unwrap().encode(&x).unwrap();
        assert_eq!(a, b);
        assert_eq!((a.len(), a.bits(), a.words()), (600, 70, 2));
        let c = Lsh::fit(&x, 70, 6).unwrap().encode(&x).unwrap();
        assert_ne!(a, c);
        // More bits than features is allowed; fewer bits give a prefix of the same directions.
        let short = Lsh::fit(&x, 20, 5).unwrap();
        assert_eq!(short.directions().data[..], Lsh::fit(&x, 70, 5).unwrap().directions().data[..20 * 12]);
        let s = short.encode(&x).unwrap();
        for i in [0, 299, 599] {
            assert_eq!((0..20).map(|j| s.bit(i, j)).collect::<Vec<_>>(), (0..20).map(|j| a.bit(i, j)).collect::<Vec<_>>());
        }
        // Centred features: roughly half the bits are 1.
        let ones: u32 = (0..a.len()).map(|i| a.count_ones(i)).sum();
        let frac = ones as f64 / (600.0 * 70.0);
        assert!((0.45..0.55).contains(&frac), "{frac}");
    }

    #[test]
    fn the_training_mean_is_subtracted_from_queries() {
        let x = features(50, 6, 2);
        let lsh = Lsh::fit(&x, 64, 3).unwrap();
        let mean: Vec<f32> = (0..6).map(|c| (0..50).map(|r| x.data[r * 6 + c] as f64).sum::<f64>() as f32 / 50.0).collect();
        for (a, b) in lsh.mean().iter().zip(&mean) {
            assert!((a - b).abs() < 1e-5);
        }
        // The mean itself projects to 0 everywhere: all bits 0.
        let at_mean = lsh.encode(&Matrix::from_vec(1, 6, lsh.mean().to_vec()).unwrap()).unwrap();
        assert_eq!(at_mean.count_ones(0), 0);
    }

    #[test]
    fn near_vectors_get_near_codes_and_opposite_vectors_opposite_codes() {
        let dim = 16;
        let base = features(8, dim, 4);
        // The fitting set holds every vector and its negative, so its mean is (almost exactly) 0.
        let mut sym = base.data.clone();
        sym.extend(base.data.iter().map(|v| -v));
        let lsh = Lsh::fit(&Matrix::from_vec(16, dim, sym).unwrap(), 256, 9).unwrap();
        assert!(lsh.mean().iter().all(|m| m.abs() < 1e-6));
        let near =
            Matrix::from_vec(8, dim, base.data.iter().enumerate().map(|(k, v)| v + 1e-4 * ((k % 3) as f32 - 1.0)).collect()).unwrap();
        let opposite = Matrix::from_vec(8, dim, base.data.iter().map(|v| -v).collect()).unwrap();
        let (c, n, o) = (lsh.encode(&base).unwrap(), lsh.encode(&near).unwrap(), lsh.encode(&opposite).unwrap());
        for i in 0..8 {
            assert!(c.distance(i, &n, i) <= 3, "near vector {i}: distance {}", c.distance(i, &n, i));
            assert_eq!(c.distance(i, &o, i), 256, "opposite vector {i}");
        }
        // Orthogonal vectors: each bit differs with probability 1/2, so about 1024 of 2048 bits.
        let lsh = Lsh::fit(&Matrix::from_vec(2, 2, vec![1.0, 0.0, -1.0, 0.0]).unwrap(), 2048, 1).unwrap();
        let codes = lsh.encode(&Matrix::from_vec(2, 2, vec![1.0, 0.0, 0.0, 1.0]).unwrap()).unwrap();
        let d = codes.distance(0, &codes, 1);
        assert!((950..=1100).contains(&d), "{d}");
    }

    #[test]
    fn bad_input_is_refused() {
        let x = features(4, 3, 0);
        assert!(Lsh::fit(&x, 0, 0).unwrap_err().to_string().contains("bits"));
        assert!(Lsh::fit(&Matrix::zeros(0, 3), 8, 0).is_err());
        let mut nan = x.clone();
        nan.data[4] = f32::NAN;
        let e = Lsh::fit(&nan, 8, 0).unwrap_err().to_string();
        assert!(e.contains("row 1") && e.contains("NaN"), "{e}");
        let lsh = Lsh::fit(&x, 8, 0).unwrap();
        let e = lsh.encode(&features(2, 4, 0)).unwrap_err().to_string();
        assert!(e.contains("2 x 4") && e.contains("3 features"), "{e}");
        assert!(lsh.encode(&nan).is_err());
        assert_eq!(lsh.encode(&Matrix::zeros(0, 3)).unwrap().len(), 0);
    }
}
