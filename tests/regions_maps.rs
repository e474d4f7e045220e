//! `compete regions maps` end to end on the shipped MNIST sample: a small trained ReLU network and a
//! PyTorch-style maxout file; the numbers it writes checked against forward passes of the library.

mod common;
use common::{compete, text};

use std::collections::HashMap;
use std::path::Path;

use compete::analysis::regions::PwlNet;
use compete::analysis::regions::linear_maps::unit_map;
use compete::competition::Competition;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(std::fs::read(path).unwrap()));
    let info = decoder.read_info().unwrap();
    let i = info.info();
    (i.width, i.height)
}

/// The first `n` training examples of the sample, as the command takes them.
fn sample_rows(n: usize) -> Vec<Vec<f64>> {
    let (train, _, _) = compete::data::load_split("sample", None, false).unwrap();
    (0..n).map(|i| train.row(i).iter().map(|&v| f64::from(v)).collect()).collect()
}

#[test]
fn maps_of_a_trained_relu_network() {
    let dir = tempfile::tempdir().unwrap();
    let train = ["--threads", "2", "train", "--data", "sample", "--hidden", "32,32", "--epochs", "1", "--out", "run"];
    let o = compete(&train, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let ckpt = "run/checkpoints/best.safetensors";
    let net = PwlNet::load(&dir.path().join(ckpt), None).unwrap();
    let rows = sample_rows(1500);

    // One unit of the second hidden layer.
    let o = compete(&["regions", "maps", ckpt, "--layer", "1", "--unit", "3", "--examples", "1500", "-o", "one"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("hidden layer 1") && out.contains("unit 3") && out.contains("positive on"), "{out}");
    let report = json(&dir.path().join("one/maps.json"));
    assert_eq!(report["examples"], 1500);
    let unit = &report["units"][0];
    assert_eq!(unit["unit"], 3);
    // The responses file holds the forward pass's pre-activations, the clusters cover the positive ones.
    let csv = std::fs::read_to_string(dir.path().join("one/unit-3-responses.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(lines.len(), 1500);
    let mut positive = 0;
    for (i, line) in lines.iter().enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let (v, a): (f64, f64) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        let t = net.forward(&rows[i]).unwrap();
        assert!((v - t.pre[1][3]).abs() < 1e-9 && (a - t.post[1][3]).abs() < 1e-9, "example {i}");
        assert_eq!(a > 0.0, !f[4].is_empty(), "a cluster exactly for the positive activations");
        positive += usize::from(a > 0.0);
    }
    assert!(positive > 0);
    assert_eq!(unit["positive"], positive);
    let sizes: Vec<u64> = unit["clusters"]["sizes"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(sizes.len(), 4);
    assert_eq!(sizes.iter().sum::<u64>() as usize, positive);
    assert!(unit["spread"].as_f64().unwrap() > 0.0);
    // The centre of a cluster is the mean of its examples' maps.
    let centre0: Vec<f64> = unit["clusters"]["centres"][0].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let members: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.ends_with(",0")).map(|(i, _)| i).collect();
    assert_eq!(members.len() as u64, sizes[0]);
    let mut mean = vec![0.0; 784];
    for &i in &members {
        for (m, u) in mean.iter_mut().zip(unit_map(&net, &rows[i], 1, 3).unwrap().u) {
            *m += u / members.len() as f64;
        }
    }
    assert!(mean.iter().zip(&centre0).all(|(a, b)| (a - b).abs() < 1e-9));
    // Identified inputs: the default target is the median positive activation to 2 digits, and a
    // forward pass of each point found gives it to 1e-9.
    let target = unit["target"].as_f64().unwrap();
    let found = unit["identified"].as_array().unwrap();
    assert_eq!(found.len(), 3);
    for f in found {
        assert_eq!(f["reached"], true, "{f}");
        let x: Vec<f64> = f["x"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let v = net.forward(&x).unwrap().pre[1][3];
        assert!((v - target).abs() <= 1e-9 * target.abs(), "{v} vs {target}");
        assert!(f["distance"].as_f64().unwrap() > 0.0);
    }
    // Figures: 4 centres of 28x28 at zoom 4 with 2-pixel gaps; 3 identified rows of 4 tiles.
    assert_eq!(png_size(&dir.path().join("one/centres.png")), (4 * 114 + 2, 114 + 2));
    assert_eq!(png_size(&dir.path().join("one/unit-3-identified.png")), (4 * 114 + 2, 3 * 114 + 2));

    // --pick: 8 random units scanned, the 2 with the largest spread kept; a given target.
    let args = ["regions", "maps", ckpt, "--layer", "1", "--pick", "8", "--keep", "2", "--k", "3", "--examples", "800"];
    let o = compete(&[&args[..], &["--target", "0.5", "--identify", "2", "--min-positive", "1", "-o", "pick"]].concat(), dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let report = json(&dir.path().join("pick/maps.json"));
    let scanned = report["scanned"].as_array().unwrap();
    assert_eq!(scanned.len(), 8);
    let mut spreads: Vec<f64> =
        scanned.iter().filter(|s| s["positive"].as_u64().unwrap() >= 1).map(|s| s["spread"].as_f64().unwrap()).collect();
    spreads.sort_by(|a, b| b.total_cmp(a));
    let kept = report["units"].as_array().unwrap();
    assert_eq!(kept.len(), 2);
    for (k, s) in kept.iter().zip(&spreads) {
        assert_eq!(k["spread"].as_f64().unwrap(), *s);
        assert_eq!(k["target"], 0.5);
        assert_eq!(k["clusters"]["k"], 3);
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("pick/candidates.csv")).unwrap().lines().count(), 9);

    // A first-layer unit has one linear map, its weight row: one cluster holds all its maps.
    let o = compete(&["regions", "maps", ckpt, "--layer", "0", "--unit", "5", "--examples", "500", "-o", "first"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let unit = &json(&dir.path().join("first/maps.json"))["units"][0];
    let sizes: Vec<u64> = unit["clusters"]["sizes"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(sizes[1..], [0, 0, 0]);
    assert_eq!(unit["spread"], 0.0);
    let centre: Vec<f64> = unit["clusters"]["centres"][0].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(net.hidden[0].affine.row(5).iter().zip(&centre).all(|(a, b)| (a - b).abs() < 1e-12));

    // The output layer (index 2) is a layer too.
    let o = compete(
        &["regions", "maps", ckpt, "--layer", "2", "--unit", "7", "--examples", "300", "--identify", "1", "-o", "logit"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("output layer"), "{}", text(&o));

    // Bad input names the flag.
    let bad = |args: &[&str], want: &[&str]| {
        let o = compete(&[&["regions", "maps", ckpt][..], args, &["-o", "bad"]].concat(), dir.path());
        let t = text(&o);
        assert!(!o.status.success() && want.iter().all(|w| t.contains(w)), "{args:?}: {t}");
    };
    bad(&["--layer", "3", "--unit", "0"], &["--layer = 3", "0 (closest to the input) to 1", "or 2 for the output layer"]);
    bad(&["--layer", "1", "--unit", "32"], &["--unit = 32", "0 to 31"]);
    bad(&["--layer", "1"], &["--unit", "--pick"]);
    bad(&["--pick", "40"], &["--pick = 40", "32 units"]);
    bad(&["--unit", "1", "--k", "0"], &["--k = 0"]);
    bad(&["--unit", "1", "--target", "nan"], &["--target"]);
    bad(&["--unit", "1", "--data", "synthetic:blobs,n=100,n_test=20,dim=5,classes=2,seed=1"], &["--data", "5 input features", "784"]);
    assert!(!dir.path().join("bad").exists());
}

#[test]
fn maps_of_a_pytorch_maxout_file() {
    let dir = tempfile::tempdir().unwrap();
    // nn.Sequential(Linear(784, 12), Maxout(2), Linear(6, 10)) saved without compete metadata.
    let mut state = 1u64;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) as f32 * 0.2
    };
    let tensors = vec![
        ("0.weight".to_string(), vec![12, 784], (0..12 * 784).map(|_| next()).collect::<Vec<f32>>()),
        ("0.bias".to_string(), vec![12], (0..12).map(|_| next()).collect()),
        ("2.weight".to_string(), vec![10, 6], (0..60).map(|_| next()).collect()),
        ("2.bias".to_string(), vec![10], (0..10).map(|_| next()).collect()),
    ];
    let file = dir.path().join("torch.safetensors");
    compete::train::checkpoint::save_tensors(&file, &tensors, HashMap::new()).unwrap();

    let o = compete(&["regions", "maps", "torch.safetensors", "--layer", "0", "--unit", "1", "-o", "m"], dir.path());
    assert!(!o.status.success() && text(&o).contains("--competition"), "{}", text(&o));
    let args = ["regions", "maps", "torch.safetensors", "--competition", "maxout:2", "--layer", "0", "--unit", "1", "--examples", "500"];
    let o = compete(&[&args[..], &["-o", "m"]].concat(), dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let report = json(&dir.path().join("m/maps.json"));
    assert_eq!(report["network"], "784-6(maxout:2)-10");
    // A first-layer maxout unit has two maps, the rows of its pieces: every non-empty cluster centre
    // is one of them.
    let net = PwlNet::load(&file, Some(Competition::Maxout { rank: 2 })).unwrap();
    let clusters = &report["units"][0]["clusters"];
    let sizes: Vec<u64> = clusters["sizes"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(sizes.iter().filter(|&&s| s > 0).count() <= 2, "{sizes:?}");
    for (c, &s) in sizes.iter().enumerate().filter(|(_, s)| **s > 0) {
        let centre: Vec<f64> = clusters["centres"][c].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let is_row = |piece: usize| net.hidden[0].affine.row(piece).iter().zip(&centre).all(|(a, b)| (a - b).abs() < 1e-9);
        assert!(is_row(2) || is_row(3), "cluster {c} of {s} maps");
    }
    for f in report["units"][0]["identified"].as_array().unwrap() {
        assert_eq!(f["reached"], true, "{f}");
    }
}

/// `--k`, `--identify` and the output folder are checked before any map is computed: a k beyond
/// the examples, pictures that cannot be drawn, a file as output folder.
#[test]
fn maps_flags_are_checked_before_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let tensors = vec![
        ("0.weight".to_string(), vec![12, 784], (0..12 * 784).map(|i| ((i * 37 % 101) as f32 - 50.0) / 500.0).collect::<Vec<f32>>()),
        ("0.bias".to_string(), vec![12], vec![0.01; 12]),
        ("2.weight".to_string(), vec![10, 6], (0..60).map(|i| (i % 7) as f32 / 10.0 - 0.3).collect()),
        ("2.bias".to_string(), vec![10], vec![0.0; 10]),
    ];
    compete::train::checkpoint::save_tensors(&dir.path().join("t.safetensors"), &tensors, HashMap::new()).unwrap();
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let base = ["regions", "maps", "t.safetensors", "--competition", "maxout:2", "--layer", "0", "--unit", "1"];
    for (args, want) in [
        (vec!["--k", "100000", "-o", "bad"], vec!["--k = 100000", "--examples = 10000"]),
        (vec!["--k", "600", "--examples", "500", "-o", "bad"], vec!["--k = 600", "--examples = 500"]),
        // 143 tiles of 28x28 at zoom 4 fit in the 16384-pixel picture, 144 do not.
        (vec!["--k", "144", "--examples", "500", "-o", "bad"], vec!["--k = 144", "at most 143", "centres.png"]),
        (
            vec!["--identify", "18446744073709551615", "--examples", "500", "-o", "bad"],
            vec!["--identify = 18446744073709551615", "at most 143"],
        ),
        (vec!["--zoom", "0", "-o", "bad"], vec!["--zoom = 0"]),
        (vec!["--target", "inf", "-o", "bad"], vec!["--target = inf"]),
        (vec!["--examples", "500", "-o", "file"], vec!["invalid -o/--out = file", "a folder"]),
    ] {
        let o = compete(&[&base[..], &args[..]].concat(), dir.path());
        let t = text(&o);
        assert!(!o.status.success(), "{args:?} succeeded: {t}");
        assert!(want.iter().all(|w| t.contains(w)), "{args:?}: {want:?} not in {t}");
        assert!(!t.contains("positive on"), "{args:?} worked before failing: {t}");
    }
    assert!(!dir.path().join("bad").exists(), "nothing written before the flags are checked");
    // At the limit it works.
    let o = compete(&[&base[..], &["--k", "143", "--examples", "500", "--identify", "0", "-o", "ok"]].concat(), dir.path());
    assert!(o.status.success(), "{}", text(&o));
}
