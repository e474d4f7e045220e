//! Top-k selection shared by the k-sparse, lifetime and spatial-lifetime competitions.
//!
//! Candidates are `(value, index)` pairs ranked by value, largest first, and among equal values by
//! index, smallest first; since the indices are distinct this is a total order, so the selected set
//! is unique and deterministic (ties go to the lowest index, as [`super`] documents). Selection is
//! `select_nth_unstable_by`, linear on average, on a scratch buffer that lives on the stack for up
//! to [`STACK`] candidates, so the hot paths do not allocate for the usual widths and batch sizes.

use std::cmp::Ordering;

/// Candidates that fit in the stack buffer; more fall back to one heap buffer per call.
pub(crate) const STACK: usize = 1024;

/// A ranked candidate: its value and a distinct index (smaller index wins ties).
pub(crate) type Candidate = (f32, usize);

/// Largest value first (by [`f32::total_cmp`]), then smallest index first.
#[inline]
pub(crate) fn rank(a: &Candidate, b: &Candidate) -> Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Runs `f` on a scratch buffer of `n` candidates, on the stack when `n <= STACK`.
pub(crate) fn with_buffer<R>(n: usize, f: impl FnOnce(&mut [Candidate]) -> R) -> R {
    if n <= STACK {
        let mut stack = [(0.0f32, 0usize); STACK];
        f(&mut stack[..n])
    } else {
        let mut heap = vec![(0.0f32, 0usize); n];
        f(&mut heap)
    }
}

/// Reorders `c` so that its `k` best candidates (see [`rank`]) come first, in no particular order,
/// and returns them; all of `c` when `k >= c.len()`.
pub(crate) fn top_k(c: &mut [Candidate], k: usize) -> &[Candidate] {
    if k == 0 {
        return &c[..0];
    }
    if k < c.len() {
        c.select_nth_unstable_by(k - 1, rank);
        &c[..k]
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_prefers_larger_values_then_lower_indices() {
        let mut c = [(1.0, 0), (3.0, 1), (3.0, 2), (2.0, 3), (3.0, 4)];
        let mut got: Vec<usize> = top_k(&mut c, 2).iter().map(|x| x.1).collect();
        got.sort();
        assert_eq!(got, vec![1, 2]);
        let mut c = [(1.0, 0), (3.0, 1), (3.0, 2), (2.0, 3), (3.0, 4)];
        let mut got: Vec<usize> = top_k(&mut c, 4).iter().map(|x| x.1).collect();
        got.sort();
        assert_eq!(got, vec![1, 2, 3, 4]);
        let mut c = [(1.0, 0), (3.0, 1)];
        assert_eq!(top_k(&mut c, 5).len(), 2);
        assert_eq!(top_k(&mut c, 0).len(), 0);
    }

    #[test]
    fn heap_fallback_gives_the_same_selection() {
        let n = STACK + 7;
        let got = with_buffer(n, |c| {
            for (i, x) in c.iter_mut().enumerate() {
                // Values repeat every 10 indices: many ties.
                *x = ((i % 10) as f32, i);
            }
            let mut idx: Vec<usize> = top_k(c, 3).iter().map(|x| x.1).collect();
            idx.sort();
            idx
        });
        assert_eq!(got, vec![9, 19, 29]);
    }
}
