//! `compete knn` and `compete submasks` end to end on a small trained network, and its errors on bad input.

mod common;
use common::{compete, text};

const DATA: &str = "synthetic:blobs,n=600,n_test=200,dim=8,classes=3,spread=0.3,seed=3";

#[test]
fn knn_on_submasks_and_activations_of_a_trained_network() {
    let dir = tempfile::tempdir().unwrap();
    let train =
        ["--threads", "1", "train", "--data", DATA, "--hidden", "32,32", "--competition", "maxout:2", "--epochs", "4", "--out", "run"];
    let o = compete(&train, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let ckpt = "run/checkpoints/best.safetensors";
    let o = compete(&["knn", ckpt, "--data", DATA, "--k", "1,3,5", "--json", "--out", "knn.json"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &report["report"];
    assert_eq!(r["layer"], 1, "the last hidden layer by default");
    assert_eq!(r["test_size"], 200);
    // 3 representations x 2 weightings.
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    let submasks = &rows[0];
    assert_eq!(submasks["representation"], "submasks");
    assert_eq!(submasks["width"], 64, "maxout submasks have one bit per piece: 32 units x 2");
    for row in rows {
        // Separable blobs: every kNN classifier is nearly perfect.
        assert!(row["test_errors"].as_u64().unwrap() <= 20, "{row}");
        assert!([1, 3, 5].contains(&row["k"].as_u64().unwrap()));
    }
    // The softmax error is the same as `compete eval` reports.
    let o = compete(&["eval", ckpt, "--data", DATA, "--json"], dir.path());
    let eval: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["softmax_test_errors"], eval["errors"]);
    assert!(dir.path().join("knn.json").exists());

    // Bad input: a layer that does not exist, k beyond the database, data of another width.
    let o = compete(&["knn", ckpt, "--data", DATA, "--layer", "2"], dir.path());
    assert!(!o.status.success() && text(&o).contains("--layer = 2") && text(&o).contains("0 (closest to the input) to 1"), "{}", text(&o));
    let o = compete(&["knn", ckpt, "--data", DATA, "--k", "1,100000"], dir.path());
    assert!(!o.status.success() && text(&o).contains("k grid"), "{}", text(&o));
    let other = "synthetic:blobs,n=300,n_test=50,dim=5,classes=3,seed=1";
    let o = compete(&["knn", ckpt, "--data", other], dir.path());
    assert!(!o.status.success() && text(&o).contains("5 input features") && text(&o).contains("8 input features"), "{}", text(&o));
    let o = compete(&["knn", ckpt, "--data", DATA, "--features", "colours"], dir.path());
    assert!(!o.status.success() && text(&o).contains("colours"), "{}", text(&o));

    // `compete submasks` writes the same codes as the library computes, in both formats.
    let mlp = compete::train::checkpoint::load_mlp(&dir.path().join(ckpt)).unwrap();
    let (_, _, test) = compete::data::load_split(DATA, None, false).unwrap();
    let expected = compete::analysis::submasks(&mlp, &test.x, 0, 64).unwrap();
    for file in ["s.codes", "s.npy"] {
        let o = compete(&["submasks", ckpt, "--data", DATA, "--layer", "0", "-o", file], dir.path());
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("64 bits per submask"), "{}", text(&o));
        let path = dir.path().join(file);
        let got = if file.ends_with("npy") {
            compete::retrieval::io::load_codes_npy(&path, Some(64)).unwrap()
        } else {
            compete::retrieval::io::load_codes(&path).unwrap()
        };
        assert_eq!(got, expected, "{file}");
        let labels = compete::retrieval::io::load_labels_npy(&dir.path().join("s.labels.npy")).unwrap();
        assert_eq!(labels, test.labels);
    }
    let o = compete(&["submasks", ckpt, "--data", DATA, "-o", "s.txt"], dir.path());
    assert!(!o.status.success() && text(&o).contains(".codes or .npy"), "{}", text(&o));
    let o = compete(&["submasks", ckpt, "--data", DATA, "--layer", "5", "-o", "s.codes"], dir.path());
    assert!(!o.status.success() && text(&o).contains("--layer = 5"), "{}", text(&o));
}
