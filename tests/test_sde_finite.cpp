// Finite networks (exact sampler) vs the SDE: at a large width the law of
// rho_01 at T matches the SDE's (quantiles within MC error, two-sample KS
// below its critical value), for m = 2 and m = 3, and the distance to the
// SDE shrinks as the width grows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "attnmc/sde.hpp"
#include "host/compare.hpp"

namespace attnmc {
namespace {

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const std::size_t lo = std::size_t(pos);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  if (std::isinf(v[hi])) return v[hi];
  return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
}

// SE of a sample quantile: sqrt(q (1 - q) / N) / f(x_q), with the density
// from the SDE sample's quantiles at q -+ 0.02.
double quantile_se(const std::vector<double>& ref, double q, std::size_t n) {
  const double f = 0.04 / (quantile(ref, q + 0.02) - quantile(ref, q - 0.02));
  return std::sqrt(q * (1 - q) / double(n)) / f;
}

// Sizes: 8000 networks per width, 20000 SDE paths. The KS critical value at
// alpha = 1e-3 is 1.95 sqrt(1/8000 + 1/20000) = 0.0258; quantile checks use
// 4.5 combined SEs (two-sided 7e-6 each) plus 0.01 for the O(1/sqrt(n))
// finite-width bias at n = 256 (W1 measured about 0.005 there). Together
// the false-failure rate is below 2e-3 per model.
void check(int tokens, double tau0, double rho0) {
  CompareSpec s;
  s.model.tokens = tokens;
  s.model.tau0 = tau0;
  s.input.rho0 = rho0;
  s.horizon = 0.5;
  s.records = 2;
  s.widths = {8, 32, 256};
  s.members = 8000;
  s.trajectories = 20000;
  s.sde_steps = 512;
  s.sampler = Sampler::exact;
  s.device = Device::cpu;
  s.seed = 5;
  const CompareResult r = run_compare(s);
  const std::vector<double>& sde = r.series.back().terminal_rho;
  const std::vector<double>& wide = r.series[2].terminal_rho;
  const double blown = double(r.series.back().blowups) / double(s.trajectories);
  EXPECT_LT(blown, 0.005);
  EXPECT_LT(r.ks[2], 0.0258 + blown) << "n = 256 vs SDE";
  for (double q : {0.1, 0.25, 0.5, 0.75, 0.9}) {
    const double se = std::hypot(quantile_se(sde, q, wide.size()), quantile_se(sde, q, sde.size()));
    EXPECT_NEAR(quantile(wide, q), quantile(sde, q), 4.5 * se + 0.01) << "q = " << q;
  }
  // Shrinking: n = 8 is clearly off the SDE (its W1 is about 0.03, six times
  // the noise), n = 256 is close.
  EXPECT_GT(r.w1[0], 2.0 * r.w1[2]);
  EXPECT_GT(r.ks[0], r.ks[2]);
  EXPECT_GT(r.ks[0], 0.0258) << "n = 8 should be distinguishable from the SDE";
}

TEST(SdeVsFinite, TwoTokens) { check(2, 1.5, 0.3); }
TEST(SdeVsFinite, ThreeTokens) { check(3, 1.5, 0.3); }

// The full block (attention then shaped MLP): n = 128 matches the SDE with
// both drifts and kappa + 2 gamma^2 (KS below the alpha = 1e-3 critical
// value 1.95 sqrt(1/6000 + 1/15000) = 0.0301), and the attention-only SDE
// (the MLP's terms dropped) is rejected, so the MLP part is what matches.
TEST(SdeVsFinite, AttentionAndMlp) {
  CompareSpec s;
  s.model.tokens = 2;
  s.model.tau0 = 1.5;
  s.model.mlp = true;
  s.model.c_minus = -1.0;
  s.input.rho0 = 0.3;
  s.horizon = 0.5;
  s.records = 1;
  s.widths = {128};
  s.members = 6000;
  s.trajectories = 15000;
  s.sde_steps = 256;
  s.sampler = Sampler::exact;
  s.device = Device::cpu;
  s.seed = 9;
  const CompareResult r = run_compare(s);
  const double blown = double(r.series.back().blowups) / double(s.trajectories);
  EXPECT_LT(r.ks[0], 0.0301 + blown);

  SdeSpec a;
  a.model = s.model;
  a.dynamics = SdeDynamics::attention;
  a.input = s.input;
  a.horizon = s.horizon;
  a.steps = 256;
  a.trajectories = 15000;
  a.device = Device::cpu;
  const SdeSpec ra = resolve_sde(a);
  const SdeTrajectories tr = simulate_sde(ra, 0, ra.trajectories);
  std::vector<double> rho;
  const std::size_t records = ra.record_steps.size();
  for (std::uint64_t t = 0; t < ra.trajectories; ++t) {
    const float* g = tr.grams.data() + (t * records + records - 1) * 4;
    rho.push_back(std::isinf(g[0]) ? INFINITY : correlation(g, 2, 0, 1));
  }
  const double ks_attention_only = ks_distance(r.series[0].terminal_rho, rho);
  std::printf("both: KS(n = 128, SDE) = %.4f, KS(n = 128, attention-only SDE) = %.4f\n", r.ks[0],
              ks_attention_only);
  EXPECT_GT(ks_attention_only, 0.0301 + blown);
}

}  // namespace
}  // namespace attnmc
