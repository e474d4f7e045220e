//! MNIST-layout folders: finding, reading, sampling and writing the four IDX files.

use std::ops::Range;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::idx::{IdxImages, read_idx_images, read_idx_labels, write_idx_images, write_idx_labels};
use super::{Dataset, TrainTest, check_indices};
use crate::error::{Error, Result};

/// The four MNIST file names without `.gz`: training images and labels, test images and labels.
pub const MNIST_STEMS: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// Number of classes given to labelled data read from files: 10 (the digits), or the largest label
/// plus one when a file holds larger labels.
///
/// Ten at least, so that a sample or subset that happens to lack a digit still gives a 10-way
/// classifier compatible with full MNIST; more when the labels need it (e.g. letters in the same
/// format), so that every label is in range.
pub fn default_classes(labels: &[u8]) -> usize {
    labels.iter().max().map_or(10, |&m| (usize::from(m) + 1).max(10))
}

/// Raw images and labels exactly as stored in IDX files (pixels as `u8`, nothing converted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDataset {
    /// The images.
    pub images: IdxImages,
    /// One label per image.
    pub labels: Vec<u8>,
}

impl RawDataset {
    /// Reads an image file and a label file (gzip-compressed or not) and checks that they hold as
    /// many images as labels.
    pub fn read(images: &Path, labels: &Path) -> Result<Self> {
        let imgs = read_idx_images(images)?;
        let labs = read_idx_labels(labels)?;
        if imgs.n != labs.len() {
            return Err(Error::Data(format!(
                "{} holds {} images but {} holds {} labels: expected one label per image",
                images.display(),
                imgs.n,
                labels.display(),
                labs.len()
            )));
        }
        Ok(RawDataset { images: imgs, labels: labs })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no example.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The examples at `indices`, in that order, bytes copied unchanged. Fails on an empty list or an
    /// index out of range.
    pub fn select(&self, indices: &[usize]) -> Result<RawDataset> {
        if indices.is_empty() {
            return Err(Error::Data("empty selection: expected at least one index".to_string()));
        }
        check_indices(indices, self.len())?;
        let mut pixels = Vec::with_capacity(indices.len() * self.images.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.images.image(i));
        }
        let labels = indices.iter().map(|&i| self.labels[i]).collect();
        Ok(RawDataset { images: IdxImages { n: indices.len(), rows: self.images.rows, cols: self.images.cols, pixels }, labels })
    }

    /// Converts to a [`Dataset`]: pixels scaled to `[0, 1]` by `p / 255` in one (parallel) pass, image
    /// shape `(rows, cols)`, [`default_classes`] classes.
    pub fn to_dataset(&self) -> Result<Dataset> {
        let im = &self.images;
        if im.n != self.labels.len() {
            return Err(Error::shape("labels of a raw dataset", self.labels.len().to_string(), format!("{} (one per image)", im.n)));
        }
        let x: Vec<f32> = im.pixels.par_iter().with_min_len(1 << 16).map(|&p| f32::from(p) / 255.0).collect();
        // Finite by construction: no scan for NaN needed.
        Dataset::from_finite_parts(x, self.labels.clone(), im.image_len(), Some((im.rows, im.cols)), default_classes(&self.labels))
    }

    /// Writes the images and labels as two IDX files (gzip-compressed when `gzip`), each atomically.
    pub fn write(&self, images: &Path, labels: &Path, gzip: bool) -> Result<()> {
        if self.images.n != self.labels.len() {
            return Err(Error::shape(
                "labels of a raw dataset",
                self.labels.len().to_string(),
                format!("{} (one per image)", self.images.n),
            ));
        }
        let im = &self.images;
        write_idx_images(images, im.n, im.rows, im.cols, &im.pixels, gzip)?;
        write_idx_labels(labels, &self.labels, gzip)
    }
}

/// Reads an IDX image file and an IDX label file (each gzip-compressed or not) into a [`Dataset`]:
/// pixels scaled to `[0, 1]` by `/ 255`, `image_shape = (rows, cols)`, and
/// `classes = max(10, largest label + 1)` (see [`default_classes`]).
///
/// Fails, naming both files and both counts, when the number of images and of labels differ.
pub fn load_idx_pair(images: &Path, labels: &Path) -> Result<Dataset> {
    RawDataset::read(images, labels)?.to_dataset()
}

/// Indices of the first `per_class` examples of each class `0..classes` among `labels[range]`, in
/// file order (ascending), as indices into the whole of `labels`.
///
/// Fails when `range` is outside `labels`, `per_class` is 0, or a class has fewer than `per_class`
/// examples in the range (the message gives the counts found).
pub fn stratified_indices(labels: &[u8], range: Range<usize>, classes: usize, per_class: usize) -> Result<Vec<usize>> {
    if range.start > range.end || range.end > labels.len() {
        return Err(Error::param("range", format!("{}..{}", range.start, range.end), format!("a range within 0..{}", labels.len())));
    }
    if per_class == 0 {
        return Err(Error::param("per_class", per_class, "at least 1"));
    }
    if !(1..=256).contains(&classes) {
        return Err(Error::param("classes", classes, "between 1 and 256 (labels are u8)"));
    }
    let mut taken = vec![0usize; classes];
    let mut out = Vec::with_capacity(classes * per_class);
    for i in range.clone() {
        if let Some(t) = taken.get_mut(usize::from(labels[i]))
            && *t < per_class
        {
            *t += 1;
            out.push(i);
        }
    }
    if let Some(c) = taken.iter().position(|&t| t < per_class) {
        return Err(Error::Data(format!(
            "stratified sample of {per_class} per class: class {c} has only {} examples in {}..{} (counts taken: {taken:?})",
            taken[c], range.start, range.end
        )));
    }
    Ok(out)
}

/// The first `per_class` examples of each class `0..classes` of `raw`, in file order, bytes unchanged.
/// See [`stratified_indices`].
pub fn stratified_sample(raw: &RawDataset, classes: usize, per_class: usize) -> Result<RawDataset> {
    raw.select(&stratified_indices(&raw.labels, 0..raw.len(), classes, per_class)?)
}

/// Paths of the four files of an MNIST-layout folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MnistFiles {
    /// `train-images-idx3-ubyte[.gz]`.
    pub train_images: PathBuf,
    /// `train-labels-idx1-ubyte[.gz]`.
    pub train_labels: PathBuf,
    /// `t10k-images-idx3-ubyte[.gz]`.
    pub test_images: PathBuf,
    /// `t10k-labels-idx1-ubyte[.gz]`.
    pub test_labels: PathBuf,
}

/// Finds the four MNIST files in `dir`, each as `NAME` or `NAME.gz` (the uncompressed one when both
/// exist). A missing file is an error that lists every path looked for.
pub fn find_mnist_files(dir: &Path) -> Result<MnistFiles> {
    if !dir.is_dir() {
        return Err(Error::Data(format!("MNIST folder {} does not exist or is not a folder", dir.display())));
    }
    let mut found = Vec::with_capacity(4);
    let mut missing = Vec::new();
    for stem in MNIST_STEMS {
        let plain = dir.join(stem);
        let gz = dir.join(format!("{stem}.gz"));
        if plain.is_file() {
            found.push(plain);
        } else if gz.is_file() {
            found.push(gz);
        } else {
            missing.push(format!("{} or {}", plain.display(), gz.display()));
        }
    }
    match <[PathBuf; 4]>::try_from(found) {
        Ok([train_images, train_labels, test_images, test_labels]) => {
            Ok(MnistFiles { train_images, train_labels, test_images, test_labels })
        }
        Err(_) => Err(Error::Data(format!(
            "MNIST folder {}: {} of the 4 files missing; looked for {}",
            dir.display(),
            missing.len(),
            missing.join("; ")
        ))),
    }
}

/// The raw training and test sets of an MNIST-layout folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMnist {
    /// Training images and labels.
    pub train: RawDataset,
    /// Test images and labels.
    pub test: RawDataset,
}

/// Reads the four files of an MNIST-layout folder without converting the pixels.
pub fn read_raw_mnist(dir: &Path) -> Result<RawMnist> {
    let f = find_mnist_files(dir)?;
    let (train, test) =
        rayon::join(|| RawDataset::read(&f.train_images, &f.train_labels), || RawDataset::read(&f.test_images, &f.test_labels));
    let (train, test) = (train?, test?);
    let (a, b) = ((train.images.rows, train.images.cols), (test.images.rows, test.images.cols));
    if a != b {
        return Err(Error::shape(
            format!("test images of {}", f.test_images.display()),
            format!("{}x{}", b.0, b.1),
            format!("{}x{} like the training images", a.0, a.1),
        ));
    }
    Ok(RawMnist { train, test })
}

/// Writes `data` into `dir` (created if needed) under the four standard MNIST names, with `.gz`
/// appended when `gzip`. Each file is written atomically.
pub fn write_raw_mnist(dir: &Path, data: &RawMnist, gzip: bool) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = |stem: &str| dir.join(if gzip { format!("{stem}.gz") } else { stem.to_string() });
    data.train.write(&path(MNIST_STEMS[0]), &path(MNIST_STEMS[1]), gzip)?;
    data.test.write(&path(MNIST_STEMS[2]), &path(MNIST_STEMS[3]), gzip)
}

/// Loads an MNIST-layout folder (see [`find_mnist_files`]) as training and test [`Dataset`]s with
/// pixels in `[0, 1]`. The number of classes comes from the training labels alone
/// ([`default_classes`]: 10 for MNIST), so that the test set can never change the architecture: a
/// test label outside them is an error naming the test label file, the index and the label.
pub fn load_mnist(dir: &Path) -> Result<TrainTest> {
    let files = find_mnist_files(dir)?;
    let raw = read_raw_mnist(dir)?;
    let train = raw.train.to_dataset()?;
    drop(raw.train);
    if let Some(i) = raw.test.labels.iter().position(|&l| usize::from(l) >= train.classes) {
        return Err(Error::format(
            &files.test_labels,
            format!(
                "label {} of test example {i} is outside the {} classes of the training labels ({}): expected a label < {}",
                raw.test.labels[i],
                train.classes,
                files.train_labels.display(),
                train.classes
            ),
        ));
    }
    let mut test = raw.test.to_dataset()?;
    test.classes = train.classes;
    Ok(TrainTest { train, test })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw set of `labels.len()` 2x3 images whose pixels encode their index.
    fn raw(labels: &[u8]) -> RawDataset {
        let pixels = (0..labels.len()).flat_map(|i| [i as u8, 0, 255, 1, 2, i as u8]).collect();
        RawDataset { images: IdxImages { n: labels.len(), rows: 2, cols: 3, pixels }, labels: labels.to_vec() }
    }

    #[test]
    fn idx_pair_loads_scaled_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let (ip, lp) = (dir.path().join("i.gz"), dir.path().join("l"));
        raw(&[3, 1, 4]).write(&ip, &lp, true).unwrap();
        let ds = load_idx_pair(&ip, &lp).unwrap();
        assert_eq!((ds.len(), ds.dim, ds.image_shape, ds.classes), (3, 6, Some((2, 3)), 10));
        assert_eq!(ds.row(2), &[2.0 / 255.0, 0.0, 1.0, 1.0 / 255.0, 2.0 / 255.0, 2.0 / 255.0]);
        assert_eq!(ds.labels, vec![3, 1, 4]);
    }

    #[test]
    fn classes_grow_with_large_labels() {
        assert_eq!(default_classes(&[0, 1]), 10);
        assert_eq!(default_classes(&[9]), 10);
        assert_eq!(default_classes(&[3, 25]), 26);
        assert_eq!(raw(&[0, 12]).to_dataset().unwrap().classes, 13);
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let (ip, lp) = (dir.path().join("imgs"), dir.path().join("labs.gz"));
        write_idx_images(&ip, 3, 2, 3, &[0; 18], false).unwrap();
        write_idx_labels(&lp, &[1, 2], true).unwrap();
        let m = load_idx_pair(&ip, &lp).unwrap_err().to_string();
        assert!(m.contains("imgs holds 3 images") && m.contains("labs.gz holds 2 labels"), "{m}");
    }

    #[test]
    fn stratified_counts_and_order() {
        let labels = [2, 0, 0, 1, 2, 0, 1, 1, 2, 0, 1];
        let idx = stratified_indices(&labels, 0..labels.len(), 3, 2).unwrap();
        assert_eq!(idx, vec![0, 1, 2, 3, 4, 6]);
        // Within a range, indices stay absolute.
        let idx = stratified_indices(&labels, 5..11, 3, 1).unwrap();
        assert_eq!(idx, vec![5, 6, 8]);
        let e = stratified_indices(&labels, 0..labels.len(), 3, 4).unwrap_err().to_string();
        assert!(e.contains("class 0 has only 4") || e.contains("class 2 has only 3"), "{e}");
        assert!(stratified_indices(&labels, 0..labels.len(), 4, 1).unwrap_err().to_string().contains("class 3 has only 0"));
        assert!(matches!(stratified_indices(&labels, 3..20, 3, 1), Err(Error::Param { .. })));
        assert!(matches!(stratified_indices(&labels, 0..3, 3, 0), Err(Error::Param { .. })));

        let r = raw(&labels);
        let s = stratified_sample(&r, 3, 3).unwrap();
        let mut counts = [0; 3];
        s.labels.iter().for_each(|&l| counts[l as usize] += 1);
        assert_eq!(counts, [3, 3, 3]);
        // Bytes are copied unchanged: image k of the sample is image idx[k] of the source.
        let idx = stratified_indices(&labels, 0..labels.len(), 3, 3).unwrap();
        for (k, &i) in idx.iter().enumerate() {
            assert_eq!(s.images.image(k), r.images.image(i));
        }
    }

    #[test]
    fn mnist_folder_round_trip_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let data = RawMnist { train: raw(&[0, 1, 2, 3]), test: raw(&[5, 11]) };
        write_raw_mnist(dir.path(), &data, true).unwrap();
        assert!(dir.path().join("t10k-labels-idx1-ubyte.gz").is_file());
        assert_eq!(read_raw_mnist(dir.path()).unwrap(), data);
        // The classes come from the training labels: a test label outside them is refused, naming
        // the test label file and the example, instead of widening the network.
        let err = load_mnist(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("t10k-labels-idx1-ubyte.gz") && err.contains("label 11 of test example 1") && err.contains("10 classes"),
            "{err}"
        );
        let data = RawMnist { train: raw(&[0, 1, 11, 3]), test: raw(&[5, 11]) };
        write_raw_mnist(dir.path(), &data, true).unwrap();
        let m = load_mnist(dir.path()).unwrap();
        assert_eq!((m.train.len(), m.test.len()), (4, 2));
        // Training labels up to 11 give 12 classes, and the test set takes them.
        assert_eq!((m.train.classes, m.test.classes), (12, 12));
        // A plain file is found as well, and preferred to the .gz.
        let plain = dir.path().join("t10k-labels-idx1-ubyte");
        write_idx_labels(&plain, &[7, 8], false).unwrap();
        assert_eq!(find_mnist_files(dir.path()).unwrap().test_labels, plain);
        assert_eq!(load_mnist(dir.path()).unwrap().test.labels, vec![7, 8]);
        // Missing files are listed with the names looked for.
        std::fs::remove_file(dir.path().join("train-images-idx3-ubyte.gz")).unwrap();
        let m = load_mnist(dir.path()).unwrap_err().to_string();
        assert!(m.contains("1 of the 4 files missing") && m.contains("train-images-idx3-ubyte.gz"), "{m}");
        let m = load_mnist(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(m.contains("does not exist"), "{m}");
    }
}
