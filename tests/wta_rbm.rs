//! The WTA-RBM of paper B (section 2) through the one training loop: an experiment file of
//! `type = "wta-rbm"` trains on the MNIST sample and lowers the reconstruction error, its
//! checkpoints load through `load_any`, and bad settings are refused with their values.

use compete::data::{Dataset, load_split};
use compete::models::wta_rbm::{WtaRbm, WtaRbmConfig};
use compete::models::{AnyModel, Model, checkpoint, load_any};
use compete::train::config::{Experiment, ModelSection};
use compete::train::{RunOptions, train_experiment};

const QUIET: RunOptions = RunOptions { resume: false, quiet: true };

/// 2000 training and 500 validation images of the shipped sample.
fn sets() -> (Dataset, Dataset) {
    let (train, val, _) = load_split("sample", None, false).unwrap();
    (train.subset(&(0..2000).collect::<Vec<_>>()).unwrap(), val.subset(&(0..500).collect::<Vec<_>>()).unwrap())
}

fn experiment(sparsity: f32, batch: usize) -> Experiment {
    let text = format!(
        "name = \"rbm\"\n[model]\ntype = \"wta-rbm\"\nhidden = 64\nsparsity = {sparsity}\n\
         [train]\nepochs = 8\nbatch_size = {batch}\nlr = 0.1\nlr_decay = 1.0\nmomentum_start = 0.5\nmomentum = 0.9\n\
         momentum_schedule = \"step\"\nmomentum_ramp_epochs = 1\nweight_decay = 0.0002\neval_test = false\n"
    );
    Experiment::from_toml(&text, std::path::Path::new("rbm.toml")).unwrap()
}

#[test]
fn a_wta_rbm_learns_the_sample_and_its_checkpoint_loads_as_any_model() {
    let (train, val) = sets();
    let exp = experiment(0.3, 100);
    let ModelSection::WtaRbm(section) = &exp.model else { panic!("{:?}", exp.model) };
    assert_eq!((section.hidden, section.sparsity, section.cd_steps), (64, 0.3, 1));
    let dir = tempfile::tempdir().unwrap();
    let o = train_experiment(&exp, &train, &val, None, dir.path(), &QUIET).unwrap();
    assert_eq!(o.score_name, "reconstruction error");
    assert!(o.val_errors.is_none());

    // The untrained model (the guide's initialisation, visible biases from the pixel means) scores
    // worse than every epoch, and the error falls every epoch, to below 60% of the untrained one.
    let mut untrained = WtaRbm::init(&section.rbm_config(784).unwrap(), exp.train.seed).unwrap();
    untrained.init_visible_bias(&train.x).unwrap();
    let before = untrained.reconstruction_error(&val).unwrap();
    let progress: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("progress.json")).unwrap()).unwrap();
    let scores: Vec<f64> = progress["history"].as_array().unwrap().iter().map(|e| e["score"].as_f64().unwrap()).collect();
    let momenta: Vec<f64> = progress["history"].as_array().unwrap().iter().map(|e| e["momentum"].as_f64().unwrap()).collect();
    assert!(momenta.len() == 8 && momenta[0] == 0.5 && momenta[1..].iter().all(|m| (m - 0.9).abs() < 1e-6), "{momenta:?}");
    // (measured: 50.8 untrained, 50.1 after epoch 1, 26.2 after epoch 8)
    assert!(scores[0] < before && scores.windows(2).all(|w| w[1] < w[0]) && o.best_score < 0.6 * before, "{before} then {scores:?}");

    // The checkpoint: kind wta-rbm, the three tensors, an encoder of one sigmoid layer, no classifier.
    let path = dir.path().join("checkpoints/best.safetensors");
    let (model, meta) = load_any(&path).unwrap();
    assert_eq!((model.kind(), meta["kind"].as_str()), ("wta-rbm", "wta-rbm"));
    let AnyModel::WtaRbm(rbm) = &model else { panic!("{}", model.kind()) };
    assert!((rbm.reconstruction_error(&val).unwrap() - o.best_score).abs() < 1e-9);
    let (tensors, _) = compete::io::load_tensors(&path).unwrap();
    let mut names: Vec<_> = tensors.iter().map(|(k, (s, _))| (k.clone(), s.clone())).collect();
    names.sort();
    assert_eq!(names, vec![("hidden_bias".into(), vec![64]), ("visible_bias".into(), vec![784]), ("weight".into(), vec![64, 784])]);
    assert!(model.errors(&val).is_none() && model.predict(&val.x[..784]).is_none());
    let enc = model.encoder();
    assert_eq!((enc.input_width(), enc.layers()[0].units, enc.describe()), (784, 64, "784-64(wta-rbm:0.3)".to_string()));
    assert!(enc.dense_stack().is_none());
    assert_eq!(model.untrained(1).unwrap().kind(), "wta-rbm");
    // Saved and loaded again: the same model.
    let again = dir.path().join("again.safetensors");
    checkpoint::save(&again, rbm, &[]).unwrap();
    assert_eq!(&checkpoint::load::<WtaRbm>(&again).unwrap().0, rbm);
    let err = checkpoint::load_mlp(&again).unwrap_err().to_string();
    assert!(err.contains("wta-rbm"), "{err}");
}

#[test]
fn bad_wta_rbm_settings_are_refused_with_their_values() {
    let (train, val) = sets();
    let dir = tempfile::tempdir().unwrap();
    // 5% of a batch of 10 keeps no example.
    let mut exp = experiment(0.05, 10);
    exp.train.epochs = 1;
    let err = train_experiment(&exp, &train, &val, None, dir.path(), &QUIET).unwrap_err().to_string();
    assert!(err.contains("0.05") && err.contains("batch_size = 10"), "{err}");
    for (text, wanted) in [
        ("[model]\ntype = \"wta-rbm\"\nsparsity = 1.5\n", "1.5"),
        ("[model]\ntype = \"wta-rbm\"\nsparsity = 0.0\n", "model.sparsity"),
        ("[model]\ntype = \"wta-rbm\"\ncd_steps = 0\n", "model.cd_steps"),
    ] {
        let exp = Experiment::from_toml(text, std::path::Path::new("x.toml")).unwrap();
        let err = train_experiment(&exp, &train, &val, None, dir.path(), &QUIET).unwrap_err().to_string();
        assert!(err.contains(wanted), "{text:?}: {err}");
    }
    let err = Experiment::from_toml("[model]\ntype = \"wta-rbm\"\nunits = 5\n", std::path::Path::new("x.toml")).unwrap_err().to_string();
    assert!(err.contains("wta-rbm") && err.contains("units"), "{err}");
    assert!(WtaRbmConfig::new(784, 10, 0.3, 1).is_ok());
}
