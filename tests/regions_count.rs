//! `compete regions count` on small networks: PyTorch-style safetensors files and `compete`
//! checkpoints, exact counts against the library, the sampled lower bound, and bad input.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{compete, text};
use compete::analysis::regions::{CountOptions, PwlNet, Slice2d, count_2d};
use compete::competition::Competition;
use compete::models::mlp::{Mlp, MlpConfig};
use compete::train::checkpoint::{save_mlp, save_tensors};

/// Writes an `nn.Sequential(Linear(2, 6), ReLU(), Linear(6, 5), ReLU(), Linear(5, 1))`-shaped file
/// with deterministic weights; `extra` adds more tensors.
fn torch_file(path: &Path, extra: &[(&str, Vec<usize>)]) {
    let mut tensors = Vec::new();
    let mut seed = 1u32;
    let mut next = || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        ((seed >> 8) % 2001) as f32 / 1000.0 - 1.0
    };
    for (idx, (i, o)) in [(0usize, (2usize, 6usize)), (2, (6, 5)), (4, (5, 1))] {
        tensors.push((format!("{idx}.weight"), vec![o, i], (0..o * i).map(|_| next()).collect::<Vec<f32>>()));
        tensors.push((format!("{idx}.bias"), vec![o], (0..o).map(|_| 0.3 * next()).collect()));
    }
    for (name, shape) in extra {
        tensors.push((name.to_string(), shape.clone(), vec![0.0; shape.iter().product()]));
    }
    save_tensors(path, &tensors, HashMap::new()).unwrap();
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn pytorch_sequential_box_count_matches_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("net.safetensors");
    torch_file(&f, &[]);
    let out = tmp.path().join("out");
    let o = compete(
        &[
            "regions",
            "count",
            f.to_str().unwrap(),
            "--competition",
            "relu",
            "--box",
            "-2,2,-2,2",
            "-o",
            out.to_str().unwrap(),
            "--resolution",
            "200",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let net = PwlNet::load(&f, Some(Competition::Relu)).unwrap();
    assert_eq!(net.describe(), "2-6(relu)-5(relu)-1");
    let slice = Slice2d::axes(vec![0.0, 0.0], 0, 1, [-2.0, 2.0], [-2.0, 2.0]).unwrap();
    let exact = count_2d(&net, &slice, &CountOptions::default()).unwrap();
    let s = summary(&out);
    assert_eq!(s["regions"].as_u64().unwrap() as usize, exact.len());
    assert!(exact.len() > 6, "{}", exact.len());
    assert!(text(&o).contains(&format!("{} regions", exact.len())));
    let lines = std::fs::read_to_string(out.join("regions.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), exact.len());
    assert!(lines.lines().next().unwrap().contains("\"vertices\""));
    let png = std::fs::read(out.join("regions.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");

    // The same net as a `compete`-style Sequential with a common prefix loads to the same network.
    let g = tmp.path().join("prefixed.safetensors");
    let (tensors, _) = compete::train::checkpoint::load_tensors(&f).unwrap();
    let renamed: Vec<_> = tensors.into_iter().map(|(k, (s, v))| (format!("net.{k}"), s, v)).collect();
    save_tensors(&g, &renamed, HashMap::new()).unwrap();
    assert_eq!(PwlNet::load(&g, Some(Competition::Relu)).unwrap(), net);
}

#[test]
fn segment_plane_and_sampled_counts_on_a_compete_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let mlp =
        Mlp::new(MlpConfig::new(4, &[(8, Competition::Maxout { rank: 2 }), (6, Competition::Lwta { block: 2 })], 3).unwrap(), 5).unwrap();
    let ck = tmp.path().join("ck.safetensors");
    save_mlp(&ck, &mlp, &[]).unwrap();
    let net = PwlNet::from_mlp(&mlp).unwrap();
    let pts = "0,0,0,0;1,0.5,-1,2;-1,1,0.5,0";
    let run = |args: &[&str], dir: &str| {
        let out = tmp.path().join(dir);
        let mut all = vec!["regions", "count", ck.to_str().unwrap(), "-o", out.to_str().unwrap()];
        all.extend_from_slice(args);
        let o = compete(&all, tmp.path());
        assert!(o.status.success(), "{}", text(&o));
        (summary(&out), text(&o))
    };
    let (s, _) = run(&["--points", pts, "--through", "0,1,2"], "plane");
    let p: Vec<Vec<f64>> = pts.split(';').map(|v| v.split(',').map(|x| x.parse().unwrap()).collect()).collect();
    let slice = Slice2d::through(&p[0], &p[1], &p[2], 0.0).unwrap();
    assert_eq!(s["regions"].as_u64().unwrap() as usize, count_2d(&net, &slice, &CountOptions::default()).unwrap().len());
    let (s, _) = run(&["--points", "0,0,0,0;1,0.5,-1,2", "--segment", "0,1"], "segment");
    let seg = compete::analysis::regions::Segment::new(p[0].clone(), p[1].clone()).unwrap();
    let want = compete::analysis::regions::count_1d(&net, &seg, &CountOptions::default()).unwrap().len();
    assert_eq!(s["regions"].as_u64().unwrap() as usize, want);
    let (s, t) = run(&["--patterns", "random:2000", "--range", "-2,2"], "random");
    let n = s["distinct_patterns"].as_u64().unwrap();
    assert!(n > 1 && n <= 2000, "{t}");
    assert!(t.contains("lower bound"));
}

#[test]
fn grid_compare_reports_the_grid_that_reaches_99_percent() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("net.safetensors");
    torch_file(&f, &[]);
    let out = tmp.path().join("out");
    let o = compete(
        &[
            "regions",
            "count",
            f.to_str().unwrap(),
            "--competition",
            "relu",
            "--box",
            "-2,2,-2,2",
            "--grid-compare",
            "-o",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let s = summary(&out);
    let rows = s["grid"].as_array().unwrap();
    let exact = s["regions"].as_u64().unwrap();
    for r in rows {
        assert!(r["distinct"].as_u64().unwrap() <= exact);
    }
    let last = rows.last().unwrap();
    assert!(last["fraction"].as_f64().unwrap() >= 0.99, "{}", text(&o));
    assert_eq!(s["grid_99"].as_u64(), last["resolution"].as_u64());
}

#[test]
fn bad_input_gets_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("net.safetensors");
    torch_file(&f, &[]);
    let fs = f.to_str().unwrap();
    let out = tmp.path().join("o");
    let os = out.to_str().unwrap();
    let err = |args: &[&str]| {
        let o = compete(args, tmp.path());
        assert!(!o.status.success(), "{args:?} should fail");
        text(&o)
    };
    let t = err(&["regions", "count", fs, "--box", "-1,1,-1,1", "-o", os]);
    assert!(t.contains("--competition") && t.contains("PyTorch"), "{t}");
    let t = err(&["regions", "count", fs, "--competition", "relu", "--box", "0,0,-1,1", "-o", os]);
    assert!(t.contains("box") && t.contains("positive area"), "{t}");
    let t = err(&["regions", "count", fs, "--competition", "relu", "--points", "0,0;1,1;2,2", "--through", "0,1,2", "-o", os]);
    assert!(t.contains("collinear"), "{t}");
    let t = err(&["regions", "count", fs, "--competition", "relu", "--points", "0,0,0;1,1,1;2,0,2", "--through", "0,1,2", "-o", os]);
    assert!(t.contains("3 values") && t.contains("input width"), "{t}");
    let t = err(&["regions", "count", fs, "--competition", "ksparse:2", "--box", "-1,1,-1,1", "-o", os]);
    assert!(t.contains("k-sparse"), "{t}");
    let t = err(&["regions", "count", fs, "--competition", "maxout:4", "--box", "-1,1,-1,1", "-o", os]);
    assert!(t.contains("maxout rank 4"), "{t}");

    let g = tmp.path().join("bn.safetensors");
    torch_file(&g, &[("1.running_mean", vec![6])]);
    let t = err(&["regions", "count", g.to_str().unwrap(), "--competition", "relu", "--box", "-1,1,-1,1", "-o", os]);
    assert!(t.contains("1.running_mean") && t.contains("nn.Linear"), "{t}");
    let h = tmp.path().join("conv.safetensors");
    save_tensors(
        &h,
        &[("0.weight".into(), vec![4, 1, 3, 3], vec![0.0; 36]), ("2.weight".into(), vec![2, 4], vec![0.0; 8])],
        HashMap::new(),
    )
    .unwrap();
    let t = err(&["regions", "count", h.to_str().unwrap(), "--competition", "relu", "--box", "-1,1,-1,1", "-o", os]);
    assert!(t.contains("0.weight") && t.contains("convolutions are not supported"), "{t}");
    let t = err(&[
        "regions",
        "count",
        fs,
        "--competition",
        "relu",
        "--points",
        "0,0;1,0;0,1",
        "--through",
        "0,1,2",
        "--box",
        "0,1,0,1",
        "-o",
        os,
    ]);
    assert!(t.contains("cannot be used with"), "{t}");
    let t = err(&["regions", "count", fs, "--competition", "relu", "-o", os]);
    assert!(t.contains("--through") && t.contains("--box"), "{t}");
}

/// Extreme flag values (tiny, huge, infinite) get an error naming the flag before any work: no
/// panic, nothing counted, no output folder.
#[test]
fn extreme_flag_values_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("net.safetensors");
    torch_file(&f, &[]);
    let fs = f.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["regions", "count", fs, "--competition", "relu", "-o", "out"];
        all.extend_from_slice(args);
        let o = compete(&all, tmp.path());
        let t = text(&o);
        assert!(!o.status.success(), "{args:?} succeeded: {t}");
        assert!(!t.contains("panicked"), "{args:?} panicked: {t}");
        assert!(!t.contains("regions after each hidden layer"), "{args:?} counted before failing: {t}");
        t
    };
    // Ranges rand's uniform sampling panics on: empty in f32, overflowing f32, infinite.
    for range in ["--range=0,1e-50", "--range=-3e38,3e38", "--range=-inf,inf", "--range=0,nan", "--range=1,1", "--range=0,1e39"] {
        let t = run(&["--patterns", "random:100", range]);
        assert!(t.contains("invalid --range") && t.contains("LO < HI"), "{range}: {t}");
    }
    for (args, want) in [
        (vec!["--box", "0,1,0,1", "--resolution", "0"], "--resolution = 0"),
        (vec!["--box", "0,1,0,1", "--resolution", "4294967295"], "--resolution = 4294967295"),
        (vec!["--box", "0,1,0,1", "--grid-compare", "--grid-max", "0"], "--grid-max = 0"),
        (vec!["--box", "0,1,0,1", "--grid-compare", "--grid-max", "18446744073709551615"], "--grid-max = 18446744073709551615"),
        (vec!["--points", "0,0;1,0;0,1", "--through", "0,1,2", "--margin", "inf"], "--margin = inf"),
        (vec!["--points", "0,0;1,0", "--segment", "0"], "--segment = [0]"),
        (vec!["--box", "0,1,0"], "--box = 3 values"),
        (vec!["--box", "0,1,0,1", "--tolerance", "0"], "tolerance = 0"),
    ] {
        let t = run(&args);
        assert!(t.contains(want), "{args:?}: {want:?} not in {t}");
    }
    assert!(!tmp.path().join("out").exists(), "no output folder before the flags are checked");
    // A box whose area overflows f64 used to be counted as one region.
    let t = run(&["--box=-1e200,1e200,-1e200,1e200"]);
    assert!(t.contains("finite in f64"), "{t}");
    // The distinct patterns of --patterns stop at --max-regions, however many points are asked for.
    let t = run(&["--patterns", "random:18446744073709551615", "--range=-5,5", "--max-regions", "3"]);
    assert!(t.contains("--max-regions = 3") && t.contains("distinct activation patterns"), "{t}");
    // An output folder that is a file.
    std::fs::write(tmp.path().join("file"), b"x").unwrap();
    let o = compete(&["regions", "count", fs, "--competition", "relu", "--box", "0,1,0,1", "-o", "file"], tmp.path());
    assert!(text(&o).contains("invalid -o/--out = file: expected a folder"), "{}", text(&o));
    // Tiny but valid: a range of subnormal width still samples.
    let o =
        compete(&["regions", "count", fs, "--competition", "relu", "--patterns", "random:50", "--range=0,1e-40", "-o", "tiny"], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(summary(&tmp.path().join("tiny"))["inputs"], 50);
}
