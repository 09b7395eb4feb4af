// Keyed Philox4x32-10 and its Gaussian transform: Random123's published
// known-answer vectors, key separation, float/double agreement, and the
// distribution of the draws.
#include <Random123/philox.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "attnmc/rng.hpp"
#include "kernels/gaussian_lanes.hpp"

using namespace attnmc;

namespace {

// A StreamKey whose Philox counter/key words are the given ones:
// ctr = {block, member, layer, purpose << 20 | slot}, key = {seed lo, seed hi}.
rng::StreamKey key_for_words(std::uint32_t c1, std::uint32_t c2, std::uint32_t c3, std::uint32_t k0,
                             std::uint32_t k1) {
  return rng::StreamKey{(std::uint64_t(k1) << 32) | k0, c3 >> 20, c1, c2, c3 & 0xfffff};
}

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

}  // namespace

// Random123 tests/kat_vectors, the three "philox4x32 10" lines.
TEST(Philox, KnownAnswerVectors) {
  struct Kat {
    std::uint32_t ctr[4], key[2], out[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    const rng::StreamKey key = key_for_words(k.ctr[1], k.ctr[2], k.ctr[3], k.key[0], k.key[1]);
    const rng::Words4 w = rng::philox_block(key, k.ctr[0]);
    // Random123 itself on the raw words: guards the vectors and the build.
    r123::Philox4x32 direct;
    const r123::Philox4x32::ctr_type ctr = {{k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3]}};
    const r123::Philox4x32::key_type pk = {{k.key[0], k.key[1]}};
    const r123::Philox4x32::ctr_type r = direct(ctr, pk);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(w.w[i], k.out[i]) << "word " << i;
      EXPECT_EQ(r[i], k.out[i]) << "word " << i;
    }
  }
}

TEST(Philox, EveryKeyFieldSeparatesStreams) {
  const rng::StreamKey base = rng::make_key(42, rng::Purpose::weights, 7, 3, 2);
  std::vector<rng::StreamKey> keys(6, base);
  keys[1].seed += 1;
  keys[2].seed += std::uint64_t(1) << 32;  // the seed's high word is part of the key
  keys[3].purpose = std::uint32_t(rng::Purpose::exact_chain);
  keys[4].member += 1;
  keys[5].layer += 1;
  rng::StreamKey slot = base;
  slot.slot += 1;
  keys.push_back(slot);
  for (std::size_t i = 0; i < keys.size(); ++i)
    for (std::size_t j = i + 1; j < keys.size(); ++j) {
      const rng::Words4 a = rng::philox_block(keys[i], 0), b = rng::philox_block(keys[j], 0);
      EXPECT_FALSE(std::equal(a.w, a.w + 4, b.w)) << i << " vs " << j;
    }
  EXPECT_NE(rng::philox_block(base, 0).w[0], rng::philox_block(base, 1).w[0]);
}

TEST(Gaussian, FloatAndDoubleTransformsAgree) {
  const rng::StreamKey key = rng::make_key(9, rng::Purpose::weights, 1, 1, 0);
  double worst = 0;
  for (std::uint32_t b = 0; b < 200000; ++b) {
    const rng::Words4 w = rng::philox_block(key, b);
    const rng::Gauss4f f = rng::gaussian4f(w);
    const rng::Gauss4d d = rng::gaussian4d(w);
    for (int i = 0; i < 4; ++i) worst = std::max(worst, std::abs(double(f.z[i]) - d.z[i]));
  }
  // float polynomial log and sin/cos of the same words, sqrtf: a few ulp of
  // |z| <= 6.8.
  EXPECT_LT(worst, 5e-6);
  EXPECT_EQ(rng::gaussian_f(key, 5), rng::gaussian4f(rng::philox_block(key, 1)).z[1]);
}

TEST(Gaussian, UniformsStayInsideTheOpenInterval) {
  EXPECT_GT(rng::uniform_open_d(0), 0.0);
  EXPECT_LT(rng::uniform_open_d(0xffffffffu), 1.0);
  EXPECT_GT(rng::uniform_open_f(0), 0.0f);
  EXPECT_LE(rng::uniform_open_f(0xffffffffu), 1.0f);  // rounds to 1: radius 0, still finite
  const rng::Words4 extreme{{0, 0, 0xffffffffu, 0xffffffffu}};
  const rng::Gauss4d d = rng::gaussian4d(extreme);
  const rng::Gauss4f f = rng::gaussian4f(extreme);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(std::isfinite(d.z[i]));
    EXPECT_TRUE(std::isfinite(f.z[i]));
    EXPECT_LE(std::abs(d.z[i]), 6.77);  // sqrt(2 ln 2^33) = 6.7616
  }
  EXPECT_NEAR(d.z[0], std::sqrt(2 * 33 * std::log(2.0)), 1e-9);  // largest possible draw
}

// 10^6 draws: KS distance to N(0,1) and the first two moments. With
// thresholds at the 1e-6 tail of each statistic the false-failure rate of
// this test is below 3e-6. A transform with a wrong scale (e.g. missing the
// factor 2 in -2 ln u, variance 1/2) moves the KS distance to ~0.08.
TEST(Gaussian, DistributionIsStandardNormal) {
  const std::size_t n = 1000000;
  std::vector<double> z(n);
  const rng::StreamKey key = rng::make_key(2024, rng::Purpose::weights, 3, 1, 2);
  for (std::size_t i = 0; i < n; ++i) z[i] = rng::gaussian_f(key, i);
  double mean = 0, m2 = 0;
  for (double v : z) mean += v;
  mean /= double(n);
  for (double v : z) m2 += (v - mean) * (v - mean);
  const double var = m2 / double(n - 1);
  // Deterministic bound of the transform (sqrt(2 ln 2^33) = 6.7616).
  EXPECT_LE(std::max(-*std::min_element(z.begin(), z.end()), *std::max_element(z.begin(), z.end())),
            6.77);
  EXPECT_LT(std::abs(mean) * std::sqrt(double(n)), 4.9);             // z-test, p = 1e-6
  EXPECT_LT(std::abs(var - 1.0) / std::sqrt(2.0 / double(n)), 4.9);  // chi^2 approx
  std::sort(z.begin(), z.end());
  double ks = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double f = normal_cdf(z[i]);
    ks = std::max({ks, f - double(i) / double(n), double(i + 1) / double(n) - f});
  }
  // Kolmogorov: P(sqrt(n) D > t) ~ 2 exp(-2 t^2); t = 2.69 gives 1e-6.
  EXPECT_LT(ks * std::sqrt(double(n)), 2.69);
}

// Plain-arithmetic Philox (the one the lanes run) against Random123 itself on
// pseudo-random counters and keys (Random123 keeps the known answers above).
TEST(Philox, PlainArithmeticMatchesRandom123) {
  std::uint32_t x = 12345;
  auto next = [&x] { return x = x * 1664525u + 1013904223u; };  // any word sequence
  for (int i = 0; i < 100000; ++i) {
    std::uint32_t c[4] = {next(), next(), next(), next()};
    const std::uint32_t k0 = next(), k1 = next();
    r123::Philox4x32 direct;
    const r123::Philox4x32::ctr_type r = direct({{c[0], c[1], c[2], c[3]}}, {{k0, k1}});
    rng::philox4x32_10(c[0], c[1], c[2], c[3], k0, k1);
    for (int q = 0; q < 4; ++q) ASSERT_EQ(c[q], r[q]) << "input " << i << " word " << q;
  }
}

// The lane generator (vectorised on the CPU) gives the scalar path's bits:
// lanes over consecutive blocks of one stream (direct sampler) and lanes over
// members (one trajectory per lane), including blocks near 2^32.
TEST(Gaussian, LanesGiveTheScalarBits) {
  constexpr int L = kernels::kGaussLanes;
  const rng::StreamKey key = rng::make_key(0x123456789abcdefull, rng::Purpose::weights, 77, 3, 9);
  const std::uint32_t starts[] = {0u, 1u, 4096u, 0xfffffff0u};
  for (std::uint32_t first : starts) {
    float run[4 * L];
    kernels::gaussian_run_f<L>(key, first, run);
    for (int l = 0; l < L; ++l) {
      const rng::Gauss4f g = rng::gaussian4f(rng::philox_block(key, first + std::uint32_t(l)));
      EXPECT_EQ(0, std::memcmp(g.z, run + 4 * l, sizeof g.z)) << "block " << first + l;
    }
  }
  for (std::uint32_t base = 0; base < 20000; base += L) {
    std::uint32_t block[L], member[L];
    for (int l = 0; l < L; ++l) {
      block[l] = base / 7 + std::uint32_t(l % 3);  // lanes differ in block and member
      member[l] = base * 31u + std::uint32_t(l);
    }
    float z[4][L];
    kernels::gaussian_lanes_f<L>(key, block, member, z);
    for (int l = 0; l < L; ++l) {
      rng::StreamKey k = key;
      k.member = member[l];
      const rng::Gauss4f g = rng::gaussian4f(rng::philox_block(k, block[l]));
      for (int q = 0; q < 4; ++q)
        ASSERT_EQ(rng::detail::float_bits(g.z[q]), rng::detail::float_bits(z[q][l]))
            << "member " << member[l] << " normal " << q;
    }
  }
}

// The per-step draw of one lane per trajectory (SDE, sphere): element e of
// lane l's stream into out[e][l], float and double, for every length of the
// last block (1 to 4 normals: the second Box-Muller pair is skipped when
// unused), the scalar path's bits.
TEST(Gaussian, MemberPlanesGiveTheScalarBits) {
  constexpr int L = kernels::kGaussLanes;
  const rng::StreamKey key = rng::make_key(0xfeedbeef12345ull, rng::Purpose::sde_noise, 0, 17, 2);
  std::uint32_t member[L];
  for (int l = 0; l < L; ++l) member[l] = 1000003u * std::uint32_t(l) + 5u;
  for (int n = 1; n <= 13; ++n) {
    float zf[16][L];
    double zd[16][L];
    kernels::gaussian_member_planes<L>(key, member, n, zf);
    kernels::gaussian_member_planes<L>(key, member, n, zd);
    for (int l = 0; l < L; ++l) {
      rng::StreamKey k = key;
      k.member = member[l];
      for (int e = 0; e < n; ++e) {
        const float g = rng::gaussian_f(k, std::uint64_t(e));
        ASSERT_EQ(rng::detail::float_bits(g), rng::detail::float_bits(zf[e][l]))
            << "n " << n << " lane " << l << " element " << e;
        ASSERT_EQ(double(g), zd[e][l]) << "n " << n << " lane " << l << " element " << e;
      }
    }
  }
}

// ln u of the float transform keeps full relative precision over the whole
// range, in particular for u near 1 (words near 2^32), where u itself is not
// representable in float: the Goldberg correction is what makes this hold
// (without it the relative error reaches ~1e-3 at 1 - u ~ 1e-4).
TEST(Gaussian, LogOfUniformHasFullRelativePrecision) {
  std::vector<std::uint32_t> words = {
      0u,          1u,          2u,          1000u,       0x7fffffffu, 0x80000000u, 0x80000001u,
      0xfff00000u, 0xffff0000u, 0xfffff000u, 0xffffff00u, 0xfffffff0u, 0xfffffffeu, 0xffffffffu};
  std::uint32_t x = 99;
  for (int i = 0; i < 200000; ++i) words.push_back(x = x * 1664525u + 1013904223u);
  for (std::uint32_t k = 1; k < 0x40000000u; k *= 3) words.push_back(0xffffffffu - k);
  double worst = 0;
  for (std::uint32_t w : words) {
    const double exact = std::log(rng::uniform_open_d(w));
    const double got = rng::detail::log_uniform_f(w);
    worst = std::max(worst, std::abs(got - exact) / std::abs(exact));
  }
  // float rounding of the 32-bit uniform (2^-24 relative) plus the
  // polynomial's ~1 ulp.
  EXPECT_LT(worst, 3e-7);
}
