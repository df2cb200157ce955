//! Where the generator runs: CPU sets (`0`, `1-3`, `0,2`), the CPUs this process may use,
//! and pinning every thread of the process (or a child about to start) to a set, so a
//! generator sharing a machine with a pinned SUT stays off the SUT's CPUs.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A set of CPU indices.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CpuSet(BTreeSet<usize>);

/// A CPU list that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CPU list {text:?}: {reason}")]
pub struct CpuSetError {
    pub text: String,
    pub reason: String,
}

impl CpuSet {
    /// The CPUs this process may run on (its affinity mask).
    pub fn allowed() -> std::io::Result<Self> {
        // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it for this thread.
        unsafe {
            let mut mask: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut mask) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(Self(
                (0..libc::CPU_SETSIZE as usize)
                    .filter(|&cpu| libc::CPU_ISSET(cpu, &mask))
                    .collect(),
            ))
        }
    }

    /// CPUs in `self` and not in `other`.
    pub fn without(&self, other: &CpuSet) -> CpuSet {
        CpuSet(self.0.difference(&other.0).copied().collect())
    }

    /// CPUs in both sets.
    pub fn intersection(&self, other: &CpuSet) -> CpuSet {
        CpuSet(self.0.intersection(&other.0).copied().collect())
    }

    /// Number of CPUs in the set.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set has no CPU.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The kernel's form of the set.
    pub fn mask(&self) -> libc::cpu_set_t {
        // SAFETY: cpu_set_t is plain data; CPU_SET only writes within it (indices are
        // bounded by CPU_SETSIZE).
        unsafe {
            let mut mask: libc::cpu_set_t = std::mem::zeroed();
            for &cpu in self.0.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
                libc::CPU_SET(cpu, &mut mask);
            }
            mask
        }
    }

    /// Pins every thread of this process to the set (threads started later inherit it).
    pub fn pin_process(&self) -> std::io::Result<()> {
        let mask = self.mask();
        for entry in std::fs::read_dir("/proc/self/task")? {
            let tid = entry?
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<libc::pid_t>().ok());
            if let Some(tid) = tid {
                // A thread that ended since the listing is not an error.
                if let Err(e) = set_affinity(tid, &mask)
                    && e.raw_os_error() != Some(libc::ESRCH)
                {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// Pins thread `tid` (0: the calling thread) to `mask`. Async-signal-safe, so it may run
/// in a child between `fork` and `exec` (`CommandExt::pre_exec`).
pub fn set_affinity(tid: libc::pid_t, mask: &libc::cpu_set_t) -> std::io::Result<()> {
    // SAFETY: the mask is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_setaffinity(tid, size_of::<libc::cpu_set_t>(), mask) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl FromStr for CpuSet {
    type Err = CpuSetError;

    /// Parses Linux's CPU list form: `1`, `0-3`, `0,2-3`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| CpuSetError {
            text: text.to_string(),
            reason,
        };
        let cpu = |s: &str| {
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|&c| c < libc::CPU_SETSIZE as usize)
                .ok_or_else(|| error(format!("{s:?} is not a CPU index")))
        };
        let mut set = BTreeSet::new();
        for part in text.split(',') {
            match part.split_once('-') {
                Some((lo, hi)) => {
                    let (lo, hi) = (cpu(lo)?, cpu(hi)?);
                    if lo > hi {
                        return Err(error(format!("range {part:?} runs backwards")));
                    }
                    set.extend(lo..=hi);
                }
                None => {
                    set.insert(cpu(part)?);
                }
            }
        }
        Ok(CpuSet(set))
    }
}

/// Linux's CPU list form, ranges collapsed: `0-2,5`.
impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut cpus = self.0.iter().copied().peekable();
        let mut first = true;
        while let Some(lo) = cpus.next() {
            let mut hi = lo;
            while cpus.peek() == Some(&(hi + 1)) {
                hi = cpus.next().unwrap_or(hi);
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if hi == lo {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_and_print() {
        for (text, printed) in [
            ("1", "1"),
            ("0-3", "0-3"),
            ("0,2-3", "0,2-3"),
            ("3,1,2", "1-3"),
        ] {
            assert_eq!(text.parse::<CpuSet>().unwrap().to_string(), printed);
        }
        for bad in ["", "a", "3-1", "1,,2", "-1"] {
            assert!(bad.parse::<CpuSet>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn without_removes_the_sut_cpus() {
        let all: CpuSet = "0-3".parse().unwrap();
        let sut: CpuSet = "1,3".parse().unwrap();
        assert_eq!(all.without(&sut).to_string(), "0,2");
        assert!(sut.without(&all).is_empty());
        assert_eq!(all.intersection(&"3-5".parse().unwrap()).to_string(), "3");
    }

    #[test]
    fn this_process_may_run_somewhere() {
        let allowed = CpuSet::allowed().unwrap();
        assert!(!allowed.is_empty());
        // Pinning to what is already allowed changes nothing and succeeds.
        allowed.pin_process().unwrap();
        assert_eq!(CpuSet::allowed().unwrap(), allowed);
    }
}
