//! The training loop end to end on small synthetic data: learning, determinism, resume,
//! early stopping, divergence and checkpoint errors.

use std::path::Path;

use compete::Error;
use compete::competition::Competition;
use compete::data::{Dataset, synthetic};
use compete::train::checkpoint::{load_mlp, load_mlp_expecting, save_mlp};
use compete::train::config::{Competitions, Experiment};
use compete::train::{RunOptions, train_mlp};

fn sets() -> (Dataset, Dataset, Dataset) {
    let all = synthetic::blobs(900, 12, 4, 0.4, 5).unwrap();
    let (rest, test) = all.split_last(200).unwrap();
    let (train, val) = rest.split_last(100).unwrap();
    (train, val, test)
}

fn experiment(c: Competition, epochs: usize) -> Experiment {
    let mut e = Experiment { name: "t".into(), ..Default::default() };
    e.model.mlp_mut().unwrap().hidden = vec![16, 16];
    e.model.mlp_mut().unwrap().competition = Competitions::One(c);
    e.train.epochs = epochs;
    e.train.batch_size = 32;
    e.train.lr = 0.05;
    e.train.dropout_hidden = 0.1;
    e
}

const QUIET: RunOptions = RunOptions { resume: false, quiet: true };

fn weights(dir: &Path) -> Vec<Vec<f32>> {
    load_mlp(&dir.join("checkpoints/last.safetensors")).unwrap().layers.into_iter().map(|l| l.weight.data).collect()
}

#[test]
fn every_competition_learns_separable_blobs() {
    let (train, val, test) = sets();
    for c in [Competition::Relu, Competition::Lwta { block: 2 }, Competition::Maxout { rank: 2 }] {
        let dir = tempfile::tempdir().unwrap();
        let mut exp = experiment(c, 8);
        exp.train.max_norm = Some(3.0);
        let o = train_mlp(&exp, &train, &val, Some(&test), dir.path(), &QUIET).unwrap();
        assert!(o.test_errors.unwrap() <= 10, "{c}: {} test errors of 200", o.test_errors.unwrap());
        for f in [
            "config.toml",
            "progress.json",
            "metrics.json",
            "learning_curve.png",
            "checkpoints/best.safetensors",
            "checkpoints/last.state.safetensors",
        ] {
            assert!(dir.path().join(f).exists(), "{c}: {f} missing");
        }
        // The best checkpoint reproduces the reported test errors.
        let best = load_mlp(&o.best_checkpoint).unwrap();
        assert_eq!(best.errors(&test).unwrap(), o.test_errors.unwrap());
    }
}

#[test]
fn same_seed_same_weights_and_resume_continues_exactly() {
    let (train, val, _) = sets();
    let exp = experiment(Competition::Lwta { block: 2 }, 4);
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    train_mlp(&exp, &train, &val, None, a.path(), &QUIET).unwrap();
    train_mlp(&exp, &train, &val, None, b.path(), &QUIET).unwrap();
    assert_eq!(weights(a.path()), weights(b.path()), "same seed, same threads: same network");

    // Two epochs, "interrupted", then resumed to four: the same network as four in one go.
    let short = Experiment { train: compete::train::TrainConfig { epochs: 2, ..exp.train.clone() }, ..exp.clone() };
    train_mlp(&short, &train, &val, None, c.path(), &QUIET).unwrap();
    assert_ne!(weights(c.path()), weights(a.path()));
    let o = train_mlp(&exp, &train, &val, None, c.path(), &RunOptions { resume: true, quiet: true }).unwrap();
    assert_eq!(o.epochs, 4);
    assert_eq!(weights(c.path()), weights(a.path()), "resumed run differs from the uninterrupted one");

    // A finished folder is not overwritten by a new run.
    let err = train_mlp(&exp, &train, &val, None, a.path(), &QUIET).unwrap_err().to_string();
    assert!(err.contains("--resume"), "{err}");
    let other_seed = Experiment { train: compete::train::TrainConfig { seed: 2, ..exp.train.clone() }, ..exp.clone() };
    let d = tempfile::tempdir().unwrap();
    train_mlp(&other_seed, &train, &val, None, d.path(), &QUIET).unwrap();
    assert_ne!(weights(d.path()), weights(a.path()));
}

#[test]
fn early_stopping_ends_the_run_after_patience_epochs() {
    let (train, val, _) = sets();
    let mut exp = experiment(Competition::Relu, 200);
    exp.train.patience = Some(2);
    let dir = tempfile::tempdir().unwrap();
    let o = train_mlp(&exp, &train, &val, None, dir.path(), &QUIET).unwrap();
    assert!(o.epochs < 200 && o.epochs == o.best_epoch + 2, "{o:?}");
    assert!(o.stop_reason.contains("early stop"), "{}", o.stop_reason);
}

#[test]
fn divergence_stops_with_an_error_and_keeps_the_last_good_checkpoint() {
    let (train, val, _) = sets();
    let dir = tempfile::tempdir().unwrap();
    let mut exp = experiment(Competition::Relu, 1);
    train_mlp(&exp, &train, &val, None, dir.path(), &QUIET).unwrap();
    let good = std::fs::read(dir.path().join("checkpoints/last.safetensors")).unwrap();
    // Continue with an absurd learning rate: the loss explodes in the second epoch.
    exp.train.epochs = 3;
    exp.train.lr = 1e6;
    exp.train.lr_decay = 1.0;
    match train_mlp(&exp, &train, &val, None, dir.path(), &RunOptions { resume: true, quiet: true }) {
        Err(Error::Diverged { epoch, checkpoint, .. }) => {
            assert_eq!(epoch, 2);
            assert_eq!(checkpoint.as_deref(), Some(dir.path().join("checkpoints/last.safetensors").as_path()));
        }
        other => panic!("expected divergence, got {other:?}"),
    }
    assert_eq!(std::fs::read(dir.path().join("checkpoints/last.safetensors")).unwrap(), good, "the last good checkpoint was changed");
}

#[test]
fn checkpoints_of_another_architecture_or_shape_are_refused() {
    let (train, val, _) = sets();
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(Competition::Relu, 1);
    train_mlp(&exp, &train, &val, None, dir.path(), &QUIET).unwrap();
    let path = dir.path().join("checkpoints/best.safetensors");
    let mut net = load_mlp(&path).unwrap();

    // Resuming with another width.
    let mut wider = exp.clone();
    wider.model.mlp_mut().unwrap().hidden = vec![16, 20];
    let err = train_mlp(&wider, &train, &val, None, dir.path(), &RunOptions { resume: true, quiet: true }).unwrap_err().to_string();
    assert!(err.contains("last.safetensors") && err.contains("does not match"), "{err}");
    let other = wider.model.mlp_config(12, 4).unwrap();
    let err = load_mlp_expecting(&path, &other).unwrap_err().to_string();
    assert!(err.contains("best.safetensors") && err.contains("16(relu)") && err.contains("20(relu)"), "{err}");

    // A tensor whose shape disagrees with the architecture stored beside it.
    net.layers[1].weight.rows = 8;
    net.layers[1].weight.data.truncate(8 * 16);
    let bad = dir.path().join("bad.safetensors");
    save_mlp(&bad, &net, &[]).unwrap();
    let err = load_mlp(&bad).unwrap_err().to_string();
    assert!(
        err.contains("bad.safetensors") && err.contains("layers.1.weight") && err.contains("[8, 16]") && err.contains("[16, 16]"),
        "{err}"
    );

    // Not a safetensors file at all.
    std::fs::write(&bad, b"hello").unwrap();
    assert!(load_mlp(&bad).unwrap_err().to_string().contains("bad.safetensors"));
}

#[test]
fn empty_or_mismatched_data_is_refused() {
    let (train, val, _) = sets();
    let exp = experiment(Competition::Relu, 1);
    let dir = tempfile::tempdir().unwrap();
    let narrow = synthetic::blobs(50, 5, 4, 1.0, 1).unwrap();
    let err = train_mlp(&exp, &train, &narrow, None, dir.path(), &QUIET).unwrap_err().to_string();
    assert!(err.contains("validation set") && err.contains("5 features") && err.contains("12 features"), "{err}");
    let mut bad = exp.clone();
    bad.model.mlp_mut().unwrap().hidden = vec![15];
    bad.model.mlp_mut().unwrap().competition = Competitions::One(Competition::Lwta { block: 2 });
    let err = train_mlp(&bad, &train, &val, None, dir.path(), &QUIET).unwrap_err().to_string();
    assert!(err.contains("lwta block size") && err.contains("15"), "{err}");
}

#[test]
fn flip_rates_are_recorded_per_epoch_and_match_the_checkpoints() {
    let (train, val, _) = sets();
    let mut exp = experiment(Competition::Maxout { rank: 2 }, 2);
    exp.train.track_flips = true;
    exp.train.flip_examples = 300;
    let dir = tempfile::tempdir().unwrap();
    train_mlp(&exp, &train, &val, None, dir.path(), &QUIET).unwrap();
    let after2 = load_mlp(&dir.path().join("checkpoints/last.safetensors")).unwrap();
    // Resume to 3 epochs: the third epoch's rate compares the network after epoch 2 with epoch 3.
    exp.train.epochs = 3;
    train_mlp(&exp, &train, &val, None, dir.path(), &RunOptions { resume: true, quiet: true }).unwrap();
    let after3 = load_mlp(&dir.path().join("checkpoints/last.safetensors")).unwrap();
    let x = &train.x[..300 * train.dim];
    let mut expected = Vec::new();
    for l in 0..2 {
        let a = compete::analysis::submasks(&after2, x, l, 64).unwrap();
        let b = compete::analysis::submasks(&after3, x, l, 64).unwrap();
        expected.push(compete::analysis::flips::flip_rate(&a, &b).unwrap());
    }
    let progress: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("progress.json")).unwrap()).unwrap();
    let history = progress["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    let third: Vec<f64> = history[2]["flip_rates"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(third, expected);
    // Every epoch has a rate in [0, 1]; training from scratch flips a visible share of units.
    let first = history[0]["flip_rate"].as_f64().unwrap();
    assert!(first > 0.0 && first <= 1.0, "{first}");
    let csv = std::fs::read_to_string(dir.path().join("flips.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "epoch,layer0,layer1,network");
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(dir.path().join("flips.png").exists());
}

#[test]
fn a_run_can_start_from_another_runs_checkpoint() {
    let (train, val, _) = sets();
    let pre = tempfile::tempdir().unwrap();
    let exp = experiment(Competition::Relu, 2);
    let o = train_mlp(&exp, &train, &val, None, pre.path(), &QUIET).unwrap();
    let source = load_mlp(&o.best_checkpoint).unwrap();
    // Fine-tune with a learning rate so small that the weights stay where they started: they must
    // start at the pretrained ones, not at a fresh initialisation of the other seed.
    let mut fine = exp.clone();
    fine.train.seed = 99;
    fine.train.epochs = 1;
    fine.train.lr = 1e-12;
    fine.train.min_lr = 0.0;
    fine.train.init_from = Some(o.best_checkpoint.clone());
    let dir = tempfile::tempdir().unwrap();
    train_mlp(&fine, &train, &val, None, dir.path(), &QUIET).unwrap();
    let after = load_mlp(&dir.path().join("checkpoints/last.safetensors")).unwrap();
    for (a, b) in after.layers.iter().zip(&source.layers) {
        for (x, y) in a.weight.data.iter().zip(&b.weight.data) {
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
        }
    }
    // Only the first layer: the others keep the fresh initialisation of seed 99.
    fine.train.init_params = "layers.0.*".into();
    let only = tempfile::tempdir().unwrap();
    train_mlp(&fine, &train, &val, None, only.path(), &QUIET).unwrap();
    let after = load_mlp(&only.path().join("checkpoints/last.safetensors")).unwrap();
    assert!((after.layers[0].weight.data[0] - source.layers[0].weight.data[0]).abs() < 1e-6);
    assert!((after.layers[1].weight.data[0] - source.layers[1].weight.data[0]).abs() > 1e-6);
    // A pattern that matches nothing in the file is an error naming the file.
    fine.train.init_params = "decoder.*".into();
    let err = train_mlp(&fine, &train, &val, None, tempfile::tempdir().unwrap().path(), &QUIET).unwrap_err().to_string();
    assert!(err.contains("train.init_from") && err.contains("best.safetensors") && err.contains("decoder.*"), "{err}");
}

#[test]
fn extreme_and_silent_inputs_are_refused_with_their_name() {
    let (train, val, test) = sets();
    let dir = tempfile::tempdir().unwrap();
    // A gain so small that the weight range rounds to 0, or so large that it overflows.
    for gain in [1e-45f32, 3e38] {
        let mut exp = experiment(Competition::Relu, 1);
        exp.model.mlp_mut().unwrap().init_gain = gain;
        let err = train_mlp(&exp, &train, &val, None, dir.path(), &QUIET).unwrap_err().to_string();
        assert!(err.contains("model.init_gain"), "{gain}: {err}");
    }
    // A layer of four billion units: refused before allocating, with the memory it would need.
    let mut exp = experiment(Competition::Relu, 1);
    exp.model.mlp_mut().unwrap().hidden = vec![4_000_000_000];
    let err = train_mlp(&exp, &train, &val, None, dir.path(), &QUIET).unwrap_err().to_string();
    assert!(err.contains("4000000000(relu)") && err.contains("available") && err.contains("GiB"), "{err}");
    // A test label outside the training split's classes does not widen the network.
    let mut labels = test.labels.clone();
    labels[7] = 200;
    let wide = compete::data::Dataset::from_parts(test.x.clone(), labels, test.dim, None, 201).unwrap();
    let exp = experiment(Competition::Relu, 1);
    let err = train_mlp(&exp, &train, &val, Some(&wide), dir.path(), &QUIET).unwrap_err().to_string();
    assert!(err.contains("label 200 of test example 7") && err.contains("4 classes"), "{err}");
    // A checkpoint with a NaN weight does not load.
    let o = train_mlp(&exp, &train, &val, None, dir.path(), &QUIET).unwrap();
    let mut net = load_mlp(&o.best_checkpoint).unwrap();
    net.layers[1].weight.data[5] = f32::NAN;
    let nan = dir.path().join("nan.safetensors");
    save_mlp(&nan, &net, &[]).unwrap();
    let err = load_mlp(&nan).unwrap_err().to_string();
    assert!(err.contains("nan.safetensors") && err.contains("layers.1.weight") && err.contains("index 5"), "{err}");
    // A truncated checkpoint names the file and both sizes.
    let bytes = std::fs::read(&o.best_checkpoint).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_mlp(&cut).unwrap_err().to_string();
    assert!(err.contains("cut.safetensors") && err.contains("truncated") && err.contains(&bytes.len().to_string()), "{err}");
    // A corrupt optimizer state is an error on resume, never a silent reset of Adam's steps.
    let state = dir.path().join("checkpoints/last.state.safetensors");
    let (tensors, mut meta) = compete::io::load_tensors(&state).unwrap();
    meta.insert("t".into(), "garbage".into());
    let named: Vec<compete::io::Named> = tensors.into_iter().map(|(n, (s, v))| (n, s, v)).collect();
    compete::io::save_tensors(&state, &named, meta).unwrap();
    let mut more = exp.clone();
    more.train.epochs = 2;
    let err = train_mlp(&more, &train, &val, None, dir.path(), &RunOptions { resume: true, quiet: true }).unwrap_err().to_string();
    assert!(err.contains("last.state.safetensors") && err.contains("garbage"), "{err}");
}

#[test]
fn experiment_files_name_the_model_type_and_explain_bad_competitions() {
    let p = Path::new("exp.toml");
    let e = Experiment::from_toml("[model]\ntype = \"mlp\"\nhidden = [5]\n", p).unwrap();
    assert_eq!(e.model.type_name(), "mlp");
    assert_eq!(Experiment::from_toml("[model]\nhidden = [5]\n", p).unwrap(), e, "mlp is the default type");
    assert!(e.to_toml().unwrap().contains("type = \"mlp\""));
    let err = Experiment::from_toml("[model]\ntype = \"lista\"\n", p).unwrap_err().to_string();
    assert!(
        err.contains("exp.toml") && err.contains("lista") && err.contains("drsae") && err.contains("mlp") && err.contains("fc-wta"),
        "{err}"
    );
    for (text, want) in [
        ("[model]\ncompetition = \"lwta:0\"\n", "lwta block size = 0"),
        ("[model]\ncompetition = \"maxout:0\"\n", "maxout rank = 0"),
        ("[model]\ncompetition = \"sigmoid\"\n", "sigmoid"),
        ("[model]\nhidden = [4, 4]\ncompetition = [\"relu\", \"lwta:1\"]\n", "competition[1]"),
        ("[model]\ncompetition = 3\n", "model.competition"),
        ("[model]\nhiden = [3]\n", "hiden"),
        ("[[train.rules]]\nparams = \"*\"\nclip = -1.0\n", "train.rules[0].clip"),
    ] {
        let err = Experiment::from_toml(text, p).unwrap_err().to_string();
        assert!(err.contains("exp.toml") && err.contains(want), "{text:?}: {err}");
        assert!(!err.contains("did not match any variant"), "{err}");
    }
}

#[test]
fn rules_from_an_experiment_file_constrain_the_named_parameters() {
    let (train, val, _) = sets();
    let text = "[model]\ntype = \"mlp\"\nhidden = [16, 16]\n[train]\nepochs = 2\nbatch_size = 32\nlr = 0.5\n\
                [[train.rules]]\nparams = \"layers.0.weight\"\nmax_norm_rows = 0.25\n\
                [[train.rules]]\nparams = \"layers.2.*\"\nlr_scale = 0.000001\n";
    let exp = Experiment::from_toml(text, Path::new("rules.toml")).unwrap();
    assert_eq!(exp.train.rules.len(), 2);
    let dir = tempfile::tempdir().unwrap();
    let fresh = compete::models::mlp::Mlp::new(exp.model.mlp_config(12, 4).unwrap(), exp.train.seed).unwrap();
    train_mlp(&exp, &train, &val, None, dir.path(), &QUIET).unwrap();
    let net = load_mlp(&dir.path().join("checkpoints/last.safetensors")).unwrap();
    for row in net.layers[0].weight.data.chunks(12) {
        assert!(row.iter().map(|x| x * x).sum::<f32>().sqrt() <= 0.25 + 1e-5);
    }
    // The softmax layer barely moved (its rate is scaled by 1e-6); the middle layer did.
    let moved =
        |l: usize| net.layers[l].weight.data.iter().zip(&fresh.layers[l].weight.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(moved(2) < 1e-4 && moved(1) > 1e-3, "{} {}", moved(2), moved(1));
}
