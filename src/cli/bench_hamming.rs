//! `compete bench-hamming`: time exact Hamming top-k search ([`crate::retrieval::hamming_knn`]) on
//! random codes. `benches/hamming.sh` runs it beside FAISS's `IndexBinaryFlat` on the same codes
//! (`benches/faiss_hamming.py`) and checks that the distances agree.
//!
//! **Codes.** Uniform random bits from ChaCha8 (`seed`; stream `2 bits` for the database, `2 bits + 1`
//! for the queries), so the database of a smaller run is a prefix of a larger one's. With
//! `--codes-dir`, the codes are read from there when the files exist, else generated and written:
//! `database_n{N}_b{BITS}_s{SEED}.npy` and `queries_n{M}_b{BITS}_s{SEED}.npy`, numpy arrays of
//! `uint8`, shape `(codes, ceil(bits / 8))`. Byte `j` of a row is byte `j` of the code's little-endian
//! `u64` words: bit `i` of the code is bit `i % 8` of byte `i / 8`. That is FAISS's layout of binary
//! codes, and `np.unpackbits(row, bitorder="little")` gives the bits in order. (Hamming distances do
//! not depend on the layout as long as both sides read the same bytes.)
//!
//! **Distances.** With `--write-distances DIR`, the distances of every (bits, k) go to
//! `DIR/distances_n{N}_q{M}_b{BITS}_k{K}_s{SEED}.npy` (`uint32`, shape `(queries, k)`, nearest first).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::retrieval::{BinaryCodes, hamming_knn, search_bytes};

/// Flags of `compete bench-hamming`.
#[derive(Debug, Args)]
pub struct BenchHammingArgs {
    /// Database codes.
    #[arg(long, default_value_t = 1_000_000)]
    pub database: usize,
    /// Query codes.
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
    /// Code lengths in bits, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "256,1024,4096")]
    pub bits: Vec<usize>,
    /// Neighbours per query, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,100")]
    pub k: Vec<usize>,
    /// Seed of the random codes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Timed searches per (bits, k), at least; the fastest is reported.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Keep repeating a search until this many seconds were spent on it (short searches are
    /// repeated more, so that one busy moment of a shared machine does not decide the result).
    #[arg(long, default_value_t = 1.0)]
    pub min_seconds: f64,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write the neighbour distances of every (bits, k) to DIR (.npy, uint32, queries x k).
    #[arg(long, value_name = "DIR")]
    pub write_distances: Option<PathBuf>,
    /// Read the codes from DIR when the files are there, else generate them and write them there
    /// (.npy, uint8, one row of ceil(bits / 8) bytes per code).
    #[arg(long, value_name = "DIR")]
    pub codes_dir: Option<PathBuf>,
}

/// `compete bench-hamming`.
pub fn run(args: BenchHammingArgs) -> Result<()> {
    for (name, value) in [("--database", args.database), ("--queries", args.queries), ("--repeat", args.repeat)] {
        if value == 0 {
            return Err(Error::param(name, 0, "at least 1"));
        }
    }
    if !(args.min_seconds >= 0.0 && args.min_seconds.is_finite()) {
        return Err(Error::param("--min-seconds", args.min_seconds, "a number of seconds, 0 or more"));
    }
    if let Some(&b) = args.bits.iter().find(|&&b| b == 0) {
        return Err(Error::param("--bits", b, "code lengths of at least 1 bit"));
    }
    if let Some(&k) = args.k.iter().find(|&&k| k == 0 || k > args.database) {
        return Err(Error::param("--k", k, format!("between 1 and --database, {}", args.database)));
    }
    // The codes of the longest --bits and their search with the largest --k, before any is made.
    let (bits, k) = (args.bits.iter().copied().max().unwrap_or(1), args.k.iter().copied().max().unwrap_or(1));
    crate::io::memory::check_alloc(
        &format!("--database {} and --queries {} codes of --bits {bits} searched for --k {k}", args.database, args.queries),
        search_bytes(args.database, args.queries, bits, k),
    )?;
    if args.database > u32::MAX as usize {
        return Err(Error::param("--database", args.database, format!("at most {} codes (database indices are 32-bit)", u32::MAX)));
    }
    for (flag, dir) in [("--codes-dir", &args.codes_dir), ("--write-distances", &args.write_distances)] {
        if let Some(dir) = dir {
            crate::report::io::create_out_dir(flag, dir)?;
        }
    }
    let threads = rayon::current_num_threads();
    if !args.json {
        println!(
            "compete bench-hamming: {} database codes, {} queries, {threads} thread(s), {} kernel, best of {} runs and {} s at least",
            args.database,
            args.queries,
            simd(),
            args.repeat,
            args.min_seconds
        );
        println!("{:>6} {:>5} {:>5} {:>10} {:>12} {:>6}", "bits", "k", "runs", "seconds", "queries/s", "load");
    }
    for &bits in &args.bits {
        let database = codes(args.codes_dir.as_deref(), "database", args.database, bits, args.seed, 2 * bits as u64)?;
        let queries = codes(args.codes_dir.as_deref(), "queries", args.queries, bits, args.seed, 2 * bits as u64 + 1)?;
        for &k in &args.k {
            let load = load_average();
            let (mut best, mut total, mut runs) = (f64::INFINITY, 0.0, 0);
            let mut result = None;
            while runs < args.repeat || total < args.min_seconds {
                let t = Instant::now();
                let found = hamming_knn(&database, &queries, k)?;
                let seconds = t.elapsed().as_secs_f64();
                (best, total, runs) = (best.min(seconds), total + seconds, runs + 1);
                result = Some(found);
            }
            let qps = args.queries as f64 / best;
            if let (Some(dir), Some(found)) = (&args.write_distances, &result) {
                let name = format!("distances_n{}_q{}_b{bits}_k{k}_s{}.npy", args.database, args.queries, args.seed);
                write_u32_npy(&dir.join(name), args.queries, k, &found.distances)?;
            }
            if args.json {
                let line = serde_json::json!({
                    "peer": "compete", "version": env!("CARGO_PKG_VERSION"), "simd": simd(), "threads": threads,
                    "database": args.database, "queries": args.queries, "bits": bits, "k": k, "seed": args.seed,
                    "runs": runs, "seconds": best, "qps": qps, "load1": load,
                });
                println!("{line}");
            } else {
                let load = load.map_or("-".to_string(), |l| format!("{l:.2}"));
                println!("{bits:>6} {k:>5} {runs:>5} {best:>10.4} {qps:>12.1} {load:>6}");
            }
        }
    }
    Ok(())
}

/// The SIMD kernel `hamming_knn` picks on this CPU.
fn simd() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("popcnt") {
            return "avx2";
        }
    }
    "portable"
}

/// The 1-minute load average (Linux), for the record.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// The random codes of one role, read from or written to `dir` when given.
fn codes(dir: Option<&Path>, role: &str, n: usize, bits: usize, seed: u64, stream: u64) -> Result<BinaryCodes> {
    let path = dir.map(|d| d.join(format!("{role}_n{n}_b{bits}_s{seed}.npy")));
    if let Some(path) = &path
        && path.exists()
    {
        return read_codes_npy(path, n, bits);
    }
    let codes = random_codes(n, bits, seed, stream)?;
    if let Some(path) = &path {
        write_codes_npy(path, &codes)?;
    }
    Ok(codes)
}

/// `n` codes of uniform random bits (padding bits 0).
fn random_codes(n: usize, bits: usize, seed: u64, stream: u64) -> Result<BinaryCodes> {
    let words = bits.div_ceil(64);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let mut data: Vec<u64> = (0..n * words).map(|_| rng.next_u64()).collect();
    if !bits.is_multiple_of(64) {
        let mask = (1u64 << (bits % 64)) - 1;
        for code in data.chunks_exact_mut(words) {
            code[words - 1] &= mask;
        }
    }
    BinaryCodes::from_words(n, bits, data)
}

/// The header of a version 1.0 `.npy` file, padded to a multiple of 64 bytes.
fn npy_header(descr: &str, rows: usize, cols: usize) -> Vec<u8> {
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Reads an `.npy` header: the dtype descriptor and the shape (C order only).
fn read_npy_header(reader: &mut impl Read, path: &Path) -> Result<(String, Vec<usize>)> {
    let bad = |msg: String| Error::format(path, msg);
    let mut magic = [0u8; 8];
    reader.read_exact(&mut magic).map_err(|e| Error::io(path, e))?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file (no \\x93NUMPY magic)".into()));
    }
    let len = match magic[6] {
        1 => {
            let mut b = [0u8; 2];
            reader.read_exact(&mut b).map_err(|e| Error::io(path, e))?;
            u16::from_le_bytes(b) as usize
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            reader.read_exact(&mut b).map_err(|e| Error::io(path, e))?;
            u32::from_le_bytes(b) as usize
        }
        v => return Err(bad(format!(".npy format version {v}, expected 1, 2 or 3"))),
    };
    let mut header = vec![0u8; len];
    reader.read_exact(&mut header).map_err(|e| Error::io(path, e))?;
    let header = String::from_utf8_lossy(&header);
    let field = |key: &str| header.split(&format!("'{key}':")).nth(1).map(str::trim);
    let descr = field("descr").and_then(|v| v.split('\'').nth(1)).ok_or_else(|| bad(format!("no 'descr' in the header {header:?}")))?;
    if field("fortran_order").is_none_or(|v| !v.starts_with("False")) {
        return Err(bad(format!("expected a C-order array (fortran_order False), header {header:?}")));
    }
    let shape = field("shape")
        .and_then(|v| v.strip_prefix('('))
        .and_then(|v| v.split(')').next())
        .ok_or_else(|| bad(format!("no 'shape' in the header {header:?}")))?;
    let shape = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad(format!("shape entry {s:?} is not a size"))))
        .collect::<Result<Vec<usize>>>()?;
    Ok((descr.to_string(), shape))
}

/// Writes codes as `uint8`, shape `(n, ceil(bits / 8))` (see the module docs for the layout).
fn write_codes_npy(path: &Path, codes: &BinaryCodes) -> Result<()> {
    let bytes = codes.bits().div_ceil(8);
    let io = |e| Error::io(path, e);
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
    out.write_all(&npy_header("|u1", codes.len(), bytes)).map_err(io)?;
    let mut row = Vec::with_capacity(8 * codes.words());
    for i in 0..codes.len() {
        row.clear();
        row.extend(codes.code(i).iter().flat_map(|w| w.to_le_bytes()));
        out.write_all(&row[..bytes]).map_err(io)?;
    }
    out.flush().map_err(io)
}

/// Reads codes written by [`write_codes_npy`] (or by numpy in the same layout), checking the shape.
fn read_codes_npy(path: &Path, n: usize, bits: usize) -> Result<BinaryCodes> {
    let io = |e| Error::io(path, e);
    let mut input = BufReader::with_capacity(1 << 20, File::open(path).map_err(io)?);
    let (descr, shape) = read_npy_header(&mut input, path)?;
    let bytes = bits.div_ceil(8);
    if descr != "|u1" && descr != "<u1" && descr != "u1" {
        return Err(Error::format(path, format!("dtype {descr:?}, expected uint8 ('|u1')")));
    }
    if shape != [n, bytes] {
        return Err(Error::format(path, format!("shape {shape:?}, expected [{n}, {bytes}] ({n} codes of {bits} bits)")));
    }
    let words = bits.div_ceil(64);
    let mut data = vec![0u64; n * words];
    let mut row = vec![0u8; 8 * words];
    for code in data.chunks_exact_mut(words) {
        input.read_exact(&mut row[..bytes]).map_err(io)?;
        for (w, chunk) in code.iter_mut().zip(row.chunks_exact(8)) {
            *w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        }
    }
    BinaryCodes::from_words(n, bits, data).map_err(|e| Error::format(path, e.to_string()))
}

/// Writes a `uint32` matrix, row-major.
fn write_u32_npy(path: &Path, rows: usize, cols: usize, data: &[u32]) -> Result<()> {
    let io = |e| Error::io(path, e);
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
    out.write_all(&npy_header("<u4", rows, cols)).map_err(io)?;
    for v in data {
        out.write_all(&v.to_le_bytes()).map_err(io)?;
    }
    out.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_npy_at_odd_lengths() {
        let dir = tempfile::tempdir().unwrap();
        for bits in [1, 8, 63, 100, 256] {
            let codes = random_codes(37, bits, 5, 1).unwrap();
            let path = dir.path().join(format!("c{bits}.npy"));
            write_codes_npy(&path, &codes).unwrap();
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            assert_eq!(len % 64, (37 * bits.div_ceil(8)) % 64, "header is a multiple of 64 bytes");
            assert_eq!(read_codes_npy(&path, 37, bits).unwrap(), codes);
            assert!(read_codes_npy(&path, 36, bits).unwrap_err().to_string().contains("shape"));
        }
        // The byte layout: bit i of the code is bit i % 8 of byte i / 8.
        let codes = BinaryCodes::from_bools(1, 16, &(0..16).map(|i| i == 1 || i == 9 || i == 15).collect::<Vec<_>>()).unwrap();
        let path = dir.path().join("layout.npy");
        write_codes_npy(&path, &codes).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[bytes.len() - 2..], &[0b0000_0010, 0b1000_0010]);
    }

    #[test]
    fn the_same_seed_gives_the_same_codes_and_a_prefix() {
        let a = random_codes(10, 70, 3, 140).unwrap();
        let b = random_codes(4, 70, 3, 140).unwrap();
        assert_eq!(a.select(&[0, 1, 2, 3]).unwrap(), b);
        assert_ne!(random_codes(10, 70, 3, 141).unwrap(), a);
    }
}
