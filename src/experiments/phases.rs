//! Training in phases from one experiment file (`kind = "phases"`): pretraining, then fine-tuning
//! from its result, each phase a run of the one training loop in its own run folder.
//!
//! Paper D trains a DrSAE first on the sparse coding loss, then fine-tunes it discriminatively from
//! those parameters (section 2). The file holds the shared `[data]`, `[model]` and `[train]`
//! sections and a list of `[[phase]]` tables, each with a `name` and the `model` and `train`
//! settings that differ in it (merged key by key over the shared ones). Every phase after the first
//! starts from the previous phase's result (`train.init_from` set to its
//! `checkpoints/best.safetensors`), unless the phase sets `init_from` itself.
//!
//! ```toml
//! kind = "phases"
//! name = "drsae-400x11"
//! [data]
//! source = "mnist:../shared/data/mnist"
//! l2_normalize = true
//! [model]
//! type = "drsae"
//! [train]
//! batch_size = 100
//! [[phase]]
//! name = "pretrain"
//! model = { loss = "unsupervised" }
//! train = { epochs = 20 }
//! [[phase]]
//! name = "finetune"
//! model = { loss = "supervised" }
//! train = { epochs = 100, patience = 20 }
//! ```
//!
//! Phase `p` trains into `OUT/<p>/` (a run folder like any other). With `--resume` a finished phase
//! is not retrained (the loop sees it finished) and an interrupted one continues; a phase whose
//! predecessor has no result yet is not started.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::write_json;
use crate::train::config::Experiment;
use crate::train::trainer::{RunOptions, TrainOutcome};

/// One phase after merging: its name and the whole experiment it runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    /// The phase's name (its run folder).
    pub name: String,
    /// The experiment of the phase (`kind = "train"`).
    pub experiment: Experiment,
}

/// A parsed `kind = "phases"` file.
#[derive(Clone, Debug, PartialEq)]
pub struct PhasesExperiment {
    /// The name (the default output folder is `runs/<name>`).
    pub name: String,
    /// The phases in order; `init_from` of each after the first is still unset when it chains to
    /// its predecessor ([`PhasesExperiment::chained`] sets it for an output folder).
    pub phases: Vec<Phase>,
    /// Whether phase `i` starts from phase `i - 1`'s result.
    pub chained: Vec<bool>,
}

/// What one phase gave.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseResult {
    /// The phase.
    pub phase: String,
    /// Its run's summary.
    pub outcome: TrainOutcome,
}

const TOP_KEYS: &[&str] = &["kind", "name", "data", "model", "train", "phase"];
const PHASE_KEYS: &[&str] = &["name", "model", "train"];

impl PhasesExperiment {
    /// Parses a `kind = "phases"` file; `origin` names it in errors. Every phase's merged
    /// experiment is checked as a training experiment would be.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        let table: toml::Table = toml::from_str(text).map_err(|e| Error::format(origin, e.to_string()))?;
        if let Some(k) = table.keys().find(|k| !TOP_KEYS.contains(&k.as_str())) {
            return Err(Error::format(
                origin,
                format!("unknown key {k:?} in a phases experiment: expected one of {}", TOP_KEYS.join(", ")),
            ));
        }
        match table.get("kind") {
            Some(toml::Value::String(k)) if k == "phases" => {}
            other => {
                return Err(Error::format(
                    origin,
                    format!("kind = {}: expected \"phases\"", other.map_or("(none)".into(), |v| v.to_string())),
                ));
            }
        }
        let name = match table.get("name") {
            None => "phases".to_string(),
            Some(toml::Value::String(s)) => s.clone(),
            Some(other) => return Err(Error::format(origin, format!("name = {other}: expected a string"))),
        };
        let list = match table.get("phase") {
            Some(toml::Value::Array(a)) if !a.is_empty() => a.clone(),
            _ => return Err(Error::format(origin, "no [[phase]] tables: expected at least one, each with a name")),
        };
        let mut base = table.clone();
        base.remove("phase");
        base.insert("kind".into(), toml::Value::String("train".into()));
        let mut phases = Vec::new();
        let mut chained = Vec::new();
        for (i, p) in list.iter().enumerate() {
            let toml::Value::Table(p) = p else {
                return Err(Error::format(origin, format!("phase[{i}] is {p}: expected a table with name, model and train")));
            };
            if let Some(k) = p.keys().find(|k| !PHASE_KEYS.contains(&k.as_str())) {
                return Err(Error::format(origin, format!("phase[{i}]: unknown key {k:?}, expected one of {}", PHASE_KEYS.join(", "))));
            }
            let pname = match p.get("name") {
                Some(toml::Value::String(s)) if valid_name(s) => s.clone(),
                other => {
                    return Err(Error::format(
                        origin,
                        format!(
                            "phase[{i}].name = {}: expected a folder name of letters, digits, '-' and '_'",
                            other.map_or("(none)".into(), |v| v.to_string())
                        ),
                    ));
                }
            };
            if phases.iter().any(|q: &Phase| q.name == pname) {
                return Err(Error::format(origin, format!("phase[{i}].name = {pname:?} is used twice: expected distinct names")));
            }
            let mut merged = base.clone();
            merged.insert("name".into(), toml::Value::String(format!("{name}-{pname}")));
            for section in ["model", "train"] {
                match p.get(section) {
                    None => {}
                    Some(toml::Value::Table(over)) => {
                        let entry = merged.entry(section.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
                        let toml::Value::Table(into) = entry else {
                            return Err(Error::format(origin, format!("[{section}] is not a table")));
                        };
                        for (k, v) in over {
                            into.insert(k.clone(), v.clone());
                        }
                    }
                    Some(other) => return Err(Error::format(origin, format!("phase[{i}].{section} = {other}: expected a table"))),
                }
            }
            let has_init = merged.get("train").and_then(|t| t.get("init_from")).is_some();
            chained.push(i > 0 && !has_init);
            let text = toml::to_string(&merged).map_err(|e| Error::format(origin, e.to_string()))?;
            let experiment = Experiment::from_toml(&text, origin).map_err(|e| Error::format(origin, format!("phase {pname:?}: {e}")))?;
            if experiment.kind != "train" {
                return Err(Error::format(origin, format!("phase {pname:?}: kind {:?}", experiment.kind)));
            }
            phases.push(Phase { name: pname, experiment });
        }
        Ok(PhasesExperiment { name, phases, chained })
    }

    /// Reads and parses a `kind = "phases"` file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, path)
    }

    /// The phases with the chained `init_from`s pointing into `out`.
    pub fn chained(&self, out: &Path) -> Vec<Phase> {
        let mut phases = self.phases.clone();
        for i in 1..phases.len() {
            if self.chained[i] {
                let prev = out.join(&phases[i - 1].name).join("checkpoints").join("best.safetensors");
                phases[i].experiment.train.init_from = Some(prev);
            }
        }
        phases
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Runs every phase into `out/<phase>` in order (see the module docs), with the data source
/// replaced by `data` when given; writes `out/phases.json` and returns the phases' outcomes.
pub fn run(exp: &PhasesExperiment, data: Option<&str>, out: &Path, opts: &RunOptions) -> Result<Vec<PhaseResult>> {
    crate::io::create_out_dir("--out", out)?;
    let mut results = Vec::new();
    for (i, mut phase) in exp.chained(out).into_iter().enumerate() {
        if let Some(d) = data {
            phase.experiment.data.source = d.to_string();
        }
        if exp.chained[i]
            && let Some(from) = &phase.experiment.train.init_from
            && !from.exists()
        {
            return Err(Error::param(
                format!("phase {:?}", phase.name),
                from.display(),
                "the previous phase's result, which does not exist (did that phase fail?)",
            ));
        }
        if !opts.quiet {
            crate::report::progress::log_line(&format!("{}: phase {} of {}: {}", exp.name, i + 1, exp.phases.len(), phase.name));
        }
        let dir: PathBuf = out.join(&phase.name);
        let outcome = crate::train::run::load_and_train(&phase.experiment, &dir, opts)?;
        results.push(PhaseResult { phase: phase.name.clone(), outcome });
    }
    write_json(&out.join("phases.json"), &results.iter().map(|r| (&r.phase, &r.outcome)).collect::<Vec<_>>())?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
kind = "phases"
name = "two"
[data]
source = "sample"
[model]
type = "drsae"
hidden = 20
steps = 3
[train]
epochs = 4
lr = 0.1
[[phase]]
name = "pretrain"
model = { loss = "unsupervised" }
[[phase]]
name = "finetune"
model = { loss = "supervised" }
train = { epochs = 2 }
"#;

    #[test]
    fn phases_merge_their_settings_over_the_shared_ones_and_chain() {
        let exp = PhasesExperiment::from_toml(FILE, Path::new("two.toml")).unwrap();
        assert_eq!(exp.phases.len(), 2);
        let (a, b) = (&exp.phases[0].experiment, &exp.phases[1].experiment);
        assert_eq!((a.train.epochs, b.train.epochs), (4, 2));
        assert_eq!((a.train.lr, b.train.lr), (0.1, 0.1));
        assert_eq!(b.name, "two-finetune");
        let crate::train::config::ModelSection::Drsae(m) = &b.model else { panic!("{:?}", b.model) };
        assert_eq!((m.hidden, m.loss), (20, crate::models::drsae::DrsaeLoss::Supervised));
        assert_eq!(exp.chained, vec![false, true]);
        let chained = exp.chained(Path::new("/o"));
        assert_eq!(chained[0].experiment.train.init_from, None);
        assert_eq!(chained[1].experiment.train.init_from.as_deref(), Some(Path::new("/o/pretrain/checkpoints/best.safetensors")));
    }

    #[test]
    fn bad_phase_files_are_errors_naming_the_problem() {
        for (text, want) in [
            (FILE.replace("name = \"finetune\"", "name = \"pretrain\""), "used twice"),
            (FILE.replace("name = \"finetune\"", "name = \"a/b\""), "folder name"),
            (FILE.replace("train = { epochs = 2 }", "train = { epochs = 0 }"), "train.epochs"),
            (FILE.replace("model = { loss = \"supervised\" }", "model = { loss = \"both\" }"), "finetune"),
            (FILE.replace("train = { epochs = 2 }", "extra = 1"), "unknown key \"extra\""),
            ("kind = \"phases\"\n".to_string(), "[[phase]]"),
        ] {
            let e = PhasesExperiment::from_toml(&text, Path::new("f.toml")).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("f.toml"), "{want}: {e}");
        }
    }
}
