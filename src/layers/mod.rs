//! Layers of convolutional and locally connected networks, NCHW `f32`: forward, and backward to
//! weights, biases and input (issue 10; built here layer by layer).
//!
//! Every layer reads a batch of `n` examples of one [`MapShape`] and writes another; data is
//! row-major `[n, channels, height, width]`, so example `b`, channel `c`, row `y`, column `x` is at
//! `((b * channels + c) * height + y) * width + x`. Weights use PyTorch's layouts so that
//! checkpoints load there unchanged.

pub mod conv;
pub mod conv_transpose;

use crate::error::{Error, Result};

pub mod local;
pub mod pool;

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
