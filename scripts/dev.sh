#!/usr/bin/env bash
# One entry point for a fresh machine: installs what is missing (Debian
# packages, Python plotting/reading tools), configures and builds, then
#   scripts/dev.sh run                             runs the default experiment
#   scripts/dev.sh run [attnmc run arguments...]   runs `attnmc run` with them
#   scripts/dev.sh test                            runs the test suite
#   scripts/dev.sh build                           only builds
# Environment: BUILD_DIR (default build), ATTNMC_CUDA (AUTO|ON|OFF, default AUTO),
# ATTNMC_MPI (AUTO|ON|OFF, default AUTO).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
ATTNMC_CUDA=${ATTNMC_CUDA:-AUTO}
JOBS=${JOBS:-$(nproc)}

# Debian packages the build needs (the CUDA toolkit comes with the machine image).
DEB_PACKAGES=(cmake g++ make libomp-dev libgtest-dev libbenchmark-dev librandom123-dev
  libopenblas-dev libhdf5-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libssl-dev python3-pip
  python3-dev)
# Open MPI: one ensemble or sweep over processes, GPUs and nodes (host/mpi/; ATTNMC_MPI=OFF builds without).
DEB_PACKAGES+=(libopenmpi-dev openmpi-bin)
# PyPI packages by import name; the pip name where it differs after a colon.
PY_PACKAGES=(numpy matplotlib h5py scipy
  nanobind scikit_build_core:scikit-build-core pytest threadpoolctl tqdm)  # the Python package, its tests
# Eigen: the oversmoothing family's eigen-decompositions (host, double).
DEB_PACKAGES+=(libeigen3-dev)
# LBFGS++ (header-only): the attention-paths saddle point's L-BFGS (host/paths/theory/).
DEB_PACKAGES+=(liblbfgspp-dev)
# Serial OpenBLAS: no worker threads spinning at start-up (CMakeLists.txt prefers it).
DEB_PACKAGES+=(libopenblas-serial-dev)

install_deps() {
  local missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >/dev/null
  fi
  local pymissing=()
  for p in "${PY_PACKAGES[@]}"; do
    python3 -c "import ${p%%:*}" >/dev/null 2>&1 || pymissing+=("${p#*:}")
  done
  if ((${#pymissing[@]})); then
    echo "setup: pip installing ${pymissing[*]}" >&2
    python3 -m pip install -q "${pymissing[@]}" >/dev/null 2>&1 ||
      python3 -m pip install -q --break-system-packages "${pymissing[@]}" >/dev/null
  fi
}

build() {
  if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
    export CUDACXX=/usr/local/cuda/bin/nvcc
  fi
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DATTNMC_CUDA="$ATTNMC_CUDA" \
    -DATTNMC_MPI="${ATTNMC_MPI:-AUTO}" >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

cmd=${1:-run}
shift || true
install_deps
build
case "$cmd" in
  run)
    if (($#)); then exec "$BUILD_DIR/attnmc" run "$@"; fi
    # The default experiment: the shaped-attention ensemble (out/default), then
    # finite widths against the covariance SDE limit (out/compare).
    "$BUILD_DIR/attnmc" run --force
    exec "$BUILD_DIR/attnmc" compare --force -o out/compare ;;
  test) cd "$BUILD_DIR" && exec ctest --output-on-failure -j "$JOBS" "$@" ;;
  build) ;;
  *) echo "usage: scripts/dev.sh run|test|build" >&2; exit 2 ;;
esac
