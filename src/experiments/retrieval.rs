//! Retrieval with the submasks of a trained network, against a baseline code (paper A, section 4.2,
//! Table 4 and Figure 6): the computation behind `compete retrieve`, callable from the demo.
//!
//! Queries (the test images) and the database (the training images) are coded with the submasks of
//! one hidden layer; the baseline is random-hyperplane LSH ([`Lsh`]) of the same layer's activations,
//! with as many bits as the submasks, fitted on the database. Every code gets mAP@k for the asked
//! cut-offs and the precision-recall curve by Hamming radius ([`crate::retrieval::metrics`]).
//!
//! ```
//! use compete::competition::Competition;
//! use compete::data::synthetic::blobs;
//! use compete::models::mlp::{Mlp, MlpConfig};
//! use compete::experiments::retrieval::{RetrievalOptions, retrieval_report};
//!
//! let data = blobs(60, 4, 3, 0.2, 1).unwrap();
//! let net = Mlp::new(MlpConfig::new(4, &[(16, Competition::Relu)], 3).unwrap(), 2).unwrap();
//! let (db, queries) = data.split_last(10).unwrap();
//! let options = RetrievalOptions { ks: vec![5], ..RetrievalOptions::default() };
//! let report = retrieval_report(&net, &db, &queries, &options).unwrap();
//! assert_eq!(report.codes.len(), 2); // submasks and LSH
//! assert!((0.0..=1.0).contains(&report.codes[0].map[0].map));
//! ```

use serde::{Deserialize, Serialize};

use crate::analysis::submasks::{Representation, layer_features};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Encoder;
use crate::retrieval::baseline::Lsh;
use crate::retrieval::codes::BinaryCodes;
use crate::retrieval::metrics::{MapAtK, PrCurve, mean_average_precision, precision_recall};

/// The baseline code compared with the submasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Baseline {
    /// Random-hyperplane LSH of the layer's activations ([`Lsh`]), as many bits as the submasks.
    Lsh,
    /// No baseline.
    None,
}

impl std::str::FromStr for Baseline {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "lsh" => Ok(Baseline::Lsh),
            "none" => Ok(Baseline::None),
            _ => Err(Error::param("baseline", s, "lsh or none")),
        }
    }
}

/// What [`retrieval_report`] computes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrievalOptions {
    /// Hidden layer to read, 0 = closest to the input; `None`: the last hidden layer (the paper's
    /// choice, section 3.3: the penultimate layer of the network).
    pub layer: Option<usize>,
    /// Cut-offs of mAP@k (paper A, Table 4: 5, 10 and 100).
    pub ks: Vec<usize>,
    /// The baseline code.
    pub baseline: Baseline,
    /// Seed of the LSH directions.
    pub seed: u64,
    /// Examples per forward chunk when reading the layer.
    pub chunk: usize,
}

impl Default for RetrievalOptions {
    fn default() -> Self {
        RetrievalOptions { layer: None, ks: vec![5, 10, 100], baseline: Baseline::Lsh, seed: 0, chunk: 500 }
    }
}

/// One code's database and query codes.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedCodes {
    /// `submasks` or the baseline's name.
    pub name: String,
    /// Codes of the database examples.
    pub database: BinaryCodes,
    /// Codes of the queries.
    pub queries: BinaryCodes,
}

/// The retrieval results of one code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodeReport {
    /// `submasks` or the baseline's name.
    pub code: String,
    /// Code length.
    pub bits: usize,
    /// Mean fraction of 1 bits in the database codes (the sparsity of submasks).
    pub ones: f64,
    /// mAP@k, one entry per asked k, in the asked order.
    pub map: Vec<MapAtK>,
    /// Precision and recall by Hamming radius.
    pub pr: PrCurve,
}

/// Everything [`retrieval_report`] measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrievalReport {
    /// The hidden layer read.
    pub layer: usize,
    /// Database size.
    pub database: usize,
    /// Number of queries.
    pub queries: usize,
    /// Submasks first, then the baseline (if any).
    pub codes: Vec<CodeReport>,
}

/// The hidden layer `options.layer` names (default: the last one), checked against `enc`.
pub fn resolve_layer(enc: &dyn Encoder, layer: Option<usize>) -> Result<usize> {
    let hidden = enc.layers().len();
    let layer = layer.unwrap_or(hidden.saturating_sub(1));
    if layer >= hidden {
        return Err(Error::param(
            "layer",
            layer,
            if hidden == 0 {
                "a hidden layer, but the network has none".to_string()
            } else {
                format!("a hidden layer from 0 to {}", hidden - 1)
            },
        ));
    }
    Ok(layer)
}

fn check_data(enc: &dyn Encoder, data: &Dataset, what: &str) -> Result<()> {
    if data.dim != enc.input_width() {
        return Err(Error::shape(
            format!("{what} against the network"),
            format!("{} input features", data.dim),
            format!("{} input features, the network's input width", enc.input_width()),
        ));
    }
    Ok(())
}

/// The submask codes of layer `layer` for the database and the queries, followed by the baseline's
/// codes (LSH of the activations, fitted on the database, as many bits as the submasks).
pub fn layer_codes(
    enc: &dyn Encoder,
    database: &Dataset,
    queries: &Dataset,
    layer: usize,
    options: &RetrievalOptions,
) -> Result<Vec<NamedCodes>> {
    check_data(enc, database, "database examples")?;
    check_data(enc, queries, "query examples")?;
    let mut want = vec![Representation::Submasks];
    if options.baseline == Baseline::Lsh {
        want.push(Representation::Activations);
    }
    let db = layer_features(enc, &database.x, layer, options.chunk, &want)?;
    let q = layer_features(enc, &queries.x, layer, options.chunk, &want)?;
    let missing = || Error::Data(format!("layer {layer} returned no submasks"));
    let (db_masks, q_masks) = (db.submasks.ok_or_else(missing)?, q.submasks.ok_or_else(missing)?);
    let bits = db_masks.bits();
    let mut out = vec![NamedCodes { name: "submasks".into(), database: db_masks, queries: q_masks }];
    if let (Baseline::Lsh, Some(db_act), Some(q_act)) = (options.baseline, db.activations, q.activations) {
        let lsh = Lsh::fit(&db_act, bits, options.seed)?;
        out.push(NamedCodes { name: "lsh".into(), database: lsh.encode(&db_act)?, queries: lsh.encode(&q_act)? });
    }
    Ok(out)
}

/// mAP@k and the precision-recall curve of one code (relevance: same label).
pub fn evaluate_codes(codes: &NamedCodes, database_labels: &[u8], query_labels: &[u8], ks: &[usize]) -> Result<CodeReport> {
    let db = &codes.database;
    let ones =
        if db.is_empty() { 0.0 } else { (0..db.len()).map(|i| db.count_ones(i) as f64).sum::<f64>() / (db.len() * db.bits()) as f64 };
    Ok(CodeReport {
        code: codes.name.clone(),
        bits: db.bits(),
        ones,
        map: mean_average_precision(db, database_labels, &codes.queries, query_labels, ks)?,
        pr: precision_recall(db, database_labels, &codes.queries, query_labels)?,
    })
}

/// Retrieval of `queries` in `database` with the submasks of a hidden layer of any encoder and the
/// baseline (see the module docs).
///
/// Errors: a layer out of range, data whose width is not the network's input width, a k of 0 or
/// larger than the database, no cut-off.
pub fn retrieval_report(enc: &dyn Encoder, database: &Dataset, queries: &Dataset, options: &RetrievalOptions) -> Result<RetrievalReport> {
    let layer = resolve_layer(enc, options.layer)?;
    // Check the cut-offs before the forward passes.
    if options.ks.is_empty() {
        return Err(Error::param("k", "(none)", "at least one cut-off"));
    }
    if let Some(&k) = options.ks.iter().find(|&&k| k == 0 || k > database.len()) {
        return Err(Error::param("k", k, format!("between 1 and the database size, {}", database.len())));
    }
    let codes = layer_codes(enc, database, queries, layer, options)?;
    let reports = codes.iter().map(|c| evaluate_codes(c, &database.labels, &queries.labels, &options.ks)).collect::<Result<Vec<_>>>()?;
    Ok(RetrievalReport { layer, database: database.len(), queries: queries.len(), codes: reports })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::competition::Competition;
    use crate::data::synthetic::blobs;
    use crate::models::mlp::{Mlp, MlpConfig};

    fn setup(c: Competition) -> (Mlp, Dataset, Dataset) {
        let data = blobs(150, 6, 3, 0.3, 4).unwrap();
        let (db, q) = data.split_last(30).unwrap();
        let net = Mlp::new(MlpConfig::new(6, &[(10, Competition::Relu), (8, c)], 3).unwrap(), 5).unwrap();
        (net, db, q)
    }

    #[test]
    fn report_has_both_codes_of_the_same_length() {
        let (net, db, q) = setup(Competition::Maxout { rank: 2 });
        let report = retrieval_report(&net, &db, &q, &RetrievalOptions::default()).unwrap();
        assert_eq!((report.layer, report.database, report.queries), (1, 120, 30));
        let names: Vec<&str> = report.codes.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(names, ["submasks", "lsh"]);
        // 8 maxout units of rank 2: 16-bit submasks, exactly one winning piece per unit.
        assert!(report.codes.iter().all(|c| c.bits == 16 && c.pr.points.len() == 17));
        assert!((report.codes[0].ones - 0.5).abs() < 1e-12);
        for c in &report.codes {
            assert_eq!(c.map.iter().map(|m| m.k).collect::<Vec<_>>(), vec![5, 10, 100]);
            assert!(c.map.iter().all(|m| (0.0..=1.0).contains(&m.map) && m.no_relevant <= 30));
            // At the full radius every item is retrieved: recall 1, precision the class share.
            assert!((c.pr.points[16].recall - 1.0).abs() < 1e-12);
        }
        // The LSH seed changes only the baseline.
        let other = retrieval_report(&net, &db, &q, &RetrievalOptions { seed: 9, layer: Some(1), ..Default::default() }).unwrap();
        assert_eq!(other.codes[0], report.codes[0]);
        assert_ne!(other.codes[1].map, report.codes[1].map);
    }

    #[test]
    fn bad_layer_k_and_data_are_errors() {
        let (net, db, q) = setup(Competition::Relu);
        let e = retrieval_report(&net, &db, &q, &RetrievalOptions { layer: Some(2), ..Default::default() }).unwrap_err().to_string();
        assert!(e.contains("layer = 2") && e.contains("0 to 1"), "{e}");
        let e = retrieval_report(&net, &db, &q, &RetrievalOptions { ks: vec![121], ..Default::default() }).unwrap_err().to_string();
        assert!(e.contains("k = 121") && e.contains("120"), "{e}");
        let wide = blobs(20, 7, 3, 0.3, 4).unwrap();
        let e = retrieval_report(&net, &db, &wide, &RetrievalOptions::default()).unwrap_err().to_string();
        assert!(e.contains("7 input features") && e.contains('6'), "{e}");
        let none = RetrievalOptions { baseline: Baseline::None, layer: Some(0), ks: vec![1], ..Default::default() };
        let report = retrieval_report(&net, &db, &q, &none).unwrap();
        assert_eq!(report.codes.len(), 1);
        assert_eq!(report.codes[0].bits, 10);
        assert_eq!("lsh".parse::<Baseline>().unwrap(), Baseline::Lsh);
        assert!("pca".parse::<Baseline>().is_err());
    }
}
