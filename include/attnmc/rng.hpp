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
// mass is 1.4e-11); the angle uses 2 pi v. The float32 transform is
// branch-free basic arithmetic (so that it vectorises across lanes,
// kernels/gaussian_lanes.hpp, and runs without libm on the device): ln u
// from a short polynomial after an exact exponent/mantissa split (Cephes
// logf), taken through 1 - u for u > 1/2 with a Goldberg log1p correction
// (full relative precision near u = 1), and sin/cos of the angle from short
// polynomials after an exact quarter-turn reduction. Its draws differ from the
// double transform by at most ~5e-6 absolute (tests/test_rng.cpp). The same
// function serves one block (gaussian4f) and many lanes at once, so every
// path gives the same bits (contraction into FMA is off in the build). The
// double-precision variant, used by the CPU reference, applies the same
// formula to the same 32-bit words, so both see the same draws up to float
// rounding.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

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
  // attention paths (include/attnmc/paths.hpp): the task, random heads, prior networks
  paths = 7,
  paths_posterior = 8,  // reserved: the reduced-posterior chains (host/paths/theory/)
  paths_direct = 9,     // reserved: the weight-space posterior chains
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

// Philox4x32-10 in plain integer arithmetic (Random123's rounds and
// constants; tests/test_rng.cpp checks it against Random123's known answers
// and against Random123 itself): no intrinsics and no arrays, so that a loop
// over lanes vectorises and nvcc emits mul.hi. (c0..c3) is the counter,
// replaced by the output.
ATTNMC_HD ATTNMC_FORCEINLINE void philox4x32_10(std::uint32_t& c0, std::uint32_t& c1,
                                                std::uint32_t& c2, std::uint32_t& c3,
                                                std::uint32_t k0, std::uint32_t k1) {
  std::uint32_t x0 = c0, x1 = c1, x2 = c2, x3 = c3;
#if defined(__CUDACC__)
#pragma unroll
#elif defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 10
#endif
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t(0xD2511F53u) * x0;
    const std::uint64_t p1 = std::uint64_t(0xCD9E8D57u) * x2;
    x0 = std::uint32_t(p1 >> 32) ^ x1 ^ k0;
    x1 = std::uint32_t(p1);
    x2 = std::uint32_t(p0 >> 32) ^ x3 ^ k1;
    x3 = std::uint32_t(p0);
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  c0 = x0;
  c1 = x1;
  c2 = x2;
  c3 = x3;
}

ATTNMC_HD inline Words4 philox_block(const StreamKey& k, std::uint32_t block) {
  Words4 r{{block, k.member, k.layer, (k.purpose << 20) | k.slot}};
  philox4x32_10(r.w[0], r.w[1], r.w[2], r.w[3], static_cast<std::uint32_t>(k.seed),
                static_cast<std::uint32_t>(k.seed >> 32));
  return r;
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
ATTNMC_HD ATTNMC_FORCEINLINE void sincos_turns(std::uint32_t y, float* s, float* c) {
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
  const float ns0 = -s0, nc0 = -c0;
  *s = (q & 2u) ? ns0 : s0;
  *c = ((q + 1u) & 2u) ? nc0 : c0;
}

ATTNMC_HD ATTNMC_FORCEINLINE std::uint32_t float_bits(float f) {
  std::uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
ATTNMC_HD ATTNMC_FORCEINLINE float bits_float(std::uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

// ln a for a positive normal float, branch-free (Cephes logf): a = 2^e m
// with m in [sqrt(1/2), sqrt(2)), f = m - 1 exact (Sterbenz), then
// ln(1 + f) = f - f^2/2 + f^3 P(f) and e ln 2 in two parts. Error ~1 ulp.
ATTNMC_HD ATTNMC_FORCEINLINE float log_poly(float a) {
  const std::uint32_t bits = float_bits(a);
  const float m1 = bits_float((bits & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  const bool big = m1 > 1.41421356f;
  const float half = 0.5f * m1;  // computed on every lane: selects, not branches
  const float m = big ? half : m1;
  const float e = float(std::int32_t(bits >> 23) - (big ? 126 : 127));
  const float f = m - 1.0f;
  const float z = f * f;
  float y = 7.0376836292e-2f;
  y = y * f - 1.1514610310e-1f;
  y = y * f + 1.1676998740e-1f;
  y = y * f - 1.2420140846e-1f;
  y = y * f + 1.4249322787e-1f;
  y = y * f - 1.6668057665e-1f;
  y = y * f + 2.0000714765e-1f;
  y = y * f - 2.4999993993e-1f;
  y = y * f + 3.3333331174e-1f;
  y = y * f * z;
  y = y + e * -2.12194440e-4f;
  y = y - 0.5f * z;
  return (f + y) + e * 0.693359375f;
}

// ln u for u = uniform_open(x), branch-free and with full relative
// precision: the lower half takes ln t with t = u; the upper half takes
// ln(1 - t) with t = 1 - u = uniform_open_f(~x) exactly: a = fl(1 - t), and
// (-t - (a - 1)) / a restores what the rounding of 1 - t lost (Goldberg's
// log1p; a - 1 is exact). For t < 2^-25, a = 1 and the result is -t.
ATTNMC_HD ATTNMC_FORCEINLINE float log_uniform_f(std::uint32_t x) {
  const bool lower = x < 0x80000000u;
  const float t = uniform_open_f(lower ? x : ~x);  // in (0, 1/2]
  const float up = 1.0f - t;
  const float a = lower ? t : up;
  const float fix = (-t - (up - 1.0f)) / up;  // both halves computed: no branch
  const float corr = lower ? 0.0f : fix;
  return log_poly(a) + corr;
}

// One Box-Muller pair from two words: (r cos, r sin), r = sqrt(-2 ln u).
ATTNMC_HD ATTNMC_FORCEINLINE void box_muller_f(std::uint32_t x, std::uint32_t y, float* z0,
                                               float* z1) {
  const float r = sqrtf(-2.0f * log_uniform_f(x));
  float s, c;
  sincos_turns(y, &s, &c);
  *z0 = r * c;
  *z1 = r * s;
}

}  // namespace detail

// Four standard normals from one Philox block (two Box-Muller pairs), in
// float, through the branch-free transform above (no libm call). The lane
// generator (kernels/gaussian_lanes.hpp) runs exactly this code.
ATTNMC_HD inline Gauss4f gaussian4f(const Words4& w) {
  Gauss4f g;
  detail::box_muller_f(w.w[0], w.w[1], &g.z[0], &g.z[1]);
  detail::box_muller_f(w.w[2], w.w[3], &g.z[2], &g.z[3]);
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
