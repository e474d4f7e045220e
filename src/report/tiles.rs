//! Figures made of rows of small images of different kinds, and matrices drawn as heatmaps: paper
//! D's Figures 2, 8, 9 and 10 (weight templates beside data images and reconstructions).
//!
//! [`write_tile_rows`] lays out rows of [`Tile`]s (shorter rows padded with empty cells) with
//! [`write_grid`]; [`write_heatmap`] draws one matrix as a single diverging tile.

use std::path::Path;

use super::images::{diverging, diverging_with_scale, grey, write_grid};
use crate::error::{Error, Result};

/// One cell of a [`write_tile_rows`] figure.
#[derive(Clone, Debug, PartialEq)]
pub enum Tile {
    /// A weight template in diverging colours (zero white, positive red, negative blue), scaled by
    /// its own largest magnitude.
    Template(Vec<f32>),
    /// A template in diverging colours saturating at `±scale` (a scale shared by several tiles).
    Scaled(Vec<f32>, f64),
    /// An image in grey, 0 black and its largest value white (negative values clamped to black): an
    /// MNIST digit whether its pixels are in [0, 1] or l2-normalised.
    Image(Vec<f32>),
    /// An empty (gap-coloured) cell.
    Blank,
}

impl Tile {
    fn values(&self) -> Option<&[f32]> {
        match self {
            Tile::Template(v) | Tile::Scaled(v, _) | Tile::Image(v) => Some(v),
            Tile::Blank => None,
        }
    }

    fn rgb(&self) -> Vec<u8> {
        let f = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
        match self {
            Tile::Template(v) => diverging(&f(v)),
            Tile::Scaled(v, s) => diverging_with_scale(&f(v), *s),
            Tile::Image(v) => {
                let hi = v.iter().copied().fold(0.0f32, f32::max);
                grey(&f(v), 0.0, if hi > 0.0 { f64::from(hi) } else { 1.0 })
            }
            Tile::Blank => Vec::new(),
        }
    }
}

/// Writes `rows` of tiles of `shape = (height, width)` pixels each as a PNG grid (one grid row per
/// row, as many columns as the longest row, the others padded with empty cells), each pixel
/// `zoom x zoom`. Errors name `path`: a tile of the wrong size, no rows or columns, a zero zoom, an
/// image too large, the write.
pub fn write_tile_rows(path: &Path, rows: &[Vec<Tile>], shape: (usize, usize), zoom: usize) -> Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    if columns == 0 {
        return Err(Error::format(path, "a figure of tile rows with no tile: expected at least one"));
    }
    let pixels = shape.0 * shape.1;
    let mut tiles = Vec::with_capacity(rows.len() * columns);
    for (r, row) in rows.iter().enumerate() {
        for (c, t) in row.iter().enumerate() {
            if let Some(v) = t.values()
                && v.len() != pixels
            {
                return Err(Error::format(
                    path,
                    format!("tile {c} of row {r} has {} values, expected {}x{} = {pixels}", v.len(), shape.0, shape.1),
                ));
            }
            tiles.push(t.rgb());
        }
        tiles.extend((row.len()..columns).map(|_| Vec::new()));
    }
    write_grid(path, &tiles, shape, columns, zoom)
}

/// Draws the `rows x cols` row-major matrix `values` as one diverging heatmap (symmetric scale, its
/// largest magnitude), about `target_width` pixels wide: each entry is a block of `zoom` pixels
/// across (`target_width / cols`, at least 1) and high enough that the figure is at least a
/// quarter as high as wide.
pub fn write_heatmap(path: &Path, values: &[f32], rows: usize, cols: usize, target_width: usize) -> Result<()> {
    if rows == 0 || cols == 0 || values.len() != rows * cols {
        return Err(Error::format(path, format!("heatmap of {} values: expected {rows} x {cols}, both positive", values.len())));
    }
    let zoom = (target_width / cols).max(1);
    // Each matrix row repeated `stretch` times, so that few rows stay readable.
    let stretch = (cols / (4 * rows)).max(1);
    let v: Vec<f64> =
        (0..rows * stretch).flat_map(|r| values[(r / stretch) * cols..(r / stretch + 1) * cols].iter().map(|&x| f64::from(x))).collect();
    write_grid(path, &[diverging(&v)], (rows * stretch, cols), 1, zoom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_mixed_tiles_are_written_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.png");
        let rows = vec![
            vec![Tile::Template(vec![1.0, -1.0, 0.0, 0.5]), Tile::Image(vec![0.0, 1.0, 0.5, 2.0]), Tile::Blank],
            vec![Tile::Scaled(vec![1.0, 0.0, 0.0, 0.0], 2.0)],
        ];
        write_tile_rows(&path, &rows, (2, 2), 3).unwrap();
        assert!(path.exists());
        let bad = vec![vec![Tile::Image(vec![0.0; 3])]];
        let e = write_tile_rows(&path, &bad, (2, 2), 3).unwrap_err().to_string();
        assert!(e.contains("3 values") && e.contains("2x2"), "{e}");
        assert!(write_tile_rows(&path, &[], (2, 2), 3).is_err());
        write_heatmap(&dir.path().join("h.png"), &[1.0, -2.0, 0.0, 0.5, 0.0, 3.0], 2, 3, 300).unwrap();
        assert!(write_heatmap(&path, &[1.0], 2, 3, 300).is_err());
    }
}
