// One chunk of weight-space posterior chains of the attention-paths family
// (run.mode = direct; kernels/paths/paths_direct_sampler.cu): one HMC chain
// per member, every chain run whole by one functor call. The host driver is
// host/paths/direct_engine.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/exec_context.hpp"
#include "kernels/paths/paths_prior_job.hpp"

namespace attnmc::kernels {

struct PathsDirectSettings {
  int train = 0, test = 0;  // sequences: features hold train then test
  double temperature = 0.01;
  int burn_in = 1000;  // steps adapting the step size (then discarded)
  int steps = 2000;    // kept steps
  int leapfrog = 16;   // leapfrog steps per HMC step
  double initial_step = 0.05;
  double target_accept = 0.7;
};

struct PathsDirectJob {
  PathsShape shape;  // layers, heads, widths, sd (float unused: sd_d below)
  double sd[kPathsMaxLayers + 2] = {};
  PathsDirectSettings settings;
  const double* features = nullptr;  // host: (train + test) x paths x n_in
  const double* labels = nullptr;    // host: train
  std::uint64_t seed = 0;
  std::uint64_t first_member = 0;
  std::uint64_t count = 0;
};

// Per chain (host arrays, count x ...): sums over the kept steps.
struct PathsDirectOut {
  double* f_sum = nullptr;   // count x test: sum of f(x*)
  double* f2_sum = nullptr;  // count x test: sum of f(x*)^2
  double* u1_sum = nullptr;  // count x paths^2: sum of U_1
  double* stats = nullptr;   // count x kPathsDirectStats
};
// stats: accepted steps (kept), final step size, mean training loss, non-finite steps
inline constexpr int kPathsDirectStats = 4;

}  // namespace attnmc::kernels

#define ATTNMC_DECLARE_PATHS_DIRECT_BACKEND(NS)                                                 \
  namespace attnmc::NS {                                                                        \
  void paths_direct_chunk(const attnmc::kernels::ExecContext& cx,                               \
                          const attnmc::kernels::PathsDirectJob& job,                           \
                          const attnmc::kernels::PathsDirectOut& out);                          \
  std::size_t paths_direct_bytes_per_chain(const attnmc::kernels::PathsShape& shape, int train, \
                                           int test);                                           \
  }

ATTNMC_DECLARE_PATHS_DIRECT_BACKEND(omp)
ATTNMC_DECLARE_PATHS_DIRECT_BACKEND(cuda)
