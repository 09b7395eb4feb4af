// The float32 engine against the double-precision reference, network by
// network and entry by entry, with the same keyed Gaussian draws, over many
// random small configurations of every model. Runs on the CPU engine and
// (as test_engine_vs_reference_gpu) on the CUDA engine.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>
#include <tuple>
#include <utility>

#include "attnmc/engine.hpp"
#include "reference/reference_model.hpp"
#include "tests/test_support.hpp"

using namespace attnmc;

namespace {

// Tolerance. Engine and reference see the same Philox words; the engine's
// float Box-Muller differs from the double one by ~1e-7 relative, each
// float GEMM adds ~1e-7 sqrt(n) relative rounding, and a layer maps an
// error e to about (1 + O(1/sqrt n)) e. So the relative error of V after l
// layers grows roughly linearly in l from ~1e-6: we allow
//   |V_eng - V_ref| <= 3e-5 (1 + l) sqrt(V_aa V_bb)
// (measured worst cases are ~10x smaller). Modelling mistakes move V by
// O(1/sqrt n) >= 1e-2 relative per layer at these widths: far above this.
double tolerance(int layer, double vaa, double vbb) {
  return 3e-5 * (1.0 + layer) * std::sqrt(std::abs(vaa * vbb));
}

RunSpec random_spec(std::mt19937& gen) {
  auto uniform_int = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(gen);
  };
  auto uniform = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(gen);
  };
  RunSpec s;
  const int kind = uniform_int(0, 2);
  s.model.attention = kind == 0 ? AttentionKind::shaped : AttentionKind::softmax;
  s.model.pre_norm = kind == 2;
  s.model.width = uniform_int(4, 48);
  s.model.tokens = uniform_int(2, std::min(6, s.model.width));
  s.model.depth = uniform_int(1, 12);
  s.model.heads = uniform_int(1, 3);
  s.model.head_dim = uniform_int(1, s.model.width);
  s.model.tau0 = uniform(0.3, 2.0);
  s.model.lambda = uniform(0.2, 0.95);
  s.model.mlp = uniform_int(0, 1) == 1;
  s.model.c_plus = uniform(-1, 1);
  s.model.c_minus = uniform(-1, 1);
  const int m = s.model.tokens;
  if (uniform_int(0, 1) == 0) {
    s.input.rho0 = uniform(-0.9 / (m - 1), 0.9);
  } else {  // a random SPD Gram matrix G G^T / m + 0.1 I
    s.input.kind = InputSpec::Kind::gram;
    std::normal_distribution<double> normal;
    std::vector<double> g(m * m);
    for (double& v : g) v = normal(gen);
    s.input.gram.assign(m * m, 0.0);
    for (int a = 0; a < m; ++a)
      for (int b = 0; b < m; ++b) {
        for (int k = 0; k < m; ++k) s.input.gram[a * m + b] += g[a * m + k] * g[b * m + k] / m;
        if (a == b) s.input.gram[a * m + b] += 0.1;
      }
  }
  s.members = 3;
  s.seed = gen();
  s.record_every = 1;
  s.device = test::kTestDevice;
  s.sampler = Sampler::direct;  // the reference is the direct model
  return resolve_run(s);
}

std::string describe(const RunSpec& s) {
  std::ostringstream o;
  o << model_kind_name(s.model) << " n=" << s.model.width << " m=" << s.model.tokens
    << " d=" << s.model.depth << " H=" << s.model.heads << " nk=" << s.model.head_dim
    << " tau0=" << s.model.tau0 << " lambda=" << s.model.lambda << " seed=" << s.seed;
  return o.str();
}

// Largest |engine - reference| / tolerance over members, layers and entries.
double worst_ratio(const RunSpec& engine_spec, const RunSpec& reference_spec) {
  const std::vector<float> eng = simulate_grams(engine_spec, 0, engine_spec.members);
  const int m = engine_spec.model.tokens;
  const std::size_t records = engine_spec.record_layers.size();
  double worst = 0;
  for (std::uint64_t b = 0; b < engine_spec.members; ++b) {
    const std::vector<double> ref = reference::direct_grams(reference_spec, b);
    for (std::size_t r = 0; r < records; ++r)
      for (int a = 0; a < m; ++a)
        for (int c = 0; c < m; ++c) {
          const std::size_t off = r * m * m;
          const double e = eng[b * records * m * m + off + a * m + c];
          const double tol =
              tolerance(engine_spec.record_layers[r], ref[off + a * m + a], ref[off + c * m + c]);
          const double ratio = std::abs(e - ref[off + a * m + c]) / tol;
          worst = std::max(worst, std::isnan(ratio) ? INFINITY : ratio);
        }
  }
  return worst;
}

}  // namespace

// The reference's own numerics, independent of the engine: a naive
// softmax - 1/m loses the O(1e-12) deviation below to cancellation against
// 1/m (absolute error ~1e-17 on a value ~1e-13), the centred form keeps it
// to ~1e-9 relative; extreme logits stay finite; a row of A sums to one.
TEST(ReferenceModel, AttentionRowIsCentredAndStable) {
  const int m = 4;
  const double eps = 1e-12;
  const double y[m] = {0.0, eps, 2 * eps, 3 * eps};
  double out[m];
  reference::attention_row(y, m, true, 1, out);
  for (int b = 0; b < m; ++b) {
    // softmax_b - 1/m = (y_b - mean y) / m + O(eps^2).
    const double expect = (b == 1 ? 1.0 : 0.0) + (y[b] - 1.5 * eps) / m;
    EXPECT_NEAR(out[b] - (b == 1 ? 1.0 : 0.0), expect - (b == 1 ? 1.0 : 0.0), 1e-9 * eps) << b;
  }
  const double extreme[m] = {1e300, -1e300, 0.0, 1e300};
  for (bool shaped : {true, false}) {
    reference::attention_row(extreme, m, shaped, 0, out);
    double sum = 0;
    for (int b = 0; b < m; ++b) {
      EXPECT_TRUE(std::isfinite(out[b]));
      sum += out[b];
    }
    EXPECT_NEAR(sum, 1.0, 1e-15);
    EXPECT_NEAR(out[3], shaped ? 0.5 - 0.25 : 0.5, 1e-15);  // two maxima share the mass
  }
  double x[3] = {3.0, 0.0, -3.0};
  reference::rms_normalise(x, 3);
  EXPECT_NEAR(x[0], std::sqrt(1.5), 1e-15);
  EXPECT_NEAR(x[2], -std::sqrt(1.5), 1e-15);
}

TEST(EngineVsReference, RandomConfigurationsNetworkByNetwork) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  std::mt19937 gen(20261124);
  double overall = 0;
  for (int config = 0; config < 60; ++config) {
    const RunSpec s = random_spec(gen);
    const double worst = worst_ratio(s, s);
    overall = std::max(overall, worst);
    EXPECT_LE(worst, 1.0) << describe(s);
  }
  RecordProperty("worst_error_over_tolerance", std::to_string(overall));
}

// The comparison is sharp enough to see modelling mistakes the size of a
// typical bug: a 1% temperature change, a different residual weight, a
// flipped sign in the MLP nonlinearity (slopes swapped), a missing
// pre-normalisation, a different seed (wrong keying). Each ratio is recorded
// so the margin above the tolerance can be read from the XML output.
TEST(EngineVsReference, DetectsPlantedModellingErrors) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  RunSpec s;
  s.model.width = 32;
  s.model.tokens = 4;
  s.model.depth = 6;
  s.model.heads = 2;
  s.model.head_dim = 8;
  s.model.mlp = true;
  s.model.c_plus = 0.5;
  s.model.c_minus = -0.5;
  s.members = 2;
  s.record_every = 1;
  s.device = test::kTestDevice;
  s.sampler = Sampler::direct;  // the reference is the direct model
  const RunSpec base = resolve_run(s);
  ASSERT_LE(worst_ratio(base, base), 1.0);

  auto expect_detected = [&](const RunSpec& engine, const RunSpec& planted, const char* name) {
    const double ratio = worst_ratio(engine, planted);
    RecordProperty(name, std::to_string(ratio));
    EXPECT_GT(ratio, 1.0) << name;
  };
  RunSpec hot = base;
  hot.model.tau0 *= 1.01;
  expect_detected(base, hot, "tau0_times_1.01");
  RunSpec residual = base;
  residual.model.lambda = 0.70;
  residual.model.gamma = std::sqrt(1 - 0.49);
  expect_detected(base, residual, "lambda_0.70");
  RunSpec flipped = base;
  std::swap(flipped.model.c_plus, flipped.model.c_minus);
  expect_detected(base, flipped, "mlp_slopes_swapped");
  RunSpec reseeded = base;
  reseeded.seed += 1;
  expect_detected(base, reseeded, "seed_plus_1");
  RunSpec softmax = base;
  softmax.model.attention = AttentionKind::softmax;
  softmax.model.pre_norm = true;
  ASSERT_LE(worst_ratio(softmax, softmax), 1.0);
  RunSpec no_norm = softmax;
  no_norm.model.pre_norm = false;
  expect_detected(softmax, no_norm, "pre_norm_missing");
  RunSpec softmax_hot = softmax;
  softmax_hot.model.tau0 *= 1.01;
  expect_detected(softmax, softmax_hot, "softmax_tau0_times_1.01");
}

// The CPU engine multiplies each weight matrix in while drawing it for up to
// 16 tokens and stores it for a batched GEMM beyond (kernels/
// direct_sampler.cu); widths that are not multiples of the generator's runs
// of 64 and more than one 256-column segment exercise the fused path's
// offsets (n = 1024: its float sums over 1024 rows), 17 and 24 tokens the
// stored one. Both against the reference.
TEST(EngineVsReference, FusedAndStoredWeightProducts) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  for (const auto& [width, tokens, head_dim] :
       {std::tuple{1024, 2, 64}, std::tuple{300, 16, 5}, std::tuple{37, 3, 37},
        std::tuple{40, 17, 6}, std::tuple{33, 24, 7}}) {
    RunSpec s;
    s.model.width = width;
    s.model.tokens = tokens;
    s.model.depth = 3;
    s.model.heads = 2;
    s.model.head_dim = head_dim;
    s.model.mlp = true;
    s.model.c_plus = 0.3;
    s.model.c_minus = -0.6;
    s.input.rho0 = 0.2;
    s.members = 2;
    s.seed = 77 + tokens;
    s.record_every = 1;
    s.device = test::kTestDevice;
    s.sampler = Sampler::direct;
    const RunSpec spec = resolve_run(s);
    const double worst = worst_ratio(spec, spec);
    RecordProperty("worst_error_over_tolerance_n" + std::to_string(width), std::to_string(worst));
    EXPECT_LE(worst, 1.0) << describe(spec);
  }
}
