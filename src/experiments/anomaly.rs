//! One-class anomaly detection with activation learning (paper C, section VI.A): `compete run
//! experiments/anomaly-mnist.toml`.
//!
//! The standard one-class protocol on MNIST (as in Ruff et al. 2018, Deep SVDD): for each class
//! `c`, a network without label input is trained on the training images of class `c` only
//! (`data.train_classes = [c]`, validated on the class-`c` images of the validation split), and
//! every image of the whole test set is scored by its output activation `‖y‖²`
//! ([`ActivationNet::class_scores`]); a low activation means anomalous. The AUROC has class `c` as
//! the positive (normal) class against the nine others ([`auroc`]).
//!
//! Paper C reports no table of its own for this (it points to Ding et al.'s follow-up paper); the
//! published Deep SVDD AUROCs ([`DEEP_SVDD`]) are written beside ours as the reference.
//!
//! Every class trains through the library's one training loop ([`train_experiment`]) into
//! `OUT/class-<c>/` (a run folder like any other); the best checkpoint (by the learner's validation
//! score, `1 - mean activation`) is the one evaluated. With `--resume`, finished classes are not
//! retrained (the loop sees them finished) and an interrupted one continues.
//!
//! Output: `OUT/auroc.csv` (`class,auroc,deep_svdd_percent`, then a `mean` row) and `OUT/auroc.json`
//! ([`AnomalyResults`]).
//!
//! ```toml
//! kind = "anomaly"
//! name = "anomaly-mnist"
//! classes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]   # default: all ten
//! [data]       # DataConfig (train_classes is set per class)
//! source = "mnist:../shared/data/mnist"
//! [model]      # ActivationSection; label_input is false (true is refused)
//! type = "activation"
//! layers = [784, 784]
//! activation = "std-abs"
//! [train]      # TrainConfig
//! epochs = 20
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::eval::auroc::auroc;
use crate::io::{write_atomic, write_json};
use crate::models::AnyModel;
use crate::models::activation::ActivationNet;
use crate::tensor::Matrix;
use crate::train::config::{ActivationSection, DataConfig, Experiment, ModelSection, TrainConfig};
use crate::train::run::train_experiment;
use crate::train::trainer::RunOptions;

/// The published one-class Deep SVDD AUROCs on MNIST (Ruff et al. 2018, Table 1, one-class Deep
/// SVDD), in percent, for digits 0 to 9.
pub const DEEP_SVDD: [f64; 10] = [98.0, 99.7, 91.7, 91.9, 94.9, 88.5, 98.3, 94.6, 93.9, 96.5];

/// The experiment file (`kind = "anomaly"`); see the module docs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyExperiment {
    /// Must be `"anomaly"`.
    pub kind: String,
    /// Name (the default output folder is `runs/<name>`).
    #[serde(default = "default_name")]
    pub name: String,
    /// The normal classes, one run each (default: 0 to 9).
    #[serde(default = "default_classes")]
    pub classes: Vec<u8>,
    /// The data; `train_classes` must be unset (each run sets its own).
    #[serde(default)]
    pub data: DataConfig,
    /// The network (`label_input` is false).
    #[serde(default = "default_model")]
    pub model: ActivationSection,
    /// The training of every class.
    #[serde(default)]
    pub train: TrainConfig,
}

fn default_name() -> String {
    "anomaly".into()
}
fn default_classes() -> Vec<u8> {
    (0..10).collect()
}
fn default_model() -> ActivationSection {
    ActivationSection { label_input: false, ..ActivationSection::default() }
}

impl AnomalyExperiment {
    /// Parses a TOML experiment; `origin` names the file in errors. `[model]` may say
    /// `type = "activation"` (any other type is refused) and may say `label_input = false` (true
    /// is refused); unknown fields are refused.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| Error::format(origin, e.to_string()))?;
        if let Some(toml::Value::Table(model)) = table.get_mut("model") {
            match model.remove("type") {
                None => {}
                Some(toml::Value::String(t)) if t == "activation" => {}
                Some(other) => {
                    return Err(Error::format(origin, format!("model.type = {other}: expected \"activation\" for kind = \"anomaly\"")));
                }
            }
            if let Some(v) = model.get("label_input")
                && v.as_bool() != Some(false)
            {
                return Err(Error::format(
                    origin,
                    format!("model.label_input = {v}: expected false (one-class anomaly detection has no label input)"),
                ));
            }
        }
        let mut exp: AnomalyExperiment =
            toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| Error::format(origin, e.to_string()))?;
        exp.model.label_input = false;
        exp.validate().map_err(|e| Error::format(origin, e.to_string()))?;
        Ok(exp)
    }

    /// Reads and parses a TOML experiment file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, path)
    }

    /// Checks every value; the error names the field.
    pub fn validate(&self) -> Result<()> {
        if self.kind != "anomaly" {
            return Err(Error::param("kind", &self.kind, "\"anomaly\""));
        }
        if self.name.is_empty() {
            return Err(Error::param("name", "\"\"", "a non-empty name"));
        }
        if self.classes.is_empty() {
            return Err(Error::param("classes", "[]", "at least one normal class"));
        }
        let mut seen = self.classes.clone();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::param("classes", format!("{:?}", self.classes), "each class at most once"));
        }
        if self.data.train_classes.is_some() {
            return Err(Error::param("data.train_classes", "set", "unset (every class of `classes` is trained on alone)"));
        }
        if self.model.label_input {
            return Err(Error::param("model.label_input", true, "false"));
        }
        self.train.validate()
    }

    /// The training experiment of normal class `c`.
    pub fn class_experiment(&self, c: u8) -> Experiment {
        Experiment {
            kind: "train".into(),
            name: format!("{}-class-{c}", self.name),
            data: DataConfig { train_classes: Some(vec![c]), ..self.data.clone() },
            model: ModelSection::Activation(self.model.clone()),
            train: self.train.clone(),
        }
    }
}

/// The outcome for one normal class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassResult {
    /// The normal class.
    pub class: u8,
    /// AUROC (in `[0, 1]`) of the output activation, class `class` against the others, on the whole test set.
    pub auroc: f64,
    /// The published Deep SVDD AUROC (percent) of this class, when it is a digit.
    pub deep_svdd: Option<f64>,
    /// Training examples of the class.
    pub train_examples: usize,
    /// Test examples of the class (the positives).
    pub test_normal: usize,
    /// Test examples of the other classes.
    pub test_anomalous: usize,
    /// The epoch kept.
    pub best_epoch: usize,
    /// Its checkpoint.
    pub checkpoint: PathBuf,
}

/// Everything `auroc.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnomalyResults {
    /// Name of the experiment.
    pub name: String,
    /// The data source.
    pub data: String,
    /// Every class, in the order of `classes`.
    pub classes: Vec<ClassResult>,
    /// The mean AUROC over the classes.
    pub mean: f64,
    /// The mean of the Deep SVDD reference over the same classes (percent; `None` when a class is not a digit).
    pub deep_svdd_mean: Option<f64>,
    /// Wall-clock seconds (of this invocation).
    pub seconds: f64,
}

impl AnomalyResults {
    /// `class,auroc,deep_svdd_percent` (AUROC in `[0, 1]`, Deep SVDD in percent as published), then `mean`.
    pub fn csv(&self) -> String {
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.1}"));
        let mut s = String::from("class,auroc,deep_svdd_percent\n");
        for c in &self.classes {
            s.push_str(&format!("{},{:.6},{}\n", c.class, c.auroc, opt(c.deep_svdd)));
        }
        s.push_str(&format!("mean,{:.6},{}\n", self.mean, opt(self.deep_svdd_mean)));
        s
    }

    /// The table `compete run` prints (AUROC in percent).
    pub fn table(&self) -> String {
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        let mut s = format!("{:>6} {:>8} {:>10}\n", "class", "AUROC %", "Deep SVDD");
        for c in &self.classes {
            s.push_str(&format!("{:>6} {:>8.1} {:>10}\n", c.class, 100.0 * c.auroc, opt(c.deep_svdd)));
        }
        s.push_str(&format!("{:>6} {:>8.1} {:>10}\n", "mean", 100.0 * self.mean, opt(self.deep_svdd_mean)));
        s
    }
}

/// The AUROC of `net`'s output activation on `test`, class `normal` positive.
pub fn class_auroc(net: &ActivationNet, test: &Dataset, normal: u8) -> Result<f64> {
    let x = Matrix::from_vec(test.len(), test.dim, test.x.clone())?;
    let scores = net.class_scores(&x)?;
    if scores.cols != 1 {
        return Err(Error::param("model.label_input", true, "a network without label input (one score per image)"));
    }
    let positive: Vec<bool> = test.labels.iter().map(|&l| l == normal).collect();
    auroc(&scores.data, &positive)
}

/// Runs the experiment into `out` (see the module docs): trains every class (with `opts.resume`,
/// finished classes are kept), writes `auroc.csv` and `auroc.json`, returns the results.
pub fn run(exp: &AnomalyExperiment, out: &Path, opts: &RunOptions) -> Result<AnomalyResults> {
    exp.validate()?;
    let started = Instant::now();
    let (train, val, test) = crate::data::load_split(&exp.data.source, exp.data.validation, exp.data.l2_normalize)?;
    if let Some(&c) = exp.classes.iter().find(|&&c| usize::from(c) >= train.classes) {
        return Err(Error::param("classes", c, format!("classes of the data {} (0..{})", exp.data.source, train.classes)));
    }
    // The architecture against the data's width, before any training.
    exp.model.activation_config(train.dim, 0)?;
    let log = |s: String| {
        if !opts.quiet {
            crate::report::progress::log_line(&s);
        }
    };
    let mut results = Vec::with_capacity(exp.classes.len());
    for &c in &exp.classes {
        let e = exp.class_experiment(c);
        let (tr, va) = e.data.select(train.clone(), val.clone())?;
        let dir = out.join(format!("class-{c}"));
        let o = train_experiment(&e, &tr, &va, None, &dir, &RunOptions { resume: opts.resume, quiet: opts.quiet })?;
        let (model, _) = crate::models::load_any(&o.best_checkpoint)?;
        let AnyModel::Activation(net) = model else {
            return Err(Error::format(&o.best_checkpoint, format!("a {} checkpoint, expected an activation net", model.kind())));
        };
        let a = class_auroc(&net, &test, c)?;
        let normal = test.labels.iter().filter(|&&l| l == c).count();
        log(format!("{}: class {c}: AUROC {:.2}% ({} training images, best epoch {})", exp.name, 100.0 * a, tr.len(), o.best_epoch));
        results.push(ClassResult {
            class: c,
            auroc: a,
            deep_svdd: DEEP_SVDD.get(usize::from(c)).copied(),
            train_examples: tr.len(),
            test_normal: normal,
            test_anomalous: test.len() - normal,
            best_epoch: o.best_epoch,
            checkpoint: o.best_checkpoint,
        });
    }
    let n = results.len() as f64;
    let mean = results.iter().map(|r| r.auroc).sum::<f64>() / n;
    let deep_svdd_mean = results.iter().map(|r| r.deep_svdd).sum::<Option<f64>>().map(|s| s / n);
    let results = AnomalyResults {
        name: exp.name.clone(),
        data: exp.data.source.clone(),
        classes: results,
        mean,
        deep_svdd_mean,
        seconds: started.elapsed().as_secs_f64(),
    };
    write_atomic(&out.join("auroc.csv"), results.csv().as_bytes())?;
    write_json(&out.join("auroc.json"), &results)?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_label_input() {
        let p = Path::new("a.toml");
        let e = AnomalyExperiment::from_toml("kind = \"anomaly\"\n[model]\ntype = \"activation\"\nlayers = [20]\n", p).unwrap();
        assert_eq!(e.classes, (0..10).collect::<Vec<u8>>());
        assert!(!e.model.label_input);
        assert_eq!(e.class_experiment(3).data.train_classes, Some(vec![3]));
        let err = AnomalyExperiment::from_toml("kind = \"anomaly\"\n[model]\nlabel_input = true\n", p).unwrap_err().to_string();
        assert!(err.contains("label_input") && err.contains("false"), "{err}");
        let err = AnomalyExperiment::from_toml("kind = \"anomaly\"\n[model]\ntype = \"mlp\"\n", p).unwrap_err().to_string();
        assert!(err.contains("model.type"), "{err}");
        let err = AnomalyExperiment::from_toml("kind = \"anomaly\"\nclasess = [1]\n", p).unwrap_err().to_string();
        assert!(err.contains("clasess"), "{err}");
        let err = AnomalyExperiment::from_toml("kind = \"anomaly\"\nclasses = [1, 1]\n", p).unwrap_err().to_string();
        assert!(err.contains("classes"), "{err}");
        let err = AnomalyExperiment::from_toml("kind = \"anomaly\"\n[data]\ntrain_classes = [1]\n", p).unwrap_err().to_string();
        assert!(err.contains("data.train_classes"), "{err}");
    }

    #[test]
    fn csv_and_means() {
        let r = AnomalyResults {
            name: "x".into(),
            data: "sample".into(),
            classes: vec![
                ClassResult {
                    class: 0,
                    auroc: 0.9,
                    deep_svdd: Some(98.0),
                    train_examples: 1,
                    test_normal: 1,
                    test_anomalous: 1,
                    best_epoch: 1,
                    checkpoint: "a".into(),
                },
                ClassResult {
                    class: 1,
                    auroc: 0.7,
                    deep_svdd: Some(99.7),
                    train_examples: 1,
                    test_normal: 1,
                    test_anomalous: 1,
                    best_epoch: 1,
                    checkpoint: "b".into(),
                },
            ],
            mean: 0.8,
            deep_svdd_mean: Some(98.85),
            seconds: 0.0,
        };
        let csv = r.csv();
        assert!(csv.starts_with("class,auroc,deep_svdd_percent\n0,0.900000,98.0\n1,0.700000,99.7\nmean,0.800000,"), "{csv}");
        assert!(r.table().contains("mean"));
        assert!((DEEP_SVDD.iter().sum::<f64>() / 10.0 - 94.8).abs() < 0.01);
    }
}
