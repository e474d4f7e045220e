//! The one training loop, for any [`Learner`].
//!
//! One epoch: shuffle the training set, take mini-batches, let the learner make its step (backprop,
//! contrastive divergence, a local rule), update every named parameter with the optimizer and apply
//! the constraints; then score the model on the validation set (the score the learner chooses:
//! validation errors, reconstruction error, ...), measure the test set when asked, track submask
//! flips when asked, and commit the epoch's checkpoints.
//!
//! **Determinism.** The shuffle of epoch `e` and the generator of step `s` (dropout masks, sampling)
//! come from ChaCha8 generators seeded with `(seed, e)` and `(seed, e, s)`; updates are computed in
//! fixed chunks. The same seed and thread count therefore give the same model, and a resumed run
//! continues exactly as the uninterrupted run would have.
//!
//! **Commits.** The model (`last.safetensors`), the optimizer state (`last.state.safetensors`),
//! the best model when it improved (`best.safetensors`) and the progress (`progress.json`) of an
//! epoch form one unit: the three checkpoints are first written beside their final names
//! (`*.next.safetensors`, each atomically; the best one, being the same model, as a hard link to
//! the last one, [`crate::io::atomic::link_atomic`]), then `progress.json` is written (the commit point), then
//! the three are renamed into place. A run killed at any instant resumes exactly: on resume the
//! `next` files of a committed epoch are renamed into place, those of an uncommitted one removed,
//! leftover temporary files of interrupted writes removed, and the epochs recorded in the three
//! files checked against each other.
//!
//! **Failure.** A non-finite or exploding loss stops the run with [`Error::Diverged`]; the
//! checkpoints of the last committed epoch stay as they were.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::analysis::FlipTracker;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::io::{load_tensors, save_tensors, write_json};
use crate::models::Model;
use crate::models::checkpoint;
use crate::models::learner::{Batch, Learner};
use crate::params::{ParamRule, Parameters};
use crate::report::plot::{Series, line_plot};
use crate::report::progress::{Progress, ProgressMode};
use crate::tensor::Matrix;
use crate::train::config::TrainConfig;
use crate::train::optim::{Optimizer, StepParams};

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
    /// The learner's validation score (lower is better; for classifiers the validation errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Misclassified validation examples (classifiers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_errors: Option<usize>,
    /// Validation error rate (classifiers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_error: Option<f64>,
    /// Misclassified test examples (when measured).
    pub test_errors: Option<usize>,
    /// Test error rate (when measured).
    pub test_error: Option<f64>,
    /// The learner's further validation measurements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<(String, f64)>,
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

impl EpochRecord {
    /// The validation score, also for progress files written before scores were recorded (their
    /// validation errors).
    pub fn score(&self) -> f64 {
        self.score.or(self.val_errors.map(|e| e as f64)).unwrap_or(f64::INFINITY)
    }
}

/// Where a run stands; committed after every epoch so that a run can resume.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunProgress {
    /// Every finished epoch.
    pub history: Vec<EpochRecord>,
    /// Epoch of the best checkpoint.
    pub best_epoch: usize,
    /// Its validation errors (classifiers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_val_errors: Option<usize>,
    /// Its validation score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_score: Option<f64>,
    /// Why it ended, when it did (a resumed run with more epochs or more patience goes on).
    pub stop_reason: Option<String>,
}

impl RunProgress {
    fn best(&self) -> f64 {
        self.best_score.or(self.best_val_errors.map(|e| e as f64)).unwrap_or(f64::INFINITY)
    }
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
    /// Epoch with the best validation score: the `best` checkpoint.
    pub best_epoch: usize,
    /// What the score is (`validation errors`, `reconstruction error`).
    pub score_name: String,
    /// The best validation score.
    pub best_score: f64,
    /// Validation errors of the best checkpoint (classifiers).
    pub val_errors: Option<usize>,
    /// Size of the validation set.
    pub val_size: usize,
    /// Test errors of the best checkpoint (classifiers, when a test set was given).
    pub test_errors: Option<usize>,
    /// The best checkpoint's test score (when a test set was given).
    pub test_score: Option<f64>,
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

/// What the loop needs besides the learner: the run's name, its settings, and the experiment as
/// TOML (written to `config.toml`).
#[derive(Clone, Copy, Debug)]
pub struct RunSpec<'a> {
    /// Name of the run, for logs and figures.
    pub name: &'a str,
    /// Loop and optimizer settings.
    pub train: &'a TrainConfig,
    /// The whole experiment as TOML, saved in the run folder.
    pub config_toml: &'a str,
}

/// Trains `learner` on `train`, choosing the best epoch by its score on `val`, reporting on `test`,
/// writing everything into the run folder `dir` (see [`RunPaths`]). On return the learner holds the
/// best model.
pub fn train<L: Learner>(
    learner: &mut L,
    spec: RunSpec<'_>,
    train: &Dataset,
    val: &Dataset,
    test: Option<&Dataset>,
    dir: &Path,
    opts: &RunOptions,
) -> Result<TrainOutcome> {
    let started = Instant::now();
    let cfg = spec.train;
    cfg.validate()?;
    if train.is_empty() {
        return Err(Error::Data("the training set is empty".into()));
    }
    if val.is_empty() {
        return Err(Error::Data("the validation set is empty: lower data.validation or use more training data".into()));
    }
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
    let mut rules = learner.rules();
    rules.extend(cfg.all_rules());
    let mut opt = Optimizer::new(cfg.optimizer, learner.model(), rules)?;
    let paths = RunPaths { dir: dir.to_path_buf() };

    // A new run, or the continuation of one.
    let mut progress = if opts.resume && paths.progress().exists() {
        let progress = recover(&paths)?;
        let (model, meta) = checkpoint::load::<L::Model>(&paths.last())?;
        if model.config() != learner.model().config() {
            return Err(Error::format(
                paths.last(),
                format!("checkpoint architecture {} does not match the configured {}", model.describe(), learner.model().describe()),
            ));
        }
        check_epoch(&paths.last(), &meta, progress.history.len())?;
        *learner.model_mut() = model;
        let (tensors, meta) = load_tensors(&paths.last_state())?;
        check_epoch(&paths.last_state(), &meta, progress.history.len())?;
        opt.load_state(&paths.last_state(), &tensors, &meta)?;
        progress
    } else {
        if paths.progress().exists() {
            return Err(Error::param(
                "run folder",
                dir.display(),
                "a folder without a previous run (pass --resume to continue it, or choose another --out)",
            ));
        }
        if let Some(from) = &cfg.init_from {
            let n = init_from(learner.model_mut(), <L::Model as crate::models::Model>::KIND, from, &cfg.init_params)?;
            opt.constrain(learner.model_mut());
            if !opts.quiet {
                crate::report::progress::log_line(&format!("{}: {n} parameter tensors initialised from {}", spec.name, from.display()));
            }
        }
        RunProgress::default()
    };
    crate::io::write_atomic(&paths.config(), spec.config_toml.as_bytes())?;
    let start_epoch = progress.history.len() + 1;
    let log = |s: String| {
        if !opts.quiet {
            crate::report::progress::log_line(&s);
        }
    };
    log(format!(
        "{}: training {} ({} parameters) on {} examples, validating on {} ({}), epochs {start_epoch}..={}",
        spec.name,
        learner.model().describe(),
        learner.model().num_params(),
        train.len(),
        val.len(),
        learner.score_name(),
        cfg.epochs
    ));

    let batch = cfg.batch_size.min(train.len());
    let steps = train.len().div_ceil(batch);
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
        true if learner.encoder().is_none() => {
            return Err(Error::param("train.track_flips", true, "a model with hidden layers (this one has no encoder)"));
        }
        true => {
            let n = if cfg.flip_examples == 0 { train.len() } else { cfg.flip_examples.min(train.len()) };
            Some(&train.x[..n * train.dim])
        }
        false => None,
    };
    let mut flips = FlipTracker::default();
    let flip_codes = |l: &L, x: &[f32]| -> Result<_> {
        let enc = l.encoder().ok_or_else(|| Error::param("train.track_flips", true, "a model with hidden layers"))?;
        crate::analysis::all_submasks(enc, x, 500)
    };
    if let Some(x) = flip_set {
        flips.record(flip_codes(learner, x)?)?;
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
            if crate::train::interrupt::requested() {
                return Err(Error::Interrupted { epoch, step: step + 1, checkpoint: paths.last().exists().then(|| paths.last()) });
            }
            x.resize(idx.len(), train.dim);
            y.resize(idx.len(), 0);
            train.gather_batch(idx, &mut x.data, &mut y);
            let mut rng = ChaCha8Rng::seed_from_u64(mix(cfg.seed, epoch as u64, step as u64));
            let out = learner.step(&Batch { x: &x, labels: &y, epoch, step, lr }, &mut rng)?;
            let loss = out.loss;
            if !loss.is_finite() || loss > cfg.max_loss {
                let kept = paths.last().exists().then(|| paths.last());
                return Err(Error::Diverged { epoch, step: step + 1, loss, checkpoint: kept });
            }
            loss_sum += loss as f64;
            let (model, grads) = learner.model_and_grads();
            opt.step(model, grads, params, out.update)?;
            bar.inc(1);
        }
        let train_seconds = t0.elapsed().as_secs_f64();
        // Every `eval_every` epochs, and always the last one.
        let evaluate_now = epoch.is_multiple_of(cfg.eval_every.max(1)) || epoch == cfg.epochs;
        let v = if evaluate_now { Some(learner.evaluate(val)?) } else { None };
        let t = match test {
            Some(t) if cfg.eval_test && evaluate_now => Some(learner.evaluate(t)?),
            _ => None,
        };
        let rates = match flip_set {
            Some(x) => flips.record(flip_codes(learner, x)?)?,
            None => None,
        };
        let test_errors = t.as_ref().and_then(|t| t.errors);
        let record = EpochRecord {
            flip_rate: rates.as_ref().map(|r| r.network),
            flip_rates: rates.map(|r| r.per_layer),
            epoch,
            lr,
            momentum,
            train_loss: (loss_sum / steps as f64) as f32,
            score: v.as_ref().map(|v| v.score),
            val_errors: v.as_ref().and_then(|v| v.errors),
            val_error: v.as_ref().and_then(|v| v.errors).map(|e| e as f64 / val.len() as f64),
            test_errors,
            test_error: test_errors.zip(test).map(|(e, t)| e as f64 / t.len() as f64),
            metrics: v.as_ref().map(|v| v.metrics.clone()).unwrap_or_default(),
            train_seconds,
        };
        let measured = match &v {
            Some(v) => match v.errors {
                Some(e) => format!("validation errors {e}/{}", val.len()),
                None => format!("{} {:.6}", learner.score_name(), v.score),
            },
            None => format!("not evaluated (every {} epochs)", cfg.eval_every),
        };
        let summary = format!(
            "epoch {epoch}: loss {:.4}, {measured}{}{}{}, {:.1}s",
            record.train_loss,
            test_errors.map(|e| format!(", test errors {e}")).unwrap_or_default(),
            record.flip_rate.map(|f| format!(", flip rate {f:.4}")).unwrap_or_default(),
            v.as_ref().map(|v| learner.describe_evaluation(v)).filter(|s| !s.is_empty()).map(|s| format!(", {s}")).unwrap_or_default(),
            train_seconds
        );
        if bar.mode() == ProgressMode::Bar {
            bar.finish(&summary);
        } else {
            log(summary);
        }
        progress.history.push(record);

        // The epoch's commit (see the module docs): next files, progress, renames.
        let tag = [("epoch", epoch.to_string())];
        let keep_last = cfg.keep == crate::train::config::Keep::Last;
        let improved = match &v {
            Some(v) => progress.best_epoch == 0 || v.score < progress.best() || keep_last,
            None => keep_last,
        };
        if improved {
            progress.best_epoch = epoch;
            progress.best_val_errors = v.as_ref().and_then(|v| v.errors);
            progress.best_score = v.as_ref().map(|v| v.score);
        }
        checkpoint::save(&next(&paths.last()), learner.model(), &tag)?;
        if improved {
            // The same model as `last`: a second name for its file, not a second write.
            crate::io::atomic::link_atomic(&next(&paths.last()), &next(&paths.best()))?;
        }
        let mut meta: std::collections::HashMap<String, String> = opt.state_metadata().into_iter().collect();
        meta.insert("epoch".into(), epoch.to_string());
        save_tensors(&next(&paths.last_state()), &opt.state_tensors(), meta)?;
        progress.stop_reason = early_stop(&progress);
        if epoch == cfg.epochs {
            progress.stop_reason.get_or_insert_with(|| format!("all {} epochs done", cfg.epochs));
        }
        write_json(&paths.progress(), &progress)?;
        for p in [paths.best(), paths.last(), paths.last_state()] {
            let n = next(&p);
            if n.exists() {
                std::fs::rename(&n, &p).map_err(|e| Error::io(&p, e))?;
            }
        }
        write_curves(&paths.curve(), spec.name, learner.score_name(), &progress.history)?;
        if flip_set.is_some() {
            write_flips(&paths, spec.name, &progress.history)?;
        }
        epoch += 1;
    }

    // Report the best checkpoint.
    let (best, _) = checkpoint::load::<L::Model>(&paths.best())?;
    *learner.model_mut() = best;
    let t = test.map(|t| learner.evaluate(t)).transpose()?;
    let outcome = TrainOutcome {
        name: spec.name.to_string(),
        architecture: learner.model().describe(),
        epochs: progress.history.len(),
        best_epoch: progress.best_epoch,
        score_name: learner.score_name().to_string(),
        best_score: progress.best(),
        val_errors: progress.best_val_errors,
        val_size: val.len(),
        test_errors: t.as_ref().and_then(|t| t.errors),
        test_score: t.as_ref().map(|t| t.score),
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
    write_json(&paths.metrics(), &Metrics { outcome: &outcome, history: &progress.history })?;
    let best = match outcome.val_errors {
        Some(e) => format!("validation errors {e}/{}", outcome.val_size),
        None => format!("{} {:.6}", outcome.score_name, outcome.best_score),
    };
    log(format!(
        "{}: best epoch {} of {}, {best}{}; {}",
        outcome.name,
        outcome.best_epoch,
        outcome.epochs,
        outcome.test_errors.map(|e| format!(", test errors {e}/{}", outcome.test_size)).unwrap_or_default(),
        outcome.stop_reason
    ));
    Ok(outcome)
}

/// Copies the parameters of the checkpoint `from` whose names match `pattern` into `model` (same
/// names, same shapes): pretraining, then fine-tuning. Returns how many tensors were copied.
///
/// A compete checkpoint of another model kind than `kind`, or one whose tensor has another shape,
/// is an error naming `train.init_from`, the file and what it holds.
pub fn init_from(model: &mut dyn Parameters, kind: &str, from: &Path, pattern: &str) -> Result<usize> {
    let (tensors, meta) = load_tensors(from)?;
    if let Some(other) = meta.get("kind")
        && other != kind
    {
        return Err(Error::param(
            "train.init_from",
            from.display(),
            format!("a checkpoint of a {kind:?} model; it holds a {other:?} model"),
        ));
    }
    let rule = ParamRule::new(pattern);
    let mut copied = 0;
    for p in model.params_mut() {
        if !rule.matches(&p.name) {
            continue;
        }
        let Some((shape, values)) = tensors.get(p.name.as_ref()) else { continue };
        if *shape != p.shape {
            let holds = crate::models::load_any(from).map(|(m, _)| m.encoder().describe()).unwrap_or_else(|e| e.to_string());
            return Err(Error::param(
                "train.init_from",
                from.display(),
                format!("tensor {} of shape {:?} like this model's parameter; it has {shape:?} (the file holds {holds})", p.name, p.shape),
            ));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::format(from, format!("tensor {} holds {} at index {i}", p.name, values[i])));
        }
        p.data.copy_from_slice(values);
        copied += 1;
    }
    if copied == 0 {
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        return Err(Error::param(
            "train.init_from",
            from.display(),
            format!("a checkpoint with tensors named like the model's parameters matching {pattern:?}; it holds {names:?}"),
        ));
    }
    Ok(copied)
}

/// `last.safetensors` -> `last.next.safetensors`: where an epoch's file waits for its commit.
fn next(path: &Path) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("checkpoint");
    path.with_file_name(format!("{stem}.next.safetensors"))
}

/// Brings a run folder back to its last committed epoch (see the module docs) and returns its
/// progress.
fn recover(paths: &RunPaths) -> Result<RunProgress> {
    let progress: RunProgress = read_json(&paths.progress())?;
    let committed = progress.history.len();
    for dir in [paths.dir.clone(), paths.dir.join("checkpoints")] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.contains(".tmp-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    for p in [paths.best(), paths.last(), paths.last_state()] {
        let n = next(&p);
        if !n.exists() {
            continue;
        }
        let epoch = crate::io::read_metadata(&n).ok().and_then(|m| m.get("epoch").and_then(|e| e.parse::<usize>().ok()));
        if epoch == Some(committed) {
            std::fs::rename(&n, &p).map_err(|e| Error::io(&p, e))?;
        } else {
            std::fs::remove_file(&n).map_err(|e| Error::io(&n, e))?;
        }
    }
    Ok(progress)
}

/// Checks that a checkpoint is of the committed epoch.
fn check_epoch(path: &Path, meta: &std::collections::HashMap<String, String>, committed: usize) -> Result<()> {
    match meta.get("epoch").and_then(|e| e.parse::<usize>().ok()) {
        Some(e) if e == committed => Ok(()),
        // Files of runs from before epoch tags were checked have them too; a file without one
        // cannot be matched to the progress.
        found => Err(Error::format(
            path,
            format!(
                "holds epoch {}, but progress.json has {committed} epochs committed: the run folder is inconsistent (was a file copied in by hand?)",
                found.map_or("(none)".to_string(), |e| e.to_string())
            ),
        )),
    }
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
    crate::io::write_atomic(&paths.flips_csv(), csv.as_bytes())?;
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

/// The learning curve: classification error (%) for classifiers, else the learner's score.
fn write_curves(path: &Path, name: &str, score_name: &str, history: &[EpochRecord]) -> Result<()> {
    let classifier = history.iter().any(|r| r.val_error.is_some());
    if !classifier {
        let points = history.iter().filter(|r| r.score.is_some() || r.val_errors.is_some()).map(|r| (r.epoch as f64, r.score())).collect();
        return line_plot(
            path,
            &format!("{name}: {score_name}"),
            "epoch",
            score_name,
            &[Series { name: "validation".into(), points }],
            false,
        );
    }
    let pct =
        |f: fn(&EpochRecord) -> Option<f64>| history.iter().filter_map(|r| f(r).map(|v| (r.epoch as f64, 100.0 * v))).collect::<Vec<_>>();
    let mut series = vec![Series { name: "validation".into(), points: pct(|r| r.val_error) }];
    let test = pct(|r| r.test_error);
    if !test.is_empty() {
        series.push(Series { name: "test".into(), points: test });
    }
    line_plot(path, &format!("{name}: classification error"), "epoch", "error (%)", &series, false)
}

/// Paths of the files of a run folder.
#[derive(Clone, Debug)]
pub struct RunPaths {
    /// The run folder.
    pub dir: PathBuf,
}

impl RunPaths {
    /// The checkpoint written after every epoch.
    pub fn last(&self) -> PathBuf {
        self.dir.join("checkpoints").join("last.safetensors")
    }
    /// Optimizer state matching [`RunPaths::last`]: `m.{param}` (and `v.{param}` for Adam), with
    /// the step count `t` and the `epoch` in the metadata.
    pub fn last_state(&self) -> PathBuf {
        self.dir.join("checkpoints").join("last.state.safetensors")
    }
    /// The checkpoint with the best validation score so far.
    pub fn best(&self) -> PathBuf {
        self.dir.join("checkpoints").join("best.safetensors")
    }
    /// Training progress (epoch, history, best so far) as JSON: the commit record of each epoch.
    pub fn progress(&self) -> PathBuf {
        self.dir.join("progress.json")
    }
    /// The full configuration of the run, as TOML.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// Metrics of every epoch and the final summary, as JSON.
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.json")
    }
    /// The learning curve.
    pub fn curve(&self) -> PathBuf {
        self.dir.join("learning_curve.png")
    }
    /// Flip rates per epoch (when tracked), as CSV.
    pub fn flips_csv(&self) -> PathBuf {
        self.dir.join("flips.csv")
    }
    /// Flip rates per epoch (when tracked), as a curve.
    pub fn flips_png(&self) -> PathBuf {
        self.dir.join("flips.png")
    }
}
