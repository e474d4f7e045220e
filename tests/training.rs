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
