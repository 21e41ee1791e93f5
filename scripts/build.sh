#!/usr/bin/env bash
# Configures (preset "default": Release, Ninja, ccache) and builds everything.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || cmake --preset default >/dev/null
cmake --build build -j"$(nproc)"
