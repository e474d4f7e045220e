//! The piecewise linear competitions as rules: how winners are chosen and how outputs read them.
//!
//! ReLU, absolute value, LWTA and maxout are row-local and piecewise linear: on the set of inputs
//! that share one pattern of winners, every output is a fixed pre-activation times a fixed
//! coefficient. [`Competition::pwl`](super::Competition::pwl) describes each of them by two rules,
//! and every engine that needs the meaning of a competition (the CPU forward and backward passes,
//! the burn reference, the region code: patterns, linear maps, exact counting) reads these rules
//! instead of matching on the competition itself:
//!
//! | competition | [`Select`] (winners) | [`Read`] (outputs) |
//! |---|---|---|
//! | `relu` | [`Select::Positive`]: `z > 0` | [`Read::Gate`] `{ loser: 0.0 }`: `z` if won, else 0 |
//! | `abs` | [`Select::NonNegative`]: `z >= 0` | [`Read::Gate`] `{ loser: -1.0 }`: `z` if won, else `-z` |
//! | `lwta:k` | [`Select::BlockMax`] `{ k }`: first maximum of each block | [`Read::Gate`] `{ loser: 0.0 }` |
//! | `maxout:k` | [`Select::BlockMax`] `{ k }` | [`Read::Pool`] `{ k }`: `z` of the block's winning piece |
//!
//! Every rule picks **at most one winner per group** of [`Select::group`] consecutive
//! pre-activations (a group of 1 for the elementwise rules, where "at most one" means "won or
//! not"). Ties go to the first index and NaN never wins over a number, as [`super`] documents.
//!
//! ```
//! use compete::competition::{Competition, Pwl, Read, Select};
//! let rule = Competition::Maxout { rank: 2 }.pwl().unwrap();
//! assert_eq!(rule, Pwl { select: Select::BlockMax { k: 2 }, read: Read::Pool { k: 2 } });
//! let z = [1.0f64, 3.0, -2.0, -5.0];
//! let mut out = [0.0; 2];
//! let mut won = Vec::new();
//! rule.forward_with(&z, &mut out, |i, w| if w { won.push(i) });
//! assert_eq!(out, [3.0, -2.0]);
//! assert_eq!(won, vec![1, 2]);
//! // On the region of this pattern, output j is coef * z[index]:
//! let sel: Vec<(usize, f32)> = rule.selection(2, |i| won.contains(&i)).collect();
//! assert_eq!(sel, vec![(1, 1.0), (2, 1.0)]);
//! ```

use std::ops::Mul;

/// The floating-point types the rules run on (`f32` for training, `f64` for region geometry).
pub trait Real: Copy + PartialOrd + Mul<Output = Self> + From<f32> {
    /// Whether the value is NaN.
    fn is_nan(self) -> bool;
}

impl Real for f32 {
    #[inline(always)]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl Real for f64 {
    #[inline(always)]
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

/// A piecewise linear competition: which pre-activations win, and how the outputs read them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pwl {
    /// How winners are chosen.
    pub select: Select,
    /// How outputs are read from the winners.
    pub read: Read,
}

/// How the winners of a piecewise linear competition are chosen (at most one per group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Select {
    /// Each pre-activation alone: it wins when `z > 0` (ReLU; `z == 0` has not won).
    Positive,
    /// Each pre-activation alone: it wins when `z >= 0` (which linear piece of `|z|` is used).
    NonNegative,
    /// Blocks of `k` consecutive pre-activations: the first maximum of each block wins.
    BlockMax {
        /// Pre-activations per block.
        k: usize,
    },
}

/// How the outputs of a piecewise linear competition read the winners.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Read {
    /// One output per pre-activation: `out_i = z_i` if `i` won, else `loser * z_i` (`loser` is 0.0
    /// for ReLU and LWTA, -1.0 for the absolute value; a loser of 0.0 gives exactly 0, even for a
    /// NaN or infinite `z_i`).
    Gate {
        /// The coefficient of a pre-activation that did not win.
        loser: f32,
    },
    /// One output per block of `k`: `out_j = z` of the block's winning piece (0 if none won, which
    /// the rules of [`Competition::pwl`](super::Competition::pwl) never produce).
    Pool {
        /// Pre-activations per output.
        k: usize,
    },
}

impl Select {
    /// Pre-activations per group: 1 for the elementwise rules, `k` for [`Select::BlockMax`]
    /// (never 0: a block of 0 is read as a block of 1).
    #[inline]
    pub fn group(&self) -> usize {
        match *self {
            Select::Positive | Select::NonNegative => 1,
            Select::BlockMax { k } => k.max(1),
        }
    }

    /// The winner of one group (`group.len()` is [`Select::group`]; an elementwise rule reads
    /// `group[0]`): its index within the group, or `None` when nothing won. `None` for an empty group.
    #[inline]
    pub fn winner<T: Real>(&self, group: &[T]) -> Option<usize> {
        let first = *group.first()?;
        match self {
            Select::Positive => (first > T::from(0.0)).then_some(0),
            Select::NonNegative => (first >= T::from(0.0)).then_some(0),
            Select::BlockMax { .. } => Some(argmax_first(group)),
        }
    }
}

/// `out = z` if won, else `loser * z` (exactly 0 for a loser coefficient of 0).
#[inline(always)]
fn gate<T: Real>(loser: f32, v: T, won: bool) -> T {
    if won {
        v
    } else if loser == 0.0 {
        T::from(0.0)
    } else {
        T::from(loser) * v
    }
}

impl Pwl {
    /// Pre-activations per output: `k` for [`Read::Pool`], else 1 (never 0).
    #[inline]
    pub fn pieces(&self) -> usize {
        match self.read {
            Read::Gate { .. } => 1,
            Read::Pool { k } => k.max(1),
        }
    }

    /// Forward pass over pre-activations `z` (a whole number of groups; one row or several
    /// concatenated rows whose widths are multiples of the group): writes
    /// `z.len() / pieces()` outputs into `out` and calls `mark(i, won)` once for every index of `z`,
    /// in order. Lengths that do not fit are not an error: only the whole groups that fit both `z`
    /// and `out` are computed.
    #[inline]
    pub fn forward_with<T: Real>(&self, z: &[T], out: &mut [T], mut mark: impl FnMut(usize, bool)) {
        match (self.select, self.read) {
            // Elementwise: no group loop.
            (Select::Positive | Select::NonNegative, Read::Gate { loser }) => {
                for (i, (&v, o)) in z.iter().zip(out.iter_mut()).enumerate() {
                    let won = self.select.winner(std::slice::from_ref(&v)).is_some();
                    mark(i, won);
                    *o = gate(loser, v, won);
                }
            }
            (select, Read::Gate { loser }) => {
                let g = select.group();
                for (b, (zb, ob)) in z.chunks_exact(g).zip(out.chunks_exact_mut(g)).enumerate() {
                    let w = select.winner(zb);
                    for (i, (&v, o)) in zb.iter().zip(ob.iter_mut()).enumerate() {
                        let won = w == Some(i);
                        mark(b * g + i, won);
                        *o = gate(loser, v, won);
                    }
                }
            }
            (select, Read::Pool { .. }) => {
                let k = self.pieces();
                for (j, (zb, o)) in z.chunks_exact(k).zip(out.iter_mut()).enumerate() {
                    let w = select.winner(zb);
                    for i in 0..k {
                        mark(j * k + i, w == Some(i));
                    }
                    *o = w.map_or(T::from(0.0), |w| zb[w]);
                }
            }
        }
    }

    /// [`Pwl::forward_with`] writing the winners into a mask of `z`'s length (the hot path of the
    /// CPU engine: the same rules, without the callback).
    #[inline]
    pub fn forward<T: Real>(&self, z: &[T], out: &mut [T], winners: &mut [bool]) {
        match (self.select, self.read) {
            (select @ (Select::Positive | Select::NonNegative), Read::Gate { loser }) => {
                for ((o, w), &v) in out.iter_mut().zip(winners.iter_mut()).zip(z) {
                    let won = match select {
                        Select::Positive => v > T::from(0.0),
                        _ => v >= T::from(0.0),
                    };
                    *w = won;
                    *o = gate(loser, v, won);
                }
            }
            (Select::BlockMax { k: 2 }, Read::Gate { loser }) => {
                for ((zb, ob), wb) in z.chunks_exact(2).zip(out.chunks_exact_mut(2)).zip(winners.chunks_exact_mut(2)) {
                    let second = second_wins(zb[0], zb[1]);
                    wb[0] = !second;
                    wb[1] = second;
                    ob[0] = gate(loser, zb[0], !second);
                    ob[1] = gate(loser, zb[1], second);
                }
            }
            (Select::BlockMax { k: 2 }, Read::Pool { k: 2 }) => {
                for ((zb, o), wb) in z.chunks_exact(2).zip(out.iter_mut()).zip(winners.chunks_exact_mut(2)) {
                    let second = second_wins(zb[0], zb[1]);
                    wb[0] = !second;
                    wb[1] = second;
                    *o = if second { zb[1] } else { zb[0] };
                }
            }
            (select, Read::Gate { loser }) => {
                let g = select.group();
                for ((zb, ob), wb) in z.chunks_exact(g).zip(out.chunks_exact_mut(g)).zip(winners.chunks_exact_mut(g)) {
                    let best = select.winner(zb);
                    for (i, ((&v, o), w)) in zb.iter().zip(ob.iter_mut()).zip(wb.iter_mut()).enumerate() {
                        let won = best == Some(i);
                        *w = won;
                        *o = gate(loser, v, won);
                    }
                }
            }
            (select, Read::Pool { .. }) => {
                let k = self.pieces();
                for ((zb, o), wb) in z.chunks_exact(k).zip(out.iter_mut()).zip(winners.chunks_exact_mut(k)) {
                    let best = select.winner(zb);
                    for (i, w) in wb.iter_mut().enumerate() {
                        *w = best == Some(i);
                    }
                    *o = best.map_or(T::from(0.0), |b| zb[b]);
                }
            }
        }
    }

    /// The linear selection of the outputs on the region of a pattern of winners: for each of
    /// `outputs` outputs, `(k, coef)` such that the output equals `coef * z[k]` wherever the
    /// winners are those `won` says (`coef` is 1.0, 0.0 or the gate's loser coefficient).
    pub fn selection(&self, outputs: usize, won: impl Fn(usize) -> bool) -> impl Iterator<Item = (usize, f32)> {
        let rule = *self;
        (0..outputs).map(move |j| match rule.read {
            Read::Gate { loser } => (j, if won(j) { 1.0 } else { loser }),
            Read::Pool { .. } => {
                let k = rule.pieces();
                match (0..k).find(|&i| won(j * k + i)) {
                    Some(i) => (j * k + i, 1.0),
                    None => (j * k, 0.0),
                }
            }
        })
    }

    /// The outputs from pre-activations `z` and a given pattern of winners (`won(i)` for index `i`
    /// of `z`): `out_j = coef * z[k]` of [`Pwl::selection`], exactly 0 where `coef` is 0. Writes
    /// `out.len()` outputs (indices of `z` beyond its end read as 0).
    pub fn read_with<T: Real>(&self, z: &[T], won: impl Fn(usize) -> bool, out: &mut [T]) {
        let n = out.len();
        for (o, (k, coef)) in out.iter_mut().zip(self.selection(n, won)) {
            *o = match z.get(k) {
                Some(&v) if coef != 0.0 => {
                    if coef == 1.0 {
                        v
                    } else {
                        T::from(coef) * v
                    }
                }
                _ => T::from(0.0),
            };
        }
    }

    /// Output `j` evaluated at pre-activations `z` (the whole layer's, or at least the group of
    /// `j`): `(k, out_j)` where `k` is the index of `z` the output reads on this region (the unit
    /// itself for a gate, the winning piece for a pool). `None` when `z` is too short for `j`.
    pub fn output<T: Real>(&self, z: &[T], j: usize) -> Option<(usize, T)> {
        match self.read {
            Read::Gate { loser } => {
                let g = self.select.group();
                let start = j / g * g;
                let block = z.get(start..start + g)?;
                let won = self.select.winner(block) == Some(j - start);
                Some((j, gate(loser, z[j], won)))
            }
            Read::Pool { .. } => {
                let k = self.pieces();
                let block = z.get(j * k..(j + 1) * k)?;
                Some(match self.select.winner(block) {
                    Some(w) => (j * k + w, block[w]),
                    None => (j * k, T::from(0.0)),
                })
            }
        }
    }

    /// Backward pass: the gradient with respect to the pre-activations from the gradient with
    /// respect to the outputs and the winners of the forward pass. A gate passes `grad` to a winner
    /// and `loser * grad` to a loser (exactly 0 for a loser coefficient of 0); a pool passes each
    /// output's gradient to its winning piece. Lengths that do not fit compute only what fits.
    #[inline]
    pub fn backward<T: Real>(&self, grad_out: &[T], winners: &[bool], grad_pre: &mut [T]) {
        match self.read {
            Read::Gate { loser } => {
                for ((gp, &w), &g) in grad_pre.iter_mut().zip(winners).zip(grad_out) {
                    *gp = gate(loser, g, w);
                }
            }
            Read::Pool { .. } => {
                let k = self.pieces();
                for ((gp, wb), &g) in grad_pre.chunks_exact_mut(k).zip(winners.chunks_exact(k)).zip(grad_out) {
                    for (x, &w) in gp.iter_mut().zip(wb) {
                        *x = if w { g } else { T::from(0.0) };
                    }
                }
            }
        }
    }
}

/// Whether `b` beats `a` in a block of two: `argmax_first(&[a, b]) == 1`.
#[inline(always)]
fn second_wins<T: Real>(a: T, b: T) -> bool {
    b > a || (a.is_nan() && !b.is_nan())
}

/// Index of the first maximum of a slice (0 for an empty one; NaN never wins over a number).
#[inline]
pub(crate) fn argmax_first<T: Real>(v: &[T]) -> usize {
    let Some(&first) = v.first() else { return 0 };
    let mut best = 0;
    let mut best_v = first;
    for (i, &x) in v.iter().enumerate().skip(1) {
        if x > best_v || (best_v.is_nan() && !x.is_nan()) {
            best = i;
            best_v = x;
        }
    }
    best
}
