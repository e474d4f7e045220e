//! `compete run` on a `kind = "sinusoid"` file (paper E, Figure 1), next to a `kind = "train"` file.

mod common;

use common::{compete, text};

#[test]
fn run_dispatches_sinusoid_and_train_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sine.toml"),
        "kind = \"sinusoid\"\nname = \"sine\"\nseeds = 2\nshallow = [6]\ndeep = [3, 3]\n\
         [data]\nn = 300\nperiods = 1.0\n[train]\nepochs = 3\nbatch_size = 100\n[figure]\nsize = 200\nregion_pictures = false\n",
    )
    .unwrap();
    let o = compete(&["--threads", "1", "run", "sine.toml"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("shallow 2-6-2: best ") && out.contains("deep 2-3-3-2: best ") && out.contains("paper: 123 vs 24"), "{out}");
    let run = dir.path().join("runs/sine");
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap();
    for arch in ["shallow", "deep"] {
        assert_eq!(results[arch]["runs"].as_array().unwrap().len(), 2);
        assert!(results[arch]["regions"].as_u64().unwrap() > 0);
        assert!(run.join(format!("{arch}.safetensors")).exists());
    }
    assert_eq!(results["data"]["n"], 300);
    assert!(run.join("sinusoid.png").exists() && !run.join("regions-deep.png").exists());

    // --data means nothing to a sinusoid file; a field of the other kind is refused.
    let o = compete(&["run", "sine.toml", "--data", "sample", "--out", "x"], dir.path());
    assert!(!o.status.success() && text(&o).contains("--data"), "{}", text(&o));
    std::fs::write(dir.path().join("bad.toml"), "kind = \"sinusoid\"\n[model]\nhidden = [3]\n").unwrap();
    let o = compete(&["run", "bad.toml"], dir.path());
    assert!(!o.status.success() && text(&o).contains("bad.toml") && text(&o).contains("model"), "{}", text(&o));

    // A training file (no kind: "train") on the same generator still runs.
    std::fs::write(
        dir.path().join("train.toml"),
        "name = \"t\"\n[data]\nsource = \"synthetic:sinusoid,n=200,n_test=50\"\nvalidation = 50\n[model]\nhidden = [8]\n[train]\nepochs = 2\nbatch_size = 50\n",
    )
    .unwrap();
    let o = compete(&["--threads", "1", "run", "train.toml"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("2-8(relu)-2") && dir.path().join("runs/t/checkpoints/best.safetensors").exists(), "{}", text(&o));
}
