//! Evaluation of classifiers: predicted classes from probabilities, error counts and confusion matrices.
//!
//! The papers report test *error* (percent of misclassified examples, e.g. paper A Tables 1-3 on
//! MNIST), which is [`error_count`] or [`Confusion::error_rate`] here; [`auroc`] scores anomaly
//! detection (paper C, section VI.A).

pub mod auroc;
pub mod knn;
pub mod svm;

use std::fmt;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::error::{Error, Result};

/// The predicted class of each row of a row-major `rows x cols` matrix of scores or probabilities:
/// the index of the row's largest value, the first one on ties.
///
/// NaN never wins against a number (a row of NaN gives 0). The number of rows is
/// `probs.len() / cols`; a trailing incomplete row is ignored, and `cols == 0` gives no rows.
pub fn argmax_rows(probs: &[f32], cols: usize) -> Vec<usize> {
    if cols == 0 {
        return Vec::new();
    }
    probs
        .chunks_exact(cols)
        .map(|row| {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate().skip(1) {
                let b = row[best];
                if v > b || (b.is_nan() && !v.is_nan()) {
                    best = j;
                }
            }
            best
        })
        .collect()
}

/// The number of positions where `predicted[i] != labels[i]`.
///
/// Positions present in only one of the two slices (a length mismatch) also count as errors, so a
/// mismatch can never hide mistakes; [`Confusion::new`] rejects it instead.
pub fn error_count(predicted: &[usize], labels: &[u8]) -> usize {
    let wrong = predicted.iter().zip(labels).filter(|&(&p, &l)| p != l as usize).count();
    wrong + predicted.len().abs_diff(labels.len())
}

/// A confusion matrix of a `classes`-way classifier.
///
/// `counts[t * classes + p]` is the number of examples of true class `t` predicted as class `p`
/// (rows: true class, columns: predicted class).
///
/// It serialises as `{ "classes", "counts" (one array per true class), "total", "errors",
/// "error_rate", "per_class_error" }`; undefined rates (no examples) become `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confusion {
    /// Number of classes.
    pub classes: usize,
    /// Row-major `classes x classes` counts, true class by predicted class.
    pub counts: Vec<u64>,
}

impl Confusion {
    /// Counts `predicted` against `labels`.
    ///
    /// Errors when `classes` is 0, the slices differ in length, or a label or a prediction is not
    /// below `classes` (the message gives its position and value).
    pub fn new(classes: usize, predicted: &[usize], labels: &[u8]) -> Result<Confusion> {
        if classes == 0 {
            return Err(Error::param("classes", classes, "at least 1"));
        }
        if predicted.len() != labels.len() {
            return Err(Error::shape(
                "confusion matrix (predictions vs labels)",
                format!("{} predictions", predicted.len()),
                format!("{} (one per label)", labels.len()),
            ));
        }
        let mut counts = vec![0u64; classes * classes];
        for (i, (&p, &l)) in predicted.iter().zip(labels).enumerate() {
            let t = l as usize;
            if t >= classes {
                return Err(Error::Data(format!("label {i} is {t}: expected a class in 0..{classes}")));
            }
            if p >= classes {
                return Err(Error::Data(format!("prediction {i} is {p}: expected a class in 0..{classes}")));
            }
            counts[t * classes + p] += 1;
        }
        Ok(Confusion { classes, counts })
    }

    /// The count of true class `t` predicted as `p` (0 outside the matrix).
    pub fn get(&self, t: usize, p: usize) -> u64 {
        if t < self.classes && p < self.classes { self.counts.get(t * self.classes + p).copied().unwrap_or(0) } else { 0 }
    }

    /// The number of examples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The number of misclassified examples (everything off the diagonal).
    pub fn errors(&self) -> u64 {
        self.total() - (0..self.classes).map(|c| self.get(c, c)).sum::<u64>()
    }

    /// The fraction of misclassified examples, in `[0, 1]`; NaN when nothing was counted.
    pub fn error_rate(&self) -> f64 {
        let total = self.total();
        if total == 0 { f64::NAN } else { self.errors() as f64 / total as f64 }
    }

    /// For each true class, the fraction of its examples predicted as another class; NaN for a class
    /// with no examples.
    pub fn per_class_error(&self) -> Vec<f64> {
        (0..self.classes)
            .map(|t| {
                let row: u64 = (0..self.classes).map(|p| self.get(t, p)).sum();
                if row == 0 { f64::NAN } else { (row - self.get(t, t)) as f64 / row as f64 }
            })
            .collect()
    }
}

/// `Some(x)` for a finite rate, `None` (JSON `null`) otherwise.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl Serialize for Confusion {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let rows: Vec<&[u64]> = if self.classes == 0 { Vec::new() } else { self.counts.chunks(self.classes).collect() };
        let per_class: Vec<Option<f64>> = self.per_class_error().into_iter().map(finite).collect();
        let mut s = serializer.serialize_struct("Confusion", 6)?;
        s.serialize_field("classes", &self.classes)?;
        s.serialize_field("counts", &rows)?;
        s.serialize_field("total", &self.total())?;
        s.serialize_field("errors", &self.errors())?;
        s.serialize_field("error_rate", &finite(self.error_rate()))?;
        s.serialize_field("per_class_error", &per_class)?;
        s.end()
    }
}

impl fmt::Display for Confusion {
    /// An aligned table: one row per true class, one column per predicted class, then the row total
    /// and the class's error in percent; a last line gives the overall error.
    ///
    /// ```text
    /// true\pred  0  1  2 | total error%
    ///         0  2  0  0 |     2   0.00
    ///         1  1  1  0 |     2  50.00
    ///         2  0  0  1 |     1   0.00
    /// errors: 1 of 5 (20.00%)
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const CORNER: &str = "true\\pred";
        let k = self.classes;
        let max_count = self.counts.iter().copied().max().unwrap_or(0);
        let w = max_count.to_string().len().max(k.saturating_sub(1).to_string().len());
        let total = self.total();
        let tw = total.to_string().len().max("total".len());
        write!(f, "{CORNER}")?;
        for p in 0..k {
            write!(f, " {p:>w$}")?;
        }
        writeln!(f, " | {:>tw$} error%", "total")?;
        let per_class = self.per_class_error();
        for t in 0..k {
            write!(f, "{t:>width$}", width = CORNER.len())?;
            let mut row = 0;
            for p in 0..k {
                let c = self.get(t, p);
                row += c;
                write!(f, " {c:>w$}")?;
            }
            let e = per_class.get(t).copied().unwrap_or(f64::NAN);
            if e.is_finite() {
                writeln!(f, " | {row:>tw$} {:>6.2}", 100.0 * e)?;
            } else {
                writeln!(f, " | {row:>tw$} {:>6}", "-")?;
            }
        }
        let rate = self.error_rate();
        if rate.is_finite() {
            write!(f, "errors: {} of {total} ({:.2}%)", self.errors(), 100.0 * rate)
        } else {
            write!(f, "errors: 0 of 0 (no examples)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_maximum() {
        let probs = [0.1, 0.7, 0.2, 0.4, 0.4, 0.2, 0.3, 0.3, 0.3, 0.0, 0.0, 0.9];
        assert_eq!(argmax_rows(&probs, 3), vec![1, 0, 0, 2]);
        assert_eq!(argmax_rows(&probs, 4), vec![1, 0, 3]);
        assert_eq!(argmax_rows(&probs, 12), vec![11]);
        assert_eq!(argmax_rows(&probs, 5), vec![1, 1]); // trailing partial row ignored
        assert_eq!(argmax_rows(&probs, 0), Vec::<usize>::new());
        assert_eq!(argmax_rows(&[], 3), Vec::<usize>::new());
    }

    #[test]
    fn argmax_ignores_nan() {
        assert_eq!(argmax_rows(&[f32::NAN, 0.2, 0.5, f32::NAN], 4), vec![2]);
        assert_eq!(argmax_rows(&[f32::NAN, f32::NAN], 2), vec![0]);
        assert_eq!(argmax_rows(&[-1.0, f32::NEG_INFINITY, -0.5], 3), vec![2]);
    }

    #[test]
    fn error_count_counts_mismatches() {
        assert_eq!(error_count(&[0, 1, 2, 1], &[0, 1, 1, 2]), 2);
        assert_eq!(error_count(&[], &[]), 0);
        assert_eq!(error_count(&[3, 3], &[3, 3]), 0);
        // Length mismatch: the unmatched positions are errors.
        assert_eq!(error_count(&[0, 1], &[0, 1, 2]), 1);
        assert_eq!(error_count(&[0, 5, 0], &[0]), 2);
    }

    /// True 0,0,1,1,2 predicted 0,0,0,1,2: one error (a 1 taken for a 0).
    fn example() -> Confusion {
        Confusion::new(3, &[0, 0, 0, 1, 2], &[0, 0, 1, 1, 2]).unwrap()
    }

    #[test]
    fn confusion_counts_a_hand_made_case() {
        let c = example();
        assert_eq!(c.counts, vec![2, 0, 0, 1, 1, 0, 0, 0, 1]);
        assert_eq!(c.get(1, 0), 1);
        assert_eq!(c.get(0, 1), 0);
        assert_eq!(c.get(7, 0), 0);
        assert_eq!(c.total(), 5);
        assert_eq!(c.errors(), 1);
        assert_eq!(c.errors() as usize, error_count(&[0, 0, 0, 1, 2], &[0, 0, 1, 1, 2]));
        assert!((c.error_rate() - 0.2).abs() < 1e-12);
        assert_eq!(c.per_class_error(), vec![0.0, 0.5, 0.0]);
    }

    #[test]
    fn confusion_rejects_bad_input() {
        let e = Confusion::new(3, &[0, 1], &[0]).unwrap_err().to_string();
        assert!(e.contains("2 predictions") && e.contains('1'), "{e}");
        let e = Confusion::new(3, &[0, 1], &[0, 3]).unwrap_err().to_string();
        assert!(e.contains("label 1 is 3") && e.contains("0..3"), "{e}");
        let e = Confusion::new(3, &[0, 4], &[0, 1]).unwrap_err().to_string();
        assert!(e.contains("prediction 1 is 4"), "{e}");
        let e = Confusion::new(0, &[], &[]).unwrap_err().to_string();
        assert!(e.contains("classes = 0"), "{e}");
    }

    #[test]
    fn empty_confusion_has_undefined_rates() {
        let c = Confusion::new(2, &[], &[]).unwrap();
        assert_eq!(c.errors(), 0);
        assert!(c.error_rate().is_nan());
        assert!(c.per_class_error().iter().all(|e| e.is_nan()));
        let text = c.to_string();
        assert!(text.contains("no examples"), "{text}");
        let json = serde_json::to_value(&c).unwrap();
        assert!(json["error_rate"].is_null());
        assert!(json["per_class_error"][1].is_null());
    }

    #[test]
    fn display_is_an_aligned_table_with_the_right_numbers() {
        let text = example().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[0], "true\\pred 0 1 2 | total error%");
        assert_eq!(lines[1], "        0 2 0 0 |     2   0.00");
        assert_eq!(lines[2], "        1 1 1 0 |     2  50.00");
        assert_eq!(lines[3], "        2 0 0 1 |     1   0.00");
        assert_eq!(lines[4], "errors: 1 of 5 (20.00%)");
        // Wider counts widen every column alike.
        let labels: Vec<u8> = (0..1200).map(|i| (i % 2) as u8).collect();
        let predicted: Vec<usize> = (0..1200).map(|i| if i < 1000 { i % 2 } else { 0 }).collect();
        let c = Confusion::new(2, &predicted, &labels).unwrap();
        let text = c.to_string();
        let widths: Vec<usize> = text.lines().take(3).map(str::len).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{text}");
        assert!(text.contains("\n        0 600   0 |   600   0.00\n"), "{text}");
        assert!(text.contains("\n        1 100 500 |   600  16.67\n"), "{text}");
        assert!(text.ends_with("errors: 100 of 1200 (8.33%)"), "{text}");
    }

    #[test]
    fn serialises_rows_and_summary() {
        let json = serde_json::to_value(example()).unwrap();
        assert_eq!(json["classes"], 3);
        assert_eq!(json["counts"], serde_json::json!([[2, 0, 0], [1, 1, 0], [0, 0, 1]]));
        assert_eq!(json["total"], 5);
        assert_eq!(json["errors"], 1);
        assert_eq!(json["error_rate"], 0.2);
        assert_eq!(json["per_class_error"], serde_json::json!([0.0, 0.5, 0.0]));
    }
}
