//! Binary codes and retrieval (paper A, sections 3.3 and 4.2): submasks used as hash codes.
//!
//! - [`codes`]: [`BinaryCodes`], codes of any length packed into `u64` words (padding bits are always 0).
//! - [`search`]: exact top-k search by Hamming distance, ties ordered by database index.
//! - [`metrics`]: mAP@k and precision-recall by Hamming radius, relevance = same label (Table 4, Figure 6).
//! - [`baseline`]: random-hyperplane LSH of real-valued features, a code to compare submasks with.
//! - [`io`]: codes in our `.codes` format and in `.npy` (NumPy `packbits` layout), features and labels in `.npy`.

pub mod baseline;
pub mod codes;
pub mod io;
pub mod metrics;
pub mod search;

pub use baseline::Lsh;
pub use codes::{BinaryCodes, CodesRef};
pub use metrics::{MapAtK, PrCurve, PrPoint, map_from_neighbors, mean_average_precision, precision_recall};
pub use search::{Neighbors, hamming_knn, hamming_knn_brute, hamming_knn_ref, search_bytes};
