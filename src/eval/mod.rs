//! TEMPORARY shim (replaced by the report branch).
use crate::error::Result;
#[derive(serde::Serialize)]
pub struct Confusion { pub classes: usize, pub counts: Vec<u64> }
impl Confusion {
    pub fn new(classes: usize, p: &[usize], y: &[u8]) -> Result<Self> {
        let mut counts = vec![0; classes * classes];
        for (&p, &y) in p.iter().zip(y) { counts[y as usize * classes + p] += 1; }
        Ok(Confusion { classes, counts })
    }
    pub fn errors(&self) -> u64 { self.counts.iter().sum::<u64>() - (0..self.classes).map(|i| self.counts[i * self.classes + i]).sum::<u64>() }
    pub fn error_rate(&self) -> f64 { self.errors() as f64 / self.counts.iter().sum::<u64>() as f64 }
}
impl std::fmt::Display for Confusion { fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result { write!(f, "{:?}", self.counts) } }
