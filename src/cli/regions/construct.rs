//! `compete regions construct` (being built in this session; replaced by its owner).

use clap::Args;

use crate::error::{Error, Result};

/// Flags of `compete regions construct`.
#[derive(Debug, Args)]
pub struct ConstructArgs {}

/// Runs `compete regions construct`.
pub fn run(_args: ConstructArgs) -> Result<()> {
    Err(Error::Data("compete regions construct is not built yet".into()))
}
