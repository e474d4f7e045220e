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

/// `--max-regions` guards `construct` as it guards `count`: a construction whose formula promises
/// more regions is refused at once, before anything is built or written (the 26-million-region
/// maxout network used to be counted for minutes).
#[test]
fn max_regions_is_checked_before_building() {
    let tmp = tempfile::tempdir().unwrap();
    let args = ["regions", "construct", "--kind", "maxout", "--n0", "2", "--layers", "10", "--rank", "10", "-o", "big"];
    let o = common::compete_within(&args, tmp.path(), 60).expect("refused within 60 s");
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("invalid --max-regions = 5000000") && t.contains("26214400"), "{t}");
    assert!(!tmp.path().join("big").exists(), "nothing built or written");
    // 2^(2 * 2) * 3^2 = 144 regions: refused below, counted at the limit.
    let small = ["regions", "construct", "--kind", "maxout", "--n0", "2", "--layers", "3", "--rank", "3", "--resolution", "100"];
    let o = compete(&[&small[..], &["--max-regions", "143", "-o", "s"]].concat(), tmp.path());
    assert!(!o.status.success() && text(&o).contains("--max-regions = 143") && text(&o).contains("144"), "{}", text(&o));
    let o = compete(&[&small[..], &["--max-regions", "144", "-o", "s"]].concat(), tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json(&tmp.path().join("s/construct.json"))["exact"], 144);
    // Huge and zero values name their flag.
    for (extra, want) in [
        (vec!["--layers", "18446744073709551615", "--rank", "2"], "--layers = 18446744073709551615"),
        (vec!["--layers", "2", "--rank", "18446744073709551615"], "--rank = 18446744073709551615"),
        (vec!["--layers", "2", "--rank", "2", "--max-regions", "0"], "--max-regions = 0"),
        (vec!["--layers", "2", "--rank", "2", "--resolution", "0"], "--resolution = 0"),
    ] {
        let args = [&["regions", "construct", "--kind", "maxout", "--n0", "2", "-o", "x"][..], &extra[..]].concat();
        let o = compete(&args, tmp.path());
        assert!(!o.status.success() && text(&o).contains(want), "{extra:?}: {}", text(&o));
    }
    assert!(!tmp.path().join("x").exists());
}
