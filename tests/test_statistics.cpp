// Statistics aggregation: moments against two-pass formulas, Chan merge
// against sequential accumulation, quantiles against a sort, and the
// counting of non-finite and overflowing members.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "attnmc/statistics.hpp"

using namespace attnmc;

TEST(Moments, MatchesTwoPassFormulas) {
  std::mt19937_64 gen(7);
  std::normal_distribution<double> normal(1e6, 3.0);  // large offset: naive sums lose digits
  std::vector<double> xs(10001);
  for (double& x : xs) x = normal(gen);
  Moments m;
  for (double x : xs) m.add(x);
  double mean = 0;
  for (double x : xs) mean += x;
  mean /= double(xs.size());
  double ss = 0;
  for (double x : xs) ss += (x - mean) * (x - mean);
  EXPECT_EQ(m.count, 10001);
  EXPECT_NEAR(m.mean, mean, 1e-9);
  EXPECT_NEAR(m.variance(), ss / double(xs.size() - 1), 1e-9 * ss / double(xs.size()));
  EXPECT_TRUE(std::isnan(Moments{}.variance()));
}

TEST(Moments, MergeEqualsSequential) {
  std::mt19937_64 gen(11);
  std::normal_distribution<double> normal(-2.0, 5.0);
  std::vector<double> xs(5000);
  for (double& x : xs) x = normal(gen);
  Moments all;
  for (double x : xs) all.add(x);
  for (std::size_t split : {std::size_t(0), std::size_t(1), std::size_t(1234), xs.size()}) {
    Moments a, b;
    for (std::size_t i = 0; i < split; ++i) a.add(xs[i]);
    for (std::size_t i = split; i < xs.size(); ++i) b.add(xs[i]);
    a.merge(b);
    EXPECT_EQ(a.count, all.count);
    EXPECT_NEAR(a.mean, all.mean, 1e-12);
    EXPECT_NEAR(a.variance(), all.variance(), 1e-10);
  }
}

namespace {

// A random 2x2 Gram matrix (positive definite) per member, float.
std::vector<float> random_grams(int members, int layers, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(0.2, 3.0), r(-0.99, 0.99);
  std::vector<float> g;
  for (int i = 0; i < members * layers; ++i) {
    const double a = u(gen), b = u(gen), rho = r(gen);
    const double off = rho * std::sqrt(a * b);
    g.insert(g.end(), {float(a), float(off), float(off), float(b)});
  }
  return g;
}

double numpy_linear_quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const std::size_t lo = std::size_t(pos);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
}

}  // namespace

TEST(EnsembleStatistics, QuantilesAndHistogramsMatchDirectComputation) {
  const int members = 999, layers = 2;
  const std::vector<float> g = random_grams(members, layers, 3);
  EnsembleStatistics st(2, {0, 5}, 20, 1e30);
  for (int i = 0; i < members; ++i) st.add_member(g.data() + i * layers * 4);
  for (int r = 0; r < layers; ++r) {
    std::vector<double> rho, v00;
    std::vector<std::int64_t> hist(20, 0);
    for (int i = 0; i < members; ++i) {
      const float* m = g.data() + (i * layers + r) * 4;
      const double c = double(m[1]) / std::sqrt(double(m[0]) * double(m[3]));
      rho.push_back(c);
      v00.push_back(m[0]);
      ++hist[std::min(19, int((c + 1) * 10))];
    }
    for (double q : {0.0, 0.1, 0.5, 0.9, 1.0}) {
      EXPECT_NEAR(st.quantile(r, 0, 1, q, true), numpy_linear_quantile(rho, q), 1e-12);
      EXPECT_NEAR(st.quantile(r, 0, 0, q, false), numpy_linear_quantile(v00, q), 1e-12);
    }
    EXPECT_EQ(st.per_layer()[r].rho_histogram, hist);
    EXPECT_EQ(st.per_layer()[r].rho[1].count, members);
    EXPECT_EQ(st.per_layer()[r].rho[0].mean, 1.0);
  }
}

TEST(EnsembleStatistics, CountsNonFiniteAndOverflowSeparately) {
  EnsembleStatistics st(2, {0}, 10, 100.0);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const float good[4] = {1, 0.5f, 0.5f, 1};
  const float big[4] = {1000, 0.5f, 0.5f, 1};  // finite but above the threshold
  const float bad1[4] = {nan, 0, 0, 1};
  const float bad2[4] = {1, inf, inf, 1};
  const float degenerate[4] = {0, 0, 0, 1};  // rho undefined
  for (const float* m : {good, big, bad1, bad2, degenerate, good}) st.add_member(m);
  const LayerStatistics& s = st.per_layer()[0];
  EXPECT_EQ(s.members, 6);
  EXPECT_EQ(s.nonfinite, 3);
  EXPECT_EQ(s.overflow, 1);
  EXPECT_EQ(s.gram[0].count, 2);  // moments only over the two good members
  EXPECT_DOUBLE_EQ(s.gram[0].mean, 1.0);
  // Quantiles see the overflowing member (heavy tails are part of the law).
  EXPECT_DOUBLE_EQ(st.quantile(0, 0, 0, 1.0, false), 1000.0);
}

TEST(EnsembleStatistics, MergeEqualsOneRun) {
  const int members = 500;
  const std::vector<float> g = random_grams(members, 1, 5);
  EnsembleStatistics all(2, {0}, 16, 1e30), a(2, {0}, 16, 1e30), b(2, {0}, 16, 1e30);
  for (int i = 0; i < members; ++i) {
    all.add_member(g.data() + 4 * i);
    (i < 123 ? a : b).add_member(g.data() + 4 * i);
  }
  a.merge(b);
  const LayerStatistics &x = a.per_layer()[0], &y = all.per_layer()[0];
  EXPECT_EQ(x.members, y.members);
  EXPECT_EQ(x.rho_histogram, y.rho_histogram);
  EXPECT_EQ(x.samples, y.samples);
  for (int e = 0; e < 4; ++e) {
    EXPECT_NEAR(x.gram[e].mean, y.gram[e].mean, 1e-12);
    EXPECT_NEAR(x.gram[e].variance(), y.gram[e].variance(), 1e-10);
  }
  EnsembleStatistics other(3, {0}, 16, 1e30);
  EXPECT_THROW(a.merge(other), std::exception);
}
