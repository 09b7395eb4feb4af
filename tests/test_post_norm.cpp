// Post-normalisation X <- rms(lambda X + gamma A X W_V) for the shaped and
// softmax family, and free residual weights for unshaped models: the direct
// engine against the double reference network by network, the exact
// (Gram-chain) sampler against its reference, exact vs direct in law, and
// the normalisation itself (V_aa = 1 after every block).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "attnmc/engine.hpp"
#include "attnmc/error.hpp"
#include "reference/reference_exact.hpp"
#include "reference/reference_model.hpp"
#include "tests/test_support.hpp"

namespace attnmc {
namespace {

RunSpec post_norm_spec(AttentionKind attention, bool mlp, Sampler sampler) {
  RunSpec s;
  s.model.attention = attention;
  s.model.post_norm = true;
  s.model.mlp = mlp;
  s.model.tokens = 4;
  s.model.width = 24;
  s.model.depth = 5;
  s.model.heads = 2;
  s.model.head_dim = 6;
  s.model.tau0 = 0.8;
  s.model.lambda = 0.8;
  s.input.rho0 = 0.3;
  s.members = 4;
  s.seed = 77;
  s.record_every = 1;
  s.sampler = sampler;
  s.device = test::kTestDevice;
  return s;
}

// max |engine - reference| / max(1, |reference|) over entries of V.
double max_error(const RunSpec& spec, bool exact) {
  const RunSpec s = resolve_run(spec);
  const std::vector<float> eng = simulate_grams(s, 0, s.members);
  const std::size_t per = s.record_layers.size() * s.model.tokens * s.model.tokens;
  double worst = 0;
  for (std::uint64_t t = 0; t < s.members; ++t) {
    const std::vector<double> ref =
        exact ? reference::exact_grams(s, t) : reference::direct_grams(s, t);
    for (std::size_t e = 0; e < per; ++e)
      worst =
          std::max(worst, std::fabs(eng[t * per + e] - ref[e]) / std::max(1.0, std::fabs(ref[e])));
  }
  return worst;
}

TEST(PostNorm, DirectEngineMatchesReference) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  for (AttentionKind a : {AttentionKind::shaped, AttentionKind::softmax})
    for (bool mlp : {false, true})
      EXPECT_LT(max_error(post_norm_spec(a, mlp, Sampler::direct), false), 1e-4)
          << int(a) << " " << mlp;
  // Free residual weights (softmax): X <- rms(X + A X W_V / sqrt(n)), lambda = gamma = 1.
  RunSpec s = post_norm_spec(AttentionKind::softmax, false, Sampler::direct);
  s.model.lambda = 1.0;
  s.model.gamma = 1.0;
  EXPECT_LT(max_error(s, false), 1e-4);
  // Planted bug: the reference without the post-norm differs by far more.
  RunSpec plain = resolve_run(s);
  const std::vector<float> eng = simulate_grams(plain, 0, 1);
  plain.model.post_norm = false;
  const std::vector<double> ref = reference::direct_grams(plain, 0);
  double diff = 0;
  for (std::size_t e = 0; e < ref.size(); ++e) diff = std::max(diff, std::fabs(eng[e] - ref[e]));
  EXPECT_GT(diff, 0.1);
}

TEST(PostNorm, ExactSamplerMatchesItsReferenceAndNormalises) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  for (AttentionKind a : {AttentionKind::shaped, AttentionKind::softmax})
    for (bool mlp : {false, true}) {
      const RunSpec s = resolve_run(post_norm_spec(a, mlp, Sampler::exact));
      EXPECT_LT(max_error(s, true), 1e-4) << int(a) << " " << mlp;
      const std::vector<float> v = simulate_grams(s, 0, s.members);
      const int m = s.model.tokens;
      const std::size_t R = s.record_layers.size();
      for (std::uint64_t t = 0; t < s.members; ++t)
        for (std::size_t r = 1; r < R; ++r)
          for (int i = 0; i < m; ++i) EXPECT_NEAR(v[(t * R + r) * m * m + i * m + i], 1.0, 1e-5);
    }
}

// Exact and direct are the same law: the mean of rho_01 at the last layer
// agrees within 4.5 combined standard errors (two-sided false-failure rate
// 7e-6 for each of the two models, normal approximation with 2000 networks
// each). (A chain that forgot the post-norm is caught network by network
// above: its V_aa are not 1 and it leaves its reference.)
TEST(PostNorm, ExactAndDirectAgreeInLaw) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  for (AttentionKind a : {AttentionKind::shaped, AttentionKind::softmax}) {
    RunSpec d = post_norm_spec(a, false, Sampler::direct);
    d.members = 2000;
    d.model.depth = 8;
    d.model.width = 16;
    d.record_every = 0;
    RunSpec e = d;
    e.sampler = Sampler::exact;
    e.seed = 78;
    auto rho_mean = [](const RunSpec& s, double* se) {
      const EnsembleResult r = run_ensemble(s);
      const Moments& mo = r.stats.per_layer().back().rho[1];
      *se = mo.stddev() / std::sqrt(double(mo.count));
      return mo.mean();
    };
    double se_d, se_e;
    const double md = rho_mean(d, &se_d), me = rho_mean(e, &se_e);
    EXPECT_LT(std::fabs(md - me), 4.5 * std::hypot(se_d, se_e)) << md << " vs " << me;
  }
}

TEST(PostNorm, RefusedWhereItHasNoMeaning) {
  RunSpec s = post_norm_spec(AttentionKind::shaped, false, Sampler::direct);
  s.model.pre_norm = true;
  try {
    resolve_run(s);
    FAIL() << "pre and post together accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), "model.norm");
  }
  // Free weights are for unshaped models: the shaped model keeps lambda^2 + gamma^2 = 1.
  s = post_norm_spec(AttentionKind::shaped, false, Sampler::direct);
  s.model.lambda = 1.0;
  s.model.gamma = 1.0;
  EXPECT_THROW(resolve_run(s), InputError);
  s.model.attention = AttentionKind::softmax;
  EXPECT_NO_THROW(resolve_run(s));
}

}  // namespace
}  // namespace attnmc
