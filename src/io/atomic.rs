//! Atomic file writes: a reader never sees a half-written metrics file, figure or checkpoint.
//!
//! The bytes go to a temporary file in the same directory as the target (so that the final rename
//! stays on one file system), are flushed to disk with `fsync`, and the temporary file is then
//! renamed over the target. On failure the temporary file is removed and the target is untouched.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::error::{Error, Result};

/// Distinguishes temporary files of concurrent writes from one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temporary sibling of `path` used by [`write_atomic`]: `.<name>.tmp-<pid>-<n>` in the same directory.
fn temp_path(path: &Path) -> Result<PathBuf> {
    let name =
        path.file_name().ok_or_else(|| Error::io(path, std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}-{n}", std::process::id()));
    Ok(path.with_file_name(tmp_name))
}

/// Writes `bytes` to `path` atomically: creates missing parent directories, writes a temporary file
/// in the same directory, `fsync`s it and renames it into place, replacing any existing file.
///
/// Errors name the file (the target, or the directory that could not be created).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => Some(p),
        _ => None,
    };
    if let Some(dir) = parent {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = temp_path(path)?;
    let written = (|| -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        Ok(())
    })();
    if let Err(e) = written {
        // Best effort: the write failed, so the temporary file is garbage either way.
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    sync_dir(parent);
    Ok(())
}

/// Makes a rename in `dir` durable. Not every platform can open a directory for syncing, so a
/// failure is ignored: the file content is already on disk.
fn sync_dir(dir: Option<&Path>) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir.unwrap_or(Path::new("."))) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Gives the file `src`, already written (and synced) by [`write_atomic`], the second name `dst`,
/// atomically: a hard link under a temporary name renamed over `dst`, so that `dst` is at every
/// instant its old file or `src`'s. Where the file system has no hard links, `src` is copied with
/// [`write_atomic`]. Two checkpoints of the same model (a run's `best` and `last`) then cost one
/// serialization and one `fsync`.
pub fn link_atomic(src: &Path, dst: &Path) -> Result<()> {
    let tmp = temp_path(dst)?;
    match fs::hard_link(src, &tmp) {
        Ok(()) => {
            if let Err(e) = fs::rename(&tmp, dst) {
                let _ = fs::remove_file(&tmp);
                return Err(Error::io(dst, e));
            }
            sync_dir(dst.parent().filter(|p| !p.as_os_str().is_empty()));
            Ok(())
        }
        Err(_) => write_atomic(dst, &fs::read(src).map_err(|e| Error::io(src, e))?),
    }
}

/// Serialises `value` as pretty-printed JSON (with a final newline) and writes it to `path` with
/// [`write_atomic`].
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::format(path, format!("cannot serialise to JSON: {e}")))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Creates the output folder `dir` given by the flag `flag` (with its parents), before any work is
/// done. An existing folder is fine; a path that is an existing file, or that cannot be created, is
/// an [`Error::Param`] naming the flag, the path and that a folder was expected (instead of the
/// operating system's bare "File exists").
pub fn create_out_dir(flag: &str, dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        return Err(Error::param(
            flag,
            dir.display(),
            "a folder, but this path is an existing file (choose another path or remove the file)",
        ));
    }
    fs::create_dir_all(dir).map_err(|e| {
        let why = match dir.ancestors().skip(1).find(|a| a.is_file()) {
            Some(file) => format!("{} is a file", file.display()),
            None => e.to_string(),
        };
        Error::param(flag, dir.display(), format!("a folder that can be created ({why})"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn writes_creates_parents_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/out.bin");
        write_atomic(&path, b"hello").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        assert_eq!(entries(&dir.path().join("a/b")), vec!["out.bin".to_string()]);
    }

    #[test]
    fn replaces_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        fs::write(&path, b"old content that is longer").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(entries(dir.path()), vec!["out.txt".to_string()]);
    }

    #[test]
    fn error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        // A regular file where a directory is needed: the parent cannot be created.
        let blocker = dir.path().join("blocker");
        fs::write(&blocker, b"x").unwrap();
        let path = blocker.join("out.json");
        let err = write_atomic(&path, b"{}").unwrap_err().to_string();
        assert!(err.contains("blocker"), "{err}");
        // A path naming no file at all.
        let err = write_atomic(Path::new("/"), b"x").unwrap_err().to_string();
        assert!(err.contains('/'), "{err}");
    }

    #[test]
    fn json_is_pretty_and_round_trips() {
        #[derive(Serialize)]
        struct M {
            epoch: u32,
            loss: f64,
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.json");
        write_json(&path, &M { epoch: 3, loss: 0.25 }).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\n  \"epoch\": 3"), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["loss"], 0.25);
        assert_eq!(entries(dir.path()), vec!["metrics.json".to_string()]);
    }

    #[test]
    fn out_dir_errors_name_the_flag_the_path_and_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let made = dir.path().join("a/b");
        create_out_dir("--out", &made).unwrap();
        assert!(made.is_dir());
        create_out_dir("--out", &made).unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        let e = create_out_dir("-o/--out", &file).unwrap_err().to_string();
        assert!(
            e.contains("-o/--out") && e.contains(&file.display().to_string()) && e.contains("a folder") && e.contains("existing file"),
            "{e}"
        );
        let below = file.join("sub");
        let e = create_out_dir("--out", &below).unwrap_err().to_string();
        assert!(e.contains("--out") && e.contains("sub") && e.contains("a folder that can be created") && e.contains("is a file"), "{e}");
    }
}
