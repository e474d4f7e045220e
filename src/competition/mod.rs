//! The local competitions of locally competitive networks.
//!
//! Every competition takes pre-activations `z` (one row per example) and returns two things: its
//! output, and its **winners**, a boolean mask with the shape of `z` telling which pre-activations
//! won (paper A, section 3: the *submask*). The winners are also exactly what the backward pass
//! needs: the gradient flows to a pre-activation only where it won.
//!
//! | competition | output per unit | winners | paper |
//! |---|---|---|---|
//! | [`Competition::Relu`] | `max(z, 0)` | `z > 0` | A, section 2 |
//! | [`Competition::Lwta`] | `z` if `z` is the maximum of its block of `k`, else 0 | the block maxima | A, section 2 |
//! | [`Competition::Maxout`] | the maximum of each block of `k` (width shrinks by `k`) | the pieces that gave the maximum | A, section 2 (submask: section 3.1) |
//! | [`Competition::Abs`] | `|z|` | `z >= 0` (which linear piece is used) | C, section III.A (no equation number; eq. 7 is std-abs) |
//! | [`Competition::KSparse`] | `z` for the `k` largest of each row, else 0 | those `k` | B, section 5 (population sparsity of k-sparse autoencoders) |
//!
//! Competitions that do not act row by row live in their own modules: [`lifetime`] (each unit across
//! the mini-batch, paper B section 2), [`spatial`] (within each feature map, then across the
//! mini-batch, paper B sections 3.1 and 3.2) and [`std_abs`] (standardized `|z|` with the layer's
//! magnitude preserved, paper C eq. 7, whose gradient couples the units of a row).
//!
//! **Ties** are broken deterministically, always in favour of the lowest index: in an LWTA or maxout
//! block whose maximum is reached twice, only the first piece wins (and gets the gradient); in
//! k-sparse and lifetime competitions, among equal values the earlier unit (or example) is kept.
//! A ReLU unit with `z == 0` exactly has not won.
//!
//! ```
//! use compete::competition::Competition;
//! let lwta = Competition::Lwta { block: 2 };
//! let z = [1.0, 3.0, -2.0, -5.0];
//! let (out, winners) = lwta.apply(&z, 1).unwrap();
//! assert_eq!(out, vec![0.0, 3.0, -2.0, 0.0]);
//! assert_eq!(winners, vec![false, true, true, false]);
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

pub mod lifetime;
mod select;
pub mod spatial;
pub mod std_abs;
#[cfg(test)]
mod tests;

/// A competition applied row by row to a layer's pre-activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Competition {
    /// Rectified linear: each unit competes with the constant 0.
    Relu,
    /// Local winner-take-all in blocks of `block` units: only the block maximum passes.
    Lwta {
        /// Units per block (at least 2; must divide the layer width).
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
}

impl Competition {
    /// How many pre-activations one output unit of this competition reads (the maxout rank, else 1).
    pub fn pieces(&self) -> usize {
        match self {
            Competition::Maxout { rank } => *rank,
            _ => 1,
        }
    }

    /// Checks the competition's own parameters and that it fits a layer of `units` output units;
    /// returns the number of pre-activations the layer must compute (`units * rank` for maxout).
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
            Competition::Relu | Competition::Abs => Ok(units),
        }
    }

    /// Forward pass over `rows` examples: `z` holds `rows * pre_width` pre-activations; writes
    /// `rows * pre_width / pieces` outputs into `out` and one flag per pre-activation into `winners`.
    ///
    /// Buffers of the wrong length are an error; the parameters are assumed checked by
    /// [`Competition::pre_width`].
    pub fn forward(&self, z: &[f32], rows: usize, out: &mut [f32], winners: &mut [bool]) -> Result<()> {
        let pre = self.check_buffers(z.len(), rows, out.len(), winners.len())?;
        match *self {
            Competition::Relu => {
                for ((o, w), &v) in out.iter_mut().zip(winners.iter_mut()).zip(z) {
                    let win = v > 0.0;
                    *w = win;
                    *o = if win { v } else { 0.0 };
                }
            }
            Competition::Abs => {
                for ((o, w), &v) in out.iter_mut().zip(winners.iter_mut()).zip(z) {
                    *w = v >= 0.0;
                    *o = v.abs();
                }
            }
            Competition::Lwta { block: 2 } => {
                // The common case, without the general block loop: the second unit wins only when it
                // is strictly larger (or the first is NaN), as in `argmax_first`.
                for ((zb, ob), wb) in z.chunks_exact(2).zip(out.chunks_exact_mut(2)).zip(winners.chunks_exact_mut(2)) {
                    let second = second_wins(zb[0], zb[1]);
                    wb[0] = !second;
                    wb[1] = second;
                    ob[0] = if second { 0.0 } else { zb[0] };
                    ob[1] = if second { zb[1] } else { 0.0 };
                }
            }
            Competition::Maxout { rank: 2 } => {
                for ((zb, o), wb) in z.chunks_exact(2).zip(out.iter_mut()).zip(winners.chunks_exact_mut(2)) {
                    let second = second_wins(zb[0], zb[1]);
                    wb[0] = !second;
                    wb[1] = second;
                    *o = if second { zb[1] } else { zb[0] };
                }
            }
            Competition::Lwta { block } => {
                for ((zb, ob), wb) in z.chunks_exact(block).zip(out.chunks_exact_mut(block)).zip(winners.chunks_exact_mut(block)) {
                    let best = argmax_first(zb);
                    ob.fill(0.0);
                    wb.fill(false);
                    ob[best] = zb[best];
                    wb[best] = true;
                }
            }
            Competition::Maxout { rank } => {
                for ((zb, o), wb) in z.chunks_exact(rank).zip(out.iter_mut()).zip(winners.chunks_exact_mut(rank)) {
                    let best = argmax_first(zb);
                    wb.fill(false);
                    wb[best] = true;
                    *o = zb[best];
                }
            }
            Competition::KSparse { k } => {
                // Largest first (by `f32::total_cmp`), equal values in index order; a scratch buffer
                // on the stack for rows of up to 1024 units.
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
        }
        Ok(())
    }

    /// Backward pass: the gradient with respect to the pre-activations, from the gradient with
    /// respect to the output and the winners of the forward pass. It flows only through winners
    /// (for [`Competition::Abs`], with the sign of the piece used).
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
        match *self {
            Competition::Abs => {
                for ((gp, &w), &g) in grad_pre.iter_mut().zip(winners).zip(grad_out) {
                    *gp = if w { g } else { -g };
                }
            }
            Competition::Maxout { rank } => {
                for ((gp, wb), &g) in grad_pre.chunks_exact_mut(rank).zip(winners.chunks_exact(rank)).zip(grad_out) {
                    for (x, &w) in gp.iter_mut().zip(wb) {
                        *x = if w { g } else { 0.0 };
                    }
                }
            }
            _ => {
                for ((gp, &w), &g) in grad_pre.iter_mut().zip(winners).zip(grad_out) {
                    *gp = if w { g } else { 0.0 };
                }
            }
        }
        Ok(())
    }

    /// Convenience for small inputs and tests: allocates and returns `(output, winners)`.
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

/// Whether `b` beats `a` in a block of two: `argmax_first(&[a, b]) == 1`.
#[inline(always)]
fn second_wins(a: f32, b: f32) -> bool {
    b > a || (a.is_nan() && !b.is_nan())
}

/// Index of the first maximum of a non-empty slice (NaN never wins over a number).
#[inline]
pub(crate) fn argmax_first(v: &[f32]) -> usize {
    let mut best = 0;
    let mut best_v = v[0];
    for (i, &x) in v.iter().enumerate().skip(1) {
        if x > best_v || (best_v.is_nan() && !x.is_nan()) {
            best = i;
            best_v = x;
        }
    }
    best
}

impl fmt::Display for Competition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Competition::Relu => write!(f, "relu"),
            Competition::Abs => write!(f, "abs"),
            Competition::Lwta { block } => write!(f, "lwta:{block}"),
            Competition::Maxout { rank } => write!(f, "maxout:{rank}"),
            Competition::KSparse { k } => write!(f, "ksparse:{k}"),
        }
    }
}

impl FromStr for Competition {
    type Err = Error;

    /// Parses `relu`, `abs`, `lwta:<block>`, `maxout:<rank>` or `ksparse:<k>`.
    fn from_str(s: &str) -> Result<Self> {
        let expected = "one of relu, abs, lwta:<block>, maxout:<rank>, ksparse:<k>";
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (s.trim(), None),
        };
        let number = |what: &str| -> Result<usize> {
            let a = arg.ok_or_else(|| Error::param("competition", s, format!("{name}:<{what}>, e.g. {name}:2")))?;
            a.parse::<usize>().map_err(|_| Error::param(format!("{name} {what}"), a, "a whole number"))
        };
        let c = match name.to_ascii_lowercase().as_str() {
            "relu" if arg.is_none() => Competition::Relu,
            "abs" if arg.is_none() => Competition::Abs,
            "lwta" => Competition::Lwta { block: number("block")? },
            "maxout" => Competition::Maxout { rank: number("rank")? },
            "ksparse" | "k-sparse" => Competition::KSparse { k: number("k")? },
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
