//! One checkpoint format for every model: a safetensors file of the model's parameters by name,
//! with metadata naming the model kind and its configuration.
//!
//! | metadata key | value |
//! |---|---|
//! | `format` | `compete-v2` |
//! | `kind` | the model's [`Model::KIND`]: `mlp`, `conv`, `wta-rbm`, and later `fc-wta`, ... |
//! | `config` | the model's configuration as JSON |
//! | anything else | what the writer adds (`epoch`, ...) |
//!
//! The tensors are exactly the model's [`Parameters`], named as it names them, `f32`, row-major, in
//! PyTorch's layouts; so `safetensors.torch.load_file` reads every one of them. For the MLP:
//! `layers.{i}.weight` `[outputs, inputs]` and `layers.{i}.bias` `[outputs]`, hidden layers first,
//! the softmax layer last (a maxout layer's outputs are its pieces, unit `j` owning rows
//! `j*rank .. (j+1)*rank`). For the convolutional network see [`crate::models::conv`], for the
//! WTA-RBM [`crate::models::wta_rbm`] (`weight` `[hidden, visible]`, `hidden_bias`, `visible_bias`).
//!
//! Files of the first format, `compete-mlp-v1` (MLPs only, written before the model contract),
//! have the same tensors and `config`, and still load: [`load_any`] reads both.
//!
//! Loading checks every tensor: present, of the shape the configuration implies, no extra ones, and
//! finite (a NaN weight is an error naming the tensor and index, never a silent evaluation).

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::io::{Named, load_tensors, save_tensors};
use crate::models::activation::ActivationNet;
use crate::models::conv::ConvNet;
use crate::models::conv_wta::ConvWta;
use crate::models::drsae::Drsae;
use crate::models::fc_wta::FcWta;
use crate::models::mlp::Mlp;
use crate::models::wta_rbm::WtaRbm;
use crate::models::{Encoder, Model};
use crate::params::Parameters;

/// `format` of a checkpoint of any model.
pub const FORMAT: &str = "compete-v2";

/// `format` of the MLP checkpoints written before [`FORMAT`]; still read.
pub const MLP_V1: &str = "compete-mlp-v1";

/// The tensors of a set of parameters (or of anything named alike: gradients, optimizer moments),
/// each name prefixed by `prefix`.
pub fn named_tensors(p: &dyn Parameters, prefix: &str) -> Vec<Named> {
    p.params().into_iter().map(|p| (format!("{prefix}{}", p.name), p.shape, p.data.to_vec())).collect()
}

/// Saves `model` with its kind and configuration; `extra` adds metadata (`epoch`, ...).
pub fn save<M: Model>(path: &Path, model: &M, extra: &[(&str, String)]) -> Result<()> {
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert("kind".to_string(), M::KIND.to_string());
    meta.insert("config".to_string(), serde_json::to_string(model.config()).map_err(|e| Error::format(path, e.to_string()))?);
    for (k, v) in extra {
        meta.insert(k.to_string(), v.clone());
    }
    save_tensors(path, &named_tensors(model, ""), meta)
}

/// The metadata of a checkpoint: `(kind, config JSON, all metadata)`, after checking the format.
pub fn read_header(path: &Path, meta: &HashMap<String, String>) -> Result<(String, String)> {
    let kind = match meta.get("format").map(String::as_str) {
        Some(FORMAT) => match meta.get("kind") {
            Some(k) => k.clone(),
            None => return Err(Error::format(path, "no `kind` in the metadata of a compete-v2 checkpoint")),
        },
        Some(MLP_V1) => Mlp::KIND.to_string(),
        Some(other) => {
            return Err(Error::format(path, format!("checkpoint format {other:?}, expected {FORMAT:?} (or the older {MLP_V1:?})")));
        }
        None => {
            return Err(Error::format(path, format!("no `format` in the metadata: not a compete checkpoint (expected {FORMAT:?})")));
        }
    };
    let config = meta.get("config").cloned().ok_or_else(|| Error::format(path, "no `config` in the metadata"))?;
    Ok((kind, config))
}

/// Loads a checkpoint of model type `M` (refusing another kind); every tensor is checked (see the
/// module docs). Returns the model and the file's metadata.
pub fn load<M: Model>(path: &Path) -> Result<(M, HashMap<String, String>)> {
    let (mut tensors, meta) = load_tensors(path)?;
    let (kind, config) = read_header(path, &meta)?;
    if kind != M::KIND {
        return Err(Error::format(path, format!("a checkpoint of a {kind:?} model, expected {:?}", M::KIND)));
    }
    let model = from_tensors::<M>(path, &config, &mut tensors, "")?;
    Ok((model, meta))
}

/// Builds a model of type `M` from its configuration (JSON) and tensors named `{prefix}{param}`,
/// checking names, shapes and values. Tensors are taken out of `tensors`.
pub fn from_tensors<M: Model>(path: &Path, config: &str, tensors: &mut crate::io::TensorMap, prefix: &str) -> Result<M> {
    let config: M::Config = serde_json::from_str(config).map_err(|e| Error::format(path, format!("metadata `config`: {e}")))?;
    let mut model = M::zeros(&config).map_err(|e| Error::format(path, format!("metadata `config`: {e}")))?;
    fill(path, &mut model, tensors, prefix)?;
    if prefix.is_empty()
        && let Some(extra) = tensors.keys().min()
    {
        return Err(Error::format(path, format!("tensor {extra} is not a parameter of this {} model", M::KIND)));
    }
    if let Some((name, i, v)) = model.first_non_finite() {
        return Err(Error::format(path, format!("tensor {name} holds {v} at index {i}: the weights are not finite (a diverged run?)")));
    }
    Ok(model)
}

/// Copies `{prefix}{name}` of `tensors` into every parameter of `target`, checking shapes.
pub fn fill(path: &Path, target: &mut dyn Parameters, tensors: &mut crate::io::TensorMap, prefix: &str) -> Result<()> {
    for p in target.params_mut() {
        let key = format!("{prefix}{}", p.name);
        let (s, v) = tensors.remove(&key).ok_or_else(|| Error::format(path, format!("tensor {key} is missing")))?;
        if s != p.shape {
            return Err(Error::format(path, format!("tensor {key} has shape {s:?}, expected {:?} for this architecture", p.shape)));
        }
        p.data.copy_from_slice(&v);
    }
    Ok(())
}

/// The last feature maps of one example, with the training-time sparsity and without it.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseMaps {
    /// With spatial sparsity (at most one value per map).
    pub sparse: Vec<f32>,
    /// The ReLU maps (sparsity off, as at test time).
    pub relu: Vec<f32>,
    /// Rows and columns of every map.
    pub shape: (usize, usize),
}

/// A model of any kind, as read from a checkpoint by [`load_any`]. Adding a model adds a variant
/// here and an arm in [`load_any`]; the analyses see it through [`AnyModel::encoder`].
#[derive(Clone, Debug)]
pub enum AnyModel {
    /// A multilayer perceptron ([`Mlp`]).
    Mlp(Mlp),
    /// A convolutional network ([`ConvNet`]).
    Conv(ConvNet),
    /// A fully connected winner-take-all autoencoder ([`FcWta`]).
    FcWta(FcWta),
    /// A convolutional winner-take-all autoencoder ([`ConvWta`]).
    ConvWta(ConvWta),
    /// A winner-take-all RBM ([`WtaRbm`], paper B section 2): not a classifier.
    WtaRbm(WtaRbm),
    /// An activation-learning network ([`ActivationNet`], paper C): a classifier when it takes the
    /// label as input.
    Activation(ActivationNet),
    /// A discriminative recurrent sparse auto-encoder ([`Drsae`], paper D): a classifier when it
    /// has classes.
    Drsae(Drsae),
}

impl AnyModel {
    /// Data features per example the model reads from a data set: its encoder's input width, but
    /// for an activation-learning network the image alone (it appends the label code itself).
    pub fn data_width(&self) -> usize {
        match self {
            AnyModel::Activation(m) => m.config.data,
            other => other.encoder().input_width(),
        }
    }

    /// Checks that examples of `dim` features fit the model ([`AnyModel::data_width`]); the error
    /// names `what` (the checkpoint against the data) and the model.
    pub fn check_data_width(&self, dim: usize, what: impl Into<String>) -> Result<()> {
        if dim == self.data_width() {
            return Ok(());
        }
        Err(Error::shape(
            what,
            format!("{dim} input features"),
            format!("{} input features, as the checkpoint's model ({})", self.data_width(), self.encoder().describe()),
        ))
    }

    /// The model's kind (`mlp`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            AnyModel::Mlp(_) => Mlp::KIND,
            AnyModel::Conv(_) => ConvNet::KIND,
            AnyModel::FcWta(_) => FcWta::KIND,
            AnyModel::ConvWta(_) => ConvWta::KIND,
            AnyModel::WtaRbm(_) => WtaRbm::KIND,
            AnyModel::Activation(_) => ActivationNet::KIND,
            AnyModel::Drsae(_) => Drsae::KIND,
        }
    }

    /// A freshly initialised model of the same kind and architecture (seeded), e.g. the untrained
    /// network that a map or a region count compares the trained one with ([`Model::init`]: a
    /// WTA-RBM's visible biases are then 0, not set from data).
    pub fn untrained(&self, seed: u64) -> Result<AnyModel> {
        Ok(match self {
            AnyModel::Mlp(m) => AnyModel::Mlp(Mlp::init(&m.config, seed)?),
            AnyModel::Conv(m) => AnyModel::Conv(ConvNet::init(&m.config, seed)?),
            AnyModel::FcWta(m) => AnyModel::FcWta(FcWta::init(&m.config, seed)?),
            AnyModel::ConvWta(m) => AnyModel::ConvWta(ConvWta::init(&m.config, seed)?),
            AnyModel::WtaRbm(m) => AnyModel::WtaRbm(WtaRbm::init(&m.config, seed)?),
            AnyModel::Activation(m) => AnyModel::Activation(ActivationNet::init(&m.config, seed)?),
            AnyModel::Drsae(m) => AnyModel::Drsae(Drsae::init(&m.config, seed)?),
        })
    }

    /// Whether [`AnyModel::predict`] and [`AnyModel::errors`] answer: an MLP, a convolutional net, or
    /// an activation net with the label as input.
    pub fn is_classifier(&self) -> bool {
        match self {
            AnyModel::Mlp(_) | AnyModel::Conv(_) => true,
            AnyModel::Activation(m) => m.config.classes > 0,
            AnyModel::Drsae(m) => m.config.classes > 0,
            AnyModel::FcWta(_) | AnyModel::ConvWta(_) | AnyModel::WtaRbm(_) => false,
        }
    }

    /// Misclassified examples of `data` when the model is a classifier (`None` otherwise).
    pub fn errors(&self, data: &crate::data::Dataset) -> Option<Result<usize>> {
        match self {
            AnyModel::Mlp(m) => Some(m.errors(data)),
            AnyModel::Conv(m) => Some(m.errors(data)),
            AnyModel::Activation(m) if m.config.classes > 0 => Some(m.errors(data)),
            AnyModel::Drsae(m) if m.config.classes > 0 => Some(m.errors(data)),
            AnyModel::Drsae(_) | AnyModel::Activation(_) | AnyModel::FcWta(_) | AnyModel::ConvWta(_) | AnyModel::WtaRbm(_) => None,
        }
    }

    /// The predicted class of every example of `x` (`n x input` values) and the number of classes,
    /// when the model is a classifier (`None` otherwise).
    pub fn predict(&self, x: &[f32]) -> Option<Result<(Vec<usize>, usize)>> {
        match self {
            AnyModel::Mlp(m) => Some(m.predict(x, 500).map(|p| (p, m.config.classes))),
            AnyModel::Conv(m) => Some(m.predict(x, 200).map(|p| (p, m.config.classes))),
            AnyModel::Activation(m) if m.config.classes > 0 => Some(m.predict(x).map(|p| (p, m.config.classes))),
            AnyModel::Drsae(m) if m.config.classes > 0 => Some(m.predict(x).map(|p| (p, m.config.classes))),
            AnyModel::Drsae(_) | AnyModel::Activation(_) | AnyModel::FcWta(_) | AnyModel::ConvWta(_) | AnyModel::WtaRbm(_) => None,
        }
    }

    /// The last feature maps of one example `x` with the training-time spatial sparsity and without
    /// it (paper B, Figure 5c, 5d), and the maps' (rows, columns), for a model that has such maps
    /// (a CONV-WTA; `None` otherwise).
    pub fn sparse_maps(&self, x: &[f32]) -> Option<Result<SparseMaps>> {
        match self {
            AnyModel::ConvWta(m) => {
                let maps = m.shapes[m.shapes.len() - 1].maps;
                Some(m.maps_of(x).map(|(sparse, relu)| SparseMaps { sparse, relu, shape: (maps.height, maps.width) }))
            }
            _ => None,
        }
    }

    /// The model seen through its hidden layers, for every analysis.
    pub fn encoder(&self) -> &dyn Encoder {
        match self {
            AnyModel::Mlp(m) => m,
            AnyModel::Conv(m) => m,
            AnyModel::FcWta(m) => m,
            AnyModel::ConvWta(m) => m,
            AnyModel::WtaRbm(m) => m,
            AnyModel::Activation(m) => m,
            AnyModel::Drsae(m) => m,
        }
    }

    /// The MLP, or an error naming the file and what it holds instead.
    pub fn into_mlp(self, path: &Path) -> Result<Mlp> {
        match self {
            AnyModel::Mlp(m) => Ok(m),
            other => Err(Error::format(path, format!("a checkpoint of a {:?} model, expected an MLP", other.kind()))),
        }
    }
}

/// Loads a checkpoint of any model (and the older `compete-mlp-v1` files), dispatching on its kind.
pub fn load_any(path: &Path) -> Result<(AnyModel, HashMap<String, String>)> {
    let (mut tensors, meta) = load_tensors(path)?;
    let (kind, config) = read_header(path, &meta)?;
    let model = match kind.as_str() {
        k if k == Mlp::KIND => AnyModel::Mlp(from_tensors::<Mlp>(path, &config, &mut tensors, "")?),
        k if k == ConvNet::KIND => AnyModel::Conv(from_tensors::<ConvNet>(path, &config, &mut tensors, "")?),
        k if k == FcWta::KIND => AnyModel::FcWta(from_tensors::<FcWta>(path, &config, &mut tensors, "")?),
        k if k == ConvWta::KIND => AnyModel::ConvWta(from_tensors::<ConvWta>(path, &config, &mut tensors, "")?),
        k if k == WtaRbm::KIND => AnyModel::WtaRbm(from_tensors::<WtaRbm>(path, &config, &mut tensors, "")?),
        k if k == ActivationNet::KIND => AnyModel::Activation(from_tensors::<ActivationNet>(path, &config, &mut tensors, "")?),
        k if k == Drsae::KIND => AnyModel::Drsae(from_tensors::<Drsae>(path, &config, &mut tensors, "")?),
        other => return Err(Error::format(path, format!("unknown model kind {other:?}; this build knows: {}", KINDS.join(", ")))),
    };
    Ok((model, meta))
}

/// The model kinds [`load_any`] reads.
pub const KINDS: &[&str] = &["mlp", "conv", "fc-wta", "conv-wta", "wta-rbm", "activation", "drsae"];

/// Loads an MLP checkpoint (either format).
pub fn load_mlp(path: &Path) -> Result<Mlp> {
    load_any(path)?.0.into_mlp(path)
}
