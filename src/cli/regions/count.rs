//! `compete regions count` (being built in this session; replaced by its owner).

use clap::Args;

use crate::error::{Error, Result};

/// Flags of `compete regions count`.
#[derive(Debug, Args)]
pub struct CountArgs {}

/// Runs `compete regions count`.
pub fn run(_args: CountArgs) -> Result<()> {
    Err(Error::Data("compete regions count is not built yet".into()))
}
