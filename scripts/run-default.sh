#!/usr/bin/env bash
# Sets up, builds, compiles the bundled default model to a plan and generates
# text from a prompt: ./scripts/run-default.sh "The hacker"
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
./scripts/build.sh >/dev/null
./build/bin/ingotc models/default -o build/default.plan
./build/bin/ingot run build/default.plan --prompt "${1:-And the LORD said}" --max-tokens "${2:-80}" \
  --temperature 0.8 --top-p 0.95 --seed 1
