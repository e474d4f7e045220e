//! TEMPORARY shim (replaced by the data branch).
use crate::error::{Error, Result};
pub struct Dataset { pub x: Vec<f32>, pub labels: Vec<u8>, pub dim: usize, pub image_shape: Option<(usize, usize)>, pub classes: usize }
impl Dataset {
    pub fn len(&self) -> usize { self.labels.len() }
    pub fn is_empty(&self) -> bool { self.labels.is_empty() }
    pub fn gather_batch(&self, idx: &[usize], x: &mut [f32], y: &mut [u8]) {
        for (j, &i) in idx.iter().enumerate() { x[j * self.dim..(j + 1) * self.dim].copy_from_slice(&self.x[i * self.dim..(i + 1) * self.dim]); y[j] = self.labels[i]; }
    }
}
fn read(path: &std::path::Path) -> Vec<u8> {
    use std::io::Read;
    let f = std::fs::File::open(path).unwrap();
    let mut v = Vec::new();
    flate2::read::GzDecoder::new(f).read_to_end(&mut v).unwrap();
    v
}
fn load(dir: &std::path::Path, prefix: &str) -> Dataset {
    let im = read(&dir.join(format!("{prefix}-images-idx3-ubyte.gz")));
    let lb = read(&dir.join(format!("{prefix}-labels-idx1-ubyte.gz")));
    Dataset { x: im[16..].iter().map(|&b| b as f32 / 255.0).collect(), labels: lb[8..].to_vec(), dim: 784, image_shape: Some((28, 28)), classes: 10 }
}
pub fn load_split(source: &str, validation: Option<usize>, _l2: bool) -> Result<(Dataset, Dataset, Dataset)> {
    let dir = std::path::PathBuf::from(source.strip_prefix("mnist:").unwrap_or(source));
    if !dir.exists() { return Err(Error::Data(format!("no {source}"))); }
    let mut train = load(&dir, "train");
    let test = load(&dir, "t10k");
    let nv = validation.unwrap_or(if train.len() >= 20000 { 10000 } else { train.len() / 6 });
    let n = train.len() - nv;
    let val = Dataset { x: train.x.split_off(n * 784), labels: train.labels.split_off(n), dim: 784, image_shape: Some((28, 28)), classes: 10 };
    Ok((train, val, test))
}
