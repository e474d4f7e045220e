//! `compete regions construct`: the networks of paper E's proofs, saved as ordinary checkpoints and
//! counted exactly on the box that holds all their cells (the pipeline is
//! [`crate::experiments::regions::construct`](mod@crate::experiments::regions::construct)).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::analysis::regions::construct::Form;
use crate::error::{Error, Result};
use crate::experiments::regions::{Built, ConstructSpec, Construction, construct};

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
    /// Stop with an error, before building anything, when the formula promises more regions than
    /// this on the counted box (n0 = 1 or 2; a memory guard, as in `compete regions count`).
    #[arg(long, default_value_t = 5_000_000)]
    pub max_regions: usize,
    /// Output folder: network.safetensors, construct.json, regions.png (n0 = 2).
    #[arg(short, long)]
    pub out: PathBuf,
}

/// Runs `compete regions construct`.
pub fn run(args: ConstructArgs) -> Result<()> {
    let construction = match args.kind {
        Kind::Rectifier => Construction::Rectifier {
            widths: args.widths.clone().ok_or_else(|| Error::param("--widths", "none", "hidden widths, e.g. 4,4,3"))?,
            form: if args.form == FormArg::Eq7 { Form::Eq7 } else { Form::Theorem4 },
        },
        Kind::Maxout => Construction::Maxout {
            layers: args.layers.ok_or_else(|| Error::param("--layers", "none", "the number of maxout layers L"))?,
            rank: args.rank.ok_or_else(|| Error::param("--rank", "none", "the maxout rank k"))?,
        },
    };
    let spec = ConstructSpec { construction, n0: args.n0, resolution: args.resolution, max_regions: args.max_regions, out: args.out };
    let outcome = construct(&spec, &mut |b: &Built| {
        println!("built {} ({}), saved to {}", b.network, b.kind, b.checkpoint.display());
        println!("  {} on {}: {}", b.formula, b.domain, b.expected);
        if let Some((name, v)) = &b.theorem {
            println!("  {name}: {v}");
        }
    })?;
    let b = &outcome.built;
    match outcome.exact {
        Some(n) => println!(
            "  exact count on {}: {n} ({}), {} = {}",
            b.domain,
            if b.expected == n.into() { "equal" } else { "DIFFERENT" },
            b.formula,
            b.expected
        ),
        None => println!("  exact counting needs n0 = 1 or 2 (a segment or a plane); count a slice with `compete regions count`"),
    }
    println!("wrote {}", spec.out.display());
    Ok(())
}
