//! Exact k-nearest-neighbour search by Hamming distance.
//!
//! Result order: by distance, then by database index (the lower index first). This makes the result
//! unique, so fast implementations can be checked against [`hamming_knn_brute`] for equality.

use super::codes::{BinaryCodes, hamming};
use crate::error::{Error, Result};

/// The `k` nearest database codes of every query, row-major: query `q`'s neighbours are
/// `indices[q*k..(q+1)*k]` with their distances at the same positions, nearest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Neighbors {
    /// Neighbours per query.
    pub k: usize,
    /// Database indices.
    pub indices: Vec<u32>,
    /// Hamming distances.
    pub distances: Vec<u32>,
}

impl Neighbors {
    /// Number of queries.
    pub fn queries(&self) -> usize {
        self.indices.len().checked_div(self.k).unwrap_or(0)
    }

    /// Database indices of query `q`'s neighbours, nearest first.
    pub fn indices_of(&self, q: usize) -> &[u32] {
        &self.indices[q * self.k..(q + 1) * self.k]
    }

    /// Distances of query `q`'s neighbours, nearest first.
    pub fn distances_of(&self, q: usize) -> &[u32] {
        &self.distances[q * self.k..(q + 1) * self.k]
    }
}

/// Checks the arguments shared by every search.
pub(crate) fn check_args(database: &BinaryCodes, queries: &BinaryCodes, k: usize) -> Result<()> {
    queries.check_same_length("query codes", database, "database codes")?;
    if k == 0 || k > database.len() {
        return Err(Error::param("k", k, format!("between 1 and the database size, {}", database.len())));
    }
    if database.len() > u32::MAX as usize {
        return Err(Error::param("database size", database.len(), format!("at most {} codes", u32::MAX)));
    }
    Ok(())
}

/// Exact top-`k` search of every query against the database (ties by database index).
pub fn hamming_knn(database: &BinaryCodes, queries: &BinaryCodes, k: usize) -> Result<Neighbors> {
    hamming_knn_brute(database, queries, k)
}

/// Reference implementation: every distance, then a stable sort. Slow; for tests.
pub fn hamming_knn_brute(database: &BinaryCodes, queries: &BinaryCodes, k: usize) -> Result<Neighbors> {
    check_args(database, queries, k)?;
    let mut out = Neighbors { k, indices: Vec::with_capacity(queries.len() * k), distances: Vec::with_capacity(queries.len() * k) };
    let mut all: Vec<(u32, u32)> = Vec::with_capacity(database.len());
    for q in 0..queries.len() {
        all.clear();
        all.extend((0..database.len()).map(|i| (hamming(queries.code(q), database.code(i)), i as u32)));
        all.sort_unstable();
        for &(d, i) in &all[..k] {
            out.distances.push(d);
            out.indices.push(i);
        }
    }
    Ok(out)
}
