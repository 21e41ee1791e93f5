#!/usr/bin/env bash
# Installs everything a fresh Debian 12 machine needs to build and test Ingot:
# Debian packages (MLIR/LLVM 22 and the libraries in shared/TOOLCHAIN.md) and a
# Python venv (.venv) with the test tooling from PyPI. Safe to run again: it
# only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  cmake ninja-build ccache g++ pkg-config python3-venv
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools
  libflatbuffers-dev flatbuffers-compiler
  nlohmann-json3-dev libcpp-httplib-dev libcli11-dev
  libopenblas-dev libpcre2-dev libxxhash-dev libutf8proc-dev
  libgtest-dev libbenchmark-dev
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python test tooling (never torch/transformers: those are for fixture scripts).
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import numpy, safetensors, tokenizers, pytest" 2>/dev/null \
   || [ requirements-test.txt -nt .venv/.installed ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements-test.txt
  touch .venv/.installed
fi
echo "setup: ok"
