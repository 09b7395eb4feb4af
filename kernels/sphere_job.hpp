// One chunk of a sphere-model ensemble as the kernels see it, and the entry
// points each backend (namespace attnmc::omp, attnmc::cuda) provides. The host
// driver (host/driver.hpp, run from host/sphere_engine.cpp) splits a run into
// chunks and calls these with the run's execution context.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/exec_context.hpp"
#include "kernels/gram_statistics.hpp"
#include "kernels/sphere_math.hpp"

namespace attnmc::kernels {

struct SphereJob {
  SphereCoefficients model;
  std::uint64_t seed = 0;
  std::uint64_t first_member = 0;              // global index of the chunk's first trajectory
  std::uint64_t count = 0;                     // trajectories in this chunk
  const double* x0 = nullptr;                  // host, N x d start (null: uniform per trajectory)
  const double* qk = nullptr;                  // host, d x d Q^T K (null: identity)
  const std::int64_t* record_steps = nullptr;  // host, sorted, in [0, steps]
  int records = 0;
};

// Where a chunk's results go (host arrays sized for job.count trajectories).
struct SphereChunkOut {
  GramChunkOutput gram;            // the recorded Gram matrices: host copy and/or device reduction
  std::int8_t* outcome = nullptr;  // count
  std::int16_t* clusters = nullptr;  // count
  double* norm_error = nullptr;      // count
  double* final_tokens = nullptr;    // count x N x d
};

}  // namespace attnmc::kernels

#define ATTNMC_DECLARE_SPHERE_BACKEND(NS)                                                          \
  namespace attnmc::NS {                                                                           \
  /* Simulates job.count trajectories, one per functor call. */                                    \
  void sphere_chunk(const attnmc::kernels::ExecContext& cx, const attnmc::kernels::SphereJob& job, \
                    const attnmc::kernels::SphereChunkOut& out);                                   \
  /* Device bytes per trajectory (workspace + per-trajectory outputs, without records). */         \
  std::size_t sphere_bytes_per_trajectory(const attnmc::kernels::SphereCoefficients& c);           \
  }

ATTNMC_DECLARE_SPHERE_BACKEND(omp)
ATTNMC_DECLARE_SPHERE_BACKEND(cuda)
