//! k-nearest-neighbour classification on features of a network (paper A, sections 3.3 and 4).
//!
//! Paper A classifies test examples by their nearest training examples, on submasks (Hamming
//! distance) or on real-valued activations and pre-activations (Euclidean distance), and chooses `k`
//! on a validation set (section 3.3; section 4: "k = 5 with distance weighting usually worked well";
//! appendix B.2 weights the neighbours by the inverse of their distance).
//!
//! The work is split in two so that every `k` of a grid costs one search:
//!
//! 1. [`hamming_neighbors`] or [`euclidean_neighbors`] find the `k_max` nearest database items of
//!    every query, ordered by distance and then by database index (ties never depend on threads).
//! 2. [`classify`] votes among the first `k` of them; [`select_k`] picks `k` on validation queries
//!    and reports the test error at that `k`.
//!
//! **Votes.** Uniform: one vote per neighbour. Inverse distance (appendix B.2): weight `1 / d`; when
//! some of the `k` neighbours are at distance 0 (an identical submask), only those vote, one vote
//! each (the limit of `1 / d` as `d -> 0`). A tie between classes goes to the class of the nearest
//! neighbour among the tied classes.
//!
//! ```
//! use compete::eval::knn::{Weighting, classify, euclidean_neighbors};
//! use compete::tensor::Matrix;
//!
//! let database = Matrix::from_vec(4, 1, vec![0.0, 1.0, 10.0, 11.0]).unwrap();
//! let labels = [0u8, 0, 1, 1];
//! let queries = Matrix::from_vec(2, 1, vec![0.4, 9.0]).unwrap();
//! let lists = euclidean_neighbors(&database, &queries, 3).unwrap();
//! assert_eq!(lists.indices_of(0), &[0, 1, 2]);
//! let predicted = classify(&lists, 3, &labels, 2, Weighting::Uniform).unwrap();
//! assert_eq!(predicted, vec![0, 1]);
//! ```

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::retrieval::{BinaryCodes, hamming_knn};
use crate::tensor::{Matrix, Op, matmul};

/// The `k` nearest database items of every query, nearest first (row-major per query).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NeighborLists {
    /// Neighbours per query.
    pub k: usize,
    /// Database indices, `queries x k`.
    pub indices: Vec<u32>,
    /// Distances (Hamming or Euclidean), `queries x k`.
    pub distances: Vec<f32>,
}

impl NeighborLists {
    /// Number of queries.
    pub fn queries(&self) -> usize {
        self.indices.len().checked_div(self.k).unwrap_or(0)
    }

    /// Database indices of query `q`'s neighbours.
    pub fn indices_of(&self, q: usize) -> &[u32] {
        &self.indices[q * self.k..(q + 1) * self.k]
    }

    /// Distances of query `q`'s neighbours.
    pub fn distances_of(&self, q: usize) -> &[f32] {
        &self.distances[q * self.k..(q + 1) * self.k]
    }
}

/// How neighbours vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// One vote each.
    Uniform,
    /// Weighted by `1 / distance` (paper A, appendix B.2).
    InverseDistance,
}

impl std::fmt::Display for Weighting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Weighting::Uniform => "uniform",
            Weighting::InverseDistance => "inverse-distance",
        })
    }
}

impl std::str::FromStr for Weighting {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "uniform" => Ok(Weighting::Uniform),
            "inverse-distance" | "inverse" | "distance" => Ok(Weighting::InverseDistance),
            _ => Err(Error::param("weighting", s, "uniform or inverse-distance")),
        }
    }
}

/// Nearest neighbours of binary codes by Hamming distance (exact; see [`crate::retrieval::search`]).
pub fn hamming_neighbors(database: &BinaryCodes, queries: &BinaryCodes, k: usize) -> Result<NeighborLists> {
    let n = hamming_knn(database, queries, k)?;
    Ok(NeighborLists { k, indices: n.indices, distances: n.distances.into_iter().map(|d| d as f32).collect() })
}

/// Database rows per block of [`euclidean_neighbors`] (a block of products stays in cache).
const DB_BLOCK: usize = 2048;
/// Query rows per block of [`euclidean_neighbors`].
const QUERY_BLOCK: usize = 1024;

/// Nearest neighbours of real vectors (rows) by Euclidean distance, exact.
///
/// Squared distances are computed as `|q|^2 + |x|^2 - 2 q.x`, the products by blocks of GEMM, and
/// clamped at 0 against rounding. Returned distances are the square roots.
pub fn euclidean_neighbors(database: &Matrix, queries: &Matrix, k: usize) -> Result<NeighborLists> {
    if database.cols != queries.cols {
        return Err(Error::shape(
            "query features against database features",
            format!("{} features per query", queries.cols),
            format!("{} features, as the database", database.cols),
        ));
    }
    if k == 0 || k > database.rows {
        return Err(Error::param("k", k, format!("between 1 and the database size, {}", database.rows)));
    }
    if database.rows > u32::MAX as usize {
        return Err(Error::param("database size", database.rows, format!("at most {} rows", u32::MAX)));
    }
    let norms = |m: &Matrix| -> Vec<f32> { m.data.par_chunks(m.cols.max(1)).map(|r| r.iter().map(|v| v * v).sum()).collect() };
    let db_norms = norms(database);
    let q_norms = norms(queries);
    let nq = queries.rows;
    // Per query: the current best (squared distance, index), sorted, at most k long.
    let mut best: Vec<Vec<(f32, u32)>> = vec![Vec::with_capacity(k + 1); nq];
    let mut dots = Matrix::default();
    for q0 in (0..nq).step_by(QUERY_BLOCK) {
        let q1 = (q0 + QUERY_BLOCK).min(nq);
        let qb = Matrix::from_vec(q1 - q0, queries.cols, queries.data[q0 * queries.cols..q1 * queries.cols].to_vec())?;
        for d0 in (0..database.rows).step_by(DB_BLOCK) {
            let d1 = (d0 + DB_BLOCK).min(database.rows);
            let db = Matrix::from_vec(d1 - d0, database.cols, database.data[d0 * database.cols..d1 * database.cols].to_vec())?;
            dots.resize(q1 - q0, d1 - d0);
            matmul(&mut dots, &qb, Op::N, &db, Op::T, false)?;
            best[q0..q1].par_iter_mut().zip(dots.data.par_chunks(d1 - d0)).enumerate().for_each(|(r, (list, row))| {
                let qn = q_norms[q0 + r];
                for (j, &dot) in row.iter().enumerate() {
                    let d = (qn + db_norms[d0 + j] - 2.0 * dot).max(0.0);
                    insert_sorted(list, k, d, (d0 + j) as u32);
                }
            });
        }
    }
    let mut out = NeighborLists { k, indices: Vec::with_capacity(nq * k), distances: Vec::with_capacity(nq * k) };
    for list in best {
        for (d, i) in list {
            out.distances.push(d.sqrt());
            out.indices.push(i);
        }
    }
    Ok(out)
}

/// Inserts `(d, i)` into `list` (sorted by distance, at most `k` long) if it belongs to the best `k`.
/// Items arrive in increasing index order, so an equal distance goes after the ones already there.
#[inline]
fn insert_sorted(list: &mut Vec<(f32, u32)>, k: usize, d: f32, i: u32) {
    if list.len() == k {
        if d >= list[k - 1].0 {
            return;
        }
        list.pop();
    }
    let at = list.partition_point(|&(e, _)| e <= d);
    list.insert(at, (d, i));
}

/// Predicted class of every query by a vote of its first `k` neighbours (see the module docs).
pub fn classify(lists: &NeighborLists, k: usize, db_labels: &[u8], classes: usize, weighting: Weighting) -> Result<Vec<usize>> {
    if k == 0 || k > lists.k {
        return Err(Error::param("k", k, format!("between 1 and the {} neighbours searched", lists.k)));
    }
    if let Some(&i) = lists.indices.iter().find(|&&i| i as usize >= db_labels.len()) {
        return Err(Error::shape("database labels", format!("{} labels", db_labels.len()), format!("a label for database item {i}")));
    }
    if let Some(&l) = db_labels.iter().find(|&&l| l as usize >= classes) {
        return Err(Error::param("database label", l, format!("below the number of classes, {classes}")));
    }
    Ok((0..lists.queries())
        .into_par_iter()
        .map_init(
            || (vec![0f64; classes], vec![usize::MAX; classes]),
            |(votes, first), q| {
                votes.fill(0.0);
                first.fill(usize::MAX);
                let idx = &lists.indices_of(q)[..k];
                let dist = &lists.distances_of(q)[..k];
                let exact = weighting == Weighting::InverseDistance && dist[0] == 0.0;
                for (rank, (&i, &d)) in idx.iter().zip(dist).enumerate() {
                    let c = db_labels[i as usize] as usize;
                    let w = match weighting {
                        Weighting::Uniform => 1.0,
                        // Distance 0 present: only exact matches vote (the limit of 1/d).
                        Weighting::InverseDistance if exact => f64::from(d == 0.0),
                        Weighting::InverseDistance => 1.0 / d as f64,
                    };
                    if w > 0.0 {
                        votes[c] += w;
                        first[c] = first[c].min(rank);
                    }
                }
                // Highest vote; ties to the class whose nearest member ranks first.
                (0..classes)
                    .filter(|&c| first[c] != usize::MAX)
                    .max_by(|&a, &b| votes[a].total_cmp(&votes[b]).then(first[b].cmp(&first[a])))
                    .unwrap_or(0)
            },
        )
        .collect())
}

/// The `k` chosen on validation and the test error there.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KnnSelection {
    /// How neighbours voted.
    pub weighting: Weighting,
    /// The candidate values of `k`.
    pub k_grid: Vec<usize>,
    /// Validation errors at each candidate.
    pub validation_errors: Vec<usize>,
    /// The chosen `k`: fewest validation errors, the smallest `k` on ties.
    pub k: usize,
    /// Test errors at the chosen `k`.
    pub test_errors: usize,
    /// Test examples.
    pub test_size: usize,
    /// Test errors at every candidate (reported, never used for the choice).
    pub test_errors_per_k: Vec<usize>,
}

/// Chooses `k` from `grid` by the validation error and classifies the test queries with it.
/// `val` and `test` are the neighbour lists of the validation and test queries in the same database
/// (labels `db_labels`), searched with at least the largest `k` of the grid.
pub fn select_k(
    val: (&NeighborLists, &[u8]),
    test: (&NeighborLists, &[u8]),
    db_labels: &[u8],
    classes: usize,
    grid: &[usize],
    weighting: Weighting,
) -> Result<KnnSelection> {
    if grid.is_empty() {
        return Err(Error::param("k grid", "(empty)", "at least one k"));
    }
    for (name, (lists, labels)) in [("validation", val), ("test", test)] {
        if lists.queries() != labels.len() {
            return Err(Error::shape(
                format!("{name} labels"),
                format!("{} labels", labels.len()),
                format!("{} (one per query)", lists.queries()),
            ));
        }
    }
    let errors = |(lists, labels): (&NeighborLists, &[u8]), k: usize| -> Result<usize> {
        let predicted = classify(lists, k, db_labels, classes, weighting)?;
        Ok(crate::eval::error_count(&predicted, labels))
    };
    let validation_errors = grid.iter().map(|&k| errors(val, k)).collect::<Result<Vec<_>>>()?;
    let test_errors_per_k = grid.iter().map(|&k| errors(test, k)).collect::<Result<Vec<_>>>()?;
    let best = (0..grid.len()).min_by_key(|&i| (validation_errors[i], grid[i])).unwrap_or(0);
    Ok(KnnSelection {
        weighting,
        k_grid: grid.to_vec(),
        validation_errors,
        k: grid[best],
        test_errors: test_errors_per_k[best],
        test_size: test.1.len(),
        test_errors_per_k,
    })
}

/// The default grid of `k` (paper A chooses `k` on validation without giving its grid).
pub const DEFAULT_K_GRID: [usize; 10] = [1, 2, 3, 5, 7, 10, 15, 20, 30, 50];

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn brute(database: &Matrix, queries: &Matrix, k: usize) -> Vec<Vec<u32>> {
        (0..queries.rows)
            .map(|q| {
                let mut all: Vec<(f64, u32)> = (0..database.rows)
                    .map(|i| {
                        let d: f64 = queries.row(q).iter().zip(database.row(i)).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
                        (d, i as u32)
                    })
                    .collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                all[..k].iter().map(|p| p.1).collect()
            })
            .collect()
    }

    #[test]
    fn euclidean_search_matches_brute_force_across_blocks() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // More rows than one block of each kind, with integer coordinates so sums are exact and
        // there are ties (broken by index).
        let (n, nq, dim) = (DB_BLOCK + 37, QUERY_BLOCK + 5, 3);
        let database = Matrix::from_vec(n, dim, (0..n * dim).map(|_| rng.random_range(0..4) as f32).collect()).unwrap();
        let queries = Matrix::from_vec(nq, dim, (0..nq * dim).map(|_| rng.random_range(0..4) as f32).collect()).unwrap();
        let lists = euclidean_neighbors(&database, &queries, 7).unwrap();
        let expected = brute(&database, &queries, 7);
        for (q, e) in expected.iter().enumerate() {
            assert_eq!(lists.indices_of(q), e.as_slice(), "query {q}");
        }
    }

    #[test]
    fn votes_follow_the_weighting_and_tie_rules() {
        // Query 0: neighbours at 1 (class 0), 2 (class 1), 2 (class 1): uniform -> 1, inverse -> 0
        // (1/1 = 1.0 vs 1/2 + 1/2 = 1.0 is a tie: the nearest, class 0, wins).
        // Query 1: an exact match (class 2) beats everything under inverse distance.
        let lists = NeighborLists { k: 3, indices: vec![0, 1, 2, 3, 0, 1], distances: vec![1.0, 2.0, 2.0, 0.0, 1.0, 1.0] };
        let labels = [0u8, 1, 1, 2];
        assert_eq!(classify(&lists, 3, &labels, 3, Weighting::Uniform).unwrap(), vec![1, 2]);
        assert_eq!(classify(&lists, 3, &labels, 3, Weighting::InverseDistance).unwrap(), vec![0, 2]);
        // k = 2, uniform: one vote each for 0 and 1 in query 0 -> the nearest (class 0).
        assert_eq!(classify(&lists, 2, &labels, 3, Weighting::Uniform).unwrap(), vec![0, 2]);
        assert!(classify(&lists, 4, &labels, 3, Weighting::Uniform).is_err());
        assert!(classify(&lists, 3, &labels[..2], 3, Weighting::Uniform).is_err());
        assert!(classify(&lists, 3, &labels, 2, Weighting::Uniform).is_err());
    }

    #[test]
    fn k_is_chosen_on_validation_only() {
        // Database: classes 0,0,1,1,1 on a line. Validation query at 0.1 (class 0) is right for
        // k = 1, 2 and wrong for k = 5; the test query is labelled so that k = 5 would be right.
        let database = Matrix::from_vec(5, 1, vec![0.0, 0.2, 5.0, 5.1, 5.2]).unwrap();
        let db_labels = [0u8, 0, 1, 1, 1];
        let vq = Matrix::from_vec(1, 1, vec![0.1]).unwrap();
        let tq = Matrix::from_vec(1, 1, vec![0.1]).unwrap();
        let val = euclidean_neighbors(&database, &vq, 5).unwrap();
        let test = euclidean_neighbors(&database, &tq, 5).unwrap();
        let s = select_k((&val, &[0]), (&test, &[1]), &db_labels, 2, &[5, 2, 1], Weighting::Uniform).unwrap();
        assert_eq!(s.validation_errors, vec![1, 0, 0]);
        assert_eq!(s.k, 1, "ties go to the smallest k");
        assert_eq!(s.test_errors, 1);
        assert_eq!(s.test_errors_per_k, vec![0, 1, 1]);
        assert!(select_k((&val, &[0]), (&test, &[1]), &db_labels, 2, &[], Weighting::Uniform).is_err());
        assert!(select_k((&val, &[0, 1]), (&test, &[1]), &db_labels, 2, &[1], Weighting::Uniform).is_err());
    }

    #[test]
    fn hamming_neighbors_classify_codes() {
        let db = BinaryCodes::from_bools(
            4,
            4,
            &[[true, true, false, false], [true, false, false, false], [false, false, true, true], [false, false, true, false]].concat(),
        )
        .unwrap();
        let q = BinaryCodes::from_bools(1, 4, &[true, true, true, false]).unwrap();
        let lists = hamming_neighbors(&db, &q, 4).unwrap();
        assert_eq!(lists.distances_of(0), &[1.0, 2.0, 2.0, 3.0]);
        assert_eq!(lists.indices_of(0), &[0, 1, 3, 2]);
        assert_eq!(classify(&lists, 3, &[0, 0, 1, 1], 2, Weighting::Uniform).unwrap(), vec![0]);
        assert!(hamming_neighbors(&db, &q, 5).is_err());
        let short = BinaryCodes::zeros(1, 3).unwrap();
        assert!(hamming_neighbors(&db, &short, 1).is_err());
    }

    #[test]
    fn bad_euclidean_arguments_are_refused() {
        let a = Matrix::zeros(3, 2);
        assert!(euclidean_neighbors(&a, &Matrix::zeros(1, 3), 1).is_err());
        assert!(euclidean_neighbors(&a, &Matrix::zeros(1, 2), 4).is_err());
        assert!(euclidean_neighbors(&a, &Matrix::zeros(1, 2), 0).is_err());
    }
}
