// LayerNorm (model.norm_kind = "layer") for the shaped/softmax family,
// pre- and post-norm: LN(x) = (x - mean x) / sqrt(var x + eps), gain 1,
// bias 0, var with 1/n, eps = model.norm_eps (1e-5 by default), token-wise
// over the n features. Only the direct sampler runs it: the direct engine
// against the double reference network by network (a reference that skips
// the centring is caught), V_aa = var/(var + eps) = 1 - eps/(var + eps)
// after every block, and the sampler registry (auto picks direct, exact is
// refused naming model.norm_kind, also through the CLI with exit 2).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <vector>

#include "attnmc/engine.hpp"
#include "attnmc/error.hpp"
#include "host/samplers.hpp"
#include "reference/reference_model.hpp"
#include "tests/cli_runner.hpp"
#include "tests/test_support.hpp"

namespace attnmc {
namespace {

RunSpec layer_norm_spec(AttentionKind attention, bool mlp, bool post) {
  RunSpec s;
  s.model.attention = attention;
  s.model.post_norm = post;
  s.model.pre_norm = !post;
  s.model.norm_kind = NormKind::layer;
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
  s.seed = 91;
  s.record_every = 1;
  s.sampler = Sampler::direct;
  s.device = test::kTestDevice;
  return s;
}

// max |engine - reference| / max(1, |reference|) over entries of V, the
// reference run with `ref_spec` (the engine's spec unless a bug is planted).
double max_error(const RunSpec& resolved, const RunSpec& ref_spec) {
  const std::vector<float> eng = simulate_grams(resolved, 0, resolved.members);
  const std::size_t per =
      resolved.record_layers.size() * resolved.model.tokens * resolved.model.tokens;
  double worst = 0;
  for (std::uint64_t t = 0; t < resolved.members; ++t) {
    const std::vector<double> ref = reference::direct_grams(ref_spec, t);
    for (std::size_t e = 0; e < per; ++e)
      worst =
          std::max(worst, std::fabs(eng[t * per + e] - ref[e]) / std::max(1.0, std::fabs(ref[e])));
  }
  return worst;
}

TEST(LayerNorm, ReferenceRowHasZeroMeanAndVarianceVarOverVarPlusEps) {
  const int n = 10;
  const double eps = 0.25;
  std::vector<double> x(n);
  for (int i = 0; i < n; ++i) x[i] = 3.0 + std::sin(1.7 * i);  // mean far from 0
  double mean = std::accumulate(x.begin(), x.end(), 0.0) / n, var = 0;
  for (double v : x) var += (v - mean) * (v - mean);
  var /= n;
  reference::layer_normalise(x.data(), n, eps);
  double m2 = 0, s2 = 0;
  for (double v : x) m2 += v, s2 += v * v;
  EXPECT_NEAR(m2 / n, 0.0, 1e-14);
  EXPECT_NEAR(s2 / n, var / (var + eps), 1e-14);
}

TEST(LayerNorm, DirectEngineMatchesReference) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  for (bool post : {true, false})
    for (AttentionKind a : {AttentionKind::shaped, AttentionKind::softmax})
      for (bool mlp : {false, true}) {
        const RunSpec s = resolve_run(layer_norm_spec(a, mlp, post));
        EXPECT_LT(max_error(s, s), 1e-4) << post << " " << int(a) << " " << mlp;
      }
  // A larger eps is carried through too.
  RunSpec e = layer_norm_spec(AttentionKind::softmax, true, true);
  e.model.norm_eps = 0.3;
  e = resolve_run(e);
  EXPECT_LT(max_error(e, e), 1e-4);
}

// Planted bug: a LayerNorm that skips the centring is x / sqrt(mean x^2 +
// eps), i.e. RMS up to eps; the reference run that way leaves the engine by
// far more than the 1e-4 tolerance above.
TEST(LayerNorm, SkippedCentringIsCaught) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  for (AttentionKind a : {AttentionKind::shaped, AttentionKind::softmax}) {
    const RunSpec s = resolve_run(layer_norm_spec(a, false, true));
    RunSpec no_centring = s;
    no_centring.model.norm_kind = NormKind::rms;
    no_centring.model.norm_eps = kDefaultNormEps;
    EXPECT_GT(max_error(s, no_centring), 1e-2) << int(a);
  }
}

// After a post-LayerNorm every token has mean 0 and V_aa = |x - mean|^2 / n /
// (var + eps) = var / (var + eps) = 1 - eps / (var + eps): in (0, 1], equal
// to 1 up to eps / var. With eps = 1e-5 and var >= 0.01 (tokens of rms ~ 1),
// V_aa lies in [1 - 1e-3, 1] (plus float32 rounding); with eps = 1 it is
// var / (var + 1) < 1 and so clearly below 1 on average.
TEST(LayerNorm, PostNormTokensHaveUnitVarianceUpToEps) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  for (AttentionKind a : {AttentionKind::shaped, AttentionKind::softmax})
    for (bool mlp : {false, true}) {
      const RunSpec s = resolve_run(layer_norm_spec(a, mlp, true));
      const std::vector<float> v = simulate_grams(s, 0, s.members);
      const int m = s.model.tokens;
      const std::size_t R = s.record_layers.size();
      for (std::uint64_t t = 0; t < s.members; ++t)
        for (std::size_t r = 1; r < R; ++r)
          for (int i = 0; i < m; ++i) {
            const float vaa = v[(t * R + r) * m * m + i * m + i];
            EXPECT_LE(vaa, 1.0 + 1e-5);
            EXPECT_GE(vaa, 1.0 - 1e-3);
          }
    }
  RunSpec big = layer_norm_spec(AttentionKind::shaped, false, true);
  big.model.norm_eps = 1.0;
  big = resolve_run(big);
  const std::vector<float> v = simulate_grams(big, 0, big.members);
  const int m = big.model.tokens;
  const std::size_t R = big.record_layers.size();
  for (std::uint64_t t = 0; t < big.members; ++t)
    for (std::size_t r = 1; r < R; ++r)
      for (int i = 0; i < m; ++i) EXPECT_LT(v[(t * R + r) * m * m + i * m + i], 0.999);
}

TEST(LayerNorm, SamplerRegistryAndBadEps) {
  RunSpec s = layer_norm_spec(AttentionKind::shaped, false, true);
  s.sampler = Sampler::automatic;
  const host::SamplerChoice c = host::choose_sampler(resolve_run(s));
  EXPECT_STREQ(c.sampler->name, "direct");
  EXPECT_NE(c.reason.find("model.norm_kind"), std::string::npos) << c.reason;
  s.sampler = Sampler::exact;
  try {
    host::choose_sampler(resolve_run(s));
    FAIL() << "exact sampler accepted LayerNorm";
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), "model.norm_kind");
  }
  // RMS normalisation stays with the exact sampler.
  s.model.norm_kind = NormKind::rms;
  EXPECT_NO_THROW(host::choose_sampler(resolve_run(s)));
  // eps: finite and > 0, and only for LayerNorm.
  s.model.norm_eps = 0.1;
  EXPECT_THROW(resolve_run(s), InputError);
  s.model.norm_kind = NormKind::layer;
  s.sampler = Sampler::direct;
  s.model.norm_eps = 0.0;
  try {
    resolve_run(s);
    FAIL() << "eps 0 accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), "model.norm_eps");
  }
}

TEST(LayerNormCli, AutoPicksDirectAndExactIsRefused) {
  const auto dir = test::scratch_dir("attnmc_test_layer_norm_");
  const auto cfg = dir / "ln.toml";
  std::ofstream(cfg) << R"(
[model]
preset = "softmax"
width = 12
tokens = 3
depth = 3
norm = "post"
norm_kind = "layer"
[input]
rho0 = 0.4
[ensemble]
members = 8
seed = 5
)";
  const auto out = dir / "out";
  test::CliResult r = test::run_attnmc("run " + cfg.string() + " -q -o " + out.string(), dir);
  ASSERT_EQ(r.code, 0) << r.text();
  const nlohmann::json j = nlohmann::json::parse(test::slurp(out / "summary.json"));
  EXPECT_EQ(j["sampler"], "direct");
  EXPECT_EQ(j["config"]["model"]["norm_kind"], "layer");
  EXPECT_EQ(j["config"]["model"]["kind"], "softmax-postnorm-ln");
  // An unknown kind names the key.
  r = test::run_attnmc(
      "run " + cfg.string() + " --set model.norm_kind=batch -q -o " + (dir / "bad").string(), dir);
  EXPECT_EQ(r.code, 2) << r.text();
  EXPECT_NE(r.text().find("model.norm_kind"), std::string::npos) << r.text();
  const auto refused = dir / "refused";
  r = test::run_attnmc(
      "run " + cfg.string() + " --set ensemble.sampler=exact -q -o " + refused.string(), dir);
  EXPECT_EQ(r.code, 2) << r.text();
  EXPECT_NE(r.text().find("model.norm_kind"), std::string::npos) << r.text();
  EXPECT_FALSE(std::filesystem::exists(refused));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace attnmc
