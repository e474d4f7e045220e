//! Pipelines that run a paper's table or figure end to end: above the algorithms (models,
//! analysis, eval, retrieval) and the figures (report), below `cli/`.
//!
//! A pipeline takes a plain description of a run (what the command line's flags say, already
//! parsed), checks all of it before any work, loads what it needs, calls the algorithms, writes its
//! files and returns what it found, for the caller to print. The commands in [`crate::cli`] only
//! parse flags, call one pipeline and print its outcome.
//!
//! - [`file`](mod@file): any experiment file, whatever its `kind` (`compete run`, Python's `compete.train`);
//! - [`activation_inference`]: generation, completion and unit features of an activation-learning
//!   network (paper C, section IV.E, Figures 3 and 11);
//! - [`knn`]: kNN on a hidden layer's submasks, activations or pre-activations beside the softmax
//!   (paper A, Tables 1 and 2);
//! - [`retrieval`]: submasks as hash codes against LSH (paper A, section 4.2);
//! - [`map`]: t-SNE maps of submasks, trained against untrained (paper A, Figure 3);
//! - [`regions`]: paper E's linear regions: `compete regions count`, `construct` and `maps`, and
//!   the segment counts of `compete demo`;
//! - [`svm`]: a linear SVM on features, `C` chosen on validation, few-label runs (paper B, section 4);
//! - [`sinusoid`]: shallow against deep nets on a sinusoidal boundary (paper E, Figure 1);
//! - [`robustness`]: test error on masked images and images with random lines (paper C, Figure 10);
//! - [`anomaly`]: one-class anomaly detection by the output activation, AUROC per class (paper C,
//!   section VI.A);
//! - [`units`]: part-units and categorical-units of a DrSAE and the figures of paper D's section 3
//!   (Figures 2-4, 8-10).

pub mod activation_inference;
pub mod anomaly;
pub mod file;
pub mod knn;
pub mod map;
pub mod phases;
pub mod regions;
pub mod retrieval;
pub mod robustness;
pub mod sinusoid;
pub mod svm;
pub mod units;
