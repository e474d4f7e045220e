//! The softmax output layer's function and loss.

use crate::error::{Error, Result};
use crate::tensor::Matrix;

/// Softmax of every row, in place (max-shifted for stability).
pub fn softmax_rows(m: &mut Matrix) {
    for r in 0..m.rows {
        let row = m.row_mut(r);
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        row.iter_mut().for_each(|v| *v /= sum);
    }
}

/// Mean softmax cross-entropy of `logits` (`[n, classes]`) against `labels`, and its gradient with
/// respect to the logits, `(softmax - onehot) / n`, written into `grad` (resized). Exact where a
/// class's probability underflows: `-log softmax(l)_y = log sum_j exp(l_j - max) + max - l_y`.
pub fn softmax_cross_entropy(logits: &Matrix, labels: &[u8], classes: usize, grad: &mut Matrix) -> Result<f32> {
    let n = logits.rows;
    if labels.len() != n {
        return Err(Error::shape("labels", format!("{} labels", labels.len()), format!("{n}, one per example of the forward pass")));
    }
    grad.clone_from(logits);
    softmax_rows(grad);
    let inv = 1.0 / n as f32;
    let mut loss = 0.0f64;
    for (r, &y) in labels.iter().enumerate() {
        let y = y as usize;
        if y >= classes {
            return Err(Error::Data(format!("label {y} of example {r} in the batch is outside 0..{classes}")));
        }
        let row = logits.row(r);
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let log_sum = row.iter().map(|&l| ((l - max) as f64).exp()).sum::<f64>().ln();
        loss += log_sum + (max - row[y]) as f64;
        let g = grad.row_mut(r);
        g[y] -= 1.0;
        g.iter_mut().for_each(|v| *v *= inv);
    }
    Ok((loss / n.max(1) as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_gradient_by_hand() {
        let logits = Matrix::from_vec(1, 2, vec![0.0, (3.0f32).ln()]).unwrap();
        let mut g = Matrix::default();
        let loss = softmax_cross_entropy(&logits, &[1], 2, &mut g).unwrap();
        assert!((loss - (4.0f32 / 3.0).ln()).abs() < 1e-6, "{loss}");
        assert!((g.data[0] - 0.25).abs() < 1e-6 && (g.data[1] + 0.25).abs() < 1e-6, "{:?}", g.data);
        assert!(softmax_cross_entropy(&logits, &[2], 2, &mut g).unwrap_err().to_string().contains("label 2"));
        assert!(softmax_cross_entropy(&logits, &[0, 1], 2, &mut g).is_err());
    }
}
