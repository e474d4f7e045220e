//! `compete bench-layers`: time forward + backward of the convolutional layers of `src/layers/`
//! (issue 10) on MNIST-sized maps, batch 100. `benches/compare_layers.sh` runs it beside the same
//! operations in PyTorch (`benches/pytorch_layers.py`); see `benches/README.md` for what each row
//! measures.
//!
//! One timed step of an op is its forward pass and its backward pass to the weights, the biases and
//! the input, given a fixed output gradient, with every buffer allocated once before the timing.
//! The thread count is the global `--threads` (rayon's pool, which [`crate::tensor::matmul`] also
//! hands to gemm), as in `compete bench`.

use std::time::Instant;

use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::layers::MapShape;
use crate::layers::conv::{Conv2d, Conv2dConfig, Padding};
use crate::layers::conv_transpose::{ConvTranspose2d, ConvTranspose2dConfig};
use crate::layers::local::{Local, LocalConfig};
use crate::layers::pool::MaxPool2d;
use crate::tensor::Matrix;

/// The ops, in table order: (name, what it is).
pub const OPS: [(&str, &str); 17] = [
    ("conv5x5_1to128", "conv 5x5, 1->128, 28x28, padding 2"),
    ("conv5x5_128to128", "conv 5x5, 128->128, 28x28, padding 2"),
    ("convT11x11_128to1", "transposed conv 11x11, 128->1, 28x28, padding 5"),
    ("maxpool4s4_128", "max-pool 4x4 stride 4, 128x28x28"),
    ("maxpool4s2_128", "max-pool 4x4 stride 2, 128x28x28"),
    ("local9x9_1to16", "locally connected 9x9, 1->16, 28x28, padding 4"),
    ("local9x9_16to16", "locally connected 9x9, 16->16, 28x28, padding 4"),
    ("conv_maxout_mnist", "one SGD step of Goodfellow et al. 2013's MNIST maxout conv net (no dropout)"),
    ("fcwta_784x2000", "one SGD step of a 784-2000 FC-WTA autoencoder at 5% lifetime sparsity (paper B)"),
    ("convwta_16", "one SGD step of a 16conv5-16conv5-deconv11 CONV-WTA, spatial + 5% lifetime sparsity"),
    ("convwta_64", "one SGD step of a 64conv5-64conv5-deconv11 CONV-WTA, spatial + 5% lifetime sparsity"),
    ("convwta_128", "one SGD step of a 128conv5-128conv5-deconv11 CONV-WTA, spatial + 5% lifetime sparsity"),
    ("wtarbm_784x256", "one CD-1 step (SGD with momentum) of a 784-256 WTA-RBM at 30% sparsity (paper B)"),
    ("activation_1064x2", "one step of the local competitive rule on a 1064-1064(std-abs)-1064 network (paper C)"),
    ("activation_classify_1064x2", "classification of the batch by 10 label passes, 1064-1064(std-abs)-1064 (paper C)"),
    ("activation_generate_1064x2", "100 Adam steps of generation for the batch, 1064-1064(std-abs)-1064 (paper C)"),
    ("drsae_784x400x11", "one SGD step of a 784-400^11-10 DrSAE, fine-tuning loss by BPTT, with the norm projections (paper D)"),
];

/// Goodfellow et al. (2013)'s MNIST network, as in `experiments/conv-maxout-mnist.toml`.
const GOODFELLOW: [&str; 7] =
    ["conv8x8/valid:48:maxout:2", "pool4/s2", "conv8x8/p3:48:maxout:2", "pool4/s2", "conv5x5/p3:24:maxout:4", "pool2", "10"];

/// Flags of `compete bench-layers`.
#[derive(Debug, Args)]
pub struct BenchLayersArgs {
    /// Ops to time, comma-separated (default: all; see `benches/README.md`).
    #[arg(long, value_delimiter = ',')]
    pub ops: Vec<String>,
    /// Mini-batch size.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Timed steps per op (at most; see --max-seconds).
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Stop timing an op after this many seconds of timed steps (at least 3 steps are timed).
    #[arg(long, default_value_t = 10.0)]
    pub max_seconds: f64,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Run every convolution as im2col + GEMM, with Winograd's algorithm off (to compare the two).
    #[arg(long)]
    pub im2col: bool,
}

use super::bench::percentiles;

fn random(rng: &mut ChaCha8Rng, len: usize, scale: f32) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-scale..scale)).collect()
}

fn shape(c: usize, h: usize, w: usize) -> MapShape {
    MapShape { channels: c, height: h, width: w }
}

/// One op ready to run: its input and output shapes, and a closure doing one forward + backward.
struct Prepared {
    input: MapShape,
    output: MapShape,
    step: Box<dyn FnMut() -> Result<()>>,
}

/// One training step of a convolutional network: forward, softmax cross-entropy, backward, SGD with
/// momentum 0.9 and learning rate 0.01 (the PyTorch peer's `torch.optim.SGD`).
fn conv_net_step(n: usize, specs: &[&str], rng: &mut ChaCha8Rng) -> Result<Prepared> {
    use crate::layers::dropout::Dropout;
    use crate::models::Model;
    use crate::models::conv::{ConvNet, ConvNetConfig, ConvWorkspace};
    use crate::models::learner::Update;
    use crate::train::optim::{Optimizer, OptimizerKind, StepParams};
    let input = shape(1, 28, 28);
    let config = ConvNetConfig::parse(input, specs, 10)?;
    let mut net = ConvNet::init(&config, 1)?;
    let mut grads = ConvNet::zeros(&config)?;
    let mut opt = Optimizer::new(OptimizerKind::Sgd, &net, Vec::new())?;
    let params = StepParams { lr: 0.01, momentum: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
    let x = crate::tensor::Matrix::from_vec(n, input.size(), (0..n * input.size()).map(|_| rng.random::<f32>()).collect())?;
    let y: Vec<u8> = (0..n).map(|_| rng.random_range(0..10u8)).collect();
    let mut ws = ConvWorkspace::default();
    let step = Box::new(move || {
        net.forward(&x, &mut ws, None)?;
        net.backward(&x, &y, &mut ws, &mut grads, Dropout::default())?;
        opt.step(&mut net, &grads, params, Update::Gradients)
    });
    Ok(Prepared { input, output: shape(10, 1, 1), step })
}

/// One training step (forward, backward, SGD with momentum) of any learner on random images in
/// [0, 1].
fn learner_step<L: crate::models::Learner + 'static>(
    mut learner: L,
    n: usize,
    input: MapShape,
    output: MapShape,
    rng: &mut ChaCha8Rng,
) -> Result<Prepared> {
    use crate::train::optim::{Optimizer, OptimizerKind, StepParams};
    let mut opt = Optimizer::new(OptimizerKind::Sgd, learner.model(), Vec::new())?;
    let params = StepParams { lr: 0.01, momentum: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
    let x = crate::tensor::Matrix::from_vec(n, input.size(), (0..n * input.size()).map(|_| rng.random::<f32>()).collect())?;
    let mut step_rng = ChaCha8Rng::seed_from_u64(1);
    let step = Box::new(move || {
        let batch = crate::models::Batch { x: &x, labels: &[], epoch: 1, step: 0, lr: 0.1 };
        let out = learner.step(&batch, &mut step_rng)?;
        let (model, grads) = learner.model_and_grads();
        opt.step(model, grads, params, out.update)
    });
    Ok(Prepared { input, output, step })
}

fn fc_wta_step(n: usize, rng: &mut ChaCha8Rng) -> Result<Prepared> {
    use crate::models::fc_wta::{FcWta, FcWtaConfig, FcWtaLearner};
    let model = FcWta::init_seeded(&FcWtaConfig::new(784, &[2000], 0.05)?, 1)?;
    learner_step(FcWtaLearner::new(model, n)?, n, shape(1, 28, 28), shape(1, 28, 28), rng)
}

fn wta_rbm_step(n: usize, rng: &mut ChaCha8Rng) -> Result<Prepared> {
    use crate::models::Model;
    use crate::models::wta_rbm::{WtaRbm, WtaRbmConfig, WtaRbmLearner};
    let rbm = WtaRbm::init(&WtaRbmConfig::new(784, 256, 0.3, 1)?, 1)?;
    learner_step(WtaRbmLearner::new(rbm, n)?, n, shape(1, 28, 28), shape(256, 1, 1), rng)
}

fn conv_wta_step(n: usize, maps: usize, rng: &mut ChaCha8Rng) -> Result<Prepared> {
    use crate::layers::dropout::Dropout;
    use crate::models::conv_wta::{ConvWta, ConvWtaConfig, ConvWtaLearner, ConvWtaStage};
    let input = shape(1, 28, 28);
    let config = ConvWtaConfig {
        input,
        stages: vec![ConvWtaStage { kernel: 5, maps: vec![maps, maps], pool: 4, pool_stride: 4 }],
        decoder_kernel: 11,
        sparsity: 0.05,
        wta: true,
    };
    let model = ConvWta::init_seeded(&config, 1)?;
    learner_step(ConvWtaLearner::new(model, n, Dropout::default())?, n, input, input, rng)
}

fn conv(n: usize, c: usize, o: usize, k: usize, rng: &mut ChaCha8Rng) -> Result<Prepared> {
    let config = Conv2dConfig { in_channels: c, out_channels: o, kernel: k, stride: 1, padding: Padding::Same };
    let bound = 1.0 / ((c * k * k) as f32).sqrt();
    let layer = Conv2d::new(config, random(rng, config.weight_len(), bound), random(rng, o, bound))?;
    let input = shape(c, 28, 28);
    let output = layer.output_shape(input)?;
    let x = random(rng, n * input.size(), 1.0);
    let go = random(rng, n * output.size(), 1.0);
    let (mut out, mut gw, mut gb, mut gx) = (Vec::new(), vec![0.0; layer.weight.len()], vec![0.0; o], vec![0.0; x.len()]);
    let step = Box::new(move || {
        layer.forward(&x, n, input, &mut out)?;
        layer.backward(&x, n, input, &go, &mut gw, &mut gb, Some(&mut gx))
    });
    Ok(Prepared { input, output, step })
}

fn conv_transpose(n: usize, c: usize, o: usize, k: usize, rng: &mut ChaCha8Rng) -> Result<Prepared> {
    let config = ConvTranspose2dConfig::same(c, o, k);
    let bound = 1.0 / ((o * k * k) as f32).sqrt();
    let layer = ConvTranspose2d::new(config, random(rng, config.weight_len(), bound), random(rng, o, bound))?;
    let input = shape(c, 28, 28);
    let output = layer.output_shape(input)?;
    let x = random(rng, n * input.size(), 1.0);
    let go = random(rng, n * output.size(), 1.0);
    let (mut out, mut gw, mut gb, mut gx) = (Vec::new(), vec![0.0; layer.weight.len()], vec![0.0; o], vec![0.0; x.len()]);
    let step = Box::new(move || {
        layer.forward(&x, n, input, &mut out)?;
        layer.backward(&x, n, input, &go, &mut gw, &mut gb, Some(&mut gx))
    });
    Ok(Prepared { input, output, step })
}

fn pool(n: usize, k: usize, s: usize, rng: &mut ChaCha8Rng) -> Result<Prepared> {
    let layer = MaxPool2d::new(k, s)?;
    let input = shape(128, 28, 28);
    let output = layer.output_shape(input)?;
    let x = random(rng, n * input.size(), 1.0);
    let go = random(rng, n * output.size(), 1.0);
    let (mut out, mut winners, mut argmax, mut gx) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let step = Box::new(move || {
        layer.forward(&x, n, input, &mut out, &mut winners, &mut argmax)?;
        layer.backward(&go, &argmax, n, input, &mut gx)
    });
    Ok(Prepared { input, output, step })
}

fn local(n: usize, c: usize, o: usize, k: usize, rng: &mut ChaCha8Rng) -> Result<Prepared> {
    let config = LocalConfig { in_channels: c, out_channels: o, kernel: k, stride: 1, padding: Padding::Same };
    let input = shape(c, 28, 28);
    let layer = Local::new(config, input, 1)?;
    let output = layer.output;
    let x = random(rng, n * input.size(), 1.0);
    let go = random(rng, n * output.size(), 1.0);
    let mut out = Vec::new();
    let step = Box::new(move || {
        layer.forward(&x, n, &mut out)?;
        layer.backward(&x, &go, n).map(|_| ())
    });
    Ok(Prepared { input, output, step })
}

/// The paper C MNIST network of two layers, freshly initialised, and a batch of images and labels.
fn activation_setup(n: usize, rng: &mut ChaCha8Rng) -> Result<(crate::models::activation::ActivationNet, Matrix, Vec<u8>)> {
    use crate::models::Model;
    use crate::models::activation::{ActivationConfig, ActivationNet};
    let net = ActivationNet::init(&ActivationConfig::mnist(2), 1)?;
    let x = Matrix::from_vec(n, 784, (0..n * 784).map(|_| rng.random::<f32>()).collect())?;
    let y: Vec<u8> = (0..n).map(|_| rng.random_range(0..10u8)).collect();
    Ok((net, x, y))
}

fn activation_step(n: usize, rng: &mut ChaCha8Rng) -> Result<Prepared> {
    use crate::models::Learner;
    let (net, x, y) = activation_setup(n, rng)?;
    let mut learner = crate::models::activation::ActivationLearner::new(net)?;
    let mut step_rng = ChaCha8Rng::seed_from_u64(1);
    let step =
        Box::new(move || learner.step(&crate::models::Batch { x: &x, labels: &y, epoch: 1, step: 0, lr: 0.1 }, &mut step_rng).map(|_| ()));
    Ok(Prepared { input: shape(1064, 1, 1), output: shape(1064, 1, 1), step })
}

/// One fine-tuning step of a DrSAE (paper D, section 2): forward through the `steps` iterations,
/// exact BPTT of `L^U + L^S`, SGD with momentum under the model's rates and projections, on l2-
/// normalised random images with random labels, from the ISTA initialisation.
fn drsae_step(n: usize, hidden: usize, steps: usize, rng: &mut ChaCha8Rng) -> Result<Prepared> {
    use crate::models::Learner;
    use crate::models::drsae::{Drsae, DrsaeConfig, DrsaeLearner, DrsaeLoss};
    use crate::train::optim::{Optimizer, OptimizerKind, StepParams};
    let model = Drsae::init_seeded(&DrsaeConfig::new(784, hidden, steps, 10)?, 1)?;
    let mut learner = DrsaeLearner::new(model, DrsaeLoss::Supervised)?;
    let mut opt = Optimizer::new(OptimizerKind::Sgd, learner.model(), learner.rules())?;
    let params = StepParams { lr: 0.05, momentum: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
    let mut x = Matrix::from_vec(n, 784, (0..n * 784).map(|_| rng.random::<f32>()).collect())?;
    for r in 0..n {
        let row = x.row_mut(r);
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    let y: Vec<u8> = (0..n).map(|_| rng.random_range(0..10u8)).collect();
    let mut step_rng = ChaCha8Rng::seed_from_u64(1);
    let step = Box::new(move || {
        let batch = crate::models::Batch { x: &x, labels: &y, epoch: 1, step: 0, lr: 0.05 };
        let out = learner.step(&batch, &mut step_rng)?;
        let (model, grads) = learner.model_and_grads();
        opt.step(model, grads, params, out.update)
    });
    Ok(Prepared { input: shape(1, 28, 28), output: shape(10, 1, 1), step })
}

fn activation_classify(n: usize, rng: &mut ChaCha8Rng) -> Result<Prepared> {
    let (net, x, _) = activation_setup(n, rng)?;
    let step = Box::new(move || net.predict(&x.data).map(|_| ()));
    Ok(Prepared { input: shape(784, 1, 1), output: shape(1, 1, 1), step })
}

fn activation_generate(n: usize, rng: &mut ChaCha8Rng) -> Result<Prepared> {
    use crate::experiments::activation_inference::{InferenceOptions, generate_labels};
    let (net, _, _) = activation_setup(n, rng)?;
    let labels: Vec<u8> = (0..n).map(|b| (b % 10) as u8).collect();
    let opts = InferenceOptions { steps: 100, ..InferenceOptions::default() };
    let step = Box::new(move || generate_labels(&net, &labels, &opts).map(|_| ()));
    Ok(Prepared { input: shape(784, 1, 1), output: shape(784, 1, 1), step })
}

fn prepare(name: &str, n: usize, rng: &mut ChaCha8Rng) -> Result<Prepared> {
    match name {
        "conv5x5_1to128" => conv(n, 1, 128, 5, rng),
        "conv5x5_128to128" => conv(n, 128, 128, 5, rng),
        "convT11x11_128to1" => conv_transpose(n, 128, 1, 11, rng),
        "maxpool4s4_128" => pool(n, 4, 4, rng),
        "maxpool4s2_128" => pool(n, 4, 2, rng),
        "local9x9_1to16" => local(n, 1, 16, 9, rng),
        "local9x9_16to16" => local(n, 16, 16, 9, rng),
        "conv_maxout_mnist" => conv_net_step(n, &GOODFELLOW, rng),
        "fcwta_784x2000" => fc_wta_step(n, rng),
        "convwta_16" => conv_wta_step(n, 16, rng),
        "convwta_64" => conv_wta_step(n, 64, rng),
        "convwta_128" => conv_wta_step(n, 128, rng),
        "wtarbm_784x256" => wta_rbm_step(n, rng),
        "activation_1064x2" => activation_step(n, rng),
        "activation_classify_1064x2" => activation_classify(n, rng),
        "activation_generate_1064x2" => activation_generate(n, rng),
        "drsae_784x400x11" => drsae_step(n, 400, 11, rng),
        _ => Err(Error::param("--ops", name, format!("one of {}", OPS.map(|o| o.0).join(", ")))),
    }
}

/// The 1-minute load average, when /proc/loadavg can be read.
fn load1() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// `compete bench-layers`.
pub fn run(args: BenchLayersArgs) -> Result<()> {
    let threads = rayon::current_num_threads();
    crate::layers::winograd::set_enabled(!args.im2col);
    if args.steps == 0 || args.batch == 0 {
        return Err(Error::param("--steps/--batch", 0, "at least 1"));
    }
    let names: Vec<String> = if args.ops.is_empty() { OPS.iter().map(|o| o.0.to_string()).collect() } else { args.ops.clone() };
    if !args.json {
        println!("compete bench-layers: forward + backward, batch {}, {threads} thread(s)", args.batch);
        println!("{:<20} {:>16} {:>16} {:>10} {:>10} {:>10} {:>6}", "op", "input", "output", "median ms", "p10 ms", "p90 ms", "steps");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for name in &names {
        let mut op = prepare(name, args.batch, &mut rng)?;
        let load = load1();
        for _ in 0..args.warmup {
            (op.step)()?;
        }
        let mut times = Vec::with_capacity(args.steps);
        let start = Instant::now();
        while times.len() < args.steps && (times.len() < 3 || start.elapsed().as_secs_f64() < args.max_seconds) {
            let t = Instant::now();
            (op.step)()?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let steps = times.len();
        let (median, p10, p90) = percentiles(times);
        // A network's output is `[n, classes]` (PyTorch's logits), a layer's `[n, C, H, W]`.
        let dims = |s: MapShape| {
            if s.height == 1 && s.width == 1 { vec![args.batch, s.channels] } else { vec![args.batch, s.channels, s.height, s.width] }
        };
        if args.json {
            let line = serde_json::json!({
                "peer": "compete", "version": env!("CARGO_PKG_VERSION"), "op": name, "threads": threads, "batch": args.batch,
                "input_shape": dims(op.input), "output_shape": dims(op.output),
                "median_ms": median, "p10_ms": p10, "p90_ms": p90, "steps": steps, "warmup": args.warmup, "load1": load,
            });
            println!("{line}");
        } else {
            let fmt = |s: MapShape| format!("{}x{s}", args.batch);
            println!("{name:<20} {:>16} {:>16} {median:>10.2} {p10:>10.2} {p90:>10.2} {steps:>6}", fmt(op.input), fmt(op.output));
        }
    }
    Ok(())
}
