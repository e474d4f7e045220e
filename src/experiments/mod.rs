//! Experiments: pipelines that run a paper's table or figure end to end, above the algorithms,
//! below `cli/`.
//!
//! A pipeline takes a plain description of a run (what the command line's flags say, already
//! parsed), checks all of it before any work, loads what it needs, calls the algorithms of
//! [`crate::analysis`], writes its files and returns what it found, for the caller to print. The
//! commands in [`crate::cli`] only parse flags, call one pipeline and print its outcome.
//!
//! - [`regions`]: paper E's linear regions: `compete regions count`, `construct` and `maps`, and
//!   the segment counts of `compete demo`.

pub mod regions;
