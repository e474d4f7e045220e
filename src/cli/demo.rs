//! `compete demo`: ReLU, LWTA and maxout networks on the MNIST sample shipped in the repository
//! (paper A, Table 1, in miniature), in a few minutes on two cores.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::analysis::Representation;
use crate::competition::Competition;
use crate::error::Result;
use crate::eval::knn::{DEFAULT_K_GRID, Weighting};
use crate::experiments::knn::knn_report;
use crate::experiments::map::{MapOptions, submask_map, write_map};
use crate::experiments::retrieval::{RetrievalOptions, retrieval_report};
use crate::report::plot::{Series, line_plot};
use crate::report::progress::ProgressMode;
use crate::train::config::{Competitions, Experiment};
use crate::train::{RunOptions, TrainOutcome, train_mlp};

/// Flags of `compete demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run folder.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Data (default: the sample in data/mnist-sample).
    #[arg(long, default_value = "sample")]
    pub data: String,
    /// Epochs per network.
    #[arg(long, default_value_t = 15)]
    pub epochs: usize,
    /// Hidden widths of the three networks.
    #[arg(long, value_delimiter = ',', default_value = "1000,1000,1000")]
    pub hidden: Vec<usize>,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print only the final table.
    #[arg(long)]
    pub quiet: bool,
}

/// The three networks of paper A's Table 1: ReLU without dropout, LWTA and maxout with dropout.
pub fn demo_experiments(args: &DemoArgs) -> Vec<Experiment> {
    // (name, competition, input dropout, hidden dropout, max-norm, learning rate, final momentum,
    // init gain), as in experiments/table1-*.toml (the demo keeps the default lr decay of 0.98).
    let nets = [
        ("relu", Competition::Relu, 0.0, 0.0, None, 0.05, 0.9, 1.0),
        ("lwta", Competition::Lwta { block: 2 }, 0.2, 0.5, Some(2.0), 0.01, 0.9, 1.0),
        ("maxout", Competition::Maxout { rank: 2 }, 0.2, 0.5, Some(2.0), 0.05, 0.7, 0.4),
    ];
    nets.iter()
        .map(|&(name, c, din, dh, max_norm, lr, momentum, gain)| {
            let mut e = Experiment { name: name.to_string(), ..Default::default() };
            e.data.source = args.data.clone();
            let m = e.model.mlp_mut().expect("the default model is an MLP");
            m.hidden = args.hidden.clone();
            m.competition = Competitions::One(c);
            m.init_gain = gain;
            e.train.epochs = args.epochs;
            e.train.seed = args.seed;
            e.train.dropout_input = din;
            e.train.dropout_hidden = dh;
            e.train.max_norm = max_norm;
            e.train.lr = lr;
            e.train.momentum = momentum;
            // Paper A Figure 4: flip rates of the submasks after every epoch.
            e.train.track_flips = true;
            e
        })
        .collect()
}

/// `compete demo`.
pub fn run(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    crate::report::io::create_out_dir("--out", &args.out)?;
    let (train, val, test) = crate::data::load_split(&args.data, None, false)?;
    if test.len() < 2 {
        return Err(crate::Error::param(
            "--data",
            &args.data,
            format!(
                "a test split of at least 2 examples (it has {}; the regions line counts along the segment between test images 0 and 1)",
                test.len()
            ),
        ));
    }
    if !args.quiet {
        crate::report::progress::log_line(&format!(
            "demo: {} training, {} validation, {} test examples from {}; three {}-layer networks, {} epochs each",
            train.len(),
            val.len(),
            test.len(),
            args.data,
            args.hidden.len(),
            args.epochs
        ));
    }
    let mut outcomes: Vec<TrainOutcome> = Vec::new();
    let mut series = Vec::new();
    let mut flip_series = Vec::new();
    let mut knn = Vec::new();
    let mut retrieval = Vec::new();
    let mut agreement = None;
    let mut segments = Vec::new();
    for exp in demo_experiments(&args) {
        let dir = args.out.join(&exp.name);
        // The demo always starts afresh: an earlier demo's run of the same name is replaced.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| crate::Error::io(&dir, e))?;
        }
        let o = train_mlp(&exp, &train, &val, Some(&test), &dir, &RunOptions { resume: false, quiet: args.quiet })?;
        let progress: crate::train::trainer::RunProgress = serde_json::from_str(
            &std::fs::read_to_string(dir.join("progress.json")).map_err(|e| crate::Error::io(dir.join("progress.json"), e))?,
        )
        .map_err(|e| crate::Error::format(dir.join("progress.json"), e.to_string()))?;
        series.push(Series {
            name: format!("{} (validation)", o.architecture),
            points: progress.history.iter().map(|r| (r.epoch as f64, 100.0 * r.val_error.unwrap_or(0.0))).collect(),
        });
        flip_series.push(Series::new(&exp.name, progress.history.iter().filter_map(|r| Some((r.epoch as f64, r.flip_rate?))).collect()));
        // Paper A Table 1: kNN on the submasks of the last hidden layer against the softmax.
        let best = crate::train::checkpoint::load_mlp(&o.best_checkpoint)?;
        let layer = best.config.hidden.len() - 1;
        let report = knn_report(
            &best,
            Some(best.errors(&test)?),
            (&train, &val, &test),
            layer,
            &[Representation::Submasks],
            &[Weighting::Uniform, Weighting::InverseDistance],
            &DEFAULT_K_GRID,
        )?;
        crate::report::io::write_json(&dir.join("knn.json"), &report)?;
        knn.push(report);
        // Paper A section 4.2: submasks as hash codes, test images against the training split,
        // beside random-hyperplane LSH codes of the same length made from the activations.
        let r = retrieval_report(&best, &train, &test, &RetrievalOptions::default())?;
        crate::report::io::write_json(&dir.join("retrieval.json"), &r)?;
        retrieval.push(r);
        // Paper E: the exact number of linear regions along the segment between the first two test
        // images, for the trained network and an untrained one of the same architecture.
        let (trained_regions, untrained_regions) =
            crate::experiments::regions::trained_and_untrained_on_segment(&best, exp.train.seed, test.row(0), test.row(1))?;
        segments.push((trained_regions, untrained_regions));
        // Paper A Figure 3: t-SNE maps of the ReLU network's last-layer submasks, trained and not.
        if exp.name == "relu" {
            let options = MapOptions { untrained: true, progress: ProgressMode::Quiet, ..MapOptions::default() };
            let map = submask_map(&best, &test, &options)?;
            write_map(&args.out, &map, &format!("{} test split", args.data), None)?;
            agreement = Some((map.trained.agreement, map.untrained.as_ref().map_or(f64::NAN, |u| u.agreement)));
        }
        outcomes.push(o);
    }
    line_plot(
        &args.out.join("learning_curves.png"),
        "compete demo: validation error on the MNIST sample",
        "epoch",
        "error (%)",
        &series,
        false,
    )?;
    line_plot(
        &args.out.join("flips.png"),
        "compete demo: submask flip rate per epoch (paper A, Figure 4)",
        "epoch",
        "fraction of examples flipped, mean over units",
        &flip_series,
        false,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    crate::report::io::write_json(
        &args.out.join("summary.json"),
        &serde_json::json!({ "data": args.data, "runs": outcomes, "segment_regions": segments.iter().map(|&(t, u)| serde_json::json!({ "trained": t, "untrained": u })).collect::<Vec<_>>(), "knn": knn, "retrieval": retrieval, "map_agreement": agreement.map(|(t, u)| serde_json::json!({ "trained": t, "untrained": u })), "seconds": seconds }),
    )?;

    let width = outcomes.iter().map(|o| o.architecture.len()).max().unwrap_or(7).max(7);
    println!(
        "\n{:<width$}  {:>18}  {:>12}  {:>10}  {:>6}  {:>14}  {:>10}",
        "network", "test errors", "validation", "best epoch", "time", "submask kNN", "flip rate"
    );
    for ((o, k), f) in outcomes.iter().zip(&knn).zip(&flip_series) {
        let t = o.test_errors.unwrap_or(0);
        let test = format!("{t} / {} ({:.2}%)", o.test_size, 100.0 * t as f64 / o.test_size.max(1) as f64);
        let val = format!("{} / {}", o.val_errors.unwrap_or(0), o.val_size);
        // The weighting with fewer validation errors, as a user choosing on validation would.
        let knn = k
            .rows
            .iter()
            .min_by_key(|r| {
                r.selection.k_grid.iter().position(|&g| g == r.selection.k).map_or(usize::MAX, |i| r.selection.validation_errors[i])
            })
            .map_or("-".to_string(), |r| format!("{} (k={})", r.selection.test_errors, r.selection.k));
        let flips = match (f.points.first(), f.points.last()) {
            (Some(a), Some(b)) => format!("{:.3}->{:.3}", a.1, b.1),
            _ => "-".to_string(),
        };
        println!("{:<width$}  {test:>18}  {val:>12}  {:>10}  {:>4.0} s  {knn:>14}  {flips:>10}", o.architecture, o.best_epoch, o.seconds);
    }
    println!("\nretrieval: test images as queries, {} training images as the database (relevant: same class)", train.len());
    println!("{:<width$}  {:<9}  {:>5}  {:>7}  {:>7}  {:>8}", "network", "code", "bits", "mAP@5", "mAP@10", "mAP@100");
    for (o, r) in outcomes.iter().zip(&retrieval) {
        for c in &r.codes {
            let at = |k: usize| c.map.iter().find(|m| m.k == k).map_or("-".to_string(), |m| format!("{:.3}", m.map));
            println!("{:<width$}  {:<9}  {:>5}  {:>7}  {:>7}  {:>8}", o.architecture, c.code, c.bits, at(5), at(10), at(100));
        }
    }
    println!("\nlinear regions (exact) along the segment between test images 0 and 1 (paper E):");
    for (o, (t, u)) in outcomes.iter().zip(&segments) {
        println!("{:<width$}  {t:>6} regions trained, {u:>6} untrained", o.architecture);
    }
    if let Some((trained, untrained)) = agreement {
        println!(
            "\nt-SNE maps of the ReLU network's submasks (map.png, map-untrained.png): nearest neighbour in the map of the same class for {:.1}% of test points (untrained network: {:.1}%)",
            100.0 * trained,
            100.0 * untrained
        );
    }
    println!(
        "\nrun folder: {} (summary.json, learning_curves.png, flips.png, map.png, map-untrained.png, and per network metrics.json, knn.json, retrieval.json, checkpoints/)",
        args.out.display()
    );
    println!("total time: {seconds:.0} s");
    Ok(())
}
