//! Any experiment file, whatever its `kind`: the one entry point of `compete run FILE` and of the
//! Python package's `compete.train`.
//!
//! The file's `kind` (default `"train"`) is read first, since each kind has its own struct, which
//! refuses the other kinds' fields:
//! - `"train"`: one model through the one training loop ([`crate::train::run::load_and_train`]);
//! - `"phases"`: several training phases, each from the previous one's best checkpoint
//!   ([`crate::experiments::phases`]);
//! - `"sinusoid"`: paper E's shallow against deep networks ([`crate::experiments::sinusoid`]);
//! - `"anomaly"`: one-class anomaly detection ([`crate::experiments::anomaly`]).
//!
//! The run folder is `out`, or `runs/<name>` when none is given; it is checked (and created) before
//! anything trains.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::experiments::anomaly::AnomalyResults;
use crate::experiments::phases::PhaseResult;
use crate::experiments::sinusoid::{SinusoidExperiment, SinusoidResults};
use crate::io::create_out_dir;
use crate::train::config::Experiment;
use crate::train::{RunOptions, TrainOutcome};

/// What an experiment file ran, by kind.
#[derive(Debug)]
pub enum Ran {
    /// `kind = "train"`.
    Train(TrainOutcome),
    /// `kind = "phases"`: each phase's run, in order.
    Phases(Vec<PhaseResult>),
    /// `kind = "sinusoid"`.
    Sinusoid(Box<SinusoidResults>),
    /// `kind = "anomaly"`.
    Anomaly(AnomalyResults),
}

/// What [`run_text`] did: the run folder and what ran in it.
#[derive(Debug)]
pub struct FileOutcome {
    /// The run folder (`out`, or `runs/<name>`).
    pub out: PathBuf,
    /// The results.
    pub ran: Ran,
}

/// How an error names the run folder: the flag, or the default it comes from.
pub fn out_flag(given: bool) -> &'static str {
    if given { "--out" } else { "the run folder (default runs/<name>, --out)" }
}

/// The run folder: `out`, or `runs/<name>`.
fn folder(out: Option<&Path>, name: &str) -> PathBuf {
    out.map_or_else(|| PathBuf::from("runs").join(name), Path::to_path_buf)
}

/// Trains `exp` (`kind = "train"`) into `out` (default `runs/<name>`, checked and created first):
/// what `compete train` and the `"train"` kind of [`run_text`] do. Returns the folder and the outcome.
pub fn train_into(exp: &Experiment, out: Option<&Path>, opts: &RunOptions) -> Result<(PathBuf, TrainOutcome)> {
    let dir = folder(out, &exp.name);
    create_out_dir(out_flag(out.is_some()), &dir)?;
    let outcome = crate::train::run::load_and_train(exp, &dir, opts)?;
    Ok((dir, outcome))
}

/// Runs the experiment file `text` (read from `origin`, which errors name) into `out` (default
/// `runs/<name>`); `data` replaces the file's `[data] source` (not for `kind = "sinusoid"`, which
/// generates its data).
pub fn run_text(text: &str, origin: &Path, data: Option<&str>, out: Option<&Path>, opts: &RunOptions) -> Result<FileOutcome> {
    let table: toml::Table = toml::from_str(text).map_err(|e| Error::format(origin, e.to_string()))?;
    match table.get("kind").map_or(Some("train"), toml::Value::as_str) {
        Some("train") => {
            let mut exp = Experiment::from_toml(text, origin)?;
            if let Some(d) = data {
                exp.data.source = d.to_string();
            }
            let (dir, outcome) = train_into(&exp, out, opts)?;
            Ok(FileOutcome { out: dir, ran: Ran::Train(outcome) })
        }
        Some("sinusoid") => {
            if let Some(d) = data {
                return Err(Error::param("--data", d, "no --data for kind = \"sinusoid\" (its [data] section generates the set)"));
            }
            let exp = SinusoidExperiment::from_toml(text, origin)?;
            let dir = folder(out, &exp.name);
            create_out_dir(out_flag(out.is_some()), &dir)?;
            let results = crate::experiments::sinusoid::run(&exp, &dir, opts)?;
            Ok(FileOutcome { out: dir, ran: Ran::Sinusoid(Box::new(results)) })
        }
        Some("phases") => {
            let exp = crate::experiments::phases::PhasesExperiment::from_toml(text, origin)?;
            let dir = folder(out, &exp.name);
            let results = crate::experiments::phases::run(&exp, data, &dir, opts)?;
            Ok(FileOutcome { out: dir, ran: Ran::Phases(results) })
        }
        Some("anomaly") => {
            let mut exp = crate::experiments::anomaly::AnomalyExperiment::from_toml(text, origin)?;
            if let Some(d) = data {
                exp.data.source = d.to_string();
            }
            let dir = folder(out, &exp.name);
            create_out_dir("--out", &dir)?;
            let results = crate::experiments::anomaly::run(&exp, &dir, opts)?;
            Ok(FileOutcome { out: dir, ran: Ran::Anomaly(results) })
        }
        other => Err(Error::format(
            origin,
            format!(
                "kind = {}: expected \"train\", \"phases\", \"sinusoid\" or \"anomaly\"",
                other.map_or("(not a string)".into(), |k| format!("{k:?}"))
            ),
        )),
    }
}

/// [`run_text`] on the file at `path`.
pub fn run_path(path: &Path, data: Option<&str>, out: Option<&Path>, opts: &RunOptions) -> Result<FileOutcome> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    run_text(&text, path, data, out, opts)
}
