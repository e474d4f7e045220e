//! Packed binary codes.
//!
//! A [`BinaryCodes`] holds `n` codes of `bits` bits each. Code `i` occupies `words` consecutive `u64`
//! words, `words = ceil(bits / 64)`; bit `j` of a code is bit `j % 64` (least significant first) of
//! word `j / 64`. Padding bits of the last word are always 0, so the Hamming distance of two codes is
//! the popcount of the XOR of their words, with no mask needed at search time.
//!
//! ```
//! use compete::retrieval::BinaryCodes;
//!
//! let codes = BinaryCodes::from_bools(2, 70, &[[true; 70], [false; 70]].concat()).unwrap();
//! assert_eq!(codes.words(), 2);
//! assert_eq!(codes.count_ones(0), 70);
//! assert_eq!(codes.distance(0, &codes, 1), 70);
//! ```

use crate::error::{Error, Result};

/// `n` binary codes of `bits` bits, packed into `u64` words (see the module docs for the layout).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BinaryCodes {
    n: usize,
    bits: usize,
    words: usize,
    data: Vec<u64>,
}

/// Words needed for a code of `bits` bits.
pub fn words_for(bits: usize) -> usize {
    bits.div_ceil(64)
}

/// Mask of the valid bits of the last word of a `bits`-bit code.
fn last_word_mask(bits: usize) -> u64 {
    match bits % 64 {
        0 => u64::MAX,
        r => (1u64 << r) - 1,
    }
}

impl BinaryCodes {
    /// `n` all-zero codes of `bits` bits.
    pub fn zeros(n: usize, bits: usize) -> Result<Self> {
        if bits == 0 {
            return Err(Error::param("code length (bits)", 0, "at least 1 bit"));
        }
        let words = words_for(bits);
        let len = n.checked_mul(words).ok_or_else(|| Error::param("number of codes", n, "a size that fits in memory"))?;
        Ok(BinaryCodes { n, bits, words, data: vec![0; len] })
    }

    /// Packs `n` codes given as one flag per bit, row-major (`flags.len() == n * bits`).
    pub fn from_bools(n: usize, bits: usize, flags: &[bool]) -> Result<Self> {
        let mut codes = BinaryCodes::zeros(n, bits)?;
        if n.checked_mul(bits) != Some(flags.len()) {
            return Err(Error::shape("code flags", format!("{} flags", flags.len()), format!("{n} codes x {bits} bits = {}", n * bits)));
        }
        for (i, row) in flags.chunks_exact(bits).enumerate() {
            codes.set_row_from_bools(i, row);
        }
        Ok(codes)
    }

    /// Codes from packed words (`data.len() == n * ceil(bits / 64)`, layout of the module docs).
    /// Padding bits that are set are an error: they would corrupt distances.
    pub fn from_words(n: usize, bits: usize, data: Vec<u64>) -> Result<Self> {
        let mut codes = BinaryCodes::zeros(0, bits)?;
        let words = codes.words;
        if n.checked_mul(words) != Some(data.len()) {
            return Err(Error::shape("packed codes", format!("{} words", data.len()), format!("{n} codes x {words} words")));
        }
        let mask = last_word_mask(bits);
        if let Some(i) = (0..n).find(|&i| data[i * words + words - 1] & !mask != 0) {
            return Err(Error::Data(format!("code {i} has padding bits set beyond bit {bits}; padding bits must be 0")));
        }
        codes.n = n;
        codes.data = data;
        Ok(codes)
    }

    /// Sets code `i` from one flag per bit (`row.len() == bits`).
    ///
    /// # Panics
    /// If `i >= n` or `row.len() != bits` (a programming error, not user input).
    pub fn set_row_from_bools(&mut self, i: usize, row: &[bool]) {
        assert_eq!(row.len(), self.bits, "one flag per bit");
        let words = &mut self.data[i * self.words..(i + 1) * self.words];
        for (w, chunk) in words.iter_mut().zip(row.chunks(64)) {
            *w = chunk.iter().enumerate().fold(0u64, |acc, (b, &f)| acc | ((f as u64) << b));
        }
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when there are no codes.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Bits per code.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// `u64` words per code.
    pub fn words(&self) -> usize {
        self.words
    }

    /// All words, code after code.
    pub fn as_words(&self) -> &[u64] {
        &self.data
    }

    /// The words of code `i`.
    pub fn code(&self, i: usize) -> &[u64] {
        &self.data[i * self.words..(i + 1) * self.words]
    }

    /// Bit `j` of code `i`.
    pub fn bit(&self, i: usize, j: usize) -> bool {
        debug_assert!(j < self.bits);
        (self.data[i * self.words + j / 64] >> (j % 64)) & 1 == 1
    }

    /// Number of 1 bits of code `i`.
    pub fn count_ones(&self, i: usize) -> u32 {
        self.code(i).iter().map(|w| w.count_ones()).sum()
    }

    /// Hamming distance between code `i` of `self` and code `j` of `other` (same length).
    pub fn distance(&self, i: usize, other: &BinaryCodes, j: usize) -> u32 {
        hamming(self.code(i), other.code(j))
    }

    /// The codes at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Result<BinaryCodes> {
        let mut data = Vec::with_capacity(indices.len() * self.words);
        for &i in indices {
            if i >= self.n {
                return Err(Error::param("code index", i, format!("below the number of codes, {}", self.n)));
            }
            data.extend_from_slice(self.code(i));
        }
        Ok(BinaryCodes { n: indices.len(), bits: self.bits, words: self.words, data })
    }

    /// Unpacks to one flag per bit, row-major.
    pub fn to_bools(&self) -> Vec<bool> {
        let mut out = Vec::with_capacity(self.n * self.bits);
        for i in 0..self.n {
            out.extend((0..self.bits).map(|j| self.bit(i, j)));
        }
        out
    }

    /// The codes as a borrowed view (what the search reads).
    pub fn view(&self) -> CodesRef<'_> {
        CodesRef { n: self.n, bits: self.bits, words: self.words, data: &self.data }
    }

    /// Checks that `other` has codes of the same length, naming both sides in the error.
    pub fn check_same_length(&self, what: &str, other: &BinaryCodes, other_what: &str) -> Result<()> {
        self.view().check_same_length(what, &other.view(), other_what)
    }
}

/// A borrowed view of `n` packed codes of `bits` bits over words owned elsewhere (a
/// [`BinaryCodes`], or an array handed over by another language without a copy): what the search
/// reads. The layout is [`BinaryCodes`]'s, or any layout that places the bits of every code the
/// same way within its words (Hamming distances do not depend on where a bit sits, only on both
/// codes having it in the same place), with padding bits 0.
#[derive(Clone, Copy, Debug)]
pub struct CodesRef<'a> {
    n: usize,
    bits: usize,
    words: usize,
    data: &'a [u64],
}

impl<'a> CodesRef<'a> {
    /// A view of `data` as `n` codes of `bits` bits, `ceil(bits / 64)` words each. When `bits` is
    /// not a multiple of 64 the padding bits of every code's last word must be 0 (checked).
    pub fn new(n: usize, bits: usize, data: &'a [u64]) -> Result<Self> {
        if bits == 0 {
            return Err(Error::param("code length (bits)", 0, "at least 1 bit"));
        }
        let words = words_for(bits);
        if n.checked_mul(words) != Some(data.len()) {
            return Err(Error::shape("code words", format!("{} words", data.len()), format!("{n} codes x {words} words")));
        }
        let mask = last_word_mask(bits);
        if mask != u64::MAX
            && let Some(i) = data.chunks_exact(words).position(|c| c[words - 1] & !mask != 0)
        {
            return Err(Error::Data(format!("code {i} has bits set past its {bits} bits; padding bits must be 0")));
        }
        Ok(CodesRef { n, bits, words, data })
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no codes.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Bits per code.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Words per code.
    pub fn words(&self) -> usize {
        self.words
    }

    /// All words, code after code.
    pub fn as_words(&self) -> &'a [u64] {
        self.data
    }

    /// The words of code `i`.
    pub fn code(&self, i: usize) -> &'a [u64] {
        &self.data[i * self.words..(i + 1) * self.words]
    }

    /// Checks that `other` has codes of the same length, naming both sides in the error.
    pub fn check_same_length(&self, what: &str, other: &CodesRef<'_>, other_what: &str) -> Result<()> {
        if self.bits != other.bits {
            return Err(Error::shape(
                format!("{what} against {other_what}"),
                format!("{}-bit {what}", self.bits),
                format!("{}-bit codes, the length of the {other_what}", other.bits),
            ));
        }
        Ok(())
    }
}

/// Hamming distance of two packed codes of the same word count.
#[inline]
pub fn hamming(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_check_their_words_and_padding() {
        let codes = BinaryCodes::from_bools(2, 70, &[[true; 70], [false; 70]].concat()).unwrap();
        let v = codes.view();
        assert_eq!((v.len(), v.bits(), v.words(), v.code(0)), (2, 70, 2, codes.code(0)));
        assert!(CodesRef::new(2, 70, codes.as_words()).is_ok());
        assert!(CodesRef::new(3, 70, codes.as_words()).unwrap_err().to_string().contains("3 codes x 2 words"));
        let mut words = codes.as_words().to_vec();
        words[3] |= 1 << 6; // bit 70 of code 1
        assert!(CodesRef::new(2, 70, &words).unwrap_err().to_string().contains("code 1 has bits set past its 70 bits"));
        assert!(CodesRef::new(2, 128, &words).is_ok());
    }

    #[test]
    fn packing_round_trips_at_odd_lengths() {
        for bits in [1, 5, 63, 64, 65, 127, 128, 130] {
            let flags: Vec<bool> = (0..3 * bits).map(|k| (k * 7 + k / 3) % 5 < 2).collect();
            let codes = BinaryCodes::from_bools(3, bits, &flags).unwrap();
            assert_eq!(codes.to_bools(), flags, "bits = {bits}");
            assert_eq!(codes.words(), bits.div_ceil(64));
            // Padding bits stay 0.
            let mask = last_word_mask(bits);
            for i in 0..3 {
                assert_eq!(codes.code(i)[codes.words() - 1] & !mask, 0);
            }
            let d = flags[..bits].iter().zip(&flags[bits..2 * bits]).filter(|(a, b)| a != b).count() as u32;
            assert_eq!(codes.distance(0, &codes, 1), d);
        }
    }

    #[test]
    fn bad_shapes_and_padding_are_refused() {
        assert!(BinaryCodes::zeros(3, 0).is_err());
        assert!(BinaryCodes::from_bools(2, 3, &[true; 5]).is_err());
        assert!(BinaryCodes::from_words(1, 70, vec![0, 1 << 6]).is_err());
        assert!(BinaryCodes::from_words(1, 70, vec![0, 1 << 5]).is_ok());
        let codes = BinaryCodes::zeros(2, 8).unwrap();
        assert!(codes.select(&[2]).is_err());
        let other = BinaryCodes::zeros(2, 9).unwrap();
        let err = codes.check_same_length("queries", &other, "database").unwrap_err().to_string();
        assert!(err.contains("8-bit") && err.contains("9-bit"), "{err}");
    }
}
