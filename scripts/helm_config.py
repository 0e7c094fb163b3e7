"""Check manifests rendered from helm/burnrate; scripts/helm.sh calls it.

validate BURNRATE MANIFEST DIR
    Write the keys of the burnrate ConfigMap of MANIFEST into DIR at the
    paths where the pod mounts them (config.yaml, rules/NAME.yaml,
    prices/NAME.yaml) and run
    `BURNRATE validate --config DIR/config.yaml` in DIR, the container's
    working directory. Exits with burnrate's status.

sidecar-placement MANIFEST FIELD
    Check that the example workload of MANIFEST has the burnrate container in
    its pod spec's FIELD (initContainers or containers), with restartPolicy
    Always exactly when it is an init container.

checksum MANIFEST
    Check that the config checksum annotation of the pods in MANIFEST matches
    the burnrate ConfigMap that MANIFEST contains, so the pods restart when
    it changes.

values-comments VALUES
    Check that every key of the values file VALUES has a comment, on the
    line before it or at the end of its line.

strategy MANIFEST TYPE
    Check that every Deployment of MANIFEST has the update strategy TYPE
    (Recreate or RollingUpdate, Kubernetes' default when none is set).

schema-keys REFERENCE SCHEMA
    Check that values.schema.json SCHEMA accepts under `config` every key of
    the first YAML block of REFERENCE (docs/configuration.md), except the
    keys that the chart sets itself.

prometheus-rule MANIFEST PACK OUT
    Check that the PrometheusRule of MANIFEST has the groups that burnrate
    evaluates: those of the default rule pack PACK (rules/burnrate.yaml)
    unless the config sets alerts.default_rules to false, then those of the
    ConfigMap's rule files. Write its groups to OUT as a rule file for
    promtool.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

# ConfigMap key prefixes and the folders that the pod's volume maps them to.
KEY_FOLDERS = {"rules-": "rules", "prices-": "prices"}


def load_documents(manifest: Path) -> list[dict]:
    with manifest.open() as stream:
        return [document for document in yaml.safe_load_all(stream) if document]


def burnrate_config_map(documents: list[dict]) -> dict:
    for document in documents:
        if document["kind"] == "ConfigMap" and "config.yaml" in document.get("data", {}):
            return document
    raise SystemExit("no ConfigMap with a config.yaml key in the manifest")


def write_config_tree(config_map: dict, directory: Path) -> None:
    """Write the ConfigMap's keys to the paths the chart's volume mounts them at."""
    directory.mkdir(parents=True, exist_ok=True)
    for key, content in config_map["data"].items():
        path = directory / key
        for prefix, folder in KEY_FOLDERS.items():
            if key.startswith(prefix):
                path = directory / folder / key.removeprefix(prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def validate(burnrate: str, manifest: Path, directory: Path) -> int:
    write_config_tree(burnrate_config_map(load_documents(manifest)), directory)
    command = [str(Path(burnrate).resolve()), "validate", "--config", "config.yaml"]
    return subprocess.run(command, cwd=directory, timeout=60).returncode


def sidecar_placement(manifest: Path, field: str) -> int:
    workloads = [
        document
        for document in load_documents(manifest)
        if document["kind"] == "Deployment"
        and document["metadata"]["labels"].get("app.kubernetes.io/component") == "example"
    ]
    if len(workloads) != 1:
        print(f"expected one example Deployment in {manifest}, found {len(workloads)}")
        return 1
    pod_spec = workloads[0]["spec"]["template"]["spec"]
    containers = [c for c in pod_spec.get(field, []) if c["name"] == "burnrate"]
    if len(containers) != 1:
        print(f"no burnrate container in {field} of the example workload in {manifest}")
        return 1
    restart_policy = containers[0].get("restartPolicy")
    expected = "Always" if field == "initContainers" else None
    if restart_policy != expected:
        print(f"burnrate in {field} has restartPolicy {restart_policy!r}, expected {expected!r}")
        return 1
    return 0


def prometheus_rule(manifest: Path, rule_file: Path, out: Path) -> int:
    rules = [d for d in load_documents(manifest) if d["kind"] == "PrometheusRule"]
    if len(rules) != 1:
        print(f"expected one PrometheusRule in {manifest}, found {len(rules)}")
        return 1
    groups = rules[0]["spec"]["groups"]
    config_map = burnrate_config_map(load_documents(manifest))
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    expected = []
    if config.get("alerts", {}).get("default_rules", True):
        expected += yaml.safe_load(rule_file.read_text())["groups"]
    for key, content in config_map["data"].items():
        if key.startswith("rules-"):
            expected += yaml.safe_load(content)["groups"]
    if groups != expected:
        names = [group["name"] for group in groups]
        expected_names = [group["name"] for group in expected]
        print(f"the PrometheusRule has the groups {names}, expected {expected_names}")
        return 1
    out.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return 0


def update_strategy(manifest: Path, expected: str) -> int:
    deployments = [d for d in load_documents(manifest) if d["kind"] == "Deployment"]
    if not deployments:
        print(f"no Deployment in {manifest}")
        return 1
    failures = 0
    for deployment in deployments:
        found = deployment["spec"].get("strategy", {}).get("type", "RollingUpdate")
        if found != expected:
            print(f"{deployment['metadata']['name']}: strategy {found}, expected {expected}")
            failures += 1
    return 1 if failures else 0


# Keys of burnrate's config that the chart sets from other values, so the
# schema rejects them under `config`.
CHART_OWNED_KEYS = {
    "receivers.otlp.grpc.endpoint",
    "receivers.otlp.http.endpoint",
    "metrics.prometheus",
    "admin",
    "alerts.rule_files",
    "pricing.files",
}


def resolve_schema(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
    return node


def unknown_keys(schema: dict, node: dict, value: object, path: str) -> list[str]:
    """List the key paths of value that the schema node does not accept."""
    node = resolve_schema(schema, node)
    if isinstance(value, list):
        return [
            key
            for item in value
            for key in unknown_keys(schema, node.get("items", {}), item, path)
        ]
    if not isinstance(value, dict):
        return []
    unknown = []
    for key, child in value.items():
        child_path = f"{path}.{key}" if path else key
        if child_path in CHART_OWNED_KEYS:
            continue
        if key in node.get("properties", {}):
            unknown += unknown_keys(schema, node["properties"][key], child, child_path)
        elif isinstance(node.get("additionalProperties"), dict):
            unknown += unknown_keys(schema, node["additionalProperties"], child, child_path)
        elif node.get("additionalProperties") is False:
            unknown.append(child_path)
    return unknown


def schema_keys(reference: Path, schema_path: Path) -> int:
    block = re.search(r"```yaml\n(.*?)```", reference.read_text(), re.DOTALL)
    if block is None:
        print(f"no YAML block in {reference}")
        return 1
    schema = json.loads(schema_path.read_text())
    config = schema["properties"]["config"]
    unknown = unknown_keys(schema, config, yaml.safe_load(block.group(1)), "")
    for key in unknown:
        print(f"{schema_path} rejects config.{key} of {reference}")
    return 1 if unknown else 0


def config_checksum(manifest: Path) -> int:
    documents = load_documents(manifest)
    config_map = burnrate_config_map(documents)
    # The chart hashes the rendered data block, which is the ConfigMap's
    # data as YAML with its keys in order.
    data = "".join(
        f"{key}: |\n" + "".join(f"  {line}\n" for line in value.rstrip("\n").split("\n"))
        for key, value in config_map["data"].items()
    )
    expected = hashlib.sha256(data.rstrip("\n").encode()).hexdigest()
    for document in documents:
        if document["kind"] != "Deployment":
            continue
        annotations = document["spec"]["template"]["metadata"].get("annotations", {})
        found = annotations.get("checksum/burnrate-config")
        if found != expected:
            print(f"{document['metadata']['name']}: checksum {found}, expected {expected}")
            return 1
    return 0


def values_comments(values: Path) -> int:
    lines = values.read_text().splitlines()
    missing = []
    for number, line in enumerate(lines, start=1):
        if not re.match(r"^\s*[A-Za-z_][\w-]*:", line) or "#" in line:
            continue
        previous = lines[number - 2].strip() if number > 1 else ""
        if not previous.startswith("#"):
            missing.append(f"{values}:{number}: {line.strip()}")
    for entry in missing:
        print(f"no comment on the key at {entry}")
    return 1 if missing else 0


def main(arguments: list[str]) -> int:
    match arguments:
        case ["validate", burnrate, manifest, directory]:
            return validate(burnrate, Path(manifest), Path(directory))
        case ["sidecar-placement", manifest, field]:
            return sidecar_placement(Path(manifest), field)
        case ["checksum", manifest]:
            return config_checksum(Path(manifest))
        case ["strategy", manifest, expected]:
            return update_strategy(Path(manifest), expected)
        case ["schema-keys", reference, schema_path]:
            return schema_keys(Path(reference), Path(schema_path))
        case ["values-comments", values]:
            return values_comments(Path(values))
        case ["prometheus-rule", manifest, rule_file, out]:
            return prometheus_rule(Path(manifest), Path(rule_file), Path(out))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
