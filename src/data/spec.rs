//! Naming a data source on the command line: [`DataSpec`] and [`load`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{TrainTest, load_mnist, synthetic};
use crate::error::{Error, Result};

/// Where the MNIST sample lives inside the repository.
pub const SAMPLE_DIR: &str = "data/mnist-sample";

/// A data source, as written on the command line.
///
/// | written | meaning |
/// |---|---|
/// | `mnist:DIR` or `DIR` | an MNIST-layout folder (the four IDX files, `.gz` or not), see [`load_mnist`] |
/// | `sample` | the stratified MNIST sample shipped in `data/mnist-sample` (see [`sample_dir`]) |
/// | `synthetic:NAME[,key=value...]` | a generated set, see [`SyntheticSpec`] |
#[derive(Debug, Clone, PartialEq)]
pub enum DataSpec {
    /// An MNIST-layout folder.
    Mnist(PathBuf),
    /// The MNIST sample shipped with the crate.
    Sample,
    /// A generated set.
    Synthetic(SyntheticSpec),
}

impl DataSpec {
    /// Parses `mnist:DIR`, `sample`, `synthetic:NAME[,key=value...]` or a bare folder `DIR`.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::param("data", "\"\"", "mnist:DIR, DIR, sample or synthetic:NAME"));
        }
        if s == "sample" {
            Ok(DataSpec::Sample)
        } else if let Some(rest) = s.strip_prefix("synthetic:") {
            Ok(DataSpec::Synthetic(SyntheticSpec::parse(rest)?))
        } else if let Some(dir) = s.strip_prefix("mnist:") {
            if dir.is_empty() {
                return Err(Error::param("data", s, "mnist:DIR with a folder after the colon"));
            }
            Ok(DataSpec::Mnist(PathBuf::from(dir)))
        } else if s == "synthetic" {
            Err(Error::param("data", s, "synthetic:NAME[,key=value...] with NAME one of blobs, xor, stripes, sinusoid"))
        } else {
            Ok(DataSpec::Mnist(PathBuf::from(s)))
        }
    }
}

impl FromStr for DataSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        DataSpec::parse(s)
    }
}

impl fmt::Display for DataSpec {
    /// The canonical spelling, which [`DataSpec::parse`] reads back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSpec::Mnist(dir) => write!(f, "mnist:{}", dir.display()),
            DataSpec::Sample => write!(f, "sample"),
            DataSpec::Synthetic(s) => write!(f, "synthetic:{s}"),
        }
    }
}

/// Which generator of [`synthetic`] a [`SyntheticSpec`] calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntheticKind {
    /// [`synthetic::blobs`]: Gaussian clusters (keys `dim`, `classes`, `spread`).
    Blobs,
    /// [`synthetic::xor_like`]: XOR of four 2-D clusters (key `spread`).
    Xor,
    /// [`synthetic::stripes`]: vertical stripes in the square (key `stripes`).
    Stripes,
    /// [`synthetic::sinusoid`]: the square split by a sine curve (keys `amplitude`, `periods`).
    Sinusoid,
}

impl SyntheticKind {
    /// The name used in specs: `blobs`, `xor`, `stripes` or `sinusoid`.
    pub fn name(self) -> &'static str {
        match self {
            SyntheticKind::Blobs => "blobs",
            SyntheticKind::Xor => "xor",
            SyntheticKind::Stripes => "stripes",
            SyntheticKind::Sinusoid => "sinusoid",
        }
    }
}

/// A generated training/test pair: `synthetic:NAME[,key=value...]`.
///
/// Keys (all optional): `n` (training examples, default 1000), `n_test` (default 500), `seed`
/// (default 0); for `blobs` also `dim` (default 10), `classes` (default 4), `spread` (default 0.3);
/// for `xor` `spread` (default 0.2); for `stripes` `stripes` (default 4); for `sinusoid` `amplitude`
/// (default 0.5) and `periods` (default 2), see [`synthetic::SinusoidParams`]. One set of `n + n_test`
/// examples is generated from `seed` and its last `n_test` become the test set, so both come from the
/// same distribution (the same cluster centres for `blobs`).
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    /// The generator.
    pub kind: SyntheticKind,
    /// Training examples.
    pub n_train: usize,
    /// Test examples.
    pub n_test: usize,
    /// Seed of the generator.
    pub seed: u64,
    /// Features per example (`blobs`; 2 for the others).
    pub dim: usize,
    /// Classes (`blobs`; 2 for the others).
    pub classes: usize,
    /// Standard deviation of the clusters (`blobs`, `xor`).
    pub spread: f32,
    /// Number of stripes (`stripes`).
    pub stripes: usize,
    /// Amplitude of the boundary (`sinusoid`).
    pub amplitude: f64,
    /// Periods of the boundary across the square (`sinusoid`).
    pub periods: f64,
}

impl SyntheticSpec {
    /// The spec of `kind` with every key at its default.
    pub fn new(kind: SyntheticKind) -> Self {
        let (dim, classes) = if kind == SyntheticKind::Blobs { (10, 4) } else { (2, 2) };
        let spread = if kind == SyntheticKind::Xor { 0.2 } else { 0.3 };
        let sine = synthetic::SinusoidParams::default();
        SyntheticSpec {
            kind,
            n_train: 1000,
            n_test: 500,
            seed: 0,
            dim,
            classes,
            spread,
            stripes: 4,
            amplitude: sine.amplitude,
            periods: sine.periods,
        }
    }

    /// Parses `NAME[,key=value...]` (what follows `synthetic:`).
    pub fn parse(s: &str) -> Result<Self> {
        let mut parts = s.split(',').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let kind = match name {
            "blobs" => SyntheticKind::Blobs,
            "xor" | "xor_like" => SyntheticKind::Xor,
            "stripes" => SyntheticKind::Stripes,
            "sinusoid" => SyntheticKind::Sinusoid,
            _ => return Err(Error::param("synthetic data set", name, "one of blobs, xor, stripes, sinusoid")),
        };
        let mut spec = SyntheticSpec::new(kind);
        for part in parts {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| Error::param(format!("synthetic:{name}"), part, "key=value pairs separated by commas"))?;
            let (key, value) = (key.trim(), value.trim());
            let whole = |v: &str| v.parse::<usize>().map_err(|_| Error::param(key, v, "a whole number"));
            let applies = match key {
                "n" | "n_test" | "seed" => true,
                "dim" | "classes" => kind == SyntheticKind::Blobs,
                "spread" => matches!(kind, SyntheticKind::Blobs | SyntheticKind::Xor),
                "stripes" => kind == SyntheticKind::Stripes,
                "amplitude" | "periods" => kind == SyntheticKind::Sinusoid,
                _ => {
                    return Err(Error::param(key, value, "a key among n, n_test, seed, dim, classes, spread, stripes, amplitude, periods"));
                }
            };
            if !applies {
                return Err(Error::param(key, value, format!("no {key} for synthetic:{}; it has {}", kind.name(), spec.keys().join(", "))));
            }
            match key {
                "n" => spec.n_train = whole(value)?,
                "n_test" => spec.n_test = whole(value)?,
                "seed" => spec.seed = value.parse().map_err(|_| Error::param(key, value, "a whole number (u64)"))?,
                "dim" => spec.dim = whole(value)?,
                "classes" => spec.classes = whole(value)?,
                "spread" => spec.spread = value.parse().map_err(|_| Error::param(key, value, "a number"))?,
                "amplitude" => spec.amplitude = value.parse().map_err(|_| Error::param(key, value, "a number"))?,
                "periods" => spec.periods = value.parse().map_err(|_| Error::param(key, value, "a number"))?,
                _ => spec.stripes = whole(value)?,
            }
        }
        if spec.n_train == 0 || spec.n_test == 0 {
            return Err(Error::param(if spec.n_train == 0 { "n" } else { "n_test" }, 0, "at least 1 example"));
        }
        if kind == SyntheticKind::Sinusoid {
            spec.sinusoid_params(spec.n_train).validate()?;
        }
        Ok(spec)
    }

    /// The keys this kind reads.
    fn keys(&self) -> Vec<&'static str> {
        let mut k = vec!["n", "n_test", "seed"];
        match self.kind {
            SyntheticKind::Blobs => k.extend(["dim", "classes", "spread"]),
            SyntheticKind::Xor => k.push("spread"),
            SyntheticKind::Stripes => k.push("stripes"),
            SyntheticKind::Sinusoid => k.extend(["amplitude", "periods"]),
        }
        k
    }

    /// The [`synthetic::SinusoidParams`] of this spec for `n` points.
    pub fn sinusoid_params(&self, n: usize) -> synthetic::SinusoidParams {
        synthetic::SinusoidParams { n, amplitude: self.amplitude, periods: self.periods, seed: self.seed }
    }

    /// Generates `n_train + n_test` examples and splits off the last `n_test` as the test set.
    pub fn generate(&self) -> Result<TrainTest> {
        let n =
            self.n_train.checked_add(self.n_test).ok_or_else(|| Error::param("n + n_test", self.n_train, "a size that fits in memory"))?;
        let all = match self.kind {
            SyntheticKind::Blobs => synthetic::blobs(n, self.dim, self.classes, self.spread, self.seed)?,
            SyntheticKind::Xor => synthetic::xor_like(n, self.spread, self.seed)?,
            SyntheticKind::Stripes => synthetic::stripes(n, self.stripes, self.seed)?,
            SyntheticKind::Sinusoid => synthetic::sinusoid(&self.sinusoid_params(n))?,
        };
        let (train, test) = all.split_last(self.n_test)?;
        Ok(TrainTest { train, test })
    }
}

impl fmt::Display for SyntheticSpec {
    /// `NAME,n=...,n_test=...,seed=...` and the keys of this kind.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},n={},n_test={},seed={}", self.kind.name(), self.n_train, self.n_test, self.seed)?;
        match self.kind {
            SyntheticKind::Blobs => write!(f, ",dim={},classes={},spread={}", self.dim, self.classes, self.spread),
            SyntheticKind::Xor => write!(f, ",spread={}", self.spread),
            SyntheticKind::Stripes => write!(f, ",stripes={}", self.stripes),
            SyntheticKind::Sinusoid => write!(f, ",amplitude={},periods={}", self.amplitude, self.periods),
        }
    }
}

/// The folder of the shipped MNIST sample: `data/mnist-sample` under the crate root (as compiled in)
/// if it exists, else under the current folder; an error naming both places otherwise.
pub fn sample_dir() -> Result<PathBuf> {
    let candidates = [Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE_DIR), PathBuf::from(SAMPLE_DIR)];
    candidates.iter().find(|p| p.is_dir()).cloned().ok_or_else(|| {
        Error::Data(format!(
            "the MNIST sample was not found: looked for {} and {} (relative to the current folder); run from the repository root or give mnist:DIR",
            candidates[0].display(),
            candidates[1].display()
        ))
    })
}

/// Loads the training and test sets a [`DataSpec`] names.
pub fn load(spec: &DataSpec) -> Result<TrainTest> {
    match spec {
        DataSpec::Mnist(dir) => load_mnist(dir),
        DataSpec::Sample => load_mnist(&sample_dir()?),
        DataSpec::Synthetic(s) => s.generate(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sources() {
        assert_eq!(DataSpec::parse("sample").unwrap(), DataSpec::Sample);
        assert_eq!(DataSpec::parse("mnist:/data/m").unwrap(), DataSpec::Mnist(PathBuf::from("/data/m")));
        assert_eq!(DataSpec::parse("some/dir").unwrap(), DataSpec::Mnist(PathBuf::from("some/dir")));
        assert!(DataSpec::parse("").is_err());
        assert!(DataSpec::parse("mnist:").is_err());
        assert!(DataSpec::parse("synthetic").is_err());
        let s: DataSpec = "synthetic:blobs,n=30,n_test=7,dim=3,classes=5,spread=0.5,seed=9".parse().unwrap();
        let DataSpec::Synthetic(b) = &s else { panic!("{s:?}") };
        assert_eq!((b.kind, b.n_train, b.n_test, b.dim, b.classes, b.spread, b.seed), (SyntheticKind::Blobs, 30, 7, 3, 5, 0.5, 9));
        // Display reads back to the same spec.
        assert_eq!(DataSpec::parse(&s.to_string()).unwrap(), s);
        for t in ["synthetic:xor", "synthetic:stripes,stripes=6", "mnist:x/y"] {
            let d = DataSpec::parse(t).unwrap();
            assert_eq!(DataSpec::parse(&d.to_string()).unwrap(), d);
        }
    }

    #[test]
    fn parse_rejects_bad_synthetic_specs() {
        let m = |s: &str| DataSpec::parse(s).unwrap_err().to_string();
        assert!(m("synthetic:moons").contains("one of blobs, xor, stripes, sinusoid"));
        assert!(m("synthetic:sinusoid,spread=0.1").contains("no spread for synthetic:sinusoid"));
        assert!(m("synthetic:sinusoid,amplitude=1.5").contains("amplitude"));
        assert!(m("synthetic:blobs,periods=2").contains("no periods for synthetic:blobs"));
        assert!(m("synthetic:xor,dim=3").contains("no dim for synthetic:xor"));
        assert!(m("synthetic:blobs,n=ten").contains("invalid n = ten"));
        assert!(m("synthetic:blobs,n").contains("key=value"));
        assert!(m("synthetic:blobs,colour=red").contains("invalid colour"));
        assert!(m("synthetic:stripes,n_test=0").contains("n_test"));
    }

    #[test]
    fn synthetic_load_splits_one_distribution() {
        let spec = DataSpec::parse("synthetic:blobs,n=40,n_test=8,dim=3,classes=4,spread=0,seed=2").unwrap();
        let d = load(&spec).unwrap();
        assert_eq!((d.train.len(), d.test.len(), d.train.dim, d.test.classes), (40, 8, 3, 4));
        // Spread 0: a test example equals the training example of its class (same centres).
        assert_eq!(d.test.row(0), d.train.row(0));
        assert_eq!(d.test.labels[0], d.train.labels[0]);
        let again = load(&spec).unwrap();
        assert_eq!(again, d);
        let x = load(&DataSpec::parse("synthetic:xor,n=10,n_test=4").unwrap()).unwrap();
        assert_eq!((x.train.len(), x.test.len(), x.train.dim), (10, 4, 2));
        let s = load(&DataSpec::parse("synthetic:stripes,n=10,n_test=5,stripes=3").unwrap()).unwrap();
        assert_eq!((s.train.len(), s.test.len()), (10, 5));
        let spec = DataSpec::parse("synthetic:sinusoid,n=300,n_test=50,amplitude=0.3,periods=1.5,seed=4").unwrap();
        assert_eq!(DataSpec::parse(&spec.to_string()).unwrap(), spec);
        let DataSpec::Synthetic(sp) = &spec else { panic!("{spec:?}") };
        let d = load(&spec).unwrap();
        assert_eq!((d.train.len(), d.test.len(), d.train.dim, d.train.classes), (300, 50, 2, 2));
        let p = sp.sinusoid_params(350);
        for ds in [&d.train, &d.test] {
            for i in 0..ds.len() {
                assert_eq!(ds.labels[i], p.label(f64::from(ds.row(i)[0]), f64::from(ds.row(i)[1])));
            }
        }
    }

    #[test]
    fn missing_folder_is_clear() {
        let m = load(&DataSpec::Mnist(PathBuf::from("/no/such/mnist"))).unwrap_err().to_string();
        assert!(m.contains("/no/such/mnist"), "{m}");
    }

    /// The stratified sample committed in `data/mnist-sample`: 1000 training and 200 test images
    /// per digit, 28x28.
    #[test]
    fn shipped_sample_loads() {
        let d = load(&DataSpec::Sample).unwrap();
        assert_eq!((d.train.len(), d.test.len()), (10000, 2000));
        assert_eq!(d.train.class_counts(), vec![1000; 10]);
        assert_eq!(d.test.class_counts(), vec![200; 10]);
        assert_eq!((d.train.dim, d.train.image_shape, d.train.classes), (784, Some((28, 28)), 10));
        assert!(d.train.x.iter().chain(&d.test.x).all(|v| (0.0..=1.0).contains(v)));
        assert!(d.train.x.contains(&1.0) && d.train.x.contains(&0.0));
        // The last 1000 training images are the 100 per digit drawn from MNIST's validation part.
        let (_, val) = d.train.split_last(1000).unwrap();
        assert_eq!(val.class_counts(), vec![100; 10]);
        // The test half drawn from each half of the official test file is balanced too.
        let (first, second) = d.test.split_last(1000).unwrap();
        assert_eq!((first.class_counts(), second.class_counts()), (vec![100; 10], vec![100; 10]));
    }
}
