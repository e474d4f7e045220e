//! Checkpoints in safetensors, loadable from PyTorch.
//!
//! An MLP checkpoint holds, for every layer `i` (hidden layers first, the softmax layer last),
//! `layers.{i}.weight` as `[outputs, inputs]` and `layers.{i}.bias` as `[outputs]`, all `f32`: the
//! layout of `torch.nn.Linear`. The header's metadata holds `format = "compete-mlp-v1"` and
//! `config`, the architecture as JSON (see [`MlpConfig`]). In PyTorch:
//!
//! ```python
//! from safetensors.torch import load_file
//! tensors = load_file("best.safetensors")   # {"layers.0.weight": tensor(...), ...}
//! ```
//!
//! Optimizer state (momentum or Adam moments) is a second file of the same layout with the prefix
//! `state.` so that an interrupted run resumes exactly where it stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::error::{Error, Result};
use crate::models::mlp::{Layer, Mlp, MlpConfig};
use crate::tensor::Matrix;

/// Metadata value of `format` in an MLP checkpoint.
pub const MLP_FORMAT: &str = "compete-mlp-v1";

/// A named `f32` tensor: its shape and values.
pub type Named = (String, Vec<usize>, Vec<f32>);

/// Tensors read from a file, by name: shape and values.
pub type TensorMap = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Writes named `f32` tensors and string metadata to a safetensors file, atomically.
pub fn save_tensors(path: &Path, tensors: &[Named], metadata: HashMap<String, String>) -> Result<()> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, shape, _), b) in tensors.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, shape.clone(), b).map_err(|e| Error::format(path, format!("tensor {name}: {e}")))?;
        views.push((name.clone(), view));
    }
    let data = safetensors::serialize(views, Some(metadata)).map_err(|e| Error::format(path, format!("serializing: {e}")))?;
    crate::report::io::write_atomic(path, &data)
}

/// Reads every `f32` tensor and the metadata of a safetensors file.
pub fn load_tensors(path: &Path) -> Result<(TensorMap, HashMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| Error::format(path, format!("not a safetensors file: {e}")))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| Error::format(path, format!("not a safetensors file: {e}")))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(Error::format(path, format!("tensor {name} has dtype {:?}, expected F32", view.dtype())));
        }
        let values = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok((out, meta.metadata().clone().unwrap_or_default()))
}

/// The tensors of an MLP's parameters (or of anything shaped like them, such as gradients or
/// momentum buffers), named `{prefix}layers.{i}.weight` / `.bias`.
pub fn mlp_tensors(layers: &[Layer], prefix: &str) -> Vec<Named> {
    let mut t = Vec::with_capacity(2 * layers.len());
    for (i, l) in layers.iter().enumerate() {
        t.push((format!("{prefix}layers.{i}.weight"), vec![l.weight.rows, l.weight.cols], l.weight.data.clone()));
        t.push((format!("{prefix}layers.{i}.bias"), vec![l.bias.len()], l.bias.clone()));
    }
    t
}

/// Saves an MLP checkpoint (see the module docs for the layout).
pub fn save_mlp(path: &Path, mlp: &Mlp, extra: &[(&str, String)]) -> Result<()> {
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), MLP_FORMAT.to_string());
    meta.insert("config".to_string(), serde_json::to_string(&mlp.config).map_err(|e| Error::format(path, e.to_string()))?);
    for (k, v) in extra {
        meta.insert(k.to_string(), v.clone());
    }
    save_tensors(path, &mlp_tensors(&mlp.layers, ""), meta)
}

/// Loads an MLP checkpoint written by [`save_mlp`]; every tensor's shape is checked against the
/// architecture stored with it.
pub fn load_mlp(path: &Path) -> Result<Mlp> {
    let (tensors, meta) = load_tensors(path)?;
    match meta.get("format").map(String::as_str) {
        Some(MLP_FORMAT) => {}
        Some(other) => return Err(Error::format(path, format!("checkpoint format {other:?}, expected {MLP_FORMAT:?}"))),
        None => {
            return Err(Error::format(
                path,
                format!("no `format` in the metadata: not a compete MLP checkpoint (expected {MLP_FORMAT:?})"),
            ));
        }
    }
    let config: MlpConfig = match meta.get("config") {
        Some(c) => serde_json::from_str(c).map_err(|e| Error::format(path, format!("metadata `config`: {e}")))?,
        None => return Err(Error::format(path, "no `config` in the metadata")),
    };
    config.validate().map_err(|e| Error::format(path, format!("metadata `config`: {e}")))?;
    let layers = read_layers(path, &tensors, &config, "")?;
    Mlp::from_layers(config, layers).map_err(|e| Error::format(path, e.to_string()))
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

/// Reads `{prefix}layers.{i}.weight/bias` for every layer of `config`, checking shapes.
pub fn read_layers(path: &Path, tensors: &TensorMap, config: &MlpConfig, prefix: &str) -> Result<Vec<Layer>> {
    let mut layers = Vec::new();
    for (i, (fan_in, outputs)) in config.layer_shapes().into_iter().enumerate() {
        let get = |name: String, shape: Vec<usize>| -> Result<Vec<f32>> {
            let (s, v) = tensors.get(&name).ok_or_else(|| Error::format(path, format!("tensor {name} is missing")))?;
            if *s != shape {
                return Err(Error::format(path, format!("tensor {name} has shape {s:?}, expected {shape:?} for this architecture")));
            }
            Ok(v.clone())
        };
        let weight = get(format!("{prefix}layers.{i}.weight"), vec![outputs, fan_in])?;
        let bias = get(format!("{prefix}layers.{i}.bias"), vec![outputs])?;
        layers.push(Layer { weight: Matrix { rows: outputs, cols: fan_in, data: weight }, bias });
    }
    Ok(layers)
}

/// A one-line description of an architecture: `784-1000(relu)-1000(relu)-10`.
pub fn describe(config: &MlpConfig) -> String {
    let mut s = config.input.to_string();
    for h in &config.hidden {
        s.push_str(&format!("-{}({})", h.units, h.competition));
    }
    s.push_str(&format!("-{}", config.classes));
    s
}

/// Paths of the checkpoints of a run folder.
#[derive(Clone, Debug)]
pub struct RunPaths {
    /// The run folder.
    pub dir: PathBuf,
}

impl RunPaths {
    /// The checkpoint written after every epoch.
    pub fn last(&self) -> PathBuf {
        self.dir.join("checkpoints").join("last.safetensors")
    }
    /// Optimizer state matching [`RunPaths::last`].
    pub fn last_state(&self) -> PathBuf {
        self.dir.join("checkpoints").join("last.state.safetensors")
    }
    /// The checkpoint with the lowest validation error so far.
    pub fn best(&self) -> PathBuf {
        self.dir.join("checkpoints").join("best.safetensors")
    }
    /// Training progress (epoch, history, best so far) as JSON.
    pub fn progress(&self) -> PathBuf {
        self.dir.join("progress.json")
    }
    /// The full configuration of the run, as TOML.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// Metrics of every epoch and the final summary, as JSON.
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.json")
    }
    /// The learning curve.
    pub fn curve(&self) -> PathBuf {
        self.dir.join("learning_curve.png")
    }
    /// Flip rates per epoch (when tracked), as CSV.
    pub fn flips_csv(&self) -> PathBuf {
        self.dir.join("flips.csv")
    }
    /// Flip rates per epoch (when tracked), as a curve.
    pub fn flips_png(&self) -> PathBuf {
        self.dir.join("flips.png")
    }
}
