//! `compete retrieve` end to end on the shipped MNIST sample with a small untrained network: the
//! report files, the saved codes, and clear errors on bad input.

use std::path::Path;

use compete::competition::Competition;
use compete::models::mlp::{Mlp, MlpConfig};
use compete::retrieval::io::{load_codes, load_codes_npy, load_labels_npy};
use compete::train::checkpoint::save_mlp;

mod common;
use common::{compete, text};

fn checkpoint(dir: &Path, name: &str, input: usize) -> String {
    let mlp = Mlp::new(MlpConfig::new(input, &[(48, Competition::Relu), (32, Competition::Lwta { block: 2 })], 10).unwrap(), 3).unwrap();
    save_mlp(&dir.join(name), &mlp, &[]).unwrap();
    name.to_string()
}

#[test]
fn retrieve_writes_the_report_figure_and_codes() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = checkpoint(dir.path(), "net.safetensors", 784);
    let o = compete(&["retrieve", &ckpt, "--data", "sample", "--k", "5,10,100", "--out", "out", "--save-codes"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("mAP@5") && out.contains("mAP@100") && out.contains("submasks") && out.contains("lsh"), "{out}");

    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("out/retrieval.json")).unwrap()).unwrap();
    let report = &json["report"];
    // The sample: 10000 training images (1000 kept for validation) and 2000 test images.
    assert_eq!((report["layer"].as_u64(), report["database"].as_u64(), report["queries"].as_u64()), (Some(1), Some(9000), Some(2000)));
    let codes = report["codes"].as_array().unwrap();
    assert_eq!(codes.len(), 2);
    for c in codes {
        assert_eq!(c["bits"], 32, "{c}");
        let maps = c["map"].as_array().unwrap();
        assert_eq!(maps.iter().map(|m| m["k"].as_u64().unwrap()).collect::<Vec<_>>(), vec![5, 10, 100]);
        for m in maps {
            let v = m["map"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{m}");
        }
        // Even an untrained network's codes retrieve better than chance (10 classes: 0.1) at k = 5.
        assert!(maps[0]["precision"].as_f64().unwrap() > 0.15, "{c}");
        assert_eq!(c["pr"]["points"].as_array().unwrap().len(), 33);
    }
    let csv = std::fs::read_to_string(dir.path().join("out/pr.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "code,radius,precision,recall");
    assert_eq!(lines.len(), 1 + 2 * 33);
    assert!(lines[1].starts_with("submasks,0,") && lines[34].starts_with("lsh,0,"));
    // At the largest radius everything is retrieved: recall 1.
    assert!(lines[33].starts_with("submasks,32,") && lines[33].ends_with(",1"), "{}", lines[33]);
    let png = std::fs::read(dir.path().join("out/pr.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));

    // The saved codes agree between formats and with the report's sizes.
    let codes_dir = dir.path().join("out/codes");
    for name in ["submasks", "lsh"] {
        let a = load_codes(&codes_dir.join(format!("{name}-queries.codes"))).unwrap();
        let b = load_codes_npy(&codes_dir.join(format!("{name}-queries.npy")), Some(32)).unwrap();
        assert_eq!(a, b);
        assert_eq!((a.len(), a.bits()), (2000, 32));
        assert_eq!(load_codes(&codes_dir.join(format!("{name}-database.codes"))).unwrap().len(), 9000);
    }
    assert_eq!(load_labels_npy(&codes_dir.join("labels-queries.npy")).unwrap().len(), 2000);
}

#[test]
fn retrieve_refuses_bad_input_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = checkpoint(dir.path(), "net.safetensors", 784);
    let narrow = checkpoint(dir.path(), "narrow.safetensors", 20);
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["retrieve", &ckpt, "--layer", "2"], vec!["layer", "2", "0 to 1"]),
        (vec!["retrieve", "missing.safetensors"], vec!["missing.safetensors"]),
        (vec!["retrieve", &narrow], vec!["narrow.safetensors", "784", "20"]),
        (vec!["retrieve", &ckpt, "--k", "0"], vec!["--k", "0"]),
        (vec!["retrieve", &ckpt, "--k", "9001"], vec!["--k", "9001", "9000"]),
    ];
    for (args, needles) in cases {
        let o = compete(&args, dir.path());
        let out = text(&o);
        assert!(!o.status.success(), "{args:?} succeeded: {out}");
        assert!(!out.contains("panicked"), "{args:?} panicked: {out}");
        for n in needles {
            assert!(out.contains(n), "{args:?}: {n:?} not in {out}");
        }
    }
    assert!(!dir.path().join("runs").exists(), "nothing is written on error");
}
