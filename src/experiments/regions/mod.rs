//! Paper E's linear regions end to end. The algorithms are in [`crate::analysis::regions`].
//!
//! - [`count`](mod@count): exact counts on a segment or a 2-D slice of a checkpoint (with the grid sampler
//!   beside it), or the sampled lower bound; `summary.json`, `regions.jsonl`, `regions.png`
//!   (`compete regions count`), and the trained-versus-untrained segment count of `compete demo`;
//! - [`construct`](mod@construct): the networks of the proofs, saved and counted (`compete regions construct`);
//! - [`maps`](mod@maps): the linear maps of hidden units, k-means of them and inputs a unit identifies
//!   (`compete regions maps`).

pub mod construct;
pub mod count;
pub mod maps;

pub use construct::{Built, ConstructOutcome, ConstructSpec, Construction, construct};
pub use count::{
    CountOutcome, CountProgress, CountSpec, DataSpec, Domain, ExactCount, ExactOutcome, GridComparison, GridRow, Patterns, SampledOutcome,
    count, trained_and_untrained_on_segment,
};
pub use maps::{MapsOutcome, MapsSpec, UnitReport, maps};
