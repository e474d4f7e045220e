//! The networks of paper E's proofs, saved as ordinary checkpoints and counted exactly on the box
//! that holds all their cells: the pipeline of `compete regions construct`. The networks are built by
//! [`crate::analysis::regions::construct`].
//!
//! [`construct`] checks everything first (the construction's parameters, the memory they need, the
//! formula's count against the region limit, the picture size, the output folder), then builds the
//! network and writes into the output folder `network.safetensors`, `construct.json` and, for
//! `n0 = 2`, `regions.png`.

use std::path::PathBuf;
use std::time::Instant;

use num_bigint::BigUint;
use serde::Serialize;

use crate::analysis::regions::bounds;
use crate::analysis::regions::construct::{Form, Plan, maxout, maxout_plan, rectifier, rectifier_plan};
use crate::analysis::regions::{CountOptions, PwlNet, Segment, Slice2d, count_1d, count_2d};
use crate::error::{Error, Result};
use crate::io::memory::{bytes, check_alloc};
use crate::report::io::{create_out_dir, write_json};
use crate::report::regions::{check_picture_size, write_partition_png};
use crate::train::checkpoint::{describe, save_mlp};

/// Bytes a parameter takes at the peak of [`construct`]: the `f32` network (4), its copies while
/// the checkpoint is serialised (12), then the `f64` network of the count and its transposed weights
/// (16), rounded up.
pub const BYTES_PER_PARAMETER: usize = 32;

/// Which proof's network.
#[derive(Clone, Debug, PartialEq)]
pub enum Construction {
    /// Theorem 4 / eq. (7): rectifier layers folding each input coordinate.
    Rectifier {
        /// Hidden widths, each `>= n0`.
        widths: Vec<usize>,
        /// Group sizes.
        form: Form,
    },
    /// Rank-`k` maxout layers of width `n0` folding each coordinate once, then `k^n0` cells.
    Maxout {
        /// Layers `L`.
        layers: usize,
        /// Rank `k`.
        rank: usize,
    },
}

impl Construction {
    /// `Rectifier` or `Maxout`, as the files name it.
    pub fn name(&self) -> &'static str {
        match self {
            Construction::Rectifier { .. } => "Rectifier",
            Construction::Maxout { .. } => "Maxout",
        }
    }
}

/// A run of `compete regions construct`.
#[derive(Clone, Debug)]
pub struct ConstructSpec {
    /// Which construction.
    pub construction: Construction,
    /// Input dimension.
    pub n0: usize,
    /// Picture size of the counted box (`n0 = 2`).
    pub resolution: u32,
    /// Refuse to count when the formula promises more regions than this (as `compete regions count`).
    pub max_regions: usize,
    /// The output folder.
    pub out: PathBuf,
}

/// The network built and saved, before it is counted.
#[derive(Clone, Debug)]
pub struct Built {
    /// The architecture, as [`describe`] gives it.
    pub network: String,
    /// `Rectifier` or `Maxout`.
    pub kind: &'static str,
    /// The checkpoint written.
    pub checkpoint: PathBuf,
    /// Where it is counted, in words.
    pub domain: String,
    /// Which formula.
    pub formula: String,
    /// Regions by the formula.
    pub expected: BigUint,
    /// The theorem's bound beside it (name, value), if it has one.
    pub theorem: Option<(String, String)>,
}

/// What [`construct`] built, counted and wrote.
#[derive(Clone, Debug)]
pub struct ConstructOutcome {
    /// The network.
    pub built: Built,
    /// The exact count on the box (`n0` 1 or 2 only).
    pub exact: Option<usize>,
    /// Time of the count.
    pub seconds: Option<f64>,
}

#[derive(Serialize)]
struct Report<'a> {
    network: &'a str,
    kind: &'a str,
    n0: usize,
    domain: &'a str,
    formula: &'a str,
    expected: String,
    theorem: &'a Option<(String, String)>,
    exact: Option<usize>,
    seconds: Option<f64>,
}

impl ConstructSpec {
    /// Checks the construction, its memory and the region limit without building anything; the
    /// construction's plan.
    pub fn check(&self) -> Result<Plan> {
        check_picture_size("--resolution", self.resolution)?;
        CountOptions { max_regions: self.max_regions, ..CountOptions::default() }
            .validate()
            .map_err(|_| Error::param("--max-regions", self.max_regions, "at least 1"))?;
        let n0 = self.n0;
        let (plan, flags) = match &self.construction {
            Construction::Rectifier { widths, form } => (
                rectifier_plan(n0, widths, *form)?,
                format!("--n0 {n0} --widths {}", widths.iter().map(usize::to_string).collect::<Vec<_>>().join(",")),
            ),
            Construction::Maxout { layers, rank } => {
                (maxout_plan(n0, *layers, *rank)?, format!("--n0 {n0} --layers {layers} --rank {rank}"))
            }
        };
        let parameters = usize::try_from(plan.parameters).unwrap_or(usize::MAX);
        check_alloc(
            &format!(
                "the construction of {flags} ({} weights and biases, about {BYTES_PER_PARAMETER} bytes each while it is built, saved and counted)",
                plan.parameters
            ),
            bytes(&[parameters], BYTES_PER_PARAMETER),
        )?;
        if n0 <= 2 && plan.expected > BigUint::from(self.max_regions) {
            return Err(Error::param(
                "--max-regions",
                self.max_regions,
                format!(
                    "at least the {} regions {} gives on the box [0, 1]^{n0}, which the count would make (raise the limit or build a smaller construction)",
                    plan.expected, plan.formula
                ),
            ));
        }
        Ok(plan)
    }
}

/// Runs `compete regions construct` (see the module docs); `built` sees the network once it is saved,
/// before it is counted.
pub fn construct(spec: &ConstructSpec, built: &mut dyn FnMut(&Built)) -> Result<ConstructOutcome> {
    spec.check()?;
    create_out_dir("-o/--out", &spec.out)?;
    let n0 = spec.n0;
    let (c, theorem) = match &spec.construction {
        Construction::Rectifier { widths, form } => {
            let c = rectifier(n0, widths, *form)?;
            (c, bounds::theorem4(n0, widths).map(|v| ("Theorem 4".to_string(), v.to_string())))
        }
        Construction::Maxout { layers, rank } => {
            let c = maxout(n0, *layers, *rank)?;
            (c, Some(("Theorem 8".to_string(), bounds::theorem8(n0, *layers, *rank).to_string())))
        }
    };
    let kind = spec.construction.name();
    let checkpoint = spec.out.join("network.safetensors");
    save_mlp(&checkpoint, &c.mlp, &[("construction", kind.to_string())])?;
    let net = PwlNet::from_mlp(&c.mlp)?;
    let b = Built {
        network: describe(&c.mlp.config),
        kind,
        checkpoint,
        domain: format!("the box [0, 1]^{n0}"),
        formula: c.formula.clone(),
        expected: c.expected.clone(),
        theorem,
    };
    built(&b);
    let opts = CountOptions { max_regions: spec.max_regions, ..CountOptions::default() };
    let t = Instant::now();
    let exact = match n0 {
        1 => Some(count_1d(&net, &Segment::new(vec![0.0], vec![1.0])?, &opts)?.len()),
        2 => {
            let slice = Slice2d::axes(vec![0.0, 0.0], 0, 1, [0.0, 1.0], [0.0, 1.0])?;
            let part = count_2d(&net, &slice, &opts)?;
            let title = format!("{} regions of the {kind} construction {}\n{} = {}", part.len(), b.network, c.formula, c.expected);
            write_partition_png(&spec.out.join("regions.png"), &part, &slice, spec.resolution, &title, &[])?;
            Some(part.len())
        }
        _ => None,
    };
    let seconds = exact.map(|_| t.elapsed().as_secs_f64());
    let report = Report {
        network: &b.network,
        kind,
        n0,
        domain: &b.domain,
        formula: &b.formula,
        expected: b.expected.to_string(),
        theorem: &b.theorem,
        exact,
        seconds,
    };
    write_json(&spec.out.join("construct.json"), &report)?;
    Ok(ConstructOutcome { built: b, exact, seconds })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(construction: Construction, n0: usize) -> ConstructSpec {
        ConstructSpec { construction, n0, resolution: 800, max_regions: 5_000_000, out: PathBuf::from("unused") }
    }

    #[test]
    fn the_region_limit_and_the_memory_are_checked_before_building() {
        let maxout = |layers, rank| Construction::Maxout { layers, rank };
        assert!(spec(maxout(2, 3), 2).check().is_ok());
        // 2^(2 * 9) * 10^2 = 26 214 400 regions > 5 000 000: refused at once.
        let e = spec(maxout(10, 10), 2).check().unwrap_err().to_string();
        assert!(e.contains("--max-regions = 5000000") && e.contains("26214400"), "{e}");
        assert!(ConstructSpec { max_regions: 30_000_000, ..spec(maxout(10, 10), 2) }.check().is_ok());
        // n0 = 3 is not counted, so no limit applies.
        assert!(spec(maxout(10, 10), 3).check().is_ok());
        let e = ConstructSpec { max_regions: 0, ..spec(maxout(2, 3), 2) }.check().unwrap_err().to_string();
        assert!(e.contains("--max-regions = 0"), "{e}");
        let e = ConstructSpec { resolution: 0, ..spec(maxout(2, 3), 2) }.check().unwrap_err().to_string();
        assert!(e.contains("--resolution = 0"), "{e}");
        let wide = Construction::Rectifier { widths: vec![1_000_000, 1_000_000], form: Form::Eq7 };
        let e = spec(wide, 2).check().unwrap_err();
        assert!(matches!(e, Error::Memory { .. }) && e.to_string().contains("--widths 1000000,1000000"), "{e}");
    }
}
