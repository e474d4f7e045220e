//! A linear SVM on features (paper B, section 4): `C` chosen on the validation split, the test
//! error of the chosen model, and the semi-supervised setting of paper B Table 2b (only `N`
//! labelled training examples, several random draws, mean and standard deviation of the test
//! error).
//!
//! Each run: the training examples (all of them, or a [`stratified_subset`] of `N` drawn with the
//! run's seed), [`choose_c`] over the grid against the whole validation split, then the test error
//! of the model fitted on the training examples with the chosen `C` (as the paper: settings picked
//! on validation data, test reported once). With `refit` (only without `N`), the chosen `C` is
//! fitted again on training + validation and that model is tested.

use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::eval::Confusion;
use crate::eval::svm::{CFit, LinearSvm, SvmConfig, check_widths, choose_c, confusion_matrix, select_rows, stratified_subset};
use crate::tensor::Matrix;

/// Features of one split with their labels.
pub struct Split<'a> {
    /// `[n, width]` features.
    pub x: &'a Matrix,
    /// One label per row.
    pub labels: &'a [u8],
}

/// What to run (see the module docs).
#[derive(Clone, Debug)]
pub struct SvmPlan {
    /// Candidate values of `C`.
    pub grid: Vec<f32>,
    /// Solver settings (`c` ignored); `seed` is the first run's seed, run `r` uses `seed + r`.
    pub config: SvmConfig,
    /// `Some(N)`: each run sees `N` stratified labelled training examples.
    pub labels: Option<usize>,
    /// Runs (random draws of the `N` examples); 1 without `labels`.
    pub seeds: usize,
    /// Refit the chosen `C` on training + validation (without `labels` only).
    pub refit: bool,
}

/// One run: its training examples, the grid's fits, the chosen `C` and its test result.
#[derive(Clone, Debug, Serialize)]
pub struct SvmRun {
    /// The seed of the subset draw and of the solver.
    pub seed: u64,
    /// Training examples the SVM saw.
    pub train_size: usize,
    /// One fit per `C` of the grid.
    pub fits: Vec<CFit>,
    /// The chosen `C`.
    pub c: f32,
    /// Whether the tested model was refitted on training + validation.
    pub refit: bool,
    /// Misclassified test examples.
    pub test_errors: usize,
    /// `test_errors / test size`.
    pub test_error_rate: f64,
    /// Passes of the tested model's binary problems (the most of them).
    pub iterations: usize,
    /// Whether every binary problem of the tested model converged before `max_iter`.
    pub converged: bool,
    /// Seconds spent fitting, over the grid (and the refit).
    pub fit_seconds: f64,
    /// The test confusion matrix.
    pub confusion: Confusion,
}

/// Everything a `compete svm` run found.
#[derive(Clone, Debug, Serialize)]
pub struct SvmReport {
    /// Features per example.
    pub width: usize,
    /// Number of classes.
    pub classes: usize,
    /// Examples of the training, validation and test splits.
    pub sizes: [usize; 3],
    /// The grid of `C`.
    pub grid: Vec<f32>,
    /// Solver settings.
    pub config: SvmConfig,
    /// `N` labelled training examples per run, if limited.
    pub labels: Option<usize>,
    /// The runs.
    pub runs: Vec<SvmRun>,
    /// Mean test error rate over the runs.
    pub test_error_mean: f64,
    /// Sample standard deviation (n - 1) of the test error rate over the runs; 0 for one run.
    pub test_error_std: f64,
}

/// Runs `plan` (see the module docs); `on_fit(run, fit)` is called after every fit of a grid.
///
/// Errors on splits of different widths (naming the split), `seeds = 0`, `refit` with `labels`,
/// and whatever [`choose_c`] and [`stratified_subset`] refuse.
pub fn svm_report(
    train: Split,
    val: Split,
    test: Split,
    classes: usize,
    plan: &SvmPlan,
    mut on_fit: impl FnMut(usize, &CFit),
) -> Result<SvmReport> {
    check_widths("validation", train.x.cols, val.x)?;
    check_widths("test", train.x.cols, test.x)?;
    for (what, s) in [("training", &train), ("validation", &val), ("test", &test)] {
        if s.labels.len() != s.x.rows {
            return Err(Error::shape(
                format!("{what} labels"),
                format!("{} labels", s.labels.len()),
                format!("{} (one per example)", s.x.rows),
            ));
        }
    }
    if plan.seeds == 0 {
        return Err(Error::param("--seeds", 0, "at least 1"));
    }
    if plan.refit && plan.labels.is_some() {
        return Err(Error::param("--refit", "with --labels", "--refit only without --labels (the validation labels would add to the N)"));
    }
    let runs_n = if plan.labels.is_some() { plan.seeds } else { 1 };
    let mut runs = Vec::with_capacity(runs_n);
    for r in 0..runs_n {
        let seed = plan.config.seed.wrapping_add(r as u64);
        let cfg = SvmConfig { seed, ..plan.config };
        let subset;
        let (tx, tl): (&Matrix, &[u8]) = match plan.labels {
            Some(n) => {
                let idx = stratified_subset(train.labels, n, classes, seed)?;
                subset = select_rows(train.x, train.labels, &idx)?;
                (&subset.0, &subset.1)
            }
            None => (train.x, train.labels),
        };
        let t0 = Instant::now();
        let sel = choose_c((tx, tl), (val.x, val.labels), classes, &plan.grid, &cfg, |f| on_fit(r, f))?;
        let model = if plan.refit {
            let mut data = tx.data.clone();
            data.extend_from_slice(&val.x.data);
            let mut labels = tl.to_vec();
            labels.extend_from_slice(val.labels);
            let x = Matrix::from_vec(labels.len(), tx.cols, data)?;
            LinearSvm::fit(&x, &labels, classes, &SvmConfig { c: sel.c, ..cfg })?
        } else {
            sel.model
        };
        let fit_seconds = t0.elapsed().as_secs_f64();
        let predicted = model.predict(test.x)?;
        let confusion = confusion_matrix(&predicted, test.labels, classes)?;
        let test_errors = confusion.errors() as usize;
        runs.push(SvmRun {
            seed,
            train_size: tl.len() + if plan.refit { val.labels.len() } else { 0 },
            fits: sel.fits,
            c: sel.c,
            refit: plan.refit,
            test_errors,
            test_error_rate: test_errors as f64 / test.labels.len().max(1) as f64,
            iterations: model.max_iterations(),
            converged: model.converged(),
            fit_seconds,
            confusion,
        });
    }
    let rates: Vec<f64> = runs.iter().map(|r| r.test_error_rate).collect();
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    let std = if rates.len() > 1 { (rates.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (rates.len() - 1) as f64).sqrt() } else { 0.0 };
    Ok(SvmReport {
        width: train.x.cols,
        classes,
        sizes: [train.x.rows, val.x.rows, test.x.rows],
        grid: plan.grid.clone(),
        config: plan.config,
        labels: plan.labels,
        runs,
        test_error_mean: mean,
        test_error_std: std,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(n: usize, shift: f32) -> (Matrix, Vec<u8>) {
        let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
        let data = (0..n).flat_map(|i| [(i % 3) as f32 * 2.0 + shift * ((i * 7 % 5) as f32 - 2.0), ((i * 3) % 7) as f32 * 0.1]).collect();
        (Matrix::from_vec(n, 2, data).unwrap(), labels)
    }

    #[test]
    fn runs_with_few_labels_report_mean_and_std() {
        let (tx, tl) = split(90, 0.1);
        let (vx, vl) = split(30, 0.1);
        let (sx, sl) = split(30, 0.12);
        let plan = SvmPlan { grid: vec![0.1, 1.0], config: SvmConfig::default(), labels: Some(9), seeds: 3, refit: false };
        let mut calls = 0;
        let s = |x, l| Split { x, labels: l };
        let r = svm_report(s(&tx, &tl), s(&vx, &vl), s(&sx, &sl), 3, &plan, |_, _| calls += 1).unwrap();
        assert_eq!(calls, 6);
        assert_eq!(r.runs.len(), 3);
        assert!(r.runs.iter().all(|run| run.train_size == 9 && run.confusion.total() == 30));
        assert_eq!(r.runs.iter().map(|r| r.seed).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(r.test_error_mean < 0.2, "{}", r.test_error_mean);
        let full = SvmPlan { labels: None, refit: true, ..plan.clone() };
        let r = svm_report(s(&tx, &tl), s(&vx, &vl), s(&sx, &sl), 3, &full, |_, _| {}).unwrap();
        assert_eq!((r.runs.len(), r.runs[0].train_size, r.test_error_std), (1, 120, 0.0));
        let wide = Matrix::zeros(30, 3);
        let e = svm_report(s(&tx, &tl), s(&vx, &vl), s(&wide, &sl), 3, &full, |_, _| {}).unwrap_err().to_string();
        assert!(e.contains("test split") && e.contains("3 features"), "{e}");
        let e = svm_report(s(&tx, &tl), s(&vx, &vl), s(&sx, &sl), 3, &plan.clone(), |_, _| {});
        assert!(e.is_ok());
        let bad = SvmPlan { labels: Some(1000), ..plan };
        let e = svm_report(s(&tx, &tl), s(&vx, &vl), s(&sx, &sl), 3, &bad, |_, _| {}).unwrap_err().to_string();
        assert!(e.contains("--labels = 1000"), "{e}");
    }
}
