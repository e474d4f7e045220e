//! Tests of the row-wise competitions of [`super::Competition`].

use super::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `backward` of `c` for a given `grad_out`, after a forward pass on `z`.
fn grad_pre(c: Competition, z: &[f32], rows: usize, grad_out: &[f32]) -> Vec<f32> {
    let (_, winners) = c.apply(z, rows).unwrap();
    let mut gp = vec![f32::NAN; z.len()];
    c.backward(grad_out, &winners, rows, &mut gp).unwrap();
    gp
}

fn param_name(e: &Error) -> &str {
    match e {
        Error::Param { name, .. } => name,
        other => panic!("expected a parameter error, got {other}"),
    }
}

// ---- ReLU ----

#[test]
fn relu_forward_and_winners() {
    let z = [1.5, -2.0, 0.0, 3.0, -0.5, 0.25];
    let (out, winners) = Competition::Relu.apply(&z, 2).unwrap();
    assert_eq!(out, vec![1.5, 0.0, 0.0, 3.0, 0.0, 0.25]);
    // z == 0 exactly has not won.
    assert_eq!(winners, vec![true, false, false, true, false, true]);
}

#[test]
fn relu_backward_masks_the_gradient() {
    let z = [1.5, -2.0, 0.0, 3.0, -0.5, 0.25];
    let g = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    assert_eq!(grad_pre(Competition::Relu, &z, 2, &g), vec![1.0, 0.0, 0.0, 4.0, 0.0, 6.0]);
}

// ---- LWTA ----

#[test]
fn lwta_forward_blocks_of_two_and_three() {
    let c = Competition::Lwta { block: 2 };
    let z = [1.0, 3.0, -2.0, -5.0, 0.5, 0.5];
    let (out, winners) = c.apply(&z, 1).unwrap();
    // The winner of an all-negative block passes its negative value; the tie 0.5 = 0.5 goes to the first.
    assert_eq!(out, vec![0.0, 3.0, -2.0, 0.0, 0.5, 0.0]);
    assert_eq!(winners, vec![false, true, true, false, true, false]);

    let c = Competition::Lwta { block: 3 };
    let z = [1.0, 4.0, 2.0, -1.0, -3.0, -1.0, /* row 2 */ 7.0, 7.0, 7.0, 0.0, 9.0, 8.0];
    let (out, winners) = c.apply(&z, 2).unwrap();
    assert_eq!(out, vec![0.0, 4.0, 0.0, -1.0, 0.0, 0.0, 7.0, 0.0, 0.0, 0.0, 9.0, 0.0]);
    assert_eq!(winners, vec![false, true, false, true, false, false, true, false, false, false, true, false]);
}

#[test]
fn lwta_backward_masks_the_gradient() {
    let c = Competition::Lwta { block: 3 };
    let z = [1.0, 4.0, 2.0, -1.0, -3.0, -1.0];
    let g = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    assert_eq!(grad_pre(c, &z, 1, &g), vec![0.0, 2.0, 0.0, 4.0, 0.0, 0.0]);
}

// ---- Maxout ----

#[test]
fn maxout_forward_shrinks_the_width_by_the_rank() {
    let c = Competition::Maxout { rank: 3 };
    // 2 rows of 6 pre-activations -> 2 rows of 2 units.
    let z = [1.0, 4.0, 2.0, -1.0, -3.0, -1.0, /* row 2 */ 7.0, 7.0, 7.0, 0.0, 9.0, 8.0];
    let (out, winners) = c.apply(&z, 2).unwrap();
    assert_eq!(out.len(), z.len() / 3);
    assert_eq!(out, vec![4.0, -1.0, 7.0, 9.0]);
    // Ties (-1 = -1, 7 = 7 = 7) go to the first piece.
    assert_eq!(winners, vec![false, true, false, true, false, false, true, false, false, false, true, false]);
    assert_eq!(c.pieces(), 3);
    assert_eq!(c.pre_width(2).unwrap(), 6);
}

#[test]
fn maxout_rank_one_is_linear() {
    let c = Competition::Maxout { rank: 1 };
    let z = [-1.0, 0.0, 2.0];
    let (out, winners) = c.apply(&z, 1).unwrap();
    assert_eq!(out, z.to_vec());
    assert_eq!(winners, vec![true; 3]);
}

#[test]
fn maxout_backward_sends_each_unit_gradient_to_its_winning_piece() {
    let c = Competition::Maxout { rank: 3 };
    let z = [1.0, 4.0, 2.0, -1.0, -3.0, -1.0, /* row 2 */ 7.0, 7.0, 7.0, 0.0, 9.0, 8.0];
    let g = [10.0, 20.0, 30.0, 40.0];
    assert_eq!(grad_pre(c, &z, 2, &g), vec![0.0, 10.0, 0.0, 20.0, 0.0, 0.0, 30.0, 0.0, 0.0, 0.0, 40.0, 0.0]);
}

// ---- Abs ----

#[test]
fn abs_forward_and_winners() {
    let z = [-2.0, 0.0, 3.0, -0.5];
    let (out, winners) = Competition::Abs.apply(&z, 2).unwrap();
    assert_eq!(out, vec![2.0, 0.0, 3.0, 0.5]);
    assert_eq!(winners, vec![false, true, true, false]);
}

#[test]
fn abs_backward_uses_the_sign_of_the_piece() {
    let z = [-2.0, 0.0, 3.0, -0.5];
    let g = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(grad_pre(Competition::Abs, &z, 2, &g), vec![-1.0, 2.0, 3.0, -4.0]);
}

// ---- k-sparse ----

#[test]
fn ksparse_keeps_the_k_largest_per_row() {
    let c = Competition::KSparse { k: 2 };
    let z = [0.5, -1.0, 3.0, 2.0, /* row 2 */ -4.0, -1.0, -2.0, -3.0];
    let (out, winners) = c.apply(&z, 2).unwrap();
    // Row 2 is all negative: its two largest still pass (k-sparse has no ReLU).
    assert_eq!(out, vec![0.0, 0.0, 3.0, 2.0, 0.0, -1.0, -2.0, 0.0]);
    assert_eq!(winners, vec![false, false, true, true, false, true, true, false]);
}

#[test]
fn ksparse_ties_go_to_the_lowest_index() {
    let c = Competition::KSparse { k: 2 };
    let (out, winners) = c.apply(&[1.0, 5.0, 1.0, 1.0], 1).unwrap();
    assert_eq!(out, vec![1.0, 5.0, 0.0, 0.0]);
    assert_eq!(winners, vec![true, true, false, false]);
    let c = Competition::KSparse { k: 3 };
    let (out, winners) = c.apply(&[2.0, 2.0, 2.0, 2.0, 2.0], 1).unwrap();
    assert_eq!(out, vec![2.0, 2.0, 2.0, 0.0, 0.0]);
    assert_eq!(winners, vec![true, true, true, false, false]);
}

#[test]
fn ksparse_k_equal_to_width_keeps_everything() {
    let c = Competition::KSparse { k: 3 };
    let z = [-1.0, 0.0, 2.0];
    let (out, winners) = c.apply(&z, 1).unwrap();
    assert_eq!(out, z.to_vec());
    assert_eq!(winners, vec![true; 3]);
}

#[test]
fn ksparse_backward_masks_the_gradient() {
    let c = Competition::KSparse { k: 2 };
    let z = [0.5, -1.0, 3.0, 2.0, /* row 2 */ -4.0, -1.0, -2.0, -3.0];
    let g = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
    assert_eq!(grad_pre(c, &z, 2, &g), vec![0.0, 0.0, 3.0, 4.0, 0.0, 6.0, 7.0, 0.0]);
}

#[test]
fn ksparse_agrees_with_a_stable_sort_on_wide_rows_with_ties() {
    // Widths below and above the 1024-unit stack buffer.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (width, k) in [(10, 3), (1000, 50), (1500, 700)] {
        let rows = 3;
        let z: Vec<f32> = (0..rows * width).map(|_| rng.random_range(-8i32..8) as f32).collect();
        let (out, winners) = Competition::KSparse { k }.apply(&z, rows).unwrap();
        for r in 0..rows {
            let zr = &z[r * width..(r + 1) * width];
            let mut order: Vec<usize> = (0..width).collect();
            order.sort_by(|&a, &b| zr[b].total_cmp(&zr[a]));
            let mut expected = vec![false; width];
            for &i in &order[..k] {
                expected[i] = true;
            }
            assert_eq!(&winners[r * width..(r + 1) * width], &expected[..], "width {width}, row {r}");
            for i in 0..width {
                assert_eq!(out[r * width + i], if expected[i] { zr[i] } else { 0.0 });
            }
        }
    }
}

// ---- Parameters and buffers ----

#[test]
fn invalid_parameters_are_refused_by_name() {
    let e = Competition::Lwta { block: 1 }.pre_width(4).unwrap_err();
    assert_eq!(param_name(&e), "lwta block size");
    let e = Competition::Lwta { block: 0 }.pre_width(4).unwrap_err();
    assert_eq!(param_name(&e), "lwta block size");
    let e = Competition::Lwta { block: 3 }.pre_width(4).unwrap_err();
    assert_eq!(param_name(&e), "lwta block size");
    assert!(e.to_string().contains("divisor of the layer width 4"), "{e}");
    let e = Competition::Maxout { rank: 0 }.pre_width(4).unwrap_err();
    assert_eq!(param_name(&e), "maxout rank");
    let e = Competition::Maxout { rank: usize::MAX }.pre_width(4).unwrap_err();
    assert_eq!(param_name(&e), "maxout rank");
    let e = Competition::KSparse { k: 0 }.pre_width(4).unwrap_err();
    assert_eq!(param_name(&e), "k-sparse k");
    let e = Competition::KSparse { k: 5 }.pre_width(4).unwrap_err();
    assert_eq!(param_name(&e), "k-sparse k");
    assert_eq!(Competition::KSparse { k: 4 }.pre_width(4).unwrap(), 4);
    assert_eq!(Competition::Relu.pre_width(7).unwrap(), 7);
    assert_eq!(Competition::Abs.pre_width(7).unwrap(), 7);
}

#[test]
fn forward_refuses_parameters_that_do_not_fit_the_width() {
    let z = [1.0; 8];
    for (c, name) in [
        (Competition::Lwta { block: 1 }, "lwta block size"),
        (Competition::Lwta { block: 3 }, "lwta block size"),
        (Competition::KSparse { k: 0 }, "k-sparse k"),
        (Competition::KSparse { k: 5 }, "k-sparse k"),
        (Competition::Maxout { rank: 0 }, "maxout rank"),
    ] {
        // Two rows of 4: none of these fits (and none panics).
        let e = c.apply(&z, 2).unwrap_err();
        assert_eq!(param_name(&e), name, "{c:?}");
    }
    // Maxout rank 0 in the backward pass is refused too, not a panic.
    let mut gp = [0.0; 2];
    let e = Competition::Maxout { rank: 0 }.backward(&[], &[false; 2], 1, &mut gp).unwrap_err();
    assert_eq!(param_name(&e), "maxout rank");
}

#[test]
fn buffers_of_the_wrong_length_are_refused() {
    let z = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let relu = Competition::Relu;
    let mut out = [0.0; 6];
    let mut w = [false; 6];
    assert!(matches!(relu.forward(&z, 0, &mut out, &mut w), Err(Error::Shape { .. })));
    assert!(matches!(relu.forward(&z, 4, &mut out, &mut w), Err(Error::Shape { .. })));
    assert!(matches!(relu.forward(&z, 2, &mut out[..5], &mut w), Err(Error::Shape { .. })));
    assert!(matches!(relu.forward(&z, 2, &mut out, &mut w[..5]), Err(Error::Shape { .. })));
    let maxout = Competition::Maxout { rank: 2 };
    // out must be z / rank.
    assert!(matches!(maxout.forward(&z, 1, &mut out, &mut w), Err(Error::Shape { .. })));
    // Two rows of 3 cannot hold rank-2 units, although 6 is even: a unit would straddle two rows.
    let e = maxout.forward(&z, 2, &mut out[..3], &mut w).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    assert!(maxout.forward(&z, 1, &mut out[..3], &mut w).is_ok());
    // Backward: grad_out must be winners / pieces, grad_pre as long as winners.
    let mut gp = [0.0; 6];
    assert!(matches!(relu.backward(&z[..5], &w, 2, &mut gp), Err(Error::Shape { .. })));
    assert!(matches!(relu.backward(&z, &w, 2, &mut gp[..4]), Err(Error::Shape { .. })));
    assert!(matches!(relu.backward(&z, &w, 4, &mut gp), Err(Error::Shape { .. })));
    assert!(matches!(maxout.backward(&z, &w, 1, &mut gp), Err(Error::Shape { .. })));
    assert!(maxout.backward(&z[..3], &w, 1, &mut gp).is_ok());
}

// ---- Parsing ----

#[test]
fn parses_the_competitions() {
    assert_eq!("relu".parse::<Competition>().unwrap(), Competition::Relu);
    assert_eq!("abs".parse::<Competition>().unwrap(), Competition::Abs);
    assert_eq!("lwta:2".parse::<Competition>().unwrap(), Competition::Lwta { block: 2 });
    assert_eq!("maxout:3".parse::<Competition>().unwrap(), Competition::Maxout { rank: 3 });
    assert_eq!("ksparse:5".parse::<Competition>().unwrap(), Competition::KSparse { k: 5 });
    assert_eq!("k-sparse:5".parse::<Competition>().unwrap(), Competition::KSparse { k: 5 });
    assert_eq!(" LWTA : 4 ".parse::<Competition>().unwrap(), Competition::Lwta { block: 4 });
    assert_eq!("maxout:1".parse::<Competition>().unwrap(), Competition::Maxout { rank: 1 });
}

#[test]
fn parse_errors_name_the_parameter() {
    for (s, name, value) in [
        ("lwta", "competition", "lwta"),
        ("lwta:x", "lwta block", "x"),
        ("lwta:1", "lwta block size", "1"),
        ("maxout:0", "maxout rank", "0"),
        ("maxout:-1", "maxout rank", "-1"),
        ("ksparse:0", "k-sparse k", "0"),
        ("foo", "competition", "foo"),
        ("relu:2", "competition", "relu:2"),
        ("", "competition", ""),
    ] {
        let e = s.parse::<Competition>().unwrap_err();
        match &e {
            Error::Param { name: n, value: v, .. } => {
                assert_eq!((n.as_str(), v.as_str()), (name, value), "parsing {s:?}: {e}");
            }
            other => panic!("parsing {s:?}: expected a parameter error, got {other}"),
        }
    }
    let msg = "lwta".parse::<Competition>().unwrap_err().to_string();
    assert!(msg.contains("lwta:<block>"), "{msg}");
    let msg = "foo".parse::<Competition>().unwrap_err().to_string();
    assert!(msg.contains("relu") && msg.contains("maxout:<rank>"), "{msg}");
}

#[test]
fn display_round_trips_through_parse_and_serde() {
    for c in [
        Competition::Relu,
        Competition::Abs,
        Competition::Lwta { block: 4 },
        Competition::Maxout { rank: 3 },
        Competition::KSparse { k: 25 },
    ] {
        assert_eq!(c.to_string().parse::<Competition>().unwrap(), c);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, format!("\"{c}\""));
        assert_eq!(serde_json::from_str::<Competition>(&json).unwrap(), c);
    }
    assert!(serde_json::from_str::<Competition>("\"maxout:0\"").is_err());
}

// ---- Finite differences ----

/// Random rows whose values are distinct multiples of 0.1 shifted by 0.05: no ties, no zeros, and
/// every gap at least 0.1, so a step of 1e-3 never changes a winner.
fn distinct_inputs(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..n).map(|i| (i as f32 - n as f32 / 2.0) * 0.1 + 0.05).collect();
    v.shuffle(rng);
    v
}

#[test]
fn gradients_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let rows = 3;
    let width = 12;
    for c in [
        Competition::Relu,
        Competition::Abs,
        Competition::Lwta { block: 3 },
        Competition::Lwta { block: 4 },
        Competition::Maxout { rank: 2 },
        Competition::Maxout { rank: 3 },
        Competition::KSparse { k: 5 },
    ] {
        let z = distinct_inputs(&mut rng, rows * width);
        let out_len = z.len() / c.pieces();
        let g: Vec<f32> = (0..out_len).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let analytic = grad_pre(c, &z, rows, &g);
        let loss = |z: &[f32]| -> f64 {
            let (out, _) = c.apply(z, rows).unwrap();
            out.iter().zip(&g).map(|(&o, &gi)| f64::from(o) * f64::from(gi)).sum()
        };
        let h = 1e-3f32;
        let mut zp = z.clone();
        let mut nonzero = 0;
        for i in 0..z.len() {
            zp[i] = z[i] + h;
            let lp = loss(&zp);
            zp[i] = z[i] - h;
            let lm = loss(&zp);
            zp[i] = z[i];
            // The exact step (z ± h rounded to f32) is what moved the loss.
            let step = f64::from(z[i] + h) - f64::from(z[i] - h);
            let numeric = (lp - lm) / step;
            let a = f64::from(analytic[i]);
            assert!((numeric - a).abs() < 1e-3, "{c}: input {i}: numeric {numeric}, analytic {a}");
            if a != 0.0 {
                nonzero += 1;
            }
        }
        // Each competition passes gradient to some inputs and (except abs) blocks it at others.
        assert!(nonzero > 0, "{c}");
        if c != Competition::Abs {
            assert!(nonzero < z.len(), "{c}");
        }
    }
}
