//! `compete regions construct`: the networks of paper E's proofs, saved as ordinary checkpoints and
//! counted exactly on the box that holds all their cells.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::analysis::regions::bounds;
use crate::analysis::regions::construct::{Construction, Form, maxout, rectifier};
use crate::analysis::regions::{CountOptions, PwlNet, Segment, Slice2d, count_1d, count_2d};
use crate::error::{Error, Result};
use crate::report::io::write_json;
use crate::report::regions::write_partition_png;
use crate::train::checkpoint::{describe, save_mlp};

/// Which proof's network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Theorem 4 / eq. (7): rectifier layers folding each input coordinate (section 3.1, appendix B).
    Rectifier,
    /// Rank-k maxout layers of width n0 folding each coordinate once, then k^n0 cells (Theorem 8's setting).
    Maxout,
}

/// Group sizes of the rectifier construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormArg {
    /// Remainder units used (appendix B, eq. (7)).
    Eq7,
    /// Remainder units switched off (Theorem 4).
    Theorem4,
}

/// Flags of `compete regions construct`.
#[derive(Debug, Args)]
pub struct ConstructArgs {
    /// Which construction.
    #[arg(long, value_enum, default_value = "rectifier")]
    pub kind: Kind,
    /// Input dimension n0.
    #[arg(long)]
    pub n0: usize,
    /// Hidden widths, each >= n0 (rectifier).
    #[arg(long, value_delimiter = ',', num_args = 1)]
    pub widths: Option<Vec<usize>>,
    /// Group sizes (rectifier).
    #[arg(long, value_enum, default_value = "eq7")]
    pub form: FormArg,
    /// Number of layers L (maxout; width n0 each).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Maxout rank k.
    #[arg(long)]
    pub rank: Option<usize>,
    /// Picture size of the counted box (n0 = 2).
    #[arg(long, default_value_t = 800)]
    pub resolution: u32,
    /// Output folder: network.safetensors, construct.json, regions.png (n0 = 2).
    #[arg(short, long)]
    pub out: PathBuf,
}

#[derive(Serialize)]
struct Report {
    network: String,
    kind: String,
    n0: usize,
    domain: String,
    formula: String,
    expected: String,
    theorem: Option<(String, String)>,
    exact: Option<usize>,
    seconds: Option<f64>,
}

/// Runs `compete regions construct`.
pub fn run(args: ConstructArgs) -> Result<()> {
    let (c, theorem): (Construction, Option<(String, String)>) = match args.kind {
        Kind::Rectifier => {
            let widths = args.widths.clone().ok_or_else(|| Error::param("--widths", "none", "hidden widths, e.g. 4,4,3"))?;
            let form = if args.form == FormArg::Eq7 { Form::Eq7 } else { Form::Theorem4 };
            let c = rectifier(args.n0, &widths, form)?;
            let t4 = bounds::theorem4(args.n0, &widths).map(|v| ("Theorem 4".to_string(), v.to_string()));
            (c, t4)
        }
        Kind::Maxout => {
            let layers = args.layers.ok_or_else(|| Error::param("--layers", "none", "the number of maxout layers L"))?;
            let rank = args.rank.ok_or_else(|| Error::param("--rank", "none", "the maxout rank k"))?;
            let c = maxout(args.n0, layers, rank)?;
            (c, Some(("Theorem 8".to_string(), bounds::theorem8(args.n0, layers, rank).to_string())))
        }
    };
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    let ck = args.out.join("network.safetensors");
    save_mlp(&ck, &c.mlp, &[("construction", format!("{:?}", args.kind))])?;
    let net = PwlNet::from_mlp(&c.mlp)?;
    let domain = format!("the box [0, 1]^{}", args.n0);
    println!("built {} ({:?}), saved to {}", describe(&c.mlp.config), args.kind, ck.display());
    println!("  {} on {domain}: {}", c.formula, c.expected);
    if let Some((name, v)) = &theorem {
        println!("  {name}: {v}");
    }
    let opts = CountOptions::default();
    let t = Instant::now();
    let exact = match args.n0 {
        1 => Some(count_1d(&net, &Segment::new(vec![0.0], vec![1.0])?, &opts)?.len()),
        2 => {
            let slice = Slice2d::axes(vec![0.0, 0.0], 0, 1, [0.0, 1.0], [0.0, 1.0])?;
            let part = count_2d(&net, &slice, &opts)?;
            let title = format!(
                "{} regions of the {:?} construction {}\n{} = {}",
                part.len(),
                args.kind,
                describe(&c.mlp.config),
                c.formula,
                c.expected
            );
            write_partition_png(&args.out.join("regions.png"), &part, &slice, args.resolution, &title, &[])?;
            Some(part.len())
        }
        _ => None,
    };
    let seconds = exact.map(|_| t.elapsed().as_secs_f64());
    match exact {
        Some(n) => println!(
            "  exact count on {domain}: {n} ({}), {} = {}",
            if c.expected == n.into() { "equal" } else { "DIFFERENT" },
            c.formula,
            c.expected
        ),
        None => println!("  exact counting needs n0 = 1 or 2 (a segment or a plane); count a slice with `compete regions count`"),
    }
    let report = Report {
        network: describe(&c.mlp.config),
        kind: format!("{:?}", args.kind),
        n0: args.n0,
        domain,
        formula: c.formula.clone(),
        expected: c.expected.to_string(),
        theorem,
        exact,
        seconds,
    };
    write_json(&args.out.join("construct.json"), &report)?;
    println!("wrote {}", args.out.display());
    Ok(())
}
