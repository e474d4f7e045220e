//! Layers of convolutional and locally connected networks, NCHW `f32`: forward, and backward to
//! weights, biases and input (issue 10; built here layer by layer).
//!
//! Every layer reads a batch of `n` examples of one [`MapShape`] and writes another; data is
//! row-major `[n, channels, height, width]`, so example `b`, channel `c`, row `y`, column `x` is at
//! `((b * channels + c) * height + y) * width + x`. Weights use PyTorch's layouts so that
//! checkpoints load there unchanged.

pub mod conv;
pub mod conv_transpose;
pub mod dense;
pub mod dropout;
pub mod local;
pub mod pool;
pub mod softmax;
pub mod winograd;

use crate::error::{Error, Result};

/// Zero padding of a convolution or locally connected layer, the same for all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Padding {
    /// `(k - 1) / 2` zeros on each side, which keeps the map size at stride 1; needs an odd kernel.
    Same,
    /// This many zeros on each side.
    Zero(usize),
}

impl Padding {
    /// The zeros added on each side for a `kernel x kernel` kernel; `what` names the layer in errors
    /// (an even kernel with [`Padding::Same`] is refused).
    pub fn resolve(self, what: &str, kernel: usize) -> Result<usize> {
        match self {
            Padding::Zero(p) => Ok(p),
            Padding::Same if kernel % 2 == 1 => Ok((kernel - 1) / 2),
            Padding::Same => Err(Error::param(
                format!("{what}.kernel"),
                kernel,
                "an odd kernel with \"same\" padding (an even kernel would need more padding on one side than the other; use an explicit zero padding)",
            )),
        }
    }
}

/// The shape of one example's feature maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MapShape {
    /// Feature maps.
    pub channels: usize,
    /// Rows of each map.
    pub height: usize,
    /// Columns of each map.
    pub width: usize,
}

impl MapShape {
    /// A shape, refusing an empty dimension (naming `what`).
    pub fn new(what: &str, channels: usize, height: usize, width: usize) -> Result<Self> {
        if channels == 0 || height == 0 || width == 0 {
            return Err(Error::param(what, format!("{channels}x{height}x{width}"), "channels, height and width all at least 1"));
        }
        Ok(MapShape { channels, height, width })
    }

    /// Values per example, `channels * height * width`.
    pub fn size(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Values per map, `height * width`.
    pub fn plane(&self) -> usize {
        self.height * self.width
    }
}

impl std::fmt::Display for MapShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}
