//! Settings read from `ERLMCP_PERF_*` environment variables, each checked with an error
//! that names the variable.

use std::path::PathBuf;

use crate::sut::SutSpec;
use crate::sut::profile::{self, ProfileError, SpecContext};

/// Scales every phase and warm-up (`0.1` for quick runs).
pub const DURATION_SCALE: &str = "ERLMCP_PERF_DURATION_SCALE";
/// Directory results are written under (default `target/perf`).
pub const OUT: &str = "ERLMCP_PERF_OUT";
/// Fault spec applied to the embedded reference server for a whole run.
pub const REFSERVER_FAULTS: &str = "ERLMCP_PERF_REFSERVER_FAULTS";
/// `1` makes the perf suite rewrite the baselines of the scenarios it runs instead of gating.
pub const UPDATE_BASELINES: &str = "ERLMCP_PERF_UPDATE_BASELINES";
/// An image to run as the baseline side of a same-run A/B gate (with `ERLMCP_PERF_IMAGE` as
/// the current side), instead of comparing with the committed baseline file.
pub const BASELINE_IMAGE: &str = "ERLMCP_PERF_BASELINE_IMAGE";
/// Trials per side of a gated run (default 3).
pub const TRIALS: &str = "ERLMCP_PERF_TRIALS";

/// MCP transport to the embedded reference server (`http`, `websocket`, `tcp`, `stdio`).
pub const TRANSPORT: &str = "ERLMCP_PERF_TRANSPORT";

/// How the load generator paces its sends: `precise` (a high-resolution `timerfd` per
/// worker, the default) or `timer` (tokio's 1 ms timer).
pub const PACER: &str = "ERLMCP_PERF_PACER";

/// The SUT profile: a name (`suts/<name>.yml`) or a path (default `reference`).
pub const SUT: &str = "ERLMCP_PERF_SUT";
/// Replaces a container profile's image.
pub const IMAGE: &str = "ERLMCP_PERF_IMAGE";
/// When set, container tests fail instead of being skipped where no Docker engine answers.
pub const REQUIRE_DOCKER: &str = "ERLMCP_PERF_REQUIRE_DOCKER";

/// The machine class baselines are filed under (`baselines/<sut>/<class>/`), instead of the
/// one derived from the CPU model and count.
pub const MACHINE_CLASS: &str = "ERLMCP_PERF_MACHINE_CLASS";
/// The host a baseline is close-gated on, instead of the derived `boot-<hash>` (a dedicated
/// runner that should keep its baselines across reboots).
pub const HOST: &str = "ERLMCP_PERF_HOST";
/// Where the harness serves the live metrics of its load for Prometheus (`HOST:PORT`),
/// as `--metrics-addr` does; unset, none are served.
pub const METRICS_ADDR: &str = "ERLMCP_PERF_METRICS_ADDR";

/// A bad environment setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid {name}={value:?}: {reason}")]
pub struct EnvError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `ERLMCP_PERF_PACER`, default `precise`.
pub fn pacing() -> Result<crate::load::Pacing, EnvError> {
    match var(PACER) {
        None => Ok(crate::load::Pacing::default()),
        Some(value) => value
            .parse()
            .map_err(|e: crate::load::UnknownPacing| EnvError {
                name: PACER,
                reason: e.to_string(),
                value,
            }),
    }
}

/// `ERLMCP_PERF_METRICS_ADDR`, if set: a socket address such as `127.0.0.1:9464`.
pub fn metrics_addr() -> Result<Option<std::net::SocketAddr>, EnvError> {
    var(METRICS_ADDR)
        .map(|value| {
            value.trim().parse().map_err(|e| EnvError {
                name: METRICS_ADDR,
                reason: format!("expected HOST:PORT, such as 127.0.0.1:9464 ({e})"),
                value,
            })
        })
        .transpose()
}

/// Starts the live-metrics endpoint at `addr`, if given, and has every run of `options`
/// count into it; the endpoint serves until the returned server is dropped.
pub fn serve_metrics(
    options: &mut crate::run::RunOptions,
    addr: Option<std::net::SocketAddr>,
) -> Result<Option<crate::exposition::MetricsServer>, crate::exposition::BindError> {
    let Some(addr) = addr else { return Ok(None) };
    let metrics = std::sync::Arc::new(crate::load::LiveMetrics::new());
    let server = crate::exposition::MetricsServer::start(addr, metrics.clone())?;
    options.live = Some(metrics);
    Ok(Some(server))
}

/// `ERLMCP_PERF_DURATION_SCALE`, default 1.
pub fn duration_scale() -> Result<f64, EnvError> {
    match var(DURATION_SCALE) {
        None => Ok(1.0),
        Some(value) => parse_scale(&value).map_err(|reason| EnvError {
            name: DURATION_SCALE,
            value,
            reason,
        }),
    }
}

/// Parses a duration scale: a number above 0 and at most 100.
pub fn parse_scale(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 100.0 => Ok(x),
        Ok(x) => Err(format!("must be above 0 and at most 100, got {x}")),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

/// `ERLMCP_PERF_OUT`, default `target/perf`.
pub fn out_dir() -> PathBuf {
    var(OUT).map_or_else(|| PathBuf::from("target/perf"), PathBuf::from)
}

/// `ERLMCP_PERF_UPDATE_BASELINES`: `1`/`true`/`yes` to update, unset/`0`/`false`/`no` to gate.
pub fn update_baselines() -> Result<bool, EnvError> {
    match var(UPDATE_BASELINES).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if ["1", "true", "yes"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["0", "false", "no"].contains(&v.as_str()) => Ok(false),
        Some(value) => Err(EnvError {
            name: UPDATE_BASELINES,
            value,
            reason: "expected 1 or 0".into(),
        }),
    }
}

/// `ERLMCP_PERF_TRIALS`, default [`crate::check::DEFAULT_TRIALS`].
pub fn trials() -> Result<usize, EnvError> {
    match var(TRIALS) {
        None => Ok(crate::check::DEFAULT_TRIALS),
        Some(value) => match value.trim().parse::<usize>() {
            Ok(n) if (1..=20).contains(&n) => Ok(n),
            _ => Err(EnvError {
                name: TRIALS,
                value,
                reason: "expected a whole number from 1 to 20".into(),
            }),
        },
    }
}

/// `ERLMCP_PERF_REFSERVER_FAULTS`, if set.
pub fn refserver_faults() -> Option<String> {
    var(REFSERVER_FAULTS)
}

/// `ERLMCP_PERF_MACHINE_CLASS` and `ERLMCP_PERF_HOST`, where set: each lowercase letters,
/// digits, `-`, `_` and `.`.
pub fn machine_naming() -> Result<crate::machine::Naming, EnvError> {
    let name = |name: &'static str| match var(name) {
        None => Ok(None),
        Some(value) if crate::machine::valid_class(value.trim()) => Ok(Some(value.trim().into())),
        Some(value) => Err(EnvError {
            name,
            value,
            reason: "expected a name of lowercase letters, digits, '-', '_' and '.' (at most 64)"
                .into(),
        }),
    };
    Ok(crate::machine::Naming {
        class: name(MACHINE_CLASS)?,
        host: name(HOST)?,
    })
}

/// Run options at `duration_scale` with `progress`, and the settings every measuring
/// command reads: `ERLMCP_PERF_MACHINE_CLASS`, `ERLMCP_PERF_HOST`, `ERLMCP_PERF_PACER`.
pub fn run_options(
    duration_scale: f64,
    progress: std::sync::Arc<dyn crate::load::ProgressListener>,
) -> Result<crate::run::RunOptions, EnvError> {
    Ok(crate::run::RunOptions {
        duration_scale,
        progress,
        machine: machine_naming()?,
        pacing: pacing()?,
        stop: Default::default(),
        live: None,
        part: Default::default(),
    })
}

/// `ERLMCP_PERF_SUT`, default `reference`.
pub fn sut() -> String {
    var(SUT).unwrap_or_else(|| profile::DEFAULT_PROFILE.to_string())
}

/// A SUT context with the reference server at `program args...`, faults and image
/// override from `ERLMCP_PERF_REFSERVER_FAULTS` and `ERLMCP_PERF_IMAGE`.
pub fn spec_context(
    program: impl Into<PathBuf>,
    args: impl IntoIterator<Item = impl Into<String>>,
) -> SpecContext {
    SpecContext {
        refserver_program: program.into(),
        refserver_args: args.into_iter().map(Into::into).collect(),
        faults: refserver_faults(),
        image_override: image_override(),
    }
}

/// The SUT named by `ERLMCP_PERF_SUT` (default `reference`), as a spec ready to start.
pub fn sut_spec(ctx: &SpecContext) -> Result<SutSpec, ProfileError> {
    profile::spec_for(&sut(), ctx)
}

/// `ERLMCP_PERF_BASELINE_IMAGE`, if set.
pub fn baseline_image() -> Option<String> {
    var(BASELINE_IMAGE)
}

/// `ERLMCP_PERF_IMAGE`, if set.
pub fn image_override() -> Option<String> {
    var(IMAGE)
}

/// Whether `ERLMCP_PERF_REQUIRE_DOCKER` is set (to anything but empty or `0`).
pub fn require_docker() -> bool {
    var(REQUIRE_DOCKER).is_some_and(|v| v.trim() != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_bounds() {
        assert_eq!(parse_scale("0.1"), Ok(0.1));
        assert_eq!(parse_scale(" 2 "), Ok(2.0));
        assert!(parse_scale("0").unwrap_err().contains("above 0"));
        assert!(parse_scale("-1").is_err());
        assert!(parse_scale("1000").is_err());
        assert!(parse_scale("fast").unwrap_err().contains("not a number"));
    }
}
