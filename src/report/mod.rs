//! Reporting: atomic writes of run files, progress on the terminal or in logs, and PNG line plots.
//!
//! - [`io`]: [`write_atomic`] and [`write_json`], so a run folder never holds a half-written file;
//! - [`progress`]: [`Progress`] (an `indicatif` bar on a terminal, throttled log lines elsewhere,
//!   or nothing) and [`log_line`];
//! - [`plot`]: [`line_plot`] and [`point_plot`], PNG figures with an embedded font (no system font
//!   needed);
//! - [`images`]: grids of small images (weight templates in diverging colours, inputs in grey);
//! - [`tiles`]: rows of mixed tiles (templates, images, blanks) and matrices as heatmaps (paper D,
//!   Figures 2, 8-10).

pub mod colors;
pub mod images;
pub mod io;
pub mod plot;
pub mod progress;
pub mod regions;
pub mod scatter;
pub mod tiles;
pub mod tsne;

pub use io::{write_atomic, write_json};
pub use plot::{Series, line_plot, point_plot};
pub use progress::{Progress, ProgressMode, is_quiet, log_line, set_quiet};
