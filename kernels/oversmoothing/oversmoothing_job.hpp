// One chunk of an oversmoothing ensemble as the kernels see it, and the
// entry points each backend (namespace attnmc::omp, attnmc::cuda) provides.
// The host driver (host/driver.hpp, run from
// host/oversmoothing/oversmoothing_engine.cpp) splits a run into chunks and
// calls these with the run's execution context.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/exec_context.hpp"
#include "kernels/gram_statistics.hpp"
#include "kernels/oversmoothing/oversmoothing_math.hpp"

namespace attnmc::kernels {

struct OsJob {
  OsCoefficients model;
  OsInputs inputs;  // host arrays (null where the model does not read them)
  std::uint64_t seed = 0;
  std::uint64_t first_member = 0;
  std::uint64_t count = 0;
  const std::int64_t* record_layers = nullptr;  // host, sorted, in [0, depth]
  int records = 0;
};

// Where a chunk's results go (host arrays sized for job.count networks).
struct OsChunkOut {
  GramChunkOutput gram;           // V = X X^T / n at the records (host copy and/or reduction)
  bool want_grams = false;        // false: no V computed at all
  double* metrics = nullptr;      // count x records x kOsMetrics
  double* log_norm = nullptr;     // count
  float* final_tokens = nullptr;  // count x m x n, or null
};

}  // namespace attnmc::kernels

#define ATTNMC_DECLARE_OVERSMOOTHING_BACKEND(NS)                                         \
  namespace attnmc::NS {                                                                 \
  /* Simulates job.count networks, one per functor call. */                              \
  void oversmoothing_chunk(const attnmc::kernels::ExecContext& cx,                       \
                           const attnmc::kernels::OsJob& job,                            \
                           const attnmc::kernels::OsChunkOut& out);                      \
  /* Device bytes per network (workspace and per-network outputs, without records). */   \
  std::size_t oversmoothing_bytes_per_network(const attnmc::kernels::OsCoefficients& c); \
  }

ATTNMC_DECLARE_OVERSMOOTHING_BACKEND(omp)
ATTNMC_DECLARE_OVERSMOOTHING_BACKEND(cuda)
