// The exact sampler's engine (Thrust functor, streamed Householder LQ)
// against the plain reference chain (whole matrices, Gram-Schmidt), network
// by network with the same keyed draws, over random small configurations of
// every model; and bit-identity whatever the chunk size or thread count.
// Runs on the CPU engine and (as test_exact_vs_reference_gpu) on CUDA.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>

#include "attnmc/engine.hpp"
#include "reference/reference_exact.hpp"
#include "tests/test_support.hpp"

using namespace attnmc;

namespace {

// Both compute the chain in double; they differ by the factorisation
// algorithm (rounding ~ cond(C) 1e-16 per layer) and the engine's float
// output (6e-8 relative). A wrong draw, slot or formula moves V by O(1/n)
// or more. Tolerance: 2e-6 (1 + l) sqrt(V_aa V_bb).
double tolerance(int layer, double vaa, double vbb) {
  return 2e-6 * (1.0 + layer) * std::sqrt(std::abs(vaa * vbb));
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
  s.model.tokens = uniform_int(2, 12);
  s.model.width = uniform_int(s.model.tokens, 200);
  s.model.depth = uniform_int(1, 10);
  s.model.heads = uniform_int(1, 3);
  s.model.head_dim = uniform_int(1, 2 * s.model.tokens);
  s.model.tau0 = uniform(0.3, 2.0);
  s.model.lambda = uniform(0.3, 0.95);
  s.model.mlp = uniform_int(0, 1) == 1;
  s.model.c_plus = uniform(-1, 1);
  s.model.c_minus = uniform(-1, 1);
  s.input.rho0 = uniform(-0.5 / (s.model.tokens - 1), 0.8);
  s.members = 3;
  s.seed = gen();
  s.record_every = 1;
  s.sampler = Sampler::exact;
  s.device = test::kTestDevice;
  return resolve_run(s);
}

}  // namespace

TEST(ExactVsReference, RandomConfigurationsNetworkByNetwork) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  std::mt19937 gen(20240611);
  for (int trial = 0; trial < 40; ++trial) {
    const RunSpec spec = random_spec(gen);
    std::ostringstream what;
    what << model_kind_name(spec.model) << " n=" << spec.model.width << " m=" << spec.model.tokens
         << " d=" << spec.model.depth << " H=" << spec.model.heads << " nk=" << spec.model.head_dim
         << " mlp=" << spec.model.mlp << " seed=" << spec.seed;
    const int m = spec.model.tokens;
    const std::size_t mm = std::size_t(m) * m, records = spec.record_layers.size();
    const std::vector<float> eng = simulate_grams(spec, 5, spec.members);
    for (std::uint64_t i = 0; i < spec.members; ++i) {
      const std::vector<double> ref = reference::exact_grams(spec, 5 + i);
      ASSERT_EQ(ref.size(), records * mm);
      for (std::size_t r = 0; r < records; ++r)
        for (int a = 0; a < m; ++a)
          for (int b = 0; b < m; ++b) {
            const double vr = ref[r * mm + a * m + b];
            const double ve = eng[(i * records + r) * mm + a * m + b];
            const double tol =
                tolerance(spec.record_layers[r], ref[r * mm + a * m + a], ref[r * mm + b * m + b]);
            ASSERT_NEAR(ve, vr, tol) << what.str() << " member " << i << " layer "
                                     << spec.record_layers[r] << " V" << a << b;
          }
    }
  }
}

// Same bits for chunk 1 on one thread as for one chunk on all threads.
TEST(ExactVsReference, ChunkingAndThreadsDoNotChangeBits) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  RunSpec s;
  s.model = model_preset("shaped-mlp");
  s.model.width = 64;
  s.model.tokens = 5;
  s.model.depth = 6;
  s.model.heads = 2;
  s.members = 24;
  s.sampler = Sampler::exact;
  s.device = test::kTestDevice;
  s.record_every = 2;
  s = resolve_run(s);
  RunSpec one = s;
  one.chunk = 1;
  one.threads = 1;
  RunSpec many = s;
  many.chunk = 7;
  many.threads = 2;
  const std::vector<float> a = simulate_grams(one, 0, s.members);
  const std::vector<float> b = simulate_grams(many, 0, s.members);
  ASSERT_EQ(a, b);
  // Members are keyed by global index: a sub-range reproduces its slice.
  const std::vector<float> c = simulate_grams(many, 10, 5);
  const std::size_t per = a.size() / s.members;
  ASSERT_EQ(c, std::vector<float>(a.begin() + 10 * per, a.begin() + 15 * per));
}
