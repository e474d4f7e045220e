//! Activation learning (paper C) through the one training loop: an experiment file of
//! `type = "activation"` learns to classify the MNIST sample by its output activation (with and
//! without feedback), its checkpoints load as any model and `compete eval` scores them, the trained
//! layers keep the output activation below the input strength (Property 4), and bad settings are
//! refused with their values.

mod common;

use compete::data::{Dataset, load_split};
use compete::models::activation::ActivationNet;
use compete::models::{AnyModel, load_any};
use compete::tensor::Matrix;
use compete::train::config::Experiment;
use compete::train::{RunOptions, train_experiment};

const QUIET: RunOptions = RunOptions { resume: false, quiet: true };

/// 2000 training and 500 validation images of the shipped sample.
fn sets() -> (Dataset, Dataset) {
    let (train, val, _) = load_split("sample", None, false).unwrap();
    (train.subset(&(0..2000).collect::<Vec<_>>()).unwrap(), val.subset(&(0..500).collect::<Vec<_>>()).unwrap())
}

fn experiment(model: &str, epochs: usize) -> Experiment {
    let text = format!(
        "name = \"act\"\n[model]\ntype = \"activation\"\n{model}\n\
         [train]\nepochs = {epochs}\nbatch_size = 20\nlr = 0.1\nlr_decay = 1.0\nmin_lr = 0.0\nmomentum = 0.0\n\
         momentum_start = 0.0\neval_test = false\n"
    );
    Experiment::from_toml(&text, std::path::Path::new("act.toml")).unwrap()
}

#[test]
fn activation_learning_classifies_the_sample_and_its_checkpoint_is_any_classifier() {
    let (train, val) = sets();
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment("layers = [1064, 1064]\nactivation = \"std-abs\"", 4);
    let o = train_experiment(&exp, &train, &val, None, dir.path(), &QUIET).unwrap();
    assert_eq!(o.score_name, "validation errors");
    let errors = o.val_errors.unwrap();
    // Chance is 450 of 500; measured: 127 after 4 epochs (400 steps of 20).
    assert!(errors < 175, "{errors} validation errors of 500");

    let (model, meta) = load_any(&o.best_checkpoint).unwrap();
    assert_eq!((model.kind(), meta["kind"].as_str()), ("activation", "activation"));
    let AnyModel::Activation(net) = &model else { panic!("{}", model.kind()) };
    assert_eq!(net.config.input_width(), 784 + 280);
    assert_eq!(model.errors(&val).unwrap().unwrap(), errors);
    assert_eq!(model.encoder().describe(), "1064-1064(std-abs)-1064");

    // Property 4: the output activation stays below the input strength (2: a unit-norm image and a
    // unit-norm code) for every validation image with its own label.
    let x = Matrix::from_vec(val.len(), val.dim, val.x.clone()).unwrap();
    let scores = net.class_scores(&x).unwrap();
    let worst = (0..val.len()).map(|b| scores.row(b)[usize::from(val.labels[b])]).fold(0.0f32, f32::max);
    let mean = (0..val.len()).map(|b| scores.row(b)[usize::from(val.labels[b])]).sum::<f32>() / val.len() as f32;
    assert!(worst <= 2.0 * 1.05 && mean > 0.1, "activation with the true label: mean {mean}, max {worst} (input strength 2)");

    // `compete eval` on the checkpoint.
    let out = common::compete(&["eval", o.best_checkpoint.to_str().unwrap(), "--data", "sample"], dir.path());
    let text = common::text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("error"), "{text}");
}

#[test]
fn feedback_learns_too_and_a_net_without_labels_scores_typicality() {
    let (train, val) = sets();
    let dir = tempfile::tempdir().unwrap();
    let fb = experiment("layers = [1064, 1064]\nfeedback = { unlearn = 0.9, slope = 5.0 }", 3);
    let o = train_experiment(&fb, &train, &val, None, &dir.path().join("fb"), &QUIET).unwrap();
    // Measured: 146 after 3 epochs.
    assert!(o.val_errors.unwrap() < 200, "{:?}", o.val_errors);
    let (model, _) = load_any(&o.best_checkpoint).unwrap();
    let AnyModel::Activation(net) = model else { panic!() };
    assert!(net.gamma_mean[0] > 0.0 && net.gamma_mean[0] < 1.0, "γ's running mean {}", net.gamma_mean[0]);

    // Without label input: the digits 0 of the sample are scored as more typical than the others
    // by a net that saw only zeros.
    let zeros: Vec<usize> = (0..train.len()).filter(|&i| train.labels[i] == 0).collect();
    let only0 = train.subset(&zeros).unwrap();
    let val0 = val.subset(&(0..val.len()).filter(|&i| val.labels[i] == 0).collect::<Vec<_>>()).unwrap();
    let plain = experiment("layers = [128, 128]\nlabel_input = false", 5);
    let o = train_experiment(&plain, &only0, &val0, None, &dir.path().join("plain"), &QUIET).unwrap();
    assert_eq!(o.score_name, "1 - mean output activation");
    let (model, _) = load_any(&o.best_checkpoint).unwrap();
    let AnyModel::Activation(net) = model else { panic!() };
    assert!(model_is_not_a_classifier(&net));
    let x = Matrix::from_vec(val.len(), val.dim, val.x.clone()).unwrap();
    let s = net.class_scores(&x).unwrap();
    let mean = |zero: bool| {
        let v: Vec<f32> = (0..val.len()).filter(|&b| (val.labels[b] == 0) == zero).map(|b| s.data[b]).collect();
        v.iter().sum::<f32>() / v.len() as f32
    };
    assert!(mean(true) > mean(false) * 1.1, "zeros {} against the rest {}", mean(true), mean(false));
}

fn model_is_not_a_classifier(net: &ActivationNet) -> bool {
    net.config.classes == 0 && net.predict(&[0.0; 784]).is_err()
}

#[test]
fn bad_settings_are_refused_with_their_values() {
    for (model, needle) in [
        ("layers = []", "model.layers"),
        ("layers = [16, 0]", "model.layers[1]"),
        ("layers = [16]\nlabel_input = false\nfeedback = {}", "model.feedback"),
        ("layers = [16]\nlocal = { height = 28, width = 28, kernel = 9, units = 2 }", "at least two layers"),
        ("layers = [1568, 16]\nlocal = { height = 28, width = 28, kernel = 4, units = 2 }", "model.local.kernel"),
        ("layers = [100, 16]\nlocal = { height = 28, width = 28, kernel = 9, units = 2 }", "1568"),
        ("layers = [16]\nstats_decay = 1.5", "model.stats_decay"),
    ] {
        let exp = experiment(model, 1);
        let compete::train::config::ModelSection::Activation(a) = &exp.model else { panic!() };
        let e = a.activation_config(784, 10).unwrap_err().to_string();
        assert!(e.contains(needle), "{model}: {e}");
    }
    let e = Experiment::from_toml("[model]\ntype = \"activation\"\nactivation = \"relu\"\n", std::path::Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("relu") && e.contains("std-abs"), "{e}");
}
