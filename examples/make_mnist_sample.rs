//! Regenerates the stratified MNIST sample shipped in `data/mnist-sample/`.
//!
//! ```text
//! cargo run --release --example make_mnist_sample -- /work/shared/data/mnist [data/mnist-sample]
//! ```
//!
//! Reads the official MNIST files (gzip or plain) from the first argument and writes, gzip-compressed
//! under the four standard names, with the raw pixel bytes unchanged and file order kept:
//! * training: the first 900 images of each digit among training images 0..49999 (the part the
//!   papers train on) followed by the first 100 of each digit among 50000..59999 (the part they
//!   validate on), 10000 images, so that `split_last(1000)` of the sample is a balanced validation set;
//! * test: the first 100 images of each digit among test images 0..4999 and the first 100 among
//!   5000..9999 (the two halves of the test file come from different writers), 2000 images.

use std::path::PathBuf;
use std::process::ExitCode;

use compete::data::{RawMnist, read_raw_mnist, stratified_indices, write_raw_mnist};

/// Training images the papers keep for validation: the last 10000.
const N_VAL: usize = 10_000;

fn run() -> compete::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let src = args.next().map(PathBuf::from).ok_or_else(|| {
        compete::Error::param("SOURCE", "(missing)", "usage: make_mnist_sample SOURCE_DIR [OUT_DIR], SOURCE_DIR holding the MNIST files")
    })?;
    let out = args.next().map_or_else(|| PathBuf::from("data/mnist-sample"), PathBuf::from);
    let raw = read_raw_mnist(&src)?;
    let (n_train, n_test) = (raw.train.len(), raw.test.len());
    if n_train <= N_VAL || n_test < 2 {
        return Err(compete::Error::Data(format!(
            "{}: {n_train} training and {n_test} test images, expected full MNIST (60000 and 10000)",
            src.display()
        )));
    }
    let cut = n_train - N_VAL;
    let mut train_idx = stratified_indices(&raw.train.labels, 0..cut, 10, 900)?;
    train_idx.extend(stratified_indices(&raw.train.labels, cut..n_train, 10, 100)?);
    let half = n_test / 2;
    let mut test_idx = stratified_indices(&raw.test.labels, 0..half, 10, 100)?;
    test_idx.extend(stratified_indices(&raw.test.labels, half..n_test, 10, 100)?);
    let sample = RawMnist { train: raw.train.select(&train_idx)?, test: raw.test.select(&test_idx)? };
    write_raw_mnist(&out, &sample, true)?;
    let last = |idx: &[usize], range: std::ops::Range<usize>| idx.iter().filter(|i| range.contains(i)).max().copied().unwrap_or(0);
    println!(
        "wrote {}: {} training images (900/digit from 0..{cut}, last index {}; 100/digit from {cut}..{n_train}, last index {}), \
         {} test images (100/digit from 0..{half}, last index {}; 100/digit from {half}..{n_test}, last index {})",
        out.display(),
        sample.train.len(),
        last(&train_idx, 0..cut),
        last(&train_idx, cut..n_train),
        sample.test.len(),
        last(&test_idx, 0..half),
        last(&test_idx, half..n_test),
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
