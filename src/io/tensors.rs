//! Named `f32` tensors and string metadata in one safetensors file.
//!
//! Every checkpoint of compete is such a file: the tensors are a model's parameters by name (see
//! [`crate::params`]), the metadata says which model it is. PyTorch reads them unchanged:
//!
//! ```python
//! from safetensors.torch import load_file
//! tensors = load_file("best.safetensors")   # {"layers.0.weight": tensor(...), ...}
//! ```

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::error::{Error, Result};

/// A named `f32` tensor: its shape and values.
pub type Named = (String, Vec<usize>, Vec<f32>);

/// Tensors read from a file, by name: shape and values.
pub type TensorMap = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Writes named `f32` tensors and string metadata to a safetensors file, atomically.
pub fn save_tensors(path: &Path, tensors: &[Named], metadata: HashMap<String, String>) -> Result<()> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, shape, _), b) in tensors.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, shape.clone(), b).map_err(|e| Error::format(path, format!("tensor {name}: {e}")))?;
        views.push((name.clone(), view));
    }
    let data = safetensors::serialize(views, Some(metadata)).map_err(|e| Error::format(path, format!("serializing: {e}")))?;
    crate::io::write_atomic(path, &data)
}

/// Reads every `f32` tensor and the metadata of a safetensors file.
///
/// A file that is cut short (an interrupted copy) is named with its size and the size its header
/// announces, instead of the library's "incomplete metadata".
pub fn load_tensors(path: &Path) -> Result<(TensorMap, HashMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    check_length(path, &bytes)?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| Error::format(path, format!("not a safetensors file: {e}")))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| Error::format(path, format!("not a safetensors file: {e}")))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(Error::format(path, format!("tensor {name} has dtype {:?}, expected F32", view.dtype())));
        }
        let values = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok((out, meta.metadata().clone().unwrap_or_default()))
}

/// The string metadata of a safetensors file, reading its header only (not the tensors): how a
/// run's recovery tells which epoch a checkpoint holds.
pub fn read_metadata(path: &Path) -> Result<HashMap<String, String>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|e| Error::io(path, e))?;
    let n = u64::from_le_bytes(len);
    if n.checked_add(8).is_none_or(|end| end > size) {
        return Err(Error::format(path, format!("file is {size} bytes but its header announces {n} more: the file is truncated")));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(|e| Error::io(path, e))?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| Error::format(path, format!("not a safetensors file: header is not JSON ({e})")))?;
    Ok(header
        .get("__metadata__")
        .and_then(|m| m.as_object())
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default())
}

/// Checks the file's length against its header: 8 bytes of header length, the JSON header, then the
/// data, whose end is the largest `data_offsets` end in the header.
fn check_length(path: &Path, bytes: &[u8]) -> Result<()> {
    let size = bytes.len();
    if size < 8 {
        return Err(Error::format(path, format!("{size} bytes: too short for a safetensors file (at least 8 bytes of header length)")));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as u128;
    if 8 + n > size as u128 {
        return Err(Error::format(
            path,
            format!(
                "file is {size} bytes but its header alone announces {} bytes: the file is truncated (an interrupted write or copy?)",
                8 + n
            ),
        ));
    }
    let header: serde_json::Value = match serde_json::from_slice(&bytes[8..8 + n as usize]) {
        Ok(h) => h,
        Err(e) => return Err(Error::format(path, format!("not a safetensors file: header is not JSON ({e})"))),
    };
    let end = header
        .as_object()
        .map(|o| {
            o.iter().filter(|(k, _)| *k != "__metadata__").filter_map(|(_, v)| v.get("data_offsets")?.get(1)?.as_u64()).max().unwrap_or(0)
        })
        .unwrap_or(0) as u128;
    let expected = 8 + n + end;
    if expected > size as u128 {
        return Err(Error::format(
            path,
            format!(
                "file is {size} bytes, expected {expected} (header and tensor data): the file is truncated (an interrupted write or copy?)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation_is_named_with_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        let meta = [("k".to_string(), "v".to_string())].into_iter().collect();
        save_tensors(&path, &[("a".into(), vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])], meta).unwrap();
        let (t, m) = load_tensors(&path).unwrap();
        assert_eq!(t["a"], (vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]));
        assert_eq!(m["k"], "v");
        assert_eq!(read_metadata(&path).unwrap(), m);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = load_tensors(&path).unwrap_err().to_string();
        assert!(err.contains("t.safetensors") && err.contains("truncated") && err.contains(&format!("expected {}", bytes.len())), "{err}");
        std::fs::write(&path, &bytes[..20]).unwrap();
        let err = load_tensors(&path).unwrap_err().to_string();
        assert!(err.contains("20 bytes") && err.contains("truncated"), "{err}");
        std::fs::write(&path, b"abc").unwrap();
        assert!(load_tensors(&path).unwrap_err().to_string().contains("too short"));
    }
}
