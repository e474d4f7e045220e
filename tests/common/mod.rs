//! Helpers shared by the integration tests that run the `compete` binary.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `compete` binary with `args` in `cwd`.
pub fn compete(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_compete")).args(args).current_dir(cwd).output().expect("the compete binary runs")
}

/// Standard output and standard error of a run, together.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}
