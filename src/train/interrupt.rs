//! Stopping a training run from outside, between two steps: what a Ctrl-C in a notebook does to
//! `compete.train` (the Python package asks for the stop when Python sees the signal).
//!
//! A request is process-wide, like the signal it stands for: every run in progress stops at its
//! next step with [`crate::error::Error::Interrupted`], which names the epoch and the last
//! checkpoint. Nothing is lost: the run folder holds every finished epoch (the loop commits an
//! epoch atomically), and `--resume` continues it. The request stays until [`clear`].

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks every training run in progress to stop at its next step.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Whether a stop has been asked for (and not cleared).
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// Withdraws the request, so that later runs train.
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}
