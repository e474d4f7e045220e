//! Every experiment file in experiments/ parses: training runs describe a valid network (MLP,
//! convolutional, autoencoder, WTA-RBM) for MNIST,
//! phases files (paper D: pretraining then fine-tuning) a valid training experiment per phase,
//! sinusoid files (paper E, Figure 1) and anomaly files (paper C, section VI.A) a valid experiment.

use compete::experiments::anomaly::AnomalyExperiment;
use compete::experiments::phases::PhasesExperiment;
use compete::experiments::sinusoid::SinusoidExperiment;
use compete::models::Model;
use compete::train::config::{Experiment, ModelSection};

#[test]
fn every_experiment_file_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            if text.lines().any(|l| l.trim().replace(' ', "") == "kind=\"sinusoid\"") {
                SinusoidExperiment::load(&path).unwrap_or_else(|e| panic!("{e}")).validate().unwrap();
                continue;
            }
            if text.lines().any(|l| l.trim().replace(' ', "") == "kind=\"anomaly\"") {
                let exp = AnomalyExperiment::load(&path).unwrap_or_else(|e| panic!("{e}"));
                exp.model.activation_config(784, 0).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!exp.classes.is_empty());
                continue;
            }
            let exps = if text.lines().any(|l| l.trim().replace(' ', "") == "kind=\"phases\"") {
                let p = PhasesExperiment::load(&path).unwrap_or_else(|e| panic!("{e}"));
                assert!(p.phases.len() >= 2, "{}", path.display());
                p.phases.into_iter().map(|p| p.experiment).collect()
            } else {
                vec![Experiment::load(&path).unwrap_or_else(|e| panic!("{e}"))]
            };
            for exp in exps {
                check(&exp, &path);
            }
            seen += 1;
        }
    }
    assert!(seen >= 3, "expected the Table 1 experiment files, found {seen}");
}

fn check(exp: &Experiment, path: &std::path::Path) {
    assert_eq!(exp.kind, "train", "{}", path.display());
    match &exp.model {
        ModelSection::Mlp(m) => {
            m.mlp_config(784, 10).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(m.init_gain > 0.0);
        }
        ModelSection::Conv(c) => {
            c.conv_config(784, Some((28, 28)), 10).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(c.init_gain > 0.0);
        }
        ModelSection::FcWta(f) => f.validate(784).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        ModelSection::ConvWta(c) => {
            c.config(784, Some((28, 28))).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        ModelSection::WtaRbm(r) => {
            let config = r.rbm_config(784).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let rbm = compete::models::wta_rbm::WtaRbm::zeros(&config).unwrap();
            compete::models::wta_rbm::WtaRbmLearner::new(rbm, exp.train.batch_size).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        ModelSection::Activation(a) => {
            a.activation_config(784, 10).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        ModelSection::Drsae(d) => {
            d.drsae_config(784, 10).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}
