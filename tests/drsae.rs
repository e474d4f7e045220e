//! The DrSAE of paper D end to end on the shipped MNIST sample: one `kind = "phases"` file pretrains
//! on L^U and fine-tunes on L^U + L^S from the pretrained checkpoint, both phases resumable; the
//! fine-tuned checkpoint is a classifier that `compete eval` scores and paper A's tools (kNN on the
//! submasks of z^T, exact region counting on the unrolled encoder) take; a fine-tuning phase that
//! starts from another kind of checkpoint or another shape is refused.

mod common;

use std::path::Path;

use compete::models::drsae::{Drsae, DrsaeConfig};
use compete::models::mlp::{Mlp, MlpConfig};
use compete::models::{AnyModel, Model, checkpoint, load_any};

const PHASES: &str = r#"
kind = "phases"
name = "drsae-sample"
[data]
source = "sample"
l2_normalize = true
[model]
type = "drsae"
hidden = 64
steps = 4
[train]
batch_size = 50
optimizer = "sgd"
momentum = 0.9
momentum_start = 0.9
momentum_ramp_epochs = 0
lr_decay = 1.0
min_lr = 0.0
eval_test = false
[[phase]]
name = "pretrain"
model = { loss = "unsupervised" }
train = { epochs = 3, lr = 0.05 }
[[phase]]
name = "finetune"
model = { loss = "supervised" }
train = { epochs = 4, lr = 0.02 }
"#;

fn history(dir: &Path) -> Vec<serde_json::Value> {
    let p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("progress.json")).unwrap()).unwrap();
    p["history"].as_array().unwrap().clone()
}

#[test]
fn pretraining_then_fine_tuning_from_one_file_gives_a_resumable_classifier_that_paper_a_tools_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("phases.toml");
    std::fs::write(&file, PHASES).unwrap();
    let out = dir.path().join("run");
    let o = common::compete(&["run", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"], dir.path());
    assert!(o.status.success(), "{}", common::text(&o));

    // Pretraining lowers the sparse coding loss and logs what a sparse-coding user watches.
    let pre = history(&out.join("pretrain"));
    assert_eq!(pre.len(), 3);
    let score = |e: &serde_json::Value| e["score"].as_f64().unwrap();
    assert!(score(&pre[2]) < score(&pre[0]), "L^U {} -> {}", score(&pre[0]), score(&pre[2]));
    let metrics: Vec<String> = pre[0]["metrics"].as_array().unwrap().iter().map(|m| m[0].as_str().unwrap().to_string()).collect();
    for name in ["l0", "dead_units", "reconstruction_error", "reconstruction_t1", "reconstruction_t4"] {
        assert!(metrics.iter().any(|m| m == name), "{name} not in {metrics:?}");
    }

    // Fine-tuning starts from the pretrained parameters and classifies (chance: 900 of 1000).
    let fine = history(&out.join("finetune"));
    assert_eq!(fine.len(), 4);
    let errors = fine.iter().map(|e| score(e) as usize).min().unwrap();
    assert!(errors < 300, "{errors} validation errors of 1000 after fine-tuning");
    let ck = out.join("finetune/checkpoints/best.safetensors");
    let (model, _) = load_any(&ck).unwrap();
    let AnyModel::Drsae(net) = &model else { panic!("{}", model.kind()) };
    assert_eq!((net.config.hidden, net.config.steps, net.config.classes), (64, 4, 10));
    // The projections of section 2 hold after training.
    let n = net.config.hidden;
    for i in 0..n {
        let col: f32 = (0..net.config.input).map(|r| net.decoder.data[r * n + i].powi(2)).sum::<f32>().sqrt();
        assert!(col <= 1.0 + 1e-4, "decoder column {i} has norm {col}");
        let row: f32 = net.encoder.row(i).iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(row <= 1.25 / 4.0 + 1e-4, "encoder row {i} has norm {row}");
    }

    // Resuming a finished file retrains nothing.
    let before = std::fs::read(&ck).unwrap();
    let o = common::compete(&["run", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet", "--resume"], dir.path());
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(std::fs::read(&ck).unwrap(), before);
    assert_eq!(history(&out.join("finetune")).len(), 4);

    // compete eval, kNN on the submasks of z^T, and exact regions on the unrolled encoder.
    let cks = ck.to_str().unwrap();
    let o = common::compete(&["eval", cks, "--data", "sample", "--l2-normalize"], dir.path());
    assert!(o.status.success(), "{}", common::text(&o));
    let o = common::compete(&["knn", cks, "--data", "sample", "--l2-normalize", "--features", "submasks", "--k", "1,5"], dir.path());
    assert!(o.status.success() && common::text(&o).contains("submasks"), "{}", common::text(&o));
    let regions = dir.path().join("regions");
    let o = common::compete(
        &["regions", "count", cks, "--data", "sample", "--l2-normalize", "--segment", "0,1", "-o", regions.to_str().unwrap()],
        dir.path(),
    );
    assert!(o.status.success(), "{}", common::text(&o));
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(regions.join("summary.json")).unwrap()).unwrap();
    let count = summary["regions"].as_u64().or_else(|| summary["count"].as_u64()).unwrap_or(0);
    assert!(count >= 1, "{summary}");
}

#[test]
fn fine_tuning_from_another_kind_or_shape_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mlp = dir.path().join("mlp.safetensors");
    let m = Mlp::new(MlpConfig::new(784, &[(10, compete::competition::Competition::Relu)], 10).unwrap(), 1).unwrap();
    checkpoint::save(&mlp, &m, &[]).unwrap();
    let small = dir.path().join("small.safetensors");
    checkpoint::save(&small, &Drsae::init(&DrsaeConfig::new(784, 32, 4, 10).unwrap(), 1).unwrap(), &[]).unwrap();
    for (from, want) in [(&mlp, "\"mlp\""), (&small, "784-32^4-10")] {
        let text = format!(
            "name = \"ft\"\n[data]\nsource = \"sample\"\n[model]\ntype = \"drsae\"\nhidden = 64\nsteps = 4\nloss = \"supervised\"\n\
             [train]\nepochs = 1\ninit_from = \"{}\"\n",
            from.display()
        );
        let file = dir.path().join("ft.toml");
        std::fs::write(&file, text).unwrap();
        let o = common::compete(&["run", file.to_str().unwrap(), "--out", dir.path().join("ft").to_str().unwrap(), "--quiet"], dir.path());
        let t = common::text(&o);
        assert!(!o.status.success() && t.contains("train.init_from") && t.contains(want), "{want}: {t}");
    }
    // T = 0 and a bound that is not positive, from an experiment file.
    for (line, want) in [("steps = 0", "model.steps"), ("decoder_bound = -1.0", "model.decoder_bound")] {
        let file = dir.path().join("bad.toml");
        std::fs::write(
            &file,
            format!("name = \"bad\"\n[data]\nsource = \"sample\"\n[model]\ntype = \"drsae\"\n{line}\n[train]\nepochs = 1\n"),
        )
        .unwrap();
        let o = common::compete(&["run", file.to_str().unwrap(), "--out", dir.path().join("bad").to_str().unwrap(), "--quiet"], dir.path());
        let t = common::text(&o);
        assert!(!o.status.success() && t.contains(want), "{want}: {t}");
    }
}
