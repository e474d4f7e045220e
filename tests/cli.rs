//! The `compete` binary end to end: train, resume, eval, run, bench, and its errors on bad input.

use std::path::Path;

mod common;
use common::{compete, compete_within, text};

const DATA: &str = "synthetic:blobs,n=600,n_test=200,dim=8,classes=3,spread=0.3,seed=3";

#[test]
fn train_resume_and_eval_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let base =
        ["--threads", "1", "train", "--data", DATA, "--hidden", "12,12", "--competition", "maxout:2", "--batch-size", "20", "--out", "run"];
    let o = compete(&[&base[..], &["--epochs", "2", "--dropout-hidden", "0.2", "--max-norm", "2.0"]].concat(), dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("8-12(maxout:2)-12(maxout:2)-3") && out.contains("test "), "{out}");

    // Continue the same run to 3 epochs: the folder's own config.toml is used, with --epochs overriding it.
    let o = compete(&["--threads", "1", "train", "--resume", "--out", "run", "--epochs", "3"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let metrics: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("run/metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["history"].as_array().unwrap().len(), 3);
    assert_eq!(metrics["outcome"]["epochs"], 3);
    let config = std::fs::read_to_string(dir.path().join("run/config.toml")).unwrap();
    assert!(config.contains("maxout:2") && config.contains("max_norm = 2.0"), "{config}");

    let o = compete(&["eval", "run/checkpoints/best.safetensors", "--data", DATA, "--json"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["examples"], 200);
    assert_eq!(report["errors"], metrics["outcome"]["test_errors"], "eval agrees with the run's own report");
}

#[test]
fn run_an_experiment_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exp.toml");
    std::fs::write(
        &file,
        format!("kind = \"train\"\nname = \"tiny\"\n[data]\nsource = \"{DATA}\"\n[model]\nhidden = [10]\ncompetition = \"lwta:2\"\n[train]\nepochs = 2\nbatch_size = 25\n"),
    )
    .unwrap();
    let o = compete(&["run", "exp.toml"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(dir.path().join("runs/tiny/checkpoints/best.safetensors").exists());
    std::fs::write(&file, "kind = \"dance\"\n").unwrap();
    let o = compete(&["run", "exp.toml"], dir.path());
    assert!(!o.status.success() && text(&o).contains("exp.toml") && text(&o).contains("dance"), "{}", text(&o));
}

#[test]
fn bench_reports_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let o =
        compete(&["--threads", "1", "bench", "--hidden", "32", "--steps", "3", "--warmup", "1", "--epoch", "200", "--json"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let names: Vec<&str> = lines.iter().map(|l| l["competition"].as_str().unwrap()).collect();
    assert_eq!(names, ["relu", "lwta:2", "maxout:2"]);
    assert!(lines.iter().all(|l| l["median_ms"].as_f64().unwrap() > 0.0 && l["threads"] == 1));
}

#[test]
fn bench_layers_reports_json_lines_with_the_peers_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--threads",
        "1",
        "bench-layers",
        "--batch",
        "2",
        "--ops",
        "maxpool4s2_128,conv_maxout_mnist",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--json",
    ];
    let o = compete(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["output_shape"], serde_json::json!([2, 128, 13, 13]));
    assert_eq!(lines[1]["output_shape"], serde_json::json!([2, 10]), "a network's output is [n, classes], as PyTorch's logits");
    assert!(lines.iter().all(|l| l["median_ms"].as_f64().unwrap() > 0.0));
    let o = compete(&["bench-layers", "--ops", "conv9x9"], dir.path());
    assert!(!o.status.success() && text(&o).contains("--ops") && text(&o).contains("conv5x5_1to128"), "{}", text(&o));
}

#[test]
fn bench_hamming_reports_json_lines_and_writes_distances() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--threads",
        "1",
        "bench-hamming",
        "--database",
        "3000",
        "--queries",
        "40",
        "--bits",
        "100,256",
        "--k",
        "1,7",
        "--min-seconds",
        "0",
        "--json",
        "--write-distances",
        "d",
        "--codes-dir",
        "c",
    ];
    let o = compete(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "2 lengths x 2 k");
    assert!(lines.iter().all(|l| l["qps"].as_f64().unwrap() > 0.0), "{lines:?}");
    let files = std::fs::read_dir(dir.path().join("d")).unwrap().count();
    assert_eq!(files, 4);
    // A second run reads the same codes back and finds the same distances.
    let first: Vec<Vec<u8>> = sorted_files(&dir.path().join("d"));
    let o = compete(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(sorted_files(&dir.path().join("d")), first);
    let o = compete(&["bench-hamming", "--database", "10", "--queries", "2", "--bits", "64", "--k", "11"], dir.path());
    assert!(!o.status.success() && text(&o).contains("--k = 11"), "{}", text(&o));
}

fn sorted_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn bad_input_gets_a_clear_error_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    std::fs::write(dir.path().join("junk.safetensors"), b"not a checkpoint").unwrap();
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["train", "--data", "mnist:empty", "--epochs", "1"], vec!["train-images-idx3-ubyte"]),
        (vec!["train", "--data", DATA, "--hidden", "10", "--competition", "lwta:3", "--epochs", "1"], vec!["lwta block size", "3", "10"]),
        (vec!["train", "--data", DATA, "--hidden", "10", "--competition", "maxout:0"], vec!["maxout rank", "0"]),
        (vec!["train", "--data", DATA, "--dropout-hidden", "1.5"], vec!["dropout_hidden", "1.5", "[0, 1)"]),
        (vec!["train", "--data", DATA, "--validation", "600"], vec!["validation", "600"]),
        (vec!["train", "--resume", "--out", "nowhere"], vec!["nowhere", "config.toml"]),
        (vec!["eval", "junk.safetensors", "--data", DATA], vec!["junk.safetensors"]),
        (vec!["eval", "missing.safetensors"], vec!["missing.safetensors"]),
        (vec!["--threads", "0", "bench"], vec!["--threads", "0"]),
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
}

/// Sizes from flags that no machine's memory holds are refused with the bytes needed and the bytes
/// available, before anything is allocated (they used to abort: "memory allocation of N bytes
/// failed").
#[test]
fn huge_sizes_are_refused_with_the_memory_they_need() {
    let dir = tempfile::tempdir().unwrap();
    for (args, flag) in [
        (vec!["bench-hamming", "--bits", "10000000000"], "--bits 10000000000"),
        (vec!["bench-hamming", "--database", "100000000000"], "--database 100000000000"),
        (vec!["bench-hamming", "--queries", "18446744073709551615", "--bits", "64"], "--queries 18446744073709551615"),
        (vec!["regions", "construct", "--n0", "2", "--widths", "1000000,1000000", "-o", "c"], "--widths 1000000,1000000"),
        (vec!["regions", "construct", "--n0", "1", "--widths", "18446744073709551615", "-o", "c"], "--widths 18446744073709551615"),
    ] {
        let o = compete_within(&args, dir.path(), 60).unwrap_or_else(|| panic!("{args:?} still ran after 60 s"));
        let t = text(&o);
        assert!(!o.status.success(), "{args:?} succeeded: {t}");
        assert!(t.contains("not enough memory") && t.contains(flag) && t.contains("bytes") && t.contains("available"), "{args:?}: {t}");
    }
    assert!(!dir.path().join("c").exists(), "nothing is written before the check");
}

/// An output folder that is an existing file (or lies below one) is an error naming the flag, the
/// path and that a folder was expected, given before any work (it used to be "File exists", after
/// the work for some commands).
#[test]
fn an_existing_file_as_output_folder_names_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("afile"), b"x").unwrap();
    // A tiny network on 8 features for the commands that read one.
    let o = compete(&["--threads", "1", "train", "--data", DATA, "--hidden", "6", "--epochs", "1", "--quiet", "--out", "run"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let ck = "run/checkpoints/best.safetensors";
    std::fs::write(dir.path().join("exp.toml"), format!("kind = \"train\"\n[data]\nsource = \"{DATA}\"\n[train]\nepochs = 1\n")).unwrap();
    std::fs::write(dir.path().join("sin.toml"), "kind = \"sinusoid\"\n").unwrap();
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["train", "--data", DATA, "--epochs", "1", "--out", "afile"], "--out", "afile"),
        (vec!["train", "--resume", "--out", "afile"], "--out", "afile"),
        (vec!["run", "exp.toml", "--out", "afile"], "--out", "afile"),
        (vec!["run", "sin.toml", "--out", "afile"], "--out", "afile"),
        (vec!["run", "sin.toml", "--out", "afile/below"], "--out", "afile/below"),
        (vec!["map", ck, "--data", DATA, "--perplexity", "5", "--out", "afile"], "--out", "afile"),
        (vec!["map", ck, "--data", DATA, "--perplexity", "5", "--out", "afile/below"], "--out", "afile/below"),
        (vec!["retrieve", ck, "--data", DATA, "--k", "5", "--out", "afile"], "--out", "afile"),
        (vec!["demo", "--data", DATA, "--hidden", "4", "--epochs", "1", "--out", "afile"], "--out", "afile"),
        (vec!["regions", "count", ck, "--patterns", "random:10", "-o", "afile"], "-o/--out", "afile"),
        (vec!["regions", "construct", "--n0", "2", "--widths", "5,3", "-o", "afile"], "-o/--out", "afile"),
        (
            vec!["bench-hamming", "--database", "10", "--queries", "2", "--bits", "64", "--k", "1", "--codes-dir", "afile"],
            "--codes-dir",
            "afile",
        ),
        (
            vec!["bench-hamming", "--database", "10", "--queries", "2", "--bits", "64", "--k", "1", "--write-distances", "afile/d"],
            "--write-distances",
            "afile/d",
        ),
    ];
    for (args, flag, path) in cases {
        let o = compete(&args, dir.path());
        let t = text(&o);
        assert!(!o.status.success(), "{args:?} succeeded: {t}");
        assert!(t.contains(&format!("invalid {flag} = {path}")) && t.contains("folder"), "{args:?}: {t}");
        assert!(!t.contains("File exists") && !t.contains("t-SNE") && !t.contains("epoch"), "{args:?} worked before failing: {t}");
    }
    assert_eq!(std::fs::read(dir.path().join("afile")).unwrap(), b"x");
}

/// Extreme values of global and benchmark flags.
#[test]
fn extreme_thread_counts_and_tiny_test_splits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A hundred thousand threads used to take minutes to start (or never to).
    let args = ["--threads", "100000", "bench-hamming", "--database", "100", "--queries", "2", "--bits", "64", "--k", "1"];
    let o = compete_within(&args, dir.path(), 60).expect("--threads 100000 answers within 60 s");
    assert!(!o.status.success() && text(&o).contains("--threads = 100000") && text(&o).contains("1024"), "{}", text(&o));
    // The demo counts regions between test images 0 and 1: a test split of one is refused first
    // (it used to panic after training the first network).
    let data = "synthetic:blobs,n=100,n_test=1,dim=4,classes=2";
    let o = compete(&["demo", "--data", data, "--hidden", "4", "--epochs", "1", "--out", "d"], dir.path());
    let t = text(&o);
    assert!(!o.status.success() && !t.contains("panicked"), "{t}");
    assert!(t.contains("--data") && t.contains("at least 2 examples") && !t.contains("epoch"), "{t}");
}
