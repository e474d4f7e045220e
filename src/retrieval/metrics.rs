//! Retrieval metrics of binary codes: mean average precision at k and precision-recall by Hamming
//! radius (paper A, section 4.2, Table 4 and Figure 6). An item is **relevant** to a query when it
//! has the query's class label.
//!
//! # Ranking and ties
//!
//! **Every database item is ranked by (Hamming distance, database index)**: nearer first, and among
//! items at the same distance the lower database index first. This is the order of
//! [`hamming_knn`].
//!
//! The tie rule matters. With short or sparse codes most of the database shares a handful of
//! distances, so the top k of a query usually cuts through a group of tied items, and which of them
//! make the cut changes the score. Some hashing evaluation code sorts ties in an unspecified order
//! (results then vary with the sort algorithm or the thread count), and some ranks relevant items
//! first within a tie, which inflates mAP for codes that cannot tell the items apart at all. Ranking
//! ties by index is neutral (the index carries no information on relevance unless the database is
//! sorted by class, which it should not be) and reproducible.
//!
//! # mAP@k
//!
//! For one query, with `rel(r)` = 1 if the item at rank `r` is relevant and `P(r)` the fraction of
//! relevant items among the first `r`:
//!
//! `AP@k = (1 / R_k) * sum_{r = 1..k} P(r) rel(r)`, where `R_k = sum_{r = 1..k} rel(r)`
//!
//! is the number of relevant items in the top k. This is paper A's `mAP = sum_r P(r) rel(r)`
//! (section 4.2) normalised as in most hashing papers' evaluation code. A query with no relevant
//! item in its top k has `AP@k = 0` **and is counted** in the mean; [`MapAtK::no_relevant`] says how
//! many such queries there were. `mAP@k` is the mean of `AP@k` over all queries.
//!
//! # Precision and recall by Hamming radius
//!
//! For `r = 0..=bits`, a query retrieves the database items within Hamming distance `r`.
//! `precision(r)` is the mean over queries of (relevant retrieved) / (retrieved), **over the queries
//! that retrieve at least one item at radius `r`** (a query retrieving nothing has no precision and
//! is left out of that radius' mean; [`PrPoint::retrieving`] says how many queries count).
//! `recall(r)` is the mean over queries of (relevant retrieved) / (relevant in the database): a
//! query retrieving nothing has recall 0 and counts; queries whose class has no item in the
//! database at all have no recall and are left out ([`PrCurve::queries_without_relevant`]).
//!
//! ```
//! use compete::retrieval::{BinaryCodes, metrics};
//!
//! // Database: 2-bit codes 00, 11, 01 with labels 0, 1, 0; one query 00 of label 0.
//! let db = BinaryCodes::from_bools(3, 2, &[false, false, true, true, true, false]).unwrap();
//! let q = BinaryCodes::from_bools(1, 2, &[false, false]).unwrap();
//! let maps = metrics::mean_average_precision(&db, &[0, 1, 0], &q, &[0], &[2]).unwrap();
//! // Ranking: item 0 (distance 0, relevant), item 2 (distance 1, relevant), item 1.
//! assert_eq!(maps[0].map, 1.0);
//! ```

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::codes::{BinaryCodes, hamming};
use super::search::{Neighbors, hamming_knn};
use crate::error::{Error, Result};

/// Mean average precision at one cut-off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapAtK {
    /// The cut-off k.
    pub k: usize,
    /// mAP@k in [0, 1] (see the module docs).
    pub map: f64,
    /// Mean precision at k: relevant items among the top k, divided by k, averaged over queries.
    pub precision: f64,
    /// Queries with no relevant item in their top k (their AP@k is 0 and counts in `map`).
    pub no_relevant: usize,
}

/// One point of the precision-recall curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrPoint {
    /// Hamming radius: items at distance `<= radius` are retrieved.
    pub radius: usize,
    /// Mean precision over the queries retrieving at least one item (`NaN` when none does; written
    /// as `null` in JSON).
    pub precision: f64,
    /// Mean recall over the queries that have a relevant item in the database.
    pub recall: f64,
    /// Queries retrieving at least one item at this radius (those averaged for `precision`).
    pub retrieving: usize,
}

/// Precision and recall for every Hamming radius `0..=bits`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrCurve {
    /// Code length.
    pub bits: usize,
    /// Number of queries.
    pub queries: usize,
    /// Queries whose class has no item in the database (left out of the recall means).
    pub queries_without_relevant: usize,
    /// One point per radius, `0..=bits`.
    pub points: Vec<PrPoint>,
}

/// Checks one label per code.
fn check_labels(codes: &BinaryCodes, labels: &[u8], what: &str) -> Result<()> {
    if codes.len() != labels.len() {
        return Err(Error::shape(
            format!("{what} labels"),
            format!("{} labels", labels.len()),
            format!("one per {what} code, {}", codes.len()),
        ));
    }
    Ok(())
}

/// Checks the cut-offs: at least one, each in `1..=limit` (`limit_what` names the limit).
fn check_ks(ks: &[usize], limit: usize, limit_what: &str) -> Result<usize> {
    let kmax = ks.iter().copied().max().ok_or_else(|| Error::param("k", "(none)", "at least one cut-off"))?;
    if let Some(&k) = ks.iter().find(|&&k| k == 0 || k > limit) {
        return Err(Error::param("k", k, format!("between 1 and {limit_what}, {limit}")));
    }
    Ok(kmax)
}

/// mAP@k for each `k` of `ks` (any order, repetitions allowed; the result follows `ks`), ranking
/// the whole database for every query by (Hamming distance, database index). The top `max(ks)` is
/// found once with [`hamming_knn`] and every k is derived from it.
///
/// Errors: no cut-off, a k of 0 or larger than the database, label counts that differ from the code
/// counts, codes of different lengths, no query.
pub fn mean_average_precision(
    database: &BinaryCodes,
    database_labels: &[u8],
    queries: &BinaryCodes,
    query_labels: &[u8],
    ks: &[usize],
) -> Result<Vec<MapAtK>> {
    check_labels(database, database_labels, "database")?;
    check_labels(queries, query_labels, "query")?;
    let kmax = check_ks(ks, database.len(), "the database size")?;
    let neighbors = hamming_knn(database, queries, kmax)?;
    map_from_neighbors(&neighbors, database_labels, query_labels, ks)
}

/// mAP@k for each `k` of `ks` from precomputed neighbours (ranked by distance, then database
/// index, as [`hamming_knn`] returns them); every k must be at most `neighbors.k`.
pub fn map_from_neighbors(neighbors: &Neighbors, database_labels: &[u8], query_labels: &[u8], ks: &[usize]) -> Result<Vec<MapAtK>> {
    let nq = neighbors.queries();
    if query_labels.len() != nq {
        return Err(Error::shape("query labels", format!("{} labels", query_labels.len()), format!("one per query, {nq}")));
    }
    if nq == 0 {
        return Err(Error::Data("no query: mAP needs at least one query".into()));
    }
    check_ks(ks, neighbors.k, "the neighbours found per query")?;
    if let Some(&i) = neighbors.indices.iter().find(|&&i| i as usize >= database_labels.len()) {
        return Err(Error::param("neighbour index", i, format!("below the number of database labels, {}", database_labels.len())));
    }
    let kmax = neighbors.k;
    // Per query, the AP@k and hits@k for each k, in `ks` order; summed in query order afterwards so
    // that the result does not depend on the thread count.
    let per_query: Vec<Vec<(f64, usize)>> = (0..nq)
        .into_par_iter()
        .map(|q| {
            let label = query_labels[q];
            // hits[r] and ap_sum[r]: relevant items and sum of P(i) rel(i) over the first r ranks.
            let mut hits = vec![0usize; kmax + 1];
            let mut ap_sum = vec![0f64; kmax + 1];
            for (r, &i) in neighbors.indices_of(q).iter().enumerate() {
                let rel = database_labels[i as usize] == label;
                hits[r + 1] = hits[r] + rel as usize;
                // Paper A, section 4.2: P(r) rel(r), with P(r) = hits / r at the 1-based rank r + 1.
                ap_sum[r + 1] = ap_sum[r] + if rel { hits[r + 1] as f64 / (r + 1) as f64 } else { 0.0 };
            }
            ks.iter().map(|&k| (if hits[k] == 0 { 0.0 } else { ap_sum[k] / hits[k] as f64 }, hits[k])).collect()
        })
        .collect();
    Ok(ks
        .iter()
        .enumerate()
        .map(|(j, &k)| {
            let (mut ap, mut precision, mut none) = (0.0, 0.0, 0);
            for row in &per_query {
                let (a, hits) = row[j];
                ap += a;
                precision += hits as f64 / k as f64;
                none += (hits == 0) as usize;
            }
            MapAtK { k, map: ap / nq as f64, precision: precision / nq as f64, no_relevant: none }
        })
        .collect())
}

/// Sums over a block of queries, per radius.
struct PrSums {
    precision: Vec<f64>,
    retrieving: Vec<usize>,
    recall: Vec<f64>,
    without_relevant: usize,
}

impl PrSums {
    fn new(radii: usize) -> Self {
        PrSums { precision: vec![0.0; radii], retrieving: vec![0; radii], recall: vec![0.0; radii], without_relevant: 0 }
    }

    fn add(&mut self, other: &PrSums) {
        for r in 0..self.precision.len() {
            self.precision[r] += other.precision[r];
            self.retrieving[r] += other.retrieving[r];
            self.recall[r] += other.recall[r];
        }
        self.without_relevant += other.without_relevant;
    }
}

/// Queries per parallel task of [`precision_recall`]. Fixed (not derived from the thread count), so
/// the sums are added in the same order on any machine.
const PR_BLOCK: usize = 16;

/// Database codes compared with a block of queries before moving on (a tile of 1024-bit codes is
/// 64 KiB).
const DB_TILE: usize = 512;

/// The precision-recall curve by Hamming radius `0..=bits` (see the module docs for how queries
/// that retrieve nothing, or have no relevant item, count). Every distance is computed once, into a
/// per-query histogram of distances per class; queries run in parallel.
///
/// Errors: label counts that differ from the code counts, codes of different lengths, an empty
/// database or no query.
pub fn precision_recall(database: &BinaryCodes, database_labels: &[u8], queries: &BinaryCodes, query_labels: &[u8]) -> Result<PrCurve> {
    check_labels(database, database_labels, "database")?;
    check_labels(queries, query_labels, "query")?;
    queries.check_same_length("query codes", database, "database codes")?;
    if database.is_empty() || queries.is_empty() {
        return Err(Error::Data(format!(
            "precision-recall needs a non-empty database and at least one query, got {} database codes and {} queries",
            database.len(),
            queries.len()
        )));
    }
    let bits = database.bits();
    let radii = bits + 1;
    let classes = database_labels.iter().chain(query_labels).copied().max().unwrap_or(0) as usize + 1;
    let mut class_size = vec![0usize; classes];
    for &l in database_labels {
        class_size[l as usize] += 1;
    }
    let blocks: Vec<PrSums> = (0..queries.len())
        .into_par_iter()
        .step_by(PR_BLOCK)
        .map(|q0| {
            let mut sums = PrSums::new(radii);
            let block = q0..(q0 + PR_BLOCK).min(queries.len());
            // hist[(q - q0) * per_query + c * radii + d]: database items of class c at distance d
            // from query q. The database is read in tiles that stay in cache while every query of
            // the block is compared with them.
            let per_query = classes * radii;
            let mut hist = vec![0u32; block.len() * per_query];
            for t0 in (0..database.len()).step_by(DB_TILE) {
                let tile = t0..(t0 + DB_TILE).min(database.len());
                for (h, q) in hist.chunks_exact_mut(per_query).zip(block.clone()) {
                    let code = queries.code(q);
                    for i in tile.clone() {
                        h[database_labels[i] as usize * radii + hamming(code, database.code(i)) as usize] += 1;
                    }
                }
            }
            for (hist, q) in hist.chunks_exact(per_query).zip(block) {
                let label = query_labels[q] as usize;
                let relevant_total = class_size[label];
                sums.without_relevant += (relevant_total == 0) as usize;
                let (mut retrieved, mut relevant) = (0usize, 0usize);
                for d in 0..radii {
                    retrieved += (0..classes).map(|c| hist[c * radii + d] as usize).sum::<usize>();
                    relevant += hist[label * radii + d] as usize;
                    if retrieved > 0 {
                        sums.precision[d] += relevant as f64 / retrieved as f64;
                        sums.retrieving[d] += 1;
                    }
                    if relevant_total > 0 {
                        sums.recall[d] += relevant as f64 / relevant_total as f64;
                    }
                }
            }
            sums
        })
        .collect();
    let mut total = PrSums::new(radii);
    for b in &blocks {
        total.add(b);
    }
    let with_relevant = queries.len() - total.without_relevant;
    let points = (0..radii)
        .map(|r| PrPoint {
            radius: r,
            precision: if total.retrieving[r] > 0 { total.precision[r] / total.retrieving[r] as f64 } else { f64::NAN },
            recall: if with_relevant > 0 { total.recall[r] / with_relevant as f64 } else { f64::NAN },
            retrieving: total.retrieving[r],
        })
        .collect();
    Ok(PrCurve { bits, queries: queries.len(), queries_without_relevant: total.without_relevant, points })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(rows: &[&str]) -> BinaryCodes {
        let bits = rows[0].len();
        let flags: Vec<bool> = rows.iter().flat_map(|r| r.chars().map(|c| c == '1')).collect();
        BinaryCodes::from_bools(rows.len(), bits, &flags).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// A 5-item database of 3-bit codes with ties, and two queries.
    ///
    /// | item | code | label | distance to q0 = 000 | distance to q1 = 111 |
    /// |---|---|---|---|---|
    /// | 0 | 100 | 1 | 1 | 2 |
    /// | 1 | 010 | 0 | 1 | 2 |
    /// | 2 | 000 | 1 | 0 | 3 |
    /// | 3 | 001 | 0 | 1 | 2 |
    /// | 4 | 111 | 0 | 3 | 0 |
    fn example() -> (BinaryCodes, Vec<u8>, BinaryCodes, Vec<u8>) {
        (codes(&["100", "010", "000", "001", "111"]), vec![1, 0, 1, 0, 0], codes(&["000", "111"]), vec![0, 1])
    }

    #[test]
    fn map_by_hand_with_ties_broken_by_index() {
        let (db, dl, q, ql) = example();
        // q0 (label 0) ranking: item 2 (d 0), then the tie at d 1 by index: 0, 1, 3, then 4.
        //   rel: 0, 0, 1, 1, 1.
        //   AP@1 = 0 (no relevant). AP@3: R = 1, P(3) = 1/3 -> 1/3.
        //   AP@5: R = 3, (1/3 + 2/4 + 3/5) / 3 = (20 + 30 + 36) / 60 / 3 = 86 / 180.
        // q1 (label 1) ranking: item 4 (d 0), then the tie at d 2: 0, 1, 3, then 2 (d 3).
        //   rel: 0, 1, 0, 0, 1.
        //   AP@1 = 0. AP@3: R = 1, P(2) = 1/2 -> 1/2. AP@5: R = 2, (1/2 + 2/5) / 2 = 9/20.
        let maps = mean_average_precision(&db, &dl, &q, &ql, &[5, 1, 3]).unwrap();
        assert_eq!(maps.iter().map(|m| m.k).collect::<Vec<_>>(), vec![5, 1, 3]);
        assert!(close(maps[0].map, (86.0 / 180.0 + 9.0 / 20.0) / 2.0), "{:?}", maps[0]);
        assert!(close(maps[1].map, 0.0));
        assert_eq!(maps[1].no_relevant, 2);
        assert!(close(maps[2].map, (1.0 / 3.0 + 1.0 / 2.0) / 2.0), "{:?}", maps[2]);
        assert_eq!((maps[0].no_relevant, maps[2].no_relevant), (0, 0));
        // Precision at k: q0 has 3, 0, 1 relevant in its top 5, 1, 3; q1 has 2, 0, 1.
        assert!(close(maps[0].precision, (3.0 / 5.0 + 2.0 / 5.0) / 2.0));
        assert!(close(maps[2].precision, (1.0 / 3.0 + 1.0 / 3.0) / 2.0));
    }

    #[test]
    fn ties_are_not_broken_in_favour_of_relevant_items() {
        // Every item at distance 0: the ranking is the index order, relevant items at ranks 2 and 4.
        let db = codes(&["0", "0", "0", "0"]);
        let maps = mean_average_precision(&db, &[1, 0, 1, 0], &codes(&["0"]), &[0], &[4]).unwrap();
        // AP@4 = (1/2 + 2/4) / 2 = 1/2 (relevant-first ordering would give 1).
        assert!(close(maps[0].map, 0.5), "{:?}", maps[0]);
    }

    #[test]
    fn queries_without_relevant_items_count_as_zero() {
        let (db, dl, _, _) = example();
        // Label 2 exists nowhere in the database; label 0 query finds item 1 first.
        let q = codes(&["010", "010"]);
        let maps = mean_average_precision(&db, &dl, &q, &[2, 0], &[1, 5]).unwrap();
        // Query 1 ranking from 010: item 1 (d 0, rel), then d 1: items 2 (000), then d 2: 0, 3, 4 (all d 2).
        // AP@1 = 1; query 0 has AP 0 and counts: mAP@1 = 0.5.
        assert!(close(maps[0].map, 0.5));
        assert_eq!(maps[0].no_relevant, 1);
        // AP@5 for query 1: rel 1, 0, 0, 1, 1 -> (1 + 2/4 + 3/5) / 3 = 2.1 / 3 = 0.7.
        assert!(close(maps[1].map, 0.7 / 2.0), "{:?}", maps[1]);
        assert_eq!(maps[1].no_relevant, 1);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let (db, dl, q, ql) = example();
        let e = mean_average_precision(&db, &dl, &q, &ql, &[6]).unwrap_err().to_string();
        assert!(e.contains("k = 6") && e.contains("database size, 5"), "{e}");
        assert!(mean_average_precision(&db, &dl, &q, &ql, &[0]).is_err());
        assert!(mean_average_precision(&db, &dl, &q, &ql, &[]).is_err());
        let e = mean_average_precision(&db, &dl[..4], &q, &ql, &[1]).unwrap_err().to_string();
        assert!(e.contains("database labels") && e.contains("4 labels") && e.contains('5'), "{e}");
        let e = mean_average_precision(&db, &dl, &q, &ql[..1], &[1]).unwrap_err().to_string();
        assert!(e.contains("query labels"), "{e}");
        assert!(mean_average_precision(&db, &dl, &codes(&["00"]), &[0], &[1]).is_err());
        assert!(precision_recall(&db, &dl[..4], &q, &ql).is_err());
        assert!(precision_recall(&db, &dl, &q, &ql[..1]).is_err());
        assert!(precision_recall(&db, &dl, &codes(&["00"]), &[0]).is_err());
        let none = BinaryCodes::zeros(0, 3).unwrap();
        assert!(precision_recall(&db, &dl, &none, &[]).is_err());
        let n = Neighbors { k: 2, indices: vec![0, 9], distances: vec![0, 0] };
        assert!(map_from_neighbors(&n, &dl, &[0], &[2]).unwrap_err().to_string().contains('9'));
        assert!(map_from_neighbors(&n, &dl, &[0], &[3]).is_err());
    }

    #[test]
    fn precision_recall_by_hand() {
        let (db, dl, q, ql) = example();
        let pr = precision_recall(&db, &dl, &q, &ql).unwrap();
        assert_eq!((pr.bits, pr.queries, pr.queries_without_relevant, pr.points.len()), (3, 2, 0, 4));
        // q0 (label 0, 3 relevant in the database): distances 1, 1, 0, 1, 3 (rel 0, 1, 0, 1, 1).
        //   r0: retrieves item 2 -> P 0, R 0.  r1: items 0-3 -> P 2/4, R 2/3.
        //   r2: same.  r3: all -> P 3/5, R 1.
        // q1 (label 1, 2 relevant): distances 2, 2, 3, 2, 0 (rel 1, 0, 1, 0, 0).
        //   r0: item 4 -> P 0, R 0.  r1: same.  r2: items 0, 1, 3, 4 -> P 1/4, R 1/2.  r3: P 2/5, R 1.
        let expect = [(0.0, 0.0), ((0.5 + 0.0) / 2.0, (2.0 / 3.0) / 2.0), ((0.5 + 0.25) / 2.0, (2.0 / 3.0 + 0.5) / 2.0), (0.5, 1.0)];
        for (p, (ep, er)) in pr.points.iter().zip(expect) {
            assert!(close(p.precision, ep) && close(p.recall, er), "{p:?} against {ep} {er}");
            assert_eq!(p.retrieving, 2);
        }
    }

    #[test]
    fn precision_leaves_out_queries_that_retrieve_nothing() {
        // Database 00 (label 0), 01 (label 1); queries 11 (label 0) and 00 (label 2: no relevant item).
        let db = codes(&["00", "01"]);
        let pr = precision_recall(&db, &[0, 1], &codes(&["11", "00"]), &[0, 2]).unwrap();
        assert_eq!(pr.queries_without_relevant, 1);
        // r0: query 0 retrieves nothing (left out of precision, recall 0); query 1 retrieves 00 -> P 0.
        assert_eq!(pr.points[0].retrieving, 1);
        assert!(close(pr.points[0].precision, 0.0) && close(pr.points[0].recall, 0.0));
        // r1: query 0 retrieves 01 (P 0, R 0); query 1 retrieves both (P 0).
        assert_eq!(pr.points[1].retrieving, 2);
        assert!(close(pr.points[1].precision, 0.0) && close(pr.points[1].recall, 0.0));
        // r2: query 0 retrieves both: P 1/2, R 1 (recall averaged over query 0 only).
        assert!(close(pr.points[2].precision, 0.25) && close(pr.points[2].recall, 1.0), "{:?}", pr.points[2]);
    }

    #[test]
    fn precision_recall_agrees_with_a_direct_count_and_ignores_threads() {
        // 70-bit codes from a simple generator, 3 classes.
        let n = 120;
        let flags: Vec<bool> = (0..n * 70).map(|k| ((k * 2654435761usize) >> 7) % 7 < 2).collect();
        let all = BinaryCodes::from_bools(n, 70, &flags).unwrap();
        let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
        let db = all.select(&(0..80).collect::<Vec<_>>()).unwrap();
        let q = all.select(&(80..n).collect::<Vec<_>>()).unwrap();
        let (dl, ql) = (&labels[..80], &labels[80..]);
        let pr = precision_recall(&db, dl, &q, ql).unwrap();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        // Debug text compares NaN precisions too.
        assert_eq!(format!("{:?}", one.install(|| precision_recall(&db, dl, &q, ql).unwrap())), format!("{pr:?}"));
        for r in [0, 20, 30, 35, 70] {
            let (mut p, mut np, mut rec) = (0.0, 0, 0.0);
            for (j, &label) in ql.iter().enumerate() {
                let got: Vec<usize> = (0..db.len()).filter(|&i| db.distance(i, &q, j) as usize <= r).collect();
                let rel = got.iter().filter(|&&i| dl[i] == label).count();
                if !got.is_empty() {
                    p += rel as f64 / got.len() as f64;
                    np += 1;
                }
                rec += rel as f64 / dl.iter().filter(|&&l| l == label).count() as f64;
            }
            let pt = &pr.points[r];
            assert_eq!(pt.retrieving, np);
            assert!((pt.recall - rec / q.len() as f64).abs() < 1e-12);
            if np > 0 {
                assert!((pt.precision - p / np as f64).abs() < 1e-12);
            } else {
                assert!(pt.precision.is_nan());
            }
        }
        assert!(close(pr.points[70].recall, 1.0));
        // Recall never decreases with the radius.
        assert!(pr.points.windows(2).all(|w| w[1].recall >= w[0].recall));
    }
}
