//! Subcommands of the `compete` binary, one file each. They parse flags, read and write files,
//! show progress and call the library; no numerics here.

pub mod bench;
pub mod bench_hamming;
pub mod common;
pub mod demo;
pub mod eval;
pub mod knn;
pub mod map;
pub mod regions;
pub mod retrieve;
pub mod submasks;
pub mod train;

use clap::{Parser, Subcommand};

use crate::error::{Error, Result};

/// compete: locally competitive neural networks (ReLU, LWTA, maxout) and what they compute.
#[derive(Debug, Parser)]
#[command(name = "compete", version, about, long_about = None)]
pub struct Cli {
    /// Worker threads (default: all cores). The same seed and thread count give the same result.
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
    /// Run an experiment file (`kind = "train"`: a training run; `kind = "sinusoid"`: paper E, Figure 1).
    Run(train::RunArgs),
    /// Test error and confusion matrix of a checkpoint on a dataset.
    Eval(eval::EvalArgs),
    /// Retrieval with submasks as binary codes (test images against the training split): mAP@k and precision-recall.
    Retrieve(retrieve::RetrieveArgs),
    /// Time training steps of a 784-1000-1000-10 network (ReLU, LWTA-2, maxout-2).
    Bench(bench::BenchArgs),
    /// k-nearest-neighbour test error on a network's submasks, activations or pre-activations.
    Knn(knn::KnnArgs),
    /// Write the submasks (winners) of a hidden layer for a dataset as packed binary codes.
    Submasks(submasks::SubmasksArgs),
    /// A 2-D t-SNE map of a checkpoint's submasks coloured by class (paper A, Figure 3).
    Map(map::MapArgs),
    /// Linear regions (paper E): bounds, constructions, exact counting on lines and planes, linear maps.
    Regions(regions::RegionsArgs),
    /// Time exact Hamming top-k search on random codes (queries/second; compare with benches/hamming.sh).
    BenchHamming(bench_hamming::BenchHammingArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    if let Some(n) = cli.threads {
        if n == 0 {
            return Err(Error::param("--threads", 0, "at least 1"));
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
        Command::Retrieve(a) => retrieve::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Knn(a) => knn::run(a),
        Command::Submasks(a) => submasks::run(a),
        Command::Map(a) => map::run(a),
        Command::Regions(a) => regions::run(a),
        Command::BenchHamming(a) => bench_hamming::run(a),
    }
}
