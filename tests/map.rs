//! `compete map` end to end: a t-SNE map of the submasks of a small saved network on the MNIST sample.

use std::path::Path;

use compete::competition::Competition;
use compete::models::mlp::{Mlp, MlpConfig};
use compete::train::checkpoint::save_mlp;

mod common;
use common::{compete, text};

/// Checks the PNG signature and the image size in the IHDR chunk.
fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(bytes[..8], [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A], "{}", path.display());
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(width >= 800 && height >= 800, "{}: {width}x{height}", path.display());
}

#[test]
fn maps_a_tiny_checkpoint_and_refuses_a_missing_layer() {
    let dir = tempfile::tempdir().unwrap();
    let mlp = Mlp::new(MlpConfig::new(784, &[(32, Competition::Relu)], 10).unwrap(), 1).unwrap();
    save_mlp(&dir.path().join("tiny.safetensors"), &mlp, &[]).unwrap();

    let o = compete(
        &[
            "--threads",
            "2",
            "map",
            "tiny.safetensors",
            "--data",
            "sample",
            "--points",
            "200",
            "--iterations",
            "250",
            "--untrained",
            "--out",
            "m",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("784-32(relu)-10") && out.contains("200 of 2000 examples") && out.contains("untrained"), "{out}");
    assert_png(&dir.path().join("m/map.png"));
    assert_png(&dir.path().join("m/map-untrained.png"));
    let csv = std::fs::read_to_string(dir.path().join("m/map.csv")).unwrap();
    assert_eq!(csv.lines().count(), 201, "{csv}");
    assert!(csv.starts_with("index,label,x,y,untrained_x,untrained_y\n"));
    // A stratified subset of the 2000 test images (200 per class): 20 of each class.
    for class in 0..10 {
        let n = csv.lines().skip(1).filter(|l| l.split(',').nth(1) == Some(&class.to_string())).count();
        assert_eq!(n, 20, "class {class}");
    }

    let o = compete(&["map", "tiny.safetensors", "--data", "sample", "--points", "200", "--layer", "1", "--out", "bad"], dir.path());
    assert!(!o.status.success());
    let err = text(&o);
    assert!(err.contains("layer = 1") && err.contains("0 (nearest the input) to 0"), "{err}");
    assert!(!dir.path().join("bad/map.png").exists());

    let o = compete(&["map", "tiny.safetensors", "--data", "sample", "--points", "60", "--out", "bad"], dir.path());
    assert!(!o.status.success() && text(&o).contains("perplexity = 30"), "{}", text(&o));
}

/// The output folder is checked before the t-SNE runs: a file, or a path below a file, names
/// `--out` and says a folder was expected (it used to be "File exists" after the whole map).
#[test]
fn the_out_folder_is_checked_before_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let mlp = Mlp::new(MlpConfig::new(784, &[(8, Competition::Relu)], 10).unwrap(), 1).unwrap();
    save_mlp(&dir.path().join("tiny.safetensors"), &mlp, &[]).unwrap();
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    for (out, want) in [("file", "expected a folder, but this path is an existing file"), ("file/sub", "a folder that can be created")] {
        let o = compete(&["map", "tiny.safetensors", "--points", "100", "--perplexity", "5", "--out", out], dir.path());
        let t = text(&o);
        assert!(!o.status.success(), "{t}");
        assert!(t.contains(&format!("invalid --out = {out}")) && t.contains(want), "{out}: {t}");
        assert!(!t.contains("t-SNE"), "the map was computed first: {t}");
    }
}
