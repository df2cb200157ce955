#!/usr/bin/env python3
"""Render the manifests of a sharded erlmcp-perf load test on Kubernetes.

Reads the templates in base/ beside this script, fills in their "${NAME}" parameters and
prints every object as one multi-document YAML (or, with --format json, one JSON list):

    deploy/kubernetes/render.py --shards 6 --scenario scenarios/baseline.yml -o k8s.yaml
    kubectl apply -f k8s.yaml

The same inputs give the same output, byte for byte (--start-at is an input: give it to
render twice alike). Needs Python 3.8+ and PyYAML (`pip install pyyaml`; kubernetes-validate
brings it).
"""

import argparse
import datetime
import json
import os
import re
import shlex
import sys
import urllib.parse

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("render.py: needs PyYAML: pip install pyyaml")

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, "base")

# The templates, in the order the objects are applied: what a pod mounts or reaches comes
# before the pod.
NAMESPACE = "namespace.yaml"
SUT = ["sut-deployment.yaml", "sut-service.yaml"]
LOAD = ["scenario-configmap.yaml", "results-pvc.yaml", "shards-job.yaml", "merge-job.yaml"]

DEFAULT_IMAGE = "erlmcp-perf:latest"
DEFAULT_PORT = 8080
DEFAULT_PATH = "/mcp"
DEFAULT_LEAD = datetime.timedelta(seconds=120)

# Indexed Jobs allow at most 100,000 completions.
MAX_SHARDS = 100_000
# A ConfigMap holds at most 1 MiB, keys and all.
MAX_SCENARIO_BYTES = 1_000_000

PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
CONFIGMAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
# A Kubernetes quantity: 2, 1.5, 500m, 512Mi, 1G, 1e3.
QUANTITY = re.compile(r"^(\d+(\.\d*)?|\.\d+)([munkMGTPE]|[KMGTPE]i|[eE][-+]?\d+)?$")
# A humantime duration, as `erlmcp-perf merge --wait` reads it: 2h, 90m, 1h 30m.
DURATION = re.compile(
    r"^\s*(\d+\s*(nsec|ns|usec|us|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins"
    r"|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|w|months|month|M|years|year|y)\s*)+$"
)
RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


class BadInput(Exception):
    """A parameter render.py refuses; its message says which and why."""


class Omit:
    """A parameter left out: the key that holds it is dropped."""


OMIT = Omit()


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="render.py",
        description=(
            "Render the Kubernetes manifests of a sharded erlmcp-perf load test: the "
            "scenario (ConfigMap), the results volume (PVC), the system under test "
            "(Deployment + Service `erlmcp`), N generator pods (Indexed Job "
            "`erlmcp-perf-shards`) and the merge (Job `erlmcp-perf-merge`), as one "
            "multi-document YAML."
        ),
        epilog=(
            "erlmcp 0.5.0 speaks stdio only (nothing listens on a port), so by default the "
            "`erlmcp` Deployment runs the harness image's reference server; point "
            "--sut-image/--sut-args/--sut-port/--sut-path at an erlmcp build that serves "
            "Streamable HTTP. See deploy/kubernetes/README.md."
        ),
    )
    p.add_argument("--shards", required=True, metavar="N", help="generator pods (>= 1)")
    p.add_argument(
        "--scenario",
        required=True,
        metavar="PATH",
        help="the scenario file: its content goes into the ConfigMap under its file name, "
        "and its file stem names the results directory (/results/<stem>)",
    )
    p.add_argument(
        "--url",
        help="the MCP endpoint the shards load (http://, ws:// or tcp://). Default: the "
        f"in-cluster Service, http://erlmcp:{DEFAULT_PORT}{DEFAULT_PATH} (with --sut-port "
        "and --sut-path)",
    )
    p.add_argument(
        "--start-at",
        metavar="TIME",
        help="the wall-clock instant every shard begins sending (RFC 3339, e.g. "
        "2026-12-08T10:00:00Z; written out in UTC). Every shard pod must be scheduled, "
        "have pulled its image and opened its sessions by then; a pod that starts later "
        "exits 2 without sending. Default: now + 120 s",
    )
    p.add_argument(
        "--run-id",
        help="names the run's directory on the results volume (runs/<run id>/) and labels "
        "its Jobs' pods. Default: --start-at, as 20261208t100000z",
    )
    p.add_argument(
        "--image", default=DEFAULT_IMAGE, help=f"the harness image (default {DEFAULT_IMAGE})"
    )
    p.add_argument(
        "--pull-policy",
        default="IfNotPresent",
        choices=["IfNotPresent", "Always", "Never"],
        help="imagePullPolicy of every container (default IfNotPresent: a locally built "
        "image loaded into the cluster is used as it is)",
    )
    p.add_argument(
        "--generator-cpu",
        default="2",
        help="CPU of each generator pod, requested and limit (default 2)",
    )
    p.add_argument(
        "--generator-memory", default="1Gi", help="memory of each generator pod (default 1Gi)"
    )
    p.add_argument(
        "--env-secret",
        metavar="SECRET",
        help="give the generator pods every key of this Secret as an environment variable "
        "(for a scenario's `auth: {bearer_env: VAR}`)",
    )
    p.add_argument(
        "--sut-image",
        help="the system under test's image. Default: --image, running the reference server",
    )
    p.add_argument(
        "--sut-args",
        help="the system under test's arguments, one shell-quoted string. Default with the "
        "harness image: `refserver --bind 0.0.0.0:PORT --allow-any-host`; with --sut-image: "
        "none (the image's own command)",
    )
    p.add_argument(
        "--sut-port",
        default=str(DEFAULT_PORT),
        help=f"the port it serves on (default {DEFAULT_PORT})",
    )
    p.add_argument(
        "--sut-path", default=DEFAULT_PATH, help=f"its MCP path (default {DEFAULT_PATH})"
    )
    p.add_argument(
        "--sut-replicas", default="3", help="replicas of the `erlmcp` Deployment (default 3)"
    )
    p.add_argument(
        "--sut-cpu", default="1", help="CPU of each replica, requested and limit (default 1)"
    )
    p.add_argument(
        "--sut-memory", default="512Mi", help="memory of each replica (default 512Mi)"
    )
    p.add_argument(
        "--no-sut",
        action="store_true",
        help="leave out the `erlmcp` Deployment and Service (--url then names a server "
        "that already runs)",
    )
    p.add_argument(
        "--namespace",
        help="put every object in this namespace (default: kubectl's current one)",
    )
    p.add_argument(
        "--create-namespace",
        action="store_true",
        help="also render the Namespace object of --namespace",
    )
    p.add_argument(
        "--wait",
        default="2h",
        help="how long the merge Job waits for every shard's record (default 2h): more than "
        "the time to --start-at plus the scenario's warm-up and phases",
    )
    p.add_argument(
        "--results-access-mode",
        default="ReadWriteMany",
        choices=["ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"],
        help="access mode of the results volume (default ReadWriteMany: pods on many "
        "nodes write it; ReadWriteOnce does on a single-node cluster)",
    )
    p.add_argument(
        "--results-size", default="1Gi", help="size of the results volume (default 1Gi)"
    )
    p.add_argument(
        "--storage-class", help="storage class of the results volume (default: the cluster's)"
    )
    p.add_argument(
        "--format", default="yaml", choices=["yaml", "json"], help="output format (default yaml)"
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    return p.parse_args(argv)


def positive_int(name, text, lowest=1, highest=None):
    try:
        value = int(str(text).strip())
    except ValueError:
        raise BadInput(f"{name} {text!r} is not a whole number") from None
    if value < lowest:
        raise BadInput(f"{name} must be at least {lowest}, not {value}")
    if highest is not None and value > highest:
        raise BadInput(f"{name} must be at most {highest}, not {value}")
    return value


def quantity(name, text):
    if not QUANTITY.match(text):
        raise BadInput(f"{name} {text!r} is not a Kubernetes quantity (e.g. 2, 500m, 1Gi)")
    return text


def start_at(text, now):
    """The instant, checked to be still to come, in UTC as RFC 3339 with a Z."""
    if text is None:
        instant = (now + DEFAULT_LEAD).replace(microsecond=0)
    else:
        m = RFC3339.match(text.strip())
        if not m:
            raise BadInput(
                f"--start-at {text!r} is not an RFC 3339 instant (e.g. 2026-12-08T10:00:00Z)"
            )
        day, clock, fraction, zone = m.groups()
        micro = (fraction or ".0")[1:7].ljust(6, "0")
        zone = "+00:00" if zone in ("Z", "z") else zone
        try:
            instant = datetime.datetime.fromisoformat(f"{day}T{clock}.{micro}{zone}")
        except ValueError as e:
            raise BadInput(f"--start-at {text!r} is not a valid instant: {e}") from None
        instant = instant.astimezone(datetime.timezone.utc)
    if instant <= now:
        raise BadInput(
            f"--start-at {format_instant(instant)} has passed (now {format_instant(now)}): "
            "every shard would exit 2; give an instant far enough ahead for the pods to start"
        )
    return instant


def format_instant(instant):
    text = instant.strftime("%Y-%m-%dT%H:%M:%S")
    if instant.microsecond:
        text += f".{instant.microsecond:06d}".rstrip("0")
    return text + "Z"


def endpoint(url):
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "ws", "tcp") or not parsed.hostname:
        raise BadInput(
            f"--url {url!r} is not an MCP endpoint erlmcp-perf can load: give "
            "http://HOST[:PORT]/PATH (Streamable HTTP), ws://HOST[:PORT]/PATH or tcp://HOST:PORT"
        )
    return url


def scenario(path):
    if not os.path.isfile(path):
        raise BadInput(f"--scenario {path}: no such file")
    name = os.path.basename(path)
    stem = os.path.splitext(name)[0]
    if not CONFIGMAP_KEY.match(name) or not stem:
        raise BadInput(
            f"--scenario {path}: a ConfigMap key cannot be {name!r}; rename the file to "
            "letters, digits, '-', '_' and '.'"
        )
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) > MAX_SCENARIO_BYTES:
        raise BadInput(
            f"--scenario {path}: {len(raw)} bytes, more than a ConfigMap holds (1 MiB)"
        )
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"--scenario {path} is not UTF-8 text: {e}") from None
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError as e:
        raise BadInput(f"--scenario {path} is not YAML: {e}") from None
    if not isinstance(document, dict) or "scenario" not in document:
        raise BadInput(f"--scenario {path} has no top-level `scenario:` (see scenarios/)")
    return name, stem, content


def parameters(args, now):
    """Every template parameter, checked."""
    shards = positive_int("--shards", args.shards, 1, MAX_SHARDS)
    name, stem, content = scenario(args.scenario)
    instant = start_at(args.start_at, now)
    run_id = args.run_id or instant.strftime("%Y%m%dt%H%M%S") + (
        f"{instant.microsecond:06d}".rstrip("0") if instant.microsecond else ""
    ) + "z"
    if not DNS_LABEL.match(run_id):
        raise BadInput(
            f"--run-id {run_id!r}: use at most 63 lower-case letters, digits and '-', "
            "beginning and ending with a letter or digit"
        )
    port = positive_int("--sut-port", args.sut_port, 1, 65535)
    path = args.sut_path if args.sut_path.startswith("/") else "/" + args.sut_path
    if args.no_sut and args.url is None:
        raise BadInput("--no-sut leaves no server to load: give --url")
    url = endpoint(args.url or f"http://erlmcp:{port}{path}")
    for option, image in (("--image", args.image), ("--sut-image", args.sut_image)):
        if image is not None and (not image or any(c.isspace() for c in image)):
            raise BadInput(f"{option} {image!r} is not an image reference")
    sut_image = args.sut_image or args.image
    if args.sut_args is not None:
        try:
            sut_args = shlex.split(args.sut_args)
        except ValueError as e:
            raise BadInput(f"--sut-args {args.sut_args!r}: {e}") from None
    elif sut_image == args.image:
        sut_args = ["refserver", "--bind", f"0.0.0.0:{port}", "--allow-any-host"]
    else:
        sut_args = []
    if args.namespace is not None and not DNS_LABEL.match(args.namespace):
        raise BadInput(f"--namespace {args.namespace!r} is not a valid namespace name")
    if args.create_namespace and args.namespace is None:
        raise BadInput("--create-namespace needs --namespace NAME")
    if not DURATION.match(args.wait):
        raise BadInput(f"--wait {args.wait!r} is not a duration (e.g. 2h, 90m, 1h 30m)")
    if args.env_secret is not None and not DNS_SUBDOMAIN.match(args.env_secret):
        raise BadInput(f"--env-secret {args.env_secret!r} is not a valid Secret name")
    if args.storage_class is not None and not args.storage_class.strip():
        raise BadInput("--storage-class is empty")
    return {
        "NAMESPACE": args.namespace,
        "SHARDS": shards,
        "SCENARIO_FILE": name,
        "SCENARIO_STEM": stem,
        "SCENARIO_CONTENT": content,
        "START_AT": format_instant(instant),
        "RUN_ID": run_id,
        "URL": url,
        "IMAGE": args.image,
        "PULL_POLICY": args.pull_policy,
        "GENERATOR_CPU": quantity("--generator-cpu", args.generator_cpu),
        "GENERATOR_MEMORY": quantity("--generator-memory", args.generator_memory),
        "GENERATOR_ENV_FROM": (
            [{"secretRef": {"name": args.env_secret}}] if args.env_secret else None
        ),
        "SUT_IMAGE": sut_image,
        # An empty list would be an empty `args:`; leave the key out instead.
        "SUT_ARGS": sut_args or None,
        "SUT_PORT": port,
        "SUT_REPLICAS": positive_int("--sut-replicas", args.sut_replicas, 1),
        "SUT_CPU": quantity("--sut-cpu", args.sut_cpu),
        "SUT_MEMORY": quantity("--sut-memory", args.sut_memory),
        "WAIT": args.wait.strip(),
        "RESULTS_ACCESS_MODE": args.results_access_mode,
        "RESULTS_SIZE": quantity("--results-size", args.results_size),
        "STORAGE_CLASS": args.storage_class,
    }


def fill(node, values, where):
    """`node` with its "${NAME}" parameters filled in. A string that is one parameter
    becomes the parameter's value, of its own type (a number, a list); one within a longer
    string is written into it. A parameter without a value drops the key that holds it."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            key = fill(key, values, where)
            value = fill(value, values, where)
            if value is not OMIT:
                out[key] = value
        return out
    if isinstance(node, list):
        return [v for v in (fill(item, values, where) for item in node) if v is not OMIT]
    if not isinstance(node, str):
        return node

    def lookup(name):
        if name not in values:
            raise KeyError(f"{where}: unknown parameter ${{{name}}}")
        return values[name]

    whole = PLACEHOLDER.fullmatch(node)
    if whole:
        value = lookup(whole.group(1))
        return OMIT if value is None else value

    def inside(m):
        value = lookup(m.group(1))
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise KeyError(f"{where}: ${{{m.group(1)}}} cannot stand inside {node!r}")
        return str(value)

    return PLACEHOLDER.sub(inside, node)


def render(args, now):
    values = parameters(args, now)
    files = ([NAMESPACE] if args.create_namespace else []) + LOAD[:2]
    files += [] if args.no_sut else SUT
    files += LOAD[2:]
    objects = []
    for name in files:
        with open(os.path.join(BASE, name), encoding="utf-8") as f:
            for document in yaml.safe_load_all(f):
                if document is None:
                    continue
                obj = fill(document, values, name)
                if args.namespace is not None and obj["kind"] != "Namespace":
                    obj["metadata"]["namespace"] = args.namespace
                objects.append(obj)
    return values, objects


class Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key; multi-line strings (the scenario) as
    literal blocks, as written."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _str(dumper, text):
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


Dumper.add_representer(str, _str)


def to_yaml(values, objects):
    header = (
        "# Rendered by deploy/kubernetes/render.py: edit the templates in base/ or the\n"
        "# parameters, not this file.\n"
        f"# {values['SHARDS']} shards of {values['SCENARIO_FILE']} against {values['URL']},\n"
        f"# starting at {values['START_AT']}; results on the volume erlmcp-perf-results under\n"
        f"# runs/{values['RUN_ID']}/{values['SCENARIO_STEM']}/ (merged/report.md when merged).\n"
    )
    body = yaml.dump_all(
        objects,
        Dumper=Dumper,
        sort_keys=False,
        default_flow_style=False,
        explicit_start=True,
        allow_unicode=True,
        width=100_000,
    )
    return header + body


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        values, objects = render(args, now)
    except BadInput as e:
        print(f"render.py: error: {e}", file=sys.stderr)
        return 2
    if args.format == "json":
        text = json.dumps(objects, indent=2, ensure_ascii=False) + "\n"
    else:
        text = to_yaml(values, objects)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            print(f"render.py: error: cannot write {args.output}: {e}", file=sys.stderr)
            return 4
    else:
        sys.stdout.write(text)
    if args.start_at is None:
        print(
            f"render.py: shards start at {values['START_AT']} (in {DEFAULT_LEAD.seconds} s): "
            "apply now",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
