//! The configuration of a training run: data, model and optimisation, as one TOML file.
//!
//! Every field has a default, so a file needs only what differs. Example (`experiments/demo-relu.toml`):
//!
//! ```toml
//! kind = "train"
//! name = "relu"
//! [data]
//! source = "sample"        # the MNIST sample shipped in data/, or mnist:DIR, or a DIR of IDX files
//! [model]
//! type = "mlp"             # the default; or "conv" (ConvSection), "wta-rbm" (WtaRbmSection); later "fc-wta", ...
//! hidden = [500, 500]
//! competition = "relu"     # or "lwta:2", "maxout:2", or one per layer: ["relu", "lwta:2"]
//! [train]
//! epochs = 10
//! lr = 0.05
//! ```
//!
//! `[model]` describes the model (its `type` and architecture), `[train]` the loop (epochs, batches,
//! early stopping, flips), the optimizer and its schedules, the rules per parameter
//! (`[[train.rules]]`, see [`ParamRule`]), the initialisation from another run (`init_from`), and the
//! training-time settings of the learner (dropout).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::competition::Competition;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::mlp::{Dropout, MlpConfig};
use crate::params::ParamRule;
use crate::train::optim::OptimizerKind;

/// A whole training experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// What `compete run` does with this file; `"train"` for a training run.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Name of the run (used for the run folder).
    #[serde(default = "default_name")]
    pub name: String,
    /// Where the data comes from.
    #[serde(default)]
    pub data: DataConfig,
    /// The model: its type and architecture.
    #[serde(default)]
    pub model: ModelSection,
    /// The optimisation.
    #[serde(default)]
    pub train: TrainConfig,
}

fn default_kind() -> String {
    "train".into()
}
fn default_name() -> String {
    "run".into()
}

impl Default for Experiment {
    fn default() -> Self {
        Experiment {
            kind: default_kind(),
            name: default_name(),
            data: DataConfig::default(),
            model: ModelSection::default(),
            train: TrainConfig::default(),
        }
    }
}

/// Data of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// `sample` (the MNIST sample in the repository), `mnist:DIR` or `DIR` (IDX files, gzip or not).
    pub source: String,
    /// How many examples at the end of the training set are held out for validation. Unset: 10000
    /// when the training set has at least 20000 examples (the papers' 50000/10000 split of MNIST),
    /// else a tenth of it (1000 for the shipped sample: 100 of each digit, from MNIST's own validation part).
    pub validation: Option<usize>,
    /// Scale every example to unit l2 norm (after scaling pixels to [0, 1]).
    pub l2_normalize: bool,
    /// Train on the first `n` examples of the training part only (paper C, Figure 8: 600 to 10000
    /// labelled images; the authors' code takes the first ones). Unset: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_examples: Option<usize>,
    /// Train on `n` examples of each class only, the first `n` of each class in an order drawn
    /// with `select_seed` (paper C, Figure 9: n-shot learning from a fixed 10 x 10 selection, the
    /// n-shot set the first n columns). Unset: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_class: Option<usize>,
    /// The seed of the `per_class` selection.
    pub select_seed: u64,
    /// Train and validate on these classes only; the test set stays whole (one-class anomaly
    /// detection, paper C section VI.A). Unset: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_classes: Option<Vec<u8>>,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            source: "sample".into(),
            validation: None,
            l2_normalize: false,
            train_examples: None,
            per_class: None,
            select_seed: 1,
            train_classes: None,
        }
    }
}

impl DataConfig {
    /// The training and validation sets after `train_classes`, `train_examples` and `per_class`
    /// (in that order); an error names the setting when nothing would be left.
    pub fn select(&self, train: Dataset, val: Dataset) -> Result<(Dataset, Dataset)> {
        let (mut train, mut val) = (train, val);
        if let Some(classes) = &self.train_classes {
            let keep = |d: &Dataset, what: &str| -> Result<Dataset> {
                let idx: Vec<usize> = (0..d.len()).filter(|&i| classes.contains(&d.labels[i])).collect();
                if idx.is_empty() {
                    return Err(Error::param("data.train_classes", format!("{classes:?}"), format!("classes present in the {what} set")));
                }
                d.subset(&idx)
            };
            train = keep(&train, "training")?;
            val = keep(&val, "validation")?;
        }
        if let Some(n) = self.train_examples {
            if n == 0 || n > train.len() {
                return Err(Error::param("data.train_examples", n, format!("between 1 and the {} training examples", train.len())));
            }
            train = train.subset(&(0..n).collect::<Vec<_>>())?;
        }
        if let Some(n) = self.per_class {
            use rand::SeedableRng;
            use rand::seq::SliceRandom;
            let mut order: Vec<usize> = (0..train.len()).collect();
            order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(self.select_seed));
            let mut taken = vec![0usize; 256];
            let mut idx = Vec::new();
            for i in order {
                let c = usize::from(train.labels[i]);
                if taken[c] < n {
                    taken[c] += 1;
                    idx.push(i);
                }
            }
            if n == 0 || idx.is_empty() {
                return Err(Error::param("data.per_class", n, "at least 1 example per class"));
            }
            // Class by class (the rows of the paper's 10 x n grid), each class in the seeded order.
            idx.sort_by_key(|&i| usize::from(train.labels[i]));
            train = train.subset(&idx)?;
        }
        Ok((train, val))
    }
}

impl DataConfig {
    /// The validation size for a training set of `n` examples (see [`DataConfig::validation`]).
    pub fn validation_size(&self, n: usize) -> usize {
        self.validation.unwrap_or_else(|| crate::data::default_validation(n))
    }
}

/// One competition for all hidden layers, or one per layer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Competitions {
    /// The same competition in every hidden layer.
    One(Competition),
    /// One per hidden layer, input side first.
    PerLayer(Vec<Competition>),
}

impl<'de> Deserialize<'de> for Competitions {
    /// A string (`"lwta:2"`) or a list of strings; a bad one is refused with the reason its parser
    /// gives ("invalid lwta block size = 0: expected at least 2"), and its place in a list.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            PerLayer(Vec<String>),
        }
        let raw = Raw::deserialize(d).map_err(|_| {
            D::Error::custom("model.competition: expected a competition such as \"relu\", \"lwta:2\", \"maxout:2\", or a list of them, one per hidden layer")
        })?;
        match raw {
            Raw::One(s) => s.parse().map(Competitions::One).map_err(|e: Error| D::Error::custom(format!("model.competition: {e}"))),
            Raw::PerLayer(v) => v
                .iter()
                .enumerate()
                .map(|(i, s)| s.parse::<Competition>().map_err(|e| D::Error::custom(format!("model.competition[{i}]: {e}"))))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Competitions::PerLayer),
        }
    }
}

/// The `[model]` section: which model (`type`, default `"mlp"`) and its settings. Dispatching on
/// the type is the one place a new model is named in the configuration.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSection {
    /// `type = "mlp"`: a multilayer perceptron with competitive hidden layers (paper A).
    Mlp(ModelConfig),
    /// `type = "conv"`: a convolutional network ([`crate::models::conv`]).
    Conv(ConvSection),
    /// `type = "fc-wta"`: a fully connected winner-take-all autoencoder (paper B, section 2;
    /// [`crate::models::fc_wta`]).
    FcWta(FcWtaSection),
    /// `type = "conv-wta"`: a convolutional winner-take-all autoencoder (paper B, section 3;
    /// [`crate::models::conv_wta`]).
    ConvWta(ConvWtaSection),
    /// `type = "wta-rbm"`: a winner-take-all RBM (paper B, section 2; [`crate::models::wta_rbm`]).
    WtaRbm(WtaRbmSection),
    /// `type = "activation"`: activation learning by the local competitive rule (paper C;
    /// [`crate::models::activation`]).
    Activation(ActivationSection),
    /// `type = "drsae"`: a discriminative recurrent sparse auto-encoder (paper D;
    /// [`crate::models::drsae`]).
    Drsae(DrsaeSection),
}

impl Default for ModelSection {
    fn default() -> Self {
        ModelSection::Mlp(ModelConfig::default())
    }
}

/// The model types an experiment file may name.
pub const MODEL_TYPES: &[&str] = &["mlp", "conv", "fc-wta", "conv-wta", "wta-rbm", "activation", "drsae"];

impl ModelSection {
    /// The `type` of the section.
    pub fn type_name(&self) -> &'static str {
        match self {
            ModelSection::Mlp(_) => "mlp",
            ModelSection::Conv(_) => "conv",
            ModelSection::FcWta(_) => "fc-wta",
            ModelSection::ConvWta(_) => "conv-wta",
            ModelSection::WtaRbm(_) => "wta-rbm",
            ModelSection::Activation(_) => "activation",
            ModelSection::Drsae(_) => "drsae",
        }
    }

    /// The MLP settings, or an error naming the type found.
    pub fn mlp(&self) -> Result<&ModelConfig> {
        match self {
            ModelSection::Mlp(m) => Ok(m),
            other => Err(Error::param("model.type", other.type_name(), "\"mlp\" for this command")),
        }
    }

    /// The MLP architecture for `input` features and `classes` classes (an error for other types).
    pub fn mlp_config(&self, input: usize, classes: usize) -> Result<MlpConfig> {
        self.mlp()?.mlp_config(input, classes)
    }

    /// The MLP settings, writable (see [`ModelSection::mlp`]).
    pub fn mlp_mut(&mut self) -> Result<&mut ModelConfig> {
        match self {
            ModelSection::Mlp(m) => Ok(m),
            other => Err(Error::param("model.type", other.type_name(), "\"mlp\" for this command")),
        }
    }
}

impl Serialize for ModelSection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let (name, mut value) = match self {
            ModelSection::Mlp(m) => ("mlp", toml::Value::try_from(m).map_err(S::Error::custom)?),
            ModelSection::Conv(m) => ("conv", toml::Value::try_from(m).map_err(S::Error::custom)?),
            ModelSection::FcWta(m) => ("fc-wta", toml::Value::try_from(m).map_err(S::Error::custom)?),
            ModelSection::ConvWta(m) => ("conv-wta", toml::Value::try_from(m).map_err(S::Error::custom)?),
            ModelSection::WtaRbm(m) => ("wta-rbm", toml::Value::try_from(m).map_err(S::Error::custom)?),
            ModelSection::Activation(m) => ("activation", toml::Value::try_from(m).map_err(S::Error::custom)?),
            ModelSection::Drsae(m) => ("drsae", toml::Value::try_from(m).map_err(S::Error::custom)?),
        };
        if let toml::Value::Table(t) = &mut value {
            // `type` first, for people reading the file.
            let mut with_type = toml::map::Map::new();
            with_type.insert("type".into(), toml::Value::String(name.into()));
            with_type.extend(std::mem::take(t));
            *t = with_type;
        }
        value.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ModelSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut table = toml::Table::deserialize(d)?;
        let kind = match table.remove("type") {
            None => "mlp".to_string(),
            Some(toml::Value::String(s)) => s,
            Some(other) => {
                return Err(D::Error::custom(format!("model.type = {other}: expected a string, one of {}", MODEL_TYPES.join(", "))));
            }
        };
        let body = toml::Value::Table(table);
        match kind.as_str() {
            "mlp" => {
                body.try_into().map(ModelSection::Mlp).map_err(|e| D::Error::custom(format!("[model] of type \"mlp\": {}", e.message())))
            }
            "conv" => {
                body.try_into().map(ModelSection::Conv).map_err(|e| D::Error::custom(format!("[model] of type \"conv\": {}", e.message())))
            }
            "fc-wta" => body
                .try_into()
                .map(ModelSection::FcWta)
                .map_err(|e| D::Error::custom(format!("[model] of type \"fc-wta\": {}", e.message()))),
            "conv-wta" => body
                .try_into()
                .map(ModelSection::ConvWta)
                .map_err(|e| D::Error::custom(format!("[model] of type \"conv-wta\": {}", e.message()))),
            "wta-rbm" => body
                .try_into()
                .map(ModelSection::WtaRbm)
                .map_err(|e| D::Error::custom(format!("[model] of type \"wta-rbm\": {}", e.message()))),
            "activation" => body
                .try_into()
                .map(ModelSection::Activation)
                .map_err(|e| D::Error::custom(format!("[model] of type \"activation\": {}", e.message()))),
            "drsae" => body
                .try_into()
                .map(ModelSection::Drsae)
                .map_err(|e| D::Error::custom(format!("[model] of type \"drsae\": {}", e.message()))),
            other => Err(D::Error::custom(format!("model.type = {other:?}: expected one of {}", MODEL_TYPES.join(", ")))),
        }
    }
}

/// The `[model]` settings of a convolutional network (`type = "conv"`): the layer list, ending in
/// the number of classes (see [`crate::models::conv_spec`] for how layers are written). The input
/// maps come from the data: one channel of the images' height and width, as the IDX file gives them.
///
/// ```toml
/// [model]
/// type = "conv"
/// layers = ["conv5x5:32", "pool2", "conv5x5:64", "pool2", "dense:500", "10"]
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvSection {
    /// The layers, input side first, the classes last.
    pub layers: Vec<String>,
    /// Multiplier of the hidden layers' initial weight range (1: He-uniform, see
    /// [`crate::models::conv::ConvNet::with_gain`]).
    pub init_gain: f32,
}

impl Default for ConvSection {
    fn default() -> Self {
        ConvSection { layers: ["conv5x5:32", "pool2", "conv5x5:64", "pool2", "dense:500", "10"].map(String::from).to_vec(), init_gain: 1.0 }
    }
}

impl ConvSection {
    /// The architecture for examples of `dim` values with image shape `image` (rows, columns) and
    /// `classes` classes; refuses data that are not images, or whose shape does not give `dim`.
    pub fn conv_config(&self, dim: usize, image: Option<(usize, usize)>, classes: usize) -> Result<crate::models::conv::ConvNetConfig> {
        let Some((h, w)) = image else {
            return Err(Error::param(
                "model.type",
                "conv",
                format!("data of images (an IDX file of rows x columns); these examples are {dim} values without an image shape"),
            ));
        };
        if h * w != dim {
            return Err(Error::shape("data image shape", format!("{h}x{w}"), format!("{dim} values per example")));
        }
        let input = crate::layers::MapShape::new("data image", 1, h, w)?;
        crate::models::conv::ConvNetConfig::parse(input, &self.layers, classes)
    }
}

/// The `[model]` settings of a fully connected winner-take-all autoencoder (`type = "fc-wta"`,
/// paper B section 2); the input width comes from the data. Defaults: Table 1's shallow FC-WTA
/// (2000 units, 5% lifetime sparsity), untied decoder (see [`crate::models::fc_wta`] for why).
///
/// ```toml
/// [model]
/// type = "fc-wta"
/// hidden = [2000]
/// sparsity = 0.05
/// # stack_on = "runs/fc-wta-5/checkpoints/best.safetensors"   # train on the fixed features of that model
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FcWtaSection {
    /// Units of the encoder layers (the last one is the code), input side first; with `stack_on`,
    /// the new layers put on top of the base model's encoder.
    pub hidden: Vec<usize>,
    /// Lifetime sparsity rate of the code layer, in `(0, 1]` (paper B: 0.05; 0.02 for the second
    /// layer of the stack).
    pub sparsity: f32,
    /// Decoder tied to the code layer's weight (allowed when one layer is trained).
    pub tied: bool,
    /// Stack on this trained FC-WTA checkpoint: its encoder is frozen and the new layers learn to
    /// reconstruct its features (paper B, section 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_on: Option<PathBuf>,
}

impl Default for FcWtaSection {
    fn default() -> Self {
        FcWtaSection { hidden: vec![2000], sparsity: 0.05, tied: false, stack_on: None }
    }
}

impl FcWtaSection {
    /// Checks the settings for examples of `dim` values without reading `stack_on` (the layers are
    /// checked as if they were the whole encoder).
    pub fn validate(&self, dim: usize) -> Result<()> {
        crate::models::fc_wta::FcWtaConfig { tied: self.tied, ..crate::models::fc_wta::FcWtaConfig::new(dim, &self.hidden, self.sparsity)? }
            .validate()
    }

    /// The autoencoder for examples of `dim` values, freshly initialised from `seed`: a one-stage
    /// model, or a stack on the `stack_on` checkpoint (which must be an FC-WTA of input `dim`).
    pub fn build(&self, dim: usize, seed: u64) -> Result<crate::models::fc_wta::FcWta> {
        use crate::models::fc_wta::{FcWta, FcWtaConfig};
        match &self.stack_on {
            None => {
                let config = FcWtaConfig { tied: self.tied, ..FcWtaConfig::new(dim, &self.hidden, self.sparsity)? };
                config.validate()?;
                FcWta::init_seeded(&config, seed)
            }
            Some(path) => {
                let (base, _) = crate::models::checkpoint::load::<FcWta>(path).map_err(|e| match e {
                    Error::Format { .. } => {
                        Error::param("model.stack_on", path.display(), format!("a checkpoint of a trained \"fc-wta\" model ({e})"))
                    }
                    other => other,
                })?;
                if base.config.input != dim {
                    return Err(Error::shape(
                        format!("model.stack_on {}", path.display()),
                        format!("a model of {} inputs", base.config.input),
                        format!("{dim} inputs, as the data have"),
                    ));
                }
                FcWta::stacked_on(&base, &self.hidden, self.sparsity, self.tied, seed)
            }
        }
    }
}

/// The `[model]` settings of a convolutional winner-take-all autoencoder (`type = "conv-wta"`,
/// paper B section 3); the input maps come from the data (one channel of the IDX images' size).
/// Defaults: Table 2a's `128conv5-128conv5-128deconv11`, features max-pooled over 4x4 windows at
/// stride 4. The paper's MNIST lifetime rate is in its appendix, which is not in the text: the
/// default 5% is the FC-WTA's.
///
/// ```toml
/// [model]
/// type = "conv-wta"
/// maps = [128, 128]
/// kernel = 5
/// decoder_kernel = 11
/// sparsity = 0.05
/// # stack_on = "runs/conv-wta-128/checkpoints/best.safetensors"   # a second stage on its pooled maps
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvWtaSection {
    /// Maps of the encoder's convolutions, input side first (with `stack_on`: of the new stage).
    pub maps: Vec<usize>,
    /// Side of the encoder's filters (odd).
    pub kernel: usize,
    /// Side of the decoder's filters (odd: same-size output).
    pub decoder_kernel: usize,
    /// Lifetime sparsity rate over the spatial winners, in `(0, 1]` (1: spatial sparsity only).
    pub sparsity: f32,
    /// Max-pooling of the features: window side and stride.
    pub pool: usize,
    /// Stride of the max-pooling.
    pub pool_stride: usize,
    /// Spatial and lifetime winner-take-all (off: the plain convolutional autoencoder of Figure 4a,
    /// regularized by `train.dropout_input` and `train.dropout_hidden`).
    pub wta: bool,
    /// Stack on this trained CONV-WTA checkpoint: its stages are frozen and the new one learns to
    /// reconstruct their pooled maps (paper B, section 3.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_on: Option<PathBuf>,
}

impl Default for ConvWtaSection {
    fn default() -> Self {
        ConvWtaSection {
            maps: vec![128, 128],
            kernel: 5,
            decoder_kernel: 11,
            sparsity: 0.05,
            pool: 4,
            pool_stride: 4,
            wta: true,
            stack_on: None,
        }
    }
}

impl ConvWtaSection {
    fn stage(&self) -> crate::models::conv_wta::ConvWtaStage {
        crate::models::conv_wta::ConvWtaStage {
            kernel: self.kernel,
            maps: self.maps.clone(),
            pool: self.pool,
            pool_stride: self.pool_stride,
        }
    }

    /// The one-stage architecture for images of `image` (rows, columns), `dim` values each.
    pub fn config(&self, dim: usize, image: Option<(usize, usize)>) -> Result<crate::models::conv_wta::ConvWtaConfig> {
        let Some((h, w)) = image else {
            return Err(Error::param(
                "model.type",
                "conv-wta",
                format!("data of images (an IDX file of rows x columns); these examples are {dim} values without an image shape"),
            ));
        };
        if h * w != dim {
            return Err(Error::shape("data image shape", format!("{h}x{w}"), format!("{dim} values per example")));
        }
        let config = crate::models::conv_wta::ConvWtaConfig {
            input: crate::layers::MapShape::new("data image", 1, h, w)?,
            stages: vec![self.stage()],
            decoder_kernel: self.decoder_kernel,
            sparsity: self.sparsity,
            wta: self.wta,
        };
        config.shapes()?;
        Ok(config)
    }

    /// The autoencoder, freshly initialised from `seed`: one stage, or a new stage on the frozen
    /// stages of the `stack_on` checkpoint (a CONV-WTA of the same input).
    pub fn build(&self, dim: usize, image: Option<(usize, usize)>, seed: u64) -> Result<crate::models::conv_wta::ConvWta> {
        use crate::models::conv_wta::ConvWta;
        let config = self.config(dim, image)?;
        match &self.stack_on {
            None => ConvWta::init_seeded(&config, seed),
            Some(path) => {
                let (base, _) = crate::models::checkpoint::load::<ConvWta>(path).map_err(|e| match e {
                    Error::Format { .. } => {
                        Error::param("model.stack_on", path.display(), format!("a checkpoint of a trained \"conv-wta\" model ({e})"))
                    }
                    other => other,
                })?;
                if base.config.input != config.input {
                    return Err(Error::shape(
                        format!("model.stack_on {}", path.display()),
                        format!("a model of input {}", base.config.input),
                        format!("{}, as the data have", config.input),
                    ));
                }
                if !self.wta {
                    return Err(Error::param("model.wta", false, "true when stacking (section 3.3 stacks CONV-WTAs)"));
                }
                ConvWta::stacked_on(&base, self.stage(), self.decoder_kernel, self.sparsity, seed)
            }
        }
    }
}

/// The `[model]` settings of an activation-learning network (`type = "activation"`, paper C; see
/// [`crate::models::activation`]); the data features and the classes come from the data.
///
/// ```toml
/// [model]
/// type = "activation"
/// layers = [1064, 1064]        # paper C, Figure 6a: layers as wide as the input
/// activation = "std-abs"       # or "abs", "layer-norm"
/// label_input = true           # the label code is part of the input (false: anomaly detection)
/// label_width = 28             # code values per class (MNIST: a 10 x 28 code)
/// # feedback = { unlearn = 0.9, slope = 5.0 }    # learning with feedback (section IV.B)
/// # local = { height = 28, width = 28, kernel = 9, units = 3 }   # locally connected (section V)
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActivationSection {
    /// Units of every layer.
    pub layers: Vec<usize>,
    /// The activation between layers.
    pub activation: crate::models::activation::Nonlinearity,
    /// Whether the label code is part of the input.
    pub label_input: bool,
    /// Code values per class.
    pub label_width: usize,
    /// Decay of std-abs's running statistics.
    pub stats_decay: f32,
    /// Deviation of the initial weights.
    pub init_std: f32,
    /// Learning with feedback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback: Option<crate::models::activation::Feedback>,
    /// Locally connected layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<crate::models::activation::LocalSpec>,
    /// Layer-by-layer training: epochs per layer (unset: all layers at once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layerwise_epochs: Option<usize>,
}

impl Default for ActivationSection {
    fn default() -> Self {
        let c = crate::models::activation::ActivationConfig::mnist(2);
        ActivationSection {
            layers: c.layers,
            activation: c.activation,
            label_input: true,
            label_width: c.label_width,
            stats_decay: c.stats_decay,
            init_std: c.init_std,
            feedback: None,
            local: None,
            layerwise_epochs: None,
        }
    }
}

impl ActivationSection {
    /// The architecture for `data` features and `classes` classes (checked).
    pub fn activation_config(&self, data: usize, classes: usize) -> Result<crate::models::activation::ActivationConfig> {
        let config = crate::models::activation::ActivationConfig {
            data,
            classes: if self.label_input { classes } else { 0 },
            label_width: if self.label_input { self.label_width } else { 0 },
            layers: self.layers.clone(),
            activation: self.activation,
            local: self.local,
            stats_decay: self.stats_decay,
            init_std: self.init_std,
            feedback: self.feedback,
            layerwise_epochs: self.layerwise_epochs,
        };
        config.validate()?;
        Ok(config)
    }
}

/// The `[model]` settings of a DrSAE (`type = "drsae"`, paper D; see [`crate::models::drsae`]);
/// the input width and the classes come from the data. Defaults are the paper's (section 2).
///
/// ```toml
/// [model]
/// type = "drsae"
/// hidden = 400                # n (Table 1: 400 or 200)
/// steps = 11                  # T of eq. 1 (Table 1: 11 or 2)
/// lambda = 0.005              # eq. 2 (not given by the paper)
/// loss = "unsupervised"       # pretraining on L^U (eq. 2); "supervised": fine-tuning on L^U + L^S
/// init = "ista"               # or "random"; ignored when train.init_from loads a pretrained model
/// # encoder_bound = 0.1136    # rows of E (default 1.25 / T); decoder_bound = 1, classifier_bound = 5
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrsaeSection {
    /// Hidden units `n`.
    pub hidden: usize,
    /// Iterations `T`.
    pub steps: usize,
    /// The sparsity weight of eq. 2.
    pub lambda: f32,
    /// The phase's loss.
    pub loss: crate::models::drsae::DrsaeLoss,
    /// The initialisation.
    pub init: crate::models::drsae::DrsaeInit,
    /// Bound on `E`'s rows (unset: `1.25 / T`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoder_bound: Option<f32>,
    /// Bound on `D`'s columns.
    pub decoder_bound: f32,
    /// Bound on `C`'s rows.
    pub classifier_bound: f32,
    /// The further division of `C`'s learning rate.
    pub classifier_lr_divisor: f32,
}

impl Default for DrsaeSection {
    fn default() -> Self {
        let c = crate::models::drsae::DrsaeConfig::new(1, 400, 11, 0).unwrap_or_else(|_| unreachable!("the paper's defaults are valid"));
        DrsaeSection {
            hidden: c.hidden,
            steps: c.steps,
            lambda: c.lambda,
            loss: crate::models::drsae::DrsaeLoss::Unsupervised,
            init: c.init,
            encoder_bound: None,
            decoder_bound: c.decoder_bound,
            classifier_bound: c.classifier_bound,
            classifier_lr_divisor: c.classifier_lr_divisor,
        }
    }
}

impl DrsaeSection {
    /// The architecture for `input` values and `classes` classes (checked).
    pub fn drsae_config(&self, input: usize, classes: usize) -> Result<crate::models::drsae::DrsaeConfig> {
        let c = crate::models::drsae::DrsaeConfig {
            input,
            hidden: self.hidden,
            steps: self.steps,
            classes,
            lambda: self.lambda,
            encoder_bound: self.encoder_bound,
            decoder_bound: self.decoder_bound,
            classifier_bound: self.classifier_bound,
            classifier_lr_divisor: self.classifier_lr_divisor,
            init: self.init,
        };
        c.validate()?;
        Ok(c)
    }
}

/// The `[model]` settings of a winner-take-all RBM (`type = "wta-rbm"`, paper B section 2; see
/// [`crate::models::wta_rbm`]); the visible units come from the data.
///
/// ```toml
/// [model]
/// type = "wta-rbm"
/// hidden = 256
/// sparsity = 0.3     # 1.0: the plain RBM
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WtaRbmSection {
    /// Hidden units (paper B, Figure 3: 256; Table 1 does not say).
    pub hidden: usize,
    /// The lifetime sparsity rate of the positive phase, in `(0, 1]` (paper B, section 2: 30%; 1: a
    /// plain RBM). With `train.batch_size` it must keep at least one example: `sparsity x batch >= 1`.
    pub sparsity: f32,
    /// Gibbs steps of contrastive divergence (1: CD-1, as in paper B and Hinton's guide).
    pub cd_steps: usize,
    /// Drop the losers from the negative statistics too (off; see
    /// [`crate::models::wta_rbm::WtaRbmConfig::mask_negative`]).
    pub mask_negative: bool,
}

impl Default for WtaRbmSection {
    fn default() -> Self {
        WtaRbmSection { hidden: 256, sparsity: 0.3, cd_steps: 1, mask_negative: false }
    }
}

impl WtaRbmSection {
    /// The architecture for `visible` values per example.
    pub fn rbm_config(&self, visible: usize) -> Result<crate::models::wta_rbm::WtaRbmConfig> {
        let config = crate::models::wta_rbm::WtaRbmConfig::new(visible, self.hidden, self.sparsity, self.cd_steps)?;
        Ok(crate::models::wta_rbm::WtaRbmConfig { mask_negative: self.mask_negative, ..config })
    }
}

/// The `[model]` settings of an MLP run (`type = "mlp"`); input width and classes come from the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Widths of the hidden layers (output units; a maxout layer of width `u` and rank `k` computes
    /// `u * k` pieces).
    pub hidden: Vec<usize>,
    /// The competition of the hidden layers.
    pub competition: Competitions,
    /// Multiplier of the hidden layers' initial weight range (1: He-uniform, see [`Mlp::new`]).
    /// Inverted dropout multiplies the second moment of each hidden layer's output by
    /// `1 / (1 - p)`, so dropout networks may start better with a gain below 1.
    ///
    /// [`Mlp::new`]: crate::models::mlp::Mlp::new
    pub init_gain: f32,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig { hidden: vec![1000, 1000, 1000], competition: Competitions::One(Competition::Relu), init_gain: 1.0 }
    }
}

impl ModelConfig {
    /// The architecture for `input` features and `classes` classes.
    pub fn mlp_config(&self, input: usize, classes: usize) -> Result<MlpConfig> {
        let comps: Vec<Competition> = match &self.competition {
            Competitions::One(c) => vec![*c; self.hidden.len()],
            Competitions::PerLayer(v) => {
                if v.len() != self.hidden.len() {
                    return Err(Error::param(
                        "model.competition",
                        format!("a list of {}", v.len()),
                        format!("one competition, or a list of {} (one per hidden layer)", self.hidden.len()),
                    ));
                }
                v.clone()
            }
        };
        let pairs: Vec<(usize, Competition)> = self.hidden.iter().copied().zip(comps).collect();
        MlpConfig::new(input, &pairs, classes)
    }
}

/// Which epoch's model a run keeps as its result (`train.keep`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    /// The epoch of the best validation score.
    #[default]
    Best,
    /// The last epoch (paper C's code reports the final epoch, no early stopping).
    Last,
}

/// How momentum changes over the first epochs (see [`TrainConfig::momentum_at`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MomentumSchedule {
    /// Linearly from `momentum_start` to `momentum` over `momentum_ramp_epochs`.
    #[default]
    Ramp,
    /// `momentum_start` for `momentum_ramp_epochs` epochs, then `momentum` (Hinton's practical
    /// guide to training RBMs, section 9: 0.5 at first, 0.9 later).
    Step,
}

/// Optimisation of a run. Paper A does not state its hyper-parameters beyond "minibatch gradient
/// descent with momentum" and dropout (section 3.4), with batches of 100 (section 3.2); the other
/// defaults are common settings for such networks on MNIST.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Passes over the training set (the most; early stopping may end sooner).
    pub epochs: usize,
    /// Examples per mini-batch (paper A section 3.2: 100).
    pub batch_size: usize,
    /// `sgd` (with momentum) or `adam`.
    pub optimizer: OptimizerKind,
    /// Learning rate of the first epoch.
    pub lr: f32,
    /// Factor applied to the learning rate after every epoch.
    pub lr_decay: f32,
    /// The learning rate never falls below this.
    pub min_lr: f32,
    /// A step drop of the learning rate: from the epoch after this fraction of `epochs`, the rate
    /// is multiplied by `lr_drop_factor` (paper C's code: divided by 10 at 90% of the epochs).
    /// Unset: no drop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_drop_at: Option<f32>,
    /// The factor of `lr_drop_at`.
    pub lr_drop_factor: f32,
    /// Final momentum (SGD) or beta1 (Adam).
    pub momentum: f32,
    /// Momentum of the first epoch; it rises linearly to `momentum` over `momentum_ramp_epochs`
    /// (or switches to it after them, with `momentum_schedule = "step"`).
    pub momentum_start: f32,
    /// Epochs over which momentum rises (0: constant `momentum`).
    pub momentum_ramp_epochs: usize,
    /// How momentum goes from `momentum_start` to `momentum`: `"ramp"` (linearly over
    /// `momentum_ramp_epochs`) or `"step"` (`momentum_start` for the first `momentum_ramp_epochs`
    /// epochs, then `momentum`: Hinton's RBM recipe, 0.5 for 5 epochs then 0.9).
    pub momentum_schedule: MomentumSchedule,
    /// Adam's beta2.
    pub beta2: f32,
    /// Adam's epsilon.
    pub eps: f32,
    /// L2 weight decay on weights.
    pub weight_decay: f32,
    /// Max-norm of every unit's incoming weight vector, softmax layer included (unset: no constraint):
    /// shorthand for a rule `{ params = "*", max_norm_rows = ... }` on every weight.
    pub max_norm: Option<f32>,
    /// Learning-rate scales and constraints per parameter, by name (see [`ParamRule`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ParamRule>,
    /// Start from the parameters of this checkpoint (another run's `best.safetensors`: pretraining,
    /// then fine-tuning): every parameter whose name matches `init_params` is copied (same name, same
    /// shape); the others keep their fresh initialisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// Which parameters `init_from` copies (a name or pattern with `*`).
    pub init_params: String,
    /// A training loss above this (or not finite) stops the run as diverged.
    pub max_loss: f32,
    /// Dropout probability of the inputs.
    pub dropout_input: f32,
    /// Dropout probability of hidden units.
    pub dropout_hidden: f32,
    /// Stop when the validation error has not improved for this many epochs (unset: never).
    pub patience: Option<usize>,
    /// Which epoch's model is the run's result (`best.safetensors`): `"best"` (validation) or
    /// `"last"`.
    pub keep: Keep,
    /// Evaluate on the validation (and test) set every this many epochs, and after the last one
    /// (1: every epoch). Epochs in between are not candidates for `keep = "best"`.
    pub eval_every: usize,
    /// Seed of initialisation, shuffling and dropout.
    pub seed: u64,
    /// Also measure the test error after every epoch (reported, never used for any choice).
    pub eval_test: bool,
    /// Record the submasks of every hidden layer on `flip_examples` training examples before training
    /// and after every epoch, and report the flip rate (paper A, section 3.2, Figure 4) in
    /// `progress.json`, `flips.csv` and `flips.png`.
    pub track_flips: bool,
    /// Training examples (the first ones) whose flips are tracked; 0 means all. Figure 4 of paper A
    /// counts 10000.
    pub flip_examples: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 50,
            batch_size: 100,
            optimizer: OptimizerKind::Sgd,
            lr: 0.05,
            lr_decay: 0.98,
            min_lr: 0.001,
            lr_drop_at: None,
            lr_drop_factor: 0.1,
            momentum: 0.9,
            momentum_start: 0.5,
            momentum_ramp_epochs: 10,
            momentum_schedule: MomentumSchedule::Ramp,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            max_norm: None,
            rules: Vec::new(),
            init_from: None,
            init_params: "*".into(),
            max_loss: 1e4,
            dropout_input: 0.0,
            dropout_hidden: 0.0,
            patience: None,
            keep: Keep::Best,
            eval_every: 1,
            seed: 1,
            eval_test: true,
            track_flips: false,
            flip_examples: 10000,
        }
    }
}

impl TrainConfig {
    /// Checks every value; the error names the field, its value and what is allowed.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, v: f32| if v.is_finite() && v > 0.0 { Ok(()) } else { Err(Error::param(name, v, "a positive number")) };
        let unit = |name: &str, v: f32| if (0.0..1.0).contains(&v) { Ok(()) } else { Err(Error::param(name, v, "a number in [0, 1)")) };
        if self.epochs == 0 {
            return Err(Error::param("train.epochs", 0, "at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::param("train.batch_size", 0, "at least 1"));
        }
        if self.eval_every == 0 {
            return Err(Error::param("train.eval_every", 0, "at least 1 epoch"));
        }
        positive("train.lr", self.lr)?;
        positive("train.eps", self.eps)?;
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return Err(Error::param("train.lr_decay", self.lr_decay, "a factor in (0, 1]"));
        }
        if !(self.min_lr >= 0.0 && self.min_lr.is_finite()) {
            return Err(Error::param("train.min_lr", self.min_lr, "a number >= 0"));
        }
        if let Some(f) = self.lr_drop_at
            && !(0.0..1.0).contains(&f)
        {
            return Err(Error::param("train.lr_drop_at", f, "a fraction of the epochs in [0, 1)"));
        }
        if !(self.lr_drop_factor > 0.0 && self.lr_drop_factor <= 1.0) {
            return Err(Error::param("train.lr_drop_factor", self.lr_drop_factor, "a factor in (0, 1]"));
        }
        unit("train.momentum", self.momentum)?;
        unit("train.momentum_start", self.momentum_start)?;
        unit("train.beta2", self.beta2)?;
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(Error::param("train.weight_decay", self.weight_decay, "a number >= 0"));
        }
        if let Some(c) = self.max_norm {
            positive("train.max_norm", c)?;
        }
        unit("train.dropout_input", self.dropout_input)
            .map_err(|_| Error::param("train.dropout_input", self.dropout_input, "a probability in [0, 1)"))?;
        unit("train.dropout_hidden", self.dropout_hidden)
            .map_err(|_| Error::param("train.dropout_hidden", self.dropout_hidden, "a probability in [0, 1)"))?;
        if self.patience == Some(0) {
            return Err(Error::param("train.patience", 0, "at least 1 epoch (or leave it unset)"));
        }
        positive("train.max_loss", self.max_loss)?;
        for (i, r) in self.rules.iter().enumerate() {
            r.validate(&format!("train.rules[{i}]"))?;
        }
        Ok(())
    }

    /// The rules of `[[train.rules]]`, after the one `max_norm` stands for.
    pub fn all_rules(&self) -> Vec<ParamRule> {
        let mut rules: Vec<ParamRule> =
            self.max_norm.map(|c| ParamRule { max_norm_rows: Some(c), ..ParamRule::new("*") }).into_iter().collect();
        rules.extend(self.rules.iter().cloned());
        rules
    }

    /// The dropout rates.
    pub fn dropout(&self) -> Dropout {
        Dropout { input: self.dropout_input, hidden: self.dropout_hidden }
    }

    /// Learning rate of epoch `e` (1-based): `max(min_lr, lr * lr_decay^(e-1))`, times
    /// `lr_drop_factor` from epoch `floor(lr_drop_at * epochs) + 1` on when a drop is set (the
    /// authors' code of paper C: epoch index `int(0.9 * epochs)`, counted from 0).
    pub fn lr_at(&self, epoch: usize) -> f32 {
        let lr = (self.lr * self.lr_decay.powi(epoch as i32 - 1)).max(self.min_lr);
        match self.lr_drop_at {
            Some(f) if epoch > (f64::from(f) * self.epochs as f64 + 1e-4).floor() as usize => lr * self.lr_drop_factor,
            _ => lr,
        }
    }

    /// Momentum of epoch `e` (1-based): rising linearly from `momentum_start` to `momentum` over
    /// `momentum_ramp_epochs`, or, with [`MomentumSchedule::Step`], `momentum_start` for epochs
    /// `1..=momentum_ramp_epochs` and `momentum` after.
    pub fn momentum_at(&self, epoch: usize) -> f32 {
        if self.momentum_ramp_epochs == 0 || self.optimizer == OptimizerKind::Adam {
            return self.momentum;
        }
        if self.momentum_schedule == MomentumSchedule::Step {
            return if epoch <= self.momentum_ramp_epochs { self.momentum_start } else { self.momentum };
        }
        let f = ((epoch - 1) as f32 / self.momentum_ramp_epochs as f32).min(1.0);
        self.momentum_start + f * (self.momentum - self.momentum_start)
    }
}

impl Experiment {
    /// Parses a TOML experiment; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &std::path::Path) -> Result<Self> {
        let exp: Experiment = toml::from_str(text).map_err(|e| Error::format(origin, toml_message(&e, text)))?;
        exp.train.validate().map_err(|e| Error::format(origin, e.to_string()))?;
        Ok(exp)
    }

    /// Reads and parses a TOML experiment file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, path)
    }

    /// The experiment as TOML text.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Data(format!("writing the configuration as TOML: {e}")))
    }
}

/// A TOML error as one readable message: the problem and the line of the file it is on.
fn toml_message(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message().trim_end().to_string();
    match e.span() {
        Some(span) => {
            let line = text.as_bytes()[..span.start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1;
            format!("line {line}: {msg}")
        }
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_minimal_file_takes_the_defaults_and_round_trips() {
        let exp = Experiment::from_toml("[model]\nhidden = [20, 10]\ncompetition = \"lwta:2\"\n", Path::new("x.toml")).unwrap();
        assert_eq!(exp.train, TrainConfig::default());
        let cfg = exp.model.mlp_config(784, 10).unwrap();
        assert_eq!(cfg.hidden[1].competition, Competition::Lwta { block: 2 });
        let again = Experiment::from_toml(&exp.to_toml().unwrap(), Path::new("y.toml")).unwrap();
        assert_eq!(again, exp);
    }

    #[test]
    fn per_layer_competitions_must_match_the_layers() {
        let exp = Experiment::from_toml("[model]\nhidden = [4, 4]\ncompetition = [\"relu\", \"maxout:2\"]\n", Path::new("x.toml")).unwrap();
        assert_eq!(exp.model.mlp_config(3, 2).unwrap().layer_shapes(), vec![(3, 4), (4, 8), (4, 2)]);
        let bad = Experiment::from_toml("[model]\nhidden = [4, 4]\ncompetition = [\"relu\"]\n", Path::new("x.toml")).unwrap();
        assert!(bad.model.mlp_config(3, 2).unwrap_err().to_string().contains("model.competition"));
    }

    #[test]
    fn bad_values_are_refused_with_the_field_name() {
        for (text, field) in [
            ("[train]\ndropout_hidden = 1.0\n", "train.dropout_hidden"),
            ("[train]\ndropout_input = -0.1\n", "train.dropout_input"),
            ("[train]\nlr = 0.0\n", "train.lr"),
            ("[train]\nbatch_size = 0\n", "train.batch_size"),
            ("[train]\nlrr = 0.1\n", "lrr"),
            ("[model]\ncompetition = \"lwta:1\"\n", "lwta"),
        ] {
            let err = Experiment::from_toml(text, Path::new("exp.toml")).unwrap_err().to_string();
            assert!(err.contains(field) && err.contains("exp.toml"), "{text:?} gave {err}");
        }
        let exp = Experiment::from_toml("[model]\nhidden = [10]\ncompetition = \"lwta:3\"\n", Path::new("e.toml")).unwrap();
        let err = exp.model.mlp_config(5, 2).unwrap_err().to_string();
        assert!(err.contains("lwta block size") && err.contains('3') && err.contains("10"), "{err}");
    }

    #[test]
    fn schedules_follow_their_formulas() {
        let t = TrainConfig {
            lr: 0.1,
            lr_decay: 0.5,
            min_lr: 0.02,
            momentum_start: 0.5,
            momentum: 0.9,
            momentum_ramp_epochs: 4,
            ..Default::default()
        };
        assert_eq!(t.lr_at(1), 0.1);
        assert_eq!(t.lr_at(2), 0.05);
        assert_eq!(t.lr_at(4), 0.02);
        assert_eq!(t.momentum_at(1), 0.5);
        assert!((t.momentum_at(3) - 0.7).abs() < 1e-6);
        assert_eq!(t.momentum_at(9), 0.9);
        let step = TrainConfig { momentum_schedule: MomentumSchedule::Step, ..t };
        assert_eq!([1, 4, 5, 9].map(|e| step.momentum_at(e)), [0.5, 0.5, 0.9, 0.9]);
        let exp = Experiment::from_toml("[train]\nmomentum_schedule = \"step\"\n", Path::new("x.toml")).unwrap();
        assert_eq!(exp.train.momentum_schedule, MomentumSchedule::Step);
        let err = Experiment::from_toml("[train]\nmomentum_schedule = \"jump\"\n", Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("jump") && err.contains("step"), "{err}");
        // Paper C's drop: 10 epochs, divided by 10 from the 10th (index 9 of 0..10).
        let drop = TrainConfig { lr: 0.1, lr_decay: 1.0, min_lr: 0.0, epochs: 10, lr_drop_at: Some(0.9), ..Default::default() };
        assert_eq!([1, 9, 10].map(|e| drop.lr_at(e)), [0.1, 0.1, 0.1 * 0.1]);
        let hundred = TrainConfig { epochs: 100, ..drop.clone() };
        assert_eq!([90, 91].map(|e| hundred.lr_at(e)), [0.1, 0.1 * 0.1]);
        let bad = TrainConfig { lr_drop_at: Some(1.5), ..Default::default() }.validate().unwrap_err().to_string();
        assert!(bad.contains("train.lr_drop_at") && bad.contains("1.5"), "{bad}");
    }
}
