//! Kept for old import paths: atomic writes live in [`crate::io`].

pub use crate::io::{write_atomic, write_json};
