//! Kept for old import paths: atomic writes and output folders live in [`crate::io`].

pub use crate::io::{create_out_dir, write_atomic, write_json};
