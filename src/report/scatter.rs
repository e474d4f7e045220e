//! PNG scatter plots of 2-D maps coloured by class (paper A, Figure 3: t-SNE maps of submasks).
//!
//! Drawn like [`line_plot`](super::plot::line_plot): `plotters` on its bitmap backend, text from the
//! embedded DejaVu Sans font, encoded as PNG and written with [`write_atomic`]. The map keeps its aspect
//! ratio (one unit is as long across as up) and has no axes, since t-SNE coordinates mean nothing by
//! themselves; a legend to the right gives each class its colour and count.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::io::write_atomic;
use super::plot::ensure_font;
use crate::error::{Error, Result};

/// Width of a scatter plot, in pixels (a square map of about 1000 pixels and the legend).
pub const SCATTER_WIDTH: u32 = 1160;
/// Height of a scatter plot, in pixels.
pub const SCATTER_HEIGHT: u32 = 1000;
/// Width of the legend column at the right.
const LEGEND_WIDTH: u32 = 170;

pub use super::colors::PALETTE;

/// The colour of class `label`.
pub fn class_color(label: u8) -> RGBColor {
    PALETTE[usize::from(label) % PALETTE.len()]
}

/// Radius of a point, in pixels: 3 for up to 2000 points, 2 beyond.
fn point_radius(n: usize) -> i32 {
    if n <= 2000 { 3 } else { 2 }
}

/// The x and y ranges that show every point with a 3% border and the same scale on both axes, for a
/// plotting area of `w x h` pixels.
fn equal_aspect_ranges(points: &[[f32; 2]], w: u32, h: u32) -> ((f64, f64), (f64, f64)) {
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in points.iter().filter(|p| p[0].is_finite() && p[1].is_finite()) {
        for d in 0..2 {
            lo[d] = lo[d].min(f64::from(p[d]));
            hi[d] = hi[d].max(f64::from(p[d]));
        }
    }
    if lo[0] > hi[0] {
        return ((-1.0, 1.0), (-1.0, 1.0));
    }
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let (w, h) = (f64::from(w.max(1)), f64::from(h.max(1)));
    // Units per pixel: the larger need of the two axes, never zero.
    let per_pixel = ((hi[0] - lo[0]) / w).max((hi[1] - lo[1]) / h).max(1e-9 * centre[0].abs().max(centre[1].abs())).max(1e-30) * 1.06;
    let (hx, hy) = (per_pixel * w / 2.0, per_pixel * h / 2.0);
    ((centre[0] - hx, centre[0] + hx), (centre[1] - hy, centre[1] + hy))
}

/// Draws the figure on an RGB buffer of `SCATTER_WIDTH x SCATTER_HEIGHT` pixels.
fn render(buf: &mut [u8], title: &str, points: &[[f32; 2]], labels: &[u8], names: &[String]) -> std::result::Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::with_buffer(buf, (SCATTER_WIDTH, SCATTER_HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;

    // The title, one line per `\n`, centred; the first line larger; a line too wide for the image is
    // drawn smaller.
    let lines: Vec<&str> = title.lines().collect();
    let mut y = 14;
    for (i, line) in lines.iter().enumerate() {
        let mut size = if i == 0 { 26 } else { 19 };
        while size > 10 {
            let (w, _) = root.estimate_text_size(line, &("sans-serif", size).into_font().color(&BLACK)).map_err(|e| err(&e))?;
            if w + 24 <= SCATTER_WIDTH {
                break;
            }
            size -= 1;
        }
        let style = ("sans-serif", size).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw_text(line, &style, (SCATTER_WIDTH as i32 / 2, y)).map_err(|e| err(&e))?;
        y += size + 8;
    }
    let (_, body) = root.split_vertically(y + 6);
    let (plot, legend) = body.split_horizontally(SCATTER_WIDTH - LEGEND_WIDTH);

    let area = plot.margin(8, 20, 20, 10);
    let (w, h) = area.dim_in_pixel();
    let (xr, yr) = equal_aspect_ranges(points, w, h);
    let mut chart = ChartBuilder::on(&area).build_cartesian_2d(xr.0..xr.1, yr.0..yr.1).map_err(|e| err(&e))?;
    chart.configure_mesh().disable_mesh().disable_axes().draw().map_err(|e| err(&e))?;
    let radius = point_radius(points.len());
    let drawn = points.iter().zip(labels).filter(|(p, _)| p[0].is_finite() && p[1].is_finite());
    chart
        .draw_series(drawn.map(|(p, &l)| Circle::new((f64::from(p[0]), f64::from(p[1])), radius, class_color(l).mix(0.75).filled())))
        .map_err(|e| err(&e))?;
    area.draw(&Rectangle::new([(0, 0), (w as i32 - 1, h as i32 - 1)], RGBColor(160, 160, 160).stroke_width(1))).map_err(|e| err(&e))?;
    if points.is_empty() {
        let style = ("sans-serif", 22).into_font().color(&RGBColor(120, 120, 120)).pos(Pos::new(HPos::Center, VPos::Center));
        area.draw_text("no points", &style, (w as i32 / 2, h as i32 / 2)).map_err(|e| err(&e))?;
    }

    // Legend: the classes present, in order, with their counts.
    let mut counts = [0usize; 256];
    for &l in labels {
        counts[usize::from(l)] += 1;
    }
    let present: Vec<usize> = (0..256).filter(|&c| counts[c] > 0).collect();
    let row = 28;
    let fit = ((SCATTER_HEIGHT as i32 - y - 80) / row).max(1) as usize;
    let label_style = ("sans-serif", 18).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    legend.draw_text("class (points)", &label_style, (10, 24)).map_err(|e| err(&e))?;
    for (k, &c) in present.iter().take(fit).enumerate() {
        let cy = 60 + k as i32 * row;
        legend.draw(&Circle::new((22, cy), 7, class_color(c as u8).filled())).map_err(|e| err(&e))?;
        legend.draw_text(&format!("{} ({})", names[c], counts[c]), &label_style, (38, cy)).map_err(|e| err(&e))?;
    }
    if present.len() > fit {
        let more = format!("... {} more", present.len() - fit);
        legend.draw_text(&more, &label_style, (10, 60 + fit as i32 * row)).map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Draws `points` as small dots coloured by their `labels` in a `SCATTER_WIDTH x SCATTER_HEIGHT` PNG at
/// `path` (written atomically, parent folders created): the title on top (each `\n` starts a smaller
/// line; a line wider than the image is drawn in a smaller font), the map with equal scales on both axes, and a legend with each class's colour, name and
/// number of points. Class `c` is named `class_names[c]`, or `c` without names; its colour is
/// [`class_color`]`(c)` (20 colours, repeating beyond). Points are drawn in the given order, so no class
/// hides another systematically when the order is random. Non-finite points are skipped; no points
/// draws an empty map that says so.
///
/// Errors: `points` and `labels` of different lengths, fewer class names than the largest label + 1,
/// drawing, encoding or writing failures; all name `path`.
pub fn scatter_plot(path: &Path, title: &str, points: &[[f32; 2]], labels: &[u8], class_names: Option<&[String]>) -> Result<()> {
    if points.len() != labels.len() {
        return Err(Error::shape(
            format!("scatter plot {}", path.display()),
            format!("{} points and {} labels", points.len(), labels.len()),
            "one label per point",
        ));
    }
    let needed = labels.iter().max().map_or(0, |&m| usize::from(m) + 1);
    let names: Vec<String> = match class_names {
        Some(names) if names.len() < needed => {
            return Err(Error::param(
                format!("class names of {}", path.display()),
                format!("{} names", names.len()),
                format!("at least {needed}, one for each label up to the largest, {}", needed - 1),
            ));
        }
        Some(names) => names.iter().cloned().chain((names.len()..256).map(|c| c.to_string())).collect(),
        None => (0..256).map(|c: usize| c.to_string()).collect(),
    };
    ensure_font()?;
    let mut buf = vec![255u8; SCATTER_WIDTH as usize * SCATTER_HEIGHT as usize * 3];
    render(&mut buf, title, points, labels, &names)
        .map_err(|e| Error::Data(format!("{}: cannot draw the scatter plot \"{title}\": {e}", path.display())))?;
    let png =
        super::plot::encode_png(&buf, SCATTER_WIDTH, SCATTER_HEIGHT).map_err(|e| Error::format(path, format!("cannot encode PNG: {e}")))?;
    write_atomic(path, &png)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes the PNG at `path`, checks its size and returns its RGB pixels.
    fn read_png(path: &Path) -> Vec<u8> {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(bytes[..8], [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height, info.color_type), (SCATTER_WIDTH, SCATTER_HEIGHT, png::ColorType::Rgb));
        pixels.truncate(info.buffer_size());
        pixels
    }

    /// Pixels of exactly `c`.
    fn count(pixels: &[u8], c: RGBColor) -> usize {
        pixels.chunks_exact(3).filter(|p| p == &[c.0, c.1, c.2]).count()
    }

    #[test]
    fn writes_a_png_with_every_class_colour() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/map.png");
        // Three blobs of 50 points, interleaved.
        let points: Vec<[f32; 2]> = (0..150).map(|i| [(i % 3) as f32 * 10.0 + (i as f32 * 0.37).sin(), (i as f32 * 0.91).cos()]).collect();
        let labels: Vec<u8> = (0..150).map(|i| (i % 3) as u8).collect();
        let names: Vec<String> = ["zero", "one", "two"].iter().map(|s| s.to_string()).collect();
        scatter_plot(&path, "A map\nsecond line", &points, &labels, Some(&names)).unwrap();
        let pixels = read_png(&path);
        // The legend draws each class colour unblended; classes absent from the labels are not listed.
        for c in 0..3 {
            assert!(count(&pixels, class_color(c)) > 50, "class {c}");
        }
        assert_eq!(count(&pixels, class_color(3)), 0);
        // Most of the image is background.
        assert!(count(&pixels, WHITE) > pixels.len() / 3 / 2);
        // Overwriting works, and labels beyond the palette wrap around without error.
        let many: Vec<u8> = (0..150).map(|i| (i % 25) as u8).collect();
        scatter_plot(&path, "25 classes", &points, &many, None).unwrap();
        read_png(&path);
    }

    #[test]
    fn degenerate_maps_are_drawn() {
        let dir = tempfile::tempdir().unwrap();
        for (k, points) in [vec![], vec![[1.0, 1.0]], vec![[2.0, 3.0]; 5], vec![[f32::NAN, 0.0], [0.0, f32::INFINITY], [1e30, -1e30]]]
            .into_iter()
            .enumerate()
        {
            let path = dir.path().join(format!("m{k}.png"));
            let labels = vec![1u8; points.len()];
            scatter_plot(&path, "degenerate", &points, &labels, None).unwrap();
            read_png(&path);
        }
    }

    #[test]
    fn mismatched_inputs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.png");
        let e = scatter_plot(&path, "t", &[[0.0, 0.0]; 3], &[0, 1], None).unwrap_err().to_string();
        assert!(e.contains("bad.png") && e.contains("3 points and 2 labels"), "{e}");
        let names = vec!["a".to_string(), "b".to_string()];
        let e = scatter_plot(&path, "t", &[[0.0, 0.0]; 3], &[0, 1, 4], Some(&names)).unwrap_err().to_string();
        assert!(e.contains("2 names") && e.contains("at least 5"), "{e}");
        assert!(!path.exists());
    }

    #[test]
    fn ranges_keep_the_aspect_ratio() {
        let ((x0, x1), (y0, y1)) = equal_aspect_ranges(&[[0.0, 0.0], [10.0, 2.0]], 500, 1000);
        // 10 units across 500 pixels: 0.02 per pixel (plus the border), on both axes.
        let (px, py) = ((x1 - x0) / 500.0, (y1 - y0) / 1000.0);
        assert!((px - py).abs() < 1e-12 && (px - 0.0212).abs() < 1e-9, "{px} {py}");
        assert!(x0 < 0.0 && x1 > 10.0 && y0 < 0.0 && y1 > 2.0);
        assert_eq!(equal_aspect_ranges(&[], 10, 10), ((-1.0, 1.0), (-1.0, 1.0)));
        let ((a, b), _) = equal_aspect_ranges(&[[5.0, 5.0]], 10, 10);
        assert!(a < 5.0 && b > 5.0 && (b - a).is_finite());
    }
}
