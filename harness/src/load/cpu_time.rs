//! This process's own CPU time, every thread's user and system time together, without
//! that of its children (a stdio server it started is not the generator).

use std::time::Duration;

/// User plus system CPU time this process has used so far (`getrusage(RUSAGE_SELF)`);
/// zero where the kernel refuses.
pub fn process_cpu() -> Duration {
    // SAFETY: rusage is plain data that getrusage fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid out-pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_on_this_thread_counts() {
        let before = process_cpu();
        let until = std::time::Instant::now() + Duration::from_millis(50);
        let mut spins = 0u64;
        while std::time::Instant::now() < until {
            spins = std::hint::black_box(spins + 1);
        }
        // 50 ms of spinning is at least one 4 ms scheduler tick of CPU time.
        assert!(process_cpu() > before, "{spins} spins counted no CPU time");
    }
}
