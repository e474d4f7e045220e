//! `compete regions bounds` end to end: the Markdown table, JSON, abbreviation and bad input.

mod common;
use common::{compete, text};

fn run(args: &[&str]) -> std::process::Output {
    let dir = std::env::temp_dir();
    compete(&[&["regions", "bounds"], args].concat(), &dir)
}

/// The table row whose first cell starts with `quantity`: its cells.
fn table_row(out: &str, quantity: &str) -> Vec<String> {
    let line = out.lines().find(|l| l.starts_with(&format!("| {quantity}"))).unwrap_or_else(|| panic!("no row {quantity} in\n{out}"));
    line.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect()
}

#[test]
fn table_for_two_layers_of_ten_against_twenty_units() {
    let o = run(&["--n0", "2", "--widths", "10,10"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.contains("| quantity | reference | value | log10 |"), "{out}");
    // Hand-computed: 1 + 20 + 190 = 211; 2^20; 5^2 (1 + 10 + 45) = 1400; 5 * 56 = 280.
    assert_eq!(
        table_row(&out, "shallow rectifier network, 20 units: maximum"),
        ["shallow rectifier network, 20 units: maximum", "section 2.2", "211", "2.324"]
    );
    assert_eq!(table_row(&out, "rectifier network, 20 units: upper bound")[2], "1048576");
    assert_eq!(table_row(&out, "deep rectifier network: Theorem 4")[1..], ["Theorem 4", "1400", "3.146"]);
    assert_eq!(table_row(&out, "deep rectifier network: eq. (7)")[2], "1400");
    assert_eq!(table_row(&out, "deep rectifier network: Pascanu")[1..3], ["Pascanu et al. 2013", "280"]);
    // 1400 / 140 parameters; 211 / 60.
    assert_eq!(table_row(&out, "deep rectifier network: eq. (7) regions per parameter")[2], "10.0000");
    assert_eq!(table_row(&out, "shallow rectifier network, 20 units: maximal regions per parameter")[2], "3.5166");
    assert!(!out.contains("--full"), "nothing was abbreviated: {out}");
    assert!(!out.contains("maxout"), "{out}");
}

#[test]
fn json_has_every_digit_and_the_maxout_rows() {
    let o = run(&["--n0", "784", "--widths", "1000,1000,1000", "--maxout", "3", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["n0"], 784);
    assert_eq!(report["hidden_units"], 3000);
    assert_eq!(report["shallow_units"], 3000);
    let rows = report["rows"].as_array().unwrap();
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("no row {id}"));
    // 2^3000 has 904 digits, all of them in the JSON.
    let upper = row("relu_upper")["value"].as_str().unwrap();
    assert_eq!(upper.len(), 904);
    assert!(upper.starts_with("1230231922161117176") && upper.ends_with("989376"), "{upper}");
    assert!((row("relu_upper")["log10"].as_f64().unwrap() - 903.089_986_991_943_5).abs() < 1e-9);
    // floor(1000/784) = 1 with remainder 216: Theorem 4 folds nothing, eq. (7) folds 2^216 per layer.
    let t4 = row("theorem4")["log10"].as_f64().unwrap();
    let e7 = row("eq7")["log10"].as_f64().unwrap();
    assert!((e7 - t4 - 432.0 * std::f64::consts::LOG10_2).abs() < 1e-6, "{t4} {e7}");
    assert!(row("eq7")["notes"].as_str().unwrap().contains("216,216"));
    // Maxout, rank 3 <= 2 n0: Theorem 8 = 3^{2 + 784}.
    let t8 = row("theorem8");
    assert_eq!(t8["reference"], "Theorem 8");
    assert!((t8["log10"].as_f64().unwrap() - 786.0 * 3f64.log10()).abs() < 1e-9);
    assert_eq!(t8["value"].as_str().unwrap().len(), (786.0 * 3f64.log10()).floor() as usize + 1);
    assert_eq!(row("maxout_deep_parameters")["value"], "8361000"); // (785 * 1000 + 1001 * 1000 * 2) * 3
    assert_eq!(report["caveats"].as_array().unwrap().len(), 1);
}

#[test]
fn big_values_are_abbreviated_unless_full() {
    let o = run(&["--n0", "2", "--widths", "100,100,100"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    // Theorem 4: 50^2 50^2 (1 + 100 + 4950) = 31568750000 (11 digits, in full); 2^300 abbreviated.
    assert_eq!(table_row(&out, "deep rectifier network: Theorem 4")[2], "31568750000");
    assert_eq!(table_row(&out, "rectifier network, 300 units: upper bound")[2], "2.0370e+90");
    assert!(out.contains("`--full` or `--json` gives all digits"), "{out}");

    let o = run(&["--n0", "2", "--widths", "100,100,100", "--full"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let full = &table_row(&out, "rectifier network, 300 units: upper bound")[2];
    assert_eq!(full.len(), 91);
    assert!(full.starts_with("2037035976334486086268445688409378161051468393665936250636140449354381299763336706183397376"), "{full}");
    assert!(!out.contains("abbreviated"), "{out}");
}

#[test]
fn maxout_table_with_the_theorem_8_caveat() {
    let o = run(&["--n0", "2", "--widths", "4,4", "--maxout", "4"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(table_row(&out, "deep rank-4 maxout network: Theorem 8")[1..3], ["Theorem 8", "64"]);
    assert_eq!(table_row(&out, "shallow rank-4 maxout network, 8 units: upper bound")[1..3], ["Proposition 7", "8257"]);
    assert_eq!(table_row(&out, "shallow rank-4 maxout network, 8 units: lower bound")[2], "16");
    assert!(out.contains("caveat: Theorem 8") && out.contains("k <= 2 n0"), "{out}");

    // Rank beyond 2 n0: the Theorem 8 row says the proof does not cover it.
    let o = run(&["--n0", "1", "--widths", "1,1", "--maxout", "3"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(table_row(&out, "deep rank-3 maxout network: Theorem 8")[2], "9");
    assert_eq!(table_row(&out, "deep rank-3 maxout network: folding")[2], "6");
    assert!(out.contains("NOT covered by the proof: k = 3 > 2 n0 = 2"), "{out}");
}

#[test]
fn narrow_layers_say_why_a_bound_is_missing() {
    let o = run(&["--n0", "2", "--widths", "10,1", "--shallow-units", "5"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(table_row(&out, "deep rectifier network: Theorem 4")[2..], ["n/a", ""]);
    assert!(out.contains("n/a: n_2 = 1 < n0 = 2"), "{out}");
    assert_eq!(table_row(&out, "shallow rectifier network, 5 units: maximum")[2], "16"); // 1 + 5 + 10
}

#[test]
fn bad_input_names_the_flag() {
    for (args, flag) in [
        (&["--n0", "0", "--widths", "3"][..], "--n0"),
        (&["--n0", "2", "--widths", ""][..], "--widths"),
        (&["--n0", "2"][..], "--widths"),
        (&["--n0", "2", "--widths", "3,0"][..], "--widths"),
        (&["--n0", "2", "--widths", "3", "--maxout", "1"][..], "--maxout"),
        (&["--n0", "2", "--widths", "3", "--shallow-units", "0"][..], "--shallow-units"),
        (&["--n0", "2", "--widths", "3,x"][..], "--widths"),
    ] {
        let o = run(args);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(text(&o).contains(flag), "{args:?}: {}", text(&o));
    }
}
