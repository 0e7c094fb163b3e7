#!/usr/bin/env bash
# Tests the Helm chart in helm/burnrate without a cluster. For every
# ci/*-values.yaml it runs `helm lint` and `helm template`, validates the
# manifests with `kubernetes-validate --strict` against the Kubernetes API
# schemas, and checks the rendered burnrate config with `burnrate validate`.
# It also compares the chart's copy of the default rule pack with
# rules/burnrate.yaml, renders the parent chart in tests/helm/parent-chart and
# checks that docs/kubernetes.md shows its templates and values unchanged,
# checks the value combinations that the chart rejects,
# compares deploy/ with what the chart renders now, and lints the Dockerfile
# with hadolint.
#
# Installs Helm and kubectl into target/helm-tools (scripts/helm-tools.sh) and
# kubernetes-validate into target/e2e-venv (scripts/python-env.sh), and
# Debian's prometheus for promtool (scripts/debian-tools.sh). Needs
# target/debug/burnrate, or BURNRATE_BIN.
#
# `scripts/helm.sh generate` rewrites deploy/ from the chart instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The Kubernetes version whose API schemas the manifests are validated
# against, and that `helm template` renders for.
KUBERNETES_VERSION=1.33.0
# The version that renders the plain-container sidecar of older clusters.
OLD_KUBERNETES_VERSION=1.28.0

chart=helm/burnrate
out=target/helm
burnrate="${BURNRATE_BIN:-target/debug/burnrate}"

scripts/debian-tools.sh
helm_bin="$(scripts/helm-tools.sh | tail -n 1)"
python="$(scripts/python-env.sh | tail -n 1)"
validate="$(dirname "$python")/kubernetes-validate"

# Helm writes its cache and settings here instead of under $HOME.
export HELM_CACHE_HOME="$PWD/target/helm-home/cache"
export HELM_CONFIG_HOME="$PWD/target/helm-home/config"
export HELM_DATA_HOME="$PWD/target/helm-home/data"

helm() {
    "$helm_bin/helm" "$@"
}

# Render deploy/ from the chart: the standalone scenario and the sidecar
# ConfigMap with the example workload, each under a header that names the
# command.
render_deploy() {
    local target="$1"
    mkdir -p "$target"
    for scenario in standalone sidecar; do
        {
            echo "# Generated from helm/burnrate by \`scripts/helm.sh generate\` with"
            echo "# helm template burnrate helm/burnrate --namespace burnrate \\"
            echo "#   --values deploy/$scenario-values.yaml --kube-version $KUBERNETES_VERSION"
            echo "# Do not edit: change the chart or the values file and generate again."
            helm template burnrate "$chart" --namespace burnrate \
                --values "deploy/$scenario-values.yaml" --kube-version "$KUBERNETES_VERSION"
        } > "$target/$scenario.yaml"
    done
    {
        echo "# Generated from deploy/grafana-dashboard.json by \`scripts/helm.sh generate\`."
        echo "# Point the Grafana dashboard sidecar at the label grafana_dashboard=1 to load it."
        "$helm_bin/kubectl" create configmap burnrate-dashboard --namespace burnrate \
            --from-file=burnrate.json=deploy/grafana-dashboard.json \
            --dry-run=client --output=yaml \
            | "$helm_bin/kubectl" label --local --filename=- --output=yaml grafana_dashboard=1
    } > "$target/grafana-dashboard.yaml"
}

if [ "${1:-}" = generate ]; then
    render_deploy deploy
    echo "wrote deploy/standalone.yaml, deploy/sidecar.yaml and deploy/grafana-dashboard.yaml"
    exit 0
fi

rm -rf "$out"
mkdir -p "$out"
failures=0
checks=0

pass() {
    checks=$((checks + 1))
    echo "ok: $1"
}

fail() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    echo "FAILED: $1"
}

echo "== chart copy of the default rule pack"
if cmp -s rules/burnrate.yaml "$chart/files/burnrate-rules.yaml"; then
    pass "$chart/files/burnrate-rules.yaml equals rules/burnrate.yaml"
else
    fail "$chart/files/burnrate-rules.yaml differs from rules/burnrate.yaml; copy rules/burnrate.yaml over it"
fi

echo "== a comment on every key of values.yaml"
if "$python" scripts/helm_config.py values-comments "$chart/values.yaml"; then
    pass "every key of $chart/values.yaml has a comment"
else
    fail "keys of $chart/values.yaml without a comment"
fi

echo "== the schema accepts every key of docs/configuration.md"
if "$python" scripts/helm_config.py schema-keys docs/configuration.md "$chart/values.schema.json"; then
    pass "$chart/values.schema.json accepts every key of docs/configuration.md"
else
    fail "keys of docs/configuration.md missing from $chart/values.schema.json"
fi

echo "== helm lint, helm template and kubernetes-validate per scenario"
for values in "$chart"/ci/*-values.yaml; do
    scenario="$(basename "$values" -values.yaml)"
    if helm lint --strict --quiet "$chart" --values "$values" --kube-version "$KUBERNETES_VERSION"; then
        pass "helm lint $scenario"
    else
        fail "helm lint $scenario"
    fi

    for version in "$KUBERNETES_VERSION" "$OLD_KUBERNETES_VERSION"; do
        manifest="$out/$scenario-$version.yaml"
        if ! helm template burnrate "$chart" --namespace burnrate --values "$values" \
            --kube-version "$version" > "$manifest"; then
            fail "helm template $scenario for Kubernetes $version"
            continue
        fi
        # kubernetes-validate has no schema for the Prometheus Operator's
        # kinds: it warns and skips them. The PrometheusRule is checked with
        # promtool below.
        if "$validate" --strict --quiet --kubernetes-version "$version" "$manifest"; then
            pass "kubernetes-validate --strict $scenario for Kubernetes $version"
        else
            fail "kubernetes-validate --strict $scenario for Kubernetes $version"
        fi
    done

    if "$python" scripts/helm_config.py checksum "$out/$scenario-$KUBERNETES_VERSION.yaml"; then
        pass "config checksum annotation of the $scenario pods"
    else
        fail "config checksum annotation of the $scenario pods"
    fi

    # Dummy values for the Secrets that the config references as ${env:...}.
    if HONEYCOMB_API_KEY=test-key GRAFANA_OTLP_BASIC=dGVzdDp0ZXN0 \
        "$python" scripts/helm_config.py validate "$burnrate" \
        "$out/$scenario-$KUBERNETES_VERSION.yaml" "$out/config-$scenario"; then
        pass "burnrate validate accepts the $scenario config"
    else
        fail "burnrate validate rejects the $scenario config"
    fi
done

echo "== PrometheusRule with promtool"
# The sidecar scenario has the default rule pack and the rule file checkout.
rule_file="$out/prometheusrule-groups.yaml"
if "$python" scripts/helm_config.py prometheus-rule "$out/sidecar-$KUBERNETES_VERSION.yaml" \
    rules/burnrate.yaml "$rule_file" && promtool check rules "$rule_file"; then
    pass "PrometheusRule has the default rule pack and the rules values, and promtool accepts them"
else
    fail "PrometheusRule groups with the default rule pack"
fi
manifest="$out/sidecar-without-default-rules.yaml"
rule_file="$out/prometheusrule-without-default-rules.yaml"
if helm template burnrate "$chart" --values "$chart/ci/sidecar-values.yaml" \
    --set config.alerts.default_rules=false --kube-version "$KUBERNETES_VERSION" > "$manifest" \
    && "$python" scripts/helm_config.py prometheus-rule "$manifest" rules/burnrate.yaml "$rule_file" \
    && promtool check rules "$rule_file"; then
    pass "PrometheusRule has only the rules values with config.alerts.default_rules=false"
else
    fail "PrometheusRule groups with config.alerts.default_rules=false"
fi

echo "== update strategy with a disk queue on a PersistentVolumeClaim"
# Only one pod at a time can hold the lock of a queue directory on a claim,
# so a rolling update would start the new pod while the old one holds it.
for case in disk-queue:Recreate standalone:RollingUpdate; do
    scenario="${case%%:*}"
    expected="${case#*:}"
    if "$python" scripts/helm_config.py strategy "$out/$scenario-$KUBERNETES_VERSION.yaml" "$expected"; then
        pass "$scenario Deployment has strategy $expected"
    else
        fail "$scenario Deployment strategy"
    fi
done

echo "== sidecar placement by Kubernetes version"
if "$python" scripts/helm_config.py sidecar-placement \
    "$out/sidecar-$KUBERNETES_VERSION.yaml" initContainers \
    && "$python" scripts/helm_config.py sidecar-placement \
        "$out/sidecar-$OLD_KUBERNETES_VERSION.yaml" containers; then
    pass "native sidecar on $KUBERNETES_VERSION, plain container on $OLD_KUBERNETES_VERSION"
else
    fail "sidecar placement by Kubernetes version"
fi

echo "== a parent chart that includes the sidecar templates"
parent=tests/helm/parent-chart
rm -rf "$parent/charts" "$parent/Chart.lock"
for version in "$KUBERNETES_VERSION" "$OLD_KUBERNETES_VERSION"; do
    manifest="$out/parent-$version.yaml"
    if helm dependency build "$parent" > /dev/null \
        && helm template shop "$parent" --kube-version "$version" > "$manifest" \
        && "$validate" --strict --quiet --kubernetes-version "$version" "$manifest" \
        && "$python" scripts/helm_config.py checksum "$manifest" \
        && HONEYCOMB_API_KEY=test-key "$python" scripts/helm_config.py validate "$burnrate" \
            "$manifest" "$out/config-parent-$version"; then
        pass "parent chart with the sidecar for Kubernetes $version"
    else
        fail "parent chart with the sidecar for Kubernetes $version"
    fi
done

echo "== snippets in docs/kubernetes.md equal the parent chart"
# Print the lines between the markers "snippet-begin NAME" and
# "snippet-end NAME" of a file, without Markdown code fences and without the
# begin marker's indentation (a code block inside a Markdown list item).
snippet() {
    awk -v name="$2" '
        $0 ~ "snippet-end " name { inside = 0 }
        inside && !/^ *```/ { print substr($0, indent + 1) }
        $0 ~ "snippet-begin " name { inside = 1; indent = match($0, /[^ ]/) - 1 }
    ' "$1"
}
for pair in sidecar-template:templates/deployment.yaml sidecar-values:values.yaml; do
    name="${pair%%:*}"
    source="$parent/${pair#*:}"
    if [ -z "$(snippet "$source" "$name")" ]; then
        fail "no snippet $name in $source"
    elif diff -u <(snippet "$source" "$name") <(snippet docs/kubernetes.md "$name"); then
        pass "snippet $name of docs/kubernetes.md equals $source"
    else
        fail "snippet $name of docs/kubernetes.md differs from $source; copy it over"
    fi
done

echo "== value combinations that the chart rejects"
# Each case: the arguments and a part of the expected error message.
rejected_cases=(
    "--set service.enabled=true|service.enabled=true needs mode=standalone"
    "--set serviceMonitor.enabled=true|serviceMonitor.enabled=true needs mode=standalone"
    "--set mode=standalone --set exampleWorkload.enabled=true|exampleWorkload.enabled=true needs mode=sidecar"
    "--set sidecar.metricsHost=127.0.0.1|is reachable only inside the pod"
    "--values $chart/ci/disk-queue-values.yaml --set queueVolume.enabled=false|storage=disk needs a volume"
    "--values $chart/ci/disk-queue-values.yaml --set config.exporters[0].sending_queue.directory=/tmp/queue|is not on the queue volume"
    "--values $chart/ci/disk-queue-values.yaml --set standalone.replicas=2|only one pod can use the claim"
    "--set unknownKey=1|additional properties 'unknownKey' not allowed"
    "--set config.ledger.budget=1|additional properties 'budget' not allowed"
    "--set mode=daemonset|mode"
)
for case in "${rejected_cases[@]}"; do
    arguments="${case%%|*}"
    expected="${case#*|}"
    # shellcheck disable=SC2086 # the arguments are split on purpose
    if output="$(helm template burnrate "$chart" $arguments 2>&1)"; then
        fail "helm template $arguments rendered, but should fail with: $expected"
    elif grep -qF -- "$expected" <<< "$output"; then
        pass "helm template $arguments fails with: $expected"
    else
        fail "helm template $arguments failed with another message: $output"
    fi
done

echo "== Dockerfile with hadolint"
# The image itself is not built here: there is no container engine.
if "$(dirname "$python")/hadolint" Dockerfile; then
    pass "hadolint Dockerfile"
else
    fail "hadolint Dockerfile"
fi

echo "== deploy/ matches the chart"
render_deploy "$out/deploy"
for file in standalone.yaml sidecar.yaml grafana-dashboard.yaml; do
    if diff -u "deploy/$file" "$out/deploy/$file"; then
        pass "deploy/$file matches the chart"
    else
        fail "deploy/$file differs from the chart; run scripts/helm.sh generate"
    fi
done

echo "helm: $((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
