#!/usr/bin/env bash
# Sets up, builds and runs every test: GoogleTest unit tests, lit (dialect,
# passes, DSL, tools) and the end-to-end tests against the fixtures' Hugging
# Face references. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
