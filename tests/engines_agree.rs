//! The hand-fused CPU engine and the burn autodiff reference compute the same loss and gradients.

use compete::competition::Competition;
use compete::models::mlp::{Mlp, MlpConfig};
use compete::models::mlp_burn;
use compete::tensor::Matrix;

fn inputs(rows: usize, cols: usize) -> Matrix {
    let data = (0..rows * cols).map(|i| ((i as u64).wrapping_mul(2654435761) % 1000) as f32 / 500.0 - 1.0).collect();
    Matrix::from_vec(rows, cols, data).unwrap()
}

#[test]
fn fused_and_burn_gradients_agree_for_every_competition() {
    let cases: Vec<Vec<(usize, Competition)>> = vec![
        vec![(40, Competition::Relu), (30, Competition::Relu)],
        vec![(40, Competition::Lwta { block: 2 }), (30, Competition::Lwta { block: 3 })],
        vec![(40, Competition::Maxout { rank: 2 }), (30, Competition::Maxout { rank: 3 })],
        vec![(40, Competition::Abs), (30, Competition::KSparse { k: 7 })],
        vec![(40, Competition::Maxout { rank: 2 }), (30, Competition::Lwta { block: 2 }), (20, Competition::Relu)],
    ];
    for hidden in cases {
        let config = MlpConfig::new(25, &hidden, 10).unwrap();
        let net = Mlp::new(config.clone(), 3).unwrap();
        let x = inputs(16, 25);
        let labels: Vec<u8> = (0..16).map(|i| (i * 7 % 10) as u8).collect();
        let (loss, grads) = net.loss_and_grads(&x, &labels).unwrap();
        let params: Vec<(Matrix, Vec<f32>)> = net.layers.iter().map(|l| (l.weight.clone(), l.bias.clone())).collect();
        let (burn_loss, burn_grads) = mlp_burn::loss_and_grads(&config, &params, &x, &labels).unwrap();
        assert!((loss - burn_loss).abs() < 1e-4 * loss.abs().max(1.0), "{hidden:?}: loss {loss} vs burn {burn_loss}");
        let mut largest = 0.0f32;
        for (l, (g, (bw, bb))) in grads.iter().zip(&burn_grads).enumerate() {
            for (a, b) in g.weight.data.iter().zip(&bw.data).chain(g.bias.iter().zip(bb)) {
                assert!((a - b).abs() < 1e-5 + 1e-3 * b.abs(), "{hidden:?} layer {l}: fused {a} vs burn {b}");
                largest = largest.max(b.abs());
            }
        }
        assert!(largest > 1e-3, "{hidden:?}: gradients all but zero, the comparison would be empty");
    }
}
