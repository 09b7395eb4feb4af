// SDE engine tests: weak convergence on the MLP-only diagonal (geometric
// Brownian motion), rho-SDE vs V-SDE in law, blow-up and PSD projection on
// cases built to trigger them, decomposition independence, and the
// blow-up bookkeeping of the statistics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attnmc/error.hpp"
#include "attnmc/sde.hpp"
#include "host/compare.hpp"
#include "kernels/sde_math.hpp"
#include "tests/test_support.hpp"

namespace attnmc {
namespace {

SdeSpec mlp_spec(double horizon, std::int64_t steps, std::uint64_t n, std::uint64_t seed) {
  SdeSpec s;
  s.model.tokens = 2;
  s.model.c_plus = 0.0;
  s.model.c_minus = -2.0;
  s.dynamics = SdeDynamics::neural_covariance;  // kappa = 1: V_aa is a GBM with sigma^2 = 2
  s.input.kind = InputSpec::Kind::gram;
  s.input.gram = {1.5, 0.3, 0.3, 0.8};
  s.horizon = horizon;
  s.steps = steps;
  s.trajectories = n;
  s.seed = seed;
  s.device = test::kTestDevice;
  return s;
}

// Terminal values of V_ab (or rho_ab) of an ensemble, blown-up paths skipped.
std::vector<double> terminal(const SdeSpec& spec, int a, int b, bool corr) {
  const SdeSpec s = resolve_sde(spec);
  const SdeTrajectories tr = simulate_sde(s, 0, s.trajectories);
  const int m = s.model.tokens;
  const std::size_t records = s.record_steps.size(), mm = std::size_t(m) * m;
  std::vector<double> v;
  for (std::uint64_t t = 0; t < s.trajectories; ++t) {
    if (tr.blowup_step[t] >= 0) continue;
    const float* g = tr.grams.data() + (t * records + records - 1) * mm;
    v.push_back(corr ? correlation(g, m, a, b) : double(g[a * m + b]));
  }
  return v;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// GBM dV = sqrt(2) V dW: E V_T = V0 for every step size (Euler keeps the
// mean exactly), median V0 e^{-T}. Euler's log V_T is a sum of T / dt terms
// log(1 + x), x = sqrt(2 dt) xi: mean -T - 3 T dt, third cumulant -6 T dt,
// so (Cornish-Fisher) its median is -T - 3 T dt + dt + O(dt^2) = -T - 0.5 dt
// at T = 0.5: a first-order bias that shrinks 4x from dt = 1/32 to 1/128.
// Medians of log V_T carry MC sd 1.2533 sqrt(2 T / N) = 0.0020 (N = 400000).
// Every bound below is >= 3.9 sd: false-failure rate < 1e-4 per check.
TEST(SdeWeak, MlpDiagonalIsGeometricBrownianMotion) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  const double T = 0.5, N = 400000, sd = 1.2533 * std::sqrt(2 * T / N);
  std::vector<double> err;
  for (std::int64_t steps : {16, 64}) {
    std::vector<double> v = terminal(mlp_spec(T, steps, std::uint64_t(N), 7 + steps), 0, 0, false);
    ASSERT_GT(double(v.size()), 0.999 * N);
    double mean = 0;
    for (double x : v) mean += x;
    mean /= double(v.size());
    // Var V_T = V0^2 (e^{2T} - 1): sd of the mean 1.5 * 1.31 / sqrt(N).
    EXPECT_NEAR(mean, 1.5, 4 * 1.5 * 1.31 / std::sqrt(N)) << "steps " << steps;
    for (double& x : v) x = std::log(x / 1.5);
    err.push_back(median(v) + T);
  }
  const double dt0 = T / 16;
  EXPECT_NEAR(err[0], -0.5 * dt0, 4 * sd + 0.1 * 0.5 * dt0);  // the first-order bias, resolved
  EXPECT_LT(err[0], -4 * sd);
  EXPECT_NEAR(err[1], -0.5 * dt0 / 4, 4 * sd);  // and it shrinks with dt
}

// The MLP-only correlation closes on its own: the rho-SDE (Euler and weak-2)
// and the full V-SDE give the same law of rho_T. Two-sample KS at N = 20000
// each: critical value at alpha = 1e-4 is 2.15 sqrt(2 / 20000) = 0.0215; the
// schemes' O(dt) biases at dt = 1/200 are far below that.
TEST(SdeLaw, RhoSdeMatchesVSde) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  for (SdeDynamics dyn : {SdeDynamics::neural_covariance, SdeDynamics::mlp}) {
    SdeSpec s = mlp_spec(1.0, 200, 20000, 11);
    s.dynamics = dyn;
    const std::vector<double> full = terminal(s, 0, 1, true);
    for (SdeScheme scheme : {SdeScheme::rho_euler, SdeScheme::rho_weak2}) {
      SdeSpec r = s;
      r.scheme = scheme;
      r.seed = 12;
      const std::vector<double> rho = terminal(r, 0, 1, true);
      EXPECT_LT(ks_distance(full, rho), 0.0215)
          << sde_dynamics_name(dyn) << " " << sde_scheme_name(scheme);
    }
    // Power check: the drift matters at this horizon, so a rho-SDE without
    // it would fail the same test.
    SdeSpec flat = s;
    flat.model.c_minus = 0.0;
    flat.scheme = SdeScheme::rho_euler;
    EXPECT_GT(ks_distance(full, terminal(flat, 0, 1, true)), 0.05);
  }
}

// Weak order of the rho schemes against a fine-step reference: the weak-2
// scheme's error in E rho_T at dt = 1/8 is well below Euler's.
// MC sd of each mean (N = 200000, sd(rho_T) < 0.5): < 0.0011.
TEST(SdeWeak, RhoWeak2BeatsEuler) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  auto mean_rho = [](SdeScheme scheme, std::int64_t steps) {
    SdeSpec s = mlp_spec(1.0, steps, 200000, 21);
    s.model.c_minus = -3.0;
    s.input.gram = {1.0, -0.2, -0.2, 1.0};
    s.scheme = scheme;
    std::vector<double> v = terminal(s, 0, 1, true);
    double m = 0;
    for (double x : v) m += x;
    return m / double(v.size());
  };
  const double ref = mean_rho(SdeScheme::rho_weak2, 256);
  const double e_euler = std::abs(mean_rho(SdeScheme::rho_euler, 8) - ref);
  const double e_weak2 = std::abs(mean_rho(SdeScheme::rho_weak2, 8) - ref);
  EXPECT_GT(e_euler, 0.01);  // Euler's bias is resolved (> 6 sd)
  EXPECT_LT(e_weak2, 0.5 * e_euler);
}

// The simplified weak Euler scheme (two-point increments) has the same law
// as Gaussian Euler-Maruyama up to O(dt): KS of rho_01 at T on the full
// attention SDE, N = 20000 each, critical value 0.0215 at alpha = 1e-4. Its
// V_aa mean also stays within MC error of Euler's.
TEST(SdeLaw, WeakEulerMatchesEuler) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  SdeSpec s;
  s.model.tokens = 3;
  s.model.tau0 = 1.5;
  s.input.rho0 = 0.3;
  s.horizon = 0.5;
  s.steps = 256;
  s.trajectories = 20000;
  s.device = test::kTestDevice;
  const std::vector<double> a = terminal(s, 0, 1, true);
  s.scheme = SdeScheme::weak_euler;
  s.seed = 2;
  const std::vector<double> b = terminal(s, 0, 1, true);
  EXPECT_LT(ks_distance(a, b), 0.0215);
  // Power: a horizon 20% longer is detected.
  s.horizon = 0.6;
  s.steps = 307;
  EXPECT_GT(ks_distance(a, terminal(s, 0, 1, true)), 0.0215);
}

// A case built to blow up: attention drift gamma^2 / tau0^2 = 50, cubic in V.
TEST(SdeHygiene, BlowUpIsCountedAndShownAsInfinity) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  SdeSpec s;
  s.model.tokens = 3;
  s.model.tau0 = 0.1;
  s.input.kind = InputSpec::Kind::gram;
  s.input.gram = {2.0, 0.1, 0.0, 0.1, 1.0, -0.2, 0.0, -0.2, 0.5};
  s.horizon = 2.0;
  s.steps = 400;
  s.trajectories = 2000;
  s.device = test::kTestDevice;
  const SdeResult r = run_sde(s);
  EXPECT_GT(r.blowups, 100);
  const LayerStatistics& last = r.stats.per_layer().back();
  EXPECT_EQ(last.blowup, r.blowups);
  EXPECT_EQ(last.members, 2000);
  EXPECT_EQ(last.gram[0].count, 2000 - r.blowups - last.nonfinite);  // moments exclude them
  // Blow-ups sit above every finite value: the top quantile is +inf, and
  // the fraction of +inf equals the blow-up fraction.
  const int R = int(r.stats.layers().size()) - 1;
  EXPECT_TRUE(std::isinf(r.stats.quantile(R, 0, 0, 1.0, false)));
  EXPECT_TRUE(std::isinf(r.stats.quantile(R, 0, 1, 1.0, true)));
  const double p = double(r.blowups) / 2000.0;
  if (p < 0.9) EXPECT_TRUE(std::isfinite(r.stats.quantile(R, 0, 0, 0.95 * (1 - p), false)));
  // Earlier records count only paths that had blown up by then.
  std::int64_t prev = 0;
  for (const LayerStatistics& l : r.stats.per_layer()) {
    EXPECT_GE(l.blowup, prev);
    prev = l.blowup;
  }
  EXPECT_EQ(r.stats.per_layer().front().blowup, 0);
}

// A case built to leave the PSD cone: nearly collinear tokens (rho0 = 0.995)
// and a coarse step, so an Euler step often makes V indefinite.
TEST(SdeHygiene, PsdProjectionIsCountedAndKeepsVPositive) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  SdeSpec s;
  s.model.tokens = 3;
  s.input.rho0 = 0.995;
  s.horizon = 1.0;
  s.steps = 5;
  s.trajectories = 2000;
  s.record_every = 1;
  s.device = test::kTestDevice;
  const SdeResult r = run_sde(s);
  EXPECT_GT(r.projections, 50);
  EXPECT_GT(r.projected_trajectories, 50);
  EXPECT_LE(r.projected_trajectories, r.projections);
  // Every recorded V is PSD (up to float rounding): |rho| <= 1 and the
  // smallest eigenvalue of the 3 x 3 V is >= -1e-5 trace.
  const SdeSpec rs = resolve_sde(s);
  const SdeTrajectories tr = simulate_sde(rs, 0, 500);
  const std::size_t records = rs.record_steps.size();
  for (std::uint64_t t = 0; t < 500; ++t)
    for (std::size_t q = 0; q < records; ++q) {
      const float* g = tr.grams.data() + (t * records + q) * 9;
      if (!std::isfinite(g[0])) continue;
      double A[9], Q[9], w[3];
      for (int e = 0; e < 9; ++e) A[e] = g[e];
      const double trace = A[0] + A[4] + A[8];
      kernels::sde_jacobi<3, 3>(A, 3, Q, w);
      EXPECT_GE(*std::min_element(w, w + 3), -1e-5 * trace);
    }
}

// PSD projection on a known matrix: diag(2, -1) rotated by 45 degrees
// projects to its positive part.
TEST(SdeMath, PsdProjectionClipsNegativeEigenvalues) {
  double V[4] = {0.5, 1.5, 1.5, 0.5}, L[4];  // eigenvalues 2 (1,1)/sqrt2 and -1 (1,-1)/sqrt2
  EXPECT_TRUE((kernels::sde_psd_project<2, 2>(V, 2, L)));
  for (int e = 0; e < 4; ++e) EXPECT_NEAR(V[e], 1.0, 1e-14);
  double W[4] = {2.0, 0.5, 0.5, 1.0};
  EXPECT_FALSE((kernels::sde_psd_project<2, 2>(W, 2, L)));
  EXPECT_NEAR(W[1], 0.5, 1e-14);
}

// Results do not depend on chunking or threads (keyed randomness).
TEST(SdeReproducibility, ChunkAndThreadIndependent) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  for (int m : {2, 5}) {
    SdeSpec s;
    s.model.tokens = m;
    s.model.mlp = true;
    s.model.c_minus = -1.0;
    s.input.rho0 = 0.3;
    s.horizon = 0.5;
    s.steps = 50;
    s.trajectories = 300;
    s.device = test::kTestDevice;
    SdeSpec a = resolve_sde(s), b = a;
    a.chunk = 7;
    a.threads = 1;
    b.threads = 2;
    const SdeTrajectories ta = simulate_sde(a, 0, 300), tb = simulate_sde(b, 0, 300);
    const SdeTrajectories tc = simulate_sde(a, 100, 50);
    EXPECT_EQ(ta.grams, tb.grams);
    const std::size_t per = a.record_steps.size() * m * m;
    EXPECT_TRUE(std::equal(tc.grams.begin(), tc.grams.end(), ta.grams.begin() + 100 * per));
  }
}

TEST(SdeSpecTest, BadInputNamesTheParameter) {
  SdeSpec s;
  s.model.tokens = 40;
  try {
    resolve_sde(s);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), "model.tokens");
  }
  s.model.tokens = 3;
  s.scheme = SdeScheme::rho_euler;
  try {
    resolve_sde(s);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), "sde.scheme");
  }
  // Defaults: T = depth / width, one step per layer.
  SdeSpec d;
  d.model.width = 64;
  d.model.depth = 32;
  const SdeSpec r = resolve_sde(d);
  EXPECT_DOUBLE_EQ(r.horizon, 0.5);
  EXPECT_EQ(r.steps, 32);
}

// The statistics' blow-up path: excluded from moments, +inf in quantiles.
TEST(SdeStatistics, BlownUpMembersAreInfiniteInQuantiles) {
  EnsembleStatistics st(2, {0}, 10, std::numeric_limits<double>::infinity());
  const float g[4] = {1, 0.5f, 0.5f, 1};
  const unsigned char yes = 1, no = 0;
  for (int i = 0; i < 3; ++i) st.add_member(g, &no);
  st.add_member(g, &yes);
  EXPECT_EQ(st.per_layer()[0].blowup, 1);
  EXPECT_EQ(st.per_layer()[0].gram[0].count, 3);
  EXPECT_NEAR(st.quantile(0, 0, 1, 0.5, true), 0.5, st.rho_quantile_error());  // sketch bound
  EXPECT_TRUE(std::isinf(st.quantile(0, 0, 1, 1.0, true)));
  EXPECT_TRUE(std::isinf(st.quantile(0, 0, 0, 1.0, false)));
}

}  // namespace
}  // namespace attnmc
