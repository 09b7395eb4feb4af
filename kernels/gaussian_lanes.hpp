// The keyed Gaussian generator many blocks at a time: Philox4x32-10 and the
// branch-free float Box-Muller transform of include/attnmc/rng.hpp, run over
// L lanes in one loop that the host compiler vectorises (OpenMP simd: 16
// lanes of AVX-512, 8 of AVX2, 4 of SSE2). Every lane runs exactly the scalar
// code of rng::gaussian4f, so a block gives the same bits whichever path
// computed it (tests/test_rng.cpp). On CUDA a thread takes one block (L = 1):
// the lanes are the warp's threads.
//
// Lanes may differ in the block (consecutive elements of one stream: the
// direct sampler's weight matrices) or in the member (one lane per
// trajectory: the SDE's structure-of-arrays layout).
#pragma once

#include <cstdint>
#include <type_traits>

#include "attnmc/hd.hpp"
#include "attnmc/rng.hpp"

#if defined(__CUDACC__) || !defined(_OPENMP)
#define ATTNMC_SIMD
#else
#define ATTNMC_SIMD _Pragma("omp simd")
#endif

namespace attnmc::kernels {

// Lanes per group on the CPU: a multiple of every vector width above.
constexpr int kGaussLanes = 16;

// z[q][l] = normal q of the block with counter (block[l], member[l], layer,
// purpose << 20 | slot) under the key's seed: lane l of four planes.
template <int L>
ATTNMC_HD inline void gaussian_lanes_f(const rng::StreamKey& key, const std::uint32_t* block,
                                       const std::uint32_t* member, float (*z)[L]) {
  const std::uint32_t k0 = std::uint32_t(key.seed), k1 = std::uint32_t(key.seed >> 32);
  const std::uint32_t c3 = (key.purpose << 20) | key.slot;
  ATTNMC_SIMD
  for (int l = 0; l < L; ++l) {
    std::uint32_t x0 = block[l], x1 = member[l], x2 = key.layer, x3 = c3;
    rng::philox4x32_10(x0, x1, x2, x3, k0, k1);
    float a, b, e, f;
    rng::detail::box_muller_f(x0, x1, &a, &b);
    rng::detail::box_muller_f(x2, x3, &e, &f);
    z[0][l] = a;
    z[1][l] = b;
    z[2][l] = e;
    z[3][l] = f;
  }
}

// Elements 4 first_block .. 4 (first_block + L) - 1 of one stream, in order,
// into out (4 L floats): lanes over consecutive blocks, written in place
// (faster than planes and a transpose).
template <int L>
ATTNMC_HD inline void gaussian_run_f(const rng::StreamKey& key, std::uint32_t first_block,
                                     float* out) {
  const std::uint32_t k0 = std::uint32_t(key.seed), k1 = std::uint32_t(key.seed >> 32);
  const std::uint32_t c3 = (key.purpose << 20) | key.slot;
  ATTNMC_SIMD
  for (int l = 0; l < L; ++l) {
    std::uint32_t x0 = first_block + std::uint32_t(l), x1 = key.member, x2 = key.layer, x3 = c3;
    rng::philox4x32_10(x0, x1, x2, x3, k0, k1);
    rng::detail::box_muller_f(x0, x1, &out[4 * l], &out[4 * l + 1]);
    rng::detail::box_muller_f(x2, x3, &out[4 * l + 2], &out[4 * l + 3]);
  }
}

// count standard normals of one stream (elements 0 .. count - 1) into out,
// float or double: whole groups of 16, 8 and 4 blocks across lanes, the rest
// one block at a time (on a CUDA thread, all one at a time). Same bits on
// every path.
template <typename T>
ATTNMC_HD inline void gaussian_fill(const rng::StreamKey& key, T* out, int count) {
  int b = 0;  // next block
#if !defined(__CUDA_ARCH__)
  auto groups = [&](auto lanes) {
    constexpr int L = decltype(lanes)::value;
    for (; 4 * (b + L) <= count; b += L) {
      float z[4 * L];
      gaussian_run_f<L>(key, std::uint32_t(b), z);
      for (int q = 0; q < 4 * L; ++q) out[4 * b + q] = T(z[q]);
    }
  };
  groups(std::integral_constant<int, 16>{});
  groups(std::integral_constant<int, 8>{});
  groups(std::integral_constant<int, 4>{});
#endif
  for (; 4 * b < count; ++b) {
    const rng::Gauss4f g = rng::gaussian4f(rng::philox_block(key, std::uint32_t(b)));
    for (int q = 0; q < 4 && 4 * b + q < count; ++q) out[4 * b + q] = T(g.z[q]);
  }
}

}  // namespace attnmc::kernels
