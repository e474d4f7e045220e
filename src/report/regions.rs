//! Pictures of a 2-D slice's activation regions, in the manner of SplineCam (Humayun et al. 2023):
//! every region its own colour, the region edges darker, and the network's decision boundary (where
//! the largest output changes) in black on top.
//!
//! The picture is drawn in slice coordinates `(p[0], p[1])` (see
//! [`Slice2d`]), `p[0]` to the right and `p[1]` up, with equal
//! scales on both axes. Pixels outside the domain stay white.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::io::write_atomic;
use super::plot::{encode_png, ensure_font};
use crate::analysis::regions::{Partition2d, Slice2d};
use crate::error::{Error, Result};

/// Height of the title band, pixels.
const TITLE: u32 = 56;

/// Draws the partition into a PNG of about `size` pixels on its longer side, with a two-line
/// title, and small black discs at the `marks` (slice coordinates, e.g. the three inputs of a
/// plane). Returns the PNG's bytes.
pub fn partition_png(part: &Partition2d, slice: &Slice2d, size: u32, title: &str, marks: &[[f64; 2]]) -> Result<Vec<u8>> {
    check_picture_size("--resolution", size)?;
    let ([a0, a1], [b0, b1]) = slice.bounds();
    // A margin of 2% around the domain, so that marks on its corners show whole.
    let pad = 0.02 * (a1 - a0).max(b1 - b0);
    let ([a0, a1], [b0, b1]) = ([a0 - pad, a1 + pad], [b0 - pad, b1 + pad]);
    let (wa, hb) = (a1 - a0, b1 - b0);
    let scale = f64::from(size) / wa.max(hb);
    let (w, h) = (((wa * scale).round() as u32).max(1), ((hb * scale).round() as u32).max(1));
    let (wu, hu) = (w as usize, h as usize);
    // Which region each pixel centre lies in: scan-convert every convex polygon.
    let mut id = vec![u32::MAX; wu * hu];
    for (k, r) in part.regions.iter().enumerate() {
        let poly = &r.polygon;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for p in poly {
            lo = lo.min(p[1]);
            hi = hi.max(p[1]);
        }
        // Rows whose centre lies in [lo, hi]; row 0 is the top (largest p[1]).
        let row_of = |b: f64| (b1 - b) * scale - 0.5;
        let (r0, r1) = (row_of(hi).ceil().max(0.0) as usize, (row_of(lo).floor().min(hu as f64 - 1.0)).max(-1.0));
        if r1 < 0.0 {
            continue;
        }
        for row in r0..=r1 as usize {
            let b = b1 - (row as f64 + 0.5) / scale;
            // The polygon's extent along this horizontal line.
            let (mut xl, mut xr) = (f64::INFINITY, f64::NEG_INFINITY);
            for i in 0..poly.len() {
                let (p, q) = (poly[i], poly[(i + 1) % poly.len()]);
                if (p[1] - b) * (q[1] - b) <= 0.0 {
                    if p[1] == q[1] {
                        xl = xl.min(p[0].min(q[0]));
                        xr = xr.max(p[0].max(q[0]));
                    } else {
                        let x = p[0] + (b - p[1]) / (q[1] - p[1]) * (q[0] - p[0]);
                        xl = xl.min(x);
                        xr = xr.max(x);
                    }
                }
            }
            if xl > xr {
                continue;
            }
            let c0 = ((xl - a0) * scale - 0.5).ceil().max(0.0) as usize;
            let c1 = ((xr - a0) * scale - 0.5).floor().min(wu as f64 - 1.0);
            if c1 < 0.0 {
                continue;
            }
            for c in c0..=c1 as usize {
                id[row * wu + c] = k as u32;
            }
        }
    }
    // The predicted class of every pixel, from its region's affine outputs.
    let class: Vec<u32> = (0..wu * hu)
        .map(|i| {
            let k = id[i];
            if k == u32::MAX || part.regions[k as usize].logits.is_empty() {
                return u32::MAX;
            }
            let p = [a0 + ((i % wu) as f64 + 0.5) / scale, b1 - ((i / wu) as f64 + 0.5) / scale];
            let out = part.regions[k as usize].outputs_at(p);
            let mut best = 0;
            for (j, v) in out.iter().enumerate() {
                if *v > out[best] {
                    best = j;
                }
            }
            best as u32
        })
        .collect();
    let mut rgb = vec![255u8; wu * hu * 3];
    for i in 0..wu * hu {
        let k = id[i];
        if k == u32::MAX {
            continue;
        }
        let (c, row) = (i % wu, i / wu);
        let differs = |j: usize, v: &[u32]| v[j] != v[i] && v[j] != u32::MAX;
        let right = c + 1 < wu && differs(i + 1, &id);
        let below = row + 1 < hu && differs(i + wu, &id);
        // The decision boundary two pixels wide, so that it stands out from the region edges.
        let boundary = (c + 1 < wu && differs(i + 1, &class))
            || (row + 1 < hu && differs(i + wu, &class))
            || (c > 0 && differs(i - 1, &class))
            || (row > 0 && differs(i - wu, &class));
        let mut col = region_colour(k);
        if boundary {
            col = [0, 0, 0];
        } else if right || below {
            col = col.map(|v| (f64::from(v) * 0.55) as u8);
        }
        rgb[3 * i..3 * i + 3].copy_from_slice(&col);
    }
    for m in marks {
        let (cx, cy) = ((m[0] - a0) * scale, (b1 - m[1]) * scale);
        let rad = (f64::from(size) / 150.0).max(3.0);
        for row in ((cy - rad).floor().max(0.0) as usize)..((cy + rad).ceil().min(hu as f64) as usize) {
            for c in ((cx - rad).floor().max(0.0) as usize)..((cx + rad).ceil().min(wu as f64) as usize) {
                if (c as f64 + 0.5 - cx).powi(2) + (row as f64 + 0.5 - cy).powi(2) <= rad * rad {
                    rgb[3 * (row * wu + c)..3 * (row * wu + c) + 3].copy_from_slice(&[0, 0, 0]);
                }
            }
        }
    }
    // The title band above the picture.
    let (fw, fh) = (w.max(480), h + TITLE);
    let mut full = vec![255u8; (fw * fh * 3) as usize];
    let left = ((fw - w) / 2) as usize;
    for row in 0..hu {
        let dst = 3 * ((row + TITLE as usize) * fw as usize + left);
        full[dst..dst + 3 * wu].copy_from_slice(&rgb[3 * row * wu..3 * (row + 1) * wu]);
    }
    ensure_font()?;
    {
        let root = BitMapBackend::with_buffer(&mut full, (fw, fh)).into_drawing_area();
        for (i, line) in title.lines().take(2).enumerate() {
            let size = if i == 0 { 22 } else { 16 };
            let style = ("sans-serif", size).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
            root.draw_text(line, &style, (fw as i32 / 2, 6 + 26 * i as i32)).map_err(|e| Error::Data(format!("drawing the title: {e}")))?;
        }
        root.present().map_err(|e| Error::Data(format!("drawing the title: {e}")))?;
    }
    encode_png(&full, fw, fh).map_err(|e| Error::Data(format!("encoding the PNG: {e}")))
}

/// Smallest and largest picture size (pixels on the longer side) [`partition_png`] draws.
pub const PICTURE_SIZES: std::ops::RangeInclusive<u32> = 16..=8192;

/// Refuses a picture size outside [`PICTURE_SIZES`], naming `flag`: for checking a command's flag
/// before the work whose result is drawn.
pub fn check_picture_size(flag: &str, size: u32) -> Result<()> {
    if !PICTURE_SIZES.contains(&size) {
        return Err(Error::param(flag, size, format!("a picture size from {} to {} pixels", PICTURE_SIZES.start(), PICTURE_SIZES.end())));
    }
    Ok(())
}

/// [`partition_png`] written to `path` (atomically).
pub fn write_partition_png(path: &Path, part: &Partition2d, slice: &Slice2d, size: u32, title: &str, marks: &[[f64; 2]]) -> Result<()> {
    write_atomic(path, &partition_png(part, slice, size, title, marks)?)
}

/// A light colour of its own for region `k` (a hash of `k` to a hue, light and not too grey).
pub fn region_colour(k: u32) -> [u8; 3] {
    let mut x = u64::from(k).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    let hue = (x % 360) as f64;
    let sat = 0.35 + 0.4 * ((x >> 12) % 100) as f64 / 100.0;
    let val = 0.8 + 0.2 * ((x >> 24) % 100) as f64 / 100.0;
    hsv(hue, sat, val)
}

fn hsv(h: f64, s: f64, v: f64) -> [u8; 3] {
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = v - c;
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    [((r + m) * 255.0) as u8, ((g + m) * 255.0) as u8, ((b + m) * 255.0) as u8]
}
