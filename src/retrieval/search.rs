//! Exact k-nearest-neighbour search by Hamming distance.
//!
//! Result order: by distance, then by database index (the lower index first). This makes the result
//! unique, so fast implementations can be checked against [`hamming_knn_brute`] for equality.
//!
//! # Algorithm of [`hamming_knn`]
//!
//! **Bit-sliced counting** (the method for 12 queries or more, codes up to 16383 bits). The database
//! is cut into blocks of 256 codes. A block is transposed into `bits` *planes* of 256 bits: plane `p`
//! holds bit `p` of the 256 codes, one code per lane (four 64 x 64 bit-matrix transposes per 64-bit
//! word of the codes). For a query `q` with `|q|` ones and a code `d`, let `C` be the number of ones
//! of `d` where `q` has a 1 and `Z` where `q` has a 0; then `dist = |d| + |q| - 2 C = 2 Z + |q| - |d|`.
//! `|d|` is counted once per block for all queries, and per query only the planes of the smaller of
//! its two bit sets are summed, at most `bits / 2` planes (padded with a zero plane to a multiple of
//! 16). The sum is bit-sliced: 16 planes go through 15 carry-save adders (Harley-Seal), 5 logic
//! instructions each, into running counter bits of weight 1, 2, 4, 8 and a plane of weight 16, which
//! is added to the higher bits the same way. One 256-bit instruction thus works on 256 codes at
//! once, with no popcount at all. The distance bits are formed with a ripple-carry adder and compared
//! with the query's threshold in the same bit-sliced form, which gives a 256-bit mask of candidates;
//! only those (rarely any, once the threshold is low) are decoded (by popcount up to 512 bits, else
//! from the distance bits) and offered to the top-k.
//!
//! **Tiling.** A block's planes (32 bytes per bit: 8 KiB at 256 bits, 128 KiB at 4096) stay in the
//! L1 or L2 cache while every query of a chunk (up to 1024 queries) is run against them, so the
//! database is read from memory once per query chunk, not once per query.
//!
//! **Direct method** (fewer queries, or longer codes): one distance at a time as the popcount of
//! the XOR of the words, specialised for 1 to 64 words, on database tiles of about 64 KiB read once
//! for all queries of a piece of work.
//!
//! **Threshold and tie order.** Each database range is scanned in increasing index order. A query
//! keeps `thr`, the k-th smallest distance seen so far: a later code at a distance `>= thr` has k
//! earlier codes at least as near, so it can never enter (an equal distance never displaces a lower
//! index), and only distances strictly below `thr` (and below the shared bound, see below) are
//! offered. A histogram of the offered distances
//! (they are integers in `0..=bits`) moves `thr` down exactly after every accepted candidate, in O(1)
//! amortized; the candidates wait in a buffer in index order, compacted at `2 k + 16`.
//!
//! **Parallelism.** The queries are cut into chunks, each chunk into database ranges (of whole
//! blocks, at least 4096 codes) and, when the ranges are fewer than four per thread, query ranges;
//! rayon runs the pieces. The ranges of a query share a bound, the smallest k-th distance any of
//! them has reached (no code of the true top k is farther), so that a range started later skips
//! most of its warm-up. Each piece yields the exact top-k of the codes it kept, which include every
//! code of the true top k in its range; the k smallest (distance, index) pairs of their union are
//! the exact top-k. So the result does not depend on the thread count, the split or the timing.
//!
//! **Kernels.** The crate is built for generic x86-64, so the inner loops are compiled twice: with
//! `#[target_feature(enable = "avx2,popcnt")]` (256-bit registers, POPCNT), chosen at run time with
//! `is_x86_feature_detected!`, and portably (`[u64; 4]` lanes and `u64::count_ones`).
//!
//! **Cost.** With `n` database codes, `m` queries and `b` bits: about `4.7 (b / 2 + 8) / 256`
//! 256-bit logic instructions per (query, code) pair for the bit-sliced method (the top-k adds
//! `O(k log(n / k))` candidates per query and range), `O(n b / 64)` word operations per query chunk
//! for the transposes, and `O(m k log k)` for the final sorts and merges. Memory: the `b + 1` planes
//! of one block per running piece, and per query in a chunk a histogram of `b + 1` counters, up to
//! `2 k + 16` candidates and its plane list; chunks are sized to keep that near 8 MiB per piece.
//! On the 2-core AVX2 machine of `benches/README.md` (256 to 4096 bits, k = 10 and 100) this ran
//! at 3.4 to 9 times the speed of FAISS 1.15's exact `IndexBinaryFlat` on 2 threads (1M codes, 1000
//! queries), and 2.7 to 7.4 times on 1 thread (200K codes, 500 queries), with identical distances
//! (`compete bench-hamming`, `benches/hamming.sh`).

use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

use super::codes::{BinaryCodes, CodesRef, hamming};
use crate::error::{Error, Result};

/// The `k` nearest database codes of every query, row-major: query `q`'s neighbours are
/// `indices[q*k..(q+1)*k]` with their distances at the same positions, nearest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Neighbors {
    /// Neighbours per query.
    pub k: usize,
    /// Database indices.
    pub indices: Vec<u32>,
    /// Hamming distances.
    pub distances: Vec<u32>,
}

impl Neighbors {
    /// Number of queries.
    pub fn queries(&self) -> usize {
        self.indices.len().checked_div(self.k).unwrap_or(0)
    }

    /// Database indices of query `q`'s neighbours, nearest first.
    pub fn indices_of(&self, q: usize) -> &[u32] {
        &self.indices[q * self.k..(q + 1) * self.k]
    }

    /// Distances of query `q`'s neighbours, nearest first.
    pub fn distances_of(&self, q: usize) -> &[u32] {
        &self.distances[q * self.k..(q + 1) * self.k]
    }
}

/// Checks the arguments shared by every search.
pub(crate) fn check_args(database: CodesRef<'_>, queries: CodesRef<'_>, k: usize) -> Result<()> {
    queries.check_same_length("query codes", &database, "database codes")?;
    if k == 0 || k > database.len() {
        return Err(Error::param("k", k, format!("between 1 and the database size, {}", database.len())));
    }
    if database.len() > u32::MAX as usize {
        return Err(Error::param("database size", database.len(), format!("at most {} codes", u32::MAX)));
    }
    Ok(())
}

/// Bytes [`hamming_knn`] needs for `queries` queries of top-`k` among `database` codes of `bits`
/// bits, the codes themselves included (about: codes, neighbours, and the per-query state of every
/// piece of work), saturating; for [`crate::io::memory::check_alloc`] before the codes are made.
pub fn search_bytes(database: usize, queries: usize, bits: usize, k: usize) -> u128 {
    use crate::io::memory::bytes;
    let words = bits.div_ceil(64);
    let codes = bytes(&[database.saturating_add(queries), words], 8);
    // Indices and distances, and the candidates of every piece before they are merged.
    let neighbours = bytes(&[queries, k], 8).saturating_mul(3);
    // The state of a chunk of queries (as `Plan::choose` sizes it) in every database range.
    let per_query = bytes(&[bits.saturating_add(1)], 5).saturating_add(bytes(&[k.saturating_add(24)], 16));
    let chunk = (STATE_BUDGET as u128 / per_query.max(1)).clamp(1, 1024).min(queries as u128);
    let ranges = (4 * rayon::current_num_threads()).min(database.div_ceil(BLOCK)).max(1) as u128;
    let state = per_query.saturating_mul(chunk).saturating_mul(ranges);
    codes.saturating_add(neighbours).saturating_add(state)
}

/// Exact top-`k` search of every query against the database (ties by database index).
pub fn hamming_knn(database: &BinaryCodes, queries: &BinaryCodes, k: usize) -> Result<Neighbors> {
    hamming_knn_ref(database.view(), queries.view(), k)
}

/// [`hamming_knn`] on borrowed codes (the Python package searches NumPy arrays in place).
pub fn hamming_knn_ref(database: CodesRef<'_>, queries: CodesRef<'_>, k: usize) -> Result<Neighbors> {
    check_args(database, queries, k)?;
    let plan = Plan::choose(database, queries.len(), k, Kernel::detect());
    Ok(knn_with(database, queries, k, plan))
}

/// Reference implementation: every distance, then a stable sort. Slow; for tests.
pub fn hamming_knn_brute(database: &BinaryCodes, queries: &BinaryCodes, k: usize) -> Result<Neighbors> {
    check_args(database.view(), queries.view(), k)?;
    let mut out = Neighbors { k, indices: Vec::with_capacity(queries.len() * k), distances: Vec::with_capacity(queries.len() * k) };
    let mut all: Vec<(u32, u32)> = Vec::with_capacity(database.len());
    for q in 0..queries.len() {
        all.clear();
        all.extend((0..database.len()).map(|i| (hamming(queries.code(q), database.code(i)), i as u32)));
        all.sort_unstable();
        for &(d, i) in &all[..k] {
            out.distances.push(d);
            out.indices.push(i);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Plan: which algorithm, which kernel, how the work is split.

/// The two exact algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    /// One distance at a time with popcount, database tiles kept in cache.
    Direct,
    /// Bit-sliced: 256 database codes transposed into bit planes, counted with carry-save adders.
    Sliced,
}

/// The instruction set of the inner loops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// Plain Rust (`u64::count_ones`, `[u64; 4]` lanes): what the compiler makes of it for the
    /// target it was built for (SSE2 on generic x86-64).
    Portable,
    /// x86-64 with AVX2 and POPCNT, detected at run time.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Kernel {
    /// The best kernel this CPU runs.
    pub(crate) fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("popcnt") {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }
}

/// How one search runs. Every plan gives the same result; only the speed differs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    pub(crate) method: Method,
    pub(crate) kernel: Kernel,
    /// Queries searched together (their per-query state is held at once).
    pub(crate) query_chunk: usize,
    /// Pieces of work wanted per query chunk (database ranges first, then query ranges).
    pub(crate) pieces: usize,
    /// Fewest database codes in a database range.
    pub(crate) min_range: usize,
}

/// Queries below which the transposition into bit planes does not pay (measured: about even at 8
/// queries, the bit-sliced method 1.3 to 1.5 times faster at 16, for 64 to 4096 bits).
const SLICED_MIN_QUERIES: usize = 12;
/// The largest code length of the bit-sliced method (plane offsets `4 p <= 4 bits` are `u16`).
const SLICED_MAX_BITS: usize = 16383;
/// Bytes of per-query state (histogram, candidates, plane list) of one piece of work.
const STATE_BUDGET: usize = 8 << 20;

impl Plan {
    /// The plan for `queries` queries of top-`k` against `database` on the current rayon pool.
    pub(crate) fn choose(database: CodesRef<'_>, queries: usize, k: usize, kernel: Kernel) -> Plan {
        let bits = database.bits();
        let per_query = 4 * (bits + 1) + 8 * (2 * k + 16) + bits + 32;
        let query_chunk = (STATE_BUDGET / per_query).clamp(1, 1024);
        let sliced = queries.min(query_chunk) >= SLICED_MIN_QUERIES && bits <= SLICED_MAX_BITS && database.len() >= BLOCK;
        Plan {
            method: if sliced { Method::Sliced } else { Method::Direct },
            kernel,
            query_chunk,
            // A few pieces per thread, so that a busy core does not hold the others back.
            pieces: 4 * rayon::current_num_threads(),
            // Each database range pays a warm-up (its first k candidates); keep ranges long.
            min_range: 16 * BLOCK,
        }
    }
}

/// One piece of work: queries `qr` against database codes `dr`, with the bounds shared by the
/// queries' pieces (see [`TopK`]).
struct Job<'a> {
    database: CodesRef<'a>,
    queries: CodesRef<'a>,
    qr: Range<usize>,
    dr: Range<usize>,
    k: usize,
    bounds: &'a [AtomicU32],
}

/// Runs a plan (arguments already checked).
pub(crate) fn knn_with(database: CodesRef<'_>, queries: CodesRef<'_>, k: usize, plan: Plan) -> Neighbors {
    let nq = queries.len();
    let n = database.len();
    let method = if database.bits() > SLICED_MAX_BITS { Method::Direct } else { plan.method };
    let mut out = Neighbors { k, indices: Vec::with_capacity(nq * k), distances: Vec::with_capacity(nq * k) };
    let query_chunk = plan.query_chunk.max(1);
    let min_queries = if method == Method::Sliced { SLICED_MIN_QUERIES } else { 1 };
    let mut merged: Vec<u64> = Vec::new();
    for q0 in (0..nq).step_by(query_chunk) {
        let q1 = (q0 + query_chunk).min(nq);
        let qn = q1 - q0;
        // Database ranges of whole blocks, then query ranges.
        let blocks = n.div_ceil(BLOCK);
        let dsplit = plan.pieces.min(n / plan.min_range.max(1)).clamp(1, blocks);
        let qsplit = plan.pieces.div_ceil(dsplit).min(qn / min_queries).clamp(1, qn);
        let dranges: Vec<Range<usize>> =
            (0..dsplit).map(|i| (blocks * i / dsplit * BLOCK).min(n)..(blocks * (i + 1) / dsplit * BLOCK).min(n)).collect();
        let qranges: Vec<Range<usize>> = (0..qsplit).map(|i| q0 + qn * i / qsplit..q0 + qn * (i + 1) / qsplit).collect();
        let prepared: Vec<QueryPlanes> = match method {
            Method::Sliced => (q0..q1).into_par_iter().map(|q| QueryPlanes::new(queries.code(q), queries.bits())).collect(),
            Method::Direct => Vec::new(),
        };
        let bounds: Vec<AtomicU32> = (q0..q1).map(|_| AtomicU32::new(u32::MAX)).collect();
        let grid: Vec<(usize, usize)> = (0..qsplit).flat_map(|qi| (0..dsplit).map(move |di| (qi, di))).collect();
        let parts: Vec<Vec<Vec<u64>>> = grid
            .par_iter()
            .map(|&(qi, di)| {
                let qr = qranges[qi].clone();
                let local = qr.start - q0..qr.end - q0;
                let job = Job { database, queries, qr, dr: dranges[di].clone(), k, bounds: &bounds[local.clone()] };
                match method {
                    Method::Direct => piece_direct(&job, plan.kernel),
                    Method::Sliced => piece_sliced(&job, &prepared[local], plan.kernel),
                }
            })
            .collect();
        // Merge: each part is the exact top-k of its database range, so the k smallest keys
        // (distance, index) of their union are the exact top-k, whatever the split.
        for (qi, qr) in qranges.iter().enumerate() {
            let row = &parts[qi * dsplit..(qi + 1) * dsplit];
            for q in 0..qr.len() {
                merged.clear();
                for part in row {
                    merged.extend_from_slice(&part[q]);
                }
                merged.sort_unstable();
                for &key in &merged[..k] {
                    out.distances.push((key >> 32) as u32);
                    out.indices.push(key as u32);
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Top-k of one query.

/// The running top-`k` of one query over database codes offered in increasing index order.
///
/// Candidates are keys `distance << 32 | index`, so that sorting keys sorts by (distance, index).
/// `thr` is the k-th smallest distance offered so far (`bits + 1` before k codes are known). A code
/// offered later at a distance `>= thr` has k earlier codes at least as near, so it is not in the
/// top k and the caller does not offer it (an equal distance never displaces an earlier index).
///
/// `hist[d]` counts the buffered candidates at distance `d`, and `below` those below `thr`, so that
/// `thr` follows every accepted candidate exactly in O(1) amortized (distances are small integers).
/// The buffer keeps candidates in index order and is compacted when it reaches `2 k + 16`.
///
/// The pieces of work of one query, on other database ranges, share a bound: the smallest `thr`
/// any of them has reached. A range's k-th smallest distance is at least the k-th smallest of the
/// whole database, so no code of the true top k is farther than the bound, and a code farther
/// than it need not be offered. `limit = min(thr, bound + 1)`: offered codes are below it. Each
/// range still returns the exact top k of the codes it was offered, which include every code of the
/// true top k in it, so the merge is exact whatever the timing of the threads.
struct TopK {
    k: usize,
    thr: u32,
    limit: u32,
    published: u32,
    below: usize,
    hist: Vec<u32>,
    buf: Vec<u64>,
}

impl TopK {
    fn new(k: usize, bits: usize) -> TopK {
        let thr = bits as u32 + 1;
        TopK { k, thr, limit: thr, published: u32::MAX, below: 0, hist: vec![0; bits + 1], buf: Vec::new() }
    }

    /// Reads the bound shared with the other ranges into `limit`.
    #[inline]
    fn refresh(&mut self, bound: &AtomicU32) {
        self.limit = self.thr.min(bound.load(Ordering::Relaxed).saturating_add(1));
    }

    /// Shares `thr` when it went down.
    #[inline]
    fn publish(&mut self, bound: &AtomicU32) {
        if self.thr < self.published {
            self.published = self.thr;
            bound.fetch_min(self.thr, Ordering::Relaxed);
        }
    }

    /// Offers database code `index` at `distance`; the caller has checked `distance < self.limit`.
    #[inline]
    fn push(&mut self, distance: u32, index: u32) {
        debug_assert!(distance < self.limit && self.limit <= self.thr);
        self.buf.push(((distance as u64) << 32) | index as u64);
        self.hist[distance as usize] += 1;
        self.below += 1;
        if self.below == self.k {
            // The k nearest are all below thr: the new threshold is the largest distance below it.
            let mut t = self.thr as usize - 1;
            while self.hist[t] == 0 {
                t -= 1;
            }
            self.thr = t as u32;
            self.limit = self.limit.min(self.thr);
            self.below -= self.hist[t] as usize;
        }
        if self.buf.len() >= 2 * self.k + 16 {
            self.compact();
        }
    }

    /// Drops the candidates that can no longer be among the k nearest: those beyond `thr`, and those
    /// at `thr` after the first `k - below` (in index order).
    fn compact(&mut self) {
        let mut room_at_thr = self.k - self.below;
        let thr = self.thr as u64;
        self.buf.retain(|&key| match (key >> 32).cmp(&thr) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Equal if room_at_thr > 0 => {
                room_at_thr -= 1;
                true
            }
            _ => false,
        });
    }

    /// The best (at most k) candidates, sorted.
    fn finish(mut self) -> Vec<u64> {
        self.compact();
        self.buf.sort_unstable();
        self.buf.truncate(self.k);
        self.buf
    }
}

// ---------------------------------------------------------------------------------------------
// Direct method.

/// The exact top-k of each query of the job over its database range, one popcount distance at a time.
fn piece_direct(job: &Job, kernel: Kernel) -> Vec<Vec<u64>> {
    let words = job.database.words();
    let mut tops: Vec<TopK> = job.qr.clone().map(|_| TopK::new(job.k, job.database.bits())).collect();
    // Database tiles of about 64 KiB, read from memory once for all queries of the piece.
    let tile = (8192 / words).max(16);
    let mut t0 = job.dr.start;
    while t0 < job.dr.end {
        let t1 = (t0 + tile).min(job.dr.end);
        let db = &job.database.as_words()[t0 * words..t1 * words];
        for ((q, top), bound) in job.qr.clone().zip(tops.iter_mut()).zip(job.bounds) {
            top.refresh(bound);
            scan(db, t0 as u32, job.queries.code(q), top, kernel);
            top.publish(bound);
        }
        t0 = t1;
    }
    tops.into_iter().map(TopK::finish).collect()
}

/// Offers every code of `db` (code `j` is database index `first + j`) to `top`.
fn scan(db: &[u64], first: u32, query: &[u64], top: &mut TopK, kernel: Kernel) {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernel::Avx2` is only chosen when the CPU has POPCNT (see `Kernel::detect`).
        Kernel::Avx2 => unsafe { scan_popcnt(db, first, query, top) },
        Kernel::Portable => scan_any(db, first, query, top),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn scan_popcnt(db: &[u64], first: u32, query: &[u64], top: &mut TopK) {
    scan_any(db, first, query, top)
}

#[inline(always)]
fn scan_any(db: &[u64], first: u32, query: &[u64], top: &mut TopK) {
    match query.len() {
        1 => scan_fixed::<1>(db, first, query, top),
        2 => scan_fixed::<2>(db, first, query, top),
        4 => scan_fixed::<4>(db, first, query, top),
        8 => scan_fixed::<8>(db, first, query, top),
        16 => scan_fixed::<16>(db, first, query, top),
        32 => scan_fixed::<32>(db, first, query, top),
        64 => scan_fixed::<64>(db, first, query, top),
        _ => {
            for (j, code) in db.chunks_exact(query.len()).enumerate() {
                let d = hamming(query, code);
                if d < top.limit {
                    top.push(d, first + j as u32);
                }
            }
        }
    }
}

#[inline(always)]
fn scan_fixed<const W: usize>(db: &[u64], first: u32, query: &[u64], top: &mut TopK) {
    let q: [u64; W] = match query.try_into() {
        Ok(q) => q,
        Err(_) => unreachable!("query of {W} words"),
    };
    for (j, code) in db.chunks_exact(W).enumerate() {
        let mut d = 0;
        for w in 0..W {
            d += (q[w] ^ code[w]).count_ones();
        }
        if d < top.limit {
            top.push(d, first + j as u32);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bit-sliced method.

/// Database codes per block: one bit of each in a 256-bit plane.
const BLOCK: usize = 256;

/// 256 bits: bit `c % 64` of word `c / 64` belongs to code `c` of a block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(32))]
struct Plane([u64; 4]);

/// What the bit-sliced method needs of a 256-bit register.
trait Lanes: Copy {
    fn zero() -> Self;
    fn load(p: &Plane) -> Self;
    /// Loads the plane at `p`.
    ///
    /// # Safety
    /// `p` points to a readable, 32-byte aligned `Plane`.
    unsafe fn load_ptr(p: *const u64) -> Self;
    fn store(self, p: &mut Plane);
    fn xor(self, o: Self) -> Self;
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    /// `!self & o`.
    fn andnot(self, o: Self) -> Self;
    fn shl<const N: i32>(self) -> Self;
    fn shr<const N: i32>(self) -> Self;
    fn is_zero(self) -> bool;
}

impl Lanes for Plane {
    #[inline(always)]
    fn zero() -> Self {
        Plane([0; 4])
    }
    #[inline(always)]
    fn load(p: &Plane) -> Self {
        *p
    }
    #[inline(always)]
    unsafe fn load_ptr(p: *const u64) -> Self {
        // SAFETY: see the trait.
        unsafe { *(p as *const Plane) }
    }
    #[inline(always)]
    fn store(self, p: &mut Plane) {
        *p = self;
    }
    #[inline(always)]
    fn xor(self, o: Self) -> Self {
        Plane(std::array::from_fn(|i| self.0[i] ^ o.0[i]))
    }
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        Plane(std::array::from_fn(|i| self.0[i] & o.0[i]))
    }
    #[inline(always)]
    fn or(self, o: Self) -> Self {
        Plane(std::array::from_fn(|i| self.0[i] | o.0[i]))
    }
    #[inline(always)]
    fn andnot(self, o: Self) -> Self {
        Plane(std::array::from_fn(|i| !self.0[i] & o.0[i]))
    }
    #[inline(always)]
    fn shl<const N: i32>(self) -> Self {
        Plane(std::array::from_fn(|i| self.0[i] << N))
    }
    #[inline(always)]
    fn shr<const N: i32>(self) -> Self {
        Plane(std::array::from_fn(|i| self.0[i] >> N))
    }
    #[inline(always)]
    fn is_zero(self) -> bool {
        (self.0[0] | self.0[1] | self.0[2] | self.0[3]) == 0
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! [`Lanes`](super::Lanes) on AVX2 registers. Every method is `#[inline(always)]` and only ever
    //! inlined into functions compiled with `#[target_feature(enable = "avx2")]`, which are only
    //! called after `is_x86_feature_detected!("avx2")`.
    use std::arch::x86_64::*;

    use super::{Lanes, Plane};

    #[derive(Clone, Copy)]
    pub(super) struct V(__m256i);

    // SAFETY (every `unsafe` block below): AVX2 is available, see the module docs; loads and stores
    // go through references to 32-byte aligned `Plane`s.
    impl Lanes for V {
        #[inline(always)]
        fn zero() -> Self {
            V(unsafe { _mm256_setzero_si256() })
        }
        #[inline(always)]
        fn load(p: &Plane) -> Self {
            V(unsafe { _mm256_load_si256(p as *const Plane as *const __m256i) })
        }
        #[inline(always)]
        unsafe fn load_ptr(p: *const u64) -> Self {
            V(unsafe { _mm256_load_si256(p as *const __m256i) })
        }
        #[inline(always)]
        fn store(self, p: &mut Plane) {
            unsafe { _mm256_store_si256(p as *mut Plane as *mut __m256i, self.0) }
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            V(unsafe { _mm256_xor_si256(self.0, o.0) })
        }
        #[inline(always)]
        fn and(self, o: Self) -> Self {
            V(unsafe { _mm256_and_si256(self.0, o.0) })
        }
        #[inline(always)]
        fn or(self, o: Self) -> Self {
            V(unsafe { _mm256_or_si256(self.0, o.0) })
        }
        #[inline(always)]
        fn andnot(self, o: Self) -> Self {
            V(unsafe { _mm256_andnot_si256(self.0, o.0) })
        }
        #[inline(always)]
        fn shl<const N: i32>(self) -> Self {
            V(unsafe { _mm256_slli_epi64::<N>(self.0) })
        }
        #[inline(always)]
        fn shr<const N: i32>(self) -> Self {
            V(unsafe { _mm256_srli_epi64::<N>(self.0) })
        }
        #[inline(always)]
        fn is_zero(self) -> bool {
            unsafe { _mm256_testz_si256(self.0, self.0) == 1 }
        }
    }
}

/// Carry-save adder of three planes: `(carry, sum)` with `a + b + c = 2 carry + sum` lane by lane.
#[inline(always)]
fn csa<L: Lanes>(a: L, b: L, c: L) -> (L, L) {
    let u = a.xor(b);
    (a.and(b).or(u.and(c)), u.xor(c))
}

/// A query prepared for the bit-sliced method.
///
/// With `Z` and `C` the numbers of ones of a database code `d` where the query bit is 0 and 1, and
/// `|d| = Z + C`, the distance is `Z + (ones - C) = |d| + ones - 2 C = 2 Z + ones - |d|`. So only
/// the planes of the smaller of the two sets of query bits are counted; `|d|` is counted once per
/// block for all queries.
struct QueryPlanes {
    /// The planes to count, as offsets in `u64` words (4 per plane), padded with the zero plane
    /// (plane `bits`) to a multiple of 16.
    list: Vec<u16>,
    /// Code length.
    bits: usize,
    /// Number of ones of the query.
    ones: u32,
    /// Whether `list` holds the planes of the query's 1 bits (else its 0 bits).
    counts_ones: bool,
}

impl QueryPlanes {
    fn new(query: &[u64], bits: usize) -> QueryPlanes {
        assert!(bits <= SLICED_MAX_BITS, "{bits}-bit codes are searched with the direct method");
        let ones: u32 = query.iter().map(|w| w.count_ones()).sum();
        let counts_ones = 2 * ones as usize <= bits;
        let bit = |p: usize| (query[p / 64] >> (p % 64)) & 1 == 1;
        let mut list: Vec<u16> = (0..bits).filter(|&p| bit(p) == counts_ones).map(|p| (4 * p) as u16).collect();
        list.resize(list.len().next_multiple_of(16), (4 * bits) as u16);
        QueryPlanes { list, bits, ones, counts_ones }
    }
}

/// The exact top-k of each query of the job over its database range, bit-sliced (`plans` are the
/// job's queries prepared).
fn piece_sliced(job: &Job, plans: &[QueryPlanes], kernel: Kernel) -> Vec<Vec<u64>> {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernel::Avx2` is only chosen when the CPU has AVX2 and POPCNT (see `Kernel::detect`).
        Kernel::Avx2 => unsafe { piece_sliced_avx2(job, plans) },
        Kernel::Portable => piece_sliced_levels::<Plane>(job, plans),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
fn piece_sliced_avx2(job: &Job, plans: &[QueryPlanes]) -> Vec<Vec<u64>> {
    piece_sliced_levels::<avx2::V>(job, plans)
}

/// Picks the counter width: `LV` bits hold every count up to `bits`.
#[inline(always)]
fn piece_sliced_levels<L: Lanes>(job: &Job, plans: &[QueryPlanes]) -> Vec<Vec<u64>> {
    match job.database.bits() {
        0..128 => piece_sliced_any::<L, 7>(job, plans),
        128..512 => piece_sliced_any::<L, 9>(job, plans),
        512..2048 => piece_sliced_any::<L, 11>(job, plans),
        _ => piece_sliced_any::<L, 14>(job, plans),
    }
}

#[inline(always)]
fn piece_sliced_any<L: Lanes, const LV: usize>(job: &Job, plans: &[QueryPlanes]) -> Vec<Vec<u64>> {
    let (database, dr, k) = (job.database, job.dr.clone(), job.k);
    let bits = database.bits();
    let words = database.words();
    assert!(bits < 1 << LV && LV + 2 <= 16 && bits <= SLICED_MAX_BITS);
    // SAFETY argument of the `count_planes` calls: every list entry is 4 p with p <= bits (the
    // identity list below, and the lists of `QueryPlanes::new` for `bits`-bit codes, asserted
    // here), and `planes` holds bits + 1 planes.
    assert!(plans.iter().all(|p| p.bits == bits) && plans.len() == job.qr.len() && job.bounds.len() == job.qr.len());
    let identity: Vec<u16> = (0..bits.next_multiple_of(16)).map(|p| (4 * p.min(bits)) as u16).collect();
    let mut tops: Vec<TopK> = plans.iter().map(|_| TopK::new(k, bits)).collect();
    // Planes 0..bits of the current block, then the zero plane.
    let mut planes = vec![Plane::default(); bits + 1];
    let mut scratch = [Plane::default(); 64];
    let mut eplanes = [Plane::default(); 16];
    let mut popcounts = [Plane::default(); LV];
    let mut m = Plane::default();
    let mut b0 = dr.start;
    while b0 < dr.end {
        let n = (dr.end - b0).min(BLOCK);
        transpose_block::<L>(database, b0, n, &mut planes, &mut scratch);
        let valid = Plane(std::array::from_fn(|g| match n.saturating_sub(64 * g) {
            0 => 0,
            m if m >= 64 => u64::MAX,
            m => (1u64 << m) - 1,
        }));
        let base = planes.as_ptr() as *const u64;
        // |d| of every code of the block, as LV bit planes.
        // SAFETY: see above.
        let pc = unsafe { count_planes::<L, LV>(base, &identity) };
        for (p, v) in popcounts.iter_mut().zip(pc) {
            v.store(p);
        }
        for (((plan, top), bound), q) in plans.iter().zip(tops.iter_mut()).zip(job.bounds).zip(job.qr.clone()) {
            top.refresh(bound);
            if top.limit == 0 {
                continue;
            }
            // SAFETY: see above.
            let c = unsafe { count_planes::<L, LV>(base, &plan.list) };
            // E = X + (2^(LV+1) - 1 - Y) on LV + 2 bits, with (X, Y) = (|d|, 2 C) or (2 Z, |d|), is
            // distance - ones + 2^(LV+1) - 1 (see `QueryPlanes`).
            let all = L::load(&ONES);
            let mut x = [L::zero(); 16];
            let mut y = [L::zero(); 16];
            for j in 0..LV {
                let p = L::load(&popcounts[j]);
                if plan.counts_ones {
                    x[j] = p;
                    y[j + 1] = c[j];
                } else {
                    x[j + 1] = c[j];
                    y[j] = p;
                }
            }
            let mut e = [L::zero(); 16];
            let mut carry = L::zero();
            for j in 0..=LV {
                let ny = y[j].andnot(all);
                let u = x[j].xor(ny);
                e[j] = u.xor(carry);
                carry = x[j].and(ny).or(u.and(carry));
            }
            e[LV + 1] = carry;
            let offset = (2u32 << LV) - 1 - plan.ones;
            let mut mask = L::load(&valid);
            if top.limit as usize <= bits {
                // Candidates: distance < limit, that is E < t = limit + offset (t < 2^(LV + 2)).
                let t = top.limit + offset;
                let mut lt = L::zero();
                let mut eq = all;
                for j in (0..LV + 2).rev() {
                    let tj = L::load(&BIT_MASKS[((t >> j) & 1) as usize]);
                    // t_j = 1 and E_j = 0 with the higher bits equal: E < t.
                    lt = lt.or(e[j].andnot(eq).and(tj));
                    eq = e[j].xor(tj).andnot(eq);
                }
                mask = mask.and(lt);
            }
            if mask.is_zero() {
                continue;
            }
            mask.store(&mut m);
            if words <= DECODE_BY_POPCOUNT {
                // Short codes: the distance of a candidate is a few popcounts away.
                let query = job.queries.code(q);
                for (g, &word) in m.0.iter().enumerate() {
                    let mut word = word;
                    while word != 0 {
                        let index = b0 + 64 * g + word.trailing_zeros() as usize;
                        word &= word - 1;
                        let dist = hamming(query, database.code(index));
                        if dist < top.limit {
                            top.push(dist, index as u32);
                        }
                    }
                }
            } else {
                // Long codes: read the candidate's bits of E.
                for j in 0..LV + 2 {
                    e[j].store(&mut eplanes[j]);
                }
                for (g, &word) in m.0.iter().enumerate() {
                    let mut word = word;
                    while word != 0 {
                        let c = word.trailing_zeros() as usize;
                        word &= word - 1;
                        let mut v = 0u32;
                        for (j, ep) in eplanes.iter().enumerate().take(LV + 2) {
                            v |= (((ep.0[g] >> c) & 1) as u32) << j;
                        }
                        let dist = v - offset;
                        if dist < top.limit {
                            top.push(dist, (b0 + 64 * g + c) as u32);
                        }
                    }
                }
            }
            top.publish(bound);
        }
        b0 += n;
    }
    tops.into_iter().map(TopK::finish).collect()
}

/// Codes of at most this many words have their candidates' distances recomputed with popcount;
/// longer ones read them from the bit-sliced sums.
const DECODE_BY_POPCOUNT: usize = 8;

static ONES: Plane = Plane([u64::MAX; 4]);
static BIT_MASKS: [Plane; 2] = [Plane([0; 4]), Plane([u64::MAX; 4])];

/// Transposes codes `b0..b0 + n` (`n <= 256`) into `planes[0..bits]`: bit `p` of code `b0 + c` goes
/// to bit `c` of plane `p`. Codes beyond `n` read as zero. `planes[bits]` stays zero.
#[inline(always)]
fn transpose_block<L: Lanes>(database: CodesRef<'_>, b0: usize, n: usize, planes: &mut [Plane], scratch: &mut [Plane; 64]) {
    let words = database.words();
    let bits = database.bits();
    let data = database.as_words();
    for w in 0..words {
        // scratch[r] lane g = word w of code b0 + 64 g + r.
        for (r, s) in scratch.iter_mut().enumerate() {
            for g in 0..4 {
                let c = 64 * g + r;
                s.0[g] = if c < n { data[(b0 + c) * words + w] } else { 0 };
            }
        }
        let mut a: [L; 64] = std::array::from_fn(|r| L::load(&scratch[r]));
        transpose64(&mut a);
        let top = (bits - 64 * w).min(64);
        for (b, v) in a.iter().enumerate().take(top) {
            v.store(&mut planes[64 * w + b]);
        }
    }
}

/// Transposes four 64x64 bit matrices at once (one per 64-bit lane): bit `c` of row `r` goes to
/// bit `r` of row `c` (Hacker's Delight, 7-3).
#[inline(always)]
fn transpose64<L: Lanes>(a: &mut [L; 64]) {
    #[inline(always)]
    fn stage<L: Lanes, const J: i32>(a: &mut [L; 64], m: u64) {
        let m = L::load(&Plane([m; 4]));
        let j = J as usize;
        let mut k = 0;
        while k < 64 {
            let t = a[k].shr::<J>().xor(a[k + j]).and(m);
            a[k] = a[k].xor(t.shl::<J>());
            a[k + j] = a[k + j].xor(t);
            k = (k + j + 1) & !j;
        }
    }
    stage::<L, 32>(a, 0x0000_0000_FFFF_FFFF);
    stage::<L, 16>(a, 0x0000_FFFF_0000_FFFF);
    stage::<L, 8>(a, 0x00FF_00FF_00FF_00FF);
    stage::<L, 4>(a, 0x0F0F_0F0F_0F0F_0F0F);
    stage::<L, 2>(a, 0x3333_3333_3333_3333);
    stage::<L, 1>(a, 0x5555_5555_5555_5555);
}

/// The number of ones among the planes of `list` (offsets in words from `base`, a multiple of 16
/// entries), per lane, as bit planes: bit `j` of the count of lane `c` is bit `c` of result `j`.
///
/// Harley-Seal: 16 planes go through 15 carry-save adders into the running bits of weight 1, 2, 4,
/// 8 and one plane of weight 16; those are added the same way, a carry-save adder per pair, with
/// the pending plane of each weight kept aside; the pending planes are added at the end.
///
/// # Safety
/// `base + e` must point to a readable, 32-byte aligned `Plane` for every entry `e` of `list`.
#[inline(always)]
unsafe fn count_planes<L: Lanes, const LV: usize>(base: *const u64, list: &[u16]) -> [L; LV] {
    let (mut ones, mut twos, mut fours, mut eights) = (L::zero(), L::zero(), L::zero(), L::zero());
    let mut hi = [L::zero(); LV];
    let mut pending = [L::zero(); LV];
    let mut has: u32 = 0;
    for g in list.chunks_exact(16) {
        // SAFETY: see the function's contract.
        let ld = |i: usize| unsafe { L::load_ptr(base.add(g[i] as usize)) };
        let (twos_a, o) = csa(ones, ld(0), ld(1));
        let (twos_b, o) = csa(o, ld(2), ld(3));
        let (fours_a, t) = csa(twos, twos_a, twos_b);
        let (twos_a, o) = csa(o, ld(4), ld(5));
        let (twos_b, o) = csa(o, ld(6), ld(7));
        let (fours_b, t) = csa(t, twos_a, twos_b);
        let (eights_a, f) = csa(fours, fours_a, fours_b);
        let (twos_a, o) = csa(o, ld(8), ld(9));
        let (twos_b, o) = csa(o, ld(10), ld(11));
        let (fours_a, t) = csa(t, twos_a, twos_b);
        let (twos_a, o) = csa(o, ld(12), ld(13));
        let (twos_b, o) = csa(o, ld(14), ld(15));
        let (fours_b, t) = csa(t, twos_a, twos_b);
        let (eights_b, f) = csa(f, fours_a, fours_b);
        let (sixteens, e) = csa(eights, eights_a, eights_b);
        (ones, twos, fours, eights) = (o, t, f, e);
        // Add the plane of weight 16 at level 4. Levels >= LV only ever receive zero planes.
        let mut x = sixteens;
        let mut lvl = 4;
        while lvl < LV {
            if has & (1 << lvl) == 0 {
                pending[lvl] = x;
                has |= 1 << lvl;
                break;
            }
            has &= !(1 << lvl);
            let (c, s) = csa(hi[lvl], pending[lvl], x);
            hi[lvl] = s;
            x = c;
            lvl += 1;
        }
    }
    hi[0] = ones;
    hi[1] = twos;
    hi[2] = fours;
    hi[3] = eights;
    // Ripple-add the pending planes.
    for (lvl, &p) in pending.iter().enumerate().skip(4) {
        if has & (1 << lvl) != 0 {
            let mut carry = p;
            for h in hi.iter_mut().skip(lvl) {
                let s = h.xor(carry);
                carry = h.and(carry);
                *h = s;
            }
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// `n` random codes; with `distinct = Some(m)`, drawn from a pool of `m` random codes (many ties).
    fn random_codes(rng: &mut ChaCha8Rng, n: usize, bits: usize, distinct: Option<usize>) -> BinaryCodes {
        let pool_len = distinct.unwrap_or(n).max(1);
        let pool: Vec<bool> = (0..pool_len * bits).map(|_| rng.random::<bool>()).collect();
        let flags: Vec<bool> = (0..n)
            .flat_map(|_| {
                let i = rng.random_range(0..pool_len);
                pool[i * bits..(i + 1) * bits].to_vec()
            })
            .collect();
        BinaryCodes::from_bools(n, bits, &flags).unwrap()
    }

    fn kernels() -> Vec<Kernel> {
        let mut all = vec![Kernel::Portable];
        if Kernel::detect() != Kernel::Portable {
            all.push(Kernel::detect());
        }
        all
    }

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
    }

    /// Every method and kernel, with small chunks and ranges so that the splits and merges run.
    fn check_all_plans(database: &BinaryCodes, queries: &BinaryCodes, k: usize, what: &str) {
        let expected = hamming_knn_brute(database, queries, k).unwrap();
        assert_eq!(expected.indices.len(), queries.len() * k);
        for kernel in kernels() {
            for method in [Method::Direct, Method::Sliced] {
                for (query_chunk, pieces, min_range) in [(1024, 1, 1), (7, 3, 1), (13, 8, 300)] {
                    let plan = Plan { method, kernel, query_chunk, pieces, min_range };
                    let got = knn_with(database.view(), queries.view(), k, plan);
                    assert_eq!(got, expected, "{what}, k = {k}, {plan:?}");
                }
            }
        }
        for threads in [1, 3] {
            let got = pool(threads).install(|| hamming_knn(database, queries, k)).unwrap();
            assert_eq!(got, expected, "{what}, k = {k}, hamming_knn on {threads} threads");
        }
    }

    #[test]
    fn equals_brute_force_on_random_codes() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for bits in [1, 63, 64, 65, 256, 1000, 1024, 4096] {
            let n = if bits >= 1024 { 300 } else { 777 };
            let database = random_codes(&mut rng, n, bits, None);
            let queries = random_codes(&mut rng, 29, bits, None);
            for k in [1, 10, n] {
                check_all_plans(&database, &queries, k, &format!("{bits} bits, {n} random codes"));
            }
        }
    }

    #[test]
    fn equals_brute_force_with_many_ties() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        for (bits, distinct) in [(1, 2), (64, 3), (65, 5), (256, 2), (300, 17), (1024, 4)] {
            let database = random_codes(&mut rng, 600, bits, Some(distinct));
            // Queries from the same pool (distance 0 ties) and fresh ones.
            let mut queries = random_codes(&mut rng, 20, bits, None).to_bools();
            queries.extend(database.select(&[0, 5, 17, 599]).unwrap().to_bools());
            let queries = BinaryCodes::from_bools(24, bits, &queries).unwrap();
            for k in [1, 10, 257, 600] {
                check_all_plans(&database, &queries, k, &format!("{bits} bits, {distinct} distinct codes"));
            }
        }
        // All-zero database and queries: every distance is 0, the order is the index order.
        let zeros = BinaryCodes::zeros(513, 256).unwrap();
        let queries = BinaryCodes::zeros(16, 256).unwrap();
        check_all_plans(&zeros, &queries, 300, "all-zero codes");
        let got = hamming_knn(&zeros, &queries, 300).unwrap();
        assert!(got.distances.iter().all(|&d| d == 0));
        assert_eq!(got.indices_of(15), (0..300).collect::<Vec<u32>>().as_slice());
    }

    #[test]
    fn sliced_method_handles_long_databases_and_the_threshold() {
        // Several blocks per range, a threshold that moves many times, codes near the query.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let bits = 256;
        let queries = random_codes(&mut rng, 16, bits, None);
        let mut words = Vec::new();
        for i in 0..5000 {
            let mut code = queries.code(i % 16).to_vec();
            for _ in 0..rng.random_range(0..100) {
                let b = rng.random_range(0..bits);
                code[b / 64] ^= 1 << (b % 64);
            }
            words.extend(code);
        }
        let database = BinaryCodes::from_words(5000, bits, words).unwrap();
        for k in [1, 10, 100] {
            check_all_plans(&database, &queries, k, "codes near the queries");
        }
    }

    #[test]
    fn codes_too_long_for_bit_planes_use_the_direct_method() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let bits = SLICED_MAX_BITS + 100;
        let database = random_codes(&mut rng, 70, bits, None);
        let queries = random_codes(&mut rng, 13, bits, None);
        check_all_plans(&database, &queries, 7, "codes longer than the bit-sliced method takes");
    }

    #[test]
    fn zero_queries_give_an_empty_result() {
        let database = BinaryCodes::zeros(10, 64).unwrap();
        let queries = BinaryCodes::zeros(0, 64).unwrap();
        let got = hamming_knn(&database, &queries, 3).unwrap();
        assert_eq!((got.k, got.queries(), got.indices.len()), (3, 0, 0));
    }

    #[test]
    fn bad_arguments_are_refused_with_clear_errors() {
        let database = BinaryCodes::zeros(5, 64).unwrap();
        let queries = BinaryCodes::zeros(2, 64).unwrap();
        let other = BinaryCodes::zeros(2, 65).unwrap();
        let err = hamming_knn(&database, &other, 1).unwrap_err().to_string();
        assert!(err.contains("65-bit") && err.contains("64-bit"), "{err}");
        let err = hamming_knn(&database, &queries, 0).unwrap_err().to_string();
        assert!(err.contains('k') && err.contains("between 1 and the database size, 5"), "{err}");
        let err = hamming_knn(&database, &queries, 6).unwrap_err().to_string();
        assert!(err.contains("6") && err.contains("between 1 and the database size, 5"), "{err}");
        assert!(hamming_knn_brute(&database, &queries, 6).is_err());
        assert!(hamming_knn(&database, &queries, 5).is_ok());
    }

    #[test]
    fn transpose64_matches_the_definition() {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let rows: Vec<[u64; 4]> = (0..64).map(|_| [rng.random(), rng.random(), rng.random(), rng.random()]).collect();
        let mut a: [Plane; 64] = std::array::from_fn(|r| Plane(rows[r]));
        transpose64(&mut a);
        for (r, row) in rows.iter().enumerate() {
            for (c, column) in a.iter().enumerate() {
                for (g, (&t, &w)) in column.0.iter().zip(row).enumerate() {
                    assert_eq!((t >> r) & 1, (w >> c) & 1, "lane {g}, row {r}, column {c}");
                }
            }
        }
    }

    #[test]
    fn count_planes_counts_every_lane() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for len in [16, 48, 256, 1040] {
            let planes: Vec<Plane> = (0..len).map(|_| Plane([rng.random(), rng.random(), rng.random(), rng.random()])).collect();
            let list: Vec<u16> = (0..len).map(|p| (4 * p) as u16).collect();
            // SAFETY: the list indexes `planes`, which are 32-byte aligned.
            let counts = unsafe { count_planes::<Plane, 11>(planes.as_ptr() as *const u64, &list) };
            for lane in 0..256 {
                let want = planes.iter().filter(|p| (p.0[lane / 64] >> (lane % 64)) & 1 == 1).count();
                let got: usize = (0..11).map(|j| (((counts[j].0[lane / 64] >> (lane % 64)) & 1) as usize) << j).sum();
                assert_eq!(got, want, "{len} planes, lane {lane}");
            }
        }
    }

    #[test]
    fn top_k_keeps_the_first_of_equal_distances() {
        let distances = [5, 3, 3, 7, 3, 1, 3, 5, 0, 3, 3];
        for k in 1..=distances.len() {
            let mut top = TopK::new(k, 8);
            for (i, &d) in distances.iter().enumerate() {
                if d < top.limit {
                    top.push(d, i as u32);
                }
            }
            let mut want: Vec<u64> = distances.iter().enumerate().map(|(i, &d)| ((d as u64) << 32) | i as u64).collect();
            want.sort_unstable();
            want.truncate(k);
            assert_eq!(top.finish(), want, "k = {k}");
        }
    }
}
