//! The `compete` command line (being written).
fn main() {}
