//! Subcommands of the `compete` binary, one file each. They parse flags, read and write files,
//! show progress and call the library; no numerics here.

pub mod bench;
pub mod bench_hamming;
pub mod bench_layers;
pub mod common;
pub mod complete;
pub mod demo;
pub mod dictionary;
pub mod eval;
pub mod features;
pub mod generate;
pub mod knn;
pub mod map;
pub mod regions;
pub mod retrieve;
pub mod robustness;
pub mod submasks;
pub mod svm;
pub mod train;
pub mod unit_features;
pub mod units;

use clap::{Parser, Subcommand};

use crate::error::{Error, Result};

/// compete: locally competitive neural networks (ReLU, LWTA, maxout) and what they compute.
#[derive(Debug, Parser)]
#[command(name = "compete", version, about, long_about = None)]
pub struct Cli {
    /// Worker threads (default: all cores; at most 1024). The same seed and thread count give the same result.
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train ReLU, LWTA and maxout networks on the MNIST sample shipped in the repository and compare them.
    Demo(demo::DemoArgs),
    /// Train a competitive MLP from flags or a TOML experiment file.
    Train(train::TrainArgs),
    /// Run an experiment file (`kind = "train"`: a training run; `kind = "sinusoid"`: paper E, Figure 1; `kind = "anomaly"`: paper C, section VI.A; `kind = "phases"`: pretraining then fine-tuning, paper D).
    Run(train::RunArgs),
    /// Test error and confusion matrix of a checkpoint on a dataset.
    Eval(eval::EvalArgs),
    /// Retrieval with submasks as binary codes (test images against the training split): mAP@k and precision-recall.
    Retrieve(retrieve::RetrieveArgs),
    /// Time training steps of a 784-1000-1000-10 network (ReLU, LWTA-2, maxout-2).
    Bench(bench::BenchArgs),
    /// k-nearest-neighbour test error on a network's submasks, activations or pre-activations.
    Knn(knn::KnnArgs),
    /// Write a checkpoint's features (last hidden layer) or the raw inputs of a split as float32 .npy, labels beside.
    Features(features::FeaturesArgs),
    /// Linear SVM (LinearSVC's defaults) on features: C chosen on validation, test error, confusion matrix.
    Svm(svm::SvmArgs),
    /// Write the submasks (winners) of a hidden layer for a dataset as packed binary codes.
    Submasks(submasks::SubmasksArgs),
    /// A 2-D t-SNE map of a checkpoint's submasks coloured by class (paper A, Figure 3).
    Map(map::MapArgs),
    /// Linear regions (paper E): bounds, constructions, exact counting on lines and planes, linear maps.
    Regions(regions::RegionsArgs),
    /// Time exact Hamming top-k search on random codes (queries/second; compare with benches/hamming.sh).
    BenchHamming(bench_hamming::BenchHammingArgs),
    /// Draw a checkpoint's dictionary (decoder atoms, deconvolution filters) and a CONV-WTA's sparse feature maps.
    Dictionary(dictionary::DictionaryArgs),
    /// Time forward + backward of the convolutional layers (conv, transposed conv, max-pool, locally connected; compare with benches/compare_layers.sh).
    BenchLayers(bench_layers::BenchLayersArgs),
    /// Test error of classifiers on masked test images or test images with random lines (paper C, Figure 10).
    Robustness(robustness::RobustnessArgs),
    /// Generate images of a label with an activation-learning network (paper C, eq. 11, 15, 16, Figure 11a-b).
    Generate(generate::GenerateArgs),
    /// Complete images whose bottom is hidden with an activation-learning network (paper C, eq. 17, Figure 11c).
    Complete(complete::CompleteArgs),
    /// Draw the features the most excited units of an activation-learning network's layer detect (paper C, Figure 3).
    UnitFeatures(unit_features::UnitFeaturesArgs),
    /// Part-units and categorical-units of a DrSAE and paper D's section 3 figures (2, 3, 4, 8, 9, 10): units.csv, summary.json, PNGs.
    Units(units::UnitsArgs),
}

/// Most worker threads `--threads` starts (thousands more take minutes to start, or never do).
pub const MAX_THREADS: usize = 1024;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    if let Some(n) = cli.threads {
        if n == 0 || n > MAX_THREADS {
            return Err(Error::param("--threads", n, format!("between 1 and {MAX_THREADS}")));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| Error::param("--threads", n, format!("a thread count the system allows ({e})")))?;
    }
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Train(a) => train::run(a),
        Command::Run(a) => train::run_file(a),
        Command::Eval(a) => eval::run(a),
        Command::Dictionary(a) => dictionary::run(a),
        Command::Retrieve(a) => retrieve::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Knn(a) => knn::run(a),
        Command::Submasks(a) => submasks::run(a),
        Command::Features(a) => features::run(a),
        Command::Svm(a) => svm::run(a),
        Command::Map(a) => map::run(a),
        Command::Regions(a) => regions::run(a),
        Command::BenchHamming(a) => bench_hamming::run(a),
        Command::BenchLayers(a) => bench_layers::run(a),
        Command::Robustness(a) => robustness::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Complete(a) => complete::run(a),
        Command::UnitFeatures(a) => unit_features::run(a),
        Command::Units(a) => units::run(a),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every (sub)command below `cmd`, with its path (`compete regions count`).
    fn all_commands(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            all_commands(sub, format!("{path} {}", sub.get_name()), out);
        }
        out.push((path, cmd.clone()));
    }

    /// The definitions of every subcommand are consistent: argument ids named by `conflicts_with`
    /// exist, and no two arguments of a command share an id, a long or a short flag.
    ///
    /// clap checks its definitions (`Command::debug_assert`) only in builds with debug assertions,
    /// and otherwise silently ignores a `conflicts_with` naming an unknown id; the tests run in
    /// release builds, so the conflicts and names are checked here by hand as well.
    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
        let mut cmd = super::Cli::command();
        cmd.build();
        let mut commands = Vec::new();
        all_commands(&cmd, "compete".into(), &mut commands);
        let mut problems = Vec::new();
        for (path, cmd) in &commands {
            let mut names = std::collections::HashSet::new();
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str().to_string();
                if !names.insert(format!("id {id}")) {
                    problems.push(format!("{path}: two arguments with id {id}"));
                }
                if let Some(long) = arg.get_long()
                    && !names.insert(format!("--{long}"))
                {
                    problems.push(format!("{path}: two arguments --{long}"));
                }
                if let Some(short) = arg.get_short()
                    && !names.insert(format!("-{short}"))
                {
                    problems.push(format!("{path}: two arguments -{short}"));
                }
                // Panics (clap's own message) for an id that is neither an argument nor a group.
                let known = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cmd.get_arg_conflicts_with(arg).len()));
                if known.is_err() {
                    problems.push(format!("{path}: {id} conflicts with an argument id the command does not have"));
                }
            }
        }
        assert!(commands.len() > 10, "{} commands", commands.len());
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
