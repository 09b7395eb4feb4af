// Building blocks of the exact sampler: the keyed chi-square/gamma draws
// against their exact CDF, the Householder LQ factor, the Bartlett factor's
// Wishart moments, and input validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "attnmc/engine.hpp"
#include "attnmc/error.hpp"
#include "kernels/chi_square.hpp"
#include "kernels/exact_chain.hpp"
#include "reference/reference_exact.hpp"

using namespace attnmc;

namespace {

// Regularised lower incomplete gamma P(a, x) (series below a + 1, Lentz
// continued fraction above), accurate to ~1e-12 here: written from the
// textbook formulas, independent of the sampler.
double gamma_p(double a, double x) {
  if (x <= 0) return 0.0;
  const double log_prefactor = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1) {
    double term = 1.0 / a, sum = term;
    for (int k = 1; k < 100000; ++k) {
      term *= x / (a + k);
      sum += term;
      if (term < sum * 1e-16) break;
    }
    return sum * std::exp(log_prefactor);
  }
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int i = 1; i < 100000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < 1e-16) break;
  }
  return 1.0 - std::exp(log_prefactor) * h;
}

}  // namespace

// One-sample KS against the exact chi-square CDF for integer, half-integer,
// non-integer, small (boosted, dof < 2) and very large degrees of freedom.
// DKW-Massart: P(D_N > t) <= 2 exp(-2 N t^2); with t for alpha = 1e-9 per
// dof, the false-failure rate of this test is < 1e-8.
TEST(ChiSquare, MatchesExactCdf) {
  const int draws = 20000;
  const double alpha = 1e-9;
  const double t = std::sqrt(std::log(2 / alpha) / (2.0 * draws));
  for (double dof : {0.4, 1.0, 2.0, 3.7, 15.0, 123.5, 1e4, 1e6}) {
    const rng::StreamKey key =
        rng::make_key(2024, rng::Purpose::exact_chain, 7, 1, std::uint32_t(dof * 10) & 0xfffff);
    std::vector<double> x(draws);
    for (int i = 0; i < draws; ++i) x[i] = kernels::chi_square_draw(key, std::uint32_t(i), dof);
    std::sort(x.begin(), x.end());
    double d = 0;
    for (int i = 0; i < draws; ++i) {
      const double f = gamma_p(dof / 2, x[i] / 2);
      d = std::max({d, std::abs(f - double(i) / draws), std::abs(f - double(i + 1) / draws)});
    }
    EXPECT_LT(d, t) << "dof " << dof;
  }
}

// Large shapes: the acceptance test has no O(d) cancellation, so the mean
// and variance of chi^2(k) / k stay exact at k = 1e12 (z-tests, |z| < 6.1:
// false-failure rate < 2e-9 each).
TEST(ChiSquare, HugeDegreesOfFreedomMoments) {
  const double dof = 1e12;
  const int draws = 20000;
  const rng::StreamKey key = rng::make_key(5, rng::Purpose::exact_chain, 0, 0, 99);
  double s = 0, s2 = 0;
  for (int i = 0; i < draws; ++i) {
    const double u =
        (kernels::chi_square_draw(key, std::uint32_t(i), dof) - dof) / std::sqrt(2 * dof);
    s += u;
    s2 += u * u;
  }
  const double mean = s / draws, var = s2 / draws - mean * mean;
  EXPECT_LT(std::abs(mean) * std::sqrt(double(draws)), 6.1);
  EXPECT_LT(std::abs(var - 1) / std::sqrt(2.0 / draws), 6.1);
}

TEST(ChiSquare, DeterministicAndKeyed) {
  const rng::StreamKey a = rng::make_key(1, rng::Purpose::exact_chain, 3, 4, 5);
  rng::StreamKey b = a;
  b.member = 4;
  EXPECT_EQ(kernels::chi_square_draw(a, 2, 7.0), kernels::chi_square_draw(a, 2, 7.0));
  EXPECT_NE(kernels::chi_square_draw(a, 2, 7.0), kernels::chi_square_draw(b, 2, 7.0));
  EXPECT_NE(kernels::chi_square_draw(a, 2, 7.0), kernels::chi_square_draw(a, 3, 7.0));
}

// lq_in_place: L lower triangular, non-negative diagonal, L L^T = A A^T to
// rounding; equals the Gram-Schmidt factor of the reference; rank-deficient
// inputs give a valid (semi-definite) factor.
TEST(ExactChain, HouseholderFactor) {
  std::mt19937_64 gen(3);
  std::normal_distribution<double> normal;
  for (int trial = 0; trial < 200; ++trial) {
    const int m = 1 + trial % 7, q = m + trial % 9;
    std::vector<double> a(std::size_t(m) * q);
    for (double& x : a) x = normal(gen);
    if (trial % 5 == 0 && m > 1)  // duplicate a row: rank deficient
      std::copy(a.begin(), a.begin() + q, a.begin() + q);
    std::vector<double> w = a;
    kernels::lq_in_place(w.data(), m, q, q);
    double scale = 0;
    for (double x : a) scale = std::max(scale, std::abs(x));
    for (int i = 0; i < m; ++i) {
      EXPECT_GE(w[i * q + i], 0.0);
      for (int j = i + 1; j < q; ++j) EXPECT_EQ(w[i * q + j], 0.0);
      for (int k = 0; k < m; ++k) {
        double g = 0, h = 0;
        for (int j = 0; j < q; ++j) g += a[i * q + j] * a[k * q + j];
        for (int j = 0; j < m; ++j) h += w[i * q + j] * w[k * q + j];
        EXPECT_NEAR(g, h, 1e-12 * q * scale * scale);
      }
    }
    if (trial % 5 != 0) {
      const std::vector<double> l = reference::gram_schmidt_factor(a, m, q);
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < m; ++j) EXPECT_NEAR(w[i * q + j], l[i * m + j], 1e-10 * scale);
    }
  }
}

// Bartlett factor: R R^T ~ Wishart_m(k, I), so E[R R^T] = k I and
// Var[(R R^T)_ab] = k (1 + [a == b]); also for k < m (singular, trapezoidal).
// z-tests at |z| < 6.1 (false-failure rate < 1e-9 each, < 1e-7 in total).
TEST(ExactChain, BartlettHasWishartMoments) {
  const int draws = 20000, m = 4;
  for (int k : {2, 4, 9}) {
    const int p = std::min(m, k);
    std::vector<double> sum(m * m, 0.0), sum2(m * m, 0.0);
    for (int t = 0; t < draws; ++t) {
      double r[16];
      kernels::bartlett(rng::make_key(11, rng::Purpose::exact_chain, t, 1, 0),
                        rng::make_key(11, rng::Purpose::exact_chain, t, 1, 1), m, p, k, r, 4);
      for (int a = 0; a < m; ++a)
        for (int b = 0; b < m; ++b) {
          double w = 0;
          for (int j = 0; j < p; ++j) w += r[a * 4 + j] * r[b * 4 + j];
          sum[a * m + b] += w;
          sum2[a * m + b] += w * w;
        }
    }
    for (int a = 0; a < m; ++a)
      for (int b = 0; b < m; ++b) {
        const double mean = sum[a * m + b] / draws;
        const double sd = std::sqrt(k * (1.0 + (a == b)) / draws);
        EXPECT_LT(std::abs(mean - (a == b ? k : 0)) / sd, 6.1) << k << " " << a << b;
      }
  }
}

TEST(ExactChain, RejectsTooManyTokens) {
  RunSpec s;
  s.model.width = 32;
  s.model.tokens = kernels::kExactMaxTokens + 1;
  s.model.depth = 2;
  s.sampler = Sampler::exact;
  s.members = 2;
  s.device = Device::cpu;
  try {
    run_ensemble(s);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), "model.tokens");
  }
}
