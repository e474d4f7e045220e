//! Grids of small images as PNG: weight templates in diverging colours and inputs in grey.
//!
//! A tile is an RGB buffer of `rows * cols` pixels (3 bytes each, row-major) made by [`diverging`] or
//! [`grey`]; [`write_grid`] lays tiles out in a grid, each pixel enlarged to a square of `zoom` pixels,
//! with a [`GAP_WIDTH`]-pixel light grey gap around every tile so that white tiles stay visible.

use std::path::Path;

use super::io::write_atomic;
use super::plot::encode_png;
use crate::error::{Error, Result};

/// Colour of the most negative value of [`diverging`] (blue, ColorBrewer RdBu).
pub const NEGATIVE: [u8; 3] = [33, 102, 172];
/// Colour of the most positive value of [`diverging`] (red, ColorBrewer RdBu).
pub const POSITIVE: [u8; 3] = [178, 24, 43];
/// Colour of the gaps between tiles and of empty cells.
pub const GAP: [u8; 3] = [200, 200, 200];
/// Width of the gaps between tiles, in pixels.
pub const GAP_WIDTH: usize = 2;

fn mix(to: [u8; 3], t: f64) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    to.map(|c| (255.0 + (f64::from(c) - 255.0) * t).round() as u8)
}

/// Diverging colours with zero white: `v` is drawn `v / scale` of the way from white to red (positive)
/// or blue (negative), saturating beyond `±scale`. A `scale` that is not positive and finite draws
/// everything white. Non-finite values are drawn black.
pub fn diverging_with_scale(values: &[f64], scale: f64) -> Vec<u8> {
    let ok = scale.is_finite() && scale > 0.0;
    values
        .iter()
        .flat_map(|&v| {
            if !v.is_finite() {
                [0, 0, 0]
            } else if !ok || v == 0.0 {
                [255, 255, 255]
            } else if v > 0.0 {
                mix(POSITIVE, v / scale)
            } else {
                mix(NEGATIVE, -v / scale)
            }
        })
        .collect()
}

/// [`diverging_with_scale`] with the image's own symmetric scale, its largest `|v|`.
pub fn diverging(values: &[f64]) -> Vec<u8> {
    diverging_with_scale(values, max_abs(values))
}

/// The largest finite `|v|` (0 for none).
pub fn max_abs(values: &[f64]) -> f64 {
    values.iter().filter(|v| v.is_finite()).fold(0.0, |m, v| m.max(v.abs()))
}

/// Grey levels: `lo` black, `hi` white, linear between and clamped outside (`lo >= hi`: all black).
pub fn grey(values: &[f64], lo: f64, hi: f64) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| {
            let t = if hi > lo && v.is_finite() { ((v - lo) / (hi - lo)).clamp(0.0, 1.0) } else { 0.0 };
            let g = (t * 255.0).round() as u8;
            [g, g, g]
        })
        .collect()
}

/// Largest width and height of a grid image [`write_grid`] writes, in pixels.
pub const MAX_GRID_SIDE: usize = 16384;

/// The size in pixels (width, height) of a [`write_grid`] image of `tiles` tiles of `shape = (rows,
/// cols)` pixels, `columns` per row, at `zoom`; `None` when it overflows `usize`.
pub fn grid_pixels(shape: (usize, usize), tiles: usize, columns: usize, zoom: usize) -> Option<(usize, usize)> {
    let grid_rows = tiles.div_ceil(columns.max(1)).max(1);
    let side = |n: usize, pixels: usize| pixels.checked_mul(zoom)?.checked_add(GAP_WIDTH)?.checked_mul(n)?.checked_add(GAP_WIDTH);
    Some((side(columns, shape.1)?, side(grid_rows, shape.0)?))
}

/// How many tiles of `pixels` pixels (at `zoom`) fit side by side in a [`write_grid`] image:
/// the most `columns`, or grid rows, that stay within [`MAX_GRID_SIDE`].
pub fn grid_capacity(pixels: usize, zoom: usize) -> usize {
    match pixels.checked_mul(zoom).and_then(|p| p.checked_add(GAP_WIDTH)) {
        Some(tile) => (MAX_GRID_SIDE - GAP_WIDTH) / tile,
        None => 0,
    }
}

/// Writes tiles (`shape = (rows, cols)` pixels each, RGB) as a PNG grid of `columns` tiles per row,
/// row-major, each pixel `zoom x zoom`, tiles separated by [`GAP_WIDTH`]-pixel gaps. An empty tile leaves its
/// cell grey. Errors name `path`: a tile of the wrong size, a zero `columns`, `zoom` or shape, an
/// image too large, or the write.
pub fn write_grid(path: &Path, tiles: &[Vec<u8>], shape: (usize, usize), columns: usize, zoom: usize) -> Result<()> {
    let (rows, cols) = shape;
    if rows == 0 || cols == 0 || columns == 0 || zoom == 0 {
        return Err(Error::format(
            path,
            format!("image grid of {rows}x{cols} tiles, {columns} per row, zoom {zoom}: expected all positive"),
        ));
    }
    if let Some((i, t)) = tiles.iter().enumerate().find(|(_, t)| !t.is_empty() && t.len() != rows * cols * 3) {
        return Err(Error::format(path, format!("tile {i} has {} bytes, expected {rows}x{cols} RGB = {}", t.len(), rows * cols * 3)));
    }
    let (tw, th) = (cols * zoom + GAP_WIDTH, rows * zoom + GAP_WIDTH);
    let (width, height) = match grid_pixels(shape, tiles.len(), columns, zoom) {
        Some((w, h)) if w <= MAX_GRID_SIDE && h <= MAX_GRID_SIDE => (w, h),
        Some((w, h)) => {
            return Err(Error::format(path, format!("image grid of {w}x{h} pixels: expected at most {MAX_GRID_SIDE} on a side")));
        }
        None => {
            return Err(Error::format(
                path,
                format!(
                    "image grid of {} tiles of {rows}x{cols}, {columns} per row, zoom {zoom}: expected at most {MAX_GRID_SIDE} pixels on a side",
                    tiles.len()
                ),
            ));
        }
    };
    let mut img: Vec<u8> = GAP.iter().copied().cycle().take(width * height * 3).collect();
    for (i, t) in tiles.iter().enumerate().filter(|(_, t)| !t.is_empty()) {
        let (x0, y0) = ((i % columns) * tw + GAP_WIDTH, (i / columns) * th + GAP_WIDTH);
        for y in 0..rows * zoom {
            for x in 0..cols * zoom {
                let s = ((y / zoom) * cols + x / zoom) * 3;
                let d = ((y0 + y) * width + x0 + x) * 3;
                img[d..d + 3].copy_from_slice(&t[s..s + 3]);
            }
        }
    }
    let png = encode_png(&img, width as u32, height as u32).map_err(|e| Error::format(path, format!("PNG encoding failed: {e}")))?;
    write_atomic(path, &png)
}

/// Draws a dictionary (paper B, Figures 1, 2, 5b, 6): every atom of `shape` values as a tile in
/// diverging colours, each scaled by its own largest magnitude (so that weak atoms are visible), in a
/// square-ish grid (at most as many columns as fit in [`MAX_GRID_SIDE`]).
pub fn write_atoms(path: &Path, atoms: &[Vec<f32>], shape: (usize, usize), zoom: usize) -> Result<()> {
    let tiles: Vec<Vec<u8>> = atoms
        .iter()
        .map(|a| {
            let v: Vec<f64> = a.iter().map(|&x| f64::from(x)).collect();
            diverging(&v)
        })
        .collect();
    let columns = (atoms.len() as f64).sqrt().ceil().max(1.0) as usize;
    write_grid(path, &tiles, shape, columns.min(grid_capacity(shape.1, zoom)).max(1), zoom)
}

/// Draws feature maps (paper B, Figure 5c and 5d) in grey, white at 0 and black at the largest value
/// of all the maps, one tile per map.
pub fn write_maps(path: &Path, maps: &[f32], shape: (usize, usize), zoom: usize) -> Result<()> {
    let plane = (shape.0 * shape.1).max(1);
    let hi = maps.iter().fold(0.0f32, |m, &v| m.max(v)).max(f32::MIN_POSITIVE);
    let tiles: Vec<Vec<u8>> = maps
        .chunks(plane)
        .map(|m| {
            let v: Vec<f64> = m.iter().map(|&x| f64::from(hi - x.max(0.0))).collect();
            grey(&v, 0.0, f64::from(hi))
        })
        .collect();
    let columns = (tiles.len() as f64).sqrt().ceil().max(1.0) as usize;
    write_grid(path, &tiles, shape, columns.min(grid_capacity(shape.1, zoom)).max(1), zoom)
}

/// Draws images (`shape` pixels each, values in `[0, 1]`: 0 black, 1 white, as MNIST's digits) in
/// grey, `columns` per row of the grid.
pub fn write_images(path: &Path, images: &[&[f32]], shape: (usize, usize), columns: usize, zoom: usize) -> Result<()> {
    let tiles: Vec<Vec<u8>> = images
        .iter()
        .map(|im| {
            let v: Vec<f64> = im.iter().map(|&x| f64::from(x)).collect();
            grey(&v, 0.0, 1.0)
        })
        .collect();
    write_grid(path, &tiles, shape, columns.min(grid_capacity(shape.1, zoom)).max(1), zoom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours() {
        let d = diverging(&[0.0, 2.0, -2.0, 1.0, f64::NAN]);
        assert_eq!(&d[0..3], &[255, 255, 255]);
        assert_eq!(&d[3..6], &POSITIVE);
        assert_eq!(&d[6..9], &NEGATIVE);
        assert_eq!(&d[9..12], &[217, 140, 149]);
        assert_eq!(&d[12..15], &[0, 0, 0]);
        assert_eq!(diverging(&[0.0, 0.0]), vec![255; 6]);
        assert_eq!(grey(&[0.0, 0.5, 1.0, 7.0], 0.0, 1.0), vec![0, 0, 0, 128, 128, 128, 255, 255, 255, 255, 255, 255]);
    }

    #[test]
    fn grid_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        let red = [255u8, 0, 0].repeat(6);
        write_grid(&path, &[red.clone(), vec![], red], (2, 3), 2, 2).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(std::fs::read(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        // 2 x 2 cells of 3x2 pixels zoomed twice, 2-pixel gaps: (2 * 8 + 2) x (2 * 6 + 2).
        assert_eq!((info.width, info.height), (18, 14));
        let px = |x: usize, y: usize| &buf[(y * 18 + x) * 3..(y * 18 + x) * 3 + 3];
        assert_eq!(px(1, 1), &GAP);
        assert_eq!(px(2, 2), &[255, 0, 0]);
        assert_eq!(px(7, 5), &[255, 0, 0]);
        assert_eq!(px(8, 5), &GAP);
        assert_eq!(px(11, 4), &GAP, "the empty tile stays grey");
        assert_eq!(px(3, 9), &[255, 0, 0], "third tile on the second row");
        assert_eq!(px(12, 9), &GAP, "no fourth tile");
        assert!(write_grid(&path, &[vec![1, 2]], (2, 3), 2, 2).is_err());
        assert!(write_grid(&path, &[], (2, 3), 0, 2).is_err());
        assert_eq!(grid_pixels((2, 3), 3, 2, 2), Some((18, 14)));
        // Sizes that overflow are refused, not wrapped round to a small image.
        assert_eq!(grid_pixels((28, 28), 1, usize::MAX / 8, 4), None);
        let e = write_grid(&path, &[vec![]], (28, 28), usize::MAX / 8, 4).unwrap_err().to_string();
        assert!(e.contains("at most 16384"), "{e}");
        // 28-pixel tiles at zoom 4 take 114 pixels: 143 of them fit in 16384.
        assert_eq!(grid_capacity(28, 4), 143);
        assert!(grid_pixels((28, 28), 143, 143, 4).unwrap().0 <= MAX_GRID_SIDE);
        assert!(grid_pixels((28, 28), 144, 144, 4).unwrap().0 > MAX_GRID_SIDE);
        assert_eq!(grid_capacity(usize::MAX, 2), 0);
    }
}
