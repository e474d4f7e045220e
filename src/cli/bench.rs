//! `compete bench`: time training steps of a 784-1000-1000-10 network, the benchmark of the
//! foundation issue. `benches/compare.sh` runs it beside the same network in PyTorch.

use std::time::Instant;

use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::competition::Competition;
use crate::error::Result;
use crate::models::learner::Update;
use crate::models::mlp::{Dropout, Mlp, MlpConfig, Workspace};
use crate::tensor::Matrix;
use crate::train::optim::{Optimizer, OptimizerKind, StepParams};

/// Flags of `compete bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Competitions to time, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "relu,lwta:2,maxout:2")]
    pub competition: Vec<Competition>,
    /// Hidden widths.
    #[arg(long, value_delimiter = ',', default_value = "1000,1000")]
    pub hidden: Vec<usize>,
    /// Mini-batch size.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 100)]
    pub steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Examples of the timed epoch (0: skip the epoch).
    #[arg(long, default_value_t = 50000)]
    pub epoch: usize,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Median, 10th and 90th percentile of step times, in milliseconds.
pub(crate) fn percentiles(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.1), at(0.9))
}

/// `compete bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let threads = rayon::current_num_threads();
    if args.steps == 0 || args.batch == 0 {
        return Err(crate::Error::param("--steps/--batch", 0, "at least 1"));
    }
    if !args.json {
        println!(
            "compete bench: 784-{}-10, batch {}, SGD momentum 0.9, {threads} thread(s)",
            args.hidden.iter().map(|h| h.to_string()).collect::<Vec<_>>().join("-"),
            args.batch
        );
        println!("{:<12} {:>10} {:>10} {:>10} {:>12}", "competition", "median ms", "p10 ms", "p90 ms", "epoch s");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for &c in &args.competition {
        let pairs: Vec<(usize, Competition)> = args.hidden.iter().map(|&h| (h, c)).collect();
        let mut mlp = Mlp::new(MlpConfig::new(784, &pairs, 10)?, 1)?;
        let mut opt = Optimizer::new(OptimizerKind::Sgd, &mlp, Vec::new())?;
        let params = StepParams { lr: 0.01, momentum: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
        let x = Matrix::from_vec(args.batch, 784, (0..args.batch * 784).map(|_| rng.random::<f32>()).collect())?;
        let y: Vec<u8> = (0..args.batch).map(|_| rng.random_range(0..10u8)).collect();
        let mut ws = Workspace::default();
        let mut grads = mlp.zero_grads();
        let mut step = |mlp: &mut Mlp| -> Result<()> {
            mlp.forward(&x, &mut ws, None)?;
            mlp.backward(&x, &y, &mut ws, &mut grads, Dropout::default())?;
            opt.step(mlp, &grads, params, Update::Gradients)
        };
        for _ in 0..args.warmup {
            step(&mut mlp)?;
        }
        let mut times = Vec::with_capacity(args.steps);
        for _ in 0..args.steps {
            let t = Instant::now();
            step(&mut mlp)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let epoch_s = if args.epoch > 0 {
            let t = Instant::now();
            for _ in 0..args.epoch.div_ceil(args.batch) {
                step(&mut mlp)?;
            }
            Some(t.elapsed().as_secs_f64())
        } else {
            None
        };
        let (median, p10, p90) = percentiles(times);
        if args.json {
            let line = serde_json::json!({
                "peer": "compete", "version": env!("CARGO_PKG_VERSION"), "threads": threads, "batch": args.batch,
                "widths": std::iter::once(784).chain(args.hidden.iter().copied()).chain(std::iter::once(10)).collect::<Vec<_>>(),
                "competition": c.to_string(), "median_ms": median, "p10_ms": p10, "p90_ms": p90, "epoch_s": epoch_s,
            });
            println!("{line}");
        } else {
            println!(
                "{:<12} {:>10.2} {:>10.2} {:>10.2} {:>12}",
                c.to_string(),
                median,
                p10,
                p90,
                epoch_s.map(|s| format!("{s:.2}")).unwrap_or("-".into())
            );
        }
    }
    Ok(())
}
