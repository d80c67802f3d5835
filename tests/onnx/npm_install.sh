#!/bin/sh
# npm_install.sh DIR VERSION — the onnx.setup test: onnxruntime-node@VERSION into DIR/node_modules
# (a test-only tool, never a runtime dependency), unless that version is there already. Its
# install script would fetch optional GPU binaries from NuGet; the CPU ones ship in the npm
# package, so ONNXRUNTIME_NODE_INSTALL=skip. Fails (exit 1) when node or npm is missing or the
# package cannot be installed or loaded: the onnx.* tests need it.
set -eu
dir=$1
version=$2
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "onnx.setup: '$tool' not found; install Debian's nodejs and npm (./hsi setup does)" >&2
    exit 1
  fi
done
pkg="$dir/node_modules/onnxruntime-node/package.json"
if [ -f "$pkg" ] && node -e "process.exit(require('$pkg').version === '$version' ? 0 : 1)"; then
  echo "onnxruntime-node $version already in $dir"
else
  mkdir -p "$dir"
  ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix "$dir" --no-audit --no-fund --no-save \
    "onnxruntime-node@$version"
fi
node -e "const o = require('$dir/node_modules/onnxruntime-node');
         console.log('onnxruntime-node ' + o.env.versions.node + ' loads (node ' + process.version + ')')"
