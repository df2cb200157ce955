//! Records the optimisation level the harness was built with, so a run can refuse
//! (or at least flag) a debug build of the load generator.
fn main() {
    let opt = std::env::var("OPT_LEVEL").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=ERLMCP_PERF_BUILD_OPT_LEVEL={opt}");
    println!("cargo:rerun-if-env-changed=OPT_LEVEL");
}
