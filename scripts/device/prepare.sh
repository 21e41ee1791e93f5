#!/usr/bin/env bash
# Prepares HERE everything the device run needs THERE (docs/device-runs.md): assembled in
# $BUILD/bundle and packed into device-bundle/payload.tar.xz (device-bundle/ is ignored by git:
# .gitignore and .git/info/exclude; the `run` call carries it; run.sh unpacks it there):
#   bin/ingot, bin/ingot_bench_cuda_kernels   the runtime alone (cmake -S runtime, Release, no MLIR),
#                  libstdc++/libgcc and pcre2/xxhash/utf8proc/OpenBLAS/libgomp/libgfortran linked
#                  statically; cpp-httplib (Debian ships no static one) and what it needs in lib/,
#                  found through an rpath of $ORIGIN/../lib; no CUDA library (libcuda is dlopen'ed there)
#   kernels/       the kernel checks' module: bench_kernels.cu (scripts/device/gen_bench_tu.py) compiled
#                  by ingot-nvrtc to sm_80/sm_90/sm_90a cubins + compute_90 PTX, and its manifest
#   llama-1b.manifest.json   sizes and SHA-256 of the 1B checkpoint made here (make_checkpoint.py)
#   plans/         ingotc --target sm_90a,sm_90 --dtype bf16 --weights=external: every fixture of
#                  test/fixtures and the Llama-3.2-1B-shaped model (weights bound THERE with --weights)
#   BUILD-INFO.txt what was built from what
# Steps run in that order; a failing step says so and the later ones still run; the exit status is 1
# when any step failed (the plans step fails until ingotc has --target sm_90a).
#
# Usage: scripts/device/prepare.sh [--ingotc PATH] [--nvrtc PATH] [--python PATH] [--build-dir DIR]
#                                  [--ckpt DIR] [--skip-checkpoint] [--jobs N]
# Defaults: ingotc and ingot-nvrtc from /work/main/build/bin (or $INGOTC / $INGOT_NVRTC), python
# /work/venv-dev/bin/python (torch + transformers, for the checkpoint), build dir
# /tmp/ingot-device-build, checkpoint /tmp/ingot-device/llama-1b.
set -u -o pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
INGOTC=${INGOTC:-/work/main/build/bin/ingotc}
NVRTC=${INGOT_NVRTC:-}
PY=${PYTHON:-/work/venv-dev/bin/python}
BUILD=/tmp/ingot-device-build
CKPT=/tmp/ingot-device/llama-1b
SKIP_CKPT=0
JOBS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --ingotc) INGOTC=$2; shift 2 ;;
    --nvrtc) NVRTC=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --ckpt) CKPT=$2; shift 2 ;;
    --skip-checkpoint) SKIP_CKPT=1; shift ;;
    --jobs) JOBS=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "prepare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$NVRTC" ] || NVRTC=$(dirname "$INGOTC")/ingot-nvrtc
# The bundle is assembled (and runnable) in $BUILD/bundle; device-bundle/ gets it packed as one
# payload.tar.xz (the stripped binaries are ~35 MiB, ~5 as xz, and the working tree that travels is
# ~30 MiB already, of a 64 MiB limit) plus BUILD-INFO.txt; run.sh unpacks it there.
BUNDLE=$BUILD/bundle
CARRY=$REPO/device-bundle
FAILED=()
step() { echo; echo "=== prepare: $*"; }
fail() { echo "prepare: FAILED: $*" >&2; FAILED+=("$1"); }

# Never let the bundle be committed, in this checkout and its worktrees alike.
EXCLUDE="$(git -C "$REPO" rev-parse --git-common-dir 2>/dev/null)/info/exclude"
case "$EXCLUDE" in /*) ;; *) EXCLUDE="$REPO/$EXCLUDE" ;; esac
if [ -d "$(dirname "$(dirname "$EXCLUDE")")" ] && ! grep -qsx '/device-bundle/' "$EXCLUDE"; then
  mkdir -p "$(dirname "$EXCLUDE")" && echo '/device-bundle/' >>"$EXCLUDE"
fi
rm -rf "$BUNDLE" "$CARRY"
mkdir -p "$BUNDLE/bin" "$BUNDLE/lib" "$BUNDLE/kernels" "$BUNDLE/plans" "$CARRY"

# ---------------------------------------------------------------------------------------------
step "1. runtime build ($BUILD)"
build_ok=1
cmake -S "$REPO/runtime" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DINGOT_BUILD_TESTS=OFF -DINGOT_BUILD_BENCHMARKS=OFF \
  -DCMAKE_PROJECT_INCLUDE="$REPO/scripts/device/static-deps.cmake" \
  "-DCMAKE_EXE_LINKER_FLAGS=-static-libstdc++ -static-libgcc -Wl,--disable-new-dtags" \
  >"$BUILD.configure.log" 2>&1 || { tail -30 "$BUILD.configure.log"; fail "cmake configure (log: $BUILD.configure.log)"; build_ok=0; }
TARGETS="ingot"
if [ $build_ok = 1 ]; then
  if ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q '^ingot_bench_cuda_kernels:'; then
    TARGETS="$TARGETS ingot_bench_cuda_kernels"
  else
    fail "no ingot_bench_cuda_kernels target: runtime/src/cuda/cuda_driver.h (the executor's driver table) is not in this tree yet"
  fi
  ninja -C "$BUILD" -j"$JOBS" $TARGETS || { fail "runtime build"; build_ok=0; }
fi

step "2. bundle binaries and libraries"
if [ $build_ok = 1 ]; then
  for t in $TARGETS; do
    cp "$BUILD/bin/$t" "$BUNDLE/bin/" && strip --strip-unneeded "$BUNDLE/bin/$t"
  done
  # Shared libraries that are neither glibc's nor CUDA's go into lib/ (found through the rpath).
  for b in "$BUNDLE"/bin/*; do
    ldd "$b" | awk '/=> \//{print $3}'
  done | sort -u | while read -r lib; do
    base=$(basename "$lib")
    case "$base" in
      libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libresolv.so*) ;;
      libcuda*|libcublas*|libnvrtc*|libcudart*|libnccl*|libnvidia*)
        echo "prepare: ERROR: $(basename "$b") links $base; CUDA libraries must be dlopen'ed there" >&2
        echo "$base" >>"$BUNDLE/.cuda-linked" ;;
      *) cp -L "$lib" "$BUNDLE/lib/$base" ;;
    esac
  done
  [ -f "$BUNDLE/.cuda-linked" ] && { fail "a binary links a CUDA library: $(cat "$BUNDLE/.cuda-linked")"; rm -f "$BUNDLE/.cuda-linked"; }
  strip --strip-unneeded "$BUNDLE"/lib/*.so* 2>/dev/null || true
  echo "--- what the binaries need (readelf -d):"
  for b in "$BUNDLE"/bin/*; do
    echo "$(basename "$b"): $(readelf -d "$b" | awk '/NEEDED/{gsub(/[\[\]]/,"",$5); printf "%s ", $5}')"
    readelf -d "$b" | grep -E 'RPATH|RUNPATH' | sed 's/^ */  /'
    # Every dependency must resolve from lib/ or the system's glibc, with no help from this machine's paths.
    missing=$(env -i LD_LIBRARY_PATH= ldd "$b" | grep 'not found' || true)
    [ -z "$missing" ] || fail "$(basename "$b"): $missing"
    outside=$(ldd "$b" | awk '/=> \//{print $3}' | xargs -r realpath | grep -v "^$(realpath "$BUNDLE/lib")/" |
              grep -Ev '/(libc|libm|libdl|libpthread|librt|libresolv)\.so' || true)
    [ -z "$outside" ] || fail "$(basename "$b") would load from outside the bundle: $outside"
  done
  echo "lib/: $(ls "$BUNDLE/lib" | tr '\n' ' ')"
  "$BUNDLE/bin/ingot" --help >/dev/null 2>&1 || fail "device-bundle/bin/ingot --help does not run here"
fi

# ---------------------------------------------------------------------------------------------
step "3. kernel module of the checks ($NVRTC)"
if python3 "$REPO/scripts/device/gen_bench_tu.py" "$REPO/runtime/cuda/kernels" \
     "$BUNDLE/kernels/bench_kernels.cu" "$BUNDLE/kernels/bench_kernels.json"; then
  if ! grep -q INGOT_DEFINE "$BUNDLE/kernels/bench_kernels.cu"; then
    fail "no kernel family with INGOT_DEFINE_* macros in runtime/cuda/kernels yet: no module"
  elif [ ! -x "$NVRTC" ]; then
    fail "ingot-nvrtc not found at $NVRTC (--nvrtc PATH)"
  else
    "$NVRTC" "$BUNDLE/kernels/bench_kernels.cu" -I "$REPO/runtime/cuda/kernels" --arch sm_80,sm_90,sm_90a \
      --ptx --no-cache -o "$BUNDLE/kernels" || fail "ingot-nvrtc (compile errors above)"
  fi
else
  fail "gen_bench_tu.py"
fi

# ---------------------------------------------------------------------------------------------
step "4. Llama-3.2-1B-shaped checkpoint ($CKPT)"
if [ $SKIP_CKPT = 1 ]; then
  echo "skipped (--skip-checkpoint)"
  [ -f "$CKPT/llama-1b.manifest.json" ] && cp "$CKPT/llama-1b.manifest.json" "$BUNDLE/"
else
  # Reused when a manifest kept beside it says the files are the ones it describes.
  if [ -f "$CKPT/llama-1b.manifest.json" ] &&
     "$PY" "$REPO/scripts/device/make_checkpoint.py" --out "$CKPT" --manifest "$CKPT/llama-1b.manifest.json" --reuse \
       2>&1 | grep -q reusing; then
    echo "reusing $CKPT"
  else
    "$PY" "$REPO/scripts/device/make_checkpoint.py" --out "$CKPT" --manifest "$CKPT/llama-1b.manifest.json" \
      || fail "make_checkpoint.py"
  fi
  [ -f "$CKPT/llama-1b.manifest.json" ] && cp "$CKPT/llama-1b.manifest.json" "$BUNDLE/"
fi

# ---------------------------------------------------------------------------------------------
step "5. plans ($INGOTC --target sm_90a,sm_90 --dtype bf16 --weights=external)"
plan_one() { # name checkpoint-dir [extra ingotc args]
  local name=$1 dir=$2; shift 2
  local t0=$(date +%s.%N)
  if "$INGOTC" "$dir" --target sm_90a,sm_90 --dtype bf16 --weights=external "$@" \
       -o "$BUNDLE/plans/$name.plan" >"$BUNDLE/plans/$name.log" 2>&1; then
    printf '  %-14s %8s bytes  %.1f s\n' "$name" "$(stat -c %s "$BUNDLE/plans/$name.plan")" \
      "$(echo "$(date +%s.%N) - $t0" | bc)"
    rm -f "$BUNDLE/plans/$name.log"
    return 0
  fi
  cat "$BUNDLE/plans/$name.log" >&2
  return 1
}
if [ ! -x "$INGOTC" ]; then
  fail "plans: ingotc not found at $INGOTC (--ingotc PATH: the main build's, which needs MLIR)"
else
  probe=$("$INGOTC" "$REPO/test/fixtures/llama" --target sm_90a,sm_90 --dtype bf16 --weights=external \
            -o /tmp/ingot-prepare-probe.plan 2>&1) || true
  if echo "$probe" | grep -qiE "target .*(not|only|unknown)|Unknown command line argument '--dtype|cuda targets come"; then
    echo "$probe" | head -3 >&2
    fail "plans: $INGOTC cannot compile for sm_90a yet (ingotc --target sm_90a / --dtype bf16 land with issue 5's compiler part); rebuild the main build after that merge and rerun"
  else
    plans_ok=1
    for d in "$REPO"/test/fixtures/*/; do
      [ -f "$d/config.json" ] || continue
      plan_one "$(basename "$d")" "$d" || { fail "plan $(basename "$d")"; plans_ok=0; }
    done
    if [ -f "$CKPT/config.json" ]; then
      plan_one llama-1b "$CKPT" || fail "plan llama-1b"
    else
      fail "plan llama-1b: no checkpoint at $CKPT"
    fi
  fi
  rm -f /tmp/ingot-prepare-probe.plan
fi

# ---------------------------------------------------------------------------------------------
step "6. summary"
{
  echo "built $(date -u +%FT%TZ) on $(uname -srm) from $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet 2>/dev/null || echo '+changes')"
  echo "ingotc: $INGOTC"
  echo "ingot-nvrtc: $NVRTC"
  echo "checkpoint: $CKPT"
  echo "failed steps: ${FAILED[*]:-none}"
} >"$BUNDLE/BUILD-INFO.txt"
cp "$BUNDLE/BUILD-INFO.txt" "$CARRY/"
[ -f "$BUNDLE/llama-1b.manifest.json" ] && cp "$BUNDLE/llama-1b.manifest.json" "$CARRY/"
du -ah "$BUNDLE" | sort -k2 | sed "s|$BUILD/||"
unpacked=$(du -sb "$BUNDLE" | cut -f1)
tar -C "$BUNDLE" -cf - . | xz -T0 -6 >"$CARRY/payload.tar.xz" || fail "packing device-bundle/payload.tar.xz"
total=$(du -sb "$CARRY" | cut -f1)
tree=$(git -C "$REPO" ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
echo "bundle: $((unpacked / 1048576)) MiB unpacked ($BUNDLE), device-bundle/ $((total / 1048576)) MiB packed"
echo "working tree that travels (tracked + untracked, not ignored): $((tree / 1048576)) MiB; with device-bundle/: $(((tree + total) / 1048576)) MiB of 64"
[ $((tree + total)) -lt $((60 * 1048576)) ] || fail "working tree + device-bundle/ is $(((tree + total) / 1048576)) MiB, over 60 MiB"
if [ ${#FAILED[@]} -gt 0 ]; then
  echo; echo "prepare: ${#FAILED[@]} step(s) FAILED:"; printf '  - %s\n' "${FAILED[@]}"
  exit 1
fi
echo; echo "prepare: device-bundle/ ready. Test the scripts here first:"
echo "  /work/venv-dev/bin/python scripts/device/check_and_bench.py --cpu-dry-run --bundle $BUNDLE"
echo "then make the call in docs/device-runs.md."
