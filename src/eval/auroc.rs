//! The area under the ROC curve of a score, as the Mann-Whitney U statistic.
//!
//! `AUROC = P(s_pos > s_neg) + P(s_pos = s_neg) / 2` over all (positive, negative) pairs: computed
//! from the ranks of all scores (ties get their mean rank, so a tied pair counts one half), in
//! `O(n log n)`. This is the measure of the one-class anomaly-detection protocol of paper C,
//! section VI.A (normal class positive, high score = normal).

use crate::error::{Error, Result};

/// The AUROC of `scores` for the examples with `is_positive[i]` (positives should score higher).
///
/// 1.0 when every positive scores above every negative, 0.0 when below, 0.5 when all are tied.
/// Errors when the slices differ in length, a score is NaN, or either class is empty.
pub fn auroc(scores: &[f32], is_positive: &[bool]) -> Result<f64> {
    if scores.len() != is_positive.len() {
        return Err(Error::shape(
            "auroc (scores vs labels)",
            format!("{} scores", scores.len()),
            format!("{} (one per label)", is_positive.len()),
        ));
    }
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(Error::param(format!("score {i}"), "NaN", "a number"));
    }
    let pos = is_positive.iter().filter(|&&p| p).count();
    let neg = scores.len() - pos;
    if pos == 0 || neg == 0 {
        return Err(Error::param("auroc classes", format!("{pos} positives and {neg} negatives"), "at least one example of each class"));
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + 1 + j) as f64 / 2.0; // ranks i+1 ..= j
        let tied_pos = order[i..j].iter().filter(|&&k| is_positive[k]).count();
        rank_sum += mean_rank * tied_pos as f64;
        i = j;
    }
    let (p, n) = (pos as f64, neg as f64);
    let u = rank_sum - p * (p + 1.0) / 2.0;
    Ok(u / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_reversed_and_tied() {
        let labels = [true, true, false, false, false];
        assert_eq!(auroc(&[0.9, 0.8, 0.1, 0.2, 0.3], &labels).unwrap(), 1.0);
        assert_eq!(auroc(&[0.0, -1.0, 0.1, 0.2, 0.3], &labels).unwrap(), 0.0);
        assert_eq!(auroc(&[0.5; 5], &labels).unwrap(), 0.5);
    }

    #[test]
    fn a_hand_worked_case() {
        // Positives 3, 1, 2; negatives 2, 0. Pairs (pos, neg): (3,2) 1, (3,0) 1, (1,2) 0, (1,0) 1,
        // (2,2) 1/2, (2,0) 1: 4.5 of 6 = 0.75.
        let a = auroc(&[3.0, 1.0, 2.0, 2.0, 0.0], &[true, true, true, false, false]).unwrap();
        assert!((a - 0.75).abs() < 1e-12, "{a}");
        // One positive between two negatives: 1 of 2.
        assert_eq!(auroc(&[1.0, 0.0, 2.0], &[true, false, false]).unwrap(), 0.5);
        // The order of the examples does not matter.
        let b = auroc(&[0.0, 2.0, 2.0, 1.0, 3.0], &[false, false, true, true, true]).unwrap();
        assert!((a - b).abs() < 1e-12);
    }

    #[test]
    fn refuses_bad_input() {
        let e = auroc(&[1.0, 2.0], &[true, true]).unwrap_err().to_string();
        assert!(e.contains("2 positives and 0 negatives"), "{e}");
        let e = auroc(&[1.0, 2.0], &[false, false]).unwrap_err().to_string();
        assert!(e.contains("0 positives"), "{e}");
        assert!(auroc(&[], &[]).is_err());
        let e = auroc(&[1.0], &[true, false]).unwrap_err().to_string();
        assert!(e.contains("1 scores"), "{e}");
        let e = auroc(&[1.0, f32::NAN], &[true, false]).unwrap_err().to_string();
        assert!(e.contains("NaN"), "{e}");
    }
}
