//! `.npy` files (NumPy format 1.0 to write; 1.0, 2.0 and 3.0 to read) of `float32` matrices and
//! `uint8` vectors, and the header code that [`crate::retrieval::io`] reuses for packed codes.
//!
//! - Feature matrices: dtype `<f4`, shape `(rows, cols)`, C order (`np.load(f)` gives a
//!   `float32` array of that shape).
//! - Labels: dtype `|u1`, shape `(n,)`.
//!
//! Readers refuse other dtypes, Fortran order, other numbers of dimensions, and files whose data
//! length does not match the header, with errors that name the file. [`load_matrix_npy`] and
//! [`load_labels_npy`] read the header first and check the announced size against the file's length
//! and the memory available before allocating. Writers go through [`write_atomic`].
//!
//! ```
//! use compete::io::npy::{matrix_from_npy, matrix_to_npy};
//! use compete::tensor::Matrix;
//!
//! let m = Matrix::from_vec(2, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
//! assert_eq!(matrix_from_npy(&matrix_to_npy(&m), "in memory".as_ref()).unwrap(), m);
//! ```

use std::io::Read;
use std::path::Path;

use super::memory::check_alloc;
use super::write_atomic;
use crate::error::{Error, Result};
use crate::tensor::Matrix;

/// Magic bytes opening an `.npy` file.
pub const NPY_MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The dtype strings accepted for `uint8` data.
const U1: [&str; 5] = ["|u1", "<u1", ">u1", "=u1", "u1"];

/// An `.npy` file: its header fields and where the data starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// The dtype string, e.g. `<f4` or `|u1`.
    pub descr: String,
    /// Whether the array is stored in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Where the data starts: the length of magic, version, header length and header.
    pub data_offset: usize,
}

/// The bytes of an NPY 1.0 file: magic, version, header length, the header dict padded with spaces
/// and a newline to a multiple of 64 bytes, then `data`.
pub fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let shape_text = match shape {
        [one] => format!("({one},)"),
        _ => format!("({})", shape.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // magic (6) + version (2) + header length (2) + header + '\n' must be a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.extend(std::iter::repeat_n(' ', unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(NPY_MAGIC);
    out.extend_from_slice(&[1, 0]);
    // A header of a few dozen characters always fits in u16.
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A Python literal of an `.npy` header.
#[derive(Clone, Debug, PartialEq)]
enum PyValue {
    Str(String),
    Bool(bool),
    Int(u64),
    Tuple(Vec<PyValue>),
}

/// A tiny parser for the Python dict literal of an `.npy` header.
struct HeaderParser<'a> {
    s: &'a [u8],
    at: usize,
}

impl HeaderParser<'_> {
    fn skip_ws(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.at).copied()
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        match self.peek() {
            Some(x) if x == c => {
                self.at += 1;
                Ok(())
            }
            Some(x) => Err(format!("expected '{}' at character {}, found '{}'", c as char, self.at, x as char)),
            None => Err(format!("expected '{}' at character {}, found the end of the header", c as char, self.at)),
        }
    }

    fn value(&mut self) -> std::result::Result<PyValue, String> {
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                self.at += 1;
                let start = self.at;
                while self.at < self.s.len() && self.s[self.at] != q {
                    self.at += 1;
                }
                if self.at == self.s.len() {
                    return Err("unterminated string".into());
                }
                let text = String::from_utf8_lossy(&self.s[start..self.at]).into_owned();
                self.at += 1;
                Ok(PyValue::Str(text))
            }
            Some(b'(') => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(b')') {
                        self.at += 1;
                        return Ok(PyValue::Tuple(items));
                    }
                    items.push(self.value()?);
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b')') => {}
                        _ => return Err(format!("expected ',' or ')' in a tuple at character {}", self.at)),
                    }
                }
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.at;
                while self.at < self.s.len() && self.s[self.at].is_ascii_digit() {
                    self.at += 1;
                }
                // Python 2 wrote long integers with an `L` suffix.
                let digits = std::str::from_utf8(&self.s[start..self.at]).unwrap_or("");
                if self.s.get(self.at) == Some(&b'L') {
                    self.at += 1;
                }
                digits.parse().map(PyValue::Int).map_err(|_| format!("integer {digits} is too large"))
            }
            Some(_) => {
                for (word, v) in [("True", true), ("False", false)] {
                    if self.s[self.at..].starts_with(word.as_bytes()) {
                        self.at += word.len();
                        return Ok(PyValue::Bool(v));
                    }
                }
                Err(format!("unexpected character '{}' at character {}", self.s[self.at] as char, self.at))
            }
            None => Err("unexpected end of the header".into()),
        }
    }

    fn dict(&mut self) -> std::result::Result<Vec<(String, PyValue)>, String> {
        self.expect(b'{')?;
        let mut out = Vec::new();
        loop {
            if self.peek() == Some(b'}') {
                self.at += 1;
                return Ok(out);
            }
            let key = match self.value()? {
                PyValue::Str(k) => k,
                v => return Err(format!("dictionary key {v:?} is not a string")),
            };
            self.expect(b':')?;
            out.push((key, self.value()?));
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {}
                _ => return Err(format!("expected ',' or '}}' at character {}", self.at)),
            }
        }
    }
}

/// Parses the header of an `.npy` file (versions 1.0, 2.0, 3.0).
pub fn parse_npy_header(bytes: &[u8], path: &Path) -> Result<NpyHeader> {
    let bad = |msg: String| Error::format(path, msg);
    if bytes.len() < 10 || &bytes[..6] != NPY_MAGIC {
        return Err(bad(format!(
            "not an .npy file: expected the magic bytes \"\\x93NUMPY\", found \"{}\"",
            bytes[..bytes.len().min(6)].escape_ascii()
        )));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        _ => return Err(bad(format!(".npy format version {major}.{minor}, expected 1.0, 2.0 or 3.0"))),
    };
    let end = start.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or_else(|| {
        bad(format!("the .npy header announces {header_len} bytes but the file has only {} after the preamble", bytes.len() - start))
    })?;
    let mut parser = HeaderParser { s: &bytes[start..end], at: 0 };
    let dict = parser.dict().map_err(|e| bad(format!("cannot parse the .npy header: {e}")))?;
    let get =
        |key: &str| dict.iter().find(|(k, _)| k == key).map(|(_, v)| v).ok_or_else(|| bad(format!("the .npy header has no '{key}' entry")));
    let descr = match get("descr")? {
        PyValue::Str(s) => s.clone(),
        v => return Err(bad(format!("the .npy 'descr' is {v:?}, expected a simple dtype string such as '|u1' or '<f4'"))),
    };
    let fortran_order = match get("fortran_order")? {
        PyValue::Bool(b) => *b,
        v => return Err(bad(format!("the .npy 'fortran_order' is {v:?}, expected True or False"))),
    };
    let shape = match get("shape")? {
        PyValue::Tuple(items) => items
            .iter()
            .map(|v| match v {
                PyValue::Int(i) => usize::try_from(*i).map_err(|_| bad(format!("dimension {i} of the .npy shape is too large"))),
                v => Err(bad(format!("the .npy shape holds {v:?}, expected integers"))),
            })
            .collect::<Result<Vec<usize>>>()?,
        v => return Err(bad(format!("the .npy 'shape' is {v:?}, expected a tuple of integers"))),
    };
    Ok(NpyHeader { descr, fortran_order, shape, data_offset: end })
}

/// Parses an `.npy` file expected to hold a C-order array of `ndim` dimensions whose dtype is one
/// of `dtypes` (the first is the one named in errors) with `item` bytes per element; returns the
/// shape and the data bytes.
pub fn read_npy<'a>(bytes: &'a [u8], path: &Path, what: &str, dtypes: &[&str], item: usize, ndim: usize) -> Result<(Vec<usize>, &'a [u8])> {
    let h = parse_npy_header(bytes, path)?;
    if !dtypes.contains(&h.descr.as_str()) {
        return Err(Error::format(path, format!("{what}: .npy dtype '{}', expected '{}'", h.descr, dtypes[0])));
    }
    if h.fortran_order {
        return Err(Error::format(path, format!("{what}: .npy array in Fortran order, expected C order (np.ascontiguousarray)")));
    }
    if h.shape.len() != ndim {
        return Err(Error::format(path, format!("{what}: .npy shape {:?}, expected {ndim} dimension(s)", h.shape)));
    }
    let count = h.shape.iter().try_fold(item, |acc, &d| acc.checked_mul(d));
    let data = &bytes[h.data_offset..];
    if count != Some(data.len()) {
        return Err(Error::format(
            path,
            format!(
                "{what}: .npy shape {:?} of '{}' needs {} data bytes, the file has {}",
                h.shape,
                h.descr,
                count.map_or("more".to_string(), |c| c.to_string()),
                data.len()
            ),
        ));
    }
    Ok((h.shape, data))
}

/// Checks a parsed header against what a reader expects (see [`read_npy`]) and returns the number
/// of data bytes it announces.
fn check_header(h: &NpyHeader, path: &Path, what: &str, dtypes: &[&str], item: usize, ndim: usize) -> Result<usize> {
    if !dtypes.contains(&h.descr.as_str()) {
        return Err(Error::format(path, format!("{what}: .npy dtype '{}', expected '{}'", h.descr, dtypes[0])));
    }
    if h.fortran_order {
        return Err(Error::format(path, format!("{what}: .npy array in Fortran order, expected C order (np.ascontiguousarray)")));
    }
    if h.shape.len() != ndim {
        return Err(Error::format(path, format!("{what}: .npy shape {:?}, expected {ndim} dimension(s)", h.shape)));
    }
    h.shape
        .iter()
        .try_fold(item, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::format(path, format!("{what}: .npy shape {:?} is larger than any file", h.shape)))
}

/// Opens `path`, reads and checks its `.npy` header, checks that the file holds exactly the data
/// the header announces and that it fits in memory; returns the shape, the data length in bytes and
/// the file positioned at the data.
fn open_npy(path: &Path, what: &str, dtypes: &[&str], item: usize, ndim: usize) -> Result<(Vec<usize>, usize, std::fs::File)> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut pre = vec![0u8; 12.min(file_len as usize)];
    file.read_exact(&mut pre).map_err(|e| Error::io(path, e))?;
    // The byte-level parser words the errors of a bad preamble.
    let bad_preamble = |pre: &[u8]| parse_npy_header(pre, path).err().unwrap_or_else(|| Error::format(path, "unreadable .npy preamble"));
    if pre.len() < 10 || &pre[..6] != NPY_MAGIC {
        return Err(bad_preamble(&pre));
    }
    let (header_len, start) = match pre[6] {
        1 => (u16::from_le_bytes([pre[8], pre[9]]) as usize, 10usize),
        2 | 3 if pre.len() >= 12 => (u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as usize, 12),
        _ => return Err(bad_preamble(&pre)),
    };
    if (start + header_len) as u64 > file_len {
        return Err(Error::format(
            path,
            format!("the .npy header announces {header_len} bytes but the file has only {} after the preamble", file_len - start as u64),
        ));
    }
    let got = pre.len();
    let mut bytes = pre;
    bytes.resize((start + header_len).max(got), 0);
    file.read_exact(&mut bytes[got..]).map_err(|e| Error::io(path, e))?;
    let h = parse_npy_header(&bytes, path)?;
    let count = check_header(&h, path, what, dtypes, item, ndim)?;
    let data_len = file_len - h.data_offset as u64;
    if count as u64 != data_len {
        return Err(Error::format(
            path,
            format!("{what}: .npy shape {:?} of '{}' needs {count} data bytes, the file has {data_len}", h.shape, h.descr),
        ));
    }
    check_alloc(&format!("{what} of {} (shape {:?})", path.display(), h.shape), count as u128)?;
    Ok((h.shape, count, file))
}

/// The bytes of an `.npy` file holding `m` as `<f4`, shape `(rows, cols)`.
pub fn matrix_to_npy(m: &Matrix) -> Vec<u8> {
    let data: Vec<u8> = m.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_bytes("<f4", &[m.rows, m.cols], &data)
}

/// Parses `.npy` bytes of a 2-D `<f4` C-order array; `path` names the source in errors.
pub fn matrix_from_npy(bytes: &[u8], path: &Path) -> Result<Matrix> {
    let (shape, data) = read_npy(bytes, path, "f32 matrix", &["<f4"], 4, 2)?;
    let values = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Matrix::from_vec(shape[0], shape[1], values)
}

/// Writes `m` to `path` as `.npy` (`<f4`, shape `(rows, cols)`).
pub fn save_matrix_npy(path: &Path, m: &Matrix) -> Result<()> {
    if m.data.len() != m.rows * m.cols {
        return Err(Error::shape("matrix to save", format!("{} values", m.data.len()), format!("{} x {}", m.rows, m.cols)));
    }
    write_atomic(path, &matrix_to_npy(m))
}

/// Reads a 2-D `<f4` `.npy` file (header and sizes checked before the data is read).
pub fn load_matrix_npy(path: &Path) -> Result<Matrix> {
    let (shape, bytes, mut file) = open_npy(path, "f32 matrix", &["<f4"], 4, 2)?;
    let mut values = Vec::with_capacity(bytes / 4);
    let mut buf = vec![0u8; (1 << 20).min(bytes.max(4))];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(buf.len());
        file.read_exact(&mut buf[..n]).map_err(|e| Error::io(path, e))?;
        values.extend(buf[..n].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        left -= n;
    }
    Matrix::from_vec(shape[0], shape[1], values)
}

/// Writes `labels` to `path` as `.npy` (`|u1`, shape `(n,)`).
pub fn save_labels_npy(path: &Path, labels: &[u8]) -> Result<()> {
    write_atomic(path, &npy_bytes("|u1", &[labels.len()], labels))
}

/// Reads a 1-D `|u1` `.npy` file of labels.
pub fn load_labels_npy(path: &Path) -> Result<Vec<u8>> {
    let (_, bytes, mut file) = open_npy(path, "labels", &U1, 1, 1)?;
    let mut data = vec![0u8; bytes];
    file.read_exact(&mut data).map_err(|e| Error::io(path, e))?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_bad_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let m = Matrix::from_vec(3, 2, vec![1.0, -2.5, 0.0, f32::MAX, 1e-30, 3.25]).unwrap();
        let path = dir.path().join("m.npy");
        save_matrix_npy(&path, &m).unwrap();
        assert_eq!(load_matrix_npy(&path).unwrap(), m);
        let big = Matrix::from_vec(700, 500, (0..350_000).map(|i| i as f32).collect()).unwrap();
        save_matrix_npy(&path, &big).unwrap();
        assert_eq!(load_matrix_npy(&path).unwrap(), big, "read in several blocks");
        let lpath = dir.path().join("l.npy");
        save_labels_npy(&lpath, &[3, 1, 4]).unwrap();
        assert_eq!(load_labels_npy(&lpath).unwrap(), vec![3, 1, 4]);
        // Labels are not a matrix, a matrix is not labels.
        let e = load_matrix_npy(&lpath).unwrap_err().to_string();
        assert!(e.contains("l.npy") && e.contains("'|u1'") && e.contains("'<f4'"), "{e}");
        let e = load_labels_npy(&path).unwrap_err().to_string();
        assert!(e.contains("m.npy") && e.contains("'<f4'"), "{e}");
        // Truncated data, a header that claims more than the file, not an npy file.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let e = load_matrix_npy(&path).unwrap_err().to_string();
        assert!(e.contains("needs 1400000 data bytes") && e.contains("1399996"), "{e}");
        std::fs::write(&path, &bytes[..40]).unwrap();
        assert!(load_matrix_npy(&path).unwrap_err().to_string().contains("header announces"));
        std::fs::write(&path, b"hello").unwrap();
        assert!(load_matrix_npy(&path).unwrap_err().to_string().contains("not an .npy file"));
        let one_d = npy_bytes("<f4", &[2], &[0; 8]);
        std::fs::write(&path, &one_d).unwrap();
        assert!(load_matrix_npy(&path).unwrap_err().to_string().contains("2 dimension"));
        let mut fo = matrix_to_npy(&m);
        let at = fo.windows(5).position(|w| w == b"False").unwrap();
        fo[at..at + 5].copy_from_slice(b"True ");
        std::fs::write(&path, &fo).unwrap();
        assert!(load_matrix_npy(&path).unwrap_err().to_string().contains("Fortran"));
        assert!(load_matrix_npy(&dir.path().join("missing.npy")).unwrap_err().to_string().contains("missing.npy"));
    }
}
