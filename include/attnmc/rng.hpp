// Counter-based randomness keyed by meaning.
//
// Every random number in attnmc is a pure function of
//   (seed, purpose, ensemble member, layer/step, slot, element index)
// evaluated with Philox4x32-10 (Random123). The 64-bit seed is the Philox
// key; the 128-bit counter is
//   c0 = element / 4   (block of four outputs)
//   c1 = member
//   c2 = layer (or SDE step)
//   c3 = purpose << 20 | slot    (slot < 2^20: e.g. head * 16 + matrix)
// so results never depend on batch size, chunking, thread count or backend
// split: each output is computed from its own key, not from a stream.
//
// Gaussian transform (documented accuracy): Box-Muller on pairs of 32-bit
// uniforms, u = (x + 1/2) 2^-32 in (0, 1). The radius uses the full 32 bits,
// so the largest |z| produced is sqrt(2 ln 2^33) = 6.76 (the missing tail
// mass is 1.4e-11); the angle uses 2 pi v. The float32 transform takes ln u
// through 1 - u for u > 1/2 (full relative precision) and sin/cos of the
// angle from short polynomials after an exact quarter-turn reduction (faster
// than sinf/cosf); its draws differ from the double transform by at most
// ~5e-6 absolute (tests/test_rng.cpp); the
// double-precision variant, used by the CPU reference, applies the same
// formula to the same 32-bit words, so both see the same draws up to float
// rounding.
#pragma once

#include <Random123/philox.h>

#include <cmath>
#include <cstdint>

#include "attnmc/hd.hpp"

namespace attnmc::rng {

// What a random number is for. Part of its key: never reorder, only append.
enum class Purpose : std::uint32_t {
  weights = 1,      // network weight matrices (direct sampler)
  exact_chain = 2,  // Gram-chain (exact sampler) draws
  sde_noise = 3,    // Brownian increments of SDE integrators
  input = 4,        // random input tokens
  sphere = 5,       // sphere model: value matrices / Brownian increments, random starts
  // oversmoothing family: spectra, U, W_Q/W_K, fixed A, input
  // (slots in kernels/oversmoothing/oversmoothing_math.hpp)
  oversmoothing = 6,
};

// Matrix slots inside one layer: slot = head * kSlotsPerHead + matrix.
enum class Matrix : std::uint32_t { query = 0, key = 1, value = 2, mlp_pre = 3, mlp_post = 4 };
constexpr std::uint32_t kSlotsPerHead = 8;

ATTNMC_HD inline std::uint32_t slot_of(std::uint32_t head, Matrix matrix) {
  return head * kSlotsPerHead + static_cast<std::uint32_t>(matrix);
}

// The identity of one stream of random numbers (all but the element index).
struct StreamKey {
  std::uint64_t seed;
  std::uint32_t purpose;
  std::uint32_t member;
  std::uint32_t layer;
  std::uint32_t slot;
};

ATTNMC_HD inline StreamKey make_key(std::uint64_t seed, Purpose purpose, std::uint32_t member,
                                    std::uint32_t layer, std::uint32_t slot) {
  return StreamKey{seed, static_cast<std::uint32_t>(purpose), member, layer, slot};
}

// Four raw 32-bit words for block `block` of a stream (outputs 4*block..4*block+3).
struct Words4 {
  std::uint32_t w[4];
};

ATTNMC_HD inline Words4 philox_block(const StreamKey& k, std::uint32_t block) {
  r123::Philox4x32 gen;
  r123::Philox4x32::ctr_type ctr = {{block, k.member, k.layer, (k.purpose << 20) | k.slot}};
  r123::Philox4x32::key_type key = {
      {static_cast<std::uint32_t>(k.seed), static_cast<std::uint32_t>(k.seed >> 32)}};
  r123::Philox4x32::ctr_type r = gen(ctr, key);
  return Words4{{r[0], r[1], r[2], r[3]}};
}

// Uniform in (0, 1): (x + 1/2) 2^-32, never 0 or 1 in exact arithmetic.
ATTNMC_HD inline double uniform_open_d(std::uint32_t x) {
  return (static_cast<double>(x) + 0.5) * 2.3283064365386963e-10;
}
ATTNMC_HD inline float uniform_open_f(std::uint32_t x) {
  // float(x) rounds to 24 bits; adding 2^-33 after scaling keeps u > 0.
  return static_cast<float>(x) * 2.3283064365386963e-10f + 1.1641532182693481e-10f;
}

struct Gauss4f {
  float z[4];
};
struct Gauss4d {
  double z[4];
};

namespace detail {

// sin and cos of 2 pi y 2^-32 (y a 32-bit word) from basic arithmetic: the
// nearest quarter turn q is taken in integers, the remainder r in
// [-1/8, 1/8) turns (|2 pi r| <= pi/4) goes through Taylor polynomials whose
// truncation (< 2e-9) is below float rounding, then the quarter turn rotates.
ATTNMC_HD inline void sincos_turns(std::uint32_t y, float* s, float* c) {
  const std::uint32_t q = (y + 0x20000000u) >> 30;  // wraps to 0 for the last eighth
  const std::int32_t r = static_cast<std::int32_t>(y - (q << 30));
  const float a = static_cast<float>(r) * (6.28318530717958648f * 2.3283064365386963e-10f);
  const float a2 = a * a;
  const float sn =
      a * (1.0f - a2 * (1.0f / 6 - a2 * (1.0f / 120 - a2 * (1.0f / 5040 - a2 * (1.0f / 362880)))));
  const float cs =
      1.0f - a2 * (0.5f - a2 * (1.0f / 24 -
                                a2 * (1.0f / 720 - a2 * (1.0f / 40320 - a2 * (1.0f / 3628800)))));
  // Rotate by q quarter turns without a (randomly taken) branch.
  const bool odd = (q & 1u) != 0;
  const float s0 = odd ? cs : sn, c0 = odd ? sn : cs;
  *s = (q & 2u) ? -s0 : s0;
  *c = ((q + 1u) & 2u) ? -c0 : c0;
}

}  // namespace detail

// Four standard normals from one Philox block (two Box-Muller pairs), in
// float. ln u keeps full relative precision: float rounds u near 1, so the
// upper half uses log1p(-(1 - u)), with 1 - u = uniform_open_f(~x) exactly.
// The angle goes through detail::sincos_turns (no libm call).
ATTNMC_HD inline Gauss4f gaussian4f(const Words4& w) {
  Gauss4f g;
  for (int p = 0; p < 2; ++p) {
    const std::uint32_t x = w.w[2 * p];
    const float ln_u = x < 0x80000000u ? logf(uniform_open_f(x)) : log1pf(-uniform_open_f(~x));
    const float r = sqrtf(-2.0f * ln_u);
    float s, c;
    detail::sincos_turns(w.w[2 * p + 1], &s, &c);
    g.z[2 * p] = r * c;
    g.z[2 * p + 1] = r * s;
  }
  return g;
}

ATTNMC_HD inline Gauss4d gaussian4d(const Words4& w) {
  constexpr double two_pi = 6.283185307179586477;
  Gauss4d g;
  for (int p = 0; p < 2; ++p) {
    double u = uniform_open_d(w.w[2 * p]);
    double v = static_cast<double>(w.w[2 * p + 1]) * 2.3283064365386963e-10;
    double r = sqrt(-2.0 * log(u));
    g.z[2 * p] = r * cos(two_pi * v);
    g.z[2 * p + 1] = r * sin(two_pi * v);
  }
  return g;
}

// Element `i` of a stream as a standard normal (convenience; computes a whole
// block, so bulk code should use gaussian4f on blocks instead).
ATTNMC_HD inline float gaussian_f(const StreamKey& k, std::uint64_t i) {
  return gaussian4f(philox_block(k, static_cast<std::uint32_t>(i >> 2))).z[i & 3];
}
ATTNMC_HD inline double gaussian_d(const StreamKey& k, std::uint64_t i) {
  return gaussian4d(philox_block(k, static_cast<std::uint32_t>(i >> 2))).z[i & 3];
}

}  // namespace attnmc::rng
