// The one chunked driver (host/driver.hpp) and its execution context: items
// reach the sink once each and in order, the host buffers are sized once,
// the buffer arena allocates on the first chunk only (no per-chunk
// allocation), a run covers exactly its member range (pieces merge into the
// whole run), and no process-wide thread setting is left behind.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstdint>
#include <vector>

#include "attnmc/engine.hpp"
#include "attnmc/error.hpp"
#include "attnmc/sphere.hpp"
#include "host/backend.hpp"
#include "host/driver.hpp"
#include "host/samplers.hpp"
#include "kernels/model_coefficients.hpp"

extern "C" int openblas_get_num_threads(void);

using namespace attnmc;

namespace {

RunSpec small(Sampler sampler) {
  RunSpec s;
  s.model.width = 16;
  s.model.tokens = 3;
  s.model.depth = 4;
  s.members = 30;
  s.sampler = sampler;
  s.device = Device::cpu;
  s.threads = 1;
  return s;
}

std::string key_of(const RunSpec& s) {
  try {
    resolve_run(s);
  } catch (const InputError& e) {
    return e.parameter();
  }
  return "";
}

struct CountingOut {
  std::vector<std::uint64_t>* sizes = nullptr;  // shared by the driver's copies
  void resize(std::uint64_t n) { sizes->push_back(n); }
};

}  // namespace

TEST(Driver, ItemsReachTheSinkInOrderAndBuffersAreSizedOnce) {
  host::ChunkPlan plan;
  plan.begin = 5;
  plan.end = 28;
  plan.chunk = 7;
  std::vector<std::uint64_t> sizes;
  CountingOut out{&sizes};
  std::vector<std::uint64_t> firsts, counts;
  host::drive(
      host::select_backend(Device::cpu), plan, out,
      [](const kernels::ExecContext& cx, std::uint64_t, std::uint64_t, CountingOut&) {
        EXPECT_NE(cx.arena, nullptr);
      },
      [&](const CountingOut&, std::uint64_t first, std::uint64_t count) {
        firsts.push_back(first);
        counts.push_back(count);
      });
  EXPECT_EQ(sizes, (std::vector<std::uint64_t>{7, 7}));  // two buffers, each sized once
  EXPECT_EQ(firsts, (std::vector<std::uint64_t>{5, 12, 19, 26}));
  EXPECT_EQ(counts, (std::vector<std::uint64_t>{7, 7, 7, 2}));
}

// The sampler's and the device reduction's buffers (the sort's scratch
// included) come from the arena: allocated by the first chunk, reused (no
// allocation, no zero fill) by every later one.
TEST(Driver, TheArenaAllocatesOnTheFirstChunkOnly) {
  for (Sampler sampler : {Sampler::direct, Sampler::exact}) {
    RunSpec s = resolve_run(small(sampler));
    const host::SamplerInfo& info = *host::choose_sampler(s).sampler;
    const host::Backend backend = host::select_backend(Device::cpu);
    const std::vector<double> x0 = initial_tokens(s.input, s.model);
    kernels::ChunkJob job;
    job.model = kernels::coefficients_of(s.model);
    job.seed = s.seed;
    job.x0 = x0.data();
    job.record_layers = s.record_layers.data();
    job.records = int(s.record_layers.size());
    host::ChunkPlan plan;
    plan.end = s.members;
    plan.chunk = 4;
    plan.threads = 1;
    struct Out {
      std::vector<float> grams;
      kernels::GramAggregate aggregate;
      std::size_t per = 0;
      void resize(std::uint64_t n) { grams.resize(n * per); }
    } out;
    const EnsembleStatistics stats(s.model.tokens, s.record_layers, s.statistics_options());
    const kernels::GramStatisticsJob reduction = stats.device_job();
    out.per = s.record_layers.size() * 9;
    std::vector<std::size_t> allocations;
    host::drive(
        backend, plan, out,
        [&](const kernels::ExecContext& cx, std::uint64_t first, std::uint64_t count, Out& o) {
          job.first_member = first;
          job.count = count;
          info.chunk(backend)(cx, job, {o.grams.data(), &reduction, &o.aggregate});
          allocations.push_back(cx.arena->allocations());
        },
        [](const Out&, std::uint64_t, std::uint64_t) {});
    ASSERT_EQ(allocations.size(), 8u);
    EXPECT_GT(allocations.front(), 0u) << info.name;
    EXPECT_EQ(allocations.back(), allocations.front()) << info.name;
  }
}

TEST(Driver, MemberRangesAreValidatedByName) {
  RunSpec s = small(Sampler::exact);
  EXPECT_EQ(resolve_run(s).end_member(), 30u);  // 0 means all members
  s.member_end = 31;
  EXPECT_EQ(key_of(s), "ensemble.member_end");
  s.member_end = 10;
  s.member_begin = 10;
  EXPECT_EQ(key_of(s), "ensemble.member_begin");
  s.member_begin = 11;
  EXPECT_EQ(key_of(s), "ensemble.member_begin");
  s.member_begin = 9;
  EXPECT_EQ(key_of(s), "");
}

// A run covers exactly [member_begin, member_end): two pieces of odd sizes
// merge into the statistics of the whole run, bit for bit.
TEST(Driver, PiecesOfAnEnsembleMergeIntoTheWholeRun) {
  for (Sampler sampler : {Sampler::direct, Sampler::exact}) {
    RunSpec s = small(sampler);
    s.chunk = 4;
    const EnsembleResult whole = run_ensemble(s);
    s.member_end = 11;
    EnsembleResult a = run_ensemble(s);
    s.member_begin = 11;
    s.member_end = 30;
    const EnsembleResult b = run_ensemble(s);
    EXPECT_EQ(a.stats.members(), 11);
    EXPECT_EQ(b.stats.members(), 19);
    a.stats.merge(b.stats);
    EXPECT_TRUE(a.stats == whole.stats) << sampler_name(sampler);
  }
}

TEST(Driver, RunsLeaveOpenMpAndOpenBlasThreadsAsTheyWere) {
  const int omp_before = omp_get_max_threads(), blas_before = openblas_get_num_threads();
  RunSpec s = small(Sampler::direct);
  run_ensemble(s);
  s.threads = 0;  // all cores
  run_ensemble(s);
  EXPECT_EQ(omp_get_max_threads(), omp_before);
  EXPECT_EQ(openblas_get_num_threads(), blas_before);
}

TEST(Driver, SphereThreadsAboveTheMachineAreRefusedByName) {
  SphereSpec p;
  p.threads = 100000;
  try {
    resolve_sphere(p);
    FAIL() << "accepted 100000 threads";
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), "run.threads");
  }
}

TEST(Driver, AutoSaysWhyItPickedTheSampler) {
  const EnsembleResult r = run_ensemble(small(Sampler::automatic));
  EXPECT_EQ(r.sampler, "exact");
  EXPECT_NE(r.sampler_reason.find("auto: exact"), std::string::npos) << r.sampler_reason;
  EXPECT_EQ(run_ensemble(small(Sampler::direct)).sampler_reason, "requested");
}

// member_end = 0 stays "all members" after resolve_run, so a resolved spec
// whose ensemble size is changed afterwards (as the benchmarks do) runs it all.
TEST(Driver, MembersChangedAfterResolveAreAllRun) {
  RunSpec s = resolve_run(small(Sampler::exact));
  s.members = 41;
  EXPECT_EQ(run_ensemble(s).stats.members(), 41);
}
