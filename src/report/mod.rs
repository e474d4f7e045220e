//! TEMPORARY shim (replaced by the report branch).
pub mod io {
    use crate::error::{Error, Result};
    use std::path::Path;
    pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
        if let Some(p) = path.parent() { std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?; }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }
    pub fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<()> {
        write_atomic(path, serde_json::to_string_pretty(v).unwrap().as_bytes())
    }
}
pub mod plot {
    use crate::error::Result;
    use std::path::Path;
    pub struct Series { pub name: String, pub points: Vec<(f64, f64)> }
    pub fn line_plot(_path: &Path, _t: &str, _x: &str, _y: &str, _s: &[Series], _l: bool) -> Result<()> { Ok(()) }
}
pub mod progress {
    pub struct Progress;
    impl Progress {
        pub fn new(_l: &str, _t: u64, _q: bool) -> Self { Progress }
        pub fn inc(&self, _n: u64) {}
        pub fn finish(&self, m: &str) { eprintln!("{m}"); }
    }
    pub fn log_line(s: &str) { eprintln!("{s}"); }
}
