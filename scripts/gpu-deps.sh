#!/usr/bin/env bash
# Fetches, here, the Debian packages the CUDA build needs on a GPU machine
# that has no network and none of attnmc's -dev packages (issue 13):
#   scripts/gpu-deps.sh [DIR]          (DIR defaults to .gpudeps at the repo root)
# then, on the GPU machine: carry [".gpudeps"] and run scripts/gpu-check.sh,
# which unpacks them into a private prefix (never into /).
#
# What it downloads (apt-get download: .deb files only, nothing installed):
# - the -dev packages of README.md's build dependencies, less the ones the
#   GPU image has (compiler, CMake, CUDA) and Google Benchmark (unused);
# - the runtime libraries they need: the Debian packages that own every
#   shared library the dependencies' own libraries load (found here with ldd
#   on the installed copies, mapped to packages with dpkg -S), less the C and
#   C++ runtimes (libc6, libstdc++6, libgcc-s1, libgomp1) that any machine
#   with g++ has. gpu-check.sh puts only those the GPU machine lacks on its
#   library path, so system copies win wherever they exist.
# Needs the -dev packages installed here (scripts/dev.sh deps) and apt access.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$ROOT/.gpudeps}
MULTIARCH=x86_64-linux-gnu
LIBDIR=/usr/lib/$MULTIARCH

# Build-time packages: headers, CMake configs, link-time .so links.
DEV=(libhdf5-dev libopenblas-pthread-dev librandom123-dev libgtest-dev
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libssl-dev)
# Libraries whose runtime closure we carry (the ones attnmc links).
ROOTS=("$LIBDIR/libhdf5_serial.so.103" "$LIBDIR/openblas-pthread/libopenblas.so.0"
  "$LIBDIR/libtomlplusplus.so.3" "$LIBDIR/libcrypto.so.3" "$LIBDIR/libssl.so.3")
# Runtimes every g++ machine has (and that must match its compiler).
SKIP='^(libc6|libstdc\+\+6|libgcc-s1|libgomp1)$'

for f in "${ROOTS[@]}"; do
  [ -e "$f" ] || {
    echo "gpu-deps: $f missing here; run scripts/dev.sh deps first" >&2
    exit 2
  }
done

runtime=()
while read -r pkg; do
  [[ $pkg =~ $SKIP ]] || runtime+=("$pkg")
done < <(
  for f in "${ROOTS[@]}"; do
    echo "$f"
    ldd "$f" | awk '/=> \//{print $3}'
  done | sort -u | while read -r lib; do
    real=$(readlink -f "$lib")
    # dpkg knows the path the package shipped (/usr/lib or /lib).
    dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "$lib" 2>/dev/null ||
      echo "gpu-deps: no package owns $lib" >&2
  done | cut -d: -f1 | sort -u
)

mkdir -p "$DIR"
rm -f "$DIR"/*.deb
if ! (cd "$DIR" && apt-get download -q "${DEV[@]}" "${runtime[@]}" >/dev/null); then
  echo "gpu-deps: apt-get download failed; trying after apt-get update" >&2
  apt-get update -q >/dev/null
  (cd "$DIR" && apt-get download -q "${DEV[@]}" "${runtime[@]}" >/dev/null)
fi

echo "gpu-deps: build packages: ${DEV[*]}"
echo "gpu-deps: runtime packages: ${runtime[*]}"
echo "gpu-deps: $(ls "$DIR"/*.deb | wc -l) .deb files, $(du -sh "$DIR" | cut -f1) in $DIR" \
  "(carry limit: 64 MiB with the working tree)"
