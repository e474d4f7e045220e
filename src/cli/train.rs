//! `compete train` and `compete run`.

use std::path::PathBuf;

use clap::Args;

use crate::competition::Competition;
use crate::error::{Error, Result};
use crate::experiments::file::{Ran, train_into};
use crate::train::config::{Competitions, ConvSection, Experiment, ModelSection};
use crate::train::optim::OptimizerKind;
use crate::train::{RunOptions, TrainOutcome};

/// Flags of `compete train`; each overrides the same field of `--config`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A TOML experiment file (see experiments/); flags below override its fields.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run folder (default: runs/<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the interrupted run in --out (its config.toml is used when --config is not given).
    #[arg(long)]
    pub resume: bool,
    /// Name of the run.
    #[arg(long)]
    pub name: Option<String>,
    /// Data: `sample` (shipped MNIST sample), `mnist:DIR` or `DIR` (IDX files, gzip or not).
    #[arg(long)]
    pub data: Option<String>,
    /// Validation examples held out from the end of the training set.
    #[arg(long)]
    pub validation: Option<usize>,
    /// Scale every example to unit l2 norm.
    #[arg(long)]
    pub l2_normalize: bool,
    /// Hidden widths, e.g. 1000,1000,1000.
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Competition of the hidden layers: relu, lwta:<block>, maxout:<rank>, abs, ksparse:<k>; or one per layer, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub competition: Option<Vec<Competition>>,
    /// A convolutional network (`[model] type = "conv"`): its layers, comma-separated, ending in the
    /// number of classes, e.g. conv5x5:32,pool2,conv5x5:64:maxout:2,pool2,dense:500,10.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["hidden", "competition"])]
    pub layers: Option<Vec<String>>,
    /// Multiplier of the hidden layers' initial weight range (1: He-uniform).
    #[arg(long)]
    pub init_gain: Option<f32>,
    /// Input dropout probability.
    #[arg(long)]
    pub dropout_input: Option<f32>,
    /// Hidden dropout probability.
    #[arg(long)]
    pub dropout_hidden: Option<f32>,
    /// sgd (with momentum) or adam.
    #[arg(long, value_parser = parse_optimizer)]
    pub optimizer: Option<OptimizerKind>,
    /// Learning rate.
    #[arg(long)]
    pub lr: Option<f32>,
    /// Learning-rate factor per epoch.
    #[arg(long)]
    pub lr_decay: Option<f32>,
    /// Final momentum (beta1 for Adam).
    #[arg(long)]
    pub momentum: Option<f32>,
    /// Max-norm of every unit's incoming weights (softmax layer included).
    #[arg(long)]
    pub max_norm: Option<f32>,
    /// L2 weight decay.
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Mini-batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Epochs (at most).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Early stopping: epochs without validation improvement.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_optimizer(s: &str) -> Result<OptimizerKind, String> {
    match s {
        "sgd" => Ok(OptimizerKind::Sgd),
        "adam" => Ok(OptimizerKind::Adam),
        _ => Err(format!("{s:?}: expected sgd or adam")),
    }
}

/// `compete run FILE`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The experiment file.
    pub file: PathBuf,
    /// Run folder (default: runs/<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run.
    #[arg(long)]
    pub resume: bool,
    /// Override the data source of the file (e.g. mnist:/path/to/mnist).
    #[arg(long)]
    pub data: Option<String>,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
}

impl TrainArgs {
    /// The experiment: the file (or defaults), then every flag given.
    pub fn experiment(&self) -> Result<Experiment> {
        if let Some(out) = &self.out
            && out.exists()
            && !out.is_dir()
        {
            return Err(Error::param("--out", out.display(), "a run folder, but this path is an existing file"));
        }
        let from_run = self.resume && self.config.is_none();
        let mut exp = match (&self.config, &self.out) {
            (Some(path), _) => Experiment::load(path)?,
            (None, Some(out)) if from_run => Experiment::load(&out.join("config.toml"))?,
            (None, None) if from_run => return Err(Error::param("--resume", "without --out", "--out DIR of the run to continue")),
            _ => Experiment::default(),
        };
        if let Some(v) = &self.name {
            exp.name = v.clone();
        }
        if let Some(v) = &self.data {
            exp.data.source = v.clone();
        }
        if self.validation.is_some() {
            exp.data.validation = self.validation;
        }
        exp.data.l2_normalize |= self.l2_normalize;
        if let Some(layers) = &self.layers {
            let mut section = match &exp.model {
                ModelSection::Conv(c) => c.clone(),
                _ => ConvSection::default(),
            };
            section.layers = layers.clone();
            if let Some(g) = self.init_gain {
                section.init_gain = g;
            }
            exp.model = ModelSection::Conv(section);
        } else if let (ModelSection::Conv(c), Some(g)) = (&mut exp.model, self.init_gain) {
            c.init_gain = g;
        } else if self.hidden.is_some() || self.competition.is_some() || self.init_gain.is_some() {
            let m = exp.model.mlp_mut()?;
            if let Some(v) = &self.hidden {
                m.hidden = v.clone();
            }
            if let Some(v) = &self.competition {
                m.competition = if v.len() == 1 { Competitions::One(v[0]) } else { Competitions::PerLayer(v.clone()) };
            }
            if let Some(g) = self.init_gain {
                m.init_gain = g;
            }
        }
        let t = &mut exp.train;
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { t.$f = v; } )* };
        }
        set!(dropout_input, dropout_hidden, optimizer, lr, lr_decay, momentum, weight_decay, batch_size, epochs, seed);
        if self.max_norm.is_some() {
            t.max_norm = self.max_norm;
        }
        if self.patience.is_some() {
            t.patience = self.patience;
        }
        exp.train.validate()?;
        Ok(exp)
    }
}

/// `compete train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let exp = args.experiment()?;
    let (_, outcome) = train_into(&exp, args.out.as_deref(), &RunOptions { resume: args.resume, quiet: args.quiet })?;
    print_outcome(&outcome);
    Ok(())
}

/// `compete run FILE`.
pub fn run_file(args: RunArgs) -> Result<()> {
    let opts = RunOptions { resume: args.resume, quiet: args.quiet };
    let done = crate::experiments::file::run_path(&args.file, args.data.as_deref(), args.out.as_deref(), &opts)?;
    match &done.ran {
        Ran::Train(outcome) => print_outcome(outcome),
        Ran::Phases(results) => {
            for r in results {
                println!("== phase {}", r.phase);
                print_outcome(&r.outcome);
            }
        }
        Ran::Sinusoid(results) => {
            println!("{}", results.summary());
            println!("results      {} ({:.1} s)", done.out.join("results.json").display(), results.seconds);
        }
        Ran::Anomaly(results) => print!("{}", results.table()),
    }
    Ok(())
}

/// Prints the summary of a run on standard output.
pub fn print_outcome(o: &TrainOutcome) {
    println!("run          {}", o.name);
    println!("network      {}", o.architecture);
    println!("epochs       {} (best: {}; {})", o.epochs, o.best_epoch, o.stop_reason);
    match o.val_errors {
        Some(e) => println!("validation   {e} errors / {} ({:.2}%)", o.val_size, 100.0 * e as f64 / o.val_size.max(1) as f64),
        None => println!("validation   {} {:.6} ({} examples)", o.score_name, o.best_score, o.val_size),
    }
    if let Some(e) = o.test_errors {
        println!("test         {} errors / {} ({:.2}%)", e, o.test_size, 100.0 * e as f64 / o.test_size.max(1) as f64);
    }
    println!("checkpoint   {}", o.best_checkpoint.display());
    println!("time         {:.1} s", o.seconds);
}
