//! The machine a run measured on: its fingerprint (CPU model and count, kernel, the class
//! baselines are filed under, the host) and a short calibration probe of how fast it is
//! today.
//!
//! The host tells one machine of a class from another: two hosts of one class (two cloud
//! VMs of the same CPU model) differ in latency by up to 2x with the same code, so a
//! baseline is gated closely only on the host, and boot, it was recorded on.
//!
//! The probe times a fixed CPU-bound loop and loopback TCP round trips, each repeated, and
//! keeps medians: a few hundred milliseconds that let a report say "this machine is 1.4x
//! slower than the one the baseline was recorded on" instead of calling that a regression.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Iterations of the probe's CPU loop per repetition (about 10 ms on a current core).
const CPU_ITERATIONS: u64 = 4_000_000;
/// Repetitions of the CPU loop; the median is kept.
const CPU_REPETITIONS: usize = 9;
/// Loopback round trips per repetition.
const ROUND_TRIPS: usize = 200;
/// Repetitions of the round trips; the median is kept.
const RTT_REPETITIONS: usize = 7;

/// What a record or baseline says about the machine it was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// The class baselines are filed under (`amd-epyc-2cpu`): from the CPU model and the
    /// CPUs the harness may use, or `ERLMCP_PERF_MACHINE_CLASS`.
    pub class: String,
    /// `model name` of `/proc/cpuinfo`.
    pub cpu_model: String,
    /// CPUs this process may run on.
    pub cpu_count: usize,
    /// `uname -r` (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// The host and boot measured on: `ERLMCP_PERF_HOST`, or `boot-` and a hash of
    /// `/etc/machine-id` and this boot's id (cloud images share a machine id, so the boot
    /// tells their VMs apart); `None` when neither is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// How fast the machine was when the run started; `None` if the probe could not run.
    pub probe: Option<Probe>,
}

/// The calibration probe's figures (medians of repetitions).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Nanoseconds per million iterations of a fixed dependent integer loop.
    pub cpu_ns_per_million: f64,
    /// One loopback TCP round trip of one byte, microseconds.
    pub loopback_rtt_us: f64,
}

impl Probe {
    /// How much slower `self` is than `other`, per figure: `(cpu, loopback)`, above 1 when
    /// `self` is slower.
    pub fn slowdown_against(&self, other: &Probe) -> (f64, f64) {
        (
            ratio(self.cpu_ns_per_million, other.cpu_ns_per_million),
            ratio(self.loopback_rtt_us, other.loopback_rtt_us),
        )
    }

    /// The median of each figure over several probes.
    pub fn median(probes: &[Probe]) -> Option<Probe> {
        let med = |f: fn(&Probe) -> f64| median(probes.iter().map(f).collect());
        Some(Probe {
            cpu_ns_per_million: med(|p| p.cpu_ns_per_million)?,
            loopback_rtt_us: med(|p| p.loopback_rtt_us)?,
        })
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite() {
        a / b
    } else {
        1.0
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// Names a user gives the machine instead of the derived ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Naming {
    /// The class baselines are filed under (`ERLMCP_PERF_MACHINE_CLASS`): a runner pool
    /// whose CPU models vary, or two pools with the same model that should be kept apart.
    pub class: Option<String>,
    /// The host (`ERLMCP_PERF_HOST`): a dedicated runner names itself so that its baselines
    /// stay close-gated across its reboots.
    pub host: Option<String>,
}

impl Machine {
    /// This machine, probed now.
    pub fn here(naming: &Naming) -> Self {
        let mut machine = Self::unprobed(naming);
        machine.probe = probe().ok();
        machine
    }

    /// [`Machine::here`] off the async runtime's threads.
    pub async fn probed(naming: Naming) -> Self {
        let fallback = naming.clone();
        tokio::task::spawn_blocking(move || Self::here(&naming))
            .await
            .unwrap_or_else(|_| Self::unprobed(&fallback))
    }

    /// This machine's fingerprint without the probe.
    pub fn unprobed(naming: &Naming) -> Self {
        let cpu_model = cpu_model().unwrap_or_else(|| "unknown CPU".into());
        let cpu_count = std::thread::available_parallelism().map_or(1, |n| n.get());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| std::env::consts::OS.to_string());
        let class = naming
            .class
            .clone()
            .unwrap_or_else(|| class_of(&cpu_model, cpu_count));
        Self {
            class,
            cpu_model,
            cpu_count,
            kernel,
            host: naming.host.clone().or_else(this_host),
            probe: None,
        }
    }

    /// Whether `self` and `other` were measured on one host (and boot): both known and equal.
    pub fn same_host(&self, other: &Machine) -> bool {
        self.host.is_some() && self.host == other.host
    }

    /// One line for reports: `amd-epyc-2cpu (AMD EPYC, 2 CPUs, kernel 6.1.0; probe: 9.8 ms
    /// per million loop iterations, loopback round trip 21 us)`.
    pub fn describe(&self) -> String {
        let probe = self.probe.map_or_else(
            || "no probe".to_string(),
            |p| {
                format!(
                    "probe: CPU loop {:.2} ms per million iterations, loopback round trip {:.1} us",
                    p.cpu_ns_per_million / 1e6,
                    p.loopback_rtt_us
                )
            },
        );
        format!(
            "`{}` ({}, {} CPUs, kernel {}, host {}; {probe})",
            self.class,
            self.cpu_model,
            self.cpu_count,
            self.kernel,
            self.host.as_deref().unwrap_or("unknown")
        )
    }
}

/// `boot-` and 12 hex digits of the SHA-256 of the machine id and the boot id, or `None`
/// when neither can be read (the ids themselves are not recorded).
fn this_host() -> Option<String> {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let machine_id = read("/etc/machine-id");
    let boot_id = read("/proc/sys/kernel/random/boot_id");
    if machine_id.is_none() && boot_id.is_none() {
        return None;
    }
    Some(host_of(
        machine_id.as_deref().unwrap_or(""),
        boot_id.as_deref().unwrap_or(""),
    ))
}

fn host_of(machine_id: &str, boot_id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{machine_id}\n{boot_id}").as_bytes());
    format!("boot-{}", &hex::encode(digest)[..12])
}

/// `model name` of the first CPU in `/proc/cpuinfo`, or on Arm, which has none, its
/// implementer and part (`Arm 0x41 0xd0c`).
fn cpu_model() -> Option<String> {
    model_of(&std::fs::read_to_string("/proc/cpuinfo").ok()?)
}

fn model_of(cpuinfo: &str) -> Option<String> {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_string())
        })
    };
    field("model name").or_else(|| {
        let implementer = field("CPU implementer")?;
        Some(format!(
            "Arm {implementer} {}",
            field("CPU part").unwrap_or_default()
        ))
    })
}

/// The class of a CPU model and count: lowercase words of the model without trademarks,
/// clock speed and filler (`Intel(R) Xeon(R) Processor`, 2 -> `intel-xeon-2cpu`).
pub fn class_of(cpu_model: &str, cpu_count: usize) -> String {
    let mut model = String::new();
    let mut depth = 0usize;
    for c in cpu_model.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '@' if depth == 0 => break,
            _ if depth == 0 => model.push(c.to_ascii_lowercase()),
            _ => {}
        }
    }
    let words: Vec<&str> = model
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| {
            !w.is_empty() && !["processor", "cpu", "with", "radeon", "graphics"].contains(w)
        })
        .collect();
    let model = if words.is_empty() {
        "unknown".to_string()
    } else {
        words.join("-")
    };
    format!("{model}-{cpu_count}cpu")
}

/// Whether `class` is usable as a directory name: lowercase letters, digits and `-`, `_`, `.`.
pub fn valid_class(class: &str) -> bool {
    !class.is_empty()
        && class.len() <= 64
        && !class.starts_with('.')
        && class
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// Runs the calibration probe (blocking, a few hundred milliseconds).
pub fn probe() -> std::io::Result<Probe> {
    let cpu: Vec<f64> = (0..CPU_REPETITIONS).map(|_| cpu_loop_ns()).collect();
    let rtt = loopback_rtts()?;
    Ok(Probe {
        cpu_ns_per_million: median(cpu).unwrap_or(0.0) / (CPU_ITERATIONS as f64 / 1e6),
        loopback_rtt_us: median(rtt).unwrap_or(0.0),
    })
}

/// Nanoseconds for [`CPU_ITERATIONS`] steps of a dependent multiply-xorshift chain.
fn cpu_loop_ns() -> f64 {
    let start = Instant::now();
    let mut x = std::hint::black_box(0x9E37_79B9_7F4A_7C15u64);
    for _ in 0..CPU_ITERATIONS {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        x ^= x >> 29;
    }
    std::hint::black_box(x);
    start.elapsed().as_nanos() as f64
}

/// Mean round trip of one byte over loopback TCP per repetition, microseconds.
fn loopback_rtts() -> std::io::Result<Vec<f64>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    // Connected before the echo thread starts (the kernel completes it from the backlog),
    // so the thread is never left waiting in `accept` for a client that failed.
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut peer, _) = listener.accept()?;
        peer.set_nodelay(true)?;
        peer.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut byte = [0u8; 1];
        loop {
            match peer.read(&mut byte)? {
                0 => return Ok(()),
                _ => peer.write_all(&byte)?,
            }
        }
    });
    client.set_nodelay(true)?;
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut rtts = Vec::with_capacity(RTT_REPETITIONS);
    let mut byte = [7u8; 1];
    for _ in 0..RTT_REPETITIONS {
        let start = Instant::now();
        for _ in 0..ROUND_TRIPS {
            client.write_all(&byte)?;
            client.read_exact(&mut byte)?;
        }
        rtts.push(start.elapsed().as_secs_f64() * 1e6 / ROUND_TRIPS as f64);
    }
    drop(client);
    echo.join()
        .map_err(|_| std::io::Error::other("the probe's echo thread panicked"))??;
    Ok(rtts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_cpu_models() {
        assert_eq!(class_of("Intel(R) Xeon(R) Processor", 2), "intel-xeon-2cpu");
        assert_eq!(class_of("AMD EPYC", 2), "amd-epyc-2cpu");
        assert_eq!(
            class_of("AMD EPYC 7B13 64-Core Processor", 4),
            "amd-epyc-7b13-64-core-4cpu"
        );
        assert_eq!(
            class_of("Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz", 8),
            "intel-core-i7-8650u-8cpu"
        );
        assert_eq!(class_of("", 1), "unknown-1cpu");
        for model in ["Intel(R) Xeon(R) Processor", "AMD EPYC", "", "Üñí (x) @"] {
            assert!(valid_class(&class_of(model, 2)), "{model}");
        }
        assert!(!valid_class("../x") && !valid_class("A") && !valid_class(""));
        let arm = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n";
        let model = model_of(arm).unwrap();
        assert_eq!(class_of(&model, 4), "arm-0x41-0xd0c-4cpu");
        let x86 = "processor\t: 0\nmodel name\t: AMD EPYC\n";
        assert_eq!(model_of(x86).as_deref(), Some("AMD EPYC"));
    }

    #[test]
    fn the_probe_measures_this_machine() {
        let p = probe().unwrap();
        assert!(
            p.cpu_ns_per_million > 0.0 && p.loopback_rtt_us > 0.0,
            "{p:?}"
        );
        let machine = Machine::here(&Naming::default());
        assert!(machine.probe.is_some() && machine.describe().contains(&machine.class));
        let named = Machine::unprobed(&Naming {
            class: Some("pool-a".into()),
            host: Some("runner-1".into()),
        });
        assert_eq!(
            (named.class.as_str(), named.host.as_deref()),
            ("pool-a", Some("runner-1"))
        );
        assert!(named.same_host(&named) && !named.same_host(&machine));
    }

    #[test]
    fn hosts_differ_by_boot_and_hide_the_ids() {
        let image = "3d1219c7c4c5404aaa1f6d2a48adfda4";
        let a = host_of(image, "d429a8a5-1e90-4ce1-8bc7-b39f5bf449c0");
        let b = host_of(image, "0b9e6f55-2f0a-4d7e-9a53-3a3f1c2e5d10");
        assert_ne!(a, b);
        assert_eq!(a, host_of(image, "d429a8a5-1e90-4ce1-8bc7-b39f5bf449c0"));
        assert!(a.starts_with("boot-") && a.len() == 17 && !a.contains(image) && valid_class(&a));
        let unknown = Machine {
            host: None,
            ..Machine::unprobed(&Naming::default())
        };
        assert!(!unknown.same_host(&unknown));
    }

    #[test]
    fn slowdowns_and_medians() {
        let fast = Probe {
            cpu_ns_per_million: 1e6,
            loopback_rtt_us: 10.0,
        };
        let slow = Probe {
            cpu_ns_per_million: 2e6,
            loopback_rtt_us: 15.0,
        };
        assert_eq!(slow.slowdown_against(&fast), (2.0, 1.5));
        assert_eq!(Probe::median(&[fast, slow, slow]), Some(slow));
        assert_eq!(Probe::median(&[]), None);
    }
}
