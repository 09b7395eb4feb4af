// The device reduction of Gram matrices (kernels/gram_statistics.cu) gives
// the statistics the host reference (EnsembleStatistics::add_members) gives,
// bit for bit: on hand-made matrices with every status (ok, overflow,
// non-finite, zero diagonal, blown up) and every sketch region (zero,
// under-, overflow buckets), for any chunk size and thread count; and end to
// end for every family, on the test's backend (CPU, and CUDA as *_gpu). The
// driver overlaps the host's part of chunk k with chunk k + 1.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "attnmc/engine.hpp"
#include "attnmc/sde.hpp"
#include "attnmc/sphere.hpp"
#include "attnmc/statistics.hpp"
#include "host/backend.hpp"
#include "host/context.hpp"
#include "host/driver.hpp"
#include "kernels/gram_statistics.hpp"
#include "tests/small_specs.hpp"
#include "tests/test_support.hpp"

using namespace attnmc;

namespace {

constexpr int kM = 3;
const std::vector<int> kLayers = {0, 2, 5, 9};

// Members x records x 3 x 3 with a few of every kind of trouble.
std::vector<float> awkward_grams(int members, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(0.05, 4.0), r(-1.0, 1.0), pick(0.0, 1.0);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> g;
  for (int i = 0; i < members * int(kLayers.size()); ++i) {
    double d[kM];
    for (double& x : d) x = u(gen);
    float v[kM * kM];
    for (int a = 0; a < kM; ++a)
      for (int b = 0; b < kM; ++b) v[a * kM + b] = float(a == b ? d[a] : 0.0);
    for (int a = 0; a < kM; ++a)
      for (int b = a + 1; b < kM; ++b) {
        const double c = r(gen);
        const float off = float(c * std::sqrt(d[a] * d[b]) * (pick(gen) < 0.05 ? 0.0 : 1.0));
        v[a * kM + b] = v[b * kM + a] = off;
      }
    const double t = pick(gen);
    if (t < 0.02)
      v[1] = nan;  // non-finite
    else if (t < 0.04)
      v[4] = inf;  // non-finite
    else if (t < 0.06)
      v[8] = 0.0f;  // degenerate token
    else if (t < 0.08)
      v[0] = 3e31f;  // above the overflow threshold
    else if (t < 0.10)
      v[2] = v[6] = 1e-25f;  // sketch underflow bucket
    else if (t < 0.12)
      v[4] = 1e22f;  // beyond the V sketch range
    else if (t < 0.14)
      v[0] = v[4] = v[8] = 1e-3f;  // small but fine
    g.insert(g.end(), v, v + kM * kM);
  }
  return g;
}

StatisticsOptions options(bool exact_quantiles) {
  StatisticsOptions o;
  o.histogram_bins = 37;
  o.overflow_threshold = 1e30;
  o.rho_quantile_bins = 1000;
  o.exact_quantiles = exact_quantiles;
  return o;
}

// Reduction on the CPU backend (its device pointers are host pointers).
EnsembleStatistics reduced(const std::vector<float>& g, std::uint64_t members,
                           const std::vector<std::int64_t>& blowup_step,
                           const std::vector<std::int64_t>& record_steps, std::uint64_t chunk,
                           int threads, bool exact_quantiles) {
  EnsembleStatistics s(kM, kLayers, options(exact_quantiles));
  const kernels::GramStatisticsJob job = s.device_job();
  const host::Context context(host::select_backend(Device::cpu), threads);
  const std::size_t per = kLayers.size() * kM * kM;
  for (std::uint64_t first = 0; first < members; first += chunk) {
    const std::uint64_t count = std::min(chunk, members - first);
    kernels::GramAggregate agg;
    auto frame = context.get().arena->frame();
    omp::reduce_grams(context.get(), frame, job, g.data() + first * per,
                      blowup_step.empty() ? nullptr : blowup_step.data() + first,
                      blowup_step.empty() ? nullptr : record_steps.data(), count, agg);
    s.add_aggregate(agg, g.data() + first * per, count);
  }
  return s;
}

EnsembleStatistics reference(const std::vector<float>& g, std::uint64_t members,
                             const std::vector<unsigned char>& blown, bool exact_quantiles) {
  EnsembleStatistics s(kM, kLayers, options(exact_quantiles));
  s.add_members(g.data(), members, blown.empty() ? nullptr : blown.data(), 1);
  return s;
}

}  // namespace

// Bodies that call the CPU backend directly run in the cpu suite only.
#define CPU_ONLY()                                                            \
  do {                                                                        \
    if (test::kTestDevice != Device::cpu) GTEST_SKIP() << "CPU backend test"; \
  } while (0)

TEST(GramReduction, MatchesTheHostReferenceOnEveryKindOfMember) {
  CPU_ONLY();
  const std::uint64_t members = 700;
  const std::vector<float> g = awkward_grams(int(members), 5);
  for (bool exact : {false, true}) {
    const EnsembleStatistics want = reference(g, members, {}, exact);
    // Every status occurs, so the comparison covers each path.
    const LayerStatistics& l = want.per_layer()[1];
    ASSERT_GT(l.nonfinite, 0);
    ASSERT_GT(l.overflow, 0);
    for (std::uint64_t chunk : {std::uint64_t(1), std::uint64_t(7), members})
      for (int threads : {1, 2}) {
        const EnsembleStatistics got = reduced(g, members, {}, {}, chunk, threads, exact);
        EXPECT_TRUE(got == want) << "chunk " << chunk << " threads " << threads;
        EXPECT_EQ(got.per_layer()[1].nonfinite, l.nonfinite);
        EXPECT_EQ(got.quantile(2, 0, 1, 0.3, true), want.quantile(2, 0, 1, 0.3, true));
        EXPECT_EQ(got.per_layer()[3].gram[4].mean(), want.per_layer()[3].gram[4].mean());
      }
  }
}

TEST(GramReduction, BlownUpRecordsAreCountedAsTheHostCountsThem) {
  CPU_ONLY();
  const std::uint64_t members = 300;
  const std::vector<float> g = awkward_grams(int(members), 8);
  const std::vector<std::int64_t> steps(kLayers.begin(), kLayers.end());
  std::mt19937 gen(2);
  std::vector<std::int64_t> blowup(members);
  std::vector<unsigned char> blown(members * kLayers.size());
  for (std::uint64_t i = 0; i < members; ++i) {
    blowup[i] = gen() % 4 == 0 ? std::int64_t(gen() % 10) : -1;
    for (std::size_t q = 0; q < kLayers.size(); ++q)
      blown[i * kLayers.size() + q] = blowup[i] >= 0 && steps[q] >= blowup[i];
  }
  for (bool exact : {false, true}) {
    const EnsembleStatistics want = reference(g, members, blown, exact);
    ASSERT_GT(want.per_layer().back().blowup, 0);
    EXPECT_TRUE(reduced(g, members, blowup, steps, 13, 2, exact) == want);
  }
}

// A mistake in the reduction shows: one member's key shifted by one bucket.
TEST(GramReduction, APlantedOffByOneBucketIsCaught) {
  CPU_ONLY();
  const std::uint64_t members = 50;
  const std::vector<float> g = awkward_grams(int(members), 3);
  EnsembleStatistics s(kM, kLayers, options(false));
  const host::Context context(host::select_backend(Device::cpu), 1);
  kernels::GramAggregate agg;
  auto frame = context.get().arena->frame();
  omp::reduce_grams(context.get(), frame, s.device_job(), g.data(), nullptr, nullptr, members, agg);
  ASSERT_FALSE(agg.keys.empty());
  agg.keys.front() += 1;
  s.add_aggregate(agg, nullptr, members);
  EXPECT_FALSE(s == reference(g, members, {}, false));
}

TEST(GramReduction, EveryFamilyReducesOnTheDeviceAsTheHostWould) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  // The host reference on the same members' matrices, shaped like `got`.
  auto expect_reference = [](const EnsembleStatistics& got, const std::vector<float>& grams,
                             std::uint64_t members, const unsigned char* blown, const char* what) {
    EnsembleStatistics want(got.tokens(), got.layers(), got.options());
    want.add_members(grams.data(), members, blown, 2);
    EXPECT_TRUE(got == want) << what;
  };
  for (Sampler sampler : {Sampler::exact, Sampler::direct}) {
    RunSpec s;
    s.model.width = 16;
    s.model.tokens = 3;
    s.model.depth = 5;
    s.members = 203;
    s.chunk = 37;
    s.sampler = sampler;
    s.device = test::kTestDevice;
    const EnsembleResult run = run_ensemble(s);
    expect_reference(run.stats, simulate_grams(run.spec, 0, s.members), s.members, nullptr,
                     sampler_name(sampler));
  }
  {
    SdeSpec s = test::small_sde_spec();
    s.chunk = 50;
    s.device = test::kTestDevice;
    const SdeResult run = run_sde(s);
    ASSERT_GT(run.blowups, 0);
    const SdeTrajectories t = simulate_sde(run.spec, 0, s.trajectories);
    const std::size_t R = run.spec.record_steps.size();
    std::vector<unsigned char> blown(s.trajectories * R);
    for (std::uint64_t i = 0; i < s.trajectories; ++i)
      for (std::size_t q = 0; q < R; ++q)
        blown[i * R + q] = t.blowup_step[i] >= 0 && run.spec.record_steps[q] >= t.blowup_step[i];
    expect_reference(run.stats, t.grams, s.trajectories, blown.data(), "sde");
  }
  {
    SphereSpec s = test::small_sphere_spec();
    s.chunk = 40;
    s.device = test::kTestDevice;
    const SphereResult run = run_sphere(s);
    expect_reference(run.stats, simulate_sphere(run.spec, 0, s.trajectories).grams, s.trajectories,
                     nullptr, "sphere");
  }
}

// Chunk k + 1 runs while the sink still holds chunk k: each sink but the
// last waits (up to 10 s) for the next chunk to start, which never happens
// in a driver that runs them one after the other.
TEST(GramReduction, TheHostPartOfAChunkOverlapsTheNextChunk) {
  CPU_ONLY();
  host::ChunkPlan plan;
  plan.end = 5;
  plan.chunk = 1;
  struct Out {
    void resize(std::uint64_t) {}
  };
  std::atomic<int> started{0};
  std::vector<bool> overlapped;
  host::drive(
      host::select_backend(Device::cpu), plan, Out{},
      [&](const kernels::ExecContext&, std::uint64_t, std::uint64_t, Out&) { ++started; },
      [&](const Out&, std::uint64_t first, std::uint64_t) {
        if (first + 1 == plan.end) return;
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (started.load() < int(first) + 2 && std::chrono::steady_clock::now() < until)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        overlapped.push_back(started.load() >= int(first) + 2);
      });
  EXPECT_EQ(overlapped, std::vector<bool>(4, true));
}

// The reduction takes an entry below the diagonal from its mirror above when
// every member of a block has V_ab == V_ba to the bit, and sums it itself
// when not: matrices that are not symmetric (one entry off by an ulp in
// some members, in blocks of 1, 7 and all members) must give the host's
// statistics too. Checked to fail when every block is taken as symmetric.
TEST(GramReduction, MatricesThatAreNotSymmetricReduceAsTheHostWould) {
  CPU_ONLY();
  const std::uint64_t members = 300;
  std::vector<float> g = awkward_grams(int(members), 11);
  std::mt19937 gen(3);
  for (std::size_t i = 0; i < g.size() / (kM * kM); ++i)
    if (gen() % 10 == 0) {
      float& x = g[i * kM * kM + 1 * kM + 2];  // V_12, so V_21 differs
      x = std::nextafter(x, 10.0f);
    }
  const EnsembleStatistics want = reference(g, members, {}, false);
  for (std::uint64_t chunk : {std::uint64_t(1), std::uint64_t(7), members})
    for (int threads : {1, 2})
      EXPECT_TRUE(reduced(g, members, {}, {}, chunk, threads, false) == want)
          << "chunk " << chunk << " threads " << threads;
}
