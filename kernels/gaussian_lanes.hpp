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
#include "kernels/simd.hpp"

#if !defined(__CUDACC__) && defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace attnmc::kernels {

// Lanes per group on the CPU: a multiple of every vector width above.
constexpr int kGaussLanes = 16;

#if !defined(__CUDACC__) && defined(__AVX512F__)
// Philox4x32-10 on 16 lanes with AVX-512 intrinsics. The compiler vectorises
// the plain loop with 64-bit lanes and vpmullq (3 uops, slow); here the
// 32 x 32 -> 64-bit products come from vpmuludq on the even and the odd
// lanes, the same integers, so the same bits (tests/test_rng.cpp).
inline void philox16_avx512(__m512i& x0, __m512i& x1, __m512i& x2, __m512i& x3, std::uint32_t k0,
                            std::uint32_t k1) {
  const __m512i m0 = _mm512_set1_epi32(int(0xD2511F53u)), m1 = _mm512_set1_epi32(int(0xCD9E8D57u));
  constexpr __mmask16 odd = 0xAAAA, even = 0x5555;
  for (int round = 0; round < 10; ++round) {
    // e: 64-bit products of the even lanes, o: of the odd lanes (moved down).
    const __m512i e0 = _mm512_mul_epu32(x0, m0),
                  o0 = _mm512_mul_epu32(_mm512_srli_epi64(x0, 32), m0);
    const __m512i e1 = _mm512_mul_epu32(x2, m1),
                  o1 = _mm512_mul_epu32(_mm512_srli_epi64(x2, 32), m1);
    // Low halves: e's own on even lanes, o's low dword swapped up on odd ones;
    // high halves: e's high dword swapped down on even lanes, o's own on odd
    // ones (one masked vpshufd each instead of a shift and a blend).
    const __m512i lo0 = _mm512_mask_shuffle_epi32(e0, odd, o0, _MM_PERM_CDAB);
    const __m512i hi0 = _mm512_mask_shuffle_epi32(o0, even, e0, _MM_PERM_CDAB);
    const __m512i lo1 = _mm512_mask_shuffle_epi32(e1, odd, o1, _MM_PERM_CDAB);
    const __m512i hi1 = _mm512_mask_shuffle_epi32(o1, even, e1, _MM_PERM_CDAB);
    x0 = _mm512_xor_si512(_mm512_xor_si512(hi1, x1), _mm512_set1_epi32(int(k0)));
    x1 = lo1;
    x2 = _mm512_xor_si512(_mm512_xor_si512(hi0, x3), _mm512_set1_epi32(int(k1)));
    x3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
}

// The rounds above, then the four output words of each lane as planes
// w[word][lane] for the scalar transform.
inline void philox16_words(__m512i x0, __m512i x1, __m512i x2, __m512i x3, std::uint32_t k0,
                           std::uint32_t k1, std::uint32_t (*w)[16]) {
  philox16_avx512(x0, x1, x2, x3, k0, k1);
  _mm512_store_si512(w[0], x0);
  _mm512_store_si512(w[1], x1);
  _mm512_store_si512(w[2], x2);
  _mm512_store_si512(w[3], x3);
}
#endif

// z[q][l] = normal q of the block with counter (block[l], member[l], layer,
// purpose << 20 | slot) under the key's seed: lane l of four planes.
template <int L>
ATTNMC_HD inline void gaussian_lanes_f(const rng::StreamKey& key, const std::uint32_t* block,
                                       const std::uint32_t* member, float (*z)[L]) {
  const std::uint32_t k0 = std::uint32_t(key.seed), k1 = std::uint32_t(key.seed >> 32);
  const std::uint32_t c3 = (key.purpose << 20) | key.slot;
#if !defined(__CUDACC__) && defined(__AVX512F__)
  if constexpr (L == 16) {
    // The same Philox products as gaussian_run_f's (vpmuludq, not GCC's
    // vpmullq), then the transform straight into the planes.
    __m512i x0 = _mm512_loadu_si512(block), x1 = _mm512_loadu_si512(member);
    __m512i x2 = _mm512_set1_epi32(int(key.layer)), x3 = _mm512_set1_epi32(int(c3));
    alignas(64) std::uint32_t w[4][16];
    philox16_words(x0, x1, x2, x3, k0, k1, w);
    ATTNMC_SIMD
    for (int l = 0; l < 16; ++l) {
      rng::detail::box_muller_f(w[0][l], w[1][l], &z[0][l], &z[1][l]);
      rng::detail::box_muller_f(w[2][l], w[3][l], &z[2][l], &z[3][l]);
    }
    return;
  }
#endif
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

// Elements 0 .. n - 1 of lane l's stream (the key with member[l]) into
// out[e][l], float or double: one lane per trajectory, every lane at the same
// element (the SDE's and the sphere's per-step draws). The same bits as
// gaussian_lanes_f block by block; on AVX-512 the member words are loaded
// once, and the second Box-Muller pair of a last block that needs at most two
// normals is not computed.
template <int L, typename T>
ATTNMC_HD inline void gaussian_member_planes(const rng::StreamKey& key, const std::uint32_t* member,
                                             int n, T (*out)[L]) {
#if !defined(__CUDACC__) && defined(__AVX512F__)
  if constexpr (L == 16) {
    const std::uint32_t k0 = std::uint32_t(key.seed), k1 = std::uint32_t(key.seed >> 32);
    const __m512i xm = _mm512_loadu_si512(member), xl = _mm512_set1_epi32(int(key.layer));
    const __m512i xc = _mm512_set1_epi32(int((key.purpose << 20) | key.slot));
    for (int b = 0; 4 * b < n; ++b) {
      __m512i x0 = _mm512_set1_epi32(b), x1 = xm, x2 = xl, x3 = xc;
      alignas(64) std::uint32_t w[4][16];
      philox16_words(x0, x1, x2, x3, k0, k1, w);
      T(*o)[L] = out + 4 * b;
      const int left = n - 4 * b;
      if (left >= 4) {
        ATTNMC_SIMD
        for (int l = 0; l < 16; ++l) {
          float z0, z1, z2, z3;
          rng::detail::box_muller_f(w[0][l], w[1][l], &z0, &z1);
          rng::detail::box_muller_f(w[2][l], w[3][l], &z2, &z3);
          o[0][l] = T(z0);
          o[1][l] = T(z1);
          o[2][l] = T(z2);
          o[3][l] = T(z3);
        }
      } else {
        float z[4][16];
        ATTNMC_SIMD
        for (int l = 0; l < 16; ++l)
          rng::detail::box_muller_f(w[0][l], w[1][l], &z[0][l], &z[1][l]);
        if (left > 2) {
          ATTNMC_SIMD
          for (int l = 0; l < 16; ++l)
            rng::detail::box_muller_f(w[2][l], w[3][l], &z[2][l], &z[3][l]);
        }
        for (int q = 0; q < left; ++q)
          for (int l = 0; l < 16; ++l) o[q][l] = T(z[q][l]);
      }
    }
    return;
  }
#endif
  for (int b = 0; 4 * b < n; ++b) {
    std::uint32_t block[L];
    for (int l = 0; l < L; ++l) block[l] = std::uint32_t(b);
    float z[4][L];
    gaussian_lanes_f<L>(key, block, member, z);
    for (int q = 0; q < 4 && 4 * b + q < n; ++q)
      for (int l = 0; l < L; ++l) out[4 * b + q][l] = T(z[q][l]);
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
#if !defined(__CUDACC__) && defined(__AVX512F__)
  if constexpr (L == 16) {
    __m512i x0 =
        _mm512_add_epi32(_mm512_set1_epi32(int(first_block)),
                         _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    __m512i x1 = _mm512_set1_epi32(int(key.member)), x2 = _mm512_set1_epi32(int(key.layer));
    __m512i x3 = _mm512_set1_epi32(int(c3));
    alignas(64) std::uint32_t w[4][16];
    philox16_words(x0, x1, x2, x3, k0, k1, w);
    ATTNMC_SIMD
    for (int l = 0; l < 16; ++l) {
      rng::detail::box_muller_f(w[0][l], w[1][l], &out[4 * l], &out[4 * l + 1]);
      rng::detail::box_muller_f(w[2][l], w[3][l], &out[4 * l + 2], &out[4 * l + 3]);
    }
    return;
  }
#endif
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
