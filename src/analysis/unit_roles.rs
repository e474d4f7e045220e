//! Part-units and categorical-units of a recurrent sparse coder (paper D, section 3, Figures 2-4
//! and 7-10), computed from plain matrices.
//!
//! A recurrent coder runs `z^{t+1} = max(0, E x + S z^t - b)` from `z^0 = 0` and reconstructs
//! `x ~ D z^T`, classifies by `C z^T` (paper D, eq. 1-3). In the ISTA algorithm (eq. 4) every
//! encoder row `E_i` is proportional to its decoder column `D_i`, and every row `(S - I)_i` to
//! `-(D_i)^T D`; section 3 measures how far each unit is from that:
//!
//! - the **angle** between `E_i` and `D_i` places unit `i` on the part/categorical continuum:
//!   below 0.5 rad a *part-unit*, above 0.7 rad a *categorical-unit* (footnote 7, [`Thresholds`]);
//! - `||(S - I)_i||` and `||C_i||` (a column of `C`) against the angle are Figure 3;
//! - `S_ij - delta_ij` against `D_i . D_j` for part-unit recipients is Figure 4(a, b), and the angle
//!   between `(S - I)_i` and `-(D^T D)_i` (the ISTA prediction, up to the step `alpha > 0`) against
//!   the encoder-decoder angle is Figure 4(c);
//! - the mean of `z_i^T` when positive and the probability that `z_i^1 = 0 < z_i^2` are Figure
//!   7(b, d) ([`unit_activity`]);
//! - the least-squares decoders `D^t` of every iteration are Figure 8 ([`optimal_decoders`]);
//! - the components `D_i z_i^T` of one reconstruction, by decreasing contribution, are Figure 9
//!   ([`contributions`]);
//! - the units with the largest `|C_ki|` of every class are Figure 10 ([`strongest_units_per_class`]).
//!
//! Nothing here knows a model type: [`RecurrentCoder`] borrows the four matrices.

use std::fmt;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::tensor::{Matrix, Op, matmul};

/// The weights of a recurrent sparse coder (paper D, Figure 1), borrowed: `n` units, `m` inputs,
/// `l` classes.
#[derive(Clone, Copy, Debug)]
pub struct RecurrentCoder<'a> {
    /// `E`, `[n, m]`: row `i` is unit `i`'s encoder.
    pub encoder: &'a Matrix,
    /// `S`, `[n, n]`: row `i` holds the connections into unit `i` (`z^{t+1}_i` reads `S_i . z^t`).
    pub explain: &'a Matrix,
    /// `D`, `[m, n]`: column `i` is unit `i`'s decoder.
    pub decoder: &'a Matrix,
    /// `C`, `[l, n]` (`l` may be 0: no classifier): column `i` is unit `i`'s projection to the classes.
    pub classifier: &'a Matrix,
}

impl<'a> RecurrentCoder<'a> {
    /// The coder of these matrices, after checking that their shapes agree (`E [n, m]`, `S [n, n]`,
    /// `D [m, n]`, `C [l, n]`, every buffer `rows * cols` long, `n >= 1`).
    pub fn new(encoder: &'a Matrix, explain: &'a Matrix, decoder: &'a Matrix, classifier: &'a Matrix) -> Result<Self> {
        let (n, m) = (encoder.rows, encoder.cols);
        if n == 0 || m == 0 {
            return Err(Error::shape("encoder E of the recurrent coder", format!("{n} x {m}"), "at least one unit and one input"));
        }
        let check = |what: &str, a: &Matrix, rows: usize, cols: usize| {
            if (a.rows, a.cols) != (rows, cols) || a.data.len() != a.rows * a.cols {
                Err(Error::shape(
                    format!("{what} of the recurrent coder"),
                    format!("{} x {} ({} values)", a.rows, a.cols, a.data.len()),
                    format!("{rows} x {cols}, as the encoder E ({n} units x {m} inputs) implies"),
                ))
            } else {
                Ok(())
            }
        };
        check("encoder E", encoder, n, m)?;
        check("explaining-away matrix S", explain, n, n)?;
        check("decoder D", decoder, m, n)?;
        check("classifier C", classifier, classifier.rows, n)?;
        Ok(RecurrentCoder { encoder, explain, decoder, classifier })
    }

    /// Units `n`.
    pub fn units(&self) -> usize {
        self.encoder.rows
    }

    /// Inputs `m`.
    pub fn inputs(&self) -> usize {
        self.encoder.cols
    }

    /// Classes `l`.
    pub fn classes(&self) -> usize {
        self.classifier.rows
    }

    /// Unit `i`'s decoder, column `D_i` (`m` values).
    pub fn decoder_column(&self, i: usize) -> Vec<f32> {
        column(self.decoder, i)
    }

    /// Row `i` of `S - I` (the connections into unit `i`, paper D footnote 6).
    pub fn recurrent_row(&self, i: usize) -> Vec<f64> {
        let mut r: Vec<f64> = self.explain.row(i).iter().map(|&v| f64::from(v)).collect();
        r[i] -= 1.0;
        r
    }

    /// `D^T D` (`[n, n]`, in f32 as the weights are): entry `(i, j)` is `D_i . D_j`.
    pub fn decoder_gram(&self) -> Result<Matrix> {
        let n = self.units();
        let mut g = Matrix::zeros(n, n);
        matmul(&mut g, self.decoder, Op::T, self.decoder, Op::N, false)?;
        Ok(g)
    }
}

/// Column `j` of `a`.
fn column(a: &Matrix, j: usize) -> Vec<f32> {
    (0..a.rows).map(|r| a.data[r * a.cols + j]).collect()
}

/// The Euclidean norm, in f64.
pub fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The angle between `a` and `b` in radians, in `[0, pi]`; 0 when either is zero (or their lengths
/// differ: only the common prefix is compared).
pub fn angle(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 || !(na.is_finite() && nb.is_finite()) {
        return 0.0;
    }
    let c = a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / (na * nb);
    c.clamp(-1.0, 1.0).acos()
}

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// The encoder-decoder angles that split part-units from categorical-units (paper D, footnote 7:
/// "less than 0.5 radians ... part-units, ... greater than 0.7 radians ... categorical-units").
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Thresholds {
    /// A unit whose angle is below this is a part-unit (paper: 0.5 rad).
    pub part_below: f64,
    /// A unit whose angle is above this is a categorical-unit (paper: 0.7 rad).
    pub categorical_above: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { part_below: 0.5, categorical_above: 0.7 }
    }
}

impl Thresholds {
    /// Checks `0 <= part_below <= categorical_above <= pi`, both finite; errors name the flags
    /// `--part-below` and `--categorical-above`.
    pub fn validate(&self) -> Result<()> {
        let ok = |v: f64| v.is_finite() && (0.0..=std::f64::consts::PI).contains(&v);
        if !ok(self.part_below) {
            return Err(Error::param("--part-below", self.part_below, "an angle in radians between 0 and pi"));
        }
        if !ok(self.categorical_above) || self.categorical_above < self.part_below {
            return Err(Error::param(
                "--categorical-above",
                self.categorical_above,
                format!("an angle in radians between --part-below ({}) and pi", self.part_below),
            ));
        }
        Ok(())
    }

    /// The kind of a unit whose encoder-decoder angle is `angle`.
    pub fn kind(&self, angle: f64) -> UnitKind {
        if angle < self.part_below {
            UnitKind::Part
        } else if angle > self.categorical_above {
            UnitKind::Categorical
        } else {
            UnitKind::Between
        }
    }
}

/// Where a unit stands on the part/categorical continuum (paper D, section 3, footnote 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    /// Encoder-decoder angle below [`Thresholds::part_below`]: an ISTA-like sparse coder (section 3.1).
    Part,
    /// Encoder-decoder angle above [`Thresholds::categorical_above`]: a prototype unit (section 3.2).
    Categorical,
    /// Neither (the continuum between the two thresholds).
    Between,
}

impl fmt::Display for UnitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnitKind::Part => "part",
            UnitKind::Categorical => "categorical",
            UnitKind::Between => "between",
        })
    }
}

/// What section 3 measures of one unit from the weights alone (Figures 3 and 4c).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnitRole {
    /// The unit's index.
    pub unit: usize,
    /// Angle between encoder row `E_i` and decoder column `D_i`, radians (0 when either is zero;
    /// Figures 3 and 4c, the x axis).
    pub angle: f64,
    /// `||(S - I)_i||`, the incoming recurrent connections (Figure 3a, b, e).
    pub recurrent_norm: f64,
    /// `||C_i||`, column `i` of the classifier (Figure 3c, d; 0 without a classifier).
    pub classifier_norm: f64,
    /// The class the unit projects to most strongly, `argmax_k |C_ki|` (footnote 8; `None` without
    /// a classifier or with a zero column).
    pub class: Option<usize>,
    /// Angle between `(S - I)_i` and the ISTA prediction `-(D^T D)_i` (Figure 4c, the y axis; 0 for
    /// perfect ISTA, `S - I = -alpha D^T D`).
    pub ista_angle: f64,
    /// Part-, categorical- or neither (footnote 7).
    pub kind: UnitKind,
}

/// The [`UnitRole`] of every unit of `coder` (paper D, section 3, Figures 3 and 4c).
pub fn unit_roles(coder: &RecurrentCoder<'_>, thresholds: &Thresholds) -> Result<Vec<UnitRole>> {
    thresholds.validate()?;
    let n = coder.units();
    let gram = coder.decoder_gram()?;
    let l = coder.classes();
    Ok((0..n)
        .map(|i| {
            let e = to_f64(coder.encoder.row(i));
            let d = to_f64(&coder.decoder_column(i));
            let encoder_angle = angle(&e, &d);
            let s = coder.recurrent_row(i);
            let ista: Vec<f64> = gram.row(i).iter().map(|&v| -f64::from(v)).collect();
            let c = to_f64(&column(coder.classifier, i));
            let mut class = None;
            let mut best = 0.0;
            for (k, v) in c.iter().enumerate().take(l) {
                if v.abs() > best {
                    best = v.abs();
                    class = Some(k);
                }
            }
            UnitRole {
                unit: i,
                angle: encoder_angle,
                recurrent_norm: norm(&s),
                classifier_norm: norm(&c),
                class,
                ista_angle: angle(&s, &ista),
                kind: thresholds.kind(encoder_angle),
            }
        })
        .collect())
}

/// How many units of each kind `roles` has: (part, categorical, between).
pub fn kind_counts(roles: &[UnitRole]) -> (usize, usize, usize) {
    let count = |k: UnitKind| roles.iter().filter(|r| r.kind == k).count();
    (count(UnitKind::Part), count(UnitKind::Categorical), count(UnitKind::Between))
}

/// The units ordered by decreasing encoder-decoder angle, most categorical first (Figure 2's
/// order); ties by index.
pub fn by_angle_descending(roles: &[UnitRole]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..roles.len()).collect();
    order.sort_by(|&a, &b| roles[b].angle.total_cmp(&roles[a].angle).then(a.cmp(&b)));
    order
}

/// Figure 2's selection from units sorted most categorical first (`order`): the first `per_row`
/// (most categorical), `per_row` evenly stepped through the rest, and the last `per_row` (least
/// categorical). With at most `3 * per_row` units, all of them in order.
pub fn figure2_selection(order: &[usize], per_row: usize) -> Vec<usize> {
    let n = order.len();
    if per_row == 0 || n <= 3 * per_row {
        return order.to_vec();
    }
    let mut out: Vec<usize> = order[..per_row].to_vec();
    let middle = &order[per_row..n - per_row];
    out.extend((0..per_row).map(|k| middle[k * middle.len() / per_row + middle.len() / (2 * per_row)]));
    out.extend_from_slice(&order[n - per_row..]);
    out
}

/// One point of Figure 4(a, b): the connection from unit `from` to unit `to`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Connection {
    /// The recipient (a part-unit in Figure 4).
    pub to: usize,
    /// The source.
    pub from: usize,
    /// `D_to . D_from`, the ISTA-predicted weight up to `-alpha` (the x axis).
    pub decoder_dot: f64,
    /// `S_{to,from} - delta_{to,from}`, the actual weight (the y axis).
    pub weight: f64,
}

/// The connections of Figure 4(a, b) into recipients of kind `to` from sources of kind `from`
/// (`S_ij - delta_ij` against `D_i . D_j`, the self-connection included), at most `max_points` of
/// them: when there are more, every `ceil(count / max_points)`-th in row-major (recipient, source)
/// order, so the subsample is deterministic.
pub fn connections(
    coder: &RecurrentCoder<'_>,
    roles: &[UnitRole],
    to: UnitKind,
    from: UnitKind,
    max_points: usize,
) -> Result<Vec<Connection>> {
    let n = coder.units();
    if roles.len() != n {
        return Err(Error::shape("unit roles", format!("{} units", roles.len()), format!("{n}, one per unit of the coder")));
    }
    let gram = coder.decoder_gram()?;
    let recipients: Vec<usize> = (0..n).filter(|&i| roles[i].kind == to).collect();
    let sources: Vec<usize> = (0..n).filter(|&j| roles[j].kind == from).collect();
    let count = recipients.len() * sources.len();
    let stride = if max_points == 0 { return Ok(Vec::new()) } else { count.div_ceil(max_points).max(1) };
    let mut out = Vec::with_capacity(count.min(max_points));
    for k in (0..count).step_by(stride) {
        let (i, j) = (recipients[k / sources.len()], sources[k % sources.len()]);
        let delta = if i == j { 1.0 } else { 0.0 };
        out.push(Connection {
            to: i,
            from: j,
            decoder_dot: f64::from(gram.data[i * n + j]),
            weight: f64::from(coder.explain.data[i * n + j]) - delta,
        });
    }
    Ok(out)
}

/// What the iterates say of one unit (paper D, Figure 7b, d).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct UnitActivity {
    /// Mean of `z_i^T` over the examples where it is positive (Figure 7b); `None` when never.
    pub mean_final_when_active: Option<f64>,
    /// Fraction of the examples with `z_i^1 = 0` and `z_i^2 > 0` (Figure 7d: the unit first turns on
    /// at the second iteration); `None` with fewer than 2 iterations.
    pub late_onset: Option<f64>,
}

/// The [`UnitActivity`] of every unit from the iterates `z^1 .. z^T` (each `[examples, n]`).
pub fn unit_activity(iterates: &[Matrix]) -> Result<Vec<UnitActivity>> {
    let last = iterates.last().ok_or_else(|| Error::param("iterates", "none", "at least one iteration z^1"))?;
    let (rows, n) = (last.rows, last.cols);
    if let Some((t, z)) = iterates.iter().enumerate().find(|(_, z)| (z.rows, z.cols) != (rows, n) || z.data.len() != rows * n) {
        return Err(Error::shape(format!("iterate z^{}", t + 1), format!("{} x {}", z.rows, z.cols), format!("{rows} x {n}, as z^T")));
    }
    let (mut sum, mut active, mut late) = (vec![0.0f64; n], vec![0usize; n], vec![0usize; n]);
    for r in 0..rows {
        for (i, &v) in last.row(r).iter().enumerate() {
            if v > 0.0 {
                sum[i] += f64::from(v);
                active[i] += 1;
            }
        }
        if iterates.len() >= 2 {
            for (i, (&a, &b)) in iterates[0].row(r).iter().zip(iterates[1].row(r)).enumerate() {
                if a == 0.0 && b > 0.0 {
                    late[i] += 1;
                }
            }
        }
    }
    Ok((0..n)
        .map(|i| UnitActivity {
            mean_final_when_active: (active[i] > 0).then(|| sum[i] / active[i] as f64),
            late_onset: (iterates.len() >= 2 && rows > 0).then(|| late[i] as f64 / rows as f64),
        })
        .collect())
}

/// The least-squares decoder of `x` (`[N, m]`) from codes `z` (`[N, n]`): the `[m, n]` matrix
/// minimising `||X - Z D^T||^2 + ridge ||D||^2`, `D = X^T Z (Z^T Z + ridge I)^{-1}` (paper D,
/// Figure 8). `ridge` is `relative_ridge * trace(Z^T Z) / n` (at least the smallest positive f64);
/// if the Cholesky factorisation of `Z^T Z + ridge I` (f64) fails, the ridge is raised tenfold, up
/// to ten times. Units that are never active get a zero column.
pub fn least_squares_decoder(x: &Matrix, z: &Matrix, relative_ridge: f64) -> Result<Matrix> {
    if x.rows != z.rows || x.data.len() != x.rows * x.cols || z.data.len() != z.rows * z.cols {
        return Err(Error::shape(
            "least-squares decoder: inputs and codes",
            format!("{} inputs and {} codes", x.rows, z.rows),
            "one code per input",
        ));
    }
    if !(relative_ridge.is_finite() && relative_ridge >= 0.0) {
        return Err(Error::param("least-squares ridge", relative_ridge, "a finite number >= 0"));
    }
    let (m, n) = (x.cols, z.cols);
    let mut g32 = Matrix::zeros(n, n);
    matmul(&mut g32, z, Op::T, z, Op::N, false)?;
    let mut xz = Matrix::zeros(n, m);
    matmul(&mut xz, z, Op::T, x, Op::N, false)?;
    let g: Vec<f64> = g32.data.iter().map(|&v| f64::from(v)).collect();
    let trace: f64 = (0..n).map(|i| g[i * n + i]).sum();
    let mut ridge = (relative_ridge * trace / n.max(1) as f64).max(f64::MIN_POSITIVE);
    for _ in 0..=10 {
        let mut a = g.clone();
        for i in 0..n {
            a[i * n + i] += ridge;
        }
        if cholesky(&mut a, n) {
            let mut d = Matrix::zeros(m, n);
            let mut b = vec![0.0f64; n];
            for c in 0..m {
                for (i, bi) in b.iter_mut().enumerate() {
                    *bi = f64::from(xz.data[i * m + c]);
                }
                cholesky_solve(&a, n, &mut b);
                for (i, &v) in b.iter().enumerate() {
                    d.data[c * n + i] = v as f32;
                }
            }
            return Ok(d);
        }
        ridge *= 10.0;
    }
    Err(Error::Data(format!("least-squares decoder: Z^T Z + ridge I is not positive definite even with ridge {ridge:e}")))
}

/// In-place lower Cholesky factor of the symmetric `n x n` row-major `a` (the lower triangle is
/// overwritten with `L`, `a = L L^T`); false when `a` is not (numerically) positive definite.
fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if !(d > 0.0 && d.is_finite()) {
            return false;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    true
}

/// Solves `L L^T y = b` in place with the factor of [`cholesky`].
fn cholesky_solve(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// The optimal decoders `D^1 .. D^T` of paper D, Figure 8: [`least_squares_decoder`] of `x` on each
/// iterate `z^t`.
pub fn optimal_decoders(x: &Matrix, iterates: &[Matrix], relative_ridge: f64) -> Result<Vec<Matrix>> {
    iterates.iter().map(|z| least_squares_decoder(x, z, relative_ridge)).collect()
}

/// One component `D_i z_i` of a reconstruction (paper D, Figure 9).
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// The unit.
    pub unit: usize,
    /// Its activity `z_i`.
    pub activity: f32,
    /// `||D_i|| z_i`, the contribution magnitude the components are sorted by.
    pub magnitude: f64,
    /// `D_i z_i` (`m` values).
    pub image: Vec<f32>,
}

/// The non-zero components `D_i z_i` of the reconstruction `D z` of one code `z` (`n` values), by
/// decreasing `||D_i|| |z_i|` (ties by unit), as Figure 9 adds them up.
pub fn contributions(decoder: &Matrix, z: &[f32]) -> Result<Vec<Component>> {
    if z.len() != decoder.cols {
        return Err(Error::shape("code of a reconstruction", format!("{} values", z.len()), format!("{}, one per unit", decoder.cols)));
    }
    let mut out: Vec<Component> = z
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0.0)
        .map(|(i, &v)| {
            let d = column(decoder, i);
            let magnitude = norm(&to_f64(&d)) * f64::from(v).abs();
            Component { unit: i, activity: v, magnitude, image: d.iter().map(|x| x * v).collect() }
        })
        .collect();
    out.sort_by(|a, b| b.magnitude.total_cmp(&a.magnitude).then(a.unit.cmp(&b.unit)));
    Ok(out)
}

/// For every class `k` (row of `classifier`, `[l, n]`), the `k_top` units with the largest `|C_ki|`,
/// strongest first (paper D, Figure 10); ties by unit.
pub fn strongest_units_per_class(classifier: &Matrix, k_top: usize) -> Vec<Vec<usize>> {
    (0..classifier.rows)
        .map(|k| {
            let row = classifier.row(k);
            let mut units: Vec<usize> = (0..row.len()).collect();
            units.sort_by(|&a, &b| row[b].abs().total_cmp(&row[a].abs()).then(a.cmp(&b)));
            units.truncate(k_top);
            units
        })
        .collect()
}

/// The mean of the rows of `x` (`[N, m]`) of each class `0..classes` (zeros for a class with no
/// example), for Figure 10's first column.
pub fn class_means(x: &Matrix, labels: &[u8], classes: usize) -> Result<Vec<Vec<f32>>> {
    if labels.len() != x.rows {
        return Err(Error::shape("class means", format!("{} labels for {} examples", labels.len(), x.rows), "one label per example"));
    }
    let mut sums = vec![vec![0.0f64; x.cols]; classes];
    let mut counts = vec![0usize; classes];
    for (r, &y) in labels.iter().enumerate() {
        let y = usize::from(y);
        if y < classes {
            counts[y] += 1;
            for (s, &v) in sums[y].iter_mut().zip(x.row(r)) {
                *s += f64::from(v);
            }
        }
    }
    Ok(sums.into_iter().zip(counts).map(|(s, c)| s.iter().map(|v| (v / c.max(1) as f64) as f32).collect()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(rows: usize, cols: usize, data: &[f32]) -> Matrix {
        Matrix::from_vec(rows, cols, data.to_vec()).unwrap()
    }

    /// Two units on two inputs: unit 0 has `E_0 = D_0` (angle 0), unit 1 has its encoder at 90
    /// degrees from its decoder.
    fn two_units() -> (Matrix, Matrix, Matrix, Matrix) {
        let e = m(2, 2, &[1.0, 0.0, 1.0, 0.0]);
        // D columns: D_0 = (1, 0), D_1 = (0, 2).
        let d = m(2, 2, &[1.0, 0.0, 0.0, 2.0]);
        // S - I = [[-0.5, 0], [0, 3]] -> S = [[0.5, 0], [0, 4]].
        let s = m(2, 2, &[0.5, 0.0, 0.0, 4.0]);
        // C columns: C_0 = (0, -3, 1), C_1 = (0, 0, 0).
        let c = m(3, 2, &[0.0, 0.0, -3.0, 0.0, 1.0, 0.0]);
        (e, s, d, c)
    }

    #[test]
    fn angles_norms_classes_and_kinds_of_hand_made_units() {
        let (e, s, d, c) = two_units();
        let coder = RecurrentCoder::new(&e, &s, &d, &c).unwrap();
        let roles = unit_roles(&coder, &Thresholds::default()).unwrap();
        assert_eq!(roles.len(), 2);
        assert!(roles[0].angle.abs() < 1e-12);
        assert!((roles[1].angle - std::f64::consts::FRAC_PI_2).abs() < 1e-12);
        assert_eq!((roles[0].kind, roles[1].kind), (UnitKind::Part, UnitKind::Categorical));
        assert!((roles[0].recurrent_norm - 0.5).abs() < 1e-12 && (roles[1].recurrent_norm - 3.0).abs() < 1e-12);
        assert!((roles[0].classifier_norm - 10f64.sqrt()).abs() < 1e-6 && roles[1].classifier_norm == 0.0);
        assert_eq!((roles[0].class, roles[1].class), (Some(1), None));
        // D^T D = diag(1, 4); -(D^T D)_0 = (-1, 0) is parallel to (S - I)_0 = (-0.5, 0);
        // -(D^T D)_1 = (0, -4) is opposite to (S - I)_1 = (0, 3).
        assert!(roles[0].ista_angle.abs() < 1e-12);
        assert!((roles[1].ista_angle - std::f64::consts::PI).abs() < 1e-12);
        assert_eq!(kind_counts(&roles), (1, 1, 0));
        assert_eq!(by_angle_descending(&roles), vec![1, 0]);
        // A threshold of 2 rad makes unit 1 neither.
        let t = Thresholds { part_below: 0.5, categorical_above: 2.0 };
        assert_eq!(unit_roles(&coder, &t).unwrap()[1].kind, UnitKind::Between);
    }

    #[test]
    fn zero_vectors_have_angle_zero_and_bad_shapes_are_refused() {
        assert_eq!(angle(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
        assert!((angle(&[1.0, 0.0], &[-2.0, 0.0]) - std::f64::consts::PI).abs() < 1e-12);
        let (e, s, d, c) = two_units();
        let bad = m(3, 3, &[0.0; 9]);
        let err = RecurrentCoder::new(&e, &bad, &d, &c).unwrap_err().to_string();
        assert!(err.contains("explaining-away") && err.contains("3 x 3") && err.contains("2 x 2"), "{err}");
        assert!(RecurrentCoder::new(&e, &s, &bad, &c).is_err());
        let t = Thresholds { part_below: 0.8, categorical_above: 0.7 };
        assert!(t.validate().unwrap_err().to_string().contains("--categorical-above"));
    }

    #[test]
    fn connections_are_subsampled_deterministically() {
        let (e, s, d, c) = two_units();
        let coder = RecurrentCoder::new(&e, &s, &d, &c).unwrap();
        let roles = unit_roles(&coder, &Thresholds::default()).unwrap();
        let pp = connections(&coder, &roles, UnitKind::Part, UnitKind::Part, 10).unwrap();
        assert_eq!(pp, vec![Connection { to: 0, from: 0, decoder_dot: 1.0, weight: -0.5 }]);
        let cp = connections(&coder, &roles, UnitKind::Part, UnitKind::Categorical, 10).unwrap();
        assert_eq!(cp.len(), 1);
        assert_eq!((cp[0].to, cp[0].from, cp[0].decoder_dot, cp[0].weight), (0, 1, 0.0, 0.0));
        // 10 part-units all alike: 100 connections, subsampled to every 4th (25 of them).
        let n = 10;
        let e = Matrix::from_vec(n, 1, vec![1.0; n]).unwrap();
        let d = Matrix::from_vec(1, n, vec![1.0; n]).unwrap();
        let s = Matrix::zeros(n, n);
        let c = Matrix::zeros(0, n);
        let coder = RecurrentCoder::new(&e, &s, &d, &c).unwrap();
        let roles = unit_roles(&coder, &Thresholds::default()).unwrap();
        let a = connections(&coder, &roles, UnitKind::Part, UnitKind::Part, 30).unwrap();
        assert_eq!(a.len(), 25);
        assert_eq!((a[1].to, a[1].from), (0, 4));
        assert_eq!(a, connections(&coder, &roles, UnitKind::Part, UnitKind::Part, 30).unwrap());
    }

    #[test]
    fn activity_statistics() {
        // Two examples, two units, T = 2.
        let z1 = m(2, 2, &[0.0, 1.0, 0.0, 0.0]);
        let z2 = m(2, 2, &[2.0, 1.0, 0.0, 3.0]);
        let a = unit_activity(&[z1, z2]).unwrap();
        assert_eq!(a[0], UnitActivity { mean_final_when_active: Some(2.0), late_onset: Some(0.5) });
        assert_eq!(a[1], UnitActivity { mean_final_when_active: Some(2.0), late_onset: Some(0.5) });
        let a = unit_activity(&[m(1, 2, &[0.0, 1.0])]).unwrap();
        assert_eq!(a[0], UnitActivity { mean_final_when_active: None, late_onset: None });
        assert!(unit_activity(&[]).is_err());
    }

    #[test]
    fn least_squares_recovers_the_decoder_of_exact_codes() {
        // D [m = 5, n = 3], codes z >= 0 (some zero), x = D z exactly.
        let (mm, n, rows) = (5, 3, 40);
        let d: Vec<f32> = (0..mm * n).map(|k| ((k * 7 % 11) as f32 - 5.0) / 5.0).collect();
        let d = m(mm, n, &d);
        let z: Vec<f32> = (0..rows * n).map(|k| ((k * 13 % 17) as f32 / 4.0 - 1.0).max(0.0)).collect();
        let z = m(rows, n, &z);
        let mut x = Matrix::zeros(rows, mm);
        matmul(&mut x, &z, Op::N, &d, Op::T, false).unwrap();
        let got = least_squares_decoder(&x, &z, 1e-9).unwrap();
        for (a, b) in got.data.iter().zip(&d.data) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        // A unit that is never active gets a zero column, not NaN.
        let mut z0 = z.clone();
        for r in 0..rows {
            z0.data[r * n + 2] = 0.0;
        }
        let got = least_squares_decoder(&x, &z0, 1e-6).unwrap();
        assert!(got.data.iter().all(|v| v.is_finite()));
        assert!((0..mm).all(|r| got.data[r * n + 2] == 0.0));
        assert!(least_squares_decoder(&x, &m(1, 3, &[0.0; 3]), 1e-6).is_err());
    }

    #[test]
    fn components_selections_and_class_statistics() {
        let d = m(2, 3, &[1.0, 0.0, 3.0, 0.0, 2.0, 4.0]);
        // ||D_0|| = 1, ||D_1|| = 2, ||D_2|| = 5; z = (3, 1, 0): magnitudes 3, 2.
        let c = contributions(&d, &[3.0, 1.0, 0.0]).unwrap();
        assert_eq!(c.iter().map(|c| c.unit).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(c[0].image, vec![3.0, 0.0]);
        assert_eq!(c[1].image, vec![0.0, 2.0]);
        assert!(contributions(&d, &[1.0]).is_err());
        let cl = m(2, 3, &[0.1, -5.0, 2.0, 1.0, 0.0, -1.0]);
        assert_eq!(strongest_units_per_class(&cl, 2), vec![vec![1, 2], vec![0, 2]]);
        let order: Vec<usize> = (0..10).collect();
        assert_eq!(figure2_selection(&order, 2), vec![0, 1, 3, 6, 8, 9]);
        assert_eq!(figure2_selection(&order[..5], 2), vec![0, 1, 2, 3, 4]);
        let x = m(3, 2, &[1.0, 2.0, 3.0, 4.0, 10.0, 10.0]);
        assert_eq!(class_means(&x, &[0, 0, 2], 3).unwrap(), vec![vec![2.0, 3.0], vec![0.0, 0.0], vec![10.0, 10.0]]);
    }
}
