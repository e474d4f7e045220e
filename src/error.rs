//! The one error type of the library.
//!
//! Every error names what went wrong, where (a file, a field, a parameter) and what was expected, so
//! that a user can fix the input without reading the source. Nothing in the library panics on user
//! input; functions return [`Result`] instead.

use std::path::PathBuf;

/// Everything that can go wrong in `compete`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is not what the format requires.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A parameter (a flag, a field of a configuration) has a value outside what is allowed.
    #[error("invalid {name} = {value}: expected {expected}")]
    Param {
        /// The parameter's name as the user wrote it (`block`, `dropout.input`, `--lr`, ...).
        name: String,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// Arrays whose shapes do not fit together.
    #[error("shape mismatch in {what}: got {got}, expected {expected}")]
    Shape {
        /// Which array or operation.
        what: String,
        /// The shape found.
        got: String,
        /// The shape required.
        expected: String,
    },
    /// Training produced a non-finite or exploding loss and was stopped.
    #[error(
        "training diverged at epoch {epoch}, step {step}: loss = {loss}; {}",
        match checkpoint { Some(p) => format!("the last good checkpoint is kept at {}", p.display()), None => "no checkpoint had been written yet".to_string() }
    )]
    Diverged {
        /// Epoch (1-based) in which it happened.
        epoch: usize,
        /// Step within the epoch (1-based).
        step: usize,
        /// The offending loss value.
        loss: f32,
        /// The last good checkpoint, if any was written.
        checkpoint: Option<PathBuf>,
    },
    /// Training was asked to stop ([`crate::train::interrupt`]) before this step.
    #[error(
        "training interrupted at epoch {epoch}, step {step}; {}",
        match checkpoint {
            Some(p) => format!("the finished epochs are kept (last checkpoint {}): resume to continue", p.display()),
            None => "no epoch had finished yet".to_string(),
        }
    )]
    Interrupted {
        /// Epoch (1-based) in which it stopped.
        epoch: usize,
        /// Step within the epoch (1-based) that did not run.
        step: usize,
        /// The last checkpoint, if an epoch had finished.
        checkpoint: Option<PathBuf>,
    },
    /// Data that is unusable as given (empty, NaN, labels out of range, ...).
    #[error("{0}")]
    Data(String),
    /// An allocation that would take more memory than is available, refused before allocating
    /// (see [`crate::io::memory::check_alloc`]).
    #[error(
        "not enough memory for {what}: it needs {}, and {} is available ({from})",
        format_bytes(*needed),
        format_bytes(u128::from(*available))
    )]
    Memory {
        /// What would be allocated, and the flags or file its size comes from.
        what: String,
        /// Bytes needed.
        needed: u128,
        /// Bytes available.
        available: u64,
        /// Where the available memory was read (`MemAvailable in /proc/meminfo`, ...).
        from: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Param`] from anything printable.
    pub fn param(name: impl Into<String>, value: impl std::fmt::Display, expected: impl Into<String>) -> Self {
        Error::Param { name: name.into(), value: value.to_string(), expected: expected.into() }
    }

    /// An [`Error::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format { path: path.into(), message: message.into() }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// An [`Error::Shape`].
    pub fn shape(what: impl Into<String>, got: impl Into<String>, expected: impl Into<String>) -> Self {
        Error::Shape { what: what.into(), got: got.into(), expected: expected.into() }
    }
}

/// A number of bytes for people: `37.3 GiB (40000000000 bytes)`.
pub fn format_bytes(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({bytes} bytes)", UNITS[unit])
}
