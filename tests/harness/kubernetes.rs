//! `deploy/kubernetes/`: the manifests `render.py` makes for a sharded run validate against
//! Kubernetes' own schemas (`kubernetes-validate --strict`, offline), a broken copy is
//! rejected (so the check can fail), they hold what a run relies on (an Indexed Job of N
//! shards with the CLI's arguments, the scenario byte for byte, a merge that reads where
//! the shards write, a 3-replica `erlmcp` with session affinity), render.py refuses bad
//! input, and `image.sh`'s image runs: alone, and as the rendered pods in Docker, one
//! container per pod with the pods' own arguments, mounts and security settings.
//!
//! Where `kubernetes-validate` (or Python with PyYAML) is missing the tests print why and
//! pass, unless `ERLMCP_PERF_REQUIRE_TOOLS` is set (as `.ci/run` does): then they fail. The
//! Docker tests likewise follow `ERLMCP_PERF_REQUIRE_DOCKER`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::containers::docker_ready;
use crate::{BIN, wait_bounded};

/// The version `.ci/run` installs; it ships the schemas offline.
const KUBERNETES_VALIDATE_VERSION: &str = "1.37.0";
/// Kubernetes versions the manifests are validated against: 1.33, the first where every
/// field they use is GA (the Job's `backoffLimitPerIndex`), and the newest the validator has.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.33.0", "1.37.0"];

const RENDER: &str = "deploy/kubernetes/render.py";
const IMAGE_SH: &str = "deploy/kubernetes/image.sh";
const SCENARIO: &str = "scenarios/baseline.yml";
/// Far ahead: render.py refuses an instant that has passed.
const START_AT: &str = "2099-12-08T10:00:00Z";
const SHARDS: u64 = 3;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Whether Python 3 with PyYAML, which render.py needs, is here.
fn python_ready(test: &str) -> bool {
    crate::tool_ready(
        test,
        Command::new("python3").args(["-c", "import yaml; print(yaml.__version__)"]),
        &format!("pip install kubernetes-validate=={KUBERNETES_VALIDATE_VERSION}"),
    )
    .is_some()
}

/// The installed `kubernetes-validate`'s version; `None` (after saying why) where it is
/// missing and not required, a panic where `ERLMCP_PERF_REQUIRE_TOOLS` requires it.
fn validator_ready(test: &str) -> Option<String> {
    crate::tool_ready(
        test,
        Command::new("kubernetes-validate").arg("--version"),
        &format!("pip install kubernetes-validate=={KUBERNETES_VALIDATE_VERSION}"),
    )
}

/// Runs render.py with `args`.
fn render(args: &[&str]) -> Output {
    Command::new("python3")
        .arg(root().join(RENDER))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {RENDER}: {e}"))
}

/// The arguments of the rendering the tests check: N = 3, baseline.yml, defaults otherwise.
fn baseline_args() -> Vec<String> {
    let scenario = root().join(SCENARIO);
    vec![
        "--shards".into(),
        SHARDS.to_string(),
        "--scenario".into(),
        scenario.display().to_string(),
        "--start-at".into(),
        START_AT.into(),
    ]
}

/// Renders `args` plus `--format FORMAT -o <dir>/<name>`, asserts it succeeded and returns
/// the file.
fn render_to(dir: &Path, name: &str, args: &[String], format: &str) -> PathBuf {
    let path = dir.join(name);
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend(["--format", format, "-o", path.to_str().unwrap()]);
    let output = render(&all);
    assert!(
        output.status.success(),
        "{RENDER} {all:?} failed: {}",
        describe(&output)
    );
    path
}

/// Runs `kubernetes-validate --strict` against `version` on `files`.
fn validate(version: &str, files: &[&Path]) -> Output {
    Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", version])
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("run kubernetes-validate: {e}"))
}

/// The rendered objects, by `Kind/name`.
fn by_name(objects: &Value) -> BTreeMap<String, &Value> {
    objects
        .as_array()
        .expect("render.py --format json writes a list")
        .iter()
        .map(|o| {
            let key = format!("{}/{}", o["kind"].as_str().unwrap(), name(o));
            (key, o)
        })
        .collect()
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().expect("metadata.name")
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_else(|| panic!("not a string: {v}")))
        .collect()
}

/// The value after `flag` in `args`.
fn flag<'a>(args: &[&'a str], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| *a == flag)
        .and_then(|i| args.get(i + 1).copied())
}

fn pod_spec(object: &Value) -> &Value {
    &object["spec"]["template"]["spec"]
}

/// The pod's only container.
fn container(object: &Value) -> &Value {
    let containers = pod_spec(object)["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "{} has one container", name(object));
    &containers[0]
}

/// The mount of `container` at `path`, and the pod volume it names.
fn mount<'a>(object: &'a Value, path: &str) -> (&'a Value, &'a Value) {
    let mounts = container(object)["volumeMounts"].as_array().unwrap();
    let mount = mounts
        .iter()
        .find(|m| m["mountPath"] == path)
        .unwrap_or_else(|| panic!("{} mounts nothing at {path}", name(object)));
    let volume = pod_spec(object)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap_or_else(|| panic!("{}: no volume {}", name(object), mount["name"]));
    (mount, volume)
}

#[test]
fn rendered_manifests_validate() {
    let test = "rendered_manifests_validate";
    if !python_ready(test) {
        return;
    }
    let Some(version) = validator_ready(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let default = render_to(dir.path(), "default.yaml", &baseline_args(), "yaml");
    // Every optional part too: the Namespace, a storage class, another server's image and
    // arguments (the key dropped when it has none), the generators' Secret.
    let mut args = baseline_args();
    args.extend(
        [
            "--namespace",
            "load-test",
            "--create-namespace",
            "--results-access-mode",
            "ReadWriteOnce",
            "--storage-class",
            "standard",
            "--sut-image",
            "registry.example/erlmcp-http:0.5",
            "--sut-port",
            "9090",
            "--sut-path",
            "/",
            "--generator-cpu",
            "1500m",
            "--wait",
            "1h 30m",
            "--env-secret",
            "perf-token",
        ]
        .map(String::from),
    );
    let options = render_to(dir.path(), "options.yaml", &args, "yaml");
    for k8s in KUBERNETES_VERSIONS {
        let output = validate(k8s, &[&default, &options]);
        assert!(
            output.status.success(),
            "the rendered manifests do not validate against Kubernetes {k8s} \
             (kubernetes-validate {version}): {}",
            describe(&output)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        for object in [
            "configmap/erlmcp-perf-scenario",
            "persistentvolumeclaim/erlmcp-perf-results",
            "deployment/erlmcp",
            "service/erlmcp",
            "job/erlmcp-perf-shards",
            "job/erlmcp-perf-merge",
            "namespace/load-test",
        ] {
            assert!(
                text.contains(&format!("passed for resource {object} ")),
                "kubernetes-validate did not check {object}: {text}"
            );
        }
    }
}

#[test]
fn a_broken_manifest_is_rejected() {
    let test = "a_broken_manifest_is_rejected";
    if !python_ready(test) {
        return;
    }
    let Some(version) = validator_ready(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(render_to(dir.path(), "k8s.yaml", &baseline_args(), "yaml"))
        .unwrap();
    let wrong_type = text.replace("  completions: 3\n", "  completions: three\n");
    let misspelt = text.replace("  parallelism: 3\n", "  paralelism: 3\n");
    for (broken, culprit) in [(wrong_type, "three"), (misspelt, "paralelism")] {
        assert_ne!(
            broken, text,
            "the rendered Job has no `completions: 3`/`parallelism: 3`"
        );
        let path = dir.path().join(format!("{culprit}.yaml"));
        std::fs::write(&path, broken).unwrap();
        let output = validate(KUBERNETES_VERSIONS[0], &[&path]);
        let why = format!("kubernetes-validate {version}: {}", describe(&output));
        assert!(
            !output.status.success(),
            "a Job with {culprit:?} was accepted: {why}"
        );
        assert!(
            String::from_utf8_lossy(&output.stdout)
                .contains("did not validate for resource job/erlmcp-perf-shards")
                && why.contains(culprit),
            "the rejection does not name the Job and {culprit:?}: {why}"
        );
    }
}

#[test]
fn rendered_manifests_hold_what_the_run_needs() {
    let test = "rendered_manifests_hold_what_the_run_needs";
    if !python_ready(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json_path = render_to(dir.path(), "k8s.json", &baseline_args(), "json");
    let yaml_path = render_to(dir.path(), "k8s.yaml", &baseline_args(), "yaml");
    let json: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();

    // The YAML a user applies is the JSON checked here, and the same inputs render the
    // same bytes.
    let from_yaml = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; \
             print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))",
        ])
        .arg(&yaml_path)
        .output()
        .unwrap();
    assert!(from_yaml.status.success(), "{}", describe(&from_yaml));
    let from_yaml: Value = serde_json::from_slice(&from_yaml.stdout).unwrap();
    assert_eq!(from_yaml, json, "the YAML and JSON renderings differ");
    let again = render_to(dir.path(), "again.yaml", &baseline_args(), "yaml");
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&yaml_path).unwrap(),
        "two renderings of the same inputs differ"
    );

    let objects = by_name(&json);
    let kinds: Vec<&String> = objects.keys().collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap/erlmcp-perf-scenario",
            "Deployment/erlmcp",
            "Job/erlmcp-perf-merge",
            "Job/erlmcp-perf-shards",
            "PersistentVolumeClaim/erlmcp-perf-results",
            "Service/erlmcp",
        ]
    );
    for (key, object) in &objects {
        assert_eq!(
            object["metadata"]["labels"]["app.kubernetes.io/part-of"], "erlmcp-perf",
            "{key} lacks the part-of label"
        );
        if object["spec"]["template"].is_object() {
            assert_eq!(
                object["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"],
                "erlmcp-perf",
                "{key}'s pods lack the part-of label"
            );
            // Every mount names a declared volume.
            let volumes: Vec<&str> = pod_spec(object)["volumes"]
                .as_array()
                .map(|v| v.iter().map(|v| v["name"].as_str().unwrap()).collect())
                .unwrap_or_default();
            for c in pod_spec(object)["containers"].as_array().unwrap() {
                for m in c["volumeMounts"].as_array().into_iter().flatten() {
                    let volume = m["name"].as_str().unwrap();
                    assert!(
                        volumes.contains(&volume),
                        "{key} mounts {volume}, which it does not declare ({volumes:?})"
                    );
                }
            }
        }
    }

    // The scenario, byte for byte, under its file name, mounted at /scenario/.
    let configmap = objects["ConfigMap/erlmcp-perf-scenario"];
    let scenario = std::fs::read_to_string(root().join(SCENARIO)).unwrap();
    assert_eq!(
        configmap["data"]["baseline.yml"].as_str(),
        Some(scenario.as_str()),
        "the ConfigMap does not hold {SCENARIO} as it is"
    );
    assert_eq!(configmap["data"].as_object().unwrap().len(), 1);

    // The shards: an Indexed Job of N pods, each `run --shard $(JOB_COMPLETION_INDEX)/N`.
    let shards = objects["Job/erlmcp-perf-shards"];
    let spec = &shards["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], SHARDS);
    assert_eq!(spec["parallelism"], SHARDS);
    let retries = spec["backoffLimitPerIndex"].as_u64().unwrap();
    assert!(retries <= 2, "a shard is retried {retries} times");
    assert_eq!(pod_spec(shards)["restartPolicy"], "Never");
    let generator = container(shards);
    let args = strings(&generator["args"]);
    assert_eq!(args[..2], ["run", "/scenario/baseline.yml"], "{args:?}");
    assert_eq!(
        flag(&args, "--shard"),
        Some(format!("$(JOB_COMPLETION_INDEX)/{SHARDS}").as_str())
    );
    assert_eq!(flag(&args, "--start-at"), Some(START_AT));
    assert_eq!(flag(&args, "--url"), Some("http://erlmcp:8080/mcp"));
    assert_eq!(flag(&args, "--out"), Some("/results"));
    assert!(args.contains(&"--allow-remote"), "{args:?}");
    let index = generator["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "JOB_COMPLETION_INDEX")
        .expect("JOB_COMPLETION_INDEX is declared");
    assert_eq!(
        index["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    for bound in ["requests", "limits"] {
        assert_eq!(generator["resources"][bound]["cpu"], "2", "{bound}");
    }
    let (_, volume) = mount(shards, "/scenario");
    assert_eq!(volume["configMap"]["name"], name(configmap));

    // The merge reads /results/baseline, where the shards write on the same volume.
    let merge = objects["Job/erlmcp-perf-merge"];
    assert_eq!(
        strings(&container(merge)["args"]),
        [
            "merge",
            "/results/baseline",
            "--output",
            "/results/baseline/merged",
            "--wait",
            "2h",
            "--scenario",
            "/scenario/baseline.yml",
        ]
    );
    let pvc = objects["PersistentVolumeClaim/erlmcp-perf-results"];
    assert_eq!(strings(&pvc["spec"]["accessModes"]), ["ReadWriteMany"]);
    let (shard_mount, shard_volume) = mount(shards, "/results");
    let (merge_mount, merge_volume) = mount(merge, "/results/baseline");
    for volume in [shard_volume, merge_volume] {
        assert_eq!(volume["persistentVolumeClaim"]["claimName"], name(pvc));
    }
    assert_eq!(
        format!("{}/baseline", shard_mount["subPath"].as_str().unwrap()),
        merge_mount["subPath"].as_str().unwrap(),
        "the merge does not read the directory the shards write"
    );
    assert_eq!(
        container(merge)["image"],
        generator["image"],
        "the merge and the shards run different images"
    );

    // The server: 3 replicas behind a Service that selects them, with ClientIP affinity,
    // on the port and path of the shards' URL.
    let deployment = objects["Deployment/erlmcp"];
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap();
    let service = objects["Service/erlmcp"];
    for selector in [
        service["spec"]["selector"].as_object().unwrap(),
        deployment["spec"]["selector"]["matchLabels"]
            .as_object()
            .unwrap(),
    ] {
        assert!(!selector.is_empty());
        for (k, v) in selector {
            assert_eq!(
                pod_labels.get(k),
                Some(v),
                "the selector's {k} misses the pods"
            );
        }
    }
    assert_eq!(service["spec"]["sessionAffinity"], "ClientIP");
    let sut = container(deployment);
    assert_eq!(
        strings(&sut["args"]),
        ["refserver", "--bind", "0.0.0.0:8080", "--allow-any-host"]
    );
    let port = &service["spec"]["ports"][0];
    let container_port = sut["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == port["targetPort"])
        .expect("the Service's targetPort names a container port");
    assert_eq!(container_port["containerPort"], 8080);
    assert_eq!(port["port"], 8080);
    assert_eq!(
        sut["readinessProbe"]["tcpSocket"]["port"],
        port["targetPort"]
    );
    assert_eq!(
        format!("http://{}:{}/mcp", name(service), port["port"]),
        flag(&args, "--url").unwrap()
    );
}

#[test]
fn render_refuses_bad_input() {
    let test = "render_refuses_bad_input";
    if !python_ready(test) {
        return;
    }
    let scenario = root().join(SCENARIO);
    let scenario = scenario.to_str().unwrap();
    for (args, says) in [
        (
            vec!["--shards", "0", "--scenario", scenario],
            "--shards must be at least 1",
        ),
        (
            vec!["--shards", "3", "--scenario", "no/such/scenario.yml"],
            "--scenario no/such/scenario.yml: no such file",
        ),
        (
            vec![
                "--shards",
                "3",
                "--scenario",
                scenario,
                "--start-at",
                "2020-01-01T00:00:00Z",
            ],
            "has passed",
        ),
    ] {
        let output = render(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && output.stdout.is_empty(),
            "{RENDER} {args:?} was not refused: {}",
            describe(&output)
        );
        assert!(
            stderr.contains(says),
            "{RENDER} {args:?} does not say {says:?}: {stderr}"
        );
    }
}

/// Docker objects a test made, removed when it ends, however it ends.
#[derive(Default)]
struct DockerObjects {
    image: Option<String>,
    network: Option<String>,
    containers: Vec<String>,
}

impl Drop for DockerObjects {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new("docker")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        for c in &self.containers {
            quiet(&["rm", "-f", c]);
        }
        if let Some(network) = &self.network {
            quiet(&["network", "rm", network]);
        }
        if let Some(image) = &self.image {
            quiet(&["rmi", "-f", image]);
        }
    }
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run docker {args:?}: {e}"))
}

/// Builds the harness image from the test's binary with image.sh, tagged `tag`.
fn build_image(objects: &mut DockerObjects, tag: &str) {
    objects.image = Some(tag.to_string());
    let output = Command::new(root().join(IMAGE_SH))
        .args([BIN, tag])
        .output()
        .unwrap_or_else(|e| panic!("run {IMAGE_SH}: {e}"));
    assert!(
        output.status.success(),
        "{IMAGE_SH} failed: {}",
        describe(&output)
    );
}

#[test]
fn the_image_runs_the_harness() {
    let test = "the_image_runs_the_harness";
    if !docker_ready(test) {
        return;
    }
    let mut objects = DockerObjects::default();
    let tag = format!("erlmcp-perf:k8s-test-{}", std::process::id());
    build_image(&mut objects, &tag);
    let output = docker(&["run", "--rm", "--network", "none", &tag, "merge", "--help"]);
    assert!(
        output.status.success(),
        "`docker run {tag} merge --help` failed: {}",
        describe(&output)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("--wait"),
        "{}",
        describe(&output)
    );
}

/// What the kubelet would make of a pod: `docker run` arguments for its container, with
/// the volumes under `host` (a ConfigMap as its files, a PVC's `subPath` made as needed,
/// an emptyDir as tmpfs), its security settings, and `$(VAR)` in its args expanded.
fn as_container(
    object: &Value,
    configmaps: &BTreeMap<String, &Value>,
    host: &Path,
    index: Option<u64>,
) -> Vec<String> {
    let c = container(object);
    // As this user, so that the files the containers write are the test's to remove.
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let mut run = vec!["--user".to_string(), format!("{uid}:{gid}")];
    let security = &c["securityContext"];
    if security["readOnlyRootFilesystem"] == true {
        run.push("--read-only".into());
    }
    if security["allowPrivilegeEscalation"] == false {
        run.extend(["--security-opt".into(), "no-new-privileges".into()]);
    }
    if strings(&security["capabilities"]["drop"]) == ["ALL"] {
        run.extend(["--cap-drop".into(), "ALL".into()]);
    }
    let mut env = BTreeMap::new();
    for e in c["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap().to_string();
        let value = match e["value"].as_str() {
            Some(v) => v.to_string(),
            None => index.expect("an indexed pod").to_string(),
        };
        run.extend(["-e".into(), format!("{name}={value}")]);
        env.insert(name, value);
    }
    for m in c["volumeMounts"].as_array().into_iter().flatten() {
        let path = m["mountPath"].as_str().unwrap();
        let (_, volume) = mount(object, path);
        if volume["emptyDir"].is_object() {
            run.extend(["--tmpfs".into(), path.into()]);
            continue;
        }
        let source = if let Some(cm) = volume["configMap"]["name"].as_str() {
            let dir = host.join("configmaps").join(cm);
            std::fs::create_dir_all(&dir).unwrap();
            for (file, text) in configmaps[cm]["data"].as_object().unwrap() {
                std::fs::write(dir.join(file), text.as_str().unwrap()).unwrap();
            }
            dir
        } else {
            let claim = volume["persistentVolumeClaim"]["claimName"]
                .as_str()
                .unwrap();
            let dir = host
                .join("volumes")
                .join(claim)
                .join(m["subPath"].as_str().unwrap_or(""));
            std::fs::create_dir_all(&dir).unwrap();
            dir
        };
        let ro = if m["readOnly"] == true { ":ro" } else { "" };
        run.extend(["-v".into(), format!("{}:{path}{ro}", source.display())]);
    }
    run.push(c["image"].as_str().unwrap().into());
    for arg in strings(&c["args"]) {
        let mut arg = arg.to_string();
        for (name, value) in &env {
            arg = arg.replace(&format!("$({name})"), value);
        }
        run.push(arg);
    }
    run
}

/// Starts a detached container `name` on `network` from `docker run` arguments.
fn start(objects: &mut DockerObjects, name: &str, network: &str, extra: &[&str], run: &[String]) {
    objects.containers.push(name.to_string());
    let mut args = vec!["run", "-d", "--name", name, "--network", network];
    args.extend_from_slice(extra);
    args.extend(run.iter().map(String::as_str));
    let output = docker(&args);
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        describe(&output)
    );
}

/// The exit code of container `name`, or a panic with its log after `limit`.
fn exit_code(name: &str, limit: Duration) -> i64 {
    let mut wait = Command::new("docker")
        .args(["wait", name])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut wait, limit);
    let mut out = String::new();
    if status.is_some_and(|s| s.success()) {
        use std::io::Read;
        wait.stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
    }
    out.trim().parse().unwrap_or_else(|_| {
        panic!(
            "container {name} did not end within {limit:?}: {}",
            logs(name)
        )
    })
}

fn logs(name: &str) -> String {
    describe(&docker(&["logs", name]))
}

/// The rendered pods for 2 shards of a 3 s scenario, run as Docker containers with the
/// image image.sh builds: the `erlmcp` Deployment's server under the Service's name, the
/// merge Job's pod and the shards Job's two indexed pods, each with the pod's arguments,
/// mounts and security settings. Both shards send, and the merge writes one record of both.
#[test]
fn the_rendered_pods_run_a_sharded_test_in_docker() {
    let test = "the_rendered_pods_run_a_sharded_test_in_docker";
    if !docker_ready(test) || !python_ready(test) {
        return;
    }
    let pid = std::process::id();
    let mut objects = DockerObjects::default();
    let tag = format!("erlmcp-perf:k8s-test-{pid}-pods");
    build_image(&mut objects, &tag);
    let dir = tempfile::tempdir().unwrap();
    let scenario = crate::scenario_file(
        dir.path(),
        "tiny",
        "scenario:\n  name: \"Tiny\"\n  clients: 4\n  warmup: 1s\n  timeout: 5s\n  \
         phases:\n    - name: \"Steady\"\n      duration: 2s\n      rps: 50\n  requests:\n    \
         - type: tool_call\n      tool: calculator\n      weight: 50%\n    \
         - type: resource_list\n      weight: 50%\n  slo:\n    p99: 2s\n",
    );
    // Time enough for four containers to start on a busy machine.
    let start_at =
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(12)).to_string();
    let args: Vec<String> = [
        "--shards",
        "2",
        "--scenario",
        scenario.to_str().unwrap(),
        "--start-at",
        &start_at,
        "--image",
        &tag,
        "--wait",
        "60s",
    ]
    .map(String::from)
    .to_vec();
    let rendered = render_to(dir.path(), "k8s.json", &args, "json");
    let json: Value = serde_json::from_slice(&std::fs::read(rendered).unwrap()).unwrap();
    let rendered = by_name(&json);
    let configmaps: BTreeMap<String, &Value> = rendered
        .iter()
        .filter(|(k, _)| k.starts_with("ConfigMap/"))
        .map(|(_, o)| (name(o).to_string(), *o))
        .collect();
    let host = dir.path().join("cluster");

    let network = format!("erlmcp-perf-k8s-{pid}");
    objects.network = Some(network.clone());
    let output = docker(&["network", "create", &network]);
    assert!(output.status.success(), "{}", describe(&output));

    // The server under the Service's name, ready when its port accepts connections.
    let service = rendered["Service/erlmcp"];
    let sut = format!("erlmcp-perf-k8s-{pid}-sut");
    let alias = name(service).to_string();
    let deployment = rendered["Deployment/erlmcp"];
    let port = &container(deployment)["ports"][0]["containerPort"];
    assert_eq!(
        service["spec"]["ports"][0]["port"], *port,
        "the Service's port is not the server's: the network alias cannot stand for it"
    );
    let run = as_container(deployment, &configmaps, &host, None);
    start(
        &mut objects,
        &sut,
        &network,
        &[
            "--network-alias",
            &alias,
            "-p",
            &format!("127.0.0.1::{port}"),
        ],
        &run,
    );
    let published = docker(&["port", &sut, &format!("{port}/tcp")]);
    let address = String::from_utf8_lossy(&published.stdout)
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no published port: {}", describe(&published)))
        .trim()
        .to_string();
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(
            Instant::now() < until,
            "the server never listened: {}",
            logs(&sut)
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let merge = format!("erlmcp-perf-k8s-{pid}-merge");
    let run = as_container(rendered["Job/erlmcp-perf-merge"], &configmaps, &host, None);
    start(&mut objects, &merge, &network, &[], &run);
    let shards: Vec<String> = (0..2)
        .map(|i| {
            let shard = format!("erlmcp-perf-k8s-{pid}-shard-{i}");
            let run = as_container(
                rendered["Job/erlmcp-perf-shards"],
                &configmaps,
                &host,
                Some(i),
            );
            start(&mut objects, &shard, &network, &[], &run);
            shard
        })
        .collect();

    for shard in &shards {
        assert_eq!(
            exit_code(shard, Duration::from_secs(60)),
            0,
            "shard {shard}: {}",
            logs(shard)
        );
    }
    assert_eq!(
        exit_code(&merge, Duration::from_secs(30)),
        0,
        "the merge: {}",
        logs(&merge)
    );

    let run_dir = host.join("volumes/erlmcp-perf-results").join(
        mount(rendered["Job/erlmcp-perf-shards"], "/results").0["subPath"]
            .as_str()
            .unwrap(),
    );
    let record: Value = serde_json::from_slice(
        &std::fs::read(run_dir.join("tiny/merged/record.json"))
            .unwrap_or_else(|e| panic!("no merged record ({e}): {}", logs(&merge))),
    )
    .unwrap();
    let shards = record["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2, "{record}");
    for shard in shards {
        assert_eq!(
            shard["start_at"].as_str().map(|s| &s[..19]),
            Some(&start_at[..19])
        );
        assert!(shard["ok"].as_u64().unwrap() > 0, "{shard}");
    }
    assert_eq!(record["throughput"]["planned"], 100, "{record}");
    assert_eq!(record["throughput"]["ok"], 100, "{record}");
    assert_eq!(record["scenario"]["path"], "/scenario/tiny.yml");
}
