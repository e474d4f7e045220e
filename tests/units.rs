//! `compete units` end to end (paper D, section 3): a small untrained DrSAE saved in a temporary
//! folder, analysed on the MNIST sample shipped in the repository; its errors on bad input.

use compete::analysis::unit_roles::Thresholds;
use compete::competition::Competition;
use compete::experiments::units::{UnitsOptions, units};
use compete::models::Model;
use compete::models::drsae::{Drsae, DrsaeConfig};
use compete::models::mlp::{Mlp, MlpConfig};
use compete::train::checkpoint::save_mlp;

mod common;
use common::{compete, text};

const FILES: [&str; 13] = [
    "units.csv",
    "summary.json",
    "figure2-encoders.png",
    "figure2-decoders.png",
    "figure2-classifier.png",
    "figure3-recurrent.png",
    "figure3-classifier.png",
    "figure4-part-to-part.png",
    "figure4-categorical-to-part.png",
    "figure4c.png",
    "figure8.png",
    "figure9.png",
    "figure10.png",
];

#[test]
fn analyses_a_small_drsae_on_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let config = DrsaeConfig::new(784, 20, 3, 10).unwrap();
    let model = Drsae::init(&config, 1).unwrap();
    let ck = dir.path().join("drsae.safetensors");
    compete::models::checkpoint::save(&ck, &model, &[]).unwrap();
    // The pretrained network to compare with: another seed.
    let other = dir.path().join("other.safetensors");
    compete::models::checkpoint::save(&other, &Drsae::init(&config, 2).unwrap(), &[]).unwrap();

    let out = dir.path().join("units");
    let opts = UnitsOptions { max_examples: 300, ..UnitsOptions::default() };
    let r = units(&ck, Some(&other), "sample", &out, &opts).unwrap();
    for f in FILES.iter().chain(&["compare-units.csv"]) {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert_eq!(r.examples, 300);
    assert_eq!(r.counts.units, 20);
    assert_eq!(r.counts.part + r.counts.categorical + r.counts.between, 20);
    // The ISTA initialisation (the default) is all part-units.
    assert_eq!(r.counts.part, 20, "{r:?}");
    assert_eq!(r.compare.as_ref().unwrap().units, 20);
    assert_eq!(r.figure9_inputs, vec![0, 1, 2]);
    assert_eq!(r.figure8_units.len(), 6);
    let listed: Vec<String> = r.files.iter().map(|f| f.display().to_string()).collect();
    for f in FILES.iter().chain(&["compare-units.csv"]) {
        assert!(listed.iter().any(|l| l == f), "{f} not listed in {listed:?}");
    }

    let csv = std::fs::read_to_string(out.join("units.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "unit,angle,recurrent_norm,classifier_norm,class,ista_angle,kind,mean_active_final,late_onset");
    assert_eq!(lines.len(), 21);
    let kinds = |k: &str| lines[1..].iter().filter(|l| l.split(',').nth(6) == Some(k)).count();
    assert_eq!(kinds("part"), r.counts.part);
    assert_eq!(kinds("categorical"), r.counts.categorical);
    for l in &lines[1..] {
        assert_eq!(l.split(',').count(), 9, "{l}");
    }
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["counts"]["part"], r.counts.part);
    assert_eq!(summary["thresholds"]["part_below"], 0.5);
    assert_eq!(summary["thresholds"]["categorical_above"], 0.7);

    // Perfect ISTA: angle and ISTA angle 0 for every unit.
    let ista = Drsae::ista(&config, model.decoder.clone(), 0.05).unwrap();
    let ck2 = dir.path().join("ista.safetensors");
    compete::models::checkpoint::save(&ck2, &ista, &[]).unwrap();
    let out2 = dir.path().join("ista");
    let opts = UnitsOptions { max_examples: 100, inputs: Some(vec![5]), figure8_units: Some(vec![0]), ..UnitsOptions::default() };
    let r = units(&ck2, None, "sample", &out2, &opts).unwrap();
    assert_eq!(r.counts.part, 20);
    let csv = std::fs::read_to_string(out2.join("units.csv")).unwrap();
    for l in csv.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        let (angle, ista_angle): (f64, f64) = (f[1].parse().unwrap(), f[5].parse().unwrap());
        assert!(angle < 1e-3 && ista_angle < 1e-3, "{l}");
    }
    assert!(!out2.join("compare-units.csv").exists());

    // The command line prints the counts.
    let o = compete(
        &["--threads", "2", "units", "ista.safetensors", "--data", "sample", "-o", "cli", "--max-examples", "50", "--inputs", "1,2"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("20 part-units (angle < 0.5 rad), 0 categorical-units"), "{}", text(&o));
    assert!(dir.path().join("cli/figure9.png").is_file());
}

#[test]
fn bad_input_is_refused_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("drsae.safetensors");
    compete::models::checkpoint::save(&ck, &Drsae::init(&DrsaeConfig::new(784, 8, 2, 10).unwrap(), 1).unwrap(), &[]).unwrap();
    let mlp = Mlp::new(MlpConfig::new(784, &[(8, Competition::Relu)], 10).unwrap(), 1).unwrap();
    let mlp_ck = dir.path().join("mlp.safetensors");
    save_mlp(&mlp_ck, &mlp, &[]).unwrap();
    let out = dir.path().join("out");
    let opts = UnitsOptions::default();

    let e = units(&mlp_ck, None, "sample", &out, &opts).unwrap_err().to_string();
    assert!(e.contains("mlp.safetensors") && e.contains("DrSAE") && e.contains("mlp model"), "{e}");
    let e = units(&ck, Some(&mlp_ck), "sample", &out, &opts).unwrap_err().to_string();
    assert!(e.contains("--compare") && e.contains("mlp.safetensors"), "{e}");
    let e = units(&ck, None, "synthetic:blobs,n=100,n_test=10,dim=4,classes=2", &out, &opts).unwrap_err().to_string();
    assert!(e.contains("--data") && e.contains("4 input features") && e.contains("784"), "{e}");
    let o = UnitsOptions { inputs: Some(vec![]), ..UnitsOptions::default() };
    assert!(units(&ck, None, "sample", &out, &o).unwrap_err().to_string().contains("--inputs"));
    let o = UnitsOptions { inputs: Some(vec![1_000_000]), max_examples: 20, ..UnitsOptions::default() };
    let e = units(&ck, None, "sample", &out, &o).unwrap_err().to_string();
    assert!(e.contains("--inputs") && e.contains("1000000"), "{e}");
    let o = UnitsOptions { figure8_units: Some(vec![8]), max_examples: 20, ..UnitsOptions::default() };
    let e = units(&ck, None, "sample", &out, &o).unwrap_err().to_string();
    assert!(e.contains("--units") && e.contains("below 8"), "{e}");
    let o = UnitsOptions { thresholds: Thresholds { part_below: 0.9, categorical_above: 0.7 }, ..UnitsOptions::default() };
    assert!(units(&ck, None, "sample", &out, &o).unwrap_err().to_string().contains("--categorical-above"));
    // The command line reports the error, no panic.
    let o = compete(&["units", "mlp.safetensors", "-o", "x"], dir.path());
    assert!(!o.status.success());
    assert!(text(&o).contains("DrSAE") && !text(&o).contains("panicked"), "{}", text(&o));
}
