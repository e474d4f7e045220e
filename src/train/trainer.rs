//! The training loop of competitive MLPs.
//!
//! One epoch: shuffle the training set, take mini-batches, forward with dropout, backward, update
//! (SGD with momentum or Adam), max-norm; then measure the validation (and test) error, write the
//! checkpoint of the epoch and, when the validation error is the lowest so far, the best checkpoint.
//!
//! **Determinism.** The shuffle of epoch `e` and the dropout masks of step `s` come from ChaCha8
//! generators seeded with `(seed, e)` and `(seed, e, s)`; updates are computed in fixed chunks. The
//! same seed and thread count therefore give the same network, and a resumed run continues exactly
//! as the uninterrupted run would have.
//!
//! **Failure.** A non-finite or exploding loss stops the run with [`Error::Diverged`]; the
//! checkpoints of the last finished epoch stay as they were.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::analysis::FlipTracker;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::mlp::{Mlp, Workspace};
use crate::report::plot::{Series, line_plot};
use crate::report::progress::{Progress, ProgressMode};
use crate::tensor::Matrix;
use crate::train::checkpoint::{self, RunPaths, describe};
use crate::train::config::Experiment;
use crate::train::optim::{Optimizer, StepParams, apply_max_norm};

/// What happened in one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f32,
    /// Momentum used.
    pub momentum: f32,
    /// Mean training loss over the epoch's mini-batches (with dropout).
    pub train_loss: f32,
    /// Misclassified validation examples.
    pub val_errors: usize,
    /// Validation error rate.
    pub val_error: f64,
    /// Misclassified test examples (when measured).
    pub test_errors: Option<usize>,
    /// Test error rate (when measured).
    pub test_error: Option<f64>,
    /// Seconds spent training in this epoch (evaluation excluded).
    pub train_seconds: f64,
    /// Flip rate of the submasks since the previous epoch, over all hidden units (when tracked; paper
    /// A, Figure 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flip_rate: Option<f64>,
    /// The same per hidden layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flip_rates: Option<Vec<f64>>,
}

/// Where a run stands; written after every epoch so that a run can resume.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunProgress {
    /// Every finished epoch.
    pub history: Vec<EpochRecord>,
    /// Epoch of the best checkpoint.
    pub best_epoch: usize,
    /// Its validation errors.
    pub best_val_errors: usize,
    /// Why it ended, when it did (a resumed run with more epochs or more patience goes on).
    pub stop_reason: Option<String>,
}

/// The result of a training run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainOutcome {
    /// Name of the run.
    pub name: String,
    /// The architecture, e.g. `784-1000(relu)-1000(relu)-10`.
    pub architecture: String,
    /// Epochs trained in all (including before a resume).
    pub epochs: usize,
    /// Epoch with the lowest validation error: the `best` checkpoint.
    pub best_epoch: usize,
    /// Validation errors of the best checkpoint.
    pub val_errors: usize,
    /// Size of the validation set.
    pub val_size: usize,
    /// Test errors of the best checkpoint (when a test set was given).
    pub test_errors: Option<usize>,
    /// Size of the test set.
    pub test_size: usize,
    /// Why training stopped.
    pub stop_reason: String,
    /// Wall-clock seconds of this invocation (training and evaluation).
    pub seconds: f64,
    /// The best checkpoint.
    pub best_checkpoint: PathBuf,
}

/// How to run (not part of the experiment itself).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Continue the run found in the folder instead of refusing to overwrite it.
    pub resume: bool,
    /// Print nothing.
    pub quiet: bool,
}

/// Trains the MLP of `exp` on `train`, choosing the best epoch on `val`, reporting on `test`, and
/// writing everything into the run folder `dir` (see [`RunPaths`]).
pub fn train_mlp(
    exp: &Experiment,
    train: &Dataset,
    val: &Dataset,
    test: Option<&Dataset>,
    dir: &Path,
    opts: &RunOptions,
) -> Result<TrainOutcome> {
    let started = Instant::now();
    let cfg = &exp.train;
    cfg.validate()?;
    if train.is_empty() {
        return Err(Error::Data("the training set is empty".into()));
    }
    if val.is_empty() {
        return Err(Error::Data("the validation set is empty: lower data.validation or use more training data".into()));
    }
    let classes = train.classes.max(val.classes).max(test.map_or(0, |t| t.classes));
    let config = exp.model.mlp_config(train.dim, classes)?;
    for (name, d) in [("validation", Some(val)), ("test", test)] {
        if let Some(d) = d
            && d.dim != train.dim
        {
            return Err(Error::shape(
                format!("{name} set"),
                format!("{} features", d.dim),
                format!("{} features like the training set", train.dim),
            ));
        }
    }
    let paths = RunPaths { dir: dir.to_path_buf() };

    // A new run, or the continuation of one.
    let (mut mlp, mut opt, mut progress) = if opts.resume && paths.progress().exists() {
        let progress: RunProgress = read_json(&paths.progress())?;
        let mlp = checkpoint::load_mlp_expecting(&paths.last(), &config)?;
        let mut opt = Optimizer::new(cfg.optimizer, &mlp);
        let (tensors, meta) = checkpoint::load_tensors(&paths.last_state())?;
        opt.m = checkpoint::read_layers(&paths.last_state(), &tensors, &config, "m.")?;
        if cfg.optimizer == crate::train::optim::OptimizerKind::Adam {
            opt.v = checkpoint::read_layers(&paths.last_state(), &tensors, &config, "v.")?;
        }
        opt.t = meta.get("t").and_then(|t| t.parse().ok()).unwrap_or(0);
        (mlp, opt, progress)
    } else {
        if paths.progress().exists() {
            return Err(Error::param(
                "run folder",
                dir.display(),
                "a folder without a previous run (pass --resume to continue it, or choose another --out)",
            ));
        }
        let mlp = Mlp::with_gain(config.clone(), cfg.seed, exp.model.init_gain)?;
        let opt = Optimizer::new(cfg.optimizer, &mlp);
        (mlp, opt, RunProgress::default())
    };
    crate::report::io::write_atomic(&paths.config(), exp.to_toml()?.as_bytes())?;
    let start_epoch = progress.history.len() + 1;
    let log = |s: String| {
        if !opts.quiet {
            crate::report::progress::log_line(&s);
        }
    };
    log(format!(
        "{}: training {} ({} parameters) on {} examples, validating on {}, epochs {start_epoch}..={}",
        exp.name,
        describe(&config),
        mlp.num_params(),
        train.len(),
        val.len(),
        cfg.epochs
    ));

    let batch = cfg.batch_size.min(train.len());
    let steps = train.len().div_ceil(batch);
    let dropout = cfg.dropout();
    let mut ws = Workspace::default();
    let mut grads = mlp.zero_grads();
    let mut x = Matrix::zeros(batch, train.dim);
    let mut y = vec![0u8; batch];
    let mut order: Vec<usize> = (0..train.len()).collect();
    let early_stop = |p: &RunProgress| match cfg.patience {
        Some(patience) if p.history.len() >= p.best_epoch + patience => {
            Some(format!("early stop: no validation improvement for {patience} epochs"))
        }
        _ => None,
    };
    progress.stop_reason = early_stop(&progress);

    // Flip tracking (paper A, Figure 4): the submasks of the tracked examples before the first epoch
    // of this invocation (the initial network, or the last checkpoint when resuming) are the first
    // reference; only the latest codes are kept.
    let flip_set = match cfg.track_flips && progress.stop_reason.is_none() {
        true => {
            let n = if cfg.flip_examples == 0 { train.len() } else { cfg.flip_examples.min(train.len()) };
            Some(&train.x[..n * train.dim])
        }
        false => None,
    };
    let mut flips = FlipTracker::default();
    if let Some(x) = flip_set {
        flips.record(crate::analysis::all_submasks(&mlp, x, 500)?)?;
    }

    let mut epoch = start_epoch;
    while epoch <= cfg.epochs && progress.stop_reason.is_none() {
        let t0 = Instant::now();
        let (lr, momentum) = (cfg.lr_at(epoch), cfg.momentum_at(epoch));
        let params = StepParams { lr, momentum, beta2: cfg.beta2, eps: cfg.eps, weight_decay: cfg.weight_decay };
        order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(cfg.seed, epoch as u64, u64::MAX)));
        let label = format!("epoch {epoch}/{}", cfg.epochs);
        // A bar within the epoch on a terminal; elsewhere (logs, CI) only the line per epoch below.
        let bar = match Progress::new(&label, steps as u64) {
            b if !opts.quiet && b.mode() == ProgressMode::Bar => b,
            _ => Progress::quiet(&label, steps as u64),
        };
        let mut loss_sum = 0.0f64;
        for (step, idx) in order.chunks(batch).enumerate() {
            x.resize(idx.len(), train.dim);
            y.resize(idx.len(), 0);
            train.gather_batch(idx, &mut x.data, &mut y);
            let mut rng = ChaCha8Rng::seed_from_u64(mix(cfg.seed, epoch as u64, step as u64));
            mlp.forward(&x, &mut ws, Some((dropout, &mut rng)))?;
            let loss = mlp.backward(&x, &y, &mut ws, &mut grads, dropout)?;
            if !loss.is_finite() || loss > 1e4 {
                let kept = paths.last().exists().then(|| paths.last());
                return Err(Error::Diverged { epoch, step: step + 1, loss, checkpoint: kept });
            }
            loss_sum += loss as f64;
            opt.step(&mut mlp, &grads, params);
            if let Some(c) = cfg.max_norm {
                apply_max_norm(&mut mlp.layers, c)?;
            }
            bar.inc(1);
        }
        let train_seconds = t0.elapsed().as_secs_f64();
        let val_errors = errors(&mlp, val)?;
        let test_errors = match test {
            Some(t) if cfg.eval_test => Some(errors(&mlp, t)?),
            _ => None,
        };
        let rates = match flip_set {
            Some(x) => flips.record(crate::analysis::all_submasks(&mlp, x, 500)?)?,
            None => None,
        };
        let record = EpochRecord {
            flip_rate: rates.as_ref().map(|r| r.network),
            flip_rates: rates.map(|r| r.per_layer),
            epoch,
            lr,
            momentum,
            train_loss: (loss_sum / steps as f64) as f32,
            val_errors,
            val_error: val_errors as f64 / val.len() as f64,
            test_errors,
            test_error: test_errors.zip(test).map(|(e, t)| e as f64 / t.len() as f64),
            train_seconds,
        };
        let summary = format!(
            "epoch {epoch}: loss {:.4}, validation errors {val_errors}/{}{}{}, {:.1}s",
            record.train_loss,
            val.len(),
            test_errors.map(|e| format!(", test errors {e}")).unwrap_or_default(),
            record.flip_rate.map(|f| format!(", flip rate {f:.4}")).unwrap_or_default(),
            train_seconds
        );
        if bar.mode() == ProgressMode::Bar {
            bar.finish(&summary);
        } else {
            log(summary);
        }
        progress.history.push(record);

        // Checkpoints: best first, then last and the progress that points at both.
        if progress.best_epoch == 0 || val_errors < progress.best_val_errors {
            progress.best_epoch = epoch;
            progress.best_val_errors = val_errors;
            checkpoint::save_mlp(&paths.best(), &mlp, &[("epoch", epoch.to_string())])?;
        }
        checkpoint::save_mlp(&paths.last(), &mlp, &[("epoch", epoch.to_string())])?;
        let mut state = Vec::new();
        for (prefix, layers) in opt.buffers() {
            state.extend(checkpoint::mlp_tensors(layers, prefix));
        }
        let meta = [("t".to_string(), opt.t.to_string()), ("epoch".to_string(), epoch.to_string())].into_iter().collect();
        checkpoint::save_tensors(&paths.last_state(), &state, meta)?;
        progress.stop_reason = early_stop(&progress);
        if epoch == cfg.epochs {
            progress.stop_reason.get_or_insert_with(|| format!("all {} epochs done", cfg.epochs));
        }
        crate::report::io::write_json(&paths.progress(), &progress)?;
        write_curves(&paths.curve(), &exp.name, &progress.history)?;
        if flip_set.is_some() {
            write_flips(&paths, &exp.name, &progress.history)?;
        }
        epoch += 1;
    }

    // Report the best checkpoint.
    let best = checkpoint::load_mlp(&paths.best())?;
    let test_errors = test.map(|t| errors(&best, t)).transpose()?;
    let outcome = TrainOutcome {
        name: exp.name.clone(),
        architecture: describe(&config),
        epochs: progress.history.len(),
        best_epoch: progress.best_epoch,
        val_errors: progress.best_val_errors,
        val_size: val.len(),
        test_errors,
        test_size: test.map_or(0, |t| t.len()),
        stop_reason: progress.stop_reason.clone().unwrap_or_else(|| format!("all {} epochs done", cfg.epochs)),
        seconds: started.elapsed().as_secs_f64(),
        best_checkpoint: paths.best(),
    };
    #[derive(Serialize)]
    struct Metrics<'a> {
        outcome: &'a TrainOutcome,
        history: &'a [EpochRecord],
    }
    crate::report::io::write_json(&paths.metrics(), &Metrics { outcome: &outcome, history: &progress.history })?;
    log(format!(
        "{}: best epoch {} of {}, validation errors {}/{}{}; {}",
        outcome.name,
        outcome.best_epoch,
        outcome.epochs,
        outcome.val_errors,
        outcome.val_size,
        outcome.test_errors.map(|e| format!(", test errors {e}/{}", outcome.test_size)).unwrap_or_default(),
        outcome.stop_reason
    ));
    Ok(outcome)
}

/// Misclassified examples of `data`.
pub fn errors(mlp: &Mlp, data: &Dataset) -> Result<usize> {
    let predicted = mlp.predict(&data.x, 500)?;
    Ok(predicted.iter().zip(&data.labels).filter(|&(&p, &y)| p != y as usize).count())
}

/// `flips.csv` (epoch, one column per hidden layer, network) and `flips.png` from the epochs that
/// have a flip rate.
fn write_flips(paths: &RunPaths, name: &str, history: &[EpochRecord]) -> Result<()> {
    let rows: Vec<(usize, &Vec<f64>, f64)> = history.iter().filter_map(|r| Some((r.epoch, r.flip_rates.as_ref()?, r.flip_rate?))).collect();
    let layers = rows.first().map_or(0, |r| r.1.len());
    let mut csv = String::from("epoch");
    for l in 0..layers {
        csv.push_str(&format!(",layer{l}"));
    }
    csv.push_str(",network\n");
    for (epoch, per_layer, network) in &rows {
        csv.push_str(&epoch.to_string());
        for f in per_layer.iter() {
            csv.push_str(&format!(",{f}"));
        }
        csv.push_str(&format!(",{network}\n"));
    }
    crate::report::io::write_atomic(&paths.flips_csv(), csv.as_bytes())?;
    let mut series = vec![Series::new("all hidden units", rows.iter().map(|r| (r.0 as f64, r.2)).collect())];
    for l in 0..layers {
        series.push(Series::new(format!("hidden layer {}", l + 1), rows.iter().map(|r| (r.0 as f64, r.1[l])).collect()));
    }
    line_plot(
        &paths.flips_png(),
        &format!("{name}: submask flip rate (paper A, Figure 4)"),
        "epoch",
        "fraction of examples flipped, mean over units",
        &series,
        false,
    )
}

/// A seed for the generator of `(seed, epoch, step)` (SplitMix64 finaliser over the three).
fn mix(seed: u64, epoch: u64, step: u64) -> u64 {
    let mut z = seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::format(path, e.to_string()))
}

fn write_curves(path: &Path, name: &str, history: &[EpochRecord]) -> Result<()> {
    let pct =
        |f: fn(&EpochRecord) -> Option<f64>| history.iter().filter_map(|r| f(r).map(|v| (r.epoch as f64, 100.0 * v))).collect::<Vec<_>>();
    let mut series = vec![Series { name: "validation".into(), points: pct(|r| Some(r.val_error)) }];
    let test = pct(|r| r.test_error);
    if !test.is_empty() {
        series.push(Series { name: "test".into(), points: test });
    }
    line_plot(path, &format!("{name}: classification error"), "epoch", "error (%)", &series, false)
}
