// Statistics aggregation: exact moments against two-pass formulas, merging
// in any grouping against one sequential run (to the bit), quantiles
// against a sort (exact samples) and within the stated sketch bounds, and
// the counting of non-finite and overflowing members.
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
  long double sum = 0;  // 64-bit mantissa: the reference is more exact than a double sum
  for (double x : xs) sum += x;
  const double mean = double(sum / xs.size());
  double ss = 0;
  for (double x : xs) ss += (x - mean) * (x - mean);
  EXPECT_EQ(m.count, 10001);
  EXPECT_NEAR(m.mean(), mean, 4e-16 * mean);
  EXPECT_NEAR(m.variance(), ss / double(xs.size() - 1), 1e-9 * ss / double(xs.size()));
  EXPECT_TRUE(std::isnan(Moments{}.variance()));
}

TEST(Moments, MergeInAnyGroupingGivesTheSameBits) {
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
    b.merge(a);  // the later piece first: order must not matter
    EXPECT_EQ(b, all);
    EXPECT_EQ(b.mean(), all.mean());
    EXPECT_EQ(b.variance(), all.variance());
  }
  // Reversed order of additions: the same bits (a float sum would differ).
  Moments reversed;
  for (auto it = xs.rbegin(); it != xs.rend(); ++it) reversed.add(*it);
  EXPECT_EQ(reversed, all);
}

TEST(ExactSum, IsExactWhereDoublesLoseDigits) {
  ExactSum s;
  s.add(1e16);
  s.add(1.0);
  s.add(-1e16);
  EXPECT_EQ(s.value(), 1.0);  // double arithmetic gives 0
  ExactSum t;
  for (int i = 0; i < 10; ++i) t.add(0.1);
  EXPECT_EQ(t.value(), double(10 * (long double)0.1));  // exact sum of the ten doubles, rounded
  ExactSum sq;
  sq.add_square(1.0 + std::ldexp(1.0, -30));  // (1 + 2^-30)^2 needs 61 bits
  sq.add(-1.0);
  sq.add(-std::ldexp(1.0, -29));
  EXPECT_EQ(sq.value(), std::ldexp(1.0, -60));
  ExactSum big;
  big.add(3e38);
  big.add_square(3e38);  // float32's largest squares are in range
  EXPECT_FALSE(big.overflowed());
  big.add(std::numeric_limits<double>::infinity());
  EXPECT_TRUE(big.overflowed());
  EXPECT_TRUE(std::isnan(big.value()));
}

TEST(ExactSum, CanonicalFormRoundTripsAndCarries) {
  ExactSum s;
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> u(-1e6, 1e6);
  for (int i = 0; i < 20000; ++i) s.add(u(gen) * std::ldexp(1.0, int(gen() % 80) - 40));
  const ExactSum t = ExactSum::from_canonical(s.canonical(), false);
  EXPECT_EQ(t, s);
  EXPECT_EQ(t.value(), s.value());
  const ExactSum::Limbs c = s.canonical();
  for (int k = 0; k + 1 < ExactSum::kLimbs; ++k) {
    EXPECT_GE(c[k], 0);
    EXPECT_LT(c[k], std::int64_t(1) << 32);
  }
}

TEST(Moments, VarianceOfTinySpreadAroundALargeMean) {
  // rho near 1 with spread 1e-9: a naive sum-of-squares formula in double
  // would return noise; the exact sums keep it.
  Moments m;
  std::vector<double> xs;
  for (int i = 0; i < 1000; ++i) xs.push_back(1.0 - 1e-9 * double(i % 7));
  for (double x : xs) m.add(x);
  double mean = 0, ss = 0;
  for (double x : xs) mean += x;
  mean /= 1000;
  for (double x : xs) ss += (x - mean) * (x - mean);
  EXPECT_NEAR(m.variance(), ss / 999, 1e-6 * ss / 999);
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

StatisticsOptions exact_options(int bins, double threshold) {
  StatisticsOptions o;
  o.histogram_bins = bins;
  o.overflow_threshold = threshold;
  o.exact_quantiles = true;
  return o;
}

TEST(EnsembleStatistics, QuantilesAndHistogramsMatchDirectComputation) {
  const int members = 999, layers = 2;
  const std::vector<float> g = random_grams(members, layers, 3);
  EnsembleStatistics st(2, {0, 5}, exact_options(20, 1e30));
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
      // The sketches, within their stated bounds.
      EXPECT_NEAR(st.sketch_quantile(r, 0, 1, q, true), numpy_linear_quantile(rho, q),
                  st.rho_quantile_error());
      EXPECT_NEAR(st.sketch_quantile(r, 0, 0, q, false), numpy_linear_quantile(v00, q),
                  st.gram_quantile_error() * numpy_linear_quantile(v00, q) * 1.001);
    }
    EXPECT_EQ(st.per_layer()[r].rho_histogram, hist);
    EXPECT_EQ(st.per_layer()[r].rho[1].count, members);
    EXPECT_EQ(st.per_layer()[r].rho[0].mean(), 1.0);
  }
}

TEST(EnsembleStatistics, CountsNonFiniteAndOverflowSeparately) {
  EnsembleStatistics st(2, {0}, exact_options(10, 100.0));
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
  EXPECT_DOUBLE_EQ(s.gram[0].mean(), 1.0);
  // Quantiles see the overflowing member (heavy tails are part of the law).
  EXPECT_DOUBLE_EQ(st.quantile(0, 0, 0, 1.0, false), 1000.0);
  EXPECT_NEAR(st.sketch_quantile(0, 0, 0, 1.0, false), 1000.0, 1.0);
  EXPECT_EQ(s.gram_sketch[0].count(), 3);
}

TEST(EnsembleStatistics, MergeOfPiecesInAnyOrderEqualsOneRun) {
  const int members = 500;
  const std::vector<float> g = random_grams(members, 2, 5);
  StatisticsOptions o;
  o.histogram_bins = 16;
  EnsembleStatistics all(2, {0, 1}, o), a(2, {0, 1}, o), b(2, {0, 1}, o), c(2, {0, 1}, o);
  for (int i = 0; i < members; ++i) all.add_member(g.data() + 8 * i);
  a.add_members(g.data(), 123, nullptr, 2);
  b.add_members(g.data() + 8 * 123, 200, nullptr, 1);
  c.add_members(g.data() + 8 * 323, members - 323, nullptr, 2);
  c.merge(a);  // pieces merged out of order
  c.merge(b);
  EXPECT_TRUE(c == all);
  EXPECT_EQ(c.per_layer()[1].gram[1].variance(), all.per_layer()[1].gram[1].variance());
  EXPECT_EQ(c.quantile(1, 0, 1, 0.5, true), all.quantile(1, 0, 1, 0.5, true));
  EnsembleStatistics other(3, {0, 1}, o);
  EXPECT_THROW(c.merge(other), std::exception);
  StatisticsOptions finer = o;
  finer.quantile_accuracy = 1e-4;
  EXPECT_THROW(c.merge(EnsembleStatistics(2, {0, 1}, finer)), std::exception);
}

TEST(EnsembleStatistics, MaxBytesBoundsWhatIsAllocated) {
  StatisticsOptions o;
  // Many members: every sketch at its worst case; few: bounded by the pages they can touch.
  const std::size_t bound = EnsembleStatistics::max_bytes(4, 3, o, 1000000);
  EXPECT_GT(bound, 3 * 10 * LogSketch::max_bytes(o.quantile_accuracy));
  EXPECT_LT(EnsembleStatistics::max_bytes(4, 3, o, 2), bound / 50);
  // What is allocated after adding members never exceeds the bound for that many.
  const std::vector<float> g = random_grams(500, 3, 8);
  EnsembleStatistics st(2, {0, 1, 2}, o);
  st.add_members(g.data(), 500, nullptr, 1);
  EXPECT_LE(st.bytes(), EnsembleStatistics::max_bytes(2, 3, o, 500));
  o.exact_quantiles = true;
  EXPECT_EQ(EnsembleStatistics::max_bytes(4, 3, o, 1000) - EnsembleStatistics::max_bytes(
                                                               4, 3,
                                                               [&] {
                                                                 StatisticsOptions n = o;
                                                                 n.exact_quantiles = false;
                                                                 return n;
                                                               }(),
                                                               1000),
            3u * 1000 * 16 * sizeof(float));
}
