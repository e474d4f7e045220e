//! Convolutional networks end to end: training from the command line and from a file on image sets
//! of 28x28, 16x16 and 8x8 (the shape comes from the IDX file), resume, the analyses on their layers
//! (kNN on conv submasks, exact region counts), and the errors on bad input.

use std::path::Path;

mod common;
use common::{compete, text, write_bars};

fn metrics(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).unwrap()).unwrap()
}

#[test]
fn conv_nets_train_on_28_16_and_8_pixel_images() {
    for (side, layers) in [
        (28, "conv5x5:4:maxout:2,pool2,conv3x3:4,pool2,dense:16,10"),
        (16, "conv3x3:4,pool2,local3x3:4:lwta:2,dense:8:maxout:2,10"),
        (8, "conv3x3:6:lwta:2,pool2/s1,conv3x3/valid:4,10"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_bars(&dir.path().join("bars"), side, 400, 100);
        let o = compete(
            &[
                "--threads",
                "2",
                "train",
                "--data",
                "bars",
                "--layers",
                layers,
                "--epochs",
                "3",
                "--batch-size",
                "20",
                "--lr",
                "0.05",
                "--out",
                "run",
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{side}: {}", text(&o));
        let m = metrics(&dir.path().join("run"));
        let errors = m["outcome"]["test_errors"].as_u64().unwrap();
        assert!(errors < 40, "{side}x{side} {layers}: {errors} test errors of 100 (chance is 75)");
    }
}

#[test]
fn a_conv_run_from_a_file_resumes_and_its_layers_reach_every_analysis() {
    let dir = tempfile::tempdir().unwrap();
    write_bars(&dir.path().join("bars"), 12, 300, 80);
    std::fs::write(
        dir.path().join("exp.toml"),
        "name = \"c\"\n[data]\nsource = \"bars\"\n[model]\ntype = \"conv\"\nlayers = [\"conv3x3:4:maxout:2\", \"pool2\", \"conv3x3:3\", \"10\"]\n\
         [train]\nepochs = 2\nbatch_size = 20\nlr = 0.05\ndropout_hidden = 0.2\n[[train.rules]]\nparams = \"layers.0.weight\"\nmax_norm_rows = 1.0\n",
    )
    .unwrap();
    let o = compete(&["--threads", "1", "run", "exp.toml", "--out", "run"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1x12x12-conv3x3:4(maxout:2)-pool2-conv3x3:3(relu)-10"), "{}", text(&o));
    let o = compete(&["--threads", "1", "train", "--resume", "--out", "run", "--epochs", "3"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(metrics(&dir.path().join("run"))["history"].as_array().unwrap().len(), 3);

    // kNN on the submasks of the first convolutional layer: 4 units x 2 pieces x 12 x 12 bits.
    let ck = "run/checkpoints/best.safetensors";
    let o =
        compete(&["knn", ck, "--data", "bars", "--layer", "0", "--features", "submasks", "--weighting", "uniform", "--json"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let report = text(&o);
    assert!(report.contains("1152"), "the conv layer's submask has 8 x 12 x 12 bits: {report}");
    // Exact regions on the segment between two test images, trained and untrained.
    for extra in [&[][..], &["--untrained"][..]] {
        let out = format!("regions{}", extra.len());
        let o = compete(&[&["regions", "count", ck, "--data", "bars", "--segment", "0,1", "--out", &out][..], extra].concat(), dir.path());
        assert!(o.status.success(), "{}", text(&o));
        let s: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join(&out).join("summary.json")).unwrap()).unwrap();
        let regions = s["regions"].as_u64().unwrap();
        assert!(regions >= 1 && s["per_layer"].as_array().unwrap().last().unwrap().as_u64() == Some(regions), "{s}");
    }
}

#[test]
fn bad_conv_architectures_and_data_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_bars(&dir.path().join("bars"), 8, 100, 20);
    for (layers, want) in [
        ("conv9x9/valid:4,10", "kernel"),
        ("conv3x3:4,pool2", "last entry"),
        ("conv3x3:4,4", "10 classes"),
        ("conv3x3/s0:4,10", "stride of 0"),
        ("conv3x3:3:maxout:0,10", "maxout rank"),
        ("conv3x3:6,conv3x3:4:lwta:3,10", "lwta"),
        ("pool2,pool2,pool2,pool2,10", "max-pool kernel"),
    ] {
        let o = compete(&["train", "--data", "bars", "--layers", layers, "--epochs", "1", "--out", "run"], dir.path());
        assert!(!o.status.success() && text(&o).contains(want), "{layers}: {}", text(&o));
        assert!(!text(&o).contains("panicked"), "{}", text(&o));
    }
    // Data without an image shape cannot feed a conv net.
    let data = "synthetic:blobs,n=100,n_test=20,dim=8,classes=3,spread=0.3,seed=3";
    let o = compete(&["train", "--data", data, "--layers", "conv3x3:4,3", "--epochs", "1", "--out", "run"], dir.path());
    assert!(!o.status.success() && text(&o).contains("image"), "{}", text(&o));
    let o = compete(&["train", "--data", "bars", "--layers", "conv3x3:4,10", "--hidden", "10", "--out", "run"], dir.path());
    assert!(!o.status.success() && text(&o).contains("--hidden"), "{}", text(&o));
}
