//! Refusing allocations the machine cannot hold, before making them.
//!
//! A request that is simply too large (a hidden layer of four billion units, a database of 10^11
//! codes) would otherwise end in the allocator aborting the process. Callers compute the bytes they
//! are about to allocate, with checked arithmetic, and ask [`check_alloc`] first.

use crate::error::{Error, Result};

/// What is assumed available when `/proc/meminfo` cannot be read (non-Linux systems): 64 GiB.
const FALLBACK_AVAILABLE: u128 = 64 << 30;

/// Bytes of memory available now: `MemAvailable` of `/proc/meminfo`, or a fixed 64 GiB elsewhere.
pub fn available_bytes() -> u128 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kb: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(FALLBACK_AVAILABLE)
}

/// Refuses to go on when `bytes` (`None`: the count overflowed) exceed the memory available; `what`
/// names the request in the error, e.g. `"--hidden 4000000000: the network's parameters"`.
pub fn check_alloc(what: &str, bytes: Option<u128>) -> Result<()> {
    let available = available_bytes();
    match bytes {
        Some(b) if b <= available => Ok(()),
        Some(b) => Err(Error::param(what, human(b), format!("at most the {} of memory available", human(available)))),
        None => Err(Error::param(what, "more bytes than can be counted", format!("at most the {} of memory available", human(available)))),
    }
}

/// `1.5 GiB`, `12.0 MiB`, `512 B`.
pub fn human(bytes: u128) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_requests_pass_and_huge_ones_are_named() {
        assert!(check_alloc("x", Some(1024)).is_ok());
        let err = check_alloc("--hidden 4000000000: parameters", Some(1u128 << 80)).unwrap_err().to_string();
        assert!(err.contains("--hidden 4000000000") && err.contains("available"), "{err}");
        assert!(check_alloc("y", None).unwrap_err().to_string().contains("more bytes than can be counted"));
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 << 29), "1.5 GiB");
    }
}
