//! A fully connected layer over flattened examples: `z = x W^T + b` (paper A, section 2: `z = wx +
//! b` per unit), with `W` stored `[outputs, inputs]` (PyTorch's `nn.Linear` layout).
//!
//! An NCHW batch is already row-major `[n, channels * height * width]`, so a dense layer reads maps
//! without a flatten step (the order of PyTorch's `x.flatten(1)`).

use crate::error::{Error, Result};
use crate::tensor::{Matrix, Op, matmul};

/// A fully connected layer (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// `[outputs, inputs]`.
    pub weight: Matrix,
    /// `[outputs]`.
    pub bias: Vec<f32>,
}

impl Dense {
    /// A layer of zeros.
    pub fn zeros(inputs: usize, outputs: usize) -> Self {
        Dense { weight: Matrix::zeros(outputs, inputs), bias: vec![0.0; outputs] }
    }

    /// `z = x W^T + b` for the batch `x` (`[n, inputs]`), into `z` (resized to `[n, outputs]`).
    pub fn forward(&self, x: &Matrix, z: &mut Matrix) -> Result<()> {
        if x.cols != self.weight.cols {
            return Err(Error::shape("dense layer input", format!("{} features", x.cols), format!("{} features", self.weight.cols)));
        }
        z.resize(x.rows, self.weight.rows);
        for r in 0..x.rows {
            z.row_mut(r).copy_from_slice(&self.bias);
        }
        matmul(z, x, Op::N, &self.weight, Op::T, true)
    }

    /// From the input `x` of [`Dense::forward`] and `dL/dz` (`grad_z`, `[n, outputs]`): overwrites
    /// `grad_w` and `grad_b` (shaped like the layer) with the gradients summed over the batch, and
    /// `grad_x`, when given, with `dL/dx` (resized to `[n, inputs]`).
    pub fn backward(
        &self,
        x: &Matrix,
        grad_z: &Matrix,
        grad_w: &mut Matrix,
        grad_b: &mut [f32],
        grad_x: Option<&mut Matrix>,
    ) -> Result<()> {
        matmul(grad_w, grad_z, Op::T, x, Op::N, false)?;
        grad_b.fill(0.0);
        for r in 0..grad_z.rows {
            for (g, &v) in grad_b.iter_mut().zip(grad_z.row(r)) {
                *g += v;
            }
        }
        if let Some(gx) = grad_x {
            gx.resize(grad_z.rows, self.weight.cols);
            matmul(gx, grad_z, Op::N, &self.weight, Op::N, false)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_backward_by_hand() {
        let d = Dense { weight: Matrix::from_vec(2, 3, vec![1.0, 0.0, -1.0, 0.5, 2.0, 0.0]).unwrap(), bias: vec![0.1, -0.2] };
        let x = Matrix::from_vec(1, 3, vec![1.0, 2.0, 3.0]).unwrap();
        let mut z = Matrix::default();
        d.forward(&x, &mut z).unwrap();
        assert_eq!(z.data, [1.0 - 3.0 + 0.1, 0.5 + 4.0 - 0.2]);
        let gz = Matrix::from_vec(1, 2, vec![1.0, -1.0]).unwrap();
        let (mut gw, mut gb, mut gx) = (Matrix::zeros(2, 3), vec![0.0; 2], Matrix::default());
        d.backward(&x, &gz, &mut gw, &mut gb, Some(&mut gx)).unwrap();
        assert_eq!(gw.data, [1.0, 2.0, 3.0, -1.0, -2.0, -3.0]);
        assert_eq!(gb, [1.0, -1.0]);
        assert_eq!(gx.data, [0.5, -2.0, -1.0]);
        assert!(d.forward(&Matrix::zeros(1, 2), &mut z).unwrap_err().to_string().contains("3 features"));
    }
}
