//! # compete
//!
//! A toolkit for **locally competitive neural networks**: networks whose units compete in small
//! groups (ReLU against zero, LWTA blocks, maxout pieces, winner-take-all across a mini-batch or a
//! feature map), so that each input switches on its own subnetwork.
//!
//! Every competition returns its output *and* its winners (see [`competition`]), so every model can
//! hand out its *submasks*, the binary codes of paper A. The same winners, layer by layer, are the
//! activation patterns whose regions [`analysis::regions`] bounds, constructs and counts exactly
//! (paper E).
//!
//! ```
//! use compete::competition::Competition;
//! use compete::models::mlp::{Mlp, MlpConfig};
//! use compete::tensor::Matrix;
//!
//! // A 4-6-3 network with one LWTA layer (blocks of 2), initialised from seed 7.
//! let config = MlpConfig::new(4, &[(6, Competition::Lwta { block: 2 })], 3).unwrap();
//! let net = Mlp::new(config, 7).unwrap();
//! let x = Matrix::from_vec(2, 4, vec![0.1, 0.2, 0.3, 0.4, 1.0, 0.0, 0.0, 1.0]).unwrap();
//! let probs = net.predict_proba(&x).unwrap();
//! assert_eq!((probs.rows, probs.cols), (2, 3));
//! ```

#![warn(missing_docs)]

pub mod analysis;
// The command-line flags' doc comments are clap's help text, written for a terminal: a `<name>`
// placeholder there is meant literally, not as HTML.
#[allow(rustdoc::invalid_html_tags)]
pub mod cli;
pub mod competition;
pub mod data;
pub mod error;
pub mod eval;
pub mod experiments;
pub mod io;
pub mod layers;
pub mod models;
pub mod params;
pub mod report;
pub mod retrieval;
pub mod tensor;
pub mod train;

pub use error::{Error, Result};
