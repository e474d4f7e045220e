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

/// Writes an IDX image set (four classes used of the 10 that IDX files get) of `side x side` images to `dir`: each class is a bright bar
/// (horizontal, vertical, or one of the two diagonals) with noise, so a small conv net learns it.
#[allow(dead_code)]
pub fn write_bars(dir: &Path, side: usize, n_train: usize, n_test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut seed = 12345u64;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as u32
    };
    let mut set = |n: usize| {
        let mut pixels = Vec::with_capacity(n * side * side);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let class = (i % 4) as u8;
            let offset = (next() as usize) % (side / 2) + side / 4;
            for y in 0..side {
                for x in 0..side {
                    let on = match class {
                        0 => y == offset,
                        1 => x == offset,
                        2 => x == y,
                        _ => x + y == side - 1,
                    };
                    let noise = (next() % 60) as u8;
                    pixels.push(if on { 255 - noise } else { noise });
                }
            }
            labels.push(class);
        }
        (pixels, labels)
    };
    let (p, l) = set(n_train);
    compete::data::idx::write_idx_images(&dir.join("train-images-idx3-ubyte"), n_train, side, side, &p, false).unwrap();
    compete::data::idx::write_idx_labels(&dir.join("train-labels-idx1-ubyte"), &l, false).unwrap();
    let (p, l) = set(n_test);
    compete::data::idx::write_idx_images(&dir.join("t10k-images-idx3-ubyte"), n_test, side, side, &p, false).unwrap();
    compete::data::idx::write_idx_labels(&dir.join("t10k-labels-idx1-ubyte"), &l, false).unwrap();
}
