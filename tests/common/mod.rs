//! Helpers shared by the integration tests that run the `compete` binary.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `compete` binary with `args` in `cwd`.
pub fn compete(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_compete")).args(args).current_dir(cwd).output().expect("the compete binary runs")
}

/// Standard output and standard error of a run, together.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// [`compete`] with a time limit: `None` when the binary was still running after `seconds` (it is
/// then killed), so that a test of something that used to hang fails instead of hanging.
#[allow(dead_code)]
pub fn compete_within(args: &[&str], cwd: &Path, seconds: u64) -> Option<Output> {
    // Files rather than pipes: a child writing more than a pipe holds cannot block on them.
    let (mut out, mut err) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
    let mut child = Command::new(env!("CARGO_BIN_EXE_compete"))
        .args(args)
        .current_dir(cwd)
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .expect("the compete binary starts");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the compete binary can be waited for") {
            break status;
        }
        if start.elapsed().as_secs() >= seconds {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let read = |f: &mut std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut v).unwrap();
        v
    };
    Some(Output { status, stdout: read(&mut out), stderr: read(&mut err) })
}
