//! `compete regions construct`: the proofs' networks, saved, reloaded and counted against eq. (7).

mod common;

use common::{compete, text};

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn rectifier_construction_counts_eq7_and_reloads_as_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fold");
    let o =
        compete(&["regions", "construct", "--n0", "2", "--widths", "5,3", "-o", out.to_str().unwrap(), "--resolution", "200"], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let r = json(&out.join("construct.json"));
    // eq. (7): groups of 2 and 3 fold the two coordinates: 6 cells of 1 + 3 + 3 regions.
    assert_eq!(r["expected"], "42");
    assert_eq!(r["exact"], 42);
    assert!(text(&o).contains("42 (equal)"), "{}", text(&o));
    // Theorem 4 drops the remainder unit: 2 * 2 * 7.
    assert_eq!(r["theorem"][1], "28");
    // The saved network is an ordinary checkpoint: `regions count` finds the same 42 regions.
    let ck = out.join("network.safetensors");
    let cnt = tmp.path().join("count");
    let o = compete(
        &["regions", "count", ck.to_str().unwrap(), "--box", "0,1,0,1", "-o", cnt.to_str().unwrap(), "--resolution", "100"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json(&cnt.join("summary.json"))["regions"], 42);

    let one = tmp.path().join("one");
    let o = compete(&["regions", "construct", "--n0", "1", "--widths", "3,3,4", "-o", one.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json(&one.join("construct.json"))["exact"], 45);
}

#[test]
fn maxout_construction_reaches_its_formula_and_theorem_8() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m");
    let o = compete(
        &[
            "regions",
            "construct",
            "--kind",
            "maxout",
            "--n0",
            "2",
            "--layers",
            "2",
            "--rank",
            "3",
            "-o",
            out.to_str().unwrap(),
            "--resolution",
            "100",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let r = json(&out.join("construct.json"));
    // 2^(2 * 1) * 3^2 = 36 >= Theorem 8's 3 * 3^2 = 27.
    assert_eq!(r["exact"], 36);
    assert_eq!(r["theorem"][1], "27");
}

#[test]
fn bad_construction_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    let o = compete(&["regions", "construct", "--n0", "3", "--widths", "4,2", "-o", "x"], tmp.path());
    assert!(!o.status.success());
    assert!(text(&o).contains("--widths") && text(&o).contains("n0 = 3"), "{}", text(&o));
    let o = compete(&["regions", "construct", "--n0", "2", "-o", "x"], tmp.path());
    assert!(!o.status.success());
    assert!(text(&o).contains("--widths"), "{}", text(&o));
    let o = compete(&["regions", "construct", "--kind", "maxout", "--n0", "2", "--layers", "2", "-o", "x"], tmp.path());
    assert!(text(&o).contains("--rank"), "{}", text(&o));
}
