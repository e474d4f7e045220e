//! `compete svm`: a linear SVM (scikit-learn `LinearSVC`'s defaults) on a checkpoint's features or
//! on `.npy` feature files, `C` chosen on the validation split, the test error and confusion matrix
//! (paper B, section 4; `--labels N` for Table 2b's few-label setting).

use std::path::{Path, PathBuf};

use clap::Args;

use super::common::model_and_data;
use super::features::{dataset_matrix, labels_path};
use crate::error::{Error, Result};
use crate::eval::svm::{DEFAULT_C_GRID, SvmConfig};
use crate::experiments::svm::{Split, SvmPlan, svm_report};
use crate::io::npy::{load_labels_npy, load_matrix_npy};
use crate::report::progress::log_line;
use crate::tensor::Matrix;

/// Flags of `compete svm`.
#[derive(Debug, Args)]
pub struct SvmArgs {
    /// The checkpoint whose features (`compete features`) the SVM is trained on; or give
    /// `--train`, `--val` and `--test`.
    pub checkpoint: Option<PathBuf>,
    /// Data for the checkpoint: `sample`, `mnist:DIR`, `DIR` or `synthetic:...`.
    #[arg(long, default_value = "sample")]
    pub data: String,
    /// Training features (`.npy`, float32 `[n, width]`, labels in `<stem>.labels.npy` beside it).
    #[arg(long, requires_all = ["val", "test"], conflicts_with = "checkpoint")]
    pub train: Option<PathBuf>,
    /// Validation features (chooses `C`).
    #[arg(long, requires = "train")]
    pub val: Option<PathBuf>,
    /// Test features (reported).
    #[arg(long, requires = "train")]
    pub test: Option<PathBuf>,
    /// One value of `C` (instead of a grid).
    #[arg(long, conflicts_with = "c_grid")]
    pub c: Option<f32>,
    /// Candidate values of `C`, chosen on the validation split (default 0.01,0.1,1,10,100).
    #[arg(long, value_delimiter = ',')]
    pub c_grid: Option<Vec<f32>>,
    /// Stopping tolerance (LinearSVC's tol).
    #[arg(long, default_value_t = 1e-4)]
    pub tol: f32,
    /// Most passes over the data per binary problem (LinearSVC's max_iter).
    #[arg(long, default_value_t = 1000)]
    pub max_iter: usize,
    /// Seed of the coordinate order and of the `--labels` draws (run r uses seed + r).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train on only N labelled training examples (stratified by class), paper B Table 2b.
    #[arg(long)]
    pub labels: Option<usize>,
    /// Random draws of the N examples with --labels (default 5); mean and std of the test error.
    #[arg(long, requires = "labels")]
    pub seeds: Option<usize>,
    /// Refit the chosen C on training + validation before testing (not with --labels).
    #[arg(long, conflicts_with = "labels")]
    pub refit: bool,
    /// Validation size (as in training), with a checkpoint.
    #[arg(long)]
    pub validation: Option<usize>,
    /// Scale examples to unit l2 norm (as in training), with a checkpoint.
    #[arg(long)]
    pub l2_normalize: bool,
    /// Also write the report as JSON to this file.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Features and labels of a split from `<file>.npy` and `<file>.labels.npy`.
fn load_split_npy(path: &Path) -> Result<(Matrix, Vec<u8>)> {
    let x = load_matrix_npy(path)?;
    let lpath = labels_path(path);
    let labels = load_labels_npy(&lpath)?;
    if labels.len() != x.rows {
        return Err(Error::shape(
            format!("{} against {}", lpath.display(), path.display()),
            format!("{} labels", labels.len()),
            format!("{} (one per row of the features)", x.rows),
        ));
    }
    Ok((x, labels))
}

/// `compete svm`.
pub fn run(args: SvmArgs) -> Result<()> {
    let (splits, source) = match (&args.checkpoint, &args.train, &args.val, &args.test) {
        (Some(ck), None, _, _) => {
            let (model, train, val, test) = model_and_data(ck, &args.data, args.validation, args.l2_normalize)?;
            let enc = model.encoder();
            let mut out = Vec::new();
            for (d, name) in [(train, "train"), (val, "validation"), (test, "test")] {
                let (x, labels) = dataset_matrix(d)?;
                log_line(&format!("svm: features of the {name} split ({} examples)", x.rows));
                out.push((enc.features(&x)?, labels));
            }
            (out, format!("{} (features of {}, data {})", enc.describe(), ck.display(), args.data))
        }
        (None, Some(train), Some(val), Some(test)) => {
            let out = vec![load_split_npy(train)?, load_split_npy(val)?, load_split_npy(test)?];
            (out, format!("{}, {}, {}", train.display(), val.display(), test.display()))
        }
        _ => return Err(Error::param("CHECKPOINT", "(none)", "a checkpoint, or --train, --val and --test feature files")),
    };
    let classes = splits.iter().flat_map(|(_, l)| l.iter()).map(|&l| l as usize + 1).max().unwrap_or(0).max(2);
    let grid = match (&args.c, &args.c_grid) {
        (Some(c), _) => vec![*c],
        (None, Some(g)) => g.clone(),
        (None, None) => DEFAULT_C_GRID.to_vec(),
    };
    let plan = SvmPlan {
        grid,
        config: SvmConfig { c: 1.0, tol: args.tol, max_iter: args.max_iter, seed: args.seed },
        labels: args.labels,
        seeds: if args.labels.is_some() { args.seeds.unwrap_or(5) } else { 1 },
        refit: args.refit,
    };
    let split = |i: usize| Split { x: &splits[i].0, labels: &splits[i].1 };
    let report = svm_report(split(0), split(1), split(2), classes, &plan, |run, f| {
        log_line(&format!(
            "svm: run {run}: C = {}: {} validation errors, {} passes{}, {:.2} s",
            f.c,
            f.validation_errors,
            f.iterations,
            if f.converged { "" } else { " (reached --max-iter: not converged)" },
            f.fit_seconds
        ))
    })?;
    let json = serde_json::json!({ "features": source, "report": report });
    if let Some(out) = &args.out {
        crate::report::write_json(out, &json)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json).map_err(|e| Error::Data(e.to_string()))?);
        return Ok(());
    }
    let [n_train, n_val, n_test] = report.sizes;
    println!("features     {source}");
    println!("width        {} features, {} classes", report.width, report.classes);
    println!(
        "data         {} training examples{}, C chosen on {n_val} validation examples, {n_test} test examples",
        n_train,
        args.labels.map_or(String::new(), |n| format!(" (SVM trained on {n} stratified labels, {} draws)", report.runs.len()))
    );
    println!("solver       dual coordinate descent, squared hinge, tol {}, max_iter {}", args.tol, args.max_iter);
    for run in &report.runs {
        println!();
        println!(
            "run {} (seed {}, {} training examples{})",
            run.seed.wrapping_sub(args.seed),
            run.seed,
            run.train_size,
            if run.refit { ", refit on train + validation" } else { "" }
        );
        println!("{:>10} {:>11} {:>8} {:>9}", "C", "val errors", "passes", "fit s");
        for f in &run.fits {
            println!(
                "{:>10} {:>11} {:>8} {:>9.2}{}",
                f.c,
                f.validation_errors,
                f.iterations,
                f.fit_seconds,
                if f.c == run.c { "  <- chosen" } else { "" }
            );
        }
        println!(
            "test         {} errors of {n_test} ({:.2}%) with C = {}; fit {:.2} s{}",
            run.test_errors,
            100.0 * run.test_error_rate,
            run.c,
            run.fit_seconds,
            if run.converged { String::new() } else { format!("; WARNING: not converged in {} passes (raise --max-iter)", args.max_iter) }
        );
        println!("{}", run.confusion);
    }
    if report.runs.len() > 1 {
        println!();
        println!(
            "test error   {:.2}% +- {:.2}% (mean +- std over {} draws of {} labels)",
            100.0 * report.test_error_mean,
            100.0 * report.test_error_std,
            report.runs.len(),
            args.labels.unwrap_or(n_train)
        );
    }
    Ok(())
}
