//! Reading and writing the IDX format of MNIST, plain or gzip-compressed.
//!
//! An IDX file is a big-endian header followed by raw bytes:
//!
//! ```text
//! magic: 0x00 0x00 <type> <ndims>     type 0x08 = unsigned byte (the only one supported here)
//! ndims big-endian u32 sizes          images: n, rows, cols    labels: n
//! n * rows * cols (or n) bytes        row-major pixels (0 = background, 255 = ink) or labels
//! ```
//!
//! so the magic is `0x00000803` for image files and `0x00000801` for label files. Readers accept the
//! file gzip-compressed or not, telling them apart by the gzip magic bytes `0x1f 0x8b` rather than by
//! the file name, and check everything: magic, data type, number of dimensions, zero sizes and the
//! exact file length. Every error names the file. Writers go through a temporary file in the target
//! folder renamed into place, so a reader never sees half a file.
//!
//! ```
//! use compete::data::idx::{read_idx_images, read_idx_labels, write_idx_images, write_idx_labels};
//!
//! let dir = std::env::temp_dir().join(format!("compete-idx-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let pixels: Vec<u8> = (0..2 * 3 * 4).map(|v| v as u8).collect();
//! write_idx_images(&dir.join("imgs.gz"), 2, 3, 4, &pixels, true).unwrap();
//! write_idx_labels(&dir.join("labels"), &[7, 1], false).unwrap();
//! let images = read_idx_images(&dir.join("imgs.gz")).unwrap();
//! assert_eq!((images.n, images.rows, images.cols), (2, 3, 4));
//! assert_eq!(images.pixels, pixels);
//! assert_eq!(read_idx_labels(&dir.join("labels")).unwrap(), vec![7, 1]);
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::error::{Error, Result};

/// Magic number of an IDX file of unsigned-byte images: 3 dimensions (n, rows, cols).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels: 1 dimension (n).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// IDX data-type byte for unsigned bytes, the only one this reader supports.
pub const TYPE_U8: u8 = 0x08;

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Images read from an IDX file: `n` images of `rows x cols` raw bytes, row-major, image after image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub n: usize,
    /// Rows of one image (28 for MNIST).
    pub rows: usize,
    /// Columns of one image (28 for MNIST).
    pub cols: usize,
    /// `n * rows * cols` pixels, exactly as stored in the file.
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// Bytes of one image: `rows * cols`.
    pub fn image_len(&self) -> usize {
        self.rows * self.cols
    }

    /// The raw bytes of image `i`.
    ///
    /// # Panics
    /// If `i >= n`.
    pub fn image(&self, i: usize) -> &[u8] {
        let len = self.image_len();
        &self.pixels[i * len..(i + 1) * len]
    }
}

/// Reads a whole file into memory, decompressing it when it starts with the gzip magic bytes.
///
/// Concatenated gzip members are decoded as one stream (as `gunzip` does).
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let mut raw = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut raw)).map_err(|e| Error::io(path, e))?;
    if raw.len() < 2 || raw[..2] != GZIP_MAGIC {
        return Ok(raw);
    }
    // The gzip trailer holds the decompressed size modulo 2^32: a capacity hint, capped so that a
    // corrupt trailer cannot ask for an absurd allocation.
    let hint = if raw.len() >= 18 {
        let t = &raw[raw.len() - 4..];
        (u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize).min(1 << 30)
    } else {
        0
    };
    let mut out = Vec::with_capacity(hint);
    MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| Error::format(path, format!("gzip decompression failed after {} bytes: {e}", out.len())))?;
    Ok(out)
}

/// What an IDX reader expects: the magic, the number of dimensions and a name for messages.
struct Expect {
    magic: u32,
    ndims: usize,
    what: &'static str,
}

/// Name of the IDX data-type byte, for messages.
fn type_name(t: u8) -> &'static str {
    match t {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => "unknown type",
    }
}

/// Checks the header of an IDX file held in `bytes` and returns its dimension sizes; the data then
/// starts at byte `4 + 4 * ndims` and is exactly the product of the sizes long.
fn parse_header(bytes: &[u8], path: &Path, expect: &Expect) -> Result<Vec<usize>> {
    if bytes.len() < 4 {
        return Err(Error::format(
            path,
            format!("file too short for an IDX header: {} bytes found, at least 4 (the magic) expected for {}", bytes.len(), expect.what),
        ));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != expect.magic {
        let why = if bytes[0] != 0 || bytes[1] != 0 {
            "not an IDX file (its first two bytes must be zero)".to_string()
        } else if bytes[2] != TYPE_U8 {
            format!("data type 0x{:02X} ({}) is not supported, only 0x{TYPE_U8:02X} (unsigned byte)", bytes[2], type_name(bytes[2]))
        } else {
            format!("{} dimension(s), expected {}", bytes[3], expect.ndims)
        };
        return Err(Error::format(path, format!("magic 0x{magic:08X}, expected 0x{:08X} for {}: {why}", expect.magic, expect.what)));
    }
    let header_len = 4 + 4 * expect.ndims;
    if bytes.len() < header_len {
        return Err(Error::format(
            path,
            format!(
                "truncated IDX header: expected {header_len} bytes (magic and {} dimension sizes), found {}",
                expect.ndims,
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header_len].chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let shown = dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x");
    if let Some(k) = dims.iter().position(|&d| d == 0) {
        return Err(Error::format(
            path,
            format!("dimension {k} has size 0 (sizes {shown}): an IDX file with no {} is not accepted", expect.what),
        ));
    }
    let data_len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&len| len.checked_add(header_len).is_some())
        .ok_or_else(|| Error::format(path, format!("dimension sizes {shown} overflow the address space")))?;
    let expected = header_len + data_len;
    if bytes.len() < expected {
        return Err(Error::format(
            path,
            format!(
                "truncated: expected {expected} bytes ({header_len} of header + {shown} bytes of data), found {} ({} missing)",
                bytes.len(),
                expected - bytes.len()
            ),
        ));
    }
    if bytes.len() > expected {
        return Err(Error::format(
            path,
            format!(
                "{} trailing bytes: expected {expected} bytes ({header_len} of header + {shown} bytes of data), found {}",
                bytes.len() - expected,
                bytes.len()
            ),
        ));
    }
    Ok(dims)
}

/// Parses an IDX image file already in memory (decompressed); `path` only names it in errors.
pub fn parse_idx_images(mut bytes: Vec<u8>, path: &Path) -> Result<IdxImages> {
    let dims = parse_header(&bytes, path, &Expect { magic: IMAGES_MAGIC, ndims: 3, what: "images" })?;
    bytes.drain(..16);
    Ok(IdxImages { n: dims[0], rows: dims[1], cols: dims[2], pixels: bytes })
}

/// Parses an IDX label file already in memory (decompressed); `path` only names it in errors.
pub fn parse_idx_labels(mut bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    parse_header(&bytes, path, &Expect { magic: LABELS_MAGIC, ndims: 1, what: "labels" })?;
    bytes.drain(..8);
    Ok(bytes)
}

/// Reads an IDX file of unsigned-byte images (magic `0x00000803`), gzip-compressed or not.
pub fn read_idx_images(path: &Path) -> Result<IdxImages> {
    parse_idx_images(read_maybe_gz(path)?, path)
}

/// Reads an IDX file of unsigned-byte labels (magic `0x00000801`), gzip-compressed or not.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>> {
    parse_idx_labels(read_maybe_gz(path)?, path)
}

/// Size of a dimension as the big-endian u32 of the header, refusing 0 and sizes above `u32::MAX`.
fn dim_u32(name: &str, value: usize) -> Result<[u8; 4]> {
    if value == 0 {
        return Err(Error::param(name, value, "at least 1: IDX files with a zero-sized dimension are not written"));
    }
    u32::try_from(value)
        .map(u32::to_be_bytes)
        .map_err(|_| Error::param(name, value, format!("at most {} (an IDX size is a u32)", u32::MAX)))
}

/// Writes `n` images of `rows x cols` bytes (`pixels`, row-major, image after image) as an IDX file,
/// gzip-compressed (level 9, no time stamp, so the same input gives the same bytes) when `gzip`.
///
/// The file is written to a temporary file in the same folder and renamed into place.
pub fn write_idx_images(path: &Path, n: usize, rows: usize, cols: usize, pixels: &[u8], gzip: bool) -> Result<()> {
    let header = [IMAGES_MAGIC.to_be_bytes(), dim_u32("n", n)?, dim_u32("rows", rows)?, dim_u32("cols", cols)?].concat();
    let expected = n.checked_mul(rows).and_then(|v| v.checked_mul(cols));
    if expected != Some(pixels.len()) {
        return Err(Error::shape(
            format!("pixels for {}", path.display()),
            format!("{} bytes", pixels.len()),
            format!("n * rows * cols = {n} * {rows} * {cols} bytes"),
        ));
    }
    write_atomic(path, &header, pixels, gzip)
}

/// Writes labels as an IDX file (magic `0x00000801`), gzip-compressed when `gzip`; atomic like
/// [`write_idx_images`].
pub fn write_idx_labels(path: &Path, labels: &[u8], gzip: bool) -> Result<()> {
    let header = [LABELS_MAGIC.to_be_bytes(), dim_u32("number of labels", labels.len())?].concat();
    write_atomic(path, &header, labels, gzip)
}

/// Distinguishes temporary files of concurrent writers within one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `header` then `data` (optionally gzip-compressed) to a temporary file next to `path`, syncs
/// it and renames it onto `path`. The temporary file is removed on failure.
fn write_atomic(path: &Path, header: &[u8], data: &[u8], gzip: bool) -> Result<()> {
    let name = path.file_name().ok_or_else(|| Error::param("output path", path.display(), "a path ending in a file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let k = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{}.tmp-{}-{k}", name.to_string_lossy(), std::process::id()));
    let result = write_file(&tmp, header, data, gzip).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes and syncs one file (no renaming).
fn write_file(tmp: &Path, header: &[u8], data: &[u8], gzip: bool) -> Result<()> {
    let io = |e| Error::io(tmp, e);
    let file = File::create(tmp).map_err(io)?;
    let file = if gzip {
        let mut enc = GzEncoder::new(std::io::BufWriter::new(file), Compression::best());
        enc.write_all(header).and_then(|()| enc.write_all(data)).map_err(io)?;
        enc.finish().map_err(io)?.into_inner().map_err(|e| io(e.into_error()))?
    } else {
        let mut w = std::io::BufWriter::new(file);
        w.write_all(header).and_then(|()| w.write_all(data)).map_err(io)?;
        w.into_inner().map_err(|e| io(e.into_error()))?
    };
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(n: usize, rows: usize, cols: usize) -> Vec<u8> {
        (0..n * rows * cols).map(|i| (i * 37 % 256) as u8).collect()
    }

    fn message(e: Error) -> String {
        e.to_string()
    }

    #[test]
    fn round_trip_plain_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let pixels = images(5, 3, 2);
        let labels = vec![0u8, 9, 3, 255, 1];
        for gzip in [false, true] {
            let ip = dir.path().join(format!("img-{gzip}"));
            let lp = dir.path().join(format!("lab-{gzip}"));
            write_idx_images(&ip, 5, 3, 2, &pixels, gzip).unwrap();
            write_idx_labels(&lp, &labels, gzip).unwrap();
            let raw = std::fs::read(&ip).unwrap();
            assert_eq!(raw[..2] == GZIP_MAGIC, gzip, "gzip magic present iff gzip");
            if !gzip {
                assert_eq!(&raw[..16], &[0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 2]);
                assert_eq!(raw.len(), 16 + 30);
            }
            let im = read_idx_images(&ip).unwrap();
            assert_eq!(im, IdxImages { n: 5, rows: 3, cols: 2, pixels: pixels.clone() });
            assert_eq!(im.image(4), &pixels[24..30]);
            assert_eq!(read_idx_labels(&lp).unwrap(), labels);
        }
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 4, "{names:?}");
    }

    #[test]
    fn gzip_detected_by_content_not_name() {
        let dir = tempfile::tempdir().unwrap();
        // Compressed content under a plain name, plain content under a .gz name.
        let a = dir.path().join("labels-plain-name");
        let b = dir.path().join("labels.gz");
        write_idx_labels(&a, &[1, 2, 3], true).unwrap();
        write_idx_labels(&b, &[4, 5], false).unwrap();
        assert_eq!(read_idx_labels(&a).unwrap(), vec![1, 2, 3]);
        assert_eq!(read_idx_labels(&b).unwrap(), vec![4, 5]);
    }

    #[test]
    fn gzip_output_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let pixels = images(4, 5, 5);
        write_idx_images(&dir.path().join("a"), 4, 5, 5, &pixels, true).unwrap();
        write_idx_images(&dir.path().join("b"), 4, 5, 5, &pixels, true).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), std::fs::read(dir.path().join("b")).unwrap());
    }

    #[test]
    fn wrong_magic_names_file_found_and_expected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("train-images-idx3-ubyte.gz");
        write_idx_labels(&p, &[1, 2], true).unwrap();
        let m = message(read_idx_images(&p).unwrap_err());
        assert!(m.contains("train-images-idx3-ubyte.gz"), "{m}");
        assert!(m.contains("magic 0x00000801, expected 0x00000803 for images"), "{m}");
        let q = dir.path().join("labels");
        write_idx_images(&q, 1, 2, 2, &[0; 4], false).unwrap();
        let m = message(read_idx_labels(&q).unwrap_err());
        assert!(m.contains("magic 0x00000803, expected 0x00000801 for labels"), "{m}");
        // Not IDX at all.
        let r = dir.path().join("text");
        std::fs::write(&r, b"hello world").unwrap();
        let m = message(read_idx_labels(&r).unwrap_err());
        assert!(m.contains("not an IDX file") && m.contains("0x68656C6C"), "{m}");
    }

    #[test]
    fn unsupported_data_type_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("floats");
        let mut bytes = vec![0, 0, 0x0D, 1, 0, 0, 0, 1];
        bytes.extend_from_slice(&1.0f32.to_be_bytes());
        std::fs::write(&p, bytes).unwrap();
        let m = message(read_idx_labels(&p).unwrap_err());
        assert!(m.contains("data type 0x0D (f32) is not supported"), "{m}");
    }

    #[test]
    fn wrong_dimension_count_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("two-d");
        std::fs::write(&p, [0, 0, 8, 2, 0, 0, 0, 1, 0, 0, 0, 1, 7]).unwrap();
        let m = message(read_idx_images(&p).unwrap_err());
        assert!(m.contains("magic 0x00000802") && m.contains("2 dimension(s), expected 3"), "{m}");
    }

    #[test]
    fn truncated_files_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("img");
        write_idx_images(&p, 3, 4, 4, &images(3, 4, 4), false).unwrap();
        let full = std::fs::read(&p).unwrap();
        // Truncated data.
        std::fs::write(&p, &full[..full.len() - 5]).unwrap();
        let m = message(read_idx_images(&p).unwrap_err());
        assert!(m.contains("truncated") && m.contains("expected 64 bytes") && m.contains("found 59"), "{m}");
        // Truncated header.
        std::fs::write(&p, &full[..10]).unwrap();
        let m = message(read_idx_images(&p).unwrap_err());
        assert!(m.contains("truncated IDX header") && m.contains("expected 16 bytes") && m.contains("found 10"), "{m}");
        // Shorter than the magic.
        std::fs::write(&p, &full[..2]).unwrap();
        assert!(message(read_idx_images(&p).unwrap_err()).contains("too short"));
        // Truncated gzip stream.
        let g = dir.path().join("img.gz");
        write_idx_images(&g, 3, 4, 4, &images(3, 4, 4), true).unwrap();
        let gz = std::fs::read(&g).unwrap();
        std::fs::write(&g, &gz[..gz.len() / 2]).unwrap();
        let m = message(read_idx_images(&g).unwrap_err());
        assert!(m.contains("img.gz"), "{m}");
    }

    #[test]
    fn trailing_bytes_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lab");
        write_idx_labels(&p, &[1, 2, 3], false).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.extend_from_slice(&[0, 0]);
        std::fs::write(&p, bytes).unwrap();
        let m = message(read_idx_labels(&p).unwrap_err());
        assert!(m.contains("2 trailing bytes") && m.contains("expected 11 bytes") && m.contains("found 13"), "{m}");
    }

    #[test]
    fn zero_sized_dimension_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("img");
        std::fs::write(&p, [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3]).unwrap();
        let m = message(read_idx_images(&p).unwrap_err());
        assert!(m.contains("dimension 1 has size 0") && m.contains("2x0x3"), "{m}");
    }

    #[test]
    fn huge_dimensions_do_not_allocate() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("img");
        std::fs::write(&p, [0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
        let m = message(read_idx_images(&p).unwrap_err());
        assert!(m.contains("truncated") || m.contains("overflow"), "{m}");
    }

    #[test]
    fn writer_validates_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("img");
        assert!(matches!(write_idx_images(&p, 2, 2, 2, &[0; 7], false), Err(Error::Shape { .. })));
        assert!(matches!(write_idx_images(&p, 0, 2, 2, &[], false), Err(Error::Param { .. })));
        assert!(matches!(write_idx_labels(&p, &[], false), Err(Error::Param { .. })));
        assert!(!p.exists());
        let missing = dir.path().join("no-such-dir").join("img");
        assert!(matches!(write_idx_labels(&missing, &[1], true), Err(Error::Io { .. })));
    }

    #[test]
    fn missing_file_is_io_error_naming_it() {
        let p = Path::new("/definitely/not/here/train-labels-idx1-ubyte");
        let m = message(read_idx_labels(p).unwrap_err());
        assert!(m.contains("train-labels-idx1-ubyte"), "{m}");
    }
}
