// Decomposition independence: the same seed gives the same bits whatever the
// chunk size, thread count or member range a run is split into.
#include <gtest/gtest.h>

#include <cstring>
#include <tuple>

#include "attnmc/engine.hpp"
#include "tests/test_support.hpp"

using namespace attnmc;

namespace {

using Case = std::tuple<const char*, Sampler>;

RunSpec small_spec(const Case& c) {
  RunSpec s;
  s.model = model_preset(std::get<0>(c));
  s.sampler = std::get<1>(c);
  s.model.width = 24;
  s.model.tokens = 3;
  s.model.depth = 5;
  s.model.heads = 2;
  s.model.head_dim = 7;
  s.members = 23;
  s.seed = 12345;
  s.device = test::kTestDevice;
  return resolve_run(s);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class Reproducibility : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(Reproducibility, ChunkSizeDoesNotChangeBits) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  RunSpec s = small_spec(GetParam());
  s.chunk = 0;  // all at once
  const std::vector<float> all = simulate_grams(s, 0, s.members);
  for (std::uint64_t chunk : {1, 7}) {
    s.chunk = chunk;
    EXPECT_TRUE(same_bits(simulate_grams(s, 0, s.members), all)) << "chunk " << chunk;
  }
}

TEST_P(Reproducibility, ThreadCountDoesNotChangeBits) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  RunSpec s = small_spec(GetParam());
  s.threads = 1;
  const std::vector<float> one = simulate_grams(s, 0, s.members);
  s.threads = 2;
  s.chunk = 5;
  EXPECT_TRUE(same_bits(simulate_grams(s, 0, s.members), one));
}

TEST_P(Reproducibility, MemberRangesAreSlicesOfTheWholeRun) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  const RunSpec s = small_spec(GetParam());
  const std::vector<float> all = simulate_grams(s, 0, s.members);
  const std::size_t per = s.record_layers.size() * 9;
  const std::vector<float> part = simulate_grams(s, 10, 4);
  EXPECT_TRUE(same_bits(part, std::vector<float>(all.begin() + 10 * per, all.begin() + 14 * per)));
}

TEST_P(Reproducibility, SeedChangesTheDraws) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  RunSpec s = small_spec(GetParam());
  const std::vector<float> a = simulate_grams(s, 0, 3);
  s.seed += 1;
  EXPECT_FALSE(same_bits(simulate_grams(s, 0, 3), a));
}

TEST_P(Reproducibility, StatisticsIdenticalAcrossChunkingAndThreads) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  RunSpec s = small_spec(GetParam());
  s.threads = 1;
  s.chunk = 1;
  const EnsembleResult a = run_ensemble(s);
  s.threads = 2;
  s.chunk = 0;
  const EnsembleResult b = run_ensemble(s);
  ASSERT_EQ(a.stats.per_layer().size(), b.stats.per_layer().size());
  for (std::size_t r = 0; r < a.stats.per_layer().size(); ++r) {
    const LayerStatistics &x = a.stats.per_layer()[r], &y = b.stats.per_layer()[r];
    EXPECT_EQ(x.rho_histogram, y.rho_histogram);
    EXPECT_TRUE(x.gram == y.gram && x.rho == y.rho);
    EXPECT_TRUE(x.gram_sketch == y.gram_sketch && x.rho_sketch == y.rho_sketch);
  }
  EXPECT_TRUE(a.stats == b.stats);
}

INSTANTIATE_TEST_SUITE_P(Models, Reproducibility,
                         ::testing::Combine(::testing::Values("shaped", "shaped-mlp", "softmax",
                                                              "softmax-prenorm"),
                                            ::testing::Values(Sampler::direct, Sampler::exact)),
                         [](const auto& info) {
                           std::string s = std::get<0>(info.param);
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s + "_" + sampler_name(std::get<1>(info.param));
                         });

// Widths beyond one 256-column segment: the CPU direct sampler's fused weight
// product splits each network over several items (kernels/
// direct_sampler.cu), whose order must not matter.
TEST(ReproducibilityDirect, WideNetworksIdenticalAcrossChunksAndThreads) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  RunSpec s;
  s.model = model_preset("shaped-mlp");
  s.sampler = Sampler::direct;
  s.model.width = 300;
  s.model.tokens = 3;
  s.model.depth = 2;
  s.model.heads = 1;
  s.model.head_dim = 260;
  s.members = 6;
  s.seed = 99;
  s.device = test::kTestDevice;
  s = resolve_run(s);
  s.threads = 1;
  s.chunk = 0;
  const std::vector<float> all = simulate_grams(s, 0, s.members);
  s.threads = 2;
  s.chunk = 4;  // 4 + 2
  EXPECT_TRUE(same_bits(simulate_grams(s, 0, s.members), all));
  s.threads = 2;
  s.chunk = 1;
  EXPECT_TRUE(same_bits(simulate_grams(s, 0, s.members), all));
}
