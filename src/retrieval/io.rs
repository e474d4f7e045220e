//! Files of binary codes, feature matrices and labels.
//!
//! # `.codes`: our own format for [`BinaryCodes`]
//!
//! All integers little-endian:
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 8 | magic bytes `CMPCODES` |
//! | 8 | 8 | format version, `u64` = 1 |
//! | 16 | 8 | `n`, the number of codes, `u64` |
//! | 24 | 8 | `bits`, bits per code, `u64` (at least 1) |
//! | 32 | `8 * n * ceil(bits / 64)` | the packed words of [`BinaryCodes`], code after code, each `u64` |
//!
//! The words keep the in-memory layout (bit `j` of a code is bit `j % 64` of word `j / 64`, least
//! significant first; padding bits 0). Loading checks the magic, the version, that the file has
//! exactly the announced length and that every padding bit is 0; errors name the file and say what
//! was expected.
//!
//! # `.npy` (NumPy format version 1.0)
//!
//! - Codes: dtype `|u1`, shape `(n, ceil(bits / 8))`, C order, packed like NumPy's
//!   `np.packbits(flags, axis=1)` with its default `bitorder='big'`: bit `j` of a code is bit
//!   `7 - j % 8` of byte `j / 8`, padding bits 0. So in Python
//!   `np.unpackbits(np.load(f), axis=1)[:, :bits]` gives the 0/1 flags back. An `.npy` file cannot
//!   store `bits`; [`load_codes_npy`] takes it (default `8 * columns`).
//! - Feature matrices (activations): dtype `<f4`, shape `(rows, cols)`, C order.
//! - Labels: dtype `|u1`, shape `(n,)`.
//!
//! Readers accept header versions 1.0, 2.0 and 3.0 and refuse other dtypes, Fortran order, other
//! shapes and files whose data length does not match the header.
//!
//! ```
//! use compete::retrieval::{BinaryCodes, io};
//!
//! let codes = BinaryCodes::from_bools(2, 10, &[[true; 10], [false; 10]].concat()).unwrap();
//! let bytes = io::codes_to_npy(&codes);
//! let back = io::codes_from_npy(&bytes, Some(10), "in memory".as_ref()).unwrap();
//! assert_eq!(back, codes);
//! ```

use std::path::Path;

use super::codes::{BinaryCodes, words_for};
use crate::error::{Error, Result};
pub use crate::io::npy::{load_labels_npy, load_matrix_npy, matrix_from_npy, matrix_to_npy, save_labels_npy, save_matrix_npy};
use crate::io::npy::{npy_bytes, read_npy};
use crate::io::write_atomic;
#[cfg(test)]
use crate::tensor::Matrix;

/// Magic bytes opening a `.codes` file.
pub const CODES_MAGIC: [u8; 8] = *b"CMPCODES";
/// The `.codes` format version written by [`save_codes`].
pub const CODES_VERSION: u64 = 1;
/// Length of the `.codes` header (magic, version, n, bits).
pub const CODES_HEADER_LEN: usize = 32;

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

// ---------------------------------------------------------------------------------------------
// .codes
// ---------------------------------------------------------------------------------------------

/// The bytes of a `.codes` file holding `codes` (format in the module docs).
pub fn codes_to_bytes(codes: &BinaryCodes) -> Vec<u8> {
    let mut out = Vec::with_capacity(CODES_HEADER_LEN + 8 * codes.as_words().len());
    out.extend_from_slice(&CODES_MAGIC);
    for v in [CODES_VERSION, codes.len() as u64, codes.bits() as u64] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for w in codes.as_words() {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Parses the bytes of a `.codes` file; `path` only names the source in errors.
pub fn codes_from_bytes(bytes: &[u8], path: &Path) -> Result<BinaryCodes> {
    if bytes.len() < CODES_HEADER_LEN {
        return Err(Error::format(
            path,
            format!("file is {} bytes, shorter than the {CODES_HEADER_LEN}-byte header of a .codes file", bytes.len()),
        ));
    }
    if bytes[..8] != CODES_MAGIC {
        return Err(Error::format(
            path,
            format!("not a .codes file: starts with \"{}\", expected the magic bytes \"CMPCODES\"", bytes[..8].escape_ascii()),
        ));
    }
    let version = le_u64(bytes, 8);
    if version != CODES_VERSION {
        return Err(Error::format(path, format!(".codes format version {version}, expected {CODES_VERSION}")));
    }
    let (n, bits) = (le_u64(bytes, 16), le_u64(bytes, 24));
    if bits == 0 {
        return Err(Error::format(path, "header says 0 bits per code, expected at least 1"));
    }
    let words = bits.div_ceil(64);
    let expected = n
        .checked_mul(words)
        .and_then(|w| w.checked_mul(8))
        .and_then(|b| b.checked_add(CODES_HEADER_LEN as u64))
        .ok_or_else(|| Error::format(path, format!("header announces {n} codes of {bits} bits, more than a file can hold")))?;
    if bytes.len() as u64 != expected {
        return Err(Error::format(
            path,
            format!(
                "file is {} bytes, expected {expected}: the {CODES_HEADER_LEN}-byte header + {n} codes x {words} words x 8 bytes \
                 ({}{bits}-bit codes)",
                bytes.len(),
                if (bytes.len() as u64) < expected { "truncated? " } else { "trailing bytes after " },
            ),
        ));
    }
    let data: Vec<u64> = bytes[CODES_HEADER_LEN..].chunks_exact(8).map(|c| le_u64(c, 0)).collect();
    // The sizes fit in memory: the file holds them all.
    BinaryCodes::from_words(n as usize, bits as usize, data).map_err(|e| Error::format(path, e.to_string()))
}

/// Writes `codes` to `path` in the `.codes` format (atomically; parent folders created).
pub fn save_codes(path: &Path, codes: &BinaryCodes) -> Result<()> {
    write_atomic(path, &codes_to_bytes(codes))
}

/// Reads a `.codes` file written by [`save_codes`].
pub fn load_codes(path: &Path) -> Result<BinaryCodes> {
    codes_from_bytes(&read_file(path)?, path)
}

// ---------------------------------------------------------------------------------------------
// .npy
// ---------------------------------------------------------------------------------------------

/// The bytes of an `.npy` file holding `codes` packed like `np.packbits(flags, axis=1)` (see the
/// module docs): dtype `|u1`, shape `(n, ceil(bits / 8))`.
pub fn codes_to_npy(codes: &BinaryCodes) -> Vec<u8> {
    npy_bytes("|u1", &[codes.len(), codes.bits().div_ceil(8)], &codes_to_packed(codes))
}

/// `codes` packed like `np.packbits(flags, axis=1)`: `ceil(bits / 8)` bytes per code, row after row.
pub fn codes_to_packed(codes: &BinaryCodes) -> Vec<u8> {
    let cols = codes.bits().div_ceil(8);
    let mut data = Vec::with_capacity(codes.len() * cols);
    for i in 0..codes.len() {
        let words = codes.code(i);
        // Byte b holds bits 8b..8b+7: byte b % 8 of word b / 8 in our LSB-first layout, whose bit
        // order reversed is NumPy's big bit order. Padding bits are 0 in both.
        data.extend((0..cols).map(|b| ((words[b / 8] >> (8 * (b % 8))) as u8).reverse_bits()));
    }
    data
}

/// Parses `.npy` bytes of packed codes (see [`codes_to_npy`]); `bits` defaults to `8 * columns`
/// and must need exactly the file's column count; padding bits must be 0. `path` names the source
/// in errors.
pub fn codes_from_npy(bytes: &[u8], bits: Option<usize>, path: &Path) -> Result<BinaryCodes> {
    let what = "packed codes";
    let (shape, data) = read_npy(bytes, path, what, &["|u1", "<u1", ">u1", "=u1", "u1", "|b1"], 1, 2)?;
    codes_from_packed(data, shape[0], shape[1], bits, what).map_err(|e| Error::format(path, e.to_string()))
}

/// Codes from `n` rows of `cols` bytes packed like `np.packbits(flags, axis=1)` (row-major in
/// `data`; see the module docs), `what` naming them in errors. `bits` defaults to `8 * cols` and must
/// need exactly `cols` bytes; padding bits must be 0.
pub fn codes_from_packed(data: &[u8], n: usize, cols: usize, bits: Option<usize>, what: &str) -> Result<BinaryCodes> {
    if n.checked_mul(cols) != Some(data.len()) {
        return Err(Error::shape(what, format!("{} bytes", data.len()), format!("{n} rows of {cols} bytes")));
    }
    let bits = bits.unwrap_or(8 * cols);
    if bits == 0 || bits.div_ceil(8) != cols {
        return Err(Error::shape(
            what,
            format!("{cols} columns (bytes per row)"),
            format!("{} bytes per row for {bits}-bit codes (np.packbits of {bits} flags per row)", bits.div_ceil(8)),
        ));
    }
    let words = words_for(bits);
    crate::io::memory::check_alloc(&format!("{what}: {n} codes of {bits} bits"), crate::io::memory::bytes(&[n, words], 8))?;
    let mut out = vec![0u64; n * words];
    let pad_mask: u8 = if bits.is_multiple_of(8) { 0 } else { 0xff >> (bits % 8) };
    for (i, (row, code)) in data.chunks_exact(cols).zip(out.chunks_exact_mut(words)).enumerate() {
        if row[cols - 1] & pad_mask != 0 {
            return Err(Error::Data(format!("{what}: row {i} has bits set past the {bits} bits of a code; padding bits must be 0")));
        }
        // Eight bytes at a time: byte b goes to bits 8b..8b+7 of its word with its bit order
        // reversed (NumPy's big bit order), which is a little-endian load followed by a bit
        // reversal inside every byte (three swaps of masked halves).
        let mut chunks = row.chunks_exact(8);
        for (word, chunk) in code.iter_mut().zip(&mut chunks) {
            let mut x = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            x = ((x >> 1) & 0x5555_5555_5555_5555) | ((x & 0x5555_5555_5555_5555) << 1);
            x = ((x >> 2) & 0x3333_3333_3333_3333) | ((x & 0x3333_3333_3333_3333) << 2);
            *word = ((x >> 4) & 0x0f0f_0f0f_0f0f_0f0f) | ((x & 0x0f0f_0f0f_0f0f_0f0f) << 4);
        }
        let done = cols - chunks.remainder().len();
        for (b, &byte) in chunks.remainder().iter().enumerate() {
            code[(done + b) / 8] |= (byte.reverse_bits() as u64) << (8 * ((done + b) % 8));
        }
    }
    BinaryCodes::from_words(n, bits, out)
}

/// Writes `codes` to `path` as `.npy` (see [`codes_to_npy`]).
pub fn save_codes_npy(path: &Path, codes: &BinaryCodes) -> Result<()> {
    write_atomic(path, &codes_to_npy(codes))
}

/// Reads packed codes from an `.npy` file (see [`codes_from_npy`]).
pub fn load_codes_npy(path: &Path, bits: Option<usize>) -> Result<BinaryCodes> {
    codes_from_npy(&read_file(path)?, bits, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> BinaryCodes {
        // 3 codes of 70 bits (two words, 6 bits used in the second).
        let flags: Vec<bool> = (0..3 * 70).map(|k| (k * 5 + k / 7) % 3 == 0).collect();
        BinaryCodes::from_bools(3, 70, &flags).unwrap()
    }

    fn p() -> &'static Path {
        Path::new("test.bin")
    }

    #[test]
    fn codes_file_round_trips_and_has_the_documented_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.codes");
        let codes = example();
        save_codes(&path, &codes).unwrap();
        assert_eq!(load_codes(&path).unwrap(), codes);

        // 2 codes of 3 bits: 101 and 011 (bit 0 first) are the words 0b101 = 5 and 0b110 = 6.
        let tiny = BinaryCodes::from_bools(2, 3, &[true, false, true, false, true, true]).unwrap();
        let mut expected = b"CMPCODES".to_vec();
        expected.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]); // version 1
        expected.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]); // n = 2
        expected.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0]); // bits = 3
        expected.extend_from_slice(&[5, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(codes_to_bytes(&tiny), expected);
        assert_eq!(codes_from_bytes(&expected, p()).unwrap(), tiny);
        // No codes at all is a valid file.
        let empty = BinaryCodes::zeros(0, 9).unwrap();
        assert_eq!(codes_from_bytes(&codes_to_bytes(&empty), p()).unwrap(), empty);
    }

    #[test]
    fn corrupt_codes_files_are_refused_with_the_reason() {
        let good = codes_to_bytes(&example());
        let err = |bytes: &[u8]| codes_from_bytes(bytes, Path::new("bad.codes")).unwrap_err().to_string();

        let e = err(&good[..20]);
        assert!(e.contains("bad.codes") && e.contains("20 bytes") && e.contains("32-byte header"), "{e}");
        let e = err(&good[..good.len() - 8]);
        assert!(e.contains("bad.codes") && e.contains(&format!("expected {}", good.len())) && e.contains("truncated"), "{e}");
        let mut long = good.clone();
        long.push(0);
        assert!(err(&long).contains("trailing"), "{}", err(&long));

        let mut magic = good.clone();
        magic[0] = b'X';
        assert!(err(&magic).contains("CMPCODES"));
        let mut version = good.clone();
        version[8] = 2;
        assert!(err(&version).contains("version 2"));
        let mut zero_bits = good.clone();
        zero_bits[24] = 0;
        assert!(err(&zero_bits).contains("0 bits"));
        let mut huge = good.clone();
        huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(err(&huge).contains("more than a file can hold"), "{}", err(&huge));
        // A padding bit (bit 6 of the second word: bit 70 of a 70-bit code) set.
        let mut padding = good.clone();
        padding[CODES_HEADER_LEN + 8] |= 1 << 6;
        let e = err(&padding);
        assert!(e.contains("bad.codes") && e.contains("padding"), "{e}");

        let missing = load_codes(Path::new("/nonexistent/dir/x.codes")).unwrap_err().to_string();
        assert!(missing.contains("/nonexistent/dir/x.codes"), "{missing}");
    }

    #[test]
    fn npy_codes_have_numpy_packbits_layout() {
        // 2 codes of 10 bits. Code 0: bits 0, 1 and 9 set; code 1: bits 7 and 8 set.
        let mut flags = vec![false; 20];
        for j in [0, 1, 9] {
            flags[j] = true;
        }
        for j in [7, 8] {
            flags[10 + j] = true;
        }
        let codes = BinaryCodes::from_bools(2, 10, &flags).unwrap();
        let bytes = codes_to_npy(&codes);
        // The header, padded to 128 bytes: 10 bytes of preamble + 117 + '\n'.
        let dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }";
        assert_eq!(dict.len(), 59);
        let mut expected = b"\x93NUMPY\x01\x00".to_vec();
        expected.extend_from_slice(&118u16.to_le_bytes());
        expected.extend_from_slice(dict.as_bytes());
        expected.extend_from_slice(&[b' '; 58]);
        expected.push(b'\n');
        assert_eq!(expected.len(), 128);
        // np.packbits, bitorder='big': bit j is bit 7 - j % 8 of byte j / 8.
        // Code 0: byte 0 = bits 0,1 -> 0b1100_0000; byte 1 = bit 9 -> 0b0100_0000.
        // Code 1: byte 0 = bit 7 -> 0b0000_0001; byte 1 = bit 8 -> 0b1000_0000.
        expected.extend_from_slice(&[0b1100_0000, 0b0100_0000, 0b0000_0001, 0b1000_0000]);
        assert_eq!(bytes, expected);
        assert_eq!(codes_from_npy(&bytes, Some(10), p()).unwrap(), codes);
        // Without the bit count: 16-bit codes with the same set bits.
        let wide = codes_from_npy(&bytes, None, p()).unwrap();
        assert_eq!(wide.bits(), 16);
        assert_eq!((0..16).filter(|&j| wide.bit(0, j)).collect::<Vec<_>>(), vec![0, 1, 9]);
    }

    #[test]
    fn npy_round_trips_codes_matrices_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        for bits in [1, 7, 8, 9, 64, 70, 130] {
            let flags: Vec<bool> = (0..4 * bits).map(|k| (k * 7 + k / 5) % 3 == 1).collect();
            let codes = BinaryCodes::from_bools(4, bits, &flags).unwrap();
            let path = dir.path().join(format!("c{bits}.npy"));
            save_codes_npy(&path, &codes).unwrap();
            assert_eq!(load_codes_npy(&path, Some(bits)).unwrap(), codes, "bits = {bits}");
            let len = std::fs::read(&path).unwrap().len();
            assert_eq!(len, 128 + 4 * bits.div_ceil(8), "bits = {bits}");
        }
        let m = Matrix::from_vec(2, 3, vec![1.0, -2.5, 0.0, f32::MAX, 1e-30, 3.25]).unwrap();
        let path = dir.path().join("m.npy");
        save_matrix_npy(&path, &m).unwrap();
        assert_eq!(load_matrix_npy(&path).unwrap(), m);
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"\x93NUMPY\x01\x00") && bytes.len() == 128 + 24);
        assert_eq!(&bytes[128..132], &1.0f32.to_le_bytes());
        let header = String::from_utf8_lossy(&bytes[10..128]).into_owned();
        assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") && header.ends_with(" \n"));

        let path = dir.path().join("labels.npy");
        save_labels_npy(&path, &[3, 1, 4, 1, 5]).unwrap();
        assert_eq!(load_labels_npy(&path).unwrap(), vec![3, 1, 4, 1, 5]);
        let header = String::from_utf8_lossy(&std::fs::read(&path).unwrap()[10..64]).into_owned();
        assert!(header.contains("'shape': (5,)"), "{header}");
    }

    #[test]
    fn npy_headers_written_by_numpy_are_read() {
        // As numpy >= 1.24 writes: extra spaces after the dict, and a version 2.0 file.
        let dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1), }                    ";
        for (major, len_bytes) in [(1u8, 2usize), (2, 4)] {
            let mut bytes = b"\x93NUMPY".to_vec();
            bytes.extend_from_slice(&[major, 0]);
            let total = (6 + 2 + len_bytes + dict.len() + 1).next_multiple_of(64);
            let header_len = total - 8 - len_bytes;
            bytes.extend_from_slice(&(header_len as u32).to_le_bytes()[..len_bytes]);
            bytes.extend_from_slice(dict.as_bytes());
            bytes.resize(total - 1, b' ');
            bytes.push(b'\n');
            bytes.push(0b1010_0000);
            let codes = codes_from_npy(&bytes, Some(3), p()).unwrap();
            assert_eq!(codes.to_bools(), vec![true, false, true], "version {major}");
        }
    }

    #[test]
    fn packed_rows_unpack_bit_by_bit_at_every_width() {
        // Every width from 1 to 20 bytes (whole words, a tail, both): bit j of a code is bit
        // 7 - j % 8 of byte j / 8 (np.packbits), whatever path the bytes take.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for cols in 1..=20 {
            let n = 5;
            let data: Vec<u8> = (0..n * cols)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let codes = codes_from_packed(&data, n, cols, None, "test codes").unwrap();
            for i in 0..n {
                for j in 0..8 * cols {
                    assert_eq!(codes.bit(i, j), data[i * cols + j / 8] >> (7 - j % 8) & 1 == 1, "cols {cols}, code {i}, bit {j}");
                }
            }
            assert_eq!(codes_to_packed(&codes), data);
        }
    }

    #[test]
    fn wrong_npy_files_are_refused_clearly() {
        let codes = example();
        let good = codes_to_npy(&codes);
        let err = |bytes: &[u8], bits: Option<usize>| codes_from_npy(bytes, bits, Path::new("c.npy")).unwrap_err().to_string();

        // 70 bits need 9 bytes per row; 64 bits need 8.
        let e = err(&good, Some(64));
        assert!(e.contains("c.npy") && e.contains("64-bit") && e.contains("9 columns"), "{e}");
        // Padding bit set: 70 bits use 6 bits of the last byte; bit 1 of it is bit 70.
        let mut padded = good.clone();
        let last = 128 + 9 - 1;
        padded[last] |= 0b10;
        assert!(err(&padded, Some(70)).contains("padding"), "{}", err(&padded, Some(70)));
        assert!(codes_from_npy(&padded, None, p()).is_ok());
        // Truncated data.
        let e = err(&good[..good.len() - 1], Some(70));
        assert!(e.contains("needs 27 data bytes") && e.contains("26"), "{e}");
        // Truncated header.
        assert!(err(&good[..50], None).contains("header announces"));
        assert!(err(b"PK\x03\x04 zip file", None).contains("not an .npy file"));

        // Another dtype, Fortran order, wrong rank.
        let f = matrix_to_npy(&Matrix::from_vec(2, 2, vec![0.0; 4]).unwrap());
        let e = err(&f, None);
        assert!(e.contains("'<f4'") && e.contains("'|u1'"), "{e}");
        let header = String::from_utf8(good[10..128].to_vec()).unwrap().replace("False", "True ");
        let mut fo = good[..10].to_vec();
        fo.extend_from_slice(header.as_bytes());
        fo.extend_from_slice(&good[128..]);
        assert!(err(&fo, None).contains("Fortran"));
        let one_d = npy_bytes("|u1", &[4], &[1, 2, 3, 4]);
        assert!(err(&one_d, None).contains("2 dimension"));
        let e = matrix_from_npy(&good, Path::new("m.npy")).unwrap_err().to_string();
        assert!(e.contains("m.npy") && e.contains("'|u1'") && e.contains("'<f4'"), "{e}");
        // A broken header dict.
        let mut broken = good.clone();
        broken[10] = b'[';
        assert!(err(&broken, None).contains("cannot parse"));
    }
}
