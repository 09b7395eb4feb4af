// The memory cap counts everything a run allocates and a run that cannot fit
// is refused before any work (fast), naming the parameter to change; thread
// counts are checked against the machine and never left changed behind.
#include <gtest/gtest.h>
#include <omp.h>

#include <chrono>

#include "attnmc/engine.hpp"
#include "attnmc/error.hpp"
#include "attnmc/sde.hpp"
#include "attnmc/sphere.hpp"
#include "host/chunking.hpp"
#include "kernels/gram_statistics.hpp"

using namespace attnmc;

namespace {

RunSpec base() {
  RunSpec s;
  s.model.width = 32;
  s.model.tokens = 4;
  s.model.depth = 8;
  s.members = 100;
  s.device = Device::cpu;
  return s;
}

// The parameter run_ensemble refuses `s` with, checking it took no time.
std::string refusal(const RunSpec& s) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    run_ensemble(s);
  } catch (const InputError& e) {
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(sec, 2.0) << "refused only after " << sec << " s: " << e.what();
    return e.parameter();
  }
  return "(ran)";
}

}  // namespace

TEST(MemoryCap, HugeInputTokensAreRefusedUpFront) {
  RunSpec s = base();
  s.model.width = 1000000000;  // 10^9: 32 GB of input tokens
  EXPECT_EQ(refusal(s), "model.width");
}

TEST(MemoryCap, HistogramsCountUnderTheCap) {
  RunSpec s = base();
  s.model.tokens = 16;  // 120 pairs: 100000 bins are 96 MB per record
  s.model.depth = 1;
  s.histogram_bins = 100000;
  s.memory_cap = std::size_t(64) << 20;
  EXPECT_EQ(refusal(s), "ensemble.histogram_bins");
  s.memory_cap = std::size_t(1) << 30;
  s.histogram_bins = 200;
  EXPECT_EQ(refusal(s), "(ran)");  // fits with the default bins and a larger cap
}

TEST(MemoryCap, StoredSamplesCountUnderTheCap) {
  RunSpec s = base();
  s.members = 4000000000ull;
  s.exact_quantiles = true;
  EXPECT_EQ(refusal(s), "ensemble.exact_quantiles");
}

TEST(MemoryCap, SketchesCountUnderTheCap) {
  RunSpec s = base();
  s.memory_cap = std::size_t(8) << 20;  // the V sketches' worst case is larger
  EXPECT_EQ(refusal(s), "ensemble.memory_cap");
  s.memory_cap = std::size_t(256) << 20;
  EXPECT_EQ(refusal(s), "(ran)");
}

TEST(MemoryCap, AChunkThatDoesNotFitIsRefused) {
  RunSpec s = base();
  s.sampler = Sampler::direct;
  s.model.width = 512;
  s.members = 20000;
  s.memory_cap = std::size_t(256) << 20;
  s.chunk = 20000;
  EXPECT_EQ(refusal(s), "ensemble.chunk");
  s.chunk = 100;
  s.members = 100;
  s.model.depth = 1;
  EXPECT_EQ(refusal(s), "(ran)");
}

// A requested chunk larger than the run holds only the run's members (the
// built-in experiment asks for chunks of 5000: a 100-member run with its
// settings must not be refused for 4900 networks it will never hold).
TEST(MemoryCap, AChunkLargerThanTheRunHoldsOnlyTheRun) {
  RunSpec s = base();
  s.sampler = Sampler::direct;
  s.model.width = 512;
  s.model.depth = 1;
  s.memory_cap = std::size_t(256) << 20;
  s.chunk = 20000;  // does not fit, but the run has 100 members
  EXPECT_EQ(refusal(s), "(ran)");
}

TEST(MemoryCap, MembersBeyondTheRngKeyAreRefusedByName) {
  RunSpec s = base();
  s.members = (std::uint64_t(1) << 32) + 1;
  EXPECT_EQ(refusal(s), "ensemble.members");
  SdeSpec d;
  d.trajectories = (std::uint64_t(1) << 32) + 1;
  try {
    resolve_sde(d);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), "ensemble.members");
  }
  SphereSpec p;
  p.trajectories = (std::uint64_t(1) << 32) + 1;
  try {
    resolve_sphere(p);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), "ensemble.members");
  }
}

TEST(Threads, MoreThanTheMachineHasAreRefusedByName) {
  RunSpec s = base();
  s.threads = 100000;
  EXPECT_EQ(refusal(s), "run.threads");
  SdeSpec d;
  d.threads = 100000;
  try {
    resolve_sde(d);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), "run.threads");
  }
  s.threads = host::machine_cores();
  EXPECT_EQ(refusal(s), "(ran)");
}

TEST(Threads, RunsLeaveTheProcessThreadSettingsAsTheyWere) {
  const int before = omp_get_max_threads();
  for (Sampler sampler : {Sampler::direct, Sampler::exact}) {
    RunSpec s = base();
    s.threads = 1;
    s.sampler = sampler;
    run_ensemble(s);
    EXPECT_EQ(omp_get_max_threads(), before) << sampler_name(sampler);
  }
  SdeSpec d;
  d.trajectories = 50;
  d.threads = 1;
  d.device = Device::cpu;
  run_sde(d);
  EXPECT_EQ(omp_get_max_threads(), before);
}

// The device reduction's buffers and its host aggregate count per network:
// a chunk that fits the sampler's own buffers but not them is refused.
TEST(MemoryCap, TheDeviceReductionCountsUnderTheCap) {
  RunSpec s = base();
  s.sampler = Sampler::exact;
  s.record_every = 1;
  const RunSpec r = resolve_run(s);
  const int records = int(r.record_layers.size());
  const std::size_t keys = std::size_t(records) * std::size_t(kernels::GramSlots(4).per_record());
  const std::size_t per_network = bytes_per_network(r);
  EXPECT_GE(per_network, omp::gram_statistics_bytes_per_member(4, records) + 2 * keys * 16);
  // A cap with room for 10^4 networks' sampler buffers and statistics, but not
  // for 10^4 networks' reduction.
  s.members = 10000;
  s.chunk = 10000;
  s.memory_cap = 150u << 20;
  EXPECT_EQ(refusal(s), "ensemble.chunk");
  s.chunk = 500;
  EXPECT_EQ(refusal(s), "(ran)");
}
