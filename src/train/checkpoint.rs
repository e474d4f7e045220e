//! Checkpoints of training runs.
//!
//! The file format, one for every model, is [`crate::models::checkpoint`] (named tensors plus
//! metadata naming the model kind and its configuration; `compete-mlp-v1` files still load). The
//! layout of a run folder and the commit of an epoch are [`RunPaths`] and
//! [`crate::train::trainer`]. This module keeps the MLP shorthands the commands use.

use std::path::Path;

use crate::error::{Error, Result};
use crate::models::mlp::{Mlp, MlpConfig};

pub use crate::io::{Named, TensorMap, load_tensors, save_tensors};
pub use crate::models::checkpoint::{FORMAT, MLP_V1, load_any, load_mlp};
pub use crate::train::trainer::RunPaths;

/// Saves an MLP checkpoint; `extra` adds metadata.
pub fn save_mlp(path: &Path, mlp: &Mlp, extra: &[(&str, String)]) -> Result<()> {
    crate::models::checkpoint::save(path, mlp, extra)
}

/// Loads a checkpoint and checks that it has exactly the architecture `expected` (for resuming a
/// run, or evaluating with a given configuration).
pub fn load_mlp_expecting(path: &Path, expected: &MlpConfig) -> Result<Mlp> {
    let mlp = load_mlp(path)?;
    if &mlp.config != expected {
        return Err(Error::format(
            path,
            format!("checkpoint architecture {} does not match the configured {}", describe(&mlp.config), describe(expected)),
        ));
    }
    Ok(mlp)
}

/// A one-line description of an architecture: `784-1000(relu)-1000(relu)-10`.
pub fn describe(config: &MlpConfig) -> String {
    config.describe()
}
