// One chunk of the attention-paths prior Monte Carlo as the kernels see it
// (kernels/paths/paths_prior_sampler.cu), and the entry points each backend
// (namespace attnmc::omp, attnmc::cuda) provides. The host driver is
// host/paths/prior_engine.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/exec_context.hpp"

namespace attnmc::kernels {

inline constexpr int kPathsMaxLayers = 8;

// The network's shape (include/attnmc/paths.hpp): L layers of heads[l]
// heads, widths N_1 .. N_L, N_a (widths[0 .. L]), prior standard deviations
// sd[0] (V^0), sd[1 .. L] (V^{l,h}), sd[L + 1] (a).
struct PathsShape {
  int layers = 0;
  int heads[kPathsMaxLayers] = {};
  int widths[kPathsMaxLayers + 1] = {};
  float sd[kPathsMaxLayers + 2] = {};
  int n_in = 0;
  int sequences = 0;  // M: features hold every sequence's path features
  int paths = 0;      // prod heads
  // Planted bug for tests only: skip the 1/sqrt(H_l) of every layer.
  bool drop_head_norm = false;
};

struct PathsPriorJob {
  PathsShape shape;
  const float* features = nullptr;  // host: M x paths x n_in, xi^p(x_mu) (not normalised)
  std::uint64_t seed = 0;
  std::uint64_t first_member = 0;
  std::uint64_t count = 0;
};

// f_p(x_mu) of every network of the chunk: host, count x M x paths.
struct PathsPriorOut {
  float* f_paths = nullptr;
};

}  // namespace attnmc::kernels

#define ATTNMC_DECLARE_PATHS_BACKEND(NS)                                               \
  namespace attnmc::NS {                                                               \
  /* Simulates job.count networks, one per functor call. */                            \
  void paths_prior_chunk(const attnmc::kernels::ExecContext& cx,                       \
                         const attnmc::kernels::PathsPriorJob& job,                    \
                         const attnmc::kernels::PathsPriorOut& out);                   \
  /* Device bytes per network (workspace and outputs). */                              \
  std::size_t paths_prior_bytes_per_network(const attnmc::kernels::PathsShape& shape); \
  }

ATTNMC_DECLARE_PATHS_BACKEND(omp)
ATTNMC_DECLARE_PATHS_BACKEND(cuda)
