//! The layer list of a convolutional network ([`crate::models::conv`]), as written in experiment
//! files and on the command line, and its shape inference.
//!
//! One string per layer, input side first, the number of classes last:
//!
//! | layer | written | meaning |
//! |---|---|---|
//! | convolution | `conv5x5:32`, `conv5x5:32:maxout:2`, `conv8x8/p3:48:maxout:2`, `conv3x3/s2/valid:16:lwta:2` | `maps` output maps of `k x k` filters, then the competition (default `relu`) over the maps; for `maxout:k` the layer computes `maps * k` channels and each output map is the maximum of `k` consecutive ones (Goodfellow et al. 2013) |
//! | locally connected | `local9x9:16`, `local9x9/s1/same:16:relu` | a convolution without weight sharing (paper C, section V): every location has its own filters |
//! | max-pooling | `pool2` (stride 2), `pool4/s2` | `k x k` windows moved by the stride, no padding |
//! | dense | `dense:500`, `dense:240:maxout:5` | a fully connected layer of `units` outputs over the flattened maps |
//! | classes | `10` | the softmax layer; must be the last entry and equal the classes of the data |
//!
//! Options after the kernel, each after a `/`: `s<N>` the stride (default 1; for a pool, its
//! kernel), `p<N>` zero padding of `N` on every side, `same` (the default: `(k - 1) / 2`, which keeps
//! the map size at stride 1 and needs an odd kernel), `valid` (no padding). Competitions are
//! `relu`, `abs`, `lwta:k`, `maxout:k` and the others of [`crate::competition`].
//!
//! ```
//! use compete::layers::MapShape;
//! use compete::models::conv_spec::{ConvNetConfig, LayerSpec};
//!
//! let specs = ["conv5x5:32", "pool2", "conv5x5:64:maxout:2", "pool2", "dense:500", "10"];
//! let config = ConvNetConfig::parse(MapShape::new("input", 1, 28, 28).unwrap(), &specs, 10).unwrap();
//! let shapes = config.shapes().unwrap();
//! assert_eq!(shapes[3].output.to_string(), "64x7x7");
//! assert_eq!(config.describe(), "1x28x28-conv5x5:32(relu)-pool2-conv5x5:64(maxout:2)-pool2-dense:500(relu)-10");
//! assert!("conv5x5:0".parse::<LayerSpec>().is_err());
//! ```

use serde::{Deserialize, Serialize};

use crate::competition::{Competition, Shape};
use crate::error::{Error, Result};
use crate::layers::conv::Conv2dConfig;
use crate::layers::local::LocalConfig;
use crate::layers::pool::MaxPool2d;
use crate::layers::{MapShape, Padding};

/// One layer of a convolutional network (see the module docs for how it is written).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerSpec {
    /// A 2-D convolution of `maps` output maps (times the maxout rank), then the competition.
    Conv {
        /// Output maps after the competition.
        maps: usize,
        /// Side of the square filters.
        kernel: usize,
        /// Step between windows.
        stride: usize,
        /// Zero padding.
        padding: Padding,
        /// The competition over the maps.
        competition: Competition,
    },
    /// A locally connected layer (unshared filters), then the competition.
    Local {
        /// Output maps after the competition.
        maps: usize,
        /// Side of the square windows.
        kernel: usize,
        /// Step between windows.
        stride: usize,
        /// Zero padding.
        padding: Padding,
        /// The competition over the maps.
        competition: Competition,
    },
    /// Max-pooling over `kernel x kernel` windows moved by `stride`.
    Pool {
        /// Side of the windows.
        kernel: usize,
        /// Step between windows.
        stride: usize,
    },
    /// A fully connected layer of `units` outputs (times the maxout rank), then the competition.
    Dense {
        /// Outputs after the competition.
        units: usize,
        /// The competition.
        competition: Competition,
    },
}

impl LayerSpec {
    /// The competition of a layer with parameters (`None` for a pool).
    pub fn competition(&self) -> Option<Competition> {
        match *self {
            LayerSpec::Conv { competition, .. } | LayerSpec::Local { competition, .. } | LayerSpec::Dense { competition, .. } => {
                Some(competition)
            }
            LayerSpec::Pool { .. } => None,
        }
    }

    /// Whether the layer has weights (everything but a pool).
    pub fn has_params(&self) -> bool {
        !matches!(self, LayerSpec::Pool { .. })
    }
}

fn padding_text(p: Padding) -> String {
    match p {
        Padding::Same => String::new(),
        Padding::Zero(0) => "/valid".into(),
        Padding::Zero(p) => format!("/p{p}"),
    }
}

impl std::fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stride = |s: usize| if s == 1 { String::new() } else { format!("/s{s}") };
        match *self {
            LayerSpec::Conv { maps, kernel, stride: s, padding, competition } => {
                write!(f, "conv{kernel}x{kernel}{}{}:{maps}:{competition}", stride(s), padding_text(padding))
            }
            LayerSpec::Local { maps, kernel, stride: s, padding, competition } => {
                write!(f, "local{kernel}x{kernel}{}{}:{maps}:{competition}", stride(s), padding_text(padding))
            }
            LayerSpec::Pool { kernel, stride: s } => {
                if s == kernel {
                    write!(f, "pool{kernel}")
                } else {
                    write!(f, "pool{kernel}/s{s}")
                }
            }
            LayerSpec::Dense { units, competition } => write!(f, "dense:{units}:{competition}"),
        }
    }
}

const GRAMMAR: &str =
    "a layer such as conv5x5:32, conv8x8/p3:48:maxout:2, local9x9:16:relu, pool2, pool4/s2, dense:500 or dense:240:maxout:5";

impl std::str::FromStr for LayerSpec {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::param("model.layers", format!("{text:?}"), format!("{GRAMMAR} ({why})"));
        let s = text.trim();
        let (head, rest) = match s.split_once(':') {
            Some((h, r)) => (h, Some(r)),
            None => (s, None),
        };
        let mut options = head.split('/');
        let name = options.next().unwrap_or("");
        let kind_end = name.find(|c: char| c.is_ascii_digit()).unwrap_or(name.len());
        let (kind, size) = name.split_at(kind_end);
        let number =
            |v: &str, what: &str| -> Result<usize> { v.parse::<usize>().map_err(|_| bad(&format!("{what} {v:?} is not a number"))) };
        let kernel = |size: &str| -> Result<usize> {
            if size.is_empty() {
                return Err(bad("the kernel size is missing"));
            }
            let k = match size.split_once('x') {
                Some((a, b)) => {
                    let (a, b) = (number(a, "kernel")?, number(b, "kernel")?);
                    if a != b {
                        return Err(bad(&format!("kernels are square: {a}x{b}")));
                    }
                    a
                }
                None => number(size, "kernel")?,
            };
            if k == 0 {
                return Err(bad("a kernel of 0"));
            }
            Ok(k)
        };
        let (mut stride, mut padding) = (None, Padding::Same);
        for opt in options {
            match opt {
                "same" => padding = Padding::Same,
                "valid" => padding = Padding::Zero(0),
                o if o.starts_with('s') => stride = Some(number(&o[1..], "stride")?),
                o if o.starts_with('p') => padding = Padding::Zero(number(&o[1..], "padding")?),
                o => return Err(bad(&format!("unknown option /{o}: expected /s<N>, /p<N>, /same or /valid"))),
            }
        }
        if stride == Some(0) {
            return Err(bad("a stride of 0"));
        }
        // `maps[:competition]` after the first colon; the competition may hold colons itself.
        let maps_and_competition = |rest: Option<&str>| -> Result<(usize, Competition)> {
            let rest = rest.ok_or_else(|| bad("the number of maps or units is missing"))?;
            let (count, comp) = match rest.split_once(':') {
                Some((c, comp)) => (c, Some(comp)),
                None => (rest, None),
            };
            let count = number(count, "maps/units")?;
            if count == 0 {
                return Err(bad("0 maps or units"));
            }
            let competition = match comp {
                Some(c) => c.parse::<Competition>().map_err(|e| bad(&e.to_string()))?,
                None => Competition::Relu,
            };
            Ok((count, competition))
        };
        match kind {
            "conv" | "local" => {
                let kernel = kernel(size)?;
                let (maps, competition) = maps_and_competition(rest)?;
                let stride = stride.unwrap_or(1);
                Ok(if kind == "conv" {
                    LayerSpec::Conv { maps, kernel, stride, padding, competition }
                } else {
                    LayerSpec::Local { maps, kernel, stride, padding, competition }
                })
            }
            "pool" => {
                if rest.is_some() {
                    return Err(bad("a pool has no maps or competition"));
                }
                if padding != Padding::Same {
                    return Err(bad("a pool has no padding"));
                }
                let kernel = kernel(size)?;
                Ok(LayerSpec::Pool { kernel, stride: stride.unwrap_or(kernel) })
            }
            "dense" if size.is_empty() => {
                if stride.is_some() || padding != Padding::Same {
                    return Err(bad("a dense layer has no stride or padding"));
                }
                let (units, competition) = maps_and_competition(rest)?;
                Ok(LayerSpec::Dense { units, competition })
            }
            _ => Err(bad("unknown layer type")),
        }
    }
}

impl Serialize for LayerSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LayerSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|e: Error| serde::de::Error::custom(e.to_string()))
    }
}

/// The architecture of a convolutional network: the input maps, the layers and the classes of its
/// softmax layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvNetConfig {
    /// One example's input maps (`1x28x28` for MNIST).
    pub input: MapShape,
    /// The layers, input side first (without the softmax layer).
    pub layers: Vec<LayerSpec>,
    /// Classes of the softmax layer.
    pub classes: usize,
}

/// The shapes one layer reads and writes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerShapes {
    /// One example's input.
    pub input: MapShape,
    /// The pre-activations of a layer with parameters (channels times the maxout rank); the input
    /// for a pool.
    pub pre: MapShape,
    /// One example's output (after the competition, or the pooling).
    pub output: MapShape,
}

impl ConvNetConfig {
    /// Parses a layer list that ends in the number of classes, which must equal `classes` (those of
    /// the data), and checks the whole architecture against `input`.
    pub fn parse<S: AsRef<str>>(input: MapShape, specs: &[S], classes: usize) -> Result<Self> {
        let Some((last, layers)) = specs.split_last() else {
            return Err(Error::param(
                "model.layers",
                "[]",
                format!("a list of layers that ends in the {classes} classes, e.g. [\"conv5x5:32\", \"pool2\", \"{classes}\"]"),
            ));
        };
        let last = last.as_ref().trim();
        match last.parse::<usize>() {
            Ok(c) if c == classes => {}
            Ok(c) => {
                return Err(Error::param(
                    "model.layers",
                    format!("a last entry of {c}"),
                    format!("the {classes} classes of the data as the last entry (the softmax layer)"),
                ));
            }
            Err(_) => {
                return Err(Error::param(
                    "model.layers",
                    format!("a last entry {last:?}"),
                    format!(
                        "the number of classes of the data, {classes}, as the last entry (the softmax layer), e.g. [..., \"dense:500\", \"{classes}\"]"
                    ),
                ));
            }
        }
        let layers = layers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.as_ref().parse::<LayerSpec>().map_err(|e| match e {
                    Error::Param { name, value, expected } => Error::Param { name: format!("{name}[{i}]"), value, expected },
                    e => e,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let config = ConvNetConfig { input, layers, classes };
        config.shapes()?;
        Ok(config)
    }

    /// The shapes of every layer; refuses whatever does not fit (a kernel larger than the padded
    /// input, a rank that does not divide the channels, a layer that leaves no output), naming the
    /// layer.
    pub fn shapes(&self) -> Result<Vec<LayerShapes>> {
        if self.classes < 2 {
            return Err(Error::param("classes", self.classes, "at least 2"));
        }
        MapShape::new("model input", self.input.channels, self.input.height, self.input.width)?;
        let mut shape = self.input;
        let mut out = Vec::with_capacity(self.layers.len());
        for (i, spec) in self.layers.iter().enumerate() {
            let named = |e: Error| match e {
                Error::Param { name, value, expected } => {
                    Error::Param { name: format!("model.layers[{i}] {spec}: {name}"), value, expected }
                }
                Error::Shape { what, got, expected } => Error::Shape { what: format!("model.layers[{i}] {spec}: {what}"), got, expected },
                e => e,
            };
            let s = layer_shapes(spec, shape).map_err(named)?;
            shape = s.output;
            out.push(s);
        }
        Ok(out)
    }

    /// Input values per example.
    pub fn input_width(&self) -> usize {
        self.input.size()
    }

    /// A one-line description: `1x28x28-conv5x5:32(relu)-pool2-dense:500(relu)-10`.
    pub fn describe(&self) -> String {
        let mut s = self.input.to_string();
        for l in &self.layers {
            let text = l.to_string();
            match l.competition() {
                Some(c) => {
                    let suffix = format!(":{c}");
                    let base = text.strip_suffix(&suffix).unwrap_or(&text);
                    s.push_str(&format!("-{base}({c})"));
                }
                None => s.push_str(&format!("-{text}")),
            }
        }
        s.push_str(&format!("-{}", self.classes));
        s
    }
}

/// The competition's shape for pre-activations `pre` of a layer (rows for a dense layer).
pub fn competition_shape(spec: &LayerSpec, pre: MapShape) -> Shape {
    match spec {
        LayerSpec::Dense { .. } => Shape::Rows { width: pre.size() },
        _ => Shape::Maps { channels: pre.channels, height: pre.height, width: pre.width },
    }
}

/// The configuration of the convolution a conv spec describes, reading `in_channels`.
pub fn conv_config(spec: &LayerSpec, in_channels: usize) -> Option<Conv2dConfig> {
    match *spec {
        LayerSpec::Conv { maps, kernel, stride, padding, competition } => {
            Some(Conv2dConfig { in_channels, out_channels: maps * competition.pieces(), kernel, stride, padding })
        }
        _ => None,
    }
}

/// The configuration of the locally connected layer a local spec describes.
pub fn local_config(spec: &LayerSpec, in_channels: usize) -> Option<LocalConfig> {
    match *spec {
        LayerSpec::Local { maps, kernel, stride, padding, competition } => {
            Some(LocalConfig { in_channels, out_channels: maps * competition.pieces(), kernel, stride, padding })
        }
        _ => None,
    }
}

fn layer_shapes(spec: &LayerSpec, input: MapShape) -> Result<LayerShapes> {
    let pre = match *spec {
        LayerSpec::Conv { .. } => {
            let c = conv_config(spec, input.channels).unwrap_or_else(|| unreachable!());
            check_pieces(spec)?;
            crate::layers::conv::Conv2d { config: c, weight: Vec::new(), bias: Vec::new() }.output_shape(input)?
        }
        LayerSpec::Local { .. } => {
            check_pieces(spec)?;
            local_config(spec, input.channels).unwrap_or_else(|| unreachable!()).output_shape(input)?
        }
        LayerSpec::Pool { kernel, stride } => {
            let output = MaxPool2d::new(kernel, stride)?.output_shape(input)?;
            return Ok(LayerShapes { input, pre: input, output });
        }
        LayerSpec::Dense { units, competition } => {
            let pre = competition.pre_width(units)?;
            MapShape::new("dense layer", pre, 1, 1)?
        }
    };
    let competition = spec.competition().unwrap_or(Competition::Relu);
    if competition.batch_coupled() {
        // Batch-coupled competitions are the autoencoders' (paper B), trained there; a classifier
        // here would see them act as ReLU at test time only.
        return Err(Error::param(
            "competition",
            competition,
            "a competition of single examples (relu, abs, lwta:k, maxout:k, ...) in a classifier",
        ));
    }
    let output = match competition.output_shape(competition_shape(spec, pre))? {
        Shape::Rows { width } => MapShape::new("dense layer", width, 1, 1)?,
        Shape::Maps { channels, height, width } => MapShape::new("maps", channels, height, width)?,
    };
    Ok(LayerShapes { input, pre, output })
}

fn check_pieces(spec: &LayerSpec) -> Result<()> {
    match *spec {
        LayerSpec::Conv { maps, competition, .. } | LayerSpec::Local { maps, competition, .. } => {
            let pieces = competition.pieces();
            if pieces == 0 {
                return Err(Error::param("maxout rank", 0, "at least 1"));
            }
            maps.checked_mul(pieces).map(|_| ()).ok_or_else(|| Error::param("maps", maps, "a count that fits in memory"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mnist() -> MapShape {
        MapShape::new("input", 1, 28, 28).unwrap()
    }

    #[test]
    fn specs_round_trip_through_their_text() {
        for s in [
            "conv5x5:32:relu",
            "conv8x8/p3:48:maxout:2",
            "conv3x3/s2/valid:16:lwta:2",
            "local9x9:16:relu",
            "pool2",
            "pool4/s2",
            "dense:500:relu",
            "dense:240:maxout:5",
        ] {
            let spec: LayerSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
            assert_eq!(spec.to_string().parse::<LayerSpec>().unwrap(), spec);
        }
        assert_eq!("conv5:8".parse::<LayerSpec>().unwrap().to_string(), "conv5x5:8:relu");
        assert_eq!("conv5x5/same:8".parse::<LayerSpec>().unwrap().to_string(), "conv5x5:8:relu");
    }

    #[test]
    fn bad_specs_name_the_problem() {
        for (s, why) in [
            ("conv5x3:8", "square"),
            ("conv5x5:0", "0 maps"),
            ("conv5x5/s0:8", "stride of 0"),
            ("conv5x5", "missing"),
            ("pool2:4", "no maps"),
            ("dense", "missing"),
            ("fc:10", "unknown layer"),
            ("conv5x5:8:maxout:0", "maxout rank"),
            ("conv5x5/q3:8", "unknown option"),
        ] {
            let err = s.parse::<LayerSpec>().unwrap_err().to_string();
            assert!(err.contains(why) && err.contains("model.layers"), "{s}: {err}");
        }
    }

    #[test]
    fn the_list_must_end_in_the_classes_and_fit_the_input() {
        let err = ConvNetConfig::parse(mnist(), &["conv5x5:8", "pool2"], 10).unwrap_err().to_string();
        assert!(err.contains("last entry") && err.contains("10 classes") || err.contains("classes of the data"), "{err}");
        let err = ConvNetConfig::parse(mnist(), &["conv5x5:8", "9"], 10).unwrap_err().to_string();
        assert!(err.contains("9") && err.contains("10 classes"), "{err}");
        let err = ConvNetConfig::parse(MapShape::new("input", 1, 8, 8).unwrap(), &["conv9x9/valid:8", "10"], 10).unwrap_err().to_string();
        assert!(err.contains("model.layers[0]") && err.contains("kernel") && err.contains("8x8"), "{err}");
        let err = ConvNetConfig::parse(mnist(), &["conv5x5:6", "conv3x3:4:lwta:3", "10"], 10).unwrap_err().to_string();
        assert!(err.contains("model.layers[1]") && err.contains("lwta"), "{err}");
        let err = ConvNetConfig::parse(mnist(), &["pool2", "pool2", "pool2", "pool2", "pool2", "10"], 10).unwrap_err().to_string();
        assert!(err.contains("model.layers[4]") && err.contains("max-pool kernel"), "{err}");
        let err = ConvNetConfig::parse(mnist(), &["conv4x4:8", "10"], 10).unwrap_err().to_string();
        assert!(err.contains("odd kernel"), "{err}");
        assert!(ConvNetConfig::parse(mnist(), &["conv5x5:8:lifetime:0.05", "10"], 10).is_err());
    }

    #[test]
    fn goodfellow_mnist_maxout_shapes() {
        let specs =
            ["conv8x8/valid:48:maxout:2", "pool4/s2", "conv8x8/p3:48:maxout:2", "pool4/s2", "conv5x5/p3:24:maxout:4", "pool2", "10"];
        let c = ConvNetConfig::parse(mnist(), &specs, 10).unwrap();
        let s = c.shapes().unwrap();
        let text: Vec<String> = s.iter().map(|l| format!("{}>{}", l.pre, l.output)).collect();
        assert_eq!(text, ["96x21x21>48x21x21", "48x21x21>48x9x9", "96x8x8>48x8x8", "48x8x8>48x3x3", "96x5x5>24x5x5", "24x5x5>24x2x2"]);
        for side in [16, 8] {
            let input = MapShape::new("input", 1, side, side).unwrap();
            let c = ConvNetConfig::parse(input, &["conv3x3:8:maxout:2", "pool2", "dense:20", "4"], 4).unwrap();
            assert_eq!(c.shapes().unwrap()[1].output, MapShape::new("o", 8, side / 2, side / 2).unwrap());
        }
    }
}
