//! The local competitions of locally competitive networks, behind one contract.
//!
//! Every competition takes the pre-activations `z` of a mini-batch and returns two things: its
//! output, and its **winners**, a boolean mask with the shape of `z` telling which pre-activations
//! won (paper A, section 3: the *submask*). The winners are also what the backward pass needs: the
//! gradient flows to a pre-activation only where it won (std-abs, whose gradient couples the units
//! of a row, also reads `z`).
//!
//! # The contract
//!
//! - **Shape** ([`Shape`]): one example's pre-activations are either a row of `width` units
//!   ([`Shape::Rows`]) or `channels` feature maps of `height x width` ([`Shape::Maps`], NCHW: the
//!   batch is `z[((b * channels + c) * height + y) * width + x]`).
//! - **Mode** ([`Mode`]): training or evaluation. Paper B turns the sparsity of its autoencoders off
//!   at test time (section 2: "At test time, we turn off the sparsity constraint and the output of
//!   the deep ReLU network will be the final representation"; section 3.1: "we simply turn off the
//!   sparsity regularizer and use ReLU convolutions"), so in [`Mode::Eval`] the lifetime, spatial and
//!   spatial-lifetime competitions act as ReLU ([`Competition::in_mode`]); every other competition
//!   is the same in both modes.
//! - **Batch coupling** ([`Competition::batch_coupled`]): lifetime and spatial-lifetime compete
//!   across the examples of the mini-batch, so their batch must never be split (by threads or
//!   otherwise). [`Competition::forward_par`] and [`Competition::backward_par`] split a batch across
//!   rayon threads, in fixed chunks of examples, only when the competition is not coupled; the
//!   result never depends on the thread count.
//! - **Passes**: [`Competition::forward_shaped`] and [`Competition::backward_shaped`];
//!   [`Competition::forward`], [`Competition::backward`] and [`Competition::apply`] are the row-wise,
//!   training-mode case (refused for spatial competitions, which need maps, and, for `backward`, for
//!   std-abs, which needs its input).
//! - **Piecewise linear rules** ([`Competition::pwl`], [`Pwl`]): ReLU, absolute value, LWTA and
//!   maxout are described by how winners are chosen and how outputs read them; the CPU engine, the
//!   burn reference and the region code all derive their behaviour from these rules.
//!
//! # The competitions
//!
//! | competition (parsed as) | output | winners | on maps | paper |
//! |---|---|---|---|---|
//! | [`Competition::Relu`] (`relu`) | `max(z, 0)` | `z > 0` | elementwise | A, section 2 |
//! | [`Competition::Lwta`] (`lwta:k`) | `z` if `z` is the maximum of its block of `k`, else 0 | the block maxima | blocks of `k` consecutive channels at each position | A, section 2 |
//! | [`Competition::Maxout`] (`maxout:k`) | the maximum of each block of `k` (width shrinks by `k`) | the pieces that gave the maximum | blocks of `k` channels at each position: `channels / k` output maps (Goodfellow et al. 2013, maxout over channels) | A, section 2 (submask: section 3.1) |
//! | [`Competition::Abs`] (`abs`) | `\|z\|` | `z >= 0` (which linear piece is used) | elementwise | C, section III.A (no equation number) |
//! | [`Competition::KSparse`] (`ksparse:k`) | `z` for the `k` largest of each example, else 0 | those `k` | the `k` largest of the example's `channels * height * width` values | B, section 5 (population sparsity of k-sparse autoencoders) |
//! | [`Competition::StdAbs`] (`std-abs`) | `‖z‖ (\|z\| - mean\|z\|) / ‖\|z\| - mean\|z\|‖` per example ([`std_abs`]) | `z >= 0` | statistics over the whole example | C, section III.A, eq. 7 |
//! | [`Competition::Lifetime`] (`lifetime:rate`) | `relu(z)` kept for the `ceil(rate * batch)` largest examples of each unit ([`lifetime`]) | the kept positive values | each channel and position is a unit | B, section 2 |
//! | [`Competition::Spatial`] (`spatial`) | the largest positive value of each feature map ([`spatial`]) | that value | needs maps | B, section 3.1 |
//! | [`Competition::SpatialLifetime`] (`spatial-lifetime:rate`) | spatial, then the `ceil(rate * batch)` largest spatial winners of each map across the batch ([`spatial`]) | the kept winners | needs maps | B, section 3.2 |
//!
//! In [`Mode::Eval`] the last three are [`Competition::Relu`] (paper B, sections 2 and 3.1, see
//! above). On rows, lwta, maxout and k-sparse act on the row exactly as the table says; std-abs and
//! k-sparse on maps act on the flattened example.
//!
//! **Ties** are broken deterministically, always in favour of the lowest index: in an LWTA or maxout
//! block whose maximum is reached twice, only the first piece wins (and gets the gradient); in
//! k-sparse, lifetime and spatial competitions, among equal values the earlier unit, position or
//! example is kept. NaN never wins over a number. A ReLU unit with `z == 0` exactly has not won;
//! lifetime and spatial competitions apply a ReLU first, so their winners are positive.
//!
//! ```
//! use compete::competition::{Competition, Mode, Shape};
//! let lwta = Competition::Lwta { block: 2 };
//! let z = [1.0, 3.0, -2.0, -5.0];
//! let (out, winners) = lwta.apply(&z, 1).unwrap();
//! assert_eq!(out, vec![0.0, 3.0, -2.0, 0.0]);
//! assert_eq!(winners, vec![false, true, true, false]);
//!
//! // Maxout over channels: one example of 2 maps of 1 x 2, rank 2 -> 1 map.
//! let maxout = Competition::Maxout { rank: 2 };
//! let maps = Shape::Maps { channels: 2, height: 1, width: 2 };
//! let mut out = [0.0; 2];
//! let mut winners = [false; 4];
//! maxout.forward_shaped(&[1.0, 5.0, 2.0, -1.0], 1, maps, Mode::Train, &mut out, &mut winners).unwrap();
//! assert_eq!(out, [2.0, 5.0]);
//! assert_eq!(winners, [false, true, true, false]);
//!
//! // Lifetime sparsity couples the batch and is off at test time.
//! let lifetime: Competition = "lifetime:0.5".parse().unwrap();
//! assert!(lifetime.batch_coupled());
//! assert_eq!(lifetime.in_mode(Mode::Eval), Competition::Relu);
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

pub mod lifetime;
mod pwl;
mod select;
mod shaped;
pub mod spatial;
pub mod std_abs;
#[cfg(test)]
mod tests;

pub(crate) use pwl::argmax_first;
pub use pwl::{Pwl, Read, Real, Select};
pub use shaped::{Mode, PAR_ROWS, Shape};

/// A local competition among a layer's pre-activations (see the module docs for the table).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Competition {
    /// Rectified linear: each unit competes with the constant 0.
    Relu,
    /// Local winner-take-all in blocks of `block` units: only the block maximum passes.
    Lwta {
        /// Units per block (at least 2; must divide the layer width, or the channels of maps).
        block: usize,
    },
    /// Maxout of rank `rank`: each unit outputs the maximum of its `rank` pieces.
    Maxout {
        /// Pieces per unit (at least 1).
        rank: usize,
    },
    /// Absolute value, a magnitude-preserving activation (paper C).
    Abs,
    /// Population k-sparse: the `k` largest pre-activations of each example pass.
    KSparse {
        /// How many units pass per example (at least 1, at most the width).
        k: usize,
    },
    /// Standardized absolute value with the layer's magnitude preserved (paper C, eq. 7; see
    /// [`std_abs`]).
    StdAbs,
    /// Lifetime winner-take-all: each unit keeps its largest activations across the mini-batch
    /// (paper B, section 2; see [`lifetime`]). Batch-coupled; ReLU in evaluation mode.
    Lifetime {
        /// The fraction of the mini-batch each unit keeps, in `(0, 1]` (paper B: 5%).
        rate: f32,
    },
    /// Spatial winner-take-all: the largest activity of each feature map (paper B, section 3.1; see
    /// [`spatial`]). Needs feature maps; ReLU in evaluation mode.
    Spatial,
    /// Spatial, then lifetime sparsity of each feature map across the mini-batch (paper B, section
    /// 3.2; see [`spatial`]). Needs feature maps; batch-coupled; ReLU in evaluation mode.
    SpatialLifetime {
        /// The fraction of the mini-batch each feature map keeps, in `(0, 1]`.
        rate: f32,
    },
}

impl Competition {
    /// How many pre-activations one output unit of this competition reads (the maxout rank, else 1).
    pub fn pieces(&self) -> usize {
        match self {
            Competition::Maxout { rank } => *rank,
            _ => 1,
        }
    }

    /// The piecewise linear rules of this competition (see [`Pwl`]): `Some` for ReLU, absolute
    /// value, LWTA and maxout, which are row-local and piecewise linear; `None` for k-sparse,
    /// std-abs and the batch-coupled and spatial competitions.
    pub fn pwl(&self) -> Option<Pwl> {
        match *self {
            Competition::Relu => Some(Pwl { select: Select::Positive, read: Read::Gate { loser: 0.0 } }),
            Competition::Abs => Some(Pwl { select: Select::NonNegative, read: Read::Gate { loser: -1.0 } }),
            Competition::Lwta { block } => Some(Pwl { select: Select::BlockMax { k: block }, read: Read::Gate { loser: 0.0 } }),
            Competition::Maxout { rank } => Some(Pwl { select: Select::BlockMax { k: rank }, read: Read::Pool { k: rank } }),
            Competition::KSparse { .. }
            | Competition::StdAbs
            | Competition::Lifetime { .. }
            | Competition::Spatial
            | Competition::SpatialLifetime { .. } => None,
        }
    }

    /// Whether the competition couples the examples of a mini-batch in training mode (lifetime and
    /// spatial-lifetime): such a batch must be competed whole, never split across threads.
    pub fn batch_coupled(&self) -> bool {
        matches!(self, Competition::Lifetime { .. } | Competition::SpatialLifetime { .. })
    }

    /// The competition that acts in `mode`: in [`Mode::Eval`], lifetime, spatial and
    /// spatial-lifetime sparsity are turned off and the layer is a plain ReLU (paper B, sections 2
    /// and 3.1); everything else is itself in both modes.
    pub fn in_mode(&self, mode: Mode) -> Competition {
        match (mode, self) {
            (Mode::Eval, Competition::Lifetime { .. } | Competition::Spatial | Competition::SpatialLifetime { .. }) => Competition::Relu,
            _ => *self,
        }
    }

    /// Whether the backward pass reads the pre-activations `z` (std-abs), not only the winners.
    pub fn backward_needs_input(&self) -> bool {
        matches!(self, Competition::StdAbs)
    }

    /// Checks the competition's own parameters and that it fits a dense layer of `units` output
    /// units; returns the number of pre-activations the layer must compute (`units * rank` for
    /// maxout). Spatial competitions need feature maps and are refused here (see
    /// [`Competition::output_shape`]).
    pub fn pre_width(&self, units: usize) -> Result<usize> {
        match *self {
            Competition::Lwta { block } => {
                if block < 2 {
                    return Err(Error::param("lwta block size", block, "at least 2 (a block of 1 is a linear unit)"));
                }
                if !units.is_multiple_of(block) {
                    return Err(Error::param("lwta block size", block, format!("a divisor of the layer width {units}")));
                }
                Ok(units)
            }
            Competition::Maxout { rank } => {
                if rank == 0 {
                    return Err(Error::param("maxout rank", rank, "at least 1"));
                }
                units
                    .checked_mul(rank)
                    .ok_or_else(|| Error::param("maxout rank", rank, format!("small enough that {units} x rank fits in memory")))
            }
            Competition::KSparse { k } => {
                if k == 0 || k > units {
                    return Err(Error::param("k-sparse k", k, format!("between 1 and the layer width {units}")));
                }
                Ok(units)
            }
            Competition::Lifetime { rate } => {
                lifetime::check_rate(rate)?;
                Ok(units)
            }
            Competition::Spatial | Competition::SpatialLifetime { .. } => Err(Error::param(
                "competition",
                self,
                "a competition of rows (relu, abs, lwta, maxout, ksparse, std-abs, lifetime): spatial sparsity acts within \
                 feature maps and needs a convolutional layer",
            )),
            Competition::Relu | Competition::Abs | Competition::StdAbs => Ok(units),
        }
    }

    /// Forward pass over `rows` examples in training mode: `z` holds `rows * pre_width`
    /// pre-activations; writes `rows * pre_width / pieces` outputs into `out` and one flag per
    /// pre-activation into `winners`. The row-wise case of [`Competition::forward_shaped`]
    /// (spatial competitions, which need maps, are refused).
    ///
    /// Buffers of the wrong length and parameters that do not fit the width are errors.
    pub fn forward(&self, z: &[f32], rows: usize, out: &mut [f32], winners: &mut [bool]) -> Result<()> {
        let pre = self.check_buffers(z.len(), rows, out.len(), winners.len())?;
        self.forward_shaped(z, rows, Shape::Rows { width: pre }, Mode::Train, out, winners)
    }

    /// Backward pass: the gradient with respect to the pre-activations, from the gradient with
    /// respect to the output and the winners of the forward pass. It flows only through winners
    /// (for [`Competition::Abs`], with the sign of the piece used). Std-abs needs its input and is
    /// refused here: use [`Competition::backward_shaped`].
    pub fn backward(&self, grad_out: &[f32], winners: &[bool], rows: usize, grad_pre: &mut [f32]) -> Result<()> {
        let pieces = self.pieces();
        if pieces == 0 {
            return Err(Error::param("maxout rank", 0, "at least 1"));
        }
        if winners.len() != grad_pre.len()
            || grad_out.len().checked_mul(pieces) != Some(winners.len())
            || (rows > 0 && !winners.len().is_multiple_of(rows))
        {
            return Err(Error::shape(
                format!("{self} backward"),
                format!("grad_out {}, winners {}, grad_pre {}", grad_out.len(), winners.len(), grad_pre.len()),
                format!("winners = grad_pre = {pieces} x grad_out"),
            ));
        }
        if let Some(rule) = self.pwl() {
            rule.backward(grad_out, winners, grad_pre);
            return Ok(());
        }
        match self {
            Competition::StdAbs => Err(Error::param(
                "competition",
                self,
                "a competition whose gradient is a mask of the winners: std-abs needs its input, use backward_shaped",
            )),
            _ => lifetime::route(&format!("{self} backward"), grad_out, winners, grad_pre),
        }
    }

    /// Convenience for small inputs and tests: allocates and returns `(output, winners)` of
    /// [`Competition::forward`].
    pub fn apply(&self, z: &[f32], rows: usize) -> Result<(Vec<f32>, Vec<bool>)> {
        // A maxout rank of 0 is refused by `forward`; `max(1)` only avoids dividing by it here.
        let mut out = vec![0.0; z.len() / self.pieces().max(1)];
        let mut winners = vec![false; z.len()];
        self.forward(z, rows, &mut out, &mut winners)?;
        Ok((out, winners))
    }

    fn check_buffers(&self, z: usize, rows: usize, out: usize, winners: usize) -> Result<usize> {
        let pieces = self.pieces();
        if pieces == 0 {
            return Err(Error::param("maxout rank", 0, "at least 1"));
        }
        // Each row must hold whole maxout units: a row width that is not a multiple of the rank would
        // let a block straddle two examples.
        if rows == 0 || !z.is_multiple_of(rows) || winners != z || out.checked_mul(pieces) != Some(z) || !(z / rows).is_multiple_of(pieces)
        {
            return Err(Error::shape(
                format!("{self} forward"),
                format!("{rows} rows, z {z}, out {out}, winners {winners}"),
                format!("z = winners = rows x width with width a multiple of {pieces}, out = z / {pieces}"),
            ));
        }
        let pre = z / rows;
        self.pre_width(pre / pieces)?;
        Ok(pre)
    }
}

/// k-sparse over rows of `pre` values: the `k` largest of each row pass (largest first by
/// `f32::total_cmp`, equal values in index order), on a stack buffer for rows of up to 1024 units.
pub(crate) fn ksparse_rows(z: &[f32], pre: usize, k: usize, out: &mut [f32], winners: &mut [bool]) {
    if pre == 0 {
        return;
    }
    select::with_buffer(pre, |buf| {
        for ((zr, or), wr) in z.chunks_exact(pre).zip(out.chunks_exact_mut(pre)).zip(winners.chunks_exact_mut(pre)) {
            for (i, (c, &v)) in buf.iter_mut().zip(zr).enumerate() {
                *c = (v, i);
            }
            or.fill(0.0);
            wr.fill(false);
            for &(v, i) in select::top_k(buf, k) {
                or[i] = v;
                wr[i] = true;
            }
        }
    });
}

impl fmt::Display for Competition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Competition::Relu => write!(f, "relu"),
            Competition::Abs => write!(f, "abs"),
            Competition::Lwta { block } => write!(f, "lwta:{block}"),
            Competition::Maxout { rank } => write!(f, "maxout:{rank}"),
            Competition::KSparse { k } => write!(f, "ksparse:{k}"),
            Competition::StdAbs => write!(f, "std-abs"),
            Competition::Lifetime { rate } => write!(f, "lifetime:{rate}"),
            Competition::Spatial => write!(f, "spatial"),
            Competition::SpatialLifetime { rate } => write!(f, "spatial-lifetime:{rate}"),
        }
    }
}

impl FromStr for Competition {
    type Err = Error;

    /// Parses `relu`, `abs`, `lwta:<block>`, `maxout:<rank>`, `ksparse:<k>`, `std-abs`,
    /// `lifetime:<rate>`, `spatial` or `spatial-lifetime:<rate>` (rates in `(0, 1]`).
    fn from_str(s: &str) -> Result<Self> {
        let expected = "one of relu, abs, lwta:<block>, maxout:<rank>, ksparse:<k>, std-abs, lifetime:<rate>, spatial, \
                        spatial-lifetime:<rate>";
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (s.trim(), None),
        };
        let lower = name.to_ascii_lowercase();
        let number = |what: &str| -> Result<usize> {
            let a = arg.ok_or_else(|| Error::param("competition", s, format!("{name}:<{what}>, e.g. {name}:2")))?;
            a.parse::<usize>().map_err(|_| Error::param(format!("{name} {what}"), a, "a whole number"))
        };
        // A sparsity rate: a fraction in (0, 1], refused here already when outside.
        let rate = || -> Result<f32> {
            let what = format!("{lower} sparsity rate");
            let hint = "a fraction in (0, 1], e.g. 0.05 for the paper's 5%";
            let a = arg.ok_or_else(|| Error::param("competition", s, format!("{name}:<rate>, e.g. {name}:0.05")))?;
            let r = a.parse::<f32>().map_err(|_| Error::param(&what, a, hint))?;
            if r > 0.0 && r <= 1.0 { Ok(r) } else { Err(Error::param(&what, a, hint)) }
        };
        let c = match lower.as_str() {
            "relu" if arg.is_none() => Competition::Relu,
            "abs" if arg.is_none() => Competition::Abs,
            "std-abs" | "stdabs" if arg.is_none() => Competition::StdAbs,
            "spatial" if arg.is_none() => Competition::Spatial,
            "lwta" => Competition::Lwta { block: number("block")? },
            "maxout" => Competition::Maxout { rank: number("rank")? },
            "ksparse" | "k-sparse" => Competition::KSparse { k: number("k")? },
            "lifetime" => Competition::Lifetime { rate: rate()? },
            "spatial-lifetime" => Competition::SpatialLifetime { rate: rate()? },
            _ => return Err(Error::param("competition", s, expected)),
        };
        // Parameters that are wrong whatever the layer width are refused here already.
        match c {
            Competition::Lwta { block } if block < 2 => Err(Error::param("lwta block size", block, "at least 2")),
            Competition::Maxout { rank: 0 } => Err(Error::param("maxout rank", 0, "at least 1")),
            Competition::KSparse { k: 0 } => Err(Error::param("k-sparse k", 0, "at least 1")),
            c => Ok(c),
        }
    }
}

impl TryFrom<String> for Competition {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Competition> for String {
    fn from(c: Competition) -> String {
        c.to_string()
    }
}
