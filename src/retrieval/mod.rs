//! Binary codes and retrieval (paper A, sections 3.3 and 4.2): submasks used as hash codes.
//!
//! - [`codes`]: [`BinaryCodes`], codes of any length packed into `u64` words (padding bits are always 0).
//! - [`search`]: exact top-k search by Hamming distance, ties ordered by database index.

pub mod codes;
pub mod search;

pub use codes::BinaryCodes;
pub use search::{Neighbors, hamming_knn, hamming_knn_brute};
