//! Exact bounds on the maximal number of linear regions (paper E, sections 2.2, 3, 4 and appendices B,
//! C, D), as big integers.
//!
//! Every bound is a closed formula in the input dimension `n0`, the hidden widths `n_1, ..., n_L` and,
//! for maxout, the rank `k`; the numbers grow like `(n/n0)^{n0 (L-1)}`, so they are computed exactly
//! with [`BigUint`] and shown with [`log10`] and [`abbreviate`]. [`bounds_report`] gathers them, with
//! the regions-per-parameter comparison of appendix C, into one [`BoundsReport`] (the table of
//! `compete regions bounds`).
//!
//! ```
//! use compete::analysis::regions::bounds::{eq7, pascanu2013, shallow, theorem4};
//! // n0 = 2 inputs, two hidden layers of 10 rectifiers against one layer of 20.
//! assert_eq!(shallow(2, 20).to_string(), "211");
//! assert_eq!(theorem4(2, &[10, 10]).unwrap().to_string(), "1400"); // 5^2 (1 + 10 + 45)
//! assert_eq!(eq7(2, &[10, 10]).unwrap().to_string(), "1400");
//! assert_eq!(pascanu2013(2, &[10, 10]).unwrap().to_string(), "280"); // 5 (1 + 10 + 45)
//! ```

use num_bigint::BigUint;
use serde::Serialize;

use crate::error::{Error, Result};

/// Most hidden units (in all layers together, and in the shallow comparison) [`bounds_report`]
/// accepts: it keeps every number below a few million bits, so even the largest report takes about a
/// second.
pub const MAX_UNITS: usize = 100_000;
/// Largest input dimension [`bounds_report`] accepts.
pub const MAX_N0: usize = 1_000_000;
/// Largest maxout rank [`bounds_report`] accepts.
pub const MAX_RANK: usize = 1024;
/// Integers with at most this many decimal digits are printed in full by [`abbreviate`].
pub const FULL_DIGITS: usize = 40;

fn one() -> BigUint {
    BigUint::from(1u8)
}

/// The binomial coefficient `C(n, k)` (0 when `k > n`), exactly.
///
/// Multiplicative formula: after step `i` the accumulator is `C(n - k + i, i)`, so each division by `i`
/// is exact and nothing overflows. Uses `C(n, k) = C(n, n - k)` to take at most `n / 2` steps.
pub fn binomial(n: usize, k: usize) -> BigUint {
    if k > n {
        return BigUint::ZERO;
    }
    let k = k.min(n - k);
    let mut c = one();
    for i in 1..=k {
        c *= n - k + i;
        c /= i;
    }
    c
}

/// `base^exp` for any `usize` exponent (square and multiply).
fn pow(base: &BigUint, exp: usize) -> BigUint {
    let mut result = one();
    let mut square = base.clone();
    let mut e = exp;
    while e > 0 {
        if e & 1 == 1 {
            result *= &square;
        }
        e >>= 1;
        if e > 0 {
            square = &square * &square;
        }
    }
    result
}

fn pow_usize(base: usize, exp: usize) -> BigUint {
    pow(&BigUint::from(base), exp)
}

/// `sum_{j=0}^{d} C(n, j)` exactly, for `d < n`.
///
/// `C(n, j) = prod_{i=1}^{j} (n - i + 1) / i`, so the sum is a hypergeometric series, summed by binary
/// splitting: over a range `[a, b)` of `j`, `sum_j prod_{i=a}^{j} p_i / q_i = T / Q` with
/// `P = prod p_i`, `Q = prod q_i` and, merging `[a, m)` and `[m, b)`, `T = T_1 Q_2 + P_1 T_2`. The
/// numbers stay balanced, so the cost is a few big multiplications instead of `d` passes over a
/// growing sum; the final division `T / Q` is exact because the sum is an integer.
fn partial_binomial_sum(n: &BigUint, d: usize) -> BigUint {
    if d == 0 {
        return one();
    }
    let (_, q, t) = binary_split(n, 1, d + 1);
    one() + t / q
}

/// `(P, Q, T)` of [`partial_binomial_sum`] for `j` in `[a, b)`, with `p_i = n - i + 1`, `q_i = i`.
fn binary_split(n: &BigUint, a: usize, b: usize) -> (BigUint, BigUint, BigUint) {
    if b - a == 1 {
        let p = n + 1u8 - BigUint::from(a);
        return (p.clone(), BigUint::from(a), p);
    }
    let m = a + (b - a) / 2;
    let (p1, q1, t1) = binary_split(n, a, m);
    let (p2, q2, t2) = binary_split(n, m, b);
    let t = t1 * &q2 + &p1 * t2;
    (p1 * p2, q1 * q2, t)
}

/// Zaslavsky's number `sum_{j=0}^{d} C(n, j)`: the most regions `n` hyperplanes cut `R^d` into.
fn zaslavsky(d: usize, n: usize) -> BigUint {
    if d >= n {
        // All terms present: sum_j C(n, j) = 2^n.
        return one() << n;
    }
    if d >= n / 2 {
        // Fewer terms in the complement: sum_{j<=d} C(n,j) = 2^n - sum_{j<=n-d-1} C(n,j).
        return (one() << n) - partial_binomial_sum(&BigUint::from(n), n - d - 1);
    }
    partial_binomial_sum(&BigUint::from(n), d)
}

/// The maximal number of linear regions of a shallow rectifier network with `n0` inputs and `units`
/// hidden units (paper E, section 2.2; Zaslavsky 1975): an arrangement of `units` hyperplanes in
/// `R^{n0}` has at most `sum_{j=0}^{n0} C(units, j)` regions, attained if and only if the hyperplanes
/// are in general position. Equals `2^units` when `units <= n0`.
pub fn shallow(n0: usize, units: usize) -> BigUint {
    zaslavsky(n0, units)
}

/// Proposition 3 of paper E: a rectifier network with `N = units` hidden units in total has at most
/// `2^N` linear regions (each region has its own pattern of active units).
pub fn upper_relu(units: usize) -> BigUint {
    one() << units
}

/// The first hidden layer (1-based, as `n_i` in the paper) narrower than `n0`, with its width.
fn first_narrow(n0: usize, widths: &[usize]) -> Option<(usize, usize)> {
    widths.iter().enumerate().find(|&(_, &w)| w < n0).map(|(i, &w)| (i + 1, w))
}

/// Theorem 4 of paper E (section 3.2, proof in appendix B): a rectifier network with `n0` inputs and
/// `L` hidden layers of widths `n_i >= n0` can compute functions with at least
/// `(prod_{i=1}^{L-1} floor(n_i / n0)^{n0}) sum_{j=0}^{n0} C(n_L, j)` linear regions.
///
/// `None` when `widths` is empty or some `n_i < n0` (the theorem assumes `n_i >= n0` for all `i`).
pub fn theorem4(n0: usize, widths: &[usize]) -> Option<BigUint> {
    Some(theorem4_folds(n0, widths)? * shallow(n0, *widths.last()?))
}

/// The checks of Theorem 4, eq. (7) and Pascanu et al.: `widths` without its last layer, or `None`.
fn folding_layers(n0: usize, widths: &[usize]) -> Option<&[usize]> {
    let (_, first) = widths.split_last()?;
    if n0 == 0 || first_narrow(n0, widths).is_some() { None } else { Some(first) }
}

/// Theorem 4's identified regions, `prod_{i<L} floor(n_i / n0)^{n0}`.
fn theorem4_folds(n0: usize, widths: &[usize]) -> Option<BigUint> {
    let mut product = one();
    for &n in folding_layers(n0, widths)? {
        product *= pow_usize(n / n0, n0);
    }
    Some(product)
}

/// Eq. (7)'s identified regions, eq. (6) with the remainders spread over the groups.
fn eq7_folds(n0: usize, widths: &[usize]) -> Option<BigUint> {
    let mut product = one();
    for &n in folding_layers(n0, widths)? {
        let (q, m) = (n / n0, n % n0);
        product *= pow_usize(q, n0 - m) * pow_usize(q + 1, m);
    }
    Some(product)
}

/// Pascanu et al.'s identified regions, `prod_{i<L} floor(n_i / n0)`.
fn pascanu_folds(n0: usize, widths: &[usize]) -> Option<BigUint> {
    let mut product = one();
    for &n in folding_layers(n0, widths)? {
        product *= n / n0;
    }
    Some(product)
}

/// Eq. (7) of paper E (appendix B, end of the proof of Theorem 4): with the remainders
/// `m_l = n_l - n0 floor(n_l / n0)` spread over the groups (`n0 - m_l` groups of `floor(n_l / n0)`
/// units, `m_l` groups of one more), the construction gives
/// `(prod_{l=1}^{L-1} floor(n_l/n0)^{n0 - m_l} (floor(n_l/n0) + 1)^{m_l}) sum_{j=0}^{n0} C(n_L, j)`
/// linear regions: Theorem 4's value when every `m_l = 0`, more otherwise.
///
/// `None` when `widths` is empty or some `n_l < n0` (a group would be empty).
pub fn eq7(n0: usize, widths: &[usize]) -> Option<BigUint> {
    Some(eq7_folds(n0, widths)? * shallow(n0, *widths.last()?))
}

/// The earlier lower bound of Pascanu, Montúfar and Bengio 2013 ("On the number of response regions of
/// deep feed forward networks with piece-wise linear activations", arXiv:1312.6098), which paper E
/// improves (section 3.2: `Omega((n/n0)^{L-1} n^{n0})` against Theorem 4's
/// `Omega((n/n0)^{(L-1) n0} n^{n0})`):
/// `(prod_{i=1}^{L-1} floor(n_i / n0)) sum_{j=0}^{n0} C(n_L, j)`: a factor `floor(n_i / n0)` per
/// layer where Theorem 4 has `floor(n_i / n0)^{n0}`.
///
/// Source check: the abstract of arXiv:1312.6098 (found with the search tool, e.g. the MiS preprint
/// 72/2014 page and arxiv-vanity's rendering of 1312.6098) states `Omega(floor(n/n0)^{k-1} n^{n0})`
/// regions for `k` layers of width `n`, which is this formula with equal widths (`sum_{j<=n0} C(n, j)`
/// is `Theta(n^{n0})`). The theorem's own text for unequal widths could not be read through the
/// search tool (excerpts only); the product over layers is the direct generalization, as in Theorem 4.
///
/// `None` when `widths` is empty or some `n_i < n0`.
pub fn pascanu2013(n0: usize, widths: &[usize]) -> Option<BigUint> {
    Some(pascanu_folds(n0, widths)? * shallow(n0, *widths.last()?))
}

/// An upper bound for deep rectifier networks beyond paper E, in the style of Raghu et al. 2017 and
/// Serra et al. 2018: `prod_{l=1}^{L} sum_{j=0}^{d_l} C(n_l, j)` with `d_l = min(n0, n_1, ..., n_{l-1})`.
///
/// Why it holds: on each region of the layers below `l` the network is affine with an image of
/// dimension at most `d_l`, and there layer `l`'s `n_l` units are `n_l` hyperplanes, which cut the
/// (convex) region into at most Zaslavsky's number of pieces (section 2.2). Never more than `2^N`.
pub fn relu_layer_product(n0: usize, widths: &[usize]) -> BigUint {
    let mut d = n0;
    let mut product = one();
    for &n in widths {
        product *= zaslavsky(d, n);
        d = d.min(n);
    }
    product
}

/// Proposition 7 of paper E (section 4, proof in appendix D): the maximal number of regions of a single
/// rank-`k` maxout layer with `n` inputs and `m` units is at least `k^{min(n, m)}` and at most
/// `min(sum_{j=0}^{n} C(k^2 m, j), k^m)`; returns `(lower, upper)`.
///
/// The lower bound puts `k - 1` parallel hyperplanes per unit along `min(n, m)` coordinates (section 4).
///
/// The upper bound extends the at most `k^2` boundaries `f_i(x) = f_j(x)` of each unit to hyperplanes
/// (an arrangement of `k^2 m` hyperplanes, Zaslavsky), and counts the `k^m` argmax patterns.
/// Computed exactly; the sum is skipped when `n >= m` or `C(k^2 m, n) >= (k^2 m / n)^n >= k^m`
/// already shows it is the larger.
pub fn prop7_layer(n_inputs: usize, m_units: usize, rank: usize) -> (BigUint, BigUint) {
    let k = BigUint::from(rank);
    let lower = pow(&k, n_inputs.min(m_units));
    let patterns = pow(&k, m_units);
    let hyperplanes = &k * &k * BigUint::from(m_units);
    let n = BigUint::from(n_inputs);
    let upper = if hyperplanes <= n || n_inputs >= m_units {
        // The sum is 2^{k^2 m} >= k^m, or it has the term C(k^2 m, m) >= (k^2 m / m)^m >= k^m.
        patterns
    } else if n_inputs > 0 && pow(&hyperplanes, n_inputs) >= &patterns * pow(&n, n_inputs) {
        // C(K, n) = prod_{i<n} (K - i) / (n - i) >= (K / n)^n >= k^m.
        patterns
    } else {
        partial_binomial_sum(&hyperplanes, n_inputs).min(patterns)
    };
    (lower, upper)
}

/// Theorem 8 of paper E (section 4, proof in appendix D): a maxout network with `L = layers` layers of
/// width `n0` and rank `k` can compute functions with at least `k^{L-1} k^{n0}` linear regions. Wider
/// layers (`n_i >= n0`) can do as well, since the extra units can be switched off.
///
/// Caveat: the construction of appendix D takes the seeds (gradients) of each unit from `+-e_i`, so it
/// gives `k` identified regions per layer only when `k <= 2 n0`; beyond that the proof drops
/// `k - 2 n0` of them. The statement as written then overshoots: for `n0 = 1`, `k = 3`, `L = 2` it
/// claims 9, but a convex 3-piece map `f` (2 breakpoints) composed with a convex 3-piece `g` has at
/// most 7 pieces (each of `g`'s 2 breakpoints has at most 2 preimages under the convex `f`). So the
/// theorem as stated needs `k <= 2 n0`.
pub fn theorem8(n0: usize, layers: usize, rank: usize) -> BigUint {
    pow_usize(rank, layers.saturating_sub(1) + n0)
}

/// A lower bound for deep maxout networks beyond the letter of paper E: `2^{n0 (L-1)} k^{n0}` for
/// `L = layers` layers of width `n0` (or wider) and any rank `k >= 2`.
///
/// Section 4 of paper E gives `2^{n0 (L-1)} 2^{n0} = 2^{n0 L}` for rank 2 by folding: a maxout unit
/// computes `|x_j - c| = max(x_j - c, c - x_j)`, so a layer of `n0` units folds each coordinate once
/// and identifies `2^{n0}` regions (section 2.3, Lemma 2). A rank-`k` unit can do the same with two of
/// its pieces (the others get zero weights and a bias too low to win on the bounded region in use), and
/// the last layer cuts the common image into `k^{n0}` cells with `k - 1` parallel hyperplanes per
/// coordinate (Proposition 7's lower bound). It is at least Theorem 8's `k^{L-1} k^{n0}` whenever
/// `k <= 2^{n0}`, which includes the range `k <= 2 n0` that Theorem 8's proof covers.
pub fn maxout_folding(n0: usize, layers: usize, rank: usize) -> BigUint {
    (one() << n0.saturating_mul(layers.saturating_sub(1))) * pow_usize(rank, n0)
}

/// An upper bound for deep maxout networks beyond paper E: the product over layers of Proposition 7's
/// layer upper bound, `prod_l min(sum_{j=0}^{d_l} C(k^2 n_l, j), k^{n_l})` with the effective input
/// dimension `d_l = min(n0, n_1, ..., n_{l-1})`. Each region of the layers below is cut by layer `l`
/// into at most as many pieces as layer `l` has regions on a `d_l`-dimensional input. At most `k^N`.
pub fn maxout_layer_product(n0: usize, widths: &[usize], rank: usize) -> BigUint {
    let mut d = n0;
    let mut product = one();
    for &n in widths {
        product *= prop7_layer(d, n, rank).1;
        d = d.min(n);
    }
    product
}

/// Parameters (weights and biases) of the hidden layers: `sum_l (n_{l-1} + 1) n_l k`, with `n_0 = n0`
/// and `k = rank` (1 for rectifiers): each of the `n_l k` pre-activations has `n_{l-1}` weights and a
/// bias (paper E, appendix C counts parameters the same way; the output layer is left out, as it is
/// the same for the deep and the shallow network with equal outputs).
pub fn parameters(n0: usize, widths: &[usize], rank: usize) -> BigUint {
    let mut total = BigUint::ZERO;
    let mut inputs = n0;
    for &n in widths {
        total += (BigUint::from(inputs) + 1u8) * BigUint::from(n) * BigUint::from(rank);
        inputs = n;
    }
    total
}

/// `log10(x)` for any size: the top 64 bits and the bit length, `log10(top) + shift log10(2)`; relative
/// error about 1e-16. `-inf` for 0.
pub fn log10(x: &BigUint) -> f64 {
    let bits = x.bits();
    if bits == 0 {
        return f64::NEG_INFINITY;
    }
    let shift = bits.saturating_sub(64);
    let top = (x >> shift).iter_u64_digits().next().unwrap_or(0);
    (top as f64).log10() + shift as f64 * std::f64::consts::LOG10_2
}

/// An integer written in decimal, in full when it has at most [`FULL_DIGITS`] digits, else as
/// `d.dddde+N` (five significant digits, rounded half up). Anything that is not a plain run of digits
/// (a ratio such as `3.5166`) is returned as it is.
pub fn abbreviate(decimal: &str) -> String {
    if decimal.len() <= FULL_DIGITS || !decimal.bytes().all(|b| b.is_ascii_digit()) {
        return decimal.to_string();
    }
    let digits = decimal.as_bytes();
    let mut lead: u32 = digits[..5].iter().fold(0, |acc, &b| acc * 10 + u32::from(b - b'0'));
    let mut exponent = decimal.len() - 1;
    if digits[5] >= b'5' {
        lead += 1;
    }
    if lead == 100_000 {
        lead = 10_000;
        exponent += 1;
    }
    let lead = lead.to_string();
    format!("{}.{}e+{exponent}", &lead[..1], &lead[1..])
}

/// [`abbreviate`] of `x`, or all its digits when `full`.
pub fn format_big(x: &BigUint, full: bool) -> String {
    let s = x.to_string();
    if full { s } else { abbreviate(&s) }
}

/// `num / den` in decimal, rounded down: the integer part when it is at least 10^4, four decimals from
/// 0.01 up, else five significant digits as `d.dddde-N`; `inf` when `den` is 0.
pub fn ratio_decimal(num: &BigUint, den: &BigUint) -> String {
    if den == &BigUint::ZERO {
        return "inf".into();
    }
    let ten_thousand = BigUint::from(10_000u32);
    if num / den >= ten_thousand {
        return (num / den).to_string();
    }
    let scaled = num * 10_000u32 / den;
    if scaled >= BigUint::from(100u32) {
        let s = format!("{scaled:0>5}");
        let (int, frac) = s.split_at(s.len() - 4);
        return format!("{int}.{frac}");
    }
    if num == &BigUint::ZERO {
        return "0".into();
    }
    // Smallest s with floor(num 10^s / den) >= 10^4: that quotient has five digits.
    let mut s = ((log10(den) - log10(num)).floor().max(0.0) as usize) + 4;
    let ten = BigUint::from(10u8);
    let mut t = num * pow(&ten, s) / den;
    while t >= BigUint::from(100_000u32) {
        s -= 1;
        t = num * pow(&ten, s) / den;
    }
    while t < ten_thousand {
        s += 1;
        t = num * pow(&ten, s) / den;
    }
    let t = t.to_string();
    format!("{}.{}e-{}", &t[..1], &t[1..], s - 4)
}

/// One quantity of a [`BoundsReport`].
#[derive(Debug, Clone, Serialize)]
pub struct BoundsRow {
    /// A stable key for programs (`theorem4`, `eq7`, `shallow_max`, ...).
    pub id: String,
    /// What the number is, for people.
    pub name: String,
    /// Where it comes from: "section 2.2", "Proposition 3", "Theorem 4", "eq. (7)", "Pascanu et al.
    /// 2013", "Proposition 7", "Theorem 8", "appendix C", or "beyond the paper (...)".
    pub reference: String,
    /// The exact value in decimal (a ratio, for regions per parameter); `None` where the bound does not
    /// apply (see `notes`).
    pub value: Option<String>,
    /// `log10` of the value.
    pub log10: Option<f64>,
    /// Why a bound does not apply, or what it assumes; empty when there is nothing to say.
    pub notes: String,
}

/// The bounds of paper E for one architecture: what `compete regions bounds` prints.
#[derive(Debug, Clone, Serialize)]
pub struct BoundsReport {
    /// Input dimension `n0`.
    pub n0: usize,
    /// Hidden widths `n_1, ..., n_L`.
    pub widths: Vec<usize>,
    /// Hidden units in all layers, `N`.
    pub hidden_units: usize,
    /// Units of the shallow network compared with (default `N`).
    pub shallow_units: usize,
    /// Rank of the maxout rows, if asked for.
    pub maxout_rank: Option<usize>,
    /// The quantities, rectifier rows first, then the maxout rows.
    pub rows: Vec<BoundsRow>,
    /// Warnings about the statements themselves (Theorem 8's range of validity).
    pub caveats: Vec<String>,
}

impl BoundsReport {
    /// The row with this `id`.
    pub fn row(&self, id: &str) -> Option<&BoundsRow> {
        self.rows.iter().find(|r| r.id == id)
    }
}

fn row(id: &str, name: String, reference: &str, value: &BigUint, notes: impl Into<String>) -> BoundsRow {
    BoundsRow {
        id: id.into(),
        name,
        reference: reference.into(),
        value: Some(value.to_string()),
        log10: Some(log10(value)),
        notes: notes.into(),
    }
}

fn row_opt(id: &str, name: String, reference: &str, value: Option<&BigUint>, missing: &str, notes: &str) -> BoundsRow {
    match value {
        Some(v) => row(id, name, reference, v, notes),
        None => BoundsRow { id: id.into(), name, reference: reference.into(), value: None, log10: None, notes: missing.into() },
    }
}

fn per_parameter_row(id: &str, name: String, regions: Option<&BigUint>, params: &BigUint, missing: &str, notes: String) -> BoundsRow {
    match regions {
        Some(r) => BoundsRow {
            id: id.into(),
            name,
            reference: "appendix C".into(),
            value: Some(ratio_decimal(r, params)),
            log10: Some(log10(r) - log10(params)),
            notes,
        },
        None => BoundsRow { id: id.into(), name, reference: "appendix C".into(), value: None, log10: None, notes: missing.into() },
    }
}

/// All bounds of paper E for a network with `n0` inputs and hidden `widths`, compared with a shallow
/// network of `shallow_units` units (default: the same number of units, `N = sum widths`); with
/// `maxout_rank = Some(k)` the maxout rows (Proposition 7, Theorem 8) are added.
///
/// Errors ([`Error::Param`] naming the command-line flag): `n0` outside `1..=MAX_N0` (`--n0`), empty
/// widths, a zero width or more than [`MAX_UNITS`] units in all (`--widths`), `shallow_units` outside
/// `1..=MAX_UNITS` (`--shallow-units`), a rank outside `2..=MAX_RANK` (`--maxout`).
pub fn bounds_report(n0: usize, widths: &[usize], maxout_rank: Option<usize>, shallow_units: Option<usize>) -> Result<BoundsReport> {
    if n0 == 0 || n0 > MAX_N0 {
        return Err(Error::param("--n0", n0, format!("an input dimension from 1 to {MAX_N0}")));
    }
    if widths.is_empty() {
        return Err(Error::param("--widths", "(none)", "at least one hidden width, e.g. --widths 10,10"));
    }
    let list = || widths.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(",");
    if widths.contains(&0) {
        return Err(Error::param("--widths", list(), "hidden widths of at least 1"));
    }
    let units = widths.iter().try_fold(0usize, |acc, &w| acc.checked_add(w)).filter(|&n| n <= MAX_UNITS);
    let Some(units) = units else {
        return Err(Error::param("--widths", list(), format!("at most {MAX_UNITS} hidden units in all")));
    };
    let shallow_units = shallow_units.unwrap_or(units);
    if shallow_units == 0 || shallow_units > MAX_UNITS {
        return Err(Error::param("--shallow-units", shallow_units, format!("a number of units from 1 to {MAX_UNITS}")));
    }
    if let Some(k) = maxout_rank
        && !(2..=MAX_RANK).contains(&k)
    {
        return Err(Error::param("--maxout", k, format!("a maxout rank from 2 to {MAX_RANK} (rank 1 is a linear unit)")));
    }

    let layers = widths.len();
    let narrow = first_narrow(n0, widths).map(|(i, w)| format!("n/a: n_{i} = {w} < n0 = {n0}")).unwrap_or_default();
    let remainders: Vec<usize> = widths[..layers - 1].iter().map(|&w| w % n0).collect();
    let eq7_note = if remainders.iter().any(|&m| m > 0) {
        format!(
            "remainders m_l = {} (eq. 7 uses them, Theorem 4 drops them)",
            remainders.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(",")
        )
    } else {
        "all remainders m_l = 0: equal to Theorem 4".to_string()
    };

    let mut rows = Vec::new();
    let shallow_max = shallow(n0, shallow_units);
    rows.push(row(
        "shallow_max",
        format!("shallow rectifier network, {shallow_units} units: maximum"),
        "section 2.2",
        &shallow_max,
        "Zaslavsky: sum_{j=0}^{n0} C(units, j), hyperplanes in general position",
    ));
    rows.push(row("relu_upper", format!("rectifier network, {units} units: upper bound 2^N"), "Proposition 3", &upper_relu(units), ""));
    rows.push(row(
        "relu_layer_product",
        "deep rectifier network: product of per-layer Zaslavsky sums (upper bound)".into(),
        "beyond the paper (Raghu et al. 2017 / Serra et al. 2018 style)",
        &relu_layer_product(n0, widths),
        "prod_l sum_{j=0}^{d_l} C(n_l, j), d_l = min(n0, n_1..n_{l-1})",
    ));
    // The last layer's Zaslavsky sum, shared by Theorem 4, eq. (7) and Pascanu et al.
    let last_sum = shallow(n0, widths[layers - 1]);
    let t4 = theorem4_folds(n0, widths).map(|f| f * &last_sum);
    rows.push(row_opt("theorem4", "deep rectifier network: Theorem 4 lower bound".into(), "Theorem 4", t4.as_ref(), &narrow, ""));
    let e7 = eq7_folds(n0, widths).map(|f| f * &last_sum);
    rows.push(row_opt("eq7", "deep rectifier network: eq. (7) lower bound".into(), "eq. (7)", e7.as_ref(), &narrow, &eq7_note));
    let p13 = pascanu_folds(n0, widths).map(|f| f * &last_sum);
    rows.push(row_opt(
        "pascanu2013",
        "deep rectifier network: Pascanu et al. 2013 lower bound".into(),
        "Pascanu et al. 2013",
        p13.as_ref(),
        &narrow,
        "(prod_{i<L} floor(n_i/n0)) sum_{j=0}^{n0} C(n_L, j)",
    ));
    let deep_params = parameters(n0, widths, 1);
    let shallow_params = parameters(n0, &[shallow_units], 1);
    rows.push(row(
        "relu_deep_parameters",
        "deep rectifier network: hidden-layer parameters".into(),
        "appendix C",
        &deep_params,
        "sum_l (n_{l-1} + 1) n_l; output layer not counted",
    ));
    rows.push(row(
        "relu_shallow_parameters",
        format!("shallow rectifier network, {shallow_units} units: hidden-layer parameters"),
        "appendix C",
        &shallow_params,
        "(n0 + 1) units",
    ));
    rows.push(per_parameter_row(
        "relu_deep_per_parameter",
        "deep rectifier network: eq. (7) regions per parameter".into(),
        e7.as_ref(),
        &deep_params,
        &narrow,
        "eq. (7) / deep parameters, rounded down".into(),
    ));
    rows.push(per_parameter_row(
        "relu_shallow_per_parameter",
        format!("shallow rectifier network, {shallow_units} units: maximal regions per parameter"),
        Some(&shallow_max),
        &shallow_params,
        "",
        "section 2.2 maximum / shallow parameters, rounded down".into(),
    ));

    let mut caveats = Vec::new();
    if let Some(k) = maxout_rank {
        let (lower, upper) = prop7_layer(n0, shallow_units, k);
        rows.push(row(
            "maxout_shallow_lower",
            format!("shallow rank-{k} maxout network, {shallow_units} units: lower bound"),
            "Proposition 7",
            &lower,
            "k^{min(n0, units)}",
        ));
        rows.push(row(
            "maxout_shallow_upper",
            format!("shallow rank-{k} maxout network, {shallow_units} units: upper bound"),
            "Proposition 7",
            &upper,
            "min(sum_{j=0}^{n0} C(k^2 units, j), k^units)",
        ));
        rows.push(row(
            "maxout_patterns",
            format!("rank-{k} maxout network, {units} units: activation patterns k^N (upper bound)"),
            "section 4",
            &pow_usize(k, units),
            "",
        ));
        rows.push(row(
            "maxout_layer_product",
            format!("deep rank-{k} maxout network: product of per-layer Proposition 7 upper bounds"),
            "beyond the paper (product of Proposition 7)",
            &maxout_layer_product(n0, widths, k),
            "prod_l min(sum_{j=0}^{d_l} C(k^2 n_l, j), k^{n_l}), d_l = min(n0, n_1..n_{l-1})",
        ));
        let beyond = k > 2 * n0;
        let t8_note = if beyond {
            format!("k^(L-1) k^n0; NOT covered by the proof: k = {k} > 2 n0 = {}", 2 * n0)
        } else {
            "k^(L-1) k^n0 (widths >= n0: extra units switched off)".to_string()
        };
        let t8 = if narrow.is_empty() { Some(theorem8(n0, layers, k)) } else { None };
        let folding = if narrow.is_empty() { Some(maxout_folding(n0, layers, k)) } else { None };
        rows.push(row_opt(
            "maxout_folding",
            format!("deep rank-{k} maxout network: folding lower bound 2^(n0 (L-1)) k^n0"),
            "beyond the paper (section 4's rank-2 folding, any rank)",
            folding.as_ref(),
            &narrow,
            "layers 1..L-1 fold each coordinate once with two pieces per unit; last layer k^n0 (Proposition 7)",
        ));
        rows.push(row_opt(
            "theorem8",
            format!("deep rank-{k} maxout network: Theorem 8 lower bound"),
            "Theorem 8",
            t8.as_ref(),
            &narrow,
            &t8_note,
        ));
        let deep_params = parameters(n0, widths, k);
        let shallow_params = parameters(n0, &[shallow_units], k);
        rows.push(row(
            "maxout_deep_parameters",
            format!("deep rank-{k} maxout network: hidden-layer parameters"),
            "appendix C",
            &deep_params,
            "sum_l (n_{l-1} + 1) n_l k",
        ));
        rows.push(row(
            "maxout_shallow_parameters",
            format!("shallow rank-{k} maxout network, {shallow_units} units: hidden-layer parameters"),
            "appendix C",
            &shallow_params,
            "(n0 + 1) units k",
        ));
        rows.push(per_parameter_row(
            "maxout_deep_per_parameter",
            format!("deep rank-{k} maxout network: Theorem 8 regions per parameter"),
            t8.as_ref(),
            &deep_params,
            &narrow,
            "Theorem 8 / deep parameters, rounded down".into(),
        ));
        rows.push(per_parameter_row(
            "maxout_shallow_per_parameter",
            format!("shallow rank-{k} maxout network, {shallow_units} units: Proposition 7 upper bound per parameter"),
            Some(&upper),
            &shallow_params,
            "",
            "Proposition 7 upper bound / shallow parameters, rounded down".into(),
        ));
        caveats.push(format!(
            "Theorem 8: the construction of appendix D (seeds +-e_i) only covers rank k <= 2 n0; as stated the theorem \
             overshoots beyond that (n0 = 1, k = 3, L = 2: it claims 9, but two convex 3-piece maps compose to at most 7 pieces). {}",
            if beyond {
                format!("Here k = {k} > 2 n0 = {}: the Theorem 8 rows are not backed by the proof.", 2 * n0)
            } else {
                format!("Here k = {k} <= 2 n0 = {}.", 2 * n0)
            }
        ));
    }
    Ok(BoundsReport { n0, widths: widths.to_vec(), hidden_units: units, shallow_units, maxout_rank, rows, caveats })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(s: &str) -> BigUint {
        s.parse().unwrap()
    }

    /// splitmix64: deterministic pseudo-random numbers for the brute-force checks.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        /// Uniform in [-1, 1).
        fn uniform(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        }
    }

    #[test]
    fn binomial_matches_pascals_triangle() {
        let mut row = vec![BigUint::from(1u8)];
        for n in 0..=70usize {
            for (k, c) in row.iter().enumerate() {
                assert_eq!(&binomial(n, k), c, "C({n}, {k})");
            }
            assert_eq!(binomial(n, n + 1), BigUint::ZERO);
            let mut next = vec![BigUint::from(1u8)];
            next.extend(row.windows(2).map(|w| &w[0] + &w[1]));
            next.push(BigUint::from(1u8));
            row = next;
        }
    }

    #[test]
    fn binomial_known_large_values() {
        assert_eq!(binomial(100, 50), big("100891344545564193334812497256"));
        // C(200, 100), beyond u128.
        assert_eq!(binomial(200, 100), big("90548514656103281165404177077484163874504589675413336841320"));
        assert_eq!(binomial(1000, 1), BigUint::from(1000u32));
        assert_eq!(binomial(1000, 999), BigUint::from(1000u32));
        assert_eq!(binomial(0, 0), BigUint::from(1u8));
    }

    #[test]
    fn shallow_and_proposition_3_small_cases() {
        // n0 = 2, 20 units: 1 + 20 + 190.
        assert_eq!(shallow(2, 20), BigUint::from(211u32));
        assert_eq!(upper_relu(20), BigUint::from(1_048_576u32));
        // n0 = 1: n + 1 intervals; n0 >= units: every pattern, 2^units.
        assert_eq!(shallow(1, 7), BigUint::from(8u8));
        assert_eq!(shallow(5, 5), BigUint::from(32u8));
        assert_eq!(shallow(9, 5), BigUint::from(32u8));
        // Binary splitting on large sums, both sides of units / 2, against the term-by-term sum.
        for (n0, units) in [(300, 1000), (700, 1000), (499, 999), (500, 999)] {
            let direct: BigUint = (0..=n0).map(|j| binomial(units, j)).sum();
            assert_eq!(shallow(n0, units), direct, "shallow({n0}, {units})");
        }
        // The complement path (n0 >= units / 2) against the direct sum.
        for units in 1..40 {
            for n0 in 0..=units {
                let direct: BigUint = (0..=n0).map(|j| binomial(units, j)).sum();
                assert_eq!(shallow(n0, units), direct, "shallow({n0}, {units})");
            }
        }
    }

    #[test]
    fn theorem4_eq7_pascanu_hand_computed() {
        // n0 = 2, widths 10,10: Theorem 4 = floor(10/2)^2 (1 + 10 + 45) = 25 * 56; no remainder, so
        // eq. (7) agrees; Pascanu et al. 2013 = 5 * 56.
        assert_eq!(theorem4(2, &[10, 10]), Some(BigUint::from(1400u32)));
        assert_eq!(eq7(2, &[10, 10]), Some(BigUint::from(1400u32)));
        assert_eq!(pascanu2013(2, &[10, 10]), Some(BigUint::from(280u32)));
        // n0 = 3, widths 7,7,5: floor(7/3) = 2, m = 1. Theorem 4: (2^3)^2 * (1 + 5 + 10 + 10) = 64 * 26
        // = 1664. Eq. (7): (2^2 * 3^1)^2 * 26 = 144 * 26 = 3744 > 1664. Pascanu: 2 * 2 * 26 = 104.
        assert_eq!(theorem4(3, &[7, 7, 5]), Some(BigUint::from(1664u32)));
        assert_eq!(eq7(3, &[7, 7, 5]), Some(BigUint::from(3744u32)));
        assert_eq!(pascanu2013(3, &[7, 7, 5]), Some(BigUint::from(104u32)));
        // One layer: all three are the shallow maximum.
        assert_eq!(theorem4(2, &[10]), Some(shallow(2, 10)));
        assert_eq!(eq7(2, &[10]), Some(shallow(2, 10)));
        // A layer narrower than n0, or no layers: not covered.
        assert_eq!(theorem4(2, &[10, 1]), None);
        assert_eq!(eq7(2, &[1, 10]), None);
        assert_eq!(pascanu2013(2, &[]), None);
        assert_eq!(theorem4(0, &[3]), None);
    }

    #[test]
    fn eq7_is_never_below_theorem4_and_pascanu() {
        for n0 in 1..5 {
            for a in n0..12 {
                for b in n0..12 {
                    let w = [a, b, 6.max(n0)];
                    let (t4, e7, p) = (theorem4(n0, &w).unwrap(), eq7(n0, &w).unwrap(), pascanu2013(n0, &w).unwrap());
                    assert!(e7 >= t4 && t4 >= p, "n0 {n0} widths {w:?}");
                    assert_eq!(e7 == t4, a % n0 == 0 && b % n0 == 0, "n0 {n0} widths {w:?}");
                }
            }
        }
    }

    #[test]
    fn relu_layer_product_upper_bounds() {
        // n0 = 2, widths 10,10: (1 + 10 + 45)^2 = 3136, between eq. (7) and 2^20.
        assert_eq!(relu_layer_product(2, &[10, 10]), BigUint::from(3136u32));
        // A bottleneck of width 1 caps the dimension: layer 3 sees a line, 1 + 4 pieces.
        assert_eq!(relu_layer_product(3, &[4, 1, 4]), BigUint::from((1 + 4 + 6 + 4) * 2 * 5u32));
        for w in [[3usize, 3], [5, 2], [8, 8]] {
            let p = relu_layer_product(2, &w);
            assert!(p <= upper_relu(w.iter().sum()));
            if let Some(e) = eq7(2, &w) {
                assert!(e <= p);
            }
        }
    }

    #[test]
    fn log10_of_powers() {
        let ten = BigUint::from(10u8);
        for k in [0usize, 1, 5, 19, 20, 21, 100, 1000, 5000] {
            let l = log10(&pow(&ten, k));
            assert!((l - k as f64).abs() < 1e-9 * (k as f64).max(1.0), "log10(10^{k}) = {l}");
        }
        let l = log10(&(BigUint::from(1u8) << 3000usize));
        assert!((l - 3000.0 * std::f64::consts::LOG10_2).abs() < 1e-9, "{l}");
        assert!((l - 903.089_986_991_943_5).abs() < 1e-9);
        assert!((log10(&BigUint::from(211u32)) - 211f64.log10()).abs() < 1e-12);
        assert_eq!(log10(&BigUint::ZERO), f64::NEG_INFINITY);
    }

    #[test]
    fn abbreviation_and_ratios() {
        let ten = BigUint::from(10u8);
        let forty = pow(&ten, 40) - 1u8;
        assert_eq!(format_big(&forty, false), "9".repeat(40));
        assert_eq!(format_big(&pow(&ten, 40), false), "1.0000e+40");
        assert_eq!(format_big(&pow(&ten, 40), true), format!("1{}", "0".repeat(40)));
        assert_eq!(format_big(&(BigUint::from(123_456u32) * pow(&ten, 36)), false), "1.2346e+41");
        assert_eq!(format_big(&(BigUint::from(999_995u32) * pow(&ten, 35)), false), "1.0000e+41");
        assert_eq!(format_big(&(BigUint::from(123_454u32) * pow(&ten, 36)), false), "1.2345e+41");
        assert_eq!(abbreviate("3.5166"), "3.5166");
        let r = |a: u64, b: u64| ratio_decimal(&BigUint::from(a), &BigUint::from(b));
        assert_eq!(r(211, 60), "3.5166");
        assert_eq!(r(1400, 140), "10.0000");
        assert_eq!(r(1, 2), "0.5000");
        assert_eq!(r(123, 10_000), "0.0123");
        assert_eq!(r(1, 3000), "3.3333e-4");
        assert_eq!(r(2, 2_000_002), "9.9999e-7");
        assert_eq!(r(123_456_789, 1), "123456789");
        assert_eq!(r(0, 5), "0");
        assert_eq!(r(3, 0), "inf");
    }

    /// Zaslavsky in 1-D by brute force: `n` distinct points cut the line into the intervals between
    /// them; count the distinct sign vectors at the midpoints and beyond the ends.
    #[test]
    fn zaslavsky_brute_force_1d() {
        let mut rng = Rng(7);
        for n in 1..30 {
            let mut points: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
            points.sort_by(f64::total_cmp);
            let mut probes = vec![points[0] - 1.0, points[n - 1] + 1.0];
            probes.extend(points.windows(2).map(|w| (w[0] + w[1]) / 2.0));
            let patterns: std::collections::HashSet<Vec<bool>> = probes.iter().map(|&x| points.iter().map(|&p| x > p).collect()).collect();
            assert_eq!(BigUint::from(patterns.len()), shallow(1, n), "{n} points");
        }
    }

    /// Zaslavsky in 2-D by brute force: random lines in general position. Every region of an
    /// arrangement of n >= 2 lines in general position has a vertex, so stepping from each
    /// intersection point into its four quadrants reaches every region; regions are convex, so distinct
    /// regions are distinct sign vectors. That count, Euler's formula 1 + n + #intersection points, and
    /// shallow(2, n) must agree.
    #[test]
    fn zaslavsky_brute_force_2d() {
        let mut rng = Rng(42);
        for n in 2..25 {
            // Line i: a_i x + b_i y + c_i = 0.
            let lines: Vec<[f64; 3]> = (0..n).map(|_| [rng.uniform(), rng.uniform(), rng.uniform()]).collect();
            let side = |p: [f64; 2]| -> Vec<bool> { lines.iter().map(|l| l[0] * p[0] + l[1] * p[1] + l[2] > 0.0).collect() };
            let mut vertices = Vec::new();
            let mut patterns = std::collections::HashSet::new();
            for i in 0..n {
                for j in i + 1..n {
                    let (l, m) = (lines[i], lines[j]);
                    let det = l[0] * m[1] - l[1] * m[0];
                    assert!(det.abs() > 1e-6, "lines {i} and {j} are (nearly) parallel");
                    let p = [(l[1] * m[2] - l[2] * m[1]) / det, (l[2] * m[0] - l[0] * m[2]) / det];
                    // Directions along line i and line j; p + eps (+-u +-v) lands in the four quadrants.
                    let (u, v) = ([-l[1], l[0]], [-m[1], m[0]]);
                    let eps = 1e-7;
                    for (su, sv) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
                        let q = [p[0] + eps * (su * u[0] + sv * v[0]), p[1] + eps * (su * u[1] + sv * v[1])];
                        patterns.insert(side(q));
                    }
                    vertices.push(p);
                }
            }
            // General position: no three lines through one point (all vertices distinct).
            for (a, p) in vertices.iter().enumerate() {
                for q in &vertices[a + 1..] {
                    assert!((p[0] - q[0]).hypot(p[1] - q[1]) > 1e-5, "three lines (nearly) concurrent");
                }
            }
            // Random probes never find a sign vector the enumeration missed.
            for _ in 0..2000 {
                let q = [rng.uniform() * 50.0, rng.uniform() * 50.0];
                assert!(patterns.contains(&side(q)), "a region without a vertex among {n} lines");
            }
            let euler = 1 + n + vertices.len();
            assert_eq!(patterns.len(), euler, "{n} lines");
            assert_eq!(BigUint::from(patterns.len()), shallow(2, n), "{n} lines");
        }
    }

    #[test]
    fn proposition_7_small_cases() {
        let p = |n, m, k| {
            let (lo, hi) = prop7_layer(n, m, k);
            (lo.to_string(), hi.to_string())
        };
        // One unit on a line: exactly k pieces.
        assert_eq!(p(1, 1, 3), ("3".into(), "3".into()));
        // n = 2, m = 2, k = 2: lower 2^2, upper min(1 + 8 + 28, 4) = 4.
        assert_eq!(p(2, 2, 2), ("4".into(), "4".into()));
        // n = 2, m = 3, k = 3: lower 3^2 = 9, upper min(1 + 27 + 351, 27) = 27.
        assert_eq!(p(2, 3, 3), ("9".into(), "27".into()));
        // n = 1, m = 3, k = 2: lower 2, upper min(1 + 12, 8) = 8.
        assert_eq!(p(1, 3, 2), ("2".into(), "8".into()));
        // n = 1, m = 5, k = 4: upper min(1 + 80, 4^5) = 81 (the sum is the smaller).
        assert_eq!(p(1, 5, 4), ("4".into(), "81".into()));
        // n = 2, m = 8, k = 4 (shallow comparison of the 4,4 example): min(1 + 128 + 8128, 4^8).
        assert_eq!(p(2, 8, 4), ("16".into(), "8257".into()));
        // No inputs: one region.
        assert_eq!(p(0, 3, 2), ("1".into(), "1".into()));
        // The true maximum on a line, 1 + m (k - 1) (each unit adds at most k - 1 breakpoints), lies
        // between the bounds; the upper bound against the plain formula, for all small cases.
        for m in 1..8 {
            for k in 2..6 {
                let (lo, hi) = prop7_layer(1, m, k);
                let exact = BigUint::from(1 + m * (k - 1));
                assert!(lo <= exact && exact <= hi, "m {m} k {k}");
                for n in 0..5 {
                    let formula = (0..=n).map(|j| binomial(k * k * m, j)).sum::<BigUint>().min(pow_usize(k, m));
                    assert_eq!(prop7_layer(n, m, k).1, formula, "n {n} m {m} k {k}");
                }
            }
        }
    }

    #[test]
    fn theorem8_and_maxout_product() {
        // n0 = 2, widths 4,4, rank 4: k^{L-1} k^{n0} = 4 * 16.
        assert_eq!(theorem8(2, 2, 4), BigUint::from(64u32));
        // Rank 2: Theorem 8 gives 2^{L-1+n0}, below section 4's 2^{n0 L} from folding.
        assert_eq!(theorem8(3, 4, 2), BigUint::from(64u32));
        assert_eq!(maxout_folding(3, 4, 2), BigUint::from(1u32 << 12));
        // Any rank: 2^{n0 (L-1)} k^{n0}, at least Theorem 8 whenever k <= 2^{n0} (so for k <= 2 n0).
        assert_eq!(maxout_folding(2, 2, 4), BigUint::from(4 * 16u32));
        assert_eq!(maxout_folding(1, 2, 3), BigUint::from(6u8)); // <= 7, where Theorem 8 claims 9
        for n0 in 1..5 {
            for k in 2..=2 * n0 {
                for layers in 1..5 {
                    assert!(maxout_folding(n0, layers, k) >= theorem8(n0, layers, k), "n0 {n0} k {k} L {layers}");
                }
            }
        }
        assert_eq!(theorem8(1, 1, 5), BigUint::from(5u8));
        // Per layer: min(1 + 64 + 2016, 4^4) = 256, twice.
        assert_eq!(maxout_layer_product(2, &[4, 4], 4), BigUint::from(65_536u32));
        // n0 = 1, k = 3, L = 2 (width 1): the caveat case. The layer product gives 3 * 3 = 9 as well;
        // the true maximum is at most 7, below Theorem 8's stated 9.
        assert_eq!(maxout_layer_product(1, &[1, 1], 3), BigUint::from(9u8));
        assert_eq!(theorem8(1, 2, 3), BigUint::from(9u8));
    }

    #[test]
    fn parameters_and_regions_per_parameter() {
        // (2 + 1) 10 + (10 + 1) 10 = 140; shallow (2 + 1) 20 = 60.
        assert_eq!(parameters(2, &[10, 10], 1), BigUint::from(140u32));
        assert_eq!(parameters(2, &[20], 1), BigUint::from(60u32));
        assert_eq!(parameters(2, &[4, 4], 4), BigUint::from((3 * 4 + 5 * 4) * 4u32));
        let r = bounds_report(2, &[10, 10], None, None).unwrap();
        let v = |id: &str| r.row(id).unwrap().value.clone().unwrap();
        assert_eq!(v("relu_deep_per_parameter"), "10.0000"); // 1400 / 140
        assert_eq!(v("relu_shallow_per_parameter"), "3.5166"); // 211 / 60
        let l = r.row("relu_deep_per_parameter").unwrap().log10.unwrap();
        assert!((l - 1.0).abs() < 1e-12);
    }

    #[test]
    fn report_rows_for_the_papers_examples() {
        let r = bounds_report(2, &[10, 10], None, Some(20)).unwrap();
        let v = |id: &str| r.row(id).unwrap().value.clone();
        assert_eq!(v("shallow_max").as_deref(), Some("211"));
        assert_eq!(v("relu_upper").as_deref(), Some("1048576"));
        assert_eq!(v("theorem4").as_deref(), Some("1400"));
        assert_eq!(v("eq7").as_deref(), Some("1400"));
        assert_eq!(v("pascanu2013").as_deref(), Some("280"));
        assert_eq!(v("relu_layer_product").as_deref(), Some("3136"));
        assert!(r.row("theorem8").is_none() && r.caveats.is_empty());

        let r = bounds_report(2, &[4, 4], Some(4), None).unwrap();
        let v = |id: &str| r.row(id).unwrap().value.clone();
        assert_eq!(v("theorem8").as_deref(), Some("64"));
        assert_eq!(v("maxout_shallow_lower").as_deref(), Some("16"));
        assert_eq!(v("maxout_shallow_upper").as_deref(), Some("8257"));
        assert_eq!(v("maxout_patterns").as_deref(), Some("65536"));
        assert_eq!(v("maxout_deep_parameters").as_deref(), Some("128"));
        assert_eq!(v("maxout_shallow_parameters").as_deref(), Some("96"));
        assert_eq!(v("maxout_deep_per_parameter").as_deref(), Some("0.5000"));
        assert_eq!(r.caveats.len(), 1);
        assert!(r.caveats[0].contains("k <= 2 n0"), "{}", r.caveats[0]);

        // A narrow layer: the lower bounds do not apply, and say why.
        let r = bounds_report(2, &[10, 1], Some(5), None).unwrap();
        for id in ["theorem4", "eq7", "pascanu2013", "theorem8", "relu_deep_per_parameter"] {
            let row = r.row(id).unwrap();
            assert!(row.value.is_none() && row.notes == "n/a: n_2 = 1 < n0 = 2", "{id}: {row:?}");
        }
        assert!(r.caveats[0].contains("k = 5 > 2 n0 = 4"), "{}", r.caveats[0]);
    }

    #[test]
    fn report_rejects_bad_input_naming_the_flag() {
        let err = |r: Result<BoundsReport>| r.unwrap_err().to_string();
        assert!(err(bounds_report(0, &[3], None, None)).contains("--n0"));
        assert!(err(bounds_report(2, &[], None, None)).contains("--widths"));
        assert!(err(bounds_report(2, &[3, 0], None, None)).contains("--widths"));
        assert!(err(bounds_report(2, &[MAX_UNITS, 1], None, None)).contains("--widths"));
        assert!(err(bounds_report(2, &[usize::MAX, 2], None, None)).contains("--widths"));
        assert!(err(bounds_report(2, &[3], Some(1), None)).contains("--maxout"));
        assert!(err(bounds_report(2, &[3], Some(MAX_RANK + 1), None)).contains("--maxout"));
        assert!(err(bounds_report(2, &[3], None, Some(0))).contains("--shallow-units"));
        assert!(err(bounds_report(MAX_N0 + 1, &[3], None, None)).contains("--n0"));
    }
}
