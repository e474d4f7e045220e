use compete::tensor::{Matrix, Op, matmul};
use std::time::Instant;
fn t(label: &str, mut f: impl FnMut()) {
    for _ in 0..3 {
        f();
    }
    let mut v = vec![];
    for _ in 0..20 {
        let s = Instant::now();
        f();
        v.push(s.elapsed().as_secs_f64() * 1e3);
    }
    v.sort_by(f64::total_cmp);
    println!("{label:<40} {:.3} ms (min {:.3})", v[10], v[0]);
}
fn main() {
    acc_probe();
    maxout_shapes();
    step_parts();
    let x = Matrix { rows: 100, cols: 784, data: vec![0.5; 78400] };
    let w1 = Matrix { rows: 1000, cols: 784, data: vec![0.01; 784000] };
    let w2 = Matrix { rows: 1000, cols: 1000, data: vec![0.01; 1000000] };
    let h = Matrix { rows: 100, cols: 1000, data: vec![0.3; 100000] };
    let mut z = Matrix::zeros(100, 1000);
    let mut dw1 = Matrix::zeros(1000, 784);
    let mut dw2 = Matrix::zeros(1000, 1000);
    t("fwd X W1^T (100x784x1000)", || matmul(&mut z, &x, Op::N, &w1, Op::T, false).unwrap());
    t("fwd H W2^T (100x1000x1000)", || matmul(&mut z, &h, Op::N, &w2, Op::T, false).unwrap());
    t("bwd dZ^T X (1000x100x784)", || matmul(&mut dw1, &h, Op::T, &x, Op::N, false).unwrap());
    t("bwd dZ^T H (1000x100x1000)", || matmul(&mut dw2, &h, Op::T, &h, Op::N, false).unwrap());
    t("bwd dZ W2 (100x1000x1000)", || matmul(&mut z, &h, Op::N, &w2, Op::N, false).unwrap());
    let mut w = vec![0.1f32; 1_000_000];
    let mut m = vec![0.0f32; 1_000_000];
    let g = vec![0.01f32; 1_000_000];
    t("sgd 1M params serial", || {
        for ((w, m), &g) in w.iter_mut().zip(m.iter_mut()).zip(&g) {
            *m = 0.9 * *m - 0.01 * g;
            *w += *m;
        }
    });
    let c = compete::competition::Competition::Lwta { block: 2 };
    let mut out = vec![0.0; 100000];
    let mut win = vec![false; 100000];
    t("lwta fwd 100x1000", || c.forward(&h.data, 100, &mut out, &mut win).unwrap());
}
pub fn step_parts() {
    use compete::competition::Competition;
    use compete::models::mlp::*;
    use compete::train::optim::*;
    for c in [Competition::Relu, Competition::Maxout { rank: 2 }] {
        let mut mlp = Mlp::new(MlpConfig::new(784, &[(1000, c), (1000, c)], 10).unwrap(), 1).unwrap();
        let x = Matrix { rows: 100, cols: 784, data: (0..78400).map(|i| (i % 255) as f32 / 255.0).collect() };
        let y: Vec<u8> = (0..100).map(|i| (i % 10) as u8).collect();
        let mut ws = Workspace::default();
        let mut g = mlp.zero_grads();
        let mut opt = Optimizer::new(OptimizerKind::Sgd, &mlp);
        let p = StepParams { lr: 0.01, momentum: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
        let m2 = mlp.clone();
        t(&format!("{c} forward"), || m2.forward(&x, &mut ws, None).unwrap());
        t(&format!("{c} backward"), || {
            m2.backward(&x, &y, &mut ws, &mut g, Dropout::default()).unwrap();
        });
        t(&format!("{c} opt step"), || opt.step(&mut mlp, &g, p));
    }
}
pub fn maxout_shapes() {
    let x = Matrix { rows: 100, cols: 784, data: vec![0.5; 78400] };
    let dz = Matrix { rows: 100, cols: 2000, data: vec![0.01; 200000] };
    let h = Matrix { rows: 100, cols: 1000, data: vec![0.3; 100000] };
    let w2 = Matrix { rows: 2000, cols: 1000, data: vec![0.01; 2000000] };
    let mut dw1 = Matrix::zeros(2000, 784);
    let mut dw2 = Matrix::zeros(2000, 1000);
    let mut dh = Matrix::zeros(100, 1000);
    t("mx dZ^T X (2000x100x784)", || matmul(&mut dw1, &dz, Op::T, &x, Op::N, false).unwrap());
    t("mx dZ^T H (2000x100x1000)", || matmul(&mut dw2, &dz, Op::T, &h, Op::N, false).unwrap());
    t("mx dZ W2 (100x2000x1000)", || matmul(&mut dh, &dz, Op::N, &w2, Op::N, false).unwrap());
}
pub fn acc_probe() {
    use compete::competition::Competition;
    use compete::models::mlp::*;
    let x = Matrix { rows: 100, cols: 784, data: (0..78400).map(|i| (i % 255) as f32 / 255.0).collect() };
    let mlp = Mlp::new(MlpConfig::new(784, &[(1000, Competition::Relu), (1000, Competition::Relu)], 10).unwrap(), 1).unwrap();
    let mut z = Matrix::zeros(100, 1000);
    t("layer0 matmul acc=true real weights", || matmul(&mut z, &x, Op::N, &mlp.layers[0].weight, Op::T, true).unwrap());
    t("layer0 matmul acc=false real weights", || matmul(&mut z, &x, Op::N, &mlp.layers[0].weight, Op::T, false).unwrap());
    let h = Matrix { rows: 100, cols: 1000, data: z.data.iter().map(|v| v.max(0.0)).collect() };
    t("layer1 matmul acc=false real weights", || matmul(&mut z, &h, Op::N, &mlp.layers[1].weight, Op::T, false).unwrap());
    let mut ws = Workspace::default();
    t("forward", || mlp.forward(&x, &mut ws, None).unwrap());
}
