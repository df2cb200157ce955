#!/usr/bin/env python3
"""Validate Grafana dashboard JSON files against the dashboard model of Grafana's own
Foundation SDK (PyPI `grafana-foundation-sdk`, generated from Grafana's schemas).

A dashboard is decoded into the SDK's typed model (panels by their plugin's schema,
queries by their datasource's) and encoded again; every key of the file must survive the
round trip with its value, so a misspelt, misplaced or unknown field is an error, as is a
panel type or datasource the schema does not know.

    python3 -m pip install 'grafana-foundation-sdk==1769699379!11.6.0'
    python3 monitoring/grafana/validate.py monitoring/grafana/dashboards/*.json
"""

import json
import sys

from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog import runtime
from grafana_foundation_sdk.models.dashboard import Dashboard


def encoded(value):
    """The SDK's objects as plain JSON values."""
    return json.loads(json.dumps(value, default=lambda o: o.to_json()))


def differences(original, decoded, path):
    """Where `decoded` lost or changed what `original` holds."""
    if isinstance(original, dict):
        if not isinstance(decoded, dict):
            return [f"{path}: expected an object, the schema made {decoded!r}"]
        found = []
        for key, value in original.items():
            if key not in decoded:
                found.append(f"{path}.{key}: not a field of the schema")
            else:
                found.extend(differences(value, decoded[key], f"{path}.{key}"))
        return found
    if isinstance(original, list):
        if not isinstance(decoded, list) or len(decoded) != len(original):
            return [f"{path}: the list did not survive decoding"]
        found = []
        for i, (a, b) in enumerate(zip(original, decoded)):
            found.extend(differences(a, b, f"{path}[{i}]"))
        return found
    if original != decoded:
        return [f"{path}: {original!r} decoded as {decoded!r}"]
    return []


def check(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    problems = []
    known_panels = runtime.Runtime().panelcfg_variants
    for i, panel in enumerate(data.get("panels", [])):
        kind = panel.get("type")
        if kind not in known_panels and kind != "row":
            problems.append(f"$.panels[{i}].type: {kind!r} is not a panel plugin the schema knows")
        for j, target in enumerate(panel.get("targets", [])):
            if target.get("datasource", panel.get("datasource", {})).get("type") != "prometheus":
                problems.append(f"$.panels[{i}].targets[{j}]: not a Prometheus query")
    decoded = encoded(Dashboard.from_json(data))
    problems.extend(differences(data, decoded, "$"))
    return problems


def main(paths):
    if not paths:
        print("usage: validate.py DASHBOARD.json...", file=sys.stderr)
        return 2
    plugins.register_default_plugins()
    failed = False
    for path in paths:
        try:
            problems = check(path)
        except (OSError, ValueError, KeyError, TypeError) as e:
            problems = [f"cannot decode: {e}"]
        if problems:
            failed = True
            for p in problems:
                print(f"{path}: {p}")
        else:
            print(f"{path}: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
