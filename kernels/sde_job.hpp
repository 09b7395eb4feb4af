// One chunk of an SDE ensemble as the kernels see it, and the entry points
// each backend (namespace attnmc::omp, attnmc::cuda) provides. The host
// driver (host/driver.hpp, run from host/sde_engine.cpp) splits a run into
// chunks and calls these with the run's execution context.
#pragma once

#include <cstddef>
#include <cstdint>

#include "attnmc/sde.hpp"
#include "kernels/exec_context.hpp"
#include "kernels/gram_statistics.hpp"
#include "kernels/sde_math.hpp"

namespace attnmc::kernels {

struct SdeJob {
  SdeCoefficients model;
  std::uint64_t seed = 0;
  std::uint64_t first_member = 0;              // global index of the chunk's first trajectory
  std::uint64_t count = 0;                     // trajectories in this chunk
  const double* v0 = nullptr;                  // host, m x m start (shared)
  const std::int64_t* record_steps = nullptr;  // host, sorted, in [0, steps]
  int records = 0;
};

// The SDE coefficients of a resolved spec (drift and noise weights of the
// enabled blocks, step, blow-up threshold). Defined in host/sde_engine.cpp.
SdeCoefficients sde_coefficients(const SdeSpec& resolved);

// Where a chunk's results go (host arrays sized for job.count trajectories).
struct SdeChunkOut {
  GramChunkOutput gram;  // the recorded Gram matrices: host copy and/or device reduction
  std::int64_t* blowup_step = nullptr;  // count; -1: no blow-up
  std::int32_t* projections = nullptr;  // count
  std::int32_t* rho_clips = nullptr;    // count
};

}  // namespace attnmc::kernels

#define ATTNMC_DECLARE_SDE_BACKEND(NS)                                                       \
  namespace attnmc::NS {                                                                     \
  /* Simulates job.count SDE trajectories, one per functor call. */                          \
  void sde_chunk(const attnmc::kernels::ExecContext& cx, const attnmc::kernels::SdeJob& job, \
                 const attnmc::kernels::SdeChunkOut& out);                                   \
  }

ATTNMC_DECLARE_SDE_BACKEND(omp)
ATTNMC_DECLARE_SDE_BACKEND(cuda)
