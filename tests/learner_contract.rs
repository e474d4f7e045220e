//! The model contract is general: a learner of another kind (a one-layer Oja rule, a local
//! Hebbian rule with no backprop) trains through the same loop, checkpoint and resume as the MLP;
//! and an epoch's files commit as one unit, whatever instant a run is killed at.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use compete::data::Dataset;
use compete::error::Result;
use compete::models::checkpoint;
use compete::models::learner::Update;
use compete::models::{Batch, Evaluation, Learner, Model, StepOutput};
use compete::params::{Param, ParamKind, ParamMut, Parameters};
use compete::train::config::TrainConfig;
use compete::train::{RunOptions, RunSpec, train};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct OjaConfig {
    inputs: usize,
}

/// One linear unit `y = w . x`.
#[derive(Clone, Debug, PartialEq)]
struct Oja {
    config: OjaConfig,
    w: Vec<f32>,
}

impl Parameters for Oja {
    fn params(&self) -> Vec<Param<'_>> {
        vec![Param::new("unit.weight", vec![1, self.config.inputs], ParamKind::Weight, &self.w)]
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        vec![ParamMut::new("unit.weight", vec![1, self.config.inputs], ParamKind::Weight, &mut self.w)]
    }
}

impl Model for Oja {
    const KIND: &'static str = "oja-test";
    type Config = OjaConfig;
    fn config(&self) -> &OjaConfig {
        &self.config
    }
    fn zeros(config: &OjaConfig) -> Result<Self> {
        Ok(Oja { config: config.clone(), w: vec![0.0; config.inputs] })
    }
    fn init(config: &OjaConfig, seed: u64) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Ok(Oja { config: config.clone(), w: (0..config.inputs).map(|_| rng.random_range(-0.5..0.5)).collect() })
    }
    fn describe(&self) -> String {
        format!("oja {}-1", self.config.inputs)
    }
}

/// Oja's rule, `dw = y (x - y w)` averaged over the batch, written as a gradient (`-dw`) so that
/// the loop's optimizer, schedule and constraints apply to it.
struct OjaLearner {
    model: Oja,
    grad: Oja,
}

fn project_error(w: &[f32], x: &[f32]) -> f64 {
    let y: f32 = w.iter().zip(x).map(|(a, b)| a * b).sum();
    x.iter().zip(w).map(|(&xi, &wi)| ((xi - y * wi) as f64).powi(2)).sum()
}

impl Learner for OjaLearner {
    type Model = Oja;
    fn model(&self) -> &Oja {
        &self.model
    }
    fn model_mut(&mut self) -> &mut Oja {
        &mut self.model
    }
    fn step(&mut self, batch: &Batch<'_>, _rng: &mut ChaCha8Rng) -> Result<StepOutput> {
        let n = batch.x.rows;
        self.grad.w.fill(0.0);
        let mut loss = 0.0;
        for r in 0..n {
            let x = batch.x.row(r);
            let y: f32 = self.model.w.iter().zip(x).map(|(a, b)| a * b).sum();
            for ((g, &xj), &wj) in self.grad.w.iter_mut().zip(x).zip(&self.model.w) {
                *g -= y * (xj - y * wj) / n as f32;
            }
            loss += project_error(&self.model.w, x);
        }
        Ok(StepOutput { loss: (loss / n as f64) as f32, update: Update::Gradients })
    }
    fn model_and_grads(&mut self) -> (&mut Oja, &dyn Parameters) {
        (&mut self.model, &self.grad)
    }
    fn evaluate(&self, data: &Dataset) -> Result<Evaluation> {
        let e = (0..data.len()).map(|i| project_error(&self.model.w, data.row(i))).sum::<f64>() / data.len() as f64;
        Ok(Evaluation {
            score: e,
            errors: None,
            metrics: vec![("norm".into(), self.model.w.iter().map(|v| v * v).sum::<f32>().sqrt() as f64)],
        })
    }
    fn score_name(&self) -> &'static str {
        "reconstruction error"
    }
}

const U: [f32; 4] = [0.5, -0.5, 0.5, 0.5];

/// Points spread along the unit vector `U`, with a little noise.
fn data(n: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(4 * n);
    for _ in 0..n {
        let a: f32 = rng.random_range(-2.0..2.0);
        x.extend(U.iter().map(|u| a * u + rng.random_range(-0.05..0.05)));
    }
    Dataset::from_parts(x, vec![0; n], 4, None, 1).unwrap()
}

fn learner() -> OjaLearner {
    let cfg = OjaConfig { inputs: 4 };
    OjaLearner { model: Oja { config: cfg.clone(), w: vec![0.3, 0.2, 0.1, -0.1] }, grad: Oja::zeros(&cfg).unwrap() }
}

fn settings(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 20,
        lr: 0.05,
        lr_decay: 1.0,
        momentum: 0.5,
        momentum_ramp_epochs: 0,
        eval_test: false,
        ..Default::default()
    }
}

fn run(dir: &Path, epochs: usize, resume: bool) -> (Oja, compete::train::TrainOutcome) {
    let cfg = settings(epochs);
    let mut l = learner();
    let spec = RunSpec { name: "oja", train: &cfg, config_toml: "# test" };
    let o = train(&mut l, spec, &data(400, 1), &data(100, 2), None, dir, &RunOptions { resume, quiet: true }).unwrap();
    (checkpoint::load::<Oja>(&dir.join("checkpoints/last.safetensors")).unwrap().0, o)
}

#[test]
fn a_hebbian_learner_trains_checkpoints_and_resumes_through_the_one_loop() {
    let dir = tempfile::tempdir().unwrap();
    let (w, o) = run(dir.path(), 6, false);
    // Oja's rule finds the principal direction, with unit norm.
    let cos: f32 = w.w.iter().zip(U).map(|(a, b)| a * b).sum::<f32>() / w.w.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!(cos.abs() > 0.99, "direction {:?}, cos {cos}", w.w);
    assert_eq!(o.score_name, "reconstruction error");
    assert!(o.val_errors.is_none() && o.best_score < 0.02, "{o:?}");
    let progress: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("progress.json")).unwrap()).unwrap();
    let first = progress["history"][0]["score"].as_f64().unwrap();
    assert!(first > o.best_score, "the score fell: {first} then {}", o.best_score);
    assert!(progress["history"][0]["metrics"][0][0] == "norm");
    // The optimizer state is saved by parameter name.
    let (state, meta) = compete::io::load_tensors(&dir.path().join("checkpoints/last.state.safetensors")).unwrap();
    assert!(state.contains_key("m.unit.weight") && meta["t"] == "120", "{:?} {meta:?}", state.keys());
    assert!(dir.path().join("learning_curve.png").exists());

    // 4 epochs, then a resume to 6, give exactly the uninterrupted run.
    let split = tempfile::tempdir().unwrap();
    run(split.path(), 4, false);
    let (resumed, o2) = run(split.path(), 6, true);
    assert_eq!(resumed, w);
    assert_eq!(o2.epochs, 6);
    // A checkpoint of this kind is not an MLP, and says so.
    let err = compete::models::checkpoint::load_mlp(&dir.path().join("checkpoints/best.safetensors")).unwrap_err().to_string();
    assert!(err.contains("oja-test"), "{err}");
}

#[test]
fn a_kill_between_the_files_of_an_epoch_resumes_exactly() {
    let full = tempfile::tempdir().unwrap();
    let (want, _) = run(full.path(), 3, false);
    let ck = |d: &Path, f: &str| d.join("checkpoints").join(f);

    // Killed after epoch 2's files were written beside their names, before its progress commit:
    // the uncommitted files are dropped and epoch 2 is redone.
    let a = tempfile::tempdir().unwrap();
    run(a.path(), 1, false);
    let b = tempfile::tempdir().unwrap();
    run(b.path(), 2, false);
    for f in ["last", "last.state", "best"] {
        let src = ck(b.path(), &format!("{f}.safetensors"));
        if src.exists() {
            std::fs::copy(&src, ck(a.path(), &format!("{f}.next.safetensors"))).unwrap();
        }
    }
    // And a temporary file of an interrupted write.
    std::fs::write(ck(a.path(), ".last.safetensors.tmp-99-7"), b"half").unwrap();
    let (got, _) = run(a.path(), 3, true);
    assert_eq!(got, want);
    assert!(!ck(a.path(), ".last.safetensors.tmp-99-7").exists(), "leftover temporary file kept");
    assert!(!ck(a.path(), "last.next.safetensors").exists());

    // Killed after the progress commit of epoch 2, before the renames: they are completed.
    let c = tempfile::tempdir().unwrap();
    run(c.path(), 2, false);
    let one = tempfile::tempdir().unwrap();
    run(one.path(), 1, false);
    for f in ["last", "last.state"] {
        std::fs::rename(ck(c.path(), &format!("{f}.safetensors")), ck(c.path(), &format!("{f}.next.safetensors"))).unwrap();
        std::fs::copy(ck(one.path(), &format!("{f}.safetensors")), ck(c.path(), &format!("{f}.safetensors"))).unwrap();
    }
    let (got, _) = run(c.path(), 3, true);
    assert_eq!(got, want);

    // Files that disagree with the progress, with nothing to recover from, are refused.
    let d = tempfile::tempdir().unwrap();
    run(d.path(), 2, false);
    std::fs::copy(ck(one.path(), "last.state.safetensors"), ck(d.path(), "last.state.safetensors")).unwrap();
    let cfg = settings(3);
    let mut l = learner();
    let spec = RunSpec { name: "oja", train: &cfg, config_toml: "" };
    let err = train(&mut l, spec, &data(400, 1), &data(100, 2), None, d.path(), &RunOptions { resume: true, quiet: true }).unwrap_err();
    let err = err.to_string();
    assert!(err.contains("last.state.safetensors") && err.contains("epoch 1") && err.contains("2 epochs committed"), "{err}");
}
