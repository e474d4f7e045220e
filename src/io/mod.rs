//! The bottom layer: files, written so that a reader never sees half of one.
//!
//! - [`atomic`]: [`write_atomic`] and [`write_json`] (temporary file, `fsync`, rename);
//! - [`tensors`]: named `f32` tensors with string metadata in safetensors files, the format of every
//!   checkpoint (readable with `safetensors.torch.load_file`);
//! - [`npy`]: `.npy` files of `float32` matrices and `uint8` labels;
//! - [`memory`]: the check that refuses an allocation larger than the machine's memory.

pub mod atomic;
pub mod memory;
pub mod npy;
pub mod tensors;

pub use atomic::{create_out_dir, write_atomic, write_json};
pub use memory::check_alloc;
pub use tensors::{Named, TensorMap, load_tensors, read_metadata, save_tensors};
