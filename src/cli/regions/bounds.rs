//! `compete regions bounds` (being built in this session; replaced by its owner).

use clap::Args;

use crate::error::{Error, Result};

/// Flags of `compete regions bounds`.
#[derive(Debug, Args)]
pub struct BoundsArgs {}

/// Runs `compete regions bounds`.
pub fn run(_args: BoundsArgs) -> Result<()> {
    Err(Error::Data("compete regions bounds is not built yet".into()))
}
