//! `compete robustness`: test error of classifiers on masked images or images with random lines
//! (paper C, Figure 10).

use std::path::PathBuf;

use clap::Args;

use crate::error::Result;
use crate::experiments::robustness::{Corruption, RobustnessRun, run as run_robustness};

/// Flags of `compete robustness`.
#[derive(Debug, Args)]
pub struct RobustnessArgs {
    /// The checkpoints (classifiers: MLP, conv net, activation net with label input).
    #[arg(required = true)]
    pub checkpoints: Vec<PathBuf>,
    /// Data: `sample`, `mnist:DIR` or `DIR`; its test split is disturbed.
    #[arg(long, default_value = "sample")]
    pub data: String,
    /// `mask` (the bottom rows set to 0, Figure 10a) or `lines` (one random line per image, Figure 10c).
    #[arg(long)]
    pub kind: Corruption,
    /// Levels: masked rows (default 0,2,...,20) or line widths in pixels (default 0,1,2,3).
    #[arg(long, value_delimiter = ',')]
    pub levels: Option<Vec<usize>>,
    /// One name per checkpoint for the table and the figure (default: the file names).
    #[arg(long, value_delimiter = ',')]
    pub names: Option<Vec<String>>,
    /// Output folder for robustness-<kind>.csv and robustness-<kind>.png.
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
}

/// `compete robustness`.
pub fn run(args: RobustnessArgs) -> Result<()> {
    let spec = RobustnessRun {
        checkpoints: args.checkpoints,
        names: args.names.unwrap_or_default(),
        data: args.data,
        kind: args.kind,
        levels: args.levels.unwrap_or_default(),
        out: args.out,
    };
    let table = run_robustness(&spec)?;
    println!("test error on {} ({})", spec.data, table.kind.level_name());
    print!("{}", table.display());
    println!("wrote {} and {}", table.csv.display(), table.png.display());
    Ok(())
}
