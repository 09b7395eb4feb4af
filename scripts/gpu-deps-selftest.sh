#!/usr/bin/env bash
# Shows, on this (Debian, root) machine, that a build against only the
# packages in .gpudeps works, as it must on a GPU machine that lacks them
# (issue 13):
#   scripts/gpu-deps-selftest.sh [--cuda-configure] [--build-dir B]
# 1. runs scripts/gpu-deps.sh when .gpudeps holds no .deb;
# 2. unpacks them into B/deps-root (default B: build-deps-selftest), the way
#    gpu-check.sh does (scripts/gpu-deps-env.sh);
# 3. in a private mount namespace (unshare -m) hides every file this
#    machine's copies of those packages installed (and HDF5's h5cc wrapper)
#    under an empty /dev/null bind mount: a find_* or a loader that still
#    reaches a system copy gets an empty file and the build or run fails;
# 4. there, configures a fresh B (CPU build; with --cuda-configure also a
#    CUDA configure in B-cuda, nvcc needed), checks that every dependency
#    CMake found lies under the prefix, builds attnmc and test_output_dir
#    (HDF5, TOML, JSON, OpenSSL, OpenBLAS, GoogleTest) and runs them, and
#    checks with ldd that the hidden libraries were loaded from the prefix.
# Exit 0 when all of that holds. Needs root (unshare, mount) and the -dev
# packages installed here (to know what to hide). Minutes on 2 cores.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-deps-selftest
CUDA_CONFIGURE=0
while (($#)); do
  case "$1" in
    --cuda-configure) CUDA_CONFIGURE=1 ;;
    --build-dir)
      shift
      BUILD=$1
      ;;
    *)
      echo "usage: $0 [--cuda-configure] [--build-dir B]" >&2
      exit 2
      ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || {
  echo "gpu-deps-selftest: needs root (unshare -m, mount --bind)" >&2
  exit 2
}
DEBS=$ROOT/.gpudeps
ls "$DEBS"/*.deb >/dev/null 2>&1 || "$ROOT/scripts/gpu-deps.sh" "$DEBS"
mkdir -p "$BUILD"
PREFIX=$BUILD/deps-root

# shellcheck source=gpu-deps-env.sh
source "$ROOT/scripts/gpu-deps-env.sh"
gpu_deps_setup "$DEBS" "$PREFIX" # unpack while dpkg-deb's libraries are visible

# Files this machine's copies of the carried packages installed.
HIDE=$BUILD/hidden.txt
for deb in "$DEBS"/*.deb; do
  pkg=$(dpkg-deb -f "$deb" Package)
  dpkg -L "$pkg" 2>/dev/null || true
done | grep -E '^(/usr)?/(include|lib|share/cmake)/' | sort -u | while read -r f; do
  [ -f "$f" ] && [ ! -L "$f" ] && echo "$f"
done >"$HIDE"
command -v h5cc >/dev/null && readlink -f "$(command -v h5cc)" >>"$HIDE"
echo "gpu-deps-selftest: hiding $(wc -l <"$HIDE") system files of $(ls "$DEBS"/*.deb | wc -l) packages"

export ROOT BUILD PREFIX DEBS HIDE CUDA_CONFIGURE
exec unshare -m --propagation private bash -euo pipefail -c '
  while read -r f; do mount --bind /dev/null "$f"; done <"$HIDE"
  for f in /usr/include/hdf5/serial/hdf5.h /usr/include/Random123/philox.h \
           /usr/include/gtest/gtest.h /usr/include/toml++/toml.h \
           /usr/include/nlohmann/json.hpp /usr/include/CLI/CLI.hpp \
           /usr/include/openssl/evp.h /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h; do
    [ ! -s "$f" ] || { echo "gpu-deps-selftest: $f is still visible" >&2; exit 1; }
  done
  source "$ROOT/scripts/gpu-deps-env.sh"
  gpu_deps_setup "$DEBS" "$PREFIX"
  echo "gpu-deps-selftest: $GPU_DEPS_SUMMARY"

  check_cache() {  # every dependency CMake found lies under the prefix
    local cache=$1 bad
    bad=$(grep -E "^(HDF5_[A-Za-z_]*(INCLUDE_DIR|LIBRARY_RELEASE)|OPENSSL_(INCLUDE_DIR|CRYPTO_LIBRARY)|RANDOM123_INCLUDE_DIR|OPENBLAS_(CBLAS_DIR|LIBRARY)|GTest_DIR|nlohmann_json_DIR|tomlplusplus_DIR|CLI11_DIR):" "$cache" |
          grep -v "=$PREFIX/" || true)
    if [ -n "$bad" ]; then echo "gpu-deps-selftest: found outside the prefix:"; echo "$bad"; exit 1; fi
    echo "gpu-deps-selftest: every dependency in $cache is under the prefix"
  }

  rm -rf "$BUILD/cmake"
  cmake -S "$ROOT" -B "$BUILD/cmake" -G Ninja -DCMAKE_BUILD_TYPE=Release -DATTNMC_CUDA=OFF \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache "${GPU_DEPS_CMAKE_ARGS[@]}" >"$BUILD/configure.log"
  check_cache "$BUILD/cmake/CMakeCache.txt"
  if [ "$CUDA_CONFIGURE" = 1 ]; then
    rm -rf "$BUILD/cmake-cuda"
    cmake -S "$ROOT" -B "$BUILD/cmake-cuda" -G Ninja -DCMAKE_BUILD_TYPE=Release -DATTNMC_CUDA=ON \
      -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc "${GPU_DEPS_CMAKE_ARGS[@]}" >"$BUILD/configure-cuda.log"
    check_cache "$BUILD/cmake-cuda/CMakeCache.txt"
  fi
  cmake --build "$BUILD/cmake" -j "$(nproc)" --target attnmc test_output_dir >"$BUILD/build.log"
  "$BUILD/cmake/attnmc" --help >/dev/null
  "$BUILD/cmake/tests/test_output_dir" --gtest_brief=1
  ldd "$BUILD/cmake/attnmc" "$BUILD/cmake/tests/test_output_dir" >"$BUILD/ldd.txt"
  for so in libhdf5_serial.so.103 libopenblas.so.0 libtomlplusplus.so.3 libcrypto.so.3 libsz.so.2 libcurl.so.4; do
    grep -q "$so => $PREFIX/runtime-lib/" "$BUILD/ldd.txt" ||
      { echo "gpu-deps-selftest: $so not loaded from the prefix:"; grep "$so" "$BUILD/ldd.txt"; exit 1; }
  done
  if grep -q "not found" "$BUILD/ldd.txt"; then grep "not found" "$BUILD/ldd.txt"; exit 1; fi
  echo "gpu-deps-selftest: pass (attnmc and test_output_dir built and ran against $PREFIX alone)"
'
