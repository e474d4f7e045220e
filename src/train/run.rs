//! From an experiment file to a trained model: builds the learner that `[model] type` names and
//! runs it through the one loop ([`crate::train::train`]).
//!
//! This is the one place where the model types of experiment files meet their learners; a new model
//! adds an arm to [`train_experiment`].

use std::path::Path;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::models::activation::{ActivationLearner, ActivationNet};
use crate::models::conv::{ConvLearner, ConvNet};
use crate::models::conv_wta::ConvWtaLearner;
use crate::models::drsae::{Drsae, DrsaeLearner};
use crate::models::fc_wta::FcWtaLearner;
use crate::models::mlp::{Mlp, MlpLearner};
use crate::models::wta_rbm::{WtaRbm, WtaRbmLearner};
use crate::train::config::{Experiment, ModelSection};
use crate::train::trainer::{RunOptions, RunSpec, TrainOutcome, train};

/// Trains the model of `exp` on `train`, choosing the best epoch on `val`, reporting on `test`, and
/// writing everything into the run folder `dir` (see [`crate::train::RunPaths`]).
///
/// The number of classes comes from the training split; a validation or test label outside it is
/// an error naming the split, the example and the label (the test set never changes the model).
pub fn train_experiment(
    exp: &Experiment,
    train_set: &Dataset,
    val: &Dataset,
    test: Option<&Dataset>,
    dir: &Path,
    opts: &RunOptions,
) -> Result<TrainOutcome> {
    let classes = train_set.classes;
    for (name, d) in [("validation", Some(val)), ("test", test)] {
        if let Some(d) = d
            && let Some(i) = d.labels.iter().position(|&l| usize::from(l) >= classes)
        {
            return Err(Error::Data(format!(
                "label {} of {name} example {i} is outside the {classes} classes of the training split: expected a label < {classes}",
                d.labels[i]
            )));
        }
    }
    let toml = exp.to_toml()?;
    let spec = RunSpec { name: &exp.name, train: &exp.train, config_toml: &toml };
    let outcome = match &exp.model {
        ModelSection::Mlp(m) => {
            let config = m.mlp_config(train_set.dim, classes)?;
            let mlp = Mlp::with_gain(config, exp.train.seed, m.init_gain)?;
            let mut learner = MlpLearner::new(mlp, exp.train.dropout())?;
            train(&mut learner, spec, train_set, val, test, dir, opts)
        }
        ModelSection::Conv(m) => {
            let config = m.conv_config(train_set.dim, train_set.image_shape, classes)?;
            let net = ConvNet::with_gain(&config, exp.train.seed, m.init_gain)?;
            let mut learner = ConvLearner::new(net, exp.train.dropout())?;
            train(&mut learner, spec, train_set, val, test, dir, opts)
        }
        ModelSection::FcWta(m) => {
            let model = m.build(train_set.dim, exp.train.seed)?;
            let mut learner = FcWtaLearner::new(model, exp.train.batch_size)?;
            train(&mut learner, spec, train_set, val, test, dir, opts)
        }
        ModelSection::ConvWta(m) => {
            let model = m.build(train_set.dim, train_set.image_shape, exp.train.seed)?;
            let mut learner = ConvWtaLearner::new(model, exp.train.batch_size, exp.train.dropout())?;
            train(&mut learner, spec, train_set, val, test, dir, opts)
        }
        ModelSection::WtaRbm(m) => {
            // Hinton's guide, section 8: visible biases from the training pixel means (a resumed
            // run reads its checkpoint over them).
            let mut rbm = WtaRbm::init(&m.rbm_config(train_set.dim)?, exp.train.seed)?;
            rbm.init_visible_bias(&train_set.x)?;
            let mut learner = WtaRbmLearner::new(rbm, exp.train.batch_size.min(train_set.len()))?;
            train(&mut learner, spec, train_set, val, test, dir, opts)
        }
        ModelSection::Activation(m) => {
            let net = ActivationNet::init(&m.activation_config(train_set.dim, classes)?, exp.train.seed)?;
            let mut learner = ActivationLearner::new(net)?;
            train(&mut learner, spec, train_set, val, test, dir, opts)
        }
        ModelSection::Drsae(m) => {
            let config = m.drsae_config(train_set.dim, classes)?;
            let net = Drsae::init(&config, exp.train.seed)?;
            let mut learner = DrsaeLearner::new(net, m.loss)?;
            train(&mut learner, spec, train_set, val, test, dir, opts)
        }
    }?;
    if outcome.best_checkpoint.exists() {
        write_dictionary(&outcome.best_checkpoint, train_set.image_shape, &dir.join("dictionary.png"), None, None)?;
    }
    Ok(outcome)
}

/// Loads the experiment's data (`[data]`: source, validation split, normalisation, selection) and
/// trains its model (whatever its `[model] type`) into the run folder `out`.
pub fn load_and_train(exp: &Experiment, out: &Path, opts: &RunOptions) -> Result<TrainOutcome> {
    let (train_set, val, test) = crate::data::load_split(&exp.data.source, exp.data.validation, exp.data.l2_normalize)?;
    let (train_set, val) = exp.data.select(train_set, val)?;
    train_experiment(exp, &train_set, &val, Some(&test), out, opts)
}

/// Draws the dictionary of the checkpoint `ckpt` (its decoder atoms or filters, paper B Figures 1,
/// 2, 5b, 6) into `out`, when its model has one in the input's space; returns whether it did. At
/// most `max_atoms` atoms are drawn (the first ones; all by default), each pixel `zoom` pixels wide
/// (default: 8 for filters of up to 16x16, else 3).
pub fn write_dictionary(
    ckpt: &Path,
    image: Option<(usize, usize)>,
    out: &Path,
    max_atoms: Option<usize>,
    zoom: Option<usize>,
) -> Result<bool> {
    let (model, _) = crate::models::load_any(ckpt)?;
    match model.encoder().dictionary(image) {
        Some(atoms) => {
            let zoom = zoom.unwrap_or(if atoms.shape.0 * atoms.shape.1 <= 16 * 16 { 8 } else { 3 });
            let n = max_atoms.unwrap_or(atoms.tiles.len()).min(atoms.tiles.len());
            crate::report::images::write_atoms(out, &atoms.tiles[..n], atoms.shape, zoom)?;
            let mut share = atoms.window_energy_share(3);
            share.sort_by(f64::total_cmp);
            if let Some(&median) = share.get(share.len() / 2) {
                // A text file beside the picture: how delta-like the atoms are (paper B, Figure 4a).
                let text = format!(
                    "{} {} of {}x{}; energy share inside the best 3x3 window (1 = a delta function): median {median:.3}, min {:.3}, max {:.3}\n",
                    atoms.tiles.len(),
                    atoms.what,
                    atoms.shape.0,
                    atoms.shape.1,
                    share[0],
                    share[share.len() - 1]
                );
                crate::io::atomic::write_atomic(&out.with_extension("txt"), text.as_bytes())?;
            }
            Ok(true)
        }
        None => Ok(false),
    }
}

/// [`train_experiment`] for an experiment whose model is an MLP (the name of earlier versions).
pub fn train_mlp(
    exp: &Experiment,
    train: &Dataset,
    val: &Dataset,
    test: Option<&Dataset>,
    dir: &Path,
    opts: &RunOptions,
) -> Result<TrainOutcome> {
    exp.model.mlp()?;
    train_experiment(exp, train, val, test, dir, opts)
}
