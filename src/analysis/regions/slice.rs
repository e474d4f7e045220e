//! Where regions are counted: a segment between two inputs, or a 2-D slice of the input space.

use crate::error::{Error, Result};

/// The segment `x(t) = a + t (b - a)`, `t` in `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// The start, `t = 0`.
    pub a: Vec<f64>,
    /// The end, `t = 1`.
    pub b: Vec<f64>,
}

impl Segment {
    /// A segment between two distinct finite points of the same dimension.
    pub fn new(a: Vec<f64>, b: Vec<f64>) -> Result<Self> {
        if a.len() != b.len() {
            return Err(Error::shape("segment end points", format!("{} and {} values", a.len(), b.len()), "the same dimension"));
        }
        if a.iter().chain(&b).any(|v| !v.is_finite()) {
            return Err(Error::param("segment end points", "a non-finite value", "finite numbers"));
        }
        if a == b {
            return Err(Error::param("segment end points", "two equal points", "two distinct inputs (a segment of positive length)"));
        }
        Ok(Segment { a, b })
    }

    /// The point at parameter `t`.
    pub fn at(&self, t: f64) -> Vec<f64> {
        self.a.iter().zip(&self.b).map(|(a, b)| a + t * (b - a)).collect()
    }
}

/// A 2-D slice: the points `x(p) = origin + p[0] u + p[1] v` for `p` in a convex polygon `domain`
/// (counter-clockwise, in slice coordinates).
#[derive(Clone, Debug, PartialEq)]
pub struct Slice2d {
    /// The input at slice coordinates `(0, 0)`.
    pub origin: Vec<f64>,
    /// First direction.
    pub u: Vec<f64>,
    /// Second direction.
    pub v: Vec<f64>,
    /// The convex polygon counted, counter-clockwise, in slice coordinates.
    pub domain: Vec<[f64; 2]>,
}

/// Relative tolerance below which three points count as collinear (the sine of the angle between
/// the two directions they span).
pub const COLLINEAR_TOLERANCE: f64 = 1e-9;

impl Slice2d {
    /// The box `[a0, a1] x [b0, b1]` of the plane `origin + a u + b v`. `u` and `v` must not be
    /// parallel and the box must have positive area.
    pub fn rect(origin: Vec<f64>, u: Vec<f64>, v: Vec<f64>, a: [f64; 2], b: [f64; 2]) -> Result<Self> {
        let n = origin.len();
        if u.len() != n || v.len() != n {
            return Err(Error::shape("slice directions", format!("{}, {} and {} values", n, u.len(), v.len()), "the same dimension"));
        }
        if origin.iter().chain(&u).chain(&v).chain(&a).chain(&b).any(|x| !x.is_finite()) {
            return Err(Error::param("slice", "a non-finite value", "finite numbers"));
        }
        if a[1].partial_cmp(&a[0]) != Some(std::cmp::Ordering::Greater) || b[1].partial_cmp(&b[0]) != Some(std::cmp::Ordering::Greater) {
            return Err(Error::param(
                "box",
                format!("[{}, {}] x [{}, {}]", a[0], a[1], b[0], b[1]),
                "a box of positive area (min < max on both axes)",
            ));
        }
        if sine(&u, &v) <= COLLINEAR_TOLERANCE {
            return Err(Error::param(
                "slice directions",
                "two parallel (or zero) directions",
                "two independent directions spanning a plane",
            ));
        }
        // The geometry multiplies coordinates (areas, cross products): a box whose area or whose
        // corners overflow f64 would be counted as nonsense (one region), so it is refused.
        let corners = [[a[0], b[0]], [a[1], b[0]], [a[1], b[1]], [a[0], b[1]]];
        let area = (a[1] - a[0]) * (b[1] - b[0]);
        let inputs_finite = corners.iter().all(|p| origin.iter().zip(&u).zip(&v).all(|((o, x), y)| (o + p[0] * x + p[1] * y).is_finite()));
        if !(area.is_finite() && inputs_finite) {
            return Err(Error::param(
                "box",
                format!("[{}, {}] x [{}, {}]", a[0], a[1], b[0], b[1]),
                "a box whose area and corners are finite in f64 (sides below about 1e154)",
            ));
        }
        Ok(Slice2d { origin, u, v, domain: corners.to_vec() })
    }

    /// The box `[a0, a1] x [b0, b1]` along input coordinates `i` and `j` through `origin`.
    pub fn axes(origin: Vec<f64>, i: usize, j: usize, a: [f64; 2], b: [f64; 2]) -> Result<Self> {
        let n = origin.len();
        if i >= n || j >= n || i == j {
            return Err(Error::param("axes", format!("{i},{j}"), format!("two different input coordinates below {n}")));
        }
        let mut u = vec![0.0; n];
        let mut v = vec![0.0; n];
        u[i] = 1.0;
        v[j] = 1.0;
        Slice2d::rect(origin, u, v, a, b)
    }

    /// The plane through three inputs, with `origin = x1`, `u = x2 - x1`, `v = x3 - x1` (so the
    /// inputs sit at `(0, 0)`, `(1, 0)`, `(0, 1)`). With `margin = 0` the domain is the triangle of
    /// the three inputs; with `margin > 0` it is the box `[-margin, 1 + margin]^2`, which holds the
    /// triangle. Collinear inputs are an error.
    pub fn through(x1: &[f64], x2: &[f64], x3: &[f64], margin: f64) -> Result<Self> {
        if x1.len() != x2.len() || x1.len() != x3.len() {
            return Err(Error::shape("slice inputs", format!("{}, {} and {} values", x1.len(), x2.len(), x3.len()), "the same dimension"));
        }
        if !(margin.is_finite() && margin >= 0.0) {
            return Err(Error::param("margin", margin, "a number >= 0"));
        }
        let u: Vec<f64> = x2.iter().zip(x1).map(|(a, b)| a - b).collect();
        let v: Vec<f64> = x3.iter().zip(x1).map(|(a, b)| a - b).collect();
        if sine(&u, &v) <= COLLINEAR_TOLERANCE {
            return Err(Error::param(
                "slice inputs",
                "three collinear points",
                "three inputs that span a plane (not on one line, no two equal)",
            ));
        }
        let mut s = Slice2d::rect(x1.to_vec(), u, v, [-margin, 1.0 + margin], [-margin, 1.0 + margin])?;
        if margin == 0.0 {
            s.domain = vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]];
        }
        Ok(s)
    }

    /// The input at slice coordinates `p`.
    pub fn at(&self, p: [f64; 2]) -> Vec<f64> {
        self.origin.iter().zip(&self.u).zip(&self.v).map(|((o, u), v)| o + p[0] * u + p[1] * v).collect()
    }

    /// Area of the domain (slice coordinates).
    pub fn area(&self) -> f64 {
        polygon_area(&self.domain)
    }

    /// The bounding box of the domain: `([min a, max a], [min b, max b])`.
    pub fn bounds(&self) -> ([f64; 2], [f64; 2]) {
        let mut a = [f64::INFINITY, f64::NEG_INFINITY];
        let mut b = a;
        for p in &self.domain {
            a = [a[0].min(p[0]), a[1].max(p[0])];
            b = [b[0].min(p[1]), b[1].max(p[1])];
        }
        (a, b)
    }
}

/// Signed area of a polygon (positive when counter-clockwise).
pub fn polygon_area(p: &[[f64; 2]]) -> f64 {
    let n = p.len();
    let mut s = 0.0;
    for i in 0..n {
        let (a, b) = (p[i], p[(i + 1) % n]);
        s += a[0] * b[1] - a[1] * b[0];
    }
    0.5 * s
}

/// `|sin|` of the angle between two vectors (0 when either is zero).
fn sine(u: &[f64], v: &[f64]) -> f64 {
    let uu: f64 = u.iter().map(|x| x * x).sum();
    let vv: f64 = v.iter().map(|x| x * x).sum();
    let uv: f64 = u.iter().zip(v).map(|(a, b)| a * b).sum();
    if uu == 0.0 || vv == 0.0 {
        return 0.0;
    }
    let cos2 = (uv * uv) / (uu * vv);
    (1.0 - cos2).max(0.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_that_overflow_f64_are_refused() {
        assert!(Slice2d::axes(vec![0.0, 0.0], 0, 1, [-1e150, 1e150], [-1e150, 1e150]).is_ok());
        for side in [1e155, 1e200, 1e308] {
            let e = Slice2d::axes(vec![0.0, 0.0], 0, 1, [-side, side], [-side, side]).unwrap_err().to_string();
            assert!(e.contains("box") && e.contains("finite in f64"), "{side}: {e}");
        }
        // Corners that overflow in input space, though the box itself is small in slice coordinates.
        let e = Slice2d::rect(vec![1e308, 0.0], vec![1e308, 0.0], vec![0.0, 1.0], [0.0, 2.0], [0.0, 1.0]).unwrap_err().to_string();
        assert!(e.contains("finite in f64"), "{e}");
        let e = Slice2d::through(&[0.0, 0.0], &[1.0, 0.0], &[0.0, 1.0], 1e300).unwrap_err().to_string();
        assert!(e.contains("finite in f64"), "{e}");
    }
}
