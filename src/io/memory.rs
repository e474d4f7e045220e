//! Memory checks before large allocations.
//!
//! A size taken from user input (a layer width, a code length, a number of codes) can ask for more
//! memory than the machine has, and Rust then aborts the process ("memory allocation of N bytes
//! failed") instead of returning an error. Code that allocates from such sizes computes the bytes it
//! will need first, with [`bytes`] (saturating, so it never overflows), and calls [`check_alloc`],
//! which compares them with what [`available`] reports and returns an [`Error::Memory`] saying both.
//!
//! ```
//! use compete::io::memory::{bytes, check_alloc};
//!
//! // A million f32 values fit; 2^40 x 2^40 of them do not, on any machine.
//! assert!(check_alloc("a small buffer", bytes(&[1000, 1000], 4)).is_ok());
//! let e = check_alloc("a huge matrix", bytes(&[1 << 40, 1 << 40], 4)).unwrap_err().to_string();
//! assert!(e.contains("a huge matrix") && e.contains("available"), "{e}");
//! ```

use crate::error::{Error, Result};

/// What [`available`] assumes when the operating system does not say (no readable
/// `/proc/meminfo`): 8 GiB.
pub const FALLBACK_AVAILABLE: u64 = 8 << 30;

/// The memory new allocations may take, in bytes, and where the number comes from: `MemAvailable`
/// of `/proc/meminfo`, lowered to the room left under the process's cgroup memory limit when there
/// is one (v2 `memory.max`, v1 `memory.limit_in_bytes`); [`FALLBACK_AVAILABLE`] when
/// `/proc/meminfo` cannot be read (other systems).
pub fn available() -> (u64, String) {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines().find_map(|l| l.strip_prefix("MemAvailable:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    let (mut avail, mut from) = match meminfo {
        Some(kb) => (kb.saturating_mul(1024), "MemAvailable in /proc/meminfo".to_string()),
        None => (FALLBACK_AVAILABLE, "a fixed assumption: /proc/meminfo could not be read".to_string()),
    };
    if let Some((room, file)) = cgroup_room()
        && room < avail
    {
        (avail, from) = (room, format!("the room left under the cgroup limit {file}"));
    }
    (avail, from)
}

/// Bytes left under the cgroup memory limit of this process, and the limit's file, when there is one.
fn cgroup_room() -> Option<(u64, String)> {
    let read = |p: &str| std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse::<u64>().ok());
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        // v2 ("0::/path") and v1 ("4:memory:/path"); the path as seen from this cgroup namespace,
        // or the root of the mount when that is all the namespace shows.
        let (root, limit, usage) = match controllers {
            "" => ("/sys/fs/cgroup", "memory.max", "memory.current"),
            c if c.split(',').any(|c| c == "memory") => ("/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes"),
            _ => continue,
        };
        for dir in [format!("{root}{path}"), root.to_string()] {
            let file = format!("{}/{limit}", dir.trim_end_matches('/'));
            if let Some(max) = read(&file) {
                let used = read(&format!("{}/{usage}", dir.trim_end_matches('/'))).unwrap_or(0);
                return Some((max.saturating_sub(used), file));
            }
        }
    }
    None
}

/// The bytes of an array of `counts[0] x counts[1] x ...` items of `size` bytes each, saturating at
/// `u128::MAX` (which no machine has, so [`check_alloc`] refuses it).
pub fn bytes(counts: &[usize], size: usize) -> u128 {
    counts.iter().fold(size as u128, |acc, &c| acc.saturating_mul(c as u128))
}

pub use crate::error::format_bytes;

/// Refuses an allocation of `bytes` when more than the memory [`available`]: an [`Error::Memory`]
/// naming `what` (say what is allocated and from which flag or file its size comes, e.g. "the codes
/// of --database 100000000000 x --bits 64"), the bytes needed and the bytes available.
pub fn check_alloc(what: &str, bytes: u128) -> Result<()> {
    let (available, from) = available();
    if bytes > u128::from(available) {
        return Err(Error::Memory { what: what.to_string(), needed: bytes, available, from });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_saturate_and_huge_ones_are_refused_with_both_numbers() {
        assert_eq!(bytes(&[3, 5], 8), 120);
        assert_eq!(bytes(&[], 4), 4);
        assert_eq!(bytes(&[usize::MAX, usize::MAX, usize::MAX], 8), u128::MAX);
        assert!(check_alloc("nothing much", 1).is_ok());
        let e = check_alloc("the weights of --widths 1000000000,1000000000", bytes(&[1_000_000_000, 1_000_000_000], 4)).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Memory { needed: 4_000_000_000_000_000_000, .. }), "{msg}");
        assert!(msg.contains("--widths 1000000000,1000000000") && msg.contains("4000000000000000000 bytes"), "{msg}");
        assert!(msg.contains("available"), "{msg}");
        let (avail, from) = available();
        assert!(avail > 0 && !from.is_empty());
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(format_bytes(10), "10 bytes");
        assert_eq!(format_bytes(1536), "1.5 KiB (1536 bytes)");
        assert_eq!(format_bytes(40_000_000_000), "37.3 GiB (40000000000 bytes)");
        assert!(format_bytes(u128::MAX).contains("ZiB"));
    }
}
