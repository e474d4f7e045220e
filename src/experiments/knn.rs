//! kNN on the representations of any encoder's hidden layer, beside the model's softmax (paper A,
//! Tables 1 and 2): the pipeline of `compete knn` and of the demo.

use serde::Serialize;

use crate::analysis::{LayerFeatures, Representation, layer_features};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::eval::knn::{KnnSelection, Weighting, euclidean_neighbors, hamming_neighbors, select_k};
use crate::models::Encoder;
use crate::tensor::Matrix;

/// One line of a [`KnnReport`]: a representation, a weighting and what kNN made of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KnnRow {
    /// `submasks`, `activations` or `pre-activations`.
    pub representation: String,
    /// Bits (submasks) or features per example.
    pub width: usize,
    /// The distance used: `hamming` or `euclidean`.
    pub distance: String,
    /// The choice of `k` and the errors.
    #[serde(flatten)]
    pub selection: KnnSelection,
}

/// kNN classification of a network's test set on its own representations (paper A, Tables 1-2),
/// beside the network's softmax error.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KnnReport {
    /// Hidden layer read (0 = closest to the input).
    pub layer: usize,
    /// Database (training split) size.
    pub database_size: usize,
    /// Validation queries (used to choose `k`).
    pub validation_size: usize,
    /// Test queries.
    pub test_size: usize,
    /// Test errors of the network's own softmax output (classifiers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub softmax_test_errors: Option<usize>,
    /// One row per representation and weighting.
    pub rows: Vec<KnnRow>,
    /// Seconds spent reading the representations.
    pub feature_seconds: f64,
    /// Seconds spent searching and voting.
    pub search_seconds: f64,
}

/// Runs kNN on hidden layer `layer` of any encoder: the training split is the database, `k` is
/// chosen from `grid` on the validation split, the test split is reported. Submasks use the Hamming
/// distance, activations and pre-activations the Euclidean distance. `softmax_test_errors` is the
/// model's own test error when it is a classifier, reported beside.
pub fn knn_report(
    enc: &dyn Encoder,
    softmax_test_errors: Option<usize>,
    data: (&Dataset, &Dataset, &Dataset),
    layer: usize,
    representations: &[Representation],
    weightings: &[Weighting],
    grid: &[usize],
) -> Result<KnnReport> {
    let (train, val, test) = data;
    let k_max = grid.iter().copied().max().ok_or_else(|| Error::param("k grid", "(empty)", "at least one k"))?;
    if k_max > train.len() || grid.contains(&0) {
        return Err(Error::param("k grid", format!("{grid:?}"), format!("values between 1 and the database size, {}", train.len())));
    }
    if representations.is_empty() || weightings.is_empty() {
        return Err(Error::param("representations / weightings", "(empty)", "at least one of each"));
    }
    let classes = train.classes;
    let t0 = std::time::Instant::now();
    let feats = [train, val, test].map(|d| layer_features(enc, &d.x, layer, 500, representations));
    let [ftrain, fval, ftest] = feats;
    let (ftrain, fval, ftest) = (ftrain?, fval?, ftest?);
    let feature_seconds = t0.elapsed().as_secs_f64();
    let t1 = std::time::Instant::now();
    let mut rows = Vec::new();
    for &rep in representations {
        let (lists_val, lists_test, width, distance) = match rep {
            Representation::Submasks => {
                let (db, v, t) = (ftrain.submasks.as_ref(), fval.submasks.as_ref(), ftest.submasks.as_ref());
                let (Some(db), Some(v), Some(t)) = (db, v, t) else { continue };
                (hamming_neighbors(db, v, k_max)?, hamming_neighbors(db, t, k_max)?, db.bits(), "hamming")
            }
            Representation::Activations | Representation::PreActivations => {
                let (Some(db), Some(v), Some(t)) = (pick(&ftrain, rep), pick(&fval, rep), pick(&ftest, rep)) else { continue };
                (euclidean_neighbors(db, v, k_max)?, euclidean_neighbors(db, t, k_max)?, db.cols, "euclidean")
            }
        };
        for &w in weightings {
            let selection = select_k((&lists_val, &val.labels), (&lists_test, &test.labels), &train.labels, classes, grid, w)?;
            rows.push(KnnRow { representation: rep.to_string(), width, distance: distance.to_string(), selection });
        }
    }
    Ok(KnnReport {
        layer,
        database_size: train.len(),
        validation_size: val.len(),
        test_size: test.len(),
        softmax_test_errors,
        rows,
        feature_seconds,
        search_seconds: t1.elapsed().as_secs_f64(),
    })
}

/// The real-valued representation `rep` of `f`, when it was read.
fn pick(f: &LayerFeatures, rep: Representation) -> Option<&Matrix> {
    match rep {
        Representation::Activations => f.activations.as_ref(),
        _ => f.pre_activations.as_ref(),
    }
}
