//! SUT profiles: one small YAML file per system under test (`suts/<name>.yml`) saying how
//! to start it, reach it, know it is ready and limit it. A profile is read and checked, and
//! turned into a [`SutSpec`], before anything starts; every problem names the file, the
//! line where known, the field and the reason.
//!
//! ```yaml
//! kind: container            # embedded | container | process | url
//! scenarios: ../scenarios    # the perf suite's scenarios for this SUT (relative to this file)
//! image: "erlmcp:${VERSION:-latest}"
//! env: { ERLMCP_COOKIE: perf_test_cookie }
//! files: { config/perf.config: /app/config/sys.config }   # host (relative to this file) -> container, read-only
//! ports: 8080                # container port of the MCP endpoint
//! transport: http
//! endpoint: /mcp
//! readiness: initialize      # or { http: /health } or { log: "listening on" }
//! startup_timeout: 60s
//! cpus: 2
//! memory: 4G
//! pin: true                  # run the container on the last CPU only (or a cpuset: "1")
//! nodes: 1                   # above 1: a cluster of containers on one network
//! ```
//!
//! A stdio server is a `process` (`command` is the program and its arguments, started in
//! `dir`, by default this file's directory, once per session) or a `container` with
//! `transport: stdio` (one container kept alive by `keepalive`, and one `docker exec -i` of
//! the image's entrypoint and `command` per session).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::container::{ContainerSpec, FileMount, ImageSource, Limits};
use super::readiness::Readiness;
use super::{EmbeddedSpec, Listen, ProcessSpec, SutSpec, WindowHooks};
use crate::mcp::Transport;
use crate::scenario::locate::{Step, line_of};

/// The profile used when `ERLMCP_PERF_SUT` is not set.
pub const DEFAULT_PROFILE: &str = "reference";
/// Directory searched for profiles given by name.
pub const PROFILE_DIR: &str = "suts";
/// The most nodes a cluster profile may ask for.
pub const MAX_NODES: u32 = 16;
/// A stdio container's main process unless the profile names one: a shell waiting on its
/// open standard input, which never ends.
pub const DEFAULT_KEEPALIVE: [&str; 3] = ["/bin/sh", "-c", "read _"];

/// How a SUT is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The reference server as a child process of the harness.
    Embedded,
    /// A Docker container from a local image.
    Container,
    /// Any local command speaking MCP over stdio, one process per session.
    Process,
    /// A server already running at a URL.
    Url,
}

/// Images the harness builds itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Build {
    /// The reference server, from the harness's own binary.
    Refserver,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u16),
    Many(Vec<u16>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(f64),
    Text(String),
}

/// `initialize`, `{http: /path}` or `{log: text}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawReadiness {
    Word(String),
    Http { http: String },
    Log { log: String },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Pin {
    Flag(bool),
    Cpus(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    kind: Kind,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    build: Option<Build>,
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    files: BTreeMap<String, String>,
    #[serde(default)]
    ports: Option<OneOrMany>,
    #[serde(default)]
    transport: Option<String>,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    scenarios: Option<String>,
    #[serde(default)]
    keepalive: Option<Vec<String>>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    readiness: Option<RawReadiness>,
    #[serde(default)]
    startup_timeout: Option<String>,
    #[serde(default)]
    cpus: Option<NumberOrText>,
    #[serde(default)]
    memory: Option<NumberOrText>,
    #[serde(default)]
    pin: Option<Pin>,
    #[serde(default)]
    nodes: Option<u32>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    pid_file: Option<String>,
    #[serde(default)]
    profiling: Option<RawProfiling>,
    #[serde(default)]
    metrics: Option<String>,
}

/// `profiling:` commands, each an argument vector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfiling {
    #[serde(default)]
    start: Option<Vec<String>>,
    #[serde(default)]
    end: Option<Vec<String>>,
}

/// A checked SUT profile.
#[derive(Debug, Clone, PartialEq)]
pub struct SutProfile {
    /// The file's stem (`reference-container`).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    pub kind: Kind,
    pub description: Option<String>,
    /// The image, with `${VAR}` expanded (container profiles).
    pub image: Option<String>,
    /// An image the harness builds itself instead.
    pub build: Option<Build>,
    /// Arguments: the container's command, extra reference-server flags (embedded), or
    /// the program and its arguments (process; the program's path made absolute).
    pub command: Vec<String>,
    /// Working directory of a process profile's sessions (the profile's directory unless
    /// `dir` names another, relative to it).
    pub dir: PathBuf,
    /// The server's version, where the profile names it (process profiles).
    pub version: Option<String>,
    /// The scenarios the perf suite runs against this SUT: a directory of scenario files
    /// (`../scenarios`, relative to the profile, unless `scenarios` names another).
    pub scenarios: PathBuf,
    /// A stdio container's main process, which keeps it up while sessions exec in it.
    pub keepalive: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Read-only mounts, host paths resolved against the profile's directory.
    pub files: Vec<FileMount>,
    /// Container port of the MCP endpoint.
    pub port: u16,
    pub transport: Transport,
    /// Path of the MCP endpoint.
    pub endpoint: String,
    pub readiness: Readiness,
    pub startup_timeout: Duration,
    pub limits: Limits,
    /// Server nodes: above 1, a container profile starts a cluster of that many containers
    /// on one user-defined network.
    pub nodes: u32,
    /// The target of a `url` profile.
    pub url: Option<url::Url>,
    /// A file holding the `url` server's process id (resolved against the profile's
    /// directory): read when the run starts, its process sampled for CPU and memory.
    pub pid_file: Option<PathBuf>,
    /// What runs at the edges of the measured window: `profiling` commands, a `metrics`
    /// scrape.
    pub hooks: Option<WindowHooks>,
}

/// A profile that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ProfileError {
    pub path: PathBuf,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// The field (`memory`, `files.config/perf.config`), empty for the whole file.
    pub field: String,
    pub reason: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid SUT profile {}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What a profile needs from the caller to become a [`SutSpec`].
#[derive(Debug, Clone, Default)]
pub struct SpecContext {
    /// The reference server's executable (`erlmcp-perf` or `erlmcp-refserver`).
    pub refserver_program: PathBuf,
    /// Arguments naming the reference server within it (`["refserver"]` for `erlmcp-perf`).
    pub refserver_args: Vec<String>,
    /// Reference-server fault injection for the run.
    pub faults: Option<String>,
    /// Replaces a container profile's image (`ERLMCP_PERF_IMAGE`).
    pub image_override: Option<String>,
}

/// The prefix of a SUT given as a stdio command instead of a profile
/// (`stdio:./server --flag`).
pub const STDIO_PREFIX: &str = "stdio:";
/// Bound on one session's start for a SUT given as a stdio command.
pub const STDIO_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The SUT a `--sut` value (or `ERLMCP_PERF_SUT`) names: `stdio:COMMAND` (split as a
/// POSIX shell would, the program found on `PATH` or relative to the working directory,
/// one process per session), or a profile's name or path.
pub fn spec_for(value: &str, ctx: &SpecContext) -> Result<SutSpec, ProfileError> {
    match value.strip_prefix(STDIO_PREFIX) {
        Some(command) => stdio_spec(command),
        None => load(&locate(value))?.to_spec(ctx),
    }
}

/// The name results and baselines are filed under for a `--sut` value: the profile's
/// stem, or `stdio` for a stdio command.
pub fn name_of(value: &str) -> String {
    if value.starts_with(STDIO_PREFIX) {
        return "stdio".into();
    }
    let path = locate(value);
    path.file_stem()
        .map_or(value.to_string(), |s| s.to_string_lossy().into_owned())
}

/// The directory of scenarios the perf suite runs against the SUT a `--sut` value names:
/// the profile's `scenarios`, or `scenarios` for a stdio command.
pub fn scenarios_for(value: &str) -> Result<PathBuf, ProfileError> {
    if value.starts_with(STDIO_PREFIX) {
        return Ok(PathBuf::from("scenarios"));
    }
    Ok(load(&locate(value))?.scenarios)
}

/// `path` with `a/..` pairs removed, so `suts/../scenarios` reads `scenarios` in records.
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

fn stdio_spec(command: &str) -> Result<SutSpec, ProfileError> {
    let error = |reason: String| ProfileError {
        path: PathBuf::from(format!("{STDIO_PREFIX}{command}")),
        line: None,
        field: String::new(),
        reason,
    };
    let words =
        shlex::split(command).ok_or_else(|| error("unbalanced quotes in the command".into()))?;
    let (program, args) = words
        .split_first()
        .ok_or_else(|| error("no command after `stdio:`".into()))?;
    let program = if program.contains('/') {
        // Absolute, symbolic links kept (a multi-call binary goes by the name it is run as).
        let absolute = std::path::absolute(program)
            .map(|p| lexical(&p))
            .map_err(|e| error(format!("cannot use the program {program}: {e}")))?;
        std::fs::metadata(&absolute)
            .map_err(|e| error(format!("cannot use the program {program}: {e}")))?;
        absolute
    } else {
        PathBuf::from(program)
    };
    Ok(SutSpec::Process(ProcessSpec {
        name: "stdio".into(),
        program,
        args: args.iter().map(Into::into).collect(),
        env: Vec::new(),
        dir: None,
        startup_timeout: STDIO_STARTUP_TIMEOUT,
        version: None,
        listen: None,
        hooks: None,
    }))
}

/// The file a profile name or path stands for: a value with a `/` or a `.yml`/`.yaml`
/// ending is a path, anything else is `suts/<name>.yml`.
pub fn locate(name_or_path: &str) -> PathBuf {
    let looks_like_path = name_or_path.contains('/')
        || name_or_path.ends_with(".yml")
        || name_or_path.ends_with(".yaml");
    if looks_like_path {
        PathBuf::from(name_or_path)
    } else {
        Path::new(PROFILE_DIR).join(format!("{name_or_path}.yml"))
    }
}

/// Reads and checks a profile file.
pub fn load(path: &Path) -> Result<SutProfile, ProfileError> {
    let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
        path: path.to_owned(),
        line: None,
        field: String::new(),
        reason: format!("failed to read: {e}"),
    })?;
    parse(&text, path)
}

/// Parses and checks profile text; `path` names it in errors and anchors `files`.
pub fn parse(text: &str, path: &Path) -> Result<SutProfile, ProfileError> {
    let deserializer = yaml_serde::Deserializer::from_str(text);
    let raw: RawProfile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        let inner = e.inner();
        let mut reason = inner.to_string();
        // A value that fits none of a field's shapes has no useful location of its own.
        let untagged = reason.contains("did not match any variant of untagged enum");
        let line = inner
            .location()
            .filter(|_| !untagged)
            .map(|l| l.line())
            .or_else(|| line_of(text, &steps(&field)));
        // yaml errors end with " at line N column M"; the line is shown already.
        if let Some(at) = reason.find(" at line ") {
            reason.truncate(at);
        }
        if let Some(rest) = reason.strip_prefix(&format!("{field}: ")) {
            reason = rest.to_string();
        }
        if untagged {
            reason = match field.as_str() {
                "readiness" => "must be `initialize`, `{http: /path}` or `{log: text}`",
                "ports" => "must be a port from 1 to 65535, or a list of them",
                "cpus" => "must be a number of CPUs like `2` or `0.5`",
                "memory" => "must be a size like `512M` or `4G`",
                "pin" => "must be true, false or a cpuset like \"1\"",
                _ => "has the wrong type",
            }
            .into();
        }
        ProfileError {
            path: path.to_owned(),
            line,
            field,
            reason,
        }
    })?;
    Checker { text, path }.check(raw)
}

/// The path of a top-level field (`files.x` is the key `files` then `x`).
fn steps(field: &str) -> Vec<Step> {
    match field.split_once('.') {
        Some((a, b)) => vec![Step::Key(a.into()), Step::Key(b.into())],
        None if field.is_empty() => Vec::new(),
        None => vec![Step::Key(field.into())],
    }
}

struct Checker<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Checker<'_> {
    fn error(&self, field: &str, reason: impl Into<String>) -> ProfileError {
        ProfileError {
            path: self.path.to_owned(),
            line: line_of(self.text, &steps(field)),
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    fn check(&self, raw: RawProfile) -> Result<SutProfile, ProfileError> {
        let name = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let transport = match &raw.transport {
            None if raw.kind == Kind::Process => Transport::Stdio,
            None => Transport::Http,
            Some(t) => t
                .parse::<Transport>()
                .map_err(|e| self.error("transport", e.to_string()))?,
        };
        match (raw.kind, transport) {
            (Kind::Process | Kind::Container, _) | (Kind::Url, Transport::Http) => {}
            (Kind::Url, other) => {
                return Err(self.error(
                    "transport",
                    format!("{other}: a url profile speaks http (its URL)"),
                ));
            }
            (Kind::Embedded, _) => {}
        }
        let stdio_container = raw.kind == Kind::Container && transport == Transport::Stdio;
        if raw.keepalive.is_some() && !stdio_container {
            return Err(self.error(
                "keepalive",
                "only stdio container profiles take a keepalive",
            ));
        }
        if raw.kind != Kind::Process && raw.dir.is_some() {
            return Err(self.error("dir", "only process profiles take a working directory"));
        }
        match raw.kind {
            Kind::Process if raw.command.is_empty() => {
                return Err(self.error(
                    "command",
                    "a process profile needs a command: [program, args...]",
                ));
            }
            Kind::Container if raw.image.is_none() && raw.build.is_none() => {
                return Err(self.error(
                    "image",
                    "a container profile needs an image (or `build: refserver`)",
                ));
            }
            _ => {}
        }
        if raw.build.is_some() && raw.kind != Kind::Container {
            return Err(self.error("build", "only container profiles build images"));
        }
        let image = raw
            .image
            .as_deref()
            .map(|i| expand_vars(i).map_err(|e| self.error("image", e)))
            .transpose()?;
        let mut env = BTreeMap::new();
        for (k, v) in raw.env {
            let v = expand_vars(&v).map_err(|e| self.error(&format!("env.{k}"), e))?;
            env.insert(k, v);
        }
        let base = self.path.parent().unwrap_or(Path::new(""));
        let dir = base.join(raw.dir.as_deref().unwrap_or(""));
        let dir = if raw.kind == Kind::Process {
            std::fs::canonicalize(&dir)
                .map_err(|e| self.error("dir", format!("cannot use {}: {e}", dir.display())))?
        } else {
            dir
        };
        let mut command = Vec::with_capacity(raw.command.len());
        for (i, part) in raw.command.iter().enumerate() {
            let part = expand_vars(part).map_err(|e| self.error("command", e))?;
            command.push(part);
            if i == 0 && raw.kind == Kind::Process && command[0].contains('/') {
                let program = lexical(&dir.join(&command[0]));
                std::fs::metadata(&program).map_err(|e| {
                    self.error(
                        "command",
                        format!("cannot use the program {}: {e}", program.display()),
                    )
                })?;
                command[0] = program.display().to_string();
            }
        }
        let scenarios = lexical(&base.join(raw.scenarios.as_deref().unwrap_or("../scenarios")));
        let mut files = Vec::new();
        for (host, container) in raw.files {
            let field = format!("files.{host}");
            let resolved = base.join(&host);
            let host_abs = std::fs::canonicalize(&resolved).map_err(|e| {
                self.error(&field, format!("cannot use {}: {e}", resolved.display()))
            })?;
            if !container.starts_with('/') {
                return Err(self.error(&field, "the container path must be absolute"));
            }
            files.push(FileMount {
                host: host_abs,
                container,
            });
        }
        let port = match raw.ports {
            // The harness checks the port is free before the start: it must be named.
            None if raw.kind == Kind::Process && transport != Transport::Stdio => {
                return Err(self.error(
                    "ports",
                    format!("a process profile listening over {transport} names its port"),
                ));
            }
            None => 8080,
            Some(OneOrMany::One(p)) => p,
            Some(OneOrMany::Many(ps)) => *ps
                .first()
                .ok_or_else(|| self.error("ports", "needs the MCP endpoint's port"))?,
        };
        if port == 0 {
            return Err(self.error("ports", "port 0 is not a port"));
        }
        let endpoint = raw.endpoint.unwrap_or_else(|| "/mcp".into());
        if !endpoint.starts_with('/') {
            return Err(self.error("endpoint", "must be a path starting with `/`"));
        }
        let startup_timeout = match raw.startup_timeout {
            None if raw.kind == Kind::Container => Duration::from_secs(60),
            None => Duration::from_secs(15),
            Some(t) => humantime::parse_duration(t.trim())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    self.error(
                        "startup_timeout",
                        format!("{t:?} is not a duration above zero like `30s`"),
                    )
                })?,
        };
        let cpus = raw
            .cpus
            .map(|c| parse_cpus(&c).map_err(|e| self.error("cpus", e)))
            .transpose()?;
        let memory_bytes = raw
            .memory
            .map(|m| parse_memory(&m).map_err(|e| self.error("memory", e)))
            .transpose()?;
        let cpuset = match raw.pin {
            None | Some(Pin::Flag(false)) => None,
            Some(Pin::Flag(true)) => Some(last_cpu().to_string()),
            Some(Pin::Cpus(set)) => {
                let ok = !set.is_empty()
                    && set
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == ',' || c == '-');
                if !ok {
                    return Err(self.error("pin", "must be true, false or a cpuset like \"1\""));
                }
                Some(set)
            }
        };
        let readiness = match raw.readiness {
            None => Readiness::Initialize,
            Some(RawReadiness::Word(w)) if w == "initialize" => Readiness::Initialize,
            Some(RawReadiness::Word(w)) => {
                return Err(self.error(
                    "readiness",
                    format!("{w:?}: must be `initialize`, `{{http: /path}}` or `{{log: text}}`"),
                ));
            }
            Some(RawReadiness::Http { http }) if http.starts_with('/') => Readiness::Http(http),
            Some(RawReadiness::Http { .. }) => {
                return Err(self.error("readiness", "the http path must start with `/`"));
            }
            Some(RawReadiness::Log { log }) => Readiness::Log(log),
        };
        let nodes = raw.nodes.unwrap_or(1);
        if nodes == 0 || nodes > MAX_NODES {
            return Err(self.error(
                "nodes",
                format!("{nodes} nodes: must be from 1 to {MAX_NODES}"),
            ));
        }
        if nodes > 1 && transport == Transport::Stdio {
            return Err(self.error(
                "nodes",
                format!("{nodes} nodes: a stdio server runs one container"),
            ));
        }
        if nodes > 1 && raw.kind != Kind::Container {
            return Err(self.error(
                "nodes",
                format!("{nodes} nodes: only container profiles run clusters"),
            ));
        }
        let url = match (raw.kind, raw.url) {
            (Kind::Url, None) => return Err(self.error("url", "a url profile needs a url")),
            (Kind::Url, Some(u)) => Some(
                u.parse::<url::Url>()
                    .map_err(|e| self.error("url", format!("{u:?}: {e}")))?,
            ),
            (_, Some(_)) => return Err(self.error("url", "only url profiles take a url")),
            (_, None) => None,
        };
        let pid_file = match (raw.kind, raw.pid_file) {
            (Kind::Url, Some(f)) => Some(self.path.parent().unwrap_or(Path::new("")).join(f)),
            (_, Some(_)) => {
                return Err(self.error(
                    "pid_file",
                    "only url profiles take a pid_file (the harness knows the pids of what it starts)",
                ));
            }
            (_, None) => None,
        };
        if raw.kind == Kind::Url && (raw.profiling.is_some() || raw.metrics.is_some()) {
            let field = if raw.profiling.is_some() {
                "profiling"
            } else {
                "metrics"
            };
            return Err(self.error(
                field,
                "a url profile's server is not the harness's to profile or scrape",
            ));
        }
        let (start, end) = match raw.profiling {
            None => (None, None),
            Some(p) => {
                for (field, argv) in [("profiling.start", &p.start), ("profiling.end", &p.end)] {
                    if argv
                        .as_ref()
                        .is_some_and(|a| a.is_empty() || a[0].trim().is_empty())
                    {
                        return Err(self.error(field, "needs a command: [program, args...]"));
                    }
                }
                (p.start, p.end)
            }
        };
        if let Some(m) = &raw.metrics
            && !(m.starts_with('/') || m.starts_with("http://"))
        {
            return Err(self.error(
                "metrics",
                format!("{m:?}: a path on the server's address (/metrics) or an http:// URL"),
            ));
        }
        let hooks =
            (start.is_some() || end.is_some() || raw.metrics.is_some()).then_some(WindowHooks {
                start,
                end,
                metrics: raw.metrics,
            });
        Ok(SutProfile {
            hooks,
            name,
            path: self.path.to_owned(),
            kind: raw.kind,
            description: raw.description,
            image,
            build: raw.build,
            command,
            dir,
            version: raw.version,
            scenarios,
            keepalive: raw
                .keepalive
                .unwrap_or_else(|| DEFAULT_KEEPALIVE.map(String::from).to_vec()),
            env,
            files,
            port,
            transport,
            endpoint,
            readiness,
            startup_timeout,
            limits: Limits {
                cpus,
                memory_bytes,
                cpuset,
            },
            nodes,
            url,
            pid_file,
        })
    }
}

impl SutProfile {
    /// The spec that starts this SUT. A container profile's image is replaced by
    /// `ctx.image_override` when set.
    pub fn to_spec(&self, ctx: &SpecContext) -> Result<SutSpec, ProfileError> {
        let error = |field: &str, reason: &str| ProfileError {
            path: self.path.clone(),
            line: None,
            field: field.into(),
            reason: reason.into(),
        };
        match self.kind {
            Kind::Embedded => {
                let mut args = ctx.refserver_args.clone();
                args.extend(self.command.iter().cloned());
                let mut spec =
                    EmbeddedSpec::new(&ctx.refserver_program, args).with_faults(ctx.faults.clone());
                spec.startup_timeout = self.startup_timeout;
                spec.hooks = self.hooks.clone();
                Ok(SutSpec::Embedded(spec))
            }
            Kind::Url => {
                let url = self
                    .url
                    .clone()
                    .ok_or_else(|| error("url", "a url profile needs a url"))?;
                let pid = match &self.pid_file {
                    None => None,
                    Some(file) => {
                        let text = std::fs::read_to_string(file).map_err(|e| {
                            error("pid_file", &format!("cannot read {}: {e}", file.display()))
                        })?;
                        Some(text.trim().parse::<u32>().map_err(|_| {
                            error(
                                "pid_file",
                                &format!(
                                    "{} holds no process id: {:?}",
                                    file.display(),
                                    text.trim()
                                ),
                            )
                        })?)
                    }
                };
                Ok(SutSpec::Url {
                    url,
                    allow_remote: false,
                    pid,
                })
            }
            Kind::Process => {
                let (program, args) = self
                    .command
                    .split_first()
                    .ok_or_else(|| error("command", "a process profile needs a command"))?;
                Ok(SutSpec::Process(ProcessSpec {
                    name: self.name.clone(),
                    program: program.into(),
                    args: args.iter().map(Into::into).collect(),
                    env: self.env.iter().map(|(k, v)| (k.into(), v.into())).collect(),
                    dir: Some(self.dir.clone()),
                    startup_timeout: self.startup_timeout,
                    version: self.version.clone(),
                    listen: (self.transport != Transport::Stdio).then(|| Listen {
                        transport: self.transport,
                        port: self.port,
                        path: self.endpoint.clone(),
                        readiness: self.readiness.clone(),
                    }),
                    hooks: self.hooks.clone(),
                }))
            }
            Kind::Container => {
                let image = match (&ctx.image_override, &self.image, self.build) {
                    (Some(image), _, _) => ImageSource::Local(image.clone()),
                    (None, _, Some(Build::Refserver)) => ImageSource::Refserver {
                        binary: ctx.refserver_program.clone(),
                        prefix_args: ctx.refserver_args.clone(),
                    },
                    (None, Some(image), None) => ImageSource::Local(image.clone()),
                    (None, None, None) => {
                        return Err(error("image", "a container profile needs an image"));
                    }
                };
                // Faults are the reference server's flag; other servers do not know it.
                let faults = match image {
                    ImageSource::Refserver { .. } => ctx.faults.clone(),
                    ImageSource::Local(_) => None,
                };
                Ok(SutSpec::Container(Box::new(ContainerSpec {
                    name: self.name.clone(),
                    image,
                    command: self.command.clone(),
                    env: self.env.clone(),
                    files: self.files.clone(),
                    port: self.port,
                    endpoint_path: self.endpoint.clone(),
                    readiness: self.readiness.clone(),
                    startup_timeout: self.startup_timeout,
                    limits: self.limits.clone(),
                    faults,
                    nodes: self.nodes,
                    transport: self.transport,
                    keepalive: self.keepalive.clone(),
                    hooks: self.hooks.clone(),
                })))
            }
        }
    }
}

/// Expands `${NAME}` and `${NAME:-default}` from the environment; an unset `${NAME}` with
/// no default is an error.
pub fn expand_vars(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in {text:?}"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let value = std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| default.map(str::to_string))
            .ok_or_else(|| format!("${{{name}}} is not set and has no default"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn parse_cpus(value: &NumberOrText) -> Result<f64, String> {
    let n = match value {
        NumberOrText::Number(n) => *n,
        NumberOrText::Text(t) => t
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{t:?} is not a number of CPUs"))?,
    };
    if n > 0.0 && n <= 1024.0 {
        Ok(n)
    } else {
        Err(format!("{n} CPUs: must be above 0 and at most 1024"))
    }
}

/// `512M`, `4G`, `1.5G`, `4GiB`, `65536` (bytes); units are binary, as Docker's are.
fn parse_memory(value: &NumberOrText) -> Result<u64, String> {
    let text = match value {
        NumberOrText::Number(n) => n.to_string(),
        NumberOrText::Text(t) => t.trim().to_string(),
    };
    let (number, unit) = crate::units::number_and_unit(&text)
        .ok_or_else(|| format!("{text:?} is not a size like 512M or 4G"))?;
    let shift = match unit.trim_end_matches(['b', 'B']).trim_end_matches('i') {
        "" => 0,
        "k" | "K" => 10,
        "m" | "M" => 20,
        "g" | "G" => 30,
        "t" | "T" => 40,
        _ => return Err(format!("{text:?}: unknown unit (use K, M, G or T)")),
    };
    let bytes = (number * (1u64 << shift) as f64).round();
    // Docker refuses limits below 6 MiB.
    if bytes < (6u64 << 20) as f64 {
        return Err(format!("{text:?} is below Docker's minimum of 6M"));
    }
    Ok(bytes as u64)
}

/// The highest CPU index this process may run on; `pin: true` puts the SUT there.
fn last_cpu() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    fn parse_at(text: &str) -> Result<SutProfile, ProfileError> {
        parse(text, Path::new("suts/x.yml"))
    }

    #[test]
    fn reads_a_container_profile() {
        let p = parse_at(
            "kind: container\nimage: \"erlmcp:${ERLMCP_PERF_TEST_UNSET_VAR:-latest}\"\ncommand: [a, b]\nenv:\n  A: \"1\"\nports: [8080, 9090]\nreadiness:\n  http: /health\nstartup_timeout: 20s\ncpus: 1.5\nmemory: 512M\npin: \"1\"\n",
        )
        .unwrap();
        assert_eq!(p.kind, Kind::Container);
        assert_eq!(p.image.as_deref(), Some("erlmcp:latest"));
        assert_eq!(p.port, 8080);
        assert_eq!(p.endpoint, "/mcp");
        assert_eq!(p.readiness, Readiness::Http("/health".into()));
        assert_eq!(p.startup_timeout, Duration::from_secs(20));
        assert_eq!(p.limits.cpus, Some(1.5));
        assert_eq!(p.limits.memory_bytes, Some(512 << 20));
        assert_eq!(p.limits.cpuset.as_deref(), Some("1"));
        assert_eq!(p.nodes, 1);
    }

    #[test]
    fn errors_name_line_field_and_reason() {
        let e = parse_at("kind: container\nimage: x\nmemroy: 4G\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.reason.contains("unknown field `memroy`"), "{e}");
        let e = parse_at("kind: container\nimage: x\nmemory: 4Q\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (Some(3), "memory"), "{e}");
        assert!(
            e.to_string()
                .starts_with("invalid SUT profile suts/x.yml:3: memory: ")
        );
        let e = parse_at("kind: container\ncpus: 2\n").unwrap_err();
        assert_eq!(e.field, "image");
        assert!(e.reason.contains("needs an image"), "{e}");
        let e = parse_at("kind: embedded\nnodes: 3\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (Some(2), "nodes"), "{e}");
        assert!(e.reason.contains("only container profiles"), "{e}");
        let e = parse_at("kind: container\nimage: x\nnodes: 0\n").unwrap_err();
        assert_eq!(e.field, "nodes", "{e}");
        assert_eq!(
            parse_at("kind: container\nimage: x\nnodes: 3\n").map(|p| p.nodes),
            Ok(3)
        );
        let e =
            parse_at("kind: container\nimage: \"${ERLMCP_PERF_TEST_UNSET_VAR}\"\n").unwrap_err();
        assert!(e.reason.contains("not set"), "{e}");
        let e = parse_at("kind: url\n").unwrap_err();
        assert_eq!(e.field, "url");
        let e =
            parse_at("kind: container\nimage: x\nfiles:\n  missing.config: /app/x\n").unwrap_err();
        assert_eq!(
            (e.line, e.field.as_str()),
            (Some(4), "files.missing.config"),
            "{e}"
        );
    }

    #[test]
    fn sizes_and_names() {
        let mem = |s: &str| parse_memory(&NumberOrText::Text(s.into()));
        assert_eq!(mem("4G"), Ok(4 << 30));
        assert_eq!(mem("1.5GiB"), Ok(3 << 29));
        assert_eq!(mem("512m"), Ok(512 << 20));
        assert!(mem("1K").is_err());
        assert_eq!(locate("erlmcp"), PathBuf::from("suts/erlmcp.yml"));
        assert_eq!(locate("x/y.yml"), PathBuf::from("x/y.yml"));
        assert_eq!(
            expand_vars("a${ERLMCP_PERF_TEST_UNSET_VAR:-b}c"),
            Ok("abc".into())
        );
    }

    #[test]
    fn override_replaces_the_image() {
        let p = parse_at("kind: container\nbuild: refserver\n").unwrap();
        let ctx = SpecContext {
            refserver_program: "/bin/erlmcp-perf".into(),
            refserver_args: vec!["refserver".into()],
            faults: Some("latency=1ms".into()),
            image_override: None,
        };
        let SutSpec::Container(spec) = p.to_spec(&ctx).unwrap() else {
            panic!("not a container spec")
        };
        assert!(matches!(spec.image, ImageSource::Refserver { .. }));
        assert_eq!(spec.faults.as_deref(), Some("latency=1ms"));
        let ctx = SpecContext {
            image_override: Some("mine:1".into()),
            ..ctx
        };
        let SutSpec::Container(spec) = p.to_spec(&ctx).unwrap() else {
            panic!("not a container spec")
        };
        assert_eq!(spec.image, ImageSource::Local("mine:1".into()));
        assert_eq!(spec.faults, None);
    }

    #[test]
    fn shipped_profiles_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suts");
        for name in [
            "reference",
            "reference-container",
            "reference-cluster",
            "erlmcp",
        ] {
            let path = dir.join(format!("{name}.yml"));
            let p = load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.name, name);
        }
        let erlmcp = load(&dir.join("erlmcp.yml")).unwrap();
        assert_eq!(erlmcp.transport, Transport::Stdio);
        assert!(
            erlmcp.scenarios.ends_with("scenarios/erlmcp"),
            "{:?}",
            erlmcp.scenarios
        );
        // The process profile needs the erlmcp checkout beside the project.
        let process = load(&dir.join("erlmcp-process.yml"));
        if dir.join("../../shared/sut/erlmcp/run-stdio.sh").is_file() {
            let p = process.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((p.kind, p.transport), (Kind::Process, Transport::Stdio));
            assert!(Path::new(&p.command[0]).is_absolute(), "{:?}", p.command);
        } else {
            let e = process.unwrap_err();
            assert_eq!(e.field, "command", "{e}");
        }
    }

    #[test]
    fn process_profiles_speak_stdio_or_name_their_port_and_need_a_command() {
        // A process profile's directory must exist: this crate's.
        let parse_here =
            |text: &str| parse(text, &Path::new(env!("CARGO_MANIFEST_DIR")).join("x.yml"));
        let p = parse_here("kind: process\ncommand: [/bin/cat]\n").unwrap();
        assert_eq!(p.transport, Transport::Stdio);
        assert!(p.dir.is_absolute());
        let no_command = parse_here("kind: process\n").unwrap_err();
        assert_eq!(no_command.field, "command", "{no_command}");
        let http = parse_here("kind: process\ncommand: [/bin/cat]\ntransport: http\n").unwrap_err();
        assert!(
            http.field == "ports" && http.reason.contains("names its port"),
            "{http}"
        );
        let tcp = parse_here(
            "kind: process\ncommand: [/bin/cat]\ntransport: tcp\nports: 9100\nreadiness: { log: up }\n",
        )
        .unwrap();
        let SutSpec::Process(spec) = tcp.to_spec(&SpecContext::default()).unwrap() else {
            panic!("a process spec");
        };
        let listen = spec.listen.expect("it listens");
        assert_eq!(
            (listen.transport, listen.port, listen.readiness),
            (Transport::Tcp, 9100, Readiness::Log("up".into()))
        );
        let missing = parse_here("kind: process\ncommand: [./no-such-server]\n").unwrap_err();
        assert!(
            missing.field == "command" && missing.reason.contains("no-such-server"),
            "{missing}"
        );
        let keepalive =
            parse_here("kind: process\ncommand: [/bin/cat]\nkeepalive: [x]\n").unwrap_err();
        assert_eq!(keepalive.field, "keepalive", "{keepalive}");
        let websocket =
            parse_here("kind: url\nurl: http://127.0.0.1:1/mcp\ntransport: ws\n").unwrap_err();
        assert_eq!(websocket.field, "transport", "{websocket}");
        let container = parse_here("kind: container\nimage: x\ntransport: ws\n").unwrap();
        assert_eq!(container.transport, Transport::WebSocket);
        let cluster =
            parse_here("kind: container\nimage: x\ntransport: stdio\nnodes: 2\n").unwrap_err();
        assert_eq!(cluster.field, "nodes", "{cluster}");
        let stdio = parse_here("kind: container\nimage: x\ntransport: stdio\n").unwrap();
        assert_eq!(
            stdio.keepalive,
            DEFAULT_KEEPALIVE.map(String::from).to_vec()
        );
    }

    #[test]
    fn a_stdio_value_is_split_like_a_shell_and_named_stdio() {
        let ctx = SpecContext::default();
        match spec_for("stdio:cat -u 'a b'", &ctx).unwrap() {
            SutSpec::Process(p) => {
                assert_eq!(p.program, PathBuf::from("cat"));
                assert_eq!(p.args, vec![OsString::from("-u"), OsString::from("a b")]);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            spec_for("stdio:", &ctx)
                .unwrap_err()
                .reason
                .contains("no command")
        );
        assert!(
            spec_for("stdio:cat 'a", &ctx)
                .unwrap_err()
                .reason
                .contains("quotes")
        );
        assert!(
            spec_for("stdio:./no/such/server", &ctx)
                .unwrap_err()
                .reason
                .contains("no/such")
        );
        assert_eq!(name_of("stdio:cat"), "stdio");
        assert_eq!(name_of("erlmcp"), "erlmcp");
        assert_eq!(name_of("x/y/mine.yml"), "mine");
        assert_eq!(
            scenarios_for("stdio:cat").unwrap(),
            PathBuf::from("scenarios")
        );
        assert_eq!(
            lexical(Path::new("suts/../scenarios/x")),
            PathBuf::from("scenarios/x")
        );
        assert_eq!(lexical(Path::new("../a/./b")), PathBuf::from("../a/b"));
    }
}
