//! The learner contract: how one training step changes a model, and how the model is scored.
//!
//! The one training loop ([`crate::train::train`]) owns epochs, shuffling, the optimizer, schedules,
//! constraints, checkpoints, resume, early stopping and the divergence guard; a [`Learner`] owns
//! only what differs between models:
//!
//! - [`Learner::step`]: one mini-batch. A gradient learner (backprop, BPTT) writes the gradient of
//!   its loss into its gradient buffer and returns [`Update::Gradients`]; the loop's optimizer then
//!   updates every parameter by name. A rule that is not a gradient (contrastive divergence, a
//!   Hebbian rule) writes its update direction there too, with the sign of a gradient
//!   (`-Δw / lr`), so momentum, schedules and constraints apply to it alike; or it changes the
//!   model itself and returns [`Update::Applied`].
//! - [`Learner::evaluate`]: the score of the model on held-out data (lower is better: validation
//!   errors, reconstruction error, ...), which picks the best epoch and drives early stopping.
//! - [`Learner::rules`]: the model's own learning-rate scales and constraints per parameter.
//!
//! A learner is a few dozen lines; see [`crate::models::mlp::MlpLearner`].

use rand_chacha::ChaCha8Rng;

use crate::data::Dataset;
use crate::error::Result;
use crate::models::{Encoder, Model};
use crate::params::{ParamRule, Parameters};
use crate::tensor::Matrix;

/// One mini-batch of a training epoch.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// The inputs, `[batch, dim]`.
    pub x: &'a Matrix,
    /// One label per example (learners without labels ignore them).
    pub labels: &'a [u8],
    /// Epoch, from 1.
    pub epoch: usize,
    /// Step within the epoch, from 0.
    pub step: usize,
    /// The epoch's learning rate, after the schedule: what a learner that applies its own rule
    /// ([`Update::Applied`]) scales its change by.
    pub lr: f32,
}

/// What a step did to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// The gradient buffer holds the step's gradient (or update direction); the optimizer applies it.
    Gradients,
    /// The learner changed the model itself; the optimizer only applies the constraints.
    Applied,
}

/// The result of one step.
#[derive(Clone, Copy, Debug)]
pub struct StepOutput {
    /// The batch's loss (or the objective the rule follows), reported per epoch and watched by the
    /// divergence guard.
    pub loss: f32,
    /// How the model is to be changed.
    pub update: Update,
}

/// A model's score on a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Lower is better; picks the best epoch.
    pub score: f64,
    /// Misclassified examples, for classifiers.
    pub errors: Option<usize>,
    /// Further named measurements (reported in the progress and metrics files).
    pub metrics: Vec<(String, f64)>,
}

/// How one model trains (see the module docs).
pub trait Learner: Send {
    /// The model being trained.
    type Model: Model;
    /// The model.
    fn model(&self) -> &Self::Model;
    /// The model, to change (resume, initialisation from another checkpoint).
    fn model_mut(&mut self) -> &mut Self::Model;
    /// One mini-batch: forward, loss, and the update (see [`Update`]). `rng` is this step's own
    /// generator (dropout masks, sampling), seeded from the run's seed, epoch and step.
    fn step(&mut self, batch: &Batch<'_>, rng: &mut ChaCha8Rng) -> Result<StepOutput>;
    /// The model and the gradient buffer of the last step, for the optimizer.
    fn model_and_grads(&mut self) -> (&mut Self::Model, &dyn Parameters);
    /// The model's score on `data` (no dropout, evaluation mode).
    fn evaluate(&self, data: &Dataset) -> Result<Evaluation>;
    /// What [`Evaluation::score`] is, for logs: `"validation errors"`, `"reconstruction error"`.
    fn score_name(&self) -> &'static str;
    /// The model's own learning-rate scales and constraints (none by default).
    fn rules(&self) -> Vec<ParamRule> {
        Vec::new()
    }
    /// What the epoch's log line adds about an evaluation beyond its score (e.g. a sparse coder's
    /// L0 and dead units); empty by default.
    fn describe_evaluation(&self, evaluation: &Evaluation) -> String {
        let _ = evaluation;
        String::new()
    }
    /// The model's hidden layers, when it has some: the loop then tracks submask flips on request.
    fn encoder(&self) -> Option<&dyn Encoder> {
        None
    }
}

/// `[start, end)` of consecutive mini-batches of `batch` rows out of `n`, a last short batch joined
/// to the one before: how a learner whose competition is coupled across the batch (paper B's
/// lifetime sparsity) scores held-out data with the training-time rate keeping its meaning.
pub fn eval_batches(n: usize, batch: usize) -> Vec<(usize, usize)> {
    let batch = batch.max(1);
    let full = (n / batch).max(1);
    (0..full).map(|c| (c * batch, if c + 1 == full { n } else { (c + 1) * batch })).filter(|(s, e)| e > s).collect()
}
