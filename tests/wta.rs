//! Winner-take-all autoencoders end to end (paper B): FC-WTA and CONV-WTA runs from experiment
//! files, their stacks, their dictionaries as pictures, and the errors on bad settings.

use std::path::Path;

use compete::models::{AnyModel, load_any};

mod common;
use common::{compete, text, write_bars};

fn history(run: &Path) -> Vec<f64> {
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("metrics.json")).unwrap()).unwrap();
    m["history"].as_array().unwrap().iter().map(|r| r["score"].as_f64().unwrap()).collect()
}

fn run_file(dir: &Path, name: &str, model: &str, train: &str) -> std::process::Output {
    let file = format!("{name}.toml");
    std::fs::write(dir.join(&file), format!("name = \"{name}\"\n[data]\nsource = \"bars\"\n[model]\n{model}\n[train]\n{train}\n")).unwrap();
    compete(&["--threads", "2", "run", &file, "--out", name], dir)
}

#[test]
fn fc_wta_trains_draws_its_dictionary_and_stacks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_bars(&d.join("bars"), 12, 400, 40);
    let train = "epochs = 3\nbatch_size = 20\noptimizer = \"adam\"\nlr = 0.003";
    let o = run_file(d, "one", "type = \"fc-wta\"\nhidden = [40]\nsparsity = 0.1", train);
    assert!(o.status.success(), "{}", text(&o));
    let h = history(&d.join("one"));
    assert!(h[2] < h[0], "the reconstruction error did not fall: {h:?}");
    assert!(d.join("one/dictionary.png").exists());
    let (AnyModel::FcWta(base), meta) = load_any(&d.join("one/checkpoints/best.safetensors")).unwrap() else {
        panic!("not an fc-wta checkpoint")
    };
    assert_eq!(meta["kind"], "fc-wta");
    // A second layer at a lower rate on the fixed features of the first: one model of two layers.
    let o = run_file(d, "two", "type = \"fc-wta\"\nhidden = [20]\nsparsity = 0.05\nstack_on = \"one/checkpoints/best.safetensors\"", train);
    assert!(o.status.success(), "{}", text(&o));
    let (AnyModel::FcWta(st), _) = load_any(&d.join("two/checkpoints/best.safetensors")).unwrap() else {
        panic!("not an fc-wta checkpoint")
    };
    assert_eq!(st.config.hidden, [40, 20]);
    assert_eq!(st.encoder[0], base.encoder[0], "the frozen layer changed");
    assert!(!d.join("two/dictionary.png").exists(), "a stack's atoms are not images");
    // Stacking on a checkpoint of another kind, or one that is missing, is refused by name.
    let o = run_file(d, "mlp", "type = \"mlp\"\nhidden = [8]", "epochs = 1\nbatch_size = 20");
    assert!(o.status.success(), "{}", text(&o));
    for (path, what) in [("mlp/checkpoints/best.safetensors", "\"mlp\""), ("nowhere.safetensors", "nowhere")] {
        let o = run_file(d, "bad", &format!("type = \"fc-wta\"\nhidden = [8]\nstack_on = \"{path}\""), train);
        assert!(!o.status.success());
        assert!(text(&o).contains("model.stack_on") || text(&o).contains(what), "{}", text(&o));
        assert!(text(&o).contains(what), "{}", text(&o));
    }
}

#[test]
fn conv_wta_trains_and_draws_filters_and_sparse_maps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_bars(&d.join("bars"), 12, 200, 20);
    let model = "type = \"conv-wta\"\nmaps = [4, 6]\nkernel = 3\ndecoder_kernel = 5\nsparsity = 0.5\npool = 2\npool_stride = 2";
    let o = run_file(d, "cw", model, "epochs = 2\nbatch_size = 20\noptimizer = \"adam\"\nlr = 0.003");
    assert!(o.status.success(), "{}", text(&o));
    assert!(d.join("cw/dictionary.png").exists());
    let h = history(&d.join("cw"));
    assert!(h[1] < h[0], "{h:?}");
    let o = compete(&["dictionary", "cw/checkpoints/best.safetensors", "--data", "bars", "--example", "3", "-o", "pics"], d);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("energy share inside the best 3x3 window"), "{}", text(&o));
    for f in ["dictionary.png", "dictionary.txt", "maps-sparse.png", "maps-relu.png"] {
        assert!(d.join("pics").join(f).exists(), "{f} missing: {}", text(&o));
    }
    let o =
        compete(&["dictionary", "cw/checkpoints/best.safetensors", "--data", "bars", "--max-atoms", "3", "--zoom", "2", "-o", "few"], d);
    assert!(o.status.success(), "{}", text(&o));
    // 3 tiles of 5x5 at zoom 2 with 2-pixel gaps, 2 per row: (2 * (10 + 2) + 2) pixels wide.
    let png = std::fs::read(d.join("few/dictionary.png")).unwrap();
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 26, "width of the 3-atom picture");
    let o = compete(&["dictionary", "cw/checkpoints/best.safetensors", "--data", "bars", "--zoom", "0"], d);
    assert!(!o.status.success() && text(&o).contains("--zoom"), "{}", text(&o));
    let o = compete(&["dictionary", "cw/checkpoints/best.safetensors", "--data", "bars", "--example", "99"], d);
    assert!(!o.status.success() && text(&o).contains("--example"), "{}", text(&o));
}

#[test]
fn bad_wta_settings_are_refused_with_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_bars(&d.join("bars"), 12, 60, 20);
    for (model, train, expect) in [
        ("type = \"fc-wta\"\nsparsity = 0.0", "epochs = 1", "model.sparsity"),
        ("type = \"fc-wta\"\nsparsity = 1.5", "epochs = 1", "model.sparsity"),
        ("type = \"fc-wta\"\nhidden = [10]\nsparsity = 0.01", "epochs = 1\nbatch_size = 20", "batch_size = 20"),
        ("type = \"conv-wta\"\nmaps = [2]\nkernel = 3\ndecoder_kernel = 10", "epochs = 1", "model.decoder_kernel"),
        ("type = \"conv-wta\"\nmaps = [2]\nkernel = 3\npool = 20", "epochs = 1", "model.pool"),
        ("type = \"conv-wta\"\nmaps = [2]\nkernel = 3", "epochs = 1\ndropout_hidden = 0.5", "dropout"),
    ] {
        let o = run_file(d, "bad", model, train);
        assert!(!o.status.success(), "{model} was accepted");
        assert!(text(&o).contains(expect), "{model}: {}", text(&o));
    }
}
