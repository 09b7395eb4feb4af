# shellcheck shell=bash disable=SC2034  # GPU_DEPS_* are read by the scripts that source this
# Sourced by gpu-check.sh and gpu-deps-selftest.sh (issue 13): makes the
# Debian packages that scripts/gpu-deps.sh put in a folder usable by a CMake
# build on a machine that lacks them, without installing anything.
#
#   gpu_deps_setup DEBDIR PREFIX
#
# 1. unpacks every DEBDIR/*.deb into PREFIX (dpkg-deb -x, or ar + tar where
#    dpkg is absent); skipped when PREFIX already holds the same set;
# 2. PREFIX/runtime-lib: links to the carried shared libraries whose soname
#    the system lacks (ldconfig's cache names no non-empty file for it), so
#    system copies are never shadowed; LD_LIBRARY_PATH gets that folder
#    (the build needs it too: the linker resolves the libraries' own
#    dependencies, and gtest_discover_tests runs the tests after linking);
# 3. GPU_DEPS_CMAKE_ARGS: the -D options that point every find_* of
#    CMakeLists.txt at PREFIX first. Headers and link-time libraries always
#    come from PREFIX when DEBDIR has packages (the same build wherever it
#    runs); only the runtime libraries fall back to the system's.
# GPU_DEPS_SUMMARY says what was used, for the report. Returns 1 when
# DEBDIR holds no .deb, 2 when unpacking failed.

GPU_DEPS_MULTIARCH=x86_64-linux-gnu

# Unpacks one .deb's files under $2.
gpu_deps_unpack_one() {
  local deb=$1 dest=$2 member
  if command -v dpkg-deb >/dev/null 2>&1; then
    dpkg-deb -x "$deb" "$dest"
    return
  fi
  member=$(ar t "$deb" | grep '^data\.tar') || return 1
  case "$member" in
    *.xz) ar p "$deb" "$member" | tar -xJ -C "$dest" ;;
    *.zst) ar p "$deb" "$member" | tar --zstd -x -C "$dest" ;;
    *.gz) ar p "$deb" "$member" | tar -xz -C "$dest" ;;
    *) ar p "$deb" "$member" | tar -x -C "$dest" ;;
  esac
}

# True when the system's loader finds a non-empty file for soname $1 (its
# cache, or the standard folders where an image has no ldconfig).
gpu_deps_system_has() {
  local path ldc M=$GPU_DEPS_MULTIARCH
  ldc=$(command -v ldconfig || echo /sbin/ldconfig)
  while read -r path; do
    [ -s "$path" ] && return 0
  done < <("$ldc" -p 2>/dev/null | awk -v so="$1" '$1 == so && /x86-64/ {print $NF}')
  for path in "/usr/lib/$M/$1" "/lib/$M/$1" "/usr/lib64/$1" "/lib64/$1"; do
    [ -s "$path" ] && return 0
  done
  return 1
}

gpu_deps_setup() {
  local debdir=$1 prefix=$2 f b want n_debs=0 used=()
  local files=()
  for f in "$debdir"/*.deb; do
    [ -f "$f" ] && files+=("$f")
  done
  n_debs=${#files[@]}
  ((n_debs)) || return 1
  mkdir -p "$prefix" && prefix=$(cd "$prefix" && pwd) || return 2  # links and paths absolute
  want=$(cd "$debdir" && ls -l -- *.deb | awk '{print $5, $NF}' | cksum)
  if [ "$(cat "$prefix/.unpacked" 2>/dev/null)" != "$want" ]; then
    rm -rf "$prefix"
    mkdir -p "$prefix" || return 2
    for f in "${files[@]}"; do
      gpu_deps_unpack_one "$f" "$prefix" || {
        echo "gpu-deps: could not unpack $f" >&2
        return 2
      }
    done
    echo "$want" >"$prefix/.unpacked"
  fi

  local M=$GPU_DEPS_MULTIARCH U=$prefix/usr
  local rt=$prefix/runtime-lib
  rm -rf "$rt"
  mkdir -p "$rt"
  for f in "$U/lib/$M"/lib*.so.* "$prefix/lib/$M"/lib*.so.* "$U/lib/$M/openblas-pthread"/lib*.so.*; do
    [ -e "$f" ] || continue
    b=${f##*/}
    [[ $b =~ ^lib.*\.so\.[0-9]+$ ]] || continue  # sonames only
    [ -e "$rt/$b" ] && continue
    gpu_deps_system_has "$b" && continue
    ln -s "$f" "$rt/$b"
    used+=("$b")
  done
  export LD_LIBRARY_PATH="$rt${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

  GPU_DEPS_CMAKE_ARGS=(
    "-DCMAKE_PREFIX_PATH=$U"
    "-DCMAKE_INCLUDE_PATH=$U/include/$M/openblas-pthread;$U/include/$M;$U/include"
    "-DCMAKE_LIBRARY_PATH=$U/lib/$M/openblas-pthread;$U/lib/$M;$prefix/lib/$M"
    # FindHDF5: Debian's serial layout; no h5cc wrapper (it is in
    # hdf5-helpers, not carried), so it searches this root only.
    "-DHDF5_ROOT=$U/lib/$M/hdf5/serial"
    "-DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON"
    "-DOPENSSL_ROOT_DIR=$U"
    # Debian's multiarch headers (openssl/configuration.h, ...): the
    # compiler searches only the system's /usr/include/<multiarch>.
    "-DCMAKE_C_STANDARD_INCLUDE_DIRECTORIES=$U/include/$M"
    "-DCMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES=$U/include/$M"
    "-DCMAKE_CUDA_STANDARD_INCLUDE_DIRECTORIES=$U/include/$M"
    # The linker resolves the carried libraries' own dependencies here.
    "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$rt"
    "-DCMAKE_SHARED_LINKER_FLAGS=-Wl,-rpath-link,$rt"
  )
  GPU_DEPS_SUMMARY="$n_debs packages from ${debdir##*/} unpacked in $prefix; ${#used[@]} runtime libraries the system lacks: ${used[*]:-none}"
  return 0
}
