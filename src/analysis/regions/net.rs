//! A piecewise linear network in `f64`, the object every region computation reads.
//!
//! [`PwlNet`] is a stack of affine hidden layers, each followed by a piecewise linear competition
//! (ReLU, absolute value, LWTA or maxout), and an optional affine output layer (the logits; no
//! activation). It is built from a `compete` checkpoint ([`PwlNet::from_mlp`]) or from a plain MLP
//! saved from PyTorch ([`PwlNet::load`]). Geometry needs more precision than training, so the weights
//! are widened to `f64` once here.
//!
//! # Activation patterns
//!
//! The activation pattern of an input has one bit per hidden pre-activation, the layers concatenated
//! input side first, packed least significant bit first into `u64` words: the submask convention of
//! [`crate::analysis::submasks`](mod@crate::analysis::submasks) (ReLU: `z > 0`; absolute value: `z >= 0`; LWTA: the block's winner;
//! maxout: the winning piece of each unit; ties go to the first index). Inside one activation region
//! every layer is affine, so the whole network is affine there.
//!
//! # PyTorch files
//!
//! A safetensors file without `compete`'s metadata is read as an `nn.Sequential` of `nn.Linear`
//! layers with parameter-free activations between them, as written by
//! `safetensors.torch.save_file(model.state_dict(), "net.safetensors")`:
//!
//! - tensors named `<i>.weight` (`[outputs, inputs]`, `f32`) and `<i>.bias` (`[outputs]`, optional),
//!   where `<i>` is the module's index in the `Sequential` (`0.weight`, `2.weight`, ... when ReLUs sit
//!   at 1, 3, ...); one common prefix before the index is allowed (`net.0.weight`);
//! - every `Linear` but the last is a hidden layer followed by the competition named on the command
//!   line (`relu`, `abs`, `lwta:<block>`, `maxout:<rank>`); the last `Linear` is the output layer;
//! - for maxout, a hidden `Linear` has `units * rank` outputs, unit `j` owning outputs
//!   `j * rank .. (j + 1) * rank` (`x.view(-1, units, rank).max(-1)` in PyTorch), and the next layer
//!   reads `units` inputs;
//! - anything else (batch norm statistics, convolution kernels, other dtypes) is refused with the
//!   tensor's name.

use std::collections::BTreeMap;
use std::path::Path;

use crate::competition::{Competition, Pwl};
use crate::error::{Error, Result};
use crate::io::load_tensors;
use crate::models::mlp::Mlp;
use crate::models::{DenseStack, Encoder, load_any};

/// A tensor read from a file: shape and values.
type Tensor = (Vec<usize>, Vec<f32>);

/// One affine map `z = W x + b`, `W` stored `[outputs, inputs]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Affine {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Weights, `outputs * inputs`, row `o` holding the weights of output `o`.
    pub weight: Vec<f64>,
    /// Biases, `outputs`.
    pub bias: Vec<f64>,
}

impl Affine {
    /// Builds an affine map, checking the lengths.
    pub fn new(inputs: usize, outputs: usize, weight: Vec<f64>, bias: Vec<f64>) -> Result<Self> {
        if weight.len() != inputs * outputs {
            return Err(Error::shape("affine weight", format!("{} values", weight.len()), format!("{outputs} x {inputs}")));
        }
        if bias.len() != outputs {
            return Err(Error::shape("affine bias", format!("{} values", bias.len()), format!("{outputs}")));
        }
        Ok(Affine { inputs, outputs, weight, bias })
    }

    /// Row `o` of the weights.
    pub fn row(&self, o: usize) -> &[f64] {
        &self.weight[o * self.inputs..(o + 1) * self.inputs]
    }

    /// `W x + b` for one input.
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        (0..self.outputs).map(|o| self.bias[o] + self.row(o).iter().zip(x).map(|(w, v)| w * v).sum::<f64>()).collect()
    }
}

/// One hidden layer: an affine map to the pre-activations, then a competition.
#[derive(Clone, Debug, PartialEq)]
pub struct PwlLayer {
    /// The pre-activation map (`units * pieces` outputs).
    pub affine: Affine,
    /// The competition (ReLU, absolute value, LWTA or maxout).
    pub competition: Competition,
}

impl PwlLayer {
    /// Output units of the layer (pre-activations divided by the maxout rank).
    pub fn units(&self) -> usize {
        self.affine.outputs / self.competition.pieces()
    }

    /// The piecewise linear rules of the layer's competition ([`Competition::pwl`]): how its
    /// winners are chosen and how its outputs read them.
    ///
    /// Panics for a competition without rules (k-sparse, std-abs, batch-coupled or spatial), which
    /// [`PwlNet::new`] refuses.
    pub fn rules(&self) -> Pwl {
        self.competition.pwl().unwrap_or_else(|| unreachable!("PwlNet refuses {} layers when it is built", self.competition))
    }

    /// Applies the competition to pre-activations `z`, writing the outputs and setting the pattern
    /// bits of the winners (see the module docs) starting at bit `offset` of `pattern`.
    pub fn compete(&self, z: &[f64], out: &mut [f64], pattern: &mut [u64], offset: usize) {
        self.rules().forward_with(z, out, |i, won| {
            if won {
                pattern[(offset + i) / 64] |= 1u64 << ((offset + i) % 64);
            }
        });
    }
}

/// Index of the largest value, the first one on ties (the convention of the training code, whose
/// function this is).
pub(crate) fn argmax_first(v: &[f64]) -> usize {
    crate::competition::argmax_first(v)
}

/// A piecewise linear network: hidden layers with competitions, then an optional affine output.
#[derive(Clone, Debug, PartialEq)]
pub struct PwlNet {
    /// Input width `n0`.
    pub input: usize,
    /// Hidden layers, input side first.
    pub hidden: Vec<PwlLayer>,
    /// The output layer (logits), if any.
    pub output: Option<Affine>,
    /// The model's own description when its layers are not dense ones (a convolutional network,
    /// whose convolutions and pools are written out here as dense layers).
    pub name: Option<String>,
}

/// What one forward pass computed: every layer's pre-activations and outputs, and the pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// Pre-activations of each hidden layer.
    pub pre: Vec<Vec<f64>>,
    /// Outputs of each hidden layer (after the competition).
    pub post: Vec<Vec<f64>>,
    /// The output layer's values (logits), if the network has one.
    pub logits: Option<Vec<f64>>,
    /// The activation pattern, [`PwlNet::pattern_bits`] bits packed into `u64` words.
    pub pattern: Vec<u64>,
}

impl PwlNet {
    /// Builds a network, checking that the layers chain and that every competition is piecewise
    /// linear and fits its layer.
    pub fn new(input: usize, hidden: Vec<PwlLayer>, output: Option<Affine>) -> Result<Self> {
        if input == 0 {
            return Err(Error::param("input width", 0, "at least 1"));
        }
        let mut width = input;
        for (l, layer) in hidden.iter().enumerate() {
            if layer.competition.pwl().is_none() {
                return Err(Error::param(
                    format!("hidden layer {} competition", l + 1),
                    layer.competition,
                    "relu, abs, lwta:<block> or maxout:<rank>, a piecewise linear competition of rows (region counting does not \
                     support k-sparse, std-abs, lifetime or spatial layers)",
                ));
            }
            if layer.affine.inputs != width {
                return Err(Error::shape(format!("hidden layer {} inputs", l + 1), layer.affine.inputs.to_string(), width.to_string()));
            }
            let pieces = layer.competition.pieces();
            if layer.affine.outputs == 0 || !layer.affine.outputs.is_multiple_of(pieces) {
                return Err(Error::shape(
                    format!("hidden layer {} outputs", l + 1),
                    layer.affine.outputs.to_string(),
                    format!("a positive multiple of the maxout rank {pieces}"),
                ));
            }
            layer.competition.pre_width(layer.units()).map_err(|e| match e {
                Error::Param { name, value, expected } => Error::Param { name: format!("hidden layer {}: {name}", l + 1), value, expected },
                e => e,
            })?;
            width = layer.units();
        }
        if let Some(out) = &output
            && out.inputs != width
        {
            return Err(Error::shape("output layer inputs", out.inputs.to_string(), width.to_string()));
        }
        Ok(PwlNet { input, hidden, output, name: None })
    }

    /// The network of a `compete` MLP: its hidden layers and its softmax layer's logits.
    pub fn from_mlp(mlp: &Mlp) -> Result<Self> {
        Self::from_encoder(mlp)
    }

    /// The network of any model that is piecewise linear ([`Encoder::dense_stack`]): an MLP, or a
    /// convolutional network with its convolutions, locally connected layers and pools written out
    /// as dense maps.
    pub fn from_encoder(enc: &dyn Encoder) -> Result<Self> {
        let stack = enc.dense_stack().ok_or_else(|| {
            Error::param(
                "model",
                enc.describe(),
                "a piecewise linear network (an MLP or a convolutional network of relu, abs, lwta and maxout layers)",
            )
        })??;
        let mut net = Self::from_stack(&stack)?;
        let name = enc.describe();
        if name != net.describe() {
            net.name = Some(name);
        }
        Ok(net)
    }

    /// Widens a [`DenseStack`] to `f64`.
    pub fn from_stack(stack: &DenseStack) -> Result<Self> {
        let widen = |w: &crate::tensor::Matrix, b: &[f32]| -> Result<Affine> {
            Affine::new(w.cols, w.rows, w.data.iter().map(|&v| v as f64).collect(), b.iter().map(|&v| v as f64).collect())
        };
        let hidden =
            stack.hidden.iter().map(|(w, b, c)| Ok(PwlLayer { affine: widen(w, b)?, competition: *c })).collect::<Result<Vec<_>>>()?;
        let output = stack.output.as_ref().map(|(w, b)| widen(w, b)).transpose()?;
        PwlNet::new(stack.input, hidden, output)
    }

    /// Loads a `compete` checkpoint (any piecewise linear model) or a PyTorch `nn.Sequential` MLP
    /// saved as safetensors (see the module docs for the names expected). `competition` names the
    /// hidden layers' competition of a PyTorch file; a `compete` checkpoint carries its own, and a
    /// different one given here is an error.
    pub fn load(path: &Path, competition: Option<Competition>) -> Result<Self> {
        let (tensors, meta) = load_tensors(path)?;
        if meta.contains_key("format") {
            // A compete file: load_any checks the format (naming the one found and the one expected).
            let (model, _) = load_any(path)?;
            let enc = model.encoder();
            if let Some(c) = competition
                && enc.layers().iter().any(|l| l.competition != c)
            {
                return Err(Error::param(
                    "--competition",
                    c,
                    format!(
                        "nothing, or the checkpoint's own ({}): {} is a compete checkpoint that names its competitions",
                        enc.describe(),
                        path.display()
                    ),
                ));
            }
            return PwlNet::from_encoder(enc).map_err(|e| Error::format(path, e.to_string()));
        }
        let competition = competition.ok_or_else(|| {
            Error::format(
                path,
                "no compete metadata: read as a PyTorch nn.Sequential MLP, which needs the hidden layers' competition \
                 (--competition relu, abs, lwta:<block> or maxout:<rank>)",
            )
        })?;
        Self::from_sequential(path, &tensors, competition)
    }

    /// Builds the network of a PyTorch `nn.Sequential` MLP from its tensors (a `state_dict`, named as
    /// in the module docs) with `competition` after every hidden `Linear`; `path` names the source
    /// in errors (the file, or a label such as `state_dict` for tensors handed over in memory).
    pub fn from_sequential(path: &Path, tensors: &crate::io::TensorMap, competition: Competition) -> Result<Self> {
        // A diverged export must not be counted as if it were a network.
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        for name in names {
            if let Some(i) = tensors[name].1.iter().position(|v| !v.is_finite()) {
                return Err(Error::format(
                    path,
                    format!("tensor {name} holds {} at index {i}: the weights are not finite", tensors[name].1[i]),
                ));
            }
        }
        // Group the tensors by module index: `<prefix><index>.<weight|bias>`.
        let mut prefix: Option<String> = None;
        let mut modules: BTreeMap<usize, (Option<&Tensor>, Option<&Tensor>)> = BTreeMap::new();
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        for name in names {
            let unsupported = || {
                Error::format(
                    path,
                    format!(
                        "tensor {name:?} is not a Linear layer's parameter: expected only `<i>.weight` and `<i>.bias` of an \
                         nn.Sequential of nn.Linear layers with parameter-free activations (relu, abs, lwta, maxout)"
                    ),
                )
            };
            let (head, kind) = name.rsplit_once('.').ok_or_else(unsupported)?;
            if kind != "weight" && kind != "bias" {
                return Err(unsupported());
            }
            let digits = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 {
                return Err(unsupported());
            }
            let (pre, idx) = head.split_at(head.len() - digits);
            if !(pre.is_empty() || pre.ends_with('.')) {
                return Err(unsupported());
            }
            match &prefix {
                None => prefix = Some(pre.to_string()),
                Some(p) if p != pre => {
                    return Err(Error::format(
                        path,
                        format!("tensor {name:?} has the prefix {pre:?}, the others {p:?}: expected one Sequential"),
                    ));
                }
                Some(_) => {}
            }
            let idx: usize = idx.parse().map_err(|_| unsupported())?;
            let entry = modules.entry(idx).or_default();
            let t = &tensors[name];
            if kind == "weight" { entry.0 = Some(t) } else { entry.1 = Some(t) }
        }
        if modules.len() < 2 {
            return Err(Error::format(
                path,
                format!("{} Linear layer(s) found, expected at least 2 (hidden layers, then the output layer)", modules.len()),
            ));
        }
        let prefix = prefix.unwrap_or_default();
        let mut layers = Vec::new();
        let mut width: Option<usize> = None;
        let count = modules.len();
        for (pos, (idx, (w, b))) in modules.into_iter().enumerate() {
            let wname = format!("{prefix}{idx}.weight");
            let (shape, values) = w.ok_or_else(|| Error::format(path, format!("{prefix}{idx}.bias has no {wname}")))?;
            if shape.len() != 2 {
                return Err(Error::format(
                    path,
                    format!(
                        "tensor {wname} has shape {shape:?}: expected [outputs, inputs] of an nn.Linear (convolutions are not supported)"
                    ),
                ));
            }
            let (outputs, inputs) = (shape[0], shape[1]);
            if let Some(wd) = width
                && wd != inputs
            {
                return Err(Error::format(path, format!("tensor {wname} reads {inputs} inputs, but the previous layer gives {wd}")));
            }
            let bias = match b {
                Some((bs, bv)) => {
                    if bs != &vec![outputs] {
                        return Err(Error::format(path, format!("tensor {prefix}{idx}.bias has shape {bs:?}, expected [{outputs}]")));
                    }
                    bv.iter().map(|&v| v as f64).collect()
                }
                None => vec![0.0; outputs],
            };
            let affine = Affine::new(inputs, outputs, values.iter().map(|&v| v as f64).collect(), bias)?;
            let last = pos + 1 == count;
            if !last && !outputs.is_multiple_of(competition.pieces()) {
                return Err(Error::format(
                    path,
                    format!("tensor {wname} has {outputs} outputs, not a multiple of the maxout rank {}", competition.pieces()),
                ));
            }
            width = Some(if last { outputs } else { outputs / competition.pieces() });
            layers.push(affine);
        }
        let output = layers.pop();
        let input = layers.first().map(|a| a.inputs).unwrap_or(0);
        let hidden = layers.into_iter().map(|affine| PwlLayer { affine, competition }).collect();
        PwlNet::new(input, hidden, output).map_err(|e| Error::format(path, e.to_string()))
    }

    /// Total pattern bits: the hidden pre-activations of all layers.
    pub fn pattern_bits(&self) -> usize {
        self.hidden.iter().map(|l| l.affine.outputs).sum()
    }

    /// Number of `u64` words of a packed pattern.
    pub fn pattern_words(&self) -> usize {
        self.pattern_bits().div_ceil(64)
    }

    /// Hidden units of all layers (maxout units, not pieces).
    pub fn hidden_units(&self) -> usize {
        self.hidden.iter().map(|l| l.units()).sum()
    }

    /// Checks that `x` has the input width.
    pub fn check_input(&self, what: &str, x: &[f64]) -> Result<()> {
        if x.len() != self.input {
            return Err(Error::shape(
                what.to_string(),
                format!("{} values", x.len()),
                format!("{} (the network's input width)", self.input),
            ));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::param(what.to_string(), "a non-finite value", "finite numbers"));
        }
        Ok(())
    }

    /// One forward pass: pre-activations, outputs, logits and the activation pattern.
    pub fn forward(&self, x: &[f64]) -> Result<Trace> {
        self.check_input("input", x)?;
        let mut pattern = vec![0u64; self.pattern_words()];
        let mut pre = Vec::with_capacity(self.hidden.len());
        let mut post: Vec<Vec<f64>> = Vec::with_capacity(self.hidden.len());
        let mut offset = 0;
        for layer in &self.hidden {
            let z = layer.affine.apply(post.last().map(Vec::as_slice).unwrap_or(x));
            let mut out = vec![0.0; layer.units()];
            layer.compete(&z, &mut out, &mut pattern, offset);
            offset += layer.affine.outputs;
            pre.push(z);
            post.push(out);
        }
        let logits = self.output.as_ref().map(|o| o.apply(post.last().map(Vec::as_slice).unwrap_or(x)));
        Ok(Trace { pre, post, logits, pattern })
    }

    /// The activation pattern of one input.
    pub fn pattern(&self, x: &[f64]) -> Result<Vec<u64>> {
        Ok(self.forward(x)?.pattern)
    }

    /// A one-line description: `784-1000(relu)-1000(relu)-10`; for a model whose layers are not
    /// dense, its own description and then the dense layers it was written as.
    pub fn describe(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} (as dense layers {})", self.dense_description()),
            None => self.dense_description(),
        }
    }

    fn dense_description(&self) -> String {
        let mut s = self.input.to_string();
        for l in &self.hidden {
            s.push_str(&format!("-{}({})", l.units(), l.competition));
        }
        if let Some(o) = &self.output {
            s.push_str(&format!("-{}", o.outputs));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(inputs: usize, outputs: usize, competition: Competition) -> PwlLayer {
        let weight = (0..inputs * outputs).map(|i| ((i * 37 % 11) as f64 - 5.0) / 4.0).collect();
        let bias = (0..outputs).map(|i| (i % 3) as f64 - 1.0).collect();
        PwlLayer { affine: Affine::new(inputs, outputs, weight, bias).unwrap(), competition }
    }

    #[test]
    fn a_pytorch_file_with_a_nan_weight_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seq.safetensors");
        let mut w0 = vec![0.5f32; 6];
        w0[4] = f32::NAN;
        let tensors = vec![
            ("0.weight".to_string(), vec![3, 2], w0),
            ("0.bias".to_string(), vec![3], vec![0.0; 3]),
            ("2.weight".to_string(), vec![1, 3], vec![1.0; 3]),
            ("2.bias".to_string(), vec![1], vec![0.0]),
        ];
        crate::io::save_tensors(&path, &tensors, Default::default()).unwrap();
        let err = PwlNet::load(&path, Some(Competition::Relu)).unwrap_err().to_string();
        assert!(err.contains("seq.safetensors") && err.contains("0.weight") && err.contains("index 4"), "{err}");
    }

    #[test]
    fn layers_without_piecewise_linear_rules_are_refused_by_name() {
        for c in [
            Competition::KSparse { k: 2 },
            Competition::StdAbs,
            Competition::Lifetime { rate: 0.5 },
            Competition::Spatial,
            Competition::SpatialLifetime { rate: 0.5 },
        ] {
            let e = PwlNet::new(3, vec![layer(3, 4, Competition::Relu), layer(4, 4, c)], None).unwrap_err();
            match &e {
                Error::Param { name, value, .. } => {
                    assert_eq!((name.as_str(), value.clone()), ("hidden layer 2 competition", c.to_string()))
                }
                other => panic!("{c}: expected a parameter error, got {other}"),
            }
            assert!(e.to_string().contains("piecewise linear"), "{e}");
        }
    }

    #[test]
    fn compete_sets_the_winners_of_the_cpu_engine_as_pattern_bits() {
        // Pre-activations with ties and zeros, exact in f32 and f64.
        let z32: Vec<f32> = vec![1.0, 1.0, 0.0, -2.0, 0.5, 3.0, -1.0, -1.0, 0.0, 2.0, 2.0, -0.5];
        let z: Vec<f64> = z32.iter().map(|&v| f64::from(v)).collect();
        for c in [
            Competition::Relu,
            Competition::Abs,
            Competition::Lwta { block: 2 },
            Competition::Lwta { block: 3 },
            Competition::Maxout { rank: 3 },
        ] {
            let l = layer(2, 12, c);
            let (want_out, want_winners) = c.apply(&z32, 1).unwrap();
            let mut out = vec![f64::NAN; want_out.len()];
            // Offset 60: the layer's bits straddle two words.
            let mut pattern = vec![0u64; 2];
            l.compete(&z, &mut out, &mut pattern, 60);
            assert_eq!(out, want_out.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), "{c}");
            let bits: Vec<bool> = (0..12).map(|i| pattern[(60 + i) / 64] >> ((60 + i) % 64) & 1 == 1).collect();
            assert_eq!(bits, want_winners, "{c}");
            assert_eq!(pattern[0] & ((1u64 << 60) - 1), 0, "{c}: bits below the offset are untouched");
        }
    }
}
