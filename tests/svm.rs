//! `compete features` and `compete svm` end to end on a small trained network, and their errors on
//! bad input.

mod common;
use common::{compete, text};

const DATA: &str = "synthetic:blobs,n=600,n_test=200,dim=8,classes=3,spread=0.3,seed=3";

fn json(o: &std::process::Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

#[test]
fn features_and_svm_on_a_trained_network() {
    let dir = tempfile::tempdir().unwrap();
    let train = ["--threads", "1", "train", "--data", DATA, "--hidden", "16", "--epochs", "2", "--out", "run"];
    let o = compete(&train, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let ckpt = "run/checkpoints/best.safetensors";

    // Features of every split, float32 [n, 16] with uint8 labels beside.
    for (split, n) in [("train", 540), ("val", 60), ("test", 200)] {
        let file = format!("{split}.npy");
        let o = compete(&["features", ckpt, "--data", DATA, "--split", split, "-o", &file], dir.path());
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains(&format!("{split}.labels.npy")), "{}", text(&o));
        let m = compete::io::npy::load_matrix_npy(&dir.path().join(&file)).unwrap();
        assert_eq!((m.rows, m.cols), (n, 16), "{split}");
        let labels = compete::io::npy::load_labels_npy(&dir.path().join(format!("{split}.labels.npy"))).unwrap();
        assert_eq!(labels.len(), n);
    }
    let o = compete(&["features", "--raw", "--data", DATA, "--split", "test", "-o", "raw.npy"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(compete::io::npy::load_matrix_npy(&dir.path().join("raw.npy")).unwrap().cols, 8);

    // The SVM on the checkpoint's features: far below chance (2/3) on separable blobs.
    let r = json(&compete(&["--threads", "2", "svm", ckpt, "--data", DATA, "--c-grid", "0.1,1", "--json", "-o", "svm.json"], dir.path()));
    let run = &r["report"]["runs"][0];
    assert!(run["test_error_rate"].as_f64().unwrap() < 0.1, "{r}");
    assert_eq!(run["fits"].as_array().unwrap().len(), 2);
    assert_eq!(run["confusion"]["total"], 200);
    assert_eq!(r["report"]["width"], 16);
    assert!(dir.path().join("svm.json").exists());
    // The same from the .npy files gives the same model and errors.
    let files = ["svm", "--train", "train.npy", "--val", "val.npy", "--test", "test.npy", "--c-grid", "0.1,1"];
    let from_files = json(&compete(&[&files[..], &["--json"]].concat(), dir.path()));
    assert_eq!(from_files["report"]["runs"][0]["test_errors"], run["test_errors"]);
    // The text report has the table and the confusion matrix.
    let o = compete(&files, dir.path());
    assert!(o.status.success() && text(&o).contains("<- chosen") && text(&o).contains("true\\pred"), "{}", text(&o));
    assert!(text(&o).contains("C = 0.1: "), "a progress line per C: {}", text(&o));
    // Few labels, several draws.
    let r = json(&compete(
        &["svm", "--train", "train.npy", "--val", "val.npy", "--test", "test.npy", "--labels", "30", "--seeds", "3", "--c", "1", "--json"],
        dir.path(),
    ));
    assert_eq!(r["report"]["runs"].as_array().unwrap().len(), 3);
    assert!(r["report"]["runs"].as_array().unwrap().iter().all(|run| run["train_size"] == 30));
    assert!(r["report"]["test_error_std"].as_f64().unwrap() >= 0.0);

    // Bad input: mismatched widths, too many labels, a missing labels file.
    let o = compete(&["svm", "--train", "train.npy", "--val", "val.npy", "--test", "raw.npy"], dir.path());
    assert!(!o.status.success() && text(&o).contains("test split") && text(&o).contains("8 features"), "{}", text(&o));
    let o = compete(&["svm", "--train", "train.npy", "--val", "val.npy", "--test", "test.npy", "--labels", "100000"], dir.path());
    assert!(!o.status.success() && text(&o).contains("--labels = 100000") && text(&o).contains("540"), "{}", text(&o));
    std::fs::copy(dir.path().join("test.npy"), dir.path().join("alone.npy")).unwrap();
    let o = compete(&["svm", "--train", "train.npy", "--val", "val.npy", "--test", "alone.npy"], dir.path());
    assert!(!o.status.success() && text(&o).contains("alone.labels.npy"), "{}", text(&o));
    let o = compete(&["svm", "--train", "train.npy", "--val", "val.npy", "--test", "test.npy", "--c=-1"], dir.path());
    assert!(!o.status.success() && text(&o).contains("C = -1"), "{}", text(&o));
    let o = compete(&["features", "--data", DATA, "-o", "x.npy"], dir.path());
    assert!(!o.status.success() && text(&o).contains("--raw"), "{}", text(&o));
    let o = compete(&["features", ckpt, "--data", DATA, "-o", "x.txt"], dir.path());
    assert!(!o.status.success() && text(&o).contains(".npy"), "{}", text(&o));
}
