// Quantile sketches: every bucket representative within the stated bound,
// sketch quantiles within the stated bound of exact quantiles (on the
// heavy-tailed V of shaped networks and on rho near +-1), exact merging, and
// a planted off-by-one bucket index that the bound check must catch.
// Deterministic (fixed seeds, no statistical tolerance): false-failure rate 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "attnmc/engine.hpp"
#include "attnmc/sketch.hpp"
#include "attnmc/statistics.hpp"

using namespace attnmc;

namespace {

double exact_quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return linear_quantile(std::int64_t(v.size()), q,
                         [&](std::int64_t k) { return v[std::size_t(k)]; });
}

// The stated V bound: |est - exact| <= a max(|x_lo|, |x_hi|) (+ rounding).
bool within_log_bound(double est, const std::vector<double>& sorted, double q, double a) {
  const double pos = q * double(sorted.size() - 1);
  const std::size_t lo = std::size_t(pos), hi = std::min(lo + 1, sorted.size() - 1);
  const double exact = linear_quantile(std::int64_t(sorted.size()), q,
                                       [&](std::int64_t k) { return sorted[std::size_t(k)]; });
  const double scale = std::max(std::fabs(sorted[lo]), std::fabs(sorted[hi]));
  return std::fabs(est - exact) <= a * scale * (1 + 1e-9);
}

std::vector<double> heavy_tailed(int n, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::lognormal_distribution<double> logn(0.0, 3.0);
  std::bernoulli_distribution neg(0.3);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (double& x : v) x = (neg(gen) ? -1 : 1) * logn(gen);
  return v;
}

}  // namespace

TEST(LogSketch, EveryRepresentativeWithinRelativeAccuracy) {
  for (double a : {1e-2, 1e-3, 1e-4}) {
    const LogSketch s(a);
    std::mt19937_64 gen(1);
    std::uniform_real_distribution<double> e(-60, 60);
    for (int i = 0; i < 20000; ++i) {
      const double x = (i % 2 ? -1 : 1) * std::pow(2.0, e(gen));
      const double rep = s.representative(s.bucket(x));
      ASSERT_LE(std::fabs(rep - x), a * std::fabs(x) * (1 + 1e-9)) << "x = " << x << " a = " << a;
    }
  }
}

TEST(LogSketch, BucketsAreOrderedAndSpecialValuesHaveTheirOwn) {
  const LogSketch s(1e-3);
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> ascending = {-inf,  -1e30, -1e5, -1.0, -1e-5, -1e-30, 0.0,
                                         1e-30, 1e-5,  1.0,  1e5,  1e30,  inf};
  for (std::size_t i = 1; i < ascending.size(); ++i)
    EXPECT_LT(s.bucket(ascending[i - 1]), s.bucket(ascending[i])) << ascending[i];
  EXPECT_EQ(s.representative(s.bucket(inf)), inf);
  EXPECT_EQ(s.representative(s.bucket(-inf)), -inf);
  EXPECT_EQ(s.representative(s.bucket(1e30)), inf);   // overflow reads as +inf
  EXPECT_EQ(s.representative(s.bucket(1e-30)), 0.0);  // underflow reads as 0
  EXPECT_EQ(s.representative(s.bucket(0.0)), 0.0);
  EXPECT_EQ(s.bucket(0.0), s.store().size() / 2);
}

TEST(LogSketch, QuantilesWithinBoundOnHeavyTails) {
  const std::vector<double> v = heavy_tailed(20001, 7);
  std::vector<double> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  LogSketch s(1e-3);
  for (double x : v) s.add(x);
  for (double q = 0; q <= 1.0; q += 0.01)
    EXPECT_TRUE(within_log_bound(s.quantile(q), sorted, q, 1e-3)) << "q = " << q;
}

// A planted bug must be caught by the bound check used above: reading every
// value one bucket off (the classic floor-vs-ceil slip) moves it by a factor g.
TEST(LogSketch, PlantedOffByOneBucketIsCaught) {
  const std::vector<double> v = heavy_tailed(5001, 9);
  std::vector<double> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  LogSketch s(1e-3);
  for (double x : v) s.add(x);
  int caught = 0, checked = 0;
  for (double q = 0.05; q <= 0.95; q += 0.05, ++checked) {
    const double buggy = linear_quantile(std::int64_t(v.size()), q, [&](std::int64_t r) {
      return s.representative(s.store().bucket_of_rank(r) + 1);
    });
    caught += !within_log_bound(buggy, sorted, q, 1e-3);
  }
  EXPECT_EQ(caught, checked);
}

TEST(GridSketch, QuantilesWithinHalfACellNearPlusMinusOne) {
  std::mt19937_64 gen(5);
  std::exponential_distribution<double> ex(1.0);
  std::vector<double> v;
  for (int i = 0; i < 20000; ++i) {
    const double d = 1e-3 * ex(gen);  // mass piled up within 1e-2 of +-1
    v.push_back(i % 3 ? 1.0 - d : -1.0 + d);
  }
  v.push_back(1.0);
  v.push_back(-1.0);
  GridSketch s(1 << 15);
  for (double x : v) s.add(x);
  for (double q = 0; q <= 1.0; q += 0.01)
    EXPECT_NEAR(s.quantile(q), exact_quantile(v, q), 1.0 / (1 << 15) * (1 + 1e-9)) << q;
  // Planted: one cell off exceeds the bound for a grid this fine.
  int caught = 0;
  for (double q : {0.2, 0.5, 0.8})
    caught += std::fabs(s.representative(s.store().bucket_of_rank(std::int64_t(q * 20001)) + 1) -
                        exact_quantile(v, q)) > 1.0 / (1 << 15);
  EXPECT_EQ(caught, 3);
}

TEST(CountStore, MergeIsAdditionAndPagesAreAllocatedOnDemand) {
  CountStore a(100000), b(100000);
  a.add(5);
  a.add(99999, 3);
  b.add(5, 2);
  EXPECT_LT(a.bytes(), CountStore::max_bytes(100000) / 50);
  a.merge(b);
  EXPECT_EQ(a.at(5), 3);
  EXPECT_EQ(a.total(), 6);
  EXPECT_EQ(a.bucket_of_rank(0), 5u);
  EXPECT_EQ(a.bucket_of_rank(3), 99999u);
  const auto nz = a.nonzero();
  ASSERT_EQ(nz.size(), 2u);
  EXPECT_EQ(nz[1].second, 3);
}

// The engine's sketches against its exact quantiles, network by network
// the same members: shaped networks (heavy-tailed V) and softmax networks
// (rho collapsing to 1).
TEST(EngineSketches, WithinTheStatedBoundsOfExactQuantiles) {
  for (const char* preset : {"shaped", "softmax"}) {
    RunSpec s;
    s.model = model_preset(preset);
    s.model.width = 64;
    s.model.tokens = 3;
    s.model.depth = 64;
    s.members = 3000;
    s.seed = 4;
    s.device = Device::cpu;
    s.exact_quantiles = true;
    const EnsembleResult r = run_ensemble(s);
    const EnsembleStatistics& st = r.stats;
    const int m = 3;
    double max_rho = 0;
    for (int k = 0; k < int(st.layers().size()); ++k)
      for (double q : {0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0})
        for (int a = 0; a < m; ++a)
          for (int b = a; b < m; ++b) {
            const double ev = st.quantile(k, a, b, q, false),
                         sv = st.sketch_quantile(k, a, b, q, false);
            // Bound in terms of the neighbouring order statistics: use |exact| with slack
            // for the interpolation across a sign change (none at these quantiles here).
            EXPECT_LE(std::fabs(sv - ev),
                      st.gram_quantile_error() * std::fabs(ev) * (1 + 1e-6) + 1e-300)
                << preset << " layer " << st.layers()[k] << " V" << a << b << " q " << q;
            if (a == b) continue;
            const double er = st.quantile(k, a, b, q, true),
                         sr = st.sketch_quantile(k, a, b, q, true);
            EXPECT_LE(std::fabs(sr - er), st.rho_quantile_error() * (1 + 1e-9))
                << preset << " layer " << st.layers()[k] << " rho" << a << b << " q " << q;
            max_rho = std::max(max_rho, er);
          }
    if (std::string(preset) == "softmax") EXPECT_GT(max_rho, 0.999);  // near +1 was exercised
  }
}

// bucket_of_rank skips whole pages by their totals and nonzero() skips pages of
// zeros: both must agree with a plain bucket-by-bucket walk for every rank,
// with pages reserved up front (allocate_all), pages allocated on demand,
// counts on page boundaries and a copy (one block). Checked to fail when a
// page is skipped at `seen + sum <= rank + 1` (its last count holds the rank).
TEST(CountStore, PageSkippingAgreesWithAPlainWalk) {
  const std::size_t size = 20 * CountStore::kPage + 5;
  std::mt19937_64 rng(7);
  for (int variant = 0; variant < 3; ++variant) {
    CountStore s(size);
    if (variant != 1) s.allocate_all();
    std::vector<std::int64_t> plain(size, 0);
    for (std::size_t i : {std::size_t(0), CountStore::kPage - 1, CountStore::kPage,
                          3 * CountStore::kPage - 1, size - 1}) {
      s.add(i, 2);
      plain[i] += 2;
    }
    for (int k = 0; k < 40; ++k) {
      const std::size_t i = std::size_t(rng() % size);
      const std::int64_t c = std::int64_t(rng() % 3 + 1);
      s.add(i, c);
      plain[i] += c;
    }
    const CountStore t = variant == 2 ? CountStore(s) : s;
    std::vector<std::pair<std::uint64_t, std::int64_t>> nz;
    std::int64_t seen = 0;
    for (std::size_t i = 0; i < size; ++i) {
      if (plain[i] != 0) nz.emplace_back(i, plain[i]);
      for (std::int64_t r = seen; r < seen + plain[i]; ++r) ASSERT_EQ(t.bucket_of_rank(r), i);
      seen += plain[i];
    }
    EXPECT_EQ(seen, t.total());
    EXPECT_EQ(t.nonzero(), nz);
    EXPECT_THROW(t.bucket_of_rank(seen), std::exception);
  }
}
