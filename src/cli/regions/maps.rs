//! `compete regions maps` (being built in this session; replaced by its owner).

use clap::Args;

use crate::error::{Error, Result};

/// Flags of `compete regions maps`.
#[derive(Debug, Args)]
pub struct MapsArgs {}

/// Runs `compete regions maps`.
pub fn run(_args: MapsArgs) -> Result<()> {
    Err(Error::Data("compete regions maps is not built yet".into()))
}
