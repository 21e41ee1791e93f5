#!/usr/bin/env bash
# The device run (docs/device-runs.md): runs THERE, in the repository copy on the GPU machine, as the
# one command of a `run` call with device-bundle carried. Writes everything under $OUT (at most 8
# files come back): run.log (all output), check_and_bench.log, results.json, checkpoint.log,
# nvidia-smi.txt. The table comes last on stdout.
#   bash scripts/device/run.sh [BUDGET_S]      (default 420: seconds for check_and_bench.py's stages)
# The 1B checkpoint is regenerated there (make_checkpoint.py, same seed, same bytes as the one the
# plan was compiled against) in the background while the kernel checks run.
set -u -o pipefail
BUDGET=${1:-420}
OUT=${OUT:-/tmp/ingot-device-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/../.."
if [ -f device-bundle/payload.tar.xz ]; then
  tar -C device-bundle -xJf device-bundle/payload.tar.xz || echo "run.sh: cannot unpack device-bundle/payload.tar.xz"
fi
{
  echo "run.sh: $(date -u +%FT%TZ) budget ${BUDGET}s in $(pwd)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem,temperature.gpu,power.draw \
    --format=csv 2>&1 || echo "nvidia-smi failed"
  [ -f device-bundle/BUILD-INFO.txt ] && cat device-bundle/BUILD-INFO.txt || echo "run.sh: no device-bundle/ (carry it)"
  ls device-bundle/bin device-bundle/plans 2>&1 | tr '\n' ' '; echo
  # The binaries run here? (a glibc or library mismatch shows now, not in the middle)
  device-bundle/bin/ingot --help >/dev/null 2>&1 && echo "ingot runs" || { echo "ingot does not run here:"; ldd device-bundle/bin/ingot 2>&1 | grep -v '=> /' ; device-bundle/bin/ingot --help 2>&1 | head -3; }
} 2>&1 | tee "$OUT/nvidia-smi.txt"
# The stages keep to BUDGET themselves; the hard limit only catches a hang (SIGTERM makes the script
# print its table and write results.json before it exits).
timeout -k 15 $((BUDGET + 60)) python3 scripts/device/check_and_bench.py --bundle device-bundle --out "$OUT" \
  --budget "$BUDGET" 2>&1 | tee "$OUT/run.log"
rc=${PIPESTATUS[0]}
echo "run.sh: check_and_bench.py exit $rc; files in \$OUT: $(ls "$OUT" | tr '\n' ' ')"
exit "$rc"
