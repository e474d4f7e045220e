//! The networks of paper E's proofs, with their exact weights.
//!
//! - [`rectifier`]: the folding construction of Theorem 4 (section 3.1, appendix B). Each of the
//!   first `L - 1` layers splits its units into `n0` groups, one per input coordinate; the
//!   alternating sum of a group of `p` rectifiers (eq. (4)) folds that coordinate's unit interval `p`
//!   times onto itself, and the next layer reads these sums (the alternating sum is absorbed into its
//!   weights). The last layer places `n_L` hyperplanes in general position inside the folded unit
//!   cube, so that their `sum_{j <= n0} C(n_L, j)` regions (section 2.2) are repeated in each of the
//!   `prod p_{l,i}` identified cells: eq. (7) regions in all, on the input box `[0, 1]^n0`.
//! - [`maxout`]: a rank-`k` maxout network of `L` layers of width `n0` (the setting of Theorem 8).
//!
//! # Weights (rectifier)
//!
//! Appendix B's computation needs `h_k = max(0, 2x - 2(k - 1))` for `k >= 2` (so that the alternating
//! sum maps every interval `(k - 1, k)` onto `(0, 1)`); section 3.1 prints `2wx - (k - 1)`, which folds
//! intervals of length 1/2 instead. We use appendix B's form, scaled so that every layer folds the
//! unit interval: with `t = p y_i` (`y` the layer's effective input in `[0, 1]^n0`),
//! `h_1 = max(0, t)` and `h_k = max(0, 2t - 2(k - 1))`; `h~ = h_1 - h_2 + h_3 - ...` maps each
//! `[(k - 1)/p, k/p]` onto `[0, 1]`.
//!
//! Group sizes: [`Form::Theorem4`] uses `floor(n_l / n0)` units per group and switches the remainder
//! units off (zero weights and bias); [`Form::Eq7`] gives the `m_l` remainder units to the last groups
//! (`floor + 1`), which yields eq. (7).
//!
//! The last layer's hyperplanes are `sum_k t_j^k y'_k = 1` for distinct `t_j` with `|t_j| >= 1` (points
//! on the moment curve): no two are parallel and no `n0 + 1` meet, since a point on `n0 + 1` of them
//! would make the degree-`n0` polynomial `sum_k y'_k t^k - 1` vanish at `n0 + 1` points though its
//! constant term is `-1`. The vertex of `n0` of them has `y'_k = -(-1)^k e_k(1/t_j1, ..., 1/t_jn0)`, so
//! `|y'_k| <= C(n0, k)`; with `y' = (y - 1/2) / s`, `s = 0.45 / max_k C(n0, k)`, every vertex lies
//! inside the cube, so every region of the arrangement meets it.
//!
//! # Maxout
//!
//! Appendix D's construction (seeds `+-e_i` in slightly rotated coordinates) is not built. Instead
//! [`maxout`] builds the rank-2 folding of section 4 ("a rank-2 maxout layer can be simulated by a
//! rectifier layer with twice as many units") with rank-`k` units: in layers `1..L-1`, unit `i` is
//! `max(2 y_i - 1, 1 - 2 y_i, c, ..., c)` with `k - 2` constant pieces `c = -1` that never win on the
//! cube (so `y_i` folds once, onto `[0, 1]`); in the last layer unit `i` is the upper envelope of `k`
//! lines in `y_i` with breaks at `1/k, ..., (k-1)/k` (Proposition 7's `k^n0` example). On `[0, 1]^n0`
//! this gives `2^(n0 (L-1)) k^n0` regions, at least Theorem 8's `k^(L-1) k^n0` whenever `k <= 2^n0`,
//! which includes every rank `k <= 2 n0` that appendix D's construction covers.

use num_bigint::BigUint;

use super::bounds;
use crate::competition::Competition;
use crate::error::{Error, Result};
use crate::models::mlp::{Layer, Mlp, MlpConfig};
use crate::tensor::Matrix;

/// Group sizes of the rectifier construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `floor(n_l / n0)` units per coordinate, remainder units switched off (Theorem 4).
    Theorem4,
    /// Remainder units given to the last groups (appendix B, eq. (7)).
    Eq7,
}

/// A constructed network and what the formula says it reaches on `[0, 1]^n0`.
#[derive(Clone, Debug)]
pub struct Construction {
    /// The network (hidden layers as constructed, a 2-class softmax layer reading their sum).
    pub mlp: Mlp,
    /// The number of activation regions on the box `[0, 1]^n0`, by the formula.
    pub expected: BigUint,
    /// Which formula `expected` is.
    pub formula: String,
}

fn check_n0(n0: usize) -> Result<()> {
    if n0 == 0 {
        return Err(Error::param("--n0", 0, "at least 1 input"));
    }
    if n0 > 64 {
        return Err(Error::param("--n0", n0, "at most 64 (the last layer's weights grow like C(n0, k))"));
    }
    Ok(())
}

/// A construction before it is built: its size, checked before allocating, and what the formula
/// says it reaches on `[0, 1]^n0`.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Weights and biases of all layers, the 2-class output layer included.
    pub parameters: u128,
    /// Layers, the output layer included.
    pub layers: usize,
    /// The number of activation regions on the box `[0, 1]^n0`, by the formula.
    pub expected: BigUint,
    /// Which formula `expected` is.
    pub formula: String,
}

/// Bytes of one `f32` weight or bias.
const F32: u128 = 4;

/// The plan of [`rectifier`]: checks `n0` and `widths` (each `>= n0`) and counts the parameters,
/// without allocating them.
pub fn rectifier_plan(n0: usize, widths: &[usize], form: Form) -> Result<Plan> {
    check_n0(n0)?;
    if widths.is_empty() {
        return Err(Error::param("--widths", "none", "at least one hidden width"));
    }
    if let Some((l, &w)) = widths.iter().enumerate().find(|&(_, &w)| w < n0) {
        return Err(Error::param("--widths", format!("{w} (layer {})", l + 1), format!("widths >= n0 = {n0} (Theorem 4)")));
    }
    let mut parameters = 0u128;
    let mut fan_in = n0;
    for &n in widths.iter().chain([&2]) {
        parameters = parameters.saturating_add((fan_in as u128 + 1).saturating_mul(n as u128));
        fan_in = n;
    }
    let (expected, formula) = match form {
        Form::Theorem4 => (bounds::theorem4(n0, widths), "Theorem 4"),
        Form::Eq7 => (bounds::eq7(n0, widths), "eq. (7)"),
    };
    let expected = expected.ok_or_else(|| Error::param("--widths", format!("{widths:?}"), format!("widths >= n0 = {n0}")))?;
    Ok(Plan { parameters, layers: widths.len() + 1, expected, formula: formula.into() })
}

/// The Theorem 4 / eq. (7) rectifier network for `n0` inputs and hidden `widths` (each `>= n0`).
/// Its weights are checked against the memory available before they are allocated
/// ([`crate::io::memory::check_alloc`]).
pub fn rectifier(n0: usize, widths: &[usize], form: Form) -> Result<Construction> {
    let plan = rectifier_plan(n0, widths, form)?;
    crate::io::memory::check_alloc(
        &format!("the {} weights and biases of the rectifier construction with n0 = {n0}, widths {widths:?}", plan.parameters),
        plan.parameters.saturating_mul(F32),
    )?;
    let last = widths.len() - 1;
    let mut layers = Vec::with_capacity(widths.len() + 1);
    // Which previous-layer units make up each effective coordinate, with their signs: y_i = sum s u.
    let mut coord: Vec<Vec<(usize, f32)>> = (0..n0).map(|i| vec![(i, 1.0)]).collect();
    let mut fan_in = n0;
    for (l, &n) in widths.iter().enumerate() {
        let mut w = vec![0.0f32; n * fan_in];
        let mut b = vec![0.0f32; n];
        if l < last {
            let (q, m) = (n / n0, n % n0);
            let sizes: Vec<usize> = (0..n0)
                .map(|i| match form {
                    Form::Theorem4 => q,
                    Form::Eq7 => q + usize::from(i >= n0 - m),
                })
                .collect();
            let mut next = Vec::with_capacity(n0);
            let mut unit = 0;
            for (i, &p) in sizes.iter().enumerate() {
                let mut group = Vec::with_capacity(p);
                for k in 1..=p {
                    // t = p y_i; h_1 = max(0, t), h_k = max(0, 2t - 2(k - 1)).
                    let scale = if k == 1 { p as f32 } else { 2.0 * p as f32 };
                    for &(src, s) in &coord[i] {
                        w[unit * fan_in + src] = scale * s;
                    }
                    b[unit] = if k == 1 { 0.0 } else { -2.0 * (k as f32 - 1.0) };
                    group.push((unit, if k % 2 == 1 { 1.0 } else { -1.0 }));
                    unit += 1;
                }
                next.push(group);
            }
            coord = next;
        } else {
            let big = (0..=n0).map(|k| bounds::binomial(n0, k)).max().unwrap_or_default();
            let big = big.to_string().parse::<f64>().unwrap_or(f64::MAX);
            let s = 0.45 / big;
            for j in 0..n {
                let t = if j % 2 == 0 { 1.0 } else { -1.0 } * (1.0 + (j / 2) as f64 / n as f64);
                // sum_k t^k (y_k - 1/2) / s - 1, with y_k = sum of the coordinate's signed units.
                let mut bias = -1.0;
                for (k, c) in coord.iter().enumerate() {
                    let a = t.powi(k as i32 + 1) / s;
                    for &(src, sg) in c {
                        w[j * fan_in + src] = (a * f64::from(sg)) as f32;
                    }
                    bias -= 0.5 * a;
                }
                b[j] = bias as f32;
            }
        }
        layers.push(Layer { weight: Matrix { rows: n, cols: fan_in, data: w }, bias: b });
        fan_in = n;
    }
    layers.push(sum_output(fan_in));
    let hidden: Vec<(usize, Competition)> = widths.iter().map(|&w| (w, Competition::Relu)).collect();
    let mlp = Mlp::from_layers(MlpConfig::new(n0, &hidden, 2)?, layers)?;
    Ok(Construction { mlp, expected: plan.expected, formula: plan.formula })
}

/// A 2-class output layer reading the sum of the last hidden layer (its weights play no part in the
/// regions; they only draw a decision boundary).
fn sum_output(width: usize) -> Layer {
    let mut w = vec![1.0f32; 2 * width];
    w[width..].fill(-1.0);
    Layer { weight: Matrix { rows: 2, cols: width, data: w }, bias: vec![-0.5, 0.5] }
}

/// The plan of [`maxout`]: checks `n0`, `layers` (at most [`bounds::MAX_UNITS`] units in all, as
/// `compete regions bounds` takes, so that the formula stays a number of a few hundred thousand bits)
/// and `rank`, and counts the parameters, without allocating them.
pub fn maxout_plan(n0: usize, layers: usize, rank: usize) -> Result<Plan> {
    check_n0(n0)?;
    if layers == 0 {
        return Err(Error::param("--layers", 0, "at least 1"));
    }
    if n0.checked_mul(layers).is_none_or(|u| u > bounds::MAX_UNITS) {
        return Err(Error::param(
            "--layers",
            layers,
            format!("at most {} layers of n0 = {n0} units ({} hidden units in all)", bounds::MAX_UNITS / n0, bounds::MAX_UNITS),
        ));
    }
    if !(2..=64).contains(&rank) {
        return Err(Error::param("--rank", rank, "a maxout rank from 2 to 64"));
    }
    let per_layer = (n0 * rank * (n0 + 1)) as u128;
    let parameters = per_layer * layers as u128 + 2 * (n0 as u128 + 1);
    Ok(Plan { parameters, layers: layers + 1, expected: bounds::maxout_folding(n0, layers, rank), formula: "2^(n0 (L-1)) k^n0".into() })
}

/// A rank-`rank` maxout network of `layers` layers of width `n0` (see the module docs). Its
/// weights are checked against the memory available before they are allocated.
pub fn maxout(n0: usize, layers: usize, rank: usize) -> Result<Construction> {
    let plan = maxout_plan(n0, layers, rank)?;
    crate::io::memory::check_alloc(
        &format!("the {} weights and biases of the maxout construction with n0 = {n0}, {layers} layers of rank {rank}", plan.parameters),
        plan.parameters.saturating_mul(F32),
    )?;
    let mut out = Vec::with_capacity(layers + 1);
    for l in 0..layers {
        let mut w = vec![0.0f32; n0 * rank * n0];
        let mut b = vec![0.0f32; n0 * rank];
        for i in 0..n0 {
            let row = |piece: usize| (i * rank + piece) * n0 + i;
            if l + 1 < layers {
                // max(2 y_i - 1, 1 - 2 y_i, -1, ..., -1): folds y_i once.
                w[row(0)] = 2.0;
                b[i * rank] = -1.0;
                w[row(1)] = -2.0;
                b[i * rank + 1] = 1.0;
                for piece in 2..rank {
                    b[i * rank + piece] = -1.0;
                }
            } else {
                // Piece m: m y_i - sum_{q <= m} q / k; breaks at 1/k, ..., (k-1)/k.
                let mut cum = 0.0f32;
                for m in 0..rank {
                    cum += m as f32 / rank as f32;
                    w[row(m)] = m as f32;
                    b[i * rank + m] = -cum;
                }
            }
        }
        out.push(Layer { weight: Matrix { rows: n0 * rank, cols: n0, data: w }, bias: b });
    }
    out.push(sum_output(n0));
    let hidden: Vec<(usize, Competition)> = (0..layers).map(|_| (n0, Competition::Maxout { rank })).collect();
    let mlp = Mlp::from_layers(MlpConfig::new(n0, &hidden, 2)?, out)?;
    Ok(Construction { mlp, expected: plan.expected, formula: plan.formula })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::regions::{CountOptions, PwlNet, Segment, Slice2d, count_1d, count_2d};

    fn exact(c: &Construction) -> usize {
        let net = PwlNet::from_mlp(&c.mlp).unwrap();
        let opts = CountOptions::default();
        match net.input {
            1 => count_1d(&net, &Segment::new(vec![0.0], vec![1.0]).unwrap(), &opts).unwrap().len(),
            2 => count_2d(&net, &Slice2d::axes(vec![0.0, 0.0], 0, 1, [0.0, 1.0], [0.0, 1.0]).unwrap(), &opts).unwrap().len(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn rectifier_counts_equal_eq7_in_1d_and_2d() {
        for (n0, widths, want) in [
            (1usize, vec![3usize, 3, 4], 45u64), // 3 * 3 * (1 + 4)
            (1, vec![5, 2], 15),                 // 5 * (1 + 2)
            (2, vec![4, 4, 3], 112),             // 2^2 * 2^2 * (1 + 3 + 3)
            (2, vec![5, 3], 42),                 // remainder: groups 2 and 3 -> 6 * (1 + 3 + 3)
            (2, vec![2, 6], 22),                 // 1 * 1 * (1 + 6 + 15)
        ] {
            let c = rectifier(n0, &widths, Form::Eq7).unwrap();
            assert_eq!(c.expected, BigUint::from(want), "{n0} {widths:?}");
            assert_eq!(exact(&c) as u64, want, "exact count of {n0} {widths:?}");
        }
        // Theorem 4's form drops the remainder unit of the 5-wide layer: 2 * 2 * 7 = 28.
        let c = rectifier(2, &[5, 3], Form::Theorem4).unwrap();
        assert_eq!(c.expected, BigUint::from(28u32));
        assert_eq!(exact(&c), 28);
    }

    #[test]
    fn each_folding_layer_maps_every_cell_onto_the_unit_interval() {
        // n0 = 1, one folding layer of p = 4: h~ (read by the last layer) is 0 at the cell ends 0,
        // 1/4, ... and 1 in between, alternately.
        let c = rectifier(1, &[4, 1], Form::Eq7).unwrap();
        let l = &c.mlp.layers[0];
        let h = |x: f32| -> f32 { (0..4).map(|k| if k % 2 == 0 { 1.0 } else { -1.0 } * (l.weight.data[k] * x + l.bias[k]).max(0.0)).sum() };
        for (x, want) in [(0.0, 0.0), (0.25, 1.0), (0.5, 0.0), (0.75, 1.0), (1.0, 0.0), (0.125, 0.5), (0.375, 0.5)] {
            assert!((h(x) - want).abs() < 1e-6, "h~({x}) = {}", h(x));
        }
    }

    #[test]
    fn last_layer_vertices_lie_inside_the_cube() {
        // A one-layer construction is the arrangement itself (y = x): the vertex of every n0 of its
        // hyperplanes lies inside (0, 1)^n0, so every region of the arrangement meets the cube.
        for (n0, n) in [(1usize, 6usize), (2, 7), (3, 6)] {
            let c = rectifier(n0, &[n], Form::Eq7).unwrap();
            let net = PwlNet::from_mlp(&c.mlp).unwrap();
            let a = &net.hidden[0].affine;
            let subsets: Vec<Vec<usize>> = match n0 {
                1 => (0..n).map(|i| vec![i]).collect(),
                2 => (0..n).flat_map(|i| (i + 1..n).map(move |j| vec![i, j])).collect(),
                _ => (0..n).flat_map(|i| (i + 1..n).flat_map(move |j| (j + 1..n).map(move |k| vec![i, j, k]))).collect(),
            };
            for s in subsets {
                // Solve A y = -b by Gaussian elimination with partial pivoting.
                let mut m: Vec<Vec<f64>> = s.iter().map(|&r| a.row(r).iter().copied().chain([-a.bias[r]]).collect()).collect();
                for col in 0..n0 {
                    let piv = (col..n0).max_by(|&x, &y| m[x][col].abs().total_cmp(&m[y][col].abs())).unwrap();
                    m.swap(col, piv);
                    assert!(m[col][col].abs() > 1e-9, "hyperplanes {s:?} are not in general position");
                    for r in 0..n0 {
                        if r != col {
                            let f = m[r][col] / m[col][col];
                            let pivot = m[col].clone();
                            for (v, p) in m[r].iter_mut().zip(&pivot).skip(col) {
                                *v -= f * p;
                            }
                        }
                    }
                }
                for (r, row) in m.iter().enumerate() {
                    let y = row[n0] / row[r];
                    assert!(y > 0.0 && y < 1.0, "n0 {n0}: vertex of {s:?} has coordinate {y}");
                }
            }
        }
    }

    #[test]
    fn maxout_folding_counts() {
        for (n0, layers, rank) in [(1usize, 3usize, 2usize), (1, 2, 3), (2, 2, 2), (2, 2, 4), (2, 3, 3)] {
            let c = maxout(n0, layers, rank).unwrap();
            let want = 2u64.pow((n0 * (layers - 1)) as u32) * (rank as u64).pow(n0 as u32);
            assert_eq!(c.expected, BigUint::from(want));
            assert_eq!(exact(&c) as u64, want, "n0 {n0}, L {layers}, k {rank}");
            // At least Theorem 8's k^(L-1) k^n0 when k <= 2^n0.
            if rank <= 1 << n0 {
                assert!(c.expected >= bounds::theorem8(n0, layers, rank));
            }
        }
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(rectifier(0, &[3], Form::Eq7).unwrap_err().to_string().contains("--n0"));
        assert!(rectifier(2, &[3, 1], Form::Eq7).unwrap_err().to_string().contains("--widths"));
        assert!(rectifier(2, &[], Form::Eq7).unwrap_err().to_string().contains("--widths"));
        assert!(maxout(2, 2, 1).unwrap_err().to_string().contains("--rank"));
        assert!(maxout(2, 0, 2).unwrap_err().to_string().contains("--layers"));
        assert!(maxout(2, usize::MAX, 2).unwrap_err().to_string().contains("--layers"));
        assert!(maxout(64, bounds::MAX_UNITS, 2).unwrap_err().to_string().contains("--layers"));
    }

    #[test]
    fn plans_count_the_parameters_built_and_huge_ones_are_refused_before_allocating() {
        for (n0, widths) in [(2usize, vec![5usize, 3]), (1, vec![3, 3, 4]), (3, vec![4])] {
            let plan = rectifier_plan(n0, &widths, Form::Eq7).unwrap();
            let c = rectifier(n0, &widths, Form::Eq7).unwrap();
            assert_eq!(plan.parameters, c.mlp.num_params() as u128, "{n0} {widths:?}");
            assert_eq!((plan.expected, plan.layers), (c.expected, c.mlp.layers.len()));
        }
        let plan = maxout_plan(2, 3, 4).unwrap();
        let c = maxout(2, 3, 4).unwrap();
        assert_eq!((plan.parameters, plan.layers), (c.mlp.num_params() as u128, c.mlp.layers.len()));
        // 4e12 weights (16 TB as f32): refused with the bytes needed, nothing allocated.
        let e = rectifier(2, &[2_000_000, 2_000_000], Form::Eq7).unwrap_err();
        assert!(matches!(e, Error::Memory { .. }), "{e}");
        assert!(e.to_string().contains("2000000, 2000000") && e.to_string().contains("available"), "{e}");
        let plan = rectifier_plan(2, &[usize::MAX, usize::MAX], Form::Eq7).unwrap();
        assert_eq!(plan.parameters, u128::MAX, "saturates instead of overflowing");
    }
}
