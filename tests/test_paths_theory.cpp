// The saddle-point theory of attention paths (design/attention-paths.md
// section 3): the action and its analytic gradient against finite
// differences, a vanishing gradient at the L-BFGS answer (and the closed form
// of u_a there), and the approach to the Gaussian-process point and predictor
// as the widths grow. Deterministic (no sampling): no false failures.
#include <gtest/gtest.h>

#include <cmath>

#include "attnmc/error.hpp"
#include "attnmc/paths_theory.hpp"
#include "tests/test_paths_theory_support.hpp"

namespace ap = attnmc::paths;
using paths_test::make_task;
using paths_test::model_for;
using paths_test::overlaps;

namespace {

// A positive-definite point away from the GP point: U_l = GP + small A A^T.
ap::OrderParameters random_point(const ap::PathsTheoryModel& m, std::uint64_t seed) {
  ap::OrderParameters o = ap::gp_point(m);
  for (int l = 0; l < m.depth(); ++l) {
    const int d = m.level_dim(l);
    Eigen::MatrixXd a(d, d);
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j)
        a(i, j) = 0.4 * paths_test::gauss(seed, 7, l, std::uint64_t(i * d + j));
    const Eigen::MatrixXd add = a * a.transpose();
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j) o.u[l][std::size_t(i) * d + j] += add(i, j);
  }
  o.u_a = 1.3;
  return o;
}

void check_gradient(const ap::PathsTheoryModel& m, const ap::PathOverlapData& d,
                    std::uint64_t seed) {
  const ap::OrderParameters u = random_point(m, seed);
  ap::OrderParameters g;
  const double s = ap::action(m, d, u, &g);
  ASSERT_TRUE(std::isfinite(s));
  const double h = 1e-5;
  int checked = 0;
  for (int l = 0; l < m.depth(); ++l) {
    const int n = m.level_dim(l);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j <= i; ++j) {
        // A symmetric perturbation of (i, j) and (j, i).
        auto shifted = [&](double e) {
          ap::OrderParameters v = u;
          v.u[l][std::size_t(i) * n + j] += e;
          if (i != j) v.u[l][std::size_t(j) * n + i] += e;
          return ap::action(m, d, v);
        };
        const double fd = (shifted(h) - shifted(-h)) / (2 * h);
        const double an = (i == j ? 1.0 : 2.0) * g.u[l][std::size_t(i) * n + j];
        EXPECT_NEAR(fd, an, 1e-6 * (1.0 + std::abs(an)))
            << "level " << l << " (" << i << "," << j << ")";
        ++checked;
      }
  }
  ap::OrderParameters va = u, vb = u;
  va.u_a += h, vb.u_a -= h;
  const double fd = (ap::action(m, d, va) - ap::action(m, d, vb)) / (2 * h);
  EXPECT_NEAR(fd, g.u_a, 1e-6 * (1.0 + std::abs(g.u_a)));
  EXPECT_GT(checked, 3);
}

}  // namespace

TEST(PathsTheory, ActionGradientMatchesFiniteDifferencesTwoLayers) {
  const auto t = make_task(11, 7, 3, {2, 2});
  auto m = model_for(t, 20, 0.1);
  m.variances = {1.1, 0.8, 1.3, 0.9};
  m.widths = {20, 15, 25};
  check_gradient(m, overlaps(t), 5);
}

TEST(PathsTheory, ActionGradientMatchesFiniteDifferencesThreeLayersUnevenHeads) {
  const auto t = make_task(12, 6, 2, {2, 1, 3}, 4, 5);
  auto m = model_for(t, 12, 0.2);
  m.variances = {0.9, 1.2, 0.7, 1.1, 1.4};
  m.widths = {12, 9, 14, 10};
  check_gradient(m, overlaps(t), 6);
}

TEST(PathsTheory, ActionIsInfiniteOffTheCone) {
  const auto t = make_task(13, 5, 2, {2, 2});
  const auto m = model_for(t, 10, 0.1);
  ap::OrderParameters u = ap::gp_point(m);
  u.u[1][0] = -1.0;  // U_2 not positive definite
  EXPECT_TRUE(std::isinf(ap::action(m, overlaps(t), u)));
}

// Gradient of S vanishes at the answer; u_a obeys its closed form given U_L;
// the answer is a minimum (every small perturbation raises S).
TEST(PathsTheory, SaddlePointHasVanishingGradient) {
  const auto t = make_task(21, 12, 5, {2, 2});
  const auto d = overlaps(t);
  for (long n : {3L, 10L, 100L}) {
    auto m = model_for(t, n, 0.05);
    m.widths = {n, n + 2, n + 1};
    m.variances = {1.0, 0.9, 1.2, 1.1};
    const ap::SaddlePoint sp = ap::solve_saddle_point(m, d);
    EXPECT_TRUE(sp.converged) << "N = " << n << " max|dS/dU| = " << sp.max_abs_gradient;
    EXPECT_LT(sp.max_abs_gradient, 1e-6 * std::max(1.0, std::abs(sp.action))) << "N = " << n;
    ap::OrderParameters g;
    EXPECT_NEAR(ap::action(m, d, sp.params, &g), sp.action, 1e-9 * std::abs(sp.action));
    // u_a = (-b + sqrt(b^2 + 4 g)) / 2, b = s_a (H_2 N_2 / N_a - 1), g = tr(U_2) N_2 s_a / (N_a
    // s_2).
    const double sa = m.variances[3], s2 = m.variances[2];
    const double n2 = double(m.widths[1]), na = double(m.widths[2]);
    const double tr2 = sp.params.u[1][0] + sp.params.u[1][3];
    const double b = sa * (2 * n2 / na - 1), gg = tr2 * n2 * sa / (na * s2);
    EXPECT_NEAR(sp.params.u_a, 0.5 * (-b + std::sqrt(b * b + 4 * gg)), 1e-6 * sp.params.u_a);
    // A minimum: symmetric perturbations of U_1 in every coordinate raise S.
    for (int i = 0; i < 4; ++i)
      for (double e : {-1e-3, 1e-3}) {
        ap::OrderParameters v = sp.params;
        v.u[0][std::size_t(i) * 4 + i] += e;
        EXPECT_GT(ap::action(m, d, v), sp.action) << "N = " << n;
      }
  }
}

TEST(PathsTheory, SaddlePointThreeLayers) {
  const auto t = make_task(22, 9, 3, {2, 1, 3}, 4, 5);
  auto m = model_for(t, 8, 0.1);
  const ap::SaddlePoint sp = ap::solve_saddle_point(m, overlaps(t));
  EXPECT_TRUE(sp.converged) << sp.max_abs_gradient;
  EXPECT_LT(sp.max_abs_gradient, 1e-6 * std::max(1.0, std::abs(sp.action)));
}

// N -> infinity at fixed P: U -> the GP point (distance ~ P / N) and the
// predictor -> the GP predictor; at small N both are clearly different.
TEST(PathsTheory, LargeWidthTendsToGaussianProcess) {
  const auto t = make_task(31, 16, 8, {2, 2});
  const auto d = overlaps(t);
  const std::vector<double> gp1 = ap::gp_u1(model_for(t, 1, 0.05));
  const ap::Prediction gp_pred = ap::predict(model_for(t, 1, 0.05), d, gp1);
  std::vector<double> dist, pred_dist;
  for (long n : {10L, 1000L, 100000L, 10000000L}) {
    const auto m = model_for(t, n, 0.05);
    const ap::SaddlePoint sp = ap::solve_saddle_point(m, d);
    ASSERT_TRUE(sp.converged) << n;
    double du = 0.0;
    for (std::size_t i = 0; i < gp1.size(); ++i)
      du = std::max(du, std::abs(sp.params.u[0][i] - gp1[i]));
    const ap::Prediction pr = ap::predict(m, d, sp.params.u[0]);
    double dp = 0.0;
    for (std::size_t i = 0; i < pr.mean.size(); ++i) {
      dp = std::max(dp, std::abs(pr.mean[i] - gp_pred.mean[i]));
      dp = std::max(dp, std::abs(pr.variance[i] - gp_pred.variance[i]));
    }
    dist.push_back(du), pred_dist.push_back(dp);
  }
  EXPECT_GT(dist[0], 0.05);  // finite width matters at N = 10
  EXPECT_GT(pred_dist[0], 1e-3);
  for (std::size_t i = 1; i < dist.size(); ++i) {
    EXPECT_LT(dist[i], dist[i - 1] / 20) << i;  // ~ 1/N: a factor 100 per step
    EXPECT_LT(pred_dist[i], pred_dist[i - 1] / 20) << i;
  }
  EXPECT_LT(dist.back(), 1e-4);
  EXPECT_LT(pred_dist.back(), 1e-4);
}

TEST(PathsTheory, HeadScoresAndPruning) {
  const auto t = make_task(41, 14, 30, {2, 2});
  const auto d = overlaps(t);
  const auto m = model_for(t, 10, 0.05);
  const ap::SaddlePoint sp = ap::solve_saddle_point(m, d);
  const auto scores = ap::head_scores(m, d, sp.params.u[0]);
  ASSERT_EQ(scores.size(), 4u);
  const ap::Prediction full = ap::predict(m, d, sp.params.u[0]);
  double top = 0.0;
  for (const auto& s : scores) {
    top = std::max(top, s.score);
    // The score by hand: entries (p, q) with p or q through the head.
    const int np = 4;
    double by_hand = 0.0, max_hand = 0.0;
    for (int l = 0; l < 2; ++l)
      for (int h = 0; h < 2; ++h) {
        double sc = 0.0;
        for (int p = 0; p < np; ++p)
          for (int q = 0; q < np; ++q) {
            const int hp = l == 0 ? p / 2 : p % 2, hq = l == 0 ? q / 2 : q % 2;
            if (hp == h || hq == h) sc += std::abs(sp.params.u[0][std::size_t(p) * np + q]);
          }
        max_hand = std::max(max_hand, sc);
        if (l == s.layer && h == s.head) by_hand = sc;
      }
    EXPECT_NEAR(s.score, by_hand / max_hand, 1e-12);
    EXPECT_NEAR(s.accuracy_drop, full.test_accuracy - s.pruned_accuracy, 1e-15);
    // Pruned accuracy from the pruned U_1 directly.
    std::vector<double> pruned = sp.params.u[0];
    for (int p = 0; p < np; ++p)
      for (int q = 0; q < np; ++q) {
        const int hp = s.layer == 0 ? p / 2 : p % 2, hq = s.layer == 0 ? q / 2 : q % 2;
        if (hp == s.head || hq == s.head) pruned[std::size_t(p) * np + q] = 0.0;
      }
    EXPECT_EQ(ap::predict(m, d, pruned).test_accuracy, s.pruned_accuracy);
  }
  EXPECT_DOUBLE_EQ(top, 1.0);
}

TEST(PathsTheory, BadInputNamesTheField) {
  const auto t = make_task(51, 4, 2, {2, 2});
  const auto d = overlaps(t);
  auto m = model_for(t, 10, 0.1);
  m.temperature = 0.0;
  try {
    ap::solve_saddle_point(m, d);
    FAIL();
  } catch (const attnmc::InputError& e) {
    EXPECT_EQ(e.parameter(), "temperature");
  }
  m = model_for(t, 10, 0.1);
  m.heads = {2, 3};
  try {
    ap::solve_saddle_point(m, d);
    FAIL();
  } catch (const attnmc::InputError& e) {
    EXPECT_EQ(e.parameter(), "overlaps");
  }
}
