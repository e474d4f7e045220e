//! Robustness of a trained classifier to disturbances it never learned (paper C, section IV.D,
//! Figure 10): `compete robustness`.
//!
//! - **Masking** (Figure 10a, b): the bottom `a` rows of every test image set to 0 (black); the
//!   paper plots the error against the masking ratio `a / 28`. [`mask_bottom`].
//! - **Random lines** (Figure 10c, d): one random line of a given width drawn onto every test image
//!   at value 1. [`add_lines`] follows the authors' code (`mnist_inference/inference_lined.py` of
//!   their repository, `create_single_line`): two integers `a, b` uniform in `0..28` and a fair coin
//!   for the orientation; for each column `i` (or, the other orientation, each row) the line passes
//!   through `x = a + (b - a) i / 27`, i.e. a straight line from one side of the image to the
//!   opposite one, at most 45 degrees off horizontal (or vertical). Width 1 sets the pixel nearest
//!   to `x` (ties to the lower one), width 2 both `floor(x)` and `ceil(x)` (one pixel where `x` is
//!   whole), width 3 also `ceil(x) + 1` inside the image; wider lines (beyond the paper) add
//!   `ceil(x) + 2, ...` likewise. For non-square images the coordinates run over the image's own
//!   rows and columns. Width 0 leaves the images unchanged.
//!
//!   Two differences from the authors' code: they then binarize the *whole* image at 0.5
//!   (`np.greater(img + line, 0.5)`), which changes the digits as well; we only set the line's
//!   pixels to 1 and leave the others as they are. And they evaluate on the first 10000 test images
//!   in batches of 100 with numpy's global random state; we draw from a ChaCha8 generator seeded
//!   with `seed`, so a seed gives the same lines on every machine.
//!
//! [`robustness_curve`] evaluates one classifier (any checkpoint [`AnyModel::predict`] accepts) at
//! every level; [`run`] does it for several checkpoints and writes the CSV and the figure.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::models::AnyModel;
use crate::report::plot::{Series, line_plot};

/// Which disturbance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Corruption {
    /// The bottom `level` rows set to 0 ([`mask_bottom`]).
    Mask,
    /// One random line of width `level` pixels at value 1 ([`add_lines`]).
    Lines,
}

impl Corruption {
    /// `mask` or `lines`.
    pub fn name(self) -> &'static str {
        match self {
            Corruption::Mask => "mask",
            Corruption::Lines => "lines",
        }
    }

    /// The default levels: masked rows 0, 2, ..., 20; line widths 0 to 3.
    pub fn default_levels(self) -> Vec<usize> {
        match self {
            Corruption::Mask => (0..=20).step_by(2).collect(),
            Corruption::Lines => (0..=3).collect(),
        }
    }

    /// What a level is, for table headers and axes.
    pub fn level_name(self) -> &'static str {
        match self {
            Corruption::Mask => "masked rows",
            Corruption::Lines => "line width",
        }
    }
}

impl std::str::FromStr for Corruption {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mask" => Ok(Corruption::Mask),
            "lines" => Ok(Corruption::Lines),
            _ => Err(Error::param("--kind", s, "mask or lines")),
        }
    }
}

/// Checks that `images` holds whole `height x width` images; returns how many.
fn image_count(images: &[f32], height: usize, width: usize) -> Result<usize> {
    let size = height
        .checked_mul(width)
        .filter(|&s| s > 0)
        .ok_or_else(|| Error::param("image shape", format!("{height}x{width}"), "at least 1x1"))?;
    if !images.len().is_multiple_of(size) {
        return Err(Error::shape("images", format!("{} values", images.len()), format!("a multiple of {height}x{width} = {size}")));
    }
    Ok(images.len() / size)
}

/// The images (row-major `height x width` each, one after the other) with the bottom `rows` rows of
/// each set to 0 (Figure 10a). Errors when `rows > height` or the values are not whole images.
pub fn mask_bottom(images: &[f32], height: usize, width: usize, rows: usize) -> Result<Vec<f32>> {
    image_count(images, height, width)?;
    if rows > height {
        return Err(Error::param("masked rows", rows, format!("at most the image height {height}")));
    }
    let mut out = images.to_vec();
    let size = height * width;
    for img in out.chunks_exact_mut(size) {
        img[(height - rows) * width..].fill(0.0);
    }
    Ok(out)
}

/// The images with one random line of `line_width` pixels drawn onto each at value 1 (Figure 10c;
/// the geometry of the authors' code, see the module docs). The same `seed` gives the same lines;
/// width 0 returns the images unchanged.
pub fn add_lines(images: &[f32], height: usize, width: usize, line_width: usize, seed: u64) -> Result<Vec<f32>> {
    image_count(images, height, width)?;
    if line_width > height.max(width) {
        return Err(Error::param("line width", line_width, format!("at most the image side {}", height.max(width))));
    }
    let mut out = images.to_vec();
    if line_width == 0 {
        return Ok(out);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for img in out.chunks_exact_mut(height * width) {
        // Along columns (a row position per column), or along rows (a column position per row).
        let along_columns = rng.random_range(0..2) == 0;
        let (steps, across) = if along_columns { (width, height) } else { (height, width) };
        let a = rng.random_range(0..across) as f64;
        let b = rng.random_range(0..across) as f64;
        for i in 0..steps {
            let t = if steps > 1 { i as f64 / (steps - 1) as f64 } else { 0.0 };
            let x = a + t * (b - a);
            let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
            let mut set = |p: usize| {
                if p < across {
                    let idx = if along_columns { p * width + i } else { i * width + p };
                    img[idx] = 1.0;
                }
            };
            if line_width == 1 {
                set(if (hi as f64 - x) < (x - lo as f64) { hi } else { lo });
            } else {
                set(lo);
                set(hi);
                for k in 1..=line_width - 2 {
                    set(hi + k);
                }
            }
        }
    }
    Ok(out)
}

/// `test` with the disturbance `kind` at `level` (rows masked, or line width; the lines drawn with
/// `seed`). Needs the images' shape.
pub fn corrupt(test: &Dataset, kind: Corruption, level: usize, seed: u64) -> Result<Vec<f32>> {
    let (h, w) = test.image_shape.ok_or_else(|| Error::param("data", "feature vectors without an image shape", "images (e.g. MNIST)"))?;
    match kind {
        Corruption::Mask => mask_bottom(&test.x, h, w, level),
        Corruption::Lines => add_lines(&test.x, h, w, level, seed),
    }
}

/// The seed of the lines of [`robustness_curve`] (every checkpoint sees the same lines).
pub const LINE_SEED: u64 = 2023;

/// The test error rate (in `[0, 1]`) of `model` on `test` disturbed by `kind` at every level of
/// `levels`: `(level, error rate)`. Errors when the model is not a classifier.
pub fn robustness_curve(model: &AnyModel, test: &Dataset, kind: Corruption, levels: &[usize]) -> Result<Vec<(usize, f64)>> {
    if test.is_empty() {
        return Err(Error::Data("the test set is empty".into()));
    }
    levels.iter().map(|&level| Ok((level, error_rate(model, &corrupt(test, kind, level, LINE_SEED)?, &test.labels)?))).collect()
}

/// The error rate of `model` on the examples `x` (rows of the test set's width) with `labels`.
fn error_rate(model: &AnyModel, x: &[f32], labels: &[u8]) -> Result<f64> {
    let (predicted, _) = model
        .predict(x)
        .ok_or_else(|| Error::param("model", model.kind(), "a classifier (an activation net needs the label as input)"))??;
    Ok(crate::eval::error_count(&predicted, labels) as f64 / labels.len() as f64)
}

/// What `compete robustness` evaluates.
#[derive(Clone, Debug)]
pub struct RobustnessRun {
    /// The checkpoints.
    pub checkpoints: Vec<PathBuf>,
    /// One name per checkpoint (column and curve names); empty: the file stems.
    pub names: Vec<String>,
    /// The data source (`sample`, `mnist:DIR`); its test split is used.
    pub data: String,
    /// The disturbance.
    pub kind: Corruption,
    /// Its levels; empty: [`Corruption::default_levels`].
    pub levels: Vec<usize>,
    /// The output folder.
    pub out: PathBuf,
}

/// The error rates of every checkpoint at every level.
#[derive(Clone, Debug, Serialize)]
pub struct RobustnessTable {
    /// The disturbance.
    pub kind: Corruption,
    /// The image height (the masking ratio is `level / height`).
    pub height: usize,
    /// The levels.
    pub levels: Vec<usize>,
    /// Column names, one per checkpoint.
    pub names: Vec<String>,
    /// `errors[c][i]`: the error rate of checkpoint `c` at `levels[i]`.
    pub errors: Vec<Vec<f64>>,
    /// The CSV written.
    pub csv: PathBuf,
    /// The figure written.
    pub png: PathBuf,
}

impl RobustnessTable {
    /// The CSV: `level` (and `ratio` for masking), then one error-rate column per checkpoint.
    pub fn csv_text(&self) -> String {
        let mut s = String::from("level");
        if self.kind == Corruption::Mask {
            s.push_str(",ratio");
        }
        for n in &self.names {
            s.push(',');
            s.push_str(&csv_field(n));
        }
        s.push('\n');
        for (i, &l) in self.levels.iter().enumerate() {
            s.push_str(&l.to_string());
            if self.kind == Corruption::Mask {
                s.push_str(&format!(",{:.6}", l as f64 / self.height as f64));
            }
            for col in &self.errors {
                s.push_str(&format!(",{:.6}", col[i]));
            }
            s.push('\n');
        }
        s
    }

    /// An aligned table of error percentages, for the terminal.
    pub fn display(&self) -> String {
        let mut s = format!("{:>12}", self.kind.level_name());
        if self.kind == Corruption::Mask {
            s.push_str(&format!(" {:>7}", "ratio"));
        }
        let widths: Vec<usize> = self.names.iter().map(|n| n.len().max(8)).collect();
        for (n, w) in self.names.iter().zip(&widths) {
            s.push_str(&format!(" {n:>w$}"));
        }
        s.push('\n');
        for (i, &l) in self.levels.iter().enumerate() {
            s.push_str(&format!("{l:>12}"));
            if self.kind == Corruption::Mask {
                s.push_str(&format!(" {:>7.3}", l as f64 / self.height as f64));
            }
            for (col, w) in self.errors.iter().zip(&widths) {
                s.push_str(&format!(" {:>w$}", format!("{:.2}%", 100.0 * col[i])));
            }
            s.push('\n');
        }
        s
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// Evaluates every checkpoint of `run` on the disturbed test split and writes
/// `out/robustness-<kind>.csv` and `out/robustness-<kind>.png` (error in percent against the
/// masking ratio or the line width, one curve per checkpoint). Everything is checked (names,
/// levels, every checkpoint loads, is a classifier and fits the data) before anything is evaluated.
pub fn run(run: &RobustnessRun) -> Result<RobustnessTable> {
    if run.checkpoints.is_empty() {
        return Err(Error::param("checkpoints", "none", "at least one checkpoint"));
    }
    let names: Vec<String> = if run.names.is_empty() {
        run.checkpoints
            .iter()
            .map(|p| p.file_stem().map_or_else(|| p.display().to_string(), |s| s.to_string_lossy().into_owned()))
            .collect()
    } else if run.names.len() != run.checkpoints.len() {
        return Err(Error::param("--names", run.names.join(","), format!("one name per checkpoint ({})", run.checkpoints.len())));
    } else {
        run.names.clone()
    };
    let levels = if run.levels.is_empty() { run.kind.default_levels() } else { run.levels.clone() };
    let (_, _, test) = crate::data::load_split(&run.data, None, false)?;
    let (height, width) = test.image_shape.ok_or_else(|| Error::param("--data", &run.data, "images (e.g. MNIST)"))?;
    let limit = if run.kind == Corruption::Mask { height } else { height.max(width) };
    if let Some(&l) = levels.iter().find(|&&l| l > limit) {
        return Err(Error::param("--levels", l, format!("levels from 0 to {limit} ({})", run.kind.level_name())));
    }
    let mut models = Vec::with_capacity(run.checkpoints.len());
    for path in &run.checkpoints {
        let (model, _) = crate::models::load_any(path)?;
        let input = model.data_width();
        if input != test.dim {
            return Err(Error::param(
                "checkpoint",
                path.display(),
                format!("a model of {} inputs like the data {} (it has {input})", test.dim, run.data),
            ));
        }
        if !model.is_classifier() {
            return Err(Error::param(
                "checkpoint",
                path.display(),
                format!("a classifier (this {} model has no classes; an activation net needs the label as input)", model.kind()),
            ));
        }
        models.push(model);
    }
    // Each disturbed test set is made once and read by every checkpoint.
    let mut errors = vec![Vec::with_capacity(levels.len()); models.len()];
    for &level in &levels {
        let x = corrupt(&test, run.kind, level, LINE_SEED)?;
        for (model, column) in models.iter().zip(errors.iter_mut()) {
            column.push(error_rate(model, &x, &test.labels)?);
        }
    }
    crate::io::create_out_dir("-o", &run.out)?;
    let csv = run.out.join(format!("robustness-{}.csv", run.kind.name()));
    let png = run.out.join(format!("robustness-{}.png", run.kind.name()));
    let table = RobustnessTable { kind: run.kind, height, levels, names, errors, csv, png };
    write_atomic(&table.csv, table.csv_text().as_bytes())?;
    write_plot(&table, &table.png)?;
    Ok(table)
}

fn write_plot(t: &RobustnessTable, path: &Path) -> Result<()> {
    let x = |l: usize| if t.kind == Corruption::Mask { l as f64 / t.height as f64 } else { l as f64 };
    let series: Vec<Series> = t
        .names
        .iter()
        .zip(&t.errors)
        .map(|(n, col)| Series::new(n.clone(), t.levels.iter().zip(col).map(|(&l, &e)| (x(l), 100.0 * e)).collect()))
        .collect();
    let (title, x_label) = match t.kind {
        Corruption::Mask => ("Masked test images (paper C, Figure 10b)", format!("masking ratio (masked rows / {})", t.height)),
        Corruption::Lines => ("Test images with a random line (paper C, Figure 10d)", "line width (pixels)".to_string()),
    };
    line_plot(path, title, &x_label, "test error (%)", &series, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(n: usize, h: usize, w: usize) -> Vec<f32> {
        (0..n * h * w).map(|i| ((i * 37) % 11) as f32 / 20.0).collect()
    }

    #[test]
    fn masking_zeroes_the_bottom_rows_only() {
        let (h, w) = (5, 4);
        let x = images(3, h, w);
        let m = mask_bottom(&x, h, w, 2).unwrap();
        for (img, orig) in m.chunks(h * w).zip(x.chunks(h * w)) {
            assert_eq!(&img[..3 * w], &orig[..3 * w]);
            assert!(img[3 * w..].iter().all(|&v| v == 0.0));
        }
        assert_eq!(mask_bottom(&x, h, w, 0).unwrap(), x);
        assert!(mask_bottom(&x, h, w, h).unwrap().iter().all(|&v| v == 0.0));
        let e = mask_bottom(&x, h, w, 6).unwrap_err().to_string();
        assert!(e.contains("at most the image height 5"), "{e}");
        assert!(mask_bottom(&x[1..], h, w, 1).is_err());
    }

    #[test]
    fn lines_are_drawn_deterministically() {
        let (h, w) = (28, 28);
        let x = vec![0.0f32; 50 * h * w];
        assert_eq!(add_lines(&x, h, w, 0, 1).unwrap(), x);
        for width in 1..=3 {
            let a = add_lines(&x, h, w, width, 7).unwrap();
            assert_eq!(a, add_lines(&x, h, w, width, 7).unwrap());
            assert_ne!(a, add_lines(&x, h, w, width, 8).unwrap());
            for img in a.chunks(h * w) {
                assert!(img.iter().all(|&v| v == 0.0 || v == 1.0));
                let on = img.iter().filter(|&&v| v == 1.0).count();
                // One pixel per column (or row) for width 1; up to `width` per column otherwise.
                if width == 1 {
                    assert_eq!(on, 28);
                } else {
                    assert!((28..=28 * width).contains(&on), "width {width}: {on} pixels");
                }
            }
        }
        // Wider lines cover what thinner ones with the same seed do.
        let one = add_lines(&x, h, w, 2, 3).unwrap();
        let three = add_lines(&x, h, w, 3, 3).unwrap();
        assert!(one.iter().zip(&three).all(|(&a, &b)| a <= b));
        assert!(three.iter().sum::<f32>() > one.iter().sum::<f32>());
        // A bright image keeps its pixels; lines only set pixels to 1.
        let bright = images(4, h, w);
        let l = add_lines(&bright, h, w, 2, 5).unwrap();
        assert!(l.iter().zip(&bright).all(|(&a, &b)| a == b || a == 1.0));
        assert!(add_lines(&x, h, w, 29, 1).is_err());
    }

    #[test]
    fn a_horizontal_line_of_width_one() {
        // With a == b the line is straight: one full row (or column) set.
        let (h, w) = (6, 6);
        let x = vec![0.0f32; 200 * h * w];
        let l = add_lines(&x, h, w, 1, 11).unwrap();
        let straight = l.chunks(h * w).any(|img| (0..h).any(|r| img[r * w..(r + 1) * w].iter().all(|&v| v == 1.0)));
        assert!(straight);
    }

    #[test]
    fn corruption_names_parse() {
        assert_eq!("mask".parse::<Corruption>().unwrap(), Corruption::Mask);
        assert_eq!("lines".parse::<Corruption>().unwrap(), Corruption::Lines);
        let e = "blur".parse::<Corruption>().unwrap_err().to_string();
        assert!(e.contains("blur") && e.contains("mask or lines"), "{e}");
        assert_eq!(Corruption::Mask.default_levels(), vec![0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
        assert_eq!(Corruption::Lines.default_levels(), vec![0, 1, 2, 3]);
    }
}
