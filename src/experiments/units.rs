//! `compete units`: the analysis of paper D's section 3 for a trained DrSAE: part-units and
//! categorical-units, their connections, and the figures 2, 3, 4, 8, 9 and 10 drawn from them.
//!
//! [`units`] loads a DrSAE checkpoint (and optionally a second one to compare with, e.g. the
//! pretrained network before discriminative fine-tuning, Figure 3a-b against 3c-e) and the data,
//! runs the encoder on at most `max_examples` training examples, computes the per-unit measures of
//! [`crate::analysis::unit_roles`] and writes into the output folder:
//!
//! | file | what |
//! |---|---|
//! | `units.csv` | one row per unit: `unit,angle,recurrent_norm,classifier_norm,class,ista_angle,kind,mean_active_final,late_onset` |
//! | `summary.json` | the counts of part-, categorical- and other units, the thresholds, the files ([`UnitsReport`]) |
//! | `figure3-recurrent.png`, `figure3-classifier.png` | `||(S - I)_i||` and `||C_i||` against the encoder-decoder angle (Figure 3), the compared network as a second series |
//! | `figure4-part-to-part.png`, `figure4-categorical-to-part.png` | `S_ij - delta_ij` against `D_i . D_j` into part-units (Figure 4a, b) |
//! | `figure4c.png` | the angle between `(S - I)_i` and `-(D^T D)_i` against the encoder-decoder angle (Figure 4c) |
//! | `figure2-encoders.png`, `figure2-decoders.png`, `figure2-classifier.png` | rows of `E`, columns of `D` most categorical first, and `C` with units by angle (Figure 2) |
//! | `figure8.png` | per chosen unit: `E_i`, the least-squares decoders `D^1_i .. D^T_i`, `D_i` (Figure 8) |
//! | `figure9.png` | progressive reconstruction of chosen test inputs (Figure 9) |
//! | `figure10.png` | per class: the class mean, then the decoders of the units with the largest `|C_ki|` (Figure 10) |
//! | `compare-units.csv` | with a compared network, its per-unit measures (no activity columns) |
//!
//! Without a classifier (`classes = 0`) the classifier figures are not written.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::analysis::unit_roles::{
    RecurrentCoder, Thresholds, UnitActivity, UnitKind, UnitRole, by_angle_descending, class_means, connections, contributions,
    figure2_selection, kind_counts, optimal_decoders, strongest_units_per_class, unit_activity, unit_roles,
};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::drsae::Drsae;
use crate::models::{AnyModel, load_any};
use crate::report::tiles::{Tile, write_heatmap, write_tile_rows};
use crate::report::{Series, point_plot, write_atomic, write_json};
use crate::tensor::Matrix;

/// What `compete units` is asked to do (the command line's flags, parsed).
#[derive(Clone, Debug, PartialEq)]
pub struct UnitsOptions {
    /// Examples of the training split used for the statistics and the least squares (the first
    /// ones; `--max-examples`, default 10000).
    pub max_examples: usize,
    /// The part/categorical thresholds (footnote 7).
    pub thresholds: Thresholds,
    /// Test examples whose progressive reconstruction Figure 9 draws (`--inputs`; default 0, 1, 2).
    pub inputs: Option<Vec<usize>>,
    /// Units whose optimal decoders Figure 8 draws (`--units`; default the 3 smallest and the 3
    /// largest encoder-decoder angles).
    pub figure8_units: Option<Vec<usize>>,
    /// Units per class in Figure 10 (`--per-class`, default 5).
    pub per_class: usize,
    /// Units per row of Figure 2 (`--per-row`, default 20: three rows of 20).
    pub per_row: usize,
    /// Components drawn per input in Figure 9 (`--components`, default 10).
    pub components: usize,
    /// Most connections drawn in each of Figure 4(a, b) (`--max-points`, default 50000).
    pub max_points: usize,
    /// Pixels per image pixel in the image figures (`--zoom`, default 2).
    pub zoom: usize,
    /// The relative ridge of Figure 8's least squares: `ridge = relative_ridge * trace(Z^T Z) / n`.
    pub relative_ridge: f64,
}

impl Default for UnitsOptions {
    fn default() -> Self {
        UnitsOptions {
            max_examples: 10_000,
            thresholds: Thresholds::default(),
            inputs: None,
            figure8_units: None,
            per_class: 5,
            per_row: 20,
            components: 10,
            max_points: 50_000,
            zoom: 2,
            relative_ridge: 1e-6,
        }
    }
}

impl UnitsOptions {
    /// Checks everything that does not need the model: counts at least 1, the thresholds, lists
    /// not empty; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        for (flag, v) in [
            ("--max-examples", self.max_examples),
            ("--per-class", self.per_class),
            ("--per-row", self.per_row),
            ("--components", self.components),
            ("--max-points", self.max_points),
            ("--zoom", self.zoom),
        ] {
            if v == 0 {
                return Err(Error::param(flag, 0, "at least 1"));
            }
        }
        self.thresholds.validate()?;
        for (flag, list) in [("--inputs", &self.inputs), ("--units", &self.figure8_units)] {
            if list.as_ref().is_some_and(Vec::is_empty) {
                return Err(Error::param(flag, "(an empty list)", "at least one index"));
            }
        }
        if !(self.relative_ridge.is_finite() && self.relative_ridge >= 0.0) {
            return Err(Error::param("relative ridge", self.relative_ridge, "a finite number >= 0"));
        }
        Ok(())
    }
}

/// Counts of the kinds of units of one network (footnote 7).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindCounts {
    /// Units.
    pub units: usize,
    /// Part-units (angle below the part threshold).
    pub part: usize,
    /// Categorical-units (angle above the categorical threshold).
    pub categorical: usize,
    /// Units between the thresholds.
    pub between: usize,
}

impl KindCounts {
    fn of(roles: &[UnitRole]) -> Self {
        let (part, categorical, between) = kind_counts(roles);
        KindCounts { units: roles.len(), part, categorical, between }
    }
}

/// What `compete units` found and wrote (also `summary.json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnitsReport {
    /// The checkpoint analysed (empty for an in-memory network).
    pub checkpoint: String,
    /// The network, described.
    pub network: String,
    /// Training examples the statistics and least squares used.
    pub examples: usize,
    /// The thresholds.
    pub thresholds: Thresholds,
    /// Kinds of units of the network.
    pub counts: KindCounts,
    /// Kinds of units of the compared network, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare: Option<KindCounts>,
    /// The compared checkpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare_checkpoint: Option<String>,
    /// The units of Figure 8.
    pub figure8_units: Vec<usize>,
    /// The test inputs of Figure 9.
    pub figure9_inputs: Vec<usize>,
    /// Files written, in the output folder.
    pub files: Vec<PathBuf>,
}

/// Loads a DrSAE checkpoint; any other model is an error naming the file (`flag` says which flag
/// gave it).
pub fn load_drsae(path: &Path, flag: &str) -> Result<Drsae> {
    match load_any(path)?.0 {
        AnyModel::Drsae(m) => Ok(m),
        other => Err(Error::param(
            flag,
            path.display(),
            format!("a DrSAE checkpoint (paper D, [model] type = \"drsae\"); this is a {} model", other.kind()),
        )),
    }
}

/// `compete units CK --data D -o DIR [--compare CK2]`: loads the checkpoint(s) and the data (the
/// training split for the statistics, the test split for Figure 9), every example scaled to unit l2
/// norm as a DrSAE is trained (paper D, section 2), checks the data's width, and runs [`analyse`].
pub fn units(checkpoint: &Path, compare: Option<&Path>, data: &str, out: &Path, opts: &UnitsOptions) -> Result<UnitsReport> {
    opts.validate()?;
    let model = load_drsae(checkpoint, "checkpoint")?;
    let other = compare.map(|p| load_drsae(p, "--compare")).transpose()?;
    let (train, _val, test) = crate::data::load_split(data, None, true)?;
    if train.dim != model.config.input {
        return Err(Error::shape(
            format!("--data {data} against the checkpoint {}", checkpoint.display()),
            format!("{} input features", train.dim),
            format!("{} input features, as the DrSAE {}", model.config.input, model.config.describe()),
        ));
    }
    let mut report = analyse(&model, other.as_ref(), &train, &test, out, opts)?;
    report.checkpoint = checkpoint.display().to_string();
    report.compare_checkpoint = compare.map(|p| p.display().to_string());
    report.files.push(PathBuf::from("summary.json"));
    write_json(&out.join("summary.json"), &report)?;
    Ok(report)
}

/// The first `n` rows of `d` as a matrix.
fn first_rows(d: &Dataset, n: usize) -> Result<Matrix> {
    let n = n.min(d.len());
    Matrix::from_vec(n, d.dim, d.x[..n * d.dim].to_vec())
}

/// The `(height, width)` of the examples: the data's image shape, else a square when the width is
/// a square number, else one row.
fn image_shape(d: &Dataset) -> (usize, usize) {
    d.image_shape.unwrap_or_else(|| {
        let s = (d.dim as f64).sqrt().round() as usize;
        if s * s == d.dim { (s, s) } else { (1, d.dim) }
    })
}

fn coder_of(m: &Drsae) -> Result<RecurrentCoder<'_>> {
    RecurrentCoder::new(&m.encoder, &m.explain, &m.decoder, &m.classifier)
}

/// `units.csv`'s text: one row per unit, the activity columns empty without `activity` (or where
/// undefined).
pub fn units_csv(roles: &[UnitRole], activity: Option<&[UnitActivity]>) -> String {
    let mut s = String::from("unit,angle,recurrent_norm,classifier_norm,class,ista_angle,kind,mean_active_final,late_onset\n");
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
    for (i, r) in roles.iter().enumerate() {
        let a = activity.and_then(|a| a.get(i));
        let _ = writeln!(
            s,
            "{},{:.6},{:.6},{:.6},{},{:.6},{},{},{}",
            r.unit,
            r.angle,
            r.recurrent_norm,
            r.classifier_norm,
            r.class.map_or(String::new(), |c| c.to_string()),
            r.ista_angle,
            r.kind,
            opt(a.and_then(|a| a.mean_final_when_active)),
            opt(a.and_then(|a| a.late_onset)),
        );
    }
    s
}

/// Runs the analysis of section 3 on `model` with statistics over the first `max_examples` of
/// `stats` and Figure 9's inputs from `test`, writes every file except `summary.json` into `out`
/// (created), and returns the report (without checkpoint names). `compare` (e.g. the pretrained
/// network) adds a second series to Figure 3 and `compare-units.csv`.
pub fn analyse(
    model: &Drsae,
    compare: Option<&Drsae>,
    stats: &Dataset,
    test: &Dataset,
    out: &Path,
    opts: &UnitsOptions,
) -> Result<UnitsReport> {
    opts.validate()?;
    let (m, n, l) = (model.config.input, model.config.hidden, model.config.classes);
    for (what, d) in [("statistics", stats), ("test", test)] {
        if d.dim != m {
            return Err(Error::shape(
                format!("the {what} data of the DrSAE analysis"),
                format!("{} input features", d.dim),
                format!("{m} input features, as the DrSAE {}", model.config.describe()),
            ));
        }
    }
    let inputs = opts.inputs.clone().unwrap_or_else(|| (0..3.min(test.len())).collect());
    if let Some(&bad) = inputs.iter().find(|&&i| i >= test.len()) {
        return Err(Error::param("--inputs", bad, format!("test example indices below {} (the test split's size)", test.len())));
    }
    let coder = coder_of(model)?;
    let roles = unit_roles(&coder, &opts.thresholds)?;
    let order = by_angle_descending(&roles);
    let figure8_units = match &opts.figure8_units {
        Some(u) => {
            if let Some(&bad) = u.iter().find(|&&i| i >= n) {
                return Err(Error::param("--units", bad, format!("unit indices below {n} (the DrSAE's hidden units)")));
            }
            u.clone()
        }
        None => {
            let k = 3.min(n);
            let mut u: Vec<usize> = order[n - k..].iter().rev().copied().collect();
            u.extend(order[..k].iter().copied().filter(|i| !order[n - k..].contains(i)));
            u
        }
    };
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let shape = image_shape(stats);
    let mut files = Vec::new();
    let mut written = |name: &str| {
        let p = out.join(name);
        files.push(PathBuf::from(name));
        p
    };

    let x = first_rows(stats, opts.max_examples)?;
    let iterates = model.iterates(&x)?;
    let activity = unit_activity(&iterates)?;
    write_atomic(&written("units.csv"), units_csv(&roles, Some(&activity)).as_bytes())?;

    // Figure 3 (and the compared network's units).
    let other_roles = compare.map(|c| coder_of(c).and_then(|k| unit_roles(&k, &opts.thresholds))).transpose()?;
    if let Some(r) = &other_roles {
        write_atomic(&written("compare-units.csv"), units_csv(r, None).as_bytes())?;
    }
    let series = |f: &dyn Fn(&UnitRole) -> f64| {
        let mut s = vec![Series::new("this network", roles.iter().map(|r| (r.angle, f(r))).collect())];
        if let Some(o) = &other_roles {
            s.push(Series::new("compared network", o.iter().map(|r| (r.angle, f(r))).collect()));
        }
        s
    };
    let angle_label = "angle between encoder row E_i and decoder column D_i (rad)";
    point_plot(
        &written("figure3-recurrent.png"),
        "Figure 3 (a, b, e): incoming recurrent connections",
        angle_label,
        "||(S - I)_i||",
        &series(&|r| r.recurrent_norm),
    )?;
    if l > 0 {
        point_plot(
            &written("figure3-classifier.png"),
            "Figure 3 (c, d): outgoing classification connections",
            angle_label,
            "||C_i||",
            &series(&|r| r.classifier_norm),
        )?;
    }

    // Figure 4.
    for (name, from, title) in [
        ("figure4-part-to-part.png", UnitKind::Part, "Figure 4a: part-units to part-units"),
        ("figure4-categorical-to-part.png", UnitKind::Categorical, "Figure 4b: categorical-units to part-units"),
    ] {
        let c = connections(&coder, &roles, UnitKind::Part, from, opts.max_points)?;
        let s = Series::new("connections", c.iter().map(|c| (c.decoder_dot, c.weight)).collect());
        point_plot(&written(name), title, "D_i . D_j (ISTA: proportional to -(S - I)_ij)", "S_ij - delta_ij", &[s])?;
    }
    point_plot(
        &written("figure4c.png"),
        "Figure 4c: explaining-away against encoder conformity to ISTA",
        angle_label,
        "angle between (S - I)_i and -(D^T D)_i (rad)",
        &[Series::new("units", roles.iter().map(|r| (r.angle, r.ista_angle)).collect())],
    )?;

    // Figure 2.
    let chosen = figure2_selection(&order, opts.per_row);
    let per_row = opts.per_row.min(chosen.len()).max(1);
    let rows_of = |f: &dyn Fn(usize) -> Vec<f32>| -> Vec<Vec<Tile>> {
        chosen.chunks(per_row).map(|c| c.iter().map(|&i| Tile::Template(f(i))).collect()).collect()
    };
    write_tile_rows(&written("figure2-encoders.png"), &rows_of(&|i| model.encoder.row(i).to_vec()), shape, opts.zoom)?;
    write_tile_rows(&written("figure2-decoders.png"), &rows_of(&|i| coder.decoder_column(i)), shape, opts.zoom)?;
    if l > 0 {
        let c: Vec<f32> = (0..l).flat_map(|k| order.iter().map(move |&i| model.classifier.data[k * n + i])).collect();
        write_heatmap(&written("figure2-classifier.png"), &c, l, n, 1600)?;
    }

    // Figure 10.
    if l > 0 {
        let means = class_means(&x, &stats.labels[..x.rows], l)?;
        let top = strongest_units_per_class(&model.classifier, opts.per_class);
        let rows: Vec<Vec<Tile>> = means
            .into_iter()
            .zip(&top)
            .map(|(mean, units)| {
                std::iter::once(Tile::Image(mean)).chain(units.iter().map(|&i| Tile::Template(coder.decoder_column(i)))).collect()
            })
            .collect();
        write_tile_rows(&written("figure10.png"), &rows, shape, opts.zoom)?;
    }

    // Figure 9.
    let xi = Matrix::from_vec(inputs.len(), m, inputs.iter().flat_map(|&i| test.x[i * m..(i + 1) * m].iter().copied()).collect())?;
    let zi = model.iterates(&xi)?;
    let z_final = zi.last().ok_or_else(|| Error::param("DrSAE steps", 0, "at least 1"))?;
    let mut rows = Vec::new();
    for r in 0..inputs.len() {
        let comps = contributions(&model.decoder, z_final.row(r))?;
        let scale = comps.iter().take(opts.components).flat_map(|c| c.image.iter()).fold(0.0f64, |a, &v| a.max(f64::from(v).abs()));
        let mut partial = vec![0.0f32; m];
        let mut top = Vec::new();
        let mut bottom = Vec::new();
        for c in comps.iter().take(opts.components) {
            partial.iter_mut().zip(&c.image).for_each(|(p, v)| *p += v);
            top.push(Tile::Scaled(c.image.clone(), scale));
            bottom.push(Tile::Image(partial.clone()));
        }
        let mut fin = vec![0.0f32; m];
        for c in &comps {
            fin.iter_mut().zip(&c.image).for_each(|(p, v)| *p += v);
        }
        top.extend([Tile::Blank, Tile::Blank]);
        bottom.push(Tile::Image(fin));
        bottom.push(Tile::Image(xi.row(r).to_vec()));
        rows.push(top);
        rows.push(bottom);
    }
    write_tile_rows(&written("figure9.png"), &rows, shape, opts.zoom)?;

    // Figure 8.
    let decoders = optimal_decoders(&x, &iterates, opts.relative_ridge)?;
    drop(iterates);
    let rows: Vec<Vec<Tile>> = figure8_units
        .iter()
        .map(|&i| {
            let mut row = vec![Tile::Template(model.encoder.row(i).to_vec())];
            row.extend(decoders.iter().map(|d| Tile::Template((0..m).map(|r| d.data[r * n + i]).collect())));
            row.push(Tile::Template(coder.decoder_column(i)));
            row
        })
        .collect();
    write_tile_rows(&written("figure8.png"), &rows, shape, opts.zoom)?;

    Ok(UnitsReport {
        checkpoint: String::new(),
        network: model.config.describe(),
        examples: x.rows,
        thresholds: opts.thresholds,
        counts: KindCounts::of(&roles),
        compare: other_roles.as_deref().map(KindCounts::of),
        compare_checkpoint: None,
        figure8_units,
        figure9_inputs: inputs,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::drsae::DrsaeConfig;

    /// An ISTA network (eq. 4) is perfect ISTA: every encoder row is parallel to its decoder
    /// column (angle 0, all part-units) and `S - I = -alpha D^T D` (ISTA angle 0).
    #[test]
    fn an_ista_network_has_only_part_units_with_zero_angles() {
        let config = DrsaeConfig::new(6, 4, 3, 2).unwrap();
        let d: Vec<f32> = (0..24).map(|k| ((k * 5 % 7) as f32 - 3.0) / 3.0).collect();
        let net = Drsae::ista(&config, Matrix::from_vec(6, 4, d).unwrap(), 0.1).unwrap();
        let roles = unit_roles(&coder_of(&net).unwrap(), &Thresholds::default()).unwrap();
        for r in &roles {
            assert!(r.angle < 1e-3, "{r:?}");
            assert!(r.ista_angle < 1e-3, "{r:?}");
            assert_eq!(r.kind, UnitKind::Part);
        }
        assert_eq!(KindCounts::of(&roles), KindCounts { units: 4, part: 4, categorical: 0, between: 0 });
        let csv = units_csv(&roles, None);
        assert_eq!(csv.lines().count(), 5);
        assert!(csv.lines().nth(1).unwrap().ends_with(",part,,"), "{csv}");
    }

    #[test]
    fn options_are_checked() {
        assert!(UnitsOptions::default().validate().is_ok());
        let o = UnitsOptions { inputs: Some(vec![]), ..UnitsOptions::default() };
        assert!(o.validate().unwrap_err().to_string().contains("--inputs"));
        let o = UnitsOptions { max_examples: 0, ..UnitsOptions::default() };
        assert!(o.validate().unwrap_err().to_string().contains("--max-examples"));
    }
}
