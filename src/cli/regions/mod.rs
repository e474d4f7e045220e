//! `compete regions ...`: linear regions of piecewise linear networks (paper E). One file per
//! subcommand; the numerics are in [`crate::analysis::regions`].

pub mod bounds;
pub mod construct;
pub mod count;
pub mod maps;

use clap::{Args, Subcommand};

use crate::error::Result;

/// Flags of `compete regions`.
#[derive(Debug, Args)]
pub struct RegionsArgs {
    /// What to compute.
    #[command(subcommand)]
    pub command: RegionsCommand,
}

/// The subcommands of `compete regions`.
#[derive(Debug, Subcommand)]
pub enum RegionsCommand {
    /// Exact bounds on the number of linear regions (shallow maximum, 2^N, Theorem 4, eq. 7, Pascanu et
    /// al. 2013, maxout Proposition 7 and Theorem 8, regions per parameter), as big integers.
    Bounds(bounds::BoundsArgs),
    /// Build the networks of the proofs (Theorem 4, Theorem 8) with their exact weights, save them as
    /// checkpoints and count their regions.
    Construct(construct::ConstructArgs),
    /// Count the linear regions of a network exactly on a segment or a 2-D slice, or the distinct
    /// activation patterns over data or random points.
    Count(Box<count::CountArgs>),
    /// Linear maps of a hidden unit (eq. 8): templates, k-means of a unit's responses, and inputs the
    /// unit identifies (appendix G).
    Maps(maps::MapsArgs),
}

/// Runs `compete regions ...`.
pub fn run(args: RegionsArgs) -> Result<()> {
    match args.command {
        RegionsCommand::Bounds(a) => bounds::run(a),
        RegionsCommand::Construct(a) => construct::run(a),
        RegionsCommand::Count(a) => count::run(*a),
        RegionsCommand::Maps(a) => maps::run(a),
    }
}
