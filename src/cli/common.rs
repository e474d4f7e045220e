//! What several subcommands share: a checkpoint with the data it is evaluated on.

use std::path::Path;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::{AnyModel, load_any};

/// Loads a checkpoint of any model and the data split into (train, validation, test), refusing
/// data whose width does not fit the model's input.
pub fn model_and_data(checkpoint: &Path, data: &str, validation: Option<usize>, l2: bool) -> Result<(AnyModel, Dataset, Dataset, Dataset)> {
    let (model, _) = load_any(checkpoint)?;
    let (train, val, test) = crate::data::load_split(data, validation, l2)?;
    model.check_data_width(train.dim, format!("{} against data {data}", checkpoint.display()))?;
    Ok((model, train, val, test))
}

/// Loads an activation-learning checkpoint (paper C); another kind of model is an error naming the
/// checkpoint.
pub fn activation_net(checkpoint: &Path) -> Result<crate::models::activation::ActivationNet> {
    into_activation(load_any(checkpoint)?.0, checkpoint)
}

/// [`model_and_data`] for an activation-learning checkpoint (its data width is the image's, see
/// [`AnyModel::data_width`]); returns the network and (train, validation, test).
pub fn activation_net_and_data(
    checkpoint: &Path,
    data: &str,
) -> Result<(crate::models::activation::ActivationNet, Dataset, Dataset, Dataset)> {
    let (model, train, val, test) = model_and_data(checkpoint, data, None, false)?;
    Ok((into_activation(model, checkpoint)?, train, val, test))
}

fn into_activation(model: AnyModel, checkpoint: &Path) -> Result<crate::models::activation::ActivationNet> {
    match model {
        AnyModel::Activation(net) => Ok(net),
        other => Err(Error::param(
            "checkpoint",
            checkpoint.display(),
            format!("an activation-learning checkpoint ([model] type = \"activation\"); this is a {} model", other.kind()),
        )),
    }
}

/// The `(height, width)` of a network's images when the data do not say: a square when `data` is a
/// square number, else one row.
pub fn square_shape(data: usize) -> (usize, usize) {
    let s = (data as f64).sqrt().round() as usize;
    if s * s == data { (s, s) } else { (1, data) }
}
