//! The colours of every figure: class colours of maps, series colours of plots.

use plotters::style::RGBColor;

/// Class colours: "tab10", then ten darker or more saturated tones; class `c` gets `PALETTE[c % 20]`.
pub const PALETTE: [RGBColor; 20] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 128),
    RGBColor(128, 0, 0),
    RGBColor(0, 100, 0),
    RGBColor(255, 215, 0),
    RGBColor(75, 0, 130),
    RGBColor(0, 0, 0),
    RGBColor(0, 128, 128),
    RGBColor(255, 0, 255),
    RGBColor(128, 128, 0),
    RGBColor(70, 240, 140),
];
