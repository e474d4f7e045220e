//! PNG line plots (learning curves and the like) and scatter plots of measured points on axes
//! ([`point_plot`]), drawn with `plotters` on its bitmap backend.
//!
//! Text is drawn with `ab_glyph` from the DejaVu Sans font embedded in the binary (crate `dejavu`), so
//! figures look the same on every machine and need no system font library (fontconfig, freetype).
//! The image is rendered into memory, encoded as PNG and written with [`write_atomic`].

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::combinators::LogCoord;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::io::write_atomic;
use crate::error::{Error, Result};

/// Width of every figure, in pixels.
pub const WIDTH: u32 = 1024;
/// Height of every figure, in pixels.
pub const HEIGHT: u32 = 640;

/// A curve drawn with [`line_plot`]: its legend name and its `(x, y)` points in drawing order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Series {
    /// The name shown in the legend.
    pub name: String,
    /// The points; non-finite ones, those beyond `±1e300` and, on a logarithmic axis, those with
    /// `y <= 0` are skipped when drawing.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series from a name and its points.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.into(), points }
    }
}

/// The colours of successive series: the "tab10" palette, the first ten colours of the class palette
/// of [`super::colors::PALETTE`]; an 11th series reuses the first colour.
const PALETTE: [RGBColor; 10] = {
    let all = super::colors::PALETTE;
    [all[0], all[1], all[2], all[3], all[4], all[5], all[6], all[7], all[8], all[9]]
};

/// Series with at most this many drawn points also get a dot on each point (a one-point series
/// would otherwise be invisible).
const MARKER_MAX_POINTS: usize = 40;

/// Registers the embedded DejaVu Sans as plotters' `sans-serif` family, once per process.
pub(crate) fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
                .map_err(|_| "the embedded DejaVu Sans font could not be parsed".to_string())
        })
        .clone()
        .map_err(Error::Data)
}

/// Formats a tick value compactly: `0`, `0.25`, `120`, `1.5e-4`, `3e6`.
fn fmt_tick(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".to_string() } else { format!("{v}") };
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        // Four significant digits, without trailing zeros.
        let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
    } else {
        let s = format!("{v:.2e}");
        // 1.50e-4 -> 1.5e-4, 3.00e6 -> 3e6
        match s.split_once('e') {
            Some((m, e)) => {
                let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { m };
                format!("{m}e{e}")
            }
            None => s,
        }
    }
}

/// The largest magnitude an axis bound may have: plotters' tick search needs a finite span.
const AXIS_LIMIT: f64 = 1e300;
/// The narrowest span an axis may have, relative to the magnitude of its values and absolutely:
/// narrower spans make plotters' tick search fight floating-point resolution.
const MIN_RELATIVE_SPAN: f64 = 1e-9;
/// See [`MIN_RELATIVE_SPAN`].
const MIN_ABSOLUTE_SPAN: f64 = 1e-100;

/// The points of `s` that can be drawn: finite and within `±AXIS_LIMIT`, and with `y >= 1 / AXIS_LIMIT`
/// on a logarithmic axis. (Keeping every point inside the axes also keeps the rasteriser from walking
/// lines billions of pixels long.)
fn drawable(s: &Series, log_y: bool) -> Vec<(f64, f64)> {
    let ok = |v: f64| v.is_finite() && v.abs() <= AXIS_LIMIT;
    s.points.iter().copied().filter(|&(x, y)| ok(x) && ok(y) && (!log_y || y >= 1.0 / AXIS_LIMIT)).collect()
}

/// The smallest and largest of `values` clamped to `[lo_limit, hi_limit]`, or `None` if there is none.
fn bounds(values: impl Iterator<Item = f64>, lo_limit: f64, hi_limit: f64) -> Option<(f64, f64)> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    (lo <= hi).then(|| (lo.clamp(lo_limit, hi_limit), hi.clamp(lo_limit, hi_limit)))
}

/// A linear axis range holding `values`, widened by 5% on each side (or by 10% of the value around a
/// single value); `default` when there is no value. Always finite with a usable span.
fn linear_range(values: impl Iterator<Item = f64>, default: (f64, f64)) -> (f64, f64) {
    let Some((lo, hi)) = bounds(values, -AXIS_LIMIT, AXIS_LIMIT) else { return default };
    let span = hi - lo;
    let magnitude = lo.abs().max(hi.abs());
    if span > magnitude * MIN_RELATIVE_SPAN && span > MIN_ABSOLUTE_SPAN {
        let pad = span * 0.05;
        return ((lo - pad).max(-AXIS_LIMIT), (hi + pad).min(AXIS_LIMIT));
    }
    // (Nearly) a single value: centre it.
    let centre = lo + span / 2.0;
    let half = if magnitude < MIN_ABSOLUTE_SPAN { 1.0 } else { (centre.abs() * 0.1).max(MIN_ABSOLUTE_SPAN) };
    ((centre - half).max(-AXIS_LIMIT), (centre + half).min(AXIS_LIMIT))
}

/// A logarithmic axis range holding the positive `values`, rounded out to whole decades so that the
/// axis always has labelled ticks; `0.1..10` when there is no value.
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let Some((lo, hi)) = bounds(values, 1.0 / AXIS_LIMIT, AXIS_LIMIT) else { return (0.1, 10.0) };
    let a = 10f64.powf(lo.log10().floor());
    let mut b = 10f64.powf(hi.log10().ceil());
    if b <= a {
        b = a * 10.0;
    }
    // plotters finds the first decade tick as 10^ceil(log10(lo)); rounding can push log10 of an exact
    // decade just above the integer, which would drop that decade's ticks: nudge the bounds outwards.
    (a * (1.0 - 1e-9), b * (1.0 + 1e-9))
}

/// What [`render`] needs besides the y axis.
struct Figure<'a> {
    /// The chart title.
    title: &'a str,
    /// The x axis label.
    x_label: &'a str,
    /// The y axis label.
    y_label: &'a str,
    /// The x range.
    x_range: (f64, f64),
    /// Each series' name and drawable points.
    series: Vec<(&'a str, Vec<(f64, f64)>)>,
    /// Draw every point as a dot and no lines (a scatter plot, [`point_plot`]).
    dots_only: bool,
    /// The span of a linear y axis (`None` for a logarithmic one), for [`snap_zero`].
    y_span: Option<f64>,
}

/// A tick value within a billionth of the axis span of 0 is 0: plotters' ticks are computed in
/// floating point, and a tick meant to be 0 can come out as `-5.55e-17`.
fn snap_zero(v: f64, span: f64) -> f64 {
    if v.abs() <= span.abs() * 1e-9 { 0.0 } else { v }
}

/// Draws the figure on an RGB buffer of `WIDTH x HEIGHT` pixels, with `y_axis` as the y coordinate.
fn render<Y>(buf: &mut [u8], fig: &Figure<'_>, y_axis: Y) -> std::result::Result<(), String>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let root = BitMapBackend::with_buffer(buf, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(fig.title, ("sans-serif", 26).into_font())
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(85)
        .build_cartesian_2d(fig.x_range.0..fig.x_range.1, y_axis)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(fig.x_label)
        .y_desc(fig.y_label)
        .axis_desc_style(("sans-serif", 20))
        .label_style(("sans-serif", 16))
        .x_label_formatter(&|v| fmt_tick(snap_zero(*v, fig.x_range.1 - fig.x_range.0)))
        .y_label_formatter(&|v| fmt_tick(fig.y_span.map_or(*v, |s| snap_zero(*v, s))))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(205, 205, 205))
        .draw()
        .map_err(|e| e.to_string())?;

    for (i, (name, points)) in fig.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let style = color.stroke_width(2);
        let label = if points.is_empty() { format!("{name} (no data)") } else { name.to_string() };
        if fig.dots_only {
            let radius = if points.len() <= 2000 { 3 } else { 2 };
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, radius, color.mix(0.6).filled())))
                .map_err(|e| e.to_string())?
                .label(format!("{label} ({})", points.len()))
                .legend(move |(x, y)| Circle::new((x + 12, y), 5, color.filled()));
            continue;
        }
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3)));
        if points.len() <= MARKER_MAX_POINTS {
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|e| e.to_string())?;
        }
    }
    if fig.series.is_empty() {
        let style = ("sans-serif", 22).into_font().color(&RGBColor(120, 120, 120));
        root.draw_text("no data", &style, (WIDTH as i32 / 2 - 40, HEIGHT as i32 / 2)).map_err(|e| e.to_string())?;
    } else {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 17))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// Encodes an RGB buffer of `width x height` pixels as PNG.
pub(crate) fn encode_png(rgb: &[u8], width: u32, height: u32) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(rgb)?;
        writer.finish()?;
    }
    Ok(out)
}

/// Draws `series` as lines in a `WIDTH x HEIGHT` PNG at `path` (written atomically, parent
/// directories created), with a title, axis labels, a legend and one colour per series.
///
/// With `log_y` the y axis is logarithmic (whole decades) and points with `y <= 0` are skipped.
/// Non-finite points and coordinates beyond `±1e300` are always skipped. An empty list, empty series
/// and single points are drawn without error: an empty figure says "no data", a series with nothing
/// to draw is marked "(no data)" in the legend, and series of at most 40 points get a dot per point.
///
/// Errors name `path`: drawing or encoding failures, or the write itself.
pub fn line_plot(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series], log_y: bool) -> Result<()> {
    draw(path, title, x_label, y_label, series, log_y, false)
}

/// Draws `series` as clouds of dots (no lines), one colour per series, on linear axes, in a
/// `WIDTH x HEIGHT` PNG at `path`: a scatter plot of measured points, such as paper D's Figures 3
/// and 4 (one dot per unit or per connection). The legend gives each series' number of drawn
/// points; dots are translucent so that dense clouds show their density. Skipped points, empty
/// inputs and errors as for [`line_plot`].
pub fn point_plot(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<()> {
    draw(path, title, x_label, y_label, series, false, true)
}

fn draw(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series], log_y: bool, dots_only: bool) -> Result<()> {
    ensure_font()?;
    let kept: Vec<(&str, Vec<(f64, f64)>)> = series.iter().map(|s| (s.name.as_str(), drawable(s, log_y))).collect();
    let points = || kept.iter().flat_map(|(_, p)| p.iter().copied());
    let x_range = linear_range(points().map(|p| p.0), (0.0, 1.0));
    let y_range = if log_y { log_range(points().map(|p| p.1)) } else { linear_range(points().map(|p| p.1), (0.0, 1.0)) };
    let y_span = (!log_y).then_some(y_range.1 - y_range.0);
    let fig = Figure { title, x_label, y_label, x_range, series: kept, dots_only, y_span };
    let mut buf = vec![255u8; WIDTH as usize * HEIGHT as usize * 3];
    let (lo, hi) = y_range;
    let drawn = if log_y {
        render(&mut buf, &fig, LogCoord::<f64>::from((lo..hi).log_scale()))
    } else {
        render(&mut buf, &fig, RangedCoordf64::from(lo..hi))
    };
    drawn.map_err(|e| Error::Data(format!("{}: cannot draw the plot \"{title}\": {e}", path.display())))?;
    let png = encode_png(&buf, WIDTH, HEIGHT).map_err(|e| Error::format(path, format!("cannot encode PNG: {e}")))?;
    write_atomic(path, &png)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// Decodes the PNG at `path` and returns its RGB pixels after checking signature and size.
    fn read_png(path: &Path) -> Vec<u8> {
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.len() > 8, "{} bytes", bytes.len());
        assert_eq!(bytes[..8], PNG_SIGNATURE);
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        pixels.truncate(info.buffer_size());
        pixels
    }

    /// Whether some pixel has exactly the colour `c`.
    fn has_colour(pixels: &[u8], c: RGBColor) -> bool {
        pixels.chunks_exact(3).any(|p| p == [c.0, c.1, c.2])
    }

    /// Number of dark (text-like) pixels in the rows `y0..y1`.
    fn dark_pixels_in_rows(pixels: &[u8], y0: u32, y1: u32) -> usize {
        let row = WIDTH as usize * 3;
        pixels[y0 as usize * row..y1 as usize * row].chunks_exact(3).filter(|p| p.iter().all(|&v| v < 100)).count()
    }

    #[test]
    fn draws_a_normal_plot_with_text_and_colours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fig/curves.png");
        let train = Series::new("train error", (1..=30).map(|e| (e as f64, 0.5 / e as f64)).collect());
        let valid = Series::new("validation error", (1..=30).map(|e| (e as f64, 0.6 / e as f64 + 0.02)).collect());
        line_plot(&path, "Learning curves", "epoch", "error rate", &[train, valid], false).unwrap();
        let pixels = read_png(&path);
        assert!(has_colour(&pixels, PALETTE[0]) && has_colour(&pixels, PALETTE[1]));
        // The title is drawn in the top band: text pixels must be there.
        assert!(dark_pixels_in_rows(&pixels, 0, 50) > 100, "no title text");
        // Only the PNG, no temporary file left over.
        assert_eq!(std::fs::read_dir(dir.path().join("fig")).unwrap().count(), 1);
    }

    #[test]
    fn log_axis_skips_non_positive_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        let loss = Series::new("loss", vec![(1.0, 2.3), (2.0, 0.0), (3.0, -1.0), (4.0, 0.05), (5.0, 1e-4)]);
        line_plot(&path, "Loss", "epoch", "cross-entropy", &[loss], true).unwrap();
        assert!(has_colour(&read_png(&path), PALETTE[0]));
    }

    #[test]
    fn empty_inputs_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        for log_y in [false, true] {
            let path = dir.path().join(format!("empty-{log_y}.png"));
            line_plot(&path, "Nothing", "x", "y", &[], log_y).unwrap();
            read_png(&path);
            let path = dir.path().join(format!("empty-series-{log_y}.png"));
            line_plot(&path, "Empty series", "x", "y", &[Series::new("none", vec![])], log_y).unwrap();
            read_png(&path);
        }
    }

    #[test]
    fn single_points_and_nan_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            vec![Series::new("one", vec![(1.0, 0.3)])],
            vec![Series::new("zero", vec![(0.0, 0.0)])],
            vec![Series::new("nan", vec![(f64::NAN, 1.0), (1.0, f64::NAN), (2.0, f64::INFINITY)])],
            vec![Series::new("mixed", vec![(1.0, 0.5), (2.0, f64::NAN), (3.0, 0.25), (f64::NEG_INFINITY, 0.1)])],
            vec![Series::new("huge", vec![(0.0, -1e308), (1.0, 1e308), (1e308, 5e-324)])],
            vec![Series::new("flat", vec![(1e10, 1.0), (1e10 + 1e-6, 1.0 + 1e-15), (1e10 + 2e-6, 1.0)])],
            vec![Series::new("tiny", vec![(0.0, 1e-310), (1.0, 2e-310), (2.0, 1e-320)])],
            (0..13).map(|i| Series::new(format!("s{i}"), vec![(i as f64, i as f64), (i as f64 + 1.0, 1.0)])).collect(),
        ];
        for (i, series) in cases.iter().enumerate() {
            for log_y in [false, true] {
                let path = dir.path().join(format!("case{i}-{log_y}.png"));
                line_plot(&path, "Edge case", "x", "y", series, log_y).unwrap();
                read_png(&path);
            }
        }
        // A single point is drawn as a dot in the series colour.
        assert!(has_colour(&read_png(&dir.path().join("case0-false.png")), PALETTE[0]));
    }

    #[test]
    fn point_plots_draw_dots_in_series_colours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("points.png");
        let a = Series::new("a", (0..3000).map(|i| ((i as f64 * 0.37).sin(), (i as f64 * 0.91).cos())).collect());
        let b = Series::new("b", vec![(0.5, 0.5)]);
        point_plot(&path, "Points", "x", "y", &[a, b, Series::new("none", vec![])]).unwrap();
        let pixels = read_png(&path);
        // The legend's dots are drawn unblended.
        assert!(has_colour(&pixels, PALETTE[0]) && has_colour(&pixels, PALETTE[1]));
        point_plot(&path, "Nothing", "x", "y", &[]).unwrap();
        read_png(&path);
    }

    #[test]
    fn replaces_an_existing_figure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curve.png");
        std::fs::write(&path, b"not a png").unwrap();
        line_plot(&path, "T", "x", "y", &[Series::new("a", vec![(0.0, 1.0), (1.0, 2.0)])], false).unwrap();
        read_png(&path);
    }

    #[test]
    fn ticks_are_compact() {
        assert_eq!(fmt_tick(0.0), "0");
        assert_eq!(fmt_tick(0.25), "0.25");
        assert_eq!(fmt_tick(120.0), "120");
        assert_eq!(fmt_tick(0.30000000000000004), "0.3");
        assert_eq!(fmt_tick(1.5e-4), "1.5e-4");
        assert_eq!(fmt_tick(3e6), "3e6");
        assert_eq!(fmt_tick(-2.5), "-2.5");
        assert_eq!(fmt_tick(snap_zero(-5.55e-17, 0.3)), "0");
        assert_eq!(snap_zero(1e-5, 0.3), 1e-5);
    }

    #[test]
    fn ranges_handle_degenerate_input() {
        assert_eq!(linear_range(std::iter::empty(), (0.0, 1.0)), (0.0, 1.0));
        let (a, b) = linear_range([2.0].into_iter(), (0.0, 1.0));
        assert!(a < 2.0 && b > 2.0);
        let (a, b) = linear_range([0.0, 10.0].into_iter(), (0.0, 1.0));
        assert_eq!((a, b), (-0.5, 10.5));
        let (a, b) = linear_range([0.0].into_iter(), (0.0, 1.0));
        assert_eq!((a, b), (-1.0, 1.0));
        let (a, b) = linear_range([-1e308, 1e308].into_iter(), (0.0, 1.0));
        assert!(a.is_finite() && b.is_finite() && (b - a).is_finite());
        let (a, b) = linear_range([1e10, 1e10 + 1e-3].into_iter(), (0.0, 1.0));
        assert!(a < 1e10 && b > 1e10 + 1e-3 && b - a > 1.0);
        let close = |(a, b): (f64, f64), (c, d): (f64, f64)| (a / c - 1.0).abs() < 1e-8 && (b / d - 1.0).abs() < 1e-8;
        assert!(close(log_range([0.2, 0.5].into_iter()), (0.1, 1.0)));
        assert!(close(log_range([0.1].into_iter()), (0.1, 1.0)));
        assert!(close(log_range([0.03, 250.0].into_iter()), (0.01, 1000.0)));
        let (a, b) = log_range([0.2, 0.5].into_iter());
        assert!(a <= 0.1 && b >= 1.0);
        assert_eq!(log_range(std::iter::empty()), (0.1, 10.0));
    }
}
