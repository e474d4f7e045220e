//! Tests of [`super::Competition`]: the row-wise passes, the shaped contract and the rules.

use super::*;
use super::{Mode, PAR_ROWS, Read, Select, Shape};
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

// ---- The new competitions: parsing ----

#[test]
fn parses_and_displays_the_batch_and_map_competitions() {
    assert_eq!("std-abs".parse::<Competition>().unwrap(), Competition::StdAbs);
    assert_eq!("lifetime:0.05".parse::<Competition>().unwrap(), Competition::Lifetime { rate: 0.05 });
    assert_eq!("spatial".parse::<Competition>().unwrap(), Competition::Spatial);
    assert_eq!("spatial-lifetime:0.05".parse::<Competition>().unwrap(), Competition::SpatialLifetime { rate: 0.05 });
    assert_eq!("lifetime:1".parse::<Competition>().unwrap(), Competition::Lifetime { rate: 1.0 });
    for c in [
        Competition::StdAbs,
        Competition::Lifetime { rate: 0.05 },
        Competition::Lifetime { rate: 0.3 },
        Competition::Spatial,
        Competition::SpatialLifetime { rate: 0.05 },
        Competition::SpatialLifetime { rate: 1.0 },
    ] {
        assert_eq!(c.to_string().parse::<Competition>().unwrap(), c, "{c}");
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, format!("\"{c}\""));
        assert_eq!(serde_json::from_str::<Competition>(&json).unwrap(), c);
    }
    assert_eq!(Competition::Lifetime { rate: 0.05 }.to_string(), "lifetime:0.05");
    assert_eq!(Competition::SpatialLifetime { rate: 0.05 }.to_string(), "spatial-lifetime:0.05");
    assert!(serde_json::from_str::<Competition>("\"lifetime:0\"").is_err());
}

#[test]
fn rate_parse_errors_name_the_parameter_value_and_range() {
    for (s, name, value) in [
        ("lifetime:0", "lifetime sparsity rate", "0"),
        ("lifetime:1.5", "lifetime sparsity rate", "1.5"),
        ("lifetime:-0.1", "lifetime sparsity rate", "-0.1"),
        ("lifetime:x", "lifetime sparsity rate", "x"),
        ("lifetime:NaN", "lifetime sparsity rate", "NaN"),
        ("spatial-lifetime:0", "spatial-lifetime sparsity rate", "0"),
        ("spatial-lifetime:2", "spatial-lifetime sparsity rate", "2"),
        ("lifetime", "competition", "lifetime"),
        ("spatial:2", "competition", "spatial:2"),
        ("std-abs:1", "competition", "std-abs:1"),
    ] {
        let e = s.parse::<Competition>().unwrap_err();
        match &e {
            Error::Param { name: n, value: v, .. } => assert_eq!((n.as_str(), v.as_str()), (name, value), "parsing {s:?}: {e}"),
            other => panic!("parsing {s:?}: expected a parameter error, got {other}"),
        }
        if name.ends_with("rate") {
            assert!(e.to_string().contains("(0, 1]"), "{e}");
        }
    }
    let msg = "lifetime".parse::<Competition>().unwrap_err().to_string();
    assert!(msg.contains("lifetime:<rate>"), "{msg}");
    let msg = "foo".parse::<Competition>().unwrap_err().to_string();
    assert!(msg.contains("std-abs") && msg.contains("spatial-lifetime:<rate>"), "{msg}");
}

// ---- The contract: flags, shapes, refusals ----

#[test]
fn flags_modes_and_output_shapes() {
    let lifetime = Competition::Lifetime { rate: 0.1 };
    let sl = Competition::SpatialLifetime { rate: 0.1 };
    for c in [Competition::Relu, Competition::Abs, Competition::Lwta { block: 2 }, Competition::Maxout { rank: 2 }] {
        assert!(!c.batch_coupled() && c.pwl().is_some() && c.in_mode(Mode::Eval) == c, "{c}");
    }
    for c in [Competition::KSparse { k: 2 }, Competition::StdAbs, Competition::Spatial] {
        assert!(!c.batch_coupled() && c.pwl().is_none(), "{c}");
    }
    assert!(lifetime.batch_coupled() && sl.batch_coupled());
    assert!(lifetime.pwl().is_none() && sl.pwl().is_none());
    for c in [lifetime, sl, Competition::Spatial] {
        assert_eq!(c.in_mode(Mode::Eval), Competition::Relu, "{c}");
        assert_eq!(c.in_mode(Mode::Train), c, "{c}");
    }
    assert_eq!(Competition::KSparse { k: 2 }.in_mode(Mode::Eval), Competition::KSparse { k: 2 });
    assert!(Competition::StdAbs.backward_needs_input() && !Competition::Relu.backward_needs_input());

    let rows = Shape::Rows { width: 12 };
    let maps = Shape::Maps { channels: 6, height: 2, width: 3 };
    assert_eq!(maps.size(), 36);
    assert_eq!(Competition::Maxout { rank: 3 }.output_shape(rows).unwrap(), Shape::Rows { width: 4 });
    assert_eq!(Competition::Maxout { rank: 3 }.output_shape(maps).unwrap(), Shape::Maps { channels: 2, height: 2, width: 3 });
    assert_eq!(Competition::Maxout { rank: 2 }.output_width(maps).unwrap(), 18);
    for c in [Competition::Relu, Competition::Lwta { block: 3 }, Competition::StdAbs, lifetime, Competition::KSparse { k: 36 }] {
        assert_eq!(c.output_shape(maps).unwrap(), maps, "{c}");
    }
    assert_eq!(Competition::Spatial.output_shape(maps).unwrap(), maps);
    assert_eq!(sl.output_width(maps).unwrap(), 36);
}

#[test]
fn shapes_that_do_not_fit_are_refused_by_name() {
    let maps = Shape::Maps { channels: 6, height: 2, width: 3 };
    let rows = Shape::Rows { width: 12 };
    // Spatial competitions need maps, on every row-wise entry point.
    for c in [Competition::Spatial, Competition::SpatialLifetime { rate: 0.5 }] {
        let e = c.output_shape(rows).unwrap_err();
        assert!(e.to_string().contains("feature maps"), "{e}");
        assert!(c.pre_width(12).is_err());
        assert!(c.apply(&[1.0; 12], 1).is_err());
    }
    let e = Competition::Lwta { block: 4 }.output_shape(maps).unwrap_err();
    assert_eq!(param_name(&e), "lwta block size");
    assert!(e.to_string().contains("6 channels"), "{e}");
    assert_eq!(param_name(&Competition::Maxout { rank: 4 }.output_shape(maps).unwrap_err()), "maxout rank");
    assert_eq!(param_name(&Competition::KSparse { k: 37 }.output_shape(maps).unwrap_err()), "k-sparse k");
    for c in [Competition::Lifetime { rate: 0.0 }, Competition::SpatialLifetime { rate: 1.5 }] {
        assert_eq!(param_name(&c.output_shape(maps).unwrap_err()), "lifetime sparsity rate", "{c}");
    }
    assert_eq!(param_name(&Competition::Lifetime { rate: f32::NAN }.pre_width(4).unwrap_err()), "lifetime sparsity rate");
    let empty = Shape::Maps { channels: 2, height: 0, width: 3 };
    assert!(matches!(Competition::Relu.output_shape(empty), Err(Error::Shape { .. })));
    let huge = Shape::Maps { channels: usize::MAX, height: 2, width: 2 };
    assert!(matches!(Competition::Relu.output_shape(huge), Err(Error::Shape { .. })));
    // Buffers: z, out and winners must fit the batch.
    let c = Competition::Maxout { rank: 2 };
    let z = vec![1.0; 72];
    let (mut out, mut w) = (vec![0.0; 36], vec![false; 72]);
    assert!(c.forward_shaped(&z, 2, maps, Mode::Train, &mut out, &mut w).is_ok());
    assert!(matches!(c.forward_shaped(&z, 2, maps, Mode::Train, &mut out[..35], &mut w), Err(Error::Shape { .. })));
    assert!(matches!(c.forward_shaped(&z, 3, maps, Mode::Train, &mut out, &mut w), Err(Error::Shape { .. })));
    assert!(matches!(c.forward_shaped(&z, 0, maps, Mode::Train, &mut out, &mut w), Err(Error::Shape { .. })));
    assert!(matches!(c.forward_par(&z, 2, maps, Mode::Train, &mut out, &mut w[..70]), Err(Error::Shape { .. })));
    let mut gp = vec![0.0; 72];
    assert!(c.backward_shaped(&z, &out, &w, 2, maps, Mode::Train, &mut gp).is_ok());
    assert!(matches!(c.backward_shaped(&z, &out, &w, 2, maps, Mode::Train, &mut gp[..71]), Err(Error::Shape { .. })));
    assert!(matches!(c.backward_shaped(&z[..70], &out, &w, 2, maps, Mode::Train, &mut gp), Err(Error::Shape { .. })));
    assert!(matches!(c.backward_par(&z, &out[..30], &w, 2, maps, Mode::Train, &mut gp), Err(Error::Shape { .. })));
    // The row-wise backward has no input: std-abs is refused there, by name.
    let e = Competition::StdAbs.backward(&[1.0; 4], &[true; 4], 1, &mut [0.0; 4]).unwrap_err();
    assert!(e.to_string().contains("backward_shaped"), "{e}");
}

// ---- Shaped forward on rows is the row-wise forward and the module functions ----

/// Random values in [-2, 2) with some exact ties and zeros.
fn random_z(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| match rng.random_range(0..10) {
            0 => 0.0,
            1 => 1.0,
            _ => rng.random_range(-2.0f32..2.0),
        })
        .collect()
}

#[test]
fn shaped_forward_on_rows_equals_the_row_wise_forward() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let (batch, width) = (7, 12);
    let rows = Shape::Rows { width };
    for c in [
        Competition::Relu,
        Competition::Abs,
        Competition::Lwta { block: 2 },
        Competition::Lwta { block: 3 },
        Competition::Maxout { rank: 1 },
        Competition::Maxout { rank: 2 },
        Competition::Maxout { rank: 4 },
        Competition::KSparse { k: 5 },
        Competition::StdAbs,
        Competition::Lifetime { rate: 0.3 },
    ] {
        let z = random_z(&mut rng, batch * width);
        let old = c.apply(&z, batch).unwrap();
        let shaped = c.apply_shaped(&z, batch, rows, Mode::Train).unwrap();
        assert_eq!(shaped, old, "{c}");
        // And the module functions for the competitions that have their own.
        match c {
            Competition::StdAbs => assert_eq!(shaped, std_abs::apply(&z, batch).unwrap()),
            Competition::Lifetime { rate } => assert_eq!(shaped, lifetime::apply(&z, batch, rate).unwrap()),
            _ => {}
        }
        // Every competition but std-abs is a mask (or pool) of the gradient through its winners,
        // identical through both backward entry points.
        let g: Vec<f32> = (0..old.0.len()).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let mut shaped_grad = vec![f32::NAN; z.len()];
        c.backward_shaped(&z, &g, &old.1, batch, rows, Mode::Train, &mut shaped_grad).unwrap();
        if c != Competition::StdAbs {
            let mut old_grad = vec![f32::NAN; z.len()];
            c.backward(&g, &old.1, batch, &mut old_grad).unwrap();
            assert_eq!(shaped_grad, old_grad, "{c}");
        } else {
            let mut want = vec![f32::NAN; z.len()];
            std_abs::backward(&z, &g, batch, &mut want).unwrap();
            assert_eq!(shaped_grad, want);
        }
    }
}

// ---- Maps ----

/// Channel-wise LWTA or maxout written out with explicit NCHW indices, as a plain loop.
fn channel_blocks_by_hand(z: &[f32], [n, c, h, w]: [usize; 4], k: usize, pool: bool) -> (Vec<f32>, Vec<bool>) {
    let oc = if pool { c / k } else { c };
    let mut out = vec![0.0; n * oc * h * w];
    let mut winners = vec![false; z.len()];
    let at = |b: usize, ch: usize, y: usize, x: usize, chans: usize| ((b * chans + ch) * h + y) * w + x;
    for b in 0..n {
        for y in 0..h {
            for x in 0..w {
                for g in 0..c / k {
                    let mut best = g * k;
                    for ch in g * k + 1..(g + 1) * k {
                        if z[at(b, ch, y, x, c)] > z[at(b, best, y, x, c)] {
                            best = ch;
                        }
                    }
                    winners[at(b, best, y, x, c)] = true;
                    if pool {
                        out[at(b, g, y, x, oc)] = z[at(b, best, y, x, c)];
                    } else {
                        out[at(b, best, y, x, c)] = z[at(b, best, y, x, c)];
                    }
                }
            }
        }
    }
    (out, winners)
}

#[test]
fn lwta_and_maxout_on_maps_compete_across_channels() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let dims = [3, 6, 2, 3];
    let maps = Shape::Maps { channels: 6, height: 2, width: 3 };
    for _ in 0..5 {
        let z = random_z(&mut rng, 3 * 36);
        for k in [2, 3, 6] {
            let got = Competition::Maxout { rank: k }.apply_shaped(&z, 3, maps, Mode::Train).unwrap();
            assert_eq!(got, channel_blocks_by_hand(&z, dims, k, true), "maxout:{k}");
            let got = Competition::Lwta { block: k }.apply_shaped(&z, 3, maps, Mode::Train).unwrap();
            assert_eq!(got, channel_blocks_by_hand(&z, dims, k, false), "lwta:{k}");
        }
    }
    // Spelled out: 1 example, 2 channels of 1 x 3; channel 1 beats channel 0 at positions 1 and 2.
    let z = [1.0, -1.0, 0.0, 0.5, 2.0, 0.5];
    let one = Shape::Maps { channels: 2, height: 1, width: 3 };
    let (out, winners) = Competition::Maxout { rank: 2 }.apply_shaped(&z, 1, one, Mode::Train).unwrap();
    assert_eq!(out, vec![1.0, 2.0, 0.5]);
    assert_eq!(winners, vec![true, false, false, false, true, true]);
    let (out, _) = Competition::Lwta { block: 2 }.apply_shaped(&z, 1, one, Mode::Train).unwrap();
    assert_eq!(out, vec![1.0, 0.0, 0.0, 0.0, 2.0, 0.5]);
}

/// Ties, NaN and infinities on maps: the plane-at-a-time pass equals the rule applied to the
/// vector of channels gathered at each position (the definition, with the rule's NaN order).
#[test]
fn channel_blocks_on_maps_equal_the_rule_on_each_position_with_ties_and_nan() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let (n, c, hw) = (3, 12, 7);
    let maps = Shape::Maps { channels: c, height: 1, width: hw };
    let pool = [0.0, 1.0, 1.0, -1.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 2.0];
    let z: Vec<f32> = (0..n * c * hw).map(|_| pool[rng.random_range(0..pool.len())]).collect();
    for comp in [2, 3, 4, 6, 12].into_iter().flat_map(|k| [Competition::Maxout { rank: k }, Competition::Lwta { block: k }]) {
        let rule = comp.pwl().unwrap();
        let oc = c / rule.pieces();
        let (mut want_out, mut want_w) = (vec![0.0f32; n * oc * hw], vec![false; z.len()]);
        let (mut zc, mut o, mut w) = (vec![0.0f32; c], vec![0.0f32; oc], vec![false; c]);
        for b in 0..n {
            for p in 0..hw {
                for ch in 0..c {
                    zc[ch] = z[(b * c + ch) * hw + p];
                }
                rule.forward(&zc, &mut o, &mut w);
                for j in 0..oc {
                    want_out[(b * oc + j) * hw + p] = o[j];
                }
                for ch in 0..c {
                    want_w[(b * c + ch) * hw + p] = w[ch];
                }
            }
        }
        let (got_out, got_w) = comp.apply_shaped(&z, n, maps, Mode::Train).unwrap();
        assert_eq!(got_w, want_w, "{comp} winners");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got_out), bits(&want_out), "{comp} outputs");
    }
}

#[test]
fn elementwise_flattened_and_spatial_competitions_on_maps() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (n, c, h, w) = (4, 3, 2, 2);
    let maps = Shape::Maps { channels: c, height: h, width: w };
    let flat = Shape::Rows { width: c * h * w };
    let z = random_z(&mut rng, n * c * h * w);
    // Elementwise and per-example competitions read a map example as its flattened row.
    for comp in
        [Competition::Relu, Competition::Abs, Competition::KSparse { k: 4 }, Competition::StdAbs, Competition::Lifetime { rate: 0.5 }]
    {
        let on_maps = comp.apply_shaped(&z, n, maps, Mode::Train).unwrap();
        assert_eq!(on_maps, comp.apply_shaped(&z, n, flat, Mode::Train).unwrap(), "{comp}");
    }
    // Lifetime on maps: each channel and position is a unit across the batch.
    assert_eq!(Competition::Lifetime { rate: 0.5 }.apply_shaped(&z, n, maps, Mode::Train).unwrap(), lifetime::apply(&z, n, 0.5).unwrap());
    // Spatial ones are the module functions.
    assert_eq!(Competition::Spatial.apply_shaped(&z, n, maps, Mode::Train).unwrap(), spatial::apply(&z, [n, c, h, w]).unwrap());
    assert_eq!(
        Competition::SpatialLifetime { rate: 0.5 }.apply_shaped(&z, n, maps, Mode::Train).unwrap(),
        spatial::apply_lifetime(&z, [n, c, h, w], 0.5).unwrap()
    );
}

#[test]
fn evaluation_mode_turns_the_sparsity_of_paper_b_off() {
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let (n, c, h, w) = (6, 2, 3, 3);
    let maps = Shape::Maps { channels: c, height: h, width: w };
    let rows = Shape::Rows { width: c * h * w };
    let z = random_z(&mut rng, n * c * h * w);
    let relu = Competition::Relu.apply(&z, n).unwrap();
    let lifetime = Competition::Lifetime { rate: 0.2 };
    assert_eq!(lifetime.apply_shaped(&z, n, rows, Mode::Eval).unwrap(), relu);
    assert_ne!(lifetime.apply_shaped(&z, n, rows, Mode::Train).unwrap(), relu, "the test would not see the mode");
    for comp in [lifetime, Competition::Spatial, Competition::SpatialLifetime { rate: 0.2 }] {
        assert_eq!(comp.apply_shaped(&z, n, maps, Mode::Eval).unwrap(), relu, "{comp}");
        let mut gp = vec![f32::NAN; z.len()];
        comp.backward_shaped(&z, &z, &relu.1, n, maps, Mode::Eval, &mut gp).unwrap();
        let mut want = vec![f32::NAN; z.len()];
        Competition::Relu.backward(&z, &relu.1, n, &mut want).unwrap();
        assert_eq!(gp, want, "{comp}");
    }
    // Competitions outside paper B's autoencoders are the same in both modes.
    for comp in [Competition::Maxout { rank: 2 }, Competition::KSparse { k: 3 }, Competition::StdAbs] {
        assert_eq!(comp.apply_shaped(&z, n, maps, Mode::Eval).unwrap(), comp.apply_shaped(&z, n, maps, Mode::Train).unwrap(), "{comp}");
    }
}

// ---- Parallel passes ----

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

/// forward_par then backward_par of `c` on `batch` examples of `shape` in a pool of `threads`.
fn par_passes(c: Competition, z: &[f32], g: &[f32], batch: usize, shape: Shape, threads: usize) -> (Vec<f32>, Vec<bool>, Vec<f32>) {
    in_pool(threads, || {
        let mut out = vec![0.0; g.len()];
        let mut winners = vec![false; z.len()];
        c.forward_par(z, batch, shape, Mode::Train, &mut out, &mut winners).unwrap();
        let mut gp = vec![0.0; z.len()];
        c.backward_par(z, g, &winners, batch, shape, Mode::Train, &mut gp).unwrap();
        (out, winners, gp)
    })
}

#[test]
fn batch_coupled_competitions_are_never_split_and_do_not_depend_on_threads() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let batch = 4 * PAR_ROWS + 3;
    for (c, shape) in [
        (Competition::Lifetime { rate: 0.05 }, Shape::Rows { width: 8 }),
        (Competition::Lifetime { rate: 0.1 }, Shape::Maps { channels: 2, height: 2, width: 2 }),
        (Competition::SpatialLifetime { rate: 0.05 }, Shape::Maps { channels: 3, height: 2, width: 2 }),
    ] {
        let z = random_z(&mut rng, batch * shape.size());
        let g: Vec<f32> = (0..z.len()).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let whole = c.apply_shaped(&z, batch, shape, Mode::Train).unwrap();
        let one = par_passes(c, &z, &g, batch, shape, 1);
        let four = par_passes(c, &z, &g, batch, shape, 4);
        assert_eq!(one, four, "{c}");
        assert_eq!((one.0.clone(), one.1.clone()), whole, "{c}");
        // Competing chunks of PAR_ROWS separately would give another result: the test can see a split.
        let n = shape.size();
        let mut split = Vec::new();
        for chunk in z.chunks(PAR_ROWS * n) {
            split.extend(c.apply_shaped(chunk, chunk.len() / n, shape, Mode::Train).unwrap().1);
        }
        assert_ne!(split, whole.1, "{c}: splitting the batch must change the winners");
    }
}

#[test]
fn row_wise_competitions_split_in_chunks_equal_the_whole_batch() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let batch = 3 * PAR_ROWS + 7;
    for (c, shape) in [
        (Competition::Relu, Shape::Rows { width: 6 }),
        (Competition::Maxout { rank: 3 }, Shape::Rows { width: 6 }),
        (Competition::Lwta { block: 2 }, Shape::Maps { channels: 4, height: 1, width: 2 }),
        (Competition::Maxout { rank: 2 }, Shape::Maps { channels: 4, height: 2, width: 1 }),
        (Competition::KSparse { k: 2 }, Shape::Rows { width: 6 }),
        (Competition::StdAbs, Shape::Rows { width: 6 }),
        (Competition::Spatial, Shape::Maps { channels: 2, height: 2, width: 2 }),
    ] {
        let z = random_z(&mut rng, batch * shape.size());
        let out_len = batch * c.output_width(shape).unwrap();
        let g: Vec<f32> = (0..out_len).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let (out, winners) = c.apply_shaped(&z, batch, shape, Mode::Train).unwrap();
        let mut gp = vec![0.0; z.len()];
        c.backward_shaped(&z, &g, &winners, batch, shape, Mode::Train, &mut gp).unwrap();
        // Unsplit, split by hand in uneven chunks, and split by forward_par on 1 and 4 threads.
        let (n, m) = (shape.size(), c.output_width(shape).unwrap());
        let (mut o2, mut w2) = (Vec::new(), Vec::new());
        for (zc, _) in z.chunks(10 * n).zip(0..) {
            let (o, w) = c.apply_shaped(zc, zc.len() / n, shape, Mode::Train).unwrap();
            o2.extend(o);
            w2.extend(w);
        }
        assert_eq!((&o2, &w2), (&out, &winners), "{c}");
        assert_eq!(o2.len(), batch * m);
        for threads in [1, 4] {
            assert_eq!(par_passes(c, &z, &g, batch, shape, threads), (out.clone(), winners.clone(), gp.clone()), "{c}, {threads} threads");
        }
    }
}

// ---- Finite differences of backward_shaped ----

/// Central differences of L = Σ g·out(z) against backward_shaped, at inputs away from any kink.
fn check_shaped_gradient(c: Competition, z: &[f32], batch: usize, shape: Shape, rng: &mut ChaCha8Rng) {
    let out_len = batch * c.output_width(shape).unwrap();
    let g: Vec<f32> = (0..out_len).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let (_, winners) = c.apply_shaped(z, batch, shape, Mode::Train).unwrap();
    let mut analytic = vec![f32::NAN; z.len()];
    c.backward_shaped(z, &g, &winners, batch, shape, Mode::Train, &mut analytic).unwrap();
    let loss = |z: &[f32]| -> f64 {
        let (out, _) = c.apply_shaped(z, batch, shape, Mode::Train).unwrap();
        out.iter().zip(&g).map(|(&o, &gi)| f64::from(o) * f64::from(gi)).sum()
    };
    let h = 1e-3f32;
    let mut zp = z.to_vec();
    for i in 0..z.len() {
        zp[i] = z[i] + h;
        let lp = loss(&zp);
        zp[i] = z[i] - h;
        let lm = loss(&zp);
        zp[i] = z[i];
        let numeric = (lp - lm) / (f64::from(z[i] + h) - f64::from(z[i] - h));
        let a = f64::from(analytic[i]);
        assert!((numeric - a).abs() < 2e-3 * (1.0 + a.abs()), "{c} on {shape}: input {i}: numeric {numeric}, analytic {a}");
    }
    assert!(analytic.iter().any(|&a| a != 0.0), "{c}: the gradient vanishes, the check would be empty");
}

#[test]
fn shaped_gradients_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let maps = Shape::Maps { channels: 6, height: 2, width: 2 };
    // Distinct values 0.1 apart: no ties, no zeros, no winner changes within the step.
    let z = distinct_inputs(&mut rng, 3 * 24);
    check_shaped_gradient(Competition::Maxout { rank: 2 }, &z, 3, maps, &mut rng);
    check_shaped_gradient(Competition::Maxout { rank: 3 }, &z, 3, maps, &mut rng);
    check_shaped_gradient(Competition::Lwta { block: 3 }, &z, 3, maps, &mut rng);
    // std-abs: magnitudes at least 0.2 (no sign change within the step), on rows and on maps.
    let z: Vec<f32> = (0..3 * 24)
        .map(|_| {
            let m = rng.random_range(0.2f32..2.0);
            if rng.random_bool(0.5) { m } else { -m }
        })
        .collect();
    check_shaped_gradient(Competition::StdAbs, &z, 3, maps, &mut rng);
    check_shaped_gradient(Competition::StdAbs, &z, 6, Shape::Rows { width: 12 }, &mut rng);
}

// ---- The piecewise linear rules ----

#[test]
fn pwl_rules_reproduce_the_forward_pass() {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let (rows, width) = (5, 12);
    for c in [
        Competition::Relu,
        Competition::Abs,
        Competition::Lwta { block: 2 },
        Competition::Lwta { block: 3 },
        Competition::Lwta { block: 12 },
        Competition::Maxout { rank: 1 },
        Competition::Maxout { rank: 2 },
        Competition::Maxout { rank: 4 },
    ] {
        let rule = c.pwl().unwrap();
        let z = random_z(&mut rng, rows * width);
        let (out, winners) = c.apply(&z, rows).unwrap();
        // The rule applied by hand: winners by the select rule, outputs by the read rule.
        let g = rule.select.group();
        let mut won = vec![false; z.len()];
        for (b, block) in z.chunks(g).enumerate() {
            let first_max = (0..g).fold(0, |best, i| if block[i] > block[best] { i } else { best });
            for i in 0..g {
                won[b * g + i] = match rule.select {
                    Select::Positive => block[i] > 0.0,
                    Select::NonNegative => block[i] >= 0.0,
                    Select::BlockMax { .. } => i == first_max,
                };
            }
        }
        let by_hand: Vec<f32> = match rule.read {
            Read::Gate { loser } => z.iter().zip(&won).map(|(&v, &w)| if w { v } else { loser * v }).collect(),
            Read::Pool { k } => z.chunks(k).zip(won.chunks(k)).map(|(zb, wb)| zb[wb.iter().position(|&w| w).unwrap()]).collect(),
        };
        assert_eq!(won, winners, "{c}");
        assert_eq!(by_hand, out, "{c}");
        // The other readings of the same rules: the callback form (f32 and f64), the selection and
        // the per-output view used by the region code.
        let mut out_cb = vec![0.0f32; out.len()];
        let mut won_cb = Vec::new();
        rule.forward_with(&z, &mut out_cb, |i, w| won_cb.push((i, w)));
        assert_eq!(out_cb, out, "{c}");
        assert_eq!(won_cb, winners.iter().copied().enumerate().collect::<Vec<_>>(), "{c}");
        let z64: Vec<f64> = z.iter().map(|&v| f64::from(v)).collect();
        let mut out64 = vec![0.0f64; out.len()];
        rule.forward_with(&z64, &mut out64, |_, _| {});
        assert_eq!(out64, out.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), "{c}");
        let mut read = vec![f32::NAN; out.len()];
        rule.read_with(&z, |i| winners[i], &mut read);
        assert_eq!(read, out, "{c}");
        for (j, (k, coef)) in rule.selection(out.len(), |i| winners[i]).enumerate() {
            assert_eq!(coef * z[k], out[j], "{c}: output {j}");
            // Per row: the output of unit j of a row, from that row's pre-activations.
            let (r, units) = (j / (out.len() / rows), out.len() / rows);
            let zr = &z[r * width..(r + 1) * width];
            let (kr, v) = rule.output(zr, j - r * units).unwrap();
            assert_eq!((r * width + kr, v), (k, out[j]), "{c}: output {j}");
        }
        // The backward rule is the old backward.
        let go: Vec<f32> = (0..out.len()).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let mut gp = vec![f32::NAN; z.len()];
        rule.backward(&go, &winners, &mut gp);
        assert_eq!(gp, grad_pre(c, &z, rows, &go), "{c}");
    }
    assert!(Competition::Relu.pwl().unwrap().output(&[1.0f32], 3).is_none());
}
