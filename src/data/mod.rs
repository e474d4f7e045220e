//! Data: labelled examples in memory, the MNIST files they come from, and generated toy sets.
//!
//! A [`Dataset`] is a dense `n x dim` matrix of `f32` features (row-major, one example per row) with
//! one `u8` label per example. It is built checked ([`Dataset::from_parts`]: sizes agree, labels in
//! range, no NaN or infinity, not empty) and offers what a trainer needs: the paper's validation
//! hold-out ([`Dataset::split_last`]), subsets, per-example L2 normalisation and a copy-only
//! mini-batch gather ([`Dataset::gather_batch`]).
//!
//! Sources:
//! * MNIST in its IDX files ([`load_mnist`], [`load_idx_pair`], the format in [`idx`]); paper A
//!   (section 3) trains on the MNIST training set, stops on a validation set and reports on the 10000
//!   test images; the validation set is the last 10000 training images ([`Dataset::split_last`]).
//! * A stratified sample of MNIST shipped in `data/mnist-sample/` (10000 training, 2000 test images),
//!   made by `cargo run --release --example make_mnist_sample` with [`stratified_indices`].
//! * Generated sets ([`synthetic`]).
//!
//! The command line names a source with a [`DataSpec`] (`mnist:DIR`, `DIR`, `sample`,
//! `synthetic:NAME[,key=value...]`) and [`load`]s it as a [`TrainTest`] pair.
//!
//! ```
//! use compete::data::{DataSpec, load};
//!
//! let spec: DataSpec = "synthetic:blobs,n=200,n_test=50,dim=3,classes=4".parse().unwrap();
//! let data = load(&spec).unwrap();
//! assert_eq!((data.train.len(), data.test.len(), data.train.dim), (200, 50, 3));
//! let (fit, val) = data.train.split_last(40).unwrap();
//! assert_eq!((fit.len(), val.len()), (160, 40));
//! ```

pub mod idx;
mod mnist;
mod spec;
pub mod synthetic;

pub use mnist::{
    MNIST_STEMS, MnistFiles, RawDataset, RawMnist, default_classes, find_mnist_files, load_idx_pair, load_mnist, read_raw_mnist,
    stratified_indices, stratified_sample, write_raw_mnist,
};
pub use spec::{DataSpec, SAMPLE_DIR, SyntheticKind, SyntheticSpec, load, sample_dir};

use crate::error::{Error, Result};

/// Labelled examples: `n` rows of `dim` features and `n` labels in `0..classes`.
///
/// The fields are public for reading; build one with [`Dataset::from_parts`] so that its invariants
/// (`x.len() == n * dim`, every label `< classes`, every feature finite, `n >= 1`) hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Features, `n * dim`, row-major: example `i` is `x[i * dim..(i + 1) * dim]`.
    pub x: Vec<f32>,
    /// One label per example, each `< classes`.
    pub labels: Vec<u8>,
    /// Features per example (784 for MNIST).
    pub dim: usize,
    /// `(rows, cols)` when the examples are images stored row-major (`rows * cols == dim`).
    pub image_shape: Option<(usize, usize)>,
    /// Number of classes (outputs of a classifier); some may have no example.
    pub classes: usize,
}

impl Dataset {
    /// Builds a dataset after checking everything: `dim >= 1`, at least one example,
    /// `x.len() == labels.len() * dim`, `1 <= classes <= 256`, every label `< classes`,
    /// `rows * cols == dim` for an image shape, and no NaN or infinity in `x`.
    pub fn from_parts(x: Vec<f32>, labels: Vec<u8>, dim: usize, image_shape: Option<(usize, usize)>, classes: usize) -> Result<Self> {
        let ds = Self::from_finite_parts(x, labels, dim, image_shape, classes)?;
        if let Some(k) = ds.x.iter().position(|v| !v.is_finite()) {
            return Err(Error::Data(format!("feature {} of example {} is {}: expected finite values", k % dim, k / dim, ds.x[k])));
        }
        Ok(ds)
    }

    /// [`Dataset::from_parts`] without the scan for NaN and infinity, for features finite by
    /// construction (pixels divided by 255).
    fn from_finite_parts(x: Vec<f32>, labels: Vec<u8>, dim: usize, image_shape: Option<(usize, usize)>, classes: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::param("dim", dim, "at least 1 feature per example"));
        }
        if labels.is_empty() {
            return Err(Error::Data(format!("empty dataset: 0 labels and {} features given, expected at least one example", x.len())));
        }
        let n = labels.len();
        if Some(x.len()) != n.checked_mul(dim) {
            return Err(Error::shape(
                "dataset features",
                format!("{} values", x.len()),
                format!("{n} examples x {dim} features = {}", n * dim),
            ));
        }
        if !(1..=256).contains(&classes) {
            return Err(Error::param("classes", classes, "between 1 and 256 (labels are u8)"));
        }
        if let Some(i) = labels.iter().position(|&l| usize::from(l) >= classes) {
            return Err(Error::Data(format!(
                "label {} of example {i} is out of range: expected a label < {classes} (the number of classes)",
                labels[i]
            )));
        }
        if let Some((rows, cols)) = image_shape
            && rows.checked_mul(cols) != Some(dim)
        {
            return Err(Error::shape(
                "image shape",
                format!("{rows}x{cols} = {} pixels", rows.saturating_mul(cols)),
                format!("{dim} (the features per example)"),
            ));
        }
        Ok(Dataset { x, labels, dim, image_shape, classes })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no example (never true for a dataset built by [`Dataset::from_parts`]).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The features of example `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.dim..(i + 1) * self.dim]
    }

    /// Splits off the **last** `n_val` examples as a validation set, as the papers do with MNIST
    /// (training on the first 50000 of the 60000 training images, validating on the last 10000).
    ///
    /// Returns `(train, validation)`, both in the original order. `n_val` must be in `1..len()`.
    pub fn split_last(&self, n_val: usize) -> Result<(Dataset, Dataset)> {
        let n = self.len();
        if n_val == 0 || n_val >= n {
            return Err(Error::param(
                "n_val",
                n_val,
                format!("between 1 and {} (the dataset has {n} examples; both parts must be non-empty)", n.saturating_sub(1)),
            ));
        }
        let cut = n - n_val;
        let part = |rows: std::ops::Range<usize>| Dataset {
            x: self.x[rows.start * self.dim..rows.end * self.dim].to_vec(),
            labels: self.labels[rows].to_vec(),
            dim: self.dim,
            image_shape: self.image_shape,
            classes: self.classes,
        };
        Ok((part(0..cut), part(cut..n)))
    }

    /// The examples at `indices`, in that order (repetitions allowed), with the same `dim`,
    /// `image_shape` and `classes`.
    ///
    /// Fails when `indices` is empty or an index is `>= len()`.
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset> {
        if indices.is_empty() {
            return Err(Error::Data("empty subset: expected at least one index".to_string()));
        }
        check_indices(indices, self.len())?;
        let mut x = vec![0.0; indices.len() * self.dim];
        let mut labels = vec![0; indices.len()];
        self.gather_batch(indices, &mut x, &mut labels);
        Ok(Dataset { x, labels, dim: self.dim, image_shape: self.image_shape, classes: self.classes })
    }

    /// Scales every example to unit Euclidean norm; an all-zero example stays zero.
    ///
    /// The norm is accumulated in `f64`.
    pub fn l2_normalize(&mut self) {
        for row in self.x.chunks_exact_mut(self.dim) {
            let norm = row.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
            if norm > 0.0 {
                let inv = 1.0 / norm;
                for v in row {
                    *v = (f64::from(*v) * inv) as f32;
                }
            }
        }
    }

    /// Number of examples of each class, `classes` entries.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(usize::from(l)) {
                *c += 1;
            }
        }
        counts
    }

    /// Copies the examples at `indices` into a mini-batch: row `k` of `out_x` (row-major,
    /// `indices.len() x dim`) gets example `indices[k]`, and `out_labels[k]` its label.
    ///
    /// A plain copy into caller-owned buffers, for the training loop; no allocation. For a final,
    /// shorter batch pass sub-slices of the buffers (`&mut buf[..b * dim]`).
    ///
    /// # Panics
    /// If `out_x.len() != indices.len() * dim`, `out_labels.len() != indices.len()` or an index is
    /// `>= len()` (indices come from the trainer's own permutation, not from the user).
    pub fn gather_batch(&self, indices: &[usize], out_x: &mut [f32], out_labels: &mut [u8]) {
        let dim = self.dim;
        assert_eq!(
            out_x.len(),
            indices.len() * dim,
            "gather_batch: out_x holds {} values, expected {} indices x {dim}",
            out_x.len(),
            indices.len()
        );
        assert_eq!(
            out_labels.len(),
            indices.len(),
            "gather_batch: out_labels holds {} labels, expected {}",
            out_labels.len(),
            indices.len()
        );
        for ((&i, dst), label) in indices.iter().zip(out_x.chunks_exact_mut(dim)).zip(out_labels.iter_mut()) {
            dst.copy_from_slice(&self.x[i * dim..(i + 1) * dim]);
            *label = self.labels[i];
        }
    }
}

/// Fails when an index is out of `0..len`.
fn check_indices(indices: &[usize], len: usize) -> Result<()> {
    match indices.iter().position(|&i| i >= len) {
        Some(k) => Err(Error::param(format!("index {k}"), indices[k], format!("an example index < {len} (the dataset size)"))),
        None => Ok(()),
    }
}

/// A training set and a test set of the same kind (same `dim`, `image_shape` and `classes`).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainTest {
    /// Training examples (hold out a validation set with [`Dataset::split_last`]).
    pub train: Dataset,
    /// Test examples.
    pub test: Dataset,
}

/// MNIST: 60000 training and 10000 test images of 28x28 pixels (or the shipped sample).
pub type Mnist = TrainTest;

/// The validation size used when none is given: 10000 for a training set of at least 20000
/// examples (the papers' 50000 / 10000 split of MNIST), else a tenth of it.
pub fn default_validation(n: usize) -> usize {
    if n >= 20000 { 10000 } else { n / 10 }
}

/// Loads `source` (a [`DataSpec`]: `sample`, `mnist:DIR`, `DIR` or `synthetic:...`) and returns
/// `(train, validation, test)`: the validation set is the last `validation` training examples
/// (default: [`default_validation`]). With `l2_normalize` every example is scaled to unit norm.
pub fn load_split(source: &str, validation: Option<usize>, l2_normalize: bool) -> Result<(Dataset, Dataset, Dataset)> {
    let spec = DataSpec::parse(source)?;
    let TrainTest { train, mut test } = load(&spec)?;
    let n_val = validation.unwrap_or_else(|| default_validation(train.len()));
    let (mut train, mut val) = train.split_last(n_val).map_err(|e| match e {
        Error::Param { value, expected, .. } => Error::Param { name: format!("validation size for {source}"), value, expected },
        e => e,
    })?;
    if l2_normalize {
        for d in [&mut train, &mut val, &mut test] {
            d.l2_normalize();
        }
    }
    Ok((train, val, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Dataset {
        // 5 examples of 3 features: example i is [i, 10 + i, 20 + i], label i % 3.
        let x = (0..5).flat_map(|i| [i as f32, 10.0 + i as f32, 20.0 + i as f32]).collect();
        Dataset::from_parts(x, vec![0, 1, 2, 0, 1], 3, None, 3).unwrap()
    }

    #[test]
    fn from_parts_accepts_valid_and_reports_shape() {
        let ds = small();
        assert_eq!(ds.len(), 5);
        assert!(!ds.is_empty());
        assert_eq!(ds.row(3), &[3.0, 13.0, 23.0]);
        let img = Dataset::from_parts(vec![0.5; 12], vec![1, 0], 6, Some((2, 3)), 2).unwrap();
        assert_eq!(img.image_shape, Some((2, 3)));
    }

    #[test]
    fn empty_dataset_rejected() {
        let e = Dataset::from_parts(vec![], vec![], 4, None, 10).unwrap_err();
        assert!(matches!(&e, Error::Data(m) if m.contains("empty dataset")), "{e}");
        assert!(matches!(Dataset::from_parts(vec![], vec![1], 0, None, 10), Err(Error::Param { .. })));
    }

    #[test]
    fn size_mismatch_rejected() {
        let e = Dataset::from_parts(vec![0.0; 7], vec![0, 1], 4, None, 2).unwrap_err();
        assert!(matches!(&e, Error::Shape { .. }) && e.to_string().contains("7 values"), "{e}");
        let e = Dataset::from_parts(vec![0.0; 8], vec![0, 1], 4, Some((3, 3)), 2).unwrap_err();
        assert!(e.to_string().contains("3x3 = 9 pixels"), "{e}");
    }

    #[test]
    fn labels_out_of_range_rejected() {
        let e = Dataset::from_parts(vec![0.0; 3], vec![0, 2, 1], 1, None, 2).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("label 2 of example 1") && m.contains("< 2"), "{m}");
        assert!(matches!(Dataset::from_parts(vec![0.0], vec![0], 1, None, 0), Err(Error::Param { .. })));
        assert!(matches!(Dataset::from_parts(vec![0.0], vec![0], 1, None, 257), Err(Error::Param { .. })));
    }

    #[test]
    fn nan_and_inf_rejected() {
        let e = Dataset::from_parts(vec![0.0, 1.0, f32::NAN, 0.0], vec![0, 1], 2, None, 2).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("feature 0 of example 1 is NaN"), "{m}");
        let e = Dataset::from_parts(vec![0.0, f32::NEG_INFINITY], vec![0], 2, None, 2).unwrap_err();
        assert!(e.to_string().contains("-inf"), "{e}");
    }

    #[test]
    fn split_last_holds_out_the_last_rows() {
        let ds = small();
        let (train, val) = ds.split_last(2).unwrap();
        assert_eq!((train.len(), val.len()), (3, 2));
        assert_eq!(train.x, ds.x[..9]);
        assert_eq!(val.x, ds.x[9..]);
        assert_eq!(train.labels, vec![0, 1, 2]);
        assert_eq!(val.labels, vec![0, 1]);
        assert_eq!(val.row(0), &[3.0, 13.0, 23.0]);
        assert_eq!((val.dim, val.classes), (3, 3));
        for bad in [0, 5, 6] {
            let e = ds.split_last(bad).unwrap_err();
            assert!(matches!(&e, Error::Param { name, .. } if name == "n_val"), "{e}");
        }
        assert!(ds.split_last(4).is_ok());
    }

    #[test]
    fn subset_and_gather_batch_copy_rows() {
        let ds = small();
        let sub = ds.subset(&[4, 0, 4]).unwrap();
        assert_eq!(sub.labels, vec![1, 0, 1]);
        assert_eq!(sub.x, vec![4.0, 14.0, 24.0, 0.0, 10.0, 20.0, 4.0, 14.0, 24.0]);
        assert_eq!(sub.classes, 3);
        assert!(matches!(ds.subset(&[1, 5]), Err(Error::Param { .. })));
        assert!(matches!(ds.subset(&[]), Err(Error::Data(_))));
        let mut bx = vec![-1.0; 6];
        let mut bl = vec![9; 2];
        ds.gather_batch(&[2, 1], &mut bx, &mut bl);
        assert_eq!(bx, vec![2.0, 12.0, 22.0, 1.0, 11.0, 21.0]);
        assert_eq!(bl, vec![2, 1]);
    }

    #[test]
    #[should_panic(expected = "gather_batch: out_x")]
    fn gather_batch_checks_buffer_size() {
        let ds = small();
        ds.gather_batch(&[0, 1], &mut [0.0; 5], &mut [0; 2]);
    }

    #[test]
    fn l2_normalize_rows() {
        let mut ds = Dataset::from_parts(vec![3.0, 4.0, 0.0, 0.0, -1.0, 0.0, 1e-20, 1e-20], vec![0; 4], 2, None, 1).unwrap();
        ds.l2_normalize();
        assert_eq!(ds.row(0), &[0.6, 0.8]);
        assert_eq!(ds.row(1), &[0.0, 0.0]);
        assert_eq!(ds.row(2), &[-1.0, 0.0]);
        let r = ds.row(3);
        assert!((r[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6 && (r[1] - r[0]).abs() < 1e-7, "{r:?}");
    }

    #[test]
    fn class_counts_include_empty_classes() {
        let ds = Dataset::from_parts(vec![0.0; 4], vec![3, 0, 3, 3], 1, None, 5).unwrap();
        assert_eq!(ds.class_counts(), vec![1, 0, 0, 3, 0]);
    }
}
