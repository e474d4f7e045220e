//! A stop request (what Ctrl-C in a notebook sends to `compete.train`) ends a run at its next step
//! with an error naming the epoch and the checkpoint, and the run resumes from its last finished
//! epoch to the same end as an uninterrupted run.
//!
//! Its own test binary: the request is process-wide, and would stop other tests' runs.

use compete::Error;
use compete::data::synthetic;
use compete::train::checkpoint::load_mlp;
use compete::train::config::Experiment;
use compete::train::{RunOptions, interrupt, train_mlp};

#[test]
fn a_stop_request_interrupts_between_steps_and_the_run_resumes() {
    let all = synthetic::blobs(600, 8, 3, 0.4, 1).unwrap();
    let (train, val) = all.split_last(100).unwrap();
    let mut exp = Experiment { name: "stop".into(), ..Default::default() };
    exp.model.mlp_mut().unwrap().hidden = vec![16];
    exp.train.epochs = 3;
    exp.train.batch_size = 50;
    let quiet = RunOptions { resume: false, quiet: true };

    let whole = tempfile::tempdir().unwrap();
    let reference = train_mlp(&exp, &train, &val, None, whole.path(), &quiet).unwrap();

    // Two epochs, then a request: the third stops before its first step.
    let dir = tempfile::tempdir().unwrap();
    let mut two = exp.clone();
    two.train.epochs = 2;
    train_mlp(&two, &train, &val, None, dir.path(), &quiet).unwrap();
    interrupt::request();
    let err = train_mlp(&exp, &train, &val, None, dir.path(), &RunOptions { resume: true, quiet: true }).unwrap_err();
    interrupt::clear();
    match &err {
        Error::Interrupted { epoch: 3, step: 1, checkpoint: Some(p) } => assert!(p.ends_with("checkpoints/last.safetensors")),
        other => panic!("expected an interruption at epoch 3, step 1, got {other:?}"),
    }
    assert!(err.to_string().contains("resume to continue"), "{err}");

    let resumed = train_mlp(&exp, &train, &val, None, dir.path(), &RunOptions { resume: true, quiet: true }).unwrap();
    assert_eq!((resumed.epochs, resumed.val_errors), (reference.epochs, reference.val_errors));
    let weights = |d: &std::path::Path| {
        let mlp = load_mlp(&d.join("checkpoints/last.safetensors")).unwrap();
        mlp.layers.into_iter().flat_map(|l| l.weight.data).collect::<Vec<f32>>()
    };
    assert_eq!(weights(dir.path()), weights(whole.path()), "the resumed run ends where the whole run ends");
}
