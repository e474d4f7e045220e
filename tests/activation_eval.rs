//! Paper C's evaluations end to end on the shipped MNIST sample: `compete robustness` (Figure 10)
//! on a small trained classifier, and a one-class anomaly-detection run (`kind = "anomaly"`,
//! section VI.A) with its AUROC table, resumed without retraining.

mod common;
use common::{compete, text};

fn csv_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| l.split(',').map(str::to_string).collect()).collect()
}

#[test]
fn robustness_of_a_small_classifier() {
    let dir = tempfile::tempdir().unwrap();
    let o = compete(
        &[
            "--threads",
            "2",
            "train",
            "--data",
            "sample",
            "--hidden",
            "32",
            "--epochs",
            "1",
            "--batch-size",
            "100",
            "--lr",
            "0.05",
            "--out",
            "mlp",
            "--quiet",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let ck = "mlp/checkpoints/best.safetensors";

    let o = compete(
        &["robustness", ck, ck, "--names", "a,b", "--data", "sample", "--kind", "mask", "--levels", "0,14,28", "-o", "out"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("0.500"), "the masking ratio is printed: {}", text(&o));
    let rows = csv_rows(&dir.path().join("out/robustness-mask.csv"));
    assert_eq!(rows[0], ["level", "ratio", "a", "b"]);
    assert_eq!(rows.len(), 4);
    let err = |r: usize, c: usize| rows[r][c].parse::<f64>().unwrap();
    assert_eq!(err(1, 2), err(1, 3), "the same checkpoint twice gives the same errors");
    assert!(err(1, 2) < 0.3, "a trained MLP on clean images: {}", err(1, 2));
    assert!(err(3, 2) > 0.5, "all-black images are mostly misclassified: {}", err(3, 2));
    assert!(err(1, 2) < err(2, 2), "masking half the image hurts");
    assert!(dir.path().join("out/robustness-mask.png").exists());

    let o = compete(&["robustness", ck, "--data", "sample", "--kind", "lines", "-o", "out"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let rows = csv_rows(&dir.path().join("out/robustness-lines.csv"));
    assert_eq!(rows[0], ["level", "best"]);
    assert_eq!(rows.iter().skip(1).map(|r| r[0].as_str()).collect::<Vec<_>>(), ["0", "1", "2", "3"]);
    assert!(dir.path().join("out/robustness-lines.png").exists());

    // Bad input: a level past the image, a wrong count of names, an unknown kind.
    let o = compete(&["robustness", ck, "--data", "sample", "--kind", "mask", "--levels", "30", "-o", "out"], dir.path());
    assert!(!o.status.success() && text(&o).contains("--levels") && text(&o).contains("30"), "{}", text(&o));
    let o = compete(&["robustness", ck, "--names", "a,b", "--data", "sample", "--kind", "mask", "-o", "out"], dir.path());
    assert!(!o.status.success() && text(&o).contains("--names"), "{}", text(&o));
    let o = compete(&["robustness", ck, "--data", "sample", "--kind", "blur", "-o", "out"], dir.path());
    assert!(!o.status.success() && text(&o).contains("blur"), "{}", text(&o));
}

#[test]
fn anomaly_detection_on_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("anomaly.toml"),
        "kind = \"anomaly\"\nname = \"tiny\"\nclasses = [0, 1]\n[data]\nsource = \"sample\"\n[model]\ntype = \"activation\"\nlayers = [32, 32]\nactivation = \"std-abs\"\nlabel_input = false\n[train]\nepochs = 2\nbatch_size = 50\nlr = 0.1\nlr_decay = 1.0\nmomentum = 0.0\nmomentum_start = 0.0\n",
    )
    .unwrap();
    let o = compete(&["--threads", "2", "run", "anomaly.toml", "--out", "an", "--quiet"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Deep SVDD"), "{}", text(&o));
    let rows = csv_rows(&dir.path().join("an/auroc.csv"));
    assert_eq!(rows[0], ["class", "auroc", "deep_svdd_percent"]);
    assert_eq!(rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(), ["class", "0", "1", "mean"]);
    for r in &rows[1..] {
        let a: f64 = r[1].parse().unwrap();
        assert!((0.0..=1.0).contains(&a), "{r:?}");
    }
    assert_eq!(rows[1][2], "98.0");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("an/auroc.json")).unwrap()).unwrap();
    assert_eq!(json["classes"][1]["class"], 1);
    assert!(json["classes"][0]["train_examples"].as_u64().unwrap() > 500);
    assert!(dir.path().join("an/class-1/checkpoints/best.safetensors").exists());

    // Again without --resume: the finished runs are not overwritten.
    let o = compete(&["run", "anomaly.toml", "--out", "an", "--quiet"], dir.path());
    assert!(!o.status.success() && text(&o).contains("--resume"), "{}", text(&o));
    // With --resume: nothing is retrained, the same AUROCs come out.
    let o = compete(&["--threads", "2", "run", "anomaly.toml", "--out", "an", "--resume", "--quiet"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(csv_rows(&dir.path().join("an/auroc.csv")), rows);
    let metrics: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("an/class-0/metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["history"].as_array().unwrap().len(), 2);

    // The anomaly net is no classifier: `compete robustness` names it.
    let ck = "an/class-0/checkpoints/best.safetensors";
    let o = compete(&["robustness", ck, "--data", "sample", "--kind", "mask", "-o", "rob"], dir.path());
    assert!(!o.status.success() && text(&o).contains(ck) && text(&o).contains("classifier"), "{}", text(&o));

    // label_input = true is refused.
    std::fs::write(dir.path().join("bad.toml"), "kind = \"anomaly\"\n[model]\nlabel_input = true\n").unwrap();
    let o = compete(&["run", "bad.toml", "--out", "bad"], dir.path());
    assert!(!o.status.success() && text(&o).contains("label_input"), "{}", text(&o));
}
