#!/usr/bin/env bash
# One-call check of the CUDA backend on the GPU of this machine (issue 13):
#   scripts/gpu-check.sh [--dry-run] [--build-dir B] [--jobs N] DIR
# 1. configures B (default build-gpu-check) for this GPU only
#    (CMAKE_CUDA_ARCHITECTURES from nvidia-smi's compute capability, else
#    "native") and builds everything with all cores (ccache when present);
# 2. runs every `gpu`-labelled suite (the *_gpu twins of the CPU suites),
#    then the CPU-vs-CUDA agreement suite (tests/test_agreement.cpp) with
#    its figures kept (agreement.xml);
# 3. runs each benchmark binary with `--device cuda --quick` (seconds each);
# 4. writes DIR/report.json and DIR/report.md (device, driver, toolkit,
#    commit, every step's status and time, the test counts, every benchmark
#    line, the ptxas resource lines of the kernels when they were compiled)
#    plus the raw logs, and exits 0 only when every step passed.
# Needs no network: the repository tree (and, to save build time, a build
# dir configured for the same GPU and carried along) is all it uses. It does
# need the build dependencies of README.md (HDF5, OpenBLAS, Random123,
# GoogleTest, ...): the GPU image lacks them, so run scripts/gpu-deps.sh here
# first and carry .gpudeps (the Debian packages; unpacked into
# B/deps-root, see "dependencies" below). Without .gpudeps the system's
# packages are used, and where they are missing the configure step fails
# and report.md carries its log.
# Budget: under 8 minutes on one H100/H200 with 16 cores (each step has a
# time limit, cut to what is left of the 8 minutes; a step past it fails the
# check, benchmarks that would end past 8 minutes are not started
# (GPU_CHECK_BUDGET_S changes it); the report is written in every case).
#
# --dry-run does the same flow on the CPU: the OpenMP backend, no nvcc; the
# build dir is reused when already configured (CI passes its own), the gpu
# suites skip (no device) except the agreement suite, which then compares
# the CPU backend with itself at another thread count and chunking
# (ATTNMC_AGREEMENT_SELF_CHECK=1), and the benchmarks run with
# `--device cpu --smoke --threads 2` (tiny sizes: figures that mean nothing). ctest runs this as
# `gpu_check_dry_run`, so the script itself is tested in CI.
set -uo pipefail

usage() {
  echo "usage: $0 [--dry-run] [--build-dir B] [--jobs N] DIR" >&2
  exit 2
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DRY=0
BUILD=""
JOBS=$(nproc 2>/dev/null || echo 2)
OUT=""
while (($#)); do
  case "$1" in
    --dry-run) DRY=1 ;;
    --build-dir)
      shift
      [ $# -gt 0 ] || usage
      BUILD=$1
      ;;
    --jobs)
      shift
      [ $# -gt 0 ] || usage
      JOBS=$1
      ;;
    -h | --help) usage ;;
    -*) usage ;;
    *)
      [ -z "$OUT" ] || usage
      OUT=$1
      ;;
  esac
  shift
done
[ -n "$OUT" ] || usage
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
[ -n "$BUILD" ] || BUILD="$ROOT/build-gpu-check"
mkdir -p "$BUILD" || exit 2
BUILD=$(cd "$BUILD" && pwd)

START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET_S:-480}  # the whole check: 8 minutes
STEPS=()   # name|status|seconds|detail
FAILED=0

# JSON string of $1 (quotes, backslashes, control characters escaped).
json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  printf '"%s"' "$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')"
}

# step NAME LIMIT_S LOG COMMAND...: runs COMMAND under a time limit, output in LOG.
step() {
  local name=$1 limit=$2 log=$3
  shift 3
  local t0 rc status left
  t0=$(date +%s)
  # No step runs past the whole check's budget: a device call's time limit
  # would otherwise kill the script before it writes its report.
  left=$((BUDGET - (t0 - START)))
  if ((left < 10)); then
    STEPS+=("$name|fail (not run: the ${BUDGET} s budget is spent)|0|-")
    FAILED=1
    echo "gpu-check: $name: not run (budget spent)" >&2
    return 1
  fi
  ((limit <= left)) || limit=$left
  echo "gpu-check: $name ..." >&2
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  rc=$?
  status=pass
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    status="fail (over ${limit} s)"
  elif [ $rc -ne 0 ]; then
    status="fail (exit $rc)"
  fi
  [ "$status" = pass ] || FAILED=1
  STEPS+=("$name|$status|$(($(date +%s) - t0))|$(basename "$log")")
  echo "gpu-check: $name: $status" >&2
  return $rc
}

# ---------------------------------------------------------------- device
if ((DRY)); then
  DEVICE="cpu (dry run: OpenMP backend, $(nproc) cores)"
  DRIVER="none"
  ARCH="none"
  TOOLKIT="none"
  BENCH_DEVICE=cpu
  BENCH_SIZE=--smoke
  BENCH_EXTRA=(--threads 2)
  BENCH_LIMIT=120
else
  if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu-check: no NVIDIA GPU here (nvidia-smi fails); use --dry-run on a CPU machine" >&2
    exit 2
  fi
  DEVICE=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)
  DRIVER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)
  CC=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  ARCH=${CC:-native}
  [[ $ARCH =~ ^[0-9]+$ ]] || ARCH=native
  if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
    export CUDACXX=/usr/local/cuda/bin/nvcc
  fi
  TOOLKIT=$("${CUDACXX:-nvcc}" --version 2>/dev/null | grep -o 'release [0-9.]*' | head -1)
  BENCH_DEVICE=cuda
  BENCH_SIZE=--quick
  BENCH_EXTRA=()
  BENCH_LIMIT=90
fi
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo " (modified)")

# ---------------------------------------------------------------- dependencies
# The GPU image lacks attnmc's Debian -dev packages: scripts/gpu-deps.sh puts
# them (and the runtime libraries they need) in .gpudeps here, the device
# call carries that folder, and they are unpacked into BUILD/deps-root (never
# into /). When .gpudeps holds packages, headers and link-time libraries
# always come from there (the same build on any image); at run time only the
# libraries the system lacks are added to LD_LIBRARY_PATH
# (scripts/gpu-deps-env.sh). GPU_CHECK_DEPS=0 uses the system's alone.
DEPS_NOTE="system packages (no .gpudeps)"
((DRY)) && [ -f "$BUILD/CMakeCache.txt" ] && DEPS_NOTE="as configured in $BUILD"
DEPS_ARGS=()
if [ "${GPU_CHECK_DEPS:-1}" != 0 ] && ls "$ROOT/.gpudeps"/*.deb >/dev/null 2>&1 &&
  ! { ((DRY)) && [ -f "$BUILD/CMakeCache.txt" ]; }; then
  # shellcheck source=gpu-deps-env.sh
  source "$ROOT/scripts/gpu-deps-env.sh"
  t0=$(date +%s)
  echo "gpu-check: dependencies (.gpudeps) ..." >&2
  if gpu_deps_setup "$ROOT/.gpudeps" "$BUILD/deps-root" >"$OUT/deps.log" 2>&1; then
    DEPS_ARGS=("${GPU_DEPS_CMAKE_ARGS[@]}")
    DEPS_NOTE=$GPU_DEPS_SUMMARY
    status=pass
  else
    DEPS_NOTE="unpacking .gpudeps failed (deps.log)"
    status=fail
    FAILED=1
  fi
  echo "$DEPS_NOTE" >>"$OUT/deps.log"
  STEPS+=("dependencies (.gpudeps)|$status|$(($(date +%s) - t0))|deps.log")
  echo "gpu-check: dependencies: $status" >&2
fi

# ---------------------------------------------------------------- configure + build
LAUNCH=()
if command -v ccache >/dev/null 2>&1; then
  LAUNCH=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
# Ninja where there is one and the build dir is new (the image has ninja;
# make may be absent there).
if [ ! -f "$BUILD/CMakeCache.txt" ] && command -v ninja >/dev/null 2>&1; then
  LAUNCH+=(-G Ninja)
fi
if ((DRY)) && [ -f "$BUILD/CMakeCache.txt" ]; then
  # CI's own build dir: configured already, and reconfiguring it under a
  # running ctest would regenerate what other tests are using.
  STEPS+=("configure|pass (reused $BUILD)|0|-")
elif ((DRY)); then
  step configure 300 "$OUT/configure.log" cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
    -DATTNMC_CUDA=OFF "${LAUNCH[@]}" "${DEPS_ARGS[@]}"
else
  step configure 120 "$OUT/configure.log" cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
    -DATTNMC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" "${LAUNCH[@]}" "${DEPS_ARGS[@]}"
fi
BUILD_OK=0
if [ -f "$BUILD/CMakeCache.txt" ]; then
  step build 330 "$OUT/build.log" cmake --build "$BUILD" -j "$JOBS" && BUILD_OK=1
fi

# ---------------------------------------------------------------- tests
TESTS_SUMMARY="not run"
if ((BUILD_OK)); then
  export ATTNMC_AGREEMENT_SELF_CHECK=$DRY
  step "gpu suites" 240 "$OUT/ctest.log" \
    ctest --test-dir "$BUILD" -L gpu -E '^gpu[.]Agreement[.]' -j "$JOBS" --output-on-failure \
    --timeout 180
  TESTS_SUMMARY=$(grep -E 'tests passed|tests failed' "$OUT/ctest.log" | tail -1)
  SKIPPED=$(grep -c '(Skipped)' "$OUT/ctest.log")
  TESTS_SUMMARY="${TESTS_SUMMARY:-no summary} ($SKIPPED skipped)"
  # The agreement suite on its own, for its recorded figures (per comparison:
  # networks that disagree, bit-identical entries, worst error / tolerance).
  step "agreement suite" 240 "$OUT/agreement.log" "$BUILD/tests/test_agreement" \
    --gtest_output="xml:$OUT/agreement.xml"
  {
    grep -E '^\[ +(OK|SKIPPED|FAILED) +\]' "$OUT/agreement.log" | grep -v 'listed below' | sort -u
    grep -o 'name="[^"]*" value="[^"]*"' "$OUT/agreement.xml" 2>/dev/null |
      sed -E 's/name="([^"]*)" value="([^"]*)"/\1: \2/'
  } >"$OUT/agreement.txt"
fi

# ---------------------------------------------------------------- benchmarks
BENCHES=()
if ((BUILD_OK)); then
  for b in bench_direct bench_exact bench_sde bench_sphere bench_oversmoothing bench_gaussian; do
    exe="$BUILD/bench/$b"
    [ -x "$exe" ] || continue
    if (($(date +%s) - START > BUDGET - BENCH_LIMIT)); then
      # Past the budget: say so rather than overrun the device's time.
      STEPS+=("$b|fail (not run: the ${BUDGET} s budget is spent)|0|-")
      FAILED=1
      continue
    fi
    args=("$BENCH_SIZE")
    [ "$b" = bench_gaussian ] || args+=(--device "$BENCH_DEVICE" "${BENCH_EXTRA[@]}")
    [ "$b" = bench_sde ] && args+=(--no-numpy)
    step "$b ${args[*]}" "$BENCH_LIMIT" "$OUT/$b.txt" "$exe" "${args[@]}"
    BENCHES+=("$b")
  done
fi

# ---------------------------------------------------------------- report
TOTAL=$(($(date +%s) - START))
VERDICT=pass
((FAILED == 0)) || VERDICT=fail
grep -h 'ptxas info' "$OUT/build.log" 2>/dev/null >"$OUT/ptxas.txt"

{
  echo "{"
  echo "  \"verdict\": $(json_str "$VERDICT"),"
  echo "  \"dry_run\": $([ $DRY = 1 ] && echo true || echo false),"
  echo "  \"device\": $(json_str "$DEVICE"),"
  echo "  \"driver\": $(json_str "$DRIVER"),"
  echo "  \"cuda_architectures\": $(json_str "$ARCH"),"
  echo "  \"toolkit\": $(json_str "$TOOLKIT"),"
  echo "  \"commit\": $(json_str "$COMMIT${DIRTY}"),"
  echo "  \"cores\": $(nproc),"
  echo "  \"dependencies\": $(json_str "$DEPS_NOTE"),"
  echo "  \"seconds\": $TOTAL,"
  echo "  \"tests\": $(json_str "$TESTS_SUMMARY"),"
  echo "  \"steps\": ["
  n=${#STEPS[@]}
  for i in "${!STEPS[@]}"; do
    IFS='|' read -r name status secs log <<<"${STEPS[$i]}"
    sep=","
    [ $((i + 1)) -lt "$n" ] || sep=""
    echo "    {\"name\": $(json_str "$name"), \"status\": $(json_str "$status"), \"seconds\": $secs, \"log\": $(json_str "$log")}$sep"
  done
  echo "  ],"
  echo "  \"benchmarks\": {"
  n=${#BENCHES[@]}
  for i in "${!BENCHES[@]}"; do
    b=${BENCHES[$i]}
    sep=","
    [ $((i + 1)) -lt "$n" ] || sep=""
    echo "    $(json_str "$b"): ["
    lines=()
    while IFS= read -r line; do lines+=("$line"); done <"$OUT/$b.txt"
    m=${#lines[@]}
    for j in "${!lines[@]}"; do
      s2=","
      [ $((j + 1)) -lt "$m" ] || s2=""
      echo "      $(json_str "${lines[$j]}")$s2"
    done
    echo "    ]$sep"
  done
  echo "  },"
  echo "  \"agreement\": ["
  lines=()
  [ -f "$OUT/agreement.txt" ] && while IFS= read -r line; do lines+=("$line"); done <"$OUT/agreement.txt"
  m=${#lines[@]}
  for j in "${!lines[@]}"; do
    s2=","
    [ $((j + 1)) -lt "$m" ] || s2=""
    echo "    $(json_str "${lines[$j]}")$s2"
  done
  echo "  ],"
  echo "  \"ptxas\": $(json_str "$(cat "$OUT/ptxas.txt")")"
  echo "}"
} >"$OUT/report.json"

{
  echo "# attnmc GPU check: $VERDICT"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| device | $DEVICE |"
  echo "| driver | $DRIVER |"
  echo "| CUDA toolkit | $TOOLKIT |"
  echo "| architectures | $ARCH |"
  echo "| commit | $COMMIT${DIRTY} |"
  echo "| cores | $(nproc) |"
  echo "| dependencies | $DEPS_NOTE |"
  echo "| total | $TOTAL s |"
  echo "| tests | $TESTS_SUMMARY |"
  [ $DRY = 1 ] && echo "| mode | dry run (CPU, OpenMP backend) |"
  echo
  echo "| step | status | seconds | log |"
  echo "|---|---|---|---|"
  for s in "${STEPS[@]}"; do
    IFS='|' read -r name status secs log <<<"$s"
    echo "| $name | $status | $secs | $log |"
  done
  if [ -s "$OUT/agreement.txt" ]; then
    echo
    echo "## Agreement suite"
    echo
    echo '```'
    cat "$OUT/agreement.txt"
    echo '```'
  fi
  for b in "${BENCHES[@]}"; do
    echo
    echo "## $b"
    echo
    echo '```'
    cat "$OUT/$b.txt"
    echo '```'
  done
  # The end of each failed step's log: report.md alone says why (a device
  # call brings back few files).
  for s in "${STEPS[@]}"; do
    IFS='|' read -r name status secs log <<<"$s"
    [[ $status == fail* ]] && [ -f "$OUT/$log" ] || continue
    echo
    echo "## $name: $status (last 40 lines of $log)"
    echo
    echo '```'
    tail -n 40 "$OUT/$log"
    echo '```'
  done
  if [ -s "$OUT/ptxas.txt" ]; then
    echo
    echo "## Kernel resources (ptxas -v)"
    echo
    echo '```'
    cat "$OUT/ptxas.txt"
    echo '```'
  fi
} >"$OUT/report.md"

echo "gpu-check: $VERDICT in $TOTAL s; report in $OUT/report.md and $OUT/report.json" >&2
[ "$VERDICT" = pass ]
